"""fastimpl reproduces the C reference checksums of workloads a-d at npages = 2**20 through
both ways in (batch and per-operation), and the model's free lists and /proc output on a
2**20-page zone under a long random stream."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("numba")

from kmem.fastimpl import Machine  # noqa: E402
from kmem.fastimpl.workloads import run_batch, run_per_op  # noqa: E402
from kmem.spec.workloads import REFERENCE_CHECKSUMS, REFERENCE_N, REFERENCE_NPAGES  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("way", [run_batch, run_per_op], ids=["batch", "per-op"])
@pytest.mark.parametrize("workload", "abcd")
def test_reference_checksums(workload, way):
    m = Machine.generic(REFERENCE_NPAGES, min_free_kbytes=0)
    result = way(m, workload, n=REFERENCE_N)
    assert result.checksum == REFERENCE_CHECKSUMS[workload], result.checksum_hex
    assert m.free_pages_total == REFERENCE_NPAGES
    assert m.zones[0].nr_free()[10] == REFERENCE_NPAGES // 1024


@pytest.mark.parametrize("policy", ["lowest", "linux"])
def test_big_zone_equivalence(policy):
    spec = importlib.util.spec_from_file_location(
        "fastimpl_replay", Path(__file__).parents[1] / "fastimpl_replay.py")
    replay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replay)
    replay.replay(lambda M: M.generic(REFERENCE_NPAGES, policy=policy, min_free_kbytes=1024),
                  3000, seed=20, max_order=10, full_every=1000)
