"""The allocation path across zones: passes, watermark checks, failure (mm/page_alloc.c, 6.x).

``__alloc_pages`` first tries ``get_page_from_freelist`` against the LOW
watermark (the fast path); ``__alloc_pages_slowpath`` retries with the flags of
``gfp_to_alloc_flags`` (MIN watermark, with the ALLOC_MIN_RESERVE / NON_BLOCK
discounts), then — when ``__gfp_pfmemalloc_flags`` allows it — with
ALLOC_NO_WATERMARKS or ALLOC_OOM. Each pass walks the zonelist from
``gfp_zone(gfp)`` downwards and takes the first zone whose watermark check
passes and that has a block. There is no reclaim, compaction or OOM killer in
kmem, so a request that no pass satisfies fails, and the kernel's warning is
logged unless ``__GFP_NOWARN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import gfp as _gfp
from .alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MASK,
)
from .constants import MAX_PAGE_ORDER
from .migrate import usable_types
from .pcp import order_to_pindex, pcp_allowed_order
from .watermarks import zone_watermark_ok

GFP_HIGHMEM_BIT = _gfp.__GFP_HIGHMEM
GFP_ZERO_BIT = _gfp.__GFP_ZERO
GFP_NOWARN_BIT = _gfp.__GFP_NOWARN
GFP_COMP_BIT = _gfp.__GFP_COMP
GFP_KSWAPD_RECLAIM_BIT = _gfp.__GFP_KSWAPD_RECLAIM


@dataclass(frozen=True)
class AllocPass:
    """One ``get_page_from_freelist`` pass: its name and ALLOC_* flags."""

    name: str
    alloc_flags: int

    @property
    def wmark(self) -> int | None:
        """The WMARK_* index checked, or None with ALLOC_NO_WATERMARKS."""
        if self.alloc_flags & ALLOC_NO_WATERMARKS:
            return None
        return self.alloc_flags & ALLOC_WMARK_MASK


def alloc_passes(gfp: int, order: int, *, pf_memalloc: bool = False, in_interrupt: bool = False,
                 oom_victim: bool = False) -> tuple[AllocPass, ...]:
    """The passes ``__alloc_pages`` makes for (gfp, order) when nothing can be reclaimed.

    1. fast: ALLOC_WMARK_LOW (| ALLOC_KSWAPD from ``alloc_flags_nofragment``);
    2. slow: ``gfp_to_alloc_flags(gfp, order)``;
    3. reserves: ``__gfp_pfmemalloc_flags`` (ALLOC_NO_WATERMARKS or ALLOC_OOM), if any,
       keeping ALLOC_KSWAPD (``__alloc_pages_slowpath``).
    """
    fast = ALLOC_WMARK_LOW | (ALLOC_KSWAPD if gfp & GFP_KSWAPD_RECLAIM_BIT else 0)
    passes = [AllocPass("fast", fast),
              AllocPass("slow", _gfp.gfp_to_alloc_flags(gfp, order))]
    reserve = _gfp.gfp_pfmemalloc_flags(gfp, pf_memalloc=pf_memalloc, in_interrupt=in_interrupt,
                                        oom_victim=oom_victim)
    if reserve:
        passes.append(AllocPass("reserves", reserve | (passes[1].alloc_flags & ALLOC_KSWAPD)))
    return tuple(passes)


@dataclass(frozen=True)
class ZoneView:
    """What the allocation path reads of a zone: its index, NR_FREE_PAGES, nr_free per
    order, ``_watermark[]`` (+ boost) and ``lowmem_reserve[]``."""

    zone_idx: int
    free_pages: int
    nr_free: tuple[int, ...]
    watermark: tuple[int, ...]
    lowmem_reserve: tuple[int, ...]
    boost: int = 0
    # with migratetypes (kmem.spec.migrate): zone->nr_free_highatomic and, per order, a
    # bit mask of the non-empty free_list[mt]; None: one migratetype in use
    nr_free_highatomic: int = 0
    free_lists: tuple[int, ...] | None = None
    pcp_lists: int = 0  # bit mask of this CPU's non-empty pcp lists (by pindex)


def zone_allows(zone: ZoneView, order: int, alloc_flags: int, highest_zoneidx: int) -> bool:
    """``get_page_from_freelist``'s per-zone test: ALLOC_NO_WATERMARKS skips it; otherwise
    :func:`zone_watermark_fast` against ``wmark_pages(zone, alloc_flags & ALLOC_WMARK_MASK)``
    (a zone that passes its HIGH mark passes this too)."""
    if alloc_flags & ALLOC_NO_WATERMARKS:
        return True
    return zone_watermark_fast(zone, order, alloc_flags & ALLOC_WMARK_MASK, alloc_flags,
                               highest_zoneidx)


def zone_watermark_fast(zone: ZoneView, order: int, wmark: int, alloc_flags: int,
                        highest_zoneidx: int) -> bool:
    """``zone_watermark_fast(z, order, wmark_pages(z, wmark), ...)``: ``__zone_watermark_ok``
    against the boosted mark; an order-0 ALLOC_MIN_RESERVE request checking WMARK_MIN
    of a boosted zone retries against the unboosted MIN mark."""
    ok = zone_watermark_ok(free_pages=zone.free_pages, order=order,
                           mark=zone.watermark[wmark] + zone.boost,
                           lowmem_reserve=zone.lowmem_reserve[highest_zoneidx],
                           alloc_flags=alloc_flags, nr_free=zone.nr_free,
                           nr_free_highatomic=zone.nr_free_highatomic,
                           free_lists=zone.free_lists)
    if ok or order or not alloc_flags & ALLOC_MIN_RESERVE or not zone.boost or wmark != 0:
        return ok
    return zone_watermark_ok(free_pages=zone.free_pages, order=order, mark=zone.watermark[0],
                             lowmem_reserve=zone.lowmem_reserve[highest_zoneidx],
                             alloc_flags=alloc_flags, nr_free=zone.nr_free,
                             nr_free_highatomic=zone.nr_free_highatomic,
                             free_lists=zone.free_lists)


def has_block(zone: ZoneView, order: int, migratetype: int | None = None,
              alloc_flags: int = 0) -> bool:
    """``rmqueue`` can succeed: some free block of order >= ``order``.

    With migratetypes (``zone.free_lists`` and ``migratetype`` given): a block on a list
    that ``rmqueue_buddy`` may use (:func:`kmem.spec.migrate.usable_types`), or a block
    on this CPU's pcp list for (migratetype, order) (``zone.pcp_lists``)."""
    if zone.free_lists is None or migratetype is None:
        return any(zone.nr_free[o] for o in range(order, len(zone.nr_free)))
    if pcp_allowed_order(order) and zone.pcp_lists >> order_to_pindex(migratetype, order) & 1:
        return True
    usable = usable_types(migratetype, bool(alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)),
                          bool(alloc_flags & ALLOC_NON_BLOCK), bool(alloc_flags & ALLOC_CMA))
    mask = sum(1 << mt for mt in usable)
    return any(zone.free_lists[o] & mask for o in range(order, len(zone.free_lists)))


