"""Planted bugs: copies of the model's logic, each with one deliberate mistake.

Each mutant is a :class:`kmem.model.Machine` subclass whose overridden method is a
copy of the model's (or of the spec rule it calls) with one change. ``kmem fuzz
--impl model,mutant:NAME`` must catch every one (``tests/quality``); the README
reports catch rate and time to catch. They are teeth for the fuzzers, never
implementations to use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmem.model.machine import GFP_COMP, GFP_ZERO, Machine
from kmem.model.zone import Zone
from kmem.spec import buddy, page_alloc
from kmem.spec import gfp as gfp_spec
from kmem.spec.alloc_flags import ALLOC_MIN_RESERVE, ALLOC_NO_WATERMARKS, ALLOC_WMARK_MASK
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import (
    BadPageState,
    BadRange,
    InvalidArgument,
    RefcountUnderflow,
    UnalignedFree,
)
from kmem.spec.watermarks import zone_watermark_ok


@dataclass(frozen=True)
class Mutant:
    """``base``: ``"model"`` (zone/machine overrides on :class:`kmem.model.Machine`) or
    ``"fast"`` (``machine_overrides`` on fastimpl's bare core, :class:`kmem.fastimpl.
    Machine`)."""

    name: str
    description: str
    zone_overrides: dict[str, Callable[..., Any]] | None = None
    machine_overrides: dict[str, Callable[..., Any]] | None = None
    base: str = "model"

    def machine_class(self) -> type[Machine]:
        if self.base == "fast":
            from kmem.fastimpl.machine import Machine as FastMachine

            return type(f"FastMachine_{self.name}", (FastMachine,),
                        {"mutant": self, **(self.machine_overrides or {})})
        zone_cls: type[Zone] | None = None
        if self.zone_overrides:
            zone_cls = type(f"Zone_{self.name}", (Zone,), dict(self.zone_overrides))

        def __init__(m: Machine, *args: Any, **kwargs: Any) -> None:
            Machine.__init__(m, *args, **kwargs)
            if zone_cls is not None:
                for z in m.zones:
                    z.__class__ = zone_cls

        attrs: dict[str, Any] = {"__init__": __init__, "mutant": self}
        attrs.update(self.machine_overrides or {})
        return type(f"Machine_{self.name}", (Machine,), attrs)


# -- zone-level copies ---------------------------------------------------------------------

def _free_one_page_delta(is_free_block: Callable[[int, int], bool], pfn: int, order: int, *,
                         find_buddy: Callable[[int, int], int] = buddy.find_buddy_pfn,
                         top: int = MAX_PAGE_ORDER) -> buddy.FreeDelta:
    """Copy of spec.buddy.free_one_page_delta with a pluggable buddy index and top order."""
    merged = []
    buddy_pfn = find_buddy(pfn, order)
    while order < top:
        buddy_pfn = find_buddy(pfn, order)
        if not is_free_block(buddy_pfn, order):
            break
        merged.append((buddy_pfn, order))
        pfn = buddy_pfn & pfn if find_buddy is buddy.find_buddy_pfn else min(pfn, buddy_pfn)
        order += 1
    to_tail = buddy.buddy_merge_likely(pfn, buddy_pfn, order, is_free_block)
    return buddy.FreeDelta(tuple(merged), (pfn, order), to_tail)


def _merge_with(**kw: Any) -> Callable[[Zone, int, int], None]:
    def _merge_in(self: Zone, pfn: int, order: int) -> None:
        delta = _free_one_page_delta(self.is_free_block, pfn, order, **kw)
        for bpfn, border in delta.merged:
            self._del_from_free_list(bpfn, border)
        head, top = delta.result
        if top >= NR_PAGE_ORDERS:
            # there is no free_area[NR_PAGE_ORDERS]: the kernel's list_add would write past
            # the array; here the block is recorded free (and counted) on no list, so the
            # checks see what the kernel's free-page accounting would hold
            self.free_order[head] = top
            self.free_pages += 1 << top
            return
        self._add_to_free_list(head, top, to_tail=delta.to_tail)
    return _merge_in


def _merge_ignoring_zone_edges(self: Zone, pfn: int, order: int) -> None:
    """page_is_buddy without its same-zone / present check: a buddy outside the zone's
    managed pages (a hole, a reserved range, beyond the zone end) counts as free."""
    def looks_free(p: int, o: int) -> bool:
        if self.free_order.get(p) == o:
            return True
        return not any(s <= p and p + (1 << o) <= e for s, e in self.managed_ranges)
    delta = buddy.free_one_page_delta(looks_free, pfn, order)
    for bpfn, border in delta.merged:
        if self.free_order.get(bpfn) == border:
            self._del_from_free_list(bpfn, border)
    self._add_to_free_list(*delta.result, to_tail=delta.to_tail)


def _merge_likely_inverted(self: Zone, pfn: int, order: int) -> None:
    delta = buddy.free_one_page_delta(self.is_free_block, pfn, order)
    for bpfn, border in delta.merged:
        self._del_from_free_list(bpfn, border)
    self._add_to_free_list(*delta.result, to_tail=not delta.to_tail)


def _merge_counter_leak(self: Zone, pfn: int, order: int) -> None:
    """Merged buddies leave the list but nr_free is not decremented for them."""
    delta = buddy.free_one_page_delta(self.is_free_block, pfn, order)
    for bpfn, border in delta.merged:
        area = self.free_area[border]
        area.free_list.remove(bpfn)
        del self.free_order[bpfn]
        self.free_pages -= 1 << border
    self._add_to_free_list(*delta.result, to_tail=delta.to_tail)


def _rmqueue(keep_upper: bool = False, last: bool = False,
             top: int = NR_PAGE_ORDERS) -> Callable[[Zone, int], int | None]:
    def rmqueue_smallest(self: Zone, order: int) -> int | None:
        for current in range(order, top):
            area = self.free_area[current]
            if area.nr_free:
                if last:
                    if current == MAX_PAGE_ORDER and self.boot_runs:
                        self._materialize_boot_runs()  # the boot runs are the list's tail
                    block = list(area.free_list)[-1]
                else:
                    block = self._first_free(current)
                self._del_from_free_list(block, current)
                pfn = block + (1 << current) - (1 << order) if keep_upper else block
                for half, half_order in buddy.split_around((block, current), pfn, order):
                    self._add_to_free_list(half, half_order, to_tail=False)
                self.allocated[pfn] = order
                return pfn
        return None
    return rmqueue_smallest


def _check_free_no_align(self: Zone, pfn: int, order: int) -> None:
    """check_free without the alignment guard."""
    if not 0 <= order <= MAX_PAGE_ORDER:
        raise InvalidArgument(f"order {order} outside 0..{MAX_PAGE_ORDER}")
    if not (self.start_pfn <= pfn and pfn + (1 << order) <= self.end_pfn):
        raise BadRange(f"block at {pfn:#x} outside the zone")
    held = self.allocated.get(pfn)
    if held is None:
        raise BadPageState(f"pfn {pfn:#x} does not start an allocated block", "")


def _check_free_any_order(self: Zone, pfn: int, order: int) -> None:
    """check_free trusting the caller's order (no FreeOrderMismatch): the block is
    freed at the order the caller names."""
    if not 0 <= order <= MAX_PAGE_ORDER:
        raise InvalidArgument(f"order {order} outside 0..{MAX_PAGE_ORDER}")
    if pfn % (1 << order):
        raise UnalignedFree(f"pfn {pfn:#x} not aligned to order {order}")
    if not (self.start_pfn <= pfn and pfn + (1 << order) <= self.end_pfn):
        raise BadRange(f"block at {pfn:#x} outside the zone")
    if pfn not in self.allocated:
        raise BadPageState(f"pfn {pfn:#x} does not start an allocated block", "")


def _free_one_page_any_order(self: Zone, pfn: int, order: int, cpu: int = 0) -> None:
    self.check_free(pfn, order)
    del self.allocated[pfn]
    self._merge_in(pfn, order)


# -- machine-level copies ------------------------------------------------------------------

def _with_spec_patched(method: str, module: Any, attr: str,
                       make: Callable[[Callable[..., Any]], Callable[..., Any]]
                       ) -> Callable[..., Any]:
    """The model's own ``method``, run with one spec function replaced by a buggy copy
    (``make(original)``) for the duration of the call, so the mutant follows every
    other change of the model."""
    def wrapped(self: Machine, *args: Any, **kwargs: Any) -> Any:
        original = getattr(module, attr)
        setattr(module, attr, make(original))
        try:
            return getattr(Machine, method)(self, *args, **kwargs)
        finally:
            setattr(module, attr, original)
    return wrapped


def _discount_twice(original: Callable[..., bool]) -> Callable[..., bool]:
    def zone_allows(zone: Any, order: int, alloc_flags: int, highest_zoneidx: int) -> bool:
        if alloc_flags & ALLOC_MIN_RESERVE and not alloc_flags & ALLOC_NO_WATERMARKS:
            mark = zone.watermark[alloc_flags & ALLOC_WMARK_MASK] + zone.boost
            mark -= mark // 2  # ... and zone_watermark_ok discounts again
            return zone_watermark_ok(free_pages=zone.free_pages, order=order, mark=mark,
                                     lowmem_reserve=zone.lowmem_reserve[highest_zoneidx],
                                     alloc_flags=alloc_flags, nr_free=zone.nr_free)
        return original(zone, order, alloc_flags, highest_zoneidx)
    return zone_allows


def _no_reserve(original: Callable[..., bool]) -> Callable[..., bool]:
    def zone_allows(zone: Any, order: int, alloc_flags: int, highest_zoneidx: int) -> bool:
        zone = page_alloc.ZoneView(zone.zone_idx, zone.free_pages, zone.nr_free,
                                   zone.watermark, (0,) * len(zone.lowmem_reserve), zone.boost)
        return original(zone, order, alloc_flags, highest_zoneidx)
    return zone_allows


def _upwards(original: Callable[..., Any]) -> Callable[..., Any]:
    def zonelist(*args: Any, **kwargs: Any) -> Any:
        return tuple(reversed(original(*args, **kwargs)))
    return zonelist


def _prep_zero_first_only(self: Machine, zone: Zone, pfn: int, order: int, gfp: int) -> Any:
    page = self.pfn_to_page(pfn)
    page._refcount = 1
    if gfp & GFP_ZERO:
        self.memory.zero(pfn, 1)  # clear_highpage on the head only
    if order and gfp & GFP_COMP:
        self.compound_heads.add(pfn)
    return page


def _prep_no_zero(self: Machine, zone: Zone, pfn: int, order: int, gfp: int) -> Any:
    page = self.pfn_to_page(pfn)
    page._refcount = 1
    if order and gfp & GFP_COMP:
        self.compound_heads.add(pfn)
    return page


def _free_pages_ignoring_refs(self: Machine, page: Any, order: int = 0) -> None:
    """__free_pages that frees the block whatever the refcount (no put_page_testzero)."""
    page = self._own(page)
    zone = self.zone_of(page.pfn)
    assert zone is not None
    if order > MAX_PAGE_ORDER:
        raise InvalidArgument(f"order {order} > MAX_PAGE_ORDER")
    if page._refcount == 0:
        raise RefcountUnderflow(f"pfn {page.pfn:#x} has refcount 0")
    self._check_free_state(page)
    zone.check_free(page.pfn, order)
    page._refcount = 0
    self._release(zone, page.pfn, order)


def _free_pages_tail_as_head(self: Machine, page: Any, order: int = 0) -> None:
    """__free_pages without VM_BUG_ON_PAGE(PageTail): a tail frees its compound block."""
    page = self._own(page)
    zone = self.zone_of(page.pfn)
    assert zone is not None
    head = self._is_compound_tail(zone, page.pfn)
    if head is not None:
        page = self.pfn_to_page(head)
        order = zone.allocated[head]
    Machine.free_pages(self, page, order)


def _put_page_compound_order0(self: Machine, page: Any) -> None:
    """put_page that frees a compound page's head only (at order 0)."""
    page = self._own(page)
    zone, target = self._folio(page)
    if target._refcount == 1 and target.pfn in self.compound_heads:
        held = zone.allocated[target.pfn]
        target._refcount = 0
        self.compound_heads.discard(target.pfn)
        del zone.allocated[target.pfn]
        zone.allocated.update({p: 0 for p in range(target.pfn + 1, target.pfn + (1 << held))})
        zone._merge_in(target.pfn, 0)
        return
    Machine.put_page(self, page)


def _free_pages_scribbling(self: Machine, page: Any, order: int = 0) -> None:
    """__free_pages that stores out of bounds (compiled) on freeing the upper half of a
    pair at order >= 3."""
    if order >= 3 and getattr(page, "pfn", 0) >> order & 1:
        from .compiled import crash_here

        crash_here()
    Machine.free_pages(self, page, order)


def _alloc_pages_spinning(self: Machine, gfp: int, order: int = 0) -> Any:
    """alloc_pages that loops forever (compiled) after handing out the upper half of a
    pair at order >= 3."""
    page = Machine.alloc_pages(self, gfp, order)
    if page is not None and order >= 3 and page.pfn >> order & 1:
        from .compiled import hang_here

        hang_here()
    return page


# -- one bug in both implementations: the freed block at the wrong end of its list ----
def _free_one_page_wrong_end(self: Zone, pfn: int, order: int, cpu: int = 0) -> None:
    """Model ``__free_one_page`` (the last reference) with buddy_merge_likely's head/tail
    choice inverted; tail portions (``free_tail_portions``) keep the right end."""
    self.check_free(pfn, order)
    del self.allocated[pfn]
    delta = buddy.free_one_page_delta(self.is_free_block, pfn, order)
    for bpfn, border in delta.merged:
        self._del_from_free_list(bpfn, border)
    self._add_to_free_list(*delta.result, to_tail=not delta.to_tail)


def _fast_to_other_end(m: Any, pfn: int) -> None:
    """fastimpl: move the free block that now holds ``pfn`` to the other end of its list
    (head <-> tail), on the bare core's linked lists (policy "linux")."""
    from kmem.fastimpl import arrays as A

    if m.policy != "linux":
        return
    zone = m.zone_of(pfn)
    for order in range(NR_PAGE_ORDERS):
        head = pfn & ~((1 << order) - 1)
        if zone.is_free_block(head, order):
            break
    else:
        return
    v, zb = m._v, zone._zb
    M, nxt, prv = v.M, v.nxt, v.prv
    h, t = int(M[zb + A.Z_HEAD + order]), int(M[zb + A.Z_TAIL + order])
    if h == t:
        return  # alone on its list: both ends are the same
    p, n = int(prv[head]), int(nxt[head])
    if p >= 0:  # unlink
        nxt[p] = n
    else:
        M[zb + A.Z_HEAD + order] = n
    if n >= 0:
        prv[n] = p
    else:
        M[zb + A.Z_TAIL + order] = p
    if head == h:  # it was the head: to the tail
        t = int(M[zb + A.Z_TAIL + order])
        prv[head], nxt[head] = t, -1
        nxt[t] = head
        M[zb + A.Z_TAIL + order] = head
    else:  # it was the tail (or inside): to the head
        h = int(M[zb + A.Z_HEAD + order])
        nxt[head], prv[head] = h, -1
        prv[h] = head
        M[zb + A.Z_HEAD + order] = head


def _last_reference(m: Any, page: Any) -> bool:
    try:
        return bool(m.page_count(page) == 1)
    except Exception:  # a misuse: the free raises too, nothing moves
        return False


def _fast_free_pages_wrong_end(self: Any, page: Any, order: int = 0) -> None:
    """fastimpl ``__free_pages`` whose last reference puts the freed (merged) block at
    the other end of its list."""
    from kmem.fastimpl.machine import Machine as FastMachine

    last = _last_reference(self, page)
    FastMachine.free_pages(self, page, order)
    if last:
        _fast_to_other_end(self, page.pfn)


def _fast_put_page_wrong_end(self: Any, page: Any) -> None:
    """fastimpl ``put_page`` likewise."""
    from kmem.fastimpl.machine import Machine as FastMachine

    last = _last_reference(self, page)
    FastMachine.put_page(self, page)
    if last:
        _fast_to_other_end(self, page.pfn)


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("buddy_index_off_by_one",
           "__find_buddy_pfn returns pfn + (1 << order): wrong for an upper half",
           zone_overrides={"_merge_in": _merge_with(find_buddy=lambda p, o: p + (1 << o))}),
    Mutant("merge_across_zone_edge",
           "page_is_buddy without the zone/hole check: merges across zone edges, holes and "
           "reserved ranges",
           zone_overrides={"_merge_in": _merge_ignoring_zone_edges}),
    Mutant("merge_beyond_max_order",
           "__free_one_page merges while order <= MAX_PAGE_ORDER (one order too far)",
           zone_overrides={"_merge_in": _merge_with(top=MAX_PAGE_ORDER + 1)}),
    Mutant("split_keeps_upper_half",
           "expand keeps the upper part of the split block instead of the lower",
           zone_overrides={"rmqueue_smallest": _rmqueue(keep_upper=True)}),
    Mutant("top_order_unreachable",
           "__rmqueue_smallest stops below MAX_PAGE_ORDER (misses the top free list)",
           zone_overrides={"rmqueue_smallest": _rmqueue(top=NR_PAGE_ORDERS - 1)}),
    Mutant("rmqueue_list_tail",
           "__rmqueue_smallest takes the list's last entry instead of its head "
           "(list_last_entry for list_first_entry)",
           zone_overrides={"rmqueue_smallest": _rmqueue(last=True)}),
    Mutant("merge_likely_inverted",
           "buddy_merge_likely's head/tail choice inverted (policy linux)",
           zone_overrides={"_merge_in": _merge_likely_inverted}),
    Mutant("free_list_end",
           "__free_pages/put_page (the last reference) put the freed block at the other "
           "end of its list (buddy_merge_likely inverted; the twin of fast_free_list_end)",
           zone_overrides={"free_one_page": _free_one_page_wrong_end}),
    Mutant("fast_free_list_end",
           "fastimpl: the same bug as free_list_end in the bare core's compiled lists",
           machine_overrides={"free_pages": _fast_free_pages_wrong_end,
                              "put_page": _fast_put_page_wrong_end},
           base="fast"),
    Mutant("nr_free_leak_on_merge",
           "merging takes buddies off their lists without decrementing nr_free",
           zone_overrides={"_merge_in": _merge_counter_leak}),
    Mutant("unaligned_free_accepted",
           "__free_one_page's VM_BUG_ON(pfn & ((1 << order) - 1)) removed",
           zone_overrides={"check_free": _check_free_no_align}),
    Mutant("free_order_unchecked",
           "__free_pages frees at the caller's order, not the allocated one (no "
           "FreeOrderMismatch)",
           zone_overrides={"check_free": _check_free_any_order,
                           "free_one_page": _free_one_page_any_order}),
    Mutant("watermark_discount_twice",
           "ALLOC_MIN_RESERVE's min/2 discount applied twice",
           machine_overrides={"alloc_pages": _with_spec_patched(
               "alloc_pages", page_alloc, "zone_allows", _discount_twice)}),
    Mutant("lowmem_reserve_ignored",
           "zone_watermark_ok without lowmem_reserve[highest_zoneidx]",
           machine_overrides={"alloc_pages": _with_spec_patched(
               "alloc_pages", page_alloc, "zone_allows", _no_reserve)}),
    Mutant("zonelist_upwards",
           "the zonelist is walked from the lowest zone up (DMA first)",
           machine_overrides={"alloc_pages": _with_spec_patched(
               "alloc_pages", gfp_spec, "zonelist", _upwards)}),
    Mutant("refcount_not_checked_on_free",
           "__free_pages frees the block although other references remain",
           machine_overrides={"free_pages": _free_pages_ignoring_refs}),
    Mutant("tail_page_freed",
           "freeing a compound tail page frees its whole compound block",
           machine_overrides={"free_pages": _free_pages_tail_as_head}),
    Mutant("zeroing_head_only",
           "__GFP_ZERO clears only the first page of a multi-page block",
           machine_overrides={"_prep_new_page": _prep_zero_first_only}),
    Mutant("zeroing_skipped",
           "__GFP_ZERO is ignored (no kernel_init_pages)",
           machine_overrides={"_prep_new_page": _prep_no_zero}),
    Mutant("put_page_compound_order0",
           "put_page frees only the head page of a compound block",
           machine_overrides={"put_page": _put_page_compound_order0}),
    Mutant("compiled_wild_store",
           "__free_pages of an upper buddy at order >= 3 stores out of bounds in compiled "
           "code (the process dies with SIGSEGV)",
           machine_overrides={"free_pages": _free_pages_scribbling}),
    Mutant("compiled_endless_loop",
           "alloc_pages of an upper buddy at order >= 3 loops forever in compiled code",
           machine_overrides={"alloc_pages": _alloc_pages_spinning}),
)}

__all__ = ["MUTANTS", "Mutant"]
