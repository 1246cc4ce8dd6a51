"""The canonical "lowest" policy reproduces the C reference's checksums (npages = 2**20), and
the "linux" policy obeys the spec's Linux rule at every step of the same workloads."""

import pytest

from kmem.fuzz.oracle import ZoneOracle
from kmem.model import Machine
from kmem.spec.workloads import (
    REFERENCE_CHECKSUMS,
    REFERENCE_N,
    REFERENCE_NPAGES,
    run_workload,
)

pytestmark = pytest.mark.slow


def zone_machine(policy):
    m = Machine.generic(REFERENCE_NPAGES, policy=policy, min_free_kbytes=0)
    return m, next(z for z in m.zones if z.managed_pages)


@pytest.mark.parametrize("workload", "abcd")
def test_lowest_policy_matches_reference_checksum(workload):
    m, z = zone_machine("lowest")
    result = run_workload(workload, z.rmqueue_smallest, z.free_one_page, n=REFERENCE_N,
                          npages=REFERENCE_NPAGES)
    assert result.checksum == REFERENCE_CHECKSUMS[workload], result.checksum_hex
    assert z.free_pages == REFERENCE_NPAGES and z.nr_free()[10] == REFERENCE_NPAGES // 1024
    assert m.check_invariants() == []


@pytest.mark.parametrize("workload", "abcd")
def test_linux_policy_follows_the_spec_step_by_step(workload):
    m, z = zone_machine("linux")
    oracle = ZoneOracle(0, REFERENCE_NPAGES, rule="linux", is_free_block=z.is_free_block,
                        counters=lambda: (z.free_pages, z.nr_free()))

    def observe(kind, order, pfn):
        if kind == "alloc":
            oracle.alloc(order, pfn)
        else:
            oracle.free(pfn, order)

    run_workload(workload, z.rmqueue_smallest, z.free_one_page, n=REFERENCE_N,
                 npages=REFERENCE_NPAGES, observe=observe)
    oracle.compare_all(z.free_blocks())
    assert oracle.steps > REFERENCE_N
    assert m.check_invariants() == []
