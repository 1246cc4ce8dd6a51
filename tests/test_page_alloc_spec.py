"""kmem.spec.page_alloc: the passes, the per-zone test, lowmem_reserve, failure legality."""

from kmem.model import Machine, api
from kmem.spec import gfp, page_alloc
from kmem.spec.alloc_flags import (
    ALLOC_KSWAPD,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_NON_BLOCK,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MIN,
)
from kmem.spec.zones import ZoneType


def test_passes_of_gfp_kernel_and_atomic():
    kernel = page_alloc.alloc_passes(gfp.GFP_KERNEL, 0)
    assert [p.name for p in kernel] == ["fast", "slow"]
    assert kernel[0].alloc_flags == ALLOC_WMARK_LOW | ALLOC_KSWAPD and kernel[0].wmark == 1
    assert kernel[1].wmark == ALLOC_WMARK_MIN
    atomic = page_alloc.alloc_passes(gfp.GFP_ATOMIC, 0)[1]
    assert atomic.alloc_flags & ALLOC_MIN_RESERVE and atomic.alloc_flags & ALLOC_NON_BLOCK
    memalloc = page_alloc.alloc_passes(gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC, 0)
    assert memalloc[-1].name == "reserves" and memalloc[-1].wmark is None
    assert memalloc[-1].alloc_flags & ALLOC_NO_WATERMARKS
    assert len(page_alloc.alloc_passes(gfp.GFP_KERNEL, 0, pf_memalloc=True)) == 3


def view(free, nr_free0=None, wm=(100, 125, 150, 175), reserve=(0, 0, 0)):
    nr = [0] * 11
    nr[0] = free if nr_free0 is None else nr_free0
    return page_alloc.ZoneView(0, free, tuple(nr), wm, reserve)


def test_zone_allows_low_then_min():
    # free 120: below LOW (125) for the fast pass, above MIN (100) for the slow one
    z = view(120)
    assert not page_alloc.zone_allows(z, 0, ALLOC_WMARK_LOW, 0)
    assert page_alloc.zone_allows(z, 0, ALLOC_WMARK_MIN, 0)
    assert not page_alloc.zone_allows(view(100), 0, ALLOC_WMARK_MIN, 0)  # free <= min fails
    assert page_alloc.zone_allows(view(0), 0, ALLOC_NO_WATERMARKS, 0)
    # lowmem_reserve[highest] is added to the mark
    assert not page_alloc.zone_allows(view(120, reserve=(0, 0, 30)), 0, ALLOC_WMARK_MIN, 2)
    assert page_alloc.zone_allows(view(120, reserve=(0, 0, 30)), 0, ALLOC_WMARK_MIN, 0)


def test_failure_legality():
    zl = [view(100)]
    assert page_alloc.allocation_failure_legal(zl, gfp.GFP_KERNEL, 0, 0)
    assert not page_alloc.allocation_failure_legal(zl, gfp.GFP_ATOMIC, 0, 0)
    assert page_alloc.allocation_failure_legal(zl, gfp.GFP_KERNEL, 11, 0)
    assert page_alloc.choose_zone([view(50), view(500)], 0, ALLOC_WMARK_MIN, 0) == 1


def test_warn_alloc_line_formats_mode_like_printk():
    assert page_alloc.warn_alloc_line("swapper/0", 3, 0x820) == (
        "swapper/0: page allocation failure: order:3, mode:0x820(GFP_ATOMIC), "
        "nodemask=(null),cpuset=/,mems_allowed=0")
    # the kernel's %#x prints 0 as 0x0 (lib/vsprintf.c), and %pGg of 0 prints nothing
    assert "mode:0x0(), nodemask" in page_alloc.warn_alloc_line("x", 0, 0)


def test_lowmem_reserve_protects_dma32_from_kernel_fallback():
    # x86-64 with a little NORMAL: once NORMAL is used up, GFP_KERNEL falls back into
    # DMA32 but must leave DMA32.lowmem_reserve[NORMAL] pages; GFP_DMA32 need not.
    m = Machine.x86_64(4096 + 64)
    dma32 = m.zone(ZoneType.DMA32)
    normal_idx = m.config.idx(ZoneType.NORMAL)
    reserve = dma32.lowmem_reserve[normal_idx]
    assert reserve == m.zone(ZoneType.NORMAL).managed_pages // 256 > 0
    while api.alloc_pages(m, gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 9) is not None:
        pass
    while api.alloc_page(m, gfp.GFP_KERNEL | gfp.__GFP_NOWARN) is not None:
        pass
    assert dma32.free_pages > dma32.watermark[0] + reserve - 1
    taken = 0
    while api.alloc_page(m, gfp.GFP_DMA32 | gfp.GFP_KERNEL | gfp.__GFP_NOWARN) is not None:
        taken += 1
    assert taken >= reserve  # DMA32 requests do not pay the NORMAL reserve
    assert m.check_invariants() == []
