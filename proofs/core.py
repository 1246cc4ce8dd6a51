"""Proof obligations: the record, the result kinds, and the solver discipline.

An :class:`Obligation` is a named claim about the spec, stated in words in its
docstring, with a ``check`` function that builds a z3 encoding (from the spec's
own definitions, or cross-checked against them on concrete points) and asks the
solver for a counterexample. Every claim is decided with a ``z3.Solver``: the
negation is asserted, and ``unsat`` means proved, ``sat`` gives a counterexample,
anything else is *unknown*, which counts as a failure.

The solver is limited by its deterministic resource count (z3's ``rlimit``), not by
wall time: an obligation has a budget of resource units (:data:`DEFAULT_RLIMIT`,
shared by its queries), so its verdict is the same on an idle and on a loaded
machine. A wall-clock guard (``timeout_s``) stays only as a last resort: a proof it
cuts short is reported *not decided*, never refuted or failed.

``check`` receives a :class:`Prover` and calls :meth:`Prover.prove` once per
sub-claim; the first counterexample ends the obligation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import z3


class Status(Enum):
    """The result kinds of an obligation."""

    PROVED = "proved"  # the negation is unsat
    REFUTED = "refuted"  # a counterexample exists (a failure)
    EXPECTED_REFUTATION = "refuted (expected)"  # a claim known false, refuted as it should be
    UNEXPECTED_PROOF = "proved (expected refuted)"  # a known-false claim was proved: a failure
    UNKNOWN = "unknown"  # solver gave up, or used up its resource budget (a failure)
    NOT_DECIDED = "not decided (wall clock)"  # the last-resort wall-clock guard cut it short
    ERROR = "error"  # the check itself raised (a failure)

    @property
    def ok(self) -> bool:
        return self in (Status.PROVED, Status.EXPECTED_REFUTATION)


class Refuted(Exception):
    """Raised inside a check when the solver (or a concrete cross-check) found a counterexample."""

    def __init__(self, counterexample: str):
        super().__init__(counterexample)
        self.counterexample = counterexample


class Unknown(Exception):
    """Raised inside a check when the solver answered neither sat nor unsat."""


class NotDecided(Unknown):
    """Raised inside a check when the wall-clock guard, not the resource budget, stopped
    the solver: the machine was too slow to decide, the claim is neither proved nor
    refuted."""


#: an obligation's budget of z3 resource units (``rlimit``), shared by its queries; the
#: most any obligation of the suite uses is about a thirteenth of it (15M units) (``kmem prove --json``
#: reports each one's use)
DEFAULT_RLIMIT = 200_000_000
#: the last-resort wall-clock guard per obligation, in seconds
DEFAULT_WALL_GUARD_S = 600.0


Describe = Callable[[z3.ModelRef], str]


@dataclass
class Prover:
    """Solver access for one obligation: a budget of z3 resource units (``rlimit``) shared
    by its queries, and a wall-clock guard of last resort."""

    timeout_s: float = DEFAULT_WALL_GUARD_S
    rlimit: int = DEFAULT_RLIMIT
    queries: int = 0
    used: int = 0  # resource units spent by the queries so far
    started: float = field(default_factory=time.perf_counter)
    _last: Any = field(default=None, repr=False)  # the solver of the latest check
    _counts: dict[int, int] = field(default_factory=dict, repr=False)

    def remaining_ms(self) -> int:
        left = self.timeout_s - (time.perf_counter() - self.started)
        if left <= 0:
            raise NotDecided(f"wall-clock guard of {self.timeout_s:g} s reached")
        return max(1, int(left * 1000))

    def remaining_rlimit(self) -> int:
        left = self.rlimit - self.used
        if left <= 0:
            raise Unknown(f"resource budget of {self.rlimit:,} z3 units used up")
        return left

    def check(self, solver: z3.Solver, what: str = "claim") -> z3.CheckSatResult:
        """``solver.check()`` under the obligation's remaining resource budget (and the
        wall-clock guard); counts the units it used. ``unknown`` raises: :class:`NotDecided`
        when the guard stopped it, :class:`Unknown` otherwise (deterministic)."""
        # z3 counts resource units per context, over every solver: read the count before
        # a check (from the latest check when it is the same solver: reading costs time)
        before = self._counts[id(solver)] if self._last is solver else _rlimit_count(solver)
        solver.set("rlimit", self.remaining_rlimit())
        solver.set("timeout", self.remaining_ms())
        self.queries += 1
        answer = solver.check()
        after = _rlimit_count(solver)  # cumulative over an incremental solver's checks
        self._last, self._counts = solver, {id(solver): after}
        self.used += max(0, after - before)
        if answer == z3.unknown:
            reason = solver.reason_unknown()
            if "resource limit" in reason or "max. resource" in reason:
                raise Unknown(f"{what}: resource budget of {self.rlimit:,} z3 units used up")
            if reason in ("timeout", "canceled") or time.perf_counter() - self.started \
                    >= self.timeout_s:
                raise NotDecided(f"{what}: wall-clock guard of {self.timeout_s:g} s reached")
            raise Unknown(f"{what}: solver said unknown ({reason})")
        return answer

    def prove(self, claim: z3.BoolRef, hyps: Iterable[z3.BoolRef] = (),
              describe: Describe | None = None, what: str = "") -> None:
        """Prove ``hyps => claim`` for all values of the free variables.

        Asserts the hypotheses and the negated claim; ``unsat`` returns, ``sat``
        raises :class:`Refuted` with ``describe(model)`` (or the model itself).
        """
        solver = z3.Solver()
        solver.add(*hyps)
        solver.add(z3.Not(claim))
        answer = self.check(solver, what or "claim")
        if answer == z3.unsat:
            return
        model = solver.model()
        text = describe(model) if describe else format_model(model)
        raise Refuted(f"{what}: {text}" if what else text)

    def require(self, holds: bool, counterexample: str) -> None:
        """A concrete cross-check between the z3 encoding and the spec: refute if it fails."""
        if not holds:
            raise Refuted(counterexample)


def _rlimit_count(solver: z3.Solver) -> int:
    """The resource units z3 has used so far in the solver's context (over all its
    solvers; 0 before the first check)."""
    stats = solver.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0


def format_model(model: z3.ModelRef, limit: int = 12) -> str:
    """The model's assignments as ``name=value``; bit-vectors in hex."""
    parts = []
    for decl in sorted(model.decls(), key=lambda d: d.name())[:limit]:
        val = model[decl]
        if z3.is_bv_value(val):
            parts.append(f"{decl.name()}={val.as_long():#x}")
        else:
            parts.append(f"{decl.name()}={val}")
    return ", ".join(parts)


