"""model/mtzone.py's own bookkeeping, pinned to the kernel's code (issue 20, mutants of the
whole path that survived the other tests). Expected values are worked from Debian
6.12.118's mm/page_alloc.c (6.1.192 where said), cited line by line."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.model.mtzone import MtZone
from kmem.spec import gfp, migrate
from kmem.spec.alloc_flags import ALLOC_CMA, ALLOC_NOFRAGMENT, ALLOC_NON_BLOCK, ALLOC_OOM
from kmem.spec.errors import BadPageState
from kmem.spec.zones import ZoneSpan, ZoneType

UNMOVABLE, MOVABLE, RECLAIMABLE = (migrate.MIGRATE_UNMOVABLE, migrate.MIGRATE_MOVABLE,
                                   migrate.MIGRATE_RECLAIMABLE)
HIGHATOMIC, ISOLATE = migrate.MIGRATE_HIGHATOMIC, migrate.MIGRATE_ISOLATE


def _zone(kernel: str = "6.12") -> MtZone:
    """64 pages, 16-page pageblocks (pageblock_order 4): 4 pageblocks, no pcp lists."""
    return MtZone(ZoneSpan(ZoneType.NORMAL, 0, 64), ZoneType.NORMAL.value, pageblock_order=4,
                  kernel=kernel)


def test_free_page_counters_follow_account_freepages():
    """account_freepages (663-678): an ISOLATE block is no free page; a HIGHATOMIC block
    counts in NR_FREE_PAGES and in nr_free_highatomic; others only in NR_FREE_PAGES."""
    z = _zone()
    allocated = [(p, 0) for p in range(64) if p not in range(16) and p not in range(32, 40)
                 and p not in range(48, 52)]
    z.load([(0, 3), (8, 2), (32, 3), (48, 2)], allocated,
           free_types={0: MOVABLE, 32: HIGHATOMIC, 48: ISOLATE})
    assert z.free_pages == 8 + 4 + 8  # ISOLATE's 4 pages left out
    assert z.nr_free_highatomic == 8
    # __rmqueue_smallest(HIGHATOMIC) takes 2 of the 8 reserved pages: both counters drop
    assert z.rmqueue_smallest_mt(1, HIGHATOMIC) == 32
    assert (z.free_pages, z.nr_free_highatomic) == (18, 6)
    # the ISOLATE list is a list all the same (nr_free counts it)
    assert z.free_area[2].nr_free == 3  # 8 (MOVABLE), 48 (ISOLATE), 36 (HIGHATOMIC, expand)


def test_tails_of_a_shared_block_go_to_the_freeing_cpus_lists():
    """__free_pages (4939-4951): when the first page of a non-compound block is still
    referenced, ``while (order-- > 0) free_unref_page(page + (1 << order), order)``; each
    free_unref_page commits to ``pcp_spin_trylock(zone->per_cpu_pageset)`` (2761-2763), the
    pageset of the CPU that frees. An order-2 block freed on CPU 1: pfn+2 (order 1) and
    pfn+1 (order 0) land on CPU 1's lists, CPU 0's stay as they were."""
    m = Machine.generic(1 << 16, policy="linux", migratetypes=True, nr_cpus=2)
    zone = m.zones[0]
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 2)
    m.drain_all_pages()
    api.get_page(m, page)
    m.cpu = 1
    api.__free_pages(m, page, 2)
    unmovable = UNMOVABLE  # GFP_KERNEL's pageblock type: the tails' list type
    assert zone.pcp_head(1, unmovable, 1) == page.pfn + 2
    assert zone.pcp_head(1, unmovable, 0) == page.pfn + 1
    assert (zone.pcp[0].count, zone.pcp[1].count) == (0, 3)
    assert zone.allocated.get(page.pfn) == 0  # the first page stays allocated


def test_pageblock_counts_start_from_zero():
    """pagetypeinfo_showblockcount_print (mm/vmstat.c 1611-1631): ``count[MIGRATE_TYPES] =
    { 0, }``, then one per online pageblock of its type. memmap_init_range (mm/mm_init.c
    915-925) makes every pageblock of present memory MOVABLE: 4 pageblocks, 4 MOVABLE; one
    claimed as UNMOVABLE moves one count; an offline pageblock is not counted."""
    z = _zone()
    assert z.pageblock_counts(lambda pfn: True) == [0, 4, 0, 0, 0, 0]
    z.change_pageblock_range(16, 4, UNMOVABLE)
    assert z.pageblock_counts(lambda pfn: True) == [1, 3, 0, 0, 0, 0]
    assert z.pageblock_counts(lambda pfn: pfn != 32) == [1, 2, 0, 0, 0, 0]


def test_61_nofragment_claims_only_whole_pageblocks():
    """6.1.192 __rmqueue_fallback (3048-3049): ``if (order < pageblock_order && alloc_flags
    & ALLOC_NOFRAGMENT) min_order = pageblock_order``: an order-0 MOVABLE request with
    ALLOC_NOFRAGMENT finds nothing when the only fallback block is of order 1, leaving it
    where it was; a pageblock-sized UNMOVABLE block is claimed (steal_suitable_fallback
    2808-2809: ``current_order >= pageblock_order`` -> change_pageblock_range)."""
    z = _zone("6.1")
    z.load([(16, 1)], [(p, 0) for p in range(64) if p not in (16, 17)],
           free_types={16: UNMOVABLE})
    assert z.rmqueue(0, 0, MOVABLE, ALLOC_NOFRAGMENT) is None
    assert z.free_blocks_typed() == {16: (1, UNMOVABLE)}
    assert z.rmqueue(0, 0, MOVABLE, 0) == 16  # without the flag it steals
    z = _zone("6.1")
    z.load([(16, 4)], [(p, 0) for p in range(64) if not 16 <= p < 32],
           free_types={16: UNMOVABLE})
    assert z.rmqueue(0, 0, MOVABLE, ALLOC_NOFRAGMENT) == 16
    assert z.get_pfnblock_migratetype(16) == MOVABLE


def test_61_free_counts_the_page_onto_the_pcp_list():
    """6.1.192 free_unref_page_commit (3479-3480): ``list_add(&page->pcp_list, ...);
    pcp->count += 1 << order``: after an order-0 and an order-1 free the CPU holds 3 pages
    (far below 6.1's high mark, so nothing drains)."""
    m = Machine.x86_64(256, policy="linux", migratetypes=True, nr_cpus=1, kernel="6.1")
    a = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
    b = api.alloc_pages(m, gfp.GFP_KERNEL, 1)
    zone = m.zone_of(a.pfn)
    m.drain_all_pages()
    api.__free_pages(m, a, 0)
    api.__free_pages(m, b, 1)
    assert zone.pcp[0].count == 3
    assert zone.pcp_head(0, UNMOVABLE, 1) == b.pfn and zone.pcp_head(0, UNMOVABLE, 0) == a.pfn


def test_pcp_checker_names_each_broken_pcp_invariant():
    """The zone's pcp invariants (count == pages on the lists, each listed block recorded at
    its order) are reported under the name "pcp", with the CPU and the pfn."""
    m = Machine.generic(1 << 16, policy="linux", migratetypes=True, nr_cpus=1)
    zone = m.zones[0]
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
    m.drain_all_pages()
    api.__free_pages(m, page, 0)
    assert zone.pcp_violations() == []
    zone.pcp[0].count += 1
    assert [str(v) for v in zone.pcp_violations()] == [
        "pcp: cpu 0: count 2 but the lists hold 1 pages"]
    zone.pcp[0].count -= 1
    zone.pcp_pages[page.pfn] = 1
    assert [str(v) for v in zone.pcp_violations()] == [
        f"pcp: cpu 0: pfn {page.pfn:#x} on list 0 is not a pcp block of order 0"]
    zone.pcp_pages[page.pfn] = 0
    zone.pcp_pages[page.pfn + 1] = 0  # recorded as parked, on no list
    assert [str(v) for v in zone.pcp_violations()] == [
        "pcp: pcp_pages and the pcp lists differ"]


def test_a_movable_request_counts_movable_pages_as_alike():
    """try_to_steal_block (1954-2027): for a MOVABLE request ``alike_pages =
    movable_pages`` (2001-2002); the pageblock is claimed when ``free_pages + alike_pages >=
    1 << (pageblock_order - 1)`` (2021-2024). UNMOVABLE pageblock 16..31 (pageblock_order 4):
    4 free pages (order 2 at 16), 4 pages held by a MOVABLE allocation (order 2 at 20), 8
    held by an UNMOVABLE one: 4 + 4 >= 8, so an order-2 MOVABLE request (can_steal_fallback:
    2 >= pageblock_order / 2) claims it: the pageblock becomes MOVABLE and
    __rmqueue_smallest(MOVABLE) hands out 16. Without the movable pages (4 < 8) it is not
    claimed and __rmqueue_steal takes 16, leaving the pageblock UNMOVABLE."""
    for movable, claimed in ((True, MOVABLE), (False, UNMOVABLE)):
        z = _zone()
        held = [(20, 2), (24, 3)]
        z.load([(16, 2)], [(p, 0) for p in range(64) if not 16 <= p < 32] + held,
               free_types={16: UNMOVABLE})
        if movable:
            z.movable_allocs.add(20)
        assert z.rmqueue(0, 2, MOVABLE, 0) == 16
        assert z.get_pfnblock_migratetype(16) == claimed


@pytest.mark.parametrize("flag", [ALLOC_OOM, ALLOC_NON_BLOCK])
def test_the_reserve_serves_oom_and_non_block_requests_last(flag):
    """rmqueue_buddy (2996-3004): after __rmqueue found nothing, ``if (!page && (alloc_flags
    & (ALLOC_OOM|ALLOC_NON_BLOCK))) page = __rmqueue_smallest(zone, order,
    MIGRATE_HIGHATOMIC)``: only HIGHATOMIC blocks are free; an order-0 request with the flag
    gets the smallest one's head (order 1 at 34, split), one without it gets NULL."""
    z = _zone()
    z.load([(32, 3), (40, 2), (44, 1), (46, 1)],
           [(p, 0) for p in range(64) if not 32 <= p < 48], free_types={32: HIGHATOMIC})
    assert z.rmqueue(0, 0, MOVABLE, 0) is None
    assert z.rmqueue(0, 0, MOVABLE, flag) == 44
    assert z.free_blocks_typed()[45] == (0, HIGHATOMIC)


def test_freeing_a_page_parked_on_a_pcp_list_names_the_double_free():
    """A block on a pcp list is free as far as the allocator is concerned (the kernel's
    free_pages_prepare would find its refcount 0): the zone refuses a second free with the
    pfn and "double free" in the message."""
    m = Machine.generic(1 << 16, policy="linux", migratetypes=True, nr_cpus=1)
    zone = m.zones[0]
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
    m.drain_all_pages()
    api.__free_pages(m, page, 0)
    with pytest.raises(BadPageState) as info:
        zone.check_free(page.pfn, 0)
    assert str(info.value) == (f"pfn {page.pfn:#x} is already free (on a per-CPU list; "
                               f"double free)")
    assert info.value.reason == "nonzero mapcount"


def test_alloc_cma_without_cma_blocks_goes_on_to_claim_and_steal():
    """__rmqueue (2341-2364): RMQUEUE_CMA with ALLOC_CMA tries __rmqueue_cma_fallback and
    returns only ``if (page)``; with no CMA block it falls through to __rmqueue_claim and
    __rmqueue_steal: the UNMOVABLE order-1 block at 16 is stolen as without ALLOC_CMA."""
    z = _zone()
    z.load([(16, 1)], [(p, 0) for p in range(64) if p not in (16, 17)],
           free_types={16: UNMOVABLE})
    assert z.rmqueue(0, 0, MOVABLE, ALLOC_CMA) == 16


@pytest.mark.parametrize("kernel, flags, via_pcp", [("6.12", 0, True), ("6.1", 0, False),
                                                   ("6.1", ALLOC_CMA, True)])
def test_cma_kernels_skip_the_pcp_lists_only_in_61(kernel, flags, via_pcp):
    """With CONFIG_CMA, 6.1.192's rmqueue (3893-3901) skips the pcp lists for a MOVABLE
    request without ALLOC_CMA (``!IS_ENABLED(CONFIG_CMA) || alloc_flags & ALLOC_CMA ||
    migratetype != MIGRATE_MOVABLE``); 6.12.118's rmqueue (3158-3163) has no such test. Via
    the pcp list the request refills it (rmqueue_bulk), so pages stay parked on the CPU."""
    m = Machine.x86_64(256, policy="linux", migratetypes=True, nr_cpus=1, kernel=kernel,
                       cma=True)
    zone = max(m.zones, key=lambda z: z.managed_pages)
    m.drain_all_pages()
    assert zone.rmqueue(0, 0, MOVABLE, flags) is not None
    assert (zone.pcp[0].count > 0) == via_pcp


def test_a_pageblock_in_a_hole_stays_unmovable():
    """memmap_init (mm/mm_init.c 955-990) runs memmap_init_range, which marks each
    pageblock-aligned pfn MOVABLE (915-925), only over memory ranges; a hole's struct pages
    come from init_unavailable_range (833-855), which never sets the pageblock bits, so a
    pageblock wholly in a hole keeps type 0: UNMOVABLE. 64 pages, 16-page pageblocks, the
    second pageblock a hole."""
    z = MtZone(ZoneSpan(ZoneType.NORMAL, 0, 64, holes=((16, 32),)), ZoneType.NORMAL.value,
               pageblock_order=4)
    assert [z.get_pfnblock_migratetype(pfn) for pfn in (0, 16, 32, 48)] == [
        MOVABLE, UNMOVABLE, MOVABLE, MOVABLE]


def test_a_drain_on_free_clears_below_high_when_the_high_mark_is_met():
    """free_unref_page_commit (6.12.118 mm/page_alloc.c:2714-2720): when a free drains the
    list (``pcp->count >= high``), ZONE_BELOW_HIGH is cleared if ``zone_watermark_ok(zone,
    0, high_wmark_pages(zone), ZONE_MOVABLE, 0)``; get_page_from_freelist (3499-3508) set
    it. A 256 MiB zone with nearly every page free is far above its high mark, so the first
    free that drains clears the flag; before that free it stays set."""
    m = Machine.generic(1 << 16, policy="linux", migratetypes=True, nr_cpus=1)
    zone = m.zones[0]
    pages = [api.alloc_pages(m, gfp.GFP_KERNEL, 0) for _ in range(2000)]
    m.drain_all_pages()
    zone.below_high = True
    drained = False
    for page in pages:
        before = zone.pcp[0].count
        api.__free_pages(m, page, 0)
        if zone.pcp[0].count <= before:  # this free drained the list
            drained = True
            break
        assert zone.below_high
    assert drained and not zone.below_high


def test_the_free_count_walks_past_every_page_that_is_not_free():
    """prep_move_freepages_block (6.12.118 mm/page_alloc.c:1749-1766): a PageBuddy page
    adds its block and skips it, any other page is one step (``pfn++``). UNMOVABLE
    pageblock 16..31 (pageblock_order 4): 16 held, then free blocks 17 (order 0), 18
    (order 1), 20 (order 2), 24 (order 0), the rest held: 8 free pages. A MOVABLE order-0
    request (try_to_steal_block, alike_pages = movable_pages = 0, 2001-2002) claims it, as
    8 >= 1 << (4 - 1) (2021-2024): the pageblock becomes MOVABLE and __rmqueue_smallest
    hands out 17, the first order-0 block moved. A count that missed the page at 17 would
    see 7 and leave the pageblock UNMOVABLE."""
    z = _zone()
    free = [(17, 0), (18, 1), (20, 2), (24, 0)]
    z.load(free, [(p, 0) for p in range(64) if p == 16 or not 16 <= p < 25],
           free_types={pfn: UNMOVABLE for pfn, _ in free})
    assert z.rmqueue(0, 0, MOVABLE, 0) == 17
    assert z.get_pfnblock_migratetype(16) == MOVABLE
    assert z.free_blocks_typed() == {18: (1, MOVABLE), 20: (2, MOVABLE), 24: (0, MOVABLE)}


def test_a_block_above_the_pcp_orders_goes_straight_to_the_buddy():
    """free_unref_page (6.12.118 mm/page_alloc.c:2727-2738): ``if (!pcp_allowed_order(order))
    { __free_pages_ok(page, order, FPI_NONE); return; }``; pcp_allowed_order (570-579) takes
    orders <= PAGE_ALLOC_COSTLY_ORDER (3) and pageblock_order only. An order-4 block freed
    on a machine with pcp lists is free in the buddy at once, on no CPU's list."""
    m = Machine.generic(1 << 16, policy="linux", migratetypes=True, nr_cpus=1)
    zone = m.zones[0]
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 4)
    m.drain_all_pages()
    before = zone.free_pages
    api.__free_pages(m, page, 4)
    assert zone.pcp[0].count == 0 and page.pfn not in zone.pcp_pages
    assert zone.free_pages == before + 16 and page.pfn not in zone.allocated
    assert any(pfn <= page.pfn < pfn + (1 << order) for pfn, order in zone.free_order.items())


def test_a_free_into_an_isolated_pageblock_skips_the_pcp_lists():
    """free_unref_page (6.12.118 mm/page_alloc.c:2750-2755): a page whose pageblock is
    MIGRATE_ISOLATE goes to free_one_page, not to a pcp list. The pageblock is isolated as
    set_migratetype_isolate does it (move_freepages_block: its free pages move to the
    ISOLATE list and leave NR_FREE_PAGES, account_freepages 663-678). The freed page merges
    with them (__free_one_page 829-880, same type below pageblock_order) on the ISOLATE
    list and adds no free page (account_freepages(zone, 1 << order, ISOLATE), 828)."""
    m = Machine.generic(1 << 16, policy="linux", migratetypes=True, nr_cpus=1)
    zone = m.zones[0]
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
    m.drain_all_pages()
    assert zone.move_freepages_block(page.pfn, ISOLATE) > 0
    before = zone.free_pages
    api.__free_pages(m, page, 0)
    assert zone.pcp[0].count == 0 and page.pfn not in zone.pcp_pages
    [mt] = [typed[1] for pfn, typed in zone.free_blocks_typed().items()
            if pfn <= page.pfn < pfn + (1 << typed[0])]
    assert mt == ISOLATE and zone.free_pages == before
