"""Rules of the whole path that no other test pinned (issue 20, "tests with teeth"), each
with the expected value read from the kernel's source (Debian 6.12.118 unless said),
never computed by kmem's own spec."""

from __future__ import annotations

import pytest

from kmem.model import Machine
from kmem.model import slab as K
from kmem.spec import gfp, migrate, pcp, slowpath
from kmem.spec import slab as S
from kmem.spec.alloc_flags import ALLOC_CMA, ALLOC_HIGHATOMIC, ALLOC_NON_BLOCK, ALLOC_OOM
from kmem.spec.errors import InvalidArgument
from kmem.spec.page_alloc import ZoneView, allocation_failure_legal, has_block

UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC, CMA = 0, 1, 2, 3, 4


def view(lists: dict[int, int] | None = None, pcp_lists: int = 0) -> ZoneView:
    """A zone with plenty of free pages (watermarks 0) whose free_list[mt] of each order in
    ``lists`` (order -> bit mask of types) is non-empty, and this CPU's pcp lists."""
    masks = tuple((lists or {}).get(o, 0) for o in range(11))
    return ZoneView(zone_idx=0, free_pages=10_000, nr_free=tuple(bin(m).count("1") for m in masks),
                    watermark=(0, 0, 0, 0), lowmem_reserve=(0,), free_lists=masks,
                    pcp_lists=pcp_lists)


# -- the failure oracle with migratetypes ----------------------------------------------------

def test_the_highatomic_reserve_serves_only_highatomic_oom_and_non_block_requests():
    """rmqueue_buddy (mm/page_alloc.c:2993-3003): the HIGHATOMIC list is read first with
    ALLOC_HIGHATOMIC, and after __rmqueue failed with ALLOC_OOM or ALLOC_NON_BLOCK; never
    otherwise (fallbacks[] has no HIGHATOMIC column, 1853-1857)."""
    only_reserve = view({3: 1 << HIGHATOMIC})
    for mt in (UNMOVABLE, MOVABLE, RECLAIMABLE):
        assert not has_block(only_reserve, 0, mt, 0)
        for flag in (ALLOC_HIGHATOMIC, ALLOC_OOM, ALLOC_NON_BLOCK):
            assert has_block(only_reserve, 0, mt, flag)
            assert has_block(only_reserve, 3, mt, flag)
            assert not has_block(only_reserve, 4, mt, flag)  # no block of that order


def test_a_request_may_take_any_fallback_type_but_cma_only_with_alloc_cma():
    """__rmqueue_claim / __rmqueue_steal use fallbacks[mt] (both other PCP types,
    1853-1857); CMA only with ALLOC_CMA (__rmqueue, 2330-2336)."""
    for mt in (UNMOVABLE, MOVABLE, RECLAIMABLE):
        for other in (UNMOVABLE, MOVABLE, RECLAIMABLE):
            assert has_block(view({5: 1 << other}), 5, mt, 0)
            assert not has_block(view({5: 1 << other}), 6, mt, 0)
    cma = view({0: 1 << CMA})
    assert not has_block(cma, 0, MOVABLE, 0) and has_block(cma, 0, MOVABLE, ALLOC_CMA)


def test_a_block_on_this_cpus_pcp_list_serves_its_own_type_and_order_only():
    """rmqueue_pcplist takes the head of pcp->lists[order_to_pindex(mt, order)] (3117-3120;
    order_to_pindex: MIGRATE_PCPTYPES * order + mt, the THP order after the low orders,
    movable last, 622-634)."""
    movable_order2 = view(pcp_lists=1 << 7)
    assert has_block(movable_order2, 2, MOVABLE, 0)
    assert not has_block(movable_order2, 2, UNMOVABLE, 0)
    assert not has_block(movable_order2, 1, MOVABLE, 0)
    assert not has_block(movable_order2, 3, MOVABLE, 0)
    thp_movable = view(pcp_lists=1 << 13)
    assert has_block(thp_movable, 9, MOVABLE, 0) and not has_block(thp_movable, 9, UNMOVABLE, 0)
    assert has_block(view(pcp_lists=1 << 12), 9, UNMOVABLE, 0)


