"""The model's memo of ``alloc_pages``' decisions (``Machine._decision``): on every step of
varied streams the cached decision equals the one computed afresh (``Machine._decide``),
and a machine without the memo gives the same results, state and dmesg. Planted
stale-memo bugs (a key without the order or the node, a memo kept after CONFIG_CMA
changes) fail the same check."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from kmem.model import Machine
from kmem.model.machine import AllocDecision
from kmem.spec import errors
from kmem.spec import gfp as g

MASKS = (g.GFP_KERNEL, g.GFP_ATOMIC, g.GFP_NOWAIT, g.GFP_USER, g.GFP_HIGHUSER_MOVABLE,
         g.GFP_KERNEL | g.__GFP_DMA, g.GFP_KERNEL | g.__GFP_DMA32, g.GFP_NOIO, g.GFP_NOFS,
         g.GFP_KERNEL | g.__GFP_COMP | g.__GFP_NOWARN, g.GFP_KERNEL | g.__GFP_THISNODE,
         g.GFP_KERNEL | g.__GFP_MOVABLE | g.__GFP_RECLAIMABLE,  # gfp_migratetype warns
         g.GFP_KERNEL | g.__GFP_DMA | g.__GFP_DMA32,  # BadGfpZone every time
         g.GFP_ATOMIC | g.__GFP_NOFAIL, g.GFP_NOWAIT | g.__GFP_HIGHMEM)

MACHINES: dict[str, Callable[[], Machine]] = {
    "generic": lambda: Machine.generic(1024, min_free_kbytes=0),
    "x86_32 highmem": lambda: Machine.x86_32(1024, policy="linux"),
    "x86_64 movable": lambda: Machine.x86_64(64, movablecore_mb=16),
    "whole path": lambda: Machine.x86_64(64, policy="linux", migratetypes=True, nr_cpus=2),
    "numa": lambda: Machine.numa_x86_64((32, 32, 32), policy="linux", migratetypes=True,
                                        nr_cpus=3),
}


def _result(m: Machine, gfp: int, order: int) -> Any:
    try:
        page = m.alloc_pages(gfp, order)
    except errors.KmemError as exc:
        return type(exc)
    return None if page is None else page.pfn


def _same(a: AllocDecision, b: AllocDecision) -> bool:
    return (a.highest_idx == b.highest_idx and a.passes == b.passes and a.warning == b.warning
            and len(a.zonelist) == len(b.zonelist)
            and all(x is y for x, y in zip(a.zonelist, b.zonelist, strict=True)))


def run_checked(make: Callable[[], Machine], seed: int, steps: int = 600) -> None:
    """A seeded stream of allocations (every mask of MASKS, orders 0..11), frees, CPU
    switches and a CONFIG_CMA change on a memoising machine and on one without the memo;
    before every allocation the memo's decision must be the fresh one (AssertionError)."""
    rng = random.Random(seed)
    m, plain = make(), make()
    plain._decision = plain._decide  # type: ignore[method-assign]
    live: list[tuple[int, int]] = []
    for step in range(steps):
        r = rng.random()
        if r < 0.02 and m.nr_cpus > 1:
            cpu = rng.randrange(m.nr_cpus)
            m.cpu = plain.cpu = cpu
        elif r < 0.025:
            m.cma = plain.cma = not m.cma
        elif r < 0.4 and live:
            pfn, order = live.pop(rng.randrange(len(live)))
            m.free_pages(m.pfn_to_page(pfn), order)
            plain.free_pages(plain.pfn_to_page(pfn), order)
        else:
            gfp, order = rng.choice(MASKS), rng.choice((0, 0, 0, 1, 2, 3, 5, 10, 11))
            try:
                cached = m._decision(gfp, order)
            except errors.KmemError as exc:
                with pytest.raises(type(exc)):
                    m._decide(gfp, order)
            else:
                assert _same(cached, m._decide(gfp, order)), (step, hex(gfp), order)
            got = _result(m, gfp, order)
            assert got == _result(plain, gfp, order), (step, hex(gfp), order)
            if isinstance(got, int):
                live.append((got, order))
    assert m.state() == plain.state() and m.dmesg == plain.dmesg


@pytest.mark.parametrize("name", sorted(MACHINES))
@pytest.mark.parametrize("seed", [1, 2])
def test_memo_gives_the_fresh_decision_on_every_step(name: str, seed: int) -> None:
    run_checked(MACHINES[name], seed)


def _keyed_without_order(self: Machine, gfp: int, order: int) -> AllocDecision:
    memo = self.__dict__.setdefault("_bad_memo", {})
    if gfp not in memo:
        memo[gfp] = self._decide(gfp, order)
    return memo[gfp]


def _keyed_without_node(self: Machine, gfp: int, order: int) -> AllocDecision:
    memo = self.__dict__.setdefault("_bad_memo", {})
    if (gfp, order) not in memo:
        memo[(gfp, order)] = self._decide(gfp, order)
    return memo[(gfp, order)]


@pytest.mark.parametrize("bug,name", [(_keyed_without_order, "generic"),
                                      (_keyed_without_node, "numa"),
                                      (_keyed_without_node, "x86_64 movable")])
def test_a_stale_memo_is_caught(monkeypatch: pytest.MonkeyPatch, bug: Any, name: str) -> None:
    """The check has teeth: a memo that misses an input of the decision fails it (the
    key without the order; the key without the node, which misses the CPU's node on a
    NUMA machine and, on one node, a memo kept across a CONFIG_CMA change)."""
    monkeypatch.setattr(Machine, "_decision", bug)
    with pytest.raises(AssertionError):
        for seed in (1, 2):
            run_checked(MACHINES[name], seed)
