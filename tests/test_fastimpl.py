"""kmem.fastimpl: the page API under kernel names, the batch API, import hygiene, and the
same logic with NUMBA_DISABLE_JIT=1 and with boundscheck=True (in subprocesses)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from kmem import fastimpl  # noqa: E402
from kmem.fastimpl import (  # noqa: E402
    OP_ALLOC,
    OP_FREE,
    OP_GET,
    OP_PUT,
    pack_ops,
    ref,
    run_ops,
    unpack_ops,
)
from kmem.model import Machine as ModelMachine  # noqa: E402
from kmem.model import api as mapi  # noqa: E402
from kmem.spec import errors, gfp  # noqa: E402
from kmem.spec.workloads import REFERENCE_CHECKSUMS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
fapi = fastimpl.api
ZERO, NOWARN, COMP = gfp.__GFP_ZERO, gfp.__GFP_NOWARN, gfp.__GFP_COMP


def both(make):
    return make(ModelMachine), make(fastimpl.Machine)


def test_api_names_match_the_model():
    assert fapi.__all__ == mapi.__all__
    for name in mapi.__all__:
        assert callable(getattr(fapi, name))


def test_kernel_named_api_gives_the_models_results():
    mm, fm = both(lambda M: M.x86_32(1024))
    for m, api in ((mm, mapi), (fm, fapi)):
        addr = api.__get_free_pages(m, gfp.GFP_KERNEL, 2)
        m.write_page(api.page_to_pfn(m, api.virt_to_page(m, addr)), 0, b"dirty")
        api.free_pages(m, addr, 2)
        z = api.get_zeroed_page(m, gfp.GFP_KERNEL)
        hi = api.alloc_page(m, gfp.GFP_HIGHUSER_MOVABLE)
        dma = api.__get_dma_pages(m, gfp.GFP_KERNEL, 1)
        m.results = (addr, z, hi.pfn, api.page_address(m, hi), dma,
                     api.page_zone(m, hi), api.page_count(m, hi),
                     m.read_page(api.virt_to_page(m, z).pfn, 0, 5),
                     api.virt_addr_valid(m, z), api.page_to_pfn(m, api.pfn_to_page(m, 7)))
        api.free_page(m, 0)
        api.__free_page(m, hi)
        api.free_page(m, z)
    assert fm.results == mm.results
    assert fm.results[7] == bytes(5)  # __GFP_ZERO really zeroed the dirty page
    assert fm.buddyinfo() == mm.buddyinfo() and fm.state() == mm.state()


def test_misuse_raises_the_models_exception_and_changes_nothing():
    m = fastimpl.Machine.generic(64, min_free_kbytes=0)
    p = m.alloc_pages(gfp.GFP_KERNEL | COMP, 2)
    m.alloc_pages(gfp.GFP_KERNEL, 0)
    odd = m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert odd.pfn % 2
    before = (m.state(), m.buddyinfo(), m.page_count(p))
    cases = [
        (errors.TailPageFree, lambda: m.free_pages(m.pfn_to_page(p.pfn + 1), 0)),
        (errors.FreeOrderMismatch, lambda: m.free_pages(p, 1)),
        (errors.UnalignedFree, lambda: m.free_pages(odd, 1)),
        (errors.BadGfpZone, lambda: m.alloc_pages(gfp.__GFP_DMA | gfp.__GFP_DMA32, 0)),
        (errors.InvalidArgument, lambda: m.alloc_pages(True, 0)),
        (errors.InvalidArgument, lambda: m.free_pages(p, 11)),
        (errors.InvalidArgument, lambda: m.free_pages(object(), 0)),
        (errors.BadRange, lambda: m.pfn_to_page(64)),
        (errors.GetPageOnFreePage, lambda: m.get_page(m.pfn_to_page(40))),
        (errors.RefcountUnderflow, lambda: m.put_page(m.pfn_to_page(40))),
        (errors.BadVirtAddr, lambda: fapi.free_pages(m, 0x1234, 0)),
    ]
    for exc, fn in cases:
        with pytest.raises(exc):
            fn()
        assert (m.state(), m.buddyinfo(), m.page_count(p)) == before
    with pytest.raises(errors.InvalidArgument):
        fastimpl.Machine.generic(64, policy="fifo")


@pytest.mark.parametrize("kw", [{}, {"migratetypes": True, "nr_cpus": 1, "policy": "linux"}],
                         ids=["bare core", "whole path"])
def test_one_page_handle_per_pfn_as_the_model(kw):
    """One ``struct page`` per pfn: the kernel's descriptors are an array indexed by pfn
    (6.12 mm/internal.h 632, ``find_buddy_page_pfn``: ``buddy = page + (__buddy_pfn -
    pfn)``; mm/page_alloc.c 6940 ``pfn_to_page(pfn)``), so a pfn's ``struct page *`` is
    the same every time it is handed out; the model keeps one descriptor object per pfn.
    fastimpl's handles are the same object exactly where the model's are (after a free
    and a new allocation of the pfn, from pfn_to_page, virt_to_page, for a compound
    tail), and ``==``/``hash`` agree with ``is``."""
    mm, fm = both(lambda M: M.x86_32(64, **kw))
    for m, api in ((mm, mapi), (fm, fapi)):
        a = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
        api.__free_pages(m, a, 0)
        b = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
        c = api.alloc_pages(m, gfp.GFP_KERNEL | COMP, 2)
        tail = api.pfn_to_page(m, c.pfn + 1)
        api.get_page(m, tail)
        api.put_page(m, tail)
        hi = api.alloc_page(m, gfp.GFP_HIGHUSER_MOVABLE)
        got = [a, b, c, tail, api.pfn_to_page(m, c.pfn),
               api.virt_to_page(m, api.page_address(m, c) + 4096), hi,
               api.pfn_to_page(m, hi.pfn), api.pfn_to_page(m, 7), api.pfn_to_page(m, 7)]
        api.__free_pages(m, c, 2)
        got.append(api.alloc_pages(m, gfp.GFP_KERNEL, 2))
        m.got = got
    assert [p.pfn for p in fm.got] == [p.pfn for p in mm.got]
    assert fm.got[0].pfn == fm.got[1].pfn and fm.got[2].pfn == fm.got[-1].pfn  # reused pfns
    same = [[x is y for y in mm.got] for x in mm.got]
    assert [[x is y for y in fm.got] for x in fm.got] == same
    assert [[x == y for y in fm.got] for x in fm.got] == same
    assert len(set(fm.got)) == len({id(p) for p in mm.got})
    other = fastimpl.Machine.x86_32(64, **kw)
    assert fm.pfn_to_page(7) != other.pfn_to_page(7) and fm.pfn_to_page(7) != 7
    with pytest.raises(errors.InvalidArgument):
        fm.free_pages(other.alloc_pages(gfp.GFP_KERNEL, 0), 0)


def test_big_machine_boots_lazily():
    m = fastimpl.Machine.x86_64(64 * 1024, policy="lowest")  # 2**24 pages
    assert m.free_pages_total == sum(z.managed_pages for z in m.zones)
    sizes = m.state_bytes()
    assert sizes["allocator"] / m.free_pages_total < 0.26
    page = m.alloc_pages(gfp.GFP_KERNEL, 10)
    assert m.zone_of(page.pfn).name == "Normal"


def test_linux_policy_state_bytes_per_page():
    m = fastimpl.Machine.generic(1 << 16, policy="linux")
    sizes = m.state_bytes()
    # links (8 B) + the PageBuddy/order byte shared with the descriptor flags
    assert (sizes["allocator"] + m._v.npfn) / (1 << 16) <= 10


# -- the batch API -------------------------------------------------------------------------

def replay_per_op(m, ops):
    """The model side of a batch: the same operations one call at a time."""
    res = []
    for code, x, y in ops.tolist():
        if code == OP_ALLOC:
            p = m.alloc_pages(x, y)
            res.append(-1 if p is None else p.pfn)
            continue
        pfn = res[~x] if x < 0 else x
        page = m.pfn_to_page(pfn)
        if code == OP_FREE:
            m.free_pages(page, y)
        elif code == OP_GET:
            m.get_page(page)
        else:
            m.put_page(page)
        res.append(0)
    return res


def run_in_batches(m, ops, size, packed=False):
    """``run_ops`` over ``ops`` in batches of ``size`` rows (None: one batch), a reference
    to an op of an earlier batch replaced by the pfn it returned; ``packed``: each batch
    as packed words (``pack_ops``)."""
    form = pack_ops if packed else (lambda rows: np.array(rows, np.int64))
    if size is None:
        return run_ops(m, form(np.array(ops, np.int64))).tolist()
    got: list[int] = []
    for s in range(0, len(ops), size):
        rows = [(c, (got[~x] if ~x < s else ref(~x - s)) if x < 0 else x, y)
                for c, x, y in ops[s:s + size]]
        got += run_ops(m, form(np.array(rows, np.int64))).tolist()
    return got


@pytest.mark.parametrize("policy", ["lowest", "linux"])
@pytest.mark.parametrize("size,packed", [(None, False), (5, False), (None, True), (7, True)])
def test_batch_equals_per_op_model(policy, size, packed):
    """The model decides, one call at a time, what a random stream does (frees refer only to
    allocations that succeeded); fastimpl then runs the whole stream as one batch, or as
    short batches (their zeroing, warnings and failure reports take another route)."""
    rng = np.random.default_rng(7)
    masks = [gfp.GFP_KERNEL, gfp.GFP_ATOMIC, gfp.GFP_DMA | gfp.GFP_KERNEL, gfp.GFP_USER | ZERO,
             gfp.GFP_KERNEL | COMP, gfp.GFP_NOWAIT, gfp.GFP_HIGHUSER_MOVABLE,
             gfp.GFP_KERNEL | gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE]  # a warning each
    mm, fm = both(lambda M: M.x86_32(20, policy=policy))
    fm.write_page(5000, 0, b"x")
    mm.write_page(5000, 0, b"x")
    ops, expect, live = [], [], []
    for i in range(4000):
        if not live or rng.random() < 0.7:
            op = (OP_ALLOC, masks[rng.integers(len(masks))], int(rng.integers(0, 6)))
            r = replay_per_op(mm, np.array([op], np.int64))[0]
            if r >= 0:
                live.append(i)
        else:
            j = live.pop(int(rng.integers(len(live))))
            kind = OP_PUT if ops[j][2] == 0 or ops[j][1] & COMP else OP_FREE
            op = (kind, ref(j), ops[j][2])
            replay_per_op(mm, np.array([(kind, expect[j], ops[j][2])], np.int64))
            r = 0
        ops.append(op)
        expect.append(r)
    assert run_in_batches(fm, ops, size, packed) == expect
    assert -1 in expect  # low memory was reached
    assert fm.state() == mm.state() and fm.dmesg == mm.dmesg
    assert fm.read_page(5000, 0, 1) == mm.read_page(5000, 0, 1)


@pytest.mark.parametrize("policy", ["lowest", "linux"])
@pytest.mark.parametrize("packed", [False, True])
def test_batch_runs_of_one_kind_equal_the_model(policy, packed):
    """Long runs of one kind of op (packed ops take the loop's run paths) whose case changes
    inside the run: allocations of one op word that leave the first zone (its watermark)
    and then fail; frees by pfn and by reference over two zones, of compound, order > 0
    and twice-referenced blocks. Against the model one call at a time; then a bad free
    inside a run of frees stops the batch with the model's exception and state."""
    def fresh():
        return both(lambda M: M.x86_32(20, policy=policy))

    form = pack_ops if packed else (lambda rows: rows)
    plan, _ = fresh()
    allocs = ([(OP_ALLOC, gfp.GFP_KERNEL, 0)] * 600 + [(OP_ALLOC, gfp.GFP_KERNEL | COMP, 2)] * 40
              + [(OP_ALLOC, gfp.GFP_KERNEL, 1)] * 2600)
    got = replay_per_op(plan, np.array(allocs, np.int64))
    assert got.count(-1) > 100  # the run reached its failures
    rng = np.random.default_rng(3)
    ops, puts = list(allocs), []
    for k, j in enumerate(rng.permutation([j for j, p in enumerate(got) if p >= 0]).tolist()):
        if k % 97 == 5 and allocs[j][2] == 0:  # a second reference: this free only drops it
            ops.append((OP_GET, ref(j), 0))
            puts.append((OP_PUT, ref(j), 0))
        ops.append((OP_FREE, ref(j) if k % 3 else got[j], allocs[j][2]))
    ops = np.array(ops + puts, np.int64)
    mm, fm = fresh()
    want = replay_per_op(mm, ops)
    assert run_ops(fm, form(ops)).tolist() == want
    assert fm.state() == mm.state() and fm.dmesg == mm.dmesg
    assert {p >= 4096 for p in got if p >= 0} == {False, True}  # ZONE_DMA: 16 MiB
    prefix = [(OP_ALLOC, gfp.GFP_KERNEL, 0)] * 20 + [(OP_ALLOC, gfp.GFP_KERNEL | COMP, 2)] * 2
    prefix += [(OP_FREE, ref(j), 0) for j in range(10)]
    tail = replay_per_op(fresh()[0], np.array(prefix[:22], np.int64))[20] + 1
    for bad in [(OP_FREE, ref(5), 0), (OP_FREE, ref(12), 1), (OP_FREE, 1 << 30, 0),
                (OP_FREE, ref(20), 0), (OP_FREE, tail, 0), (OP_FREE, ref(21), 11)]:
        ops = np.array(prefix + [bad] + prefix[20:], np.int64)
        mm, fm = fresh()
        with pytest.raises(errors.KmemError) as minfo:
            replay_per_op(mm, ops)
        with pytest.raises(type(minfo.value)) as info:
            run_ops(fm, form(ops))
        assert info.value.batch_index == len(prefix)
        assert fm.state() == mm.state()


@pytest.mark.parametrize("packed", [False, True])
def test_batch_stops_at_a_bad_op_with_the_models_exception(packed):
    form = pack_ops if packed else (lambda rows: rows)
    m = fastimpl.Machine.generic(64, min_free_kbytes=0)
    mm = ModelMachine.generic(64, min_free_kbytes=0)
    ops = np.array([(OP_ALLOC, gfp.GFP_KERNEL, 1), (OP_GET, ref(0), 0), (OP_FREE, ref(0), 1),
                    (OP_ALLOC, gfp.GFP_KERNEL, 0), (OP_FREE, ref(3), 1),  # pfn 1, order 1
                    (OP_FREE, ref(3), 0)], np.int64)
    with pytest.raises(errors.UnalignedFree) as info:
        run_ops(m, form(ops))
    assert info.value.batch_index == 4 and list(info.value.results) == [0, 0, 0, 1]
    replay_per_op(mm, ops[:4])
    assert m.state() == mm.state() and m.buddyinfo() == mm.buddyinfo()
    for bad, exc in [((OP_ALLOC, gfp.__GFP_DMA | gfp.__GFP_DMA32, 0), errors.BadGfpZone),
                     ((OP_ALLOC, -1, 0), errors.InvalidArgument),
                     ((OP_FREE, 64, 0), errors.BadRange),
                     ((OP_FREE, ref(5), 0), errors.InvalidArgument),
                     ((OP_PUT, 40, 0), errors.RefcountUnderflow),
                     ((OP_FREE, 2, 11), errors.InvalidArgument),
                     ((5 if packed else 9, 0, 0), errors.InvalidArgument)]:
        with pytest.raises(exc) as info:
            run_ops(m, form(np.array([(OP_ALLOC, gfp.GFP_KERNEL, 0), bad], np.int64)))
        assert info.value.batch_index == 1
        assert m.state() != mm.state()  # op 0 ran
        m.free_pages(m.pfn_to_page(int(info.value.results[0])), 0)
        assert m.state() == mm.state()
    # a reference to an op that returned 0 but is no allocation
    ops = np.array([(OP_ALLOC, gfp.GFP_KERNEL, 0), (OP_GET, ref(0), 0), (OP_PUT, ref(1), 0)],
                   np.int64)
    with pytest.raises(errors.InvalidArgument) as info:
        run_ops(m, form(ops))
    assert info.value.batch_index == 2 and info.value.results[1] == 0


def test_packed_ops_round_trip_and_refuse_what_does_not_fit():
    rows = np.array([(OP_ALLOC, gfp.GFP_KERNEL | COMP, 31), (OP_FREE, ref(0), 0),
                     (OP_PUT, (1 << 55) - 1, 0), (OP_GET, -(1 << 55), 7), (0, 0, 0)], np.int64)
    assert pack_ops(rows).shape == (5,)
    assert (unpack_ops(pack_ops(rows)) == rows).all()
    for bad in [(8, 0, 0), (-1, 0, 0), (OP_FREE, 0, 32), (OP_FREE, 0, -1), (OP_FREE, 1 << 55, 0),
                (OP_FREE, -(1 << 55) - 1, 0)]:
        with pytest.raises(errors.InvalidArgument):
            pack_ops(np.array([bad], np.int64))
    m = fastimpl.Machine.generic(64, min_free_kbytes=0)
    with pytest.raises(errors.InvalidArgument):
        run_ops(m, np.zeros((2, 2), np.int64))


@pytest.mark.parametrize("packed", [False, True])
def test_batch_reports_many_failures_like_the_model(packed):
    """More failed allocations in one batch than the loop notes (the reports then take the
    pass over the batch), and fewer, against the model one call at a time."""
    for nfail in (3, 200):
        mm, fm = both(lambda M: M.generic(64, min_free_kbytes=0))
        ops = np.array([(OP_ALLOC, gfp.GFP_KERNEL, 6)]
                       + [(OP_ALLOC, gfp.GFP_KERNEL | (NOWARN if i % 3 else 0), i % 5)
                          for i in range(nfail)]
                       + [(OP_ALLOC, gfp.GFP_KERNEL, 12)] * 2 + [(OP_FREE, ref(0), 6)],
                       np.int64)
        got = run_ops(fm, pack_ops(ops) if packed else ops).tolist()
        assert got == replay_per_op(mm, ops)
        assert got.count(-1) == nfail + 2
        assert fm.dmesg == mm.dmesg and fm.dmesg
        assert fm.state() == mm.state()


def test_batch_livelock_and_warnings_like_the_model():
    mm, fm = both(lambda M: M.generic(16, min_free_kbytes=0))
    nofail = gfp.GFP_KERNEL | gfp.__GFP_NOFAIL
    odd = gfp.GFP_KERNEL | gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE
    ops = np.array([(OP_ALLOC, odd, 0), (OP_ALLOC, nofail, 2), (OP_ALLOC, gfp.GFP_KERNEL, 3),
                    (OP_ALLOC, nofail, 2), (OP_ALLOC, odd, 0)], np.int64)
    with pytest.raises(errors.AllocationLivelock) as info:
        run_ops(fm, ops)
    assert info.value.batch_index == 3
    with pytest.raises(errors.AllocationLivelock):
        replay_per_op(mm, ops)
    assert fm.dmesg == mm.dmesg and len(fm.dmesg) == 2
    assert fm.state() == mm.state()


def test_batch_failures_log_like_the_model():
    mm, fm = both(lambda M: M.generic(16, min_free_kbytes=0))
    ops = np.array([(OP_ALLOC, gfp.GFP_KERNEL, 4), (OP_ALLOC, gfp.GFP_KERNEL, 12),
                    (OP_ALLOC, gfp.GFP_KERNEL, 0), (OP_ALLOC, gfp.GFP_KERNEL | NOWARN, 0),
                    (OP_ALLOC, gfp.GFP_KERNEL, 13)], np.int64)
    assert list(run_ops(fm, ops)) == replay_per_op(mm, ops)
    assert fm.dmesg == mm.dmesg and len(fm.dmesg) == 2


@pytest.mark.parametrize("workload", "abcd")
def test_workload_checksums_small(workload):
    """Both ways in give the same checksum as the model (at 2**14 pages), and the reference
    checksum is reproduced at 2**20 in tests/slow."""
    from kmem.fastimpl.workloads import run_batch, run_per_op
    from kmem.spec.workloads import run_workload

    npages, n = 1 << 14, 20000
    mm = ModelMachine.generic(npages, min_free_kbytes=0)
    z = mm.zones[0]
    expect = run_workload(workload, z.rmqueue_smallest, z.free_one_page, n=n, npages=npages)
    a = run_batch(fastimpl.Machine.generic(npages, min_free_kbytes=0), workload, n=n)
    b = run_per_op(fastimpl.Machine.generic(npages, min_free_kbytes=0), workload, n=n)
    assert a.checksum == b.checksum == expect.checksum
    assert a.ops == b.ops == expect.ops


@pytest.mark.slow
def test_reference_checksum_a_at_full_size_batch():
    from kmem.fastimpl.workloads import run_batch

    m = fastimpl.Machine.generic(1 << 20, min_free_kbytes=0)
    assert run_batch(m, "a", n=10**6).checksum == REFERENCE_CHECKSUMS["a"]


# -- environments ------------------------------------------------------------------------

def _run(code, **env):
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=600)


