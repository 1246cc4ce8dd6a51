"""The bulk runner: clean streams, divergence found, bisected, shrunk, reproduced."""

from __future__ import annotations

import pytest

from kmem.fuzz import ops as O
from kmem.fuzz.bulk import Divergence, ddmin, replay, run_stream
from kmem.fuzz.configs import STANDARD_CONFIGS, MachineConfig
from kmem.fuzz.impls import fast_available

SMALL = MachineConfig("generic", 1024, min_free_kbytes=0)


@pytest.mark.parametrize("workload", ["a", "b", "c", "d", "mix"])
def test_two_copies_of_the_model_agree(workload):
    ops = O.workload_stream(workload, 5, 600, SMALL.size)
    rep = run_stream(SMALL, ops, "model,kmem.model:Machine")  # two lanes of two
    assert rep.ok, rep.divergence and rep.divergence.explain()
    assert rep.checked_ops == 2 * len(ops)


@pytest.mark.skipif(not fast_available(), reason="kmem.fastimpl.Machine is not built yet")
@pytest.mark.parametrize("config", STANDARD_CONFIGS[:4], ids=lambda c: c.describe())
def test_model_and_fast_agree_on_streams(config):
    ops = O.workload_stream("mix", 9, 3000, config.size)
    rep = run_stream(config, ops, "model,fast")
    assert rep.ok, rep.divergence and rep.divergence.explain()
    assert rep.checked_ops == 2 * len(ops)


def test_divergence_is_bisected_shrunk_and_replayable():
    ops = O.workload_stream("b", 11, 4000, SMALL.size)
    rep = run_stream(SMALL, ops, "model@linux,mutant:rmqueue_list_tail@linux",
                     checkpoint=500, shrink_seconds=20)
    d = rep.divergence
    assert isinstance(d, Divergence)
    assert d.index < len(ops)
    assert len(d.ops) <= 12, d.explain()  # a handful of operations shows the bug
    with pytest.raises(AssertionError):
        replay(d.config, d.ops, list(d.impls))
    # the printed reproducer is runnable Python that fails the same way
    with pytest.raises(AssertionError):
        exec(compile(d.reproducer(), "<reproducer>", "exec"), {})
    replay(d.config, d.ops, "model")  # and the model alone is fine on it


def test_invariant_violation_of_a_single_implementation_is_found():
    ops = O.workload_stream("b", 3, 2000, SMALL.size)
    rep = run_stream(SMALL, ops, "mutant:nr_free_leak_on_merge@lowest", shrink_seconds=10)
    assert rep.divergence is not None and "invariant" in rep.divergence.what


def test_ddmin_is_one_minimal():
    ops = [(O.FREE, i) for i in range(40)]
    out = ddmin(list(ops), lambda c: (O.FREE, 7) in c and (O.FREE, 31) in c, 1e18)
    assert out == [(O.FREE, 7), (O.FREE, 31)]
