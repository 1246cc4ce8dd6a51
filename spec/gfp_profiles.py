"""GFP value sets and print tables of older kernels, for decoding and printing old masks.

The numbers of the gfp bits changed many times (the kernel never promised a
stable ABI for them), so a mask from an old log means nothing without its era.
Each :class:`GfpProfile` is one era's ``include/linux/gfp.h`` (bit values and
composites) plus the table its tracepoints print with
(``include/trace/events/gfpflags.h`` up to 4.5, ``include/trace/events/mmflags.h``
since). The modern profiles are built in :mod:`kmem.spec.gfp`; this module holds
the data of older ones:

* ``5.x``: 5.1-6.2 ``include/linux/gfp.h`` (still with ``__GFP_ATOMIC``, so GFP_ATOMIC
  is 0xa20) and the 5.x ``mmflags.h`` table.
* ``4.15`` (4.15-5.0, GFP_KERNEL 0x6000c0), ``4.13`` (4.13-4.14), ``4.10`` (4.10-4.12,
  GFP_KERNEL 0x14000c0), ``4.8`` and ``4.4`` (4.4-4.9, GFP_KERNEL 0x24000c0): the
  layouts between the __GFP_WAIT split (4.4) and "mm: shuffle GFP_* flags" (5.1).
  :mod:`kmem.spec.kernel` maps a version string to its profile.
* ``3.x``: 3.0 ``include/linux/gfp.h`` (used for 3.0-4.3; bits added later in 3.x,
  such as __GFP_WRITE and __GFP_MEMALLOC, print as hex) (with CONFIG_KMEMCHECK, so __GFP_NOTRACK is a
  real bit) and 3.0 ``include/trace/events/gfpflags.h``, which printed the single
  bits without their leading underscores and printed 0 as ``GFP_NOWAIT``.
* ``2.6.11``: ``include/linux/gfp.h`` of 2.6.11 (the lecture slides' era). That
  kernel had no gfp tracepoint; kmem prints its masks with a table of its own
  (composites from most to fewest bits, then single bits in bit order).
* ``2.4.0``: ``include/linux/mm.h`` of 2.4.0 (with CONFIG_HIGHMEM); also printed
  with a kmem-made table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GfpFlag:
    """One single-bit gfp flag of an era: its kernel name, value and meaning."""

    name: str
    value: int
    meaning: str


@dataclass(frozen=True)
class GfpProfile:
    """One era's gfp numbering and the way its kernel printed masks.

    ``flags`` are the single bits in bit order, ``composites`` the ``GFP_*``
    definitions in header order, ``print_table`` the (printed name, mask) entries
    of ``show_gfp_flags`` in table order, ``zero_text`` what a mask of 0 prints as,
    and ``kernel_printer`` whether the table is the kernel's own (False: kmem's).
    """

    name: str
    description: str
    flags: tuple[GfpFlag, ...]
    composites: tuple[tuple[str, int], ...]
    print_table: tuple[tuple[str, int], ...]
    zero_text: str = "none"
    kernel_printer: bool = True

    @property
    def known_mask(self) -> int:
        """Every bit that has a name in this era."""
        mask = 0
        for flag in self.flags:
            mask |= flag.value
        return mask

    def definitions(self) -> dict[str, int]:
        """Every flag and composite name with its value (``#define`` names)."""
        names = {flag.name: flag.value for flag in self.flags}
        names.update(self.composites)
        return names

    def flag(self, name: str) -> GfpFlag | None:
        """The single-bit flag called ``name``, or None."""
        for flag in self.flags:
            if flag.name == name:
                return flag
        return None


def composites_first(composites: tuple[tuple[str, int], ...],
                     flags: tuple[GfpFlag, ...]) -> tuple[tuple[str, int], ...]:
    """kmem's own print table for eras without a kernel printer.

    Composites with more bits come first (so the widest name wins, as in the
    kernel's tables), ties in header order; then single bits in bit order. A
    composite of value 0 never matches and is left out.
    """
    ranked = sorted((c for c in composites if c[1]),
                    key=lambda c: -bin(c[1]).count("1"))
    return tuple(ranked) + tuple((f.name, f.value) for f in flags)


# ---------------------------------------------------------------------------
# 5.x (about 5.4 to 6.2): __GFP_ATOMIC at 0x200, GFP_NOWAIT = __GFP_KSWAPD_RECLAIM
# ---------------------------------------------------------------------------

_FLAGS_5X = (
    GfpFlag("__GFP_DMA", 0x01, "zone modifier: ZONE_DMA"),
    GfpFlag("__GFP_HIGHMEM", 0x02, "zone modifier: may use ZONE_HIGHMEM"),
    GfpFlag("__GFP_DMA32", 0x04, "zone modifier: ZONE_DMA32"),
    GfpFlag("__GFP_MOVABLE", 0x08, "movable page (with HIGHMEM: ZONE_MOVABLE)"),
    GfpFlag("__GFP_RECLAIMABLE", 0x10, "reclaimable (slab) page"),
    GfpFlag("__GFP_HIGH", 0x20, "high priority: may use part of the reserve"),
    GfpFlag("__GFP_IO", 0x40, "may start physical I/O"),
    GfpFlag("__GFP_FS", 0x80, "may call into the filesystem"),
    GfpFlag("__GFP_ZERO", 0x100, "return a zeroed page"),
    GfpFlag("__GFP_ATOMIC", 0x200, "caller cannot reclaim or sleep (ALLOC_HARDER)"),
    GfpFlag("__GFP_DIRECT_RECLAIM", 0x400, "may enter direct reclaim (may sleep)"),
    GfpFlag("__GFP_KSWAPD_RECLAIM", 0x800, "may wake kswapd"),
    GfpFlag("__GFP_WRITE", 0x1000, "the caller intends to dirty the page"),
    GfpFlag("__GFP_NOWARN", 0x2000, "suppress allocation-failure warnings"),
    GfpFlag("__GFP_RETRY_MAYFAIL", 0x4000, "retry hard but may fail"),
    GfpFlag("__GFP_NOFAIL", 0x8000, "retry forever"),
    GfpFlag("__GFP_NORETRY", 0x10000, "do not retry hard"),
    GfpFlag("__GFP_MEMALLOC", 0x20000, "may use all reserves"),
    GfpFlag("__GFP_COMP", 0x40000, "build a compound page"),
    GfpFlag("__GFP_NOMEMALLOC", 0x80000, "never use emergency reserves"),
    GfpFlag("__GFP_HARDWALL", 0x100000, "enforce cpuset memory policy"),
    GfpFlag("__GFP_THISNODE", 0x200000, "no fallback to other nodes"),
    GfpFlag("__GFP_ACCOUNT", 0x400000, "charge to kmemcg"),
    GfpFlag("__GFP_ZEROTAGS", 0x800000, "zero memory tags (arm64 MTE)"),
)

_COMPOSITES_5X = (
    ("GFP_ATOMIC", 0xa20),  # __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM
    ("GFP_KERNEL", 0xcc0),
    ("GFP_KERNEL_ACCOUNT", 0x400cc0),
    ("GFP_NOWAIT", 0x800),  # __GFP_KSWAPD_RECLAIM
    ("GFP_NOIO", 0xc00),
    ("GFP_NOFS", 0xc40),
    ("GFP_USER", 0x100cc0),
    ("GFP_DMA", 0x01),
    ("GFP_DMA32", 0x04),
    ("GFP_HIGHUSER", 0x100cc2),
    ("GFP_HIGHUSER_MOVABLE", 0x100cca),
    ("GFP_TRANSHUGE_LIGHT", 0x1c20ca),
    ("GFP_TRANSHUGE", 0x1c24ca),
    ("__GFP_RECLAIM", 0xc00),
)

#: the 5.x mmflags.h ``__def_gfpflag_names`` order (torvalds/linux 5.x)
PRINT_ORDER_5X = (
    "GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER",
    "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT",
    "GFP_DMA", "__GFP_HIGHMEM", "GFP_DMA32", "__GFP_HIGH", "__GFP_ATOMIC", "__GFP_IO",
    "__GFP_FS", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY",
    "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC", "__GFP_HARDWALL",
    "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_MOVABLE", "__GFP_ACCOUNT", "__GFP_WRITE",
    "__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_ZEROTAGS",
)


def table_from_order(order: tuple[str, ...], values: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """A print table listing ``order``'s names, each printed as itself."""
    return tuple((name, values[name]) for name in order if name in values)


_VALUES_5X = {f.name: f.value for f in _FLAGS_5X} | dict(_COMPOSITES_5X)

PROFILE_5X = GfpProfile(
    name="5.x",
    description="5.x to 6.2: __GFP_ATOMIC (0x200) still exists, GFP_ATOMIC = 0xa20, "
                "GFP_NOWAIT = 0x800; 5.x mmflags.h print order",
    flags=_FLAGS_5X,
    composites=_COMPOSITES_5X,
    print_table=table_from_order(PRINT_ORDER_5X, _VALUES_5X),
)

# ---------------------------------------------------------------------------
# 4.x: the layouts of 4.4-4.7, 4.8-4.9, 4.10-4.12, 4.13-4.14 and 4.15-5.0
# ---------------------------------------------------------------------------

#: what each flag name means (shared by the 4.x builders below)
MEANINGS: dict[str, str] = {f.name: f.meaning for f in _FLAGS_5X} | {
    "__GFP_COLD": "cache-cold page wanted",
    "__GFP_REPEAT": "try hard, may fail",
    "__GFP_NOTRACK": "kmemcheck: do not track",
    "__GFP_OTHER_NODE": "allocating on behalf of another node",
    "__GFP_NOLOCKDEP": "lockdep: do not track the reclaim context (CONFIG_LOCKDEP)",
}


def _flags(values: dict[str, int]) -> tuple[GfpFlag, ...]:
    return tuple(GfpFlag(name, value, MEANINGS[name])
                 for name, value in sorted(values.items(), key=lambda kv: kv[1]) if value)


def _composites_4x(b: dict[str, int], *, temporary: bool, transhuge_light: bool
                   ) -> tuple[tuple[str, int], ...]:
    """The GFP_* composites of include/linux/gfp.h (4.4-6.2 formulas) for bit values ``b``."""
    reclaim = b["__GFP_DIRECT_RECLAIM"] | b["__GFP_KSWAPD_RECLAIM"]
    io_fs = b["__GFP_IO"] | b["__GFP_FS"]
    user = reclaim | io_fs | b["__GFP_HARDWALL"]
    highuser = user | b["__GFP_HIGHMEM"]
    movable = highuser | b["__GFP_MOVABLE"]
    out = [("GFP_ATOMIC", b["__GFP_HIGH"] | b["__GFP_ATOMIC"] | b["__GFP_KSWAPD_RECLAIM"]),
           ("GFP_KERNEL", reclaim | io_fs),
           ("GFP_KERNEL_ACCOUNT", reclaim | io_fs | b["__GFP_ACCOUNT"]),
           ("GFP_NOWAIT", b["__GFP_KSWAPD_RECLAIM"]),
           ("GFP_NOIO", reclaim),
           ("GFP_NOFS", reclaim | b["__GFP_IO"])]
    if temporary:
        out.append(("GFP_TEMPORARY", reclaim | io_fs | b["__GFP_RECLAIMABLE"]))
    out += [("GFP_USER", user), ("GFP_DMA", b["__GFP_DMA"]), ("GFP_DMA32", b["__GFP_DMA32"]),
            ("GFP_HIGHUSER", highuser), ("GFP_HIGHUSER_MOVABLE", movable)]
    if transhuge_light:
        light = (movable | b["__GFP_COMP"] | b["__GFP_NOMEMALLOC"] | b["__GFP_NOWARN"]) & ~reclaim
        out += [("GFP_TRANSHUGE_LIGHT", light),
                ("GFP_TRANSHUGE", light | b["__GFP_DIRECT_RECLAIM"])]
    else:  # 4.4-4.7: GFP_TRANSHUGE without kswapd, with __GFP_NORETRY
        out.append(("GFP_TRANSHUGE", (movable | b["__GFP_COMP"] | b["__GFP_NOMEMALLOC"]
                                      | b["__GFP_NORETRY"] | b["__GFP_NOWARN"])
                    & ~b["__GFP_KSWAPD_RECLAIM"]))
    out.append(("__GFP_RECLAIM", reclaim))
    return tuple(out)


#: 4.4-4.9 include/linux/gfp.h (read from a 4.9 tree)
_BITS_44 = {
    "__GFP_DMA": 0x01, "__GFP_HIGHMEM": 0x02, "__GFP_DMA32": 0x04, "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10, "__GFP_HIGH": 0x20, "__GFP_IO": 0x40, "__GFP_FS": 0x80,
    "__GFP_COLD": 0x100, "__GFP_NOWARN": 0x200, "__GFP_REPEAT": 0x400, "__GFP_NOFAIL": 0x800,
    "__GFP_NORETRY": 0x1000, "__GFP_MEMALLOC": 0x2000, "__GFP_COMP": 0x4000,
    "__GFP_ZERO": 0x8000, "__GFP_NOMEMALLOC": 0x10000, "__GFP_HARDWALL": 0x20000,
    "__GFP_THISNODE": 0x40000, "__GFP_ATOMIC": 0x80000, "__GFP_ACCOUNT": 0x100000,
    "__GFP_NOTRACK": 0x200000, "__GFP_DIRECT_RECLAIM": 0x400000, "__GFP_OTHER_NODE": 0x800000,
    "__GFP_WRITE": 0x1000000, "__GFP_KSWAPD_RECLAIM": 0x2000000,
}
#: 4.10-4.14: __GFP_OTHER_NODE removed, the two bits above it moved down
_BITS_410 = {k: v for k, v in _BITS_44.items() if k != "__GFP_OTHER_NODE"} | {
    "__GFP_WRITE": 0x800000, "__GFP_KSWAPD_RECLAIM": 0x1000000}
_BITS_413 = {("__GFP_RETRY_MAYFAIL" if k == "__GFP_REPEAT" else k): v
             for k, v in _BITS_410.items()}
#: 4.15-5.0 include/linux/gfp.h (read from a 4.19 tree; CONFIG_LOCKDEP off)
_BITS_415 = {
    "__GFP_DMA": 0x01, "__GFP_HIGHMEM": 0x02, "__GFP_DMA32": 0x04, "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10, "__GFP_HIGH": 0x20, "__GFP_IO": 0x40, "__GFP_FS": 0x80,
    "__GFP_WRITE": 0x100, "__GFP_NOWARN": 0x200, "__GFP_RETRY_MAYFAIL": 0x400,
    "__GFP_NOFAIL": 0x800, "__GFP_NORETRY": 0x1000, "__GFP_MEMALLOC": 0x2000,
    "__GFP_COMP": 0x4000, "__GFP_ZERO": 0x8000, "__GFP_NOMEMALLOC": 0x10000,
    "__GFP_HARDWALL": 0x20000, "__GFP_THISNODE": 0x40000, "__GFP_ATOMIC": 0x80000,
    "__GFP_ACCOUNT": 0x100000, "__GFP_DIRECT_RECLAIM": 0x200000,
    "__GFP_KSWAPD_RECLAIM": 0x400000,
}

#: 4.5-4.7 include/trace/events/mmflags.h ``__def_gfpflag_names`` (the 4.4 tracepoint
#: table of gfpflags.h had the same entries)
PRINT_ORDER_44 = (
    "GFP_TRANSHUGE", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER", "GFP_TEMPORARY",
    "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT",
    "GFP_DMA", "__GFP_HIGHMEM", "GFP_DMA32", "__GFP_HIGH", "__GFP_ATOMIC", "__GFP_IO",
    "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN", "__GFP_REPEAT", "__GFP_NOFAIL", "__GFP_NORETRY",
    "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC", "__GFP_HARDWALL",
    "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_MOVABLE", "__GFP_ACCOUNT", "__GFP_NOTRACK",
    "__GFP_WRITE", "__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM",
    "__GFP_OTHER_NODE",
)
#: 4.8-4.9: GFP_TRANSHUGE_LIGHT after GFP_TRANSHUGE
PRINT_ORDER_48 = PRINT_ORDER_44[:1] + ("GFP_TRANSHUGE_LIGHT",) + PRINT_ORDER_44[1:]
#: 4.10-4.12: without __GFP_OTHER_NODE
PRINT_ORDER_410 = tuple(n for n in PRINT_ORDER_48 if n != "__GFP_OTHER_NODE")
#: 4.13-4.14: __GFP_RETRY_MAYFAIL; GFP_TEMPORARY gone (4.14)
PRINT_ORDER_413 = tuple("__GFP_RETRY_MAYFAIL" if n == "__GFP_REPEAT" else n
                        for n in PRINT_ORDER_410 if n != "GFP_TEMPORARY")
#: 4.15-5.0: without __GFP_COLD and __GFP_NOTRACK (the 5.x table without __GFP_ZEROTAGS)
PRINT_ORDER_415 = tuple(n for n in PRINT_ORDER_413 if n not in ("__GFP_COLD", "__GFP_NOTRACK"))


def _profile_4x(name: str, description: str, bits: dict[str, int], order: tuple[str, ...], *,
                temporary: bool, transhuge_light: bool) -> GfpProfile:
    flags = _flags(bits)
    composites = _composites_4x(bits, temporary=temporary, transhuge_light=transhuge_light)
    values = {f.name: f.value for f in flags} | dict(composites)
    return GfpProfile(name=name, description=description, flags=flags, composites=composites,
                      print_table=table_from_order(order, values))


PROFILE_44 = _profile_4x(
    "4.4", "4.4-4.7: __GFP_WAIT split into __GFP_DIRECT_RECLAIM 0x400000 and "
    "__GFP_KSWAPD_RECLAIM 0x2000000; GFP_KERNEL = 0x24000c0", _BITS_44, PRINT_ORDER_44,
    temporary=True, transhuge_light=False)
PROFILE_48 = _profile_4x(
    "4.8", "4.8-4.9: as 4.4 plus GFP_TRANSHUGE_LIGHT", _BITS_44, PRINT_ORDER_48,
    temporary=True, transhuge_light=True)
PROFILE_410 = _profile_4x(
    "4.10", "4.10-4.12: __GFP_OTHER_NODE gone, __GFP_WRITE 0x800000, __GFP_KSWAPD_RECLAIM "
    "0x1000000; GFP_KERNEL = 0x14000c0", _BITS_410, PRINT_ORDER_410,
    temporary=True, transhuge_light=True)
PROFILE_413 = _profile_4x(
    "4.13", "4.13-4.14: __GFP_REPEAT renamed __GFP_RETRY_MAYFAIL; GFP_TEMPORARY removed "
    "(4.14)", _BITS_413, PRINT_ORDER_413, temporary=False, transhuge_light=True)
PROFILE_415 = _profile_4x(
    "4.15", "4.15-5.0: __GFP_COLD and __GFP_NOTRACK removed, renumbered; GFP_KERNEL = "
    "0x6000c0", _BITS_415, PRINT_ORDER_415, temporary=False, transhuge_light=True)

# ---------------------------------------------------------------------------
# 3.x (3.0 include/linux/gfp.h, CONFIG_KMEMCHECK on)
# ---------------------------------------------------------------------------

_FLAGS_3X = (
    GfpFlag("__GFP_DMA", 0x01, "zone modifier: ZONE_DMA"),
    GfpFlag("__GFP_HIGHMEM", 0x02, "zone modifier: may use ZONE_HIGHMEM"),
    GfpFlag("__GFP_DMA32", 0x04, "zone modifier: ZONE_DMA32"),
    GfpFlag("__GFP_MOVABLE", 0x08, "movable page (with HIGHMEM: ZONE_MOVABLE)"),
    GfpFlag("__GFP_WAIT", 0x10, "may sleep (and reclaim)"),
    GfpFlag("__GFP_HIGH", 0x20, "high priority: may use emergency pools"),
    GfpFlag("__GFP_IO", 0x40, "may start physical I/O"),
    GfpFlag("__GFP_FS", 0x80, "may call into the filesystem"),
    GfpFlag("__GFP_COLD", 0x100, "cache-cold page wanted"),
    GfpFlag("__GFP_NOWARN", 0x200, "suppress allocation-failure warnings"),
    GfpFlag("__GFP_REPEAT", 0x400, "try hard, may fail"),
    GfpFlag("__GFP_NOFAIL", 0x800, "retry forever"),
    GfpFlag("__GFP_NORETRY", 0x1000, "do not retry"),
    GfpFlag("__GFP_COMP", 0x4000, "build a compound page"),
    GfpFlag("__GFP_ZERO", 0x8000, "return a zeroed page"),
    GfpFlag("__GFP_NOMEMALLOC", 0x10000, "never use emergency reserves"),
    GfpFlag("__GFP_HARDWALL", 0x20000, "enforce cpuset memory policy"),
    GfpFlag("__GFP_THISNODE", 0x40000, "no fallback to other nodes"),
    GfpFlag("__GFP_RECLAIMABLE", 0x80000, "reclaimable (slab) page"),
    GfpFlag("__GFP_NOTRACK", 0x200000, "kmemcheck: do not track"),
    GfpFlag("__GFP_NO_KSWAPD", 0x400000, "do not wake kswapd"),
    GfpFlag("__GFP_OTHER_NODE", 0x800000, "allocating on behalf of another node"),
)

_COMPOSITES_3X = (
    ("GFP_NOWAIT", 0x0),  # GFP_ATOMIC & ~__GFP_HIGH
    ("GFP_ATOMIC", 0x20),
    ("GFP_NOIO", 0x10),
    ("GFP_NOFS", 0x50),
    ("GFP_KERNEL", 0xd0),
    ("GFP_TEMPORARY", 0x800d0),
    ("GFP_USER", 0x200d0),
    ("GFP_HIGHUSER", 0x200d2),
    ("GFP_HIGHUSER_MOVABLE", 0x200da),
    ("GFP_IOFS", 0xc0),
    ("GFP_TRANSHUGE", 0x4352da),
    ("GFP_DMA", 0x01),
    ("GFP_DMA32", 0x04),
)

_VALUES_3X = {f.name: f.value for f in _FLAGS_3X} | dict(_COMPOSITES_3X)

#: 3.0 include/trace/events/gfpflags.h: printed name -> the definition it prints
PRINT_TABLE_3X_SOURCE = (
    ("GFP_TRANSHUGE", "GFP_TRANSHUGE"), ("GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER_MOVABLE"),
    ("GFP_HIGHUSER", "GFP_HIGHUSER"), ("GFP_USER", "GFP_USER"),
    ("GFP_TEMPORARY", "GFP_TEMPORARY"), ("GFP_KERNEL", "GFP_KERNEL"), ("GFP_NOFS", "GFP_NOFS"),
    ("GFP_ATOMIC", "GFP_ATOMIC"), ("GFP_NOIO", "GFP_NOIO"), ("GFP_HIGH", "__GFP_HIGH"),
    ("GFP_WAIT", "__GFP_WAIT"), ("GFP_IO", "__GFP_IO"), ("GFP_COLD", "__GFP_COLD"),
    ("GFP_NOWARN", "__GFP_NOWARN"), ("GFP_REPEAT", "__GFP_REPEAT"),
    ("GFP_NOFAIL", "__GFP_NOFAIL"), ("GFP_NORETRY", "__GFP_NORETRY"),
    ("GFP_COMP", "__GFP_COMP"), ("GFP_ZERO", "__GFP_ZERO"),
    ("GFP_NOMEMALLOC", "__GFP_NOMEMALLOC"), ("GFP_HARDWALL", "__GFP_HARDWALL"),
    ("GFP_THISNODE", "__GFP_THISNODE"), ("GFP_RECLAIMABLE", "__GFP_RECLAIMABLE"),
    ("GFP_MOVABLE", "__GFP_MOVABLE"), ("GFP_NOTRACK", "__GFP_NOTRACK"),
    ("GFP_NO_KSWAPD", "__GFP_NO_KSWAPD"), ("GFP_OTHER_NODE", "__GFP_OTHER_NODE"),
)

PROFILE_3X = GfpProfile(
    name="3.x",
    description="3.0: __GFP_WAIT 0x10, GFP_KERNEL = 0xd0, GFP_NOWAIT = 0; gfpflags.h printed "
                "bits without leading underscores and 0 as GFP_NOWAIT",
    flags=_FLAGS_3X,
    composites=_COMPOSITES_3X,
    print_table=tuple((printed, _VALUES_3X[src]) for printed, src in PRINT_TABLE_3X_SOURCE),
    zero_text="GFP_NOWAIT",
)

# ---------------------------------------------------------------------------
# 2.6.11 (include/linux/gfp.h) - the lecture slides' numbering
# ---------------------------------------------------------------------------

_FLAGS_2611 = (
    GfpFlag("__GFP_DMA", 0x01, "zone modifier: ZONE_DMA"),
    GfpFlag("__GFP_HIGHMEM", 0x02, "zone modifier: may use ZONE_HIGHMEM"),
    GfpFlag("__GFP_WAIT", 0x10, "may sleep (and reclaim)"),
    GfpFlag("__GFP_HIGH", 0x20, "high priority: may use emergency pools"),
    GfpFlag("__GFP_IO", 0x40, "may start physical I/O"),
    GfpFlag("__GFP_FS", 0x80, "may call into the filesystem"),
    GfpFlag("__GFP_COLD", 0x100, "cache-cold page wanted"),
    GfpFlag("__GFP_NOWARN", 0x200, "suppress allocation-failure warnings"),
    GfpFlag("__GFP_REPEAT", 0x400, "retry, may fail"),
    GfpFlag("__GFP_NOFAIL", 0x800, "retry forever"),
    GfpFlag("__GFP_NORETRY", 0x1000, "do not retry"),
    GfpFlag("__GFP_NO_GROW", 0x2000, "slab internal: do not grow a cache"),
    GfpFlag("__GFP_COMP", 0x4000, "build a compound page"),
    GfpFlag("__GFP_ZERO", 0x8000, "return a zeroed page"),
)

_COMPOSITES_2611 = (
    ("GFP_ATOMIC", 0x20),  # __GFP_HIGH
    ("GFP_NOIO", 0x10),  # __GFP_WAIT
    ("GFP_NOFS", 0x50),  # __GFP_WAIT | __GFP_IO
    ("GFP_KERNEL", 0xd0),  # __GFP_WAIT | __GFP_IO | __GFP_FS
    ("GFP_USER", 0xd0),  # the same as GFP_KERNEL (no __GFP_HARDWALL yet)
    ("GFP_HIGHUSER", 0xd2),
    ("GFP_DMA", 0x01),
)

PROFILE_2611 = GfpProfile(
    name="2.6.11",
    description="2.6.11 (the lecture slides' era): __GFP_WAIT 0x10, GFP_KERNEL = 0xd0; no kernel "
                "printer existed, kmem prints composites first",
    flags=_FLAGS_2611,
    composites=_COMPOSITES_2611,
    print_table=composites_first(_COMPOSITES_2611, _FLAGS_2611),
    kernel_printer=False,
)

# ---------------------------------------------------------------------------
# 2.4.0 (include/linux/mm.h, CONFIG_HIGHMEM)
# ---------------------------------------------------------------------------

_FLAGS_240 = (
    GfpFlag("__GFP_WAIT", 0x01, "may sleep"),
    GfpFlag("__GFP_HIGH", 0x02, "high priority: may use emergency pools"),
    GfpFlag("__GFP_IO", 0x04, "may start I/O"),
    GfpFlag("__GFP_DMA", 0x08, "zone modifier: ZONE_DMA"),
    GfpFlag("__GFP_HIGHMEM", 0x10, "zone modifier: may use ZONE_HIGHMEM"),
)

_COMPOSITES_240 = (
    ("GFP_BUFFER", 0x03),  # __GFP_HIGH | __GFP_WAIT
    ("GFP_ATOMIC", 0x02),  # __GFP_HIGH
    ("GFP_USER", 0x05),  # __GFP_WAIT | __GFP_IO
    ("GFP_HIGHUSER", 0x15),  # __GFP_WAIT | __GFP_IO | __GFP_HIGHMEM
    ("GFP_KERNEL", 0x07),  # __GFP_HIGH | __GFP_WAIT | __GFP_IO (includes HIGH)
    ("GFP_NFS", 0x07),
    ("GFP_KSWAPD", 0x04),  # __GFP_IO
    ("GFP_DMA", 0x08),
)

PROFILE_240 = GfpProfile(
    name="2.4.0",
    description="2.4.0: __GFP_WAIT 0x01, GFP_KERNEL = 0x07 (it includes __GFP_HIGH); no kernel "
                "printer existed, kmem prints composites first",
    flags=_FLAGS_240,
    composites=_COMPOSITES_240,
    print_table=composites_first(_COMPOSITES_240, _FLAGS_240),
    kernel_printer=False,
)

OLD_PROFILES: tuple[GfpProfile, ...] = (PROFILE_5X, PROFILE_415, PROFILE_413, PROFILE_410,
                                         PROFILE_48, PROFILE_44, PROFILE_3X, PROFILE_2611,
                                         PROFILE_240)
