"""kmem.model.Zone and the two choice policies, checked against the spec's oracle."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmem.fuzz.oracle import OracleViolation, ZoneOracle
from kmem.model import Machine
from kmem.model.freelists import KernelList, LowestFirstList, free_list_class
from kmem.spec import buddy
from kmem.spec.errors import (
    BadPageState,
    BadRange,
    FreeOrderMismatch,
    InvalidArgument,
    UnalignedFree,
)


def zone_of(m):
    return next(z for z in m.zones if z.managed_pages)


def fresh(npages=1024, policy="linux"):
    m = Machine.generic(npages, policy=policy, min_free_kbytes=0)
    return m, zone_of(m)


def test_kernel_list_head_and_tail():
    lst = KernelList()
    for pfn in (1, 2, 3):
        lst.add(pfn, to_tail=True)
    lst.add(0)
    assert list(lst) == [0, 1, 2, 3] and lst.first() == 0 and len(lst) == 4
    lst.remove(2)
    assert list(lst) == [0, 1, 3] and 2 not in lst and 3 in lst


def test_lowest_first_list():
    lst = LowestFirstList()
    for pfn in (40, 8, 16):
        lst.add(pfn)
    assert lst.first() == 8
    lst.remove(8)
    assert lst.first() == 16 and list(lst) == [16, 40]
    lst.add(8)
    assert lst.first() == 8
    with pytest.raises(InvalidArgument, match="unknown policy"):
        free_list_class("random")


def test_boot_is_ascending_and_first_alloc_is_pfn_0():
    # 5.10+: boot frees with FPI_TO_TAIL, so the order-10 list ascends
    m, z = fresh(4096)
    assert z.free_list_order(10) == [0, 1024, 2048, 3072]
    assert z.rmqueue_smallest(0) == 0
    assert z.free_list_order(9) == [512] and z.free_list_order(0) == [1]


def test_linux_policy_reproduces_the_kernels_observed_order():
    # facts 6d': allocate 0..7, free 6, 2, 3, 0: the order-0 list is 6, 0
    m, z = fresh(1024, "linux")
    assert [z.rmqueue_smallest(0) for _ in range(8)] == list(range(8))
    for pfn in (6, 2, 3, 0):
        z.free_one_page(pfn, 0)
    assert z.free_list_order(0) == [6, 0]
    assert z.rmqueue_smallest(0) == 6
    assert z.rmqueue_smallest(0) == 0


def test_lowest_policy_takes_lowest_address():
    m, z = fresh(1024, "lowest")
    assert [z.rmqueue_smallest(0) for _ in range(8)] == list(range(8))
    for pfn in (6, 2, 3, 0):
        z.free_one_page(pfn, 0)
    assert z.rmqueue_smallest(0) == 0
    assert z.rmqueue_smallest(0) == 6


def test_expand_puts_upper_halves_at_head():
    m, z = fresh(2048, "linux")
    z.rmqueue_smallest(0)  # splits block 0: halves 512(o9) ... 1(o0)
    assert z.free_list_order(9) == [512]
    assert z.free_list_order(10) == [1024]


def test_zone_free_guards_leave_state_unchanged():
    m, z = fresh(1024)
    a = z.rmqueue_smallest(0)
    b = z.rmqueue_smallest(1)
    before = z.state()
    with pytest.raises(UnalignedFree):
        z.free_one_page(b + 1, 1)
    with pytest.raises(FreeOrderMismatch):
        z.free_one_page(b, 0)
    with pytest.raises(BadPageState, match="double free"):
        z.free_one_page(a + 1, 0)
    with pytest.raises(BadRange):
        z.free_one_page(4096, 0)
    with pytest.raises(InvalidArgument):
        z.free_one_page(0, 11)
    assert z.state() == before


@pytest.mark.parametrize("policy", ["linux", "lowest"])
@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 2**32)),
                    max_size=120))
def test_random_ops_match_the_spec_oracle(policy, ops):
    holes, reserved = ((700, 720),), ((1, 3), (300, 301))
    from kmem.spec.zones import generic

    m = Machine(generic(1024, holes=holes, reserved=reserved), policy=policy, min_free_kbytes=0)
    z = zone_of(m)
    oracle = ZoneOracle(0, 1024, holes=holes, reserved=reserved, rule="linux",
                        is_free_block=z.is_free_block,
                        counters=lambda: (z.free_pages, z.nr_free()))
    live = []
    for is_alloc, order, r in ops:
        if is_alloc or not live:
            pfn = z.rmqueue_smallest(order)
            oracle.alloc(order, pfn)
            if pfn is not None:
                live.append((pfn, order))
        else:
            pfn, order = live.pop(r % len(live))
            z.free_one_page(pfn, order)
            oracle.free(pfn, order)
    oracle.compare_all(z.free_blocks())
    assert buddy.check_invariants(z.state()) == []


def test_oracle_catches_a_wrong_choice():
    oracle = ZoneOracle(0, 16, rule="linux")
    with pytest.raises(OracleViolation, match="Linux rule"):
        oracle.alloc(0, 8)  # legal under the weak rule, not the Linux one
    weak = ZoneOracle(0, 16, rule="weak")
    weak.alloc(0, 8)
    with pytest.raises(OracleViolation, match="failed although"):
        weak.alloc(0, None)
    with pytest.raises(OracleViolation, match="not allocated"):
        weak.free(3, 0)


def test_oracle_catches_a_missed_merge():
    oracle = ZoneOracle(0, 4, rule="linux", is_free_block=lambda p, o: False)
    with pytest.raises(OracleViolation, match="should be free"):
        oracle.alloc(0, 0)


def test_machine_boot_creates_no_page_descriptors():
    m = Machine.x86_64(65536)  # 64 GiB
    assert m.pages == {} and m.memory.dirty_pages() == 0
    assert sum(z.free_pages for z in m.zones) == 65536 * 256
    assert sum(sum(z.nr_free()) for z in m.zones) == 65536 // 4
