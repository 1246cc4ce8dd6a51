"""Planted bugs in the whole allocation path, in both implementations.

Model mutants (``path-model-*``) are :class:`kmem.model.Machine` subclasses whose zones
are an ``MtZone`` subclass with one method copied and changed. fastimpl mutants
(``path-fast-*``) are :class:`kmem.fastimpl.mt_machine.MtMachine` subclasses whose
compiled steps (``mt_kernels.py``) run as Python with one step copied and changed
(:func:`python_kernels`); ``path-fast61-*`` do the same to the 6.1 path's steps
(``mt_kernels61.py``), which only a machine with ``kernel="6.1"`` runs. ``kmem fuzz --impl model,mutant:NAME`` must catch each one
within 60 s (``tests/quality/test_path_fuzz_mutants.py``). Teeth, never implementations.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmem.spec import buddy, migrate
from kmem.spec import pcp as pcp_spec
from kmem.spec.alloc_flags import (
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_NO_WATERMARKS,
    ALLOC_NOFRAGMENT,
    ALLOC_WMARK_MASK,
    WMARK_HIGH,
)


@dataclass(frozen=True)
class PathMutant:
    """One planted bug: ``zone_overrides`` (model MtZone methods), ``machine_overrides``
    (model Machine methods), ``kernel_overrides`` (fastimpl mt_kernels steps) or
    ``kernel61_overrides`` (fastimpl mt_kernels61 steps: the 6.1 path)."""

    name: str
    description: str
    zone_overrides: dict[str, Callable[..., Any]] | None = None
    machine_overrides: dict[str, Callable[..., Any]] | None = None
    kernel_overrides: dict[str, Callable[..., Any]] | None = None
    kernel61_overrides: dict[str, Callable[..., Any]] | None = None

    def machine_class(self) -> type:
        if self.kernel_overrides is not None or self.kernel61_overrides is not None:
            return _fast_mutant(self)
        return _model_mutant(self)


def _model_mutant(mut: PathMutant) -> type:
    from kmem.model.machine import Machine
    from kmem.model.mtzone import MtZone

    zone_cls = type(f"MtZone_{mut.name}", (MtZone,), dict(mut.zone_overrides or {}))

    def __init__(m: Any, *args: Any, **kwargs: Any) -> None:
        Machine.__init__(m, *args, **kwargs)
        for z in m.zones:
            if isinstance(z, MtZone):
                z.__class__ = zone_cls

    attrs: dict[str, Any] = {"__init__": __init__, "mutant": mut}
    attrs.update(mut.machine_overrides or {})
    return type(f"Machine_{mut.name}", (Machine,), attrs)


def python_kernels(overrides: dict[str, Callable[..., Any]], era: str = "6.12") -> Any:
    """A namespace with every step of ``mt_kernels`` (``era="6.1"``: with
    ``mt_kernels61``'s over them) as plain Python (compiled spec rules too), where
    ``overrides`` replace steps by name; the copies call each other through the
    namespace, so a replaced step is used everywhere."""
    from kmem.fastimpl import mt_kernels, mt_kernels61

    ns: dict[str, Any] = dict(vars(mt_kernels))
    if era == "6.1":
        ns.update(vars(mt_kernels61))
    for name, obj in list(ns.items()):
        py = getattr(obj, "py_func", None)
        if py is None and isinstance(obj, types.FunctionType) and obj.__module__ in (
                mt_kernels.__name__, mt_kernels61.__name__):
            py = obj
        if py is not None and py.__qualname__.startswith("spec_jit."):
            ns[name] = py  # a spec rule: its own globals (it calls no step)
        elif py is not None:
            ns[name] = types.FunctionType(py.__code__, ns, name, py.__defaults__)
    for name, fn in overrides.items():
        ns[name] = types.FunctionType(fn.__code__, ns, name, fn.__defaults__)
    return types.SimpleNamespace(**ns)


def _fast_mutant(mut: PathMutant) -> type:
    from kmem.fastimpl.mt_machine import MtMachine

    attrs: dict[str, Any] = {"mutant": mut}
    if mut.kernel_overrides is not None:
        attrs["_k"] = python_kernels(mut.kernel_overrides)
    if mut.kernel61_overrides is not None:
        attrs["_k61"] = python_kernels(mut.kernel61_overrides, era="6.1")
    return type(f"MtMachine_{mut.name}", (MtMachine,), attrs)


# The fastimpl copies below are written against mt_kernels' names (they run with its
# namespace as their globals); ruff/mypy cannot see those names.
# ruff: noqa: F821
# mypy: ignore-errors

# -- fastimpl: one step each, copied with one change ---------------------------------------
def _fast61_free_factor_fixed(A, z, cpu, pfn, mt, order):
    """6.1's free_unref_page_commit keeping pcp->free_factor where it was: every drain
    past the high mark frees one batch (nr_pcp_free's growing batch << free_factor
    lost)."""
    P, C = A[2], A[8]
    r = pcp_row(A, z, cpu)
    pindex = order_to_pindex(mt, order)
    list_add(A, pcp_lid(A, z, cpu, pindex), pfn, False)
    P[P_PCPO, pfn] = order
    C[r, C_COUNT] += 1 << order
    free_high = free_high_61(C[r, C_FREE_FACTOR], order)
    high = nr_pcp_high_61(C[r, C_HIGH], C[r, C_BATCH], free_high, False)
    if C[r, C_COUNT] >= high:
        n, _ = nr_pcp_free_61(C[r, C_COUNT], high, C[r, C_BATCH], free_high,
                              C[r, C_FREE_FACTOR])  # the bug: the new free_factor dropped
        free_pcppages_bulk(A, z, cpu, n, pindex)


def _fast61_bulk_one_short(A, z, cpu, order, mt, alloc_flags):
    """6.1's rmqueue_pcplist refilling one block fewer than pcp_alloc_batch_61 asks."""
    P, LH, C = A[2], A[3], A[8]
    r = pcp_row(A, z, cpu)
    C[r, C_FREE_FACTOR] >>= 1
    lid = pcp_lid(A, z, cpu, order_to_pindex(mt, order))
    if LH[lid] < 0:
        n = pcp_alloc_batch_61(C[r, C_BATCH], order) - 1  # the bug
        got = rmqueue_bulk(A, z, order, max(n, 1), mt, alloc_flags, lid)
        C[r, C_COUNT] += got << order
        if LH[lid] < 0:
            return -1
    pfn = LH[lid]
    list_del(A, lid, pfn)
    P[P_PCPO, pfn] = -1
    P[P_FMT, pfn] = -1
    C[r, C_COUNT] -= 1 << order
    return pfn


def _fast_pcp_tail(A, z, cpu, order, mt, alloc_flags):
    """rmqueue_pcplist handing out the list tail (coldest page) instead of the head."""
    P, LH, LT, Z, C = A[2], A[3], A[4], A[6], A[8]
    r = pcp_row(A, z, cpu)
    C[r, C_FREE_COUNT] >>= 1
    lid = pcp_lid(A, z, cpu, order_to_pindex(mt, order))
    if LH[lid] < 0:
        n, high, af = nr_pcp_alloc(C[r, C_HIGH], C[r, C_HIGH_MIN], C[r, C_HIGH_MAX],
                                   C[r, C_COUNT], C[r, C_BATCH], C[r, C_ALLOC_FACTOR], order,
                                   Z[z, Z_BELOW_HIGH] != 0)
        C[r, C_HIGH] = high
        C[r, C_ALLOC_FACTOR] = af
        got = rmqueue_bulk(A, z, order, n, mt, alloc_flags, lid)
        C[r, C_COUNT] += got << order
        if LH[lid] < 0:
            return -1
    pfn = LT[lid]
    list_del(A, lid, pfn)
    P[P_PCPO, pfn] = -1
    C[r, C_COUNT] -= 1 << order
    return pfn


def _fast_bulk_one_short(A, z, cpu, order, mt, alloc_flags):
    """rmqueue_pcplist refilling one block fewer than nr_pcp_alloc asks for."""
    P, LH, Z, C = A[2], A[3], A[6], A[8]
    r = pcp_row(A, z, cpu)
    C[r, C_FREE_COUNT] >>= 1
    lid = pcp_lid(A, z, cpu, order_to_pindex(mt, order))
    if LH[lid] < 0:
        n, high, af = nr_pcp_alloc(C[r, C_HIGH], C[r, C_HIGH_MIN], C[r, C_HIGH_MAX],
                                   C[r, C_COUNT], C[r, C_BATCH], C[r, C_ALLOC_FACTOR], order,
                                   Z[z, Z_BELOW_HIGH] != 0)
        C[r, C_HIGH] = high
        C[r, C_ALLOC_FACTOR] = af
        got = rmqueue_bulk(A, z, order, max(n - 1, 1), mt, alloc_flags, lid)
        C[r, C_COUNT] += got << order
        if LH[lid] < 0:
            return -1
    pfn = LH[lid]
    list_del(A, lid, pfn)
    P[P_PCPO, pfn] = -1
    C[r, C_COUNT] -= 1 << order
    return pfn


def _fast_thp_pindex(mt, order):
    """order_to_pindex giving both THP-order types one list."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS
    return PCPTYPES * order + mt


def _fast_drain_mark(A, z, cpu, pfn, mt, order):
    """free_unref_page_commit comparing count with the new pcp->high instead of the mark
    nr_pcp_high returns."""
    P, Z, C = A[2], A[6], A[8]
    r = pcp_row(A, z, cpu)
    C[r, C_ALLOC_FACTOR] >>= 1
    pindex = order_to_pindex(mt, order)
    list_add(A, pcp_lid(A, z, cpu, pindex), pfn, False)
    P[P_PCPO, pfn] = order
    C[r, C_COUNT] += 1 << order
    free_high, flags = free_high_decision(order, C[r, C_FREE_COUNT], C[r, C_COUNT],
                                          C[r, C_BATCH], C[r, C_FLAGS])
    C[r, C_FLAGS] = flags
    C[r, C_FREE_COUNT] = free_count_after_free(C[r, C_FREE_COUNT], C[r, C_BATCH], order)
    high, new_high = nr_pcp_high(C[r, C_HIGH], C[r, C_HIGH_MIN], C[r, C_HIGH_MAX],
                                 C[r, C_COUNT], C[r, C_FREE_COUNT], C[r, C_BATCH], free_high,
                                 Z[z, Z_BELOW_HIGH] != 0, False)
    C[r, C_HIGH] = new_high
    if C[r, C_COUNT] >= new_high:
        n = nr_pcp_free(C[r, C_COUNT], C[r, C_BATCH], new_high, free_high, C[r, C_FREE_COUNT])
        free_pcppages_bulk(A, z, cpu, n, pindex)
        if Z[z, Z_BELOW_HIGH] and high_wmark_ok(A, z):
            Z[z, Z_BELOW_HIGH] = 0


def _fast_steal_halves_retyped(A, z, order, start_mt):
    """__rmqueue_steal putting the split-off halves on the request's list, not the
    fallback type's."""
    LH = A[3]
    for current in range(order, NR_PAGE_ORDERS):
        fb, _ = find_suitable_fallback(A, z, current, start_mt)
        if fb < 0:
            continue
        pfn = LH[buddy_lid(z, current, fb)]
        del_mt(A, z, pfn, current)
        for half_order in range(current - 1, order - 1, -1):
            add_mt(A, z, pfn + (1 << half_order), half_order, start_mt, False)
        return pfn
    return -1


def _fast_highatomic_size(A, z, pfn, order):
    """reserve_highatomic_pageblock counting 1 << order reserved pages for a small
    allocation instead of the whole pageblock it moved."""
    Z = A[6]
    pbo = Z[z, Z_PBO]
    cap = highatomic_max_managed(Z[z, Z_MANAGED], pbo)
    if cap == 0 or Z[z, Z_HARES] >= cap:
        return
    mt = get_pfnblock_migratetype(A, z, pfn)
    if not migratetype_is_mergeable(mt):
        return
    if order < pbo:
        if move_freepages_block(A, z, pfn, HIGHATOMIC) == -1:
            return
        Z[z, Z_HARES] += 1 << order
    else:
        change_pageblock_range(A, z, pfn, order, HIGHATOMIC)
        Z[z, Z_HARES] += 1 << order


def _fast_free_cpu0(A, z, cpu, pfn, order):
    """__free_pages putting the page on CPU 0's pcp list, not the freeing CPU's."""
    P = A[2]
    P[P_AORD, pfn] = -1
    P[P_FLAGS, pfn] &= ~PF_MOVABLE
    free_unref_page(A, z, 0, pfn, order)


# -- the model: one MtZone / Machine method each, copied with one change ----------------------
def _model_claim_whole(self, pfn, current, order, start_type, alloc_flags):
    """try_to_steal_block claiming a pageblock only when all of it is free or alike (the
    threshold pageblock_nr_pages instead of half of it)."""
    block_type = self.get_pfnblock_migratetype(pfn)
    if block_type == migrate.MIGRATE_HIGHATOMIC:
        return None
    if current >= self.pageblock_order:
        self._del_mt(pfn, current)
        self.change_pageblock_range(pfn, current, start_type)
        for half, half_order in buddy.expand(pfn, order, current):
            self._add_mt(half, half_order, start_type, to_tail=False)
        return pfn
    if self.boost_watermark() and alloc_flags & ALLOC_KSWAPD:
        self.boosted = True
    prep = self.prep_move_freepages_block(pfn)
    if prep is None:
        return None
    start, free, movable = prep
    nr = 1 << self.pageblock_order
    if start_type == migrate.MIGRATE_MOVABLE:
        alike = movable
    elif block_type == migrate.MIGRATE_MOVABLE:
        alike = nr - (free + movable)
    else:
        alike = 0
    if free + alike >= nr:
        self.move_freepages_block_at(start, start_type)
        return self.rmqueue_smallest_mt(order, start_type)
    return None


def _model_fallback_reversed(self, current, start_mt):
    """find_suitable_fallback walking fallbacks[] back to front."""
    area = self.free_area[current]
    if area.nr_free == 0:
        return None, False
    can_steal = False
    for fallback_mt in reversed(migrate.fallbacks(start_mt)):
        if not len(area.free_lists[fallback_mt]):
            continue
        if migrate.can_steal_fallback(current, start_mt, self.pageblock_order):
            can_steal = True
        return fallback_mt, can_steal
    return None, can_steal


def _model_merge_ignores_types(self, pfn, order, mt, to_tail):
    """__free_one_page without the migratetype rule: merges across any two pageblocks
    and never retypes the buddy's pageblock."""
    delta = buddy.free_one_page_delta(self.is_free_block, pfn, order, to_tail=to_tail)
    for bpfn, border in delta.merged:
        self._del_mt(bpfn, border)
    self._add_mt(*delta.result, mt, to_tail=delta.to_tail)


def _model_decay_one_chunk(self, cpu):
    """decay_pcp_high draining everything above the new high in one chunk instead of
    chunks of pcp->batch (each restarting the round robin at pindex 0)."""
    p = self.pcp[cpu]
    p.high, chunks, todo = pcp_spec.decay_pcp_high(high=p.high, high_min=p.high_min,
                                                   count=p.count, batch=p.batch)
    if chunks:
        self.free_pcppages_bulk(p, sum(chunks), 0)
    return todo


def _model_pcp_tail(self, cpu, order, mt, alloc_flags):
    """rmqueue_pcplist handing out the coldest page (list tail) instead of the head."""
    p = self.pcp[cpu]
    lst = p.lists[pcp_spec.order_to_pindex(mt, order)]
    if not len(lst):
        n, p.high, p.alloc_factor = pcp_spec.nr_pcp_alloc(
            high=p.high, high_min=p.high_min, high_max=p.high_max, count=p.count,
            batch=p.batch, alloc_factor=p.alloc_factor, order=order, below_high=self.below_high)
        p.count += self.rmqueue_bulk(order, n, mt, alloc_flags, lst) << order
        if not len(lst):
            return None
    pfn = lst.last()
    lst.remove(pfn)
    del self.pcp_pages[pfn]
    p.count -= 1 << order
    return pfn


def _model_no_second_pass(self, zonelist, order, alloc_flags, highest_idx, mt):
    """get_page_from_freelist without the retry that drops ALLOC_NOFRAGMENT."""
    from kmem.spec import page_alloc

    for zone in zonelist:
        view = self.zone_view(zone)
        high_flags = (alloc_flags & ~(ALLOC_NO_WATERMARKS | ALLOC_WMARK_MASK)) | WMARK_HIGH
        if zone.below_high or not page_alloc.zone_allows(view, order, high_flags, highest_idx):
            zone.below_high = True
            if not page_alloc.zone_allows(view, order, alloc_flags, highest_idx):
                continue
        pfn = zone.rmqueue(self.cpu, order, mt, alloc_flags)
        if pfn is not None:
            if alloc_flags & ALLOC_HIGHATOMIC:
                zone.reserve_highatomic_pageblock(pfn, order)
            return zone, pfn
    _ = ALLOC_NOFRAGMENT
    return None


PATH_MUTANTS: dict[str, PathMutant] = {m.name: m for m in (
    PathMutant("path-fast-drain-mark",
               "fastimpl free_unref_page_commit drains when count reaches the new pcp->high, "
               "not the mark nr_pcp_high returns",
               kernel_overrides={"free_unref_page_commit": _fast_drain_mark}),
    PathMutant("path-fast-pcp-list-end",
               "fastimpl rmqueue_pcplist takes the list tail instead of its head",
               kernel_overrides={"rmqueue_pcplist": _fast_pcp_tail}),
    PathMutant("path-fast-thp-pindex",
               "fastimpl order_to_pindex puts movable and unmovable THP-order pages on one "
               "list",
               kernel_overrides={"order_to_pindex": _fast_thp_pindex}),
    PathMutant("path-fast-steal-single",
               "fastimpl __rmqueue_steal puts the split-off halves on the request's list "
               "instead of the fallback type's",
               kernel_overrides={"rmqueue_steal": _fast_steal_halves_retyped}),
    PathMutant("path-fast-highatomic-size",
               "fastimpl reserve_highatomic_pageblock counts 1 << order reserved pages "
               "instead of a pageblock",
               kernel_overrides={"reserve_highatomic_pageblock": _fast_highatomic_size}),
    PathMutant("path-fast-bulk-batch",
               "fastimpl rmqueue_pcplist refills one block fewer than nr_pcp_alloc asks",
               kernel_overrides={"rmqueue_pcplist": _fast_bulk_one_short}),
    PathMutant("path-fast-free-cpu",
               "fastimpl frees to CPU 0's pcp lists instead of the freeing CPU's",
               kernel_overrides={"free_block": _fast_free_cpu0}),
    PathMutant("path-fast61-free-factor",
               "fastimpl's 6.1 free_unref_page_commit never raises pcp->free_factor, so a "
               "drain frees one batch instead of batch << free_factor",
               kernel61_overrides={"free_unref_page_commit": _fast61_free_factor_fixed}),
    PathMutant("path-fast61-bulk-batch",
               "fastimpl's 6.1 rmqueue_pcplist refills one block fewer than "
               "pcp_alloc_batch_61 asks",
               kernel61_overrides={"rmqueue_pcplist": _fast61_bulk_one_short}),
    PathMutant("path-model-claim-threshold",
               "model try_to_steal_block claims a pageblock only when all of it (not half) is "
               "free or alike",
               zone_overrides={"try_to_steal_block": _model_claim_whole}),
    PathMutant("path-model-fallback-order",
               "model find_suitable_fallback walks fallbacks[] back to front",
               zone_overrides={"_find_fallback": _model_fallback_reversed}),
    PathMutant("path-model-merge-restriction",
               "model __free_one_page merges across pageblocks of any types (no migratetype "
               "rule, no retyping)",
               zone_overrides={"free_one_page_mt": _model_merge_ignores_types}),
    PathMutant("path-model-decay-chunks",
               "model decay_pcp_high drains in one chunk instead of chunks of pcp->batch",
               zone_overrides={"decay_pcp_high": _model_decay_one_chunk}),
    PathMutant("path-model-pcp-list-end",
               "model rmqueue_pcplist takes the list tail instead of its head",
               zone_overrides={"rmqueue_pcplist": _model_pcp_tail}),
    PathMutant("path-model-nofragment-pass",
               "model get_page_from_freelist never retries without ALLOC_NOFRAGMENT",
               machine_overrides={"_get_page_from_freelist": _model_no_second_pass}),
)}

__all__ = ["PATH_MUTANTS", "PathMutant", "python_kernels"]
