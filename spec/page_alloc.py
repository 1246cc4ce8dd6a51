"""The allocation path across zones: passes, watermark checks, failure (mm/page_alloc.c, 6.x).

``__alloc_pages`` first tries ``get_page_from_freelist`` against the LOW
watermark (the fast path); ``__alloc_pages_slowpath`` retries with the flags of
``gfp_to_alloc_flags`` (MIN watermark, with the ALLOC_MIN_RESERVE / NON_BLOCK
discounts), then — when ``__gfp_pfmemalloc_flags`` allows it — with
ALLOC_NO_WATERMARKS or ALLOC_OOM. Each pass walks the zonelist from
``gfp_zone(gfp)`` downwards and takes the first zone whose watermark check
passes and that has a block. There is no reclaim, compaction or OOM killer in
kmem, so a request that no pass satisfies fails, and the kernel's warning is
logged unless ``__GFP_NOWARN`` (rate-limited as ``warn_alloc`` is). A
``__GFP_NOFAIL`` request that may reclaim never fails: it gets one more pass
(:func:`alloc_passes`), and if even that fails the kernel would loop for ever.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from . import gfp as _gfp
from .alloc_flags import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MASK,
    ALLOC_WMARK_MIN,
    WMARK_MIN,
)
from .constants import MAX_PAGE_ORDER
from .errors import InvalidArgument
from .kernel import Kernel
from .kernel import kernel as kernel_rules
from .migrate import MIGRATE_PCPTYPES, usable_types
from .pcp import order_to_pindex, pcp_allowed_order
from .watermarks import zone_watermark_ok
from .zones import ZoneConfig, ZoneType

GFP_HIGHMEM_BIT = _gfp.__GFP_HIGHMEM
GFP_ZERO_BIT = _gfp.__GFP_ZERO
GFP_NOWARN_BIT = _gfp.__GFP_NOWARN
GFP_COMP_BIT = _gfp.__GFP_COMP
GFP_KSWAPD_RECLAIM_BIT = _gfp.__GFP_KSWAPD_RECLAIM
GFP_NOFAIL_BIT = _gfp.__GFP_NOFAIL
GFP_DMA_BIT = _gfp.__GFP_DMA

#: include/linux/mmzone.h: orders above this are "costly" (no OOM kill, __GFP_NOFAIL warns)
PAGE_ALLOC_COSTLY_ORDER = 3

#: gfp_t is 32 bits (``typedef unsigned int __bitwise gfp_t``, include/linux/types.h)
GFP_MASK_LIMIT = 1 << 32


def check_gfp(gfp: object) -> int:
    """The page API's gfp argument: an int that fits gfp_t (not a bool); InvalidArgument
    otherwise, before anything changes."""
    if isinstance(gfp, bool) or not isinstance(gfp, int) or not 0 <= gfp < GFP_MASK_LIMIT:
        raise InvalidArgument(f"gfp mask must be an int in 0..0xffffffff, got {gfp!r}")
    return int(gfp)


def check_order(order: object) -> int:
    """The page API's order argument (``unsigned int order``): an int >= 0 (not a bool);
    InvalidArgument otherwise. An order above MAX_PAGE_ORDER is the allocator's own
    ``WARN_ON_ONCE`` (6.12 mm/page_alloc.c:4835), not a bad argument."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise InvalidArgument(f"order must be an int >= 0, got {order!r}")
    return int(order)


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


def alloc_flags_nofragment(gfp: int, preferred: ZoneType | None, config: ZoneConfig) -> int:
    """``alloc_flags_nofragment(zone, gfp_mask)`` (mm/page_alloc.c, 6.12 lines 3372-3402):
    ALLOC_KSWAPD for __GFP_KSWAPD_RECLAIM, and ALLOC_NOFRAGMENT when CONFIG_ZONE_DMA32 is
    set (``config`` has ZONE_DMA32) and the preferred zone (the first of the zonelist)
    is ZONE_NORMAL. (On more than one node the preferred zone's node must have DMA32
    populated too, line 3396: :func:`kmem.spec.prepare_alloc.decide` passes None
    otherwise.) Without migratetypes ALLOC_NOFRAGMENT changes no choice of the
    model; it is part of the pass's flags all the same."""
    flags = ALLOC_KSWAPD if gfp & GFP_KSWAPD_RECLAIM_BIT else 0
    if config.has(ZoneType.DMA32) and preferred is ZoneType.NORMAL:
        flags |= ALLOC_NOFRAGMENT
    return flags