def test_a_failure_is_illegal_while_the_requests_type_has_a_block():
    """allocation_failure_legal with migratetypes: gfp_migratetype(GFP_HIGHUSER_MOVABLE) is
    MOVABLE, GFP_KERNEL UNMOVABLE (include/linux/gfp.h:17-29); a request whose only block
    sits on another type's pcp list may fail (rmqueue_pcplist reads its own list, the
    buddy has nothing)."""
    movable_pcp = view(pcp_lists=1 << pcp.order_to_pindex(MOVABLE, 0))
    nowarn = gfp.__GFP_NOWARN
    assert not allocation_failure_legal([movable_pcp], gfp.GFP_HIGHUSER_MOVABLE | nowarn, 0, 0)
    assert allocation_failure_legal([movable_pcp], gfp.GFP_NOWAIT | nowarn, 0, 0)
    reserve = view({0: 1 << HIGHATOMIC})
    # gfp_to_alloc_flags (4078-4110): a request that cannot direct-reclaim gets
    # ALLOC_NON_BLOCK (the reserve serves it) unless __GFP_NOMEMALLOC
    assert not allocation_failure_legal([reserve], gfp.GFP_ATOMIC | nowarn, 0, 0)
    assert not allocation_failure_legal([reserve], gfp.GFP_NOWAIT | nowarn, 0, 0)
    assert allocation_failure_legal([reserve], gfp.GFP_NOWAIT | gfp.__GFP_NOMEMALLOC | nowarn,
                                    0, 0)


# -- the slow path ----------------------------------------------------------------------------

def test_max_reclaim_retries_is_16_rounds_without_progress():
    """mm/internal.h:464 ``#define MAX_RECLAIM_RETRIES 16``; should_reclaim_retry
    (mm/page_alloc.c:4188-4194) counts a round without progress and gives up once the count
    exceeds 16: 16 retries after the first attempt, 17 "retry" get_page calls in all."""
    assert slowpath.MAX_RECLAIM_RETRIES == 16
    r = slowpath.slowpath(gfp.GFP_KERNEL, 0, lambda step: False, fast_flags=1,
                          outcomes=slowpath.Outcomes(reclaim_retry_wmark=True))
    assert [s.label for s in r.steps].count("retry") == 17
    assert [s.kind for s in r.steps].count("reclaim") == 17


# -- vmstat --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("managed", "cpus", "threshold"), [
    (16_384, 1, 2),        # 64 MiB: mem = 0 (128 MiB units), 2 * fls(1) * (1 + 0)
    (32_767, 1, 2),        # just under 128 MiB
    (32_768, 1, 4),        # 128 MiB: mem = 1, 2 * 1 * (1 + fls(1))
    (235_929, 1, 8),       # 0.9 GB, 1 CPU: the kernel's own table says 8
    (235_929, 2, 16),      # 0.9 GB, 2 CPUs: 16
    (262_144 * 3, 2, 24),  # 3 GB, 2 CPUs: 24
    (16_384, 16, 10),      # < 128 MB, 16 CPUs: 10
    (262_144 * 12, 1024, 125),  # 12 GB, 1024 CPUs: capped at 125
])
def test_the_stats_threshold_is_calculate_normal_threshold(managed, cpus, threshold):
    """mm/vmstat.c:222-267 calculate_normal_threshold: ``mem = managed >> (27 -
    PAGE_SHIFT)``; ``2 * fls(cpus) * (1 + fls(mem))`` at most 125 (values from its table of
    sample thresholds where they follow the code)."""
    assert pcp.stat_threshold(managed, cpus) == threshold


