"""One zone's buddy allocator: ``struct zone`` with ``free_area[]`` (mm/page_alloc.c, 6.x).

The rules come from :mod:`kmem.spec.buddy` (``expand``, ``free_one_page_delta``,
``buddy_merge_likely``, ``free_pages_memory_chunks``); this class only keeps the
lists and counters. Every operation checks first and changes state after, so a
raised error leaves the zone as it was.
"""

from __future__ import annotations

from kmem.spec import buddy
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import (
    BadPageState,
    BadRange,
    FreeOrderMismatch,
    InvalidArgument,
    UnalignedFree,
)
from kmem.spec.zones import ZoneSpan

from .freelists import BlockRuns, free_list_class


class FreeArea:
    """``struct free_area``: one free list (we do not model migratetypes) and ``nr_free``."""

    __slots__ = ("free_list", "nr_free")

    def __init__(self, list_class: type) -> None:
        self.free_list = list_class()
        self.nr_free = 0  # blocks, not pages


class Zone:
    """A zone's buddy allocator.

    ``free_order`` maps the head pfn of every free block to its order (the kernel's
    PageBuddy + ``buddy_order()``), except the MAX_PAGE_ORDER blocks freed at boot
    and not yet touched: ``boot_runs`` keeps those as ranges (the tail of
    ``free_area[MAX_PAGE_ORDER]``, ascending), so boot takes the same time for any
    size. :meth:`free_blocks` lists all of them. ``allocated`` maps the head pfn of
    every block handed out to its order (model bookkeeping the kernel leaves to the
    caller).
    """

    def __init__(self, span: ZoneSpan, zone_idx: int, *, policy: str = "lowest") -> None:
        self.span = span  # spec.zones.ZoneSpan: start/end, holes, reserved
        self.ztype = span.ztype
        self.zone_idx = zone_idx
        self.node = 0  # the NUMA node (set by a multi-node Machine)
        self.name = span.ztype.kernel_name
        self.start_pfn = span.start_pfn
        self.end_pfn = span.end_pfn
        self.policy = policy
        list_class = free_list_class(policy)
        self.free_area = [FreeArea(list_class) for _ in range(NR_PAGE_ORDERS)]
        self.free_order: dict[int, int] = {}
        self.boot_runs = BlockRuns(MAX_PAGE_ORDER)
        self.allocated: dict[int, int] = {}
        self.free_pages = 0  # NR_FREE_PAGES
        self.managed_ranges = span.managed_ranges()
        self.managed_pages = span.managed_pages
        self.present_pages = span.present_pages
        # set by the machine (spec.watermarks): _watermark[WMARK_*] and lowmem_reserve[]
        self.watermark: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.lowmem_reserve: tuple[int, ...] = ()
        self.watermark_boost = 0

    # -- geometry ------------------------------------------------------------------------
    @property
    def spanned_pages(self) -> int:
        return self.end_pfn - self.start_pfn

    def spans(self, pfn: int) -> bool:
        return self.start_pfn <= pfn < self.end_pfn

    def is_hole(self, pfn: int) -> bool:
        return self.span.contains(pfn) and not self.span.is_present(pfn)

    def is_reserved(self, pfn: int) -> bool:
        return self.span.is_reserved(pfn)

    def __repr__(self) -> str:
        return (f"<Zone {self.name} pfn [{self.start_pfn:#x}, {self.end_pfn:#x}) "
                f"free {self.free_pages}/{self.managed_pages}>")

    # -- free lists (__add_to_free_list / __del_page_from_free_list) ----------------------
    def is_free_block(self, pfn: int, order: int) -> bool:
        """``page_is_buddy``: a free block of exactly this order, in this zone."""
        return self.free_order.get(pfn) == order or (
            order == MAX_PAGE_ORDER and pfn in self.boot_runs)

    def _add_to_free_list(self, pfn: int, order: int, to_tail: bool) -> None:
        area = self.free_area[order]
        if to_tail and order == MAX_PAGE_ORDER and self.boot_runs:
            self._materialize_boot_runs()  # the new block goes after them
        area.free_list.add(pfn, to_tail)
        area.nr_free += 1
        self.free_order[pfn] = order
        self.free_pages += 1 << order

    def _del_from_free_list(self, pfn: int, order: int) -> None:
        area = self.free_area[order]
        if order == MAX_PAGE_ORDER and pfn not in self.free_order:
            self.boot_runs.remove(pfn)
        else:
            area.free_list.remove(pfn)
            del self.free_order[pfn]
        area.nr_free -= 1
        self.free_pages -= 1 << order

    def _first_free(self, order: int) -> int:
        """The block ``__rmqueue_smallest`` takes from a non-empty ``free_area[order]``: the
        list head (``"lowest"``: the lowest pfn); boot runs follow the listed blocks."""
        free_list = self.free_area[order].free_list
        if order != MAX_PAGE_ORDER or not self.boot_runs:
            return free_list.first()
        if not len(free_list):
            return self.boot_runs.first()
        if self.policy == "lowest":
            return min(free_list.first(), self.boot_runs.first())
        return free_list.first()

    def _materialize_boot_runs(self) -> None:
        """Put the boot runs' blocks on the list itself (at its tail, ascending)."""
        free_list = self.free_area[MAX_PAGE_ORDER].free_list
        runs, self.boot_runs = self.boot_runs, BlockRuns(MAX_PAGE_ORDER)
        for pfn in runs:
            free_list.add(pfn, True)
            self.free_order[pfn] = MAX_PAGE_ORDER

    def boot(self) -> None:
        """Free every managed range as ``memblock_free_all`` does: ascending chunks from
        ``__free_pages_memory``, each to the list tail (FPI_TO_TAIL, 5.10+). The
        MAX_PAGE_ORDER chunks stay runs (``boot_runs``) until they are used."""
        for s, e in self.managed_ranges:
            for pfn, order, count in buddy.free_pages_memory_runs(s, e):
                if order == MAX_PAGE_ORDER:
                    self.boot_runs.append(pfn, count)
                    self.free_area[order].nr_free += count
                    self.free_pages += count << order
                else:
                    self._add_to_free_list(pfn, order, to_tail=True)

    def load(self, free_blocks: list[tuple[int, int]],
             allocated_blocks: list[tuple[int, int]]) -> None:
        """Replace the zone's state with these free and allocated blocks (ascending, to
        the list tails, as boot would). The caller checks the invariants afterwards."""
        self.free_area = [FreeArea(free_list_class(self.policy)) for _ in range(NR_PAGE_ORDERS)]
        self.free_order = {}
        self.boot_runs = BlockRuns(MAX_PAGE_ORDER)
        self.free_pages = 0
        for pfn, order in sorted(free_blocks):
            self._add_to_free_list(pfn, order, to_tail=True)
        self.allocated = dict(allocated_blocks)

    # -- allocation -------------------------------------------------------------------------
    def rmqueue_smallest(self, order: int) -> int | None:
        """``__rmqueue_smallest``: take a block from the smallest non-empty order >= ``order``
        (the list head; for ``"lowest"``, the lowest pfn), split it with ``expand``, and
        return the pfn kept, or None."""
        free_area = self.free_area
        for current in range(order, NR_PAGE_ORDERS):
            area = free_area[current]
            if area.nr_free:
                pfn = self._first_free(current)
                self._del_from_free_list(pfn, current)
                for half, half_order in buddy.expand(pfn, order, current):
                    self._add_to_free_list(half, half_order, to_tail=False)
                self.allocated[pfn] = order
                return pfn
        return None

    # -- freeing ------------------------------------------------------------------------------
    def check_free(self, pfn: int, order: int) -> None:
        """The guards of ``__free_one_page`` (VM_BUG_ON: aligned, ``bad_range``), plus the
        model's own: the block must be one handed out, at this order."""
        if not 0 <= order <= MAX_PAGE_ORDER:
            raise InvalidArgument(f"order {order} outside 0..{MAX_PAGE_ORDER}")
        if pfn % (1 << order):
            raise UnalignedFree(f"pfn {pfn:#x} is not aligned to order {order} "
                                f"({1 << order} pages)")
        if not (self.start_pfn <= pfn and pfn + (1 << order) <= self.end_pfn):
            raise BadRange(f"block [{pfn:#x}, {pfn + (1 << order):#x}) is outside zone "
                           f"{self.name} [{self.start_pfn:#x}, {self.end_pfn:#x})")
        held = self.allocated.get(pfn)
        if held is None:
            if buddy.containing_free_block(self.is_free_block, pfn, 0) is not None:
                raise BadPageState(f"pfn {pfn:#x} is already free (double free)",
                                   "nonzero mapcount")
            raise BadPageState(f"pfn {pfn:#x} does not start an allocated block",
                               "nonzero _refcount")
        if held != order:
            raise FreeOrderMismatch(f"block at pfn {pfn:#x} was allocated at order {held}, "
                                    f"freed at order {order}")

    def free_one_page(self, pfn: int, order: int, cpu: int = 0) -> None:
        """``__free_one_page``: merge with free buddies, then put the block at the head or,
        when ``buddy_merge_likely``, at the tail of its list (``cpu``, the freeing CPU,
        matters only to a zone with per-CPU lists)."""
        self.check_free(pfn, order)
        del self.allocated[pfn]
        self._merge_in(pfn, order)

    def _merge_in(self, pfn: int, order: int) -> None:
        delta = buddy.free_one_page_delta(self.is_free_block, pfn, order)
        for bpfn, border in delta.merged:
            self._del_from_free_list(bpfn, border)
        self._add_to_free_list(*delta.result, to_tail=delta.to_tail)

    def free_tail_portions(self, pfn: int, order: int, cpu: int = 0) -> None:
        """``___free_pages`` when the first page is still referenced (non-compound): free the
        tails now, keep page ``pfn`` allocated as an order-0 block."""
        self.check_free(pfn, order)
        self.allocated[pfn] = 0
        for tpfn, torder in buddy.free_tail_portions(pfn, order):
            self._merge_in(tpfn, torder)

    # -- views ------------------------------------------------------------------------------
    def nr_free(self) -> tuple[int, ...]:
        return tuple([area.nr_free for area in self.free_area])

    def free_list_order(self, order: int) -> list[int]:
        """The pfns on ``free_area[order]`` in the order they would be handed out."""
        listed = list(self.free_area[order].free_list)
        if order != MAX_PAGE_ORDER or not self.boot_runs:
            return listed
        if self.policy == "lowest":
            return sorted([*listed, *self.boot_runs])
        return [*listed, *self.boot_runs]

    def free_blocks(self) -> list[tuple[int, int]]:
        """Every free block as (head pfn, order): ``free_order`` and the boot runs."""
        return [*self.free_order.items(), *((pfn, MAX_PAGE_ORDER) for pfn in self.boot_runs)]

    def state(self) -> buddy.ZoneState:
        """The abstract state (:class:`kmem.spec.buddy.ZoneState`) for checking."""
        return buddy.ZoneState(
            start_pfn=self.start_pfn, end_pfn=self.end_pfn,
            free=frozenset(self.free_blocks()),
            allocated=frozenset(self.allocated.items()),
            holes=self.span.holes, reserved=self.span.reserved,
            nr_free=self.nr_free(), free_pages=self.free_pages)

    def find_allocated(self, pfn: int) -> tuple[int, int] | None:
        """The allocated block (head pfn, order) that contains ``pfn``, if any."""
        order = self.allocated.get(pfn)
        if order is not None and not pfn % (1 << order):
            return pfn, order  # what the walk below finds first (a head pfn: most callers)
        for order in range(NR_PAGE_ORDERS):
            head = pfn - pfn % (1 << order)
            if self.allocated.get(head) == order:
                return head, order
        return None
