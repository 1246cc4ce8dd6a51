"""One replay helper: drive kmem.model and kmem.fastimpl through the same operations and
compare after every step (results, exceptions, counters) and, every ``full_every``
steps and at the end, the whole observable state (free lists in list order, the
abstract zone states, /proc text, dmesg, refcounts)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kmem.model import Machine as ModelMachine
from kmem.spec import gfp
from kmem.spec.constants import NR_PAGE_ORDERS

MASKS = [gfp.GFP_KERNEL, gfp.GFP_ATOMIC, gfp.GFP_DMA | gfp.GFP_KERNEL,
         gfp.GFP_DMA32 | gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_NOWAIT,
         gfp.GFP_KERNEL | gfp.__GFP_COMP, gfp.GFP_USER | gfp.__GFP_ZERO,
         gfp.GFP_KERNEL | gfp.__GFP_NOWARN, gfp.GFP_ATOMIC | gfp.__GFP_MEMALLOC,
         gfp.GFP_NOWAIT | gfp.__GFP_HIGH | gfp.__GFP_COMP, gfp.GFP_HIGHUSER | gfp.__GFP_NOWARN,
         gfp.GFP_KERNEL | gfp.__GFP_NOFAIL, gfp.GFP_ATOMIC | gfp.__GFP_NOFAIL,
         gfp.GFP_KERNEL | gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE,
         gfp.GFP_NOIO | gfp.__GFP_NOFAIL | gfp.__GFP_DMA]
BAD_MASK = gfp.__GFP_DMA | gfp.__GFP_DMA32  # a GFP_ZONE_BAD combination


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the type and message are compared
        return type(exc).__name__, str(exc)


def free_at(m: Any, pfn: int, order: int) -> None:
    m.free_pages(m.pfn_to_page(pfn), order)


def get_at(m: Any, pfn: int) -> None:
    m.get_page(m.pfn_to_page(pfn))


def put_at(m: Any, pfn: int) -> None:
    m.put_page(m.pfn_to_page(pfn))


def count_at(m: Any, pfn: int) -> int:
    return m.page_count(m.pfn_to_page(pfn))


def compare_full(mm: Any, fm: Any) -> None:
    assert fm.buddyinfo() == mm.buddyinfo()
    assert fm.zoneinfo() == mm.zoneinfo()
    assert fm.dmesg == mm.dmesg
    for mz, fz in zip(mm.zones, fm.zones, strict=True):
        for o in range(NR_PAGE_ORDERS):
            assert fz.free_list_order(o) == mz.free_list_order(o), (mz.name, o)
        assert fz.state() == mz.state(), mz.name
    assert fm.check_invariants() == []


def replay(make: Callable[[type], Any], steps: int, seed: int, *, bad: float = 0.05,
           max_order: int = 6, full_every: int = 50, masks: list[int] | None = None) -> int:
    """Run ``steps`` random operations on ``make(ModelMachine)`` and ``make(FastMachine)``;
    return how many allocations failed (to show low memory was reached)."""
    from kmem.fastimpl import Machine as FastMachine

    mm, fm = make(ModelMachine), make(FastMachine)
    compare_full(mm, fm)
    rng = random.Random(seed)
    masks = masks or MASKS
    held: list[list[int]] = []  # [pfn, order]
    fails = 0
    for step in range(steps):
        r = rng.random()
        if r < 0.45 or not held:
            mask = rng.choice(masks)
            order = rng.choice([0, 0, 0, 1, 2, rng.randint(0, max_order)])
            if rng.random() < bad / 3:
                mask, order = rng.choice([(BAD_MASK, 0), (gfp.GFP_KERNEL, 11),
                                          (gfp.GFP_KERNEL, -1), (-5, 0), (True, 0)])
            a = outcome(mm.alloc_pages, mask, order)
            b = outcome(fm.alloc_pages, mask, order)
            if a[0] == "ok":
                assert b[0] == "ok", (step, a, b)
                pa, pb = a[1], b[1]
                assert (pa is None) == (pb is None), (step, pa, pb)
                if pa is None:
                    fails += 1
                else:
                    assert pa.pfn == pb.pfn, (step, pa, pb)
                    held.append([pa.pfn, order])
            else:
                assert a == b, (step, a, b)
        elif r < 0.75:
            i = rng.randrange(len(held))
            pfn, order = held[i]
            if rng.random() < bad:  # a misuse: wrong order, a neighbour, twice, ...
                pfn, order = rng.choice([(pfn, order + 1), (pfn, max(order - 1, 0)),
                                         (pfn + 1, order), (pfn, order), (pfn + 1, 0)])
                n_a = outcome(free_at, mm, pfn, order)
                n_b = outcome(free_at, fm, pfn, order)
                assert n_a == n_b, (step, n_a, n_b)
                if n_a[0] == "ok":  # it was legal after all (e.g. the extra reference)
                    held = [h for h in held if h[0] != pfn]
                continue
            a = outcome(free_at, mm, pfn, order)
            b = outcome(free_at, fm, pfn, order)
            assert a == b, (step, a, b)
            ref_left = mm.page_count(mm.pfn_to_page(pfn))
            if a[0] == "ok" and ref_left == 0:
                held.pop(i)
            elif a[0] == "ok" and order and pfn not in mm.compound_heads:
                held[i][1] = 0  # tails went back; the first page stays
        elif r < 0.85:
            pfn = rng.choice(held)[0] + rng.choice([0, 0, 0, 1])
            a = outcome(get_at, mm, pfn)
            b = outcome(get_at, fm, pfn)
            assert a == b, (step, a, b)
        elif r < 0.95:
            i = rng.randrange(len(held))
            pfn = held[i][0] + rng.choice([0, 0, 0, 1])
            a = outcome(put_at, mm, pfn)
            b = outcome(put_at, fm, pfn)
            assert a == b, (step, a, b)
            if a[0] == "ok" and mm.page_count(mm.pfn_to_page(held[i][0])) == 0:
                held.pop(i)
        else:  # look at something: counts, a random pfn, reserved pages; let time pass
            seconds = rng.choice([0, 0, 4, 11])
            mm.advance_clock(seconds)
            fm.advance_clock(seconds)
            pfn = rng.randrange(mm.layout.max_pfn + 2)
            a = outcome(count_at, mm, pfn)
            b = outcome(count_at, fm, pfn)
            assert a == b, (step, a, b)
            a = outcome(free_at, mm, pfn, 0)
            b = outcome(free_at, fm, pfn, 0)
            assert a == b, (step, a, b)
            if a[0] == "ok":
                held = [h for h in held if h[0] != pfn]
        assert fm.buddyinfo() == mm.buddyinfo(), step
        if step % full_every == 0:
            compare_full(mm, fm)
    compare_full(mm, fm)
    return fails