def test_zoneinfo_prints_the_threshold_of_a_zone_over_64_mib():
    """A 256 MiB Normal zone on 2 CPUs: mem = 1 or 2 -> fls = 1 or 2."""
    m = Machine.x86_64(256, policy="linux", migratetypes=True, nr_cpus=2)
    text = m.zoneinfo()
    zones = {z.name: z for z in m.zones}
    dma32 = zones["DMA32"]
    want = 2 * 2 * (1 + (dma32.managed_pages >> 15).bit_length())
    block = text.split("zone    DMA32")[1].split("Node ")[0]
    assert f"vm stats threshold: {want}" in block
    assert want in (8, 12)


# -- SLUB ------------------------------------------------------------------------------------------

def test_calculate_order_of_1275_bytes_is_3():
    """mm/slub.c:5143-5220 on one CPU: min_objects 4 * (fls(1) + 1) = 8, min_order
    get_order(8 * 1275) = 2; at fraction 1/16, order 2 leaves 16384 % 1275 = 1084 > 1024,
    order 3 leaves 32768 % 1275 = 893 <= 2048: order 3."""
    assert S.calculate_order(1275) == 3
    assert S.calc_slab_order(1275, 2, 3, 16) == 3
    assert S.calc_slab_order(1275, 2, 3, 8) == 2  # 1084 <= 16384 / 8
    # a waste of exactly slab_size / fract_leftover is accepted ("rem <= ..."): 4096 % 1365
    # = 1, 4096 % 1366 = 1364 <= 4096 / 2 only at fraction 2
    assert S.calc_slab_order(1366, 0, 0, 2) == 0
    assert S.calc_slab_order(2048 + 1, 0, 1, 2) == 0  # 4096 % 2049 = 2047 <= 2048


def test_slub_discards_an_empty_slab_once_min_partial_slabs_are_partial():
    """__slab_free (mm/slub.c:4571): ``!new.inuse && n->nr_partial >= s->min_partial``
    discards the slab that just became empty (it is itself on the partial list). With
    min_partial 5 (small caches: max(5, min(10, ilog2(size) / 2))), emptying full slabs
    one by one keeps 4 empty slabs and discards the fifth and later ones."""
    m = Machine.x86_32(64)
    cache = K.kmem_cache_create(m, "teeth", 64)
    assert cache.layout.min_partial == 5
    per = cache.layout.objects
    objs = [K.kmem_cache_alloc(cache, gfp.GFP_KERNEL) for _ in range(per * 9)]
    by_slab: dict[int, list[int]] = {}
    for x in objs:
        by_slab.setdefault(m.slab_allocator.slab_of_pfn[m.virt_to_page(x).pfn].pfn, []).append(x)
    cpu = cache.cpu_slab.pfn
    full = [p for p in by_slab if p != cpu]
    kept = []
    for p in full:
        for x in by_slab[p]:
            K.kmem_cache_free(cache, x)
        kept.append(sum(1 for s in cache.partial if s.inuse == 0))
    assert kept[:6] == [1, 2, 3, 4, 4, 4]


