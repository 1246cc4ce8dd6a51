"""``kmem prove`` gives the same verdicts on a loaded machine as on an idle one (issue 20
item 2): z3 is limited by its deterministic resource count, not by wall time.

The heaviest obligations run twice, once as they are and once beside CPU hogs (two
busy processes per core); each obligation's verdict and its count of z3 resource units
must be identical. Under the old wall-clock budget the loaded run reported three of
these inductive obligations unknown."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("z3")

from kmem.proofs import suite  # noqa: E402
from kmem.proofs.core import Status  # noqa: E402

pytestmark = pytest.mark.slow


def _verdicts() -> dict[str, tuple[Status, int]]:
    results, _ = suite.run_suite("buddy.inductive", jobs=2)
    return {r.name: (r.status, r.rlimit) for r in results}


def test_the_same_verdicts_and_resource_counts_under_a_cpu_hog():
    quiet = _verdicts()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2 * (os.cpu_count() or 1))]
    try:
        loaded = _verdicts()
    finally:
        for h in hogs:
            h.kill()
        for h in hogs:
            h.wait()
    assert loaded == quiet
    assert {status for status, _ in quiet.values()} == {Status.PROVED}
    assert all(used > 1_000_000 for _, used in quiet.values())