def want_init_on_alloc(gfp: int, init_on_alloc: bool) -> bool:
    """``want_init_on_alloc`` (include/linux/mm.h of 6.12, 3736-3742), as
    ``post_alloc_hook`` uses it (mm/page_alloc.c:1552; ``should_skip_init`` is false
    without KASAN hardware tags): with ``init_on_alloc`` (boot option, default
    CONFIG_INIT_ON_ALLOC_DEFAULT_ON) every allocated page is zeroed, else only with
    __GFP_ZERO."""
    return init_on_alloc or bool(gfp & GFP_ZERO_BIT)


def nofail_never_fails(gfp: int) -> bool:
    """``__alloc_pages_slowpath`` (6.12 lines 4560-4584): a __GFP_NOFAIL request that may
    direct-reclaim never returns NULL (it loops with ``goto retry``) and so never reaches
    ``warn_alloc``; without __GFP_DIRECT_RECLAIM it "still return[s] NULL"."""
    return bool(gfp & GFP_NOFAIL_BIT) and bool(gfp & _gfp.__GFP_DIRECT_RECLAIM)


def alloc_passes(gfp: int, order: int, *, pf_memalloc: bool = False, in_interrupt: bool = False,
                 oom_victim: bool = False, cma: bool = True, cpuset: bool = False,
                 nofragment: bool = False, lowmem_only: bool = False,
                 highatomic_needs_min_reserve: bool = True) -> tuple[AllocPass, ...]:
    """The passes ``__alloc_pages`` makes for (gfp, order) when nothing can be reclaimed.

    1. fast (``__alloc_pages_noprof`` + ``prepare_alloc_pages``, 6.12 lines 4768-4852):
       ALLOC_WMARK_LOW, | ALLOC_CPUSET when cpusets are enabled and the caller is not a
       task without a nodemask (``cpuset``), | ALLOC_CMA from ``gfp_to_alloc_flags_cma``
       (movable requests, CONFIG_CMA = ``cma``), | ``alloc_flags_nofragment``
       (ALLOC_KSWAPD, and ALLOC_NOFRAGMENT when ``nofragment``, see
       :func:`alloc_flags_nofragment`);
    2. slow: ``gfp_to_alloc_flags(gfp, order)`` (line 4336);
    3. reserves: ``__gfp_pfmemalloc_flags`` (ALLOC_NO_WATERMARKS or ALLOC_OOM), if any,
       with ALLOC_CMA and the slow pass's ALLOC_KSWAPD (lines 4455-4457);
    4. for __GFP_NOFAIL with __GFP_DIRECT_RECLAIM only: the pass that keeps the request
       alive. ``__alloc_pages_may_oom`` (lines 3660-3740) gives ALLOC_NO_WATERMARKS
       ("nofail-oom") unless it bails out first: order > PAGE_ALLOC_COSTLY_ORDER,
       __GFP_RETRY_MAYFAIL or __GFP_THISNODE, a request for lowmem only
       (``highest_zoneidx < ZONE_NORMAL``, ``lowmem_only``), or an OOM victim that
       already had ALLOC_OOM or __GFP_NOMEMALLOC (line 4540). Then ``nopage`` gives
       ALLOC_MIN_RESERVE ("nofail": half the min watermark, lines 4572-4579) and loops.
       (kmem assumes ``out_of_memory`` makes progress, as it does whenever a task can be
       killed, so the ``WARN_ON_ONCE_GFP(__GFP_NOFAIL)`` of line 3725 is not reached.)
    """
    fast = ALLOC_WMARK_LOW | (ALLOC_CPUSET if cpuset else 0)
    fast = _gfp.gfp_to_alloc_flags_cma(gfp, fast, cma=cma)
    fast |= ALLOC_KSWAPD if gfp & GFP_KSWAPD_RECLAIM_BIT else 0
    fast |= ALLOC_NOFRAGMENT if nofragment else 0
    slow = _gfp.gfp_to_alloc_flags(gfp, order, cma=cma,
                                   highatomic_needs_min_reserve=highatomic_needs_min_reserve)
    passes = [AllocPass("fast", fast), AllocPass("slow", slow)]
    reserve = _gfp.gfp_pfmemalloc_flags(gfp, pf_memalloc=pf_memalloc, in_interrupt=in_interrupt,
                                        oom_victim=oom_victim)
    if reserve:
        passes.append(AllocPass("reserves", _gfp.gfp_to_alloc_flags_cma(gfp, reserve, cma=cma)
                                | (slow & ALLOC_KSWAPD)))
    if nofail_never_fails(gfp):
        may_oom = (order <= PAGE_ALLOC_COSTLY_ORDER
                   and not gfp & (_gfp.__GFP_RETRY_MAYFAIL | _gfp.__GFP_THISNODE)
                   and not lowmem_only
                   and not (oom_victim and (reserve & ALLOC_OOM or gfp & _gfp.__GFP_NOMEMALLOC)))
        passes.append(AllocPass("nofail-oom", ALLOC_NO_WATERMARKS) if may_oom
                      else AllocPass("nofail", ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE))
    return tuple(passes)


