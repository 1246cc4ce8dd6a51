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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import buddy as spec_buddy
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS

from . import fastz3 as zf
from .core import Prover, Refuted
from .explore import paths

Slot = tuple[int, int]
Impl = ModuleType | SimpleNamespace
StepsFn = Callable[["SymState", Impl], Iterable["Step"]]


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

    def is_root(self, slot: Slot) -> bool:
        """No in-window slot contains this one."""
        p, o = slot
        return o == MAX_PAGE_ORDER or (p - p % 2 ** (o + 1), o + 1) not in self.slot_set

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
    """A symbolic zone state over a window (a next state shares the untouched entries)."""

    window: Window
    free: dict[Slot, z3.BoolRef]
    allocated: dict[Slot, z3.BoolRef]
    managed: dict[int, z3.BoolRef]
    nr_free: list[z3.ArithRef]
    free_pages: z3.ArithRef

    @classmethod
    def fresh(cls, window: Window, tag: str = "pre") -> SymState:
        def b(kind: str, s: Slot) -> z3.BoolRef:
            return z3.Bool(f"{tag}_{kind}_{s[0]}_{s[1]}")

        return cls(window, {s: b("free", s) for s in window.slots},
                   {s: b("alloc", s) for s in window.slots},
                   {p: z3.Bool(f"{tag}_managed_{p}") for p in window.pages},
                   [z3.Int(f"{tag}_nr_free_{o}") for o in range(NR_PAGE_ORDERS)],
                   z3.Int(f"{tag}_free_pages"))

    def is_free(self, slot: Slot) -> z3.BoolRef:
        return self.free.get(slot, zf.BoolVal(False))

    def nonempty(self, order: int) -> z3.BoolRef:
        """``free_area[order]`` has a block: with the counters invariant, ``nr_free[order] > 0``."""
        return _any(self.free[s] for s in self.window.slots if s[1] == order)


def _any(terms: Iterable[z3.BoolRef]) -> z3.BoolRef:
    terms = list(terms)
    return zf.Or(terms) if terms else zf.BoolVal(False)


class Derived:
    """Bottom-up terms over a state's slot tree, shared with a base state where unchanged.

    ``under(s)``: some block lies strictly inside slot s; ``covered(s)``: every managed
    page of s lies in a block inside s; ``all_managed(s)``: every page of s is managed.
    A step changes these only on the ancestors of the slots it touches.
    """

    def __init__(self, st: SymState, base: Derived | None = None,
                 changed: frozenset[Slot] = frozenset()):
        self.st, self.base, self.changed = st, base, changed
        self._under: dict[Slot, z3.BoolRef] = {}
        self._covered: dict[Slot, z3.BoolRef] = {}
        self._block: dict[Slot, z3.BoolRef] = {}
        self._managed: dict[Slot, z3.BoolRef] = {} if base is None else base._managed

    def block(self, s: Slot) -> z3.BoolRef:
        """Slot s is a block (free or allocated); one term per slot and state."""
        if self.base is not None and s not in self.changed:
            return self.base.block(s)
        term = self._block.get(s)
        if term is None:
            term = self._block[s] = zf.Or(self.st.free[s], self.st.allocated[s])
        return term

    @staticmethod
    def children(s: Slot) -> tuple[Slot, Slot]:
        p, o = s
        return (p, o - 1), (p + 2 ** (o - 1), o - 1)

    def under(self, s: Slot) -> z3.BoolRef:
        if self.base is not None and s not in self.changed:
            return self.base.under(s)
        if s not in self._under:
            if s[1] == 0:
                self._under[s] = zf.BoolVal(False)
            else:
                a, b = self.children(s)
                self._under[s] = zf.Or(self.block(a), self.under(a), self.block(b), self.under(b))
        return self._under[s]

    def covered(self, s: Slot) -> z3.BoolRef:
        if self.base is not None and s not in self.changed:
            return self.base.covered(s)
        if s not in self._covered:
            if s[1] == 0:
                term = zf.Or(self.block(s), zf.Not(self.st.managed[s[0]]))
            else:
                a, b = self.children(s)
                term = zf.Or(self.block(s), zf.And(self.covered(a), self.covered(b)))
            self._covered[s] = term
        return self._covered[s]

    def all_managed(self, s: Slot) -> z3.BoolRef:
        if s not in self._managed:
            if s[1] == 0:
                self._managed[s] = self.st.managed[s[0]]
            else:
                a, b = self.children(s)
                self._managed[s] = zf.And(self.all_managed(a), self.all_managed(b))
        return self._managed[s]


