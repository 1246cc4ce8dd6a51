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
    # the per-CPU pagesets (cpu, count, high, batch, vm stats threshold, high_min,
    # high_max); None: not printed
    pagesets: tuple[tuple[int, int, int, int, int, int, int], ...] | None = None

    @property
    def ztype(self) -> ZoneType:
        return zone_type_of(self.zone)

    @property
    def populated(self) -> bool:
        """``populated_zone()``: present pages != 0."""
        return self.present != 0


def format_zoneinfo_zone(z: ZoneinfoZone, *, kernel: object = None) -> str:
    """``zoneinfo_show_print`` for the modelled lines of one zone. With ``kernel`` (a
    ``uname -r`` string) only the lines that version prints
    (:attr:`kmem.spec.kernel.Kernel.zoneinfo_fields`: no ``promo`` before 6.1, no ``cma``
    before 5.12, no ``boost`` before 5.0, no ``managed`` before 3.8)."""
    from .kernel import kernel as kernel_rules

    allowed: frozenset[str] | None = None
    spacing = " " * 11
    rules = kernel_rules(kernel)  # type: ignore[arg-type]
    if kernel is not None:
        allowed = rules.zoneinfo_fields
        spacing = rules.start_pfn_spacing

    def shown(key: str) -> bool:
        return allowed is None or key in allowed

    out = [f"Node {z.node}, zone {z.zone:>8}", f"\n  pages free     {z.free}"]
    for key in ("boost", "min", "low", "high", "promo", "spanned", "present", "managed", "cma"):
        value = getattr(z, key)
        if value is not None and shown(key):
            out.append(f"\n        {key:<8} {value}")
    out.append("\n        protection: (" + ", ".join(str(p) for p in z.protection) + ")")
    if z.populated:
        if z.nr_free_pages is not None and shown("nr_free_pages"):
            out.append(f"\n      {'nr_free_pages':<12} {z.nr_free_pages}")
        if z.pagesets is not None:
            out.append(format_pagesets(z.pagesets,
                                       high_min_max=rules.zoneinfo_pcp_high_min_max))
        if z.node_unreclaimable is not None and shown("node_unreclaimable"):
            out.append(f"\n  node_unreclaimable:  {z.node_unreclaimable}")
        if z.node_unreclaimable is not None and allowed is not None \
                and "all_unreclaimable" in allowed:  # 2.6.13-4.7: the zone's own flag
            out.append(f"\n  all_unreclaimable: {z.node_unreclaimable}")
        if z.start_pfn is not None and shown("start_pfn"):
            out.append(f"\n  start_pfn:{spacing}{z.start_pfn}")
    out.append("\n")
    return "".join(out)


def format_pagesets(pagesets: Sequence[tuple[int, int, int, int, int, int, int]], *,
                    high_min_max: bool = True) -> str:
    """``zoneinfo_show_print``'s pagesets section (mm/vmstat.c): per online CPU its pcp
    ``count``, ``high`` and ``batch``, then (CONFIG_SMP) the zone's ``stat_threshold`` for
    that CPU. ``high_min_max`` (6.13+, "mm: add pcp high_min high_max to proc zoneinfo")
    adds ``high_min:`` and ``high_max:`` and aligns the values; 6.1 and 6.12 print
    ``count: %i`` / ``high:  %i`` / ``batch: %i`` (6.12.118 mm/vmstat.c:1799)."""
    out = ["\n  pagesets"]
    for cpu, count, high, batch, threshold, high_min, high_max in pagesets:
        if high_min_max:
            out.append(f"\n    cpu: {cpu}\n              count:    {count}"
                       f"\n              high:     {high}\n              batch:    {batch}"
                       f"\n              high_min: {high_min}\n              high_max: {high_max}"
                       f"\n  vm stats threshold: {threshold}")
        else:
            out.append(f"\n    cpu: {cpu}\n              count: {count}\n              high:  "
                       f"{high}\n              batch: {batch}\n  vm stats threshold: {threshold}")
    return "".join(out)