#: where a __GFP_NOFAIL ``WARN_ON_ONCE`` of mm/page_alloc.c sits (:func:`nofail_warnings`)
NOFAIL_WARN_PLACES = ("slowpath", "rmqueue", "nopage")


def nofail_warnings(gfp: int, order: int, where: str = "slowpath", *, era: str = "6.12",
                    pf_memalloc: bool = False) -> tuple[str, ...]:
    """The __GFP_NOFAIL ``WARN_ON_ONCE`` checks that fire at ``where`` in ``era``'s
    allocation path, as kmem summary lines (the kernel prints each once per boot).

    6.12 (Debian 6.12.118 mm/page_alloc.c): only at the top of ``__alloc_pages_slowpath``
    (``where="slowpath"``, lines 4307-4323), i.e. once the first
    ``get_page_from_freelist`` has failed: ``WARN_ON_ONCE(order > 1)`` (4312),
    ``WARN_ON_ONCE(!can_direct_reclaim)`` (4317) and ``WARN_ON_ONCE(current->flags &
    PF_MEMALLOC)`` (4323). Its ``nopage`` NOFAIL block (4566-4588) fails a request without
    direct reclaim silently.

    6.1 (Debian 6.1.192 mm/page_alloc.c): nothing at the top of the slow path; instead
    ``rmqueue`` checks ``WARN_ON_ONCE((gfp_flags & __GFP_NOFAIL) && (order > 1))`` on
    every call (``where="rmqueue"``, line 3891: each zone whose watermark lets the request
    reach ``rmqueue``, fast path included), and the ``nopage`` NOFAIL block
    (``where="nopage"``, 5362-5385) has ``WARN_ON_ONCE_GFP(!can_direct_reclaim)`` (5367,
    then ``goto fail``), ``WARN_ON_ONCE_GFP(PF_MEMALLOC)`` (5375) and
    ``WARN_ON_ONCE_GFP(costly_order)`` (5383); ``WARN_ON_ONCE_GFP`` (mm/internal.h:42-51)
    stays silent for __GFP_NOWARN."""
    if where not in NOFAIL_WARN_PLACES:
        raise InvalidArgument(f"where must be one of {NOFAIL_WARN_PLACES}, got {where!r}")
    if not gfp & GFP_NOFAIL_BIT:
        return ()
    reclaim = bool(gfp & _gfp.__GFP_DIRECT_RECLAIM)
    out = []
    if era != "6.1":
        if where != "slowpath":
            return ()
        if order > 1:
            out.append(f"WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL with "
                       f"order {order} > 1 (WARN_ON_ONCE(order > 1))")
        if not reclaim:
            out.append("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL without "
                       "__GFP_DIRECT_RECLAIM (WARN_ON_ONCE(!can_direct_reclaim))")
        if pf_memalloc:
            out.append("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL in a "
                       "PF_MEMALLOC task (WARN_ON_ONCE(current->flags & PF_MEMALLOC))")
        return tuple(out)
    if where == "rmqueue":
        if order > 1:
            out.append(f"WARNING: mm/page_alloc.c: rmqueue: __GFP_NOFAIL with order {order} > 1 "
                       f"(WARN_ON_ONCE((gfp_flags & __GFP_NOFAIL) && (order > 1)))")
        return tuple(out)
    if where == "slowpath" or gfp & GFP_NOWARN_BIT:
        return ()
    if not reclaim:
        return ("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL without "
                "__GFP_DIRECT_RECLAIM (WARN_ON_ONCE_GFP(!can_direct_reclaim, gfp_mask))",)
    if pf_memalloc:
        out.append("WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL in a "
                   "PF_MEMALLOC task (WARN_ON_ONCE_GFP(current->flags & PF_MEMALLOC, gfp_mask))")
    if order > PAGE_ALLOC_COSTLY_ORDER:
        out.append(f"WARNING: mm/page_alloc.c: __alloc_pages_slowpath: __GFP_NOFAIL with "
                   f"costly order {order} > {PAGE_ALLOC_COSTLY_ORDER} "
                   f"(WARN_ON_ONCE_GFP(costly_order, gfp_mask))")
    return tuple(out)


