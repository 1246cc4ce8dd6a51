"""Teeth for the whole-path fuzzer: ``kmem fuzz`` catches every planted bug of the whole
allocation path, in the model and in fastimpl, within 60 seconds.

Each mutant (:mod:`kmem.fuzz.mutants.path`) is a copy of one step of the model's
``MtZone``/``Machine`` or of fastimpl's compiled whole-path steps with one mistake,
fuzzed side by side with the model; only the whole-path stage of the campaign reaches
it. The time to the first failing check is printed (the README's table).
"""

from __future__ import annotations

import io

import pytest

from kmem.fuzz.campaign import run_campaign
from kmem.fuzz.mutants.path import PATH_MUTANTS

BUDGET_S = 60


@pytest.mark.quality
@pytest.mark.parametrize("name", sorted(PATH_MUTANTS))
def test_kmem_fuzz_catches_the_planted_path_bug(name, capsys):
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
def test_at_least_twelve_path_mutants_in_both_implementations():
    assert len(PATH_MUTANTS) >= 12
    assert len({m.description for m in PATH_MUTANTS.values()}) == len(PATH_MUTANTS)
    fast = [m for m in PATH_MUTANTS.values() if m.kernel_overrides]
    assert len(fast) >= 5 and len(PATH_MUTANTS) - len(fast) >= 5


@pytest.mark.quality
def test_a_fast_path_mutant_is_caught_by_the_runner_directly():
    """The whole-path runner alone (no campaign) finds a fastimpl step's bug and shrinks
    it to a short reproducer."""
    from kmem.fuzz.path import PATH_CONFIGS, path_impls, path_stream_for, run_path_stream

    impls = path_impls("model,mutant:path-fast-pcp-list-end")
    config = PATH_CONFIGS[0]
    rep = run_path_stream(config, path_stream_for(config, 1, 200), impls, shrink_seconds=10)
    assert rep.failure is not None and len(rep.stream) < 40
    assert "replay_path(" in rep.reproducer()
