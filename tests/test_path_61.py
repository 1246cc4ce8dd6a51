"""The whole allocation path of a Linux 6.1 machine (Debian 6.1.192's mm/page_alloc.c):
``__rmqueue_fallback``/``steal_suitable_fallback``, one fixed pcp->high with free_factor,
the pcp migratetype cache, no decay. Each expected value comes from the 6.1.192 line cited."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.model.mtzone import MtZone
from kmem.spec import gfp, migrate, pcp
from kmem.spec.zones import ZoneSpan, ZoneType

UNMOVABLE, MOVABLE = migrate.MIGRATE_UNMOVABLE, migrate.MIGRATE_MOVABLE


def _zone(kernel: str) -> MtZone:
    # 64 pages, 16-page pageblocks (pageblock_order 4): 4 pageblocks
    z = MtZone(ZoneSpan(ZoneType.NORMAL, 0, 64), ZoneType.NORMAL.value, pageblock_order=4,
               kernel=kernel)
    return z


def test_single_page_steal_moves_the_block_to_the_requests_list():
    # 6.1.192 __rmqueue_fallback (3033-3083): a MOVABLE order-0 request, only an UNMOVABLE
    # order-1 block free: can_steal_fallback(1, MOVABLE) is false (1 < pageblock_order / 2)
    # -> find_smallest -> steal_suitable_fallback(..., whole_block=false) -> single_page:
    # move_to_free_list(page, zone, 1, MOVABLE) (2864); __rmqueue retries
    # __rmqueue_smallest(MOVABLE) (3137-3142), whose expand puts the upper half on the
    # MOVABLE list. 6.12.118's __rmqueue_steal expands on the UNMOVABLE list instead.
    for kernel, list_mt in (("6.1", MOVABLE), ("6.12", UNMOVABLE)):
        z = _zone(kernel)
        allocated = [(p, 0) for p in range(64) if p not in (16, 17)]
        z.load([(16, 1)], allocated, free_types={16: UNMOVABLE})
        assert z.rmqueue(0, 0, MOVABLE, 0) == 16
        assert z.free_list_order(0, list_mt) == [17], kernel
        assert z.get_pfnblock_migratetype(16) == UNMOVABLE


def test_whole_block_steal_moves_free_pages_even_when_the_block_is_not_claimed():
    # 6.1.192 steal_suitable_fallback (2791-2871): for an UNMOVABLE request (can steal),
    # move_freepages_block moves every free page of the pageblock to UNMOVABLE first
    # (2825), then claims the block only if free + alike >= half of it (2857-2859): here
    # free 6, movable 10, alike 16 - 16 = 0: not claimed, but blocks 16 and 20 now sit on
    # UNMOVABLE lists. 6.12.118's try_to_steal_block refuses without moving anything and
    # __rmqueue_steal takes block 16 alone.
    for kernel, type_of_20 in (("6.1", UNMOVABLE), ("6.12", MOVABLE)):
        z = _zone(kernel)
        free = [(16, 1), (20, 2)]
        held = [(18, 1), (24, 3)]
        allocated = [(p, 0) for p in range(64) if not 16 <= p < 32] + held
        z.load(free, allocated)
        z.movable_allocs.update(p for p, _ in held)
        assert z.get_pfnblock_migratetype(16) == MOVABLE
        assert z.rmqueue(0, 0, UNMOVABLE, 0) == 16
        assert z.free_mt[20] == type_of_20, kernel
        assert z.get_pfnblock_migratetype(16) == MOVABLE  # not claimed


def test_highatomic_cap_and_one_pageblock_per_reservation():
    # 6.1.192 reserve_highatomic_pageblock (2908-2935): "max_managed =
    # (zone_managed_pages(zone) / 100) + pageblock_nr_pages" and one pageblock a time
    assert migrate.highatomic_max_managed_61(100_000, 9) == 1000 + 512
    assert migrate.highatomic_max_managed_61(1000, 9) == 10 + 512  # 6.12 gives 0 here
    assert migrate.highatomic_max_managed(1000, 9) == 0
    assert migrate.highatomic_unreserve_size_61(9, 300) == 300


def test_pcp_arithmetic_61():
    # nr_pcp_free (3422-3441): batch << free_factor clamped to [batch, high - batch]; the
    # factor grows while below high - batch (and below CONFIG_PCP_BATCH_SCALE_MAX)
    assert pcp.nr_pcp_free_61(count=400, high=378, batch=63, free_high=False,
                              free_factor=0) == (63, 1)
    assert pcp.nr_pcp_free_61(count=400, high=378, batch=63, free_high=False,
                              free_factor=2) == (252, 3)
    assert pcp.nr_pcp_free_61(count=400, high=378, batch=63, free_high=False,
                              free_factor=3) == (315, 3)  # 504 >= 315: no growth
    assert pcp.nr_pcp_free_61(count=17, high=378, batch=63, free_high=True,
                              free_factor=3) == (17, 3)  # "return pcp->count"
    # nr_pcp_high (3451-3467): the fixed high; 0 for free_high
    assert pcp.nr_pcp_high_61(high=378, batch=63, free_high=False) == 378
    assert pcp.nr_pcp_high_61(high=378, batch=63, free_high=True) == 0
    assert pcp.free_high_61(free_factor=1, order=2) and not pcp.free_high_61(free_factor=0,
                                                                            order=2)
    # __rmqueue_pcplist (3813-3814): max(batch >> order, 2)
    assert [pcp.pcp_alloc_batch_61(63, o) for o in (0, 1, 3, 9)] == [63, 31, 7, 2]


def test_61_machine_keeps_one_high_and_never_decays():
    m = Machine.x86_64(1024, policy="linux", migratetypes=True, nr_cpus=1, kernel="6.1")
    z = m.zones[m.config.idx(ZoneType.DMA32)]
    p = z.pcp[0]
    assert p.high == p.high_min == p.high_max > 0  # zone_set_pageset_high_and_batch
    held = [api.alloc_page(m, gfp.GFP_KERNEL) for _ in range(3 * p.high)]
    assert p.high == p.high_min
    for page in held:
        api.__free_page(m, page)
        assert p.count < p.high  # drained at the fixed mark (free_unref_page_commit 3491)
    assert p.free_factor > 0
    count = p.count
    m.advance_clock(60)  # 6.1's refresh_cpu_vm_stats has no decay_pcp_high
    assert p.count == count and p.high == p.high_min
    assert not m.check_invariants()


@pytest.mark.parametrize("kernel", ["6.1", "6.12"])
def test_random_stream_keeps_the_invariants(kernel):
    import random

    rng = random.Random(7)
    m = Machine.x86_64(256, policy="linux", migratetypes=True, nr_cpus=2, kernel=kernel)
    masks = [gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE,
             gfp.GFP_ATOMIC | gfp.__GFP_NOWARN]
    held = []
    for _ in range(3000):
        m.cpu = rng.randrange(2)
        if held and rng.random() < 0.45:
            page, order = held.pop(rng.randrange(len(held)))
            api.__free_pages(m, page, order)
        else:
            order = rng.choice((0, 0, 0, 1, 2, 3, 9))
            page = api.alloc_pages(m, rng.choice(masks) | gfp.__GFP_NOWARN, order)
            if page is not None:
                held.append((page, order))
        if rng.random() < 0.01:
            m.advance_clock(1)
    assert not m.check_invariants()


def test_61_lists_need_not_follow_pageblocks_but_612_lists_must():
    # 6.10+ keeps every free block on its pageblock's list (__add_to_free_list's
    # VM_WARN_ONCE "page type is %lu, passed migratetype is %d"); 6.1.192's
    # steal_suitable_fallback moves free pages between lists without retyping the block
    # (move_freepages_block, 2825): the spec's list/pageblock agreement is a 6.10+ invariant
    from kmem.spec import buddy

    z = _zone("6.1")
    free = [(16, 1), (20, 2)]
    held = [(18, 1), (24, 3)]
    z.load(free, [(p, 0) for p in range(64) if not 16 <= p < 32] + held)
    z.movable_allocs.update(p for p, _ in held)
    z.rmqueue(0, 0, UNMOVABLE, 0)
    state = z.state()
    assert state.path_era == "6.1" and not buddy.check_invariants(state)
    import dataclasses

    strict = dataclasses.replace(state, path_era="6.12")
    assert any(v.invariant == "pageblock-lists" for v in buddy.check_invariants(strict))


def test_61_steal_of_a_multi_pageblock_block_keeps_the_reserve_count():
    # 6.1.192 steal_suitable_fallback (2791-2871): "old_block_type =
    # get_pageblock_migratetype(page)" reads the first pageblock only; for current_order >=
    # pageblock_order "change_pageblock_range(page, current_order, start_type)" retypes every
    # pageblock of the block, a HIGHATOMIC second one included, and nr_reserved_highatomic is
    # not lowered: the count then exceeds the HIGHATOMIC pageblocks (kmem conform --kernel
    # 6.1 met this in the kernel's own code)
    from kmem.spec import buddy

    z = _zone("6.1")
    z.load([(0, 5)], [(p, 0) for p in range(32, 64)])  # pageblocks 0 and 1 free as one block
    z.block_type[1] = migrate.MIGRATE_HIGHATOMIC
    z.nr_reserved_highatomic = 16
    assert z.rmqueue(0, 0, UNMOVABLE, 0) == 0
    assert z.block_type[0] == z.block_type[1] == UNMOVABLE
    assert z.nr_reserved_highatomic == 16
    assert not buddy.check_invariants(z.state())


def test_61_boost_retry_is_keyed_on_gfp_atomic():
    # 6.1.192 zone_watermark_fast (mm/page_alloc.c:4148-4153): "if (unlikely(!order &&
    # (gfp_mask & __GFP_ATOMIC) && z->watermark_boost && ((alloc_flags & ALLOC_WMARK_MASK)
    # == WMARK_MIN)))" retries against _watermark[WMARK_MIN]; 6.12.118 keys the same retry on
    # ALLOC_MIN_RESERVE. MIN 100 + boost 100, ALLOC_MIN_RESERVE halves the mark: 100 fails
    # with 80 free pages, the unboosted 50 passes.
    from kmem.spec import page_alloc
    from kmem.spec.alloc_flags import ALLOC_MIN_RESERVE, WMARK_MIN

    view = page_alloc.ZoneView(0, 80, (80,) + (0,) * 10, (100, 125, 150, 175), (0,), boost=100)
    flags = WMARK_MIN | ALLOC_MIN_RESERVE  # e.g. GFP_KERNEL | __GFP_HIGH: no __GFP_ATOMIC
    assert page_alloc.zone_allows(view, 0, flags, 0)  # 6.12
    assert not page_alloc.zone_allows(view, 0, flags, 0, atomic_gfp=False)  # 6.1
    assert page_alloc.zone_allows(view, 0, flags, 0, atomic_gfp=True)  # 6.1 GFP_ATOMIC
    m = Machine.x86_64(256, policy="linux", migratetypes=True, kernel="6.1")
    assert m._gfp_atomic_bit == 0x200  # 6.1.192 include/linux/gfp_types.h:36


def test_61_frees_a_multi_pageblock_block_whole():
    # 6.1.192 __free_pages_ok (1735-1757): "migratetype = get_pfnblock_migratetype(page,
    # pfn)" of the first pageblock, then __free_one_page of the whole order: pageblock 1 keeps
    # its type. 6.12.118's split_large_buddy frees pageblock-sized pieces, each with its own
    # type, and __free_one_page's merge retypes the buddy's pageblock to the block's type.
    # (6.12: the UNMOVABLE piece merges with the MOVABLE one and "change_pageblock_range(
    # buddy, order, migratetype)" (868-875) makes pageblock 0 UNMOVABLE too)
    for kernel, want in (("6.1", (MOVABLE, MOVABLE, UNMOVABLE)),
                         ("6.12", (UNMOVABLE, UNMOVABLE, UNMOVABLE))):
        z = _zone(kernel)
        z.load([], [(0, 5)] + [(p, 0) for p in range(32, 64)])
        z.block_type[1] = UNMOVABLE
        z.free_one_page(0, 5)
        assert z.free_order.get(0) == 5
        assert (z.free_mt[0], z.block_type[0], z.block_type[1]) == want, kernel


def test_61_drains_pcp_pages_with_their_cached_migratetype():
    # 6.1.192 __rmqueue_smallest caches the list's type in the page
    # (set_pcppage_migratetype, 2604) and free_pcppages_bulk frees with
    # get_pcppage_migratetype (1621); 6.12.118's free_pcppages_bulk reads the pageblock's
    # type at drain time (1256). Refill MOVABLE pages, retype their pageblock, drain.
    for kernel, list_mt in (("6.1", MOVABLE), ("6.12", UNMOVABLE)):
        z = MtZone(ZoneSpan(ZoneType.NORMAL, 0, 64), ZoneType.NORMAL.value, pageblock_order=4,
                   nr_cpus=1, kernel=kernel)
        z.load([(0, 4)], [(p, 0) for p in range(16, 64)])
        z.setup_pageset(1)
        p = z.pcp[0]
        p.batch, p.high, p.high_min, p.high_max = 4, 16, 16, 16
        assert z.rmqueue(0, 0, MOVABLE, 0) is not None
        assert p.count == 3
        z.block_type[0] = UNMOVABLE
        seen: list[int] = []
        orig = z.free_one_page_mt

        def spy(pfn, order, mt, to_tail, orig=orig, seen=seen):
            seen.append(mt)
            return orig(pfn, order, mt, to_tail)

        z.free_one_page_mt = spy  # type: ignore[method-assign]
        z.drain_pages_zone(0)
        assert seen == [list_mt] * 3, kernel


def test_boost_flag_is_cleared_after_a_failed_rmqueue_too():
    # rmqueue's "out:" label is reached with page == NULL as well: 6.1.192 (3909-3915)
    # clears ZONE_BOOSTED_WATERMARK whenever set; 6.12.118 (3168-3174) only with ALLOC_KSWAPD
    from kmem.spec.alloc_flags import ALLOC_KSWAPD

    for kernel, flags, cleared in (("6.1", 0, True), ("6.12", 0, False),
                                   ("6.12", ALLOC_KSWAPD, True)):
        z = _zone(kernel)
        z.load([], [(p, 0) for p in range(64)])
        z.boosted = True
        assert z.rmqueue(0, 0, MOVABLE, flags) is None
        assert z.boosted is not cleared, (kernel, flags)


def test_61_watermarks_hold_back_the_whole_reserve():
    # 6.1.192 __zone_watermark_unusable_free (4001-4019): "unusable_free +=
    # z->nr_reserved_highatomic" (4012-4013); 6.12.118 subtracts z->nr_free_highatomic
    for kernel in ("6.1", "6.12"):
        m = Machine.x86_64(256, policy="linux", migratetypes=True, kernel=kernel)
        z = m.zones[m.config.idx(ZoneType.DMA32)]
        z.nr_reserved_highatomic = 512
        held_back = m.zone_view(z).nr_free_highatomic
        assert held_back == (512 if kernel == "6.1" else z.nr_free_highatomic)
        assert z.nr_free_highatomic == 0
