"""fastimpl is observably identical to the model: long random operation streams with
misuse mixed in, compared after every step (tests/fastimpl_replay.py)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("numba")

_spec = importlib.util.spec_from_file_location(
    "fastimpl_replay", Path(__file__).with_name("fastimpl_replay.py"))
replay_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replay_mod)
replay = replay_mod.replay

from kmem.spec import zones  # noqa: E402

POLICIES = ["lowest", "linux"]


@pytest.mark.parametrize("policy", POLICIES)
def test_x86_64_small(policy):
    replay(lambda M: M.x86_64(24, policy=policy), 600, seed=1)


@pytest.mark.parametrize("policy", POLICIES)
def test_x86_32_highmem(policy):
    replay(lambda M: M.x86_32(1024, policy=policy), 500, seed=2)


@pytest.mark.parametrize("policy", POLICIES)
def test_x86_64_movable(policy):
    replay(lambda M: M.x86_64(4096 + 32, movablecore_mb=8, policy=policy), 400, seed=3,
           full_every=200)


@pytest.mark.parametrize("policy", POLICIES)
def test_tiny_zone_runs_out(policy):
    fails = replay(lambda M: M.generic(8, policy=policy, min_free_kbytes=4), 400, seed=4,
                   max_order=3)
    assert fails > 10  # watermarks and exhaustion were exercised


@pytest.mark.parametrize("policy", POLICIES)
def test_low_memory_watermarks_and_fallback(policy):
    # DMA + DMA32 only (24 MB): Normal requests fall back, atomic ones dip into the min
    fails = replay(lambda M: M.x86_64(20, policy=policy), 3000, seed=5, max_order=8,
                   full_every=500)
    assert fails > 0


@pytest.mark.parametrize("policy", POLICIES)
def test_odd_zone_with_holes_and_reserved(policy):
    layout = zones.generic(1000, holes=((3, 9), (300, 517)), reserved=((0, 3), (640, 641)))
    fails = replay(lambda M: M(layout, policy=policy, min_free_kbytes=8), 1500, seed=6,
                   max_order=7)
    assert fails > 0


@pytest.mark.parametrize("policy", POLICIES)
def test_unaligned_zone_start(policy):
    layout = zones.x86_64(40, holes=((4096 + 77, 4096 + 300),), reserved=((4200 + 300, 4600),))
    replay(lambda M: M(layout, policy=policy), 800, seed=7, full_every=200)
