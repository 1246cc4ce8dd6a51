"""Proof obligations: the record, the result kinds, and the solver discipline.

An :class:`Obligation` is a named claim about the spec, stated in words in its
docstring, with a ``check`` function that builds a z3 encoding (from the spec's
own definitions, or cross-checked against them on concrete points) and asks the
solver for a counterexample. Every claim is decided with a ``z3.Solver``: the
negation is asserted, and ``unsat`` means proved, ``sat`` gives a counterexample,
anything else is *unknown*, which counts as a failure.

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
    UNKNOWN = "unknown"  # solver gave up or ran out of time (a failure)
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


Describe = Callable[[z3.ModelRef], str]


@dataclass
class Prover:
    """Solver access for one obligation, sharing the obligation's time budget."""

    timeout_s: float
    queries: int = 0
    started: float = field(default_factory=time.perf_counter)

    def remaining_ms(self) -> int:
        left = self.timeout_s - (time.perf_counter() - self.started)
        if left <= 0:
            raise Unknown(f"time budget of {self.timeout_s:g} s used up")
        return max(1, int(left * 1000))

    def prove(self, claim: z3.BoolRef, hyps: Iterable[z3.BoolRef] = (),
              describe: Describe | None = None, what: str = "") -> None:
        """Prove ``hyps => claim`` for all values of the free variables.

        Asserts the hypotheses and the negated claim; ``unsat`` returns, ``sat``
        raises :class:`Refuted` with ``describe(model)`` (or the model itself).
        """
        solver = z3.Solver()
        solver.set("timeout", self.remaining_ms())
        solver.add(*hyps)
        solver.add(z3.Not(claim))
        self.queries += 1
        answer = solver.check()
        if answer == z3.unsat:
            return
        if answer == z3.sat:
            model = solver.model()
            text = describe(model) if describe else format_model(model)
            raise Refuted(f"{what}: {text}" if what else text)
        raise Unknown(f"{what or 'claim'}: solver said unknown ({solver.reason_unknown()})")

    def require(self, holds: bool, counterexample: str) -> None:
        """A concrete cross-check between the z3 encoding and the spec: refute if it fails."""
        if not holds:
            raise Refuted(counterexample)


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
    """The outcome of one obligation with its wall time."""

    name: str
    area: str
    claim: str
    status: Status
    seconds: float
    queries: int = 0
    counterexample: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status.ok

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "area": self.area, "claim": self.claim,
                "status": self.status.value, "ok": self.ok, "seconds": round(self.seconds, 4),
                "queries": self.queries, "counterexample": self.counterexample,
                "detail": self.detail}


def run_obligation(ob: Obligation, timeout_s: float = 60.0) -> Result:
    """Run one obligation under a time budget shared by its solver queries."""
    prover = Prover(timeout_s)
    status, cex, detail = Status.PROVED, "", ""
    try:
        ob.check(prover)
    except Refuted as exc:
        status, cex = Status.REFUTED, exc.counterexample
    except Unknown as exc:
        status, detail = Status.UNKNOWN, str(exc)
        if time.perf_counter() - prover.started >= 0.9 * timeout_s:
            detail += (f" (the {timeout_s:g} s budget is wall time, so a busy machine can use "
                       f"it up: give more, e.g. kmem prove --timeout {int(timeout_s * 4)})")
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
                  prover.queries, cex, detail)


def first_line(text: str | None) -> str:
    """The first paragraph of a docstring, on one line: an obligation's claim in words."""
    if not text:
        return ""
    para = text.strip().split("\n\n")[0]
    return " ".join(para.split())