def bv_value(model: z3.ModelRef, term: z3.ExprRef) -> int:
    """The unsigned value of a bit-vector term in ``model`` (0 if unconstrained)."""
    return model.eval(term, model_completion=True).as_long()


@dataclass(frozen=True)
class Obligation:
    """One named claim: ``check(prover)`` returns normally when the claim is proved.

    ``area`` groups obligations in the table (buddy, gfp, fault, layout, ...);
    ``expect_refuted`` marks a claim known to be false (the lecture slides' reading of page-fault bits),
    whose refutation is the expected, successful result.
    """

    name: str
    area: str
    claim: str
    check: Callable[[Prover], Any]
    expect_refuted: bool = False


@dataclass(frozen=True)
class Result:
    """The outcome of one obligation with its wall and CPU time and resource use."""

    name: str
    area: str
    claim: str
    status: Status
    seconds: float
    queries: int = 0
    counterexample: str = ""
    detail: str = ""
    cpu_seconds: float = 0.0
    rlimit: int = 0  # z3 resource units used (deterministic: the same at any load)

    @property
    def ok(self) -> bool:
        return self.status.ok

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "area": self.area, "claim": self.claim,
                "status": self.status.value, "ok": self.ok, "seconds": round(self.seconds, 4),
                "cpu_seconds": round(self.cpu_seconds, 4), "rlimit": self.rlimit,
                "queries": self.queries, "counterexample": self.counterexample,
                "detail": self.detail}


def run_obligation(ob: Obligation, timeout_s: float = DEFAULT_WALL_GUARD_S,
                   rlimit: int = DEFAULT_RLIMIT) -> Result:
    """Run one obligation under a budget of z3 resource units shared by its solver
    queries; ``timeout_s`` is the wall-clock guard of last resort (not decided)."""
    prover = Prover(timeout_s, rlimit)
    cpu0 = time.process_time()
    status, cex, detail = Status.PROVED, "", ""
    try:
        ob.check(prover)
    except Refuted as exc:
        status, cex = Status.REFUTED, exc.counterexample
    except NotDecided as exc:
        status, detail = Status.NOT_DECIDED, (
            f"{exc} (not a verdict: the machine was too slow; give more, e.g. kmem prove "
            f"--timeout {max(1, round(timeout_s * 4))})")
    except Unknown as exc:
        status, detail = Status.UNKNOWN, str(exc)
    except z3.Z3Exception as exc:
        status, detail = Status.ERROR, f"z3: {exc}"
    except Exception as exc:  # noqa: BLE001 - any crash of a check is reported, not raised
        status, detail = Status.ERROR, f"{type(exc).__name__}: {exc}"
    if ob.expect_refuted:
        if status is Status.REFUTED:
            status = Status.EXPECTED_REFUTATION
        elif status is Status.PROVED:
            status = Status.UNEXPECTED_PROOF
    return Result(ob.name, ob.area, ob.claim, status, time.perf_counter() - prover.started,
                  prover.queries, cex, detail, time.process_time() - cpu0, prover.used)


def first_line(text: str | None) -> str:
    """The first paragraph of a docstring, on one line: an obligation's claim in words."""
    if not text:
        return ""
    para = text.strip().split("\n\n")[0]
    return " ".join(para.split())
