"""The /proc/buddyinfo and /proc/zoneinfo formats: printing and parsing.

Follows mainline 6.x ``mm/vmstat.c`` (``frag_show_print``, ``zoneinfo_show_print``,
``walk_zones_in_node``) and Documentation/filesystems/proc.rst, plus the
``vm.lowmem_reserve_ratio`` sysctl as ``proc_dointvec`` prints it
(kernel/sysctl.c: tab-separated, newline-terminated).

/proc/zoneinfo: kmem prints, per zone and in the kernel's order and spacing, the
lines it models: the header, ``pages free``, boost, min, low, high, promo,
spanned, present, managed, cma, protection and, for populated zones,
``nr_free_pages``, ``node_unreclaimable`` and ``start_pfn``. It leaves out the
per-node stats (printed under the first populated zone), the other zone vm
stats and NUMA counters, and the per-CPU pagesets: the model has no LRU, no
NUMA and no pcp lists. An unpopulated zone (no present pages) ends after its
protection line, as in the kernel. :func:`parse_zoneinfo` reads a complete real
file and keeps the modelled fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import InvalidArgument
from .watermarks import (
    DEFAULT_WATERMARK_SCALE_FACTOR,
    Watermarks,
    lowmem_reserve_ratio_for,
    setup_per_zone_lowmem_reserve,
    setup_per_zone_wmarks,
)
from .zones import (
    MINIMAL_CONFIG,
    MachineLayout,
    ZoneConfig,
    ZoneSpan,
    ZoneType,
)


class ProcParseError(InvalidArgument):
    """A /proc or sysctl text that does not have the kernel's format.

    ``lineno`` is the first bad line; ``problems`` lists every bad line found, as
    ``(lineno, message)``, and the message names them all.
    """

    def __init__(self, source: str, lineno: int, message: str,
                 more: Sequence[tuple[int, str]] = ()) -> None:
        self.source = source
        self.lineno = lineno
        self.problems: tuple[tuple[int, str], ...] = ((lineno, message), *more)
        super().__init__(f"{source} line {lineno}: {message}"
                         + "".join(f"; line {n}: {m}" for n, m in more))


class _Problems:
    """Every malformed line of one text, raised together at the end."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []

    def add(self, lineno: int, message: str) -> None:
        self.found.append((lineno, message))

    def raise_if_any(self) -> None:
        if self.found:
            (lineno, message), *more = self.found  # in the order found
            raise ProcParseError(self.source, lineno, message, more)


