"""The page API (kmem.model.api): semantics per the kernel, and every error path leaving the
machine exactly as it was."""

import pytest

from kmem.model import Machine, api
from kmem.spec import gfp, page_alloc
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import (
    BadGfpZone,
    BadPageState,
    BadRange,
    BadVirtAddr,
    FreeOrderMismatch,
    GetPageOnFreePage,
    InvalidArgument,
    KernelBug,
    RefcountUnderflow,
    TailPageFree,
    UnalignedFree,
)
from kmem.spec.zones import ZoneType

GFP_KERNEL = gfp.GFP_KERNEL
GFP_ATOMIC = gfp.GFP_ATOMIC
GFP_HIGHUSER_MOVABLE = gfp.GFP_HIGHUSER_MOVABLE
ZERO = gfp.__GFP_ZERO
COMP = gfp.__GFP_COMP
NOWARN = gfp.__GFP_NOWARN
HIGHMEM = gfp.__GFP_HIGHMEM


def snapshot(m):
    """Everything an operation could change."""
    return (m.state(), {pfn: (p._refcount, p.reserved, p.virtual) for pfn, p in m.pages.items()},
            tuple(m.dmesg), frozenset(m.compound_heads), m.memory.dirty_pages())


def test_alloc_pages_basics_x86_64():
    m = Machine.x86_64(8192)
    page = api.alloc_pages(m, GFP_KERNEL, 2)
    assert api.page_zone(m, page) is ZoneType.NORMAL
    assert api.page_count(m, page) == 1
    pfn = api.page_to_pfn(m, page)
    assert pfn % 4 == 0 and api.pfn_to_page(m, pfn) is page
    addr = api.page_address(m, page)
    assert addr == 0xFFFF888000000000 + pfn * PAGE_SIZE
    assert api.virt_to_page(m, addr) is page and api.virt_addr_valid(m, addr)
    api.__free_pages(m, page, 2)
    assert api.page_count(m, page) == 0
    assert m.check_invariants() == []
    assert sum(z.free_pages for z in m.zones) == sum(z.managed_pages for z in m.zones)


def test_zone_selection_and_fallback():
    m = Machine.x86_64(2048)  # below 4 GB: no NORMAL zone, GFP_KERNEL falls back to DMA32
    assert api.page_zone(m, api.alloc_page(m, GFP_KERNEL)) is ZoneType.DMA32
    assert api.page_zone(m, api.alloc_page(m, gfp.GFP_DMA)) is ZoneType.DMA
    assert api.page_zone(m, api.alloc_page(m, gfp.GFP_DMA32)) is ZoneType.DMA32
    m32 = Machine.x86_32(2048)
    assert api.page_zone(m32, api.alloc_page(m32, GFP_HIGHUSER_MOVABLE)) is ZoneType.HIGHMEM
    assert api.page_zone(m32, api.alloc_page(m32, GFP_KERNEL)) is ZoneType.NORMAL


def test_highmem_pages_have_no_address_and_get_free_pages_strips_highmem():
    m = Machine.x86_32(2048)
    high = api.alloc_page(m, GFP_HIGHUSER_MOVABLE)
    assert api.page_address(m, high) == 0  # NULL: not kmapped
    addr = api.__get_free_pages(m, GFP_HIGHUSER_MOVABLE, 1)
    assert 0xC0000000 <= addr < 0xC0000000 + (896 << 20)  # stripped: a lowmem page
    assert api.page_zone(m, api.virt_to_page(m, addr)) is not ZoneType.HIGHMEM
    api.free_pages(m, addr, 1)
    assert page_alloc.get_free_pages_gfp(GFP_HIGHUSER_MOVABLE) & HIGHMEM == 0


