"""One zone of Linux 2.6.11's page allocator: free lists, hot and cold per-CPU lists.

``struct zone`` of 2.6.11 (include/linux/mmzone.h): ``free_area[MAX_ORDER]`` with one
list per order (no migratetypes), ``free_pages``, ``pages_min/low/high``,
``lowmem_reserve[]`` and ``pageset[NR_CPUS]`` of two ``per_cpu_pages`` (hot, cold). The
rules are :mod:`kmem.spec.alloc_2611`'s; this class keeps the lists and counters and
runs the functions of 2.6.11 mm/page_alloc.c under their names: ``__free_pages_bulk``,
``free_pages_bulk``, ``__free_pages_ok``, ``__rmqueue``, ``rmqueue_bulk``,
``buffered_rmqueue``, ``free_hot_cold_page``, ``__drain_pages``.

A free block's head is in ``free_order`` (the kernel's PG_private + ``page->private``
= order, with ``page_count == 0`` and PG_reserved clear: exactly the pages
``page_is_buddy`` accepts). Pages on a per-CPU list have count 0 and PG_private clear,
so they are never buddies. Buddy indices are relative to the zone's first page
(``zone->zone_mem_map``), as in 2.6.11.
"""

from __future__ import annotations

from kmem.spec import alloc_2611 as spec
from kmem.spec import buddy
from kmem.spec.errors import (
    BadPageState,
    BadRange,
    FreeOrderMismatch,
    InvalidArgument,
    UnalignedFree,
)
from kmem.spec.zones import ZoneSpan

from .freelists import KernelList
from .zone import Zone

HOT, COLD = 0, 1


class PerCpuPages2611:
    """``struct per_cpu_pages`` (2.6.11): ``count``, ``low``, ``high``, ``batch``, ``list``."""

    __slots__ = ("count", "low", "high", "batch", "list")

    def __init__(self, params: spec.PcpParams) -> None:
        self.count = 0
        self.low = params.low
        self.high = params.high
        self.batch = params.batch
        self.list = KernelList()


