"""Run a spec function over every answer of an oracle it consults: its paths.

The buddy transitions in :mod:`kmem.spec.buddy` take a lookup function
(``is_free_block(pfn, order)``, ``nr_free(order)``) and branch on its answers. To
encode a transition in z3 *from the spec's own code*, the function is run once per
path: each call to the oracle is a decision point, answered False (or 0) first
and True (or 1) on a later run, depth first. A path is the list of the questions
asked with the answers given, and the function's result; the z3 encoding turns
each path into "path condition implies this result".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

Q = TypeVar("Q", bound=Hashable)  # a question put to the oracle
R = TypeVar("R")

MAX_PATHS = 10_000


@dataclass(frozen=True)
class Path(Generic[Q, R]):
    """One run: the questions asked, each with the answer given, and the result."""

    answers: tuple[tuple[Q, bool], ...]
    result: R


def _run_one(run: Callable[[Callable[..., bool]], R], prefix: tuple[bool, ...],
             can_be_true: Callable[[Q], bool],
             pending: list[tuple[bool, ...]]) -> Path[Q, R]:
    """One run following ``prefix``; each new decision point queues its True branch."""
    taken: list[bool] = []
    asked: list[tuple[Q, bool]] = []

    def oracle(*args: object) -> bool:
        q = args if len(args) > 1 else args[0]
        if not can_be_true(q):  # type: ignore[arg-type]
            asked.append((q, False))  # type: ignore[arg-type]
            return False
        i = len(taken)
        if i < len(prefix):
            answer = prefix[i]
        else:
            answer = False
            pending.append((*taken, True))
        taken.append(answer)
        asked.append((q, answer))  # type: ignore[arg-type]
        return answer

    result = run(oracle)
    return Path(tuple(asked), result)


def paths(run: Callable[[Callable[..., bool]], R],
          can_be_true: Callable[[Q], bool] = lambda q: True) -> list[Path[Q, R]]:
    """Every path of ``run(oracle)``; a question is the oracle's argument (or the tuple of
    its arguments when it takes several); questions with ``can_be_true(q)`` False are
    answered False without branching (a block outside the window is never free)."""
    out: list[Path[Q, R]] = []
    pending: list[tuple[bool, ...]] = [()]
    while pending:
        out.append(_run_one(run, pending.pop(), can_be_true, pending))
        if len(out) > MAX_PATHS:
            raise RuntimeError(f"more than {MAX_PATHS} paths: the function does not terminate "
                               "on every answer sequence")
    return out


# --- lazily chosen inputs with any finite set of values -----------------------------------

K = TypeVar("K", bound=Hashable)  # the name of a lazily chosen input


@dataclass(frozen=True)
class ChoicePath(Generic[K, R]):
    """One run of :func:`choice_paths`: the inputs read, in the order of their first read,
    each with the value given, and the result."""

    reads: tuple[tuple[K, object], ...]
    result: R


def _run_choices(run: Callable[[Callable[[K, tuple], object]], R],
                 prefix: tuple[tuple[K, int], ...],
                 pending: list[tuple[tuple[K, int], ...]]) -> ChoicePath[K, R]:
    """One run following ``prefix``; each new read queues its other values, depth first."""
    chosen: dict[K, object] = {}
    decisions: list[tuple[K, int]] = []

    def choose(key: K, values: tuple) -> object:
        if key in chosen:  # a second read of the same input sees the same value
            return chosen[key]
        if not values:
            raise ValueError(f"input {key!r} offered no values")
        i = len(decisions)
        if i < len(prefix):
            want_key, index = prefix[i]
            if want_key != key:
                raise RuntimeError(f"not deterministic: read {i} was {want_key!r} on an "
                                   f"earlier run with the same answers, now {key!r}")
        else:
            index = 0
            pending.extend((*decisions, (key, j)) for j in range(len(values) - 1, 0, -1))
        decisions.append((key, index))
        chosen[key] = values[index]
        return values[index]

    result = run(choose)
    if len(decisions) < len(prefix):
        raise RuntimeError("not deterministic: a run with the same answers read fewer inputs")
    return ChoicePath(tuple(chosen.items()), result)


def choice_paths(run: Callable[[Callable[[K, tuple], object]], R]) -> list[ChoicePath[K, R]]:
    """Every path of ``run(choose)``, where ``choose(key, values)`` decides an input the
    first time it is read on a path (later reads of ``key`` on that path get the same
    value); each read is answered ``values[0]`` first and every other value on later
    runs, depth first. For a deterministic ``run`` the paths partition the product of
    the inputs' value sets: an assignment follows exactly the path whose reads it
    agrees with, and the inputs that path never read cannot change its result."""
    out: list[ChoicePath[K, R]] = []
    pending: list[tuple[tuple[K, int], ...]] = [()]
    while pending:
        out.append(_run_choices(run, pending.pop(), pending))
        if len(out) > MAX_PATHS:
            raise RuntimeError(f"more than {MAX_PATHS} paths: the function does not terminate "
                               "on every answer sequence")
    return out
