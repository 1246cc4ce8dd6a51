"""kmem.model.slab: both allocators over the page model, kmalloc at the class boundaries
and on the page-allocator side, every error path leaving the whole state unchanged, and
/proc/slabinfo."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.model import slab as K
from kmem.spec import slab as S
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import (
    BadCacheArgs,
    BadPageState,
    BadVirtAddr,
    CacheDestroyed,
    InvalidArgument,
    InvalidObjectPointer,
    NotSlabObject,
    SlabDoubleFree,
    WrongSlabCache,
)
from kmem.spec.gfp import __GFP_ACCOUNT, __GFP_HIGHMEM, __GFP_NOWARN, GFP_DMA, GFP_KERNEL
from kmem.spec.zones import ZoneType

free_pages_of = api.__free_pages


def state(m: Machine):
    """The whole machine: zones, compound heads, log, slab layer (descriptors: see below)."""
    return (m.state(), frozenset(m.compound_heads), tuple(m.dmesg), m.slab_allocator.snapshot())


@pytest.fixture(params=["slub", "slab"])
def m(request):
    return Machine.x86_32(256, slab=request.param)


def test_default_is_slub_and_lazy():
    m = Machine.x86_64(64)
    assert m.slab == "slub" and m._slab is None
    assert m.slab_allocator.kind == "slub"
    with pytest.raises(InvalidArgument):
        Machine.x86_64(64, slab="slob")
    with pytest.raises(InvalidArgument):
        Machine.x86_64(64, slab_cpus=0)
    two = Machine.x86_64(64, slab_cpus=2).slab_allocator.kmalloc_cache(1000, GFP_KERNEL)
    assert (two.num, two.order) == (16, 2)  # min_objects 12 on two CPUs, as a real 2-CPU box
    one = Machine.x86_64(64).slab_allocator.kmalloc_cache(1000, GFP_KERNEL)
    assert (one.num, one.order) == (8, 1)


def test_kmalloc_every_class_boundary_slub():
    m = Machine.x86_64(64)
    sa = m.slab_allocator
    for size in [1, *sorted({c + d for c in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048,
                                              4096) for d in (0, 1)}), 8191, 8192]:
        p = K.kmalloc(m, size, GFP_KERNEL)
        s = sa.slab_of_pfn[api.virt_to_page(m, p).pfn]
        assert s.cache.name == S.kmalloc_decide(size, GFP_KERNEL).cache
        assert K.ksize(m, p) == s.cache.size >= size
        assert p % min(s.cache.size & -s.cache.size, 4096) == 0  # power-of-two alignment
    assert m.check_invariants() == []


def test_kmalloc_zero_null_and_large():
    m = Machine.x86_64(64)
    assert K.kmalloc(m, 0, GFP_KERNEL) == S.ZERO_SIZE_PTR
    K.kfree(m, 0)
    K.kfree(m, S.ZERO_SIZE_PTR)
    assert K.ksize(m, S.ZERO_SIZE_PTR) == 0
    free = m.free_pages_total
    p = K.kmalloc(m, 8193, GFP_KERNEL)
    page = api.virt_to_page(m, p)
    assert m.free_pages_total == free - 4 and page.pfn in m.compound_heads
    assert K.ksize(m, p) == 16384
    assert m.check_invariants() == []
    K.kfree(m, p)
    assert m.free_pages_total == free
    p = K.kmalloc(m, S.KMALLOC_MAX_SIZE, GFP_KERNEL)
    assert p and K.ksize(m, p) == S.KMALLOC_MAX_SIZE
    K.kfree(m, p)
    assert K.kmalloc(m, S.KMALLOC_MAX_SIZE + 1, GFP_KERNEL) == 0
    assert "WARNING" in m.dmesg[-1] or "order" in m.dmesg[-1]
    n = len(m.dmesg)
    assert K.kmalloc(m, S.KMALLOC_MAX_SIZE + 1, GFP_KERNEL | __GFP_NOWARN) == 0
    assert len(m.dmesg) == n


def test_kmalloc_families_and_dma_zone():
    m = Machine.x86_64(64)
    sa = m.slab_allocator
    p = K.kmalloc(m, 100, GFP_DMA | GFP_KERNEL)
    s = sa.slab_of_pfn[api.virt_to_page(m, p).pfn]
    assert s.cache.name == "dma-kmalloc-128" and api.page_zone(m, s.page).name == "DMA"
    q = K.kmalloc(m, 640, GFP_KERNEL | __GFP_ACCOUNT)
    assert sa.slab_of_pfn[api.virt_to_page(m, q).pfn].cache.name == "kmalloc-cg-1k"


def test_slab_gfp_fixup_warns_and_strips_highmem():
    m = Machine.x86_32(1024)
    p = K.kmalloc(m, 64, GFP_KERNEL | __GFP_HIGHMEM)
    assert m.dmesg[-1].startswith("Unexpected gfp: 0x2 (__GFP_HIGHMEM). Fixing up to gfp: 0xcc0")
    assert not m.is_highmem_pfn(api.virt_to_page(m, p).pfn)


def test_classic_kmalloc():
    m = Machine.x86_32(256, slab="slab")
    sa = m.slab_allocator
    for size, name in [(0, "size-32"), (1, "size-32"), (33, "size-64"), (65, "size-128"),
                       (129, "size-256"), (131072, "size-131072")]:
        p = K.kmalloc(m, size, GFP_KERNEL)
        assert sa.slab_of_pfn[api.virt_to_page(m, p).pfn].cache.name == name
    assert K.kmalloc(m, 131073, GFP_KERNEL) == 0
    p = K.kmalloc(m, 40, GFP_DMA)
    assert sa.slab_of_pfn[api.virt_to_page(m, p).pfn].cache.name == "size-64(DMA)"
    assert m.check_invariants() == []


def test_objects_are_direct_map_addresses_in_their_slab(m):
    c = K.kmem_cache_create(m, "thing", 200, 0, S.SLAB_HWCACHE_ALIGN)
    objs = [K.kmem_cache_alloc(c, GFP_KERNEL) for _ in range(100)]
    assert len(set(objs)) == 100
    for o in objs:
        s = m.slab_allocator.slab_of_pfn[api.virt_to_page(m, o).pfn]
        assert s.cache is c and s.addr <= o < s.addr + (PAGE_SIZE << s.order)
        assert o % c.align == 0
    assert m.check_invariants() == []


def test_growth_goes_through_the_page_allocator_and_shrink_gives_back(m):
    free0 = m.free_pages_total
    c = K.kmem_cache_create(m, "grow", 512, 0, 0)
    objs = [K.kmem_cache_alloc(c, GFP_KERNEL) for _ in range(64)]
    used = free0 - m.free_pages_total
    assert used >= 64 * 512 // PAGE_SIZE
    for o in objs:
        K.kmem_cache_free(c, o)
    assert m.check_invariants() == []
    assert K.kmem_cache_shrink(c) == 0
    assert m.free_pages_total == free0
    assert K.kmem_cache_destroy(c) == 0
    assert c.name not in m.slab_allocator.slabinfo()


def test_slab_growth_fails_legally_when_memory_runs_out():
    m = Machine.x86_32(24, slab="slab")
    c = K.kmem_cache_create(m, "hog", 4096, 0, 0)
    got = []
    while True:
        o = K.kmem_cache_alloc(c, GFP_KERNEL | __GFP_NOWARN)
        if not o:
            break
        got.append(o)
    assert len(got) > 1000
    assert all(m.zone(z).free_pages <= m.zone(z).watermark[0] for z in (ZoneType.NORMAL,))
    assert m.check_invariants() == []
    for o in got:
        K.kmem_cache_free(c, o)
    K.kmem_cache_shrink(c)
    assert m.check_invariants() == []


def test_slub_alloc_failure_message():
    m = Machine.generic(64, min_free_kbytes=0)
    c = K.kmem_cache_create(m, "big", 4096, 0, 0)
    while K.kmem_cache_alloc(c, GFP_KERNEL):
        pass
    assert any(line.startswith("SLUB: Unable to allocate memory on node -1") for line in m.dmesg)
    assert any("cache: big, object size: 4096" in line for line in m.dmesg)


def test_colour_offsets_cycle_classic():
    m = Machine.x86_32(256, slab="slab")
    c = K.kmem_cache_create(m, "colour", 600, 0, 0)  # off-slab moved on-slab, 3 colours
    lay = c.layout
    assert lay.colour == 3 and not lay.off_slab
    for _ in range(c.num * (lay.colour + 2)):
        K.kmem_cache_alloc(c, GFP_KERNEL)
    offs = [s.colour_offset for s in c.slabs]
    assert offs[: lay.colour + 1] == [k * lay.colour_off for k in range(lay.colour)] + [0]
    assert m.check_invariants() == []


def test_kzalloc_zeroes_and_ctor_runs(m):
    p = K.kmalloc(m, 128, GFP_KERNEL)
    pfn = api.virt_to_page(m, p).pfn
    m.write_page(pfn, (p - m.page_offset) % PAGE_SIZE, b"\xff" * 128)
    K.kfree(m, p)
    seen = []
    c = K.kmem_cache_create(m, "ctor", 64, 0, 0, seen.append)
    o = K.kmem_cache_alloc(c, GFP_KERNEL)
    assert o in seen and len(seen) == c.slabs[0].num
    q = K.kzalloc(m, 128, GFP_KERNEL)
    qpfn = api.virt_to_page(m, q).pfn
    assert m.read_page(qpfn, (q - m.page_offset) % PAGE_SIZE, 128) == bytes(128)


# -- errors: each precise, each leaving the whole state unchanged -------------------------

def _unchanged(m, fn, exc):
    """``fn`` raises ``exc`` and changes nothing: zones, log, slab layer, and the refcount
    of every page descriptor (descriptors are made lazily, so a look-up may add one)."""
    before = state(m)
    refs = {p: pg.refcount for p, pg in m.pages.items()}
    with pytest.raises(exc):
        fn()
    assert state(m) == before
    assert {p: m.pages[p].refcount for p in refs} == refs


def test_error_paths_leave_state_unchanged(m):
    a = K.kmem_cache_create(m, "a", 48, 0, 0)
    b = K.kmem_cache_create(m, "b", 48, 0, 0)
    x = K.kmem_cache_alloc(a, GFP_KERNEL)
    y = K.kmem_cache_alloc(a, GFP_KERNEL)
    k = K.kmalloc(m, 100, GFP_KERNEL)
    _unchanged(m, lambda: K.kmem_cache_free(b, x), WrongSlabCache)
    _unchanged(m, lambda: K.kmem_cache_free(a, x + 8), InvalidObjectPointer)
    _unchanged(m, lambda: K.kfree(m, k + 4), InvalidObjectPointer)
    _unchanged(m, lambda: K.ksize(m, k + 4), InvalidObjectPointer)
    K.kmem_cache_free(a, x)
    _unchanged(m, lambda: K.kmem_cache_free(a, x), SlabDoubleFree)
    _unchanged(m, lambda: K.kfree(m, x), SlabDoubleFree)
    page = api.alloc_page(m, GFP_KERNEL)
    addr = api.page_address(m, page)
    _unchanged(m, lambda: K.kfree(m, addr), NotSlabObject)
    _unchanged(m, lambda: K.kfree(m, 0x1234), BadVirtAddr)
    slab_page = m.slab_allocator.slab_of_pfn[api.virt_to_page(m, y).pfn].page
    _unchanged(m, lambda: free_pages_of(m, slab_page, 0), BadPageState)
    _unchanged(m, lambda: K.kmem_cache_create(m, "bad size", 48), BadCacheArgs)
    _unchanged(m, lambda: K.kmem_cache_create(m, "z", 0), BadCacheArgs)
    _unchanged(m, lambda: K.kmem_cache_create(m, "z", 1 << 30), BadCacheArgs)
    _unchanged(m, lambda: K.kmem_cache_create(m, "z", 64, 48), BadCacheArgs)
    _unchanged(m, lambda: K.kmem_cache_create(m, "z", 64, 0, S.SLAB_RED_ZONE), BadCacheArgs)
    _unchanged(m, lambda: K.kmem_cache_create(m, "z", 64, 0, 0, 42), BadCacheArgs)
    kcache = m.slab_allocator.kmalloc_cache(64, GFP_KERNEL)
    _unchanged(m, lambda: K.kmem_cache_destroy(kcache), BadCacheArgs)
    _unchanged(m, lambda: K.kmem_cache_alloc(a, -1), InvalidArgument)
    K.kmem_cache_free(a, y)
    assert K.kmem_cache_destroy(b) == 0
    _unchanged(m, lambda: K.kmem_cache_destroy(b), CacheDestroyed)
    _unchanged(m, lambda: K.kmem_cache_alloc(b, GFP_KERNEL), CacheDestroyed)
    _unchanged(m, lambda: K.kmem_cache_shrink(b), CacheDestroyed)
    assert m.check_invariants() == []


def test_large_kmalloc_middle_pointer():
    m = Machine.x86_64(64)
    p = K.kmalloc(m, 20000, GFP_KERNEL)
    _unchanged(m, lambda: K.kfree(m, p + PAGE_SIZE), InvalidObjectPointer)
    _unchanged(m, lambda: K.kfree(m, p + 8), InvalidObjectPointer)
    K.kfree(m, p)


def test_duplicate_names():
    m = Machine.x86_64(64)
    K.kmem_cache_create(m, "dup", 32)
    K.kmem_cache_create(m, "dup", 32)
    assert m.dmesg[-1] == "kmem_cache of name 'dup' already exists"
    c = Machine.x86_32(64, slab="slab")
    K.kmem_cache_create(c, "dup", 32)
    _unchanged(c, lambda: K.kmem_cache_create(c, "dup", 32), BadCacheArgs)


def test_destroy_with_live_objects_slub():
    m = Machine.x86_64(64)
    c = K.kmem_cache_create(m, "leaky", 256, 0, 0)
    objs = [K.kmem_cache_alloc(c, GFP_KERNEL) for _ in range(20)]
    K.kmem_cache_free(c, objs[0])
    assert K.kmem_cache_destroy(c) == 1
    log = "\n".join(m.dmesg)
    assert "BUG leaky (Not tainted): Objects remaining on __kmem_cache_shutdown()" in log
    assert f"Object 0x{objs[1]:x} @offset=" in log
    assert "kmem_cache_destroy leaky: Slab cache still has objects when called from" in log
    assert "leaky " not in m.slab_allocator.slabinfo()  # unlinked from slab_caches
    assert m.check_invariants() == []  # kept: its slabs still hold the live objects
    with pytest.raises(CacheDestroyed):
        K.kmem_cache_alloc(c, GFP_KERNEL)
    with pytest.raises(CacheDestroyed):
        K.kmem_cache_destroy(c)
    for o in objs[1:]:
        K.kmem_cache_free(c, o)  # the objects stay valid and may still be freed
    assert m.check_invariants() == []


def test_destroy_with_live_objects_classic():
    m = Machine.x86_32(256, slab="slab")
    c = K.kmem_cache_create(m, "leaky", 256, 0, 0)
    o = K.kmem_cache_alloc(c, GFP_KERNEL)
    assert K.kmem_cache_destroy(c) == 1
    assert m.dmesg[-1] == "slab error in kmem_cache_destroy(): cache `leaky': Can't free all objects"
    assert m.slab_allocator.slabinfo().splitlines()[2].startswith("leaky ")  # back at the head
    K.kmem_cache_free(c, o)
    assert K.kmem_cache_destroy(c) == 0


def test_slabinfo_counts_slub():
    m = Machine.x86_64(64)
    c = K.kmem_cache_create(m, "obj64", 64, 0, 0)
    objs = [K.kmem_cache_alloc(c, GFP_KERNEL) for _ in range(70)]
    row = next(r for r in S.parse_slabinfo(m.slab_allocator.slabinfo()) if r.name == "obj64")
    # two slabs of 64: the full one and the CPU slab (whose free objects count as active)
    assert (row.active_objs, row.num_objs, row.objsize, row.objperslab, row.pagesperslab,
            row.active_slabs, row.num_slabs) == (128, 128, 64, 64, 1, 2, 2)
    for o in objs[:10]:
        K.kmem_cache_free(c, o)  # the full slab goes to the node partial list
    row = next(r for r in S.parse_slabinfo(m.slab_allocator.slabinfo()) if r.name == "obj64")
    assert row.active_objs == 118
    text = m.slab_allocator.slabinfo()
    assert text.splitlines()[2].startswith("obj64 ")  # newest first
    assert len(text.splitlines()) == 2 + 4 * 13 + 1  # 4 kmalloc families x 13 sizes, obj64


def test_slabinfo_counts_classic():
    m = Machine.x86_32(256, slab="slab")
    c = K.kmem_cache_create(m, "obj", 32, 0, 0)
    objs = [K.kmem_cache_alloc(c, GFP_KERNEL) for _ in range(3)]
    row = next(r for r in S.parse_slabinfo(m.slab_allocator.slabinfo()) if r.name == "obj")
    # the first refill moves 16 objects (BATCHREFILL_LIMIT) into the CPU array
    assert (row.active_objs, row.num_objs, row.objperslab, row.limit, row.batchcount) == \
        (16, c.num, c.num, 120, 60)
    for o in objs:
        K.kmem_cache_free(c, o)
    assert K.kmem_cache_shrink(c) == 0
    row = next(r for r in S.parse_slabinfo(m.slab_allocator.slabinfo()) if r.name == "obj")
    assert (row.active_objs, row.num_slabs) == (0, 0)


@pytest.mark.parametrize("kind", ["slub", "slab"])
def test_unsatisfiable_nofail_growth_leaves_state_unchanged(kind):
    from kmem.spec.errors import AllocationLivelock
    from kmem.spec.gfp import __GFP_MEMALLOC, __GFP_NOFAIL, GFP_ATOMIC

    m = Machine.x86_32(24, slab=kind)
    c = K.kmem_cache_create(m, "full", 4096, 0, 0)
    objs = []
    while o := K.kmem_cache_alloc(c, GFP_ATOMIC | __GFP_MEMALLOC | __GFP_NOWARN):
        objs.append(o)  # every page, reserves included
    K.kmem_cache_free(c, objs[0])
    assert K.kmem_cache_alloc(c, GFP_KERNEL) == objs[0]  # now held by a full CPU slab (SLUB)
    # the __GFP_HIGHMEM makes SLUB log its "Unexpected gfp" fix-up, which must be taken back
    _unchanged(m, lambda: K.kmem_cache_alloc(c, GFP_KERNEL | __GFP_NOFAIL | __GFP_HIGHMEM),
               AllocationLivelock)
    if kind == "slub":
        _unchanged(m, lambda: K.kmalloc(m, 16384, GFP_KERNEL | __GFP_NOFAIL | __GFP_HIGHMEM),
                   AllocationLivelock)
    assert m.check_invariants() == []


def test_slub_falls_back_to_the_min_order_when_memory_is_fragmented():
    m = Machine.generic(512, min_free_kbytes=0)
    pages = []
    while (p := api.alloc_page(m, GFP_KERNEL | __GFP_NOWARN)) is not None:
        pages.append(p)
    for p in pages[::2]:  # every other page free: no order-1 block anywhere
        free_pages_of(m, p, 0)
    c = K.kmem_cache_create(m, "big", 4000, 0, 0)
    assert (c.layout.order, c.layout.min_order) == (3, 0)
    o = K.kmem_cache_alloc(c, GFP_KERNEL)
    s = m.slab_allocator.slab_of_pfn[api.virt_to_page(m, o).pfn]
    assert (s.order, s.num) == (0, 1)  # s->min: one object in one page
    assert not any("page allocation failure" in line for line in m.dmesg)  # oo try is NOWARN
    assert m.check_invariants() == []