def test_spec_and_model_do_not_import_numba():
    r = _run("import sys, kmem.spec, kmem.model, kmem.model.api, kmem.spec.workloads\n"
             "assert 'numba' not in sys.modules and 'numpy' not in sys.modules, 'imported'")
    assert r.returncode == 0, r.stderr


def test_missing_numba_names_the_fast_extra():
    r = _run("import sys; sys.modules['numba'] = None\nimport kmem.fastimpl")
    assert r.returncode != 0 and "kmem[fast]" in r.stderr


EQUIV = ("import importlib.util, sys\n"
         "s = importlib.util.spec_from_file_location('r', 'tests/fastimpl_replay.py')\n"
         "r = importlib.util.module_from_spec(s); s.loader.exec_module(r)\n"
         "from kmem.spec import zones\n"
         "lay = zones.generic(200, holes=((3, 9),), reserved=((0, 3), (64, 65)))\n"
         "for pol in ('lowest', 'linux'):\n"
         "    r.replay(lambda M: M(lay, policy=pol, min_free_kbytes=4), {steps}, seed=11,"
         " max_order=5, full_every=40)\n"
         "    r.replay(lambda M: M.x86_32(64, policy=pol), {steps}, seed=12, full_every=60)\n"
         "import kmem.fastimpl.kernels as K\n"
         "print('jit disabled', K.JIT_DISABLED, 'boundscheck', K.BOUNDSCHECK)\n")


