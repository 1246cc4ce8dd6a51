"""``kmem trace stats``: what the kernel did in a trace, in numbers and a picture over time
(allocation rate per order, pages allocated and not yet freed since the window began,
fallback events). One pass, bounded memory: counts by key and time buckets that widen
as the trace grows longer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from kmem.spec import gfp as G
from kmem.spec.errors import KmemError
from kmem.spec.migrate import MIGRATETYPE_NAMES
from kmem.spec.zones import X86_64_CONFIG as _X86_64

from .check import KNOWN_EVENTS
from .meta import TraceMeta
from .reader import PERF_EVENT_RE, TEXT_EVENT_RE

#: the order groups the picture draws, with their colours
ORDER_GROUPS = (("order 0", (0, 0), "#3182bd"), ("orders 1-3", (1, 3), "#31a354"),
                ("orders 4-8", (4, 8), "#e6550d"), ("order 9-10", (9, 10), "#756bb1"))
MAX_FINE_BUCKETS = 4096


@dataclass
class Stats:
    kernel: str
    source: str
    events: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    allocs: Counter[tuple[int, int]] = field(default_factory=Counter)  # (order, mt)
    failed: int = 0
    gfp: Counter[str] = field(default_factory=Counter)
    frees: Counter[int] = field(default_factory=Counter)
    refills: int = 0
    zone_locked: Counter[int] = field(default_factory=Counter)  # by migratetype
    drains: Counter[int] = field(default_factory=Counter)  # pages by migratetype
    fallbacks: Counter[tuple[int, int, int]] = field(default_factory=Counter)  # am, fm, claim
    kmalloc_bytes: tuple[int, int] = (0, 0)
    lost: int = 0
    t0: float | None = None
    t1: float | None = None
    width: float = 0.001
    fine: dict[int, list[int]] = field(default_factory=dict)  # bucket -> counts
    series: list[dict[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "kernel": self.kernel, "source": self.source, "events": self.events,
            "by_event": dict(self.by_event), "failed_allocations": self.failed,
            "allocations": [{"order": o, "migratetype": m, "count": c}
                            for (o, m), c in sorted(self.allocs.items())],
            "gfp": [{"text": t, "count": c, "mask": _mask_hex(t, self.kernel)}
                    for t, c in self.gfp.most_common()],
            "frees": {str(o): c for o, c in sorted(self.frees.items())},
            "pcp_refills": self.refills,
            "zone_locked_by_migratetype": {str(m): c for m, c in sorted(self.zone_locked.items())},
            "drained_pages_by_migratetype": {str(m): c for m, c in sorted(self.drains.items())},
            "fallbacks": [{"alloc_migratetype": a, "fallback_migratetype": f, "claimed": bool(c),
                           "count": n} for (a, f, c), n in sorted(self.fallbacks.items())],
            "kmalloc": {"count": self.kmalloc_bytes[0], "bytes_alloc": self.kmalloc_bytes[1]},
            "lost_events": self.lost,
            "seconds": (self.t1 - self.t0) if self.t0 is not None and self.t1 is not None else 0,
            "series": self.series,
        }


def _mask_hex(text: str, kernel: str) -> str | None:
    try:
        return hex(G.parse_gfp(text, G.configured_profile(kernel, slab_obj_ext="__GFP_NO_OBJ_EXT" in text)))
    except KmemError:
        return None


def _fields(rest: str) -> dict[str, str]:
    out = {}
    for tok in rest.split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


#: per fine bucket: allocations per order group (4), pages allocated, pages freed, fallbacks
_SLOTS = 7


def collect(meta: TraceMeta, lines: Iterable[str], *, buckets: int = 60) -> Stats:
    st = Stats(kernel=meta.version, source=meta.source)
    fine = st.fine
    group_of = [next(i for i, (_, (lo, hi), _) in enumerate(ORDER_GROUPS) if lo <= o <= hi)
                for o in range(11)]
    km_n = km_b = 0
    for line in lines:
        m = PERF_EVENT_RE.match(line) or TEXT_EVENT_RE.match(line)
        if m is None or m.group("name") not in KNOWN_EVENTS or m.group("sys") not in (None, "kmem"):
            if "LOST" in line or "DROPPED" in line:
                import re

                lm = re.search(r"lost (\d+)|LOST (\d+) EVENTS|(\d+) EVENTS DROPPED", line)
                if lm:
                    st.lost += int(lm.group(1) or lm.group(2) or lm.group(3))
            continue
        name, rest = m.group("name"), m.group("rest")
        t = float(m.group("time"))
        if st.t0 is None:
            st.t0 = t
        st.t1 = t
        st.events += 1
        st.by_event[name] += 1
        b = int((t - st.t0) / st.width)
        if b >= MAX_FINE_BUCKETS:
            while b >= MAX_FINE_BUCKETS:
                st.width *= 2
                merged: dict[int, list[int]] = {}
                for k, v in fine.items():
                    acc = merged.setdefault(k // 2, [0] * _SLOTS)
                    for i in range(_SLOTS):
                        acc[i] += v[i]
                fine.clear()
                fine.update(merged)
                b = int((t - st.t0) / st.width)
        slot = fine.get(b)
        if slot is None:
            slot = fine[b] = [0] * _SLOTS
        if name == "mm_page_alloc":
            f = _fields(rest)
            order, mt = int(f["order"]), int(f["migratetype"])
            if int(f["pfn"], 16) == 0 and f.get("page", "").startswith(("(nil)", "(null)", "0000")):
                st.failed += 1
                continue
            st.allocs[(order, mt)] += 1
            st.gfp[f["gfp_flags"]] += 1
            slot[group_of[min(order, 10)]] += 1
            slot[4] += 1 << order
        elif name == "mm_page_free":
            f = _fields(rest)
            order = int(f["order"])
            st.frees[order] += 1
            slot[5] += 1 << order
        elif name == "mm_page_alloc_zone_locked":
            f = _fields(rest)
            st.zone_locked[int(f["migratetype"])] += 1
            st.refills += int(f["percpu_refill"])
        elif name == "mm_page_pcpu_drain":
            f = _fields(rest)
            st.drains[int(f["migratetype"])] += 1 << int(f["order"])
        elif name == "mm_page_alloc_extfrag":
            f = _fields(rest)
            st.fallbacks[(int(f["alloc_migratetype"]), int(f["fallback_migratetype"]),
                          int(f["change_ownership"]))] += 1
            slot[6] += 1
        elif name == "kmalloc":
            f = _fields(rest)
            km_n += 1
            km_b += int(f["bytes_alloc"])
    st.kmalloc_bytes = (km_n, km_b)
    st.series = _rebin(st, buckets)
    return st


def _rebin(st: Stats, buckets: int) -> list[dict[str, float]]:
    if st.t0 is None or st.t1 is None:
        return []
    span = max(st.t1 - st.t0, st.width)
    n = max(1, min(buckets, int(span / st.width) + 1))
    w = span / n
    acc = [[0.0] * _SLOTS for _ in range(n)]
    for b, v in st.fine.items():
        i = min(n - 1, int(b * st.width / w))
        for k in range(_SLOTS):
            acc[i][k] += v[k]
    out = []
    net = 0.0
    for i, row_acc in enumerate(acc):
        net += row_acc[4] - row_acc[5]
        row: dict[str, float] = {"t": round(i * w, 6), "width": round(w, 6), "live_pages": net,
               "fallbacks": row_acc[6]}
        for g, (label, _, _) in enumerate(ORDER_GROUPS):
            row[label] = row_acc[g] / w
        out.append(row)
    return out


def render_stats(st: Stats) -> str:
    out = []
    secs = (st.t1 - st.t0) if st.t0 is not None and st.t1 is not None else 0.0
    out.append(f"kmem trace stats: {st.events:,} events over {secs:.3f} s ({st.source}), "
               f"kernel {st.kernel}" + (f", {st.lost:,} events lost" if st.lost else ""))
    out.append("  events: " + ", ".join(f"{n} {c:,}" for n, c in st.by_event.most_common()))
    if st.allocs:
        out.append("")
        out.append("page allocations (mm_page_alloc) by order and migratetype:")
        mts = sorted({m for _, m in st.allocs})
        out.append("  order " + "".join(f"{MIGRATETYPE_NAMES[m] if 0 <= m < 6 else m:>13}"
                                        for m in mts))
        for o in sorted({o for o, _ in st.allocs}):
            out.append(f"  {o:>5} " + "".join(f"{st.allocs.get((o, m), 0):>13,}" for m in mts))
        if st.failed:
            out.append(f"  failed: {st.failed:,}")
    if st.gfp:
        out.append("")
        out.append("gfp masks seen (mm_page_alloc), with their meaning:")
        for text, c in st.gfp.most_common(20):
            mask = _mask_hex(text, st.kernel)
            out.append(f"  {c:>10,}  {text} = {mask or '?'}")
            if mask is not None:
                prof = G.configured_profile(st.kernel,
                                            slab_obj_ext="__GFP_NO_OBJ_EXT" in text)
                flags = G.decode_gfp(int(mask, 16), prof)
                try:
                    zone: object = G.gfp_zone(int(mask, 16), _X86_64).name
                except KmemError:
                    zone = "GFP_ZONE_BAD"
                mt = MIGRATETYPE_NAMES[G.gfp_migratetype(int(mask, 16))]
                out.append(f"              {' '.join(f.name for f in flags)}; "
                           f"{mt}, highest zone {zone}")
    if st.frees:
        out.append("")
        out.append("frees (mm_page_free) by order: " + ", ".join(
            f"{o}: {c:,}" for o, c in sorted(st.frees.items())))
    if st.zone_locked:
        out.append(f"buddy takes under zone->lock (mm_page_alloc_zone_locked): "
                   f"{sum(st.zone_locked.values()):,}, percpu_refill {st.refills:,}; by "
                   f"migratetype " + ", ".join(f"{MIGRATETYPE_NAMES[m]} {c:,}"
                                               for m, c in sorted(st.zone_locked.items())))
    if st.drains:
        out.append("pages drained from per-CPU lists (mm_page_pcpu_drain): " + ", ".join(
            f"{MIGRATETYPE_NAMES[m]} {c:,}" for m, c in sorted(st.drains.items())))
    if st.fallbacks:
        out.append("fallbacks (mm_page_alloc_extfrag): " + ", ".join(
            f"{MIGRATETYPE_NAMES[a]}->{MIGRATETYPE_NAMES[f]} {'claimed' if c else 'stolen'} {n:,}"
            for (a, f, c), n in sorted(st.fallbacks.items())))
    else:
        out.append("fallbacks (mm_page_alloc_extfrag): none")
    if st.kmalloc_bytes[0]:
        out.append(f"kmalloc: {st.kmalloc_bytes[0]:,} calls, {st.kmalloc_bytes[1]:,} bytes "
                   f"allocated")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# the picture
# --------------------------------------------------------------------------------------

def _nice(v: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten >= v (an axis maximum)."""
    if v <= 0:
        return 1.0
    p = 1.0
    while p * 10 <= v:
        p *= 10
    while p > v:
        p /= 10
    for m in (1, 2, 5, 10):
        if m * p >= v:
            return m * p
    return 10 * p