def format_zoneinfo(zones: Sequence[ZoneinfoZone], *, kernel: object = None) -> str:
    """All zones, populated or not (``walk_zones_in_node(..., false, ...)``); ``kernel``
    as in :func:`format_zoneinfo_zone`. A zone that ``kernel`` does not have
    (:meth:`kmem.spec.kernel.Kernel.has_zone`: DMA32 before 2.6.15, Movable before
    2.6.23) is left out when it is empty and raises :class:`UnknownKernel` when it holds
    pages (that kernel would have put them in another zone, which kmem does not model)."""
    if kernel is not None:
        from .kernel import UnknownKernel
        from .kernel import kernel as kernel_rules

        rules = kernel_rules(kernel)  # type: ignore[arg-type]
        rules.zoneinfo_fields  # noqa: B018 - raises UnknownKernel before 2.6.13 (no file)
        kept = []
        for z in zones:
            if rules.has_zone(z.zone):
                kept.append(z)
            elif z.spanned:
                raise UnknownKernel(
                    f"kernel {kernel}: has no {z.zone} zone (DMA32 came with 2.6.15, Movable "
                    f"with 2.6.23), so it would put these {z.spanned} pages in another zone; "
                    f"kmem models the zone layout from the release that has the zone (try "
                    f"--preset x86_32 without --movablecore-mb for older kernels)")
        zones = kept
    return "".join(format_zoneinfo_zone(z, kernel=kernel) for z in zones)


def zoneinfo_kernels(zones: Sequence[ZoneinfoZone]) -> str:
    """Which kernel versions print the modelled lines present in ``zones``: ``promo``
    means 6.1 onwards, ``cma`` 5.12 onwards, ``boost`` 5.0 onwards; without ``boost``,
    before 5.0."""
    if any(z.promo is not None for z in zones):
        return "6.1 onwards"
    if any(z.cma is not None for z in zones):
        return "5.12-6.0"
    if any(z.boost is not None for z in zones):
        return "5.0-5.11"
    return "3.8-4.20"


_HEADER_RE = re.compile(r"Node ([0-9]+), zone +(\S+)")
_FIELD_RE = re.compile(r" +(pages free|boost|min|low|high|promo|spanned|present|managed|cma)"
                       r" +(\S+)")
_PROT_RE = re.compile(r" +protection: \((.*)\)")
_TAIL_RE = re.compile(r" +(nr_free_pages|node_unreclaimable:|all_unreclaimable:|start_pfn:)"
                      r" +(\S+)")
#: a line that starts like one kmem reads; it must then parse in full
_MODELLED_RE = re.compile(r"Node |  *(pages free|boost|min|low|high|promo|spanned|present|"
                          r"managed|cma|nr_free_pages|node_unreclaimable:|"
                          r"all_unreclaimable:|start_pfn:|"
                          r"protection:)(\s|$)")
_FIELD_NAMES = {"pages free": "free", "node_unreclaimable:": "node_unreclaimable",
                "all_unreclaimable:": "node_unreclaimable", "start_pfn:": "start_pfn"}
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


# ---------------------------------------------------------------------------
# /proc/pagetypeinfo (mm/vmstat.c pagetypeinfo_show, 6.12.117 lines 1550-1700)
# ---------------------------------------------------------------------------

#: pagetypeinfo_showfree_print caps each count: ``if (++freecount >= 100000)`` and prints
#: ``">"`` before it (5.4+)
PAGETYPEINFO_FREECOUNT_CAP = 100000