# -- the slab layer's snapshot --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["slub", "slab"])
def test_the_snapshot_sees_every_part_of_a_caches_state(kind):
    """The "state unchanged" checks of the error paths compare snapshots: each part of a
    cache's state must show in it."""
    m = Machine.x86_32(64, slab=kind)
    cache = K.kmem_cache_create(m, "teeth", 100)
    xs = [K.kmem_cache_alloc(cache, gfp.GFP_KERNEL) for _ in range(50)]
    K.kmem_cache_free(cache, xs[3])
    snap = m.slab_allocator.snapshot

    def changes(poke) -> bool:
        before = snap()
        undo = poke()
        after = snap()
        undo()
        assert snap() == before
        return after != before

    s = cache.slabs[0]

    def field(obj, name, value):
        old = getattr(obj, name)
        setattr(obj, name, value)
        return lambda: setattr(obj, name, old)

    assert changes(lambda: field(s, "inuse", s.inuse + 1))
    assert changes(lambda: field(s, "list", "other"))
    assert changes(lambda: field(s, "order", s.order + 1))
    assert changes(lambda: field(s, "pfn", s.pfn + 1))
    assert changes(lambda: field(s, "colour_offset", s.colour_offset + 64))
    assert changes(lambda: field(s, "free", [*s.free, 999]))
    assert changes(lambda: field(cache, "destroyed", True))
    assert changes(lambda: field(cache, "leaked", not cache.leaked))
    assert changes(lambda: field(cache, "name", "other"))
    assert changes(lambda: field(cache, "live", {*cache.live, 1}))
    if kind == "slub":
        assert changes(lambda: field(cache, "nr_slabs", cache.nr_slabs + 1))
        assert changes(lambda: field(cache, "total_objects", cache.total_objects + 1))
        assert changes(lambda: field(cache, "cpu_slab", None))
        assert changes(lambda: field(cache, "partial", [*cache.partial, s]))
    else:
        assert changes(lambda: field(cache, "free_objects", cache.free_objects + 1))
        assert changes(lambda: field(cache, "colour_next", cache.colour_next + 1))
        assert changes(lambda: field(cache, "ac", [*cache.ac, 1]))
        assert changes(lambda: field(cache, "ac_touched", not cache.ac_touched))
        assert changes(lambda: field(cache, "lists", {**cache.lists, "free": [*cache.lists["free"], s]}))
    alloc = m.slab_allocator
    assert changes(lambda: field(alloc, "tainted_bad_page", not alloc.tainted_bad_page))
    assert changes(lambda: field(alloc, "large", {**alloc.large, 12345: 1}))


# -- fastimpl: freeing a page that is neither allocated nor free -------------------------------

@pytest.mark.parametrize("pfn", [1, 5, 640])  # reserved, a hole, reserved
def test_freeing_a_reserved_or_hole_page_is_refused_like_the_model(pfn):
    """A reserved page or a hole keeps PG_reserved (mm/mm_init.c reserve_bootmem_region /
    init_unavailable_range); free_page_is_bad -> bad_page (mm/page_alloc.c:908-960) for a
    PAGE_FLAGS_CHECK_AT_FREE flag; fastimpl refuses it as the model does, state unchanged."""
    pytest.importorskip("numba")
    from kmem import fastimpl
    from kmem.model import Machine as ModelMachine
    from kmem.spec import errors, zones

    layout = zones.generic(1000, holes=((3, 9), (300, 517)), reserved=((0, 3), (640, 641)))
    out = []
    for M in (ModelMachine, fastimpl.Machine):
        m = M(layout, min_free_kbytes=0)
        m.alloc_pages(gfp.GFP_KERNEL, 2)
        before = (m.state(), m.buddyinfo())
        with pytest.raises(errors.BadPageState) as info:
            m.free_pages(m.pfn_to_page(pfn), 0)
        assert (m.state(), m.buddyinfo()) == before
        out.append(str(info.value))
    assert out[0] == out[1] and "PG_reserved" in out[0]


def test_a_zone_refuses_to_free_a_page_that_is_neither_allocated_nor_free():
    """The zone's guard behind __free_pages: the inner page of an allocated block is not
    the start of an allocated block (bad_page's "nonzero _refcount" in kmem's terms: the
    kernel would free a page whose refcount it never raised); a page inside a free block is
    a double free ("nonzero mapcount": PageBuddy); fastimpl's whole-path zones say the same.
    (The bare fastimpl core's E_NOTALLOC is not reachable through its API: every page that
    is neither allocated nor free there has refcount 0 or PG_reserved, refused before.)"""
    pytest.importorskip("numba")
    from kmem import fastimpl
    from kmem.model import Machine as ModelMachine
    from kmem.spec import errors

    kwargs = {"policy": "linux", "migratetypes": True}
    out = []
    for M in (ModelMachine, fastimpl.Machine):
        m = M.generic(4096, min_free_kbytes=0, **kwargs)
        p = m.alloc_pages(gfp.GFP_KERNEL, 2)
        zone = m.zones[0]
        got = []
        for pfn in (p.pfn + 1, p.pfn + 2, (p.pfn + 2048) % 4096):
            with pytest.raises(errors.BadPageState) as info:
                zone.check_free(pfn, 0)
            got.append((str(info.value), info.value.reason))
        out.append(got)
    assert out[0] == out[1]
    assert [g[1] for g in out[0]] == ["nonzero _refcount", "nonzero _refcount",
                                      "nonzero mapcount"]
    assert "does not start an allocated block" in out[0][0][0]


