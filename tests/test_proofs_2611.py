"""z3 obligations on 2.6.11's buddy core (kmem.proofs.alloc_2611): its free is the spec's
free_next; the full-size obligations run in the proof tier (tests/test_proofs.py runs the
suite); here a 16-page zone, and mutants of 2.6.11's functions are refuted."""

from __future__ import annotations

import pytest

pytest.importorskip("z3")

from kmem.proofs import alloc_2611 as p  # noqa: E402
from kmem.proofs.buddy_state import Window  # noqa: E402
from kmem.proofs.core import Prover, Refuted  # noqa: E402
from kmem.spec import alloc_2611 as a2611  # noqa: E402

SMALL = (Window(0, 16),)


def test_2611_free_is_free_next_in_a_small_zone():
    assert p.check_free_is_free_next(Prover(120), SMALL) == len(SMALL[0].slots)


@pytest.mark.proof
def test_2611_steps_keep_the_invariants_in_a_small_zone():
    assert p.check_inductive(Prover(120), "free", SMALL) > 0
    assert p.check_inductive(Prover(120), "alloc", SMALL) > 0


def _mutant_or(monkeypatch):
    real = a2611.free_pages_bulk_delta

    def wrong(is_buddy, page_idx, order, zone_pages):  # page_idx |= buddy_idx after a merge
        d = real(is_buddy, page_idx, order, zone_pages)
        if d.merged:
            idx, o = d.result
            return a2611.FreeDelta2611(d.merged, (idx | (1 << (o - 1)), o))
        return d
    monkeypatch.setattr(a2611, "free_pages_bulk_delta", wrong)


def test_a_wrong_merge_is_refuted(monkeypatch):
    _mutant_or(monkeypatch)
    with pytest.raises(Refuted, match="differs from free_next"):
        p.check_free_is_free_next(Prover(120), SMALL)


def test_a_merge_that_ignores_the_order_is_refuted(monkeypatch):
    real = a2611.free_pages_bulk_delta

    def wrong(is_buddy, page_idx, order, zone_pages):  # page_is_buddy without the order test
        return real(lambda i, o: is_buddy(i, o) or (o > 0 and is_buddy(i, o - 1)),
                    page_idx, order, zone_pages)
    monkeypatch.setattr(a2611, "free_pages_bulk_delta", wrong)
    with pytest.raises(Refuted):
        p.check_free_is_free_next(Prover(120), SMALL)


def test_the_suite_lists_the_2611_obligations():
    from kmem.proofs import suite
    names = {ob.name for ob in suite.all_obligations()}
    assert {"2611.free-is-free_next", "2611.inductive.free", "2611.inductive.alloc"} <= names
