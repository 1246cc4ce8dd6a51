"""Lean constructors for the z3 terms the buddy-state encodings build by the hundred thousand.

``z3.Or``/``z3.And``/``z3.If``/``z3.Sum`` check and coerce their arguments in Python
(about 130 us for an ``Or`` of two Booleans); the encodings of
:mod:`kmem.proofs.buddy_state` build their terms from terms only, so these call the C
API directly (about 10x less). Same terms, same solver input: only the time to build
them changes. Everything lives in z3's main context.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache

import z3

_CTX = z3.main_ctx()


def _arr(terms: list[z3.ExprRef]) -> object:
    arr = (z3.Ast * len(terms))()
    for i, t in enumerate(terms):
        arr[i] = t.ast
    return arr


def _flat(args: tuple[object, ...]) -> list[z3.ExprRef]:
    if len(args) == 1 and not isinstance(args[0], z3.ExprRef):
        return list(args[0])  # type: ignore[call-overload]
    return list(args)  # type: ignore[arg-type]


@cache
def BoolVal(value: bool) -> z3.BoolRef:
    return z3.BoolVal(value, _CTX)


@lru_cache(maxsize=4096)
def IntVal(value: int) -> z3.ArithRef:
    return z3.IntVal(value, _CTX)


def Or(*args: z3.BoolRef | Iterable[z3.BoolRef]) -> z3.BoolRef:
    terms = _flat(args)
    if not terms:
        return BoolVal(False)
    return z3.BoolRef(z3.Z3_mk_or(_CTX.ref(), len(terms), _arr(terms)), _CTX)


def And(*args: z3.BoolRef | Iterable[z3.BoolRef]) -> z3.BoolRef:
    terms = _flat(args)
    if not terms:
        return BoolVal(True)
    return z3.BoolRef(z3.Z3_mk_and(_CTX.ref(), len(terms), _arr(terms)), _CTX)


def Not(a: z3.BoolRef) -> z3.BoolRef:
    return z3.BoolRef(z3.Z3_mk_not(_CTX.ref(), a.ast), _CTX)


def Implies(a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
    return z3.BoolRef(z3.Z3_mk_implies(_CTX.ref(), a.ast, b.ast), _CTX)


def If(c: z3.BoolRef, a: int | z3.ArithRef, b: int | z3.ArithRef) -> z3.ArithRef:
    x = IntVal(a) if isinstance(a, int) else a
    y = IntVal(b) if isinstance(b, int) else b
    return z3.ArithRef(z3.Z3_mk_ite(_CTX.ref(), c.ast, x.ast, y.ast), _CTX)


def Sum(terms: Iterable[z3.ArithRef]) -> z3.ArithRef:
    ts = list(terms)
    if not ts:
        return IntVal(0)
    if len(ts) == 1:
        return ts[0]
    return z3.ArithRef(z3.Z3_mk_add(_CTX.ref(), len(ts), _arr(ts)), _CTX)


def Sub(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    return z3.ArithRef(z3.Z3_mk_sub(_CTX.ref(), 2, _arr([a, b])), _CTX)


def Mul(a: z3.ArithRef, k: int) -> z3.ArithRef:
    return z3.ArithRef(z3.Z3_mk_mul(_CTX.ref(), 2, _arr([a, IntVal(k)])), _CTX)


def Eq(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    return z3.BoolRef(z3.Z3_mk_eq(_CTX.ref(), a.ast, b.ast), _CTX)
