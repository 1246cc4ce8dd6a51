"""Corrections from a line-by-line audit of kmem's spec against Linux 6.12.117.

Each test cites the kernel lines it follows (Debian linux-source-6.12 6.12.117; line
numbers of that tree).
"""

import pytest

from kmem.model import Machine, api
from kmem.spec import gfp, page_alloc
from kmem.spec.alloc_flags import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MIN,
)
from kmem.spec.errors import AllocationLivelock
from kmem.spec.fault_handler import X86_32, FaultSituation, Outcome, handle_page_fault
from kmem.spec.x86_32_layout import layout, maxmem, region_of
from kmem.spec.zones import ZoneType

MB = 1 << 20


# --- 1. x86-32 lowmem: MAXMEM = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE -----------


def test_modern_maxmem_is_below_896mb():
    # arch/x86/include/asm/pgtable_32_areas.h:51
    #   #define MAXMEM (VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE)
    # arch/x86/mm/init_32.c:592  max_low_pfn = MAXMEM_PFN;
    assert maxmem("3G") == 0x373FE000 == layout("3G", "modern").maxmem
    assert maxmem("3G", "2.6.11") == 896 * MB  # include/asm-i386/page.h (2.6.11)


def test_machine_and_zone_preset_use_the_one_maxmem():
    m = Machine.x86_32(mem_mb=2048)
    normal = m.zone(ZoneType.NORMAL)
    assert normal.end_pfn == 0x373FE == m.max_low_pfn
    assert m.zone(ZoneType.HIGHMEM).start_pfn == 0x373FE
    old = Machine.x86_32(mem_mb=2048, era="2.6.11")
    assert old.zone(ZoneType.NORMAL).end_pfn == 0x38000 == old.max_low_pfn
    # the page just below the modern limit is lowmem, the one at it is highmem
    assert not m.is_highmem_pfn(0x373FD) and m.is_highmem_pfn(0x373FE)


# --- 2. defaults are the modern kernel -------------------------------------------------


def test_defaults_are_modern():
    # 0xF7C00000 is vmalloc in 6.x (VMALLOC_START = high_memory + 8 MB = 0xF7BFE000)
    # but the direct map's end in 2.6.11 (lowmem ends at 0xF8000000).
    assert region_of(0xF7C00000).name == "vmalloc"
    assert region_of(0xF7C00000, "3G", "2.6.11").name == "lowmem"
    # arch/x86/mm/fault.c:1167-1173: do_kern_addr_fault -> vmalloc_fault on x86-32
    s = FaultSituation(kernel_ref_present=True)
    d = handle_page_fault(0x0, 0xF7C00000, False, s)
    assert d.outcome is Outcome.VMALLOC_SYNC
    assert X86_32.vmalloc_start == 0xF7BFE000


# --- 3. __GFP_NOFAIL never returns NULL and never warns --------------------------------


def _full_kernel_zone_machine():
    m = Machine.generic(1024, min_free_kbytes=64)  # MIN = 16 pages
    while api.alloc_page(m, gfp.GFP_KERNEL | gfp.__GFP_NOWARN) is not None:
        pass
    return m


def test_nofail_gets_the_no_watermarks_pass():
    # mm/page_alloc.c:3724-3735 __alloc_pages_may_oom: out_of_memory() made progress, so
    # __GFP_NOFAIL gets __alloc_pages_cpuset_fallback(..., ALLOC_NO_WATERMARKS, ...)
    passes = page_alloc.alloc_passes(gfp.GFP_KERNEL | gfp.__GFP_NOFAIL, 0)
    assert passes[-1] == page_alloc.AllocPass("nofail-oom", ALLOC_NO_WATERMARKS)
    m = _full_kernel_zone_machine()
    before = len(m.dmesg)
    page = api.alloc_page(m, gfp.GFP_KERNEL | gfp.__GFP_NOFAIL)
    assert page is not None
    assert m.dmesg[before:] == []  # no warn_alloc, no WARN for order 0 with reclaim


