"""Small z3 helpers shared by the obligations: unsigned bit-vector arithmetic and case sets."""

from __future__ import annotations

from collections.abc import Sequence

import z3

from .core import Prover, bv_value

PFN_BITS = 64  # pfns are unsigned long


def pfn_var(name: str) -> z3.BitVecRef:
    """A symbolic 64-bit pfn."""
    return z3.BitVec(name, PFN_BITS)


def aligned_pfn(k: z3.BitVecRef, order: int) -> z3.BitVecRef:
    """Every pfn aligned to ``order``, as ``k`` with its low ``order`` bits cleared.

    Ranging over all 64-bit ``k`` this is exactly the set of aligned pfns; writing it
    as a concatenation (rather than assuming ``p % 2**order == 0``) lets z3 see
    the zero low bits structurally, which keeps the queries fast.
    """
    if order == 0:
        return k
    return z3.Concat(z3.Extract(PFN_BITS - 1, order, k), z3.BitVecVal(0, order))


def aligned(p: z3.BitVecRef, order: int) -> z3.BoolRef:
    """``p`` is a multiple of ``2**order`` (unsigned)."""
    return z3.URem(p, 2**order) == 0


def wide(p: z3.BitVecRef, extra: int = 2) -> z3.BitVecRef:
    """``p`` zero-extended, so that ``p + size`` cannot wrap around."""
    return z3.ZeroExt(extra, p)


def block_end(p: z3.BitVecRef, order: int) -> z3.BitVecRef:
    """One past the last pfn of the block (p, order), computed without wrap-around."""
    return wide(p) + 2**order


def disjoint(a: tuple[z3.BitVecRef, int], b: tuple[z3.BitVecRef, int]) -> z3.BoolRef:
    """The page ranges of blocks ``a`` and ``b`` do not overlap."""
    (pa, oa), (pb, ob) = a, b
    return z3.Or(z3.ULE(block_end(pa, oa), wide(pb)), z3.ULE(block_end(pb, ob), wide(pa)))


def inside(inner: tuple[z3.BitVecRef, int], outer: tuple[z3.BitVecRef, int]) -> z3.BoolRef:
    """Block ``inner`` lies within block ``outer``."""
    (pi, oi), (po, oo) = inner, outer
    return z3.And(z3.ULE(wide(po), wide(pi)), z3.ULE(block_end(pi, oi), block_end(po, oo)))


def prove_cases(prover: Prover, cases: Sequence[tuple[str, z3.BoolRef]], shown: Sequence[z3.ExprRef],
                hyps: Sequence[z3.BoolRef] = (), what: str = "") -> None:
    """Prove every case in one query; a counterexample names the first failing case.

    ``shown`` are the variables printed (in hex) with the counterexample.
    """
    hyps = list(hyps)

    def describe(model: z3.ModelRef) -> str:
        failing = next((label for label, c in cases
                        if z3.is_false(model.eval(c, model_completion=True))), "?")
        values = ", ".join(f"{v}={bv_value(model, v):#x}" for v in shown)
        return f"{failing} fails at {values}"

    prover.prove(z3.And(*[c for _, c in cases]), hyps, describe, what)
