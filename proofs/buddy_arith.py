"""Obligations on the buddy arithmetic of :mod:`kmem.spec.buddy` over 64-bit pfns.

The spec's bit formulas (``find_buddy_pfn``, ``combined_pfn``, ``expand``) use only
operators z3 overloads, so they are evaluated *directly* on a symbolic 64-bit pfn:
the z3 term is the spec function itself. The plain-arithmetic twins use ``//`` and
``%``, which z3 reads as signed; they are mirrored with unsigned ``UDiv``/``URem``
and the mirror is checked against the spec on concrete pfns first.
Every claim is made for each order 0..MAX_PAGE_ORDER.
"""

from __future__ import annotations

import random
from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import buddy as spec_buddy
from kmem.spec.constants import MAX_PAGE_ORDER

from .core import Obligation, Prover, first_line
from .encode import (
    aligned,
    aligned_pfn,
    block_end,
    disjoint,
    inside,
    pfn_var,
    prove_cases,
    wide,
)

Impl = ModuleType | SimpleNamespace
ORDERS = range(MAX_PAGE_ORDER + 1)


def find_buddy_arith_z3(p: z3.BitVecRef, order: int) -> z3.BitVecRef:
    """Mirror of ``find_buddy_pfn_arith`` with unsigned division."""
    size = 2**order
    return z3.If(z3.URem(z3.UDiv(p, size), 2) == 0, p + size, p - size)


def combined_arith_z3(p: z3.BitVecRef, order: int) -> z3.BitVecRef:
    """Mirror of ``combined_pfn_arith``: clear the ``2**order`` digit of the pfn."""
    return p - z3.URem(z3.UDiv(p, 2**order), 2) * 2**order


def sample_pfns(seed: int = 4, n: int = 64) -> list[int]:
    """Concrete pfns for cross-checks: edges of the 64-bit range and random values."""
    rng = random.Random(seed)
    edge = [0, 1, 2, 3, 1023, 1024, 1025, 2**32 - 1, 2**63, 2**64 - 1, 2**64 - 1024]
    return edge + [rng.getrandbits(64) for _ in range(n)] + [rng.randrange(4096) for _ in range(n)]


def _mirror_agrees(prover: Prover, impl: Impl) -> None:
    """The z3 mirrors of the arithmetic twins equal the spec's Python functions on samples."""
    for p in sample_pfns():
        for order in ORDERS:
            for name, mirror in (("find_buddy_pfn_arith", find_buddy_arith_z3),
                                 ("combined_pfn_arith", combined_arith_z3)):
                want = getattr(impl, name)(p, order)
                got = z3.simplify(mirror(z3.BitVecVal(p, 64), order)).as_long()
                prover.require(want == got, f"z3 mirror of {name}({p:#x}, {order}) gives {got:#x}, "
                                            f"the spec gives {want:#x}")


def check_buddy_involution(prover: Prover, impl: Impl = spec_buddy) -> None:
    """The buddy of the buddy is the block itself: ``find_buddy_pfn(find_buddy_pfn(p, o), o) == p``
    for every 64-bit pfn p and order o (``__find_buddy_pfn``, mm/internal.h)."""
    p = pfn_var("pfn")
    cases = [(f"order {o}", impl.find_buddy_pfn(impl.find_buddy_pfn(p, o), o) == p) for o in ORDERS]
    prove_cases(prover, cases, [p], what="buddy of buddy")


def check_buddy_pair(prover: Prover, impl: Impl = spec_buddy) -> None:
    """A naturally aligned block and its buddy are equally aligned, distinct and disjoint, and
    together they are exactly the aligned order+1 parent that ``combined_pfn`` returns: the
    lower of the two starts it, the upper starts at parent + 2**order (``__free_one_page``)."""
    k = pfn_var("k")
    cases = []
    for o in ORDERS:
        p = aligned_pfn(k, o)
        b = impl.find_buddy_pfn(p, o)
        c = impl.combined_pfn(p, o)
        lo, hi = z3.If(z3.ULT(p, b), p, b), z3.If(z3.ULT(p, b), b, p)
        claim = z3.And(aligned(b, o), b != p, disjoint((p, o), (b, o)), aligned(c, o + 1),
                       lo == c, wide(hi) == wide(c) + 2**o,
                       block_end(hi, o) == block_end(c, o + 1),
                       impl.combined_pfn(b, o) == c)
        cases.append((f"order {o}", claim))
    prove_cases(prover, cases, [k], what="buddy pair (pfn = k with the low order bits cleared)")


