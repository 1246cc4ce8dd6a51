"""The proof suite: every obligation, a runner that spreads them over the CPUs, and reports."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any

from . import (
    alloc_2611,
    alloc_path,
    buddy_arith,
    buddy_invariants,
    fastimpl_bitmap,
    fault,
    gfp,
    scaled,
)
from . import slab as slab_proofs
from .core import DEFAULT_RLIMIT, DEFAULT_WALL_GUARD_S, Obligation, Result, Status, run_obligation

#: the wall-clock guard of last resort per obligation (the verdicts come from z3's
#: deterministic resource budget, :data:`kmem.proofs.core.DEFAULT_RLIMIT`)
DEFAULT_TIMEOUT_S = DEFAULT_WALL_GUARD_S

#: obligations known to take longest go first, so that the workers finish together
_HEAVY_FIRST = ("buddy.inductive.free", "2611.inductive.free", "buddy.inductive.alloc-block", "buddy.inductive.alloc",
                "buddy.small-scope.alloc-block", "buddy.small-scope.free", "fault.handler-total",
                "buddy.small-scope.alloc")


def all_obligations() -> list[Obligation]:
    """Every obligation of the suite, in report order."""
    return [*buddy_arith.obligations(), *buddy_invariants.obligations(), *scaled.obligations(),
            *gfp.obligations(), *fault.obligations(),
            *slab_proofs.obligations(), *alloc_path.obligations(),
            *fastimpl_bitmap.obligations(), *alloc_2611.obligations()]


def select(obligations: list[Obligation], pattern: str | None) -> list[Obligation]:
    """Obligations whose name contains ``pattern`` (case-insensitive); all for None."""
    if not pattern:
        return obligations
    return [ob for ob in obligations if pattern.lower() in ob.name.lower()]


def _run_named(name: str, timeout_s: float, rlimit: int = DEFAULT_RLIMIT) -> Result:
    ob = next(o for o in all_obligations() if o.name == name)
    return run_obligation(ob, timeout_s, rlimit)


def _child(name: str, timeout_s: float, rlimit: int, conn: Any) -> None:
    """One obligation in a fresh process; the result goes back through ``conn``."""
    # Ctrl-C reaches every process of the terminal's foreground group: the children
    # leave it to the parent, which stops them (no traceback from each)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    conn.send(_run_named(name, timeout_s, rlimit))
    conn.close()


def run_suite(pattern: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
              jobs: int | None = None, *, rlimit: int = DEFAULT_RLIMIT,
              on_result: Callable[[Result], None] | None = None,
              on_running: Callable[[list[str]], None] | None = None,
              ) -> tuple[list[Result], float]:
    """Run the selected obligations (``jobs`` processes; default: one per CPU) and return
    their results in report order with the total wall time.

    ``rlimit``: each obligation's budget of z3 resource units (the verdict's only limit);
    ``timeout_s``: the wall-clock guard of last resort (a proof it stops is not decided).
    ``on_result(result)`` is called as each obligation finishes (in finishing order),
    ``on_running(names)`` whenever the set of obligations being worked on changes.
    An exception in the caller's thread (Ctrl-C) stops the workers at once.
    """
    chosen = select(all_obligations(), pattern)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(chosen) or 1))
    report = on_result or (lambda _r: None)
    running = on_running or (lambda _names: None)
    started = time.perf_counter()
    results: dict[str, Result] = {}
    # every obligation runs in a fresh process (at most ``jobs`` at a time): z3 counts
    # its resource units per context, and what an earlier obligation left in a shared
    # context changes the count, so a fresh context makes each count, and with it the
    # verdict under the budget, the same whatever ran before and however loaded
    order = [ob.name for ob in sorted(chosen, key=lambda ob: next(
        (i for i, h in enumerate(_HEAVY_FIRST) if ob.name == h), len(_HEAVY_FIRST)))]
    ctx = get_context("fork")
    todo = list(order)
    live: dict[Any, tuple[str, Any]] = {}  # connection -> (obligation, process)
    try:
        while todo or live:
            while todo and len(live) < jobs:
                name = todo.pop(0)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(name, timeout_s, rlimit, send),
                                   daemon=True)
                # a child forked while Ctrl-C arrives must not take it before it ignores
                # it: SIGINT stays blocked across the fork (the child unblocks it)
                # (and the child is in ``live`` before a pending Ctrl-C can strike, so
                # that the cleanup below kills it too)
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    proc.start()
                    live[recv] = (name, proc)
                    send.close()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                running([n for n, _ in live.values()])
            for conn in wait(list(live), timeout=0.5):
                name, proc = live.pop(conn)
                try:
                    result = conn.recv()
                except EOFError:  # the child died without a word
                    proc.join(5)
                    ob = next(o for o in chosen if o.name == name)
                    result = Result(ob.name, ob.area, ob.claim, Status.ERROR, 0.0,
                                    detail=f"the proof process died (exit status "
                                           f"{proc.exitcode})")
                conn.close()
                proc.join(5)
                results[name] = result
                report(result)
                if live or todo:
                    running([n for n, _ in live.values()])
    finally:
        for _conn, (_name, proc) in live.items():
            proc.kill()
        for _conn, (_name, proc) in live.items():
            proc.join(5)
    return [results[ob.name] for ob in chosen], time.perf_counter() - started


def table_width(names: list[str]) -> int:
    """The width of the obligation column for these names."""
    return max([len(n) for n in names] + [10])


def format_header(width: int) -> str:
    """The table's heading and rule."""
    return f"{'obligation':<{width}}  {'result':<26}  {'time':>8}\n" + "-" * (width + 38)


