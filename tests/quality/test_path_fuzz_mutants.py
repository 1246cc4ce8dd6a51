"""Teeth for the whole-path fuzzer: ``kmem fuzz``'s whole-path stage catches every planted
bug of the whole allocation path, in the model and in fastimpl.

Each mutant (:mod:`kmem.fuzz.mutants.path`) is a copy of one step of the model's
``MtZone``/``Machine`` or of fastimpl's compiled whole-path steps with one mistake,
fuzzed side by side with the model. The budget is work, not wall time, so that the
verdict is the same on a busy machine: the streams the campaign's whole-path stage deals
(:meth:`kmem.fuzz.path.PathDeck.seeded`, 200 operations each, the first round 100) from
seeds 1, 2 and 3, at most five rounds of the deck (``STREAMS``) each. The deck's first round
holds every shape in a fixed order, so most mutants are caught in it (the steal and
decay shapes at its third and fourth stream); the rounds after it are the margin. The time
``kmem fuzz --time 60`` takes to catch each is measured in the README, not asserted
here.
"""

from __future__ import annotations

import random

import pytest

from kmem.fuzz.mutants.path import PATH_MUTANTS
from kmem.fuzz.path import (
    PATH_DECK,
    PathDeck,
    path_impls,
    path_stream_for,
    pick_config,
    run_path_stream,
)

STREAMS = 5 * len(PATH_DECK)  # five rounds: each shape five times
STREAM_OPS = 200  # the campaign's longest whole-path stream


def first_failing_stream(impl_names: str, seed: int = 1, streams: int = STREAMS):
    """The campaign's whole-path draws from ``seed``: (index, report) of the first stream
    that fails, or None after ``streams`` clean ones."""
    impls = path_impls(impl_names)
    deck = PathDeck.seeded(seed)  # the campaign's deck of that seed (worker 0)
    for k in range(streams):
        config, ops = deck.stream(STREAM_OPS)
        rep = run_path_stream(config, ops, impls, shrink_seconds=0)
        if rep.failure is not None:
            return k, rep
    return None


@pytest.mark.quality
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(PATH_MUTANTS))
def test_kmem_fuzz_catches_the_planted_path_bug(name, seed, capsys):
    found = first_failing_stream(f"model,mutant:{name}", seed)
    assert found is not None, f"mutant {name} survived {STREAMS} whole-path streams (seed {seed})"
    k, rep = found
    with capsys.disabled():
        print(f"\n  mutant {name}, seed {seed}: caught in whole-path stream {k + 1}: "
              f"{rep.failure.splitlines()[0][:120]}")


@pytest.mark.quality
def test_the_model_and_fastimpl_agree_on_the_same_streams():
    """The control: the streams that catch the mutants run clean on the real pair."""
    assert first_failing_stream("model,fast", streams=10) is None


@pytest.mark.quality
def test_at_least_twelve_path_mutants_in_both_implementations():
    assert len(PATH_MUTANTS) >= 12
    assert len({m.description for m in PATH_MUTANTS.values()}) == len(PATH_MUTANTS)
    fast = [m for m in PATH_MUTANTS.values() if m.kernel_overrides or m.kernel61_overrides]
    assert len(fast) >= 5 and len(PATH_MUTANTS) - len(fast) >= 5


@pytest.mark.quality
def test_a_fast_path_mutant_is_caught_by_the_runner_directly():
    """The whole-path runner alone (no campaign) finds a fastimpl step's bug and shrinks
    it to a short reproducer."""
    impls = path_impls("model,mutant:path-fast-pcp-list-end")
    rng = random.Random(1)
    config = pick_config(rng)
    while config.kernel is not None:  # the mutant is in 6.12's steps: a 6.12 machine
        config = pick_config(rng)
    ops = path_stream_for(config, rng.getrandbits(32), STREAM_OPS)
    # ddmin ends when no chunk can go (two operations here); the deadline is only a
    # guard, generous so that a busy machine does not stop it early
    rep = run_path_stream(config, ops, impls, shrink_seconds=600)
    assert rep.failure is not None and len(rep.stream) < 40
    assert "replay_path(" in rep.reproducer()
