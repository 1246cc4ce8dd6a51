"""``kmem prove``: run the z3 proof obligations (and optionally CrossHair) over the spec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "run the proof obligations of the spec (z3; --crosshair for the contract check)"
DESCRIPTION = (
    "Run the named proof obligations of kmem.spec with z3 and print one row per obligation: "
    "proved, refuted (with a counterexample), or unknown (a failure). Exits 0 only if every "
    "obligation holds (an expected refutation holds). Needs the proofs extra: "
    "pip install 'kmem[proofs]'."
)
INSTALL_HINT = ("kmem prove needs the z3 solver and CrossHair: install them with "
                "pip install 'kmem[proofs]'")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", dest="pattern", metavar="PATTERN",
                        help="only obligations whose name contains PATTERN")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="time budget of each obligation in seconds (default 60)")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--list", action="store_true", help="list the obligations and exit")
    parser.add_argument("--crosshair", action="store_true",
                        help="run the CrossHair contract check of the spec instead")
    parser.add_argument("--per-condition-timeout", type=float, default=4.0, metavar="S",
                        help="CrossHair's time per contract (with --crosshair; default 4)")


def run(args: argparse.Namespace) -> int:
    try:
        import z3  # noqa: F401

        from kmem.proofs import crosshair_check, suite
    except ImportError:
        print(f"kmem prove: {INSTALL_HINT}", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("kmem prove: --timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.crosshair:
        report = crosshair_check.run_crosshair(args.per_condition_timeout)
        print(report.text())
        return 0 if report.ok else 1
    chosen = suite.select(suite.all_obligations(), args.pattern)
    if not chosen:
        print(f"kmem prove: no obligation matches {args.pattern!r}", file=sys.stderr)
        return 2
    if args.list:
        for ob in chosen:
            print(f"{ob.name}: {ob.claim}")
        return 0
    results, total = suite.run_suite(args.pattern, args.timeout, args.jobs)
    print(suite.format_table(results, total))
    if args.json:
        Path(args.json).write_text(suite.to_json(results, total) + "\n")
    return 0 if all(r.ok for r in results) else 1
