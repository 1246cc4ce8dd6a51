"""Rules of the whole path that no other test pinned (issue 20, "tests with teeth"), each
with the expected value read from the kernel's source (Debian 6.12.118 unless said),
never computed by kmem's own spec."""

from __future__ import annotations

import pytest

from kmem.model import Machine
from kmem.model import slab as K
from kmem.spec import gfp, pcp, slowpath
from kmem.spec import slab as S
from kmem.spec.alloc_flags import ALLOC_CMA, ALLOC_HIGHATOMIC, ALLOC_NON_BLOCK, ALLOC_OOM
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
