"""Planted bugs are caught by a failed check, not by a crash of the harness (issue 20
item 15): three model mutants used to be "caught" only because their stale copy of the
model's code raised IndexError (the top-order boot runs it ignored, a free_area[11] that
does not exist); and an implementation's internal error is reported as such."""

from __future__ import annotations

import io

import pytest

from kmem.fuzz.campaign import run_campaign
from kmem.fuzz.checks import Divergence
from kmem.fuzz.configs import MachineConfig
from kmem.fuzz.machine import DifferentialMachine


@pytest.mark.parametrize("name, check", [
    # expand() keeps the lower half (mm/page_alloc.c 6.12, expand(): the page handed out
    # is the first of the block); the result differs from the model's at once
    ("split_keeps_upper_half", "gave 0x"),
    # __rmqueue_smallest takes list_first_entry (get_page_from_free_area)
    ("rmqueue_list_tail", "gave 0x"),
    # __free_one_page stops merging at MAX_PAGE_ORDER: an order-11 block is not the spec's
    # successor state
    ("merge_beyond_max_order", "is not the spec's successor state"),
])
def test_the_sweep_catches_it_with_a_check(name, check):
    res = run_campaign(seconds=120, seed=1, impls=f"model,mutant:{name}", corpus=None,
                       bulk=False, path=False, shrink_seconds=0,
                       isolate=False, out=io.StringIO())
    f = res.failure
    assert f is not None and f.kind == "stateful"
    first = f.text.splitlines()[0]
    assert "(Divergence)" in first and check in first, first
    assert "crashed with" not in f.text


class _Broken(DifferentialMachine):
    impls = ["model@lowest", "mutant:split_keeps_upper_half@lowest"]


def test_an_internal_error_of_an_implementation_is_named_as_a_crash(monkeypatch):
    from kmem.model.zone import Zone

    def boom(self, order):
        raise IndexError("list index out of range")

    config = MachineConfig(preset="generic", size=64)
    m = _Broken()
    m.boot(config=config, swarm=frozenset({"alloc"}))
    lane = m.lanes[0]
    victim = lane.machines[1]
    for z in victim.zones:
        monkeypatch.setattr(type(z), "rmqueue_smallest", boom)
    assert not isinstance(lane.machines[0].zones[0], type(victim.zones[0]))
    with pytest.raises(Divergence) as e:
        m._alloc(lane, 0xcc0, 0)
    msg = str(e.value)
    assert "mutant:split_keeps_upper_half@lowest crashed with IndexError" in msg
    assert "none of the kernel's failure modes" in msg
    assert "before it model@lowest gave 0x" in msg
    assert Zone.rmqueue_smallest is not boom


def test_the_whole_path_stage_names_an_internal_error_and_shrinks_it(monkeypatch):
    from kmem.fuzz import path
    from kmem.model import Machine

    class Broken(Machine):
        def alloc_pages(self, gfp, order=0):
            if order == 1:  # an internal error on some requests only
                raise IndexError("list index out of range")
            return super().alloc_pages(gfp, order)

    monkeypatch.setitem(path._IMPL_CLASSES, "fast", lambda: Broken)
    config = path.PATH_CONFIGS[0]
    ops = [("alloc", 0xcc0, 0), ("alloc", 0xcc0, 0), ("alloc", 0xcc0, 1), ("alloc", 0xcc0, 0)]
    rep = path.run_path_stream(config, ops, path.path_impls("model,fast"), shrink_seconds=30)
    assert rep.failure is not None
    assert "fast@linux crashed with IndexError: list index out of range" in rep.failure
    assert rep.stream == [("alloc", 0xcc0, 1)]  # shrunk to the one request that crashes
