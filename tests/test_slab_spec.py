"""kmem.spec.slab: kmalloc classes at every boundary, SLUB order choice, classic SLAB
cache_estimate and colouring, slabinfo text, and the invariant predicates (each one made
to fire on a broken view)."""

from __future__ import annotations

import pytest

from kmem.spec import slab as S
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import __GFP_ACCOUNT, __GFP_DMA, __GFP_RECLAIMABLE, GFP_KERNEL

CLASSES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]


def test_constants():
    assert S.KMALLOC_MAX_CACHE_SIZE == 8192
    assert S.KMALLOC_MAX_SIZE == 4 * 1024 * 1024
    assert S.ZERO_SIZE_PTR == 16
    assert S.zero_or_null_ptr(0) and S.zero_or_null_ptr(16) and not S.zero_or_null_ptr(17)


def test_every_size_lands_in_the_smallest_class_that_fits():
    for size in range(1, S.KMALLOC_MAX_CACHE_SIZE + 1):
        obj = S.KMALLOC_INFO[S.kmalloc_slab_index(size)][0]
        assert obj == min(c for c in CLASSES if c >= size), size
        assert S.kmalloc_index(size) == S.kmalloc_slab_index(size), size


@pytest.mark.parametrize("size,name", [
    (1, "kmalloc-8"), (8, "kmalloc-8"), (9, "kmalloc-16"), (64, "kmalloc-64"),
    (65, "kmalloc-96"), (96, "kmalloc-96"), (97, "kmalloc-128"), (128, "kmalloc-128"),
    (129, "kmalloc-192"), (192, "kmalloc-192"), (193, "kmalloc-256"), (1024, "kmalloc-1k"),
    (1025, "kmalloc-2k"), (2312, "kmalloc-4k"), (8192, "kmalloc-8k")])
def test_boundaries(size, name):
    d = S.kmalloc_decide(size, GFP_KERNEL)
    assert (d.kind, d.cache) == ("slab", name)


def test_kmalloc_index_values():
    assert S.kmalloc_index(0) == 0
    assert [S.kmalloc_index(n) for n in (8, 16, 32, 64, 96, 128, 192, 256)] == \
        [3, 4, 5, 6, 1, 7, 2, 8]
    assert S.kmalloc_index(2 * 1024 * 1024) == 21
    with pytest.raises(InvalidArgument):
        S.kmalloc_index(2 * 1024 * 1024 + 1)


