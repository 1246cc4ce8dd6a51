"""The reference model of one machine's page allocator (mm/page_alloc.c, 6.x).

A :class:`Machine` is a single memory node: its zones (each a buddy allocator,
:class:`~kmem.model.zone.Zone`), lazily created page descriptors, page contents,
and a kernel log. The page API lives here under Pythonic names and in
:mod:`kmem.model.api` under the kernel's. Every rule comes from :mod:`kmem.spec`:
``gfp_zone``, the zonelist, the allocation passes and watermark checks, the
buddy transitions. Each operation runs its checks before it changes anything,
so an exception leaves the machine exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kmem.spec import (
    buddy,
    machine_options,
    migrate,
    numa,
    page_alloc,
    prepare_alloc,
    slowpath,
    watermarks,
)
from kmem.spec import gfp as gfp_spec
from kmem.spec import kernel as kernel_spec
from kmem.spec import pagetypeinfo as pagetypeinfo_spec
from kmem.spec import pcp as pcp_spec
from kmem.spec import zones as zones_spec
from kmem.spec.alloc_flags import (
    ALLOC_HIGHATOMIC,
    ALLOC_NO_WATERMARKS,
    ALLOC_NOFRAGMENT,
    ALLOC_WMARK_MASK,
    WMARK_HIGH,
)
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_SHIFT
from kmem.spec.errors import (
    AllocationLivelock,
    BadPageState,
    FreeOrderMismatch,
    GetPageOnFreePage,
    InvalidArgument,
    RefcountUnderflow,
    TailPageFree,
)
from kmem.spec.machine_surface import PathSurface
from kmem.spec.prepare_alloc import AllocDecision
from kmem.spec.zones import MachineLayout, ZoneType

from .freelists import free_list_class
from .memory import PageContents
from .mtzone import MtZone
from .page import Page
from .zone import Zone

if TYPE_CHECKING:
    from .slab import SlabAllocator

GFP_ZERO = page_alloc.GFP_ZERO_BIT
GFP_COMP = page_alloc.GFP_COMP_BIT
GFP_NOWARN = page_alloc.GFP_NOWARN_BIT
GFP_NOFAIL = page_alloc.GFP_NOFAIL_BIT
_check_gfp = page_alloc.check_gfp
_check_order = page_alloc.check_order
SECTION_PAGES_SHIFT = 27 - PAGE_SHIFT  # x86-64 SECTION_SIZE_BITS 27: 128 MiB sections


class Machine(PathSurface[Zone, Page]):
    """One node of physical memory with its zones and the page API (the address rules,
    page contents and ZERO_PAGE: :class:`kmem.spec.page_api.MachinePages`; presets, NUMA
    entry points, the current CPU, reports and /proc rows:
    :class:`kmem.spec.machine_surface.PathSurface`).

    ``policy`` chooses among equally legal blocks: ``"lowest"`` (lowest address,
    the canonical policy of the benchmark suite) or ``"linux"`` (the kernel's
    list discipline). ``min_free_kbytes`` defaults to the kernel's boot value for
    the machine's lowmem; ``lowmem_reserve_ratio`` to the kernel's defaults.
    """

    def __init__(self, layout: MachineLayout, *, policy: str = "lowest",
                 min_free_kbytes: int | None = None, watermark_scale_factor: int = 10,
                 lowmem_reserve_ratio: tuple[int, ...] | None = None,
                 comm: str = "kmem", slab: str = "slub", slab_cpus: int = 1,
                 migratetypes: bool = False, nr_cpus: int = 0,
                 pageblock_order: int = migrate.PAGEBLOCK_ORDER,
                 percpu_pagelist_high_fraction: int = 0,
                 nodes: tuple[MachineLayout, ...] = (),
                 distances: tuple[tuple[int, ...], ...] | None = None,
                 cpu_nodes: tuple[int, ...] | None = None,
                 kernel: str | kernel_spec.Kernel | None = None,
                 cma: bool | None = None, init_on_alloc: bool | None = None) -> None:
        free_list_class(policy)  # validates the policy name
        #: the modelled kernel (kmem.spec.kernel.Kernel; default: the newest kmem knows)
        self.kernel = kernel_spec.buddy_machine_kernel(kernel)
        config = self.kernel.debian_config
        for name, value in (("cma", cma), ("init_on_alloc", init_on_alloc)):
            if value is not None and not isinstance(value, bool):
                raise InvalidArgument(f"{name} must be True, False or None (the kernel "
                                      f"configuration's default), got {value!r}")
        #: CONFIG_CMA (default: the modelled kernel's configuration, Debian amd64: unset)
        self.cma = config.cma if cma is None else cma
        #: init_on_alloc= (default: CONFIG_INIT_ON_ALLOC_DEFAULT_ON, Debian: y)
        self.init_on_alloc = config.init_on_alloc if init_on_alloc is None else init_on_alloc
        #: whose code the whole allocation path follows ("6.12", "6.1"); None without it
        self.path_era = self.kernel.path_era if migratetypes else None
        machine_options.check_path_options(policy, migratetypes, nr_cpus,
                                           percpu_pagelist_high_fraction)
        node_layouts = (layout, *nodes)
        machine_options.check_nodes(node_layouts)
        self.node_layouts = node_layouts  # one MachineLayout per NUMA node
        self.distances = numa.check_distances(
            distances if distances is not None else numa.default_distances(len(node_layouts)))
        if len(self.distances) != len(node_layouts):
            raise InvalidArgument(f"distances for {len(self.distances)} nodes, but "
                                  f"{len(node_layouts)} nodes")
        self.cpu_nodes = machine_options.check_cpu_nodes(cpu_nodes, nr_cpus, len(node_layouts))
        self.node = 0  # numa_node_id() when the machine has no CPUs modelled
        self._preferred_nid: int | None = None  # alloc_pages_node's nid while it runs
        self._atomic_gfp: bool | None = None  # 6.1: the request's __GFP_ATOMIC, while it runs
        self._rmqueue_warnings: tuple[str, ...] = ()  # 6.1: rmqueue's, while a request runs
        atomic = gfp_spec.get_profile(self.kernel.gfp_profile).flag("__GFP_ATOMIC") \
            if self.path_era == "6.1" else None
        self._gfp_atomic_bit = atomic.value if atomic is not None else 0
        if slab not in ("slub", "slab"):
            raise InvalidArgument(f"slab must be 'slub' (6.x) or 'slab' (2.6.11), got {slab!r}")
        if isinstance(slab_cpus, bool) or not isinstance(slab_cpus, int) or slab_cpus < 1:
            raise InvalidArgument(f"slab_cpus must be an int >= 1, got {slab_cpus!r}")
        self.slab = slab  # the slab allocator, built on first use (slab_allocator)
        self.slab_cpus = slab_cpus  # CPUs SLUB sizes its slabs for (min_objects)
        self._slab: SlabAllocator | None = None
        self.layout = layout
        self.config = layout.config
        self.policy = policy
        self.comm = comm  # current->comm in log lines
        # The kernel's whole allocation path (kmem.model.mtzone) or the bare buddy core
        self.migratetypes = migratetypes
        self.nr_cpus = nr_cpus  # per-CPU pagesets per zone; 0: none (frees go to the buddy)
        self._cpu = 0  # the CPU the caller runs on (smp_processor_id()); see the cpu property
        self.percpu_pagelist_high_fraction = percpu_pagelist_high_fraction
        self.last_failure: str | None = None  # the step of the slow path that gave up
        # what reclaim, compaction and the OOM killer achieve (kmem has none of them)
        self.outcomes = slowpath.Outcomes(reclaim_retry_wmark=None)
        # every node's zones, node by node; node 0's come first, so that
        # self.zones[config.idx(zt)] is node 0's zone of type zt
        self.zones: list[Zone] = []
        self.node_zones: list[list[Zone]] = []
        for nid, node_layout in enumerate(node_layouts):
            if migratetypes:
                zones: list[Zone] = [
                    MtZone(span, idx, policy=policy, pageblock_order=pageblock_order,
                           nr_cpus=nr_cpus, is_memory=self._is_memory_pfn,
                           kernel=self.kernel, cma=self.cma)
                    for idx, span in enumerate(node_layout.zones)]
            else:
                zones = [Zone(span, idx, policy=policy)
                         for idx, span in enumerate(node_layout.zones)]
            for zone in zones:
                zone.node = nid
            self.node_zones.append(zones)
            self.zones.extend(zones)
        # x86 builds the boot zonelists (start_kernel -> build_all_zonelists(NULL)) before
        # arch_cpu_finalize_init -> identify_boot_cpu -> identify_cpu -> numa_add_cpu puts
        # any CPU in its node's mask (arch/x86/kernel/cpu/common.c), and bringing CPUs
        # online does not rebuild them: find_next_best_node's "node has CPUs" penalty
        # (6.12.118 mm/page_alloc.c:5346-5347) never applies to them
        self.zonelists = numa.build_all_zonelists(
            self.distances, [[z.managed_pages for z in zones] for zones in self.node_zones],
            frozenset())
        self.pages: dict[int, Page] = {}
        self.memory = PageContents()
        self.dmesg: list[str] = []
        self.compound_heads: set[int] = set()  # head pfns of __GFP_COMP blocks
        self._order_warned = False
        self._warned_once: set[str] = set()  # WARN_ON_ONCE sites already reported
        self.clock_s = 0.0  # model time in seconds (see advance_clock)
        self._warn_alloc_rs = page_alloc.RatelimitState()
        self.watermark_boost_factor = watermarks.DEFAULT_WATERMARK_BOOST_FACTOR
        #: Machine.from_proc: each difference and ignored input, one line each
        self.from_proc_report: tuple[str, ...] = ()
        self._normal_idx = (self.config.idx(ZoneType.NORMAL) if self.config.has(ZoneType.NORMAL)
                            else 0)
        # alloc_pages' decisions per (gfp, order, node) and what they were computed from
        self._decisions: tuple[Any, ...] | None = None
        self._movable_idx = (self.config.idx(ZoneType.MOVABLE)
                             if self.config.has(ZoneType.MOVABLE) else len(self.config.zones) - 1)
        self._zero_page: Page | None = None
        self._direct_map_setup()
        self.setup_watermarks(min_free_kbytes=min_free_kbytes,
                              watermark_scale_factor=watermark_scale_factor,
                              lowmem_reserve_ratio=lowmem_reserve_ratio)
        for zone in self.zones:
            if zone.ztype is not ZoneType.DEVICE:  # ZONE_DEVICE never holds buddy pages
                zone.boot()

    # -- presets -------------------------------------------------------------------------
    @classmethod
    def x86_32(cls, mem_mb: int, vmsplit: str = "3G", *, highmem: bool = True,
               era: str = "modern", **kwargs: Any) -> Machine:
        """An x86-32 machine (DMA < 16 MB, NORMAL to the lowmem limit, HIGHMEM above).

        The lowmem limit is MAXMEM of ``era`` (:func:`kmem.spec.x86_32_layout.maxmem`):
        about 884 MB with the modern formula (default), 896 MB with ``era="2.6.11"``.
        ``kernel="2.6.11"`` builds a :class:`kmem.model.machine_2611.Machine2611`: the
        layout of that era and 2.6.11's own page allocator (hot/cold per-CPU lists, head
        insertion, 2.6.11's gfp numbering and watermarks).
        """
        from kmem.spec.alloc_2611 import is_2611

        kernel = kwargs.get("kernel")
        if kernel is not None and is_2611(kernel):
            from .machine_2611 import Machine2611

            del kwargs["kernel"]
            return Machine2611(zones_spec.x86_32(mem_mb, vmsplit, highmem=highmem,
                                                 era="2.6.11"), **kwargs)
        return super().x86_32(mem_mb, vmsplit, highmem=highmem, era=era, **kwargs)

    # -- watermarks (setup_watermarks: kmem.spec.machine_surface) -------------------------
    def _watermarks_changed(self) -> None:
        for zone in self.zones:
            if isinstance(zone, MtZone):
                zone.movable_idx = self._movable_idx
            if isinstance(zone, MtZone) and self.nr_cpus and zone.present_pages:
                # setup_per_zone_wmarks -> zone_pcp_update(zone, 0)
                split = numa.nr_split_cpus(self.cpu_nodes.count(zone.node), 0, self.nr_cpus)
                zone.setup_pageset(split, self.percpu_pagelist_high_fraction)

    # -- page descriptors (addresses: kmem.spec.page_api.MachinePages) ---------------------
    def pfn_to_page(self, pfn: int) -> Page:
        """``pfn_to_page``: the descriptor of ``pfn``, created on first use."""
        page = self.pages.get(pfn)
        if page is not None:
            return page
        zone = self._valid_zone(pfn)
        unmanaged = zone.is_reserved(pfn) or zone.is_hole(pfn)
        refcount = 1 if unmanaged or pfn in zone.allocated else 0
        page = self.pages[pfn] = Page(pfn, zone.ztype, refcount, reserved=unmanaged)
        return page

    def _own(self, page: object) -> Page:
        if not isinstance(page, Page) or self.pages.get(page.pfn) is not page:
            raise InvalidArgument(f"{page!r} is not a struct page of this machine")
        return page

    def _is_compound_tail(self, zone: Zone, pfn: int) -> int | None:
        """The head pfn if ``pfn`` is a tail page of a compound block (``PageTail``)."""
        block = zone.find_allocated(pfn)
        if block is not None and block[0] != pfn and block[0] in self.compound_heads:
            return block[0]
        return None

    def _folio(self, page: Page) -> tuple[Zone, Page]:
        """The page's zone and the page whose refcount counts (``page_folio``): the head
        of a compound block for a tail page, else the page itself."""
        zone = self.zone_of(page.pfn)
        assert zone is not None  # a descriptor exists only for valid pfns
        head = self._is_compound_tail(zone, page.pfn)
        return zone, (self.pfn_to_page(head) if head is not None else page)

    # -- allocation (__alloc_pages) ------------------------------------------------------
    def alloc_pages(self, gfp: int, order: int = 0) -> Page | None:
        """``alloc_pages(gfp, order)``: the first page of a 2**order block, or None.

        order > MAX_PAGE_ORDER warns once (unless __GFP_NOWARN) and fails. A bad
        zone-modifier combination raises :class:`~kmem.spec.errors.BadGfpZone`;
        __GFP_MOVABLE|__GFP_RECLAIMABLE only warns (``gfp_migratetype``'s VM_WARN_ON).
        Otherwise the passes of :func:`kmem.spec.page_alloc.alloc_passes` walk the
        zonelist; with nothing to reclaim, a request no pass satisfies fails with
        the kernel's ``page allocation failure`` line in :attr:`dmesg` (rate-limited
        to one per 10 s of :attr:`clock_s`; silent for __GFP_NOWARN, and for
        __GFP_DMA on a machine without a managed DMA zone). A __GFP_NOFAIL request
        that may reclaim, and a small-order request that may reclaim without __GFP_FS
        (GFP_NOFS, GFP_NOIO: ``out_of_memory`` reports progress for it), never return None
        (:func:`kmem.spec.slowpath.loops_without_progress`): if no pass succeeds, the kernel
        would loop for ever, and kmem raises :class:`~kmem.spec.errors.AllocationLivelock`
        with zones, pages and counters unchanged; the __GFP_NOFAIL WARN_ON_ONCE lines the
        kernel prints on the way (:func:`kmem.spec.page_alloc.nofail_warnings`: 6.12 at the
        top of ``__alloc_pages_slowpath``, once the fast attempt failed; 6.1 in ``rmqueue``
        and at ``nopage``) stay in :attr:`dmesg`, as they would on the real machine before
        it starts looping.
        """
        gfp = _check_gfp(gfp)
        order = _check_order(order)
        if order > MAX_PAGE_ORDER:
            if not gfp & GFP_NOWARN and not self._order_warned:
                self._order_warned = True  # WARN_ON_ONCE
                self.dmesg.append(page_alloc.order_warning_line(order))
            return None
        highest_idx, zonelist, passes, _, lowmem_only, warning = self._decision(gfp, order)
        if warning is not None:
            self.dmesg.append(warning)
        if self.migratetypes:
            return self._alloc_path(gfp, order, zonelist, highest_idx, passes)
        if gfp & GFP_NOFAIL:  # the walk below changes nothing until it finds a block
            for line in page_alloc.bare_walk_warnings(
                    [self.zone_view(z) for z in zonelist], gfp, order, highest_idx, passes,
                    era=self.kernel.path_era):
                self._warn_once(line)
        for attempt in passes:
            for zone in zonelist:
                if page_alloc.zone_allows(self.zone_view(zone), order, attempt.alloc_flags,
                                          highest_idx):
                    pfn = zone.rmqueue_smallest(order)
                    if pfn is not None:
                        return self._prep_new_page(zone, pfn, order, gfp)
        if slowpath.loops_without_progress(gfp, order, lowmem_only=lowmem_only):
            raise AllocationLivelock(slowpath.livelock_message(
                gfp, order, tuple(p.name for p in passes)))
        self._warn_alloc(gfp, order)
        return None

    def _decision(self, gfp: int, order: int) -> AllocDecision:
        """:meth:`_decide`, memoised per (gfp, order, node): it reads only the request and
        what the machine fixes at boot (the layout and its zone config, the zones per
        node, the zonelists, CONFIG_CMA), so the memo is dropped when any of those is
        replaced. A request the spec rejects (BadGfpZone) raises every time."""
        nid = -1 if len(self.node_layouts) == 1 else prepare_alloc.decision_nid(self)
        memo = self._decisions
        if (memo is None or memo[0] is not self.layout or memo[1] is not self.config
                or memo[2] is not self.zones or memo[3] is not self.zonelists
                or memo[4] is not self.node_layouts or memo[5] is not self.node_zones
                or memo[6] != self.cma or memo[7] != self._normal_idx):
            memo = self._decisions = (self.layout, self.config, self.zones, self.zonelists,
                                      self.node_layouts, self.node_zones, self.cma,
                                      self._normal_idx, {})
        d = memo[8].get((gfp, order, nid))
        if d is None:
            d = memo[8][(gfp, order, nid)] = self._decide(gfp, order)
        return d

    def _decide(self, gfp: int, order: int) -> AllocDecision:
        """The spec's decision before the zonelist walk (:func:`kmem.spec.prepare_alloc.decide`)."""
        return prepare_alloc.decide(self, gfp, order)

    # -- the vmstat worker (NUMA, cpu, the clock: kmem.spec.machine_surface) -------------
    def vmstat_update(self, cpu: int) -> bool:
        """One run of the vmstat worker on ``cpu`` (``vmstat_update`` ->
        ``refresh_cpu_vm_stats(true)``, mm/vmstat.c of 6.12, 808-870): ``decay_pcp_high``
        of that CPU's pageset in every populated zone, node by node, zone by zone (line
        839). The remote-node drain (``drain_zone_pages`` after ``pcp->expire`` runs out)
        and the counter folding are not modelled. Returns whether there is more to do."""
        if not self.nr_cpus or not self.migratetypes:
            raise InvalidArgument("vmstat_update needs per-CPU lists (migratetypes=True and "
                                  "nr_cpus >= 1)")
        if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < self.nr_cpus:
            raise InvalidArgument(f"cpu must be an int in 0..{self.nr_cpus - 1}, got {cpu!r}")
        todo = False
        for zone in self.zones:
            if isinstance(zone, MtZone) and zone.pcp and zone.present_pages:
                todo |= zone.decay_pcp_high(cpu)
        return todo

    def zone_view(self, zone: Zone) -> page_alloc.ZoneView:
        """What the allocation path reads of ``zone`` (:func:`kmem.spec.page_alloc.path_zone_view`
        with migratetypes, :func:`kmem.spec.page_alloc.bare_zone_view` without)."""
        if isinstance(zone, MtZone):
            return page_alloc.path_zone_view(zone, zone.era, self.cpu)
        return page_alloc.bare_zone_view(zone)

    # -- the whole allocation path (migratetypes, pcp lists, highatomic) ------------------
    def _alloc_path(self, gfp: int, order: int, zonelist: Sequence[Zone], highest_idx: int,
                    passes: tuple[page_alloc.AllocPass, ...]) -> Page | None:
        """``__alloc_pages`` with migratetypes: ``gfp_migratetype``, the fast attempt with
        the flags of the first pass of :func:`kmem.spec.page_alloc.alloc_passes`, then
        ``__alloc_pages_slowpath`` as :func:`kmem.spec.slowpath.slowpath` walks it
        (:func:`kmem.spec.slowpath.run_on`). Each ``get_page`` step is
        :meth:`_get_page_from_freelist`; ``drain`` and ``unreserve`` steps act on the
        zones; reclaim, compaction and the OOM killer achieve what
        :attr:`outcomes` says (by default nothing: no reclaim, no compaction, an OOM killer
        that frees nothing). :attr:`last_failure` names the step that gave up."""
        mt = gfp_spec.gfp_migratetype(gfp)
        # 6.1's zone_watermark_fast keys its boost retry on the mask's __GFP_ATOMIC (0x200 in
        # 6.1's numbering); 6.3+ on ALLOC_MIN_RESERVE (None)
        self._atomic_gfp = (bool(gfp & self._gfp_atomic_bit) if self.path_era == "6.1"
                            else None)
        # 6.1's rmqueue warns for a __GFP_NOFAIL order > 1 on every call
        self._rmqueue_warnings = page_alloc.nofail_warnings(gfp, order, "rmqueue",
                                                            era=self.path_era or "6.12")
        found = slowpath.run_on(
            self, gfp, order,
            lambda flags: self._get_page_from_freelist(zonelist, order, flags, highest_idx, mt),
            zonelist=zonelist, highest_idx=highest_idx, mt=mt,
            fast_flags=passes[0].alloc_flags, lowmem_only=highest_idx < self._normal_idx)
        return None if found is None else self._prep_new_page(found[0], found[1], order, gfp)

    def _unreserve_highatomic(self, zonelist: Sequence[Zone], mt: int, force: bool) -> bool:
        """``unreserve_highatomic_pageblock(ac, force)``: the first zone of the zonelist that
        gives a HIGHATOMIC block back to ``mt``."""
        return any(isinstance(z, MtZone) and z.unreserve_highatomic_pageblock(mt, force)
                   for z in zonelist)

    def _get_page_from_freelist(self, zonelist: Sequence[Zone], order: int, alloc_flags: int,
                                highest_idx: int, mt: int) -> tuple[Zone, int] | None:
        """``get_page_from_freelist``: the first zone whose watermark allows the request
        (ZONE_BELOW_HIGH set when the HIGH mark fails) and whose ``rmqueue`` finds a block;
        a high-order atomic allocation may then reserve its pageblock. With
        ALLOC_NOFRAGMENT, a failed walk is retried without it."""
        while True:
            no_fallback = alloc_flags & ALLOC_NOFRAGMENT
            retry = False
            for zone in zonelist:
                assert isinstance(zone, MtZone)
                if (no_fallback and len(self.node_zones) > 1 and zone is not zonelist[0]
                        and zone.node != zonelist[0].node):
                    # moving to a remote node: retry with fragmenting fallbacks allowed
                    alloc_flags &= ~ALLOC_NOFRAGMENT
                    retry = True
                    break
                view = self.zone_view(zone)
                high_flags = (alloc_flags & ~(ALLOC_NO_WATERMARKS | ALLOC_WMARK_MASK)) | WMARK_HIGH
                if zone.below_high or not page_alloc.zone_allows(view, order, high_flags,
                                                                  highest_idx):
                    zone.below_high = True
                    if not page_alloc.zone_allows(view, order, alloc_flags, highest_idx,
                                                  atomic_gfp=self._atomic_gfp):
                        continue
                for line in self._rmqueue_warnings:
                    self._warn_once(line)
                pfn = zone.rmqueue(self.cpu, order, mt, alloc_flags)
                if pfn is not None:
                    if alloc_flags & ALLOC_HIGHATOMIC:
                        zone.reserve_highatomic_pageblock(pfn, order)
                    return zone, pfn
            if retry:
                continue
            if not no_fallback:
                return None
            alloc_flags &= ~ALLOC_NOFRAGMENT

    def drain_all_pages(self, zone: Zone | None = None) -> None:
        """``drain_all_pages(zone)``: every CPU's pcp lists (of one zone, or all) back to
        the buddy allocator."""
        if zone is not None and not any(zone is z for z in self.zones):
            raise InvalidArgument(f"{zone!r} is not a zone of this machine")
        for z in ([zone] if zone is not None else self.zones):
            if isinstance(z, MtZone):
                for cpu in range(len(z.pcp)):
                    z.drain_pages_zone(cpu)

    def _prep_new_page(self, zone: Zone, pfn: int, order: int, gfp: int) -> Page:
        """``prep_new_page``/``post_alloc_hook``: refcount 1, zeroing, compound setup."""
        page = self.pfn_to_page(pfn)
        page._refcount = 1
        if page_alloc.want_init_on_alloc(gfp, self.init_on_alloc):
            self.memory.zero(pfn, 1 << order)
        if order and gfp & GFP_COMP:
            self.compound_heads.add(pfn)
        return page

    # -- freeing (___free_pages, put_page) ---------------------------------------------------
    def free_pages(self, page: Page, order: int = 0) -> None:
        """``__free_pages(page, order)``: drop one reference; free the block at zero.

        With other references left on a non-compound block of order > 0, the tail
        portions are freed now and only the first page stays (6.x ``___free_pages``).
        """
        page = self._own(page)
        order = _check_order(order)
        zone = self.zone_of(page.pfn)
        assert zone is not None  # a descriptor exists only for valid pfns
        if order > MAX_PAGE_ORDER:
            raise InvalidArgument(f"order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")
        head = self._is_compound_tail(zone, page.pfn)
        if head is not None:
            raise TailPageFree(f"pfn {page.pfn:#x} is a tail page of the compound block at "
                               f"pfn {head:#x}: free the head page")
        if page._refcount == 0:
            raise RefcountUnderflow(f"pfn {page.pfn:#x} has refcount 0: it is free, never "
                                    f"allocated, or a tail page (double free?)")
        compound = page.pfn in self.compound_heads
        if page._refcount == 1:
            self._check_free_state(page)
            zone.check_free(page.pfn, order)
            page._refcount = 0
            self._release(zone, page.pfn, order)
        elif not compound and order > 0:
            zone.check_free(page.pfn, order)
            page._refcount -= 1
            zone.free_tail_portions(page.pfn, order, self._cpu)
        else:
            page._refcount -= 1

    def _check_free_state(self, page: Page) -> None:
        """``free_pages_prepare``: a page with PG_reserved (or in a hole) is a bad page, and
        so is a page of a slab (its page type / PG_slab)."""
        if self._slab is not None:
            self._slab.check_page_free(page)
        if page.reserved:
            raise BadPageState(f"BUG: Bad page state in process {self.comm}  pfn:{page.pfn:05x}: "
                               f"PG_reserved is set (a reserved page is never freed)",
                               "PAGE_FLAGS_CHECK_AT_FREE flag(s) set")

    def _release(self, zone: Zone, pfn: int, order: int) -> None:
        self.compound_heads.discard(pfn)
        zone.free_one_page(pfn, order, self._cpu)

    def get_page(self, page: Page) -> None:
        """``get_page``: take a reference (on the head, for a compound tail)."""
        page = self._own(page)
        _, target = self._folio(page)
        if target._refcount <= 0:
            raise GetPageOnFreePage(f"pfn {page.pfn:#x} has refcount 0: nobody holds it "
                                    f"(free, or a tail page of a non-compound block)")
        target._refcount += 1

    def put_page(self, page: Page) -> None:
        """``put_page``: drop a reference; at zero the whole block is freed (a compound
        page at its order; a non-compound page only as order 0)."""
        page = self._own(page)
        zone, target = self._folio(page)
        if target._refcount <= 0:
            raise RefcountUnderflow(f"pfn {target.pfn:#x} has refcount 0 (put_page on a "
                                    f"free page)")
        if target._refcount > 1:
            target._refcount -= 1
            return
        self._check_free_state(target)
        held = zone.allocated.get(target.pfn)
        if held is None:
            raise BadPageState(f"pfn {target.pfn:#x} is not an allocated block",
                               "nonzero _refcount")
        if held > 0 and target.pfn not in self.compound_heads:
            raise FreeOrderMismatch(
                f"put_page on the last reference of a non-compound order-{held} block at pfn "
                f"{target.pfn:#x}: the kernel would free only the first page and leak the "
                f"rest; use __free_pages(page, {held})")
        target._refcount = 0
        self._release(zone, target.pfn, held)

    def page_count(self, page: Page) -> int:
        """``page_count``: the refcount of the page's folio (the head for a compound tail)."""
        return self._folio(self._own(page))[1]._refcount

    # -- state and checking (page contents, zone(), state(): MachinePages) ---------------
    def check_invariants(self, zone_check: Callable[[buddy.ZoneState], list[buddy.Violation]]
                         = buddy.check_invariants) -> list[buddy.Violation]:
        """Every buddy invariant of every zone (and, once the slab layer is in use, every
        slab invariant); empty when the machine is well formed. ``zone_check``: the
        spec's :func:`kmem.spec.buddy.check_invariants` or a memo of it (the fuzzers'
        :class:`kmem.fuzz.checks.InvariantCache`)."""
        out: list[buddy.Violation] = []
        for zone in self.zones:
            out.extend(zone_check(zone.state()))
            if isinstance(zone, MtZone):
                out.extend(zone.pcp_violations())
        if self._slab is not None:
            out.extend(self._slab.check_invariants())
        return out

    @property
    def slab_allocator(self) -> SlabAllocator:
        """The slab layer (:class:`kmem.model.slab.SlabAllocator`), made on first use: the
        kmalloc caches of SLUB (``slab="slub"``, slabs sized for ``slab_cpus`` CPUs) or
        classic SLAB (``slab="slab"``)."""
        if self._slab is None:
            from .slab import SlabAllocator

            self._slab = SlabAllocator(self, self.slab, nr_cpus=self.slab_cpus)
        return self._slab

    @property
    def pcp_pages_total(self) -> int:
        """Pages parked on per-CPU lists (free to the page API, not in NR_FREE_PAGES)."""
        return sum(p.count for z in self.zones if isinstance(z, MtZone) for p in z.pcp)

    # -- /proc -----------------------------------------------------------------------------
    def _pagesets(self, zone: Zone) -> tuple[tuple[int, int, int, int, int, int, int], ...] | None:
        """zoneinfo's pagesets of a populated zone with per-CPU lists: (cpu, count, high,
        batch, vm stats threshold, high_min, high_max)."""
        if not isinstance(zone, MtZone) or not zone.pcp or not zone.present_pages:
            return None
        threshold = pcp_spec.stat_threshold(zone.managed_pages, self.nr_cpus)  # online CPUs
        return tuple((cpu, p.count, p.high, p.batch, threshold, p.high_min, p.high_max)
                     for cpu, p in enumerate(zone.pcp))

    def pagetypeinfo(self, *, cma: bool | None = None) -> str:
        """/proc/pagetypeinfo (``pagetypeinfo_show``): free blocks per migratetype and order
        and pageblocks per type, for a machine with ``migratetypes=True``. ``cma=False``
        prints the columns of a kernel without CONFIG_CMA (kmem has no CMA pageblocks);
        default: the machine's :attr:`cma` (its kernel configuration's CONFIG_CMA)."""
        if cma is None:
            cma = self.cma
        zones = [z for z in self.zones if z.present_pages]
        if not all(isinstance(z, MtZone) for z in zones):
            raise InvalidArgument("pagetypeinfo needs a machine with migratetypes=True (the bare "
                                  "buddy core keeps one free list per order)")
        types = [mt for mt in range(migrate.MIGRATE_TYPES) if cma or mt != migrate.MIGRATE_CMA]
        rows: list[list[pagetypeinfo_spec.PagetypeinfoZone]] = [[] for _ in self.node_zones]
        for z in zones:
            assert isinstance(z, MtZone)
            counts = z.pageblock_counts(self._section_online)
            rows[z.node].append(pagetypeinfo_spec.PagetypeinfoZone(
                z.node, z.name, tuple(tuple(z.nr_free_mt(o, mt) for o in range(NR_PAGE_ORDERS))
                                 for mt in types),
                tuple(counts[mt] for mt in types)))
        order = (zones[0].pageblock_order if zones and isinstance(zones[0], MtZone)
                 else migrate.PAGEBLOCK_ORDER)
        return pagetypeinfo_spec.format_pagetypeinfo(order, rows, cma)

    @classmethod
    def from_proc(cls, zoneinfo_text: str | bytes, buddyinfo_text: str | bytes,
                  sysctls: Mapping[str, object] | str | os.PathLike[str],
                  **kwargs: Any) -> Machine:
        """Boot a model from a real machine's /proc (see :mod:`kmem.spec.from_proc`): the
        texts as ``str`` or as the bytes read, LF or CRLF line endings; ``sysctls`` may be
        every file of /proc/sys/vm, or that directory's path; ``strict=False`` boots
        despite printed-vs-recomputed differences and lists them in
        :attr:`from_proc_report`."""
        from kmem.spec.from_proc import machine_from_proc

        for what, text in (("zoneinfo_text", zoneinfo_text), ("buddyinfo_text", buddyinfo_text)):
            if not isinstance(text, (str, bytes)):
                raise InvalidArgument(f"{what} must be the file's contents (a str or bytes), "
                                      f"got {type(text).__name__}")
        if not isinstance(sysctls, Mapping | str | os.PathLike):
            raise InvalidArgument(f"sysctls must be a mapping such as {{'min_free_kbytes': "
                                  f"'67584'}} or the path of /proc/sys/vm, got "
                                  f"{type(sysctls).__name__}")

        return machine_from_proc(cls, zoneinfo_text, buddyinfo_text, sysctls, **kwargs)
