"""The whole-path fuzzer's cheaper checks see exactly what the plain ones see.

:class:`kmem.fuzz.path.PathRunner` reads a fastimpl zone again only when
``zones_changed`` says something its readers read changed, reads each zone once per
check (``reads_held``), and reads the lists and counters in bulk (``free_lists``,
``pcp_fingerprint``). These tests hold the bulk readers to the plain ones, plant a
change in every part of a zone that the last step did not touch (page descriptors,
counters, pcp counters, pageblock types, list order) and require ``zones_changed`` to
name that zone and the runner to report the change, and require a change that only
the spec's invariants see (not the fingerprint) to be reported too.
"""

from __future__ import annotations

import pytest

from kmem.fuzz.path import (
    PATH_CONFIGS,
    Divergence,
    PathRunner,
    path_fingerprint,
    path_impls,
    path_stream_for,
)
from kmem.spec import migrate
from kmem.spec.constants import NR_PAGE_ORDERS

pytest.importorskip("numba")

from kmem.fastimpl import mt_kernels as K  # noqa: E402
from kmem.fastimpl.kernels import JIT_DISABLED  # noqa: E402

#: the 4096-page single-zone machine, the x86_64 machine (DMA and DMA32 populated) and
#: the three-node NUMA machine
CONFIGS = (0, 4, 5)


def _runner(k: int, n: int = 80) -> PathRunner:
    runner = PathRunner(PATH_CONFIGS[k], path_impls("model,fast"))
    for op in path_stream_for(PATH_CONFIGS[k], k + 11, n):
        runner.apply(op)
    return runner


def _plain_pcp(z):
    return tuple((tuple(tuple(lst) for lst in p.lists), p.count, p.high, p.high_min,
                  p.high_max, p.batch, p.free_count, p.alloc_factor, p.flags, p.free_factor)
                 for p in z.pcp)


@pytest.mark.parametrize("k", CONFIGS)
def test_bulk_readers_are_the_plain_readers(k):
    runner = _runner(k)
    model, fast = runner.machines
    nt = migrate.MIGRATE_TYPES
    for m in (model, fast):
        for z in m.zones:
            assert z.free_lists() == tuple(tuple(z.free_list_order(o, mt))
                                           for o in range(NR_PAGE_ORDERS) for mt in range(nt))
            assert z.pcp_fingerprint() == _plain_pcp(z)
            assert z.lists_mask() == tuple(
                sum(1 << mt for mt in range(nt) if z.free_list_order(o, mt))
                for o in range(NR_PAGE_ORDERS))
    # fastimpl's zone states, read in bulk, are the model's (the two agree step by step)
    assert fast.state() == model.state()
    assert path_fingerprint(fast) == path_fingerprint(model)


def test_held_reads_end_with_the_check():
    runner = _runner(0, 40)
    fast = runner.machines[1]
    z = fast.zones[0]
    with fast.reads_held():
        first = z.free_lists()
        assert z.free_lists() is first  # read once
    page = fast.alloc_pages(migrate_gfp := 0xcc0, 0)  # GFP_KERNEL
    assert migrate_gfp and page is not None
    assert z.free_lists() != first or z.pcp_fingerprint() != ()


def _fast(runner: PathRunner):
    fast = runner.machines[1]
    fast.zones_changed()  # a fresh start: nothing changed since
    assert fast.zones_changed() == [False] * len(fast.zones)
    return fast


def _populated(fast, skip: int):
    """A zone with free blocks other than zone ``skip`` (or zone ``skip`` itself on a
    machine with one)."""
    zones = [i for i, z in enumerate(fast.zones) if z.free_pages]
    others = [i for i in zones if i != skip]
    return (others or zones)[-1]