def test_size_index_redirections():
    base = S.kmalloc_size_index_table(8)
    assert base[(96 - 1) // 8] == 1 and base[(192 - 1) // 8] == 2
    t64 = S.kmalloc_size_index_table(64)
    assert all(t64[(s - 1) // 8] == 6 for s in range(8, 65, 8))
    assert all(t64[(s - 1) // 8] == 7 for s in range(72, 97, 8))  # 96 -> 128
    assert t64[(192 - 1) // 8] == 2
    t128 = S.kmalloc_size_index_table(128)
    assert all(t128[(s - 1) // 8] == 8 for s in range(136, 193, 8))  # 192 -> 256
    assert S.kmalloc_caches(8) == (1, 2, *range(3, 14))
    assert S.kmalloc_caches(64) == (2, *range(6, 14))
    assert S.kmalloc_caches(128) == tuple(range(7, 14))


def test_page_allocator_side():
    d = S.kmalloc_decide(8193)
    assert (d.kind, d.order, d.bytes_alloc) == ("large", 2, 16384)
    d = S.kmalloc_decide(S.KMALLOC_MAX_SIZE)
    assert (d.kind, d.order) == ("large", 10)
    d = S.kmalloc_decide(S.KMALLOC_MAX_SIZE + 1)
    assert (d.kind, d.order) == ("too-large", 11)
    assert S.kmalloc_decide(0).kind == "zero"
    assert S.kmalloc_size_roundup(100) == 128 and S.kmalloc_size_roundup(9000) == 16384
    assert S.kmalloc_size_roundup(0) == 0 and S.kmalloc_size_roundup(1 << 23) == 1 << 23
    for n in range(8193, 70000, 997):
        assert PAGE_SIZE << S.get_order(n) >= n > PAGE_SIZE << (S.get_order(n) - 1)


def test_families():
    assert S.kmalloc_decide(640, GFP_KERNEL | __GFP_ACCOUNT).cache == "kmalloc-cg-1k"
    assert S.kmalloc_decide(100, __GFP_RECLAIMABLE).cache == "kmalloc-rcl-128"
    assert S.kmalloc_decide(100, __GFP_DMA | __GFP_RECLAIMABLE | __GFP_ACCOUNT).cache == \
        "dma-kmalloc-128"
    assert S.kmalloc_decide(100, __GFP_RECLAIMABLE | __GFP_ACCOUNT).cache == "kmalloc-rcl-128"


def test_slub_orders_match_the_kernel_arithmetic():
    # one CPU: min_objects = 4 * (fls(1) + 1) = 8
    got = {n: (S.slub_layout(n, 0, S.SLAB_KMALLOC).order, S.slub_layout(n, 0, S.SLAB_KMALLOC).objects)
           for n in CLASSES}
    assert got[8] == (0, 512) and got[96] == (0, 42) and got[192] == (0, 21)
    assert got[1024] == (1, 8) and got[4096] == (3, 8) and got[8192] == (3, 4)
    # many CPUs: min_objects 4 * (fls(64) + 1) = 32 -> kmalloc-1k with 32 objects, order 3
    assert S.calculate_order(1024, nr_cpus=64) == 3
    for size in range(8, 9000, 8):
        order = S.calculate_order(size)
        assert 0 <= order <= 3 or order == S.get_order(size)
        assert S.order_objects(order, size) >= 1


def test_slub_layout_free_pointer_and_alignment():
    lay = S.slub_layout(100, 0, S.SLAB_HWCACHE_ALIGN)
    assert lay.align == 64 and lay.size == 128 and lay.offset == 48
    with_ctor = S.slub_layout(64, 0, 0, ctor=True)
    assert with_ctor.offset == 64 and with_ctor.size == 72
    assert S.slub_layout(96, 0, S.SLAB_KMALLOC).align == 32
    assert S.slub_layout(20, 0, S.SLAB_HWCACHE_ALIGN).align == 32
    assert S.slub_layout(8, 0, S.SLAB_CACHE_DMA).allocflags & __GFP_DMA


def test_cache_estimate_is_maximal_and_fits():
    era = S.SLAB_ERA_2_6_11
    for size in (32, 36, 64, 100, 128, 200, 256, 500, 1000, 3000):
        for align in (4, 32, 128):
            for off_slab in (False, True):
                for order in (0, 1, 2):
                    num, left = S.cache_estimate(order, size, align, off_slab, era)
                    mgmt = 0 if off_slab else S.align_up(era.sizeof_slab + num * era.bufctl,
                                                          align)
                    nxt = 0 if off_slab else S.align_up(era.sizeof_slab + (num + 1) * era.bufctl,
                                                        align)
                    assert num * size + mgmt + left == PAGE_SIZE << order
                    assert (num + 1) * size + nxt > PAGE_SIZE << order


def test_classic_general_caches_i386():
    assert S.general_cache_sizes()[:4] == (32, 64, 128, 256)  # L1 128: no size-96/192
    assert 96 in S.general_cache_sizes(S.SlabEra(cache_line=32))
    table = {n: S.classic_layout(n, 0, S.SLAB_HWCACHE_ALIGN) for n in S.general_cache_sizes()}
    assert (table[32].num, table[32].gfporder, table[32].off_slab) == (119, 0, False)
    assert (table[64].num, table[128].num, table[256].num) == (61, 31, 15)
    assert (table[512].num, table[512].off_slab) == (8, True)
    assert (table[8192].gfporder, table[131072].gfporder) == (1, 5)
    assert S.offslab_limit() == (256 - 24) // 2
    assert S.general_cache_for(0) == 32 and S.general_cache_for(131072) == 131072
    assert S.general_cache_for(131073) is None


def test_colouring_wraps():
    lay = S.classic_layout(100, 0, 0, era=S.SlabEra(cache_line=32))
    assert lay.colour == lay.left_over // lay.colour_off >= 2
    seq, nxt = [], 0
    for _ in range(2 * lay.colour + 1):
        c, nxt = S.next_colour(nxt, lay.colour)
        seq.append(c)
    assert seq == [*range(lay.colour), *range(lay.colour), 0]
    assert all(c * lay.colour_off <= lay.left_over for c in seq)
    assert S.next_colour(0, 0) == (0, 0)


def test_enable_cpucache():
    assert S.enable_cpucache(32) == (120, 60, 0)
    assert S.enable_cpucache(512) == (54, 27, 0)
    assert S.enable_cpucache(2048) == (24, 12, 0)
    assert S.enable_cpucache(8192) == (8, 4, 0)
    assert S.enable_cpucache(1 << 18) == (1, 1, 0)
    assert S.enable_cpucache(32, smp=True)[2] == 8


def test_slabinfo_text_round_trips():
    rows = [S.SlabinfoRow("kmalloc-8", 3584, 3584, 8, 512, 1, 0, 0, 0, 7, 7, 0),
            S.SlabinfoRow("dentry", 1, 119, 32, 119, 1, 120, 60, 0, 1, 1, 0)]
    text = S.format_slabinfo(rows)
    lines = text.splitlines()
    assert lines[0] == "slabinfo - version: 2.1"
    assert lines[1].startswith("# name            <active_objs> <num_objs> <objsize>")
    assert lines[2] == ("kmalloc-8           3584   3584      8  512    1 : tunables    0    0"
                        "    0 : slabdata      7      7      0")
    assert S.parse_slabinfo(text) == tuple(rows)
    with pytest.raises(InvalidArgument):
        S.parse_slabinfo("nope")


def _view(**kw):
    slab = S.SlabView(addr=0x1000, pfn=1, order=0, s_mem=0x1000, num=4, free=(3, 2), inuse=2,
                      list="partial")
    base = dict(name="c", allocator="slub", size=64, align=64, slabs=(slab,),
                live=frozenset({0x1000, 0x1040}), counters=(("nr_slabs", 1),
                                                            ("total_objects", 4),
                                                            ("nr_partial", 1)), num=4)
    base.update(kw)
    return S.CacheView(**base)


def test_invariants_hold_on_a_good_view_and_fire_on_bad_ones():
    good = _view()
    assert S.check_cache(good) == []
    sl = good.slabs[0]

    def names(v):
        return {x.invariant for x in S.check_cache(v)}

    assert "object-once" in names(_view(slabs=(S.SlabView(**{**sl.__dict__, "free": (3, 3),
                                                                "inuse": 2}),)))
    assert "slab-list" in names(_view(slabs=(S.SlabView(**{**sl.__dict__, "free": (),
                                                              "inuse": 4}),),
                                      live=frozenset(0x1000 + 64 * i for i in range(4))))
    assert "object-in-slab" in names(_view(live=frozenset({0x1000, 0x1040, 0x2000})))
    assert "object-once" in names(_view(live=frozenset({0x1000})))
    assert "cache-counters" in names(_view(counters=(("nr_slabs", 2),)))
    assert "object-in-slab" in names(_view(slabs=(S.SlabView(**{**sl.__dict__,
                                                                   "s_mem": 0x1f80}),)))
    assert "object-aligned" in names(_view(align=128))
    classic = _view(allocator="slab", colour_off=32, colour=2,
                    counters=(("free_objects", 2),),
                    slabs=(S.SlabView(**{**sl.__dict__, "colour_offset": 64}),))
    assert "colour-offset" in names(classic)
    other = _view(name="d")
    assert [v.invariant for v in S.check_disjoint([good, other])] == ["slab-disjoint"]
    assert S.check_slab_pages([good], lambda pfn, order: False)[0].invariant == \
        "slab-pages-allocated"
