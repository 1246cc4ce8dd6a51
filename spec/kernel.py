"""Kernel versions: one place that maps a ``uname -r`` string to that kernel's rules and text.

Give kmem any version string as ``uname -r`` prints it (``"2.6.11"``,
``"4.19.0-17-amd64"``, ``"6.7.0-rc2"``, ``"6.12.117"``, ``"5.15.0-91-generic"``)
and :func:`kernel` returns a :class:`Kernel`: which gfp numbering and print table
(:mod:`kmem.spec.gfp_profiles`), which ``page allocation failure`` line, which
segfault line and oops lines, which /proc/zoneinfo and /proc/pagetypeinfo layout,
which allocator rules (``ALLOC_HIGHATOMIC``, the boost retry) and which x86-32
layout formulas apply. Every printer and parser that differs by version takes
``kernel=`` (a string or a :class:`Kernel`; default: the newest kernel).

:data:`CHANGES` is the table of *what changed when* (version, commit subject, file,
effect); ``docs/kernel-versions.md`` is generated from it
(:func:`changes_markdown`) and a test keeps the two equal. The sources are the
kernel trees themselves: Debian's ``linux-source-6.1`` (6.1.192) and
``linux-source-6.12`` (6.12.117) packages, and old trees read from public
repositories (2.6.11, 4.9, 4.19 ``include/linux/gfp.h``; 4.5-4.7 ``mmflags.h``);
each change's ``source`` names what it was checked against. Entries marked
``confidence="lower"`` come from patch mail and commit logs rather than a release
tree, or the exact release is inferred from the patch date (the docs page says so).

A version is placed by its mainline release (major.minor): a change merged for 6.8
applies to every 6.8 kernel, release candidates included. Fixes that the stable
series took later are :class:`Backport` entries keyed by (major, minor, patch).
Versions between two known eras where kmem lacks the data (for example the gfp
numbering of 2.6.23-2.6.30) raise :class:`UnknownKernel` with what is known, rather
than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .errors import InvalidArgument

# ---------------------------------------------------------------------------
# Version strings
# ---------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-rc(\d+))?(.*?)\s*$")
#: CONFIG_LOCALVERSION is glued to the version as it is (``6.7.0-rc2`` + ``igor1`` +
#: ``+`` from a dirty tree = ``6.7.0-rc2igor1+``): after ``-rcN`` a local part may start
#: with a letter; after the numbers alone it must start with a separator
_LOCAL_AFTER_RC = re.compile(r"[A-Za-z]")


class UnknownKernel(InvalidArgument):
    """A version kmem has no rules for (or a string that is not a kernel version)."""


@dataclass(frozen=True)
class KernelVersion:
    """A kernel version as ``uname -r`` prints it.

    ``major.minor.patch`` (2.6 kernels: ``2.6.sublevel``, with an optional fourth
    number kept in ``extra``), ``rc`` for ``-rcN`` and ``local`` for the rest
    (``-17-amd64``, ``-generic``, ``+``). Ordering is by (major, minor, patch) with a
    release candidate before its release.
    """

    major: int
    minor: int
    patch: int = 0
    rc: int | None = None
    extra: int | None = None
    local: str = ""

    @property
    def release(self) -> tuple[int, int]:
        """The mainline release: (major, minor), or (2, 6, sublevel)-style for 2.6."""
        return (self.major, self.minor)

    @property
    def key(self) -> tuple[int, int, int, int, int]:
        """Sort key: a release candidate sorts before its release."""
        rc_key = (0, self.rc) if self.rc is not None else (1, 0)
        return (self.major, self.minor, self.patch) + rc_key

    def series(self) -> tuple[int, int, int]:
        """(major, minor, sublevel) of the release: 2.6.32.27 -> (2, 6, 32); 6.12.117 ->
        (6, 12, 0)."""
        if (self.major, self.minor) == (2, 6):
            return (2, 6, self.patch)
        return (self.major, self.minor, 0)

    def at_least(self, version: str | tuple[int, ...]) -> bool:
        """This kernel contains a change merged for release ``version`` ("6.8", "2.6.24").

        Placement is by release: ``6.8.0-rc1`` is at least 6.8."""
        want = _release_tuple(version)
        return self.series() >= want

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.extra is not None:
            text += f".{self.extra}"
        if self.rc is not None:
            text += f"-rc{self.rc}"
        return text + self.local


def _release_tuple(version: str | tuple[int, ...]) -> tuple[int, int, int]:
    if isinstance(version, tuple):
        parts = version
    else:
        parts = tuple(int(p) for p in version.split("."))
    if len(parts) == 2:
        return (parts[0], parts[1], 0)
    if len(parts) == 3 and parts[:2] == (2, 6):
        return (2, 6, parts[2])
    raise InvalidArgument(f"a release is 'major.minor' (or 2.6.N), got {version!r}")


def parse_version(text: str) -> KernelVersion:
    """Parse ``uname -r`` text: ``"6.12.117"``, ``"4.19.0-17-amd64"``, ``"6.7.0-rc2"``,
    ``"2.6.32.27"``, ``"3.10.0-1160.el7.x86_64"``, ``"6.8"``."""
    if not isinstance(text, str):
        raise UnknownKernel(f"kernel version must be a str such as '6.12.117', got "
                            f"{type(text).__name__}")
    m = _VERSION_RE.match(text)
    if m is None:
        raise UnknownKernel(f"cannot read kernel version {text!r}; expected what uname -r "
                            f"prints, e.g. '6.12.117', '4.19.0-17-amd64' or '6.7.0-rc2'")
    major, minor = int(m.group(1)), int(m.group(2))
    patch = int(m.group(3)) if m.group(3) is not None else 0
    extra = int(m.group(4)) if m.group(4) is not None else None
    rc = int(m.group(5)) if m.group(5) is not None else None
    local = m.group(6)
    if local and local[0] not in "-+_~." and not (rc is not None
                                                   and _LOCAL_AFTER_RC.match(local)):
        raise UnknownKernel(f"cannot read kernel version {text!r}: unexpected {local!r} after "
                            f"the version numbers")
    if major < 2 or (major == 2 and minor not in (4, 6)):
        raise UnknownKernel(f"kernel {text!r}: kmem knows 2.4, 2.6 and 3.0 onwards")
    return KernelVersion(major, minor, patch, rc, extra, local)


# ---------------------------------------------------------------------------
# What changed when
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change of a rule or a text: the first release with it, the commit subject
    (or the patch subject), the file, what changed, and what kmem checked it against."""

    version: str
    subject: str
    file: str
    area: str
    effect: str
    source: str
    confidence: str = "checked"


