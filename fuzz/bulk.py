"""The seeded bulk differential runner: volume where Hypothesis gives depth.

Long operation streams (:mod:`kmem.fuzz.ops`: workloads a-d and random mixes with
misuse) run through every implementation; implementations of one policy must give
the same result for every operation, the same free lists (in list order),
allocated blocks, counters and kernel log at every checkpoint, and every
implementation must satisfy the spec's buddy invariants there. On a divergence
the runner bisects to the first operation after which the implementations
differ, shrinks the stream by delta debugging (ddmin) and prints a runnable
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
        cps.append((done, fingerprint(m)))
        v = check_invariants(m, invariants)
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


def diverges(impls: Sequence[Impl], config: MachineConfig, ops: Sequence[O.Op]) -> str | None:
    """Why the implementations of one lane disagree on ``ops`` (or break an invariant), or
    None. Fingerprints are compared only at the end of ``ops``."""
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
    return None


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
               checkpoint: int = DEFAULT_CHECKPOINT, shrink_seconds: float = 20.0) -> Report:
    """Run one stream through every implementation, lane by lane, and compare."""
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
        if found is None:
            report.checked_ops += len(ops) * (len(group) - 1)
            continue
        bound, _, pair = found
        report.checked_ops += max(0, bound - checkpoint) * (len(group) - 1)
        report.divergence = locate(config, ops[:bound], pair, policy,
                                   lo=max(0, bound - checkpoint), shrink_seconds=shrink_seconds)
        break
    report.seconds = time.monotonic() - t0
    return report


def locate(config: MachineConfig, ops: list[O.Op], pair: list[Impl], policy: str, *,
           lo: int = 0, shrink_seconds: float = 20.0) -> Divergence:
    """Bisect ``ops`` (which diverge; their first ``lo`` operations do not) to the first
    divergent operation, then shrink by ddmin."""
    hi = len(ops)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if diverges(pair, config, ops[:mid]):
            hi = mid
        else:
            lo = mid
    prefix = ops[:hi]
    why = diverges(pair, config, prefix) or "divergence vanished on replay (nondeterminism?)"
    deadline = time.monotonic() + shrink_seconds
    small = ddmin(prefix, lambda cand: diverges(pair, config, cand) is not None, deadline)
    what = diverges(pair, config, small) or why
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
