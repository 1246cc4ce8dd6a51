"""The oracle of which block ``rmqueue_buddy`` may hand out (``migrate.legal_rmqueue_blocks``),
pinned case by case to the kernel's code (issue 20, mutation testing of the whole path).

Every expected pfn is what Debian 6.12.118's mm/page_alloc.c returns for the free blocks
given, worked from these lines:

* ``rmqueue_buddy`` (2980-3015): with ALLOC_HIGHATOMIC it first calls
  ``__rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)`` (2992-2993); after ``__rmqueue``
  fails, ALLOC_OOM or ALLOC_NON_BLOCK retries that same call (3003-3004), else NULL.
* ``__rmqueue_smallest`` (1633-1656): from ``order`` upwards, the first order whose
  ``free_list[migratetype]`` is non-empty; ``page_del_and_expand`` keeps the block's first
  ``1 << order`` pages (the head pfn) and puts the rest back.
* ``__rmqueue`` (2305-2366): its own type first (RMQUEUE_NORMAL), then CMA only with
  ALLOC_CMA (2342-2348), then ``__rmqueue_claim`` and ``__rmqueue_steal`` (2350-2364), which
  search only ``fallbacks[migratetype]`` (1666-1670: none for HIGHATOMIC, CMA, ISOLATE) at
  orders >= ``order`` (2277, 2036-2059).

So the kernel hands out the head of a free block of order >= ``order``: of the smallest such
order of the request's own type when there is one, never a block of a smaller order, of a
type it may not use, or a pfn that is not aligned to ``order``. A later ``__rmqueue`` of the
same ``rmqueue_bulk`` refill (2376-2400, in RMQUEUE_STEAL mode) takes the next piece that
``expand`` put back: pfn 1, 2, 3 of a stolen order-2 block at pfn 0, the "aligned parts" of
the oracle's step 3.
"""

from __future__ import annotations

import pytest

from kmem.spec.alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
)
from kmem.spec.migrate import legal_rmqueue_blocks as legal

UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC, CMA, ISOLATE = range(6)


def test_own_type_smallest_order_first():
    """__rmqueue_smallest from ``order`` up: the order-1 MOVABLE blocks (heads 4 and 6) come
    before the order-2 one, an order-0 MOVABLE block is too small for order 1, and the
    UNMOVABLE block is not looked at while MOVABLE has one."""
    blocks = {0: (2, MOVABLE), 4: (1, MOVABLE), 6: (1, MOVABLE), 9: (0, MOVABLE),
              16: (1, UNMOVABLE)}
    assert legal(blocks, 1, MOVABLE, 0) == {4, 6}
    # order 0: the order-0 block is the smallest
    assert legal(blocks, 0, MOVABLE, 0) == {9}
    # order 2: only the order-2 block
    assert legal(blocks, 2, MOVABLE, 0) == {0}
    # order 3: no MOVABLE block that large, no fallback block either
    assert legal(blocks, 3, MOVABLE, 0) is None


def test_an_exact_order_block_is_used():
    """``current_order = order`` is the loop's first step (1642): a block of exactly the
    requested order is taken, not only larger ones."""
    assert legal({8: (3, RECLAIMABLE)}, 3, RECLAIMABLE, 0) == {8}
    assert legal({8: (3, UNMOVABLE)}, 3, RECLAIMABLE, 0) == {8}  # fallback of exact order


def test_highatomic_first_with_alloc_highatomic():
    """rmqueue_buddy 2992-2993: ALLOC_HIGHATOMIC takes the smallest HIGHATOMIC block before
    the request's own type; without the flag the reserve is not touched while MOVABLE has
    a block."""
    blocks = {0: (1, HIGHATOMIC), 4: (2, HIGHATOMIC), 8: (0, MOVABLE)}
    assert legal(blocks, 0, MOVABLE, ALLOC_HIGHATOMIC) == {0}
    assert legal(blocks, 0, MOVABLE, 0) == {8}
    # a HIGHATOMIC block smaller than the order is skipped (order 2: the one at 4)
    assert legal(blocks, 2, MOVABLE, ALLOC_HIGHATOMIC) == {4}
    # nothing of HIGHATOMIC large enough: the request's own type, as without the flag
    assert legal({0: (0, HIGHATOMIC), 8: (3, MOVABLE)}, 1, MOVABLE, ALLOC_HIGHATOMIC) == {8}


