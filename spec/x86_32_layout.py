"""The x86-32 kernel virtual memory map: the fourth gigabyte (and its VMSPLIT variants).

Follows 2.6.11 include/asm-i386/page.h, pgtable.h, highmem.h, fixmap.h and
arch/i386/mm/init.c (era ``"2.6.11"``), and modern arch/x86/include/asm/page_32_types.h,
pgtable_32_areas.h, fixmap.h and arch/x86/Kconfig (era ``"modern"``).

From PAGE_OFFSET upwards: the direct map of low memory (up to ``high_memory``),
an 8 MB VMALLOC_OFFSET gap, the vmalloc area, a 2-page gap, the PKMAP window of
persistent kmaps (CONFIG_HIGHMEM), [modern: the LDT remap and the CPU entry
area,] the fixmap, and the never-mapped FIX_HOLE page at FIXADDR_TOP.

The fixmap and CPU-entry-area sizes depend on the kernel configuration
(NR_CPUS, APICs, kmap slots); :class:`LayoutConfig` takes them as page counts
with documented example defaults. Thanks to PMD alignment the named area
boundaries below the fixmap do not move for any size that fits in one PMD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .constants import MB, PAGE_SIZE
from .errors import InvalidArgument, KernelBug

#: CONFIG_VMSPLIT_* -> PAGE_OFFSET (arch/x86/Kconfig, 32-bit; added in 2.6.16)
VMSPLIT_PAGE_OFFSET: dict[str, int] = {
    "3G": 0xC0000000,  # default: 3 GB user, 1 GB kernel
    "3G_OPT": 0xB0000000,  # 1 GB of RAM fits in lowmem
    "2G": 0x80000000,
    "2G_OPT": 0x78000000,
    "1G": 0x40000000,
}

#: VMSPLIT options that ``depends on !X86_PAE`` (arch/x86/Kconfig)
VMSPLIT_NOT_PAE = ("3G_OPT", "2G_OPT")

VMALLOC_RESERVE = 128 * MB  # __VMALLOC_RESERVE (arch/x86/mm/init_32.c); vmalloc= may change it
ADDRESS_SPACE_END = 1 << 32
VMALLOC_OFFSET = 8 * MB  # the guard hole after the direct map (pgtable_32_areas.h)
FIXADDR_TOP = 0xFFFFF000  # __FIXADDR_TOP (2.6.11 constant; modern default of a variable)
LAST_PKMAP = 1024  # include/asm-i386/highmem.h, pgtable_32_areas.h; 4 MB window
LAST_PKMAP_PAE = 512  # with CONFIG_X86_PAE: 2 MB window
PMD_SIZE = 4 * MB  # non-PAE: the pmd is folded into the 4 MB pgd (PGDIR_SHIFT 22)
PMD_SIZE_PAE = 2 * MB  # PAE: PMD_SHIFT 21


class Era(Enum):
    """Which kernel's formulas (and, for the fault handler, which control flow) to follow."""

    LINUX_2_6_11 = "2.6.11"
    MODERN = "modern"


def era_of(value: str | Era) -> Era:
    """An :class:`Era` from its name ("2.6.11" or "modern")."""
    if isinstance(value, Era):
        return value
    for e in Era:
        if value == e.value:
            return e
    raise InvalidArgument(f"unknown era {value!r}; expected one of "
                          f"{', '.join(e.value for e in Era)}")


def page_offset(vmsplit: str = "3G") -> int:
    """PAGE_OFFSET for a CONFIG_VMSPLIT_* option (arch/x86/Kconfig)."""
    try:
        return VMSPLIT_PAGE_OFFSET[vmsplit]
    except KeyError:
        raise InvalidArgument(
            f"unknown vmsplit {vmsplit!r}; expected one of {', '.join(VMSPLIT_PAGE_OFFSET)}"
        ) from None