def test_same_logic_without_jit():
    """NUMBA_DISABLE_JIT=1: the kernels run as Python (what coverage and Python-level checks
    see) and still match the model."""
    r = _run(EQUIV.format(steps=150), NUMBA_DISABLE_JIT="1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "jit disabled True" in r.stdout


@pytest.mark.slow  # recompiles every kernel with bounds checks: ~7 s of CPU
def test_same_logic_with_boundscheck():
    r = _run(EQUIV.format(steps=300), KMEM_NUMBA_BOUNDSCHECK="1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "boundscheck True" in r.stdout


@pytest.mark.parametrize("policy", ["lowest", "linux"])
def test_from_proc_boots_the_same_machine(policy):
    src = ModelMachine.x86_64(1024)
    for order in (0, 3, 5, 9):
        for _ in range(7):
            src.alloc_pages(gfp.GFP_KERNEL, order)
    ctl = {"min_free_kbytes": src.min_free_kbytes,
           "lowmem_reserve_ratio": src.lowmem_reserve_ratio}
    mm = ModelMachine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl, policy=policy)
    fm = fastimpl.Machine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl, policy=policy)
    assert fm.state() == mm.state() and fm.buddyinfo() == mm.buddyinfo() == src.buddyinfo()
    for mz, fz in zip(mm.zones, fm.zones, strict=True):
        assert [fz.free_list_order(o) for o in range(11)] == \
            [mz.free_list_order(o) for o in range(11)]
    for order in (0, 4, 10):  # and they go on alike
        a, b = mm.alloc_pages(gfp.GFP_KERNEL, order), fm.alloc_pages(gfp.GFP_KERNEL, order)
        assert (a and a.pfn) == (b and b.pfn)


