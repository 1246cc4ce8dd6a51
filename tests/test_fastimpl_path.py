"""fastimpl's whole allocation path (migratetypes, pageblocks, fallback claim/steal,
ALLOC_NOFRAGMENT, the merge restriction, highatomic reserves, per-CPU lists, NUMA) is
observably identical to the model's: random operation streams run side by side through
:class:`kmem.fuzz.path.PathRunner`, which after every step compares results, exceptions,
free lists per order and migratetype in list order, every CPU's pcp lists and counters,
pageblock types and the zone counters, and judges the lead's result with the spec."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

from kmem import fastimpl  # noqa: E402
from kmem.fuzz.path import PathConfig, PathRunner, path_impls, path_stream_for  # noqa: E402
from kmem.model import Machine as ModelMachine  # noqa: E402
from kmem.spec import gfp, migrate, watermarks  # noqa: E402
from kmem.spec import pcp as pcp_spec  # noqa: E402
from kmem.spec.errors import InvalidArgument  # noqa: E402

IMPLS = path_impls("model,fast")


def run(config: PathConfig, seed: int, n: int, *, cpus: bool = True) -> PathRunner:
    runner = PathRunner(config, IMPLS)
    for op in path_stream_for(config, seed, n):
        if op[0] == "cpu" and not cpus:
            continue
        runner.apply(op)
    return runner


def texts(m):
    return m.buddyinfo(), m.zoneinfo(), m.pagetypeinfo(), tuple(m.dmesg)


def assert_same_texts(runner: PathRunner) -> None:
    a, b = runner.machines
    assert texts(a) == texts(b)
    assert a.state() == b.state()
    assert b.check_invariants() == []


@pytest.mark.parametrize("seed", [1, 2])
def test_small_pageblocks_two_cpus(seed):
    """Claims, steals, merge limits and pcp drains within a few hundred steps."""
    r = run(PathConfig("generic", 4096, nr_cpus=2, pageblock_order=4, min_free_kbytes=128),
            seed, 250)
    assert_same_texts(r)


def test_no_pcp_lists():
    r = run(PathConfig("generic", 2048, nr_cpus=0, pageblock_order=4, min_free_kbytes=64),
            3, 250)
    assert_same_texts(r)


def test_tiny_odd_zone_with_a_hole_runs_out():
    config = PathConfig("generic", 1000, nr_cpus=3, pageblock_order=3, min_free_kbytes=32,
                        holes=((300, 517),))
    r = PathRunner(config, IMPLS)
    masks = (gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC,
             gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE)
    for i in range(300):  # fill it up with a mix of types and orders: fallbacks, failures
        r.apply(("alloc", masks[i % 4] | gfp.__GFP_NOWARN, (0, 1, 3, 2, 0)[i % 5]))
    for op in path_stream_for(config, 4, 150):
        r.apply(op)
    assert_same_texts(r)
    assert r.fails > 5


def test_x86_64_preset():
    r = run(PathConfig("x86_64", 24, nr_cpus=2), 5, 200)
    assert_same_texts(r)


def test_x86_32_preset_with_highmem():
    r = run(PathConfig("x86_32", 64, nr_cpus=1), 6, 200)
    assert_same_texts(r)


def test_numa_three_nodes():
    r = run(PathConfig("numa", nodes_mb=(20, 24, 16), nr_cpus=3), 7, 150)
    assert_same_texts(r)


def test_high_fraction_and_four_cpus():
    r = run(PathConfig("generic", 4096, nr_cpus=4, pageblock_order=4, min_free_kbytes=128,
                       high_fraction=8), 8, 200)
    assert_same_texts(r)


@pytest.mark.parametrize("policy", ["lowest", "linux"])
def test_numa_bare_core(policy):
    """NUMA nodes without migratetypes: the bare buddy core on every node."""
    import random

    mm = ModelMachine.numa_x86_64((20, 24), policy=policy)
    fm = fastimpl.Machine.numa_x86_64((20, 24), policy=policy)
    rng = random.Random(9)
    held = []
    for _ in range(300):
        if held and rng.random() < 0.4:
            pfn, order = held.pop(rng.randrange(len(held)))
            mm.free_pages(mm.pfn_to_page(pfn), order)
            fm.free_pages(fm.pfn_to_page(pfn), order)
        else:
            mask = rng.choice([gfp.GFP_KERNEL, gfp.GFP_DMA | gfp.GFP_KERNEL,
                               gfp.GFP_KERNEL | gfp.__GFP_THISNODE]) | gfp.__GFP_NOWARN
            order, nid = rng.choice([0, 1, 3, 6]), rng.randrange(2)
            a, b = mm.alloc_pages_node(nid, mask, order), fm.alloc_pages_node(nid, mask, order)
            assert (a and a.pfn) == (b and b.pfn)
            if a is not None:
                held.append((a.pfn, order))
    assert mm.state() == fm.state()
    for mz, fz in zip(mm.zones, fm.zones, strict=True):
        assert [mz.free_list_order(o) for o in range(11)] == \
            [fz.free_list_order(o) for o in range(11)]
    assert mm.buddyinfo() == fm.buddyinfo() and mm.zoneinfo() == fm.zoneinfo()


def test_from_proc_with_the_whole_path():
    src = ModelMachine.x86_64(1024)
    for order in (0, 3, 5, 9):
        for _ in range(7):
            src.alloc_pages(gfp.GFP_KERNEL, order)
    ctl = {"min_free_kbytes": src.min_free_kbytes,
           "lowmem_reserve_ratio": src.lowmem_reserve_ratio}
    kw = {"policy": "linux", "migratetypes": True, "nr_cpus": 2}
    mm = ModelMachine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl, **kw)
    fm = fastimpl.Machine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl, **kw)
    assert texts(mm) == texts(fm) and mm.state() == fm.state()
    held = []
    for order in (0, 0, 1, 4, 9, 10, 0, 2):  # and they go on alike
        for mask in (gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC):
            a, b = mm.alloc_pages(mask, order), fm.alloc_pages(mask, order)
            assert (a and a.pfn) == (b and b.pfn)
            if a is not None:
                held.append((a.pfn, order))
    for pfn, order in held:
        mm.free_pages(mm.pfn_to_page(pfn), order)
        fm.free_pages(fm.pfn_to_page(pfn), order)
    assert texts(mm) == texts(fm) and mm.state() == fm.state()


def test_same_bad_options_same_exceptions():
    for kw in ({"migratetypes": True}, {"nr_cpus": 1, "policy": "linux"},
               {"nr_cpus": -1, "policy": "linux", "migratetypes": True},
               {"percpu_pagelist_high_fraction": 3, "policy": "linux", "migratetypes": True},
               {"migratetypes": True, "policy": "linux", "pageblock_order": 11},
               {"migratetypes": True, "policy": "nope"}):
        for cls in (ModelMachine, fastimpl.Machine):
            with pytest.raises(InvalidArgument):
                cls.generic(1024, **kw)


def test_high_wmark_ok_is_the_spec_rule():
    """The compiled ``zone_watermark_ok(zone, 0, high, ZONE_MOVABLE, 0)`` agrees with
    :func:`kmem.spec.watermarks.zone_watermark_ok` (order 0, no flags)."""
    import random

    from kmem.fastimpl import mt_kernels as K

    m = fastimpl.Machine.generic(4096, policy="linux", migratetypes=True)
    z = m.zones[0]
    rng = random.Random(1)
    for _ in range(300):
        free, ha = rng.randrange(5000), rng.randrange(300)
        high, boost, reserve = rng.randrange(400), rng.randrange(100), rng.randrange(200)
        row = m._Z[0]
        row[K.Z_FREE], row[K.Z_HAFREE], row[K.Z_WHIGH] = free, ha, high
        row[K.Z_BOOST], row[K.Z_HRESERVE] = boost, reserve
        want = watermarks.zone_watermark_ok(free_pages=free, order=0, mark=high + boost,
                                            lowmem_reserve=reserve, alloc_flags=0,
                                            nr_free=z.nr_free(), nr_free_highatomic=ha)
        assert bool(K.high_wmark_ok(m._A, 0)) == want


def _random_steps(m, seed: int, n: int):
    """Random allocations (orders 0-6, several masks) and frees on ``m``, yielding after
    each."""
    import random

    rng = random.Random(seed)
    held = []
    masks = (gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC, gfp.GFP_DMA32)
    for _ in range(n):
        if held and rng.random() < 0.35:
            page, order = held.pop(rng.randrange(len(held)))
            m.free_pages(page, order)
        else:
            order = rng.choice([0, 0, 1, 2, 3, 6])
            page = m.alloc_pages(rng.choice(masks) | gfp.__GFP_NOWARN, order)
            if page is not None:
                held.append((page, order))
        yield


@pytest.mark.parametrize("whole_path", [True, False], ids=["whole-path", "bare-numa"])
def test_zone_check_is_the_spec_zone_allows(whole_path):
    """``MtMachine._zone_allows`` (the hot path's watermark test, read off the counters)
    agrees with :func:`kmem.spec.page_alloc.zone_allows` on the zone's full
    :class:`~kmem.spec.page_alloc.ZoneView`, on every zone state of a random run (boosts
    and highatomic counts from the run and planted), for every order, index and pass."""
    import random

    from kmem.fastimpl import mt_kernels as K
    from kmem.spec import alloc_flags as af
    from kmem.spec import page_alloc

    if whole_path:
        m = fastimpl.Machine.generic(2048, policy="linux", migratetypes=True, nr_cpus=2,
                                     pageblock_order=4, min_free_kbytes=256)
    else:
        m = fastimpl.Machine.numa_x86_64((8, 12), policy="linux", min_free_kbytes=512)
    rng = random.Random(11)
    extra = (0, af.ALLOC_MIN_RESERVE, af.ALLOC_MIN_RESERVE | af.ALLOC_NON_BLOCK, af.ALLOC_OOM,
             af.ALLOC_HIGHATOMIC, af.ALLOC_CMA, af.ALLOC_NO_WATERMARKS,
             af.ALLOC_HIGHATOMIC | af.ALLOC_CMA | af.ALLOC_MIN_RESERVE)
    flags = [w | e for w in (af.ALLOC_WMARK_MIN, af.ALLOC_WMARK_LOW, af.ALLOC_WMARK_HIGH)
             for e in extra]
    checked = disagreed = passed = 0
    # the NUMA machine has ten zones with five lowmem_reserve indexes each: a state every
    # 32 steps there reaches every branch of the spec's check and of _zone_allows that
    # one every 8 steps does (line and branch coverage compared), at a quarter of the CPU
    every = 8 if whole_path else 32
    for i, _ in enumerate(_random_steps(m, 12, 400)):
        if i % every:
            continue
        for zone in m.zones:
            g = zone.zone_idx_global
            saved = int(m._Z[g, K.Z_BOOST]), int(m._Z[g, K.Z_HAFREE])
            lists = m._LN[zone._lid0:zone._lid0 + 11 * migrate.MIGRATE_TYPES]
            saved_lists = lists.copy()
            for boost, ha, only in ((*saved, None), (rng.randrange(64), saved[1], None),
                                    (0, rng.randrange(zone.free_pages + 1), None),
                                    (*saved, rng.randrange(migrate.MIGRATE_TYPES))):
                m._Z[g, K.Z_BOOST], m._Z[g, K.Z_HAFREE] = boost, ha
                if only is not None:  # planted: one migratetype's lists hold the blocks
                    lists[:] = 0
                    lists[only::migrate.MIGRATE_TYPES] = saved_lists.reshape(11, -1).sum(1)
                view = m.zone_view(zone)
                for order in range(11):
                    for f in flags:
                        for hidx in range(len(zone.lowmem_reserve)):
                            want = page_alloc.zone_allows(view, order, f, hidx)
                            checked += 1
                            passed += want
                            disagreed += m._zone_allows(zone, order, f, hidx) != want
            m._Z[g, K.Z_BOOST], m._Z[g, K.Z_HAFREE] = saved
            lists[:] = saved_lists
    assert disagreed == 0
    assert checked > 10_000 and 0.1 * checked < passed < 0.9 * checked


def test_compiled_index_rules_match_the_spec():
    from kmem.fastimpl import mt_kernels as K

    for mt in range(migrate.MIGRATE_PCPTYPES):
        for order in range(11):
            assert bool(K.pcp_allowed_order(order)) == pcp_spec.pcp_allowed_order(order)
            if pcp_spec.pcp_allowed_order(order):
                assert K.order_to_pindex(mt, order) == pcp_spec.order_to_pindex(mt, order)
    for i in range(migrate.MIGRATE_TYPES):
        row = [t for t in K.FALLBACK_TABLE[i] if t >= 0]
        assert tuple(row) == migrate.fallbacks(i)


SCRIPT = ("from kmem.fuzz.path import PathConfig, PathRunner, path_impls, path_stream_for\n"
          "import kmem.fastimpl.kernels as K\n"
          "for cfg in (PathConfig('generic', 1024, nr_cpus=2, pageblock_order=3,"
          " min_free_kbytes=32), PathConfig('numa', nodes_mb=(18, 20), nr_cpus=2),\n"
          "            PathConfig('generic', 1000, nr_cpus=3, pageblock_order=3,"
          " min_free_kbytes=32, holes=((300, 517),), kernel='6.1')):\n"
          "    r = PathRunner(cfg, path_impls('model,fast'))\n"
          "    for op in path_stream_for(cfg, 3, 120):\n"
          "        r.apply(op)\n"
          "print('jit disabled', K.JIT_DISABLED)\n")


def test_same_logic_without_jit():
    """NUMBA_DISABLE_JIT=1: the whole path's steps (6.12's and 6.1's) run as Python and
    still match."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "jit disabled True" in r.stdout


def test_compiled_steps_recompile_when_the_spec_changes():
    """The steps are cached on disk; their cache entries are stamped with the spec's
    source too, so a changed rule (say nr_pcp_high) is never served stale."""
    import hashlib

    from kmem.fastimpl import kernels
    from kmem.fastimpl import mt_kernels as K

    if kernels.JIT_DISABLED or kernels.BOUNDSCHECK:
        pytest.skip("no on-disk cache in this mode")
    locator = K.rmqueue._cache._impl._locator
    from kmem.spec import alloc_flags, constants, watermarks

    digest = hashlib.sha256()
    for mod in (pcp_spec, migrate, alloc_flags, constants, watermarks):
        digest.update(open(mod.__file__, "rb").read())
    assert locator.get_source_stamp()[1] == digest.hexdigest()


def test_kernel_options():
    """kernel=, cma= and init_on_alloc= as the model takes them (6.1.192's path too)."""
    kw = {"policy": "linux", "migratetypes": True, "nr_cpus": 1}
    for extra in ({"kernel": "6.12.118"}, {"cma": True}, {"init_on_alloc": False},
                  {"kernel": "6.1.192"}, {"kernel": "6.1", "cma": True}):
        mm = ModelMachine.generic(2048, **kw, **extra)
        fm = fastimpl.Machine.generic(2048, **kw, **extra)
        for _ in range(5):
            a, b = mm.alloc_pages(gfp.GFP_KERNEL, 1), fm.alloc_pages(gfp.GFP_KERNEL, 1)
            assert a.pfn == b.pfn and mm.read_page(a.pfn, 0, 8) == fm.read_page(b.pfn, 0, 8)
        assert texts(mm) == texts(fm)
    with pytest.raises(InvalidArgument):
        fastimpl.Machine.generic(2048, cma=1, **kw)


@pytest.mark.slow
def test_from_proc_of_a_real_machine_with_the_whole_path():
    """A real machine's /proc (tests/test_from_proc.py's sample), booted with migratetypes
    and two CPUs' lists by both implementations: the same machine, and it goes on alike
    through a whole-path stream."""
    from kmem.fuzz.path import _Held

    from .test_from_proc import REAL_BUDDYINFO, REAL_ZONEINFO, SYSCTLS

    kw = {"policy": "linux", "migratetypes": True, "nr_cpus": 2}
    mm = ModelMachine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, SYSCTLS, **kw)
    fm = fastimpl.Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, SYSCTLS, **kw)
    assert texts(mm) == texts(fm) and mm.state() == fm.state()
    runner = PathRunner(None, IMPLS, machines=[mm, fm],  # the runner over these two machines
                        held=[_Held(p, o, False) for z in mm.zones for p, o in z.allocated.items()])
    from kmem.fuzz.path import random_stream

    # the stream of a 2-CPU x86_64 machine, sized by this machine's pageblocks (a PathConfig
    # would boot a machine of its own size to learn them)
    for op in random_stream(12, 80, nr_cpus=2, pageblock_order=mm.zones[0].pageblock_order):
        runner.apply(op)
    assert texts(mm) == texts(fm) and mm.state() == fm.state()


