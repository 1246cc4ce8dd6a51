"""The whole-path fuzzing runner's own parts (fuzz/path.py) that mutation testing found
unchecked (issue 20): the stream report, the shrinker, the configuration round trip and
picker, the runner's comparison of states and its messages. Both implementations are
the model here (the runner is under test, not fastimpl), so nothing is compiled."""

from __future__ import annotations

import json
import math

import pytest

from kmem.fuzz import path
from kmem.model import Machine
from kmem.spec import gfp
from kmem.spec.errors import InvalidArgument


@pytest.fixture
def two_models(monkeypatch):
    """``model,fast`` with the model class behind both names (``cls`` replaces fast's)."""
    def use(cls=Machine):
        monkeypatch.setitem(path._IMPL_CLASSES, "fast", lambda: cls)
        return path.path_impls("model,fast")
    return use


@pytest.mark.parametrize("config", [*path.PATH_CONFIGS, *path.PATH_CONFIGS_61])
def test_a_path_config_survives_its_json_round_trip(config):
    # a finding is saved as JSON and replayed from it (campaign/isolate: PathConfig.from_json)
    assert path.PathConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_the_numa_config_keeps_its_cpu_nodes_through_json():
    config = path.PATH_CONFIGS[-1]
    assert config.cpu_nodes == (0, 0)
    back = path.PathConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert back.cpu_nodes == (0, 0) and back.kwargs()["cpu_nodes"] == (0, 0)


def test_all_whole_path_names_only_whole_path_sets():
    assert path.all_whole_path("model,fast")
    assert path.all_whole_path(["model@linux", "fast@linux"])
    # a buddy-only mutant has no whole path: the set is not all whole-path
    assert not path.all_whole_path("model,mutant:split_keeps_upper_half")


def test_a_clean_stream_reports_its_length_and_impls(two_models):
    impls = two_models()
    ops = [("alloc", gfp.GFP_KERNEL, 0), ("alloc", gfp.GFP_KERNEL, 1), ("free", 0), ("drain",)]
    rep = path.run_path_stream(path.PATH_CONFIGS[0], ops, impls)
    assert rep.failure is None and rep.stream == []
    assert rep.ops == 4 and rep.checked_ops == 8  # four steps on two implementations
    assert rep.impls == ["model", "fast"]  # the names without the "@linux" policy


def test_a_stream_past_its_deadline_reports_no_steps(two_models):
    rep = path.run_path_stream(path.PATH_CONFIGS[0], [("alloc", gfp.GFP_KERNEL, 0)] * 3,
                               two_models(), deadline=0.0)
    assert rep.failure is None and rep.ops == 0 and rep.checked_ops == 0


def _fake_run(needed, tried):
    """A stand-in for path._run: the stream fails (at its last needed op) when it holds
    every op in ``needed``; records the length of each candidate."""
    def run(config, impls, ops, deadline=math.inf):
        tried.append(len(ops))
        if all(op in ops for op in needed):
            return max(ops.index(op) for op in needed), f"fails with {len(ops)} ops"
        return None
    return run


def test_ddmin_halves_first_and_keeps_the_last_message(monkeypatch):
    # Zeller's ddmin: start with n = 2 (halves); after a reduction n = max(n - 1, 2);
    # when no complement fails, twice the pieces. Eight ops whose last alone fails:
    # the complements tried are 4, 2 and 1 ops long.
    tried: list[int] = []
    bad = ("bad",)
    monkeypatch.setattr(path, "_run", _fake_run([bad], tried))
    ops = [("x", i) for i in range(7)] + [bad]
    out, msg = path._ddmin(path.PATH_CONFIGS[0], [], ops, "first", math.inf)
    assert out == [bad] and msg == "fails with 1 ops"
    assert tried == [4, 2, 1]


def test_ddmin_keeps_two_ops_that_fail_only_together(monkeypatch):
    tried: list[int] = []
    a, bad = ("a",), ("bad",)
    monkeypatch.setattr(path, "_run", _fake_run([a, bad], tried))
    ops = [a] + [("x", i) for i in range(6)] + [bad]
    out, _ = path._ddmin(path.PATH_CONFIGS[0], [], ops, "first", math.inf)
    assert out == [a, bad]


class _Rng:
    """random() gives ``r``; choice() the last element (to tell the slices apart)."""

    def __init__(self, r):
        self.r = r

    def random(self):
        return self.r

    def choice(self, seq):
        return seq[-1]


