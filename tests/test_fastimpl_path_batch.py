"""``run_ops`` on fastimpl's whole allocation path (``fastimpl/mt_batch.py``): a batch equals
the same operations one call at a time, on the model (the reference) and on fastimpl's own
per-op API: results, free lists per order and migratetype in list order, pcp lists,
pageblock types, counters, dmesg, ``last_failure``, /proc texts, page contents, and the
exception (with ``batch_index`` and ``results``) of a bad operation."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest

from kmem import fastimpl
from kmem.fastimpl import OP_ALLOC, OP_FREE, OP_GET, OP_PUT, ref, run_ops
from kmem.fuzz.path import path_fingerprint
from kmem.model import Machine as ModelMachine
from kmem.spec import errors
from kmem.spec import gfp as g

COMP = g.__GFP_COMP
NOWARN = g.__GFP_NOWARN
ODD = g.GFP_KERNEL | g.__GFP_MOVABLE | g.__GFP_RECLAIMABLE  # gfp_migratetype warns (VM_WARN_ON)

CONFIGS = {
    "generic-2cpu": lambda M: M.generic(2048, policy="linux", migratetypes=True, nr_cpus=2,
                                        pageblock_order=4, min_free_kbytes=256),
    "generic-nopcp": lambda M: M.generic(4096, policy="linux", migratetypes=True,
                                         pageblock_order=5, min_free_kbytes=128),
    "x86_32-1cpu": lambda M: M.x86_32(20, policy="linux", migratetypes=True, nr_cpus=1),
    "numa-2cpu": lambda M: M.numa_x86_64((18, 20), policy="linux", migratetypes=True,
                                         nr_cpus=2, cpu_nodes=(0, 1)),
    "numa-bare": lambda M: M.numa_x86_64((8, 12), policy="linux", min_free_kbytes=512),
}


def replay_per_op(m, ops):
    """The same operations one call at a time (results as run_ops gives them)."""
    res: list[int] = []
    for code, x, y in ops.tolist():
        if code == OP_ALLOC:
            p = m.alloc_pages(x, y)
            res.append(-1 if p is None else p.pfn)
            continue
        page = m.pfn_to_page(res[~x] if x < 0 else x)
        if code == OP_FREE:
            m.free_pages(page, y)
        elif code == OP_GET:
            m.get_page(page)
        else:
            m.put_page(page)
        res.append(0)
    return res


def observed(m):
    texts = (m.buddyinfo(), m.zoneinfo(), m.pagetypeinfo() if m.migratetypes else "")
    if m.migratetypes:
        fp = path_fingerprint(m)
    else:  # a bare NUMA machine: one list per order
        fp = (m.state(), [z.free_list_order(o) for z in m.zones for o in range(11)],
              m.dmesg, m.last_failure)
    return fp, texts, m.read_page(300, 0, 4)


def random_batch(rng, mm, n, masks):
    """A stream the model decides one call at a time: frees (and gets/puts) refer only to
    allocations that succeeded; returns the ops (with ``ref``) and the model's results."""
    ops, expect = [], []
    live: list[list[int]] = []  # [op index, order, compound, references]
    for i in range(n):
        r = rng.random()
        if not live or r < 0.55:
            order = rng.choice((0, 0, 0, 1, 2, 3, 5, 9, 10, 11) if r < 0.5 else (0,))
            op = (OP_ALLOC, rng.choice(masks), order)
            got = replay_per_op(mm, np.array([op], np.int64))[0]
            if got >= 0:
                live.append([i, order, bool(op[1] & COMP), 1])
        elif r < 0.6:
            entry = rng.choice(live)
            op = (OP_GET, ref(entry[0]), 0)
            replay_per_op(mm, np.array([(OP_GET, expect[entry[0]], 0)], np.int64))
            entry[3] += 1
            got = 0
        else:
            entry = live[rng.randrange(len(live))]
            j, order, comp, refs = entry
            if order and not comp:  # __free_pages (with references left: frees the tails)
                op = (OP_FREE, ref(j), order)
                entry[1] = 0
            else:
                op = (OP_PUT, ref(j), 0)
            replay_per_op(mm, np.array([(op[0], expect[j], op[2])], np.int64))
            entry[3] -= 1
            if entry[3] == 0:
                live.remove(entry)
            got = 0
        ops.append(op)
        expect.append(got)
    return np.array(ops, np.int64), expect


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_path_batch_equals_per_op_and_model(name):
    build = CONFIGS[name]
    mm, fm, pm = build(ModelMachine), build(fastimpl.Machine), build(fastimpl.Machine)
    for m in (mm, fm, pm):
        m.write_page(300, 0, b"dirt")  # zeroing on allocation is visible
    rng = random.Random(name)
    masks = [g.GFP_KERNEL, g.GFP_ATOMIC, g.GFP_KERNEL | COMP, g.GFP_USER | g.__GFP_ZERO,
             g.GFP_NOWAIT, g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL | g.__GFP_RECLAIMABLE,
             g.GFP_KERNEL | NOWARN, g.GFP_HIGHUSER_MOVABLE | NOWARN, ODD, g.GFP_DMA | g.GFP_KERNEL]
    nr_cpus = mm.nr_cpus
    fails = 0
    for chunk in range(4):
        if nr_cpus:
            for m in (mm, fm, pm):
                m.cpu = chunk % nr_cpus
        ops, expect = random_batch(rng, mm, 450, masks)
        got = run_ops(fm, ops)
        assert got.tolist() == expect
        assert replay_per_op(pm, ops) == expect
        assert observed(fm) == observed(mm) == observed(pm)
        fails += expect.count(-1)
        if chunk == 1:
            for m in (mm, fm, pm):
                m.advance_clock(3)  # the vmstat worker decays the pcp lists
    assert fails  # failed allocations (slow path, warn_alloc) were reached
    assert any("gfp_migratetype" in line or "WARNING" in line for line in fm.dmesg)