# -- the pcp arithmetic, branch by branch (values worked by hand from the kernel's code) ----------

@pytest.mark.parametrize(("kw", "want"), [
    # mark and new pcp->high; 6.12.118 mm/page_alloc.c:2628-2674
    ({"high": 0, "high_min": 0, "high_max": 0}, (0, 0)),                 # !high: 0
    ({"high": 0, "high_min": 300, "high_max": 2000, "count": 0}, (300, 300)),  # clamped up
    ({"high": 5000, "high_min": 300, "high_max": 2000, "count": 0}, (2000, 2000)),
    ({"free_high": True}, (0, 300)),                   # max(1000 - (63 << 5), 300)
    ({"free_high": True, "high": 3000, "high_max": 4000}, (0, 3000 - 2016)),
    ({"reclaim_active": True, "free_count": 40}, (252, 937)),  # min(63 << 2, 1000 - 63)
    ({"reclaim_active": True, "free_count": 900}, (252, 300)),  # max(1000 - 900, 300)
    ({"high_min": 800, "high_max": 800, "high": 5}, (800, 800)),
    ({"below_high": True, "free_count": 100}, (500, 900)),    # max(count, high_min); -free_count
    ({"below_high": True, "free_count": 10, "count": 100}, (300, 937)),  # free_count -> batch
    ({"count": 1000, "free_count": 1200}, (1000, 1263)),       # need_high = free_count + batch
    ({"count": 1000, "free_count": 900}, (1000, 1000)),        # 963 < 1000: unchanged
    ({"count": 999, "free_count": 1200}, (1000, 1000)),        # count < high: unchanged
    ({"count": 1000, "free_count": 3000}, (1000, 2000)),       # clamped to high_max
])
def test_nr_pcp_high_branches(kw, want):
    args = {"high": 1000, "high_min": 300, "high_max": 2000, "count": 500, "free_count": 0,
            "batch": 63, "free_high": False, "below_high": False, **kw}
    assert pcp.nr_pcp_high(**args) == want


@pytest.mark.parametrize(("kw", "want"), [
    # (blocks, new pcp->high, new alloc_factor); 6.12.118 mm/page_alloc.c:3021-3070
    ({"high_min": 0, "high_max": 0, "high": 0, "batch": 1}, (1, 0, 2)),  # high < batch: 1
    ({}, (60, 460, 3)),                       # 15 << 2, high + 60, max_nr 435: factor + 1
    ({"alloc_factor": 5}, (480, 880, 5)),     # factor capped at PCP_BATCH_SCALE_MAX
    ({"alloc_factor": 5, "count": 870}, (15, 880, 5)),  # max(880 - 870 - 15, 15) = 15
    ({"alloc_factor": 1, "count": 420}, (15, 430, 1)),  # 30 > 15: the factor stays
    ({"below_high": True}, (60, 400, 3)),     # ZONE_BELOW_HIGH: no raise
    ({"high_min": 400, "high_max": 400}, (60, 400, 3)),  # fixed high: no raise
    ({"order": 3}, (2, 415, 2)),              # max(15 >> 3, 2); no factor for order > 0
    ({"order": 1}, (7, 415, 2)),
    ({"order": 9, "batch": 63, "high": 4000, "high_max": 8000}, (2, 4063, 2)),
    ({"order": 2, "batch": 1, "high": 400}, (1, 401, 2)),  # batch 1 is never scaled
])
def test_nr_pcp_alloc_branches(kw, want):
    args = {"high": 400, "high_min": 320, "high_max": 4116, "count": 10, "batch": 15,
            "alloc_factor": 2, "order": 0, "below_high": False, **kw}
    assert pcp.nr_pcp_alloc(**args) == want


