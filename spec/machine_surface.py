"""The machine surface every kmem machine shares, written once over a small machine
interface: the presets, the NUMA entry points, the clock, /proc/buddyinfo and
/proc/zoneinfo (:class:`MachineSurface`: :class:`kmem.model.Machine`, fastimpl's bare
core and its whole path), and what the whole path adds (:class:`PathSurface`: the
current CPU, the once-only and rate-limited reports, memory sections).
Each rule stays where it is defined (:mod:`kmem.spec.prepare_alloc`, :mod:`kmem.spec.vmstat`,
:mod:`kmem.spec.page_alloc`, :mod:`kmem.spec.procfs`); this is the plumbing that calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

from . import numa, prepare_alloc, procfs, vm_sysctl, vmstat
from . import zones as zones_spec
from .constants import PAGE_SHIFT
from .errors import InvalidArgument
from .page_alloc import warn_alloc
from .page_api import MachinePages
from .zones import ZoneType

_Z = TypeVar("_Z")
_P = TypeVar("_P")

#: x86-64 SECTION_SIZE_BITS 27 (arch/x86/include/asm/sparsemem.h): 128 MiB sections
SECTION_PAGES_SHIFT = 27 - PAGE_SHIFT


class MachineSurface(MachinePages[_Z, _P]):
    """Presets and entry points over the machine's constructor ``cls(layout, **options)``
    and its ``kernel`` (:class:`~kmem.spec.kernel.Kernel`)."""

    kernel: Any
    node_zones: Any
    min_free_kbytes: int
    watermark_scale_factor: int
    lowmem_reserve_ratio: tuple[int, ...]

    if TYPE_CHECKING:
        def __init__(self, layout: zones_spec.MachineLayout, **kwargs: Any) -> None: ...

    # -- presets -------------------------------------------------------------------------
    @classmethod
    def x86_32(cls, mem_mb: int, vmsplit: str = "3G", *, highmem: bool = True,
               era: str = "modern", **kwargs: Any) -> Self:
        """An x86-32 machine (DMA < 16 MB, NORMAL to the lowmem limit, HIGHMEM above).

        The lowmem limit is MAXMEM of ``era`` (:func:`kmem.spec.x86_32_layout.maxmem`):
        about 884 MB with the modern formula (default), 896 MB with ``era="2.6.11"``."""
        return cls(zones_spec.x86_32(mem_mb, vmsplit, highmem=highmem, era=era), **kwargs)

    @classmethod
    def x86_64(cls, mem_mb: int, *, movablecore_mb: int = 0, **kwargs: Any) -> Self:
        """An x86-64 machine (DMA < 16 MB, DMA32 < 4 GB, NORMAL above, optional MOVABLE)."""
        return cls(zones_spec.x86_64(mem_mb, movablecore_mb=movablecore_mb), **kwargs)

    @classmethod
    def numa_x86_64(cls, mem_mb: tuple[int, ...], **kwargs: Any) -> Self:
        """An x86-64 NUMA machine, node ``i`` with ``mem_mb[i]`` MB after node ``i - 1``
        (:func:`kmem.spec.numa.x86_64_nodes`); ``distances`` default to 10 local and 20
        remote, ``cpu_nodes`` to CPUs spread evenly, node by node."""
        layouts = numa.x86_64_nodes(mem_mb)
        return cls(layouts[0], nodes=layouts[1:], **kwargs)

    @classmethod
    def generic(cls, npages: int, **kwargs: Any) -> Self:
        """One NORMAL zone of ``npages`` pages from pfn 0 (the benchmark workloads' machine).

        Pass ``min_free_kbytes=0`` for a MIN watermark of 0, so that the slow path
        (``gfp_to_alloc_flags``) can take every page.
        """
        return cls(zones_spec.generic(npages), **kwargs)

    # -- watermarks ----------------------------------------------------------------------
    def setup_watermarks(self, *, min_free_kbytes: int | None = None,
                         watermark_scale_factor: int = 10,
                         lowmem_reserve_ratio: tuple[int, ...] | None = None) -> None:
        """Recompute every zone's watermarks and lowmem_reserve, as writing the sysctls
        ``vm.min_free_kbytes``, ``vm.watermark_scale_factor`` or
        ``vm.lowmem_reserve_ratio`` does (:func:`kmem.spec.vm_sysctl.setup_machine_watermarks`);
        then :meth:`_watermarks_changed`."""
        node_zones: Sequence[Sequence[Any]] = self.node_zones
        w = vm_sysctl.setup_machine_watermarks(
            self.node_layouts, [[(z.ztype, z.managed_pages) for z in zones]
                                for zones in node_zones],
            min_free_kbytes=min_free_kbytes, watermark_scale_factor=watermark_scale_factor,
            lowmem_reserve_ratio=lowmem_reserve_ratio)
        self.min_free_kbytes = w.min_free_kbytes
        self.watermark_scale_factor = watermark_scale_factor
        self.lowmem_reserve_ratio = w.lowmem_reserve_ratio
        zones: Sequence[Any] = self.zones
        for zone, mark, reserve in zip(zones, w.watermarks, w.lowmem_reserve, strict=True):
            zone.watermark = mark
            zone.lowmem_reserve = reserve
        self._watermarks_changed()

    def _watermarks_changed(self) -> None:
        """What the machine derives from the new watermarks (``setup_per_zone_wmarks`` ->
        ``zone_pcp_update``; cached thresholds)."""

    # -- NUMA and the clock --------------------------------------------------------------
    def node_zonelist(self, nid: int, gfp: int, highest_idx: int) -> list[_Z]:
        """``node_zonelist(nid, gfp)`` walked up to ``highest_zoneidx``
        (:func:`kmem.spec.prepare_alloc.node_zonelist`)."""
        m: Any = self
        zonelist: list[_Z] = prepare_alloc.node_zonelist(m, nid, gfp, highest_idx)
        return zonelist

    def alloc_pages_node(self, nid: int, gfp: int, order: int = 0) -> _P | None:
        """``alloc_pages_node(nid, gfp, order)`` (:func:`kmem.spec.prepare_alloc.alloc_pages_node`)."""
        m: Any = self
        page: _P | None = prepare_alloc.alloc_pages_node(m, nid, gfp, order)
        return page

    def advance_clock(self, seconds: float) -> None:
        """Let ``seconds`` of model time pass (:func:`kmem.spec.vmstat.advance_clock`):
        ``warn_alloc``'s rate limit and, with per-CPU lists, the vmstat worker at every
        whole second crossed."""
        m: Any = self
        vmstat.advance_clock(m, seconds)

    def _pagesets(self, zone: Any) -> Any:
        """zoneinfo's pagesets of ``zone``: none without per-CPU lists (the whole path's
        machines give theirs)."""
        return None

    # -- /proc ----------------------------------------------------------------------------
    def buddyinfo(self) -> str:
        """/proc/buddyinfo, byte for byte (``frag_show``; populated zones only)."""
        zones: Sequence[Any] = self.zones
        rows = [procfs.BuddyinfoRow(z.node, z.name, z.nr_free()) for z in zones
                if z.present_pages]
        return procfs.format_buddyinfo(rows)

    def zoneinfo_zones(self) -> tuple[procfs.ZoneinfoZone, ...]:
        zones: Sequence[Any] = self.zones
        return tuple(procfs.ZoneinfoZone(
            node=z.node, zone=z.name, free=z.free_pages, boost=z.watermark_boost,
            min=z.watermark[0] + z.watermark_boost, low=z.watermark[1] + z.watermark_boost,
            high=z.watermark[2] + z.watermark_boost, promo=z.watermark[3] + z.watermark_boost,
            spanned=z.spanned_pages, present=z.present_pages, managed=z.managed_pages, cma=0,
            protection=z.lowmem_reserve,
            nr_free_pages=z.free_pages if z.present_pages else None,
            node_unreclaimable=0 if z.present_pages else None,
            start_pfn=z.start_pfn if z.present_pages else None,
            pagesets=self._pagesets(z)) for z in zones)

    def zoneinfo(self) -> str:
        """/proc/zoneinfo: the per-zone lines kmem knows, as the kernel prints them."""
        return procfs.format_zoneinfo(self.zoneinfo_zones(), kernel=self.kernel)


class PathSurface(MachineSurface[_Z, _P]):
    """What the whole path's machines (the model's and fastimpl's ``MtMachine``) add: the
    machine provides ``nr_cpus``, ``cpu_nodes``, ``node``, ``_cpu``, ``dmesg``,
    ``_warned_once``, ``_warn_alloc_rs``, ``clock_s``, ``comm`` and, per zone, ``node``,
    ``name``, ``nr_free()``, the watermarks and page counts, and ``_pagesets(zone)``."""

    nr_cpus: int
    cpu_nodes: Any
    node: int
    comm: str
    clock_s: float
    dmesg: list[str]
    _cpu: int
    _warned_once: set[str]
    _warn_alloc_rs: Any

    def numa_node_id(self) -> int:
        """``numa_node_id()``: the node of the current CPU (``self.node`` without CPUs)."""
        node: int = self.cpu_nodes[self.cpu] if self.nr_cpus else self.node
        return node

    @property
    def cpu(self) -> int:
        """The CPU the caller runs on (``smp_processor_id()``): its pcp lists serve this
        caller's allocations and frees. 0..nr_cpus-1 (0 on a machine without CPUs)."""
        return self._cpu

    @cpu.setter
    def cpu(self, cpu: int) -> None:
        limit = max(self.nr_cpus, 1)
        if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < limit:
            raise InvalidArgument(f"cpu must be an int in 0..{limit - 1} (nr_cpus={self.nr_cpus}), "
                                  f"got {cpu!r}")
        self._cpu = cpu

    def _warn_once(self, line: str) -> None:
        """A ``WARN_ON_ONCE`` report: printed the first time only."""
        if line not in self._warned_once:
            self._warned_once.add(line)
            self.dmesg.append(line)

    def _warn_alloc(self, gfp: int, order: int) -> None:
        """``warn_alloc`` (mm/page_alloc.c): __GFP_NOWARN, the 10 s rate limit and the
        missing-DMA rule may silence it (:func:`kmem.spec.page_alloc.warn_alloc`)."""
        has_dma = (self.config.has(ZoneType.DMA)
                   and self.zone(ZoneType.DMA).managed_pages > 0)  # type: ignore[attr-defined]
        self._warn_alloc_rs, lines = warn_alloc(
            gfp, order, self._warn_alloc_rs, self.clock_s, has_managed_dma=has_dma,
            comm=self.comm, kernel=self.kernel)
        self.dmesg.extend(lines)

    def _is_memory_pfn(self, pfn: int) -> bool:
        """The pfn lies in a memory range (some zone spans it and it is not a hole)."""
        return any(span.contains(pfn) and span.is_present(pfn)
                   for node in self.node_layouts for span in node.zones)

    def _section_online(self, pfn: int) -> bool:
        """``pfn_to_online_page`` finds a page: the pfn's memory section (128 MiB) holds
        memory."""
        start = pfn >> SECTION_PAGES_SHIFT << SECTION_PAGES_SHIFT
        end = start + (1 << SECTION_PAGES_SHIFT)
        return any(s < end and start < e for node in self.node_layouts for span in node.zones
                   for s, e in zones_spec.subtract_ranges(((span.start_pfn, span.end_pfn),),
                                                          span.holes))
