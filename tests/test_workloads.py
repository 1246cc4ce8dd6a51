"""The workload drivers themselves, on small zones (the full-size checksums are in tests/slow)."""

import pytest

from kmem.model import Machine
from kmem.spec.errors import InvalidArgument
from kmem.spec.workloads import fnv_mix, mixed_order, run_workload, splitmix64


def test_splitmix64_reference_values():
    # splitmix64 with seed 0 (Vigna's reference implementation)
    s = splitmix64(0)
    assert next(s) == 0xE220A8397B1DCDAF
    assert next(s) == 0x6E789E6AA1B965F4


def test_mixed_order_distribution_edges():
    assert mixed_order(0) == 10 and mixed_order(1) == 0 and mixed_order(0x200) == 9


def test_fnv_mix():
    assert fnv_mix(0xCBF29CE484222325, 0) == (0xCBF29CE484222325 * 0x100000001B3) % 2**64


@pytest.mark.parametrize("workload", "abcd")
@pytest.mark.parametrize("policy", ["lowest", "linux"])
def test_workloads_leave_the_zone_fully_merged(workload, policy):
    m = Machine.generic(4096, policy=policy, min_free_kbytes=0)
    z = m.zones[0]
    r = run_workload(workload, z.rmqueue_smallest, z.free_one_page, n=3000, npages=4096)
    assert z.free_pages == 4096 and z.nr_free()[10] == 4
    assert r.fails == (1 if workload in "cd" else r.fails)
    if workload == "c":
        assert r.ops == 2 * 4096 + 1


def test_bad_workload_arguments():
    m = Machine.generic(1024)
    z = m.zones[0]
    with pytest.raises(InvalidArgument):
        run_workload("e", z.rmqueue_smallest, z.free_one_page, n=1, npages=1024)
    with pytest.raises(InvalidArgument):
        run_workload("a", z.rmqueue_smallest, z.free_one_page, n=1, npages=1000)