@dataclass(frozen=True)
class Backport:
    """A mainline change that stable series took: from which patch level of which series."""

    change: str  # the Change.subject
    series: tuple[int, int]
    from_patch: int
    source: str


NEWEST = "6.18"  # the newest mainline kmem follows (the "modern" gfp profile's snapshot)

CHANGES: tuple[Change, ...] = (
    Change("2.6.11", "(baseline)", "include/linux/gfp.h, arch/i386/mm/fault.c",
           "gfp, x86-32, faults",
           "__GFP_WAIT 0x10, GFP_KERNEL 0xd0; MAXMEM = -PAGE_OFFSET - VMALLOC_RESERVE (896 MB); "
           "no gfp printer; 'page allocation failure. order:%d, mode:0x%x'; no segfault line",
           "2.6.11 tree (Antonio-Zhou/Linux-2.6.11)"),
    Change("2.6.24", "(pagetypeinfo added, grouping pages by mobility)", "mm/vmstat.c",
           "procfs", "/proc/pagetypeinfo appears (types Unmovable, Reclaimable, Movable, Reserve)",
           "vmstat.c history", "lower"),
    Change("3.0", "mm: print out the allocation failure message (warn_alloc_failed)",
           "mm/page_alloc.c", "warn_alloc",
           "'%s: page allocation failure: order:%d, mode:0x%x' (colon, no flag names)",
           "3.x logs (openzfs/spl#125: 3.4, mode:0x10d0)", "lower"),
    Change("2.6.13", "(zoneinfo_show added)", "mm/page_alloc.c", "zoneinfo",
           "/proc/zoneinfo appears; each populated zone ends with 'all_unreclaimable: %u' "
           "and 'start_pfn:         %lu'", "the 2.6.13 zoneinfo_show patch (mm/page_alloc.c); "
           "2.6.2x-4.7 mm/vmstat.c zoneinfo_show_print"),
    Change("2.6.15", "x86_64: Add 4GB DMA32 zone", "include/linux/mmzone.h", "zones",
           "ZONE_DMA32 (x86-64 memory below 4 GB); before it, Normal starts at 16 MB",
           "commit log", "lower"),
    Change("2.6.23", "Create the ZONE_MOVABLE zone", "include/linux/mmzone.h", "zones",
           "ZONE_MOVABLE (kernelcore=, movablecore=)", "commit log", "lower"),
    Change("3.8", "mm: introduce new field \"managed_pages\" to struct zone", "mm/vmstat.c",
           "zoneinfo", "/proc/zoneinfo prints 'managed'", "commit log", "lower"),
    Change("4.4", "mm, page_alloc: distinguish between being unable to sleep, unwilling to "
           "sleep and avoiding waking kswapd", "include/linux/gfp.h", "gfp",
           "__GFP_WAIT split into __GFP_DIRECT_RECLAIM (0x400000) and __GFP_KSWAPD_RECLAIM "
           "(0x2000000); GFP_KERNEL = 0x24000c0; __GFP_ATOMIC 0x80000",
           "4.9 tree (CTCaer/switch-l4t-kernel-4.9 include/linux/gfp.h)"),
    Change("4.4", "mm, page_alloc: remove MIGRATE_RESERVE", "mm/page_alloc.c", "procfs",
           "pagetypeinfo: 'Reserve' gone, 'HighAtomic' added; types ordered Unmovable, "
           "Movable, Reclaimable", "commit log", "lower"),
    Change("4.5", "mm, printk: introduce new format string for flags", "lib/vsprintf.c, "
           "include/trace/events/mmflags.h", "warn_alloc, gfp printing",
           "%pGg: 'mode:%#x(%pGg)' names the flags; one mmflags.h table for printk and "
           "tracepoints", "mmflags.h of 4.5-4.7 (patch mail)"),
    Change("4.8", "mm, vmscan: move LRU lists to node", "mm/vmstat.c", "zoneinfo",
           "'node_unreclaimable:  %u' replaces 'all_unreclaimable: %u'; 'start_pfn:' "
           "spaced to 11 (was 9)", "the patch (mm/vmstat.c zoneinfo_show_print hunk); the "
           "release from the node-LRU series' merge", "lower"),
    Change("4.8", "mm, thp: remove __GFP_NORETRY from khugepaged and madvised allocations",
           "include/linux/gfp.h, include/trace/events/mmflags.h", "gfp",
           "GFP_TRANSHUGE_LIGHT added (printed after GFP_TRANSHUGE)", "4.9 tree"),
    Change("4.10", "mm: remove __GFP_OTHER_NODE", "include/linux/gfp.h", "gfp",
           "__GFP_WRITE 0x800000, __GFP_KSWAPD_RECLAIM 0x1000000; GFP_KERNEL = 0x14000c0",
           "patch mail; raspberrypi/linux#2037 (4.12: mode:0x1082020(GFP_ATOMIC|__GFP_MEMALLOC))"),
    Change("4.10", "mm: consolidate warn_alloc_failed users (warn_alloc)", "mm/page_alloc.c",
           "warn_alloc", "', nodemask=%*pbl' appended; cpuset printed on its own line "
           "'%s cpuset=%s mems_allowed=%*pbl'",
           "raspberrypi/linux#2037 (4.12-rc2 log)", "lower"),
    Change("4.13", "mm, tree wide: replace __GFP_REPEAT by __GFP_RETRY_MAYFAIL with more "
           "useful semantic", "include/linux/gfp.h", "gfp",
           "0x400 renamed __GFP_RETRY_MAYFAIL", "commit log"),
    Change("4.14", "mm: treewide: remove GFP_TEMPORARY allocation flag", "include/linux/gfp.h",
           "gfp", "GFP_TEMPORARY removed", "commit log"),
    Change("4.15", "mm: remove __GFP_COLD / kmemcheck removal", "include/linux/gfp.h", "gfp",
           "renumbered: __GFP_WRITE 0x100 ... __GFP_DIRECT_RECLAIM 0x200000, "
           "__GFP_KSWAPD_RECLAIM 0x400000; GFP_KERNEL = 0x6000c0",
           "4.19 tree (0x88888888/Linux-4.19 include/linux/gfp.h)"),
    Change("4.19", "x86/pti: Add PTI support for x86-32 (LDT remap, cpu_entry_area)",
           "arch/x86/include/asm/pgtable_32_areas.h", "x86-32",
           "MAXMEM = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE (0x373FE000 for 3G)",
           "6.12 tree", "lower"),
    Change("4.20", "x86/fault: Decode page fault OOPSes better", "arch/x86/mm/fault.c",
           "oops", "'#PF error: [...]' line after 'BUG: unable to handle kernel ...'",
           "commit log", "lower"),
    Change("5.0", "mm: reclaim small amounts of memory when an external fragmentation event "
           "occurs", "mm/page_alloc.c, mm/vmstat.c", "watermarks, zoneinfo",
           "watermark_boost; /proc/zoneinfo prints 'boost'", "commit log", "lower"),
    Change("5.1", "mm: shuffle GFP_* flags", "include/linux/gfp.h", "gfp",
           "renumbered: __GFP_ZERO 0x100, __GFP_ATOMIC 0x200, __GFP_DIRECT_RECLAIM 0x400, "
           "__GFP_KSWAPD_RECLAIM 0x800; GFP_KERNEL = 0xcc0",
           "patch mail 2019-01-09 (after the 5.0 merge window)", "lower"),
    Change("5.1", "x86/fault: Reword initial BUG message for unhandled page faults",
           "arch/x86/mm/fault.c", "oops",
           "'BUG: kernel NULL pointer dereference, address: %px' / 'BUG: unable to handle "
           "page fault for address: %px' and '#PF: ...' lines", "commit log", "lower"),
    Change("5.4", "mm, vmstat: reduce zone->lock holding time by /proc/pagetypeinfo",
           "mm/vmstat.c", "procfs", "pagetypeinfo free counts capped at 100000, printed "
           "'>100000'", "commit log", "lower"),
    Change("5.9", "mm, page_alloc: skip ->waternark_boost for atomic order-0 allocations",
           "mm/page_alloc.c", "watermarks",
           "zone_watermark_fast retries order-0 __GFP_ATOMIC against the unboosted min",
           "6.1.192 tree (the __GFP_ATOMIC form)", "lower"),
    Change("5.12", "mm: cma: print region name / zoneinfo cma line", "mm/vmstat.c", "zoneinfo",
           "/proc/zoneinfo prints 'cma'", "kmem's zoneinfo notes", "lower"),
    Change("6.1", "x86/mm: Print likely CPU at segfault time", "arch/x86/mm/fault.c",
           "segfault", "' likely on CPU %d (core %d, socket %d)' appended",
           "6.1.192 tree arch/x86/mm/fault.c:781"),
    Change("6.1", "mm: memory tiering / promo watermark", "mm/vmstat.c", "zoneinfo",
           "/proc/zoneinfo prints 'promo'", "6.1.192 tree", "lower"),
    Change("6.10", "mm: simplify and improve print_vma_addr() output", "mm/memory.c",
           "segfault", "' in %pD[%lx,%lx+%lx]' (file offset added) instead of "
           "' in %s[%lx+%lx]'", "commit de7e71ef8bed (merged 2024-05-23, the 6.10 merge "
           "window); 6.12.117 mm/memory.c print_vma_addr"),
    Change("6.3", "mm/page_alloc: explicitly define how __GFP_HIGH non-blocking allocations "
           "accesses reserves", "mm/page_alloc.c, include/linux/gfp_types.h",
           "gfp, alloc flags", "__GFP_ATOMIC removed (GFP_ATOMIC = 0x820); ALLOC_NON_BLOCK, "
           "ALLOC_MIN_RESERVE; ALLOC_HIGHATOMIC for any non-blocking order > 0 request",
           "commit 1ebbb21811b7 (stable mail)"),
    Change("6.3", "mm/page_alloc: explicitly define what alloc flags deplete min reserves",
           "mm/page_alloc.c", "watermarks",
           "boost retry keyed on ALLOC_MIN_RESERVE instead of __GFP_ATOMIC", "6.12.117 tree",
           "lower"),
    Change("6.7", "mm: tune PCP high automatically", "mm/page_alloc.c, mm/vmstat.c",
           "pcp lists",
           "pcp->high moves between high_min (LOW watermark share) and high_max (1/8 of the "
           "zone): raised by nr_pcp_alloc/nr_pcp_high, lowered by decay_pcp_high from the "
           "vmstat worker; free_factor replaced by free_count and alloc_factor; 6.1 has one "
           "fixed high", "6.1.192 vs 6.12.118 mm/page_alloc.c"),
    Change("6.8", "gfp: Include __GFP_NOWARN in GFP_NOWAIT", "include/linux/gfp_types.h",
           "gfp", "GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN (0x2800)",
           "patch mail 2023-11-09; 6.12.117 gfp_types.h:380"),
    Change("6.10", "mm: enumerate all gfp flags / mm: introduce __GFP_NO_OBJ_EXT",
           "include/linux/gfp_types.h", "gfp",
           "bits from an enum: __GFP_NOLOCKDEP and __GFP_NO_OBJ_EXT take the next free bit "
           "after the configured ones (0x1000000 / 0x2000000 without KASAN_HW_TAGS)",
           "6.12.117 gfp_types.h:26-61"),
    Change("6.13", "mm: add pcp high_min high_max to proc zoneinfo", "mm/vmstat.c", "zoneinfo",
           "pagesets print 'high_min:' and 'high_max:' and align the values ('count:    0')",
           "patch mail 2024-10-10 (after 6.12-rc2); absent in 6.12.118, present in 6.18",
           "lower"),
    Change("6.15", "tracing: gfp: Remove duplication of recording GFP flags",
           "include/trace/events/mmflags.h", "gfp printing",
           "show_gfp_flags: composites, then every bit in bit order (TRACE_GFP_FLAGS)",
           "trace/for-next pull 'Updates for 6.15'"),
    Change("6.17", "mm/page_alloc: only set ALLOC_HIGHATOMIC for __GPF_HIGH allocations",
           "mm/page_alloc.c", "alloc flags",
           "ALLOC_HIGHATOMIC only with ALLOC_MIN_RESERVE (order > 0)",
           "commit 6a204d4b14c9; 6.12.117 and 6.1.192 trees (backported)"),
)

