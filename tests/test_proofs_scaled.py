"""The small-scope obligations: MAX_PAGE_ORDER rebound inside a window.

The scaled encoding agrees with kmem.spec.buddy under the same rebinding on concrete
states (the top-order cap included), the rebinding is undone on every exit, and the
obligations hold and run in the suite's worker processes.
"""

from __future__ import annotations

import random

import pytest

z3 = pytest.importorskip("z3")

from kmem.proofs import buddy_invariants, buddy_state, scaled, suite  # noqa: E402
from kmem.proofs.buddy_state import (  # noqa: E402
    SymState,
    Window,
    alloc_block_steps,
    alloc_steps,
    free_steps,
    invariants,
)
from kmem.proofs.core import Status, run_obligation  # noqa: E402
from kmem.proofs.mutants.catalog import MUTANTS, _with  # noqa: E402
from kmem.spec import buddy  # noqa: E402
from kmem.spec.errors import InvalidArgument  # noqa: E402

#: (scaled MAX_PAGE_ORDER, window): the obligations' own scales; the first runs in the
#: fast tier, the others under ``proof``
SCALES = [pytest.param(mo, w, id=f"max{mo}-{w[0]}-{w[1]}",
                       marks=() if i == 0 else pytest.mark.proof)
          for i, (mo, w) in enumerate((mo, w) for mo, windows in scaled.SCALES for w in windows)]


# --- concrete states against the encoding ------------------------------------------------

def _evaluator(sym: SymState, zs: buddy.ZoneState):
    """Evaluate terms over ``sym`` at the concrete state ``zs`` (a model fixing every
    variable of the state)."""
    w = sym.window
    managed = {p for s, e in zs.managed_ranges for p in range(s, e)}
    solver = z3.Solver()
    for s in w.slots:
        solver.add(sym.free[s] == (s in zs.free), sym.allocated[s] == (s in zs.allocated))
    solver.add(*[sym.managed[p] == (p in managed) for p in w.pages])
    solver.add(*[n == v for n, v in zip(sym.nr_free, zs.nr_free, strict=True)])
    solver.add(sym.free_pages == zs.free_pages)
    assert solver.check() == z3.sat
    model = solver.model()
    return lambda term: model.eval(term, model_completion=True)


def _holds(sym: SymState, zs: buddy.ZoneState) -> bool:
    result = _evaluator(sym, zs)(z3.And([i for v in invariants(sym).values() for i in v]))
    assert z3.is_true(result) or z3.is_false(result)
    return z3.is_true(result)


def _post_sets(step, sym, ev):
    post = step.post(sym)
    w = sym.window
    free = {s for s in w.slots if z3.is_true(ev(post.free[s]))}
    alloc = {s for s in w.slots if z3.is_true(ev(post.allocated[s]))}
    return free, alloc, tuple(ev(n).as_long() for n in post.nr_free), ev(post.free_pages).as_long()


def _want(zs: buddy.ZoneState):
    return set(zs.free), set(zs.allocated), zs.nr_free, zs.free_pages


def _random_states(seed: int, window: Window, n: int = 14) -> list[buddy.ZoneState]:
    """Reachable states under the rebinding: boot with a random hole and random bounds
    inside the window, then random allocations (any order up to MAX) and frees."""
    rng = random.Random(seed)
    lo, hi = window.start, window.end
    hole_start = rng.randrange(lo, hi)
    hole = (hole_start, min(hi, hole_start + rng.randrange(0, 5)))
    zs = buddy.boot_state(lo + rng.randrange(0, 3), hi - rng.randrange(0, 3),
                          holes=(hole,) if hole[0] < hole[1] else ())
    out = [zs]
    for _ in range(n):
        if zs.allocated and rng.random() < 0.45:
            zs = buddy.free_next(zs, *rng.choice(sorted(zs.allocated)))
        else:
            order = rng.randrange(0, buddy.MAX_PAGE_ORDER + 1)
            source = buddy.rmqueue_smallest_order(lambda o, zs=zs: zs.nr_free[o], order)
            if source is None:
                continue
            block = rng.choice(sorted(b for b in zs.free if b[1] == source))
            zs = buddy.alloc_next(zs, order, block[0])
        out.append(zs)
    return out


