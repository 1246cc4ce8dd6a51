"""Zone types, zone configurations and machine layouts (include/linux/mmzone.h
``enum zone_type``; mm/mm_init.c; arch/x86/mm/init.c, init_32.c; 6.x).

A *zone type* is what a zone is (DMA, NORMAL, ...). Its *index* (``zone_idx``)
depends on which zones the kernel was configured with: ZONE_DMA32 exists only on
64-bit, ZONE_HIGHMEM only on 32-bit with CONFIG_HIGHMEM. A :class:`ZoneConfig`
lists the configured zone types in enum order; indices are positions in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from .constants import GB, MAX_ORDER_NR_PAGES, MB, PAGE_SIZE
from .errors import InvalidArgument


class ZoneType(Enum):
    """``enum zone_type`` members in kernel order; ``value`` is the order key, not zone_idx."""

    DMA = 0  # CONFIG_ZONE_DMA: ISA DMA range, the first 16 MB on x86
    DMA32 = 1  # CONFIG_ZONE_DMA32 (64-bit): below 4 GB
    NORMAL = 2  # directly mapped memory
    HIGHMEM = 3  # CONFIG_HIGHMEM (32-bit): not permanently mapped
    MOVABLE = 4  # pseudo-zone for movable allocations (kernelcore=/movablecore=)
    DEVICE = 5  # CONFIG_ZONE_DEVICE: never holds buddy pages

    @property
    def kernel_name(self) -> str:
        """The name as printed by /proc (``zone_names[]`` in mm/page_alloc.c)."""
        return _ZONE_NAMES[self]


_ZONE_NAMES = {
    ZoneType.DMA: "DMA",
    ZoneType.DMA32: "DMA32",
    ZoneType.NORMAL: "Normal",
    ZoneType.HIGHMEM: "HighMem",
    ZoneType.MOVABLE: "Movable",
    ZoneType.DEVICE: "Device",
}


@dataclass(frozen=True)
class ZoneConfig:
    """The zone types a kernel was built with, in ``enum zone_type`` order.

    NORMAL and MOVABLE are always configured (include/linux/mmzone.h).
    """

    zones: tuple[ZoneType, ...]

    def __post_init__(self) -> None:
        if list(self.zones) != sorted(set(self.zones), key=lambda z: z.value):
            raise InvalidArgument(f"zone types must be distinct and in enum order: {self.zones}")
        for required in (ZoneType.NORMAL, ZoneType.MOVABLE):
            if required not in self.zones:
                raise InvalidArgument(f"{required.name} is always configured")

    @property
    def max_nr_zones(self) -> int:
        """MAX_NR_ZONES (``__MAX_NR_ZONES`` from bounds.c)."""
        return len(self.zones)

    def has(self, zt: ZoneType) -> bool:
        """CONFIG_ZONE_<zt> is set."""
        return zt in self.zones

    def idx(self, zt: ZoneType) -> int:
        """``zone_idx()`` of a zone of type ``zt``."""
        try:
            return self.zones.index(zt)
        except ValueError:
            raise InvalidArgument(f"ZONE_{zt.name} is not configured in {self.name}") from None

    def type_at(self, idx: int) -> ZoneType:
        """The zone type with index ``idx``."""
        if not 0 <= idx < len(self.zones):
            raise InvalidArgument(f"zone index {idx} out of range 0..{len(self.zones) - 1}")
        return self.zones[idx]

    @property
    def name(self) -> str:
        return "+".join(z.name for z in self.zones)


#: x86-64 with DMA, DMA32 and ZONE_DEVICE (a typical distribution kernel)
X86_64_CONFIG = ZoneConfig((ZoneType.DMA, ZoneType.DMA32, ZoneType.NORMAL, ZoneType.MOVABLE,
                            ZoneType.DEVICE))
#: x86-32 with CONFIG_HIGHMEM (no ZONE_DMA32 on 32-bit); no ZONE_DEVICE
X86_32_CONFIG = ZoneConfig((ZoneType.DMA, ZoneType.NORMAL, ZoneType.HIGHMEM, ZoneType.MOVABLE))
#: the smallest configuration: only NORMAL and MOVABLE
MINIMAL_CONFIG = ZoneConfig((ZoneType.NORMAL, ZoneType.MOVABLE))

ZONE_CONFIGS: dict[str, ZoneConfig] = {
    "x86_64": X86_64_CONFIG,
    "x86_32": X86_32_CONFIG,
    "minimal": MINIMAL_CONFIG,
}


# ---------------------------------------------------------------------------
# Zone spans and machine layouts (mm/mm_init.c free_area_init,
# zone_spanned_pages_in_node, zone_absent_pages_in_node,
# find_zone_movable_pfns_for_nodes; arch/x86/mm/init.c zone_sizes_init;
# arch/x86/mm/init_32.c find_low_pfn_range)
# ---------------------------------------------------------------------------

PfnRange = tuple[int, int]

#: MAX_DMA_PFN (arch/x86/include/asm/dma.h): ZONE_DMA ends at 16 MB
MAX_DMA_PFN = (16 * MB) // PAGE_SIZE  # 4096
#: MAX_DMA32_PFN (arch/x86/include/asm/dma.h): ZONE_DMA32 ends at 4 GB
MAX_DMA32_PFN = (4 * GB) // PAGE_SIZE  # 0x100000
#: MAX_NONPAE_PFN (arch/x86/mm/init_32.c): 32-bit physical addresses without PAE
MAX_NONPAE_PFN = 2**20


def _check_ranges(what: str, ranges: tuple[PfnRange, ...], lo: int, hi: int) -> None:
    """Each [s, e) is non-empty, inside [lo, hi), and the list is sorted and disjoint."""
    prev_end = lo
    for i, r in enumerate(ranges):
        if not (isinstance(r, tuple) and len(r) == 2 and all(type(x) is int for x in r)):
            raise InvalidArgument(f"{what}[{i}] must be a (start_pfn, end_pfn) pair of ints, got {r!r}")
        s, e = r
        if s >= e:
            raise InvalidArgument(f"{what}[{i}] = [{s:#x}, {e:#x}) is empty or reversed; "
                                  "expected start_pfn < end_pfn")
        if s < lo or e > hi:
            raise InvalidArgument(f"{what}[{i}] = [{s:#x}, {e:#x}) is outside the span "
                                  f"[{lo:#x}, {hi:#x})")
        if s < prev_end and i > 0:
            raise InvalidArgument(f"{what}[{i}] = [{s:#x}, {e:#x}) overlaps or precedes the "
                                  f"previous range ending at {prev_end:#x}; expected sorted, "
                                  "disjoint ranges")
        prev_end = e


def _in_ranges(pfn: int, ranges: tuple[PfnRange, ...]) -> bool:
    return any(s <= pfn < e for s, e in ranges)


def subtract_ranges(base: tuple[PfnRange, ...], cut: Iterable[PfnRange]) -> tuple[PfnRange, ...]:
    """Sorted ranges of ``base`` (sorted, disjoint) with every pfn of ``cut`` removed."""
    out: list[PfnRange] = []
    for s, e in base:
        cur = s
        for cs, ce in sorted(cut):
            if ce <= cur or cs >= e:
                continue
            if cs > cur:
                out.append((cur, cs))
            cur = max(cur, ce)
        if cur < e:
            out.append((cur, e))
    return tuple(out)


def _clip(ranges: tuple[PfnRange, ...], lo: int, hi: int) -> tuple[PfnRange, ...]:
    """The parts of ``ranges`` inside [lo, hi)."""
    out = []
    for s, e in ranges:
        s, e = max(s, lo), min(e, hi)
        if s < e:
            out.append((s, e))
    return tuple(out)


def _count(ranges: tuple[PfnRange, ...]) -> int:
    return sum(e - s for s, e in ranges)


@dataclass(frozen=True)
class ZoneSpan:
    """The pfn span of one zone, with its holes and reserved ranges.

    Mirrors ``zone->zone_start_pfn``, ``spanned_pages`` (end - start),
    ``present_pages`` (spanned minus holes, ``zone_absent_pages_in_node``) and
    ``managed_pages`` (present minus pages reserved at boot and never freed to the
    buddy allocator: memblock reservations, the memmap, the kernel image) from
    include/linux/mmzone.h and mm/mm_init.c. ``end_pfn`` is exclusive; an empty
    zone has ``start_pfn == end_pfn``.
    """

    ztype: ZoneType
    start_pfn: int
    end_pfn: int
    holes: tuple[PfnRange, ...] = ()
    reserved: tuple[PfnRange, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.ztype, ZoneType):
            raise InvalidArgument(f"ztype must be a ZoneType, got {self.ztype!r}")
        for name in ("start_pfn", "end_pfn"):
            v = getattr(self, name)
            if type(v) is not int or v < 0:
                raise InvalidArgument(f"{self.ztype.name}: {name} must be an int >= 0, got {v!r}")
        if self.end_pfn < self.start_pfn:
            raise InvalidArgument(f"{self.ztype.name}: end_pfn {self.end_pfn:#x} is below "
                                  f"start_pfn {self.start_pfn:#x}; expected start <= end")
        if not isinstance(self.holes, tuple) or not isinstance(self.reserved, tuple):
            raise InvalidArgument(f"{self.ztype.name}: holes and reserved must be tuples of ranges")
        _check_ranges(f"{self.ztype.name} holes", self.holes, self.start_pfn, self.end_pfn)
        _check_ranges(f"{self.ztype.name} reserved", self.reserved, self.start_pfn, self.end_pfn)
        for hs, he in self.holes:
            for rs, re_ in self.reserved:
                if hs < re_ and rs < he:
                    raise InvalidArgument(
                        f"{self.ztype.name}: hole [{hs:#x}, {he:#x}) and reserved range "
                        f"[{rs:#x}, {re_:#x}) overlap; a reserved page must be present")
        if self.ztype is ZoneType.DEVICE and self.managed_pages:
            raise InvalidArgument(f"ZONE_DEVICE never holds buddy pages, but this span has "
                                  f"{self.managed_pages} managed pages; reserve them all")

    @property
    def spanned_pages(self) -> int:
        """``zone->spanned_pages``: every pfn from start to end, holes included."""
        return self.end_pfn - self.start_pfn

    @property
    def present_pages(self) -> int:
        """``zone->present_pages``: spanned minus holes."""
        return self.spanned_pages - _count(self.holes)

    @property
    def managed_pages(self) -> int:
        """``zone_managed_pages()``: present minus reserved; what the buddy allocator gets."""
        return self.present_pages - _count(self.reserved)

    def contains(self, pfn: int) -> bool:
        """``zone_spans_pfn()``: ``start_pfn <= pfn < end_pfn`` (holes included)."""
        return self.start_pfn <= pfn < self.end_pfn

    def is_present(self, pfn: int) -> bool:
        """The pfn is in the span and backed by memory (not in a hole)."""
        return self.contains(pfn) and not _in_ranges(pfn, self.holes)

    def is_reserved(self, pfn: int) -> bool:
        """The pfn is present but PageReserved: never handed to the buddy allocator."""
        return _in_ranges(pfn, self.reserved)

    def is_managed(self, pfn: int) -> bool:
        """The pfn is present and not reserved."""
        return self.is_present(pfn) and not self.is_reserved(pfn)

    def managed_ranges(self) -> tuple[PfnRange, ...]:
        """Sorted [s, e) ranges of managed pfns (what ``memblock_free_all`` frees)."""
        if self.start_pfn == self.end_pfn:
            return ()
        return subtract_ranges(((self.start_pfn, self.end_pfn),), self.holes + self.reserved)


ARCHES = ("x86_64", "x86_32", "generic")


@dataclass(frozen=True)
class MachineLayout:
    """The zones of one memory node (``pg_data_t.node_zones``), one span per configured zone.

    ``zones`` follows ``config.zones`` exactly; unused zones and ZONE_DEVICE are
    empty spans. Non-empty spans ascend and do not overlap, as on a single-node
    machine (mm/mm_init.c ``calculate_node_totalpages``).
    """

    name: str
    arch: str
    config: ZoneConfig
    zones: tuple[ZoneSpan, ...]
    vmsplit: str | None = None
    #: x86-32 only: whose MAXMEM formula set the end of lowmem ("modern" or "2.6.11")
    era: str | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise InvalidArgument(f"unknown arch {self.arch!r}; expected one of {', '.join(ARCHES)}")
        types = tuple(z.ztype for z in self.zones)
        if types != self.config.zones:
            raise InvalidArgument(
                f"zones must be one span per configured zone in enum order: expected "
                f"{[z.name for z in self.config.zones]}, got {[t.name for t in types]}")
        prev: ZoneSpan | None = None
        for z in self.zones:
            if z.spanned_pages == 0:
                continue
            if prev is not None and z.start_pfn < prev.end_pfn:
                raise InvalidArgument(
                    f"ZONE_{z.ztype.name} [{z.start_pfn:#x}, {z.end_pfn:#x}) overlaps or lies "
                    f"below ZONE_{prev.ztype.name} [{prev.start_pfn:#x}, {prev.end_pfn:#x}); "
                    "expected ascending, non-overlapping zones")
            prev = z

    def zone(self, ztype: ZoneType) -> ZoneSpan:
        """The span of the zone of type ``ztype`` (``NODE_DATA(0)->node_zones[zone_idx]``)."""
        return self.zones[self.config.idx(ztype)]

    def pfn_to_zone(self, pfn: int) -> ZoneType | None:
        """``page_zonenum(pfn_to_page(pfn))``: the zone of a present pfn; None for a hole."""
        for z in self.zones:
            if z.is_present(pfn):
                return z.ztype
        return None

    @property
    def max_pfn(self) -> int:
        """One past the highest spanned pfn (``max_pfn``); 0 for a machine without memory."""
        return max((z.end_pfn for z in self.zones if z.spanned_pages), default=0)

    def populated(self) -> tuple[ZoneType, ...]:
        """Zones with present pages (``populated_zone()``), the rows of /proc/buddyinfo."""
        return tuple(z.ztype for z in self.zones if z.present_pages)

    def managed_zones(self) -> tuple[ZoneType, ...]:
        """Zones with managed pages (``managed_zone()``): the ones the allocator can use."""
        return tuple(z.ztype for z in self.zones if z.managed_pages)

    @property
    def lowmem_pages(self) -> int:
        """Managed pages outside HIGHMEM and MOVABLE (``__setup_per_zone_wmarks``)."""
        return sum(z.managed_pages for z in self.zones
                   if z.ztype not in (ZoneType.HIGHMEM, ZoneType.MOVABLE))

    @property
    def managed_pages(self) -> tuple[int, ...]:
        """Managed pages per zone index: the input of the watermark rules."""
        return tuple(z.managed_pages for z in self.zones)


#: MAX_PHYSMEM_BITS (arch/x86/include/asm/sparsemem.h, 6.x): the physical address bits
#: of x86-64 with 5-level paging (46 with 4-level) and of x86-32 with PAE (32 without)
MAX_PHYSMEM_BITS_X86_64 = 52
MAX_PHYSMEM_BITS_X86_64_4LEVEL = 46
MAX_PHYSMEM_BITS_X86_32_PAE = 36


def _mb_to_pfn(what: str, mem_mb: int, arch: str = "x86_64") -> int:
    """``mem_mb`` as a page count, refused above what ``arch`` can address at all."""
    if type(mem_mb) is not int or mem_mb <= 0:
        raise InvalidArgument(f"{what} must be a positive int number of MB, got {mem_mb!r}")
    limit_mb = max_mem_mb(arch)
    if mem_mb > limit_mb:
        raise InvalidArgument(f"{what} {mem_mb} is more than {arch} can address: "
                              f"{address_limit_text(arch)} = {limit_mb} MB")
    return mem_mb * MB // PAGE_SIZE


def max_mem_mb(arch: str) -> int:
    """The most memory (MB) a machine of ``arch`` can have: 2**MAX_PHYSMEM_BITS bytes
    (x86-64 with 5-level paging; x86-32 with PAE; the generic machine as x86-64)."""
    bits = MAX_PHYSMEM_BITS_X86_32_PAE if arch == "x86_32" else MAX_PHYSMEM_BITS_X86_64
    return 2**bits // MB


def address_limit_text(arch: str) -> str:
    """The address limit of ``arch`` in words, for error messages."""
    if arch == "x86_32":
        return (f"2**{MAX_PHYSMEM_BITS_X86_32_PAE} bytes (64 GB: MAX_PHYSMEM_BITS "
                f"{MAX_PHYSMEM_BITS_X86_32_PAE} with PAE; without PAE the kernel uses 4 GB)")
    return (f"2**{MAX_PHYSMEM_BITS_X86_64} bytes (4 PB: MAX_PHYSMEM_BITS "
            f"{MAX_PHYSMEM_BITS_X86_64} with 5-level paging, "
            f"{MAX_PHYSMEM_BITS_X86_64_4LEVEL} with 4-level)")


def _norm_ranges(what: str, ranges: object) -> tuple[PfnRange, ...]:
    try:
        out = tuple(tuple(r) for r in ranges)  # type: ignore[attr-defined]
    except TypeError:
        raise InvalidArgument(f"{what} must be a sequence of (start_pfn, end_pfn) pairs") from None
    return out


def _layout(name: str, arch: str, config: ZoneConfig, bounds: dict[ZoneType, PfnRange],
            mem_end: int, holes: object, reserved: object,
            vmsplit: str | None = None) -> MachineLayout:
    """Build spans from architectural zone bounds, memory [0, mem_end), holes and reserved.

    As ``zone_spanned_pages_in_node`` does, a zone's span is its bounds clipped to
    the node's memory (first present pfn .. last present pfn + 1); holes inside it
    stay in the span as absent pages.
    """
    hole_r = _norm_ranges("holes", holes)
    res_r = _norm_ranges("reserved", reserved)
    _check_ranges("holes", hole_r, 0, mem_end)
    _check_ranges("reserved", res_r, 0, mem_end)
    memory = subtract_ranges(((0, mem_end),), hole_r)
    if not memory:
        raise InvalidArgument("the holes cover all memory; expected at least one present page")
    node_start, node_end = memory[0][0], memory[-1][1]
    spans = []
    for zt in config.zones:
        lo, hi = bounds.get(zt, (0, 0))
        s, e = max(lo, node_start), min(hi, node_end)
        if s >= e:
            # an empty zone: placed where its range meets memory (0 for MOVABLE/DEVICE)
            pos = min(max(lo, node_start), node_end) if zt in bounds else 0
            spans.append(ZoneSpan(zt, pos, pos))
            continue
        spans.append(ZoneSpan(zt, s, e, _clip(hole_r, s, e), _clip(res_r, s, e)))
    return MachineLayout(name, arch, config, tuple(spans), vmsplit)


def x86_32(mem_mb: int, vmsplit: str = "3G", *, highmem: bool = True,
           holes: object = (), reserved: object = (), era: str = "modern") -> MachineLayout:
    """An x86-32 machine with ``mem_mb`` MB of RAM from physical address 0.

    Follows arch/x86/mm/init_32.c ``find_low_pfn_range`` and arch/x86/mm/init.c
    ``zone_sizes_init``: ``max_low_pfn = min(max_pfn, MAXMEM_PFN)`` with MAXMEM
    from :func:`kmem.spec.x86_32_layout.maxmem` for the VMSPLIT and ``era``
    (modern, the default: ``VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE``,
    0x373FE000 = about 884 MB for 3G/1G; ``era="2.6.11"``: 896 MB); DMA is
    [0, 16 MB), NORMAL [16 MB, max_low_pfn), HIGHMEM [max_low_pfn, max_pfn).
    Without CONFIG_HIGHMEM (``highmem=False``) memory above MAXMEM is ignored
    (the kernel prints "Warning only ...MB will be used."). Without PAE at most 4 GB is used
    (MAX_NONPAE_PFN; "Warning: only 4GB will be used."): larger ``mem_mb`` is
    trimmed the same way. ``holes`` and ``reserved`` are global pfn ranges.
    """
    from .x86_32_layout import era_of, maxmem  # late: that module may grow to import this one

    era = era_of(era).value

    max_pfn = min(_mb_to_pfn("mem_mb", mem_mb, "x86_32"), MAX_NONPAE_PFN)
    maxmem_pfn = maxmem(vmsplit, era) // PAGE_SIZE
    if not highmem:
        max_pfn = min(max_pfn, maxmem_pfn)
    max_low_pfn = min(max_pfn, maxmem_pfn)
    dma_end = min(MAX_DMA_PFN, max_low_pfn)
    bounds = {
        ZoneType.DMA: (0, dma_end),
        ZoneType.NORMAL: (dma_end, max_low_pfn),
        ZoneType.HIGHMEM: (max_low_pfn, max_pfn),
    }
    name = (f"x86_32-{mem_mb}M-{vmsplit}" + ("" if highmem else "-nohighmem")
            + ("" if era == "modern" else f"-{era}"))
    lay = _layout(name, "x86_32", X86_32_CONFIG, bounds, max_pfn, holes, reserved, vmsplit)
    return dataclasses.replace(lay, era=era)


def zone_movable_pfn(memory: tuple[PfnRange, ...], movablecore_pages: int,
                     usable_startpfn: int) -> int:
    """The first pfn of ZONE_MOVABLE for ``movablecore=``, or 0 for none.

    Single-node ``find_zone_movable_pfns_for_nodes`` (mm/mm_init.c, 6.x):
    the request is rounded up to MAX_ORDER_NR_PAGES and capped at the present
    pages; the rest is kernelcore, taken first from memory below
    ``usable_startpfn`` (the lowest pfn of the highest populated zone) and then
    upwards from it; the boundary is rounded up to MAX_ORDER_NR_PAGES and
    dropped if that reaches the end of memory.
    """
    totalpages = _count(memory)
    required_movablecore = -(-movablecore_pages // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
    required_movablecore = min(totalpages, required_movablecore)
    required_kernelcore = totalpages - required_movablecore
    if required_kernelcore == 0 or required_kernelcore >= totalpages:
        return 0
    movable_pfn = 0
    kernelcore_remaining = required_kernelcore
    for start_pfn, end_pfn in memory:
        start_pfn = max(start_pfn, movable_pfn)
        if start_pfn >= end_pfn:
            continue
        if start_pfn < usable_startpfn:
            kernel_pages = min(end_pfn, usable_startpfn) - start_pfn
            kernelcore_remaining -= min(kernel_pages, kernelcore_remaining)
            if end_pfn <= usable_startpfn:
                movable_pfn = end_pfn
                continue
            start_pfn = usable_startpfn
        size_pages = min(end_pfn - start_pfn, kernelcore_remaining)
        movable_pfn = start_pfn + size_pages
        kernelcore_remaining -= size_pages
        if kernelcore_remaining == 0:
            break
    movable_pfn = -(-movable_pfn // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
    if movable_pfn >= memory[-1][1]:
        return 0
    return movable_pfn


def x86_64(mem_mb: int, *, movablecore_mb: int = 0, holes: object = (),
           reserved: object = ()) -> MachineLayout:
    """An x86-64 machine with ``mem_mb`` MB of RAM from physical address 0.

    arch/x86/mm/init.c ``zone_sizes_init``: DMA is [0, 16 MB), DMA32 [16 MB,
    4 GB), NORMAL [4 GB, max_pfn). ``movablecore_mb`` acts like the
    ``movablecore=`` boot option: ZONE_MOVABLE takes the top of memory out of
    the highest populated zone (see :func:`zone_movable_pfn` for the rounding).
    Real machines have the PCI hole below 4 GB and memory remapped above it:
    express that with ``holes``.
    """
    max_pfn = _mb_to_pfn("mem_mb", mem_mb, "x86_64")
    if type(movablecore_mb) is not int or movablecore_mb < 0:
        raise InvalidArgument(f"movablecore_mb must be an int >= 0, got {movablecore_mb!r}")
    dma_end = min(MAX_DMA_PFN, max_pfn)
    dma32_end = min(MAX_DMA32_PFN, max_pfn)
    bounds = {
        ZoneType.DMA: (0, dma_end),
        ZoneType.DMA32: (dma_end, dma32_end),
        ZoneType.NORMAL: (dma32_end, max_pfn),
    }
    name = f"x86_64-{mem_mb}M" + (f"-movablecore{movablecore_mb}M" if movablecore_mb else "")
    plain = _layout(name, "x86_64", X86_64_CONFIG, bounds, max_pfn, holes, reserved)
    if not movablecore_mb:
        return plain
    # find_usable_zone_for_movable: the highest zone whose arch range is non-empty
    movable_zone = max((zt for zt, (lo, hi) in bounds.items() if hi > lo), key=lambda z: z.value)
    memory = subtract_ranges(((0, max_pfn),), _norm_ranges("holes", holes))
    start = zone_movable_pfn(memory, movablecore_mb * MB // PAGE_SIZE,
                             max(bounds[movable_zone][0], memory[0][0]))
    if not start:
        return plain
    # adjust_zone_range_for_zone_movable: MOVABLE is [start, end of movable_zone's range)
    moved = dict(bounds)
    lo, hi = bounds[movable_zone]
    moved[movable_zone] = (lo, start)
    moved[ZoneType.MOVABLE] = (start, hi)
    return _layout(name, "x86_64", X86_64_CONFIG, moved, max_pfn, holes, reserved)


def generic(npages: int, *, ztype: ZoneType = ZoneType.NORMAL, holes: object = (),
            reserved: object = ()) -> MachineLayout:
    """One zone of ``npages`` pages from pfn 0 on the minimal configuration.

    Not a real architecture: the workloads' machine, where only the buddy
    allocator matters. ``ztype`` must be configured in MINIMAL_CONFIG.
    """
    if type(npages) is not int or npages <= 0:
        raise InvalidArgument(f"npages must be a positive int, got {npages!r}")
    if npages > max_mem_mb("generic") * (MB // PAGE_SIZE):
        raise InvalidArgument(f"npages {npages} is more than the generic machine can address: "
                              f"{address_limit_text('generic')} = "
                              f"{max_mem_mb('generic') * (MB // PAGE_SIZE)} pages")
    MINIMAL_CONFIG.idx(ztype)
    return _layout(f"generic-{npages}", "generic", MINIMAL_CONFIG, {ztype: (0, npages)},
                   npages, holes, reserved)


#: preset name -> layout builder, for the command line
PRESETS = {
    "x86_32": x86_32,
    "x86_64": x86_64,
    "generic": generic,
}
