"""GFP flags: values, gfp_zone(), zone fallback, ALLOC_* flags, printing and parsing.

Follows mainline 6.x, newest snapshot (about 6.18):
``include/linux/gfp_types.h`` (the ``__GFP_*`` values and ``GFP_*`` composites),
``include/linux/gfp.h`` (GFP_ZONE_TABLE, GFP_ZONE_BAD, ``gfp_zone``,
``gfp_migratetype``, ``gfpflags_allow_blocking``), ``mm/page_alloc.c``
(``gfp_to_alloc_flags``, ``__gfp_pfmemalloc_flags``, ``build_zonerefs_node``),
``include/trace/events/mmflags.h`` (``show_gfp_flags``) and
``kernel/trace/trace_output.c`` (``trace_print_flags_seq``).

Profiles. ``"modern"`` (the default everywhere) is the newest kernel: GFP_NOWAIT
is ``__GFP_KSWAPD_RECLAIM | __GFP_NOWARN`` = 0x2800 and masks print with the
newest ``mmflags.h`` table (composites, then every bit in bit order). ``"6.x"``
is 6.3 up to the kernels before those two changes: the same bits, GFP_NOWAIT =
0x800 (as it was from 4.4 on) and the older print order (the 5.x table without
__GFP_ATOMIC). Older eras (``"5.x"``, ``"3.x"``, ``"2.6.11"``, ``"2.4.0"``) live in
:mod:`kmem.spec.gfp_profiles`; they decode and print old masks. The zone,
fallback and ALLOC_* rules here take masks in modern numbering
(:func:`translate_to_modern` converts an old mask).

Kernel configuration modelled for the modern values: CONFIG_KASAN_HW_TAGS and
CONFIG_LOCKDEP off (so __GFP_SKIP_ZERO, __GFP_SKIP_KASAN and __GFP_NOLOCKDEP
are 0 and GFP_HIGHUSER_MOVABLE is 0x100cca), CONFIG_CMA on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from .alloc_flags import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HIGHATOMIC,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_WMARK_MIN,
)
from .constants import MAX_PAGE_ORDER
from .errors import BadGfpZone, InvalidArgument
from .gfp_profiles import (
    OLD_PROFILES,
    PRINT_ORDER_5X,
    GfpFlag,
    GfpProfile,
    table_from_order,
)
from .kernel import Kernel
from .kernel import kernel as kernel_rules
from .zones import ZONE_CONFIGS, ZoneConfig, ZoneType  # noqa: F401  (ZONE_CONFIGS: gfp_zone's contract)

# ---------------------------------------------------------------------------
# Single bits (include/linux/gfp_types.h)
# ---------------------------------------------------------------------------

__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_ZERO = 0x100
# 0x200 is unused: it was __GFP_ATOMIC until 6.3
__GFP_DIRECT_RECLAIM = 0x400
__GFP_KSWAPD_RECLAIM = 0x800
__GFP_WRITE = 0x1000
__GFP_NOWARN = 0x2000
__GFP_RETRY_MAYFAIL = 0x4000
__GFP_NOFAIL = 0x8000
__GFP_NORETRY = 0x10000
__GFP_MEMALLOC = 0x20000
__GFP_COMP = 0x40000
__GFP_NOMEMALLOC = 0x80000
__GFP_HARDWALL = 0x100000
__GFP_THISNODE = 0x200000
__GFP_ACCOUNT = 0x400000
__GFP_ZEROTAGS = 0x800000
__GFP_SKIP_ZERO = 0  # 0x1000000 with CONFIG_KASAN_HW_TAGS
__GFP_SKIP_KASAN = 0  # 0x2000000 with CONFIG_KASAN_HW_TAGS
__GFP_NOLOCKDEP = 0  # 0x4000000 with CONFIG_LOCKDEP

__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM  # 0xc00
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE  # 0x0f
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE  # 0x18
GFP_MOVABLE_SHIFT = 3

# ---------------------------------------------------------------------------
# Composites (include/linux/gfp_types.h)
# ---------------------------------------------------------------------------

GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM  # 0x820
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS  # 0xcc0
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT  # 0x400cc0
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN  # 0x2800 (0x800 in the "6.x" profile)
GFP_NOIO = __GFP_RECLAIM  # 0xc00
GFP_NOFS = __GFP_RECLAIM | __GFP_IO  # 0xc40
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL  # 0x100cc0
GFP_DMA = __GFP_DMA  # 0x01
GFP_DMA32 = __GFP_DMA32  # 0x04
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM  # 0x100cc2
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN  # 0x100cca
GFP_TRANSHUGE_LIGHT = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN)
                       & ~__GFP_RECLAIM)  # 0x1c20ca
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM  # 0x1c24ca

#: gfp_t is an unsigned int: masks are 32-bit values
GFP_T_BITS = 32

MODERN_FLAGS: tuple[GfpFlag, ...] = (
    GfpFlag("__GFP_DMA", __GFP_DMA, "zone modifier: ZONE_DMA"),
    GfpFlag("__GFP_HIGHMEM", __GFP_HIGHMEM, "zone modifier: may use ZONE_HIGHMEM"),
    GfpFlag("__GFP_DMA32", __GFP_DMA32, "zone modifier: ZONE_DMA32"),
    GfpFlag("__GFP_MOVABLE", __GFP_MOVABLE,
            "movable page; migratetype bit (with __GFP_HIGHMEM it selects ZONE_MOVABLE)"),
    GfpFlag("__GFP_RECLAIMABLE", __GFP_RECLAIMABLE, "reclaimable (slab) page; migratetype bit"),
    GfpFlag("__GFP_HIGH", __GFP_HIGH,
            "high priority: may use part of the min reserve (ALLOC_MIN_RESERVE)"),
    GfpFlag("__GFP_IO", __GFP_IO, "may start physical I/O"),
    GfpFlag("__GFP_FS", __GFP_FS, "may call into the filesystem"),
    GfpFlag("__GFP_ZERO", __GFP_ZERO, "return a zeroed page or object"),
    GfpFlag("__GFP_DIRECT_RECLAIM", __GFP_DIRECT_RECLAIM,
            "may enter direct reclaim, i.e. may sleep (was __GFP_WAIT)"),
    GfpFlag("__GFP_KSWAPD_RECLAIM", __GFP_KSWAPD_RECLAIM, "may wake kswapd (ALLOC_KSWAPD)"),
    GfpFlag("__GFP_WRITE", __GFP_WRITE, "the caller intends to dirty the page"),
    GfpFlag("__GFP_NOWARN", __GFP_NOWARN, "suppress allocation-failure warnings"),
    GfpFlag("__GFP_RETRY_MAYFAIL", __GFP_RETRY_MAYFAIL,
            "retry hard but may fail (was __GFP_REPEAT)"),
    GfpFlag("__GFP_NOFAIL", __GFP_NOFAIL, "retry forever, never fail"),
    GfpFlag("__GFP_NORETRY", __GFP_NORETRY, "do not retry hard"),
    GfpFlag("__GFP_MEMALLOC", __GFP_MEMALLOC, "may use all reserves (ALLOC_NO_WATERMARKS)"),
    GfpFlag("__GFP_COMP", __GFP_COMP, "build a compound page"),
    GfpFlag("__GFP_NOMEMALLOC", __GFP_NOMEMALLOC,
            "never use emergency reserves (overrides __GFP_MEMALLOC and PF_MEMALLOC)"),
    GfpFlag("__GFP_HARDWALL", __GFP_HARDWALL, "enforce the cpuset memory policy"),
    GfpFlag("__GFP_THISNODE", __GFP_THISNODE, "no fallback to other nodes"),
    GfpFlag("__GFP_ACCOUNT", __GFP_ACCOUNT, "charge to kmemcg"),
    GfpFlag("__GFP_ZEROTAGS", __GFP_ZEROTAGS, "zero memory tags (arm64 MTE)"),
)

MODERN_COMPOSITES: tuple[tuple[str, int], ...] = (
    ("GFP_ATOMIC", GFP_ATOMIC),
    ("GFP_KERNEL", GFP_KERNEL),
    ("GFP_KERNEL_ACCOUNT", GFP_KERNEL_ACCOUNT),
    ("GFP_NOWAIT", GFP_NOWAIT),
    ("GFP_NOIO", GFP_NOIO),
    ("GFP_NOFS", GFP_NOFS),
    ("GFP_USER", GFP_USER),
    ("GFP_DMA", GFP_DMA),
    ("GFP_DMA32", GFP_DMA32),
    ("GFP_HIGHUSER", GFP_HIGHUSER),
    ("GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE),
    ("GFP_TRANSHUGE_LIGHT", GFP_TRANSHUGE_LIGHT),
    ("GFP_TRANSHUGE", GFP_TRANSHUGE),
    ("__GFP_RECLAIM", __GFP_RECLAIM),
)

#: newest mmflags.h ``__def_gfpflag_names``: composites, then every bit in bit order
PRINT_ORDER_MODERN: tuple[str, ...] = (
    "GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER",
    "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT",
    "GFP_DMA", "GFP_DMA32", "__GFP_RECLAIM",
) + tuple(flag.name for flag in MODERN_FLAGS)

_VALUES_MODERN = {f.name: f.value for f in MODERN_FLAGS} | dict(MODERN_COMPOSITES)

PROFILE_MODERN = GfpProfile(
    name="modern",
    description="newest mainline (about 6.18): GFP_NOWAIT = 0x2800 (KSWAPD_RECLAIM|NOWARN); "
                "newest mmflags.h print order (bits in bit order)",
    flags=MODERN_FLAGS,
    composites=MODERN_COMPOSITES,
    print_table=table_from_order(PRINT_ORDER_MODERN, _VALUES_MODERN),
)

_COMPOSITES_6X = tuple((name, __GFP_KSWAPD_RECLAIM if name == "GFP_NOWAIT" else value)
                       for name, value in MODERN_COMPOSITES)
_VALUES_6X = {f.name: f.value for f in MODERN_FLAGS} | dict(_COMPOSITES_6X)

PROFILE_6X = GfpProfile(
    name="6.x",
    description="6.3-6.7: the modern bits, GFP_NOWAIT = 0x800 "
                "(__GFP_KSWAPD_RECLAIM alone, as since 4.4); 5.x print order without "
                "__GFP_ATOMIC",
    flags=MODERN_FLAGS,
    composites=_COMPOSITES_6X,
    print_table=table_from_order(PRINT_ORDER_5X, _VALUES_6X),
)

PROFILE_68 = GfpProfile(
    name="6.8",
    description="6.8-6.14: the modern bits, GFP_NOWAIT = 0x2800 (gfp: Include __GFP_NOWARN in "
                "GFP_NOWAIT, 6.8); the mmflags.h print order of 6.3-6.14 (6.12.117 "
                "include/trace/events/mmflags.h:81-116)",
    flags=MODERN_FLAGS,
    composites=MODERN_COMPOSITES,
    print_table=table_from_order(PRINT_ORDER_5X, _VALUES_MODERN),
)

PROFILES: dict[str, GfpProfile] = {
    p.name: p for p in (PROFILE_MODERN, PROFILE_68, PROFILE_6X, *OLD_PROFILES)
}

#: Old names and what they became. ``None``: no modern bit carries the meaning, so
#: parse_gfp() rejects the name in the modern profiles (with this note as the reason).
OLD_NAME_ALIASES: dict[str, tuple[str | None, str]] = {
    "__GFP_WAIT": ("__GFP_DIRECT_RECLAIM",
                   "4.4 split it into __GFP_DIRECT_RECLAIM and __GFP_KSWAPD_RECLAIM; "
                   "GFP_KERNEL now carries both (__GFP_RECLAIM)"),
    "__GFP_REPEAT": ("__GFP_RETRY_MAYFAIL", "renamed in 4.13, with 'may fail' semantics"),
    "__GFP_NO_KSWAPD": (None, "4.4: expressed as the absence of __GFP_KSWAPD_RECLAIM"),
    "__GFP_COLD": (None, "removed in 4.15 with the hot/cold per-cpu lists"),
    "__GFP_NOTRACK": (None, "removed in 4.15 with kmemcheck"),
    "__GFP_OTHER_NODE": (None, "removed in 4.10"),
    "__GFP_ATOMIC": (None, "removed in 6.3: ALLOC_NON_BLOCK now follows from the absence of "
                           "__GFP_DIRECT_RECLAIM (use the 5.x profile for old masks)"),
    "__GFP_NO_GROW": (None, "2.6 slab-internal flag, long gone"),
    "GFP_TEMPORARY": ("GFP_KERNEL", "removed in 4.14; it was GFP_KERNEL|__GFP_RECLAIMABLE and "
                                    "callers were converted to GFP_KERNEL"),
}

# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------


def _check_mask(mask: int) -> None:
    if isinstance(mask, bool) or not isinstance(mask, int):
        raise InvalidArgument(f"gfp mask must be an int, got {type(mask).__name__} {mask!r}")
    if not 0 <= mask < 2**GFP_T_BITS:
        raise InvalidArgument(f"gfp mask {mask:#x} out of range: gfp_t is a 32-bit unsigned int "
                              f"(expected 0 <= mask < 0x100000000)")


def resolve_profile(profile: str | GfpProfile | None = None,
                    kernel: str | Kernel | None = None) -> GfpProfile:
    """The profile to use: ``kernel``'s (a ``uname -r`` string, see :mod:`kmem.spec.kernel`),
    else ``profile``, else the newest ("modern"). Both given: they must agree."""
    if kernel is not None:
        by_version = get_profile(kernel_rules(kernel).gfp_profile)
        if profile is not None and get_profile(profile) is not by_version:
            raise InvalidArgument(f"kernel {kernel_rules(kernel).version} uses the "
                                  f"{by_version.name} gfp profile, not {get_profile(profile).name}")
        return by_version
    return get_profile("modern" if profile is None else profile)


#: the mainline releases each profile covers (last None: up to the newest)
PROFILE_RELEASES: dict[str, tuple[str, str | None]] = {
    "modern": ("6.15", None), "6.8": ("6.8", "6.14"), "6.x": ("6.3", "6.7"),
    "5.x": ("5.1", "6.2"), "4.15": ("4.15", "5.0"), "4.13": ("4.13", "4.14"),
    "4.10": ("4.10", "4.12"), "4.8": ("4.8", "4.9"), "4.4": ("4.4", "4.7"),
    "3.x": ("3.0", "4.3"), "2.6.11": ("2.6.0", "2.6.22"), "2.4.0": ("2.4.0", "2.4.37"),
}


def gfp_mode_kernels(number: int, names: str) -> tuple[str, ...]:
    """Which kernels could have printed ``mode:<number>(<names>)``: the profiles whose
    printer turns ``number`` into exactly ``names`` (``%pGg``), as release ranges
    ("4.10-4.12", "6.15 onwards"). An empty result means no kernel kmem knows."""
    _check_mask(number)
    out = []
    for name, prof in PROFILES.items():
        if prof.kernel_printer and format_gfp_printk(number, prof) == names:
            low, high = PROFILE_RELEASES[name]
            out.append(f"{low}-{high}" if high else f"{low} onwards")
    return tuple(out)


def _check_config(config: object) -> None:
    if not isinstance(config, ZoneConfig):
        raise InvalidArgument(f"config must be a ZoneConfig (one of kmem.spec.zones.ZONE_CONFIGS: "
                              f"{', '.join(ZONE_CONFIGS)}), got {type(config).__name__} "
                              f"{config!r}")


def get_profile(profile: str | GfpProfile) -> GfpProfile:
    """The profile called ``profile`` (or ``profile`` itself)."""
    if isinstance(profile, GfpProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise InvalidArgument(f"unknown gfp profile {profile!r}; expected one of "
                              f"{', '.join(PROFILES)}") from None


# ---------------------------------------------------------------------------
# gfp_zone (include/linux/gfp.h)
# ---------------------------------------------------------------------------

#: the zone-modifier combinations GFP_ZONE_BAD marks: two or more of DMA/HIGHMEM/DMA32
GFP_ZONE_BAD_INDEXES = frozenset({0x3, 0x5, 0x6, 0x7, 0xb, 0xd, 0xe, 0xf})


def zones_shift(max_nr_zones: int) -> int:
    """ZONES_SHIFT (include/linux/page-flags-layout.h): bits needed for a zone index.

    0 for one zone, 1 for two, 2 for up to four, 3 for up to eight.

    pre: 1 <= max_nr_zones <= 8
    post: 2**__return__ >= max_nr_zones
    post: __return__ == 0 or 2 ** (__return__ - 1) < max_nr_zones
    """
    if not 1 <= max_nr_zones <= 8:
        raise InvalidArgument(f"MAX_NR_ZONES must be 1..8, got {max_nr_zones}")
    if max_nr_zones == 1:
        return 0
    if max_nr_zones == 2:
        return 1
    if max_nr_zones <= 4:
        return 2
    return 3


def gfp_zones_shift(config: ZoneConfig) -> int:
    """GFP_ZONES_SHIFT (include/linux/gfp.h).

    2 when CONFIG_ZONE_DEVICE is set and MAX_NR_ZONES - 1 <= 4 (ZONE_DEVICE, the
    last zone, is never returned by gfp_zone and need not fit), else ZONES_SHIFT.
    """
    if config.has(ZoneType.DEVICE) and config.max_nr_zones - 1 <= 4:
        return 2
    return zones_shift(config.max_nr_zones)


def _opt_zone(config: ZoneConfig, zt: ZoneType) -> ZoneType:
    """OPT_ZONE_DMA / OPT_ZONE_DMA32 / OPT_ZONE_HIGHMEM: the zone, or NORMAL if configured out."""
    return zt if config.has(zt) else ZoneType.NORMAL


def _table_zone(config: ZoneConfig, index: int) -> ZoneType | None:
    """The GFP_ZONE_TABLE entry for zone-modifier bits ``index`` (None: a BAD index)."""
    entries = {
        0x0: ZoneType.NORMAL,
        __GFP_DMA: _opt_zone(config, ZoneType.DMA),
        __GFP_HIGHMEM: _opt_zone(config, ZoneType.HIGHMEM),
        __GFP_DMA32: _opt_zone(config, ZoneType.DMA32),
        __GFP_MOVABLE: ZoneType.NORMAL,
        __GFP_MOVABLE | __GFP_DMA: _opt_zone(config, ZoneType.DMA),
        __GFP_MOVABLE | __GFP_HIGHMEM: ZoneType.MOVABLE,
        __GFP_MOVABLE | __GFP_DMA32: _opt_zone(config, ZoneType.DMA32),
    }
    return entries.get(index)


@dataclass(frozen=True)
class GfpZoneTable:
    """The numbers gfp_zone() works with for one zone configuration (include/linux/gfp.h).

    ``table`` is GFP_ZONE_TABLE: for each zone-modifier index i (0..15) the zone
    index sits in bits ``[i * shift, (i + 1) * shift)``; BAD slots hold 0. ``bad`` is
    GFP_ZONE_BAD: bit i set for each BAD index. ``shift`` is GFP_ZONES_SHIFT.
    """

    config: ZoneConfig
    table: int
    bad: int
    shift: int

    def slot(self, index: int) -> int:
        """The zone index stored for zone-modifier bits ``index``."""
        return (self.table >> (index * self.shift)) & ((1 << self.shift) - 1)

    def is_bad(self, index: int) -> bool:
        """GFP_ZONE_BAD has bit ``index`` set (gfp_zone's VM_BUG_ON condition)."""
        return (self.bad >> index) & 1 == 1


@cache
def gfp_zone_table(config: ZoneConfig, *, bits_per_long: int = 64) -> GfpZoneTable:
    """GFP_ZONE_TABLE, GFP_ZONE_BAD and GFP_ZONES_SHIFT for ``config`` (include/linux/gfp.h).

    The kernel refuses to build when ``16 * GFP_ZONES_SHIFT > BITS_PER_LONG``;
    that raises InvalidArgument here. (Cached: the result depends only on the
    frozen arguments.)
    """
    if bits_per_long not in (32, 64):
        raise InvalidArgument(f"BITS_PER_LONG must be 32 or 64, got {bits_per_long}")
    shift = gfp_zones_shift(config)
    if 16 * shift > bits_per_long:
        raise InvalidArgument(
            f"GFP_ZONES_SHIFT {shift} too large to create GFP_ZONE_TABLE integer "
            f"(16 * {shift} > BITS_PER_LONG {bits_per_long}) for zones {config.name}")
    table = 0
    bad = 0
    for index in range(16):
        zone = _table_zone(config, index)
        if zone is None:
            bad |= 1 << index
        else:
            table |= config.idx(zone) << (index * shift)
    return GfpZoneTable(config=config, table=table, bad=bad, shift=shift)


def _modifier_names(index: int) -> str:
    names = [f.name for f in MODERN_FLAGS[:4] if index & f.value]
    return "|".join(names) if names else "none"


def _bad_zone(mask: int) -> BadGfpZone:
    index = mask & GFP_ZONEMASK
    return BadGfpZone(
        f"gfp_zone({mask:#x}): zone modifiers {_modifier_names(index)} (index {index:#x}) are a "
        f"GFP_ZONE_BAD combination: at most one of __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32 may be "
        f"set (VM_BUG_ON in gfp_zone, include/linux/gfp.h)")


def gfp_zone(mask: int, config: ZoneConfig) -> ZoneType:
    """``gfp_zone()`` with CONFIG_DEBUG_VM (include/linux/gfp.h): the highest zone ``mask`` may use.

    Looks the zone-modifier bits up in GFP_ZONE_TABLE, exactly as the kernel
    does; a GFP_ZONE_BAD combination trips VM_BUG_ON and raises BadGfpZone.

    pre: 0 <= mask < 2**32 and config in ZONE_CONFIGS.values()
    raises: BadGfpZone
    post: __return__ == gfp_zone_plain(mask, config)
    post: config.has(__return__) and __return__ is not ZoneType.DEVICE
    """
    _check_mask(mask)
    _check_config(config)
    zt = gfp_zone_table(config)
    index = mask & GFP_ZONEMASK
    if zt.is_bad(index):
        raise _bad_zone(mask)
    return config.type_at(zt.slot(index))


def gfp_zone_nodebug(mask: int, config: ZoneConfig) -> ZoneType:
    """``gfp_zone()`` without CONFIG_DEBUG_VM: a BAD combination is not caught.

    Its slot in GFP_ZONE_TABLE holds 0, so the result is zone index 0 (ZONE_DMA
    on x86).
    """
    _check_mask(mask)
    _check_config(config)
    zt = gfp_zone_table(config)
    return config.type_at(zt.slot(mask & GFP_ZONEMASK))


def gfp_zone_plain(mask: int, config: ZoneConfig) -> ZoneType:
    """The rules of gfp_zone() written out plainly, as a cross-check of the table form.

    This is the if/else chain the table replaced (about 2.6.31), plus the BAD check:
    at most one of DMA, HIGHMEM, DMA32; DMA wins, then DMA32; HIGHMEM with
    MOVABLE is ZONE_MOVABLE; a zone that is configured out falls back to NORMAL.
    """
    _check_mask(mask)
    _check_config(config)
    dma = mask & __GFP_DMA != 0
    highmem = mask & __GFP_HIGHMEM != 0
    dma32 = mask & __GFP_DMA32 != 0
    movable = mask & __GFP_MOVABLE != 0
    if dma + highmem + dma32 >= 2:
        raise _bad_zone(mask)
    if dma:
        return ZoneType.DMA if config.has(ZoneType.DMA) else ZoneType.NORMAL
    if dma32:
        return ZoneType.DMA32 if config.has(ZoneType.DMA32) else ZoneType.NORMAL
    if highmem and movable:
        return ZoneType.MOVABLE
    if highmem:
        return ZoneType.HIGHMEM if config.has(ZoneType.HIGHMEM) else ZoneType.NORMAL
    return ZoneType.NORMAL


# ---------------------------------------------------------------------------
# Zone fallback (mm/page_alloc.c build_zonerefs_node, for_next_zone_zonelist_nodemask)
# ---------------------------------------------------------------------------


def zonelist(config: ZoneConfig, highest: ZoneType,
             populated: Iterable[ZoneType] | None = None) -> tuple[ZoneType, ...]:
    """The zones an allocation with ``highest_zoneidx`` = ``highest`` tries, in order.

    ``build_zonerefs_node`` lists a node's populated zones from the highest zone
    type down; the allocator starts at the first zone whose index is <= the
    highest allowed, so it falls back only to lower zones. ZONE_DEVICE never
    holds buddy pages and is never listed. With ``populated`` given, zones not in
    it are skipped (the kernel leaves empty zones out of the list).
    """
    _check_config(config)
    if not isinstance(highest, ZoneType):
        raise InvalidArgument(f"highest must be a ZoneType, got {highest!r}")
    if not config.has(highest):
        raise InvalidArgument(f"ZONE_{highest.name} is not configured in {config.name}")
    if highest is ZoneType.DEVICE:
        raise InvalidArgument("ZONE_DEVICE is never an allocation target (gfp_zone never "
                              "returns it)")
    wanted = None if populated is None else frozenset(populated)
    if wanted is not None:
        for zt in wanted:
            if not isinstance(zt, ZoneType):
                raise InvalidArgument(f"populated must hold ZoneType members, got {zt!r}")
            if not config.has(zt):
                raise InvalidArgument(f"populated zone ZONE_{zt.name} is not configured in "
                                      f"{config.name}")
    top = config.idx(highest)
    return tuple(zt for zt in reversed(config.zones[:top + 1])
                 if zt is not ZoneType.DEVICE and (wanted is None or zt in wanted))


def zonelist_for_gfp(mask: int, config: ZoneConfig,
                     populated: Iterable[ZoneType] | None = None) -> tuple[ZoneType, ...]:
    """The fallback list for an allocation with ``mask``: ``zonelist(config, gfp_zone(mask))``."""
    return zonelist(config, gfp_zone(mask, config), populated)


ZONELIST_FALLBACK = 0
ZONELIST_NOFALLBACK = 1


def gfp_zonelist(mask: int) -> int:
    """``gfp_zonelist()`` (include/linux/gfp.h, NUMA): NOFALLBACK for __GFP_THISNODE."""
    _check_mask(mask)
    return ZONELIST_NOFALLBACK if mask & __GFP_THISNODE else ZONELIST_FALLBACK


# ---------------------------------------------------------------------------
# Migrate type and blocking (include/linux/gfp.h)
# ---------------------------------------------------------------------------

MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3  # the number of types on the per-cpu lists
MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES
MIGRATETYPE_NAMES = {MIGRATE_UNMOVABLE: "MIGRATE_UNMOVABLE", MIGRATE_MOVABLE: "MIGRATE_MOVABLE",
                     MIGRATE_RECLAIMABLE: "MIGRATE_RECLAIMABLE",
                     MIGRATE_HIGHATOMIC: "MIGRATE_HIGHATOMIC"}


def gfp_migratetype_warns(mask: int) -> bool:
    """The condition of ``VM_WARN_ON((gfp_flags & GFP_MOVABLE_MASK) == GFP_MOVABLE_MASK)``
    in ``gfp_migratetype()`` (include/linux/gfp.h, 6.12 line 25): both __GFP_MOVABLE and
    __GFP_RECLAIMABLE set. A warning with CONFIG_DEBUG_VM (``VM_WARN_ON`` is ``WARN_ON``,
    include/linux/mmdebug.h), nothing without it; never a BUG."""
    _check_mask(mask)
    return mask & GFP_MOVABLE_MASK == GFP_MOVABLE_MASK


def gfp_migratetype(mask: int, *, group_by_mobility_disabled: bool = False) -> int:
    """``gfp_migratetype()`` (include/linux/gfp.h, 6.12 lines 23-37): the free list an
    allocation uses.

    ``(mask & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT``: 0 UNMOVABLE, 1 MOVABLE,
    2 RECLAIMABLE. Both bits set is a caller bug that the kernel only *warns* about
    (:func:`gfp_migratetype_warns`, a VM_WARN_ON) and then computes 3 =
    MIGRATE_HIGHATOMIC (the kernel's own BUILD_BUG_ON at line 29 pins this value):
    the result is 3, no exception. The model logs the warning in ``m.dmesg``
    (:func:`gfp_migratetype_warning_line`). With grouping by mobility disabled
    everything is UNMOVABLE.
    """
    _check_mask(mask)
    if group_by_mobility_disabled:
        return MIGRATE_UNMOVABLE
    return (mask & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


def gfp_migratetype_warning_line(mask: int) -> str:
    """A summary of the WARN_ON report of :func:`gfp_migratetype_warns` (the kernel's own
    ``WARNING: CPU: N PID: N at include/linux/gfp.h:25 ...`` carries a CPU, PID and
    caller that a model does not have, so kmem names the condition)."""
    return (f"WARNING: include/linux/gfp.h: gfp_migratetype({mask:#x}): __GFP_MOVABLE and "
            f"__GFP_RECLAIMABLE both set (VM_WARN_ON); migratetype "
            f"{MIGRATE_HIGHATOMIC} (MIGRATE_HIGHATOMIC) used")


def gfpflags_allow_blocking(mask: int) -> bool:
    """``gfpflags_allow_blocking()`` (include/linux/gfp.h): __GFP_DIRECT_RECLAIM is set."""
    _check_mask(mask)
    return mask & __GFP_DIRECT_RECLAIM != 0


# ---------------------------------------------------------------------------
# ALLOC_* flags (mm/page_alloc.c, 6.3+)
# ---------------------------------------------------------------------------


def gfp_to_alloc_flags(mask: int, order: int, *, rt_task: bool = False, in_task: bool = True,
                       cma: bool = True, highatomic_needs_min_reserve: bool = True) -> int:
    """``gfp_to_alloc_flags(gfp_mask, order)`` (mm/page_alloc.c, 6.3+): the slow path's flags.

    * ALLOC_WMARK_MIN | ALLOC_CPUSET, plus __GFP_HIGH and __GFP_KSWAPD_RECLAIM
      copied as ALLOC_MIN_RESERVE and ALLOC_KSWAPD (equal values by BUILD_BUG_ON).
    * Without __GFP_DIRECT_RECLAIM: ALLOC_NON_BLOCK unless __GFP_NOMEMALLOC, and then
      ALLOC_HIGHATOMIC for ``order > 0 && (alloc_flags & ALLOC_MIN_RESERVE)``
      (6.12.117 mm/page_alloc.c line 4104; commit 6a204d4b14c9 "mm/page_alloc: only
      set ALLOC_HIGHATOMIC for __GPF_HIGH allocations", mainline 6.17, backported to
      the 6.12.y, 6.6.y and 6.1.y stable series). ``highatomic_needs_min_reserve=False``
      is the 6.3-6.16 rule of commit 1ebbb21811b7 (any non-blocking order > 0
      request, GFP_NOWAIT included). :func:`kmem.spec.kernel.kernel` picks it by version.
      With ALLOC_MIN_RESERVE, ALLOC_CPUSET is dropped (cpusets are ignored rather
      than failing an atomic allocation).
    * Otherwise an RT or deadline task (``rt_or_dl_task(current)``) in task context
      gets ALLOC_MIN_RESERVE.
    * ``gfp_to_alloc_flags_cma``: with CONFIG_CMA (``cma``), movable requests get
      ALLOC_CMA.
    """
    _check_mask(mask)
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_PAGE_ORDER:
        raise InvalidArgument(f"order must be an int in 0..{MAX_PAGE_ORDER} "
                              f"(MAX_PAGE_ORDER), got {order!r}")
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= mask & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
    if not (mask & __GFP_DIRECT_RECLAIM):
        if not (mask & __GFP_NOMEMALLOC):
            alloc_flags |= ALLOC_NON_BLOCK
            if order > 0 and (alloc_flags & ALLOC_MIN_RESERVE
                              or not highatomic_needs_min_reserve):
                alloc_flags |= ALLOC_HIGHATOMIC
        if alloc_flags & ALLOC_MIN_RESERVE:
            alloc_flags &= ~ALLOC_CPUSET
    elif rt_task and in_task:
        alloc_flags |= ALLOC_MIN_RESERVE
    return gfp_to_alloc_flags_cma(mask, alloc_flags, cma=cma)


def gfp_to_alloc_flags_cma(mask: int, alloc_flags: int, *, cma: bool = True) -> int:
    """``gfp_to_alloc_flags_cma()`` (mm/page_alloc.c, 6.12 line 3402): with CONFIG_CMA
    (``cma``), a request whose :func:`gfp_migratetype` is MIGRATE_MOVABLE gets ALLOC_CMA.
    Used by ``prepare_alloc_pages`` (the fast pass), ``gfp_to_alloc_flags`` (the slow
    pass) and the reserves pass of ``__alloc_pages_slowpath``."""
    _check_mask(mask)
    if cma and gfp_migratetype(mask) == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return alloc_flags


def gfp_pfmemalloc_flags(mask: int, *, pf_memalloc: bool = False, in_interrupt: bool = False,
                         in_serving_softirq: bool = False, oom_victim: bool = False) -> int:
    """``__gfp_pfmemalloc_flags()`` (mm/page_alloc.c): may the caller ignore watermarks?

    __GFP_NOMEMALLOC -> 0; __GFP_MEMALLOC -> ALLOC_NO_WATERMARKS; a PF_MEMALLOC
    task serving a softirq, or in task context -> ALLOC_NO_WATERMARKS; an OOM
    victim in task context -> ALLOC_OOM; else 0. ``in_serving_softirq`` implies
    ``in_interrupt`` (softirq context is interrupt context). ``oom_victim`` is
    ``oom_reserves_allowed(current)`` (an OOM victim on an MMU kernel).
    """
    _check_mask(mask)
    interrupt = in_interrupt or in_serving_softirq
    if mask & __GFP_NOMEMALLOC:
        return 0
    if mask & __GFP_MEMALLOC:
        return ALLOC_NO_WATERMARKS
    if in_serving_softirq and pf_memalloc:
        return ALLOC_NO_WATERMARKS
    if not interrupt:
        if pf_memalloc:
            return ALLOC_NO_WATERMARKS
        if oom_victim:
            return ALLOC_OOM
    return 0


# ---------------------------------------------------------------------------
# Printing (include/trace/events/mmflags.h, kernel/trace/trace_output.c)
# ---------------------------------------------------------------------------


def format_gfp(mask: int, profile: str | GfpProfile | None = None, *,
               kernel: str | Kernel | None = None) -> str:
    """``show_gfp_flags(mask)`` byte for byte (``trace_print_flags_seq``).

    0 prints as ``none`` (``GFP_NOWAIT`` in 3.x). Otherwise the table is walked in
    order; an entry whose bits are all set prints its name (``|`` between names)
    and its bits are cleared, so composites win over their parts. Leftover bits
    print as ``0x%lx``, after a ``|`` only if a name was printed before.

    >>> format_gfp(0x100cca)
    'GFP_HIGHUSER_MOVABLE'
    >>> format_gfp(0xdc0)
    'GFP_KERNEL|__GFP_ZERO'
    >>> format_gfp(0)
    'none'
    """
    _check_mask(mask)
    prof = resolve_profile(profile, kernel)
    if mask == 0:
        return prof.zero_text
    parts: list[str] = []
    flags = mask
    for name, bits in prof.print_table:
        if not flags:
            break
        if bits and flags & bits == bits:
            parts.append(name)
            flags &= ~bits
    if flags:
        parts.append(f"{flags:#x}")
    return "|".join(parts)


def format_gfp_printk(mask: int, profile: str | GfpProfile | None = None, *,
                      kernel: str | Kernel | None = None) -> str:
    """printk's ``%pGg`` (lib/vsprintf.c ``format_flags``): the same text, but 0 prints as ``""``.

    So ``warn_alloc`` prints ``gfp_mask=0x0()`` where a tracepoint prints ``none``.
    """
    _check_mask(mask)
    return "" if mask == 0 else format_gfp(mask, profile, kernel=kernel)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

#: a number as Python writes integer literals, in any base (0x1f, 31, 0o37, 0b11111, 1_000)
_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$")
_NAME = re.compile(r"^_{0,3}[A-Za-z][A-Za-z0-9_]*$")
_MODE = re.compile(r"^(0[xX][0-9a-fA-F]+)\s*\((.*)\)$")


def _lookup_name(token: str, prof: GfpProfile) -> int:
    """The value of one name in ``prof``: a definition, a printed name, an old name."""
    definitions = prof.definitions()
    if token in definitions:
        return definitions[token]
    for printed, bits in prof.print_table:
        if printed == token:
            return bits
    if token.startswith("___GFP_") and token[1:] in definitions:
        return definitions[token[1:]]  # the raw ___GFP_* spelling of gfp_types.h
    if token.startswith("GFP_") and "__" + token in definitions:
        return definitions["__" + token]  # the 2.6.3x-4.5 print style: GFP_ZERO
    full = token if token.startswith("__") else "__" + token
    for old in (token, full):
        if old in OLD_NAME_ALIASES:
            target, note = OLD_NAME_ALIASES[old]
            if target is not None and target in definitions:
                return definitions[target]
            raise InvalidArgument(f"{old} does not exist in the {prof.name} gfp profile: {note}")
    raise InvalidArgument(f"unknown gfp flag name {token!r} in the {prof.name} profile; expected "
                          f"a GFP_*/__GFP_* name, a number such as 0xcc0, or 'none'")


def parse_gfp(text: str, profile: str | GfpProfile | None = None, *,
              kernel: str | Kernel | None = None) -> int:
    """Read a gfp mask back: ``format_gfp`` output, ``|``-joined names and numbers.

    Accepts every name of the profile (flags, composites, printed names), the
    underscore-less print names of 2.6.3x-4.5 (``GFP_ZERO`` for ``__GFP_ZERO``,
    where no composite has that name), ``___GFP_*`` spellings, numbers in any base
    Python reads (``0xcc0``, ``3264``, ``0o6300``, ``0b110011000000``), ``none``, the kernel's ``0xcc0(GFP_KERNEL)`` form (both halves must
    agree), and old names from :data:`OLD_NAME_ALIASES` that have a modern
    successor in this profile (``__GFP_WAIT`` -> ``__GFP_DIRECT_RECLAIM``). Names
    without one raise InvalidArgument saying what became of them.

    >>> hex(parse_gfp("GFP_KERNEL|__GFP_ZERO"))
    '0xdc0'
    >>> parse_gfp("0b1100") == parse_gfp("0xc") == parse_gfp("12")
    True
    >>> hex(parse_gfp("0xcc0(GFP_KERNEL)"))
    '0xcc0'
    """
    if not isinstance(text, str):
        raise InvalidArgument(f"gfp text must be a str, got {type(text).__name__}")
    prof = resolve_profile(profile, kernel)
    stripped = text.strip()
    mode = _MODE.match(stripped)
    if mode:
        number = int(mode.group(1), 16)
        inner = mode.group(2).strip()
        named = number if inner == "" and number == 0 else parse_gfp(inner, prof)
        if named != number:
            raise InvalidArgument(f"{stripped!r}: the number {number:#x} and the names "
                                  f"({named:#x}) disagree")
        _check_mask(number)
        return number
    if stripped in ("none", prof.zero_text):
        return 0
    if not stripped:
        raise InvalidArgument("empty gfp text; expected names or a number such as 0xcc0")
    mask = 0
    for raw in stripped.split("|"):
        token = raw.strip()
        if _NUMBER.match(token):
            try:
                value = int(token, 0)
            except ValueError:  # leading zeros ("0640") or a misplaced "_"
                if not token.isdigit():
                    raise InvalidArgument(f"cannot read {token!r} in gfp text {text!r}: "
                                          "expected a number such as 0xcc0") from None
                value = int(token, 10)
        elif _NAME.match(token):
            value = _lookup_name(token, prof)
        else:
            raise InvalidArgument(f"cannot read {token!r} in gfp text {text!r}: expected a "
                                  f"GFP_*/__GFP_* name or a number")
        mask |= value
    _check_mask(mask)
    return mask


# ---------------------------------------------------------------------------
# Decoding and translation between eras
# ---------------------------------------------------------------------------


def decode_gfp(mask: int, profile: str | GfpProfile | None = None, *,
               kernel: str | Kernel | None = None) -> tuple[GfpFlag, ...]:
    """Each named single bit set in ``mask``, in bit order (unknown bits are left out)."""
    _check_mask(mask)
    prof = resolve_profile(profile, kernel)
    return tuple(flag for flag in prof.flags if flag.value and mask & flag.value)


def unknown_bits(mask: int, profile: str | GfpProfile | None = None, *,
                 kernel: str | Kernel | None = None) -> int:
    """The bits of ``mask`` that have no name in ``profile``."""
    _check_mask(mask)
    return mask & ~resolve_profile(profile, kernel).known_mask


def translate_to_modern(mask: int, profile: str | GfpProfile | None = None, *,
                        kernel: str | Kernel | None = None) -> tuple[int, tuple[str, ...]]:
    """The modern mask with the same flags as ``mask`` of era ``profile``, and what was dropped.

    Each named bit is carried over by name (or by :data:`OLD_NAME_ALIASES`, so
    __GFP_WAIT becomes __GFP_DIRECT_RECLAIM); bits with no modern successor and
    unknown bits are dropped and listed (unknown ones as hex).
    """
    _check_mask(mask)
    prof = resolve_profile(profile, kernel)
    modern = {f.name: f.value for f in MODERN_FLAGS}
    result = 0
    dropped: list[str] = []
    for flag in decode_gfp(mask, prof):
        target: str | None = flag.name
        if target not in modern:
            target = OLD_NAME_ALIASES.get(flag.name, (None, ""))[0]
        if target is not None and target in modern:
            result |= modern[target]
        else:
            dropped.append(flag.name)
    leftover = unknown_bits(mask, prof)
    if leftover:
        dropped.append(f"{leftover:#x}")
    return result, tuple(dropped)


# ---------------------------------------------------------------------------
# Configuration-dependent bits (include/linux/gfp_types.h)
# ---------------------------------------------------------------------------


def gfp_config_bits(kernel: str | Kernel | None = None, *, kasan_hw_tags: bool = False,
                    lockdep: bool = False, slab_obj_ext: bool = False) -> dict[str, int]:
    """The values of the gfp bits that exist only in some configurations, for a kernel
    version and configuration (0 where configured out, as the kernel defines them).

    * 6.10 onwards (6.12.117 include/linux/gfp_types.h:26-61, "mm: enumerate all gfp
      flags"): the bits are an enum, so each configured bit takes the next free position
      after __GFP_ZEROTAGS (bit 23): __GFP_SKIP_ZERO and __GFP_SKIP_KASAN with
      CONFIG_KASAN_HW_TAGS, then __GFP_NOLOCKDEP with CONFIG_LOCKDEP, then
      __GFP_NO_OBJ_EXT with CONFIG_SLAB_OBJ_EXT (memory allocation profiling, 6.10):
      with only LOCKDEP, __GFP_NOLOCKDEP is 0x1000000, not 0x4000000.
    * 6.3-6.9: fixed values: __GFP_SKIP_ZERO 0x1000000, __GFP_SKIP_KASAN 0x2000000,
      __GFP_NOLOCKDEP 0x4000000; no __GFP_NO_OBJ_EXT.
    * 6.0-6.2 (6.1.192 include/linux/gfp_types.h:50-63): __GFP_SKIP_ZERO 0x1000000,
      __GFP_SKIP_KASAN_UNPOISON 0x2000000, __GFP_SKIP_KASAN_POISON 0x4000000,
      __GFP_NOLOCKDEP 0x8000000.
    * 4.15-5.10 (4.19 tree include/linux/gfp.h): __GFP_NOLOCKDEP 0x800000.
    Other versions raise :class:`~kmem.spec.kernel.UnknownKernel`; asking for a bit the
    version does not have (``slab_obj_ext`` before 6.10, KASAN tags before 6.0) raises
    InvalidArgument.
    """
    from .kernel import UnknownKernel

    rules = kernel_rules(kernel)
    v = rules.version
    if slab_obj_ext and not rules.at_least("6.10"):
        raise InvalidArgument(f"kernel {v}: __GFP_NO_OBJ_EXT (CONFIG_SLAB_OBJ_EXT) came in 6.10")
    if kasan_hw_tags and not rules.at_least("6.0"):
        raise InvalidArgument(f"kernel {v}: kmem has the KASAN_HW_TAGS gfp bits from 6.0 on")
    if rules.at_least("6.10"):
        out: dict[str, int] = {}
        nxt = 24
        for name, on in (("__GFP_SKIP_ZERO", kasan_hw_tags), ("__GFP_SKIP_KASAN", kasan_hw_tags),
                         ("__GFP_NOLOCKDEP", lockdep), ("__GFP_NO_OBJ_EXT", slab_obj_ext)):
            out[name] = 1 << nxt if on else 0
            nxt += 1 if on else 0
        return out
    if rules.at_least("6.3"):
        return {"__GFP_SKIP_ZERO": 0x1000000 if kasan_hw_tags else 0,
                "__GFP_SKIP_KASAN": 0x2000000 if kasan_hw_tags else 0,
                "__GFP_NOLOCKDEP": 0x4000000 if lockdep else 0}
    if rules.at_least("6.0"):
        return {"__GFP_SKIP_ZERO": 0x1000000 if kasan_hw_tags else 0,
                "__GFP_SKIP_KASAN_UNPOISON": 0x2000000 if kasan_hw_tags else 0,
                "__GFP_SKIP_KASAN_POISON": 0x4000000 if kasan_hw_tags else 0,
                "__GFP_NOLOCKDEP": 0x8000000 if lockdep else 0}
    if rules.at_least("4.15") and not rules.at_least("5.11"):
        return {"__GFP_NOLOCKDEP": 0x800000 if lockdep else 0}
    raise UnknownKernel(f"kernel {v}: kmem has the configuration-dependent gfp bits of "
                        f"4.15-5.10 and 6.0 onwards")


#: the meaning of each configuration-dependent bit (include/linux/gfp_types.h)
_CONFIG_BIT_MEANINGS = {
    "__GFP_SKIP_ZERO": "skip zeroing the memory (KASAN hardware tags)",
    "__GFP_SKIP_KASAN": "skip KASAN tag poisoning/unpoisoning (KASAN hardware tags)",
    "__GFP_NOLOCKDEP": "lockdep: ignore reclaim recursion",
    "__GFP_NO_OBJ_EXT": "no slab object extension vector (memory allocation profiling)",
}


def configured_profile(kernel: str | Kernel | None = None, *, kasan_hw_tags: bool = False,
                       lockdep: bool = False, slab_obj_ext: bool = False) -> GfpProfile:
    """The gfp profile of ``kernel`` in one configuration: the configuration-dependent bits
    (:func:`gfp_config_bits`) added to the flags, and to the print table where that
    version's ``show_gfp_flags`` prints them.

    * 6.15 onwards (the "modern" profile; ``TRACE_GFP_FLAGS`` in
      include/trace/events/mmflags.h): the table ends with the general bits, then
      ``TRACE_GFP_FLAGS_KASAN`` (__GFP_SKIP_ZERO, __GFP_SKIP_KASAN), then
      ``TRACE_GFP_FLAGS_LOCKDEP`` (__GFP_NOLOCKDEP), then ``TRACE_GFP_FLAGS_SLAB``
      (__GFP_NO_OBJ_EXT, CONFIG_SLAB_OBJ_EXT). Witness: the format file of
      ``kmem:mm_page_alloc`` on a Debian-configured 6.18.44 kernel ends its
      ``__print_flags`` table with ``__GFP_ZEROTAGS`` (bit 23) and ``__GFP_NO_OBJ_EXT``
      (bit 24). (Later mainline dropped TRACE_GFP_FLAGS_SLAB; such a kernel's recorded
      format has no __GFP_NO_OBJ_EXT, so it is configured with ``slab_obj_ext=False``.)
    * 6.3-6.14 (profiles "6.x" and "6.8"; 6.12.117 include/trace/events/mmflags.h:
      ``__def_gfpflag_names_kasan``): only the two KASAN bits are printed; a set
      __GFP_NOLOCKDEP or __GFP_NO_OBJ_EXT bit prints as a leftover number.
    * Other versions: only the plain profile (any configuration bit raises
      InvalidArgument).
    """
    prof = resolve_profile(None, kernel)
    if not (kasan_hw_tags or lockdep or slab_obj_ext):
        return prof
    printed: tuple[str, ...]
    if prof.name == "modern":
        printed = ("__GFP_SKIP_ZERO", "__GFP_SKIP_KASAN", "__GFP_NOLOCKDEP", "__GFP_NO_OBJ_EXT")
    elif prof.name in ("6.8", "6.x"):
        printed = ("__GFP_SKIP_ZERO", "__GFP_SKIP_KASAN")
    else:
        raise InvalidArgument(f"kmem has the configuration-dependent gfp bits of 6.3 onwards, "
                              f"not of the {prof.name} profile")
    bits = gfp_config_bits(kernel, kasan_hw_tags=kasan_hw_tags, lockdep=lockdep,
                           slab_obj_ext=slab_obj_ext)
    on = [(name, value) for name, value in bits.items() if value]
    flags = prof.flags + tuple(GfpFlag(name, value, _CONFIG_BIT_MEANINGS.get(name, name))
                               for name, value in on)
    table = prof.print_table + tuple((name, value) for name, value in on if name in printed)
    tag = "+".join(name for name, _ in on)
    return GfpProfile(name=f"{prof.name}+{tag}", description=f"{prof.description}; with {tag}",
                      flags=flags, composites=prof.composites, print_table=table,
                      zero_text=prof.zero_text, kernel_printer=prof.kernel_printer)
