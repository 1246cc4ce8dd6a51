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


@pytest.mark.parametrize("kernel", ["4.19", "5.15", "6.1", "6.6"])
def test_bare_core_of_a_kernel_without_a_modelled_whole_path(kernel):
    # the bare core runs on any kernel the layout allows (the model's alloc_pages asks for
    # the whole path's era only where a __GFP_NOFAIL warning may print, and then refuses
    # with UnknownKernel): fastimpl used to refuse every allocation on these kernels
    fails = replay(lambda M: M.x86_32(64, kernel=kernel, policy="linux"), 400, seed=8,
                   max_order=5)
    assert fails >= 0


@pytest.mark.parametrize("build", [
    lambda M: M.x86_32(64, kernel="2.6.11"),
    lambda M: M(zones.generic(1024), kernel="2.6.11"),
])
def test_fastimpl_refuses_2611_up_front(build):
    from kmem.fastimpl import Machine as F
    from kmem.spec.errors import InvalidArgument

    # 2.6.11's allocator is the model's own machine (kmem.model.machine_2611); fastimpl
    # used to build a 6.x machine labelled 2.6.11 and fail on the first allocation
    with pytest.raises(InvalidArgument, match="fastimpl does not implement it"):
        build(F)