@pytest.mark.parametrize(("kw", "want"), [
    # 6.12.118 mm/page_alloc.c:2603-2626
    ({"free_high": True, "count": 1000}, 480),  # min(count, batch << 5)
    ({"free_high": True, "count": 100}, 100),
    ({"high": 10}, 1),                          # high < batch
    ({"free_count": 5}, 15),                    # clamp(free_count, batch, high - batch)
    ({"free_count": 1000}, 385),
    ({"free_count": 100}, 100),
    ({"free_count": 385}, 385),
    ({"high": 15, "free_count": 100}, 0),  # clamp() is min(max(v, lo), hi): hi = 0 wins
])
def test_nr_pcp_free_branches(kw, want):
    args = {"count": 500, "batch": 15, "high": 400, "free_high": False, "free_count": 0, **kw}
    assert pcp.nr_pcp_free(**args) == want


PREV, HIGH_BATCH = pcp.PCPF_PREV_FREE_HIGH_ORDER, pcp.PCPF_FREE_HIGH_BATCH


@pytest.mark.parametrize(("kw", "want"), [
    # free_unref_page_commit, 6.12.118 mm/page_alloc.c:2702-2710
    ({"order": 2, "flags": PREV}, (True, PREV)),
    ({"order": 2, "flags": 0}, (False, PREV)),            # the first of a run
    ({"order": 2, "flags": PREV, "free_count": 14}, (False, PREV)),  # free_count < batch
    ({"order": 2, "flags": PREV, "free_count": 15}, (True, PREV)),
    ({"order": 3, "flags": PREV | HIGH_BATCH, "count": 14}, (False, PREV | HIGH_BATCH)),
    ({"order": 3, "flags": PREV | HIGH_BATCH, "count": 15}, (True, PREV | HIGH_BATCH)),
    ({"order": 0, "flags": PREV | HIGH_BATCH}, (False, HIGH_BATCH)),  # order 0 ends the run
    ({"order": 9, "flags": PREV}, (False, 0)),            # THP: not a costly-order run
    ({"order": 4, "flags": 0}, (False, 0)),
])
def test_free_high_decision(kw, want):
    args = {"free_count": 20, "count": 40, "batch": 15, **kw}
    assert pcp.free_high_decision(**args) == want


@pytest.mark.parametrize(("free_count", "order", "want"), [
    (0, 0, 1), (0, 3, 8), (479, 3, 487), (480, 0, 480), (500, 2, 500)])
def test_free_count_grows_below_batch_times_32(free_count, order, want):
    """``if (pcp->free_count < (batch << CONFIG_PCP_BATCH_SCALE_MAX)) pcp->free_count +=
    (1 << order);`` (2711-2712), batch 15: 480."""
    assert pcp.free_count_after_free(free_count, 15, order) == want


@pytest.mark.parametrize(("kw", "want"), [
    # decay_pcp_high, 6.12.118 mm/page_alloc.c:2412-2443: (high, chunks, todo)
    ({"high": 957, "count": 0}, (838, (), True)),           # high - high / 8
    ({"high": 330, "count": 0}, (320, (), False)),          # to high_min: done
    ({"high": 320, "count": 0}, (320, (), False)),          # at high_min: nothing
    ({"high": 320, "count": 350}, (320, (15, 15), True)),   # drain count - high, in batches
    ({"high": 320, "count": 336}, (320, (15, 1), True)),
    ({"high": 2000, "count": 2000}, (1750, (15,) * 16 + (10,), True)),  # high - high/8
    ({"high": 2000, "count": 2400}, (1920, (15,) * 32, True)),  # count - (batch << 5) wins
])
def test_decay_pcp_high_branches(kw, want):
    assert pcp.decay_pcp_high(high_min=320, batch=15, **kw) == want


