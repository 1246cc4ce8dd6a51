"""kmem.spec.buddy: arithmetic, invariants (each catches its violation), transitions."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmem.spec import buddy
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import InvalidArgument, KernelBug

orders = st.integers(0, MAX_PAGE_ORDER)
pfns = st.integers(0, 2**64 - 1)


# -- arithmetic -------------------------------------------------------------------------

def test_find_buddy_examples():
    assert buddy.find_buddy_pfn(0, 0) == 1
    assert buddy.find_buddy_pfn(1, 0) == 0
    assert buddy.find_buddy_pfn(8, 3) == 0
    assert buddy.find_buddy_pfn(0x1000, 10) == 0x1400
    assert buddy.combined_pfn(0x1400, 10) == 0x1000


@given(pfns, orders)
def test_buddy_twins_agree(pfn, order):
    assert buddy.find_buddy_pfn(pfn, order) == buddy.find_buddy_pfn_arith(pfn, order)
    assert buddy.combined_pfn(pfn, order) == buddy.combined_pfn_arith(pfn, order)


@given(pfns, orders)
def test_buddy_of_buddy_and_parent(pfn, order):
    pfn -= pfn % 2**order  # an aligned block
    b = buddy.find_buddy_pfn(pfn, order)
    assert buddy.find_buddy_pfn(b, order) == pfn
    assert buddy.is_aligned(b, order)
    parent = buddy.combined_pfn(pfn, order)
    assert parent == buddy.combined_pfn(b, order) == min(pfn, b)
    assert buddy.is_aligned(parent, order + 1)
    assert abs(b - pfn) == 2**order


def test_expand_matches_kernel_order():
    # an order-3 block at 8 split for an order-0 request: 12 (o2), 10 (o1), 9 (o0)
    assert buddy.expand(8, 0, 3) == ((12, 2), (10, 1), (9, 0))
    assert buddy.expand(8, 3, 3) == ()


@given(st.integers(0, 2**40), st.integers(0, MAX_PAGE_ORDER), st.data())
def test_split_around_tiles_the_block(base, high, data):
    start = base * 2**high
    low = data.draw(st.integers(0, high))
    idx = data.draw(st.integers(0, 2 ** (high - low) - 1))
    pfn = start + idx * 2**low
    rest = buddy.split_around((start, high), pfn, low)
    pages = sorted([(pfn, pfn + 2**low)] + [(p, p + 2**o) for p, o in rest])
    assert pages[0][0] == start and pages[-1][1] == start + 2**high
    assert all(a[1] == b[0] for a, b in zip(pages, pages[1:], strict=False))
    assert all(buddy.is_aligned(p, o) for p, o in rest)
    if pfn == start:
        assert rest == buddy.expand(start, low, high)


@pytest.mark.parametrize("start,end", [(0, 1024), (1, 4096), (159, 3999), (5, 6), (0, 3000)])
def test_free_pages_memory_chunks_canonical(start, end):
    chunks = buddy.free_pages_memory_chunks(start, end)
    assert sum(2**o for _, o in chunks) == end - start
    assert all(buddy.is_aligned(p, o) and o <= MAX_PAGE_ORDER for p, o in chunks)
    zs = buddy.boot_state(start, end)
    assert buddy.check_invariants(zs) == []


def test_chunks_of_unaligned_dma_zone():
    # the x86 DMA zone starts at pfn 1: 1 (o0), 2 (o1), 4 (o2) ... 512 (o9), then order 10
    chunks = buddy.free_pages_memory_chunks(1, 4096)
    assert chunks[:3] == ((1, 0), (2, 1), (4, 2))
    assert chunks[-3:] == ((1024, 10), (2048, 10), (3072, 10))


def test_buddy_merge_likely():
    free = {(2, 1)}

    def is_free(p, o):
        return (p, o) in free

    # freeing pfn 0 (order 0) with pfn 1 busy: order-1 block 0-1's buddy 2-3 is free -> tail
    assert buddy.buddy_merge_likely(0, 1, 0, is_free) is True
    assert buddy.buddy_merge_likely(0, 1, 0, lambda p, o: False) is False
    assert buddy.buddy_merge_likely(0, 512, MAX_PAGE_ORDER - 1, lambda p, o: True) is False


# -- invariants: each catches a planted violation ------------------------------------------

def small_state():
    zs = buddy.boot_state(0, 64)
    zs = buddy.alloc_next(zs, 0, 0)
    return buddy.alloc_next(zs, 2, 4)


def test_valid_states_have_no_violations():
    zs = small_state()
    assert buddy.check_invariants(zs) == []
    assert buddy.check_invariants(buddy.boot_state(0, 64, holes=((10, 12),),
                                                   reserved=((40, 41),))) == []


def names(violations):
    return {v.invariant for v in violations}


def test_detects_misalignment():
    zs = small_state()
    bad = replace(zs, free=(zs.free - {(1, 0)}) | {(1, 1)}).counted()
    assert "alignment" in names(buddy.check_invariants(bad))


def test_detects_out_of_bounds_and_reserved_overlap():
    zs = buddy.boot_state(0, 64, reserved=((0, 1),))
    bad = replace(zs, allocated=frozenset({(0, 0)}))
    assert "bounds" in names(buddy.inv_alignment_and_bounds(bad))
    beyond = replace(buddy.boot_state(0, 64), free=frozenset({(0, 6), (64, 6)})).counted()
    assert "bounds" in names(buddy.check_invariants(beyond))


def test_detects_overlap():
    zs = small_state()
    bad = replace(zs, allocated=zs.allocated | {(4, 0)})
    assert "disjoint" in names(buddy.check_invariants(bad))


def test_detects_lost_pages():
    zs = small_state()
    bad = replace(zs, allocated=zs.allocated - {(4, 2)})
    assert "tiling" in names(buddy.check_invariants(bad))


def test_detects_unmerged_buddies():
    zs = buddy.boot_state(0, 2)  # one order-1 block
    split = replace(zs, free=frozenset({(0, 0), (1, 0)})).counted()
    assert names(buddy.check_invariants(split)) == {"maximal-coalescing"}


def test_top_order_buddies_never_merge():
    zs = buddy.boot_state(0, 2 * 2**MAX_PAGE_ORDER)
    assert zs.free == {(0, MAX_PAGE_ORDER), (2**MAX_PAGE_ORDER, MAX_PAGE_ORDER)}
    assert buddy.check_invariants(zs) == []


def test_detects_bad_counters():
    zs = small_state()
    assert "counters" in names(buddy.check_invariants(replace(zs, free_pages=zs.free_pages + 1)))
    nr = list(zs.nr_free)
    nr[0] += 1
    assert "counters" in names(buddy.check_invariants(replace(zs, nr_free=tuple(nr))))


# -- transitions ------------------------------------------------------------------------------

def test_alloc_next_linux_rule():
    zs = buddy.boot_state(0, 16)
    assert buddy.is_legal_alloc_linux(zs, 0, 0)
    assert not buddy.is_legal_alloc_linux(zs, 0, 8)  # inside the block, not its start
    assert buddy.is_legal_alloc_weak(zs, 0, 8)
    nxt = buddy.alloc_next(zs, 0, 0)
    assert nxt.free == {(1, 0), (2, 1), (4, 2), (8, 3)}
    assert nxt.allocated == {(0, 0)}
    assert nxt.nr_free[:4] == (1, 1, 1, 1) and nxt.free_pages == 15


def test_alloc_next_weak_split_around():
    zs = buddy.boot_state(0, 16)
    nxt = buddy.alloc_next(zs, 1, 6)
    assert nxt.free == {(0, 2), (4, 1), (8, 3)}
    assert buddy.check_invariants(nxt) == []


def test_alloc_next_rejects_illegal():
    zs = small_state()
    with pytest.raises(buddy.IllegalTransition, match="not wholly free"):
        buddy.alloc_next(zs, 0, 0)
    with pytest.raises(buddy.IllegalTransition, match="not aligned"):
        buddy.alloc_next(zs, 1, 1)
    with pytest.raises(InvalidArgument):
        buddy.alloc_next(zs, MAX_PAGE_ORDER + 1, 0)
    assert issubclass(buddy.IllegalTransition, KernelBug)


def test_free_next_merges_back_to_boot():
    zs = small_state()
    back = buddy.free_next(buddy.free_next(zs, 4, 2), 0, 0)
    assert back == buddy.boot_state(0, 64)
    with pytest.raises(buddy.IllegalTransition, match="not allocated"):
        buddy.free_next(zs, 8, 0)


def test_free_tails_next():
    zs = buddy.alloc_next(buddy.boot_state(0, 8), 3, 0)
    nxt = buddy.free_tails_next(zs, 0, 3)
    assert nxt.allocated == {(0, 0)}
    assert nxt.free == {(1, 0), (2, 1), (4, 2)}
    assert buddy.free_tail_portions(0, 3) == ((4, 2), (2, 1), (1, 0))


def test_failure_legal_only_without_blocks():
    zs = buddy.boot_state(0, 8)
    assert not buddy.alloc_failure_legal(zs, 3)
    assert buddy.alloc_failure_legal(zs, 4)
    full = buddy.alloc_next(zs, 3, 0)
    assert buddy.alloc_failure_legal(full, 0)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 10**6)),
                max_size=60))
def test_random_transitions_keep_invariants(ops):
    zs = buddy.boot_state(3, 200, holes=((50, 60),), reserved=((100, 104),))
    live = []
    for is_alloc, order, r in ops:
        if is_alloc or not live:
            src = buddy.rmqueue_smallest_order(zs.nr_free.__getitem__, order)
            if src is None:
                assert buddy.alloc_failure_legal(zs, order)
                continue
            pfn = sorted(p for p, o in zs.free if o == src)[r % zs.nr_free[src]]
            assert buddy.is_legal_alloc_linux(zs, order, pfn)
            zs = buddy.alloc_next(zs, order, pfn)
            live.append((pfn, order))
        else:
            pfn, order = live.pop(r % len(live))
            zs = buddy.free_next(zs, pfn, order)
        assert buddy.check_invariants(zs) == []
    for pfn, order in live:
        zs = buddy.free_next(zs, pfn, order)
    assert zs == buddy.boot_state(3, 200, holes=((50, 60),), reserved=((100, 104),))


def test_nr_page_orders():
    assert NR_PAGE_ORDERS == 11 and MAX_PAGE_ORDER == 10
