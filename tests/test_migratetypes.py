"""Migratetypes, pageblocks, fallback, the merge restriction, per-CPU lists and the
highatomic reserve (kmem.spec.migrate, kmem.spec.pcp, kmem.model.mtzone)."""

import dataclasses
import random

import pytest

from kmem.model import Machine, api
from kmem.spec import buddy, gfp, migrate, pcp
from kmem.spec.errors import InvalidArgument

MOVABLE_REQ = gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_NOWARN
KERNEL_REQ = gfp.GFP_KERNEL | gfp.__GFP_NOWARN
UNMOVABLE, MOVABLE, RECLAIMABLE = (migrate.MIGRATE_UNMOVABLE, migrate.MIGRATE_MOVABLE,
                                   migrate.MIGRATE_RECLAIMABLE)
HIGHATOMIC = migrate.MIGRATE_HIGHATOMIC


def test_one_migratetype_without_pcp_is_the_bare_core():
    """Only MOVABLE requests, no pcp lists: the same pfns, lists and buddyinfo as the
    bare buddy core (policy "linux"), step by step."""
    bare = Machine.x86_64(80, policy="linux")
    mt = Machine.x86_64(80, policy="linux", migratetypes=True)
    rnd = random.Random(7)
    held: list[list] = [[], []]
    for _ in range(2500):
        free = bool(held[0]) and rnd.random() < 0.45
        order = rnd.choice([0, 0, 1, 2, 3, 5, 9, 10])
        k = rnd.randrange(10**9)
        got = []
        for m, h in zip((bare, mt), held, strict=True):
            if free:
                page, o = h.pop(k % len(h))
                api.__free_pages(m, page, o)
                got.append(None)
            else:
                page = api.alloc_pages(m, MOVABLE_REQ, order)
                if page is not None:
                    h.append((page, order))
                got.append(page and page.pfn)
        assert got[0] == got[1]
    for z0, z1 in zip(bare.zones, mt.zones, strict=True):
        for order in range(11):
            assert z0.free_list_order(order) == z1.free_list_order(order, MOVABLE)
    assert bare.buddyinfo() == mt.buddyinfo()
    assert mt.check_invariants() == []


def test_fallback_table_is_total_and_never_the_same_type():
    for mt in range(migrate.MIGRATE_PCPTYPES):
        row = migrate.fallbacks(mt)
        assert len(row) == migrate.MIGRATE_PCPTYPES - 1 and mt not in row
        assert set(row) | {mt} == set(range(migrate.MIGRATE_PCPTYPES))
    for mt in (HIGHATOMIC, migrate.MIGRATE_CMA, migrate.MIGRATE_ISOLATE):
        assert migrate.fallbacks(mt) == ()
    with pytest.raises(InvalidArgument):
        migrate.fallbacks(6)


def test_unmovable_request_claims_a_whole_top_order_block():
    m = Machine.generic(4096, policy="linux", migratetypes=True, min_free_kbytes=0)
    zone = m.zones[0]
    page = api.alloc_pages(m, KERNEL_REQ, 0)
    assert page.pfn == 0  # the head of the order-10 MOVABLE list, claimed whole
    assert zone.get_pfnblock_migratetype(0) == UNMOVABLE
    assert zone.get_pfnblock_migratetype(512) == UNMOVABLE
    assert zone.get_pfnblock_migratetype(1024) == MOVABLE
    assert [zone.nr_free_mt(o, UNMOVABLE) for o in range(11)] == [1] * 10 + [0]
    assert zone.nr_free_mt(10, MOVABLE) == 3
    assert m.check_invariants() == []


def test_small_unmovable_fallback_claims_half_free_pageblock_and_boosts():
    """No top-order block left: the claim takes the largest free block of a fallback
    type; below pageblock_order the whole block moves when half of it is free, and the
    watermark is boosted (boost_watermark)."""
    m = Machine.generic(4096, policy="linux", migratetypes=True, min_free_kbytes=0)
    zone = m.zones[0]
    big = [api.alloc_pages(m, MOVABLE_REQ, 10) for _ in range(3)]
    assert all(big)
    small = [api.alloc_pages(m, MOVABLE_REQ, 8) for _ in range(4)]  # fill the last block
    api.__free_pages(m, small[1], 8)  # a free order-8 block inside pageblock 6 (pfn 3072..)
    page = api.alloc_pages(m, KERNEL_REQ, 0)
    assert page is not None
    # 256 free pages of 512 = half: the pageblock is claimed
    assert zone.get_pfnblock_migratetype(page.pfn) == UNMOVABLE
    # boost_watermark: one pageblock (max(pageblock_nr_pages, 150 % of HIGH = 12))
    assert zone.watermark_boost == 512
    assert m.check_invariants() == []