def proc_text(data: str | bytes | bytearray | memoryview, source: str) -> list[str]:
    """The lines of a /proc or /proc/sys file as read: ``str`` or bytes (the kernel
    prints ASCII: ``seq_printf`` in mm/vmstat.c, ``proc_dointvec`` in kernel/sysctl.c),
    with LF or CRLF line endings (a copy that passed through Windows). Any other type,
    or a byte that is not ASCII, raises :class:`ProcParseError` / InvalidArgument."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        bad = next((i for i, b in enumerate(raw) if b > 0x7F), None)
        if bad is not None:
            raise ProcParseError(source, raw.count(b"\n", 0, bad) + 1,
                                 f"byte {raw[bad]:#04x} at offset {bad} is not ASCII; the "
                                 f"kernel prints ASCII")
        text = raw.decode("ascii")
    elif isinstance(data, str):
        text = data
    else:
        raise InvalidArgument(f"{source} text must be a str or bytes (the file's contents), "
                              f"got {type(data).__name__}")
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class ZoneinfoMismatch(InvalidArgument):
    """Watermarks or protection recomputed from /proc differ from what the kernel printed."""


#: zone_names[] (mm/page_alloc.c) -> ZoneType
ZONE_BY_NAME: dict[str, ZoneType] = {zt.kernel_name: zt for zt in ZoneType}


def zone_type_of(name: str) -> ZoneType:
    """The ZoneType whose /proc name is ``name`` ("DMA", "DMA32", "Normal", ...)."""
    try:
        return ZONE_BY_NAME[name]
    except KeyError:
        raise InvalidArgument(f"unknown zone name {name!r}; expected one of "
                              f"{', '.join(ZONE_BY_NAME)}") from None


# ---------------------------------------------------------------------------
# /proc/buddyinfo
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BuddyinfoRow:
    """One line of /proc/buddyinfo: free block counts (not pages) per order."""

    node: int
    zone: str
    nr_free: tuple[int, ...]


def format_buddyinfo_row(row: BuddyinfoRow) -> str:
    """``frag_show_print``: ``"Node %d, zone %8s "``, ``"%6lu "`` per order, newline."""
    return (f"Node {row.node}, zone {row.zone:>8} "
            + "".join(f"{n:6d} " for n in row.nr_free) + "\n")


def format_buddyinfo(rows: Sequence[BuddyinfoRow]) -> str:
    """The whole file: one row per populated zone (``walk_zones_in_node(..., true, ...)``)."""
    return "".join(format_buddyinfo_row(r) for r in rows)


_BUDDY_RE = re.compile(r"Node ([0-9]+), zone +(\S+) +((?:[0-9]+ +)*[0-9]+) ?")


def parse_buddyinfo(text: str | bytes) -> tuple[BuddyinfoRow, ...]:
    """Parse /proc/buddyinfo (str or bytes, LF or CRLF). Every row must have the same
    number of orders; every malformed row is reported (:class:`ProcParseError`)."""
    rows: list[BuddyinfoRow] = []
    problems = _Problems("buddyinfo")
    first = 0
    for lineno, line in enumerate(proc_text(text, "buddyinfo"), 1):
        if not line.strip():
            continue
        m = _BUDDY_RE.fullmatch(line)
        if m is None:
            problems.add(lineno, f"expected 'Node <n>, zone <name> <count> <count> ...', "
                                 f"got {line!r}")
            continue
        name = m.group(2)
        if name not in ZONE_BY_NAME:
            problems.add(lineno, f"unknown zone name {name!r}")
            continue
        counts = tuple(int(c) for c in m.group(3).split())
        if rows and len(counts) != len(rows[0].nr_free):
            problems.add(lineno, f"{len(counts)} orders, but line {first} has "
                                 f"{len(rows[0].nr_free)}; expected the same on every row")
            continue
        first = first or lineno
        rows.append(BuddyinfoRow(int(m.group(1)), name, counts))
    problems.raise_if_any()
    if not rows:
        raise ProcParseError("buddyinfo", 1, "no zone rows; expected at least one")
    return tuple(rows)


# ---------------------------------------------------------------------------
# /proc/zoneinfo
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneinfoZone:
    """The modelled fields of one zone block of /proc/zoneinfo.

    Fields an older kernel does not print (boost before 5.0, cma before 5.12,
    promo before 6.1) are None. ``start_pfn``, ``nr_free_pages`` and
    ``node_unreclaimable`` are None for an unpopulated zone (not printed).
    Watermarks are printed with the boost included (``min_wmark_pages()``).
    """

    node: int
    zone: str
    free: int
    min: int
    low: int
    high: int
    spanned: int
    present: int
    managed: int
    protection: tuple[int, ...]
    boost: int | None = 0
    promo: int | None = None
    cma: int | None = 0
    nr_free_pages: int | None = None
    node_unreclaimable: int | None = None
    start_pfn: int | None = None
    # the per-CPU pagesets (cpu, count, high, batch, vm stats threshold); None: not printed
    pagesets: tuple[tuple[int, int, int, int, int], ...] | None = None

    @property
    def ztype(self) -> ZoneType:
        return zone_type_of(self.zone)

    @property
    def populated(self) -> bool:
        """``populated_zone()``: present pages != 0."""
        return self.present != 0


def format_zoneinfo_zone(z: ZoneinfoZone) -> str:
    """``zoneinfo_show_print`` for the modelled lines of one zone."""
    out = [f"Node {z.node}, zone {z.zone:>8}", f"\n  pages free     {z.free}"]
    for key in ("boost", "min", "low", "high", "promo", "spanned", "present", "managed", "cma"):
        value = getattr(z, key)
        if value is not None:
            out.append(f"\n        {key:<8} {value}")
    out.append("\n        protection: (" + ", ".join(str(p) for p in z.protection) + ")")
    if z.populated:
        if z.nr_free_pages is not None:
            out.append(f"\n      {'nr_free_pages':<12} {z.nr_free_pages}")
        if z.pagesets is not None:
            out.append(format_pagesets(z.pagesets))
        if z.node_unreclaimable is not None:
            out.append(f"\n  node_unreclaimable:  {z.node_unreclaimable}")
        if z.start_pfn is not None:
            out.append(f"\n  start_pfn:           {z.start_pfn}")
    out.append("\n")
    return "".join(out)


def format_pagesets(pagesets: Sequence[tuple[int, int, int, int, int]]) -> str:
    """``zoneinfo_show_print``'s pagesets section (mm/vmstat.c, 6.12): per online CPU its
    pcp ``count``, ``high`` and ``batch``, then (CONFIG_SMP) the zone's
    ``stat_threshold`` for that CPU."""
    out = ["\n  pagesets"]
    for cpu, count, high, batch, threshold in pagesets:
        out.append(f"\n    cpu: {cpu}\n              count: {count}\n              high:  {high}"
                   f"\n              batch: {batch}\n  vm stats threshold: {threshold}")
    return "".join(out)


def format_zoneinfo(zones: Sequence[ZoneinfoZone]) -> str:
    """All zones, populated or not (``walk_zones_in_node(..., false, ...)``)."""
    return "".join(format_zoneinfo_zone(z) for z in zones)


_HEADER_RE = re.compile(r"Node ([0-9]+), zone +(\S+)")
_FIELD_RE = re.compile(r" +(pages free|boost|min|low|high|promo|spanned|present|managed|cma)"
                       r" +(\S+)")
_PROT_RE = re.compile(r" +protection: \((.*)\)")
_TAIL_RE = re.compile(r" +(nr_free_pages|node_unreclaimable:|start_pfn:) +(\S+)")
#: a line that starts like one kmem reads; it must then parse in full
_MODELLED_RE = re.compile(r"Node |  *(pages free|boost|min|low|high|promo|spanned|present|"
                          r"managed|cma|nr_free_pages|node_unreclaimable:|start_pfn:|"
                          r"protection:)(\s|$)")
_FIELD_NAMES = {"pages free": "free", "node_unreclaimable:": "node_unreclaimable",
                "start_pfn:": "start_pfn"}
_REQUIRED = ("free", "min", "low", "high", "spanned", "present", "managed", "protection")
_UINT_RE = re.compile(r"[0-9]+")


def _uint(text: str) -> int | None:
    """A decimal as ``%lu`` prints it (no sign, no ``_``, ASCII digits), or None."""
    return int(text) if _UINT_RE.fullmatch(text) else None


def parse_zoneinfo(text: str | bytes) -> tuple[ZoneinfoZone, ...]:
    """Parse a real /proc/zoneinfo (str or bytes, LF or CRLF), keeping the fields of
    :class:`ZoneinfoZone`.

    Per-node stats, other vm stats, NUMA counters and pagesets are skipped. A line
    that starts like a modelled one (a header, ``pages free``, a watermark, ...) but
    does not parse in full is malformed; every malformed line is reported together
    in one :class:`ProcParseError`, none is skipped. The kernel prints every zone of
    every node, populated or not (``zoneinfo_show``, mm/vmstat.c), each with one
    protection entry per zone; a last block that stops early is reported as a
    truncated text (and :func:`check_complete` finds a text cut between two zones).
    """
    zones: list[ZoneinfoZone] = []
    problems = _Problems("zoneinfo")
    cur: dict[str, object] | None = None
    cur_line = 0
    cur_bad: set[str] = set()  # keys of this zone on malformed lines (reported already)
    skipping = False  # inside the block of an unknown zone name (reported already)

    def finish(last: bool = False) -> None:
        if cur is None:
            return
        missing = [k for k in _REQUIRED if k not in cur and k not in cur_bad]
        if missing or cur_bad:
            if missing:
                hint = ("the text looks truncated (it ends inside this zone's block)" if last
                        else "expected every modelled line")
                problems.add(cur_line, f"zone {cur['zone']!r} lacks {', '.join(missing)}; "
                                       f"{hint}")
            return
        fields = dict(cur)
        fields.setdefault("boost", None)
        fields.setdefault("cma", None)
        zones.append(ZoneinfoZone(**fields))  # type: ignore[arg-type]

    for lineno, line in enumerate(proc_text(text, "zoneinfo"), 1):
        if not line.strip():
            continue
        m = _HEADER_RE.fullmatch(line)
        if m is not None:
            finish()
            cur = None
            if m.group(2) not in ZONE_BY_NAME:
                problems.add(lineno, f"unknown zone name {m.group(2)!r}")
                skipping = True  # its lines belong to no zone kmem knows
                continue
            skipping = False
            cur = {"node": int(m.group(1)), "zone": m.group(2)}
            cur_line = lineno
            cur_bad.clear()
            continue
        if cur is None:
            if skipping:
                continue
            if not zones and not problems.found:
                problems.add(lineno, f"expected a 'Node <n>, zone <name>' header first, "
                                     f"got {line!r}")
            elif _MODELLED_RE.match(line):
                problems.add(lineno, f"malformed line {line!r}")
            continue
        for regex in (_FIELD_RE, _TAIL_RE):
            m = regex.fullmatch(line)
            if m is not None:
                key = _FIELD_NAMES.get(m.group(1), m.group(1))
                if key == "nr_free_pages" and "free" not in cur:
                    break  # a per-node stat of the same shape; not ours
                value = _uint(m.group(2))
                if value is None:
                    problems.add(lineno, f"{key}: expected an integer, got {m.group(2)!r}")
                    cur_bad.add(key)
                elif key in cur:
                    problems.add(lineno, f"{key} repeated in zone {cur['zone']!r}")
                else:
                    cur[key] = value
                break
        else:
            m = _PROT_RE.fullmatch(line)
            if m is not None:
                parts = [p.strip() for p in m.group(1).split(",")]
                values = [_uint(p) for p in parts]
                bad = [p for p, v in zip(parts, values, strict=True) if v is None]
                if bad:
                    problems.add(lineno, f"protection: expected integers, got "
                                         f"{', '.join(map(repr, bad))}")
                    cur_bad.add("protection")
                elif "protection" in cur:
                    problems.add(lineno, "protection repeated")
                else:
                    cur["protection"] = tuple(values)
            elif (km := _MODELLED_RE.match(line)) is not None:
                problems.add(lineno, f"malformed line {line!r}; expected '<name> <integer>'"
                                     f" as the kernel prints it")
                cur_bad.add(_FIELD_NAMES.get(km.group(1) or "", km.group(1) or "")
                            .removesuffix(":"))
    finish(last=True)
    problems.raise_if_any()
    if not zones:
        raise ProcParseError("zoneinfo", 1, "no 'Node <n>, zone <name>' blocks")
    return tuple(zones)


def config_from_zoneinfo(zones: Sequence[ZoneinfoZone], node: int = 0) -> ZoneConfig:
    """The ZoneConfig whose zones are those printed for ``node``, in order."""
    names = [z.zone for z in zones if z.node == node]
    if not names:
        raise InvalidArgument(f"no zones of node {node} in the zoneinfo")
    return ZoneConfig(tuple(zone_type_of(n) for n in names))


# ---------------------------------------------------------------------------
# sysctls
# ---------------------------------------------------------------------------


def parse_sysctl_ints(text: str | bytes, name: str = "sysctl") -> tuple[int, ...]:
    """A /proc/sys value printed by ``proc_dointvec``: integers separated by tabs (str or
    bytes; every value that is not an integer is reported)."""
    problems = _Problems(name)
    out: list[int] = []
    for lineno, line in enumerate(proc_text(text, name), 1):
        for part in line.split():
            if _INT_RE.fullmatch(part):
                out.append(int(part))
            else:
                problems.add(lineno, f"expected integers, got {part!r}")
    problems.raise_if_any()
    if not out:
        raise ProcParseError(name, 1, "empty; expected at least one integer")
    return tuple(out)


_INT_RE = re.compile(r"-?[0-9]+")


def format_sysctl_ints(values: Sequence[int]) -> str:
    """``proc_dointvec`` output: values joined by tabs, then a newline."""
    return "\t".join(str(v) for v in values) + "\n"


# ---------------------------------------------------------------------------
# Recomputing what the kernel printed
# ---------------------------------------------------------------------------


def expected_watermarks(zones: Sequence[ZoneinfoZone], *, min_free_kbytes: int,
                        lowmem_reserve_ratio: Sequence[int],
                        watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
                        ) -> tuple[ZoneinfoZone, ...]:
    """``zones`` with min/low/high/promo and protection recomputed from managed pages.

    Watermarks use every zone of every node (``__setup_per_zone_wmarks`` shares
    ``min_free_kbytes`` over all lowmem zones of the machine); protection is per
    node (``setup_per_zone_lowmem_reserve``). The printed watermark includes
    ``boost``, so it is added back. ``promo`` stays None where it was not printed.
    """
    wm = setup_per_zone_wmarks([(z.ztype, z.managed) for z in zones], min_free_kbytes,
                               watermark_scale_factor)
    prot: dict[int, tuple[int, ...]] = {}
    by_node: dict[int, list[int]] = {}
    for i, z in enumerate(zones):
        by_node.setdefault(z.node, []).append(i)
    for idxs in by_node.values():
        if len(lowmem_reserve_ratio) > len(idxs):
            raise InvalidArgument(f"vm.lowmem_reserve_ratio has {len(lowmem_reserve_ratio)} "
                                  f"entries, one per zone of the kernel, but node "
                                  f"{zones[idxs[0]].node} has only {len(idxs)} zone block(s): "
                                  + TRUNCATED_HINT)
        if len(lowmem_reserve_ratio) != len(idxs):
            raise InvalidArgument(f"lowmem_reserve_ratio has {len(lowmem_reserve_ratio)} "
                                  f"entries, but node {zones[idxs[0]].node} has {len(idxs)} "
                                  "zones; expected one per zone (MAX_NR_ZONES)")
        rows = setup_per_zone_lowmem_reserve([zones[i].managed for i in idxs],
                                             lowmem_reserve_ratio)
        prot.update(zip(idxs, rows, strict=True))
    out = []
    for i, z in enumerate(zones):
        boost = z.boost or 0
        w: Watermarks = wm[i]
        out.append(replace(z, min=w.min + boost, low=w.low + boost, high=w.high + boost,
                           promo=None if z.promo is None else w.promo + boost,
                           protection=prot[i]))
    return tuple(out)


def check_zoneinfo(zones: Sequence[ZoneinfoZone], *, min_free_kbytes: int,
                   lowmem_reserve_ratio: Sequence[int],
                   watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
                   ) -> tuple[str, ...]:
    """The differences between printed and recomputed values, one message each."""
    expected = expected_watermarks(zones, min_free_kbytes=min_free_kbytes,
                                   lowmem_reserve_ratio=lowmem_reserve_ratio,
                                   watermark_scale_factor=watermark_scale_factor)
    problems = []
    for got, want in zip(zones, expected, strict=True):
        for key in ("min", "low", "high", "promo", "protection"):
            if getattr(got, key) != getattr(want, key):
                problems.append(f"node {got.node} zone {got.zone}: {key} printed "
                                f"{getattr(got, key)}, recomputed {getattr(want, key)}")
    return tuple(problems)


TRUNCATED_HINT = ("the zoneinfo text looks truncated (the kernel prints every zone of every "
                  "node); give the whole /proc/zoneinfo")


def check_complete(zones: Sequence[ZoneinfoZone]) -> None:
    """Refuse a zoneinfo cut between two zones: ``zoneinfo_show`` (mm/vmstat.c) prints
    every zone of a node, populated or not, and each zone's protection line has one
    entry per zone, so a node with fewer zone blocks than that was cut short."""
    by_node: dict[int, list[ZoneinfoZone]] = {}
    for z in zones:
        by_node.setdefault(z.node, []).append(z)
    for node, blocks in by_node.items():
        width = max(len(z.protection) for z in blocks)
        if width > len(blocks):
            raise InvalidArgument(f"node {node} has {len(blocks)} zone block(s), but its "
                                  f"protection lines have {width} entries, one per zone: "
                                  + TRUNCATED_HINT)


def verify_zoneinfo(zones: Sequence[ZoneinfoZone], **sysctls: object) -> None:
    """Raise :class:`ZoneinfoMismatch` unless :func:`check_zoneinfo` finds nothing
    (and InvalidArgument for a truncated text: :func:`check_complete`)."""
    check_complete(zones)
    problems = check_zoneinfo(zones, **sysctls)  # type: ignore[arg-type]
    if problems:
        raise ZoneinfoMismatch("recomputed watermarks differ from /proc/zoneinfo: "
                               + "; ".join(problems))


def zoneinfo_for_layout(layout: MachineLayout, *, min_free_kbytes: int,
                        lowmem_reserve_ratio: Sequence[int] | None = None,
                        watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
                        free_pages: Sequence[int] | None = None,
                        node: int = 0) -> tuple[ZoneinfoZone, ...]:
    """The zoneinfo records of a freshly booted ``layout`` (boost 0, cma 0).

    ``free_pages`` per zone defaults to the managed pages (everything free).
    """
    ratios = (lowmem_reserve_ratio_for(layout.config) if lowmem_reserve_ratio is None
              else tuple(lowmem_reserve_ratio))
    managed = layout.managed_pages
    wm = setup_per_zone_wmarks([(z.ztype, z.managed_pages) for z in layout.zones],
                               min_free_kbytes, watermark_scale_factor)
    prot = setup_per_zone_lowmem_reserve(managed, ratios)
    free = managed if free_pages is None else tuple(free_pages)
    if len(free) != len(managed):
        raise InvalidArgument(f"free_pages needs one entry per zone ({len(managed)}), "
                              f"got {len(free)}")
    out = []
    for i, z in enumerate(layout.zones):
        populated = z.present_pages != 0
        out.append(ZoneinfoZone(
            node=node, zone=z.ztype.kernel_name, free=free[i], min=wm[i].min, low=wm[i].low,
            high=wm[i].high, spanned=z.spanned_pages, present=z.present_pages,
            managed=z.managed_pages, protection=prot[i], boost=0, promo=wm[i].promo, cma=0,
            nr_free_pages=free[i] if populated else None,
            node_unreclaimable=0 if populated else None,
            start_pfn=z.start_pfn if populated else None))
    return tuple(out)


def layout_from_zoneinfo(zones: Sequence[ZoneinfoZone], node: int = 0,
                         name: str = "from-proc") -> MachineLayout:
    """A MachineLayout with the spanned/present/managed counts /proc printed for ``node``.

    /proc does not say where holes and reserved pages are, so kmem places them:
    the absent pages (spanned - present) at the end of each span and the
    reserved ones (present - managed) at its start. An unpopulated zone becomes
    an empty span (its start_pfn is not printed).
    """
    config = config_from_zoneinfo(zones, node)
    spans = []
    for z in (z for z in zones if z.node == node):
        if not z.populated or z.start_pfn is None:
            spans.append(ZoneSpan(z.ztype, 0, 0))
            continue
        start, end = z.start_pfn, z.start_pfn + z.spanned
        holes = ((start + z.present, end),) if z.present < z.spanned else ()
        nres = z.present - z.managed
        reserved = ((start, start + nres),) if nres > 0 else ()
        spans.append(ZoneSpan(z.ztype, start, end, holes, reserved))
    arch = ("x86_64" if config.has(ZoneType.DMA32) else
            "x86_32" if config.has(ZoneType.HIGHMEM) else "generic")
    if config == MINIMAL_CONFIG:
        arch = "generic"
    return MachineLayout(name, arch, config, tuple(spans))


__all__ = [
    "BuddyinfoRow",
    "ProcParseError",
    "ZoneinfoMismatch",
    "ZoneinfoZone",
    "check_zoneinfo",
    "config_from_zoneinfo",
    "expected_watermarks",
    "format_buddyinfo",
    "format_buddyinfo_row",
    "format_sysctl_ints",
    "format_zoneinfo",
    "format_zoneinfo_zone",
    "layout_from_zoneinfo",
    "parse_buddyinfo",
    "parse_sysctl_ints",
    "parse_zoneinfo",
    "verify_zoneinfo",
    "zone_type_of",
    "zoneinfo_for_layout",
]