def invariants(st: SymState, impl: Impl = spec_buddy, counters: bool = True,
               touched: Iterable[Slot] | None = None, derived: Derived | None = None
               ) -> dict[str, list[z3.BoolRef]]:
    """The spec's invariants over a symbolic state, per ``inv_*`` a list of instances.

    Aligned blocks either nest or are disjoint, so the page-level rules become rules on
    the slot tree: *disjoint* is "no slot is both free and allocated, and no block has
    a block inside it"; *tiling* (with bounds) is "every managed page of each top-level
    slot is covered"; *bounds* is "a block's pages are all managed". With ``touched``,
    only the instances a step on those slots can change are returned (the others are
    the same formulas over the same variables as in the pre-state).
    """
    w = st.window
    d = derived or Derived(st)
    if touched is None:
        local, chain = list(w.slots), list(w.slots)
    else:
        local = sorted(set(touched))
        chain = sorted({a for s in local for a in w.ancestors(s)})
    out: dict[str, list[z3.BoolRef]] = {}
    out["alignment-and-bounds"] = [zf.Implies(d.block(s), d.all_managed(s)) for s in local]
    out["disjoint"] = [zf.Not(zf.And(st.free[s], st.allocated[s])) for s in local]
    out["disjoint"] += [zf.Not(zf.And(d.block(s), d.under(s))) for s in chain if s[1] > 0]
    out["tiling"] = [d.covered(s) for s in chain if w.is_root(s)]
    pairs = set()
    for s in local:
        p, o = s
        if o < MAX_PAGE_ORDER:
            b = (impl.find_buddy_pfn(p, o), o)
            if b in w.slot_set:
                pairs.add((min(s, b), max(s, b)))
    out["maximal-coalescing"] = [zf.Not(zf.And(st.free[a], st.free[b])) for a, b in sorted(pairs)]
    if counters:
        out["counters"] = [zf.Eq(st.nr_free[o], zf.Sum([zf.If(st.free[s], 1, 0)
                                                        for s in w.slots if s[1] == o]))
                           for o in range(NR_PAGE_ORDERS)]
        out["counters"].append(
            zf.Eq(st.free_pages, zf.Sum([zf.If(st.free[s], 2 ** s[1], 0) for s in w.slots])))
    return out


@dataclass
class Step:
    """One concrete choice of a transition (which block is freed; which order is requested
    and which free block serves it), as guarded updates of the touched slots.

    ``enabled`` is when the choice is possible; ``free_post``/``alloc_post`` give the
    next value of every touched slot (the others keep theirs); ``nr_delta`` and
    ``pages_delta`` are the counter updates the kernel makes (``nr_free++/--``,
    ``__mod_zone_freepage_state``); ``bad`` holds when the spec produced a block that is
    not an aligned in-window slot; ``legal`` is what must hold of an allocation.
    """

    label: str
    enabled: z3.BoolRef
    free_post: dict[Slot, z3.BoolRef]
    alloc_post: dict[Slot, z3.BoolRef]
    nr_delta: list[z3.ArithRef]
    pages_delta: z3.ArithRef
    bad: z3.BoolRef
    legal: z3.BoolRef = field(default_factory=lambda: zf.BoolVal(True))
    key: tuple = ()  # ("free", victim) / ("alloc", order, block) / ("alloc-fail", order) / ...

    def post(self, pre: SymState) -> SymState:
        """The next state: touched slots updated, everything else shared with ``pre``."""
        return SymState(pre.window, {**pre.free, **self.free_post},
                        {**pre.allocated, **self.alloc_post}, pre.managed,
                        [zf.Sum([n, d]) for n, d in zip(pre.nr_free, self.nr_delta, strict=True)],
                        zf.Sum([pre.free_pages, self.pages_delta]))

    def counters_follow(self, pre: SymState) -> z3.BoolRef:
        """The kernel's counter updates equal the change in the recount: over the touched
        slots, sum(new) - sum(old) == delta, per order and in pages. With the pre-state's
        counters invariant this is exactly the post-state's counters invariant, since the
        untouched slots contribute the same to both counts."""
        per_order: list[list[z3.ArithRef]] = [[] for _ in range(NR_PAGE_ORDERS)]
        pages: list[z3.ArithRef] = []
        for s, new in self.free_post.items():
            diff = zf.Sub(zf.If(new, 1, 0), zf.If(pre.free[s], 1, 0))
            per_order[s[1]].append(diff)
            pages.append(zf.Mul(diff, 2 ** s[1]))
        conj = [zf.Eq(zf.Sum(terms), d)
                for terms, d in zip(per_order, self.nr_delta, strict=True)]
        conj.append(zf.Eq(zf.Sum(pages), self.pages_delta))
        return zf.And(conj)


