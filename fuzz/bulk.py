"""The seeded bulk differential runner: volume where Hypothesis gives depth.

Long operation streams (:mod:`kmem.fuzz.ops`: workloads a-d and random mixes with
misuse) run through every implementation; implementations of one policy must give
the same result for every operation, the same free lists (in list order),
allocated blocks, counters and kernel log at every checkpoint, and every
implementation must satisfy the spec's buddy invariants there. Where the spec defines
the list order (policy ``"linux"``), every implementation is judged against it as well
(:func:`spec_list_order`): each allocation must take the head of the spec's list, and
each implementation's free lists at every checkpoint must be the spec's, in order; so a
block put at the wrong end of a list is found even when every implementation puts it
there. On a divergence
the runner bisects to the first operation after which the implementations
differ (or an implementation parts from the spec's list order), shrinks the stream by delta debugging (ddmin) and prints a runnable
reproducer::

    from kmem.fuzz.bulk import run_stream
    report = run_stream(config, ops, "model,fast")
    report.ok, report.checked_ops, report.divergence

An implementation may run a whole stream itself (``Impl.build`` returning a
machine with a ``run_stream(ops) -> list[int]`` method, e.g. a batch API); the
others go through :class:`kmem.fuzz.ops.Executor`, one operation at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ops as O
from .checks import InvariantCache, check_invariants, describe_difference, fingerprint
from .configs import MachineConfig
from .impls import Impl, lanes, resolve

DEFAULT_CHECKPOINT = 2000
#: called at every checkpoint of every stream: a sign of life for a watchdog
#: (:mod:`kmem.fuzz.isolate`); None for nothing
HEARTBEAT: Callable[[], None] | None = None


@dataclass
class Divergence:
    """Two implementations (or one and the spec) disagree."""

    lane: str
    impls: tuple[str, ...]
    index: int  # the first operation after which they differ
    what: str
    config: MachineConfig
    ops: list[O.Op]  # a (shrunk) stream that shows it
    original_length: int = 0

    def reproducer(self) -> str:
        """Python that replays the shrunk stream and raises on the divergence."""
        ops = ",\n    ".join(repr(tuple(op)) for op in self.ops)
        return (f"# {self.what}\n"
                f"# first divergent operation: {self.index} of {self.original_length}; "
                f"shrunk to {len(self.ops)} operations\n"
                f"from kmem.fuzz.bulk import replay\n"
                f"from kmem.fuzz.configs import MachineConfig\n"
                f"replay({self.config!r}, [\n    {ops},\n], {','.join(self.impls)!r})\n")

    def explain(self) -> str:
        lines = [f"divergence in policy {self.lane!r} between {', '.join(self.impls)} on "
                 f"{self.config.describe()}:", f"  {self.what}", "  operations:"]
        for i, op in enumerate(self.ops):
            lines.append(f"    {i:3d}: {O.describe_op(op)}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bulk", "lane": self.lane, "impls": list(self.impls), "what": self.what,
                "config": self.config.to_json(), "ops": [list(op) for op in self.ops]}


@dataclass
class Report:
    """The outcome of one stream."""

    ops: int = 0
    checked_ops: int = 0  # operations compared between two implementations
    seconds: float = 0.0
    divergence: Divergence | None = None
    events: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.divergence is None


@dataclass
class Trace:
    """One implementation's run: results per operation and checkpoint fingerprints."""

    results: list[int]
    checkpoints: list[tuple[int, Any]]  # (operations done, fingerprint)
    violations: list[tuple[int, str]]  # (operations done, invariant violation)
    messages: dict[int, str]