BACKPORTS: tuple[Backport, ...] = (
    Backport("mm/page_alloc: only set ALLOC_HIGHATOMIC for __GPF_HIGH allocations", (6, 12), 54,
             "stable review 'PATCH 6.12 206/277' of 2025-10-17 (lower confidence on the "
             "patch level); present in 6.12.117"),
    Backport("mm/page_alloc: only set ALLOC_HIGHATOMIC for __GPF_HIGH allocations", (6, 6), 113,
             "stable series of October 2025 (lower confidence on the patch level)"),
    Backport("mm/page_alloc: only set ALLOC_HIGHATOMIC for __GPF_HIGH allocations", (6, 1), 156,
             "stable series of October 2025 (lower confidence on the patch level); present "
             "in 6.1.192"),
)


def _has_backport(v: KernelVersion, subject: str) -> bool:
    for b in BACKPORTS:
        if b.change == subject and (v.major, v.minor) == b.series and v.patch >= b.from_patch:
            return True
    return False


# ---------------------------------------------------------------------------
# The rules and formats of one version
# ---------------------------------------------------------------------------


_PATH_6_1 = True  # the 6.1 whole path is modelled (kmem.model.mtzone, era "6.1")


@dataclass(frozen=True)
class KernelConfig:
    """Configuration choices of a modelled kernel that change what a machine does.

    ``cma``: CONFIG_CMA (a MIGRATE_CMA type, ALLOC_CMA, pagetypeinfo's CMA column);
    ``init_on_alloc``: CONFIG_INIT_ON_ALLOC_DEFAULT_ON, the boot default of
    ``init_on_alloc=`` (every page and slab object comes back zeroed)."""

    cma: bool
    init_on_alloc: bool


