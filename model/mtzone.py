"""A zone with migratetypes, pageblocks, per-CPU lists and the highatomic reserve.

:class:`MtZone` extends the bare buddy core (:class:`kmem.model.zone.Zone`, which stays
untouched and is what a ``Machine`` uses unless ``migratetypes=True``) with the rest of
mm/page_alloc.c's allocation and freeing path of Linux 6.12 (Debian 6.12.117):
``free_area[order].free_list[mt]``, the pageblock type array, ``__rmqueue`` with its
claim and steal fallbacks, ``__free_one_page``'s merge restriction and
``split_large_buddy``, ``rmqueue_pcplist`` / ``free_unref_page`` with
``free_pcppages_bulk``, and ``reserve_highatomic_pageblock`` /
``unreserve_highatomic_pageblock``. The rules (fallback table, thresholds, batch
arithmetic) come from :mod:`kmem.spec.migrate` and :mod:`kmem.spec.pcp`; this module
keeps the lists and counters. ``kernel="6.1"`` (era ``"6.1"``) follows Debian's 6.1.192
instead: ``__rmqueue_fallback`` / ``steal_suitable_fallback``, the pcp migratetype cache,
a fixed ``pcp->high`` with ``free_factor``, no ``decay_pcp_high`` (see
docs/kernel-versions.md).

The model's stand-in for ``PageLRU || __PageMovable`` (``prep_move_freepages_block``'s
movable count) is "allocated by a MOVABLE request". CMA areas and page isolation are
not modelled: no pageblock is ever CMA or ISOLATE, so those lists stay empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmem.spec import buddy, migrate
from kmem.spec import kernel as kernel_spec
from kmem.spec import pcp as pcp_spec
from kmem.spec.alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
)
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import BadPageState
from kmem.spec.zones import ZoneSpan

from .freelists import KernelList, as_tuples, nonempty_mask
from .zone import Zone

MIGRATE_TYPES = migrate.MIGRATE_TYPES
HIGHATOMIC = migrate.MIGRATE_HIGHATOMIC
ISOLATE = migrate.MIGRATE_ISOLATE
CMA = migrate.MIGRATE_CMA
MOVABLE = migrate.MIGRATE_MOVABLE

# rmqueue_mode (mm/page_alloc.c): where rmqueue_bulk found pages last
RMQUEUE_NORMAL, RMQUEUE_CMA, RMQUEUE_CLAIM, RMQUEUE_STEAL = range(4)

WATERMARK_BOOST_FACTOR = 15000  # vm.watermark_boost_factor default


class MtFreeArea:
    """``struct free_area`` with ``free_list[MIGRATE_TYPES]`` and ``nr_free`` (all types)."""

    __slots__ = ("free_lists", "nr_free")

    def __init__(self) -> None:
        self.free_lists = [KernelList() for _ in range(MIGRATE_TYPES)]
        self.nr_free = 0


class PerCpuPages:
    """``struct per_cpu_pages`` of one CPU for one zone."""

    __slots__ = ("lists", "count", "high", "high_min", "high_max", "batch", "free_count",
                 "alloc_factor", "flags", "free_factor")

    def __init__(self, high_min: int, high_max: int, batch: int) -> None:
        self.lists = [KernelList() for _ in range(pcp_spec.NR_PCP_LISTS)]
        self.count = 0  # pages (not blocks) on all lists
        self.high = 0  # per_cpu_pages_init memsets; clamped to high_min on first use
        self.high_min = high_min
        self.high_max = high_max
        self.batch = batch
        self.free_count = 0
        self.alloc_factor = 0
        self.flags = 0
        self.free_factor = 0  # 6.1 (before the 6.7 auto-tuning)


class MtZone(Zone):
    """A zone whose free lists are split by migratetype, with pageblocks and pcp lists.

    ``block_type`` maps a pageblock index (``pfn >> pageblock_order``) to its type for
    every pageblock that overlaps the zone's span; ``free_mt`` the head pfn of every
    free block to the list it is on; ``pcp_pages`` the head pfn of every block parked
    on some CPU's pcp list to its order.
    """

    def __init__(self, span: ZoneSpan, zone_idx: int, *, policy: str = "linux",
                 pageblock_order: int = migrate.PAGEBLOCK_ORDER, nr_cpus: int = 0,
                 is_memory: Callable[[int], bool] | None = None,
                 kernel: str | kernel_spec.Kernel | None = None, cma: bool = False) -> None:
        super().__init__(span, zone_idx, policy=policy)
        #: whose code this zone follows: "6.12" (Debian 6.12.118) or "6.1" (6.1.192)
        self.era = kernel_spec.kernel(kernel).path_era
        self.cma = cma  # CONFIG_CMA (6.1's rmqueue skips the pcp lists for some requests)
        self.pcp_mt: dict[int, int] = {}  # 6.1: the migratetype cached in a pcp page
        self.pageblock_order = migrate.check_pageblock_order(pageblock_order)
        self.free_area = [MtFreeArea() for _ in range(NR_PAGE_ORDERS)]  # type: ignore[misc]
        self.free_mt: dict[int, int] = {}
        self.nr_free_highatomic = 0
        self.nr_reserved_highatomic = 0
        #: see :attr:`kmem.spec.buddy.ZoneState.highatomic_uncounted`
        self.highatomic_uncounted = False
        self.movable_allocs: set[int] = set()  # head pfns allocated by MOVABLE requests
        self.below_high = False  # ZONE_BELOW_HIGH
        self.movable_idx = -1  # ZONE_MOVABLE's index (set by the machine)
        self.boosted = False  # ZONE_BOOSTED_WATERMARK
        # memmap_init_range: each pageblock-aligned pfn of memory becomes MOVABLE; the
        # pageblock bits of a hole stay 0 (UNMOVABLE)
        is_memory = is_memory or (lambda pfn: self.span.is_present(pfn))
        pbo = self.pageblock_order
        self.block_type: dict[int, int] = {}
        if self.end_pfn > self.start_pfn:
            for pb in range(self.start_pfn >> pbo, ((self.end_pfn - 1) >> pbo) + 1):
                self.block_type[pb] = MOVABLE if is_memory(pb << pbo) else migrate.MIGRATE_UNMOVABLE
        self.nr_cpus = nr_cpus
        self.pcp: list[PerCpuPages] = []
        self.pcp_pages: dict[int, int] = {}

    # -- pageblocks ------------------------------------------------------------------------
    def get_pfnblock_migratetype(self, pfn: int) -> int:
        return self.block_type.get(pfn >> self.pageblock_order, migrate.MIGRATE_UNMOVABLE)

    def change_pageblock_range(self, pfn: int, order: int, mt: int) -> None:
        """``change_pageblock_range`` / ``set_pageblock_migratetype`` over a block."""
        for pb in migrate.pageblocks_of(pfn, order, self.pageblock_order):
            self.block_type[pb] = mt

    # -- per-CPU pagesets ------------------------------------------------------------------
    def setup_pageset(self, nr_split_cpus: int, high_fraction: int = 0) -> None:
        """``zone_set_pageset_high_and_batch`` for every CPU (creating the pagesets)."""
        high_min, high_max, batch = pcp_spec.pageset_high_and_batch(
            low_wmark=self.watermark[1], managed_pages=self.managed_pages,
            nr_split_cpus=max(1, nr_split_cpus), high_fraction=high_fraction)
        if self.era == "6.1":
            # 6.1's zone_set_pageset_high_and_batch: one high (zone_highsize of the LOW
            # watermark or the fraction), set directly; no auto-tuning range
            high_max = high_min
        if not self.pcp:
            self.pcp = [PerCpuPages(high_min, high_max, batch) for _ in range(self.nr_cpus)]
        for p in self.pcp:
            p.high_min, p.high_max, p.batch = high_min, high_max, batch
            if self.era == "6.1":
                p.high = high_min

    # -- free lists ------------------------------------------------------------------------
    def _account(self, nr: int, mt: int) -> None:
        """``account_freepages``: ISOLATE pages are not free pages."""
        if mt == ISOLATE:
            return
        self.free_pages += nr
        if mt == HIGHATOMIC:
            self.nr_free_highatomic += nr

    def _add_mt(self, pfn: int, order: int, mt: int, to_tail: bool) -> None:
        area = self.free_area[order]
        area.free_lists[mt].add(pfn, to_tail)  # type: ignore[attr-defined]
        area.nr_free += 1
        self.free_order[pfn] = order
        self.free_mt[pfn] = mt
        self._account(1 << order, mt)

    def _del_mt(self, pfn: int, order: int) -> int:
        mt = self.free_mt.pop(pfn)
        area = self.free_area[order]
        area.free_lists[mt].remove(pfn)  # type: ignore[attr-defined]
        area.nr_free -= 1
        del self.free_order[pfn]
        self._account(-(1 << order), mt)
        return mt

    def _move_to_free_list(self, pfn: int, order: int, new_mt: int) -> None:
        """``move_to_free_list``: to the tail of the new type's list."""
        self._del_mt(pfn, order)
        self._add_mt(pfn, order, new_mt, to_tail=True)

    def list_nonempty(self, order: int, mt: int) -> bool:
        return len(self.free_area[order].free_lists[mt]) > 0  # type: ignore[attr-defined]

    def free_list_order(self, order: int, mt: int | None = None) -> list[int]:
        """The pfns on ``free_area[order].free_list[mt]`` (all types, in type order, when
        ``mt`` is None), head first."""
        lists = self.free_area[order].free_lists  # type: ignore[attr-defined]
        if mt is not None:
            return list(lists[mt])
        return [pfn for lst in lists for pfn in lst]

    def free_lists(self) -> tuple[tuple[int, ...], ...]:
        """Every ``free_area[order].free_list[mt]``, order-major (index ``order *
        MIGRATE_TYPES + mt``), head first, in one pass."""
        return as_tuples(lst for area in self.free_area
                         for lst in area.free_lists)  # type: ignore[attr-defined]

    def pcp_fingerprint(self) -> tuple[tuple[Any, ...], ...]:
        """Per CPU: its NR_PCP_LISTS lists (head first) and ``count``, ``high``,
        ``high_min``, ``high_max``, ``batch``, ``free_count``, ``alloc_factor``, ``flags``,
        ``free_factor``."""
        return tuple((as_tuples(p.lists), p.count, p.high, p.high_min,
                      p.high_max, p.batch, p.free_count, p.alloc_factor, p.flags,
                      p.free_factor) for p in self.pcp)

    def nr_free_mt(self, order: int, mt: int) -> int:
        return len(self.free_area[order].free_lists[mt])  # type: ignore[attr-defined]

    def lists_mask(self) -> tuple[int, ...]:
        """Per order, a bit mask of the migratetypes whose list is not empty."""
        return tuple(nonempty_mask(area.free_lists)  # type: ignore[attr-defined]
                     for area in self.free_area)

    def pcp_head(self, cpu: int, mt: int, order: int) -> int | None:
        """The block an allocation would take from this CPU's pcp list, if any."""
        if not self.pcp or not pcp_spec.pcp_allowed_order(order):
            return None
        lst = self.pcp[cpu].lists[pcp_spec.order_to_pindex(mt, order)]
        return lst.first() if len(lst) else None

    def free_blocks_typed(self) -> dict[int, tuple[int, int]]:
        """Head pfn -> (order, list type) of every free block."""
        return {pfn: (order, self.free_mt[pfn]) for pfn, order in self.free_order.items()}

    def pcp_mask(self, cpu: int) -> int:
        """A bit mask of this CPU's non-empty pcp lists (by pindex)."""
        if not self.pcp:
            return 0
        return nonempty_mask(self.pcp[cpu].lists)

    # -- boot and load -----------------------------------------------------------------------
    def boot(self) -> None:
        """``memblock_free_all``: each ``__free_pages_memory`` chunk through
        ``__free_pages_core`` -> ``free_one_page`` (split at pageblock_order, FPI_TO_TAIL)."""
        for s, e in self.managed_ranges:
            for pfn, order in buddy.free_pages_memory_chunks(s, e):
                self.split_large_buddy(pfn, order, to_tail=True)

    def load(self, free_blocks: list[tuple[int, int]], allocated_blocks: list[tuple[int, int]],
             free_types: dict[int, int] | None = None) -> None:
        """Replace the zone's state (see :meth:`Zone.load`); each free block goes to the
        list of its pageblock's type (``free_types`` may set a pageblock's type first)."""
        self.free_area = [MtFreeArea() for _ in range(NR_PAGE_ORDERS)]  # type: ignore[misc]
        self.free_order, self.free_mt = {}, {}
        self.free_pages = self.nr_free_highatomic = 0
        for pfn, order in sorted(free_blocks):
            mt = (free_types or {}).get(pfn)
            if mt is not None:
                self.change_pageblock_range(pfn, order, mt)
            self._add_mt(pfn, order, self.get_pfnblock_migratetype(pfn), to_tail=True)
        self.allocated = dict(allocated_blocks)

    # -- __rmqueue ------------------------------------------------------------------------
    def _page_del_and_expand(self, pfn: int, order: int, current: int, mt: int) -> None:
        self._del_mt(pfn, current)
        for half, half_order in buddy.expand(pfn, order, current):
            self._add_mt(half, half_order, mt, to_tail=False)

    def rmqueue_smallest_mt(self, order: int, mt: int) -> int | None:
        """``__rmqueue_smallest(zone, order, mt)``: the head of the smallest non-empty
        ``free_list[mt]`` of order >= ``order``, split by ``expand``."""
        for current in range(order, NR_PAGE_ORDERS):
            lst = self.free_area[current].free_lists[mt]  # type: ignore[attr-defined]
            if len(lst):
                pfn = lst.first()
                self._page_del_and_expand(pfn, order, current, mt)
                return pfn
        return None

    def _find_fallback(self, current: int, start_mt: int) -> tuple[int | None, bool]:
        area = self.free_area[current]
        return migrate.find_suitable_fallback(
            area.nr_free, lambda mt: len(area.free_lists[mt]) > 0,  # type: ignore[attr-defined]
            current, start_mt, self.pageblock_order)

    def rmqueue_claim(self, order: int, start_mt: int, alloc_flags: int) -> int | None:
        """``__rmqueue_claim``: largest order first, claim a pageblock of a fallback type."""
        min_order = migrate.claim_min_order(order, bool(alloc_flags & ALLOC_NOFRAGMENT),
                                            self.pageblock_order)
        for current in range(MAX_PAGE_ORDER, min_order - 1, -1):
            fallback_mt, can_steal = self._find_fallback(current, start_mt)
            if fallback_mt is None:
                continue
            if not can_steal:
                break
            pfn = self.free_area[current].free_lists[fallback_mt].first()  # type: ignore[attr-defined]
            got = self.try_to_steal_block(pfn, current, order, start_mt, alloc_flags)
            if got is not None:
                return got
        return None

    def rmqueue_steal(self, order: int, start_mt: int) -> int | None:
        """``__rmqueue_steal``: smallest order first, take one block of a fallback type,
        leaving its pageblock's type alone."""
        for current in range(order, NR_PAGE_ORDERS):
            fallback_mt, _ = self._find_fallback(current, start_mt)
            if fallback_mt is None:
                continue
            pfn = self.free_area[current].free_lists[fallback_mt].first()  # type: ignore[attr-defined]
            self._page_del_and_expand(pfn, order, current, fallback_mt)
            return pfn
        return None

    def rmqueue_mt(self, order: int, mt: int, alloc_flags: int, mode: list[int]) -> int | None:
        """``__rmqueue(zone, order, migratetype, alloc_flags, &mode)``; ``mode[0]`` is the
        rmqueue_mode carried across one ``rmqueue_bulk``. No CMA pageblocks exist, so the
        CMA steps find nothing. 6.1: :meth:`rmqueue_mt_61`."""
        if self.era == "6.1":
            return self.rmqueue_mt_61(order, mt, alloc_flags)
        if mode[0] == RMQUEUE_NORMAL:
            pfn = self.rmqueue_smallest_mt(order, mt)
            if pfn is not None:
                return pfn
        if mode[0] <= RMQUEUE_CMA and alloc_flags & ALLOC_CMA:
            pfn = self.rmqueue_smallest_mt(order, CMA)
            if pfn is not None:
                mode[0] = RMQUEUE_CMA
                return pfn
        if mode[0] <= RMQUEUE_CLAIM:
            pfn = self.rmqueue_claim(order, mt, alloc_flags)
            if pfn is not None:
                mode[0] = RMQUEUE_NORMAL
                return pfn
        if not alloc_flags & ALLOC_NOFRAGMENT:
            pfn = self.rmqueue_steal(order, mt)
            if pfn is not None:
                mode[0] = RMQUEUE_STEAL
                return pfn
        return None

    # -- 6.1's fallback: __rmqueue_fallback / steal_suitable_fallback -----------------------------
    def rmqueue_mt_61(self, order: int, mt: int, alloc_flags: int) -> int | None:
        """6.1's ``__rmqueue`` (mm/page_alloc.c of 6.1.192, 3115-3147): the request's own
        list, else ``__rmqueue_fallback`` moves a block to that list and the search runs
        again (``goto retry``). No CMA pageblocks exist."""
        while True:
            pfn = self.rmqueue_smallest_mt(order, mt)
            if pfn is not None:
                return pfn
            if not self.rmqueue_fallback_61(order, mt, alloc_flags):
                return None

    def rmqueue_fallback_61(self, order: int, start_mt: int, alloc_flags: int) -> bool:
        """6.1's ``__rmqueue_fallback`` (3033-3083): the block
        :func:`kmem.spec.migrate.rmqueue_fallback_61` picks, the head of its list, through
        :meth:`steal_suitable_fallback_61`."""
        found = migrate.rmqueue_fallback_61(order, start_mt, bool(alloc_flags & ALLOC_NOFRAGMENT),
                                            self.pageblock_order,
                                            lambda current: self._find_fallback(current, start_mt))
        if found is None:
            return False
        current, fallback_mt, can_steal = found
        pfn = self.free_area[current].free_lists[fallback_mt].first()  # type: ignore[attr-defined]
        self.steal_suitable_fallback_61(pfn, current, alloc_flags, start_mt, can_steal)
        return True

    def steal_suitable_fallback_61(self, pfn: int, current: int, alloc_flags: int,
                                   start_type: int, whole_block: bool) -> None:
        """6.1's ``steal_suitable_fallback`` (2791-2871): a HIGHATOMIC block or a single
        page goes to ``start_type``'s list tail; a block of pageblock order or more first
        retypes its pageblocks; otherwise (``whole_block``) every free page of the pageblock
        moves to ``start_type``'s list and the pageblock is claimed when its free plus alike
        pages fill half of it."""
        old_block_type = self.get_pfnblock_migratetype(pfn)
        if old_block_type != HIGHATOMIC:
            if current >= self.pageblock_order:
                self.change_pageblock_range(pfn, current, start_type)
            else:
                if self.boost_watermark() and alloc_flags & ALLOC_KSWAPD:
                    self.boosted = True
                if whole_block:
                    free, movable = self.move_freepages_block_61(pfn, start_type)
                    if free:
                        if migrate.claim_whole_block(free, movable, start_type, old_block_type,
                                                     self.pageblock_order):
                            self.change_pageblock_range(
                                migrate.pageblock_start_pfn(pfn, self.pageblock_order),
                                self.pageblock_order, start_type)
                        return
        self._move_to_free_list(pfn, current, start_type)

    def move_freepages_block_61(self, pfn: int, new_mt: int) -> tuple[int, int]:
        """6.1's ``move_freepages_block`` / ``move_freepages`` (2643-2700): every free block
        that starts in pfn's pageblock to the tail of ``new_mt``'s list (from pfn itself
        when the pageblock starts before the zone; nothing when it ends after it); returns
        (pages moved, movable pages seen)."""
        pbo = self.pageblock_order
        start = migrate.pageblock_start_pfn(pfn, pbo)
        end = start + (1 << pbo) - 1
        if not self.spans(start):
            start = pfn
        if not self.spans(end):
            return 0, 0
        moved = movable = 0
        p = start
        while p <= end:
            order = self.free_order.get(p)
            if order is not None:
                self._move_to_free_list(p, order, new_mt)
                moved += 1 << order
                p += 1 << order
                continue
            held = self.allocated.get(p)
            if held is not None and p in self.movable_allocs:
                n = min(1 << held, end + 1 - p)
                movable += n
                p += n
                continue
            p += 1
        return moved, movable

    # -- pageblock moves ----------------------------------------------------------------------
    def prep_move_freepages_block(self, pfn: int) -> tuple[int, int, int] | None:
        """``prep_move_freepages_block``: (start, free pages, movable pages) of pfn's
        pageblock, or None when it straddles the zone's span."""
        pbo = self.pageblock_order
        start = migrate.pageblock_start_pfn(pfn, pbo)
        end = start + (1 << pbo)
        if not (self.spans(start) and self.spans(end - 1)):
            return None
        free = movable = 0
        p = start
        while p < end:
            order = self.free_order.get(p)
            if order is not None:
                free += 1 << order
                p += 1 << order
                continue
            held = self.allocated.get(p)
            if held is not None and p in self.movable_allocs:
                n = min(1 << held, end - p)
                movable += n
                p += n
                continue
            p += 1
        return start, free, movable

    def move_freepages_block_at(self, start: int, new_mt: int) -> int:
        """``__move_freepages_block``: every free block of the pageblock to the tail of
        ``new_mt``'s list, then the pageblock's type. Returns the pages moved."""
        end = start + (1 << self.pageblock_order)
        moved = 0
        p = start
        while p < end:
            order = self.free_order.get(p)
            if order is None:
                p += 1
                continue
            self._move_to_free_list(p, order, new_mt)
            moved += 1 << order
            p += 1 << order
        self.block_type[start >> self.pageblock_order] = new_mt
        return moved

    def move_freepages_block(self, pfn: int, new_mt: int) -> int:
        """``move_freepages_block``: -1 when the pageblock straddles the zone."""
        prep = self.prep_move_freepages_block(pfn)
        if prep is None:
            return -1
        return self.move_freepages_block_at(prep[0], new_mt)

    def boost_watermark(self) -> bool:
        """``boost_watermark``: raise ``watermark_boost`` by a pageblock, up to
        ``high * watermark_boost_factor / 10000`` (kswapd, which would lower it again,
        is not modelled)."""
        boost = migrate.boosted_watermark(self.watermark_boost, self.watermark[2],
                                          self.managed_pages, self.pageblock_order,
                                          WATERMARK_BOOST_FACTOR)
        if boost is None:
            return False
        self.watermark_boost = boost
        return True

    def try_to_steal_block(self, pfn: int, current: int, order: int, start_type: int,
                           alloc_flags: int) -> int | None:
        """``try_to_steal_block``: claim the pageblock(s) of the free block at ``pfn``."""
        block_type = self.get_pfnblock_migratetype(pfn)
        if block_type == HIGHATOMIC:
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
        if migrate.claim_whole_block(free, movable, start_type, block_type,
                                     self.pageblock_order):
            self.move_freepages_block_at(start, start_type)
            return self.rmqueue_smallest_mt(order, start_type)
        return None

    # -- rmqueue --------------------------------------------------------------------------------
    def rmqueue_buddy(self, order: int, mt: int, alloc_flags: int) -> int | None:
        """``rmqueue_buddy``: the HIGHATOMIC reserve first with ALLOC_HIGHATOMIC, then
        ``__rmqueue``, then the reserve for ALLOC_OOM / ALLOC_NON_BLOCK."""
        pfn = None
        if alloc_flags & ALLOC_HIGHATOMIC:
            pfn = self.rmqueue_smallest_mt(order, HIGHATOMIC)
        if pfn is None:
            pfn = self.rmqueue_mt(order, mt, alloc_flags, [RMQUEUE_NORMAL])
            if pfn is None and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
                pfn = self.rmqueue_smallest_mt(order, HIGHATOMIC)
        return pfn

    def rmqueue_bulk(self, order: int, count: int, mt: int, alloc_flags: int,
                     lst: KernelList) -> int:
        """``rmqueue_bulk``: up to ``count`` blocks to the tail of ``lst``."""
        mode = [RMQUEUE_NORMAL]
        for i in range(count):
            pfn = self.rmqueue_mt(order, mt, alloc_flags, mode)
            if pfn is None:
                return i
            lst.add(pfn, to_tail=True)
            self.pcp_pages[pfn] = order
            if self.era == "6.1":
                self.pcp_mt[pfn] = mt  # __rmqueue_smallest: set_pcppage_migratetype
        return count

    def rmqueue_pcplist(self, cpu: int, order: int, mt: int, alloc_flags: int) -> int | None:
        """``rmqueue_pcplist``: the head of this CPU's list, refilled when empty."""
        p = self.pcp[cpu]
        if self.era == "6.1":
            p.free_factor >>= 1
        else:
            p.free_count >>= 1
        lst = p.lists[pcp_spec.order_to_pindex(mt, order)]
        if not len(lst):
            if self.era == "6.1":
                n = pcp_spec.pcp_alloc_batch_61(p.batch, order)
            else:
                n, p.high, p.alloc_factor = pcp_spec.nr_pcp_alloc(
                    high=p.high, high_min=p.high_min, high_max=p.high_max, count=p.count,
                    batch=p.batch, alloc_factor=p.alloc_factor, order=order,
                    below_high=self.below_high)
            got = self.rmqueue_bulk(order, n, mt, alloc_flags, lst)
            p.count += got << order
            if not len(lst):
                return None
        pfn = lst.first()
        lst.remove(pfn)
        del self.pcp_pages[pfn]
        self.pcp_mt.pop(pfn, None)
        p.count -= 1 << order
        return pfn

    def rmqueue(self, cpu: int, order: int, mt: int, alloc_flags: int) -> int | None:
        """``rmqueue``: pcp lists for their orders, else the buddy; the block is recorded
        as allocated (with the MOVABLE mark for ``prep_move_freepages_block``)."""
        pfn = None
        # gfp_migratetype() gives 3 (HIGHATOMIC) for MOVABLE|RECLAIMABLE; the kernel would
        # then index the pcp list of (UNMOVABLE, order + 1). kmem takes the buddy path.
        # 6.1 (3898-3899): with CONFIG_CMA a MOVABLE request without ALLOC_CMA skips the lists
        pcp_ok = not (self.era == "6.1" and self.cma and not alloc_flags & ALLOC_CMA
                      and mt == MOVABLE)
        if (self.pcp and pcp_spec.pcp_allowed_order(order) and mt < migrate.MIGRATE_PCPTYPES
                and pcp_ok):
            pfn = self.rmqueue_pcplist(cpu, order, mt, alloc_flags)
        if pfn is None:
            pfn = self.rmqueue_buddy(order, mt, alloc_flags)
        # out: (6.12.118 3168-3174; 6.1.192 3909-3915), reached by a failure too: the boost
        # flag is cleared (6.12: only for ALLOC_KSWAPD) and kswapd woken (not modelled)
        if self.boosted and (self.era == "6.1" or alloc_flags & ALLOC_KSWAPD):
            self.boosted = False
        if pfn is None:
            return None
        self.allocated[pfn] = order
        if mt == MOVABLE:
            self.movable_allocs.add(pfn)
        return pfn

    # -- highatomic reserve ---------------------------------------------------------------------
    def reserve_highatomic_pageblock(self, pfn: int, order: int) -> None:
        """``reserve_highatomic_pageblock``: make the allocation's pageblock(s) HIGHATOMIC
        while below the 1 % cap, if their type is mergeable (6.1: one pageblock, below
        1 % plus a pageblock)."""
        if self.era == "6.1":
            # 6.1.192 mm/page_alloc.c:2908-2935
            if self.nr_reserved_highatomic >= migrate.highatomic_max_managed_61(
                    self.managed_pages, self.pageblock_order):
                return
            if migrate.migratetype_is_mergeable(self.get_pfnblock_migratetype(pfn)):
                self.nr_reserved_highatomic += 1 << self.pageblock_order
                self.change_pageblock_range(
                    migrate.pageblock_start_pfn(pfn, self.pageblock_order),
                    self.pageblock_order, HIGHATOMIC)
                self.move_freepages_block_61(pfn, HIGHATOMIC)
            return
        cap = migrate.highatomic_max_managed(self.managed_pages, self.pageblock_order)
        if cap == 0 or self.nr_reserved_highatomic >= cap:
            return
        mt = self.get_pfnblock_migratetype(pfn)
        if not migrate.migratetype_is_mergeable(mt):
            return
        if order < self.pageblock_order:
            if self.move_freepages_block(pfn, HIGHATOMIC) == -1:
                return
            self.nr_reserved_highatomic += 1 << self.pageblock_order
        else:
            self.change_pageblock_range(pfn, order, HIGHATOMIC)
            self.nr_reserved_highatomic += 1 << order

    def unreserve_highatomic_pageblock(self, mt: int, force: bool) -> bool:
        """One zone's part of ``unreserve_highatomic_pageblock``: give the first
        HIGHATOMIC free block's pageblock(s) to ``mt``. Keeps one pageblock unless
        ``force``. Returns whether pages moved."""
        if not force and self.nr_reserved_highatomic <= 1 << self.pageblock_order:
            return False
        for order in range(NR_PAGE_ORDERS):
            lst = self.free_area[order].free_lists[HIGHATOMIC]  # type: ignore[attr-defined]
            if not len(lst):
                continue
            pfn = lst.first()
            block_mt = self.get_pfnblock_migratetype(pfn)
            if self.era == "6.1":  # 6.1.192 mm/page_alloc.c:2950-3001
                if block_mt == HIGHATOMIC:
                    self.nr_reserved_highatomic -= migrate.highatomic_unreserve_size_61(
                        self.pageblock_order, self.nr_reserved_highatomic)
                self.change_pageblock_range(
                    migrate.pageblock_start_pfn(pfn, self.pageblock_order),
                    self.pageblock_order, mt)
                if self.move_freepages_block_61(pfn, mt)[0]:
                    self.highatomic_uncounted |= mt == HIGHATOMIC
                    return True
                continue
            if block_mt == HIGHATOMIC:
                self.nr_reserved_highatomic -= migrate.highatomic_unreserve_size(
                    order, self.pageblock_order, self.nr_reserved_highatomic)
            if order < self.pageblock_order:
                ret = self.move_freepages_block(pfn, mt)
            else:
                self._move_to_free_list(pfn, order, mt)
                self.change_pageblock_range(pfn, order, mt)
                ret = 1
            if ret > 0:
                self.highatomic_uncounted |= mt == HIGHATOMIC
                return True
        return False

    # -- freeing -------------------------------------------------------------------------------
    def check_free(self, pfn: int, order: int) -> None:
        """:meth:`Zone.check_free`, where a block parked on a pcp list counts as free."""
        if pfn in self.pcp_pages and pfn not in self.allocated:
            raise BadPageState(f"pfn {pfn:#x} is already free (on a per-CPU list; double "
                               f"free)", "nonzero mapcount")
        super().check_free(pfn, order)

    def free_one_page(self, pfn: int, order: int, cpu: int = 0) -> None:
        """``__free_pages`` -> ``free_unref_page`` for a checked, allocated block, on the
        freeing CPU ``cpu``."""
        self.check_free(pfn, order)
        del self.allocated[pfn]
        self.movable_allocs.discard(pfn)
        self.free_unref_page(pfn, order, cpu)

    def free_tail_portions(self, pfn: int, order: int, cpu: int = 0) -> None:
        """``___free_pages``' tails, each through ``free_unref_page`` on ``cpu``."""
        self.check_free(pfn, order)
        self.allocated[pfn] = 0
        for tpfn, torder in buddy.free_tail_portions(pfn, order):
            self.free_unref_page(tpfn, torder, cpu)

    def _merge_in(self, pfn: int, order: int) -> None:
        self.free_unref_page(pfn, order)

    def free_unref_page(self, pfn: int, order: int, cpu: int = 0) -> None:
        """``free_unref_page``: pcp orders to the freeing CPU's list (6.12.118
        mm/page_alloc.c:2761, ``pcp_spin_trylock(zone->per_cpu_pageset)`` is this CPU's
        pageset; ISOLATE straight to the buddy; HIGHATOMIC and CMA as MOVABLE), others via
        ``free_one_page``."""
        if not self.pcp or not pcp_spec.pcp_allowed_order(order):
            self.split_large_buddy(pfn, order, to_tail=None)
            return
        block_mt = self.get_pfnblock_migratetype(pfn)
        mt = migrate.pcp_migratetype(block_mt)
        if mt is None:
            self.split_large_buddy(pfn, order, to_tail=None)
            return
        if self.era == "6.1":
            self.pcp_mt[pfn] = block_mt  # free_unref_page_prepare: set_pcppage_migratetype
        self.free_unref_page_commit(self.pcp[cpu], pfn, mt, order)

    def free_unref_page_commit(self, p: PerCpuPages, pfn: int, mt: int, order: int) -> None:
        """``free_unref_page_commit``: head of the pcp list; drain past the high mark."""
        if self.era == "6.1":
            self.free_unref_page_commit_61(p, pfn, mt, order)
            return
        p.alloc_factor >>= 1
        pindex = pcp_spec.order_to_pindex(mt, order)
        p.lists[pindex].add(pfn, to_tail=False)
        self.pcp_pages[pfn] = order
        p.count += 1 << order
        free_high, p.flags = pcp_spec.free_high_decision(
            order=order, free_count=p.free_count, count=p.count, batch=p.batch, flags=p.flags)
        p.free_count = pcp_spec.free_count_after_free(p.free_count, p.batch, order)
        high, p.high = pcp_spec.nr_pcp_high(
            high=p.high, high_min=p.high_min, high_max=p.high_max, count=p.count,
            free_count=p.free_count, batch=p.batch, free_high=free_high,
            below_high=self.below_high)
        if p.count >= high:
            n = pcp_spec.nr_pcp_free(count=p.count, batch=p.batch, high=high,
                                     free_high=free_high, free_count=p.free_count)
            self.free_pcppages_bulk(p, n, pindex)
            if self.below_high and self.high_wmark_ok():
                self.below_high = False

    def free_unref_page_commit_61(self, p: PerCpuPages, pfn: int, mt: int, order: int) -> None:
        """6.1's ``free_unref_page_commit`` (mm/page_alloc.c of 6.1.192, 3469-3499): the
        fixed high mark, ``free_factor`` and a whole-list flush for a run of high-order
        frees."""
        pindex = pcp_spec.order_to_pindex(mt, order)
        p.lists[pindex].add(pfn, to_tail=False)
        self.pcp_pages[pfn] = order
        p.count += 1 << order
        free_high = pcp_spec.free_high_61(free_factor=p.free_factor, order=order)
        high = pcp_spec.nr_pcp_high_61(high=p.high, batch=p.batch, free_high=free_high)
        if p.count >= high:
            n, p.free_factor = pcp_spec.nr_pcp_free_61(count=p.count, high=high, batch=p.batch,
                                                       free_high=free_high,
                                                       free_factor=p.free_factor)
            self.free_pcppages_bulk(p, n, pindex)

    def high_wmark_ok(self) -> bool:
        """``zone_watermark_ok(zone, 0, high_wmark_pages(zone), ZONE_MOVABLE, 0)``: the
        lowmem_reserve against ZONE_MOVABLE allocations."""
        from kmem.spec.watermarks import zone_watermark_ok

        return zone_watermark_ok(free_pages=self.free_pages, order=0,
                                 mark=self.watermark[2] + self.watermark_boost,
                                 lowmem_reserve=self.lowmem_reserve[self.movable_idx]
                                 if self.lowmem_reserve else 0, alloc_flags=0, nr_free=self.nr_free(),
                                 nr_free_highatomic=self.nr_free_highatomic)

    def free_pcppages_bulk(self, p: PerCpuPages, count: int, pindex: int) -> None:
        """``free_pcppages_bulk``: ``count`` pages from the list tails, round robin from
        ``pindex``, each through ``__free_one_page`` with its pageblock's type."""
        count = min(p.count, count)
        pindex -= 1
        while count > 0:
            while True:
                pindex += 1
                if pindex > pcp_spec.NR_PCP_LISTS - 1:
                    pindex = 0
                if len(p.lists[pindex]):
                    break
            lst = p.lists[pindex]
            order = pcp_spec.pindex_to_order(pindex)
            while True:
                pfn = lst.last()
                lst.remove(pfn)
                del self.pcp_pages[pfn]
                count -= 1 << order
                p.count -= 1 << order
                # 6.1: the migratetype cached in the page (get_pcppage_migratetype); 6.12:
                # the pageblock's
                mt = (self.pcp_mt.pop(pfn) if self.era == "6.1"
                      else self.get_pfnblock_migratetype(pfn))
                self.free_one_page_mt(pfn, order, mt, None)
                if not (count > 0 and len(lst)):
                    break

    def drain_pages_zone(self, cpu: int) -> None:
        """``drain_pages_zone``: empty one CPU's lists, ``batch << PCP_BATCH_SCALE_MAX``
        pages at a time."""
        p = self.pcp[cpu]
        while p.count:
            self.free_pcppages_bulk(p, min(p.count, p.batch << pcp_spec.PCP_BATCH_SCALE_MAX), 0)

    def decay_pcp_high(self, cpu: int) -> bool:
        """``decay_pcp_high(zone, pcp)`` for one CPU's pageset (rules:
        :func:`kmem.spec.pcp.decay_pcp_high`): the new ``pcp->high``, then each chunk through
        ``free_pcppages_bulk(zone, chunk, pcp, 0)``. Returns whether more work is left."""
        if self.era == "6.1":
            return False  # 6.1 has no decay_pcp_high (6.7+)
        p = self.pcp[cpu]
        p.high, chunks, todo = pcp_spec.decay_pcp_high(high=p.high, high_min=p.high_min,
                                                       count=p.count, batch=p.batch)
        for chunk in chunks:
            self.free_pcppages_bulk(p, chunk, 0)
        return todo

    def split_large_buddy(self, pfn: int, order: int, to_tail: bool | None) -> None:
        """``split_large_buddy`` (from ``free_one_page``): free in pageblock-sized pieces,
        each with its own pageblock's type. 6.1 (``__free_pages_ok``, 6.1.192
        1735-1757) frees the whole block with its first pageblock's type."""
        if self.era == "6.1":
            self.free_one_page_mt(pfn, order, self.get_pfnblock_migratetype(pfn), to_tail)
            return
        end = pfn + (1 << order)
        step = min(order, self.pageblock_order)
        while pfn < end:
            self.free_one_page_mt(pfn, step, self.get_pfnblock_migratetype(pfn), to_tail)
            pfn += 1 << step

    def free_one_page_mt(self, pfn: int, order: int, mt: int, to_tail: bool | None) -> None:
        """``__free_one_page(page, pfn, zone, order, mt, fpi)``: merge (within the
        migratetype rule), retype merged buddies, then head, tail or merge-likely tail."""
        delta = buddy.free_one_page_delta(self.is_free_block, pfn, order,
                                          block_type=self.get_pfnblock_migratetype,
                                          migratetype=mt, pageblock_order=self.pageblock_order,
                                          to_tail=to_tail)
        for bpfn, border in delta.merged:
            self._del_mt(bpfn, border)
        if self.era != "6.1":  # 6.10+: a merged buddy's pageblock takes the block's type
            for bpfn, border in delta.retyped:
                self.change_pageblock_range(bpfn, border, mt)
        self._add_mt(*delta.result, mt, to_tail=delta.to_tail)

    # -- views ---------------------------------------------------------------------------------
    def pageblock_counts(self, online: Callable[[int], bool]) -> list[int]:
        """``pagetypeinfo_showblockcount_print``: from the zone's first pfn in steps of
        pageblock_nr_pages, the type of each pfn's pageblock where ``online(pfn)``."""
        counts = [0] * MIGRATE_TYPES
        for pfn in range(self.start_pfn, self.end_pfn, 1 << self.pageblock_order):
            if online(pfn):
                counts[self.get_pfnblock_migratetype(pfn)] += 1
        return counts

    def state(self) -> buddy.ZoneState:
        return buddy.ZoneState(
            start_pfn=self.start_pfn, end_pfn=self.end_pfn,
            free=frozenset(self.free_order.items()),
            allocated=frozenset(self.allocated.items()),
            holes=self.span.holes, reserved=self.span.reserved,
            nr_free=self.nr_free(), free_pages=self.free_pages,
            pcp=frozenset(self.pcp_pages.items()),
            pageblock_order=self.pageblock_order,
            block_types=tuple(sorted(self.block_type.items())),
            list_types=tuple(sorted(self.free_mt.items())),
            nr_free_highatomic=self.nr_free_highatomic,
            nr_reserved_highatomic=self.nr_reserved_highatomic,
            highatomic_uncounted=self.highatomic_uncounted, path_era=self.era)

    def pcp_violations(self) -> list[buddy.Violation]:
        """Each CPU's ``count`` equals the pages on its lists, every block is on the list of
        its order, and ``count`` stays within :func:`kmem.spec.pcp.pcp_count_bound`."""
        out = []
        seen: dict[int, int] = {}
        for cpu, p in enumerate(self.pcp):
            pages = 0
            for pindex, lst in enumerate(p.lists):
                order = pcp_spec.pindex_to_order(pindex)
                for pfn in lst:
                    if self.pcp_pages.get(pfn) != order or pfn in seen:
                        out.append(buddy.Violation("pcp", f"cpu {cpu}: pfn {pfn:#x} on list "
                                                          f"{pindex} is not a pcp block of "
                                                          f"order {order}"))
                    seen[pfn] = order
                    pages += 1 << order
            if pages != p.count:
                out.append(buddy.Violation("pcp", f"cpu {cpu}: count {p.count} but the lists "
                                                  f"hold {pages} pages"))
            bound = pcp_spec.pcp_count_bound(p.high_max, p.batch)
            if p.count > bound:
                out.append(buddy.Violation("pcp", f"cpu {cpu}: count {p.count} exceeds "
                                                  f"{bound}"))
        if len(seen) != len(self.pcp_pages):
            out.append(buddy.Violation("pcp", "pcp_pages and the pcp lists differ"))
        return out