@pytest.mark.parametrize(("managed", "batch"), [
    # zone_batchsize (6.12.118 mm/page_alloc.c:5798-5830): min(managed >> 10, 1 MiB) / 4,
    # at least 1, rounddown_pow_of_two(batch + batch / 2) - 1
    (0, 0), (1023, 0), (4096, 0), (8192, 1), (16384, 3), (66_000, 15), (131_072, 31),
    (262_144, 63), (1 << 20, 63), (1 << 24, 63)])
def test_zone_batchsize(managed, batch):
    assert pcp.zone_batchsize(managed) == batch


def test_zone_highsize_and_the_pageset():
    """zone_highsize (5832-5870): the LOW watermark, or managed / fraction, split over the
    CPUs, at least batch * 4; zone_set_pageset_high_and_batch: high_min from the LOW
    watermark, high_max from managed / 8 without vm.percpu_pagelist_high_fraction."""
    assert pcp.zone_highsize(low_wmark=1000, managed_pages=0, batch=15, nr_split_cpus=3) == 333
    assert pcp.zone_highsize(low_wmark=100, managed_pages=0, batch=63, nr_split_cpus=1) == 252
    assert pcp.zone_highsize(low_wmark=0, managed_pages=80_000, batch=15, nr_split_cpus=2,
                             high_fraction=8) == 5000
    assert pcp.pageset_high_and_batch(low_wmark=1000, managed_pages=262_144,
                                      nr_split_cpus=2) == (500, 16_384, 63)
    assert pcp.pageset_high_and_batch(low_wmark=1000, managed_pages=262_144, nr_split_cpus=2,
                                      high_fraction=16) == (8192, 8192, 63)
    with pytest.raises(Exception, match="nr_split_cpus"):
        pcp.zone_highsize(low_wmark=1, managed_pages=1, batch=1, nr_split_cpus=0)


# -- spec/migrate.py's rules at their edges (6.12.118 mm/page_alloc.c) ----------------------------



def test_pcp_list_of_a_freed_page_by_pageblock_type():
    """free_unref_page (2748-2758): ISOLATE bypasses the pcp lists; HIGHATOMIC and CMA
    (is_migrate_highatomic / is_migrate_cma) go to the MOVABLE list."""
    assert [migrate.pcp_migratetype(mt) for mt in range(6)] == [0, 1, 2, 1, 1, None]


def test_can_steal_fallback_and_the_claim_rule_with_mobility_grouping_off():
    """can_steal_fallback (1882-1900): from pageblock_order / 2 for MOVABLE requests, any
    order for UNMOVABLE/RECLAIMABLE or without mobility grouping; try_to_steal_block
    (1999-2003): page_group_by_mobility_disabled claims any block."""
    assert [migrate.can_steal_fallback(o, MOVABLE, 9) for o in (3, 4, 8, 9, 10)] == \
        [False, True, True, True, True]
    assert migrate.can_steal_fallback(0, UNMOVABLE, 9) and migrate.can_steal_fallback(0, RECLAIMABLE, 9)
    assert migrate.can_steal_fallback(0, MOVABLE, 9, mobility_disabled=True)
    assert migrate.can_steal_fallback(5, MOVABLE, 10) and not migrate.can_steal_fallback(4, MOVABLE, 10)
    assert not migrate.claim_whole_block(0, 0, MOVABLE, UNMOVABLE, 9)
    assert migrate.claim_whole_block(0, 0, MOVABLE, UNMOVABLE, 9, mobility_disabled=True)
    # alike pages: MOVABLE request -> movable pages; UNMOVABLE into MOVABLE -> the rest
    assert migrate.claim_whole_block(0, 256, MOVABLE, UNMOVABLE, 9)
    assert not migrate.claim_whole_block(0, 255, MOVABLE, UNMOVABLE, 9)
    assert migrate.claim_whole_block(0, 256, UNMOVABLE, MOVABLE, 9)      # 512 - 256 alike
    assert not migrate.claim_whole_block(0, 257, UNMOVABLE, MOVABLE, 9)
    assert not migrate.claim_whole_block(255, 0, UNMOVABLE, RECLAIMABLE, 9)  # alike 0
    assert migrate.claim_whole_block(8, 0, RECLAIMABLE, MOVABLE, 4)      # 8 >= 1 << 3