def test_nofail_half_min_pass_when_oom_is_skipped():
    # 3706-3710: __GFP_RETRY_MAYFAIL or __GFP_THISNODE, 3690ff: costly order, and
    # highest_zoneidx < ZONE_NORMAL skip the OOM killer; nopage (4572-4579) then
    # gives ALLOC_MIN_RESERVE
    for mask, order, kw in ((gfp.GFP_KERNEL | gfp.__GFP_NOFAIL | gfp.__GFP_RETRY_MAYFAIL, 0, {}),
                            (gfp.GFP_KERNEL | gfp.__GFP_NOFAIL, 4, {}),
                            (gfp.GFP_KERNEL | gfp.__GFP_NOFAIL, 0, {"lowmem_only": True})):
        last = page_alloc.alloc_passes(mask, order, **kw)[-1]
        assert last == page_alloc.AllocPass("nofail", ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE)


def test_nofail_that_cannot_be_satisfied_raises_and_changes_nothing():
    m = Machine.generic(1024, min_free_kbytes=64)
    while api.alloc_page(m, gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC | gfp.__GFP_NOWARN):
        pass
    state, log = m.state(), list(m.dmesg)
    with pytest.raises(AllocationLivelock, match="retry for ever"):
        api.alloc_page(m, gfp.GFP_KERNEL | gfp.__GFP_NOFAIL)
    assert m.state() == state and m.dmesg == log
    views = [m.zone_view(z) for z in m.zones]
    assert not page_alloc.allocation_failure_legal(views, gfp.GFP_KERNEL | gfp.__GFP_NOFAIL, 0, 0)


def test_nofail_without_direct_reclaim_still_fails_and_warns():
    # 4310-4315: WARN_ON_ONCE(!can_direct_reclaim); 4567-4568: "we disregard these
    # unreasonable nofail requests and still return NULL" -> warn_alloc
    m = _full_kernel_zone_machine()
    m.advance_clock(60)
    while api.alloc_page(m, gfp.GFP_ATOMIC | gfp.__GFP_NOWARN):
        pass
    m.advance_clock(60)
    before = len(m.dmesg)
    assert api.alloc_page(m, gfp.GFP_ATOMIC | gfp.__GFP_NOFAIL) is None
    new = m.dmesg[before:]
    assert any("WARN_ON_ONCE(!can_direct_reclaim)" in line for line in new)
    assert any("page allocation failure" in line for line in new)


# --- 4. ALLOC_HIGHATOMIC only with ALLOC_MIN_RESERVE -----------------------------------


def test_highatomic_needs_min_reserve():
    # mm/page_alloc.c:4104  if (order > 0 && (alloc_flags & ALLOC_MIN_RESERVE))
    assert not gfp.gfp_to_alloc_flags(gfp.GFP_NOWAIT, 1) & ALLOC_HIGHATOMIC
    assert gfp.gfp_to_alloc_flags(gfp.GFP_ATOMIC, 1) & ALLOC_HIGHATOMIC
    assert not gfp.gfp_to_alloc_flags(gfp.GFP_ATOMIC, 0) & ALLOC_HIGHATOMIC
    # 6.3-6.16 (commit 1ebbb21811b7): any non-blocking order > 0 request
    assert gfp.gfp_to_alloc_flags(gfp.GFP_NOWAIT, 1, highatomic_needs_min_reserve=False) & \
        ALLOC_HIGHATOMIC


# --- 5. zone_watermark_fast: order-0 ALLOC_MIN_RESERVE ignores the boost ---------------


def test_min_reserve_order0_retries_against_unboosted_min():
    # mm/page_alloc.c:3324-3329
    view = page_alloc.ZoneView(0, 60, (60,) + (0,) * 10, (50, 60, 70, 80), (0,), boost=40)
    flags = gfp.gfp_to_alloc_flags(gfp.GFP_KERNEL | gfp.__GFP_HIGH, 0)
    assert flags & ALLOC_MIN_RESERVE and flags & 3 == ALLOC_WMARK_MIN
    # boosted: min 90 -> 45 after the __GFP_HIGH discount; 60 - 0 > 45 already passes
    assert page_alloc.zone_allows(view, 0, flags, 0)
    tight = page_alloc.ZoneView(0, 30, (30,) + (0,) * 10, (50, 60, 70, 80), (0,), boost=40)
    # boosted 90/2 = 45 >= 30 fails; unboosted 50/2 = 25 < 30 passes
    assert page_alloc.zone_allows(tight, 0, flags, 0)
    assert not page_alloc.zone_allows(tight, 0, flags, 0, boost_retry=False)
    # not for order > 0, not without MIN_RESERVE, not for the LOW watermark
    assert not page_alloc.zone_allows(tight, 0, ALLOC_WMARK_MIN, 0)
    assert not page_alloc.zone_allows(tight, 0, ALLOC_WMARK_LOW | ALLOC_MIN_RESERVE, 0)