def test_the_common_operations_stay_in_compiled_code(monkeypatch):
    """Only a key's first allocation goes through the per-op API (to decide its row)."""
    m = fastimpl.Machine.generic(4096, policy="linux", migratetypes=True, nr_cpus=1,
                                 min_free_kbytes=0)
    calls = []
    real = m.alloc_pages
    monkeypatch.setattr(m, "alloc_pages", lambda *a: calls.append(a) or real(*a))
    ops = np.zeros((400, 3), np.int64)
    ops[0::2] = (OP_ALLOC, g.GFP_KERNEL, 0)
    ops[1::2, 0], ops[1::2, 1] = OP_FREE, ~np.arange(0, 400, 2)
    assert (run_ops(m, ops)[0::2] >= 0).all()
    assert calls == [(g.GFP_KERNEL, 0)]


def test_path_batch_stops_at_a_bad_op_with_the_models_exception():
    build = CONFIGS["generic-2cpu"]
    m, mm = build(fastimpl.Machine), build(ModelMachine)
    ops = np.array([(OP_ALLOC, g.GFP_KERNEL, 1), (OP_GET, ref(0), 0), (OP_FREE, ref(0), 1),
                    (OP_ALLOC, g.GFP_KERNEL, 0), (OP_FREE, ref(3), 1),  # order 1 at an order-0
                    (OP_FREE, ref(3), 0)], np.int64)
    with pytest.raises(errors.KmemError) as info:
        run_ops(m, ops)
    first = replay_per_op(mm, ops[:4])
    with pytest.raises(errors.KmemError) as want:
        replay_per_op(mm, np.array([(OP_FREE, first[3], 1)], np.int64))
    assert type(info.value) is type(want.value) and str(info.value) == str(want.value)
    assert info.value.batch_index == 4 and list(info.value.results) == first
    assert observed(m) == observed(mm)
    for bad, exc in [((OP_ALLOC, g.__GFP_DMA | g.__GFP_DMA32, 0), errors.BadGfpZone),
                     ((OP_ALLOC, -1, 0), errors.InvalidArgument),
                     ((OP_FREE, 4096, 0), errors.BadRange),
                     ((OP_FREE, ref(5), 0), errors.InvalidArgument),
                     ((OP_FREE, ref(1), 0), errors.InvalidArgument),
                     ((OP_PUT, 2000, 0), errors.RefcountUnderflow),
                     ((OP_FREE, ref(0), 11), errors.InvalidArgument),
                     ((OP_FREE, ref(0), -1), errors.InvalidArgument),
                     ((OP_FREE, ref(0), 1), errors.KmemError),
                     ((9, 0, 0), errors.InvalidArgument)]:
        with pytest.raises(exc) as info:
            run_ops(m, np.array([(OP_ALLOC, g.GFP_KERNEL, 0), bad], np.int64))
        page = replay_per_op(mm, np.array([(OP_ALLOC, g.GFP_KERNEL, 0)], np.int64))[0]
        if bad[0] != 9 and bad[1] not in (ref(5), ref(1)):  # ops the model's calls can take
            one = (bad[0], page if bad[1] == ref(0) and bad[0] != OP_ALLOC else bad[1], bad[2])
            with pytest.raises(errors.KmemError) as want:
                replay_per_op(mm, np.array([one], np.int64))
            assert type(info.value) is type(want.value) and str(info.value) == str(want.value)
        assert info.value.batch_index == 1 and len(info.value.results) == 1
        assert observed(m) == observed(mm)  # op 0 ran on both, op 1 on neither
        assert page == int(info.value.results[0])
        m.free_pages(m.pfn_to_page(page), 0)
        mm.free_pages(mm.pfn_to_page(page), 0)