def test_the_whole_path_state_machine():
    """Hypothesis drives model and fastimpl through the whole path's rules (a few short
    examples here; ``kmem fuzz`` runs the streams for as long as it is given)."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from kmem.fuzz.path_machine import PathDifferentialMachine

    run_state_machine_as_test(PathDifferentialMachine, settings=settings(
        max_examples=4, stateful_step_count=25, deadline=None, database=None,
        phases=(Phase.generate,), suppress_health_check=list(HealthCheck)))


@pytest.mark.quality
def test_the_whole_path_state_machine_catches_a_planted_bug():
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from kmem.fuzz.path import Divergence
    from kmem.fuzz.path_machine import PathDifferentialMachine

    class Mutated(PathDifferentialMachine):
        impls = "model,mutant:path-model-pcp-list-end"

    with pytest.raises(Divergence):
        run_state_machine_as_test(Mutated, settings=settings(
            max_examples=60, stateful_step_count=40, deadline=None, database=None,
            phases=(Phase.generate,), suppress_health_check=list(HealthCheck)))


# -- Linux 6.1 (Debian 6.1.192): fastimpl's mt_kernels61 against the model's *_61 path -----
K61 = "6.1"
CONFIGS_61 = {
    "small-pageblocks-2cpus": PathConfig("generic", 4096, nr_cpus=2, pageblock_order=4,
                                         min_free_kbytes=128, kernel=K61),
    "no-pcp-lists": PathConfig("generic", 2048, nr_cpus=0, pageblock_order=4,
                               min_free_kbytes=64, kernel=K61),
    "tiny-odd-zone-hole": PathConfig("generic", 1000, nr_cpus=3, pageblock_order=3,
                                     min_free_kbytes=32, holes=((300, 517),), kernel=K61),
    "x86_64": PathConfig("x86_64", 24, nr_cpus=2, kernel=K61),
    "x86_32-highmem": PathConfig("x86_32", 64, nr_cpus=1, kernel=K61),
    "numa-3-nodes": PathConfig("numa", nodes_mb=(20, 24, 16), nr_cpus=3, kernel=K61),
    "high-fraction-4cpus": PathConfig("generic", 4096, nr_cpus=4, pageblock_order=4,
                                      min_free_kbytes=128, high_fraction=8, kernel=K61),
}


@pytest.mark.parametrize("name", list(CONFIGS_61))
def test_kernel_61_path_equals_the_model(name):
    """kernel="6.1": the same results, free lists, pcp lists (free_factor included),
    pageblock types, counters and /proc texts as the model's 6.1.192 path, on every
    preset, a tiny odd zone with a hole, no pcp lists, and NUMA."""
    config = CONFIGS_61[name]
    r = run(config, 21, 220)
    assert_same_texts(r)
    assert all(m.path_era == "6.1" for m in r.machines)


def test_kernel_61_streams_reach_what_6_1_does_differently():
    """The 6.1 streams are no 6.12 streams in disguise: the same stream on fastimpl's
    6.12 path ends elsewhere (fallback, pcp high and free_factor, merge retyping)."""
    from dataclasses import replace

    from kmem.fuzz.path import path_fingerprint

    config = CONFIGS_61["small-pageblocks-2cpus"]
    ends = []
    for kernel in (K61, None):
        runner = PathRunner(replace(config, kernel=kernel), path_impls("fast"))
        for op in path_stream_for(config, 21, 220):
            runner.apply(op)
        ends.append(path_fingerprint(runner.lead))
    assert ends[0] != ends[1]
    pcp = [p for z in fastimpl.Machine.generic(4096, policy="linux", migratetypes=True,
                                               nr_cpus=2, kernel=K61).zones for p in z.pcp]
    assert pcp and all(p.high == p.high_min == p.high_max for p in pcp)  # one fixed high


def test_kernel_61_from_proc_with_the_whole_path():
    """from_proc of a 6.1 machine's /proc, with the whole path: the same machine, and it
    goes on alike."""
    src = ModelMachine.x86_64(1024, kernel=K61)
    for order in (0, 3, 5, 9):
        for _ in range(7):
            src.alloc_pages(gfp.GFP_KERNEL, order)
    ctl = {"min_free_kbytes": src.min_free_kbytes,
           "lowmem_reserve_ratio": src.lowmem_reserve_ratio}
    kw = {"policy": "linux", "migratetypes": True, "nr_cpus": 2, "kernel": K61}
    mm = ModelMachine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl, **kw)
    fm = fastimpl.Machine.from_proc(src.zoneinfo(), src.buddyinfo(), ctl, **kw)
    assert texts(mm) == texts(fm) and mm.state() == fm.state()
    held = []
    for order in (0, 0, 1, 4, 9, 10, 0, 2):
        for mask in (gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC):
            a, b = mm.alloc_pages(mask, order), fm.alloc_pages(mask, order)
            assert (a and a.pfn) == (b and b.pfn)
            if a is not None:
                held.append((a.pfn, order))
    for pfn, order in held:
        mm.free_pages(mm.pfn_to_page(pfn), order)
        fm.free_pages(fm.pfn_to_page(pfn), order)
    assert texts(mm) == texts(fm) and mm.state() == fm.state()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(3))
def test_kernel_61_large_configs(index):
    """The large whole-path machines (a THP-sized zone; ZONE_NORMAL over a tiny DMA32,
    alone and with a remote node) on 6.1's path."""
    from dataclasses import replace

    from kmem.fuzz.path import PATH_CONFIGS

    config = replace(PATH_CONFIGS[8 + index], kernel=K61)
    for seed in (1, 2):
        assert_same_texts(run(config, seed, 300))