def _plants(fast, i):
    """Changes to zone ``i`` of ``fast``, one for each part its readers read: (what,
    plant, undo)."""
    z = fast.zones[i]
    zg = z.zone_idx_global
    lists = z.free_lists()
    lid = next(j for j, lst in enumerate(lists) if lst) + z._lid0
    head = lists[lid - z._lid0][0]
    P, Z, C, PB, A = fast._P, fast._Z, fast._C, fast._PB, fast._A
    spare = next(p for p in range(z.end_pfn - 1, z.start_pfn, -1)  # neither allocated
                 if P[K.P_AORD, p] < 0 and P[K.P_PCPO, p] < 0)  # nor on a pcp list
    pb = int(Z[zg, K.Z_PBBASE])
    row = zg * int(Z[zg, K.Z_NCPU])

    def poke(arr, idx, value):
        old = arr[idx]

        def plant():
            arr[idx] = value

        def undo():
            arr[idx] = old

        return plant, undo

    out = [
        ("list type of a free block", *poke(P, (K.P_FMT, head), (P[K.P_FMT, head] + 1) % 4)),
        ("allocation order of a page", *poke(P, (K.P_AORD, spare), 0)),
        ("pcp order of a page", *poke(P, (K.P_PCPO, spare), 0)),
        ("NR_FREE_PAGES", *poke(Z, (zg, K.Z_FREE), Z[zg, K.Z_FREE] + 1)),
        ("watermark_boost", *poke(Z, (zg, K.Z_BOOST), Z[zg, K.Z_BOOST] + 7)),
        ("pageblock type", *poke(PB, pb, (PB[pb] + 1) % 3)),
    ]
    if z.pcp:
        out.append(("pcp high", *poke(C, (row, K.C_HIGH), C[row, K.C_HIGH] + 1)))
    second = next(((j, lst) for j, lst in enumerate(lists) if len(lst) >= 2), None)
    if second is not None:  # list order: the head goes to the tail, nothing else moves
        j, lst = second

        def plant():
            K.list_del(A, z._lid0 + j, lst[0])
            K.list_add(A, z._lid0 + j, lst[0], True)

        def undo():
            K.list_del(A, z._lid0 + j, lst[0])
            K.list_add(A, z._lid0 + j, lst[0], False)

        out.append(("order of a free list", plant, undo))
    return out


@pytest.mark.skipif(JIT_DISABLED, reason="zones_changed takes every zone as changed "
                                         "when compiled code is off")
@pytest.mark.parametrize("k", CONFIGS)
def test_zones_changed_names_exactly_the_zone_a_change_was_planted_in(k):
    runner = _runner(k)
    fast = _fast(runner)
    i = _populated(fast, -1)
    plants = _plants(fast, i)
    assert len(plants) >= 6
    for what, plant, undo in plants:
        before = fast.zones[i].free_lists()
        plant()
        got = fast.zones_changed()
        assert got == [j == i for j in range(len(fast.zones))], what
        undo()
        assert fast.zones_changed()[i], f"{what}: undone is a change too"
        assert fast.zones_changed() == [False] * len(fast.zones), what
        assert fast.zones[i].free_lists() == before


@pytest.mark.parametrize("k", (4, 5))
def test_the_runner_reports_a_change_planted_outside_the_zones_a_step_touches(k):
    """A step that touches one zone (or none: switching the CPU), and a change planted in
    another zone of fastimpl beforehand: the check after the step reports it."""
    found = 0
    probe = _runner(k).machines[1]
    for what, _plant, _undo in _plants(probe, _populated(probe, 0)):
        if what == "list type of a free block":
            continue  # only the list's later behaviour shows it (zones_changed names it)
        runner = _runner(k)
        fast = runner.machines[1]
        plant = dict((w, p) for w, p, _ in _plants(fast, _populated(fast, 0)))[what]
        plant()
        with pytest.raises(Divergence):
            runner.apply(("cpu", 0))
        found += 1
    assert found >= 6


def test_a_change_only_the_invariants_see_is_reported():
    """A page marked as on a pcp list (``P_PCPO``) with no list holding it: the zone's
    fingerprint does not show it; its invariants (``pcp_violations``) do."""
    runner = _runner(4)
    fast = runner.machines[1]
    before = path_fingerprint(fast)
    plant = dict((w, p) for w, p, _ in _plants(fast, _populated(fast, 0)))
    plant["pcp order of a page"]()
    assert path_fingerprint(fast) == before
    with pytest.raises(Divergence, match="invariant"):
        runner.apply(("cpu", 0))
