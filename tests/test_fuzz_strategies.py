"""Public strategies: valid values, and no numba on import."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmem.fuzz import ops as O
from kmem.fuzz.configs import MachineConfig
from kmem.fuzz.strategies import gfp_masks, machine_configs, operation_streams, orders
from kmem.model import Machine
from kmem.spec.constants import MAX_PAGE_ORDER


def test_importing_strategies_does_not_import_numba():
    code = ("import sys, kmem.fuzz.strategies, kmem.fuzz.machine, kmem.fuzz.bulk; "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@given(gfp_masks(), orders())
def test_masks_and_orders_are_in_range(mask, order):
    assert 0 <= mask < 2**32
    assert 0 <= order <= MAX_PAGE_ORDER + 2


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(machine_configs(max_pages=1 << 14))
def test_every_config_boots_and_round_trips(config):
    m = config.build(Machine, "linux")
    assert m.check_invariants() == []
    assert eval(repr(config)) == config  # the reproducer's form
    assert MachineConfig.from_json(config.to_json()) == config


@settings(max_examples=30, deadline=None)
@given(operation_streams(max_ops=60), st.sampled_from(["lowest", "linux"]))
def test_streams_run_on_the_model(ops, policy):
    m = MachineConfig("generic", 256, min_free_kbytes=0).build(Machine, policy)
    ex = O.Executor(m)
    results = ex.run(ops)
    assert len(results) == len(ops)
    assert O.CRASH not in results, ex.messages
    assert m.check_invariants() == []