def test_merge_restriction_keeps_highatomic_apart():
    m = Machine.generic(65536, policy="linux", migratetypes=True, min_free_kbytes=0)
    zone = m.zones[0]
    a = api.alloc_pages(m, MOVABLE_REQ, 9)
    b = api.alloc_pages(m, MOVABLE_REQ, 9)
    assert {a.pfn, b.pfn} == {0, 512}
    zone.reserve_highatomic_pageblock(b.pfn, 9)  # order >= pageblock_order: retype only
    assert zone.nr_reserved_highatomic == 512
    api.__free_pages(m, a, 9)
    api.__free_pages(m, b, 9)
    assert zone.free_order[0] == 9 and zone.free_order[512] == 9  # buddies left unmerged
    assert zone.nr_free_highatomic == 512
    assert m.check_invariants() == []
    # below pageblock_order the same pair of free buddies is a violation
    zs = zone.state()
    small = buddy.ZoneState(**{**zs.__dict__, "free": frozenset({(0, 8), (256, 8)}),
                               "list_types": ((0, MOVABLE), (256, MOVABLE))})
    assert [v.invariant for v in buddy.inv_maximal_coalescing(small)] == ["maximal-coalescing"]


def test_unreserve_leaves_mergeable_buddies_apart_at_pageblock_order():
    """6.12.118 mm/page_alloc.c:2185-2191: unreserve_highatomic_pageblock moves a free
    HIGHATOMIC block of order >= pageblock_order to the caller's list and retypes its
    pageblock without trying to merge it; its buddy, refused at free time, stays apart.
    `kmem conform` saw the kernel's own code reach this state, so the invariant allows
    it (before, the spec called it a missed merge)."""
    m = Machine.generic(65536, policy="linux", migratetypes=True, min_free_kbytes=0)
    zone = m.zones[0]
    a = api.alloc_pages(m, MOVABLE_REQ, 9)
    b = api.alloc_pages(m, MOVABLE_REQ, 9)
    zone.reserve_highatomic_pageblock(b.pfn, 9)
    api.__free_pages(m, a, 9)
    api.__free_pages(m, b, 9)
    assert zone.unreserve_highatomic_pageblock(MOVABLE, True)
    assert zone.get_pfnblock_migratetype(512) == MOVABLE and zone.free_mt[512] == MOVABLE
    assert zone.free_order[0] == 9 and zone.free_order[512] == 9  # still apart
    assert m.check_invariants() == []


def test_highatomic_reserve_on_a_failing_fast_path():
    m = Machine.generic(65536, policy="linux", migratetypes=True)
    zone = m.zones[0]
    while api.alloc_pages(m, MOVABLE_REQ, 3) is not None:
        pass
    while api.alloc_pages(m, MOVABLE_REQ, 0) is not None:
        pass
    assert zone.free_pages < zone.watermark[1]  # below LOW: the fast pass fails
    page = api.alloc_pages(m, gfp.GFP_ATOMIC | gfp.__GFP_NOWARN, 0)
    assert page is not None and zone.nr_reserved_highatomic == 0  # order 0: no reserve
    api.__free_pages(m, api.alloc_pages(m, MOVABLE_REQ, 0) or page, 0)
    # free an order-2 block so that an order-1 atomic request can succeed
    holes = [api.alloc_pages(m, gfp.GFP_ATOMIC | gfp.__GFP_NOWARN, 0) for _ in range(3)]
    for h in holes:
        if h is not None:
            api.__free_pages(m, h, 0)
    victim = next(pfn for pfn, o in sorted(zone.allocated.items()) if o == 3)
    api.__free_pages(m, m.pfn_to_page(victim), 3)
    got = api.alloc_pages(m, gfp.GFP_ATOMIC | gfp.__GFP_NOWARN, 1)
    assert got is not None
    assert zone.nr_reserved_highatomic == 512
    assert zone.get_pfnblock_migratetype(got.pfn) == HIGHATOMIC
    assert migrate.highatomic_max_managed(zone.managed_pages, 9) == 1024
    assert m.check_invariants() == []


