"""The mutants: each replaces one spec function with a plausible bug, and names the
obligation that must refute it with a counterexample (tests/quality checks that it does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace

from kmem.spec import (
    buddy,
    fault_handler,
    gfp,
    migrate,
    pcp,
    slowpath,
    watermarks,
    x86_32_layout,
    x86_fault,
)
from kmem.spec import slab as slab_spec
from kmem.spec.alloc_flags import ALLOC_MIN_RESERVE, ALLOC_NON_BLOCK, ALLOC_OOM, ALLOC_RESERVES
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import KernelBug
from kmem.spec.zones import ZoneType

from .. import alloc_path, buddy_arith, buddy_invariants, scaled
from .. import fault as fault_proofs
from .. import gfp as gfp_proofs
from .. import slab as slab_proofs
from ..core import Obligation


def _with(module: object, **changes: object) -> SimpleNamespace:
    """A namespace with every public name of ``module``, some of them replaced."""
    ns = SimpleNamespace(**{k: v for k, v in vars(module).items() if not k.startswith("__")})
    for k, v in changes.items():
        setattr(ns, k, v)
    return ns


# --- buddy -------------------------------------------------------------------------------

def buddy_ignores_alignment(pfn: int, order: int) -> int:
    """The buddy is always the next block up: ``pfn + 2**order`` (forgets the lower buddy)."""
    return pfn + 2**order


def expand_keeps_upper(pfn: int, low: int, high: int) -> tuple[tuple[int, int], ...]:
    """expand() that frees the lower halves while the caller keeps pfn: overlap."""
    return tuple((pfn, order) for order in range(high - 1, low - 1, -1))


def free_stops_at_order_2(is_free_block, pfn: int, order: int) -> buddy.FreeDelta:
    """__free_one_page that never merges two order-2 buddies (a loop bound off by one)."""
    merged = []
    buddy_pfn = buddy.find_buddy_pfn(pfn, order)
    while order < MAX_PAGE_ORDER and order != 2:
        buddy_pfn = buddy.find_buddy_pfn(pfn, order)
        if not is_free_block(buddy_pfn, order):
            break
        merged.append((buddy_pfn, order))
        pfn = buddy_pfn & pfn
        order += 1
    return buddy.FreeDelta(tuple(merged), (pfn, order), False)


def rmqueue_exact_order(nr_free: Callable[[int], int], order: int) -> int | None:
    """__rmqueue_smallest that only looks at the requested order (never splits)."""
    return order if nr_free(order) > 0 else None


def free_merges_at_max(is_free_block, pfn: int, order: int) -> buddy.FreeDelta:
    """__free_one_page whose merge loop runs while ``order <= MAX_PAGE_ORDER``: two free
    order-MAX buddies merge into a block above the cap (reads the spec module's constant
    when it runs, so the small-scope rebinding applies)."""
    merged = []
    buddy_pfn = buddy.find_buddy_pfn(pfn, order)
    while order <= buddy.MAX_PAGE_ORDER:
        buddy_pfn = buddy.find_buddy_pfn(pfn, order)
        if not is_free_block(buddy_pfn, order):
            break
        merged.append((buddy_pfn, order))
        pfn = buddy_pfn & pfn
        order += 1
    to_tail = buddy.buddy_merge_likely(pfn, buddy_pfn, order, is_free_block)
    return buddy.FreeDelta(tuple(merged), (pfn, order), to_tail)


def rmqueue_skips_top(nr_free: Callable[[int], int], order: int) -> int | None:
    """__rmqueue_smallest whose loop stops below MAX_PAGE_ORDER (``< MAX_PAGE_ORDER``): a
    request fails while an order-MAX block is free (reads the spec module's constant)."""
    for current in range(order, buddy.NR_PAGE_ORDERS - 1):
        if nr_free(current) > 0:
            return current
    return None


# --- gfp and watermarks ----------------------------------------------------------------

def gfp_zone_table_flipped(config, *, bits_per_long: int = 64) -> gfp.GfpZoneTable:
    """GFP_ZONE_TABLE with the MOVABLE|HIGHMEM entry (0xa) flipped to ZONE_NORMAL."""
    zt = gfp.gfp_zone_table(config, bits_per_long=bits_per_long)
    index, width = 0xA, zt.shift
    slot_mask = (2**width - 1) << (index * width)
    table = (zt.table & ~slot_mask) | (config.idx(ZoneType.NORMAL) << (index * width))
    return replace(zt, table=table)


def gfp_zone_with_flipped_table(mask: int, config) -> ZoneType:
    """gfp_zone() reading the flipped table."""
    zt = gfp_zone_table_flipped(config)
    index = mask & gfp.GFP_ZONEMASK
    if zt.is_bad(index):
        return gfp.gfp_zone(mask, config)  # raises BadGfpZone as the spec does
    return config.type_at(zt.slot(index))


def zonelist_ascending(config, highest, populated=None) -> tuple[ZoneType, ...]:
    """A zonelist built lowest zone first (falls back *up*: the classic mistake)."""
    return tuple(reversed(gfp.zonelist(config, highest, populated)))


def threshold_reversed(mark: int, alloc_flags: int) -> int:
    """__zone_watermark_ok with the MIN_RESERVE discount added instead of taken off."""
    wmin = mark
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            wmin += wmin // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                wmin -= wmin // 4
        if alloc_flags & ALLOC_OOM:
            wmin -= wmin // 2
    return wmin


def threshold_oom_deeper(mark: int, alloc_flags: int) -> int:
    """OOM victims get three quarters off: deeper than GFP_ATOMIC's 5/8."""
    wmin = watermarks.watermark_threshold(mark, alloc_flags & ~ALLOC_OOM)
    if alloc_flags & ALLOC_OOM:
        wmin -= wmin * 3 // 4
    return wmin


# --- fault bits and layout -------------------------------------------------------------

def decode_prot_inverted(code: int) -> x86_fault.PfErrorCode:
    """decode() that reads bit 0 inverted (the slide's "set = not present")."""
    rec = x86_fault.decode(code)
    return replace(rec, prot=not rec.prot)


def encode_prot_inverted(record: x86_fault.PfErrorCode) -> int:
    """The matching encode(): the pair stays inverse, only the reading is wrong."""
    return x86_fault.encode(replace(record, prot=not record.prot))


def decode_drops_rmp(code: int) -> x86_fault.PfErrorCode:
    """decode() that forgets bit 31 (RMP): decode/encode no longer inverse."""
    return replace(x86_fault.decode(code), rmp=False)


def layout_without_gap(vmsplit: str = "3G", era=x86_32_layout.Era.LINUX_2_6_11, **kw):
    """The layout with the VMALLOC_OFFSET guard gap left out of the region list."""
    lay = x86_32_layout.layout(vmsplit, era, **kw)
    return replace(lay, regions=tuple(r for r in lay.regions if r.name != "vmalloc_offset_gap"))


def handler_no_mm_uaccess_oom(code: int, address: int, user_mode: bool, situation,
                              arch=fault_handler.X86_32, era="modern"):
    """handle_page_fault that, for a kernel thread (no mm) inside a user-access window
    (SMAP on, EFLAGS.AC set) whose handle_mm_fault would report OOM, dereferences the
    missing mm: it raises KernelBug for that one flag combination only."""
    s = situation
    if not s.has_mm and s.smap and s.eflags_ac and s.mm_fault is fault_handler.VmFault.OOM:
        raise KernelBug("NULL mm dereferenced in the OOM path of a kernel-thread fault")
    return fault_handler.handle_page_fault(code, address, user_mode, situation, arch, era)


# --- slab -------------------------------------------------------------------------------

def size_index_72_to_64(kmalloc_min_size: int = 8) -> tuple[int, ...]:
    """kmalloc_size_index[] with the 72-byte entry pointing at kmalloc-64 (a table typo)."""
    table = list(slab_spec.kmalloc_size_index_table(kmalloc_min_size))
    table[(72 - 1) // 8] = 6
    return tuple(table)


def kmalloc_slab_index_typo(size: int, kmalloc_min_size: int = 8) -> int:
    """kmalloc_slab() reading the mistyped table."""
    if size <= 192:
        return size_index_72_to_64(kmalloc_min_size)[(size - 1) // 8]
    return slab_spec.kmalloc_slab_index(size, kmalloc_min_size)


def cache_estimate_one_short(gfporder: int, size: int, align: int, off_slab: bool,
                             era: slab_spec.SlabEra = slab_spec.SLAB_ERA_2_6_11
                             ) -> tuple[int, int]:
    """cache_estimate() that stops one object early (the "i--" applied twice)."""
    num, left = slab_spec.cache_estimate(gfporder, size, align, off_slab, era)
    return (num - 1, left + size) if num > 1 else (num, left)


def next_colour_wraps_late(colour_next: int, colour: int) -> tuple[int, int]:
    """cache_grow()'s colour_next wrapping at colour + 1 (``>`` for ``>=``)."""
    nxt = colour_next + 1
    return colour_next, 0 if nxt > colour else nxt


# --- the catalogue ---------------------------------------------------------------------

# --- the allocation path --------------------------------------------------------------

def fallbacks_to_self(mt: int) -> tuple[int, ...]:
    """A fallback table whose MOVABLE row starts with MOVABLE itself (a copy-paste slip)."""
    row = migrate.fallbacks(mt)
    return (mt, row[1]) if mt == migrate.MIGRATE_MOVABLE else row


def may_fail_rule_nofail_costly(choose: Callable[[str, tuple], object]) -> str | None:
    """may_fail that lets a costly __GFP_NOFAIL request fail like any costly one (the
    NOFAIL check placed after the costly-order check)."""
    if choose("order", slowpath.ORDER_CLASSES) == "costly" and choose("nofail", slowpath.BOOL):
        return "costly order"
    return slowpath.may_fail_rule(choose)


def _may_fail_of(rule: Callable[[Callable[[str, tuple], object]], str | None]) -> Callable:
    def may_fail(mask: int, order: int, ctx: slowpath.Context = slowpath.NORMAL_CONTEXT) -> bool:
        values: dict[str, object] = {n: bool(mask & b) for n, b in slowpath.GFP_INPUTS.items()}
        values.update({n: getattr(ctx, n) for n in slowpath.CONTEXT_INPUTS})
        values["order"] = ("too_big" if order > MAX_PAGE_ORDER else
                           "costly" if order > 3 else "small")
        return rule(lambda name, _v: values[name]) is not None
    return may_fail


def batchsize_power_of_two(managed_pages: int) -> int:
    """zone_batchsize without the ``- 1``: a power of two (the cache-aliasing case the
    kernel's comment warns about)."""
    return pcp.zone_batchsize(managed_pages) + 1


@dataclass(frozen=True)
class Mutant:
    """A broken variant, the obligation that must refute it, and how to build that
    obligation against the broken variant."""

    name: str
    description: str
    obligation: str
    build: Callable[[], list[Obligation]]

    def target(self) -> Obligation:
        return next(ob for ob in self.build() if ob.name == self.obligation)


MUTANTS: tuple[Mutant, ...] = (
    Mutant("buddy-ignores-alignment", buddy_ignores_alignment.__doc__ or "",
           "buddy.arith.involution",
           lambda: buddy_arith.obligations(_with(buddy, find_buddy_pfn=buddy_ignores_alignment))),
    Mutant("buddy-pair-ignores-alignment", buddy_ignores_alignment.__doc__ or "",
           "buddy.arith.pair-is-parent",
           lambda: buddy_arith.obligations(_with(buddy, find_buddy_pfn=buddy_ignores_alignment))),
    Mutant("expand-frees-lower-halves", expand_keeps_upper.__doc__ or "",
           "buddy.arith.expand-tiles",
           lambda: buddy_arith.obligations(_with(buddy, expand=expand_keeps_upper))),
    Mutant("free-stops-merging-at-order-2", free_stops_at_order_2.__doc__ or "",
           "buddy.inductive.free",
           lambda: buddy_invariants.obligations(_with(buddy, free_one_page_delta=free_stops_at_order_2))),
    Mutant("rmqueue-never-splits", rmqueue_exact_order.__doc__ or "",
           "buddy.inductive.alloc",
           lambda: buddy_invariants.obligations(_with(buddy, rmqueue_smallest_order=rmqueue_exact_order))),
    Mutant("alloc-block-expand-wrong", expand_keeps_upper.__doc__ or "",
           "buddy.inductive.alloc",
           lambda: buddy_invariants.obligations(_with(buddy, expand=expand_keeps_upper))),
    Mutant("free-merges-past-the-cap", free_merges_at_max.__doc__ or "",
           "buddy.small-scope.free",
           lambda: scaled.obligations(_with(buddy, free_one_page_delta=free_merges_at_max))),
    Mutant("rmqueue-skips-top-order", rmqueue_skips_top.__doc__ or "",
           "buddy.small-scope.alloc",
           lambda: scaled.obligations(_with(buddy, rmqueue_smallest_order=rmqueue_skips_top))),
    Mutant("gfp-zone-table-entry-flipped", gfp_zone_table_flipped.__doc__ or "",
           "gfp.zone-table-equals-rule",
           lambda: gfp_proofs.obligations(_with(gfp, gfp_zone_table=gfp_zone_table_flipped,
                                                gfp_zone=gfp_zone_with_flipped_table))),
    Mutant("zonelist-ascends", zonelist_ascending.__doc__ or "", "gfp.zonelist-descends",
           lambda: gfp_proofs.obligations(_with(gfp, zonelist=zonelist_ascending))),
    Mutant("watermark-discount-reversed", threshold_reversed.__doc__ or "",
           "watermark.discount-never-raises",
           lambda: gfp_proofs.obligations(wm=_with(watermarks, watermark_threshold=threshold_reversed))),
    Mutant("watermark-oom-deeper-than-atomic", threshold_oom_deeper.__doc__ or "",
           "watermark.atomic-discount-largest",
           lambda: gfp_proofs.obligations(wm=_with(watermarks, watermark_threshold=threshold_oom_deeper))),
    Mutant("fault-prot-bit-read-inverted", decode_prot_inverted.__doc__ or "",
           "fault.decode-reads-sdm",
           lambda: fault_proofs.obligations(_with(x86_fault, decode=decode_prot_inverted,
                                                  encode=encode_prot_inverted))),
    Mutant("fault-decode-drops-rmp", decode_drops_rmp.__doc__ or "",
           "fault.decode-encode-inverse",
           lambda: fault_proofs.obligations(_with(x86_fault, decode=decode_drops_rmp))),
    Mutant("layout-gap-missing", layout_without_gap.__doc__ or "", "layout.regions-partition",
           lambda: fault_proofs.obligations(layout=_with(x86_32_layout, layout=layout_without_gap))),
    Mutant("fallback-to-same-type", fallbacks_to_self.__doc__ or "", "alloc.fallbacks-total",
           lambda: alloc_path.obligations(migrate=_with(migrate, fallbacks=fallbacks_to_self))),
    Mutant("nofail-fails-when-costly", may_fail_rule_nofail_costly.__doc__ or "",
           "alloc.may-fail-nofail",
           lambda: alloc_path.obligations(slowpath=_with(
               slowpath, may_fail_rule=may_fail_rule_nofail_costly,
               may_fail=_may_fail_of(may_fail_rule_nofail_costly)))),
    Mutant("pcp-batch-power-of-two", batchsize_power_of_two.__doc__ or "", "alloc.pcp-arithmetic",
           lambda: alloc_path.obligations(pcp=_with(pcp, zone_batchsize=batchsize_power_of_two))),
    Mutant("kmalloc-size-index-typo", size_index_72_to_64.__doc__ or "",
           "slab.kmalloc-smallest-class",
           lambda: slab_proofs.obligations(_with(slab_spec,
                                                 kmalloc_size_index_table=size_index_72_to_64,
                                                 kmalloc_slab_index=kmalloc_slab_index_typo))),
    Mutant("cache-estimate-one-short", cache_estimate_one_short.__doc__ or "",
           "slab.cache-estimate-maximal",
           lambda: slab_proofs.obligations(_with(slab_spec,
                                                 cache_estimate=cache_estimate_one_short))),
    Mutant("colour-wraps-late", next_colour_wraps_late.__doc__ or "",
           "slab.colour-inside-leftover",
           lambda: slab_proofs.obligations(_with(slab_spec, next_colour=next_colour_wraps_late))),
    Mutant("fault-handler-raises-on-rare-flags", handler_no_mm_uaccess_oom.__doc__ or "",
           "fault.handler-total",
           lambda: fault_proofs.obligations(handler=_with(
               fault_handler, handle_page_fault=handler_no_mm_uaccess_oom))),
)