@dataclass(frozen=True)
class PagetypeinfoZone:
    """One zone of one node in /proc/pagetypeinfo.

    ``free[m][o]``: free blocks of order ``o`` on the free list of migratetype ``m``
    (in the node's ``migratetypes`` order); ``overflow`` holds the (m, o) pairs the
    kernel printed as ``>100000`` (the count is then the cap). ``blocks[m]``: pageblocks
    of migratetype ``m``. ``mixed``: the ``Number of mixed blocks`` row (CONFIG_PAGE_OWNER
    with page_owner=on), or None.
    """

    zone: str
    free: tuple[tuple[int, ...], ...]
    blocks: tuple[int, ...]
    overflow: frozenset[tuple[int, int]] = frozenset()
    mixed: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PagetypeinfoNode:
    """One node's section: ``Page block order``, ``Pages per block``, the migratetype names
    of the running kernel (``migratetype_names[]``) and its populated zones."""

    node: int
    pageblock_order: int
    pages_per_block: int
    migratetypes: tuple[str, ...]
    zones: tuple[PagetypeinfoZone, ...]

    def __post_init__(self) -> None:
        n = len(self.migratetypes)
        if self.pages_per_block != 1 << self.pageblock_order:
            raise InvalidArgument(f"pages_per_block {self.pages_per_block} != 1 << "
                                  f"pageblock_order ({self.pageblock_order})")
        orders = {len(row) for z in self.zones for row in z.free}
        if len(orders) > 1:
            raise InvalidArgument(f"every free row needs the same number of orders, got {orders}")
        for z in self.zones:
            if len(z.free) != n or len(z.blocks) != n or (z.mixed is not None
                                                          and len(z.mixed) != n):
                raise InvalidArgument(f"zone {z.zone}: expected {n} migratetypes "
                                      f"({', '.join(self.migratetypes)}) in every table")
            if any(c < 0 for row in z.free for c in row) or any(c < 0 for c in z.blocks):
                raise InvalidArgument(f"zone {z.zone}: counts must be >= 0")

    @property
    def nr_orders(self) -> int:
        return len(self.zones[0].free[0]) if self.zones and self.zones[0].free else 0


def _check_pagetypeinfo_kernel(nodes: Sequence[PagetypeinfoNode], kernel: object) -> None:
    from .kernel import kernel as kernel_rules

    rules = kernel_rules(kernel)  # type: ignore[arg-type]
    fmt = rules.pagetypeinfo_format
    if fmt == "none":
        raise InvalidArgument(f"kernel {rules.version} has no /proc/pagetypeinfo (2.6.24+)")
    variants = {rules.migratetype_names(cma=c, isolate=i) for c in (True, False)
                for i in (True, False)}
    for node in nodes:
        if node.migratetypes not in variants:
            raise InvalidArgument(
                f"kernel {rules.version} names the migratetypes "
                f"{', '.join(rules.migratetype_names())} (CMA and Isolate depend on the "
                f"configuration), not {', '.join(node.migratetypes)}")
        if fmt != "capped" and any(z.overflow for z in node.zones):
            raise InvalidArgument(f"kernel {rules.version} did not cap the free counts "
                                  f"(the '>100000' form is 5.4+)")


def format_pagetypeinfo(nodes: Sequence[PagetypeinfoNode], *, kernel: object = None) -> str:
    """/proc/pagetypeinfo byte for byte: per node with memory, ``pagetypeinfo_show``
    (``Page block order: %d``, ``Pages per block:  %lu``, a blank line), then
    ``pagetypeinfo_showfree`` (``%-43s `` header, ``%6d `` orders; rows
    ``Node %4d, zone %8s, type %12s `` and ``%s%6lu `` with ``>`` for a capped count),
    ``pagetypeinfo_showblockcount`` (``\\n%-23s`` header, ``%12s `` names; rows
    ``Node %d, zone %8s `` and ``%12lu ``) and, if present, the mixed-blocks table.
    ``kernel`` (a ``uname -r`` string) checks that the names and the ``>`` cap belong to
    that version (:attr:`kmem.spec.kernel.Kernel.pagetypeinfo_format`)."""
    if kernel is not None:
        _check_pagetypeinfo_kernel(nodes, kernel)
    out: list[str] = []
    for node in nodes:
        out.append(f"Page block order: {node.pageblock_order}\n"
                   f"Pages per block:  {node.pages_per_block}\n\n")
        out.append(f"{'Free pages count per migrate type at order':<43} "
                   + "".join(f"{o:6d} " for o in range(node.nr_orders)) + "\n")
        for z in node.zones:
            for m, name in enumerate(node.migratetypes):
                cells = "".join(f"{'>' if (m, o) in z.overflow else ''}{c:6d} "
                                for o, c in enumerate(z.free[m]))
                out.append(f"Node {node.node:4d}, zone {z.zone:>8}, type {name:>12} {cells}\n")
        for title, attr in (("Number of blocks type ", "blocks"),
                            ("Number of mixed blocks ", "mixed")):
            rows = [(z, getattr(z, attr)) for z in node.zones if getattr(z, attr) is not None]
            if attr == "mixed" and not rows:
                continue
            out.append(f"\n{title:<23}" + "".join(f"{n:>12} " for n in node.migratetypes) + "\n")
            for z, counts in rows:
                out.append(f"Node {node.node}, zone {z.zone:>8} "
                           + "".join(f"{c:12d} " for c in counts) + "\n")
    return "".join(out)