def test_zeroed_allocations_really_are_zero():
    m = Machine.generic(1024, min_free_kbytes=0, init_on_alloc=False)
    page = api.alloc_page(m, GFP_KERNEL)
    pfn = api.page_to_pfn(m, page)
    m.write_page(pfn, 100, b"dirty")
    api.__free_page(m, page)
    again = api.alloc_page(m, GFP_KERNEL)  # lowest policy: the same page, not cleared
    assert api.page_to_pfn(m, again) == pfn and m.read_page(pfn, 100, 5) == b"dirty"
    api.__free_page(m, again)
    addr = api.get_zeroed_page(m, GFP_KERNEL)
    assert api.page_to_pfn(m, api.virt_to_page(m, addr)) == pfn
    assert m.read_page(pfn) == bytes(PAGE_SIZE)
    api.free_page(m, addr)
    block = api.alloc_pages(m, GFP_KERNEL, 3)
    m.write_page(api.page_to_pfn(m, block) + 7, 0, b"\xff" * 16)
    api.__free_pages(m, block, 3)
    block = api.alloc_pages(m, GFP_KERNEL | ZERO, 3)
    assert all(m.memory.is_zero(api.page_to_pfn(m, block) + i) for i in range(8))


def test_order_above_max_warns_once_unless_nowarn():
    m = Machine.generic(1024)
    assert api.alloc_pages(m, GFP_KERNEL | NOWARN, 11) is None and m.dmesg == []
    assert api.alloc_pages(m, GFP_KERNEL, 11) is None
    assert api.alloc_pages(m, GFP_KERNEL, 12) is None
    assert m.dmesg == [page_alloc.order_warning_line(11)]
    assert api.__get_free_pages(m, GFP_KERNEL, 11) == 0


def test_exhaustion_fails_with_the_kernels_line_and_atomic_goes_deeper():
    m = Machine.x86_64(64)  # DMA + a little DMA32
    kernel_pages = []
    while (p := api.alloc_page(m, GFP_KERNEL)) is not None:
        kernel_pages.append(p)
    assert m.dmesg[-1] == ("kmem: page allocation failure: order:0, mode:0xcc0(GFP_KERNEL), "
                           "nodemask=(null),cpuset=/,mems_allowed=0")
    # the failure was legal: no zone passes any pass's watermark check
    dma32 = m.zone(ZoneType.DMA32)
    views = [m.zone_view(dma32), m.zone_view(m.zone(ZoneType.DMA))]
    assert page_alloc.allocation_failure_legal(views, GFP_KERNEL, 0, 2)
    assert dma32.free_pages > 0  # the reserve below min is still there
    atomic = api.alloc_page(m, GFP_ATOMIC | NOWARN)
    assert atomic is not None  # GFP_ATOMIC may dip to 3/8 of min
    n = len(m.dmesg)
    assert api.alloc_page(m, GFP_KERNEL | NOWARN) is None and len(m.dmesg) == n


def test_memalloc_ignores_watermarks():
    m = Machine.x86_64(64)
    while api.alloc_page(m, GFP_ATOMIC | NOWARN) is not None:
        pass
    assert api.alloc_page(m, GFP_ATOMIC | gfp.__GFP_MEMALLOC) is not None


def test_free_pages_of_null_is_a_noop():
    m = Machine.generic(1024)
    before = snapshot(m)
    api.free_pages(m, 0, 3)
    api.free_page(m, 0)
    assert snapshot(m) == before


def test_refcounts_and_extra_references():
    m = Machine.generic(1024, min_free_kbytes=0)
    page = api.alloc_page(m, GFP_KERNEL)
    api.get_page(m, page)
    assert api.page_count(m, page) == 2
    api.__free_page(m, page)  # drops one reference only
    assert api.page_count(m, page) == 1
    assert m.free_pages_total == 1023
    api.put_page(m, page)
    assert api.page_count(m, page) == 0 and m.free_pages_total == 1024


def test_free_pages_with_extra_reference_frees_the_tails():
    # 6.x ___free_pages: a non-compound block whose first page is still held
    m = Machine.generic(1024, min_free_kbytes=0)
    page = api.alloc_pages(m, GFP_KERNEL, 2)
    api.get_page(m, page)
    api.__free_pages(m, page, 2)
    assert api.page_count(m, page) == 1 and m.free_pages_total == 1023
    zone = m.zone(ZoneType.NORMAL)
    assert zone.allocated == {api.page_to_pfn(m, page): 0}
    api.put_page(m, page)
    assert m.free_pages_total == 1024 and m.check_invariants() == []