def maxmem(vmsplit: str = "3G", era: str | Era = "modern", *, pae: bool = False) -> int:
    """MAXMEM, the most physical memory the direct map can hold, in bytes.

    The one source of this number: the zone presets, ``Machine.x86_32`` and
    :func:`layout` all take it from here (via :func:`compute`).

    * ``era="modern"``: arch/x86/include/asm/pgtable_32_areas.h
      ``#define MAXMEM (VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE)`` (6.12;
      ``__VMALLOC_RESERVE`` is 128 MB, arch/x86/mm/init_32.c). VMALLOC_END sits
      below the PKMAP window, the LDT remap and the CPU entry area, so with the
      3G split and no PAE MAXMEM is 0x373FE000 (about 884 MB), not 896 MB.
    * ``era="2.6.11"``: include/asm-i386/page.h
      ``MAXMEM = -__PAGE_OFFSET - __VMALLOC_RESERVE``: 896 MB for the 3G split.

    Physical memory below MAXMEM is lowmem (DMA and NORMAL); memory above it is
    ZONE_HIGHMEM.
    """
    return layout(vmsplit, era, pae=pae).maxmem


def _align_down(x: int, a: int) -> int:
    return x // a * a


@dataclass(frozen=True)
class LayoutConfig:
    """Configuration inputs of the layout.

    ``mem_mb``: physical RAM (None: at least enough to fill the direct map).
    ``fixmap_pages``: ``__end_of_permanent_fixed_addresses``; ``fixmap_boot_pages``:
    ``__end_of_fixed_addresses`` (permanent + boot-time slots). The 2.6.11 defaults
    are its fixmap.h for a uniprocessor CONFIG_HIGHMEM kernel (FIX_HOLE, FIX_VSYSCALL,
    13 KM_TYPE_NR kmap_atomic slots = 15; + 16 NR_FIX_BTMAPS + FIX_WP_TEST = 32).
    The modern defaults (``*_modern``) are an example configuration
    (**lower confidence**): 128 permanent pages, 512 boot-time early_ioremap
    slots plus FIX_WP_TEST, and a 4-CPU cpu_entry_area of 10 pages per CPU.
    """

    vmsplit: str = "3G"
    era: Era = Era.MODERN
    pae: bool = False
    highmem: bool = True
    mem_mb: int | None = None
    fixmap_pages: int | None = None
    fixmap_boot_pages: int | None = None
    cpu_entry_area_pages: int = 40  # modern only: NR_CPUS * pages per struct cpu_entry_area


_FIXMAP_DEFAULTS = {Era.LINUX_2_6_11: (15, 32), Era.MODERN: (128, 641)}


@dataclass(frozen=True)
class Region:
    """One named range [start, end) of the kernel's virtual address space."""

    name: str
    start: int
    end: int
    description: str
    is_gap: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    def contains(self, vaddr: int) -> bool:
        return self.start <= vaddr < self.end


class NotDirectMapped(KernelBug):
    """``__pa``/``__va``/``virt_to_page`` on an address outside the direct map.

    The kernel's 32-bit ``__phys_addr`` catches this with VIRTUAL_BUG_ON under
    CONFIG_DEBUG_VIRTUAL (arch/x86/mm/physaddr.c); without it the result is garbage.
    """