@pytest.mark.parametrize(("max_order", "bounds"), SCALES)
def test_scaled_encoding_matches_spec_on_random_states(max_order, bounds):
    with scaled.scaled_max_order(max_order):
        w = Window(*bounds)
        assert max(o for _, o in w.slots) == max_order
        assert len(buddy.ZoneState(0, 0).counted().nr_free) == max_order + 1
        states = [zs for seed in range(3) for zs in _random_states(seed, w)]
        assert any(o == max_order for zs in states for _, o in zs.allocated)
        assert any((buddy.find_buddy_pfn(p, o), o) in zs.free  # coexisting top-order buddies
                   for zs in states for p, o in zs.free if o == max_order)
        sym = SymState.fresh(w)
        inv = z3.And([i for v in invariants(sym).values() for i in v])
        frees = {st.key[1]: st for st in free_steps(sym)}
        allocs = list(alloc_steps(sym))
        for zs in states[::2]:
            assert buddy.check_invariants(zs) == []
            ev = _evaluator(sym, zs)
            assert z3.is_true(ev(inv))
            for victim in sorted(zs.allocated):
                assert z3.is_true(ev(frees[victim].enabled))
                assert _post_sets(frees[victim], sym, ev) == _want(buddy.free_next(zs, *victim))
            enabled = {st.key: st for st in allocs if z3.is_true(ev(st.enabled))}
            for order in range(max_order + 1):
                source = buddy.rmqueue_smallest_order(lambda o, zs=zs: zs.nr_free[o], order)
                if source is None:
                    assert z3.is_true(ev(enabled[("alloc-fail", order)].legal))
                    continue
                blocks = sorted(b for b in zs.free if b[1] == source)
                assert sorted(k[2] for k in enabled if k[:2] == ("alloc", order)) == blocks
                for block in blocks:
                    assert _post_sets(enabled[("alloc", order, block)], sym, ev) == _want(
                        buddy.alloc_next(zs, order, block[0]))


@pytest.mark.parametrize(("max_order", "bounds"), SCALES)
def test_scaled_alloc_block_matches_alloc_next(max_order, bounds):
    with scaled.scaled_max_order(max_order):
        w = Window(*bounds)
        sym = SymState.fresh(w)
        steps = list(alloc_block_steps(sym))
        for zs in _random_states(7, w)[::3]:
            ev = _evaluator(sym, zs)
            for step in steps:
                target = step.key[1]
                on = z3.is_true(ev(step.enabled))
                assert on == (step.key[2] == buddy.containing_free_block(zs.is_free_block,
                                                                         *target))
                if on and target[1] >= 1:
                    assert _post_sets(step, sym, ev) == _want(
                        buddy.alloc_next(zs, target[1], target[0]))


def _top_pair_state() -> buddy.ZoneState:
    """A 32-page zone: order-3 buddies (0, 8) both free, (16, 24) both allocated."""
    return buddy.ZoneState(0, 32, free=frozenset({(0, 3), (8, 3)}),
                           allocated=frozenset({(16, 3), (24, 3)})).counted()


def test_two_free_top_order_buddies_coexist_only_at_the_cap():
    with scaled.scaled_max_order(3):
        zs = _top_pair_state()
        assert zs.nr_free == (0, 0, 0, 2)
        assert buddy.check_invariants(zs) == []
        assert _holds(SymState.fresh(Window(0, 32)), zs)
        assert buddy.boot_state(0, 32).free == {(0, 3), (8, 3), (16, 3), (24, 3)}
    zs = _top_pair_state()  # with the real MAX_PAGE_ORDER the pair must have merged
    assert len(zs.nr_free) == 11
    assert [v.invariant for v in buddy.check_invariants(zs)] == ["maximal-coalescing"]
    assert not _holds(SymState.fresh(Window(0, 32)), zs)


def test_free_next_to_a_free_top_order_buddy_does_not_merge():
    with scaled.scaled_max_order(3):
        zs = buddy.ZoneState(0, 16, free=frozenset({(0, 3)}),
                             allocated=frozenset({(8, 3)})).counted()
        delta = buddy.free_one_page_delta(zs.is_free_block, 8, 3)
        assert delta == buddy.FreeDelta((), (8, 3), False)
        after = buddy.free_next(zs, 8, 3)
        assert after.free == {(0, 3), (8, 3)} and buddy.check_invariants(after) == []
        w = Window(0, 32)
        sym = SymState.fresh(w)
        step = next(st for st in free_steps(sym) if st.key == ("free", (8, 3)))
        assert _post_sets(step, sym, _evaluator(sym, zs)) == _want(after)
        # one order below the cap it merges, and buddy_merge_likely is off from MAX - 1 up
        zs = buddy.ZoneState(0, 16, free=frozenset({(0, 2), (8, 3)}),
                             allocated=frozenset({(4, 2)})).counted()
        assert buddy.free_one_page_delta(zs.is_free_block, 4, 2) == buddy.FreeDelta(
            ((0, 2),), (0, 3), False)
        assert not buddy.buddy_merge_likely(4, 0, 2, lambda p, o: True)
        assert buddy.buddy_merge_likely(4, 6, 1, lambda p, o: True)
    # outside the rebinding the same free merges on to order 4
    assert buddy.free_one_page_delta(lambda p, o: (p, o) == (0, 3), 8, 3).result == (0, 4)


