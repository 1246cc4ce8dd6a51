"""``kmem trace check``: every event of a kernel trace against the spec of its kernel version.

One pass over the lines, in bounded memory: per-page state is one byte per page frame of
the machine (plus four for the line that allocated a block's head), the gfp texts,
kmalloc sizes and slab caches seen are cached by their text, and findings keep a few
examples per rule. The rules (``RULES``) are the spec's: :mod:`kmem.spec.gfp`
(``show_gfp_flags``, ``gfp_migratetype``, ``gfp_zone``), :mod:`kmem.spec.tracepoints`
(what each tracepoint's fields promise) and :mod:`kmem.spec.slab` (size classes).

Rules that follow pages from event to event (``double-alloc``, ``free-order``,
``free-list-live``) assume the trace holds every allocation and free. A real kernel's does
not: ``alloc_pages_bulk``, compaction's isolated free pages and ``alloc_contig_range`` hand
out pages without ``mm_page_alloc``, and on 6.18 some pages (page tables among them) are
freed without ``mm_page_free`` even with no event lost (seen with perf and with tracefs).
So by default their violations are *anomalies*: reported with their events, not failed
on; ``strict_tracking=True`` (``--strict-tracking``) makes them findings, for traces known
to be complete (synthetic ones, an instrumented kernel).

Lost events. A lost-event record (perf's ``PERF_RECORD_LOST``, tracefs/trace-cmd's ``CPU:N
[LOST n EVENTS]``, tracefs's ``CPU N buffer started``) hides events of one CPU between its
last event seen and the record. The tracking is reset there (every page unknown again),
and a tracking finding or anomaly made after that CPU's last event seen is withdrawn
(counted, not reported), because the hidden events could explain it. They are therefore
held until the end of the input. Rules that judge one event by itself are not affected.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from kmem.spec import gfp as G
from kmem.spec import tracepoints as T
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import KmemError
from kmem.spec.slab import (
    KMALLOC_MAX_CACHE_SIZE,
    kmalloc_cache_name,
    kmalloc_slab_index,
    kmalloc_type,
)
from kmem.spec.zones import ZoneType

from .meta import TraceMeta
from .reader import PERF, PERF_LOST_RE, TEXT_EVENT_RE, TEXT_LOST_RE, TEXT_STARTED_RE, detect

#: rule name -> what it checks (and its source)
RULES: dict[str, str] = {
    "gfp-text": "the gfp text parses and prints back byte for byte (show_gfp_flags of the "
                "kernel's version and configuration)",
    "gfp-table": "the spec's show_gfp_flags table equals the kernel's own, from the recorded "
                 "format file",
    "migratetype": "mm_page_alloc's migratetype is gfp_migratetype(gfp) (spec.tracepoints."
                   "page_alloc_migratetype)",
    "order": "order <= MAX_PAGE_ORDER",
    "align": "pfn aligned to 2^order (alloc, free, drain, zone_locked, extfrag)",
    "zone": "the pfn lies in a zone that gfp_zone(gfp) and the fallback zonelist allow "
            "(recorded zoneinfo, all nodes)",
    "double-alloc": "no pfn range is handed out twice while live",
    "free-order": "a free stays inside the block its allocation handed out (smaller frees are "
                  "split_page/split_folio pieces; larger ones free someone else's pages)",
    "free-list-live": "mm_page_alloc_zone_locked, mm_page_pcpu_drain and mm_page_free_batched "
                      "only move pages that are not live",
    "zone-locked": "mm_page_alloc_zone_locked: migratetype a list __rmqueue_smallest takes "
                   "from; percpu_refill = pcp_allowed_order(order) && mt < MIGRATE_PCPTYPES",
    "pcpu-drain": "mm_page_pcpu_drain: a valid pageblock migratetype",
    "extfrag": "mm_page_alloc_extfrag: fallback_migratetype in fallbacks[alloc_migratetype], "
               "alloc_order <= fallback_order, a claim (change_ownership) only where "
               "can_steal_fallback allows it",
    "kmalloc-size": "kmalloc's bytes_alloc is the size class of bytes_req (or the page "
                    "allocator's size above KMALLOC_MAX_CACHE_SIZE)",
    "slab-geometry": "kmem_cache_alloc's bytes_req/bytes_alloc are the cache's object_size/"
                     "slab_size from the recorded /sys/kernel/slab",
}
TRACKING_RULES = frozenset({"double-alloc", "free-order", "free-list-live"})

#: live[] byte of a page: 0 not live (free or unknown), 1..11 the head of a live block of
#: order value-1, TAIL a page inside a live block
TAIL = 0xFF
ZEROS = [bytes(1 << o) for o in range(MAX_PAGE_ORDER + 1)]
PATTERNS = [bytes([o + 1]) + bytes([TAIL]) * ((1 << o) - 1) for o in range(MAX_PAGE_ORDER + 1)]
#: pages per entry of the pfn -> zone table
CHUNK_SHIFT = MAX_PAGE_ORDER
NO_ZONE = 0xFF
#: without zones the live table grows with the highest pfn seen, up to this many pages
#: (1 TiB of memory: 256 MiB of state bytes and 1 GiB of line numbers at most)
MAX_PFN_GUESS = 1 << 28
#: the largest line number the per-page array keeps (an unsigned 32-bit int)
MAX_LINE = (1 << 32) - 1


@dataclass
class Finding:
    rule: str
    line_no: int
    line: str
    expected: str
    detail: str
    related: list[int] = field(default_factory=list)
    related_lines: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "line_no": self.line_no, "event": self.line,
                "expected": self.expected, "detail": self.detail,
                "led_to_by": [{"line_no": n, "event": self.related_lines.get(n)}
                              for n in self.related]}


@dataclass
class RuleResult:
    checked: int = 0
    findings: int = 0
    withdrawn: int = 0
    #: tracking-rule violations outside --strict-tracking: reported, not failed on
    anomalies: int = 0
    examples: list[Finding] = field(default_factory=list)


@dataclass
class Report:
    source: str
    kernel: str
    fmt: str | None
    lines: int = 0
    events: int = 0
    by_event: dict[str, int] = field(default_factory=dict)
    other_events: int = 0
    failed_allocs: int = 0
    lost_records: int = 0
    lost_events: int = 0
    tracking_resets: int = 0
    unknown_caches: int = 0
    strict_tracking: bool = False
    raw_gfp_checked: int = 0
    rules: dict[str, RuleResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def findings(self) -> int:
        return sum(r.findings for r in self.rules.values())

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source, "kernel": self.kernel, "format": self.fmt,
            "lines": self.lines, "events": self.events, "by_event": self.by_event,
            "other_events": self.other_events, "failed_allocations": self.failed_allocs,
            "lost": {"records": self.lost_records, "events": self.lost_events,
                     "tracking_resets": self.tracking_resets},
            "unknown_slab_caches": self.unknown_caches,
            "strict_tracking": self.strict_tracking,
            "raw_gfp_checked": self.raw_gfp_checked,
            "rules": {name: {"checked": r.checked, "findings": r.findings,
                             "anomalies": r.anomalies,
                             "withdrawn_after_lost_events": r.withdrawn,
                             "examples": [f.to_json() for f in r.examples]}
                      for name, r in self.rules.items()},
            "findings": self.findings, "notes": self.notes, "seconds": round(self.seconds, 3),
        }


class Checker:
    """One check of one trace. ``run(lines)`` returns the :class:`Report`."""

    def __init__(self, meta: TraceMeta, *, examples: int = 5, pending_cap: int = 100_000,
                 strict_tracking: bool = False, raw_gfp: Iterable[str] | None = None) -> None:
        self.meta = meta
        #: the raw masks of the gfp events, in event order (a recording's raw-gfp file)
        self.raw: Iterator[str] | None = iter(raw_gfp) if raw_gfp is not None else None
        self.raw_cache: dict[tuple[str, str], str] = {}
        self.strict_tracking = strict_tracking
        self.examples = examples
        self.pending_cap = pending_cap
        self.profile = meta.profile
        self.rules = {name: RuleResult() for name in RULES}
        self.pending: list[tuple[int, Finding]] = []  # (stream index, finding) of tracking rules
        self.pending_dropped = 0
        self.last_idx: dict[str, int] = {}
        self.gfp_cache: dict[str, tuple[int | None, str | None]] = {}
        self.alloc_cache: dict[str, tuple[int, int, int, list[tuple[str, str, str]], bytes | None]] = {}
        self.kmalloc_cache: dict[str, list[tuple[str, str, str]]] = {}
        self.cache_cache: dict[str, list[tuple[str, str, str]] | None] = {}
        self.report = Report(source=meta.source, kernel=meta.version, fmt=None,
                             strict_tracking=strict_tracking)
        self.handlers: dict[str, Callable[[str, int, str], None]] = {
            name: getattr(self, f"_ev_{name}") for name in CHECKED_EVENTS}
        self.report.notes.extend(meta.notes)
        self.config = meta.config
        #: percpu_refill's rule is known from 6.1 (pcp_allowed_order in __rmqueue_smallest)
        self.refill_rule = meta.kernel.at_least("6.1")
        if not self.refill_rule:
            self.report.notes.append(f"kernel {meta.version}: kmem knows the percpu_refill "
                                     "field's rule from 6.1 on; that part of zone-locked is "
                                     "not checked")
        self.mobility_disabled = meta.mobility_disabled
        # the pfn -> zone index table, and zone descriptions
        self.zone_spans: list[tuple[int, int, int, str]] = []  # (start, end, type pos, name)
        max_pfn = 0
        if self.config is not None:
            for z in meta.zones:
                if z.start_pfn is None or z.spanned == 0 or z.ztype is ZoneType.DEVICE:
                    continue
                pos = list(ZoneType).index(z.ztype)
                self.zone_spans.append((z.start_pfn, z.start_pfn + z.spanned, pos,
                                        f"Node {z.node} {z.zone}"))
                max_pfn = max(max_pfn, z.start_pfn + z.spanned)
        nchunks = (max_pfn >> CHUNK_SHIFT) + 1
        table = bytearray([NO_ZONE]) * nchunks
        for c in range(nchunks):
            lo, hi = c << CHUNK_SHIFT, (c + 1) << CHUNK_SHIFT
            inside = {pos for s, e, pos, _ in self.zone_spans if s <= lo and hi <= e}
            overlapping = [pos for s, e, pos, _ in self.zone_spans if s < hi and lo < e]
            if len(inside) == 1 and len(overlapping) == 1:
                table[c] = inside.pop()
        self.chunk_zone = bytes(table)
        self.live = bytearray(max_pfn + 1024 if max_pfn else 1 << 20)
        self.alloc_line = array("I", bytes(4 * len(self.live)))
        # with the machine's zones, pages outside them are zone findings and never tracked
        self.grow_limit = len(self.live) if max_pfn else MAX_PFN_GUESS
        if meta.gfp_table_problems:
            for p in meta.gfp_table_problems:
                self._finding("gfp-table", 0, "(format file of kmem:mm_page_alloc)",
                              "the kernel's table", p)
        self.rules["gfp-table"].checked = 1 if meta.info else 0

    # -- findings ---------------------------------------------------------------------------
    def _finding(self, rule: str, n: int, line: str, expected: str, detail: str,
                 related: list[int] | None = None) -> None:
        f = Finding(rule, n, line.rstrip("\n"), expected, detail, related or [])
        if rule in TRACKING_RULES:
            if len(self.pending) < self.pending_cap:
                self.pending.append((n, f))
            else:
                self.pending_dropped += 1
            return
        r = self.rules[rule]
        r.findings += 1
        if len(r.examples) < self.examples:
            r.examples.append(f)

    def _lost(self, cpu: str | None, count: int, n: int) -> None:
        rep = self.report
        rep.lost_records += 1
        rep.lost_events += count
        start = -1 if cpu is None else self.last_idx.get(cpu, -1)
        keep = []
        for idx, f in self.pending:
            if idx > start:
                self.rules[f.rule].withdrawn += 1
            else:
                keep.append((idx, f))
        self.pending = keep
        self.live[:] = bytes(len(self.live))
        rep.tracking_resets += 1

    # -- caches of per-text decisions ------------------------------------------------------
    def gfp(self, text: str) -> tuple[int | None, str | None]:
        """(mask, problem) of one gfp text; cached."""
        got = self.gfp_cache.get(text)
        if got is not None:
            return got
        try:
            if text.startswith(("0x", "0X")) and "|" not in text:
                mask = int(text, 16)  # a raw mask: it must have a name for every bit
                printed = G.format_gfp(mask, self.profile)
                unknown = mask & ~self.profile.known_mask
                problem = (f"raw mask {text} has bits no flag of {self.profile.name} names: "
                           f"{unknown:#x} (prints as {printed})") if unknown else None
            else:
                mask = G.parse_gfp(text, self.profile)
                printed = G.format_gfp(mask, self.profile)
                problem = None if printed == text else (
                    f"parses as {mask:#x}, which {self.meta.version}'s show_gfp_flags prints "
                    f"as {printed}")
            got = (mask, problem)
        except KmemError as exc:
            if self._reconfigure(text):
                return self.gfp(text)
            got = (None, f"does not parse: {exc}")
        self.gfp_cache[text] = got
        return got

    def _reconfigure(self, text: str) -> bool:
        """Plain text of a kernel whose configuration adds named gfp bits: take them from the
        names the kernel printed (only where the version has such a bit)."""
        if self.meta.info:
            return False
        want = {"kasan_hw_tags": "__GFP_SKIP_KASAN" in text or "__GFP_SKIP_ZERO" in text,
                "lockdep": "__GFP_NOLOCKDEP" in text, "slab_obj_ext": "__GFP_NO_OBJ_EXT" in text}
        have = {n for n, _ in self.profile.print_table}
        if not any(want.values()) or all(
                (not on) or name in have for (k, on), name in zip(
                    want.items(), ("__GFP_SKIP_KASAN", "__GFP_NOLOCKDEP", "__GFP_NO_OBJ_EXT"),
                    strict=True)):
            return False
        try:
            flags = {k: v or (name in have) for (k, v), name in zip(
                want.items(), ("__GFP_SKIP_KASAN", "__GFP_NOLOCKDEP", "__GFP_NO_OBJ_EXT"),
                strict=True)}
            self.profile = G.configured_profile(self.meta.version, **flags)
        except KmemError:
            return False
        self.gfp_cache.clear()
        self.alloc_cache.clear()
        self.kmalloc_cache.clear()
        self.cache_cache.clear()
        self.report.notes.append(f"gfp bits configured from the names in the trace: "
                                 f"{self.profile.name}")
        return True

    def _fields(self, rest: str) -> dict[str, str]:
        out = {}
        for tok in rest.split():
            k, sep, v = tok.partition("=")
            if sep:
                out[k] = v
        return out

    def _alloc_info(self, key: str) -> tuple[int, int, int, list[tuple[str, str, str]],
                                             bytes | None]:
        """For the text after the pfn of mm_page_alloc: (order, alignment mask, size,
        problems, allowed zone positions)."""
        f = self._fields(key)
        problems: list[tuple[str, str, str]] = []
        try:
            order = int(f["order"])
            mt = int(f["migratetype"])
            text = f["gfp_flags"]
        except (KeyError, ValueError):
            raise KmemError(f"mm_page_alloc: cannot read order/migratetype/gfp_flags in "
                            f"{key.strip()!r}") from None
        mask, problem = self.gfp(text)
        if problem:
            problems.append(("gfp-text", "show_gfp_flags round trip", problem))
        if not 0 <= order <= MAX_PAGE_ORDER:
            problems.append(("order", f"0..{MAX_PAGE_ORDER}", f"order {order}"))
            order = max(0, min(order, MAX_PAGE_ORDER))
        allowed: bytes | None = None
        if mask is not None:
            want = T.page_alloc_migratetype(mask, mobility_disabled=self.mobility_disabled)
            if mt != want:
                problems.append(("migratetype", f"migratetype={want}",
                                 f"gfp_migratetype({mask:#x}) is {want}, the event says {mt}"))
            if self.config is not None:
                try:
                    top = G.gfp_zone(mask, self.config)
                    allowed = bytes(range(list(ZoneType).index(top) + 1))
                except KmemError as exc:
                    problems.append(("zone", "a valid zone modifier combination", str(exc)))
        return order, (1 << order) - 1, 1 << order, problems, allowed

    # -- the pass ---------------------------------------------------------------------------
    def run(self, lines: Iterable[str]) -> Report:
        t0 = time.perf_counter()
        rep = self.report
        it = iter(lines)
        fmt = None
        head: list[str] = []
        for line in it:
            head.append(line)
            fmt = detect(line)
            if fmt is not None:
                break
            if len(head) > 10000:
                break
        rep.fmt = fmt
        if fmt is None:
            # no event line at all: perhaps only lost records or headers
            for n, line in enumerate(head, 1):
                self._other(line, n)
            rep.lines = len(head)
        elif fmt == PERF:
            self._run_perf(head, it)
        else:
            self._run_text(head, it)
        self._finish()
        rep.seconds = time.perf_counter() - t0
        return rep

    def _other(self, line: str, n: int) -> None:
        """A line that is no kmem event: a lost-event record, a header, another event."""
        if "LOST" in line or "DROPPED" in line:
            m = PERF_LOST_RE.search(line)
            if m:
                cpu = m.group(1)
                self._lost(cpu if "LOST_SAMPLES" not in line else None, int(m.group(2)), n)
                return
            m = TEXT_LOST_RE.search(line)
            if m:
                self._lost(f"{int(m.group(1)):03d}", int(m.group(2) or m.group(3) or 0), n)
                return
        m2 = TEXT_STARTED_RE.search(line) if "buffer started" in line else None
        if m2:
            self._lost(f"{int(m2.group(1)):03d}", 0, n)
            return
        if line.startswith("# entries-in-buffer/entries-written:"):
            try:
                kept, written = (int(x) for x in line.split(":")[1].split()[0].split("/"))
            except ValueError:
                return
            if written > kept:
                self.report.notes.append(
                    f"tracefs overwrote {written - kept:,} of {written:,} events (ring buffer "
                    "full); its 'CPU N buffer started' lines place the loss")
            return
        s = line.strip()
        # (perf's call-chain frames are indented with a tab: not events)
        if s and not line.startswith("\t") and not s.startswith(("#", "cpus=", "version =",
                                                                  "CPU ")):
            self.report.other_events += 1

    def _run_perf(self, head: list[str], it: Iterable[str]) -> None:
        import itertools

        handlers = self.handlers
        other = self._other
        last_idx = self.last_idx
        by_event: dict[str, int] = {}
        n = 0
        for line in itertools.chain(head, it):
            n += 1
            k = line.find(" kmem:")
            if k < 0:
                other(line, n)
                continue
            e = line.find(": ", k + 6)
            name = line[k + 6:e]
            b = line.rfind("[", 0, k)
            cpu = line[b + 1:line.find("]", b)]
            last_idx[cpu] = n
            by_event[name] = by_event.get(name, 0) + 1
            h = handlers.get(name)
            if h is not None:
                h(line[e + 2:], n, line)
        self.report.lines = n
        self.report.by_event = by_event

    def _run_text(self, head: list[str], it: Iterable[str]) -> None:
        import itertools

        event = self._event
        other = self._other
        last_idx = self.last_idx
        match = TEXT_EVENT_RE.match
        by_event: dict[str, int] = {}
        n = 0
        for line in itertools.chain(head, it):
            n += 1
            m = match(line)
            if m is None or (m.group("sys") not in (None, "kmem")):
                other(line, n)
                continue
            name = m.group("name")
            if name not in KNOWN_EVENTS:
                other(line, n)
                continue
            cpu = f"{int(m.group('cpu')):03d}"
            last_idx[cpu] = n
            by_event[name] = by_event.get(name, 0) + 1
            event(name, m.group("rest") + "\n", n, line)
        self.report.lines = n
        self.report.by_event = by_event

    # -- one event ------------------------------------------------------------------------
    def _grow(self, end: int) -> bool:
        if end > self.grow_limit:
            return False
        new = max(end, 2 * len(self.live))
        self.live.extend(bytes(new - len(self.live)))
        self.alloc_line.extend(array("I", bytes(4 * (new - len(self.alloc_line)))))
        return True

    def _event(self, name: str, rest: str, n: int, line: str) -> None:
        h = self.handlers.get(name)
        if h is not None:
            h(rest, n, line)

    def _ev_mm_page_alloc(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        p = rest.find("pfn=0x")
        q = rest.find(" ", p)
        pfn = int(rest[p + 6:q], 16)
        key = rest[q + 1:]
        info = self.alloc_cache.get(key)
        if info is None:
            info = self._alloc_info(key)
            self.alloc_cache[key] = info
        if self.raw is not None:
            self._raw_gfp("mm_page_alloc", rest, n, line)
        order, amask, size, problems, allowed = info
        for rule in ("gfp-text", "migratetype", "order"):
            rules[rule].checked += 1
        for rule, expected, detail in problems:
            self._finding(rule, n, line, expected, detail)
        if pfn == 0 and (rest.startswith("page=(nil)") or rest.startswith("page=(null)")
                         or rest.startswith("page=0000000000000000")
                         or rest.startswith("page=0x0 ")):
            self.report.failed_allocs += 1
            return
        rules["align"].checked += 1
        if pfn & amask:
            self._finding("align", n, line, f"pfn a multiple of {size}",
                          f"pfn {pfn:#x} is not aligned to 2^{order}")
        if allowed is not None:
            rules["zone"].checked += 1
            c = pfn >> CHUNK_SHIFT
            zpos = self.chunk_zone[c] if c < len(self.chunk_zone) else NO_ZONE
            if zpos == NO_ZONE or zpos not in allowed:
                self._zone_slow(pfn, size, allowed, n, line, key)
        self._track_alloc(pfn, order, size, n, line)
    def _ev_mm_page_free(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        p = rest.find("pfn=0x")
        q = rest.find(" ", p)
        pfn = int(rest[p + 6:q], 16)
        order = int(rest[q + 7:])
        rules["align"].checked += 1
        if order > MAX_PAGE_ORDER or pfn & ((1 << order) - 1):
            if order <= MAX_PAGE_ORDER:
                self._finding("align", n, line, f"pfn a multiple of {1 << order}",
                              f"freed pfn {pfn:#x} is not aligned to 2^{order}")
            return
        self._track_free(pfn, order, n, line)
    def _ev_mm_page_free_batched(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        p = rest.find("pfn=0x")
        q = rest.find(" ", p)
        pfn = int(rest[p + 6:q], 16)
        rules["free-list-live"].checked += 1
        if pfn < len(self.live) and self.live[pfn]:
            self._finding("free-list-live", n, line, "a page freed just before",
                          "mm_page_free_batched of a page that is live (allocated, "
                          "no mm_page_free since)", [self.alloc_line[self._head(pfn)]])
    def _ev_mm_page_pcpu_drain(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        f = self._fields(rest)
        pfn, order, mt = int(f["pfn"], 16), int(f["order"]), int(f["migratetype"])
        rules["pcpu-drain"].checked += 1
        if not T.pcpu_drain_migratetype_ok(mt):
            self._finding("pcpu-drain", n, line, "migratetype 0..5", f"migratetype {mt}")
        self._free_list_event(pfn, order, n, line, "mm_page_pcpu_drain")
    def _ev_mm_page_alloc_zone_locked(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        f = self._fields(rest)
        pfn, order, mt = int(f["pfn"], 16), int(f["order"]), int(f["migratetype"])
        refill = int(f["percpu_refill"])
        rules["zone-locked"].checked += 1
        if mt not in T.ZONE_LOCKED_MIGRATETYPES:
            self._finding("zone-locked", n, line,
                          f"migratetype in {sorted(T.ZONE_LOCKED_MIGRATETYPES)}",
                          f"__rmqueue_smallest never takes from migratetype {mt}")
        elif (self.refill_rule and 0 <= order <= MAX_PAGE_ORDER
              and refill != T.zone_locked_percpu_refill(order, mt)):
            self._finding("zone-locked", n, line,
                          f"percpu_refill={T.zone_locked_percpu_refill(order, mt)}",
                          f"pcp_allowed_order({order}) && {mt} < MIGRATE_PCPTYPES")
        self._free_list_event(pfn, order, n, line, "mm_page_alloc_zone_locked")
    def _ev_mm_page_alloc_extfrag(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        f = self._fields(rest)
        pfn = int(f["pfn"], 16)
        ao, fo = int(f["alloc_order"]), int(f["fallback_order"])
        amt, fmt_ = int(f["alloc_migratetype"]), int(f["fallback_migratetype"])
        co = int(f["change_ownership"])
        rules["extfrag"].checked += 1
        for problem in T.extfrag_problems(ao, fo, amt, fmt_, co, self.meta.pageblock_order,
                                          mobility_disabled=self.mobility_disabled):
            self._finding("extfrag", n, line, "spec.tracepoints.extfrag_problems: none",
                          problem)
        if 0 <= ao <= MAX_PAGE_ORDER:
            rules["align"].checked += 1
            if pfn & ((1 << ao) - 1):
                self._finding("align", n, line, f"pfn a multiple of {1 << ao}",
                              f"pfn {pfn:#x} is not aligned to 2^{ao}")
    def _ev_kmalloc(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        k = rest.find("bytes_req=")
        key = rest[k:]
        kproblems = self.kmalloc_cache.get(key)
        if kproblems is None:
            kproblems = self._kmalloc_problems(key)
            self.kmalloc_cache[key] = kproblems
        if self.raw is not None:
            self._raw_gfp("kmalloc", rest, n, line)
        rules["kmalloc-size"].checked += 1
        rules["gfp-text"].checked += 1
        for rule, expected, detail in kproblems:
            self._finding(rule, n, line, expected, detail)
    def _ev_kmem_cache_alloc(self, rest: str, n: int, line: str) -> None:
        rules = self.rules
        k = rest.find("name=")
        key = rest[k:]
        if key in self.cache_cache:
            cproblems = self.cache_cache[key]
        else:
            cproblems = self._cache_problems(key)
            self.cache_cache[key] = cproblems
        if self.raw is not None:
            self._raw_gfp("kmem_cache_alloc", rest, n, line)
        rules["gfp-text"].checked += 1
        if cproblems is None:
            if self.meta.slab:
                self.report.unknown_caches += 1
            return
        rules["slab-geometry"].checked += 1
        for rule, expected, detail in cproblems:
            self._finding(rule, n, line, expected, detail)

    def _raw_gfp(self, name: str, rest: str, n: int, line: str) -> None:
        """The next raw mask must belong to this event and print as its gfp text."""
        assert self.raw is not None
        raw = next(self.raw, None)
        g = rest.find("gfp_flags=")
        e = rest.find(" ", g)
        text = rest[g + 10:e if e >= 0 else len(rest)].strip()
        rname, _, val = (raw or "").strip().partition(" ")
        if raw is None or rname != name or g < 0:
            self.raw = None
            self.report.notes.append(f"the raw gfp masks stop matching the events at line {n} "
                                     f"({raw.strip() if raw else 'no more raw masks'}): not "
                                     "compared from there on")
            return
        bad = self.raw_cache.get((text, val))
        if bad is None:
            mask = int(val) & 0xFFFFFFFF
            printed = G.format_gfp(mask, self.profile)
            bad = "" if printed == text else f"the raw mask {mask:#x} prints as {printed}"
            self.raw_cache[(text, val)] = bad
        self.report.raw_gfp_checked += 1
        if bad:
            self._finding("gfp-text", n, line, "the raw mask printed as the event's text", bad)

    def _zone_slow(self, pfn: int, size: int, allowed: bytes, n: int, line: str,
                   key: str) -> None:
        inside = [(pos, zname) for s, e, pos, zname in self.zone_spans if s <= pfn and pfn + size <= e]
        if any(pos in allowed for pos, _ in inside):
            return
        names = [list(ZoneType)[p].name for p in allowed]
        if inside:
            detail = f"pfn {pfn:#x} is in {', '.join(z for _, z in inside)}"
        else:
            detail = f"pfn {pfn:#x} (+{size}) is in no zone of the recorded zoneinfo"
        self._finding("zone", n, line, f"a zone of type {'/'.join(names)}", detail)

    def _head(self, pfn: int) -> int:
        """The head pfn of the live block holding ``pfn`` (``pfn`` itself if none)."""
        live = self.live
        if live[pfn] != TAIL:
            return pfn
        for o in range(1, MAX_PAGE_ORDER + 1):
            h = pfn & ~((1 << o) - 1)
            v = live[h]
            if v != TAIL and v and v - 1 >= o:
                return h
        return pfn

    def _track_alloc(self, pfn: int, order: int, size: int, n: int, line: str) -> None:
        live = self.live
        end = pfn + size
        if end > len(live) and not self._grow(end):
            return
        self.rules["double-alloc"].checked += 1
        if order == 0:
            if live[pfn]:
                self._conflict(pfn, 1, n, line)
            live[pfn] = 1
        else:
            if live[pfn:end] != ZEROS[order]:
                self._conflict(pfn, size, n, line)
            live[pfn:end] = PATTERNS[order]
        self.alloc_line[pfn] = n if n < MAX_LINE else MAX_LINE

    def _conflict(self, pfn: int, size: int, n: int, line: str) -> None:
        live = self.live
        hit = next(p for p in range(pfn, pfn + size) if live[p])
        h = self._head(hit)
        v = live[h]
        what = f"live block {h:#x} order {v - 1}" if v != TAIL else f"live page {hit:#x}"
        self._finding("double-alloc", n, line, f"[{pfn:#x}, {pfn + size:#x}) free",
                      f"overlaps the {what}, allocated at line {self.alloc_line[h]} and not "
                      f"freed since", [self.alloc_line[h]])

    def _track_free(self, pfn: int, order: int, n: int, line: str) -> None:
        live = self.live
        size = 1 << order
        end = pfn + size
        if end > len(live):
            return  # never allocated in the window
        v = live[pfn]
        rules = self.rules
        if v == order + 1:
            rules["free-order"].checked += 1
            if order == 0:
                live[pfn] = 0
            else:
                live[pfn:end] = ZEROS[order]
            return
        if v == 0:
            if order and live[pfn:end] != ZEROS[order]:
                rules["free-order"].checked += 1
                hit = next(p for p in range(pfn, end) if live[p])
                h = self._head(hit)
                self._finding("free-order", n, line, "a free inside one allocated block",
                              f"the free of [{pfn:#x}, {end:#x}) covers live pages of the block "
                              f"allocated at line {self.alloc_line[h]} but not its head",
                              [self.alloc_line[h]])
                live[pfn:end] = ZEROS[order]
            return
        # inside a live block (a head of another order, or a tail)
        rules["free-order"].checked += 1
        h = self._head(pfn)
        hv = live[h]
        if hv == TAIL or hv == 0:
            live[pfn:end] = ZEROS[order]
            return
        horder = hv - 1
        hend = h + (1 << horder)
        if end > hend:
            self._finding("free-order", n, line, f"a free inside [{h:#x}, {hend:#x}) (order {horder})",
                          f"frees order {order} at {pfn:#x}: [{pfn:#x}, {end:#x}) runs past the "
                          f"order-{horder} block allocated at line {self.alloc_line[h]}",
                          [self.alloc_line[h]])
            live[h:max(end, hend)] = bytes(max(end, hend) - h)
            return
        # a piece of a split block: the rest stays live, as the buddy pieces split_page leaves
        live[pfn:end] = ZEROS[order]
        line_no = self.alloc_line[h]
        for o in range(order, horder):
            piece = (pfn & ~((1 << o) - 1)) ^ (1 << o)
            if live[piece] == TAIL or piece == h:
                live[piece] = o + 1
                self.alloc_line[piece] = line_no

    def _free_list_event(self, pfn: int, order: int, n: int, line: str, what: str) -> None:
        self.rules["align"].checked += 1
        if not 0 <= order <= MAX_PAGE_ORDER:
            self._finding("order", n, line, f"0..{MAX_PAGE_ORDER}", f"order {order}")
            return
        if pfn & ((1 << order) - 1):
            self._finding("align", n, line, f"pfn a multiple of {1 << order}",
                          f"pfn {pfn:#x} is not aligned to 2^{order}")
        end = pfn + (1 << order)
        self.rules["free-list-live"].checked += 1
        if end <= len(self.live) and self.live[pfn:end] != ZEROS[order]:
            hit = next(p for p in range(pfn, end) if self.live[p])
            h = self._head(hit)
            self._finding("free-list-live", n, line, "pages on a free list (not live)",
                          f"{what} of [{pfn:#x}, {end:#x}) while the block allocated at line "
                          f"{self.alloc_line[h]} is live", [self.alloc_line[h]])

    def _kmalloc_problems(self, key: str) -> list[tuple[str, str, str]]:
        f = self._fields(key)
        out: list[tuple[str, str, str]] = []
        try:
            req, got = int(f["bytes_req"]), int(f["bytes_alloc"])
            text = f["gfp_flags"]
        except (KeyError, ValueError):
            raise KmemError(f"kmalloc: cannot read bytes_req/bytes_alloc/gfp_flags in "
                            f"{key.strip()!r}") from None
        mask, problem = self.gfp(text)
        if problem:
            out.append(("gfp-text", "show_gfp_flags round trip", problem))
        if req <= 0:
            return out
        cache_size = None
        where = "the size class"
        if mask is not None and req <= KMALLOC_MAX_CACHE_SIZE:
            cname = kmalloc_cache_name(kmalloc_slab_index(req), kmalloc_type(mask))
            geo = self.meta.slab.get(cname)
            if geo is not None:
                cache_size = geo.slab_size
                where = f"{cname}'s slab_size"
        elif req > KMALLOC_MAX_CACHE_SIZE:
            where = "PAGE_SIZE << get_order(bytes_req)"
        want = T.kmalloc_bytes_alloc(req, cache_size)
        if got != want:
            out.append(("kmalloc-size", f"bytes_alloc={want}",
                        f"kmalloc({req}) gets {where}, {want}, not {got}"))
        return out

    def _cache_problems(self, key: str) -> list[tuple[str, str, str]] | None:
        f = self._fields(key)
        out: list[tuple[str, str, str]] = []
        try:
            cname, req, got = f["name"], int(f["bytes_req"]), int(f["bytes_alloc"])
            text = f["gfp_flags"]
        except (KeyError, ValueError):
            raise KmemError(f"kmem_cache_alloc: cannot read name/bytes_req/bytes_alloc/gfp_flags "
                            f"in {key.strip()!r}") from None
        _, problem = self.gfp(text)
        if problem:
            out.append(("gfp-text", "show_gfp_flags round trip", problem))
        geo = self.meta.slab.get(cname)
        if geo is None:
            return None if not out else out
        if (req, got) != (geo.object_size, geo.slab_size):
            out.append(("slab-geometry", f"bytes_req={geo.object_size} bytes_alloc={geo.slab_size}",
                        f"cache {cname}: object_size {geo.object_size}, slab_size "
                        f"{geo.slab_size} in /sys/kernel/slab"))
        return out

    # -- the end -----------------------------------------------------------------------------
    def _finish(self) -> None:
        rep = self.report
        if self.meta.unplaced_lost:
            for _, f in self.pending:
                self.rules[f.rule].withdrawn += 1
            self.pending = []
            rep.notes.append(f"perf counted {self.meta.unplaced_lost} lost samples that the text "
                             "does not place: page-tracking findings are withheld")
        for _, f in self.pending:
            r = self.rules[f.rule]
            if self.strict_tracking:
                r.findings += 1
            else:
                r.anomalies += 1
            if len(r.examples) < self.examples:
                r.examples.append(f)
        if self.pending_dropped:
            rep.notes.append(f"{self.pending_dropped} tracking findings beyond the first "
                             f"{self.pending_cap} were not kept")
        self.pending = []
        rep.events = sum(rep.by_event.values())
        rep.rules = self.rules


#: the events a rule looks at (kfree and kmem_cache_free are only counted)
CHECKED_EVENTS = ("mm_page_alloc", "mm_page_free", "mm_page_free_batched", "mm_page_pcpu_drain",
                  "mm_page_alloc_zone_locked", "mm_page_alloc_extfrag", "kmalloc",
                  "kmem_cache_alloc")
KNOWN_EVENTS = frozenset({"mm_page_alloc", "mm_page_free", "mm_page_free_batched",
                          "mm_page_pcpu_drain", "mm_page_alloc_zone_locked",
                          "mm_page_alloc_extfrag", "kmalloc", "kmem_cache_alloc", "kfree",
                          "kmem_cache_free"})


def fill_related(report: Report, lines: Iterable[str]) -> None:
    """Fetch the text of the lines findings refer to (a second pass over a file)."""
    want: dict[int, list[Finding]] = {}
    for r in report.rules.values():
        for f in r.examples:
            for no in f.related:
                want.setdefault(no, []).append(f)
    if not want:
        return
    last = max(want)
    for n, line in enumerate(lines, 1):
        if n in want:
            for f in want[n]:
                f.related_lines[n] = line.rstrip("\n")
        if n >= last:
            break