def bare_walk_warnings(zonelist: Sequence[ZoneView], gfp: int, order: int,
                       highest_zoneidx: int, passes: Sequence[AllocPass], *,
                       era: str = "6.12") -> tuple[str, ...]:
    """The __GFP_NOFAIL warning lines (:func:`nofail_warnings`) of one walk of the bare
    buddy core's passes over ``zonelist`` (the zones as the request finds them; the walk
    changes nothing until a zone gives a block), in the order the kernel reaches them:
    6.1's ``rmqueue`` line for each zone whose watermark lets the request in, the top of
    the slow path once the first pass (the fast ``get_page_from_freelist``) has found
    nothing, and the ``nopage`` block when no pass finds a block."""
    if not gfp & GFP_NOFAIL_BIT or order > MAX_PAGE_ORDER:
        return ()
    out: list[str] = []
    for i, attempt in enumerate(passes):
        if i == 1:
            out.extend(nofail_warnings(gfp, order, "slowpath", era=era))
        for zone in zonelist:
            if zone_allows(zone, order, attempt.alloc_flags, highest_zoneidx):
                out.extend(nofail_warnings(gfp, order, "rmqueue", era=era))
                if has_block(zone, order):
                    return tuple(out)
    if len(passes) == 1:
        out.extend(nofail_warnings(gfp, order, "slowpath", era=era))
    out.extend(nofail_warnings(gfp, order, "nopage", era=era))
    return tuple(out)


class ZoneView(NamedTuple):
    """What the allocation path reads of a zone: its index, NR_FREE_PAGES, nr_free per
    order, ``_watermark[]`` (+ boost) and ``lowmem_reserve[]``. Immutable; a named tuple
    rather than a frozen dataclass because the model makes one per zone tried on every
    allocation (2.0 us to build as a frozen dataclass, 0.4 us as a named tuple)."""

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


class BareZone(Protocol):
    """What :func:`bare_zone_view` reads of a machine's zone."""

    @property
    def zone_idx(self) -> int: ...
    @property
    def free_pages(self) -> int: ...
    @property
    def watermark(self) -> tuple[int, ...]: ...
    @property
    def lowmem_reserve(self) -> tuple[int, ...]: ...
    @property
    def watermark_boost(self) -> int: ...
    def nr_free(self) -> tuple[int, ...]: ...


class PathZone(BareZone, Protocol):
    """What :func:`path_zone_view` reads besides: the highatomic counters and the
    non-empty free lists and pcp lists."""

    @property
    def nr_reserved_highatomic(self) -> int: ...
    @property
    def nr_free_highatomic(self) -> int: ...
    def lists_mask(self) -> tuple[int, ...]: ...
    def pcp_mask(self, cpu: int) -> int: ...


def bare_zone_view(zone: BareZone) -> ZoneView:
    """The :class:`ZoneView` of a bare buddy zone (one migratetype, no pcp lists)."""
    return ZoneView(zone.zone_idx, zone.free_pages, zone.nr_free(), zone.watermark,
                    zone.lowmem_reserve, zone.watermark_boost)


def path_zone_view(zone: PathZone, era: str | None, cpu: int) -> ZoneView:
    """The :class:`ZoneView` of a whole-path zone as ``cpu`` sees it. What
    ``__zone_watermark_unusable_free`` subtracts for the highatomic reserve depends on the
    kernel: 6.10+ ``nr_free_highatomic``, 6.1 the whole ``nr_reserved_highatomic``
    (6.1.192 mm/page_alloc.c:4012-4013)."""
    highatomic = zone.nr_reserved_highatomic if era == "6.1" else zone.nr_free_highatomic
    return ZoneView(zone.zone_idx, zone.free_pages, zone.nr_free(), zone.watermark,
                    zone.lowmem_reserve, zone.watermark_boost, highatomic, zone.lists_mask(),
                    zone.pcp_mask(cpu))


