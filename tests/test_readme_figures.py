"""Counts the README and docs quote are the code's: the proof obligations, the planted proof
bugs, the fuzz mutants (the figures were stale once: 26 obligations and 16 planted bugs
quoted while the suite had 32 and the catalog 25)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_fuzz_mutant_count():
    from kmem.fuzz.mutants import MUTANTS

    n = len(MUTANTS)
    assert f"`kmem.fuzz.mutants` plants {n} bugs" in README


def test_proof_obligation_and_planted_bug_counts():
    pytest.importorskip("z3")
    from kmem.proofs.mutants.catalog import MUTANTS
    from kmem.proofs.suite import all_obligations

    n = len(all_obligations())
    assert f"The suite has {n} obligations (`kmem prove --list`)" in README
    assert f"`proofs/mutants/` holds {len(MUTANTS)} planted\nbugs" in README
    assert f"(it has {n} now)" in (ROOT / "docs" / "proofs.md").read_text()


def test_kernel_versions_page_has_the_generated_table_once():
    from kmem.spec.kernel import changes_markdown

    text = (ROOT / "docs" / "kernel-versions.md").read_text()
    assert text.count(changes_markdown()) == 1 and text.count("Stable backports:") == 1
