"""z3 encoding of a bounded zone's buddy state, its invariants and its transitions.

A *window* is a zone span of a few hundred pages. A state over it has one Boolean
per *slot* (an aligned in-window ``(pfn, order)`` block) saying whether that block
is free, one saying whether it is allocated, one per page saying whether the page
is managed (so every pattern of holes and reserved pages, and with it every zone
boundary inside the window, aligned or not, is covered at once), and the counters
``free_area[o].nr_free`` and NR_FREE_PAGES as integers.

The invariants mirror ``inv_*`` of :mod:`kmem.spec.buddy`. The transitions are
built from the spec's own functions: ``rmqueue_smallest_order``,
``free_one_page_delta`` and ``containing_free_block`` are run over every answer of
their lookup oracle (:mod:`kmem.proofs.explore`), and ``expand`` /
``split_around`` are evaluated on every concrete slot; each path becomes a guarded
update. tests/test_proofs_buddy_state.py checks the encoding against the spec's
Python invariants and ``alloc_next``/``free_next`` on random concrete states.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import buddy as spec_buddy
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS

from .explore import paths

Slot = tuple[int, int]
Impl = ModuleType | SimpleNamespace


@dataclass(frozen=True)
class Window:
    """The span [start, end) of a bounded zone and its aligned in-window blocks."""

    start: int
    end: int

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        out = []
        for order in range(NR_PAGE_ORDERS):
            size = 2**order
            first = -(-self.start // size) * size
            out.extend((p, order) for p in range(first, self.end - size + 1, size))
        return tuple(out)

    @cached_property
    def slot_set(self) -> frozenset[Slot]:
        return frozenset(self.slots)

    @property
    def pages(self) -> range:
        return range(self.start, self.end)

    @cached_property
    def covering(self) -> dict[int, tuple[Slot, ...]]:
        """For each page, the slots that contain it (at most one per order)."""
        cover: dict[int, list[Slot]] = {p: [] for p in self.pages}
        for p, o in self.slots:
            for q in range(p, p + 2**o):
                cover[q].append((p, o))
        return {p: tuple(v) for p, v in cover.items()}

    def ancestors(self, slot: Slot) -> tuple[Slot, ...]:
        """The slot itself and every in-window slot above it."""
        p, o = slot
        out = []
        for level in range(o, NR_PAGE_ORDERS):
            s = (p - p % 2**level, level)
            if s in self.slot_set:
                out.append(s)
        return tuple(out)

    def __str__(self) -> str:
        return f"[{self.start:#x}, {self.end:#x}) ({self.end - self.start} pages)"


@dataclass
class SymState:
    """A symbolic zone state over a window."""

    window: Window
    free: dict[Slot, z3.BoolRef]
    allocated: dict[Slot, z3.BoolRef]
    managed: dict[int, z3.BoolRef]
    nr_free: list[z3.ArithRef]
    free_pages: z3.ArithRef
    bad: z3.BoolRef = field(default_factory=lambda: z3.BoolVal(False))

    @classmethod
    def fresh(cls, window: Window, tag: str, managed: dict[int, z3.BoolRef] | None = None
              ) -> SymState:
        def b(kind: str, s: Slot) -> z3.BoolRef:
            return z3.Bool(f"{tag}_{kind}_{s[0]}_{s[1]}")

        if managed is None:
            managed = {p: z3.Bool(f"{tag}_managed_{p}") for p in window.pages}
        return cls(window, {s: b("free", s) for s in window.slots},
                   {s: b("alloc", s) for s in window.slots}, managed,
                   [z3.Int(f"{tag}_nr_free_{o}") for o in range(NR_PAGE_ORDERS)],
                   z3.Int(f"{tag}_free_pages"))

    def is_free(self, slot: Slot) -> z3.BoolRef:
        return self.free.get(slot, z3.BoolVal(False))


def invariants(st: SymState, impl: Impl = spec_buddy) -> dict[str, z3.BoolRef]:
    """The spec's invariants over a symbolic state, one formula per ``inv_*``.

    ``bad`` is set by a transition that produced a block that is not an aligned
    in-window slot: such a state breaks ``inv_alignment_and_bounds``.
    """
    w = st.window
    bounds = [z3.Implies(z3.Or(st.free[s], st.allocated[s]),
                         z3.And([st.managed[q] for q in range(s[0], s[0] + 2 ** s[1])]))
              for s in w.slots]
    disjoint, tiling = [], []
    for page, cover in w.covering.items():
        blocks = [st.free[s] for s in cover] + [st.allocated[s] for s in cover]
        disjoint.append(z3.AtMost(*blocks, 1))
        tiling.append(z3.Implies(st.managed[page], z3.Or(blocks)))
    coalesced = []
    for s in w.slots:
        p, o = s
        if o < MAX_PAGE_ORDER:
            b = (impl.find_buddy_pfn(p, o), o)
            if p < b[0] and b in w.slot_set:
                coalesced.append(z3.Not(z3.And(st.free[s], st.free[b])))
    counters = [st.nr_free[o] == z3.Sum([z3.If(st.free[s], 1, 0) for s in w.slots if s[1] == o]
                                        or [z3.IntVal(0)])
                for o in range(NR_PAGE_ORDERS)]
    counters.append(st.free_pages == z3.Sum([z3.If(st.free[s], 2 ** s[1], 0) for s in w.slots]))
    return {
        "alignment-and-bounds": z3.And(z3.Not(st.bad), *bounds),
        "disjoint": z3.And(disjoint),
        "tiling": z3.And(tiling),
        "maximal-coalescing": z3.And(coalesced),
        "counters": z3.And(counters),
    }


def _guarded_or(terms: Iterable[z3.BoolRef]) -> z3.BoolRef:
    terms = list(terms)
    return z3.Or(terms) if terms else z3.BoolVal(False)


@dataclass
class Step:
    """A transition's next state, the constraints tying it to the pre-state, and what
    must hold of its result (alloc legality)."""

    post: SymState
    constraints: list[z3.BoolRef]
    legal: z3.BoolRef
    choice: dict[str, z3.ExprRef]


def _next_from_updates(pre: SymState, tag: str, removed: dict[Slot, list[z3.BoolRef]],
                       added: dict[Slot, list[z3.BoolRef]], alloc_add: dict[Slot, list[z3.BoolRef]],
                       alloc_del: dict[Slot, z3.BoolRef], bad: list[z3.BoolRef],
                       pages_delta: z3.ArithRef) -> tuple[SymState, list[z3.BoolRef]]:
    """The next state: ``free' = free - removed + added``, counters updated by deltas as
    ``__del_page_from_free_list`` / ``__add_to_free_list`` do (not recounted)."""
    w = pre.window
    post = SymState.fresh(w, tag, managed=pre.managed)
    cons = []
    nr_delta: list[list[z3.ArithRef]] = [[] for _ in range(NR_PAGE_ORDERS)]
    for s in w.slots:
        rm = _guarded_or(removed.get(s, ()))
        add = _guarded_or(added.get(s, ()))
        cons.append(post.free[s] == z3.Or(z3.And(pre.free[s], z3.Not(rm)), add))
        nr_delta[s[1]].append(z3.If(rm, -1, 0))
        nr_delta[s[1]].append(z3.If(add, 1, 0))
        cons.append(post.allocated[s] == z3.Or(z3.And(pre.allocated[s],
                                                      z3.Not(alloc_del.get(s, z3.BoolVal(False)))),
                                               _guarded_or(alloc_add.get(s, ()))))
    for o in range(NR_PAGE_ORDERS):
        cons.append(post.nr_free[o] == pre.nr_free[o] + z3.Sum(nr_delta[o] or [z3.IntVal(0)]))
    cons.append(post.free_pages == pre.free_pages + pages_delta)
    post.bad = _guarded_or(bad)
    return post, cons


def one_hot(choice: dict[Slot, z3.BoolRef]) -> z3.BoolRef:
    return z3.PbEq([(v, 1) for v in choice.values()], 1)


def alloc_step(pre: SymState, impl: Impl = spec_buddy, tag: str = "next") -> Step:
    """``__rmqueue_smallest`` + ``alloc_next``: a request of order ``req`` takes a free block of
    the smallest order >= req with ``nr_free > 0`` (any block on that list: which one is the
    list's business) and splits it with ``expand``; failure leaves the state alone."""
    w = pre.window
    req = z3.Int("req")
    src = {s: z3.Bool(f"src_{s[0]}_{s[1]}") for s in w.slots}
    removed: dict[Slot, list[z3.BoolRef]] = {}
    added: dict[Slot, list[z3.BoolRef]] = {}
    alloc_add: dict[Slot, list[z3.BoolRef]] = {}
    bad: list[z3.BoolRef] = []
    pages: list[z3.ArithRef] = []
    cons: list[z3.BoolRef] = [z3.And(0 <= req, req <= MAX_PAGE_ORDER)]
    legal: list[z3.BoolRef] = []
    any_src = z3.Or(list(src.values()))
    for order in range(NR_PAGE_ORDERS):
        for path in paths(lambda nr_free, order=order: impl.rmqueue_smallest_order(nr_free, order),
                          lambda o: isinstance(o, int) and 0 <= o < NR_PAGE_ORDERS):
            guard = z3.And(req == order, *[pre.nr_free[o] > 0 if a else pre.nr_free[o] == 0
                                           for o, a in path.answers])
            source = path.result
            if source is None:
                # failure: legal only when no free block of order >= req exists
                cons.append(z3.Implies(guard, z3.Not(any_src)))
                legal.append(z3.Implies(guard, z3.And(
                    [z3.Not(pre.free[s]) for s in w.slots if s[1] >= order])))
                continue
            if not isinstance(source, int) or not order <= source <= MAX_PAGE_ORDER:
                bad.append(guard)
                continue
            # exactly one source block, of the source order, on its free list
            cons.append(z3.Implies(guard, one_hot(src)))
            for s, v in src.items():
                if s[1] != source:
                    cons.append(z3.Implies(guard, z3.Not(v)))
                    continue
                take = z3.And(guard, v)
                cons.append(z3.Implies(take, pre.free[s]))
                removed.setdefault(s, []).append(take)
                got = (s[0], order)
                alloc_add.setdefault(got, []).append(take)
                # legality (is_legal_alloc_weak): aligned and wholly inside a free block
                legal.append(z3.Implies(take, _guarded_or(pre.is_free(a)
                                                          for a in w.ancestors(got))))
                pages.append(z3.If(take, -(2**order), 0))
                for half in impl.expand(s[0], order, source):
                    if half in w.slot_set:
                        added.setdefault(half, []).append(take)
                    else:
                        bad.append(take)
    post, more = _next_from_updates(pre, tag, removed, added, alloc_add, {}, bad, z3.Sum(pages))
    return Step(post, cons + more, z3.And(legal), {"req": req, **{f"src{s}": v for s, v in src.items()}})


def free_step(pre: SymState, impl: Impl = spec_buddy, tag: str = "next") -> Step:
    """``free_next``: an allocated block is freed and merged by ``free_one_page_delta``."""
    w = pre.window
    victim = {s: z3.Bool(f"victim_{s[0]}_{s[1]}") for s in w.slots}
    cons: list[z3.BoolRef] = [one_hot(victim)]
    removed: dict[Slot, list[z3.BoolRef]] = {}
    added: dict[Slot, list[z3.BoolRef]] = {}
    bad: list[z3.BoolRef] = []
    pages = []

    def can_be_free(q: object) -> bool:
        return q in w.slot_set

    for s, v in victim.items():
        cons.append(z3.Implies(v, pre.allocated[s]))
        pages.append(z3.If(v, 2 ** s[1], 0))
        for path in paths(lambda oracle, s=s: impl.free_one_page_delta(oracle, s[0], s[1]),
                          can_be_free):
            guard = z3.And(v, *[pre.free[q] if a else z3.Not(pre.free[q])
                                for q, a in path.answers if q in w.slot_set])
            delta = path.result
            for m in delta.merged:
                if m in w.slot_set:
                    removed.setdefault(m, []).append(guard)
                else:
                    bad.append(guard)
            if delta.result in w.slot_set:
                added.setdefault(delta.result, []).append(guard)
            else:
                bad.append(guard)
    post, more = _next_from_updates(pre, tag, removed, added, {}, dict(victim), bad, z3.Sum(pages))
    return Step(post, cons + more, z3.BoolVal(True), {f"victim{s}": v for s, v in victim.items()})


def alloc_block_step(pre: SymState, impl: Impl = spec_buddy, tag: str = "next") -> Step:
    """``alloc_next`` for any aligned block whose pages are all free (the weak rule): the
    containing free block (``containing_free_block``) leaves its list and the parts
    around the block (``split_around``) go back."""
    w = pre.window
    target = {s: z3.Bool(f"target_{s[0]}_{s[1]}") for s in w.slots}
    cons: list[z3.BoolRef] = [one_hot(target)]
    removed: dict[Slot, list[z3.BoolRef]] = {}
    added: dict[Slot, list[z3.BoolRef]] = {}
    alloc_add: dict[Slot, list[z3.BoolRef]] = {}
    bad: list[z3.BoolRef] = []
    pages = []
    legal = []

    def can_be_free(q: object) -> bool:
        return q in w.slot_set

    for s, v in target.items():
        for path in paths(lambda oracle, s=s: impl.containing_free_block(oracle, s[0], s[1]),
                          can_be_free):
            guard = z3.And(v, *[pre.free[q] if a else z3.Not(pre.free[q])
                                for q, a in path.answers if q in w.slot_set])
            block = path.result
            if block is None:  # alloc_next raises: no transition
                cons.append(z3.Not(guard))
                continue
            if block not in w.slot_set:
                bad.append(guard)
                continue
            removed.setdefault(block, []).append(guard)
            alloc_add.setdefault(s, []).append(guard)
            pages.append(z3.If(guard, -(2 ** s[1]), 0))
            legal.append(z3.Implies(guard, _guarded_or(pre.is_free(a) for a in w.ancestors(s))))
            for part in impl.split_around(block, s[0], s[1]):
                if part in w.slot_set:
                    added.setdefault(part, []).append(guard)
                else:
                    bad.append(guard)
    post, more = _next_from_updates(pre, tag, removed, added, alloc_add, {}, bad, z3.Sum(pages))
    return Step(post, cons + more, z3.And(legal), {f"target{s}": v for s, v in target.items()})


def describe_state(model: z3.ModelRef, st: SymState) -> str:
    """A state from a model: managed pages as ranges, free and allocated blocks."""
    def on(b: z3.BoolRef) -> bool:
        return z3.is_true(model.eval(b, model_completion=True))

    managed = [p for p in st.window.pages if on(st.managed[p])]
    ranges, run_start = [], None
    for p in st.window.pages:
        if p in managed and run_start is None:
            run_start = p
        if p not in managed and run_start is not None:
            ranges.append((run_start, p))
            run_start = None
    if run_start is not None:
        ranges.append((run_start, st.window.end))
    free = sorted(s for s in st.window.slots if on(st.free[s]))
    alloc = sorted(s for s in st.window.slots if on(st.allocated[s]))
    nr = [model.eval(n, model_completion=True) for n in st.nr_free]
    return (f"managed {[(hex(a), hex(b)) for a, b in ranges]}, free {free}, allocated {alloc}, "
            f"nr_free {nr}")
