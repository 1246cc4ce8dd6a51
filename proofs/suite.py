"""The proof suite: every obligation, a runner that spreads them over the CPUs, and reports."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from . import buddy_arith, buddy_invariants, fault, gfp, scaled
from . import slab as slab_proofs
from .core import Obligation, Result, run_obligation

DEFAULT_TIMEOUT_S = 60.0

#: obligations known to take longest go first, so that the workers finish together
_HEAVY_FIRST = ("buddy.inductive.free", "buddy.inductive.alloc-block", "buddy.inductive.alloc",
                "buddy.small-scope.alloc-block", "buddy.small-scope.free", "fault.handler-total",
                "buddy.small-scope.alloc")


def all_obligations() -> list[Obligation]:
    """Every obligation of the suite, in report order."""
    return [*buddy_arith.obligations(), *buddy_invariants.obligations(), *scaled.obligations(),
            *gfp.obligations(), *fault.obligations(),
            *slab_proofs.obligations()]


def select(obligations: list[Obligation], pattern: str | None) -> list[Obligation]:
    """Obligations whose name contains ``pattern`` (case-insensitive); all for None."""
    if not pattern:
        return obligations
    return [ob for ob in obligations if pattern.lower() in ob.name.lower()]


def _run_named(name: str, timeout_s: float) -> Result:
    ob = next(o for o in all_obligations() if o.name == name)
    return run_obligation(ob, timeout_s)


def run_suite(pattern: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
              jobs: int | None = None) -> tuple[list[Result], float]:
    """Run the selected obligations (``jobs`` processes; default: one per CPU) and return
    their results in report order with the total wall time."""
    chosen = select(all_obligations(), pattern)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(chosen) or 1))
    started = time.perf_counter()
    if jobs == 1:
        results = {ob.name: run_obligation(ob, timeout_s) for ob in chosen}
    else:
        order = sorted(chosen, key=lambda ob: next(
            (i for i, h in enumerate(_HEAVY_FIRST) if ob.name == h), len(_HEAVY_FIRST)))
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            futures = {ob.name: pool.submit(_run_named, ob.name, timeout_s) for ob in order}
            results = {name: f.result() for name, f in futures.items()}
    return [results[ob.name] for ob in chosen], time.perf_counter() - started


def format_table(results: list[Result], total_s: float) -> str:
    """The report: one row per obligation, counterexamples under their row, and a summary."""
    width = max([len(r.name) for r in results] + [10])
    lines = [f"{'obligation':<{width}}  {'result':<26}  {'time':>8}", "-" * (width + 38)]
    for r in results:
        lines.append(f"{r.name:<{width}}  {r.status.value:<26}  {r.seconds:>7.2f}s")
        if r.counterexample:
            lines.append(f"    counterexample: {r.counterexample}")
        if r.detail:
            lines.append(f"    {r.detail}")
    failed = [r for r in results if not r.ok]
    lines.append("-" * (width + 38))
    lines.append(f"{len(results) - len(failed)} of {len(results)} obligations hold "
                 f"({sum(r.status.name == 'EXPECTED_REFUTATION' for r in results)} expected "
                 f"refutations) in {total_s:.2f}s wall time"
                 + (f"; FAILED: {', '.join(r.name for r in failed)}" if failed else ""))
    return "\n".join(lines)


def to_json(results: list[Result], total_s: float) -> str:
    """The results as JSON: obligations with status, time and counterexample, and a summary."""
    return json.dumps({"total_seconds": round(total_s, 3), "ok": all(r.ok for r in results),
                       "obligations": [r.as_dict() for r in results]}, indent=2)