@pytest.mark.parametrize("r, expected", [
    (0.05, path.PATH_CONFIGS_61[-1]),  # 10 %: any 6.1 machine
    (0.2, path.PATH_CONFIG_61_BATCH),  # 15 %: 6.1 with a pcp batch above 1
    (0.5, path.PATH_CONFIGS[7]),  # 43 %: the eight quick machines
    (0.9, path.PATH_CONFIGS[-1]),  # 32 %: the large ones
])
def test_pick_config_shares(r, expected):
    assert path.pick_config(_Rng(r)) == expected


def test_results_are_shown_as_the_kernel_prints_pfns():
    assert path._fmt(("ok", 4096)) == "0x1000"
    assert path._fmt(("ok", None)) == "None"
    assert path._fmt(("ok", (1, 2))) == "(1, 2)"
    assert path._fmt(("raise", "InvalidArgument: x")) == "raise InvalidArgument: x"


class _NoDrain(Machine):
    """drain_all_pages that leaves the pcp lists as they are (same result, None)."""

    def drain_all_pages(self):
        return None


def test_a_state_difference_with_equal_results_is_a_divergence(two_models):
    # mm/page_alloc.c (6.12) drain_all_pages empties every CPU's pcp lists; an
    # implementation that returns the same (nothing) but keeps its pages there differs
    # in state, which only the state comparison sees
    runner = path.PathRunner(path.PATH_CONFIGS[0], two_models(_NoDrain))
    runner.apply(("alloc", gfp.GFP_KERNEL, 0))
    runner.apply(("free", 0))
    assert runner.lead.pcp_pages_total > 0
    with pytest.raises(path.Divergence) as exc:
        runner.apply(("drain",))
    assert "model@linux and fast@linux differ: zone 0" in str(exc.value)


class _NoOrder1(Machine):
    """An allocator that gives up on every order-1 request."""

    def alloc_pages(self, gfp_mask, order=0):
        if order == 1:
            return None
        return super().alloc_pages(gfp_mask, order)


def test_an_illegal_failure_is_named(monkeypatch):
    # a booted 4096-page zone has order-1 blocks free above the min watermark:
    # get_page_from_freelist's first pass serves an order-1 GFP_KERNEL request
    monkeypatch.setitem(path._IMPL_CLASSES, "model", lambda: _NoOrder1)
    monkeypatch.setitem(path._IMPL_CLASSES, "fast", lambda: _NoOrder1)
    runner = path.PathRunner(path.PATH_CONFIGS[0], path.path_impls("model,fast"))
    with pytest.raises(path.Divergence) as exc:
        runner.apply(("alloc", gfp.GFP_KERNEL, 1))
    assert str(exc.value) == (f"step 1 ('alloc', {gfp.GFP_KERNEL}, 1): failed, but the spec "
                              f"says some pass can serve it")


def test_freeing_a_shared_plain_block_keeps_only_its_first_page(two_models):
    # mm/page_alloc.c (6.12) __free_pages: a non-compound order-1 block whose count stays
    # above zero gives its tail page back (free_the_page(page + 1, 0)) and keeps the
    # first; the runner's page count must follow, or the next check finds pages made
    runner = path.PathRunner(path.PATH_CONFIGS[0], two_models())
    runner.apply(("exhaust", gfp.GFP_KERNEL, 1, 1))  # one order-1 block, not __GFP_COMP
    runner.apply(("get", 0))
    runner.apply(("free", 0))
    assert runner.held_pages == 1 and runner.held[0].order == 0


class _RaisesOnOrder1(Machine):
    def alloc_pages(self, gfp_mask, order=0):
        if order == 1:
            raise InvalidArgument("order 1 refused")
        return super().alloc_pages(gfp_mask, order)


def test_an_exhaust_that_raises_is_named(monkeypatch):
    # an order-1 GFP_KERNEL request is valid (order <= MAX_PAGE_ORDER, a known mask):
    # an implementation that raises on it is wrong however all of them agree
    monkeypatch.setitem(path._IMPL_CLASSES, "model", lambda: _RaisesOnOrder1)
    monkeypatch.setitem(path._IMPL_CLASSES, "fast", lambda: _RaisesOnOrder1)
    runner = path.PathRunner(path.PATH_CONFIGS[0], path.path_impls("model,fast"))
    op = ("exhaust", gfp.GFP_KERNEL, 1, 4)
    with pytest.raises(path.Divergence) as exc:
        runner.apply(op)
    assert str(exc.value) == (f"step 1 {op}: raised InvalidArgument: order 1 refused on "
                              f"valid requests")