class Zone2611(Zone):
    """A 2.6.11 zone with ``nr_cpus`` pagesets (each ``[hot, cold]``)."""

    def __init__(self, span: ZoneSpan, zone_idx: int, *, nr_cpus: int = 1) -> None:
        super().__init__(span, zone_idx, policy="linux")
        # i386 without NUMA passes no zholes_size: present_pages = spanned pages
        self.present_pages = span.spanned_pages
        self.batch = spec.zone_batch(self.present_pages)
        hot, cold = spec.pageset_params(self.batch)
        self.pageset = [[PerCpuPages2611(hot), PerCpuPages2611(cold)] for _ in range(nr_cpus)]
        self.pcp_where: dict[int, tuple[int, int]] = {}  # pfn -> (cpu, hot/cold)

    # -- __free_pages_bulk / free_pages_bulk / __free_pages_ok ----------------------------
    def is_buddy(self, idx: int, order: int) -> bool:
        """``page_is_buddy(base + idx, order)``: a free head of exactly this order."""
        return self.free_order.get(self.start_pfn + idx) == order

    def free_pages_bulk_one(self, pfn: int, order: int) -> None:
        """``__free_pages_bulk(page, base, zone, order)``: merge, then the list head."""
        delta = spec.free_pages_bulk_delta(self.is_buddy, pfn - self.start_pfn, order,
                                           self.spanned_pages)
        for idx, border in delta.merged:
            self._del_from_free_list(self.start_pfn + idx, border)
        idx, rorder = delta.result
        self._add_to_free_list(self.start_pfn + idx, rorder, to_tail=False)

    def free_pages_bulk(self, count: int, lst: KernelList) -> int:
        """``free_pages_bulk(zone, count, list, 0)``: up to ``count`` pages from the list's
        tail (``list->prev``) back to the buddy allocator; returns how many."""
        ret = 0
        while len(lst) and count > 0:
            count -= 1
            pfn = lst.last()
            lst.remove(pfn)
            del self.pcp_where[pfn]
            self.free_pages_bulk_one(pfn, 0)
            ret += 1
        return ret

    # -- __rmqueue / rmqueue_bulk / buffered_rmqueue --------------------------------------------
    def rmqueue(self, order: int) -> int | None:
        """``__rmqueue``: the head (``free_list.next``) of the smallest non-empty order >=
        ``order``, split with ``expand`` (halves to the list heads)."""
        for current in range(order, spec.MAX_ORDER):
            if self.free_area[current].nr_free:
                pfn = self.free_area[current].free_list.first()
                self._del_from_free_list(pfn, current)
                for half, half_order in spec.expand(pfn - self.start_pfn, order, current):
                    self._add_to_free_list(self.start_pfn + half, half_order, to_tail=False)
                return pfn
        return None

    def rmqueue_bulk(self, count: int, cpu: int, which: int) -> int:
        """``rmqueue_bulk(zone, 0, count, list)``: up to ``count`` order-0 pages, each to the
        list's tail; returns how many."""
        lst = self.pageset[cpu][which].list
        for i in range(count):
            pfn = self.rmqueue(0)
            if pfn is None:
                return i
            lst.add(pfn, to_tail=True)
            self.pcp_where[pfn] = (cpu, which)
        return count

    def buffered_rmqueue(self, cpu: int, order: int, cold: bool) -> int | None:
        """``buffered_rmqueue(zone, order, gfp_flags)``: order 0 from this CPU's hot or cold
        list (refilled by ``batch`` when ``count <= low``), else (or if the list stays
        empty) ``__rmqueue``. The block is recorded as allocated."""
        pfn = None
        if order == 0:
            which = COLD if cold else HOT
            pcp = self.pageset[cpu][which]
            if spec.pcp_refill(pcp.count, pcp.low):
                pcp.count += self.rmqueue_bulk(pcp.batch, cpu, which)
            if pcp.count:
                pfn = pcp.list.first()
                pcp.list.remove(pfn)
                del self.pcp_where[pfn]
                pcp.count -= 1
        if pfn is None:
            pfn = self.rmqueue(order)
        if pfn is not None:
            self.allocated[pfn] = order
        return pfn

    # -- freeing ----------------------------------------------------------------------------
    def check_free(self, pfn: int, order: int) -> None:
        """The BUG_ONs of ``__free_pages_bulk`` (index aligned *relative to the zone*, in
        range) plus the model's own: the block is one handed out, at this order."""
        if not 0 <= order < spec.MAX_ORDER:
            raise InvalidArgument(f"order {order} outside 0..{spec.MAX_ORDER - 1}")
        if (pfn - self.start_pfn) % (1 << order):
            raise UnalignedFree(f"pfn {pfn:#x} is not aligned to order {order} relative to the "
                                f"zone's first page {self.start_pfn:#x}")
        if not (self.start_pfn <= pfn and pfn + (1 << order) <= self.end_pfn):
            raise BadRange(f"block [{pfn:#x}, {pfn + (1 << order):#x}) is outside zone "
                           f"{self.name} [{self.start_pfn:#x}, {self.end_pfn:#x})")
        held = self.allocated.get(pfn)
        if held is None:
            if pfn in self.pcp_where or self._in_free_block(pfn):
                raise BadPageState(f"pfn {pfn:#x} is already free (double free)",
                                   "page_count != 0 in free_pages_check")
            raise BadPageState(f"pfn {pfn:#x} does not start an allocated block",
                               "page_count != 0 in free_pages_check")
        if held != order:
            raise FreeOrderMismatch(f"block at pfn {pfn:#x} was allocated at order {held}, "
                                    f"freed at order {order}")

    def _in_free_block(self, pfn: int) -> bool:
        idx = pfn - self.start_pfn
        return any(self.free_order.get(self.start_pfn + (idx >> o << o)) == o
                   for o in range(spec.MAX_ORDER))

    def free_pages_ok(self, pfn: int, order: int) -> None:
        """``__free_pages_ok(page, order)``: one block straight to the buddy allocator."""
        self.check_free(pfn, order)
        del self.allocated[pfn]
        self.free_pages_bulk_one(pfn, order)

    def free_hot_cold_page(self, cpu: int, pfn: int, cold: bool) -> None:
        """``free_hot_cold_page(page, cold)``: when ``count >= high`` first free ``batch``
        pages from the list's tail, then add the page at the head."""
        self.check_free(pfn, 0)
        del self.allocated[pfn]
        which = COLD if cold else HOT
        pcp = self.pageset[cpu][which]
        if spec.pcp_drain_on_free(pcp.count, pcp.high):
            pcp.count -= self.free_pages_bulk(pcp.batch, pcp.list)
        pcp.list.add(pfn, to_tail=False)
        self.pcp_where[pfn] = (cpu, which)
        pcp.count += 1

    def boot_single_frees(self, ranges: list[tuple[int, int]]) -> None:
        """Free every pfn of ``ranges`` (ascending, disjoint; the zone holding no free or
        listed page yet) one by one through CPU 0's hot list, as ``one_highpage_init``
        does, in one step: the first :func:`kmem.spec.alloc_2611.hot_frees_drained` pages
        reach the buddy allocator (their maximally coalesced blocks, each list in
        descending pfn order, :func:`~kmem.spec.alloc_2611.canonical_blocks`), the rest
        stay on the hot list, newest at the head. The result is the page-by-page result
        (``kmem conform --kernel 2.6.11`` boots its HighMem page by page through 2.6.11's
        own ``__free_pages``)."""
        if self.free_order or self.pcp_where or any(p.count for pair in self.pageset
                                                    for p in pair):
            raise InvalidArgument("boot_single_frees needs a zone with no free pages yet")
        pcp = self.pageset[0][HOT]
        total = sum(e - s for s, e in ranges)
        left = spec.hot_frees_drained(total, pcp.high, pcp.batch)
        listed: list[int] = []
        for s, e in ranges:
            cut = s + min(left, e - s)
            left -= cut - s
            for pfn, order in spec.canonical_blocks(s, cut, self.start_pfn):
                self._add_to_free_list(pfn, order, to_tail=False)  # ascending: each at the head
            listed.extend(range(cut, e))
        for pfn in listed:
            pcp.list.add(pfn, to_tail=False)
            self.pcp_where[pfn] = (0, HOT)
        pcp.count = len(listed)

    def drain_pages(self, cpu: int) -> None:
        """``__drain_pages(cpu)`` for this zone: the hot list, then the cold list, every page
        from the tail (``free_pages_bulk(zone, pcp->count, &pcp->list, 0)``)."""
        for pcp in self.pageset[cpu]:
            pcp.count -= self.free_pages_bulk(pcp.count, pcp.list)

    # -- views ------------------------------------------------------------------------------
    def pcp_list(self, cpu: int, which: int) -> list[int]:
        """The pfns on this CPU's hot (0) or cold (1) list, head first."""
        return list(self.pageset[cpu][which].list)

    def state(self) -> buddy.ZoneState:
        return buddy.ZoneState(
            start_pfn=self.start_pfn, end_pfn=self.end_pfn,
            free=frozenset(self.free_order.items()),
            allocated=frozenset(self.allocated.items()),
            holes=self.span.holes, reserved=self.span.reserved,
            nr_free=self.nr_free(), free_pages=self.free_pages,
            pcp=frozenset((pfn, 0) for pfn in self.pcp_where))

    def relative_state(self) -> buddy.ZoneState:
        """:meth:`state` moved to start at pfn 0: 2.6.11's buddies are zone-relative, so
        the spec's invariants hold in this frame for any zone start."""
        b = self.start_pfn

        def shift(blocks: frozenset[tuple[int, int]]) -> frozenset[tuple[int, int]]:
            return frozenset((p - b, o) for p, o in blocks)

        zs = self.state()
        return buddy.ZoneState(
            start_pfn=0, end_pfn=self.end_pfn - b, free=shift(zs.free),
            allocated=shift(zs.allocated),
            holes=tuple((s - b, e - b) for s, e in zs.holes),
            reserved=tuple((s - b, e - b) for s, e in zs.reserved),
            nr_free=zs.nr_free, free_pages=zs.free_pages, pcp=shift(zs.pcp))

    def pcp_violations(self) -> list[buddy.Violation]:
        """Each list's ``count`` equals its length and every page on it is known once."""
        out = []
        seen = 0
        for cpu, pair in enumerate(self.pageset):
            for which, pcp in enumerate(pair):
                n = len(pcp.list)
                seen += n
                if pcp.count != n:
                    out.append(buddy.Violation("pcp", f"cpu {cpu} {('hot', 'cold')[which]}: "
                                                      f"count {pcp.count}, {n} pages listed"))
                for pfn in pcp.list:
                    if self.pcp_where.get(pfn) != (cpu, which):
                        out.append(buddy.Violation("pcp", f"pfn {pfn:#x} on cpu {cpu}'s list "
                                                          f"but recorded elsewhere"))
        if seen != len(self.pcp_where):
            out.append(buddy.Violation("pcp", f"{len(self.pcp_where)} pages recorded on per-CPU "
                                              f"lists, {seen} listed"))
        return out


__all__ = ["COLD", "HOT", "PerCpuPages2611", "Zone2611"]