def choose_zone(zonelist: Sequence[ZoneView], order: int, alloc_flags: int,
                highest_zoneidx: int, migratetype: int | None = None) -> int | None:
    """The position in ``zonelist`` where a pass succeeds: the first zone that passes
    its watermark check and has a block; None if the pass fails."""
    for pos, zone in enumerate(zonelist):
        if (zone_allows(zone, order, alloc_flags, highest_zoneidx)
                and has_block(zone, order, migratetype, alloc_flags)):
            return pos
    return None


def allocation_failure_legal(zonelist: Sequence[ZoneView], gfp: int, order: int,
                             highest_zoneidx: int, **context: bool) -> bool:
    """Availability: an allocation may fail only if order > MAX_PAGE_ORDER, or no pass
    finds an allowed zone with a suitable block that passes its watermark (with
    migratetypes: a block its migratetype may use, or one on its pcp list)."""
    if order > MAX_PAGE_ORDER:
        return True
    mt = _gfp.gfp_migratetype(gfp) if any(z.free_lists is not None for z in zonelist) else None
    return all(choose_zone(zonelist, order, p.alloc_flags, highest_zoneidx, mt) is None
               for p in alloc_passes(gfp, order, **context))


def get_free_pages_gfp(gfp: int) -> int:
    """``__get_free_pages`` (6.x): ``alloc_pages(gfp_mask & ~__GFP_HIGHMEM, order)``: the
    highmem bit is silently stripped (2.6.2x-4.x had ``VM_BUG_ON`` here instead)."""
    return gfp & ~GFP_HIGHMEM_BIT


def warn_alloc_line(comm: str, order: int, gfp: int) -> str:
    """The first line of ``warn_alloc`` (mm/page_alloc.c, 6.x) for a failed allocation:
    ``"%s: page allocation failure: order:%u, mode:%#x(%pGg), nodemask=%*pbl"`` plus
    ``cpuset_print_current_mems_allowed`` (no NUMA nodemask: ``(null)``; root cpuset).
    ``%pGg`` prints the flag names like ``show_gfp_flags`` but nothing at all for 0;
    the kernel's ``%#x`` (lib/vsprintf.c ``number``) prints 0 as ``0x0``, unlike libc."""
    return (f"{comm}: page allocation failure: order:{order}, mode:{gfp:#x}"
            f"({_gfp.format_gfp_printk(gfp)}), nodemask=(null),cpuset=/,mems_allowed=0")


def order_warning_line(order: int) -> str:
    """A summary of the ``WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)`` report of
    ``__alloc_pages``. The kernel's own first line, ``WARNING: CPU: N PID: N at
    mm/page_alloc.c:LINE __alloc_pages_noprof+0x.../0x...``, carries a CPU, a PID and
    a source line that a model does not have, so kmem names the condition instead."""
    return (f"WARNING: mm/page_alloc.c: __alloc_pages_noprof: order {order} > "
            f"MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")