class _Updates:
    """Accumulates the guarded removals and additions of one transition choice."""

    def __init__(self, window: Window):
        self.window = window
        self.removed: dict[Slot, list[z3.BoolRef]] = {}
        self.added: dict[Slot, list[z3.BoolRef]] = {}
        self.bad: list[z3.BoolRef] = []

    def _put(self, table: dict[Slot, list[z3.BoolRef]], slot: object, guard: z3.BoolRef) -> None:
        if slot in self.window.slot_set:
            table.setdefault(slot, []).append(guard)  # type: ignore[arg-type]
        else:
            self.bad.append(guard)

    def remove(self, slot: object, guard: z3.BoolRef) -> None:
        self._put(self.removed, slot, guard)

    def add(self, slot: object, guard: z3.BoolRef) -> None:
        self._put(self.added, slot, guard)

    def free_post(self, pre: SymState) -> tuple[dict[Slot, z3.BoolRef], list[z3.ArithRef]]:
        post, delta = {}, [[] for _ in range(NR_PAGE_ORDERS)]
        for s in set(self.removed) | set(self.added):
            rm, add = _any(self.removed.get(s, ())), _any(self.added.get(s, ()))
            post[s] = zf.Or(zf.And(pre.free[s], zf.Not(rm)), add)
            delta[s[1]] += [zf.If(rm, -1, 0), zf.If(add, 1, 0)]
        return post, [zf.Sum(d) for d in delta]


def _path_guard(pre: SymState, answers: Iterable[tuple[object, bool]]) -> z3.BoolRef:
    conds = [pre.free[q] if a else zf.Not(pre.free[q])  # type: ignore[index]
             for q, a in answers if q in pre.window.slot_set]
    return zf.And(conds) if conds else zf.BoolVal(True)


def free_steps(pre: SymState, impl: Impl = spec_buddy) -> Iterable[Step]:
    """``free_next`` of each allocated slot: merged by ``free_one_page_delta``, every path."""
    w = pre.window
    for victim in w.slots:
        up = _Updates(w)
        for path in paths(lambda oracle, v=victim: impl.free_one_page_delta(oracle, *v),
                          lambda q: q in w.slot_set):
            guard = _path_guard(pre, path.answers)
            for m in path.result.merged:
                up.remove(m, guard)
            up.add(path.result.result, guard)
        free_post, nr_delta = up.free_post(pre)
        yield Step(f"free {victim}", pre.allocated[victim], free_post,
                   {victim: zf.BoolVal(False)}, nr_delta, zf.IntVal(2 ** victim[1]), _any(up.bad),
                   key=("free", victim))


def alloc_steps(pre: SymState, impl: Impl = spec_buddy) -> Iterable[Step]:
    """``__rmqueue_smallest`` then ``alloc_next``: a request of ``order`` is served by a free
    block of the smallest order with ``nr_free > 0`` (each block on that list is one
    choice) and split by ``expand``; a failed request must be legal (no free block of
    order >= the request) and leaves the state alone."""
    w = pre.window
    for order in range(NR_PAGE_ORDERS):
        for path in paths(lambda nr_free, o=order: impl.rmqueue_smallest_order(nr_free, o),
                          lambda o: isinstance(o, int) and 0 <= o < NR_PAGE_ORDERS):
            guard = zf.And([pre.nonempty(o) if a else zf.Not(pre.nonempty(o))
                            for o, a in path.answers]) if path.answers else zf.BoolVal(True)
            source = path.result
            zero = [zf.IntVal(0)] * NR_PAGE_ORDERS
            if source is None:
                legal = zf.And([zf.Not(pre.free[s]) for s in w.slots if s[1] >= order])
                yield Step(f"alloc order {order}: fails", guard, {}, {}, zero, zf.IntVal(0),
                           zf.BoolVal(False), legal, key=("alloc-fail", order))
                continue
            if not isinstance(source, int) or not order <= source <= MAX_PAGE_ORDER:
                yield Step(f"alloc order {order}: source order {source!r}", guard, {}, {}, zero,
                           zf.IntVal(0), zf.BoolVal(True))
                continue
            for block in (s for s in w.slots if s[1] == source):
                up = _Updates(w)
                take = zf.BoolVal(True)
                up.remove(block, take)
                for half in impl.expand(block[0], order, source):
                    up.add(half, take)
                got = (block[0], order)
                free_post, nr_delta = up.free_post(pre)
                legal = _any(pre.is_free(a) for a in w.ancestors(got))
                yield Step(f"alloc order {order} from free block {block}",
                           zf.And(guard, pre.free[block]), free_post, {got: zf.BoolVal(True)},
                           nr_delta, zf.IntVal(-(2**order)), _any(up.bad), legal,
                           key=("alloc", order, block))