def test_allocation_orders_stop_at_the_scaled_cap():
    with scaled.scaled_max_order(3):
        zs = buddy.boot_state(0, 32)
        assert buddy.alloc_next(zs, 3, 8).allocated == {(8, 3)}
        with pytest.raises(InvalidArgument, match=r"outside 0\.\.3"):
            buddy.alloc_next(zs, 4, 0)
        assert buddy.rmqueue_smallest_order(lambda o: 1 if o == 3 else 0, 0) == 3
        assert buddy.rmqueue_smallest_order(lambda o: 1 if o == 4 else 0, 0) is None


# --- the rebinding is undone -------------------------------------------------------------

def _bound() -> list[tuple[int, int]]:
    """(MAX_PAGE_ORDER, NR_PAGE_ORDERS or MAX + 1 where not imported) per rebound module."""
    return [(m.MAX_PAGE_ORDER, getattr(m, "NR_PAGE_ORDERS", m.MAX_PAGE_ORDER + 1))
            for m in scaled.REBOUND_MODULES]


def test_rebinding_restored_on_exit_and_on_error():
    assert _bound() == [(10, 11)] * len(scaled.REBOUND_MODULES)
    ns = _with(buddy)
    with scaled.scaled_max_order(3, ns):
        assert _bound() == [(3, 4)] * len(scaled.REBOUND_MODULES)
        assert (ns.MAX_PAGE_ORDER, ns.NR_PAGE_ORDERS) == (3, 4)
        with scaled.scaled_max_order(4):  # nested: the inner exit restores the outer value
            assert buddy.MAX_PAGE_ORDER == 4
        assert buddy_state.MAX_PAGE_ORDER == 3
    assert _bound() == [(10, 11)] * len(scaled.REBOUND_MODULES)
    assert (ns.MAX_PAGE_ORDER, ns.NR_PAGE_ORDERS) == (10, 11)
    with pytest.raises(RuntimeError, match="boom"), scaled.scaled_max_order(3):
        assert buddy.MAX_PAGE_ORDER == 3
        raise RuntimeError("boom")
    assert buddy.MAX_PAGE_ORDER == 10 and buddy.NR_PAGE_ORDERS == 11
    assert buddy_invariants.MAX_PAGE_ORDER == 10
    assert max(o for _, o in Window(0, 32).slots) == 5


@pytest.mark.parametrize("bad", [0, 11, -1, True, 3.0])
def test_rebinding_rejects_bad_orders_and_changes_nothing(bad):
    with pytest.raises(ValueError, match=r"1\.\.10"), scaled.scaled_max_order(bad):
        pass
    assert _bound() == [(10, 11)] * len(scaled.REBOUND_MODULES)


def test_a_refuted_scaled_obligation_leaves_the_constants_alone():
    mutant = next(m for m in MUTANTS if m.name == "free-merges-past-the-cap")
    result = run_obligation(mutant.target(), timeout_s=60)
    assert result.status is Status.REFUTED
    assert "MAX_PAGE_ORDER=3" in result.counterexample
    assert _bound() == [(10, 11)] * len(scaled.REBOUND_MODULES)


# --- the obligations -----------------------------------------------------------------------

def test_scaled_obligations_are_in_the_suite_with_their_scales_in_the_claim():
    obs = {o.name: o for o in suite.all_obligations()}
    for kind in ("alloc", "free", "alloc-block"):
        claim = obs[f"buddy.small-scope.{kind}"].claim
        assert claim.startswith("The spec's transitions with MAX_PAGE_ORDER rebound to 3")
        assert "32 pages at pfn 4" in claim and "to 4 (zones of 64 pages" in claim
    targets = {m.obligation for m in MUTANTS}
    assert {"buddy.small-scope.free", "buddy.small-scope.alloc"} <= targets


@pytest.mark.proof
def test_scaled_obligations_hold_in_worker_processes_and_in_process():
    results, _ = suite.run_suite("small-scope", timeout_s=120, jobs=2)
    assert [(r.name, r.status) for r in results] == [
        (f"buddy.small-scope.{k}", Status.PROVED) for k in ("alloc", "free", "alloc-block")]
    alloc = next(o for o in suite.all_obligations() if o.name == "buddy.small-scope.alloc")
    assert run_obligation(alloc, timeout_s=120).status is Status.PROVED
    assert _bound() == [(10, 11)] * len(scaled.REBOUND_MODULES)
