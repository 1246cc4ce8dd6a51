"""Run CrossHair over the spec's contracts, and diffbehavior on the arithmetic twins.

The spec's pure functions carry PEP 316 contracts in their docstrings (``pre:`` and
``post:`` lines). ``crosshair check --analysis_kind PEP316`` searches for inputs that
meet the preconditions and break a postcondition; each condition gets a bounded
time. ``crosshair diffbehavior`` searches for an input on which the bit formula and
its plain-arithmetic twin differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import kmem.spec

#: spec modules whose contracts are checked
CONTRACT_MODULES = ("buddy", "gfp", "watermarks", "x86_fault", "x86_32_layout")
#: (bit formula, plain twin) pairs that must behave the same (on their domain: see
#: kmem.proofs.crosshair_targets)
TWINS = (("kmem.proofs.crosshair_targets.find_buddy_bits",
          "kmem.proofs.crosshair_targets.find_buddy_plain"),
         ("kmem.proofs.crosshair_targets.combined_bits",
          "kmem.proofs.crosshair_targets.combined_plain"))


#: CrossHair's advice that names its own options; kmem prove says it in its own terms
_ADVICE = {
    "Consider increasing the --max_uninteresting_iterations option.":
        "(diffbehavior stopped after {diff_iterations} iterations that found nothing new; "
        "search longer with kmem prove --crosshair --diff-iterations N)",
}


@dataclass(frozen=True)
class CrossHairRun:
    """One CrossHair process to run: what it checks, its arguments and time limit."""

    what: str
    argv: tuple[str, ...]
    timeout_s: float


@dataclass
class CrossHairReport:
    """What CrossHair said: the commands run, their output, and whether all were clean."""

    runs: list[tuple[str, int, str]] = field(default_factory=list)  # (what, exit status, output)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(rc == 0 for _, rc, _ in self.runs)

    def text(self) -> str:
        lines = []
        for what, rc, out in self.runs:
            lines.append(format_run(what, rc, out))
        lines.append(summary_line(self))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "total_seconds": round(self.seconds, 3),
                "runs": [{"what": what, "exit_status": rc, "clean": rc == 0,
                          "output": out.strip().splitlines()} for what, rc, out in self.runs]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def format_run(what: str, rc: int, out: str) -> str:
    """One run's heading (clean or FAILED) and its output, indented."""
    lines = [f"{what}: {'clean' if rc == 0 else f'FAILED (exit {rc})'}"]
    lines.extend(f"    {line}" for line in out.strip().splitlines())
    return "\n".join(lines)


def summary_line(report: CrossHairReport) -> str:
    return ("CrossHair: no counterexamples" if report.ok else "CrossHair: counterexamples found"
            ) + f" ({len(report.runs)} runs, {report.seconds:.1f}s wall time)"


def _translate(out: str, diff_iterations: int) -> str:
    lines = []
    for line in out.splitlines():
        advice = _ADVICE.get(line.strip())
        lines.append(advice.format(diff_iterations=diff_iterations) if advice else line)
    return "\n".join(lines)


def _start(argv: tuple[str, ...]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "crosshair", *argv], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def _crosshair(*argv: str, timeout_s: float) -> tuple[int, str]:
    proc = _start(argv)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return 124, f"timed out after {timeout_s:g} s"
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, out


def spec_files(modules: tuple[str, ...] = CONTRACT_MODULES) -> list[str]:
    """The spec modules' source files (they exist; the list is filtered for safety)."""
    root = Path(kmem.spec.__file__).parent
    return [str(root / f"{m}.py") for m in modules if (root / f"{m}.py").exists()]


class _Active:
    """A running CrossHair process, its output read by a thread so the pipe never fills."""

    def __init__(self, run: CrossHairRun) -> None:
        self.run = run
        self.started = time.monotonic()
        self.proc = _start(run.argv)
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self.output.append(self.proc.stdout.read())

    def poll(self, diff_iterations: int) -> tuple[int, str] | None:
        """(exit status, output) once finished or timed out (then killed); else None."""
        if self.proc.poll() is None:
            if time.monotonic() - self.started < self.run.timeout_s:
                return None
            self.kill()
            return 124, f"timed out after {self.run.timeout_s:g} s"
        self.reader.join(10)
        return self.proc.returncode, _translate("".join(self.output), diff_iterations)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.reader.join(10)


def plan(per_condition_timeout: float = 4.0, modules: tuple[str, ...] = CONTRACT_MODULES,
         twins: tuple[tuple[str, str], ...] = TWINS, diff_iterations: int = 40,
         pattern: str | None = None) -> list[CrossHairRun]:
    """The CrossHair runs: ``crosshair check`` of each module's PEP 316 contracts, then
    ``diffbehavior`` of each twin; with ``pattern``, only runs whose description
    contains it (case-insensitive)."""
    runs = []
    for module, path in zip(modules, spec_files(modules), strict=False):
        runs.append(CrossHairRun(
            f"crosshair check kmem.spec.{module}",
            ("check", "--analysis_kind", "PEP316", "--per_condition_timeout",
             str(per_condition_timeout), path),
            max(120.0, 30 * per_condition_timeout)))
    for a, b in twins:
        runs.append(CrossHairRun(
            f"crosshair diffbehavior {a} {b}",
            ("diffbehavior", "--max_uninteresting_iterations", str(diff_iterations),
             "--per_path_timeout", "2", a, b), 120.0))
    if pattern:
        runs = [r for r in runs if pattern.lower() in r.what.lower()]
    return runs


def run_crosshair(per_condition_timeout: float = 4.0, modules: tuple[str, ...] = CONTRACT_MODULES,
                  twins: tuple[tuple[str, str], ...] = TWINS,
                  diff_iterations: int = 40, *, pattern: str | None = None, jobs: int = 1,
                  on_result: Callable[[str, int, str], None] | None = None,
                  on_running: Callable[[list[str]], None] | None = None) -> CrossHairReport:
    """Run the :func:`plan` (``jobs`` CrossHair processes at a time) and collect the report.

    ``on_result(what, exit status, output)`` is called as each run finishes,
    ``on_running(whats)`` when the set of running checks changes. On any exception
    in the caller (Ctrl-C) the CrossHair processes are killed.
    """
    started = time.perf_counter()
    todo = plan(per_condition_timeout, modules, twins, diff_iterations, pattern)
    done: dict[str, tuple[int, str]] = {}
    active: dict[str, _Active] = {}
    try:
        queue = list(todo)
        while queue or active:
            while queue and len(active) < max(1, jobs):
                run = queue.pop(0)
                active[run.what] = _Active(run)
                if on_running:
                    on_running(list(active))
            time.sleep(0.05)
            for what, act in list(active.items()):
                result = act.poll(diff_iterations)
                if result is None:
                    continue
                del active[what]
                done[what] = result
                if on_result:
                    on_result(what, *result)
                if on_running and (active or queue):
                    on_running(list(active))
    except BaseException:
        for act in active.values():
            act.kill()
        raise
    report = CrossHairReport(seconds=time.perf_counter() - started)
    report.runs = [(run.what, *done[run.what]) for run in todo]
    return report