@dataclass(frozen=True)
class X86_32Layout:
    """The computed kernel virtual memory map for one :class:`LayoutConfig`."""

    config: LayoutConfig
    page_offset: int
    maxmem: int
    high_memory: int
    vmalloc_start: int
    vmalloc_end: int
    pkmap_base: int | None
    last_pkmap: int
    ldt_base_addr: int | None
    cpu_entry_area_base: int | None
    fixaddr_boot_start: int
    fixaddr_start: int
    fixaddr_top: int
    regions: tuple[Region, ...] = field(repr=False)

    @property
    def task_size(self) -> int:
        """TASK_SIZE (= TASK_SIZE_MAX on x86-32): user space ends at PAGE_OFFSET."""
        return self.page_offset

    @property
    def pkmap_end(self) -> int | None:
        """PKMAP_ADDR(LAST_PKMAP): one past the last persistent-kmap slot."""
        if self.pkmap_base is None:
            return None
        return self.pkmap_base + self.last_pkmap * PAGE_SIZE

    @property
    def max_low_pfn(self) -> int:
        """The end of lowmem as a pfn (``max_low_pfn``)."""
        return (self.high_memory - self.page_offset) // PAGE_SIZE

    def region_of(self, vaddr: int) -> Region:
        """The area ``vaddr`` lies in; user addresses get the "user" region."""
        _check_vaddr(vaddr)
        if vaddr < self.page_offset:
            return Region("user", 0, self.page_offset, "user space (TASK_SIZE = PAGE_OFFSET)")
        for r in self.regions:
            if r.contains(vaddr):
                return r
        raise AssertionError(f"regions do not cover {vaddr:#x}")  # excluded by the invariants

    # --- address conversions (include/asm-i386/page.h, arch/x86/include/asm/page.h)

    def virt_addr_valid(self, vaddr: int) -> bool:
        """virt_addr_valid(): true only for direct-map (lowmem) addresses."""
        return self.page_offset <= vaddr < self.high_memory

    def pa(self, vaddr: int) -> int:
        """``__pa(x) = x - PAGE_OFFSET``, for a direct-map address."""
        _check_vaddr(vaddr)
        if not self.virt_addr_valid(vaddr):
            raise NotDirectMapped(
                f"__pa({vaddr:#010x}): {self.region_of(vaddr).name} address; only direct-map "
                f"addresses [{self.page_offset:#010x}, {self.high_memory:#010x}) have one")
        return vaddr - self.page_offset

    def va(self, paddr: int) -> int:
        """``__va(x) = x + PAGE_OFFSET``, for a lowmem physical address."""
        if not isinstance(paddr, int) or paddr < 0:
            raise InvalidArgument(f"physical address must be an int >= 0, got {paddr!r}")
        if paddr >= self.high_memory - self.page_offset:
            raise NotDirectMapped(
                f"__va({paddr:#x}): above lowmem (ends at {self.high_memory - self.page_offset:#x});"
                " highmem has no permanent mapping, use kmap()")
        return paddr + self.page_offset

    def virt_to_pfn(self, vaddr: int) -> int:
        """``virt_to_page(v)``'s pfn: ``__pa(v) >> PAGE_SHIFT`` (lowmem only)."""
        return self.pa(vaddr) // PAGE_SIZE

    def pkmap_nr(self, vaddr: int) -> int:
        """PKMAP_NR(virt) = (virt - PKMAP_BASE) >> PAGE_SHIFT."""
        if self.pkmap_base is None or not self.pkmap_base <= vaddr < (self.pkmap_end or 0):
            raise InvalidArgument(f"{vaddr:#x} is not in the PKMAP window")
        return (vaddr - self.pkmap_base) // PAGE_SIZE

    def pkmap_addr(self, nr: int) -> int:
        """PKMAP_ADDR(nr) = PKMAP_BASE + (nr << PAGE_SHIFT)."""
        if self.pkmap_base is None:
            raise InvalidArgument("no PKMAP window without CONFIG_HIGHMEM")
        if not 0 <= nr < self.last_pkmap:
            raise InvalidArgument(f"pkmap slot {nr} out of range 0..{self.last_pkmap - 1}")
        return self.pkmap_base + nr * PAGE_SIZE


def _check_vaddr(vaddr: int) -> None:
    if not isinstance(vaddr, int) or isinstance(vaddr, bool) or not 0 <= vaddr < ADDRESS_SPACE_END:
        raise InvalidArgument(f"virtual address {vaddr!r} is not in 0..0xffffffff")


def layout(vmsplit: str = "3G", era: str | Era = Era.MODERN, *, pae: bool = False,
           highmem: bool = True, mem_mb: int | None = None, fixmap_pages: int | None = None,
           fixmap_boot_pages: int | None = None,
           cpu_entry_area_pages: int = 40, kernel: str | None = None) -> X86_32Layout:
    """Compute the kernel virtual memory map (see :class:`LayoutConfig` for the inputs).

    ``era`` defaults to the modern kernel; ``"2.6.11"`` gives the classic formulas.
    ``kernel`` (a ``uname -r`` string) picks the era instead
    (:attr:`kmem.spec.kernel.Kernel.x86_32_era`: 2.6 -> 2.6.11, 4.19 onwards -> modern).
    """
    if kernel is not None:
        from .kernel import kernel as kernel_rules

        era = kernel_rules(kernel).x86_32_era
    era = era_of(era)
    cfg = LayoutConfig(vmsplit, era, pae, highmem, mem_mb, fixmap_pages, fixmap_boot_pages,
                       cpu_entry_area_pages)
    return compute(cfg)