_PTI_ORDER_RE = re.compile(r"Page block order: (\d+)")
_PTI_PPB_RE = re.compile(r"Pages per block: +(\d+)")
_PTI_FREEHDR_RE = re.compile(r"Free pages count per migrate type at order +((?:\d+ +)*\d+) ?")
_PTI_FREE_RE = re.compile(r"Node +(\d+), zone +(\S+), type +(\S+) +((?:>?\d+ +)*>?\d+) ?")
_PTI_TABLEHDR_RE = re.compile(r"Number of (blocks type|mixed blocks) +((?:\S+ +)*\S+) ?")
_PTI_COUNT_RE = re.compile(r"Node (\d+), zone +(\S+) +((?:\d+ +)*\d+) ?")


def parse_pagetypeinfo(text: str) -> tuple[PagetypeinfoNode, ...]:
    """Parse /proc/pagetypeinfo of any version (2.6.24 onwards): every node section, the
    migratetype names as printed, ``>`` capped counts. :func:`pagetypeinfo_kernels`
    says which versions print such a text."""
    nodes: list[PagetypeinfoNode] = []
    state: dict[str, object] = {}
    zones: dict[str, dict[str, object]] = {}
    table = ""

    def finish(lineno: int) -> None:
        if not state:
            return
        names = state.get("names")
        if not isinstance(names, tuple) or "order" not in state or "ppb" not in state:
            raise ProcParseError("pagetypeinfo", lineno, "incomplete node section; expected "
                                 "'Page block order', 'Pages per block' and the free table")
        built = []
        for zname, z in zones.items():
            free = z["free"]
            assert isinstance(free, dict)
            if tuple(free) != names:
                raise ProcParseError("pagetypeinfo", lineno, f"zone {zname}: free rows for "
                                     f"{', '.join(free)}; expected {', '.join(names)}")
            if "blocks" not in z:
                raise ProcParseError("pagetypeinfo", lineno, f"zone {zname} has no "
                                     f"'Number of blocks type' row")
            built.append(PagetypeinfoZone(
                zname, tuple(free.values()), z["blocks"],  # type: ignore[arg-type]
                frozenset(z["overflow"]), z.get("mixed")))  # type: ignore[arg-type,call-overload]
        try:
            nodes.append(PagetypeinfoNode(int(state["node"]), int(state["order"]),  # type: ignore[call-overload]
                                          int(state["ppb"]), names, tuple(built)))  # type: ignore[call-overload]
        except InvalidArgument as exc:
            raise ProcParseError("pagetypeinfo", lineno, str(exc)) from None

    lineno = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if m := _PTI_ORDER_RE.fullmatch(line):
            finish(lineno)
            state, zones, table = {"order": int(m.group(1))}, {}, ""
            continue
        if not state:
            raise ProcParseError("pagetypeinfo", lineno, f"expected 'Page block order: <n>' "
                                 f"first, got {line!r}")
        if m := _PTI_PPB_RE.fullmatch(line):
            state["ppb"] = int(m.group(1))
        elif m := _PTI_FREEHDR_RE.fullmatch(line):
            state["norders"] = len(m.group(1).split())
            table = "free"
        elif (m := _PTI_FREE_RE.fullmatch(line)) and table == "free":
            node, zname, mtype = int(m.group(1)), m.group(2), m.group(3)
            if zname not in ZONE_BY_NAME:
                raise ProcParseError("pagetypeinfo", lineno, f"unknown zone name {zname!r}")
            if state.setdefault("node", node) != node:
                raise ProcParseError("pagetypeinfo", lineno, f"node {node} inside the section "
                                     f"of node {state['node']}")
            cells = m.group(4).split()
            if len(cells) != state.get("norders"):
                raise ProcParseError("pagetypeinfo", lineno, f"{len(cells)} orders; the "
                                     f"header has {state.get('norders')}")
            z = zones.setdefault(zname, {"free": {}, "overflow": set()})
            free = z["free"]
            assert isinstance(free, dict)
            if mtype in free:
                raise ProcParseError("pagetypeinfo", lineno, f"type {mtype} repeated in zone "
                                     f"{zname}")
            over = z["overflow"]
            assert isinstance(over, set)
            for o, cell in enumerate(cells):
                if cell.startswith(">"):
                    over.add((len(free), o))
            free[mtype] = tuple(int(c.lstrip(">")) for c in cells)
        elif m := _PTI_TABLEHDR_RE.fullmatch(line):
            names = tuple(m.group(2).split())
            table = "blocks" if m.group(1) == "blocks type" else "mixed"
            if table == "blocks":
                state["names"] = names
            elif names != state.get("names"):
                raise ProcParseError("pagetypeinfo", lineno, "the mixed-blocks header names "
                                     "other migratetypes than the blocks header")
        elif (m := _PTI_COUNT_RE.fullmatch(line)) and table in ("blocks", "mixed"):
            zname = m.group(2)
            counts = tuple(int(c) for c in m.group(3).split())
            if zname not in zones:
                raise ProcParseError("pagetypeinfo", lineno, f"zone {zname} has no free rows")
            if len(counts) != len(state["names"]):  # type: ignore[arg-type]
                raise ProcParseError("pagetypeinfo", lineno, f"{len(counts)} counts; the "
                                     f"header names {len(state['names'])} types")  # type: ignore[arg-type]
            zones[zname][table] = counts
        else:
            raise ProcParseError("pagetypeinfo", lineno, f"cannot read {line!r}")
    finish(lineno)
    if not nodes:
        raise ProcParseError("pagetypeinfo", 1, "no 'Page block order:' section")
    return tuple(nodes)


