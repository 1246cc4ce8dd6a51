"""Migratetypes, pageblocks and fallback between free lists.

Follows include/linux/mmzone.h (``enum migratetype``, ``migratetype_is_mergeable``),
include/linux/pageblock-flags.h (``pageblock_order``) and mm/page_alloc.c
(``fallbacks[]``, ``can_steal_fallback``, ``find_suitable_fallback``,
``try_to_steal_block``, ``__rmqueue_claim``, ``__rmqueue_steal``, ``__free_one_page``'s
merge restriction, ``reserve_highatomic_pageblock``) of Linux 6.12 as shipped by
Debian (linux-source-6.12, 6.12.117; its ``__rmqueue`` has the claim/steal split).

Every free block sits on ``free_area[order].free_list[mt]`` where ``mt`` is the type
of its pageblock(s) (6.10+ keeps the two in step and warns otherwise). A request
first takes the smallest block of its own type (``__rmqueue_smallest``); failing
that it *claims* a whole pageblock of a fallback type (largest order first), and
only then *steals* a single block without changing any pageblock's type. Buddies
of order >= ``pageblock_order`` merge across pageblocks only when both types are
mergeable (UNMOVABLE, MOVABLE, RECLAIMABLE) or equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .alloc_flags import ALLOC_CMA as _ALLOC_CMA
from .alloc_flags import ALLOC_HIGHATOMIC as _ALLOC_HIGHATOMIC
from .alloc_flags import ALLOC_NON_BLOCK as _ALLOC_NON_BLOCK
from .alloc_flags import ALLOC_OOM as _ALLOC_OOM
from .constants import MAX_PAGE_ORDER
from .errors import InvalidArgument
from .gfp import MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE

__all__ = [
    "MIGRATE_UNMOVABLE", "MIGRATE_MOVABLE", "MIGRATE_RECLAIMABLE", "MIGRATE_PCPTYPES",
    "MIGRATE_HIGHATOMIC", "MIGRATE_CMA", "MIGRATE_ISOLATE", "MIGRATE_TYPES",
    "MIGRATETYPE_NAMES", "PAGEBLOCK_ORDER", "FALLBACKS",
]

MIGRATE_PCPTYPES = 3  # the types kept on per-CPU lists
MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES  # 3: the high-order atomic reserve
# CONFIG_CMA: Debian's amd64 kernels leave it unset (Kernel.debian_config.cma); kmem keeps
# the index and the (always empty) lists either way and leaves CMA out of what it prints
# for such a kernel (pagetypeinfo's row and column, ALLOC_CMA)
MIGRATE_CMA = 4
MIGRATE_ISOLATE = 5  # CONFIG_MEMORY_ISOLATION (Debian: y)
MIGRATE_TYPES = 6

#: ``migratetype_names[]`` (mm/page_alloc.c): /proc/pagetypeinfo's column names.
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")

#: ``pageblock_order`` on x86-64 (``HUGETLB_PAGE_ORDER`` = 21 - 12; 2 MiB pageblocks).
#: x86-32 without PAE has 4 MiB huge pages, so its pageblock_order is MAX_PAGE_ORDER.
PAGEBLOCK_ORDER = 9

#: ``fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1]`` (mm/page_alloc.c): the types
#: a request falls back to, in order. HIGHATOMIC, CMA and ISOLATE have none.
FALLBACKS: dict[int, tuple[int, int]] = {
    MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    MIGRATE_MOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
    MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
}


def check_migratetype(mt: object) -> int:
    """A migratetype index 0..MIGRATE_TYPES-1, else InvalidArgument."""
    if isinstance(mt, bool) or not isinstance(mt, int) or not 0 <= mt < MIGRATE_TYPES:
        raise InvalidArgument(f"migratetype must be an int in 0..{MIGRATE_TYPES - 1}, got {mt!r}")
    return mt


def check_pageblock_order(pageblock_order: object) -> int:
    """``pageblock_order`` must lie in 0..MAX_PAGE_ORDER (``MIN_T(..., MAX_PAGE_ORDER)``)."""
    if (isinstance(pageblock_order, bool) or not isinstance(pageblock_order, int)
            or not 0 <= pageblock_order <= MAX_PAGE_ORDER):
        raise InvalidArgument(f"pageblock_order must be an int in 0..{MAX_PAGE_ORDER}, "
                              f"got {pageblock_order!r}")
    return pageblock_order


def migratetype_is_mergeable(mt: int) -> bool:
    """``migratetype_is_mergeable`` (include/linux/mmzone.h): ``mt < MIGRATE_PCPTYPES``."""
    return mt < MIGRATE_PCPTYPES


def fallbacks(mt: int) -> tuple[int, ...]:
    """The row of ``fallbacks[]`` for ``mt`` (empty for HIGHATOMIC, CMA, ISOLATE: the
    kernel's ``__rmqueue`` never asks for those)."""
    return FALLBACKS.get(check_migratetype(mt), ())


def may_merge(order: int, mt: int, buddy_mt: int, pageblock_order: int) -> bool:
    """``__free_one_page``'s merge restriction (mm/page_alloc.c, 5.18+): below
    ``pageblock_order`` buddies always merge (they share a pageblock); at or above it,
    a buddy of another type merges only when both types are mergeable."""
    if order < pageblock_order or mt == buddy_mt:
        return True
    return migratetype_is_mergeable(mt) and migratetype_is_mergeable(buddy_mt)


def can_steal_fallback(order: int, start_mt: int, pageblock_order: int,
                       mobility_disabled: bool = False) -> bool:
    """``can_steal_fallback(order, start_mt)`` (mm/page_alloc.c): may a fallback at this
    ``order`` claim the whole pageblock? Yes from pageblock_order up, from half a
    pageblock up, for UNMOVABLE and RECLAIMABLE requests always, and when grouping by
    mobility is disabled."""
    if order >= pageblock_order:
        return True
    return (order >= pageblock_order // 2 or start_mt in (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE)
            or mobility_disabled)


def find_suitable_fallback(nr_free: int, list_nonempty: Callable[[int], bool], order: int,
                           migratetype: int, pageblock_order: int,
                           only_stealable: bool = False) -> tuple[int | None, bool]:
    """``find_suitable_fallback(area, order, migratetype, only_stealable, &can_steal)``.

    ``nr_free`` is ``area->nr_free`` and ``list_nonempty(mt)`` says whether
    ``area->free_list[mt]`` has a block. Returns (fallback type or None, can_steal).
    An empty area returns (None, False) before ``can_steal`` is even computed.
    """
    if nr_free == 0:
        return None, False
    can_steal = False
    for fallback_mt in fallbacks(migratetype):
        if not list_nonempty(fallback_mt):
            continue
        if can_steal_fallback(order, migratetype, pageblock_order):
            can_steal = True
        if not only_stealable or can_steal:
            return fallback_mt, can_steal
    return None, can_steal


def claim_min_order(order: int, alloc_flags_nofragment: bool, pageblock_order: int) -> int:
    """``__rmqueue_claim``'s lowest order searched: with ALLOC_NOFRAGMENT a request below
    pageblock_order may only claim whole pageblocks."""
    if order < pageblock_order and alloc_flags_nofragment:
        return pageblock_order
    return order


def claim_whole_block(free_pages: int, movable_pages: int, start_type: int, block_type: int,
                      pageblock_order: int, mobility_disabled: bool = False) -> bool:
    """``try_to_steal_block``'s test below pageblock_order: claim the pageblock when its
    free pages plus the pages "alike" to the request fill at least half of it.

    Alike pages: for a MOVABLE request the movable (LRU / __PageMovable) pages; for
    UNMOVABLE or RECLAIMABLE falling back to a MOVABLE block, every page that is neither
    free nor movable; between UNMOVABLE and RECLAIMABLE none (can't tell them apart).
    """
    nr = 1 << pageblock_order
    if start_type == MIGRATE_MOVABLE:
        alike = movable_pages
    elif block_type == MIGRATE_MOVABLE:
        alike = nr - (free_pages + movable_pages)
    else:
        alike = 0
    return free_pages + alike >= (1 << (pageblock_order - 1)) or mobility_disabled


def pageblock_nr_pages(pageblock_order: int) -> int:
    """``pageblock_nr_pages``: ``1 << pageblock_order``."""
    return 1 << pageblock_order


def pageblock_start_pfn(pfn: int, pageblock_order: int) -> int:
    """``pageblock_start_pfn(pfn)``: round down to the pageblock."""
    return pfn - pfn % (1 << pageblock_order)


def pageblocks_of(pfn: int, order: int, pageblock_order: int) -> range:
    """Indices (``pfn >> pageblock_order``) of the pageblocks a block overlaps."""
    first = pfn >> pageblock_order
    last = (pfn + (1 << order) - 1) >> pageblock_order
    return range(first, last + 1)


def highatomic_max_managed(managed_pages: int, pageblock_order: int) -> int:
    """``reserve_highatomic_pageblock``'s cap: ``ALIGN(managed / 100, pageblock_nr_pages)``,
    or 0 when 1 % of the zone is less than one pageblock (then nothing is reserved)."""
    nr = 1 << pageblock_order
    pct = managed_pages // 100
    if pct < nr:
        return 0
    return -(-pct // nr) * nr


def highatomic_reserve_bound(managed_pages: int, pageblock_order: int) -> int:
    """The most ``nr_reserved_highatomic`` can reach: a reservation is made only while
    below the cap, and adds one pageblock (or ``1 << order`` pages for an allocation of
    order >= pageblock_order, at most MAX_PAGE_ORDER)."""
    cap = highatomic_max_managed(managed_pages, pageblock_order)
    if cap == 0:
        return 0
    step = max(1 << pageblock_order, 1 << MAX_PAGE_ORDER)
    return cap - (1 << pageblock_order) + step


def highatomic_unreserve_size(order: int, pageblock_order: int, nr_reserved: int) -> int:
    """``unreserve_highatomic_pageblock``: ``min(max(pageblock_nr_pages, 1 << order),
    nr_reserved_highatomic)`` pages leave the reserve."""
    return min(max(1 << pageblock_order, 1 << order), nr_reserved)


def pcp_migratetype(block_mt: int) -> int | None:
    """``free_unref_page``: the pcp list a freed page goes to by its pageblock's type.
    ISOLATE bypasses the pcp lists (None: straight to the buddy); HIGHATOMIC and CMA
    are kept as MOVABLE."""
    if block_mt < MIGRATE_PCPTYPES:
        return block_mt
    if block_mt == MIGRATE_ISOLATE:
        return None
    return MIGRATE_MOVABLE


def boosted_watermark(boost: int, high_wmark: int, managed_pages: int, pageblock_order: int,
                      boost_factor: int = 15000) -> int | None:
    """``boost_watermark`` (mm/page_alloc.c): the new ``watermark_boost`` after a fallback
    below pageblock_order, or None when the zone is not boosted (factor 0, a zone under
    four pageblocks, or a zero HIGH watermark). ``vm.watermark_boost_factor`` defaults
    to 15000: up to 150 % of the HIGH watermark, at least one pageblock."""
    nr = 1 << pageblock_order
    if not boost_factor or nr * 4 > managed_pages:
        return None
    max_boost = high_wmark * boost_factor // 10000
    if not max_boost:
        return None
    max_boost = max(nr, max_boost)
    return min(boost + nr, max_boost)


def usable_types(migratetype: int, alloc_flags_highatomic_or_oom: bool,
                 alloc_flags_highatomic_fallback: bool, alloc_flags_cma: bool) -> frozenset[int]:
    """The free lists ``rmqueue_buddy`` may take a block from for a request of
    ``migratetype`` without ALLOC_NOFRAGMENT: its own, its ``fallbacks[]`` (steal),
    CMA with ALLOC_CMA, and HIGHATOMIC with ALLOC_HIGHATOMIC (first) or, after
    ``__rmqueue`` failed, with ALLOC_OOM or ALLOC_NON_BLOCK."""
    out = {migratetype, *fallbacks(migratetype)}
    if alloc_flags_cma:
        out.add(MIGRATE_CMA)
    if alloc_flags_highatomic_or_oom or alloc_flags_highatomic_fallback:
        out.add(MIGRATE_HIGHATOMIC)
    return frozenset(out)


def legal_rmqueue_blocks(free_blocks: Mapping[int, tuple[int, int]], order: int,
                         migratetype: int, alloc_flags: int) -> set[int] | None:
    """The pfns ``rmqueue_buddy`` may return in one zone, from its free blocks before the
    call (``free_blocks``: head pfn -> (order, list type)), for a request of ``order``
    and ``migratetype`` with ``alloc_flags``; None when it must fail.

    1. With ALLOC_HIGHATOMIC, a HIGHATOMIC block of the smallest order >= ``order``
       (``__rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)``).
    2. A block of the request's own type at the smallest such order.
    3. Else (claim or steal) any aligned part of a block of a ``fallbacks[]`` type (or CMA
       with ALLOC_CMA) of order >= ``order``; with ALLOC_NOFRAGMENT below
       pageblock_order only ``get_page_from_freelist``'s retry without it can steal,
       so the same set is legal.
    4. Else with ALLOC_OOM or ALLOC_NON_BLOCK, the HIGHATOMIC rule of step 1.
    The kernel's list heads are the policy's business; this is the weak rule.
    """
    def smallest(types: Iterable[int]) -> set[int] | None:
        wanted = set(types)
        best = None
        for _, (o, mt) in free_blocks.items():
            if mt in wanted and o >= order and (best is None or o < best):
                best = o
        if best is None:
            return None
        return {p for p, (o, mt) in free_blocks.items() if mt in wanted and o == best}

    if alloc_flags & _ALLOC_HIGHATOMIC:
        got = smallest((MIGRATE_HIGHATOMIC,))
        if got:
            return got
    got = smallest((migratetype,))
    if got:
        return got
    fb = set(fallbacks(migratetype)) | ({MIGRATE_CMA} if alloc_flags & _ALLOC_CMA else set())
    parts: set[int] = set()
    for p, (o, mt) in free_blocks.items():
        if mt in fb and o >= order:
            parts.update(range(p, p + (1 << o), 1 << order))
    if parts:
        return parts
    if alloc_flags & (_ALLOC_OOM | _ALLOC_NON_BLOCK):
        return smallest((MIGRATE_HIGHATOMIC,))
    return None


# -- Linux 6.1 (Debian 6.1.192) ---------------------------------------------------------------

def highatomic_max_managed_61(managed_pages: int, pageblock_order: int) -> int:
    """6.1's ``reserve_highatomic_pageblock`` cap: ``zone_managed_pages(zone) / 100 +
    pageblock_nr_pages`` (mm/page_alloc.c of 6.1.192, 2918); a reservation is made while
    ``nr_reserved_highatomic`` is below it, one pageblock at a time."""
    return managed_pages // 100 + (1 << pageblock_order)


def highatomic_unreserve_size_61(pageblock_order: int, nr_reserved: int) -> int:
    """6.1's ``unreserve_highatomic_pageblock``: ``min(pageblock_nr_pages,
    nr_reserved_highatomic)`` pages leave the reserve, whatever the block's order."""
    return min(1 << pageblock_order, nr_reserved)


def rmqueue_fallback_61(order: int, start_mt: int, nofragment: bool, pageblock_order: int,
                        find: Callable[[int], tuple[int | None, bool]]
                        ) -> tuple[int, int, bool] | None:
    """6.1's ``__rmqueue_fallback`` search (mm/page_alloc.c of 6.1.192, 3033-3083):
    (current_order, fallback type, can_steal) of the block to steal, or None.

    ``find(order)`` is ``find_suitable_fallback`` at that order (a pure question about
    the free lists); which order is taken is :func:`rmqueue_fallback_61_pick`'s rule."""
    found = stealable = 0
    types: dict[int, int] = {}
    for current in range(order, MAX_PAGE_ORDER + 1):
        fallback_mt, can_steal = find(current)
        if fallback_mt is not None:
            found |= 1 << current
            types[current] = fallback_mt
        if can_steal:
            stealable |= 1 << current
    current, can_steal = rmqueue_fallback_61_pick(order, start_mt, nofragment, pageblock_order,
                                                  found, stealable)
    if current < 0:
        return None  # VM_BUG_ON(current_order == MAX_ORDER): not reached
    return current, types[current], can_steal


def rmqueue_fallback_61_pick(order: int, start_mt: int, nofragment: bool, pageblock_order: int,
                             found: int, stealable: int) -> tuple[int, bool]:
    """The order 6.1's ``__rmqueue_fallback`` (mm/page_alloc.c of 6.1.192, 3033-3083)
    steals from, and its can_steal: (order, can_steal), or (-1, False) when none.

    Bit ``o`` of ``found`` says ``find_suitable_fallback`` finds a fallback type at order
    ``o`` (for every ``o`` >= ``order``), bit ``o`` of ``stealable`` its can_steal. From
    MAX_ORDER down to ``order`` (pageblock_order with ALLOC_NOFRAGMENT below it, 3048-3049)
    the first order with a fallback (3056-3076); a MOVABLE request that may not steal the
    whole block there (and ``current_order > order``, 3072-3074) searches again from
    ``order`` up (``find_smallest``, 3081-3089) instead."""
    min_order = claim_min_order(order, nofragment, pageblock_order)
    current = MAX_PAGE_ORDER
    while current >= min_order:
        if (found >> current) & 1:
            steal = ((stealable >> current) & 1) == 1
            if steal or start_mt != MIGRATE_MOVABLE or current <= order:
                return current, steal
            for smallest in range(order, MAX_PAGE_ORDER + 1):  # find_smallest
                if (found >> smallest) & 1:
                    return smallest, ((stealable >> smallest) & 1) == 1
            return -1, False
        current -= 1
    return -1, False