def test_compound_pages():
    m = Machine.generic(1024, min_free_kbytes=0)
    head = api.alloc_pages(m, GFP_KERNEL | COMP, 2)
    tail = api.pfn_to_page(m, api.page_to_pfn(m, head) + 1)
    api.get_page(m, tail)  # goes to the head (the folio)
    assert api.page_count(m, head) == 2 and api.page_count(m, tail) == 2
    before = snapshot(m)
    with pytest.raises(TailPageFree):
        api.__free_pages(m, tail, 0)
    assert snapshot(m) == before
    api.put_page(m, tail)
    api.put_page(m, head)  # the last reference frees the whole compound page
    assert m.free_pages_total == 1024 and not m.compound_heads


def error_cases():
    """(name, setup(m) -> callable, expected exception)"""

    def bad_zone(m):
        return lambda: api.alloc_pages(m, gfp.GFP_DMA | HIGHMEM, 0)

    def unaligned(m):
        api.alloc_page(m, GFP_KERNEL)
        p1 = api.alloc_page(m, GFP_KERNEL)  # pfn 1
        return lambda: api.__free_pages(m, p1, 1)

    def double_free(m):
        p = api.alloc_page(m, GFP_KERNEL)
        api.__free_page(m, p)
        return lambda: api.__free_page(m, p)

    def never_allocated(m):
        page = api.pfn_to_page(m, 100)
        return lambda: api.__free_page(m, page)

    def tail_of_plain_block(m):
        p = api.alloc_pages(m, GFP_KERNEL, 2)
        tail = api.pfn_to_page(m, api.page_to_pfn(m, p) + 1)
        return lambda: api.__free_page(m, tail)

    def wrong_order(m):
        p = api.alloc_pages(m, GFP_KERNEL, 0)
        return lambda: api.__free_pages(m, p, 2)

    def reserved_page(m):
        zp = m.zero_page()
        return lambda: api.__free_page(m, zp)

    def vmalloc_address(m):
        api.alloc_page(m, GFP_KERNEL)
        return lambda: api.free_pages(m, 0xFFFFC90000000000, 0)

    def garbage_address(m):
        return lambda: api.free_page(m, 12345)

    def beyond_memory(m):
        return lambda: api.pfn_to_page(m, 1 << 30)

    def get_free_page_ref(m):
        page = api.pfn_to_page(m, 5)
        return lambda: api.get_page(m, page)

    def bad_gfp_type(m):
        return lambda: api.alloc_pages(m, "GFP_KERNEL", 0)

    def negative_order(m):
        return lambda: api.alloc_pages(m, GFP_KERNEL, -1)

    def foreign_page(m):
        other = Machine.generic(1024)
        p = api.alloc_page(other, GFP_KERNEL)
        return lambda: api.__free_page(m, p)

    def put_last_of_plain_block(m):
        p = api.alloc_pages(m, GFP_KERNEL, 1)
        return lambda: api.put_page(m, p)

    return [
        ("bad gfp zone", bad_zone, BadGfpZone),
        ("unaligned free", unaligned, UnalignedFree),
        ("double free", double_free, RefcountUnderflow),
        ("never allocated", never_allocated, RefcountUnderflow),
        ("tail of a non-compound block", tail_of_plain_block, RefcountUnderflow),
        ("wrong order", wrong_order, FreeOrderMismatch),
        ("reserved page", reserved_page, BadPageState),
        ("vmalloc address", vmalloc_address, BadVirtAddr),
        ("garbage address", garbage_address, BadVirtAddr),
        ("pfn beyond memory", beyond_memory, BadRange),
        ("get_page on a free page", get_free_page_ref, GetPageOnFreePage),
        ("gfp not an int", bad_gfp_type, InvalidArgument),
        ("negative order", negative_order, InvalidArgument),
        ("page of another machine", foreign_page, InvalidArgument),
        ("put_page frees a plain block", put_last_of_plain_block, FreeOrderMismatch),
    ]