def test_kernel_61_zone_check_is_the_spec_zone_allows():
    """6.1's zone check (``_zone_allows_61``: the whole nr_reserved_highatomic unusable,
    6.1.192 mm/page_alloc.c:4012-4013; the order-0 boost retry keyed on the request's
    __GFP_ATOMIC, 4148-4153) agrees with :func:`kmem.spec.page_alloc.zone_allows` on the
    6.1 zone view, on zone states of a random run with planted boosts and reserves."""
    import random

    from kmem.fastimpl import mt_kernels as K
    from kmem.spec import alloc_flags as af
    from kmem.spec import page_alloc

    m = fastimpl.Machine.generic(2048, policy="linux", migratetypes=True, nr_cpus=2,
                                 pageblock_order=4, min_free_kbytes=256, kernel=K61)
    rng = random.Random(13)
    flags = [w | e for w in (af.ALLOC_WMARK_MIN, af.ALLOC_WMARK_LOW)
             for e in (0, af.ALLOC_MIN_RESERVE, af.ALLOC_OOM, af.ALLOC_HIGHATOMIC,
                       af.ALLOC_RESERVES)]
    checked = disagreed = passed = 0
    for i, _ in enumerate(_random_steps(m, 14, 240)):
        if i % 12:
            continue
        zone = m.zones[0]
        saved = int(m._Z[0, K.Z_BOOST]), int(m._Z[0, K.Z_HARES]), int(m._Z[0, K.Z_FREE])
        low = 3 * zone.watermark[2]  # planted free counts around the watermarks
        for boost, res, free in (saved, (rng.randrange(1, 64), saved[1], rng.randrange(low)),
                                 (saved[0], rng.randrange(low), rng.randrange(low)),
                                 (rng.randrange(1, 64), rng.randrange(64), rng.randrange(low))):
            m._Z[0, K.Z_BOOST], m._Z[0, K.Z_HARES], m._Z[0, K.Z_FREE] = boost, res, free
            view = m.zone_view(zone)
            for atomic in (False, True):
                m._atomic_gfp = atomic
                for order in (0, 1, 3, 9):
                    for f in flags:
                        want = page_alloc.zone_allows(view, order, f, 0, atomic_gfp=atomic)
                        checked += 1
                        passed += want
                        disagreed += m._zone_allows(zone, order, f, 0) != want
        m._Z[0, K.Z_BOOST], m._Z[0, K.Z_HARES], m._Z[0, K.Z_FREE] = saved
    assert disagreed == 0
    assert checked > 1000 and 0.1 * checked < passed < 0.9 * checked