def zone_allows(zone: ZoneView, order: int, alloc_flags: int, highest_zoneidx: int, *,
                boost_retry: bool = True, atomic_gfp: bool | None = None) -> bool:
    """``get_page_from_freelist``'s per-zone test: ALLOC_NO_WATERMARKS skips it; otherwise
    ``zone_watermark_fast`` (mm/page_alloc.c, 6.12 lines 3286-3331) against
    ``wmark_pages(zone, alloc_flags & ALLOC_WMARK_MASK)`` = ``_watermark[i] + boost``.

    When that fails, an order-0 request with ALLOC_MIN_RESERVE checked against the MIN
    watermark while a boost is set tries once more against the unboosted
    ``_watermark[WMARK_MIN]`` (lines 3324-3329: "Ignore watermark boosting for
    __GFP_HIGH order-0 allocations"). ``boost_retry=False`` leaves that retry out
    (kernels before it, or the 5.x-6.2 form keyed on __GFP_ATOMIC, which has no modern
    bit). The order-0 shortcut of lines 3301-3312 compares against the undiscounted mark
    and ``usable_free -= min(usable_free, nr_free_highatomic)`` never goes below what
    ``__zone_watermark_ok`` subtracts, so it never passes where that fails. With
    migratetypes the view carries ``nr_free_highatomic`` and the non-empty lists per
    order (``free_lists``), which ``__zone_watermark_ok`` uses.
    A zone that passes its HIGH mark passes any lower one, so checking HIGH first
    (ZONE_BELOW_HIGH) changes no choice.

    ``atomic_gfp`` (not None): the 5.9-6.2 form of the retry, as 6.1.192's
    ``zone_watermark_fast`` has it (mm/page_alloc.c:4148-4153): keyed on the mask's
    __GFP_ATOMIC (``atomic_gfp``) instead of ALLOC_MIN_RESERVE."""
    if alloc_flags & ALLOC_NO_WATERMARKS:
        return True
    wmark = alloc_flags & ALLOC_WMARK_MASK
    reserve = zone.lowmem_reserve[highest_zoneidx]
    if zone_watermark_ok(free_pages=zone.free_pages, order=order,
                         mark=zone.watermark[wmark] + zone.boost, lowmem_reserve=reserve,
                         alloc_flags=alloc_flags, nr_free=zone.nr_free,
                         nr_free_highatomic=zone.nr_free_highatomic,
                         free_lists=zone.free_lists):
        return True
    keyed = (bool(alloc_flags & ALLOC_MIN_RESERVE) if atomic_gfp is None else atomic_gfp)
    if boost_retry and order == 0 and keyed and zone.boost and wmark == WMARK_MIN:
        return zone_watermark_ok(free_pages=zone.free_pages, order=order,
                                 mark=zone.watermark[WMARK_MIN], lowmem_reserve=reserve,
                                 alloc_flags=alloc_flags, nr_free=zone.nr_free,
                                 nr_free_highatomic=zone.nr_free_highatomic,
                                 free_lists=zone.free_lists)
    return False


def has_block(zone: ZoneView, order: int, migratetype: int | None = None,
              alloc_flags: int = 0) -> bool:
    """``rmqueue`` can succeed: some free block of order >= ``order``.

    With migratetypes (``zone.free_lists`` and ``migratetype`` given): a block on a list
    that ``rmqueue_buddy`` may use (:func:`kmem.spec.migrate.usable_types`), or a block
    on this CPU's pcp list for (migratetype, order) (``zone.pcp_lists``)."""
    if zone.free_lists is None or migratetype is None:
        return any(zone.nr_free[o] for o in range(order, len(zone.nr_free)))
    if (pcp_allowed_order(order) and migratetype < MIGRATE_PCPTYPES
            and zone.pcp_lists >> order_to_pindex(migratetype, order) & 1):
        return True
    usable = usable_types(migratetype, bool(alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)),
                          bool(alloc_flags & ALLOC_NON_BLOCK), bool(alloc_flags & ALLOC_CMA))
    mask = sum(1 << mt for mt in usable)
    return any(zone.free_lists[o] & mask for o in range(order, len(zone.free_lists)))


