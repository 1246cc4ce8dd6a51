"""The fuzzers' faster checks flag exactly what the plain ones flag.

:class:`kmem.fuzz.checks.InvariantCache` memoises the spec's buddy invariants per zone
state (issue 18 item 5: the checks' throughput); the verdict it returns must be the
spec's :func:`kmem.spec.buddy.check_invariants` on every state, broken states included
(states planted with the faults the invariants exist for: a misaligned block, two blocks
overlapping, a block past the zone, a wrong counter, a missed merge), and it must never
hand a stored verdict to a state that differs. The machines' ``check_invariants`` with
the memo must equal their plain ``check_invariants``.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from kmem.fuzz import ops as O
from kmem.fuzz.bulk import run_stream
from kmem.fuzz.checks import INCREMENTAL, InvariantCache, check_invariants, retiles
from kmem.fuzz.configs import MachineConfig
from kmem.model import Machine as ModelMachine
from kmem.spec import buddy
from kmem.spec import zones as zones_spec


def _planted(zs: buddy.ZoneState, rng: random.Random) -> list[buddy.ZoneState]:
    """Broken copies of ``zs``, one fault each."""
    free = sorted(zs.free)
    out = []
    if free:
        pfn, order = free[rng.randrange(len(free))]
        rest = zs.free - {(pfn, order)}
        out.append(replace(zs, free=rest | {(pfn + 1, order)}))  # misaligned
        out.append(replace(zs, nr_free=tuple(n + (o == order) for o, n in
                                             enumerate(zs.nr_free))))  # counter
        out.append(replace(zs, free_pages=zs.free_pages - 1))  # NR_FREE_PAGES
        out.append(replace(zs, free=zs.free | {(zs.end_pfn, 0)}))  # past the zone
        if order:  # a block split in two halves that should have merged
            half = 1 << (order - 1)
            out.append(replace(zs, free=rest | {(pfn, order - 1), (pfn + half, order - 1)},
                               nr_free=tuple(n - (o == order) + 2 * (o == order - 1)
                                             for o, n in enumerate(zs.nr_free))))
        out.append(replace(zs, free=rest, nr_free=tuple(n - (o == order) for o, n in
                                                        enumerate(zs.nr_free)),
                           free_pages=zs.free_pages - (1 << order)))  # pages lost
    if zs.allocated:
        pfn, order = sorted(zs.allocated)[0]
        out.append(replace(zs, free=zs.free | {(pfn, order)}))  # free and allocated
        pfn, order = max(zs.allocated, key=lambda b: b[1])
        if order:  # an inner page handed out twice: inside an allocated block
            out.append(replace(zs, allocated=zs.allocated | {(pfn + (1 << order) - 1, 0)}))
            # the block shrunk and a page of it put elsewhere: same count, wrong pages
            out.append(replace(zs, allocated=(zs.allocated - {(pfn, order)})
                               | {(pfn, order - 1), (pfn + (1 << order), order - 1)}))
    return out


def _states(seed: int) -> list[buddy.ZoneState]:
    """Zone states of a model machine along a random stream."""
    m = ModelMachine(zones_spec.generic(1 << 11), min_free_kbytes=0)
    ex = O.Executor(m)
    out = [m.zones[0].state()]
    for op in O.mix_stream(seed, 400):
        ex.step(op)
        out.append(m.zones[0].state())
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_memo_gives_the_spec_verdict_on_clean_and_planted_states(seed):
    rng = random.Random(seed)
    cache = InvariantCache(size=8)
    states = _states(seed)
    flagged = 0
    for zs in states[::20]:
        for s in [zs, *_planted(zs, rng), zs]:
            want = buddy.check_invariants(s)
            flagged += bool(want)
            assert cache(s) == want
            assert cache(replace(s)) == want  # an equal copy: the stored verdict
    assert flagged > 20  # the planted faults are flagged, through the memo too
    assert cache.hits and cache.misses


WHOLE = (buddy.inv_alignment_and_bounds, buddy.inv_disjoint, buddy.inv_tiling)


@pytest.mark.parametrize("seed", [5, 6])
def test_retiles_is_the_three_whole_zone_invariants(seed):
    """From a clean state, the incremental decision equals the spec's three checks over
    every block, on the next states of a stream and on planted ones."""
    rng = random.Random(seed)
    states = _states(seed)
    agree = flagged = 0
    for prev, nxt in zip(states, states[1:], strict=False):
        assert buddy.check_invariants(prev) == []
        for s in [nxt, *_planted(nxt, rng)]:
            want = not any(inv(s) for inv in WHOLE)
            assert retiles(prev, s) == want, s
            agree += 1
            flagged += not want
    assert agree > 1000 and flagged > 200


def test_the_memo_decides_from_the_changed_blocks_and_still_flags():
    rng = random.Random(7)
    cache = InvariantCache()
    for zs in _states(7):
        for s in [zs, *_planted(zs, rng)[:2]]:
            assert cache(s) == buddy.check_invariants(s)
    assert cache.incremental > 300


def test_a_changed_state_is_never_given_a_stored_verdict():
    cache = InvariantCache()
    zs = _states(3)[-1]
    assert cache(zs) == []
    for bad in _planted(zs, random.Random(3)):
        assert cache(bad) == buddy.check_invariants(bad) != []
    assert cache(zs) == []


def _mt_machines() -> list:
    pytest.importorskip("numba")
    if not _MT:
        from kmem.fuzz.path import PATH_CONFIGS, PathRunner, path_impls, path_stream_for

        for k in (0, 2, 5):
            runner = PathRunner(PATH_CONFIGS[k], path_impls("model,fast"))
            for op in path_stream_for(PATH_CONFIGS[k], k, 60):
                runner.apply(op)
            _MT.extend(runner.machines)
    return _MT


_MT: list = []  # the whole-path machines, built once for the tests that read them


def test_machines_check_the_same_through_the_memo():
    cache = InvariantCache()
    m = ModelMachine(zones_spec.generic(1 << 10), min_free_kbytes=0)
    ex = O.Executor(m)
    ex.run(O.mix_stream(4, 200))
    assert check_invariants(m, cache) == m.check_invariants() == []
    # a fault in the machine itself: NR_FREE_PAGES off by one, flagged either way
    m.zones[0].free_pages += 1
    want = m.check_invariants()
    assert want and check_invariants(m, cache) == want
    for mm in _mt_machines():  # the whole path, model and fastimpl
        assert check_invariants(mm, cache) == mm.check_invariants() == []


def test_fast_allocated_items_are_the_mapping():
    for mm in _mt_machines():
        for z in mm.zones:
            assert list(z.allocated.items()) == [(p, z.allocated[p]) for p in z.allocated]


def test_the_bulk_runner_still_finds_an_invariant_break_with_the_memo():
    # the peer (the model) is clean, the mutant breaks a counter: the shared memo must not
    # hand the mutant's state the model's verdict
    config = MachineConfig("generic", 1024, min_free_kbytes=0)
    ops = O.workload_stream("b", 3, 2000, config.size)
    rep = run_stream(config, ops, "model@lowest,mutant:nr_free_leak_on_merge@lowest",
                     shrink_seconds=5)
    assert rep.divergence is not None


def test_fast_free_lists_in_one_pass_are_the_lists():
    from kmem.spec import migrate
    from kmem.spec.constants import NR_PAGE_ORDERS

    nt = migrate.MIGRATE_TYPES
    seen = 0
    for mm in _mt_machines():
        for z in mm.zones:
            if not hasattr(mm, "zones_changed"):
                continue  # the model (its bulk readers: tests/test_fuzz_path_checks.py)
            seen += 1
            lists = z.free_lists()
            assert lists == tuple(tuple(z.free_list_order(o, mt))
                                  for o in range(NR_PAGE_ORDERS) for mt in range(nt))
            assert z.free_blocks() == [(p, o) for o in range(NR_PAGE_ORDERS)
                                       for p in z.free_list_order(o)]
            assert z.block_type == {pb: z.get_pfnblock_migratetype(pb << mm._pbo)
                                    for pb in z.block_type}
    assert seen


def _path_states(k: int, kernel: str | None, n: int = 120) -> list[buddy.ZoneState]:
    """The model's zone states along a whole-path stream (migratetypes: typed free lists,
    pageblock types, the highatomic counters), one per zone and step."""
    from kmem.fuzz.path import PATH_CONFIGS, PathRunner, path_impls, path_stream_for

    config = replace(PATH_CONFIGS[k], kernel=kernel)
    runner = PathRunner(config, path_impls("model"))
    m = runner.machines[0]
    out = [[z.state() for z in m.zones]]
    for op in path_stream_for(config, k + 3, n):
        runner.apply(op)
        out.append([z.state() for z in m.zones])
    return [zs for step in zip(*out, strict=True) for zs in step]  # zone by zone


def _planted_lists(zs: buddy.ZoneState, rng: random.Random) -> list[buddy.ZoneState]:
    """Broken copies of a migratetype zone state, one fault of its typed lists each."""
    from kmem.spec import migrate

    lists = dict(zs.list_types)
    out = []
    if lists:
        pfn = sorted(lists)[rng.randrange(len(lists))]
        for mt in (lists[pfn] + 1) % migrate.MIGRATE_TYPES, migrate.MIGRATE_HIGHATOMIC, 99:
            out.append(replace(zs, list_types=tuple(sorted({**lists, pfn: mt}.items()))))
        out.append(replace(zs, list_types=tuple(sorted((p, t) for p, t in lists.items()
                                                       if p != pfn))))  # on no list
    out.append(replace(zs, nr_free_highatomic=zs.nr_free_highatomic + 1))
    if zs.block_types:
        pb, mt = zs.block_types[rng.randrange(len(zs.block_types))]
        out.append(replace(zs, block_types=tuple(sorted({**dict(zs.block_types),
                                                         pb: (mt + 1) % 4}.items()))))
    return out


@pytest.mark.parametrize("k,kernel", [(0, None), (3, None), (0, "6.1")])
def test_the_incremental_invariants_are_the_spec_s(k, kernel):
    """From a clean state (and :func:`retiles` true), each incremental decision of
    :data:`INCREMENTAL` equals the spec's invariant over the whole zone, on the next
    states of whole-path streams (6.12's and 6.1's) and of a bulk mix, and on planted
    ones: a block of a free list moved to another list, to HIGHATOMIC or to no list, an
    invalid type, a pageblock retyped, the HIGHATOMIC count off by one, and the faults
    of :func:`_planted` (a missed merge, a wrong counter, pages lost)."""
    rng = random.Random(k)
    states = _path_states(k, kernel) + (_states(k) if kernel is None else [])
    decided = {inv: [0, 0] for inv in INCREMENTAL}
    for prev, nxt in zip(states, states[1:], strict=False):
        if (prev.start_pfn, prev.end_pfn) != (nxt.start_pfn, nxt.end_pfn):
            continue  # the next zone's first state
        assert buddy.check_invariants(prev) == []
        for s in [nxt, *_planted(nxt, rng), *_planted_lists(nxt, rng)]:
            if not retiles(prev, s):
                continue
            new, gone = s.free - prev.free, prev.free - s.free
            for inv, quick in INCREMENTAL.items():
                want = not inv(s)
                assert quick(prev, s, new, gone) == want, (inv.__name__, s)
                decided[inv][0] += 1
                decided[inv][1] += not want
    for inv, (n, flagged) in decided.items():
        assert n > 300 and flagged > 20, (inv.__name__, n, flagged)


def test_the_memo_flags_list_faults_as_the_spec_does():
    cache = InvariantCache()
    rng = random.Random(11)
    for zs in _path_states(0, None, 80):
        for s in [zs, *_planted_lists(zs, rng)[:3], zs]:
            assert cache(s) == buddy.check_invariants(s)
    assert cache.incremental > 100