def _num(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def svg(st: Stats) -> str:
    """Three panels over time, laid out as kmem's other pictures (measured monospace text,
    the canvas grows to hold every label): allocation rate per order group, pages allocated
    and not freed since the trace began, and fallback events per bucket."""
    from kmem.commands.vmmap import SVG_FONT_SIZE, SVG_FONTS, text_width

    rows = st.series
    secs = (st.t1 - st.t0) if st.t0 is not None and st.t1 is not None else 0.0
    title = f"kmem trace stats: kernel {st.kernel}, {st.events:,} events over {secs:.3f} s"
    footer = ("allocation rate = mm_page_alloc events per second; live pages = pages "
              "allocated minus pages freed since the trace began")
    panels = [
        ("allocations per second", [label for label, _, _ in ORDER_GROUPS], "line"),
        ("live pages (net since start)", ["live_pages"], "line"),
        ("fallbacks (mm_page_alloc_extfrag)", ["fallbacks"], "bar"),
    ]
    pad, panel_h, gap = 10.0, 130.0, 46.0
    tick_labels = []
    maxima = []
    for _, keys, _ in panels:
        vmax = max((r[k] for r in rows for k in keys), default=0.0)
        vmin = min((r[k] for r in rows for k in keys), default=0.0)
        top = _nice(max(vmax, -vmin, 1.0))
        lo = -top if vmin < 0 else 0.0
        maxima.append((lo, top))
        tick_labels += [_num(top), _num(lo), _num((top + lo) / 2)]
    left = pad + max(text_width(t) for t in tick_labels) + 8
    plot_w = 560.0
    legend = [label for label, _, _ in ORDER_GROUPS]
    legend_w = max(text_width(s) for s in legend) + 30
    canvas_w = int(max(left + plot_w + 16 + legend_w, pad + text_width(title, 14),
                       pad + text_width(footer)) + pad + 0.999)
    top_y = 50.0
    canvas_h = int(top_y + len(panels) * (panel_h + gap) + 30)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{canvas_w}" height="{canvas_h}" '
           f'viewBox="0 0 {canvas_w} {canvas_h}" font-family="{SVG_FONTS}" '
           f'font-size="{SVG_FONT_SIZE}">',
           f"<title>{escape(title)}</title>",
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text class="title" x="{pad}" y="24" font-size="14" font-weight="bold">'
           f"{escape(title)}</text>"]
    n = max(1, len(rows))
    colors = {label: color for label, _, color in ORDER_GROUPS}
    colors["live_pages"] = "#636363"
    colors["fallbacks"] = "#de2d26"
    for p, ((ptitle, keys, kind), (lo, hi)) in enumerate(zip(panels, maxima, strict=True)):
        y0 = top_y + p * (panel_h + gap) + 18
        out.append(f'<text class="name" x="{left}" y="{y0 - 6:.1f}">{escape(ptitle)}</text>')
        out.append(f'<rect class="box" x="{left}" y="{y0:.1f}" width="{plot_w}" '
                   f'height="{panel_h}" fill="none" stroke="black"/>')

        def ypos(v: float, y0: float = y0, lo: float = lo, hi: float = hi) -> float:
            return y0 + panel_h - (v - lo) / (hi - lo) * panel_h

        for v in (lo, (lo + hi) / 2, hi):
            out.append(f'<text class="addr" x="{left - 6}" y="{ypos(v) + 4:.1f}" '
                       f'text-anchor="end">{_num(v)}</text>')
        for key in keys:
            if kind == "bar":
                bw = plot_w / n
                for i, r in enumerate(rows):
                    if r[key] > 0:
                        y = ypos(r[key])
                        out.append(f'<rect x="{left + i * bw:.1f}" y="{y:.1f}" '
                                   f'width="{max(bw - 1, 1):.1f}" height="{ypos(0) - y:.1f}" '
                                   f'fill="{colors[key]}"/>')
            else:
                pts = " ".join(f"{left + (i + 0.5) * plot_w / n:.1f},{ypos(r[key]):.1f}"
                               for i, r in enumerate(rows))
                if pts:
                    out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[key]}" '
                               f'stroke-width="1.5"/>')
        yb = y0 + panel_h + 14
        out.append(f'<text class="addr" x="{left}" y="{yb:.1f}">0 s</text>')
        out.append(f'<text class="addr" x="{left + plot_w}" y="{yb:.1f}" text-anchor="end">'
                   f"{secs:.3f} s</text>")
        if p == 0:
            for i, label in enumerate(legend):
                ly = y0 + 14 + i * 16
                lx = left + plot_w + 16
                out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 20}" y2="{ly - 4}" '
                           f'stroke="{colors[label]}" stroke-width="2"/>')
                out.append(f'<text class="desc" x="{lx + 26}" y="{ly}">{escape(label)}</text>')
    fy = top_y + len(panels) * (panel_h + gap) + 8
    out.append(f'<text class="footer" x="{pad}" y="{fy:.1f}">{escape(footer)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
