"""Obligations on buddy states: the canonical free-block form and the inductive invariants.

Bounds (why these sizes): a window's encoding has one variable per aligned block, so
its size grows as 2 x pages, and the inductive step is checked once per transition
choice (every block that can be freed, every request order and source block). The
canonical form is proved for 256-page windows, at an odd and at an unaligned
start (orders 0..7 fit; bounds not aligned to any order). The inductive
invariants are proved for a 64-page window with all three transitions, and a
128-page window for ``__rmqueue_smallest`` allocation: split and merge chains of
6 (7) levels, and, because the managed pages are symbolic, every zone edge, hole
and reserved range inside the window. (Free in a 128-page window takes about 17 s
alone, which breaks the suite's budget.) Larger windows repeat the same local
shapes at more positions; orders 8..10 are covered by the arithmetic obligations,
and the MAX_PAGE_ORDER cap by :mod:`kmem.proofs.scaled` (the same claims with the
constant rebound to 3 and 4), not here (a window with two order-10 blocks has
4,000+ slots, beyond the suite's 20-second budget).
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import buddy as spec_buddy
from kmem.spec.constants import MAX_PAGE_ORDER

from .buddy_state import (
    Derived,
    StepsFn,
    SymState,
    Window,
    alloc_block_steps,
    alloc_steps,
    free_steps,
    invariants,
    prove_inductive,
)
from .core import Obligation, Prover, first_line

Impl = ModuleType | SimpleNamespace

CANONICAL_WINDOWS = (Window(3, 3 + 256), Window(0x3F0, 0x3F0 + 256))
INDUCTIVE = (
    ("alloc", alloc_steps, (Window(0, 64), Window(0, 128))),
    ("free", free_steps, (Window(0, 64),)),
    ("alloc-block", alloc_block_steps, (Window(0, 64),)),
)


def canonical(st: SymState, terms: Derived) -> dict[tuple[int, int], z3.BoolRef]:
    """The canonical decomposition of the managed (here: free) pages: a block is free iff
    all its pages are, and its order+1 parent is not wholly free inside the zone (or it
    is already MAX_PAGE_ORDER)."""
    out = {}
    for s in st.window.slots:
        p, o = s
        parent = (p - p % 2 ** (o + 1), o + 1)
        full = terms.all_managed(s)
        if o < MAX_PAGE_ORDER and parent in st.window.slot_set:
            out[s] = z3.And(full, z3.Not(terms.all_managed(parent)))
        else:
            out[s] = full
    return out


def check_canonical(prover: Prover, impl: Impl = spec_buddy) -> None:
    """The free-block decomposition of any set of free pages is unique: every family of
    free blocks that is aligned, inside the zone, disjoint, covers exactly the free pages
    and is maximally coalesced (``inv_*`` of kmem.spec.buddy) is the canonical one, in
    256-page zones with unaligned bounds and any holes."""
    for window in CANONICAL_WINDOWS:
        st = SymState.fresh(window, "dec")
        for s in window.slots:  # a decomposition of the free pages: no allocated blocks
            st.allocated[s] = z3.BoolVal(False)
        terms = Derived(st)
        hyps = [i for name, insts in invariants(st, impl, counters=False, derived=terms).items()
                for i in insts]
        canon = canonical(st, terms)

        def describe(model: z3.ModelRef, st: SymState = st, canon: dict = canon) -> str:
            from .buddy_state import describe_state
            wrong = [s for s in st.window.slots
                     if z3.is_true(model.eval(st.free[s] != canon[s], model_completion=True))]
            return f"zone {st.window}: {describe_state(model, st)}; differs at {wrong[:4]}"

        prover.prove(z3.And([st.free[s] == canon[s] for s in window.slots]), hyps, describe,
                     what="canonical decomposition")


def _inductive(kind: str, steps: StepsFn, windows: tuple[Window, ...]):
    def check(prover: Prover, impl: Impl = spec_buddy) -> None:
        for window in windows:
            prove_inductive(prover, window, steps, impl, what=kind)
    return check


def obligations(impl: Impl = spec_buddy) -> list[Obligation]:
    """The buddy-state obligations, checking ``impl`` (the spec, or a mutant of it)."""
    out = [Obligation("buddy.canonical-form", "buddy", first_line(check_canonical.__doc__),
                      lambda pr: check_canonical(pr, impl))]
    claims = {
        "alloc": "__rmqueue_smallest + expand",
        "free": "__free_one_page (free_one_page_delta)",
        "alloc-block": "alloc_next of any wholly free aligned block (split_around)",
    }
    #: what else each step must do: an allocation must be a legal one (or fail only when
    #: failing is legal); a free has no choice to check
    also = {"alloc": " and the allocation is legal", "free": "",
            "alloc-block": " and the allocation is legal"}
    for kind, steps, windows in INDUCTIVE:
        sizes = " and ".join(str(w.end - w.start) for w in windows)
        claim = (f"For every state satisfying the invariants (alignment, bounds, disjoint, tiling, "
                 f"maximal coalescing, counters) and every {claims[kind]} step, the next state "
                 f"satisfies them again{also[kind]}; zones of {sizes} pages with "
                 f"any managed-page pattern.")
        check = _inductive(kind, steps, windows)
        out.append(Obligation(f"buddy.inductive.{kind}", "buddy", claim,
                              lambda pr, check=check: check(pr, impl)))
    return out
