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


def test_d_names_the_refill_count_when_an_allocator_keeps_freed_pages_aside():
    # an allocator that hands out 8 pages and never gives a freed page back: the refill
    # stops at once, and the message says where, instead of blaming "a fully free zone"
    from kmem.spec.workloads import run_workload

    free_now = list(range(8))

    def alloc(order):
        return free_now.pop() if free_now else None

    with pytest.raises(InvalidArgument, match="refill stopped after 0 of the 8 pages"):
        run_workload("d", alloc, lambda pfn, order: None, n=1, npages=1024)


@pytest.mark.parametrize("name", ["c", "d"])
def test_fill_workloads_refuse_a_machine_with_per_cpu_lists(name):
    # with pcp lists the fill stops at the watermark with pages cached on the lists, and
    # the refill of d then takes a different count (1,021 of 1,024 pages here, checked
    # against the model): refused up front with the reason, on both fastimpl entries
    fastimpl = pytest.importorskip("kmem.fastimpl")
    from kmem.fastimpl.workloads import run_batch, run_per_op

    for run in (run_batch, run_per_op):
        m = fastimpl.Machine.generic(1024, policy="linux", min_free_kbytes=0,
                                     migratetypes=True, nr_cpus=1)
        before = m.zoneinfo()
        with pytest.raises(InvalidArgument, match="without per-CPU lists"):
            run(m, name, n=10)
        assert m.zoneinfo() == before
