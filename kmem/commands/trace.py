"""``kmem trace``: record this kernel's kmem tracepoints, check a trace against the spec of
its kernel version, or summarise what the kernel did."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kmem.spec.errors import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kmem.trace.meta import TraceMeta

HELP = "record the running kernel's page/slab tracepoints, check them against the spec, stats"
DESCRIPTION = (
    "kmem trace record [--seconds S] [--events page|slab|all] [-o DIR]: record with perf (or "
    "tracefs where perf is missing), saving what a check needs beside the events. "
    "kmem trace check PATH [--json]: check a recording, perf.data, or the text of perf "
    "script, trace-cmd report or tracefs trace/trace_pipe (detected; gzip or plain; '-' for "
    "stdin) against the spec of its kernel. Exit 0 clean, 1 findings, 2 unreadable input. "
    "kmem trace stats PATH [--svg FILE]: allocations per order and migratetype, gfp masks, "
    "frees, pcp refills and drains, fallbacks, and a picture over time.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="trace_command", metavar="ACTION")
    sub.required = True
    rec = sub.add_parser("record", help="record the kmem tracepoints of this machine")
    rec.add_argument("--seconds", type=float, default=5.0, metavar="S",
                     help="how long to record (default 5)")
    rec.add_argument("--events", choices=("page", "slab", "all"), default="all",
                     help="which tracepoints (default all)")
    rec.add_argument("-o", "--output", metavar="DIR", default=None,
                     help="the recording directory (default kmem-trace-<date>)")
    rec.add_argument("--tool", choices=("auto", "perf", "tracefs"), default="auto",
                     help="record with perf, or tracefs directly (default: perf if installed)")
    rec.add_argument("--keep-perf-data", action="store_true",
                     help="also keep perf.data (large)")
    for name, helptext in (("check", "check a trace against the spec"),
                           ("stats", "what the kernel did, in numbers and a picture")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("path", metavar="PATH",
                       help="a kmem recording directory, a perf.data file, or trace text "
                            "(perf script, trace-cmd report, tracefs trace/trace_pipe; '-': stdin)")
        p.add_argument("--kernel", metavar="VERSION", default=None,
                       help="the traced kernel's version (uname -r) for plain text")
        p.add_argument("--zoneinfo", metavar="FILE", default=None,
                       help="a copy of the traced machine's /proc/zoneinfo, for plain text")
        p.add_argument("--json", action="store_true", help="print JSON")
        if name == "stats":
            p.add_argument("--svg", metavar="FILE", default=None, help="also write a picture")
            p.add_argument("--buckets", type=int, default=60,
                           help="time buckets of the picture (default 60)")
        else:
            p.add_argument("--examples", type=int, default=5,
                           help="examples kept per rule (default 5)")
            p.add_argument("--strict-tracking", action="store_true",
                           help="fail on page-tracking violations (double-alloc, free-order, "
                                "free-list-live) too: for traces known to hold every "
                                "allocation and free; by default they are reported as "
                                "anomalies, because real kernels allocate and free some "
                                "pages without a tracepoint")


def _open(args: argparse.Namespace) -> tuple[TraceMeta, Callable[[], Iterator[str]], bool]:
    from kmem.trace import meta as M
    from kmem.trace import reader as R

    path = Path(args.path)
    if args.path != "-" and not path.exists():
        raise InvalidArgument(f"{args.path}: no such file or directory")
    if M.is_recording(path):
        if args.kernel or args.zoneinfo:
            raise InvalidArgument("--kernel and --zoneinfo are for plain text; a recording "
                                  "carries its own")
        meta, events = M.load_recording(path)
        return meta, (lambda: R.text_lines(events)), True
    if path.is_dir():
        raise InvalidArgument(f"{path}: a directory without meta.json is no kmem recording")
    zoneinfo = Path(args.zoneinfo) if args.zoneinfo else None
    perf_data = args.path != "-" and R.is_perf_data(path)
    kernel = args.kernel
    if perf_data and kernel is None:
        kernel = R.perf_data_release(path)  # perf records the kernel's release
    meta = M.plain_meta(kernel, zoneinfo)
    if perf_data:
        meta.source = "perf.data"
        return meta, (lambda: R.perf_script_lines(path)), True
    meta.source = "stdin" if args.path == "-" else "text"
    return meta, (lambda: R.text_lines(path)), args.path != "-"


def run(args: argparse.Namespace) -> int:
    if args.trace_command == "record":
        from kmem.trace.record import record

        out = record(seconds=args.seconds, events=args.events, output=args.output,
                     tool=args.tool, keep_perf_data=args.keep_perf_data)
        print(f"recorded to {out}")
        print(f"check it with: kmem trace check {out}")
        return 0
    if args.trace_command == "check":
        return _check(args)
    return _stats(args)


def _check(args: argparse.Namespace) -> int:
    from kmem.spec.errors import KmemError
    from kmem.trace.check import Checker, fill_related
    from kmem.trace.render import render_check

    meta, lines, rereadable = _open(args)
    if args.examples < 0:
        raise InvalidArgument("--examples must be >= 0")
    from kmem.trace.reader import text_lines

    raw = text_lines(meta.raw_gfp) if meta.raw_gfp is not None else None
    checker = Checker(meta, examples=args.examples, strict_tracking=args.strict_tracking,
                      raw_gfp=raw)
    try:
        report = checker.run(lines())
    except (KmemError, ValueError, IndexError) as exc:
        raise InvalidArgument(f"{args.path}: cannot read the trace: {exc}") from None
    if report.fmt is None and report.events == 0:
        raise InvalidArgument(f"{args.path}: no kmem tracepoint events found (expected the "
                              "text of perf script, trace-cmd report or tracefs trace)")
    if rereadable and any(r.examples for r in report.rules.values()):
        fill_related(report, lines())
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=1)
        print()
    else:
        print(render_check(report), end="")
    return 1 if report.findings else 0


def _stats(args: argparse.Namespace) -> int:
    from kmem.spec.errors import KmemError
    from kmem.trace.stats import collect, render_stats, svg

    if args.svg is not None and not args.svg.strip():
        raise InvalidArgument("--svg needs a file name, got ''")
    if args.buckets < 1:
        raise InvalidArgument("--buckets must be >= 1")
    meta, lines, _ = _open(args)
    try:
        st = collect(meta, lines(), buckets=args.buckets)
    except (KmemError, ValueError, IndexError) as exc:
        raise InvalidArgument(f"{args.path}: cannot read the trace: {exc}") from None
    if st.events == 0:
        raise InvalidArgument(f"{args.path}: no kmem tracepoint events found")
    if args.json:
        json.dump(st.to_json(), sys.stdout, indent=1)
        print()
    else:
        print(render_stats(st), end="")
    if args.svg is not None:
        try:
            with open(args.svg, "w", encoding="utf-8") as fh:
                fh.write(svg(st))
        except OSError as exc:
            raise InvalidArgument(f"cannot write {args.svg}: {exc.strerror or exc}") from None
    return 0