def test_demo_runs_on_fastimpl(kmem_cli):
    out = {impl: kmem_cli("demo", "--impl", impl) for impl in ("model", "fast")}
    assert out["fast"].returncode == 0, out["fast"].stderr
    assert out["fast"].stdout == out["model"].stdout


def test_model_options_beyond_the_bare_core_build_the_whole_path():
    """Options of the whole path give fastimpl's MtMachine (tests/test_fastimpl_path.py);
    the bare core stays the arena machine."""
    from kmem.fastimpl.mt_machine import MtMachine
    from kmem.spec import numa

    two = numa.x86_64_nodes((20, 24))
    for m in (fastimpl.Machine.generic(64, policy="linux", migratetypes=True),
              fastimpl.Machine.generic(64, policy="linux", migratetypes=True, nr_cpus=2),
              fastimpl.Machine(two[0], nodes=two[1:])):
        assert isinstance(m, MtMachine)
    assert type(fastimpl.Machine.generic(64)) is fastimpl.Machine
    with pytest.raises(errors.InvalidArgument):
        fastimpl.Machine.generic(64, nr_cpus=2)  # pcp lists need migratetypes, as in the model


def _fill_and_compare(min_free_kbytes_list):
    """For each min_free_kbytes in turn (so that the rows of the machines before are there
    to be shared), allocate to exhaustion with several masks on fastimpl and on the model;
    True if fastimpl gave the model's results and dmesg on all."""
    ok, failed = True, 0
    for mfk in min_free_kbytes_list:
        mm, fm = both(lambda M, k=mfk: M.x86_32(64, min_free_kbytes=k))
        for k in range(2000):
            mask = (gfp.GFP_KERNEL, gfp.GFP_ATOMIC, gfp.GFP_NOWAIT, gfp.GFP_DMA | gfp.GFP_KERNEL,
                    gfp.GFP_HIGHUSER_MOVABLE)[k % 5] | NOWARN
            order = (0, 3, 1, 5)[k % 4]
            want, got = mm.alloc_pages(mask, order), fm.alloc_pages(mask, order)
            ok &= (want is None) == (got is None) and (want is None or want.pfn == got.pfn)
            failed += want is None
        ok &= fm.state() == mm.state() and fm.dmesg == mm.dmesg
    assert failed > 100  # the watermarks were reached
    return ok


def test_decision_rows_shared_only_between_equal_inputs(monkeypatch):
    """Machines share decision rows (``decision_row``) only where every input of the row is
    equal: machines of other watermarks, built one after the other, each take the model's
    decisions; a share keyed without the watermarks fails that."""
    mfks = (0, 4096, 0, 1024, 4096)
    assert _fill_and_compare(mfks)
    fm = fastimpl.Machine.x86_32(64, min_free_kbytes=1024)
    for mask in (gfp.GFP_KERNEL, gfp.GFP_ATOMIC, gfp.GFP_DMA | gfp.GFP_KERNEL):
        row, prep = fm.decision_row(mask, 2)
        fresh, fresh_prep = fm._decision_row(mask, 2)
        assert row.tolist() == fresh.tolist() and prep == fresh_prep
        assert not row.flags.writeable
    monkeypatch.setattr(fastimpl.Machine, "_row_inputs", lambda self: ("stale", self.config))
    assert not _fill_and_compare(mfks)