@pytest.mark.parametrize("name,setup,exc", error_cases(), ids=[c[0] for c in error_cases()])
def test_errors_leave_the_machine_unchanged(name, setup, exc):
    m = Machine.x86_64(64, min_free_kbytes=0) if "address" in name else \
        Machine.generic(1024, min_free_kbytes=0)
    action = setup(m)
    before = snapshot(m)
    with pytest.raises(exc):
        action()
    assert snapshot(m) == before
    assert m.check_invariants() == []


def test_highmem_address_is_not_valid_for_free_pages():
    m = Machine.x86_32(2048)
    high_addr = 0xC0000000 + (900 << 20)  # past high_memory: vmalloc area, not the direct map
    with pytest.raises(BadVirtAddr):
        api.free_pages(m, high_addr, 0)


def test_bug_classes_are_kernel_bugs():
    for cls in (BadGfpZone, UnalignedFree, RefcountUnderflow, TailPageFree, BadVirtAddr,
                BadPageState, FreeOrderMismatch, GetPageOnFreePage, BadRange):
        assert issubclass(cls, KernelBug)
    assert issubclass(InvalidArgument, ValueError)


def test_dma_pages_helper():
    m = Machine.x86_64(64)
    addr = api.__get_dma_pages(m, GFP_KERNEL, 0)
    assert api.page_zone(m, api.virt_to_page(m, addr)) is ZoneType.DMA


def test_init_on_alloc_zeroes_every_allocation():
    # post_alloc_hook: "init = !should_skip_init(gfp_flags) && want_init_on_alloc(gfp_flags)"
    # (6.12.118 mm/page_alloc.c:1551-1552); want_init_on_alloc returns true whenever
    # init_on_alloc is on (include/linux/mm.h:3736-3742), whatever the gfp mask. Debian sets
    # CONFIG_INIT_ON_ALLOC_DEFAULT_ON=y: the default machine has it on.
    for kwargs, zeroed in (({}, True), ({"init_on_alloc": True}, True),
                           ({"init_on_alloc": False}, False)):
        m = Machine.generic(1024, min_free_kbytes=0, **kwargs)
        assert m.init_on_alloc is zeroed
        page = api.alloc_page(m, GFP_KERNEL)
        pfn = api.page_to_pfn(m, page)
        m.write_page(pfn, 100, b"dirty")
        api.__free_page(m, page)
        again = api.alloc_page(m, GFP_KERNEL)
        assert api.page_to_pfn(m, again) == pfn
        assert (m.read_page(pfn, 100, 5) == bytes(5)) is zeroed
    with pytest.raises(InvalidArgument):
        Machine.generic(1024, init_on_alloc=1)
    assert not Machine.generic(1024, kernel="4.19").init_on_alloc  # no such option before 5.3


def test_init_on_alloc_zeroes_slab_objects_unless_a_constructor():
    # slab_want_init_on_alloc (6.12.118 mm/slab.h:684-695): zero unless the cache has a ctor
    m = Machine.generic(4096, min_free_kbytes=0)
    sl = m.slab_allocator
    cache = sl.create("t", 64, 0, 0, None)
    obj = sl.alloc(cache, GFP_KERNEL)
    pfn, off = (obj - m.page_offset) >> 12, (obj - m.page_offset) % 4096
    m.write_page(pfn, off, b"x" * 64)
    sl.free(cache, obj)
    again = sl.alloc(cache, GFP_KERNEL)
    assert again == obj and m.read_page(pfn, off, 64) == bytes(64)
    seen = []
    ctor_cache = sl.create("c", 64, 0, 0, lambda addr: seen.append(addr))
    obj = sl.alloc(ctor_cache, GFP_KERNEL)
    pfn, off = (obj - m.page_offset) >> 12, (obj - m.page_offset) % 4096
    m.write_page(pfn, off, b"y" * 8)
    sl.free(ctor_cache, obj)
    assert sl.alloc(ctor_cache, GFP_KERNEL) == obj and m.read_page(pfn, off, 8) == b"y" * 8