def compute(cfg: LayoutConfig) -> X86_32Layout:
    """The layout for ``cfg``: 2.6.11 or modern formulas (module docstring)."""
    offset = page_offset(cfg.vmsplit)
    if cfg.era is Era.MODERN and cfg.pae and cfg.vmsplit in VMSPLIT_NOT_PAE:
        raise InvalidArgument(f"VMSPLIT_{cfg.vmsplit} depends on !X86_PAE (arch/x86/Kconfig); "
                              "choose 3G, 2G or 1G with PAE")
    perm_default, boot_default = _FIXMAP_DEFAULTS[cfg.era]
    perm = perm_default if cfg.fixmap_pages is None else cfg.fixmap_pages
    boot = boot_default if cfg.fixmap_boot_pages is None else cfg.fixmap_boot_pages
    if not 1 <= perm <= boot:
        raise InvalidArgument(f"fixmap sizes must satisfy 1 <= fixmap_pages ({perm}) <= "
                              f"fixmap_boot_pages ({boot})")
    if not 0 <= cfg.cpu_entry_area_pages:
        raise InvalidArgument(f"cpu_entry_area_pages must be >= 0, got {cfg.cpu_entry_area_pages}")
    if cfg.mem_mb is not None and (type(cfg.mem_mb) is not int or cfg.mem_mb <= 0):
        raise InvalidArgument(f"mem_mb must be a positive int, got {cfg.mem_mb!r}")
    pmd = PMD_SIZE_PAE if cfg.pae else PMD_SIZE
    last_pkmap = LAST_PKMAP_PAE if cfg.pae else LAST_PKMAP
    fixaddr_start = FIXADDR_TOP - perm * PAGE_SIZE  # FIXADDR_START
    fixaddr_boot_start = FIXADDR_TOP - boot * PAGE_SIZE  # FIXADDR_BOOT_START / FIXADDR_TOT_START
    ldt = cea = None
    pkmap_base: int | None
    if cfg.era is Era.LINUX_2_6_11:
        # include/asm-i386/highmem.h, pgtable.h
        pkmap_base = _align_down(fixaddr_boot_start - PAGE_SIZE * (last_pkmap + 1), pmd)
        below_vmalloc = pkmap_base if cfg.highmem else fixaddr_start
        vmalloc_end = below_vmalloc - 2 * PAGE_SIZE
        max_mem = ADDRESS_SPACE_END - offset - VMALLOC_RESERVE  # MAXMEM = -PAGE_OFFSET - RESERVE
    else:
        # arch/x86/include/asm/pgtable_32_areas.h
        cea = _align_down(fixaddr_boot_start - PAGE_SIZE * (cfg.cpu_entry_area_pages + 1), pmd)
        ldt = _align_down(cea - PAGE_SIZE, pmd)
        pkmap_base = _align_down(ldt - PAGE_SIZE, pmd)
        vmalloc_end = (pkmap_base if cfg.highmem else ldt) - 2 * PAGE_SIZE
        max_mem = vmalloc_end - offset - VMALLOC_RESERVE  # MAXMEM (modern)
    ram = max_mem if cfg.mem_mb is None else min(cfg.mem_mb * MB, max_mem)
    high_memory = offset + _align_down(ram, PAGE_SIZE)  # __va(max_low_pfn << PAGE_SHIFT)
    if cfg.era is Era.LINUX_2_6_11:
        vmalloc_start = (high_memory + 2 * VMALLOC_OFFSET - 1) // VMALLOC_OFFSET * VMALLOC_OFFSET
    else:
        vmalloc_start = high_memory + VMALLOC_OFFSET
    if not cfg.highmem:
        pkmap_base = None
    if vmalloc_start >= vmalloc_end:
        raise InvalidArgument(f"no room for vmalloc: VMALLOC_START {vmalloc_start:#x} >= "
                              f"VMALLOC_END {vmalloc_end:#x}")
    lay = X86_32Layout(cfg, offset, max_mem, high_memory, vmalloc_start, vmalloc_end,
                       pkmap_base, last_pkmap, ldt, cea, fixaddr_boot_start, fixaddr_start,
                       FIXADDR_TOP, ())
    regions = _regions(lay, pmd)
    return X86_32Layout(cfg, offset, max_mem, high_memory, vmalloc_start, vmalloc_end,
                        pkmap_base, last_pkmap, ldt, cea, fixaddr_boot_start, fixaddr_start,
                        FIXADDR_TOP, regions)