def test_find_suitable_fallback_returns_the_first_non_empty_fallback():
    """find_suitable_fallback (2036-2067): -1 for an empty area before can_steal is set;
    the first non-empty fallbacks[] list; only_stealable skips unstealable ones."""
    assert migrate.find_suitable_fallback(0, lambda mt: True, 0, MOVABLE, 9) == (None, False)
    assert migrate.find_suitable_fallback(3, lambda mt: True, 0, MOVABLE, 9) == (RECLAIMABLE, False)
    assert migrate.find_suitable_fallback(3, lambda mt: mt == UNMOVABLE, 5, MOVABLE, 9) == \
        (UNMOVABLE, True)
    assert migrate.find_suitable_fallback(3, lambda mt: True, 0, MOVABLE, 9,
                                          only_stealable=True) == (None, False)
    assert migrate.find_suitable_fallback(3, lambda mt: mt == MOVABLE, 0, UNMOVABLE, 9) == \
        (MOVABLE, True)
    assert migrate.find_suitable_fallback(3, lambda mt: False, 0, UNMOVABLE, 9) == (None, False)


def test_claim_min_order_with_alloc_nofragment():
    """__rmqueue_claim (2240-2244): below pageblock_order ALLOC_NOFRAGMENT searches from
    pageblock_order only."""
    assert migrate.claim_min_order(0, True, 9) == 9 and migrate.claim_min_order(8, True, 9) == 9
    assert migrate.claim_min_order(9, True, 9) == 9 and migrate.claim_min_order(10, True, 9) == 10
    assert migrate.claim_min_order(3, False, 9) == 3


def test_boosted_watermark_edges():
    """boost_watermark (1904-1946): no boost with factor 0, for a zone under four
    pageblocks (pageblock_nr_pages * 4 > managed), or a zero high mark; else up by a
    pageblock to max(pageblock_nr_pages, high * factor / 10000)."""
    assert migrate.boosted_watermark(0, 1000, 4096, 9, boost_factor=0) is None
    assert migrate.boosted_watermark(0, 1000, 2047, 9) is None
    assert migrate.boosted_watermark(0, 1000, 2048, 9) == 512
    assert migrate.boosted_watermark(0, 0, 65536, 9) is None
    assert migrate.boosted_watermark(0, 1, 65536, 9) == 512  # max(512, 1 * 15000 / 10000)
    assert migrate.boosted_watermark(1000, 1000, 65536, 9) == 1500  # capped at 150 % of high
    assert migrate.boosted_watermark(512, 1000, 65536, 9) == 1024


@pytest.mark.parametrize("bad", [-1, 6, True, 1.0, "1", None])
def test_migratetype_and_pageblock_order_are_checked(bad):
    with pytest.raises(InvalidArgument, match="migratetype"):
        migrate.check_migratetype(bad)
    with pytest.raises(InvalidArgument, match="pageblock_order"):
        migrate.check_pageblock_order(bad if bad != 6 else 11)
    assert migrate.check_migratetype(5) == 5 and migrate.check_pageblock_order(10) == 10
    assert migrate.check_pageblock_order(0) == 0 and migrate.check_migratetype(0) == 0
