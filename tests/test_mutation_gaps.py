"""Teeth: each test here fails on a planted bug that the rest of the fast tier let survive
(issue 12's sampled mutation run, and mutmut runs of tools/mutation.py). Every legality
predicate gets illegal cases as well as legal ones, and constants are compared with the
kernel's numbers, not with themselves."""

from __future__ import annotations

import pytest

from kmem.model import Machine
from kmem.spec import buddy, page_alloc
from kmem.spec.alloc_flags import ALLOC_KSWAPD, ALLOC_NO_WATERMARKS, ALLOC_OOM
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import BadPageState, BadRange, InvalidArgument
from kmem.spec.fault_handler import (
    VM_READ,
    FaultSituation,
    Outcome,
    SiCode,
    Signal,
    Vma,
    handle_page_fault,
)
from kmem.spec.gfp import __GFP_MEMALLOC, GFP_ATOMIC, GFP_KERNEL
from kmem.spec.page_alloc import AllocPass, ZoneView, alloc_passes, allocation_failure_legal
from kmem.spec.watermarks import setup_per_zone_pages_min_2611
from kmem.spec.zones import ZoneType


def zone(free_pages: int, nr_free: tuple[int, ...], wmin: int = 0) -> ZoneView:
    """One zone at index 0 with min/low/high = wmin, 5/4, 6/4 of it and no protection."""
    return ZoneView(zone_idx=0, free_pages=free_pages, nr_free=nr_free,
                    watermark=(wmin, wmin * 5 // 4, wmin * 6 // 4, wmin * 7 // 4),
                    lowmem_reserve=(0,))


# --- the allocation path ---------------------------------------------------------------

def test_failure_at_exactly_max_page_order_is_illegal_when_a_top_block_is_free():
    top = zone(1 << MAX_PAGE_ORDER, (0,) * MAX_PAGE_ORDER + (1,))
    assert not allocation_failure_legal([top], GFP_KERNEL, MAX_PAGE_ORDER, 0)
    assert allocation_failure_legal([top], GFP_KERNEL, MAX_PAGE_ORDER + 1, 0)
    assert allocation_failure_legal([zone(0, (0,) * (MAX_PAGE_ORDER + 1))], GFP_KERNEL, 0, 0)


def _reserves(passes: tuple[AllocPass, ...]) -> AllocPass:
    (p,) = [p for p in passes if p.name == "reserves"]
    return p


def test_the_reserves_pass_has_the_kernels_alloc_flags():
    # __alloc_pages_slowpath: alloc_flags = gfp_to_alloc_flags_cma(gfp, reserve_flags)
    #                                       | (alloc_flags & ALLOC_KSWAPD)
    assert ALLOC_OOM == 0x08 and ALLOC_NO_WATERMARKS == 0x04 and ALLOC_KSWAPD == 0x800
    assert _reserves(alloc_passes(GFP_KERNEL, 0, oom_victim=True)) == AllocPass(
        "reserves", ALLOC_OOM | ALLOC_KSWAPD)
    assert _reserves(alloc_passes(GFP_ATOMIC, 0, oom_victim=True)) == AllocPass(
        "reserves", ALLOC_OOM | ALLOC_KSWAPD)
    assert _reserves(alloc_passes(GFP_KERNEL | __GFP_MEMALLOC, 0)) == AllocPass(
        "reserves", ALLOC_NO_WATERMARKS | ALLOC_KSWAPD)
    assert _reserves(alloc_passes(GFP_KERNEL, 0, pf_memalloc=True)).alloc_flags == (
        ALLOC_NO_WATERMARKS | ALLOC_KSWAPD)
    assert [p.name for p in alloc_passes(GFP_KERNEL, 0)] == ["fast", "slow"]
    assert [p.name for p in alloc_passes(GFP_KERNEL, 0, oom_victim=True,
                                         in_interrupt=True)] == ["fast", "slow"]


def test_an_oom_victim_dips_to_half_min_and_no_further():
    # min 100: GFP_KERNEL passes at min (free > 100); an OOM victim's reserves pass at
    # min - min/2 = 50 (free > 50), never without watermarks.
    for free, victim_ok, plain_ok in ((101, True, True), (60, True, False), (51, True, False),
                                      (50, False, False), (10, False, False)):
        zones = [zone(free, (free,) + (0,) * MAX_PAGE_ORDER, wmin=100)]
        assert allocation_failure_legal(zones, GFP_KERNEL, 0, 0, oom_victim=True) is not victim_ok
        assert allocation_failure_legal(zones, GFP_KERNEL, 0, 0) is not plain_ok


def test_order_warning_line_is_the_documented_text():
    assert page_alloc.order_warning_line(11) == (
        "WARNING: mm/page_alloc.c: __alloc_pages_noprof: order 11 > MAX_PAGE_ORDER (10)")


# --- buddy legality predicates: illegal cases too ------------------------------------------

def test_is_legal_alloc_weak_refuses_allocated_unaligned_and_foreign_blocks():
    zs = buddy.ZoneState(0, 16, free=frozenset({(8, 3)}),
                         allocated=frozenset({(0, 2), (4, 2)})).counted()
    assert buddy.check_invariants(zs) == []
    assert buddy.is_legal_alloc_weak(zs, 3, 8) and buddy.is_legal_alloc_weak(zs, 1, 10)
    assert buddy.is_legal_alloc_weak(zs, 0, 15)
    assert not buddy.is_legal_alloc_weak(zs, 0, 0)  # allocated
    assert not buddy.is_legal_alloc_weak(zs, 2, 4)  # allocated
    assert not buddy.is_legal_alloc_weak(zs, 1, 9)  # free but not aligned to order 1
    assert not buddy.is_legal_alloc_weak(zs, 4, 0)  # half allocated
    assert not buddy.is_legal_alloc_linux(zs, 0, 15)  # Linux takes the whole order-3 block
    assert buddy.is_legal_alloc_linux(zs, 0, 8) and not buddy.is_legal_alloc_linux(zs, 0, 0)
    assert not buddy.alloc_failure_legal(zs, 3) and buddy.alloc_failure_legal(zs, 4)


def test_a_block_running_past_the_zone_end_is_a_bad_range_not_a_double_free():
    m = Machine.generic(1000, min_free_kbytes=0)
    z = next(z for z in m.zones if z.managed_pages)
    assert z.end_pfn == 1000 and z.is_free_block(992, 3)
    with pytest.raises(BadRange, match=r"block \[0x3e0, 0x3f0\) is outside zone"):
        z.check_free(992, 4)
    with pytest.raises(BadPageState, match="double free"):
        z.check_free(992, 3)


# --- watermarks: 2.6.11 -------------------------------------------------------------------

def test_2611_highmem_pages_min_is_clamped_to_32_and_128():
    def highmem_min(present: int) -> int:
        return setup_per_zone_pages_min_2611(
            [(ZoneType.NORMAL, 200_000), (ZoneType.HIGHMEM, present)], 4096)[1].min

    assert highmem_min(1000) == 32 and highmem_min(32 * 1024 + 1023) == 32
    assert highmem_min(64 * 1024) == 64
    assert highmem_min(128 * 1024) == 128 and highmem_min(1 << 20) == 128
    wm = setup_per_zone_pages_min_2611([(ZoneType.NORMAL, 200_000), (ZoneType.HIGHMEM, 1 << 20)],
                                       4096)
    assert (wm[1].low, wm[1].high) == (160, 192)
    assert (wm[0].min, wm[0].low, wm[0].high) == (1024, 1280, 1536)


# --- faults: numbers the user sees ----------------------------------------------------------

def test_signal_and_si_code_numbers_are_the_kernels():
    # x86 asm/signal.h and include/uapi/asm-generic/siginfo.h
    assert (Signal.SIGBUS.value, Signal.SIGKILL.value, Signal.SIGSEGV.value) == (7, 9, 11)
    assert {c.name: (c.value[0].value, c.number) for c in SiCode} == {
        "SEGV_MAPERR": (11, 1), "SEGV_ACCERR": (11, 2), "SEGV_PKUERR": (11, 4),
        "BUS_ADRERR": (7, 2), "BUS_MCEERR_AR": (7, 4)}
    assert len(set(SiCode)) == len(SiCode.__members__)  # no member aliases another
    d = handle_page_fault(0x4, 0x1000, True, FaultSituation())
    assert (d.outcome, d.signal.value, d.si_code.number) == (Outcome.SIGSEGV, 11, 1)


@pytest.mark.parametrize("start,end", [(0x1000, 0x1000), (0x2000, 0x1000), (0x1000, 0x1800)])
def test_an_empty_backwards_or_unaligned_vma_is_refused(start, end):
    with pytest.raises(InvalidArgument, match="page aligned and non-empty"):
        Vma(start, end, VM_READ)
    assert Vma(0x1000, 0x2000, VM_READ).end == 0x2000


def test_nofail_warnings_are_the_documented_text():
    from kmem.spec.gfp import __GFP_NOFAIL, GFP_NOWAIT

    assert page_alloc.nofail_warnings(GFP_KERNEL, 3) == ()
    assert page_alloc.nofail_warnings(GFP_NOWAIT | __GFP_NOFAIL, 2) == (
        "WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL with order 2 > 1 "
        "(WARN_ON_ONCE(order > 1))",
        "WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL without "
        "__GFP_DIRECT_RECLAIM (WARN_ON_ONCE(!can_direct_reclaim))")
    assert page_alloc.nofail_warnings(GFP_KERNEL | __GFP_NOFAIL, 1) == ()


def test_alloc_passes_forwards_the_highatomic_rule_and_the_oom_bailout():
    from kmem.spec.alloc_flags import ALLOC_HIGHATOMIC
    from kmem.spec.gfp import __GFP_NOFAIL, GFP_NOWAIT

    # GFP_NOWAIT at order 1: ALLOC_HIGHATOMIC only under the 6.3-6.16 rule
    old = alloc_passes(GFP_NOWAIT, 1, highatomic_needs_min_reserve=False)
    new = alloc_passes(GFP_NOWAIT, 1)
    assert old[1].alloc_flags & ALLOC_HIGHATOMIC and not new[1].alloc_flags & ALLOC_HIGHATOMIC
    nofail = GFP_KERNEL | __GFP_NOFAIL
    # an OOM victim that already had ALLOC_OOM (task context) does not get the OOM pass;
    # in an interrupt it has no reserves pass, so __alloc_pages_may_oom goes ahead
    assert alloc_passes(nofail, 0, oom_victim=True)[-1].name == "nofail"
    assert alloc_passes(nofail, 0, oom_victim=True, in_interrupt=True)[-1].name == "nofail-oom"
    assert alloc_passes(nofail, 0)[-1] == AllocPass("nofail-oom", ALLOC_NO_WATERMARKS)


# --- found by tools/mutation.py (sampled run, one mutant in 128) ----------------------------

def test_nr_pcp_high_with_a_fixed_high_mark():
    from kmem.spec import pcp

    fixed = dict(count=0, free_count=0, batch=1, free_high=False, below_high=False)
    assert pcp.nr_pcp_high(high=10, high_min=10, high_max=10, **fixed) == (10, 10)
    assert pcp.nr_pcp_high(high=0, high_min=0, high_max=0, **fixed) == (0, 0)


def test_slabinfo_errors_name_the_file_line():
    from kmem.spec import slab

    with pytest.raises(InvalidArgument, match="slabinfo line 3 does not parse: 'kmalloc-8 1 2 x'"):
        slab.parse_slabinfo("slabinfo - version: 2.1\n# name <active_objs>\nkmalloc-8 1 2 x\n")


def test_vmalloc_exhaustion_says_so():
    from kmem.model.mmu import vmalloc

    m = Machine.x86_32(1024)
    with pytest.raises(InvalidArgument, match="^vmalloc area exhausted$"):
        vmalloc(m, 10**7)


@pytest.mark.parametrize("code,pte,outcome,last", [
    (0x6, "NONE", Outcome.DEMAND_ALLOC, "do_anonymous_page"),
    (0x6, "SWAP", Outcome.SWAP_IN, "do_swap_page"),
    (0x7, "PRESENT_RO_SHARED", Outcome.COW_COPY, "do_wp_page"),
    (0x7, "PRESENT_WRITE", Outcome.SPURIOUS, "pte_mkyoung"),
])
def test_the_handle_pte_fault_path_names_the_kernel_function(code, pte, outcome, last):
    from kmem.spec.fault_handler import VM_WRITE, PteState

    vma = Vma(0x08050000, 0x08060000, VM_READ | VM_WRITE)
    d = handle_page_fault(code, 0x08051000, True, FaultSituation(vma=vma, pte=PteState[pte]))
    assert d.outcome is outcome
    assert d.path[-2:] == ("handle_pte_fault", last)


def test_swap_out_leaves_the_freed_page_unmapped():
    from kmem.model.mmu import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, Mm
    from kmem.spec.constants import PAGE_SIZE

    m = Machine.x86_32(256)
    mm = Mm(m)
    a = mm.mmap(None, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.write(a, b"x")
    page = mm.page_at(a)
    assert page._mapcount == 0 and page.refcount == 1
    mm.swap_out(a)
    assert page._mapcount == -1 and page.refcount == 0  # page_mapcount() 0: free again


def test_the_smallest_generic_machine_has_one_page():
    from kmem.spec import zones

    assert zones.generic(1).max_pfn == 1
    m = Machine.generic(1, min_free_kbytes=0)
    assert m.buddyinfo().split()[4:] == ["1"] + ["0"] * MAX_PAGE_ORDER
    with pytest.raises(InvalidArgument, match="npages must be a positive int, got 0"):
        zones.generic(0)