def alloc_block_steps(pre: SymState, impl: Impl = spec_buddy) -> Iterable[Step]:
    """``alloc_next`` of any aligned block whose pages are all free (the weak rule): the
    free block ``containing_free_block`` finds leaves its list, ``split_around`` puts the
    rest back."""
    w = pre.window
    for target in w.slots:
        for path in paths(lambda oracle, t=target: impl.containing_free_block(oracle, *t),
                          lambda q: q in w.slot_set):
            block = path.result
            if block is None:  # alloc_next raises IllegalTransition: no step
                continue
            guard = _path_guard(pre, path.answers)
            up = _Updates(w)
            up.remove(block, zf.BoolVal(True))
            for part in impl.split_around(block, *target):
                up.add(part, zf.BoolVal(True))
            free_post, nr_delta = up.free_post(pre)
            legal = _any(pre.is_free(a) for a in w.ancestors(target))
            yield Step(f"alloc block {target} out of free block {block}", guard, free_post,
                       {target: zf.BoolVal(True)}, nr_delta, zf.IntVal(-(2 ** target[1])),
                       _any(up.bad), legal, key=("alloc-block", target, block))


def describe_state(model: z3.ModelRef, st: SymState) -> str:
    """A state from a model: managed pages as ranges, free and allocated blocks (the
    counters are those blocks' counts, as the invariant requires)."""
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
    return f"managed {[(hex(a), hex(b)) for a, b in ranges]}, free {free}, allocated {alloc}"


def prove_inductive(prover: Prover, window: Window, steps: StepsFn, impl: Impl = spec_buddy,
                    what: str = "") -> int:
    """For every state over ``window`` satisfying the invariants and every step that
    ``steps`` enumerates, the next state satisfies them again and the step is legal.

    One incremental solver holds the pre-state invariants; each step is checked under
    push/pop. Returns the number of steps checked.
    """
    pre = SymState.fresh(window)
    pre_terms = Derived(pre)
    # Booleans and linear integer counters: z3's QF_LIA solver decides these steps with
    # about half the resource units of the default solver
    solver = z3.SolverFor("QF_LIA")
    for insts in invariants(pre, impl, counters=False, derived=pre_terms).values():
        solver.add(*insts)
    count = 0
    for step in steps(pre, impl):
        count += 1
        post = step.post(pre)
        touched = set(step.free_post) | set(step.alloc_post)
        changed = frozenset(a for t in touched for a in window.ancestors(t))
        terms = Derived(post, pre_terms, changed)
        claims = [(name, inst)
                  for name, insts in invariants(post, impl, False, touched, terms).items()
                  for inst in insts]
        claims += [("counters", step.counters_follow(pre)),
                   ("alignment-and-bounds (a block that is not an aligned in-zone slot)",
                    zf.Not(step.bad)),
                   ("legal allocation", step.legal)]
        solver.push()
        solver.add(step.enabled, zf.Not(zf.And([c for _, c in claims])))
        answer = prover.check(solver, step.label)
        if answer == z3.sat:
            model = solver.model()
            broken = sorted({name for name, c in claims
                             if z3.is_false(model.eval(c, model_completion=True))})
            raise Refuted(f"{what} {window}: {step.label} breaks {', '.join(broken)}; "
                          f"pre-state {describe_state(model, pre)}; "
                          f"next state {describe_state(model, post)}")
        solver.pop()
    return count