def format_row(r: Result, width: int) -> str:
    """One obligation's row, with its counterexample or detail underneath."""
    lines = [f"{r.name:<{width}}  {r.status.value:<26}  {r.seconds:>7.2f}s"]
    if r.counterexample:
        lines.append(f"    counterexample: {r.counterexample}")
    if r.detail:
        lines.append(f"    {r.detail}")
    return "\n".join(lines)


def format_summary(results: list[Result], total_s: float, width: int) -> str:
    """The rule and the closing line: how many hold, the wall and CPU time, what failed,
    and (apart: not a verdict) what the wall-clock guard left undecided."""
    undecided = [r for r in results if r.status is Status.NOT_DECIDED]
    failed = [r for r in results if not r.ok and r.status is not Status.NOT_DECIDED]
    cpu = sum(r.cpu_seconds for r in results)
    return ("-" * (width + 38) + "\n"
            f"{len(results) - len(failed) - len(undecided)} of {len(results)} obligations hold "
            f"({sum(r.status is Status.EXPECTED_REFUTATION for r in results)} expected "
            f"refutations) in {total_s:.2f}s wall time ({cpu:.1f}s CPU, "
            f"{sum(r.rlimit for r in results) / 1e6:,.0f}M z3 resource units)"
            + (f"; FAILED: {', '.join(r.name for r in failed)}" if failed else "")
            + (f"; NOT DECIDED (the wall-clock guard stopped them; not a verdict): "
               f"{', '.join(r.name for r in undecided)}" if undecided else ""))


def format_table(results: list[Result], total_s: float) -> str:
    """The report: one row per obligation, counterexamples under their row, and a summary."""
    width = table_width([r.name for r in results])
    return "\n".join([format_header(width), *(format_row(r, width) for r in results),
                      format_summary(results, total_s, width)])


def to_json(results: list[Result], total_s: float) -> str:
    """The results as JSON: obligations with status, time and counterexample, and a summary."""
    return json.dumps({"total_seconds": round(total_s, 3), "ok": all(r.ok for r in results),
                       "obligations": [r.as_dict() for r in results]}, indent=2)