def execute(impl: Impl, config: MachineConfig, ops: Sequence[O.Op],
            checkpoint: int = DEFAULT_CHECKPOINT,
            expected: Sequence[int] | None = None,
            invariants: InvariantCache | None = None) -> Trace:
    """Run ``ops`` on a fresh machine of ``impl``; fingerprint every ``checkpoint`` ops
    and at the end; check the spec's invariants there (through ``invariants``, a memo
    shared by the implementations of a lane: a zone state equal to one checked before is
    not checked again). An implementation with a batch API runs through it when
    ``expected`` (the lane leader's results) is given."""
    m = impl.build(config)
    batch = getattr(m, "run_stream", None)
    cps: list[tuple[int, Any]] = []
    bad: list[tuple[int, str]] = []
    messages: dict[int, str] = {}

    def check(done: int) -> None:
        if HEARTBEAT is not None:
            HEARTBEAT()
        seen: list[Any] = []  # the zone states the invariants were checked on
        v = check_invariants(m, invariants, seen)
        # the fingerprint reads the same states when they are the zones' own (m.state() is
        # the tuple of them; a machine that checks another frame, as 2.6.11's, is asked)
        own = len(seen) == len(m.zones) and all(
            zs.start_pfn == z.start_pfn and zs.end_pfn == z.end_pfn
            for zs, z in zip(seen, m.zones, strict=True))
        cps.append((done, fingerprint(m, seen if own else None)))
        if v:
            bad.append((done, "; ".join(map(str, v[:3]))))

    results: list[int] = []
    if batch is not None:
        for start in range(0, len(ops), checkpoint):
            results += list(batch(ops[start:start + checkpoint]))
            check(len(results))
        if not ops:
            check(0)
    else:
        if impl.batch is not None and expected is not None:
            ex: O.Executor = O.BatchExecutor(m, impl.batch[0], impl.batch[1], expected)
        else:
            ex = O.Executor(m)
        for start in range(0, len(ops), checkpoint):
            ex.run(ops[start:start + checkpoint])
            check(len(ex.results))
        if not ops:
            check(0)
        results, messages = ex.results, ex.messages
    return Trace(results, cps, bad, messages)


def spec_list_order(config: MachineConfig, ops: Sequence[O.Op], traces: Sequence[Trace]
                    ) -> tuple[int, str] | None:
    """Judge free-list order against the spec (policy ``"linux"``): follow ``ops`` with
    the results of ``traces[0]`` through one :class:`kmem.fuzz.oracle.ZoneOracle` per
    zone with ``lists=True`` (the spec's head/tail rules of boot, ``expand``,
    ``__rmqueue_smallest`` and ``__free_one_page``, 6.12 mm/page_alloc.c), and compare
    every trace's free lists at its checkpoints with the spec's. Returns (bound, why):
    the operations after which it first fails, or None. Not judged: ``from_proc``
    machines (their boot order is ``from_proc``'s placement) and, from the first such
    operation on, results the stream cannot follow (a misuse accepted, an allocation
    whose pfn the result does not carry): other checks report those."""
    from .oracle import OracleViolation, ZoneOracle

    if config.preset == "from_proc":
        return None
    spans = config.layout().zones
    oracles = [ZoneOracle(z.start_pfn, z.end_pfn, holes=z.holes, reserved=z.reserved,
                          rule="linux", lists=True) if z.end_pfn > z.start_pfn else None
               for z in spans]
    live = [(o, z.start_pfn, z.end_pfn) for o, z in zip(oracles, spans, strict=True) if o]

    def oracle_of(pfn: int) -> ZoneOracle:
        for o, s, e in live:
            if s <= pfn < e:
                return o
        raise OracleViolation(f"pfn {pfn:#x} lies in no zone", kind="outside")

    results = traces[0].results
    points = {done: k for k, (done, _) in enumerate(traces[0].checkpoints)}
    slots: dict[int, list[int]] = {}  # slot -> [pfn, order, compound (0/1), refs]

    def compare(done: int) -> tuple[int, str] | None:
        k = points[done]
        for t in traces:
            if k >= len(t.checkpoints):
                continue
            for zi, z in enumerate(t.checkpoints[k][1][0]):
                o = oracles[zi]
                if o is None:
                    continue
                try:
                    o.compare_lists(z[0], f"after {done} operations")
                except OracleViolation as exc:
                    return done, f"zone {zi}: {exc}"
        return None

    if 0 in points and (bad := compare(0)):
        return bad
    for i, (op, r) in enumerate(zip(ops, results, strict=False)):
        kind = op[0]
        try:
            if kind in (O.ALLOC, O.ZALLOC):
                if r == O.NOT_ZERO:
                    return None  # allocated, but the result does not carry the pfn
                if r >= 0:
                    order = op[3] if kind == O.ALLOC else 0
                    oracle_of(r).alloc(order, r)
                    compound = int(bool(order and kind == O.ALLOC and op[2] & O.COMP))
                    slots[op[1]] = [r, order, compound, 1]
            elif kind in (O.FREE, O.PUT) and r == O.OK:
                e = slots[op[1]]
                pfn, order, compound, refs = e
                if refs == 1:
                    oracle_of(pfn).free(pfn, order)
                    del slots[op[1]]
                else:
                    e[3] -= 1
                    if kind == O.FREE and order and not compound:
                        oracle_of(pfn).free_tails(pfn, order)
                        e[1] = 0
            elif kind == O.GET and r == O.OK:
                slots[op[1]][3] += 1
            elif kind == O.BADFREE and r == O.OK:
                return None  # a misuse that was accepted: the state is no longer the spec's
        except OracleViolation as exc:
            return i + 1, f"operation {i} ({O.describe_op(op)}): {exc}"
        if i + 1 in points and (bad := compare(i + 1)):
            return bad
    return None