def pagetypeinfo_kernels(nodes: Sequence[PagetypeinfoNode]) -> str:
    """Which kernel versions print a /proc/pagetypeinfo with these names and caps:
    ``"2.6.24-4.3"`` (a Reserve type), ``"4.4-5.3"`` / ``"4.4 onwards"`` (HighAtomic; a
    ``>`` capped count means 5.4 onwards)."""
    names = {n for node in nodes for n in node.migratetypes}
    capped = any(z.overflow for node in nodes for z in node.zones)
    if "Reserve" in names:
        if capped:
            raise InvalidArgument("a Reserve migratetype (up to 4.3) with a '>' capped count "
                                  "(5.4+): no kernel prints both")
        return "2.6.24-4.3"
    if "HighAtomic" in names:
        return "5.4 onwards" if capped else "4.4 onwards"
    raise InvalidArgument(f"migratetypes {', '.join(sorted(names))}: neither Reserve "
                          f"(2.6.24-4.3) nor HighAtomic (4.4+)")


def pagetypeinfo_node(node: int, zones: Sequence[tuple[str, Sequence[Sequence[int]],
                                                       Sequence[int]]], *,
                      pageblock_order: int = 9, kernel: object = None,
                      cma: bool = False, isolate: bool = True) -> PagetypeinfoNode:
    """Build one node's section from per-zone free-list counts and pageblock counts in
    the order of ``kernel``'s ``migratetype_names`` (CMA and Isolate as configured):
    ``zones`` holds (zone name, free[m][o], blocks[m]). Counts at or above the
    100000 cap print as ``>100000`` in kernels that cap (5.4+). This is the form the
    model can feed once it tracks migratetypes."""
    from .kernel import kernel as kernel_rules

    rules = kernel_rules(kernel)  # type: ignore[arg-type]
    names = rules.migratetype_names(cma=cma, isolate=isolate)
    capped = rules.pagetypeinfo_format == "capped"
    built = []
    for zname, free, blocks in zones:
        over = frozenset((m, o) for m, row in enumerate(free) for o, c in enumerate(row)
                         if capped and c >= PAGETYPEINFO_FREECOUNT_CAP)
        rows = tuple(tuple(min(c, PAGETYPEINFO_FREECOUNT_CAP) if capped else c for c in row)
                     for row in free)
        built.append(PagetypeinfoZone(zname, rows, tuple(blocks), over))
    return PagetypeinfoNode(node, pageblock_order, 1 << pageblock_order, names, tuple(built))