def test_path_batch_livelock_warnings_and_stop_on_failure():
    build = CONFIGS["generic-nopcp"]
    mm, fm = build(ModelMachine), build(fastimpl.Machine)
    nofail = g.GFP_KERNEL | g.__GFP_NOFAIL
    out = np.full(4, 7, np.int64)
    ops = np.array([(OP_ALLOC, g.GFP_KERNEL, 0), (OP_ALLOC, g.GFP_KERNEL, 10),
                    (OP_ALLOC, g.GFP_KERNEL, 10), (OP_ALLOC, g.GFP_KERNEL, 10),
                    (OP_ALLOC, g.GFP_KERNEL, 10), (OP_ALLOC, g.GFP_KERNEL, 0)], np.int64)
    res = run_ops(fm, ops, stop_on_failed_alloc=True)
    assert res.tolist() == replay_per_op(mm, ops[:len(res)]) and res[-1] == -1 < len(res) - 5
    assert observed(fm) == observed(mm)
    fill = [(OP_ALLOC, g.GFP_KERNEL | NOWARN, o) for o in range(10, -1, -1) for _ in range(3)]
    ops = np.array([(OP_ALLOC, ODD, 0), *fill, (OP_ALLOC, ODD, 0),
                    *[(OP_ALLOC, nofail, 0)] * 64, (OP_ALLOC, g.GFP_KERNEL, 0)], np.int64)
    with pytest.raises(errors.AllocationLivelock) as info:
        run_ops(fm, ops, out=np.zeros(len(ops), np.int64))
    for i in range(len(ops)):  # the model, until it raises
        try:
            replay_per_op(mm, ops[i:i + 1])
        except errors.AllocationLivelock as e:
            want = e
            break
    assert str(info.value) == str(want) and info.value.batch_index == i > len(fill) + 3
    assert observed(fm) == observed(mm)
    assert sum("gfp_migratetype" in line or "WARNING" in line for line in fm.dmesg) >= 2
    assert out.tolist() == [7] * 4  # not written: out is another array


@pytest.mark.slow
def test_path_batch_without_jit():
    """NUMBA_DISABLE_JIT=1: the loop runs as Python and equals the model."""
    script = ("import numpy as np, random\n"
              "from kmem import fastimpl\n"
              "from kmem.model import Machine as MM\n"
              "from tests.test_fastimpl_path_batch import CONFIGS, random_batch, observed\n"
              "from kmem.fastimpl import run_ops, kernels\n"
              "from kmem.spec import gfp as g\n"
              "b = CONFIGS['generic-2cpu']\n"
              "mm, fm = b(MM), b(fastimpl.Machine)\n"
              "ops, want = random_batch(random.Random(3), mm, 400, [g.GFP_KERNEL, g.GFP_ATOMIC,"
              " g.GFP_HIGHUSER_MOVABLE | g.__GFP_NOWARN])\n"
              "assert run_ops(fm, ops).tolist() == want\n"
              "assert observed(fm) == observed(mm)\n"
              "print('jit disabled', kernels.JIT_DISABLED)\n")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       timeout=600, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "jit disabled True" in r.stdout


@pytest.mark.slow
def test_entry_points_bind_their_own_signature():
    """A machine binds the compiled entries of its own argument types even after another
    signature was compiled later (numba lists signatures in compile order): an entry of
    another array layout would read the arena wrongly."""
    import numba

    from kmem.fastimpl import kernels
    from kmem.fastimpl import mt_kernels as K

    if kernels.JIT_DISABLED:
        pytest.skip("no compiled entries")
    build = CONFIGS["generic-nopcp"]
    m = build(fastimpl.Machine)
    # another signature of the same entry (int32 operands), compiled after pm's: the
    # arena itself must stay one contiguous array (arena_views reshapes it)
    K.e_free_fast(m._S.copy(), np.int32(1), np.int32(0), np.int32(0))
    mm, pm = build(ModelMachine), build(fastimpl.Machine)
    ops, want = random_batch(random.Random(5), mm, 300, [g.GFP_KERNEL, g.GFP_HIGHUSER_MOVABLE])
    sig = tuple(numba.typeof(a) for a in (pm._S, 1, 0, 0))
    assert pm._e_free is K.e_free_fast.overloads[sig].entry_point
    assert replay_per_op(pm, ops) == want  # through the entries pm bound
    assert observed(pm) == observed(mm)