def _first_difference(a: Trace, b: Trace) -> tuple[int, str] | None:
    """(bound, why): the first result index that differs, or the first checkpoint whose
    fingerprints differ (bound = operations done there)."""
    first = None
    for i, (x, y) in enumerate(zip(a.results, b.results, strict=False)):
        if x != y:
            first = (i + 1, f"operation {i}: {O.describe_result(x)} vs {O.describe_result(y)}"
                     + (f" ({b.messages.get(i) or a.messages.get(i)})"
                        if i in a.messages or i in b.messages else ""))
            break
    for (done, fa), (_, fb) in zip(a.checkpoints, b.checkpoints, strict=False):
        if first is not None and done >= first[0]:
            break
        if fa != fb:
            return done, f"after {done} operations: {describe_difference(fa, fb)}"
    return first


def _violation(t: Trace) -> tuple[int, str] | None:
    return t.violations[0] if t.violations else None


def diverges(impls: Sequence[Impl], config: MachineConfig, ops: Sequence[O.Op],
             spec_order: bool = True) -> str | None:
    """Why the implementations of one lane disagree on ``ops`` (or break an invariant, or,
    with ``spec_order`` under policy "linux", the spec's list order), or None.
    Fingerprints are compared only at the end of ``ops``."""
    n = max(len(ops), 1)
    lead = execute(impls[0], config, ops, checkpoint=n)
    traces = [lead] + [execute(i, config, ops, n, lead.results) for i in impls[1:]]
    for impl, t in zip(impls, traces, strict=True):
        v = _violation(t)
        if v:
            return f"{impl.label} breaks a spec invariant: {v[1]}"
    lead = traces[0]
    for impl, t in zip(impls[1:], traces[1:], strict=True):
        d = _first_difference(lead, t)
        if d:
            return f"{impls[0].label} vs {impl.label}: {d[1]}"
    if spec_order and impls[0].policy == "linux":
        w = spec_list_order(config, ops, traces)
        if w:
            return f"{_labels(impls)} part from the spec's list order: {w[1]}"
    return None


def _labels(impls: Sequence[Impl]) -> str:
    return ", ".join(i.label for i in impls)


