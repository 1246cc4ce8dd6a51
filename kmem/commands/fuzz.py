"""``kmem fuzz``: a time-boxed differential fuzzing campaign (see :mod:`kmem.fuzz.campaign`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kmem.spec.errors import InvalidArgument

from ._args import int_arg, seconds_arg


def _fraction(text: str) -> float:
    """An argparse ``type=`` for --bulk-share: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot read --bulk-share {text!r}; expected a "
                                         f"number from 0 to 1 such as 0.5") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--bulk-share must be from 0 to 1, got {text!r}")
    return value


def _seconds_or_zero(text: str) -> float:
    """An argparse ``type=`` for --shrink-seconds: 0 (no shrinking) or more seconds."""
    return 0.0 if text.strip() in ("0", "0.0") else seconds_arg("--shrink-seconds")(text)

HELP = "differential fuzzing of the implementations against the spec and each other"
DESCRIPTION = (
    "Run the differential state machine (Hypothesis) and the seeded bulk runner against the "
    "implementations named by --impl for --time seconds. Prints live progress (examples, "
    "steps, checked operations per second, distinct events), the seed, and on failure the "
    "minimal reproducer, which is saved to the regression corpus; exits 1 on failure.")


INSTALL_HINT = ("needs Hypothesis (the fuzz extra): install it with "
                "pip install 'kmem[fuzz]'")


def default_corpus(cwd: Path | None = None) -> str:
    """tests/fuzz_corpus in a kmem checkout (the test run replays it), else ./kmem-fuzz-corpus.

    A checkout is a directory whose pyproject.toml names the project kmem and that holds
    tests/fuzz_corpus: another project's tests/ directory is not ours to write into.
    """
    here = cwd or Path.cwd()
    try:
        meta = (here / "pyproject.toml").read_text(errors="replace")
    except OSError:
        meta = ""
    ours = 'name = "kmem"' in meta and (here / "tests" / "fuzz_corpus").is_dir()
    return "tests/fuzz_corpus" if ours else "kmem-fuzz-corpus"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time", type=seconds_arg("--time"), default=60.0, metavar="S",
                        help="seconds to run (default 60)")
    parser.add_argument("--seed", type=int_arg("--seed", 0), default=None, metavar="N",
                        help="campaign seed (default: random, printed)")
    parser.add_argument("--workers", type=int_arg("--workers", 1), default=1, metavar="K",
                        help="worker processes sharing one example database (default 1)")
    parser.add_argument("--impl", default=None, metavar="LIST",
                        help="implementations: model,fast,mutant:NAME,module:attr; NAME@policy "
                             "for one policy (default: model and, when built, fast)")
    parser.add_argument("--db", default=None, metavar="PATH|redis://HOST:PORT/N",
                        help="Hypothesis example database shared by the workers")
    parser.add_argument("--corpus", default=None, metavar="DIR",
                        help="where a failure is saved (default tests/fuzz_corpus in a checkout)")
    parser.add_argument("--no-stateful", action="store_true", help="bulk runner only")
    parser.add_argument("--no-bulk", action="store_true", help="state machine only")
    parser.add_argument("--no-path", action="store_true",
                        help="skip the whole-path stage (migratetypes, per-CPU lists, NUMA)")
    parser.add_argument("--bulk-share", type=_fraction, default=0.5, metavar="F",
                        help="share of the time for the bulk runner (default 0.5)")
    parser.add_argument("--shrink-seconds", type=_seconds_or_zero, default=30.0, metavar="S",
                        help="time limit for shrinking a failure (default 30; 0: no shrinking)")
    parser.add_argument("--no-sweep", action="store_true",
                        help="skip the deterministic opening sweep (Hypothesis from the start)")
    parser.add_argument("--replay", metavar="FILE", default=None,
                        help="replay one regression-corpus entry and exit")
    parser.add_argument("--list-mutants", action="store_true",
                        help="list the planted-bug mutants and exit")


def run(args: argparse.Namespace) -> int:
    if args.list_mutants:
        from kmem.fuzz.mutants import MUTANTS
        from kmem.fuzz.mutants.path import PATH_MUTANTS

        for name, description in [*((m.name, m.description) for m in MUTANTS.values()),
                                  *((m.name, m.description) for m in PATH_MUTANTS.values())]:
            print(f"mutant:{name:30s} {description}")
        return 0
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        print(f"kmem fuzz: {INSTALL_HINT}", file=sys.stderr)
        return 2
    if args.replay:
        from kmem.fuzz.campaign import replay_entry
        from kmem.fuzz.check import read_json_file

        entry = read_json_file(args.replay, "corpus entry")
        if not isinstance(entry, dict) or not ("trace" in entry or "ops" in entry):
            raise InvalidArgument(f"{args.replay!r} is not a kmem fuzz corpus entry (it needs "
                                  "'trace', or 'config' and 'ops')")
        try:
            replay_entry(entry, args.impl)
        except Exception as exc:  # a divergence, or an implementation that crashes on it
            print(f"kmem fuzz: {args.replay} fails: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 1
        print(f"kmem fuzz: {args.replay} replays clean")
        return 0
    from kmem.fuzz.campaign import run_campaign

    res = run_campaign(seconds=args.time, seed=args.seed, workers=args.workers,
                       impls=args.impl, db=args.db, corpus=args.corpus or default_corpus(),
                       stateful=not args.no_stateful, bulk=not args.no_bulk,
                       path=not args.no_path,
                       shrink_seconds=args.shrink_seconds, bulk_share=args.bulk_share,
                       sweep=not args.no_sweep)
    return 0 if res.ok else 1
