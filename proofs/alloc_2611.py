"""Obligations on Linux 2.6.11's buddy core (:mod:`kmem.spec.alloc_2611`).

2.6.11 frees with ``__free_pages_bulk``: merge while ``page_is_buddy(buddy, order)``
(PG_private, ``page->private == order``, not reserved, count 0: exactly "the buddy
heads a free block of this order" under the representation kmem proves in
:mod:`kmem.proofs.buddy_state`), stop at the zone's end (``bad_range``), and add the
result at the **head** of its list. The abstract state is the *set* of free blocks per
order: the position of a block in its list is not part of it (the conform harness checks
list order against the compiled code), so head insertion yields the same abstract
transition as any insertion.

* ``2611.free-is-free_next``: for every state satisfying the spec's invariants and every
  allocated block, 2.6.11's free changes exactly the blocks the spec's ``free_next``
  (``free_one_page_delta``) changes, in exactly the same way, with the same
  ``nr_free`` and ``free_pages`` updates.
* ``2611.inductive.free`` / ``2611.inductive.alloc``: with 2.6.11's functions in place of
  the spec's (``free_pages_bulk_delta``; ``expand``, with ``__rmqueue``'s choice of the
  smallest non-empty order), every step keeps every invariant, and allocations are legal.

2.6.11's buddy indices are relative to the zone's first page (``page - zone_mem_map``):
the proofs take zone-relative windows [0, N), which by translation covers a zone at any
start. The window's managed pages are symbolic, so every zone end, hole and reserved range
inside it is covered; 64 pages (orders 0..6), as the 6.x obligations.
"""

from __future__ import annotations

from types import SimpleNamespace

import z3

from kmem.spec import alloc_2611 as a2611
from kmem.spec import buddy as spec_buddy

from .buddy_state import (
    Derived,
    SymState,
    Window,
    _any,
    _path_guard,
    _Updates,
    alloc_steps,
    free_steps,
    invariants,
    prove_inductive,
)
from .core import Obligation, Prover
from .explore import paths

WINDOWS = (Window(0, 64),)
SMALL = Window(0, 16)  # the fast-tier test's window


def impl_2611(window: Window) -> SimpleNamespace:
    """The spec's buddy interface with 2.6.11's functions: ``free_one_page_delta`` is
    ``__free_pages_bulk`` in a zone of ``window``'s pages, ``expand`` is 2.6.11's."""
    zone_pages = window.end - window.start

    def free_one_page_delta(is_free_block, pfn: int, order: int, max_order=None):  # noqa: ANN001
        d = a2611.free_pages_bulk_delta(
            lambda idx, o: is_free_block(window.start + idx, o), pfn - window.start, order,
            zone_pages)
        return spec_buddy.FreeDelta(
            merged=tuple((window.start + i, o) for i, o in d.merged),
            result=(window.start + d.result[0], d.result[1]), to_tail=False)

    def expand(pfn: int, low: int, high: int) -> tuple[tuple[int, int], ...]:
        return tuple((window.start + i, o) for i, o in a2611.expand(pfn - window.start, low, high))

    return SimpleNamespace(
        find_buddy_pfn=spec_buddy.find_buddy_pfn,
        free_one_page_delta=free_one_page_delta,
        expand=expand,
        rmqueue_smallest_order=spec_buddy.rmqueue_smallest_order,
        containing_free_block=spec_buddy.containing_free_block,
        split_around=spec_buddy.split_around)


def check_free_is_free_next(prover: Prover, windows: tuple[Window, ...] = WINDOWS) -> int:
    """2.6.11's ``__free_pages_bulk`` makes exactly the spec's ``free_next`` transition.
    Returns the number of blocks checked."""
    count = 0
    for window in windows:
        impl = impl_2611(window)
        pre = SymState.fresh(window)
        solver = z3.Solver()
        for insts in invariants(pre, spec_buddy, counters=False,
                                derived=Derived(pre)).values():
            solver.add(*insts)
        spec_steps = {s.key: s for s in free_steps(pre, spec_buddy)}
        for victim in window.slots:
            up = _Updates(window)
            for path in paths(lambda oracle, v=victim, f=impl.free_one_page_delta: f(oracle, *v),
                              lambda q, slots=window.slot_set: q in slots):
                guard = _path_guard(pre, path.answers)
                for m in path.result.merged:
                    up.remove(m, guard)
                up.add(path.result.result, guard)
            post, nr_delta = up.free_post(pre)
            spec = spec_steps[("free", victim)]
            slots = set(post) | set(spec.free_post)
            same = [post.get(s, pre.free[s]) == spec.free_post.get(s, pre.free[s])
                    for s in sorted(slots)]
            same += [a == b for a, b in zip(nr_delta, spec.nr_delta, strict=True)]
            same.append(z3.Not(_any(up.bad)))
            solver.push()
            solver.set("timeout", prover.remaining_ms())
            solver.add(pre.allocated[victim], z3.Not(z3.And(same)))
            prover.queries += 1
            answer = solver.check()
            if answer == z3.sat:
                from .buddy_state import describe_state
                from .core import Refuted
                raise Refuted(f"zone {window}: freeing {victim} the 2.6.11 way differs from "
                              f"free_next in state {describe_state(solver.model(), pre)}")
            if answer != z3.unsat:
                from .core import Unknown
                raise Unknown(f"free {victim}: {solver.reason_unknown()}")
            solver.pop()
            count += 1
    return count


def check_inductive(prover: Prover, kind: str, windows: tuple[Window, ...] = WINDOWS) -> int:
    steps = free_steps if kind == "free" else alloc_steps
    return sum(prove_inductive(prover, w, steps, impl_2611(w), what=f"2.6.11 {kind}")
               for w in windows)


def obligations() -> list[Obligation]:
    sizes = " and ".join(str(w.end - w.start) for w in WINDOWS)
    return [
        Obligation("2611.free-is-free_next", "buddy",
                   f"2.6.11's free (__free_pages_bulk: page_is_buddy merging, head insertion) "
                   f"changes exactly the free blocks and counters that the spec's free_next "
                   f"changes, from every state satisfying the invariants; zone-relative zones "
                   f"of {sizes} pages with any managed-page pattern.",
                   check_free_is_free_next),
        Obligation("2611.inductive.free", "buddy",
                   f"With 2.6.11's __free_pages_bulk, every free keeps every invariant "
                   f"(alignment, bounds, disjoint, tiling, maximal coalescing, counters); "
                   f"zones of {sizes} pages.",
                   lambda pr: check_inductive(pr, "free")),
        Obligation("2611.inductive.alloc", "buddy",
                   f"With 2.6.11's __rmqueue (smallest non-empty order) and expand, every "
                   f"allocation keeps every invariant and is legal; zones of {sizes} pages.",
                   lambda pr: check_inductive(pr, "alloc")),
    ]


__all__ = ["check_free_is_free_next", "check_inductive", "impl_2611", "obligations"]