def ddmin(ops: list[O.Op], fails: Callable[[list[O.Op]], bool],
          deadline: float) -> list[O.Op]:
    """Zeller's delta debugging: a 1-minimal (or, past ``deadline``, smaller) failing list."""
    n = 2
    while len(ops) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(ops) // n)
        parts = [ops[i:i + chunk] for i in range(0, len(ops), chunk)]
        reduced = False
        for k in range(len(parts)):
            if time.monotonic() >= deadline:
                break
            rest = [op for j, p in enumerate(parts) if j != k for op in p]
            if rest and fails(rest):
                ops, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(ops):
                break
            n = min(len(ops), 2 * n)
    return ops


def run_stream(config: MachineConfig, ops: Sequence[O.Op],
               impls: str | Iterable[str | Impl] | None = None, *,
               checkpoint: int = DEFAULT_CHECKPOINT, shrink_seconds: float = 20.0,
               spec_order: bool = True) -> Report:
    """Run one stream through every implementation, lane by lane, and compare; with
    ``spec_order`` (default), judge the "linux" lane's list order against the spec too
    (:func:`spec_list_order`)."""
    t0 = time.monotonic()
    ops = list(ops)
    report = Report(ops=len(ops))
    for policy, group in lanes(resolve(impls)).items():
        cache = InvariantCache()
        lead = execute(group[0], config, ops, checkpoint, invariants=cache)
        traces = [lead] + [execute(i, config, ops, checkpoint, lead.results, cache)
                           for i in group[1:]]
        found: tuple[int, str, list[Impl]] | None = None
        for impl, t in zip(group, traces, strict=True):
            v = _violation(t)
            if v and (found is None or v[0] < found[0]):
                found = (v[0], f"{impl.label} breaks a spec invariant: {v[1]}", [impl])
        for impl, t in zip(group[1:], traces[1:], strict=True):
            d = _first_difference(traces[0], t)
            if d and (found is None or d[0] < found[0]):
                found = (d[0], f"{group[0].label} vs {impl.label}: {d[1]}", [group[0], impl])
        if spec_order and policy == "linux":
            w = spec_list_order(config, ops[:found[0]] if found else ops, traces)
            if w and (found is None or w[0] < found[0]):
                found = (w[0], f"{_labels(group)} part from the spec's list order: {w[1]}",
                         list(group))
        if found is None:
            report.checked_ops += len(ops) * (len(group) - 1)
            continue
        bound, _, pair = found
        report.checked_ops += max(0, bound - checkpoint) * (len(group) - 1)
        report.divergence = locate(config, ops[:bound], pair, policy,
                                   lo=max(0, bound - checkpoint), shrink_seconds=shrink_seconds,
                                   spec_order=spec_order)
        break
    report.seconds = time.monotonic() - t0
    return report


def locate(config: MachineConfig, ops: list[O.Op], pair: list[Impl], policy: str, *,
           lo: int = 0, shrink_seconds: float = 20.0, spec_order: bool = True) -> Divergence:
    """Bisect ``ops`` (which diverge; their first ``lo`` operations do not) to the first
    divergent operation, then shrink by ddmin."""
    hi = len(ops)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if diverges(pair, config, ops[:mid], spec_order):
            hi = mid
        else:
            lo = mid
    prefix = ops[:hi]
    why = diverges(pair, config, prefix, spec_order) or "divergence vanished on replay (nondeterminism?)"
    deadline = time.monotonic() + shrink_seconds
    small = ddmin(prefix, lambda cand: diverges(pair, config, cand, spec_order) is not None, deadline)
    what = diverges(pair, config, small, spec_order) or why
    return Divergence(policy, tuple(i.label for i in pair), hi - 1, what, config, small,
                      original_length=len(ops))


def replay(config: MachineConfig, ops: Sequence[Sequence[int]],
           impls: str | Iterable[str | Impl] | None = None) -> None:
    """Run a stream (a reproducer or a corpus entry) and raise AssertionError on any
    divergence or spec violation."""
    norm = [tuple(int(x) for x in op) for op in ops]
    for policy, group in lanes(resolve(impls)).items():
        why = diverges(group, config, norm)
        if why:
            raise AssertionError(f"policy {policy}: {why}")
