"""A machine whose page allocator is Linux 2.6.11's (``Machine.x86_32(mb, kernel="2.6.11")``).

Zones are :class:`~kmem.model.zone_2611.Zone2611` (one free list per order, head
insertion, zone-relative buddies, hot and cold per-CPU lists). The machine runs 2.6.11's
``__alloc_pages`` passes (:func:`kmem.spec.alloc_2611.alloc_plan`) with the watermarks of
``setup_per_zone_pages_min`` and ``setup_per_zone_lowmem_reserve`` and 2.6.11's
``zone_watermark_ok`` (:mod:`kmem.spec.watermarks`, ``*_2611``), frees as ``__free_pages``
does (order 0 to the hot list, higher orders to the buddy), and boots as 2.6.11's i386
``mem_init`` did: ``free_all_bootmem`` (whole 32-page bitmap words as order-5 blocks,
other free pages one by one) and then every highmem page one by one
(``one_highpage_init``), all on CPU 0.

Gfp masks are **2.6.11's numbering** (``GFP_KERNEL`` is 0xd0, ``__GFP_COLD`` 0x100;
:mod:`kmem.spec.alloc_2611`). There is no /proc/zoneinfo (2.6.13) or
/proc/pagetypeinfo (2.6.24): :meth:`Machine2611.zoneinfo` and ``pagetypeinfo`` raise
:class:`~kmem.spec.errors.InvalidArgument` saying so. 2.6.11 has no buddy bitmaps
(2.4's ``free_area->map``): ``page_is_buddy`` reads the order from the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmem.spec import alloc_2611 as spec
from kmem.spec import buddy, page_alloc, procfs, watermarks
from kmem.spec import zones as zones_spec
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import AllocationLivelock, InvalidArgument, TailPageFree
from kmem.spec.x86_32_layout import page_offset
from kmem.spec.zones import MachineLayout, ZoneType

from .machine import Machine, _check_order
from .memory import PageContents
from .page import Page
from .zone import Zone
from .zone_2611 import COLD, HOT, Zone2611

KERNEL = "2.6.11"


class Machine2611(Machine):
    """One node of an x86-32 machine running Linux 2.6.11's page allocator.

    ``nr_cpus`` pagesets per zone (``self.cpu`` picks the CPU that allocates and
    frees); ``min_free_kbytes`` defaults to 2.6.11's ``init_per_zone_pages_min`` value,
    ``lowmem_reserve_ratio`` to ``{256, 32}``. ``memalloc=True`` makes the caller a
    PF_MEMALLOC task (the no-watermark pass), ``rt_task=True`` a realtime one.
    """

    kernel_version = KERNEL

    def __init__(self, layout: MachineLayout, *, nr_cpus: int = 1,
                 min_free_kbytes: int | None = None,
                 lowmem_reserve_ratio: tuple[int, ...] | None = None,
                 comm: str = "kmem", **unsupported: Any) -> None:
        if unsupported:
            raise InvalidArgument(f"the 2.6.11 machine does not take {', '.join(sorted(unsupported))}"
                                  f" (2.6.11 had no migratetypes, pcp high tuning, NUMA presets "
                                  f"or policies: it has one list discipline)")
        if layout.arch != "x86_32":
            raise InvalidArgument("kernel='2.6.11' models the i386 machine of the lecture "
                                  "slides: use Machine.x86_32(mem_mb, kernel='2.6.11')")
        if isinstance(nr_cpus, bool) or not isinstance(nr_cpus, int) or not 1 <= nr_cpus <= 32:
            raise InvalidArgument(f"nr_cpus must be an int in 1..32 (i386 NR_CPUS), got "
                                  f"{nr_cpus!r}")
        from kmem.spec.kernel import kernel as kernel_spec

        self.kernel = kernel_spec(KERNEL)
        self.cma = False  # CMA came with 3.5
        self.init_on_alloc = False  # init_on_alloc came with 5.3
        self.path_era = None
        self.node_layouts = (layout,)
        self.layout = layout
        self.config = layout.config
        self.policy = "linux"
        self.comm = comm
        self.migratetypes = False
        self.nr_cpus = nr_cpus
        self.cpu = 0
        self.cpu_nodes = (0,) * nr_cpus
        self.node = 0
        self._preferred_nid = None
        self.slab = "slab"
        self.slab_cpus = nr_cpus
        self._slab = None
        self.memalloc = False  # current->flags & PF_MEMALLOC
        self.rt_task = False  # rt_task(current)
        self.in_interrupt = False
        self.last_failure: str | None = None
        # 2.6.11's zones: DMA, Normal, HighMem (ZONE_MOVABLE came in 2.6.23)
        self.zones: list[Zone] = [Zone2611(span, idx, nr_cpus=nr_cpus)
                                  for idx, span in enumerate(layout.zones)
                                  if span.ztype in (ZoneType.DMA, ZoneType.NORMAL,
                                                    ZoneType.HIGHMEM)]
        if [z.ztype for z in self.zones] != [ZoneType.DMA, ZoneType.NORMAL, ZoneType.HIGHMEM]:
            raise InvalidArgument("a 2.6.11 i386 machine has the zones DMA, Normal and HighMem")
        self.node_zones = [self.zones]
        self.pages: dict[int, Page] = {}
        self.memory = PageContents()
        self.dmesg: list[str] = []
        self.compound_heads: set[int] = set()
        self._order_warned = False
        self._warned_once: set[str] = set()
        self.clock_s = 0.0
        self._ratelimit = spec.Ratelimit2611()
        self.from_proc_report = ()
        self._zero_page = None
        self.page_offset = page_offset(layout.vmsplit or "3G")
        # lowmem ends where ZONE_NORMAL ends (max_low_pfn: MAXMEM of 2.6.11 for a preset)
        self.max_low_pfn = self.zones[1].end_pfn
        self._boot()
        self.setup_watermarks(min_free_kbytes=min_free_kbytes,
                              lowmem_reserve_ratio=lowmem_reserve_ratio)

    @classmethod
    def custom(cls, sizes: tuple[int, int, int], *, reserved: tuple[int, int] = (0, 0),
               **kwargs: Any) -> Machine2611:
        """A node from pfn 0 with DMA, Normal and HighMem of ``sizes`` pages (any sizes:
        ``kmem conform`` uses odd ones and Normal zones whose start is not aligned to
        MAX_ORDER-1) and pfns ``[reserved[0], reserved[1])`` never freed at boot."""
        if (not isinstance(sizes, tuple) or len(sizes) != 3
                or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in sizes)
                or sizes[0] < 1):
            raise InvalidArgument(f"sizes must be (dma, normal, highmem) page counts, dma >= 1, "
                                  f"got {sizes!r}")
        d, n, h = sizes
        bounds = {ZoneType.DMA: (0, d), ZoneType.NORMAL: (d, d + n),
                  ZoneType.HIGHMEM: (d + n, d + n + h)}
        rs, re_ = reserved
        layout = zones_spec._layout(f"2.6.11-{d}-{n}-{h}", "x86_32", zones_spec.X86_32_CONFIG,
                                    bounds, d + n + h, (), ((rs, re_),) if re_ > rs else (),
                                    "3G")
        return cls(layout, **kwargs)

    # -- boot and watermarks -----------------------------------------------------------------
    def _zone2611(self, pfn: int) -> Zone2611:
        zone = self.zone_of(pfn)
        assert isinstance(zone, Zone2611)
        return zone

    def _boot(self) -> None:
        """``mem_init``: ``free_all_bootmem`` over lowmem, then ``set_highmem_pages_init``:
        each free as ``__free_pages`` (order 0 through CPU 0's hot list)."""
        ranges: list[tuple[int, int]] = []
        for zone in self.zones[:2]:  # the bootmem bitmap knows pages, not zones
            for s, e in zone.managed_ranges:
                if ranges and ranges[-1][1] == s:
                    ranges[-1] = (ranges[-1][0], e)
                else:
                    ranges.append((s, e))
        for pfn, order in spec.bootmem_frees(0, self.max_low_pfn, ranges):
            zone = self._zone2611(pfn)
            if (pfn - zone.start_pfn) % (1 << order) or pfn + (1 << order) > zone.end_pfn:
                raise InvalidArgument(
                    f"2.6.11 would BUG at boot: free_all_bootmem frees pfns [{pfn:#x}, "
                    f"{pfn + (1 << order):#x}) as one order-{order} block, which is not aligned "
                    f"within ZONE_{zone.ztype.name} starting at {zone.start_pfn:#x} "
                    f"(__free_pages_bulk: BUG_ON(page_idx & (order_size - 1)); "
                    f"free_area_init_core warns \"BUG: wrong zone alignment, it will crash\")")
            zone.allocated[pfn] = order
            if order == 0:
                zone.free_hot_cold_page(0, pfn, cold=False)
            else:
                zone.free_pages_ok(pfn, order)
        # one_highpage_init: every highmem page through CPU 0's hot list, in one step
        high = self.zones[2]
        assert isinstance(high, Zone2611)
        high.boot_single_frees(list(high.managed_ranges))

    def setup_watermarks(self, *, min_free_kbytes: int | None = None,
                         watermark_scale_factor: int = 10,
                         lowmem_reserve_ratio: tuple[int, ...] | None = None) -> None:
        """``init_per_zone_pages_min``: ``min_free_kbytes = clamp(int_sqrt(lowmem_kbytes *
        16), 128, 65536)`` where ``lowmem_kbytes`` is ``nr_free_buffer_pages() * 4`` (present
        pages of DMA and Normal: the marks are still 0), then ``setup_per_zone_pages_min``
        and ``setup_per_zone_lowmem_reserve`` (2.6.11 lines 1920-2031). Writing the sysctls
        ``vm.min_free_kbytes`` or ``vm.lowmem_reserve_ratio`` does the same."""
        present = [z.present_pages for z in self.zones]
        if min_free_kbytes is None:
            lowmem = sum(p for z, p in zip(self.zones, present, strict=True)
                         if z.ztype is not ZoneType.HIGHMEM)
            min_free_kbytes = watermarks.default_min_free_kbytes_2611(lowmem * (PAGE_SIZE // 1024))
        ratios = (spec.LOWMEM_RESERVE_RATIO if lowmem_reserve_ratio is None
                  else tuple(lowmem_reserve_ratio))
        marks = watermarks.setup_per_zone_pages_min_2611(
            [(z.ztype, p) for z, p in zip(self.zones, present, strict=True)], min_free_kbytes)
        reserves = watermarks.setup_per_zone_lowmem_reserve_2611(present, ratios)
        self.min_free_kbytes = min_free_kbytes
        self.watermark_scale_factor = watermark_scale_factor
        self.lowmem_reserve_ratio = ratios
        for zone, mark, reserve in zip(self.zones, marks, reserves, strict=True):
            zone.watermark = (mark.min, mark.low, mark.high, mark.high)
            zone.lowmem_reserve = tuple(reserve)

    # -- allocation ------------------------------------------------------------------------
    def alloc_pages(self, gfp: int, order: int = 0) -> Page | None:
        """2.6.11 ``alloc_pages(gfp, order)`` (gfp in 2.6.11's numbering): None for order >=
        MAX_ORDER (11) without a message; else the zonelist of ``gfp & GFP_ZONEMASK`` and the
        passes of :func:`kmem.spec.alloc_2611.alloc_plan`, each zone tried with 2.6.11's
        ``zone_watermark_ok`` and ``buffered_rmqueue``. When every pass fails: the 2.6.11
        failure line (``%s: page allocation failure. order:%d, mode:0x%x``, unless
        __GFP_NOWARN, rate-limited by ``printk_ratelimit``), or, where 2.6.11 would retry
        for ever (reclaim, OOM kill, ``goto restart``/``rebalance``; kmem has neither),
        :class:`~kmem.spec.errors.AllocationLivelock` with nothing changed."""
        gfp = page_alloc.check_gfp(gfp)
        order = _check_order(order)
        if order >= spec.MAX_ORDER:
            return None  # alloc_pages_node: if (unlikely(order >= MAX_ORDER)) return NULL
        found = self._alloc_zone(gfp, order)
        if found is not None:
            zone, pfn = found
            self.last_failure = None
            return self._prep_new_page(zone, pfn, order, gfp)
        plan = spec.alloc_plan(gfp, memalloc=self.memalloc, rt_task=self.rt_task,
                               in_interrupt=self.in_interrupt)
        if plan.on_failure == "loops" or (plan.on_failure == "retry"
                                          and spec.retries(gfp, order)):
            raise AllocationLivelock(
                f"alloc_pages({gfp:#x}, {order}): 2.6.11's __alloc_pages would retry for ever "
                f"(try_to_free_pages, out_of_memory and goto restart, or do_retry and goto "
                f"rebalance); kmem has no reclaim and no OOM killer that frees pages. Passes "
                f"tried: {', '.join(p.name for p in plan.passes)}")
        self.last_failure = plan.passes[-1].name
        self._warn_alloc(gfp, order)
        return None

    def _alloc_zone(self, gfp: int, order: int) -> tuple[Zone2611, int] | None:
        present = [z.present_pages for z in self.zones]
        chain = spec.zonelist(gfp, present)
        if not chain:
            return None  # zones[0] == NULL: "Should this ever happen??"
        classzone = chain[0]
        plan = spec.alloc_plan(gfp, memalloc=self.memalloc, rt_task=self.rt_task,
                               in_interrupt=self.in_interrupt)
        for attempt in plan.passes:
            for idx in chain:
                zone = self.zones[idx]
                assert isinstance(zone, Zone2611)
                if attempt.mark is not None and not self.watermark_ok(
                        zone, order, attempt.mark, classzone, attempt.can_try_harder,
                        attempt.gfp_high):
                    continue
                pfn = zone.buffered_rmqueue(self.cpu, order, bool(gfp & spec.GFP_COLD))
                if pfn is not None:
                    return zone, pfn
        return None

    @staticmethod
    def watermark_ok(zone: Zone, order: int, mark: str, classzone: int, can_try_harder: bool,
                     gfp_high: bool) -> bool:
        """2.6.11 ``zone_watermark_ok(z, order, z->pages_<mark>, classzone_idx, ...)``."""
        value = {"min": zone.watermark[0], "low": zone.watermark[1],
                 "high": zone.watermark[2]}[mark]
        return watermarks.zone_watermark_ok_2611(
            free_pages=zone.free_pages, order=order, mark=value,
            lowmem_reserve=zone.lowmem_reserve[classzone], can_try_harder=can_try_harder,
            gfp_high=gfp_high, nr_free=zone.nr_free())

    def _warn_alloc(self, gfp: int, order: int) -> None:
        """``if (!(gfp_mask & __GFP_NOWARN) && printk_ratelimit())`` print the line (the
        ``dump_stack()`` after it is not modelled)."""
        if gfp & spec.GFP_NOWARN:
            return
        show, self._ratelimit, note = spec.printk_ratelimit(self._ratelimit,
                                                            round(self.clock_s * spec.HZ))
        if note is not None:
            self.dmesg.append(note)
        if show:
            self.dmesg.extend(page_alloc.warn_alloc_lines(self.comm, order, gfp, kernel=KERNEL))

    def _prep_new_page(self, zone: Zone, pfn: int, order: int, gfp: int) -> Page:
        """``prep_new_page`` (count 1), ``__GFP_ZERO`` and ``__GFP_COMP`` in 2.6.11's bits."""
        page = self.pfn_to_page(pfn)
        page._refcount = 1
        if gfp & spec.GFP_ZERO:
            self.memory.zero(pfn, 1 << order)
        if order and gfp & spec.GFP_COMP:
            self.compound_heads.add(pfn)
        return page

    def zero_page(self) -> Page:
        """ZERO_PAGE: one shared, always-zero lowmem page, marked reserved (2.6.11's gfp:
        GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN)."""
        if self._zero_page is None:
            page = self.alloc_pages(spec.GFP_KERNEL | spec.GFP_ZERO | spec.GFP_NOWARN, 0)
            if page is None:
                raise InvalidArgument("no lowmem page left for the zero page")
            page.reserved = True
            self._zero_page = page
        return self._zero_page

    # -- freeing -----------------------------------------------------------------------------
    def free_pages(self, page: Page, order: int = 0) -> None:
        """2.6.11 ``__free_pages(page, order)``: drop a reference; at zero, order 0 goes to
        this CPU's hot list (``free_hot_page``), higher orders to the buddy allocator
        (``__free_pages_ok``). 2.6.11 has no ``___free_pages`` tail freeing: a block whose
        count stays above zero is simply kept."""
        self._free(page, order, cold=False)

    def free_cold_page(self, page: Page) -> None:
        """``free_cold_page(page)``: order 0 to this CPU's cold list."""
        self._free(page, 0, cold=True)

    def _free(self, page: Page, order: int, cold: bool) -> None:
        page = self._own(page)
        order = _check_order(order)
        if order >= spec.MAX_ORDER:
            raise InvalidArgument(f"order {order} >= MAX_ORDER ({spec.MAX_ORDER})")
        zone = self._zone2611(page.pfn)
        head = self._is_compound_tail(zone, page.pfn)
        if head is not None:
            raise TailPageFree(f"pfn {page.pfn:#x} is a tail page of the compound block at "
                               f"pfn {head:#x}: free the head page")
        zone.check_free(page.pfn, order)
        self._check_free_state(page)
        if page._refcount > 1:
            page._refcount -= 1
            return
        page._refcount = 0
        self._release_2611(zone, page.pfn, order, cold)

    def _release(self, zone: Zone, pfn: int, order: int) -> None:
        assert isinstance(zone, Zone2611)
        self._release_2611(zone, pfn, order, False)

    def _release_2611(self, zone: Zone2611, pfn: int, order: int, cold: bool) -> None:
        self.compound_heads.discard(pfn)
        if order == 0:
            zone.free_hot_cold_page(self.cpu, pfn, cold)
        else:
            zone.free_pages_ok(pfn, order)

    def drain_local_pages(self) -> None:
        """``drain_local_pages()``: this CPU's hot and cold lists of every zone, back to the
        buddy allocator (``__drain_pages``)."""
        for zone in self.zones:
            assert isinstance(zone, Zone2611)
            zone.drain_pages(self.cpu)

    def drain_all_pages(self, zone: Zone | None = None) -> None:
        """Every CPU's lists (2.6.11 drains one CPU at a time: ``__drain_pages(cpu)`` on CPU
        hotplug and suspend)."""
        for z in ([zone] if zone is not None else self.zones):
            assert isinstance(z, Zone2611)
            for cpu in range(self.nr_cpus):
                z.drain_pages(cpu)

    def zone(self, ztype: ZoneType) -> Zone:
        if ztype not in (ZoneType.DMA, ZoneType.NORMAL, ZoneType.HIGHMEM):
            raise InvalidArgument(f"2.6.11 has no ZONE_{ztype.name} (its zones: DMA, Normal, "
                                  f"HighMem)")
        return self.zones[self.config.idx(ztype)]

    # -- state, checks and texts ------------------------------------------------------------
    def check_invariants(self, zone_check: Callable[[buddy.ZoneState], list[buddy.Violation]]
                         = buddy.check_invariants) -> list[buddy.Violation]:
        """The spec's buddy invariants in each zone's own frame (2.6.11's buddies are
        zone-relative) and the per-CPU list bookkeeping (``zone_check``: as the 6.x
        model's)."""
        out: list[buddy.Violation] = []
        for zone in self.zones:
            assert isinstance(zone, Zone2611)
            out.extend(zone_check(zone.relative_state()))
            out.extend(zone.pcp_violations())
        return out

    @property
    def pcp_pages_total(self) -> int:
        return sum(p.count for z in self.zones if isinstance(z, Zone2611)
                   for pair in z.pageset for p in pair)

    def pcp_lists(self, cpu: int | None = None) -> list[tuple[str, int, list[int], list[int]]]:
        """(zone, cpu, hot list, cold list) per populated zone and CPU, heads first."""
        cpus = range(self.nr_cpus) if cpu is None else [cpu]
        return [(z.name, c, z.pcp_list(c, HOT), z.pcp_list(c, COLD)) for z in self.zones
                if isinstance(z, Zone2611) and z.present_pages for c in cpus]

    def buddyinfo(self) -> str:
        """/proc/buddyinfo as 2.6.11's ``frag_show`` printed it: ``Node %d, zone %8s `` and
        ``%6lu `` for each of the 11 orders, zones with present pages only."""
        rows = [procfs.BuddyinfoRow(0, z.name, z.nr_free()) for z in self.zones
                if z.present_pages]
        return procfs.format_buddyinfo(rows)

    def zoneinfo(self) -> str:
        raise InvalidArgument(spec.NO_ZONEINFO)

    def zoneinfo_zones(self) -> tuple[procfs.ZoneinfoZone, ...]:
        raise InvalidArgument(spec.NO_ZONEINFO)

    def pagetypeinfo(self, *, cma: bool | None = None) -> str:
        raise InvalidArgument(spec.NO_PAGETYPEINFO)

    @property
    def slab_allocator(self) -> Any:
        raise InvalidArgument("the slab layer of a kernel='2.6.11' machine is not modelled on "
                              "its page allocator yet (kmem.spec.slab has 2.6.11's SLAB "
                              "geometry: Machine.x86_32(mb, era='2.6.11', slab='slab'))")


__all__ = ["KERNEL", "Machine2611"]