@dataclass(frozen=True)
class Kernel:
    """What kmem knows of one kernel version. Build it with :func:`kernel`."""

    version: KernelVersion

    def at_least(self, release: str | tuple[int, ...]) -> bool:
        return self.version.at_least(release)

    # -- gfp ---------------------------------------------------------------------------
    @property
    def gfp_profile(self) -> str:
        """The name of the gfp profile (numbering, composites, print table) of this version."""
        v = self.version
        if v.major == 2 and v.minor == 4:
            return "2.4.0"
        if v.series() < (2, 6, 23):
            return "2.6.11"
        if v.series() < (3, 0, 0):
            raise UnknownKernel(
                f"kernel {v}: kmem has no gfp numbering for 2.6.23-2.6.39 (__GFP_MOVABLE "
                f"and __GFP_RECLAIMABLE moved in this range); known: 2.6.0-2.6.22 (2.6.11 "
                f"numbering) and 3.0 onwards")
        for release, name in (("6.15", "modern"), ("6.8", "6.8"), ("6.3", "6.x"),
                              ("5.1", "5.x"), ("4.15", "4.15"), ("4.13", "4.13"),
                              ("4.10", "4.10"), ("4.8", "4.8"), ("4.4", "4.4")):
            if v.at_least(release):
                return name
        return "3.x"

    @property
    def gfp_has_names_in_warn(self) -> bool:
        """``warn_alloc`` names the flags (``%pGg``, 4.5+)."""
        return self.at_least("4.5")

    # -- the page allocator --------------------------------------------------------------
    @property
    def highatomic_needs_min_reserve(self) -> bool:
        """``gfp_to_alloc_flags``: ALLOC_HIGHATOMIC only with ALLOC_MIN_RESERVE (6.17, and
        the stable series that took commit 6a204d4b14c9)."""
        subject = "mm/page_alloc: only set ALLOC_HIGHATOMIC for __GPF_HIGH allocations"
        return self.at_least("6.17") or _has_backport(self.version, subject)

    @property
    def alloc_flags_era(self) -> str:
        """``"6.3"``: ALLOC_NON_BLOCK/ALLOC_MIN_RESERVE (what :mod:`kmem.spec.gfp` computes);
        ``"old"``: ALLOC_HARDER/ALLOC_HIGH keyed on __GFP_ATOMIC (before 6.3; kmem
        names the era but does not compute it)."""
        return "6.3" if self.at_least("6.3") else "old"

    @property
    def boost_retry(self) -> bool:
        """``zone_watermark_fast`` retries an order-0 ALLOC_MIN_RESERVE request against the
        unboosted min (6.3+; 5.9-6.2 did it for __GFP_ATOMIC, a bit the modern
        numbering lacks)."""
        return self.at_least("6.3")

    @property
    def has_watermark_boost(self) -> bool:
        return self.at_least("5.0")

    @property
    def has_watermark_scale_factor(self) -> bool:
        """vm.watermark_scale_factor (4.6+); before, low = min * 5/4, high = min * 3/2."""
        return self.at_least("4.6")

    # -- text --------------------------------------------------------------------------
    @property
    def warn_alloc_format(self) -> str:
        """Which ``page allocation failure`` line: ``"2.6"`` (``. order:``), ``"3.0"``
        (``: order:``, numeric mode), ``"4.5"`` (``mode:%#x(%pGg)``), ``"4.10"``
        (``, nodemask=``; cpuset on its own line), ``"5.x"`` (cpuset on the same line)."""
        if not self.at_least("3.0"):
            return "2.6"
        if not self.at_least("4.5"):
            return "3.0"
        if not self.at_least("4.10"):
            return "4.5"
        if not self.at_least("5.0"):
            return "4.10"
        return "5.x"

    @property
    def segfault_format(self) -> str:
        """``"none"`` (2.6.11 i386 printed no segfault line), ``"plain"`` (``in name[start+
        size]``, 2.6.x-6.0), ``"cpu"`` (6.1-6.9: plus ``likely on CPU``), ``"offset"``
        (6.10+, commit de7e71ef8bed "mm: simplify and improve print_vma_addr() output":
        ``in name[offset,start+size]`` plus ``likely on CPU``)."""
        if not self.at_least((2, 6, 25)):
            return "none"
        if not self.at_least("6.1"):
            return "plain"
        if not self.at_least("6.10"):
            return "cpu"
        return "offset"

    @property
    def oops_format(self) -> str:
        """``"2.6.11"`` (``Unable to handle kernel ... at virtual address``), ``"classic"``
        (``BUG: unable to handle kernel ... at %px``, 2.6.25-4.19), ``"pf-error"`` (4.20-5.0,
        plus ``#PF error: [...]``), ``"modern"`` (5.1+: ``BUG: kernel NULL pointer
        dereference, address:`` and the ``#PF:`` lines)."""
        if not self.at_least((2, 6, 25)):
            return "2.6.11"
        if not self.at_least("4.20"):
            return "classic"
        if not self.at_least("5.1"):
            return "pf-error"
        return "modern"

    @property
    def fault_era(self) -> str:
        """The fault handler profile of :mod:`kmem.spec.fault_handler`: ``"2.6.11"`` for
        2.6 kernels, ``"modern"`` for 5.x and later; 3.x-4.x raise (the handler changed
        piecemeal and kmem models only the two ends)."""
        if self.version.major == 2:
            return "2.6.11"
        if self.at_least("5.0"):
            return "modern"
        raise UnknownKernel(f"kernel {self.version}: kmem models the page-fault handler of "
                            f"2.6.11 and of 5.x onwards, not the 3.x-4.x versions between")

    @property
    def x86_32_era(self) -> str:
        """The x86-32 layout formulas: ``"2.6.11"`` for 2.6 kernels, ``"modern"`` from 4.19
        (PTI on x86-32: LDT remap and cpu_entry_area below PKMAP); 3.0-4.18 raise."""
        if self.version.major == 2:
            return "2.6.11"
        if self.at_least("4.19"):
            return "modern"
        raise UnknownKernel(f"kernel {self.version}: kmem has the x86-32 layout of 2.6.x and "
                            f"of 4.19 onwards, not of 3.0-4.18")

    @property
    def path_era(self) -> str:
        """Whose code a machine's whole allocation path (migratetypes, pageblocks, fallback,
        highatomic, per-CPU lists) follows: ``"6.12"`` (Debian's 6.12.118, which carries
        the 6.15 claim/steal fallback as a stable backport) for 6.12 and newer,
        ``"6.1"`` (Debian's 6.1.192) for the 6.1 series. Other versions raise
        :class:`UnknownKernel`: their path changed piecemeal between the two trees."""
        v = self.version
        if v.release == (6, 1) and _PATH_6_1:
            return "6.1"
        if v.at_least("6.12"):
            return "6.12"
        raise UnknownKernel(f"kernel {v}: kmem models the whole allocation path of the 6.1 "
                            f"series and of 6.12 onwards (as 6.12.118), not of {v.major}."
                            f"{v.minor}; pass kernel='6.1' or '6.12'")

    @property
    def pcp_auto_tune(self) -> bool:
        """pcp->high between high_min and high_max, tuned by allocations, frees and
        ``decay_pcp_high`` (6.7, "mm: tune PCP high automatically"); before, one fixed
        ``high`` and ``free_factor``."""
        return self.at_least("6.7")

    @property
    def zoneinfo_pcp_high_min_max(self) -> bool:
        """zoneinfo's pagesets print ``high_min:``/``high_max:`` with aligned values (6.13,
        lower confidence on the release)."""
        return self.at_least("6.13")

    @property
    def debian_config(self) -> KernelConfig:
        """The configuration choices kmem models, as Debian's amd64 kernels set them:
        CONFIG_CMA unset, CONFIG_INIT_ON_ALLOC_DEFAULT_ON=y (5.3+, where it exists)."""
        return KernelConfig(cma=False, init_on_alloc=self.at_least("5.3"))

    @property
    def zoneinfo_fields(self) -> frozenset[str]:
        """The modelled /proc/zoneinfo lines this version prints. Before 2.6.13 there is no
        /proc/zoneinfo at all (``zoneinfo_show`` came with 2.6.13): that raises
        :class:`UnknownKernel` saying so (2.6.11 prints only /proc/buddyinfo)."""
        if not self.at_least((2, 6, 13)):
            raise UnknownKernel(f"kernel {self.version}: /proc/zoneinfo does not exist before "
                                f"2.6.13 (zoneinfo_show came with 2.6.13); "
                                f"this kernel prints per-order counts only in /proc/buddyinfo")
        # zoneinfo_show (2.6.13) printed start_pfn (and all_unreclaimable) from the start;
        # "mm, vmscan: move LRU lists to node" (4.8) made it node_unreclaimable and
        # widened the spacing (start_pfn_spacing)
        fields = {"free", "min", "low", "high", "spanned", "present", "protection",
                  "start_pfn"}
        if self.at_least("3.8"):
            fields.add("managed")
        fields.add("node_unreclaimable" if self.at_least("4.8") else "all_unreclaimable")
        fields.add("nr_free_pages")
        if self.at_least("5.0"):
            fields.add("boost")
        if self.at_least("5.12"):
            fields.add("cma")
        if self.at_least("6.1"):
            fields.add("promo")
        return frozenset(fields)

    def has_zone(self, name: str) -> bool:
        """Whether this version has the zone named ``name`` in /proc: ``DMA32`` came with
        2.6.15 ("x86_64: Add 4GB DMA32 zone"), ``Movable`` with 2.6.23 ("Create the
        ZONE_MOVABLE zone"), ``Device`` with 4.6 (ZONE_DEVICE is never printed populated)."""
        firsts: dict[str, str | tuple[int, ...]] = {
            "DMA32": (2, 6, 15), "Movable": (2, 6, 23), "Device": "4.6"}
        first = firsts.get(name)
        return first is None or self.at_least(first)

    @property
    def start_pfn_spacing(self) -> str:
        """The text between ``start_pfn:`` and its value: 9 spaces before 4.8 (aligned
        with ``all_unreclaimable: ``), 11 from 4.8 (aligned with ``node_inactive_ratio: ``;
        commit "mm, vmscan: move LRU lists to node")."""
        return " " * (11 if self.at_least("4.8") else 9)

    @property
    def pagetypeinfo_format(self) -> str:
        """``"none"`` (before 2.6.24), ``"reserve"`` (2.6.24-4.3: Unmovable, Reclaimable,
        Movable, Reserve, ...), ``"uncapped"`` (4.4-5.3: Unmovable, Movable, Reclaimable,
        HighAtomic, ...), ``"capped"`` (5.4+: counts capped at 100000, ``>``)."""
        if not self.at_least((2, 6, 24)):
            return "none"
        if not self.at_least("4.4"):
            return "reserve"
        if not self.at_least("5.4"):
            return "uncapped"
        return "capped"

    def migratetype_names(self, *, cma: bool = True, isolate: bool = True) -> tuple[str, ...]:
        """``migratetype_names[]`` (mm/page_alloc.c) of this version and configuration
        (CONFIG_CMA, CONFIG_MEMORY_ISOLATION; both on in distribution kernels)."""
        fmt = self.pagetypeinfo_format
        if fmt == "none":
            raise UnknownKernel(f"kernel {self.version} has no /proc/pagetypeinfo (2.6.24+)")
        names: tuple[str, ...] = (
            ("Unmovable", "Reclaimable", "Movable", "Reserve") if fmt == "reserve"
                 else ("Unmovable", "Movable", "Reclaimable", "HighAtomic"))
        if cma and self.at_least("3.5"):
            names += ("CMA",)
        if isolate and self.at_least((2, 6, 35)):
            names += ("Isolate",)
        return names