def test_pcp_lists_park_and_return_pages():
    m = Machine.generic(65536, policy="linux", migratetypes=True, nr_cpus=1)
    zone = m.zones[0]
    boot = m.buddyinfo()
    p = zone.pcp[0]
    assert (p.batch, p.high) == (15, 0)
    page = api.alloc_pages(m, MOVABLE_REQ, 0)
    # nr_pcp_alloc: the refill fetched a batch of order-0 pages, one handed out
    assert p.count >= 1 and m.free_pages_total + p.count + 1 == 65536
    api.__free_pages(m, page, 0)
    assert zone.pcp_head(0, MOVABLE, 0) == page.pfn  # hot page at the list head
    again = api.alloc_pages(m, MOVABLE_REQ, 0)
    assert again.pfn == page.pfn
    api.__free_pages(m, again, 0)
    assert m.buddyinfo() != boot  # pages parked on the pcp list split a top-order block
    m.drain_all_pages()
    assert p.count == 0 and m.buddyinfo() == boot
    assert m.check_invariants() == []


def test_double_free_of_a_pcp_page_is_caught():
    m = Machine.generic(65536, policy="linux", migratetypes=True, nr_cpus=1)
    page = api.alloc_pages(m, MOVABLE_REQ, 0)
    api.__free_pages(m, page, 0)
    with pytest.raises(Exception, match="refcount 0|already free"):
        api.__free_pages(m, page, 0)


def test_pcp_arithmetic_known_values():
    assert pcp.zone_batchsize(3976) == 0  # a DMA zone: batch max(1, 0) = 1
    assert pcp.pageset_high_and_batch(low_wmark=10, managed_pages=3976, nr_split_cpus=4)[2] == 1
    assert pcp.zone_batchsize(1 << 20) == 63  # 4 GiB: the familiar "batch: 63"
    high_min, high_max, batch = pcp.pageset_high_and_batch(
        low_wmark=16000, managed_pages=1 << 20, nr_split_cpus=8)
    assert (high_min, high_max, batch) == (2000, (1 << 20) // 8 // 8, 63)
    assert pcp.order_to_pindex(MOVABLE, 0) == 1 and pcp.order_to_pindex(UNMOVABLE, 3) == 9
    assert pcp.order_to_pindex(MOVABLE, 9) == 13 and pcp.pindex_to_order(12) == 9
    assert not pcp.pcp_allowed_order(4) and pcp.pcp_allowed_order(9)


@pytest.mark.parametrize("kwargs", [{"migratetypes": True}, {"nr_cpus": 1},
                                    {"policy": "linux", "nr_cpus": 1},
                                    {"policy": "linux", "migratetypes": True, "nr_cpus": -1},
                                    {"policy": "linux", "migratetypes": True,
                                     "pageblock_order": 11}])
def test_path_options_are_checked(kwargs):
    with pytest.raises(InvalidArgument):
        Machine.generic(1024, **kwargs)


def test_the_highatomic_count_after_an_unreserve_to_highatomic():
    """6.12.118 mm/page_alloc.c:2157-2190: unreserve_highatomic_pageblock drops
    nr_reserved_highatomic by max(pageblock_nr_pages, 1 << order) and moves the block to
    ac->migratetype, which a gfp with both mobility bits makes MIGRATE_HIGHATOMIC: the
    pageblock stays HIGHATOMIC. Seen in the kernel's compiled code (kmem conform's
    directed stream): 2 HIGHATOMIC pageblocks of 512 pages, nr_reserved_highatomic 512.
    The invariant then allows a count below the pageblocks, in whole pageblocks, never
    above them; without such an unreserve it still asks for equality."""
    m = Machine.generic(65536, policy="linux", migratetypes=True)
    zone = m.zones[0]
    zone.reserve_highatomic_pageblock(0, 0)
    zone.reserve_highatomic_pageblock(512, 0)
    assert zone.nr_reserved_highatomic == 1024
    assert buddy.inv_highatomic_reserve(zone.state()) == []
    assert zone.unreserve_highatomic_pageblock(HIGHATOMIC, True)
    # the first HIGHATOMIC block is the free order-10 block over both: 1024 pages go
    assert zone.nr_reserved_highatomic == 0 and zone.highatomic_uncounted
    assert [pb for pb, t in zone.state().block_types if t == HIGHATOMIC] == [0, 1]
    zs = zone.state()
    assert buddy.inv_highatomic_reserve(zs) == []
    assert buddy.inv_highatomic_reserve(dataclasses.replace(zs, nr_reserved_highatomic=512)) == []
    for count in (256, 1536):  # not whole pageblocks; above the HIGHATOMIC pageblocks
        assert buddy.inv_highatomic_reserve(
            dataclasses.replace(zs, nr_reserved_highatomic=count)), count
    assert buddy.inv_highatomic_reserve(dataclasses.replace(zs, highatomic_uncounted=False))