def check_combined_is_parent(prover: Prover, impl: Impl = spec_buddy) -> None:
    """For a pfn aligned to its order (the only kind ``__free_one_page`` passes),
    ``combined_pfn(p, o)`` (``pfn & buddy_pfn``) is the start of the aligned order+1 block
    holding p: aligned to order+1, at most p, and less than 2**(order+1) pages below it."""
    k = pfn_var("k")
    cases = []
    for o in ORDERS:
        p = aligned_pfn(k, o)
        c = impl.combined_pfn(p, o)
        cases.append((f"order {o}", z3.And(aligned(c, o + 1), z3.ULE(c, p),
                                            z3.ULT(p - c, 2 ** (o + 1)))))
    prove_cases(prover, cases, [k], what="combined pfn (pfn = k with the low order bits cleared)")


def check_arith_twins(prover: Prover, impl: Impl = spec_buddy) -> None:
    """The bit formulas and their plain-arithmetic twins agree on every 64-bit pfn and order:
    ``find_buddy_pfn == find_buddy_pfn_arith`` and ``combined_pfn == combined_pfn_arith``."""
    _mirror_agrees(prover, impl)
    p = pfn_var("pfn")
    cases = []
    for o in ORDERS:
        cases.append((f"find_buddy order {o}", impl.find_buddy_pfn(p, o) == find_buddy_arith_z3(p, o)))
        cases.append((f"combined order {o}", impl.combined_pfn(p, o) == combined_arith_z3(p, o)))
    prove_cases(prover, cases, [p], what="arithmetic twins")


def check_expand_tiles(prover: Prover, impl: Impl = spec_buddy) -> None:
    """``expand(p, low, high)`` on an aligned order-high block: the upper halves it frees are
    aligned to their orders, pairwise disjoint, disjoint from the returned block (p, low),
    inside the block, and with it they cover all 2**high pages; orders descend from high-1
    to low, as the kernel puts them back (mm/page_alloc.c ``expand``)."""
    k = pfn_var("k")
    cases = []
    for high in ORDERS:
        p = aligned_pfn(k, high)
        for low in range(high + 1):
            halves = impl.expand(p, low, high)
            orders = [o for _, o in halves]
            prover.require(orders == list(range(high - 1, low - 1, -1)),
                           f"expand(pfn, {low}, {high}) frees orders {orders}, expected "
                           f"{list(range(high - 1, low - 1, -1))}")
            parts = [(p, low), *halves]
            conj = [inside(part, (p, high)) for part in parts]
            conj += [aligned(q, o) for q, o in halves]
            conj += [disjoint(a, b) for i, a in enumerate(parts) for b in parts[i + 1:]]
            covered = sum(2**o for _, o in parts)
            prover.require(covered == 2**high, f"expand(pfn, {low}, {high}) leaves parts of "
                                               f"{covered} pages, expected {2**high}")
            cases.append((f"low {low} high {high}", z3.And(*conj)))
    prove_cases(prover, cases, [k], what="expand (pfn = k with the low high bits cleared)")


def obligations(impl: Impl = spec_buddy) -> list[Obligation]:
    """The buddy-arithmetic obligations, checking ``impl`` (the spec, or a mutant of it)."""
    checks = [
        ("buddy.arith.involution", check_buddy_involution),
        ("buddy.arith.pair-is-parent", check_buddy_pair),
        ("buddy.arith.combined-pfn", check_combined_is_parent),
        ("buddy.arith.twins", check_arith_twins),
        ("buddy.arith.expand-tiles", check_expand_tiles),
    ]
    return [Obligation(name, "buddy", first_line(fn.__doc__),
                       (lambda pr, fn=fn: fn(pr, impl))) for name, fn in checks]
