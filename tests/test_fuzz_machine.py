"""The differential state machine: clean on the model, both policies; subclassing; replay."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from kmem.fuzz.checks import Divergence
from kmem.fuzz.configs import MachineConfig
from kmem.fuzz.impls import fast_available
from kmem.fuzz.machine import RULES, DifferentialMachine

SETTINGS = settings(max_examples=15, stateful_step_count=25, deadline=None,
                    suppress_health_check=list(HealthCheck))


class ModelBothPolicies(DifferentialMachine):
    impls = "model"


ModelBothPolicies.TestCase.settings = SETTINGS
TestModelBothPolicies = ModelBothPolicies.TestCase


@pytest.mark.skipif(not fast_available(), reason="kmem.fastimpl.Machine is not built yet")
@pytest.mark.parametrize("examples", [
    4,  # the fast tier: a few machines, every rule (about 3 s of CPU)
    pytest.param(15, marks=pytest.mark.slow),  # the slow tier: as many as the model gets
])
def test_model_and_fast_agree(examples):
    class ModelFast(DifferentialMachine):
        impls = "model,fast"

    run_state_machine_as_test(ModelFast, settings=settings(SETTINGS, max_examples=examples))


def trace_of(*steps):
    return list(steps)


TINY = MachineConfig("generic", 64, min_free_kbytes=0)


def test_replay_of_a_good_trace_passes():
    DifferentialMachine.replay(trace_of(
        ("boot", {"config": TINY, "swarm": frozenset(RULES)}),
        ("alloc", {"gfp": 0xcc0, "order": 2}),
        ("get", {"i": 0, "tail": False}),
        ("free", {"i": 0}),  # drops one reference: the tails go back, page 0 stays
        ("write", {"i": 0, "byte": 7}),
        ("free", {"i": 0}),
        ("alloc_zeroed", {"gfp": 0xcc0}),
        ("double_free", {"j": 0}),
        ("wrong_order_free", {"i": 0, "delta": 1}),
        ("bad_pfn", {"offset": 5}),
        ("fill", {"gfp": 0xcc0, "order": 3, "count": 48}),
    ))


def test_a_planted_bug_is_caught_on_replay():
    class WithMutant(DifferentialMachine):
        impls = "model,mutant:split_keeps_upper_half"

    class MutantAlone(DifferentialMachine):  # no peer: the spec alone catches it
        impls = "mutant:split_keeps_upper_half"

    steps = trace_of(("boot", {"config": TINY, "swarm": frozenset(RULES)}),
                     ("alloc", {"gfp": 0xcc0, "order": 0}))
    with pytest.raises(Divergence, match="model@lowest gave 0x0, mutant.* gave 0x3f"):
        WithMutant.replay(steps)
    with pytest.raises(Divergence, match="does not start a free block"):
        MutantAlone.replay(steps)


def test_misuse_that_is_accepted_is_reported():
    class Accepting(DifferentialMachine):
        impls = "mutant:unaligned_free_accepted@lowest"

    # an order-0 block at pfn 1 freed at order 1: the kernel's VM_BUG_ON, a free here
    with pytest.raises(Divergence):
        Accepting.replay(trace_of(("boot", {"config": TINY, "swarm": frozenset(RULES)}),
                                  ("alloc", {"gfp": 0xcc0, "order": 0}),
                                  ("alloc", {"gfp": 0xcc0, "order": 0}),
                                  ("wrong_order_free", {"i": 1, "delta": 1})))


def test_extra_implementations_hook():
    from kmem.fuzz.impls import machine_class_impl
    from kmem.model import Machine

    class Extra(DifferentialMachine):
        impls = "model@lowest"
        extra_impls = (machine_class_impl("copy", Machine, "lowest"),)

    m = Extra()
    m.boot(TINY, frozenset(RULES))
    assert [i.label for i in m.lanes[0].impls] == ["model@lowest", "copy@lowest"]
