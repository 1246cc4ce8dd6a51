"""``kmem prove``: run the z3 proof obligations (and optionally CrossHair) over the spec."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kmem.progress import Progress
from kmem.spec.errors import InvalidArgument

from ._args import int_arg, seconds_arg

HELP = "run the proof obligations of the spec (z3; --crosshair for the contract check)"
DESCRIPTION = (
    "Run the named proof obligations of kmem.spec with z3 and print one row per obligation "
    "as it finishes: proved, refuted (with a counterexample), or unknown (a failure). Exits "
    "0 only if every obligation holds (an expected refutation holds). z3 is limited by its "
    "deterministic resource count (rlimit), not by wall time, so the verdicts do not depend "
    "on the machine's load. Needs the proofs "
    "extra: pip install 'kmem[proofs]'."
)
INSTALL_HINT = ("needs the z3 solver and CrossHair: install them with "
                "pip install 'kmem[proofs]'")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", dest="pattern", metavar="PATTERN",
                        help="only obligations (with --crosshair: checks) whose name "
                             "contains PATTERN")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--timeout", type=seconds_arg("--timeout"), default=600.0, metavar="S",
                        help="wall-clock guard of last resort per obligation in seconds "
                             "(default 600): the verdicts come from z3's deterministic "
                             "resource budget, the same at any load; a proof the guard "
                             "stops is reported 'not decided'")
    parser.add_argument("-j", "--jobs", type=int_arg("--jobs", 1), default=None, metavar="N",
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--list", action="store_true", help="list the obligations and exit")
    parser.add_argument("--crosshair", action="store_true",
                        help="run the CrossHair contract check of the spec instead")
    parser.add_argument("--per-condition-timeout", type=seconds_arg("--per-condition-timeout"),
                        default=4.0, metavar="S",
                        help="CrossHair's time per contract (with --crosshair; default 4)")
    parser.add_argument("--diff-iterations", type=int_arg("--diff-iterations", 1), default=40,
                        metavar="N",
                        help="CrossHair diffbehavior: stop after N iterations that find "
                             "nothing new (with --crosshair; default 40)")


def _check_json_path(path: str | None) -> Path | None:
    """Refuse an unwritable --json path before any work is done."""
    if path is None:
        return None
    target = Path(path)
    if path == "" or target.is_dir():
        raise InvalidArgument(f"--json {path!r} is not a file name")
    existed = target.exists()
    try:
        with open(target, "a", encoding="utf-8"):  # opens for writing, changes nothing
            pass
    except OSError as exc:
        raise InvalidArgument(f"cannot write --json {path}: {exc.strerror}") from None
    if not existed:
        target.unlink()
    return target


def _write_json(target: Path | None, text: str) -> None:
    if target is None:
        return
    try:
        target.write_text(text + "\n")
    except OSError as exc:
        raise InvalidArgument(f"cannot write --json {target}: {exc.strerror}") from None


def _run_crosshair(args: argparse.Namespace, json_path: Path | None) -> int:
    from kmem.proofs import crosshair_check

    runs = crosshair_check.plan(args.per_condition_timeout, diff_iterations=args.diff_iterations,
                                pattern=args.pattern)
    if not runs:
        raise InvalidArgument(f"no CrossHair check matches {args.pattern!r}")
    if args.list:
        for run in runs:
            print(run.what)
        return 0
    jobs = args.jobs or os.cpu_count() or 1
    with Progress("kmem prove --crosshair", total=len(runs), unit="checks") as progress:
        def finished(what: str, rc: int, out: str) -> None:
            progress.emit(crosshair_check.format_run(what, rc, out))
            progress.advance()

        report = crosshair_check.run_crosshair(
            args.per_condition_timeout, diff_iterations=args.diff_iterations,
            pattern=args.pattern, jobs=jobs, on_result=finished,
            on_running=lambda whats: progress.start(", ".join(whats)))
    print(crosshair_check.summary_line(report))
    _write_json(json_path, report.to_json())
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    try:
        import z3  # noqa: F401

        from kmem.proofs import suite
    except ImportError:
        print(f"kmem prove: {INSTALL_HINT}", file=sys.stderr)
        return 2
    json_path = _check_json_path(args.json)
    if args.crosshair:
        try:
            import crosshair  # noqa: F401
        except ImportError:
            print(f"kmem prove: {INSTALL_HINT}", file=sys.stderr)
            return 2
        return _run_crosshair(args, json_path)
    chosen = suite.select(suite.all_obligations(), args.pattern)
    if not chosen:
        raise InvalidArgument(f"no obligation matches {args.pattern!r}")
    if args.list:
        for ob in chosen:
            print(f"{ob.name}: {ob.claim}")
        return 0
    width = suite.table_width([ob.name for ob in chosen])
    print(suite.format_header(width), flush=True)
    with Progress("kmem prove", total=len(chosen), unit="obligations") as progress:
        def finished(result: suite.Result) -> None:
            progress.emit(suite.format_row(result, width))
            progress.advance()

        results, total = suite.run_suite(
            args.pattern, args.timeout, args.jobs, on_result=finished,
            on_running=lambda names: progress.start(", ".join(names)))
    print(suite.format_summary(results, total, width))
    _write_json(json_path, suite.to_json(results, total))
    return 0 if all(r.ok for r in results) else 1
