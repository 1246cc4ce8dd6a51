"""Teeth for the fuzzers: ``kmem fuzz`` catches every planted bug within 60 seconds.

Each mutant (:mod:`kmem.fuzz.mutants`) is a copy of the model's logic with one
mistake, fuzzed side by side with the model (both policies). The time to the first
failing check is printed; the README's table comes from this test.
"""

from __future__ import annotations

import io

import pytest

from kmem.fuzz.campaign import run_campaign
from kmem.fuzz.mutants import MUTANTS

BUDGET_S = 60


@pytest.mark.quality
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_kmem_fuzz_catches_the_planted_bug(name, capsys):
    out = io.StringIO()
    res = run_campaign(seconds=BUDGET_S, seed=1, impls=f"model,mutant:{name}", corpus=None,
                       shrink_seconds=0, out=out)  # time to catch, not to shrink
    f = res.failure
    assert f is not None, f"mutant {name} survived {BUDGET_S} s of kmem fuzz:\n{out.getvalue()}"
    caught = f.detected if f.detected is not None else f.seconds
    with capsys.disabled():
        print(f"\n  mutant {name}: caught by the {f.kind} fuzzer after {caught:.1f} s: "
              f"{f.text.splitlines()[0][:120]}")
    assert caught < BUDGET_S


@pytest.mark.quality
def test_at_least_twelve_mutants():
    assert len(MUTANTS) >= 12
    assert len({m.description for m in MUTANTS.values()}) == len(MUTANTS)