def choose_zone(zonelist: Sequence[ZoneView], order: int, alloc_flags: int,
                highest_zoneidx: int, migratetype: int | None = None, *,
                atomic_gfp: bool | None = None) -> int | None:
    """The position in ``zonelist`` where a pass succeeds: the first zone that passes
    its watermark check (``atomic_gfp`` as :func:`zone_allows` takes it) and has a block;
    None if the pass fails."""
    for pos, zone in enumerate(zonelist):
        if (zone_allows(zone, order, alloc_flags, highest_zoneidx, atomic_gfp=atomic_gfp)
                and has_block(zone, order, migratetype, alloc_flags)):
            return pos
    return None


def allocation_failure_legal(zonelist: Sequence[ZoneView], gfp: int, order: int,
                             highest_zoneidx: int, *, atomic_gfp: bool | None = None,
                             **context: bool) -> bool:
    """Availability: an allocation may return NULL only if order > MAX_PAGE_ORDER, or no
    pass finds an allowed zone with a suitable block that passes its watermark (with
    migratetypes: a block its migratetype may use, or one on its pcp list) and the
    request is not a __GFP_NOFAIL one that may reclaim (:func:`nofail_never_fails`: the
    kernel loops instead of failing; kmem raises
    :class:`~kmem.spec.errors.AllocationLivelock`). ``atomic_gfp`` (not None): the
    watermark's boost retry keyed on the mask's __GFP_ATOMIC, as 6.1.192's
    ``zone_watermark_fast`` has it (mm/page_alloc.c:4148-4153; :func:`zone_allows`)."""
    if order > MAX_PAGE_ORDER:
        return True
    if nofail_never_fails(gfp):
        return False
    mt = _gfp.gfp_migratetype(gfp) if any(z.free_lists is not None for z in zonelist) else None
    return all(choose_zone(zonelist, order, p.alloc_flags, highest_zoneidx, mt,
                           atomic_gfp=atomic_gfp) is None
               for p in alloc_passes(gfp, order, **context))


# ---------------------------------------------------------------------------
# warn_alloc's rate limit (lib/ratelimit.c ___ratelimit) and silence rules
# ---------------------------------------------------------------------------

#: ``static DEFINE_RATELIMIT_STATE(nopage_rs, 10*HZ, 1)`` in warn_alloc (6.12 line 3613):
#: one report per 10 s (not the DEFAULT_RATELIMIT_INTERVAL 5 s / DEFAULT_RATELIMIT_BURST 10
#: of include/linux/ratelimit_types.h)
WARN_ALLOC_RATELIMIT_INTERVAL_S = 10.0
WARN_ALLOC_RATELIMIT_BURST = 1


@dataclass(frozen=True)
class RatelimitState:
    """``struct ratelimit_state``: interval (seconds), burst, and the window's begin,
    printed and missed counts (``begin`` None: not started, the kernel's ``begin == 0``)."""

    interval: float = WARN_ALLOC_RATELIMIT_INTERVAL_S
    burst: int = WARN_ALLOC_RATELIMIT_BURST
    begin: float | None = None
    printed: int = 0
    missed: int = 0


def ratelimit(state: RatelimitState, now: float,
              func: str = "warn_alloc") -> tuple[bool, RatelimitState, str | None]:
    """``___ratelimit(rs, func)`` (lib/ratelimit.c, 6.12): may this call print?

    Returns (allowed, the new state, the ``"%s: %d callbacks suppressed"`` line printed
    when a window with misses has expired, or None). A zero interval always allows.
    """
    if not state.interval:
        return True, state, None
    begin, printed, missed, note = state.begin, state.printed, state.missed, None
    if begin is None:
        begin = now
    if begin + state.interval < now:  # time_is_before_jiffies(rs->begin + rs->interval)
        if missed:
            note = f"{func}: {missed} callbacks suppressed"
            missed = 0
        begin, printed = now, 0
    if state.burst and state.burst > printed:
        return True, RatelimitState(state.interval, state.burst, begin, printed + 1, missed), note
    return False, RatelimitState(state.interval, state.burst, begin, printed, missed + 1), note