# --- 6. ALLOC_CMA / ALLOC_CPUSET / ALLOC_NOFRAGMENT in the passes ----------------------


def test_fast_pass_flags_follow_prepare_alloc_pages():
    # 4846-4852 (__alloc_pages_noprof), 4781-4796 (prepare_alloc_pages),
    # 3370-3399 alloc_flags_nofragment, 3402-3409 gfp_to_alloc_flags_cma
    from kmem.spec.zones import ZONE_CONFIGS

    x64 = ZONE_CONFIGS["x86_64"]
    nofrag = page_alloc.alloc_flags_nofragment(gfp.GFP_HIGHUSER_MOVABLE, ZoneType.NORMAL, x64)
    assert nofrag == ALLOC_KSWAPD | ALLOC_NOFRAGMENT
    assert page_alloc.alloc_flags_nofragment(gfp.GFP_KERNEL, ZoneType.DMA32, x64) == ALLOC_KSWAPD
    fast = page_alloc.alloc_passes(gfp.GFP_HIGHUSER_MOVABLE, 0, nofragment=True)[0]
    assert fast.alloc_flags == ALLOC_WMARK_LOW | ALLOC_CMA | ALLOC_KSWAPD | ALLOC_NOFRAGMENT
    fast = page_alloc.alloc_passes(gfp.GFP_KERNEL, 0, cpuset=True)[0]
    assert fast.alloc_flags == ALLOC_WMARK_LOW | ALLOC_CPUSET | ALLOC_KSWAPD
    # the reserves pass keeps ALLOC_CMA (4455-4457)
    res = page_alloc.alloc_passes(gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_MEMALLOC, 0)[-1]
    assert res.alloc_flags == ALLOC_NO_WATERMARKS | ALLOC_CMA | ALLOC_KSWAPD
    atomic = page_alloc.alloc_passes(gfp.GFP_ATOMIC, 0)[1]
    assert atomic.alloc_flags & ALLOC_NON_BLOCK


# --- 7. gfp_migratetype with both bits warns and returns 3 -----------------------------


def test_movable_and_reclaimable_warns_in_dmesg():
    # include/linux/gfp.h:25 VM_WARN_ON(...) and :29-30 BUILD_BUG_ON(... != MIGRATE_HIGHATOMIC)
    mask = gfp.GFP_KERNEL | gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE
    assert gfp.gfp_migratetype(mask) == gfp.MIGRATE_HIGHATOMIC == 3
    assert gfp.gfp_migratetype_warns(mask)
    m = Machine.generic(256)
    page = api.alloc_page(m, mask)
    assert page is not None
    assert m.dmesg == [gfp.gfp_migratetype_warning_line(mask)]


# --- 9 (part). warn_alloc: rate limit and the DMA rule ---------------------------------


def test_warn_alloc_is_rate_limited():
    # mm/page_alloc.c:3613 DEFINE_RATELIMIT_STATE(nopage_rs, 10*HZ, 1); lib/ratelimit.c
    m = _full_kernel_zone_machine()
    m.dmesg.clear()
    for _ in range(3):
        assert api.alloc_page(m, gfp.GFP_KERNEL) is None
    assert sum("page allocation failure" in line for line in m.dmesg) == 1
    m.advance_clock(10.5)
    assert api.alloc_page(m, gfp.GFP_KERNEL) is None
    assert m.dmesg[-2:] == ["warn_alloc: 2 callbacks suppressed",
                            m.dmesg[-1]]
    assert "page allocation failure" in m.dmesg[-1]


def test_warn_alloc_silent_for_dma_without_managed_dma():
    # 3617: ((gfp_mask & __GFP_DMA) && !has_managed_dma())
    st = page_alloc.RatelimitState()
    show, st2, _ = page_alloc.warn_alloc_decision(gfp.GFP_KERNEL | gfp.__GFP_DMA, st, 0.0,
                                                  has_managed_dma=False)
    assert not show and st2.printed == 1  # the rate limit was consumed first
    show, _, _ = page_alloc.warn_alloc_decision(gfp.GFP_KERNEL | gfp.__GFP_DMA, st, 0.0,
                                                has_managed_dma=True)
    assert show
