"""The text of a ``kmem trace check`` report."""

from __future__ import annotations

from .check import RULES, Report


def render_check(rep: Report) -> str:
    out = []
    rate = rep.events / rep.seconds if rep.seconds > 0 else 0.0
    out.append(f"kmem trace check: {rep.events:,} events ({rep.fmt or 'no'} format, "
               f"{rep.source}), kernel {rep.kernel}, {len(RULES)} rules, "
               f"{rep.seconds:.1f} s ({rate:,.0f} events/s)")
    if rep.by_event:
        out.append("  events: " + ", ".join(f"{name} {count:,}" for name, count in
                                            sorted(rep.by_event.items(), key=lambda kv: -kv[1])))
    if rep.raw_gfp_checked:
        out.append(f"  raw gfp masks compared with their text: {rep.raw_gfp_checked:,}")
    if rep.failed_allocs:
        out.append(f"  failed allocations (pfn none): {rep.failed_allocs:,}")
    if rep.lost_records:
        out.append(f"  lost: {rep.lost_events:,} events in {rep.lost_records} records; page "
                   f"tracking restarted {rep.tracking_resets} times")
    else:
        out.append("  lost: none reported")
    if rep.unknown_caches:
        out.append(f"  kmem_cache_alloc of caches not in the recorded geometry: "
                   f"{rep.unknown_caches:,}")
    anomalies = sum(r.anomalies for r in rep.rules.values())
    if anomalies:
        out.append(f"  page-tracking anomalies: {anomalies:,} (not failed on: the kernel has "
                   "allocation and free paths that fire no tracepoint; --strict-tracking for a "
                   "trace known to be complete)")
    for note in rep.notes:
        out.append(f"  note: {note}")
    out.append("")
    width = max(len(name) for name in RULES)
    for name, r in rep.rules.items():
        status = "ok" if r.findings == 0 else f"{r.findings:,} FINDINGS"
        if r.anomalies:
            status += f" ({r.anomalies:,} anomalies)"
        if r.checked == 0 and r.findings == 0:
            status = "not checked (no such events or data)"
        extra = f", {r.withdrawn:,} withdrawn after lost events" if r.withdrawn else ""
        out.append(f"  {name:<{width}}  {r.checked:>12,} checked  {status}{extra}")
    for name, r in rep.rules.items():
        for i, f in enumerate(r.examples, 1):
            out.append("")
            kind, total = ("FINDING", r.findings) if r.findings else ("ANOMALY", r.anomalies)
            out.append(f"{kind} [{name}] {i} of {total}: {f.detail}")
            out.append(f"  rule: {RULES[name]}")
            out.append(f"  expected: {f.expected}")
            out.append(f"  line {f.line_no}: {f.line.strip()}")
            for no in f.related:
                text = f.related_lines.get(no)
                out.append(f"  led to by line {no}: {text.strip() if text else '(not kept)'}")
    out.append("")
    out.append("clean" if rep.findings == 0 else f"{rep.findings:,} findings")
    return "\n".join(out) + "\n"