def warn_alloc_decision(gfp: int, state: RatelimitState, now: float, *,
                        has_managed_dma: bool) -> tuple[bool, RatelimitState, str | None]:
    """``warn_alloc`` (6.12 lines 3608-3620): ``(gfp & __GFP_NOWARN) || !__ratelimit(&nopage_rs)
    || ((gfp & __GFP_DMA) && !has_managed_dma())`` means silence. The rate limit is
    consulted (and consumed) before the DMA test; __GFP_NOWARN never touches it.
    ``has_managed_dma``: some ZONE_DMA has managed pages (false without CONFIG_ZONE_DMA).
    Returns (print the report, new rate-limit state, "callbacks suppressed" line or None)."""
    if gfp & GFP_NOWARN_BIT:
        return False, state, None
    allowed, state, note = ratelimit(state, now)
    if not allowed:
        return False, state, note
    if gfp & GFP_DMA_BIT and not has_managed_dma:
        return False, state, note
    return True, state, note


def get_free_pages_gfp(gfp: int) -> int:
    """``__get_free_pages`` (6.x): ``alloc_pages(gfp_mask & ~__GFP_HIGHMEM, order)``: the
    highmem bit is silently stripped (2.6.2x-4.x had ``VM_BUG_ON`` here instead)."""
    return gfp & ~GFP_HIGHMEM_BIT


def warn_alloc_lines(comm: str, order: int, gfp: int, *, kernel: str | Kernel | None = None,
                     nodemask: str = "(null)", cpuset: str = "/",
                     mems_allowed: str = "0") -> tuple[str, ...]:
    """The ``page allocation failure`` report's first line(s) for kernel version ``kernel``
    (default: the newest), with ``gfp`` in that version's numbering and printed with
    its flag table (:func:`kmem.spec.gfp.format_gfp_printk`):

    * 5.x and later (``warn_alloc``, 6.12.117 mm/page_alloc.c:3622-3627 and
      kernel/cgroup/cpuset.c ``cpuset_print_current_mems_allowed``):
      ``%s: page allocation failure: order:%u, mode:%#x(%pGg), nodemask=%*pbl`` then
      ``,cpuset=%s,mems_allowed=%*pbl`` on the same line;
    * 4.10-4.20: the same first line, the cpuset on a line of its own
      (``%s cpuset=%s mems_allowed=%*pbl``; seen in a 4.12 log);
    * 4.5-4.9 (``warn_alloc_failed`` with %pGg): ``...order:%u, mode:%#x(%pGg)``;
    * 3.0-4.4: ``%s: page allocation failure: order:%d, mode:0x%x``;
    * 2.6: ``%s: page allocation failure. order:%d, mode:0x%x``.

    ``nodemask`` (``(null)`` without a NUMA policy), ``cpuset`` and ``mems_allowed`` are
    what the kernel knows about the task; kmem takes them as arguments. The kernel's
    ``%#x`` prints 0 as ``0x0`` (lib/vsprintf.c), and %pGg of 0 prints nothing.
    """
    rules = kernel_rules(kernel)
    fmt = rules.warn_alloc_format
    if fmt == "2.6":
        return (f"{comm}: page allocation failure. order:{order}, mode:{gfp:#x}",)
    if fmt == "3.0":
        return (f"{comm}: page allocation failure: order:{order}, mode:{gfp:#x}",)
    line = (f"{comm}: page allocation failure: order:{order}, mode:{gfp:#x}"
            f"({_gfp.format_gfp_printk(gfp, kernel=rules)})")
    if fmt == "4.5":
        return (line,)
    line += f", nodemask={nodemask}"
    if fmt == "4.10":
        return (line, f"{comm} cpuset={cpuset} mems_allowed={mems_allowed}")
    return (line + f",cpuset={cpuset},mems_allowed={mems_allowed}",)


def warn_alloc_line(comm: str, order: int, gfp: int, *,
                    kernel: str | Kernel | None = None) -> str:
    """The report of :func:`warn_alloc_lines` as one text (lines joined by newlines); for
    the newest kernel: ``"%s: page allocation failure: order:%u, mode:%#x(%pGg),
    nodemask=(null),cpuset=/,mems_allowed=0"`` (no NUMA nodemask; the root cpuset)."""
    return "\n".join(warn_alloc_lines(comm, order, gfp, kernel=kernel))