def test_highatomic_last_only_for_oom_or_non_block():
    """rmqueue_buddy 3003-3004: when __rmqueue found nothing, only ALLOC_OOM or
    ALLOC_NON_BLOCK fall back to the HIGHATOMIC reserve; others fail."""
    blocks = {2: (1, HIGHATOMIC), 8: (2, HIGHATOMIC)}
    assert legal(blocks, 0, MOVABLE, 0) is None
    assert legal(blocks, 0, MOVABLE, ALLOC_CMA | ALLOC_NOFRAGMENT) is None
    assert legal(blocks, 0, MOVABLE, ALLOC_OOM) == {2}
    assert legal(blocks, 0, MOVABLE, ALLOC_NON_BLOCK) == {2}
    assert legal(blocks, 2, UNMOVABLE, ALLOC_NON_BLOCK) == {8}
    # no HIGHATOMIC block large enough either: NULL
    assert legal(blocks, 3, MOVABLE, ALLOC_OOM | ALLOC_NON_BLOCK) is None


def test_the_reserve_is_not_a_fallback():
    """fallbacks[] (1666-1670) has no HIGHATOMIC, CMA or ISOLATE entry, and those types
    have no row: such blocks are never claimed or stolen."""
    for mt in (UNMOVABLE, MOVABLE, RECLAIMABLE):
        assert legal({0: (3, HIGHATOMIC), 8: (3, ISOLATE), 16: (3, CMA)}, 0, mt, 0) is None


@pytest.mark.parametrize("start, other", [(MOVABLE, UNMOVABLE), (MOVABLE, RECLAIMABLE),
                                          (UNMOVABLE, MOVABLE), (UNMOVABLE, RECLAIMABLE),
                                          (RECLAIMABLE, MOVABLE), (RECLAIMABLE, UNMOVABLE)])
def test_a_fallback_block_is_claimed_or_stolen(start, other):
    """__rmqueue_claim / __rmqueue_steal take a block of a fallbacks[] type of order >=
    ``order``: its head first (page_del_and_expand), and a rmqueue_bulk refill goes on
    with the pieces expand put back (aligned to the order). A block below the order is
    never used, nor a pfn outside a free block."""
    blocks = {0: (2, other), 6: (0, other), 9: (0, HIGHATOMIC)}
    got = legal(blocks, 0, start, 0)
    assert {0, 6} <= got and {1, 2, 3} <= got
    assert not got & {4, 5, 7, 8, 9, 10}
    # order 1: the order-2 block's two halves, not the order-0 block, nothing unaligned
    assert legal(blocks, 1, start, 0) == {0, 2}
    # order 2: the head only
    assert legal(blocks, 2, start, 0) == {0}


def test_a_block_of_the_own_type_below_the_order_does_not_hide_a_fallback():
    """The own-type order-0 block cannot serve order 1 (__rmqueue_smallest starts at
    ``order``), so the request falls back to the UNMOVABLE order-1 block."""
    assert legal({0: (0, MOVABLE), 2: (1, UNMOVABLE)}, 1, MOVABLE, 0) == {2}


def test_cma_only_with_alloc_cma():
    """__rmqueue 2342-2348: CMA pageblocks serve a request only with ALLOC_CMA."""
    blocks = {4: (1, CMA)}
    assert legal(blocks, 0, MOVABLE, 0) is None
    got = legal(blocks, 0, MOVABLE, ALLOC_CMA)
    assert got is not None and 4 in got and not got - {4, 5}


def test_free_blocks_are_read_not_changed():
    """The oracle answers from the blocks it is given and leaves them as they were."""
    blocks = {0: (2, UNMOVABLE), 8: (0, MOVABLE)}
    copy = dict(blocks)
    legal(blocks, 0, RECLAIMABLE, ALLOC_OOM)
    assert blocks == copy
