"""Run CrossHair over the spec's contracts, and diffbehavior on the arithmetic twins.

The spec's pure functions carry PEP 316 contracts in their docstrings (``pre:`` and
``post:`` lines). ``crosshair check --analysis_kind PEP316`` searches for inputs that
meet the preconditions and break a postcondition; each condition gets a bounded
time. ``crosshair diffbehavior`` searches for an input on which the bit formula and
its plain-arithmetic twin differ.
"""

from __future__ import annotations

import subprocess
import sys
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


@dataclass
class CrossHairReport:
    """What CrossHair said: the commands run, their output, and whether all were clean."""

    runs: list[tuple[str, int, str]] = field(default_factory=list)  # (what, exit status, output)

    @property
    def ok(self) -> bool:
        return all(rc == 0 for _, rc, _ in self.runs)

    def text(self) -> str:
        lines = []
        for what, rc, out in self.runs:
            lines.append(f"{what}: {'clean' if rc == 0 else f'FAILED (exit {rc})'}")
            lines.extend(f"    {line}" for line in out.strip().splitlines())
        lines.append("CrossHair: no counterexamples" if self.ok else "CrossHair: counterexamples found")
        return "\n".join(lines)


def _crosshair(*argv: str, timeout_s: float) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "crosshair", *argv]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout_s:g} s"
    return done.returncode, done.stdout + done.stderr


def spec_files(modules: tuple[str, ...] = CONTRACT_MODULES) -> list[str]:
    """The spec modules' source files (they exist; the list is filtered for safety)."""
    root = Path(kmem.spec.__file__).parent
    return [str(root / f"{m}.py") for m in modules if (root / f"{m}.py").exists()]


def run_crosshair(per_condition_timeout: float = 4.0, modules: tuple[str, ...] = CONTRACT_MODULES,
                  twins: tuple[tuple[str, str], ...] = TWINS,
                  diff_iterations: int = 40) -> CrossHairReport:
    """``crosshair check`` of the modules' PEP 316 contracts, then diffbehavior on each twin."""
    report = CrossHairReport()
    files = spec_files(modules)
    rc, out = _crosshair("check", "--analysis_kind", "PEP316",
                         "--per_condition_timeout", str(per_condition_timeout), *files,
                         timeout_s=max(120.0, 60 * per_condition_timeout))
    report.runs.append((f"crosshair check ({', '.join(modules)})", rc, out))
    for a, b in twins:
        rc, out = _crosshair("diffbehavior", "--max_uninteresting_iterations", str(diff_iterations),
                             "--per_path_timeout", "2", a, b, timeout_s=120.0)
        report.runs.append((f"crosshair diffbehavior {a} {b}", rc, out))
    return report