def warn_alloc(gfp: int, order: int, state: RatelimitState, now: float, *,
               has_managed_dma: bool, comm: str,
               kernel: str | Kernel | None = None) -> tuple[RatelimitState, tuple[str, ...]]:
    """What ``warn_alloc`` prints for a failed (gfp, order) at model time ``now``
    (:func:`warn_alloc_decision`: the "callbacks suppressed" note, then the report of
    :func:`warn_alloc_line` unless silenced), and the new rate-limit state."""
    show, state, note = warn_alloc_decision(gfp, state, now, has_managed_dma=has_managed_dma)
    lines: tuple[str, ...] = () if note is None else (note,)
    if show:
        lines += (warn_alloc_line(comm, order, gfp, kernel=kernel),)
    return state, lines


def order_warning_line(order: int) -> str:
    """A summary of the ``WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)`` report of
    ``__alloc_pages``. The kernel's own first line, ``WARNING: CPU: N PID: N at
    mm/page_alloc.c:LINE __alloc_pages_noprof+0x.../0x...``, carries a CPU, a PID and
    a source line that a model does not have, so kmem names the condition instead."""
    return (f"WARNING: mm/page_alloc.c: __alloc_pages_noprof: order {order} > "
            f"MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")


_WARN_ALLOC_RE = re.compile(
    r"^(?P<comm>.*?): page allocation failure(?P<sep>[.:]) order:(?P<order>\d+), "
    r"mode:(?P<mode>0x[0-9a-f]+)(?:\((?P<names>[^)]*)\))?(?P<tail>, nodemask=.*)?$")


@dataclass(frozen=True)
class WarnAllocReport:
    """A parsed ``page allocation failure`` line and the kernel versions that print it."""

    comm: str
    order: int
    mode: int
    names: str | None
    kernels: tuple[str, ...]


def parse_warn_alloc_line(line: str) -> WarnAllocReport:
    """Read a ``page allocation failure`` line of any version (:func:`warn_alloc_lines`) and
    say which releases print it: the ``. order:`` form is 2.6; a numeric ``mode:0x..``
    alone is 3.0-4.4; ``mode:0x..(names)`` is 4.5-4.9 without ``, nodemask=`` and 4.10
    onwards with it, narrowed to the releases whose flag table prints exactly those
    names (:func:`kmem.spec.gfp.gfp_mode_kernels`)."""
    if not isinstance(line, str):
        raise InvalidArgument(f"expected a str line, got {type(line).__name__}")
    m = _WARN_ALLOC_RE.match(line.strip())
    if m is None:
        raise InvalidArgument(f"not a 'page allocation failure' line: {line!r}")
    mode = int(m.group("mode"), 16)
    names, tail = m.group("names"), m.group("tail")
    if m.group("sep") == ".":
        if names is not None or tail:
            raise InvalidArgument(f"{line!r}: the 2.6 form '. order:' never named the flags")
        kernels: tuple[str, ...] = ("2.6.0-2.6.39",)
    elif names is None:
        if tail:
            raise InvalidArgument(f"{line!r}: ', nodemask=' (4.10+) without the flag names")
        kernels = ("3.0-4.4",)
    else:
        ranges = _gfp.gfp_mode_kernels(mode, names)
        if not ranges:
            raise InvalidArgument(f"{line!r}: no kernel kmem knows prints {mode:#x} as "
                                  f"({names})")
        kernels = tuple(_clip_range(r, "4.10" if tail else "4.5", None if tail else "4.9")
                        for r in ranges)
        kernels = tuple(k for k in kernels if k)
        if not kernels:
            raise InvalidArgument(f"{line!r}: the flag table and the nodemask field belong to "
                                  f"different kernels")
    return WarnAllocReport(m.group("comm"), int(m.group("order")), mode, names, kernels)


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _clip_range(rng: str, low: str | None, high: str | None) -> str:
    """Intersect a "a-b" / "a onwards" release range with [low, high]; "" if empty."""
    if rng.endswith(" onwards"):
        a, b = rng.removesuffix(" onwards"), None
    else:
        a, b = rng.split("-")
    if low is not None and _release(a) < _release(low):
        a = low
    if high is not None and (b is None or _release(b) > _release(high)):
        b = high
    if b is not None and _release(a) > _release(b):
        return ""
    return f"{a} onwards" if b is None else (a if a == b else f"{a}-{b}")
