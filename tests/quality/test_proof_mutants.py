"""Teeth: every deliberately broken spec variant is refuted with a counterexample."""

from __future__ import annotations

import pytest

pytest.importorskip("z3")

from kmem.proofs.core import Status, run_obligation  # noqa: E402
from kmem.proofs.mutants.catalog import MUTANTS  # noqa: E402
from kmem.proofs.suite import all_obligations  # noqa: E402


@pytest.mark.quality
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_refuted_with_counterexample(mutant):
    result = run_obligation(mutant.target(), timeout_s=60)
    assert result.status is Status.REFUTED, (result.status, result.detail)
    assert result.counterexample.strip()


@pytest.mark.quality
def test_every_mutant_targets_a_suite_obligation():
    names = {o.name for o in all_obligations()}
    assert {m.obligation for m in MUTANTS} <= names
    assert len({m.name for m in MUTANTS}) == len(MUTANTS) >= 10
