"""The z3 encoding of buddy states agrees with kmem.spec.buddy on concrete states."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

z3 = pytest.importorskip("z3")

from kmem.proofs.buddy_invariants import canonical  # noqa: E402
from kmem.proofs.buddy_state import (  # noqa: E402
    Derived,
    SymState,
    Window,
    alloc_block_steps,
    alloc_steps,
    free_steps,
    invariants,
)
from kmem.proofs.explore import paths  # noqa: E402
from kmem.spec import buddy  # noqa: E402

WINDOW = Window(0, 32)


def _subs(sym: SymState, zs: buddy.ZoneState) -> list:
    managed = {p for s, e in zs.managed_ranges for p in range(s, e)}
    out = []
    for s in WINDOW.slots:
        out.append((sym.free[s], z3.BoolVal(s in zs.free)))
        out.append((sym.allocated[s], z3.BoolVal(s in zs.allocated)))
    out += [(sym.managed[p], z3.BoolVal(p in managed)) for p in WINDOW.pages]
    out += [(n, z3.IntVal(v)) for n, v in zip(sym.nr_free, zs.nr_free, strict=True)]
    out.append((sym.free_pages, z3.IntVal(zs.free_pages)))
    return out


def _value(term, subs):
    return z3.simplify(z3.substitute(term, *subs))


def _holds(sym: SymState, zs: buddy.ZoneState) -> bool:
    insts = [i for v in invariants(sym).values() for i in v]
    result = _value(z3.And(insts), _subs(sym, zs))
    assert z3.is_true(result) or z3.is_false(result)
    return z3.is_true(result)


def _random_states(seed: int, n: int = 12) -> list[buddy.ZoneState]:
    """Reachable states: boot a zone with random holes, then random allocs and frees."""
    rng = random.Random(seed)
    hole_start = rng.randrange(0, 32)
    hole = ((hole_start, min(32, hole_start + rng.randrange(0, 6))),)
    holes = hole if hole[0][0] < hole[0][1] else ()
    zs = buddy.boot_state(rng.randrange(0, 3), 32 - rng.randrange(0, 3), holes=holes)
    out = [zs]
    for _ in range(n):
        if zs.allocated and rng.random() < 0.4:
            p, o = rng.choice(sorted(zs.allocated))
            zs = buddy.free_next(zs, p, o)
        else:
            order = rng.randrange(0, 3)
            source = buddy.rmqueue_smallest_order(lambda o, zs=zs: zs.nr_free[o], order)
            if source is None:
                continue
            block = rng.choice(sorted(b for b in zs.free if b[1] == source))
            zs = buddy.alloc_next(zs, order, block[0])
        out.append(zs)
    return out


STATES = [zs for seed in range(6) for zs in _random_states(seed)]


def _sample(states: list[buddy.ZoneState]) -> list:
    """The states as parameters: the first runs in the fast tier, the rest under ``proof``
    (z3 substitution over every slot is seconds per state on 2 cores)."""
    return [pytest.param(zs, marks=() if i == 0 else pytest.mark.proof)
            for i, zs in enumerate(states)]


@pytest.mark.parametrize("zs", _sample(STATES[::5]))
def test_invariant_encoding_holds_on_reachable_states(zs):
    assert buddy.check_invariants(zs) == []
    assert _holds(SymState.fresh(WINDOW), zs)


def _corruptions(zs: buddy.ZoneState) -> list[tuple[str, buddy.ZoneState]]:
    out = []
    blocks = sorted(zs.free)
    if blocks:
        p, o = blocks[0]
        out.append(("block dropped", replace(zs, free=zs.free - {(p, o)}).counted()))
        out.append(("counter off", replace(zs, free_pages=zs.free_pages + 1)))
        out.append(("nr_free off", replace(zs, nr_free=(zs.nr_free[0] + 1, *zs.nr_free[1:]))))
        if o > 0:  # split without merging back: unmerged buddies
            halves = {(p, o - 1), (p + 2 ** (o - 1), o - 1)}
            out.append(("not coalesced", replace(zs, free=(zs.free - {(p, o)}) | halves).counted()))
        out.append(("free and allocated", replace(zs, allocated=zs.allocated | {(p, o)})))
    if zs.allocated:
        p, o = sorted(zs.allocated)[0]
        out.append(("overlap", replace(zs, free=zs.free | {(p, o)}).counted()))
    hole = next(((s, e) for s, e in zs.holes), None)
    if hole:
        out.append(("block in a hole", replace(zs, allocated=zs.allocated | {(hole[0], 0)})))
    return out


@pytest.mark.parametrize("zs", _sample(STATES[::9]))
def test_invariant_encoding_rejects_what_the_spec_rejects(zs):
    sym = SymState.fresh(WINDOW)
    for what, bad in _corruptions(zs):
        assert buddy.check_invariants(bad), what
        assert not _holds(sym, bad), what


def _post_sets(step, sym, subs):
    post = step.post(sym)
    free = {s for s in WINDOW.slots if z3.is_true(_value(post.free[s], subs))}
    alloc = {s for s in WINDOW.slots if z3.is_true(_value(post.allocated[s], subs))}
    nr = tuple(_value(n, subs).as_long() for n in post.nr_free)
    return free, alloc, nr, _value(post.free_pages, subs).as_long()


@pytest.mark.parametrize("zs", _sample(STATES[1::11]))
def test_free_step_matches_free_next(zs):
    sym = SymState.fresh(WINDOW)
    subs = _subs(sym, zs)
    steps = {st.key[1]: st for st in free_steps(sym)}
    for victim in sorted(zs.allocated):
        step = steps[victim]
        assert z3.is_true(_value(step.enabled, subs))
        want = buddy.free_next(zs, *victim)
        assert _post_sets(step, sym, subs) == (set(want.free), set(want.allocated), want.nr_free,
                                               want.free_pages)
    for slot in WINDOW.slots:
        if slot not in zs.allocated:
            assert z3.is_false(_value(steps[slot].enabled, subs))


@pytest.mark.parametrize("zs", _sample(STATES[2::11]))
def test_alloc_step_matches_alloc_next(zs):
    sym = SymState.fresh(WINDOW)
    subs = _subs(sym, zs)
    enabled = {}
    for step in alloc_steps(sym):
        if z3.is_true(_value(step.enabled, subs)):
            enabled[step.key] = step
    for order in range(4):
        source = buddy.rmqueue_smallest_order(lambda o: zs.nr_free[o], order)
        if source is None:
            assert ("alloc-fail", order) in enabled
            continue
        for block in sorted(b for b in zs.free if b[1] == source):
            want = buddy.alloc_next(zs, order, block[0])
            step = enabled[("alloc", order, block)]
            assert z3.is_true(_value(step.legal, subs))
            assert buddy.is_legal_alloc_linux(zs, order, block[0])
            assert _post_sets(step, sym, subs) == (set(want.free), set(want.allocated),
                                                   want.nr_free, want.free_pages)
        others = [k for k in enabled if k[0] == "alloc" and k[1] == order]
        assert len(others) == sum(1 for b in zs.free if b[1] == source)


@pytest.mark.proof
@pytest.mark.parametrize("zs", STATES[3::25])
def test_alloc_block_step_matches_alloc_next_weak(zs):
    sym = SymState.fresh(WINDOW)
    subs = _subs(sym, zs)
    compared = 0
    for step in alloc_block_steps(sym):
        on = z3.is_true(_value(step.enabled, subs))
        target = step.key[1]
        assert on == (step.key[2] == buddy.containing_free_block(zs.is_free_block, *target))
        if on and (compared < 8 or target[1] > 0):
            compared += 1
            assert buddy.is_legal_alloc_weak(zs, target[1], target[0])
            want = buddy.alloc_next(zs, target[1], target[0])
            assert _post_sets(step, sym, subs) == (set(want.free), set(want.allocated),
                                                   want.nr_free, want.free_pages)


@pytest.mark.parametrize("start,end", [(0, 32), (3, 29), (5, 6), (8, 24), (1, 31)])
def test_canonical_form_is_boot_decomposition(start, end):
    """The canonical family of a free run is what __free_pages_memory frees at boot."""
    sym = SymState.fresh(WINDOW)
    subs = [(sym.managed[p], z3.BoolVal(start <= p < end)) for p in WINDOW.pages]
    canon = canonical(sym, Derived(sym))
    got = {s for s in WINDOW.slots if z3.is_true(_value(canon[s], subs))}
    assert got == set(buddy.free_pages_memory_chunks(start, end))


def test_explore_enumerates_every_merge_path():
    """free_one_page_delta of an order-3 block at pfn 8: merge stops at each order 3..9,
    or merges to 10; each stop also asks buddy_merge_likely (below order 9)."""
    ps = paths(lambda oracle: buddy.free_one_page_delta(oracle, 8, 3))
    results = sorted({p.result.result for p in ps})
    assert results == [(0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 9), (0, 10), (8, 3)]
    assert len(ps) == 14
    for p in ps:  # replaying the recorded answers reproduces the result
        answers = dict(p.answers)
        replay = buddy.free_one_page_delta(lambda q, o, a=answers: a.get((q, o), False), 8, 3)
        assert replay == p.result


def test_explore_never_branches_on_impossible_questions():
    ps = paths(lambda oracle: buddy.free_one_page_delta(oracle, 8, 3), lambda q: False)
    assert len(ps) == 1 and ps[0].result.result == (8, 3)