@cache
def _kernel(text: str) -> Kernel:
    return Kernel(parse_version(text))


def kernel(version: str | Kernel | None = None) -> Kernel:
    """The :class:`Kernel` for a ``uname -r`` string (None: the newest kernel kmem follows)."""
    if isinstance(version, Kernel):
        return version
    if version is None:
        return _kernel(NEWEST)
    return _kernel(version)


def buddy_machine_kernel(version: str | Kernel | None = None) -> Kernel:
    """The :class:`Kernel` of a machine built from a layout (``Machine(layout, kernel=)``),
    refusing 2.6.11: its page allocator (hot/cold per-CPU lists, head insertion, its own gfp
    numbering and watermarks: 2.6.11 mm/page_alloc.c) is its own machine on the i386
    layout of its era, ``kmem.model.Machine.x86_32(mem_mb, kernel="2.6.11")``."""
    k = kernel(version)
    if k.version.series() == (2, 6, 11):
        raise InvalidArgument("kernel 2.6.11 is modelled on the i386 machine of its era: "
                              "kmem.model.Machine.x86_32(mem_mb, kernel='2.6.11') (2.6.11's "
                              "own allocator, kmem.model.machine_2611; fastimpl does not "
                              "implement it)")
    return k


def version_range_text(low: str | None, high: str | None) -> str:
    """``"4.10-4.14"``, ``"6.15 onwards"``, ``"up to 2.6.22"``."""
    if low and high:
        return f"{low}-{high}"
    if low:
        return f"{low} onwards"
    return f"up to {high}"


def changes_markdown() -> str:
    """The *what changed when* table of ``docs/kernel-versions.md``."""
    lines = ["| version | change (commit subject) | file | area | effect | checked against |",
             "|---|---|---|---|---|---|"]
    for c in CHANGES:
        mark = "" if c.confidence == "checked" else " *(lower confidence)*"
        lines.append(f"| {c.version} | {c.subject} | `{c.file}` | {c.area} | {c.effect} | "
                     f"{c.source}{mark} |")
    lines.append("")
    lines.append("Stable backports:")
    lines.append("")
    for b in BACKPORTS:
        lines.append(f"* {b.series[0]}.{b.series[1]}.{b.from_patch} onwards: {b.change} "
                     f"({b.source})")
    return "\n".join(lines) + "\n"