def _regions(lay: X86_32Layout, pmd: int) -> tuple[Region, ...]:
    """The areas from PAGE_OFFSET to 4 GB, in order, with the gaps between them named."""
    areas: list[tuple[str, int, int, str]] = [
        ("lowmem", lay.page_offset, lay.high_memory,
         "direct map of low memory (PAGE_OFFSET .. high_memory)"),
        ("vmalloc", lay.vmalloc_start, lay.vmalloc_end, "vmalloc area (VMALLOC_START .. VMALLOC_END)"),
    ]
    if lay.pkmap_base is not None:
        areas.append(("pkmap", lay.pkmap_base, lay.pkmap_base + lay.last_pkmap * PAGE_SIZE,
                      f"persistent kmaps (PKMAP_BASE, LAST_PKMAP = {lay.last_pkmap})"))
    if lay.ldt_base_addr is not None and lay.cpu_entry_area_base is not None:
        areas.append(("ldt", lay.ldt_base_addr, lay.ldt_base_addr + pmd,
                      "LDT remap for PTI (LDT_BASE_ADDR .. LDT_END_ADDR)"))
        cea_pages = lay.config.cpu_entry_area_pages + 1  # + the read-only IDT page
        areas.append(("cpu_entry_area", lay.cpu_entry_area_base,
                      lay.cpu_entry_area_base + cea_pages * PAGE_SIZE,
                      "CPU entry area (CPU_ENTRY_AREA_BASE; per-CPU GDT, TSS, entry stack)"))
    boot_fixmap_overlaps = lay.fixaddr_boot_start < lay.vmalloc_end
    if not boot_fixmap_overlaps and lay.fixaddr_boot_start < lay.fixaddr_start:
        areas.append(("fixmap_boot", lay.fixaddr_boot_start, lay.fixaddr_start,
                      "boot-time fixmap slots (FIX_BTMAP for boot-time ioremap, FIX_WP_TEST)"))
    areas.append(("fixmap", lay.fixaddr_start, lay.fixaddr_top,
                  "fixmap: compile-time fixed addresses (FIXADDR_START .. FIXADDR_TOP)"))
    areas.append(("fix_hole", lay.fixaddr_top, ADDRESS_SPACE_END,
                  "FIX_HOLE: fixmap index 0, never mapped (FIXADDR_TOP .. 4 GB)"))
    out: list[Region] = []
    cursor, prev = lay.page_offset, "lowmem"
    for name, start, end, desc in areas:
        if start > cursor:
            out.append(_gap(prev, name, cursor, start))
        if end > start:
            out.append(Region(name, start, end, desc))
            prev = name
        cursor = max(cursor, end)
    return tuple(out)


def _gap(below: str, above: str, start: int, end: int) -> Region:
    """A named gap between two areas."""
    if below == "lowmem" and above == "vmalloc":
        return Region("vmalloc_offset_gap", start, end,
                      "VMALLOC_OFFSET hole after the direct map (8 MB, catches overruns)", True)
    if below == "vmalloc":
        return Region("vmalloc_end_gap", start, end,
                      f"guard gap after VMALLOC_END (2 pages below {above})", True)
    return Region(f"gap_{below}_{above}", start, end, f"unused, between {below} and {above}", True)


def check_invariants(lay: X86_32Layout) -> None:
    """Regions are non-empty, disjoint, ascending and cover PAGE_OFFSET .. 4 GB exactly.

    Raises :class:`KernelBug` naming the first broken invariant.
    """
    cursor = lay.page_offset
    for r in lay.regions:
        if r.start != cursor:
            raise KernelBug(f"region {r.name} starts at {r.start:#x}, expected {cursor:#x}")
        if r.end <= r.start:
            raise KernelBug(f"region {r.name} is empty or reversed")
        cursor = r.end
    if cursor != ADDRESS_SPACE_END:
        raise KernelBug(f"regions end at {cursor:#x}, expected 4 GB")
    named = {r.name for r in lay.regions if not r.is_gap}
    for required in ("lowmem", "vmalloc", "fixmap"):
        if required not in named:
            raise KernelBug(f"required area {required} missing")


def region_of(vaddr: int, vmsplit: str = "3G", era: str | Era = Era.MODERN) -> Region:
    """The area of the x86-32 kernel map ``vaddr`` is in (default 3G split, modern formulas).

    pre: 0 <= vaddr < 2**32 and vmsplit in VMSPLIT_PAGE_OFFSET
    pre: era in (Era.LINUX_2_6_11, Era.MODERN, "2.6.11", "modern")
    post: __return__.start <= vaddr < __return__.end
    """
    return layout(vmsplit, era).region_of(vaddr)
