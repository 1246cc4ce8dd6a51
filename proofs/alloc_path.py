"""Obligations on the whole allocation path: the fallback table (:mod:`kmem.spec.migrate`),
when failure is legal (:mod:`kmem.spec.slowpath`) and the per-CPU list arithmetic
(:mod:`kmem.spec.pcp`).

* The fallback table is encoded from the spec's ``FALLBACKS`` data as a z3 function of
  (migratetype, column).
* ``may_fail`` is encoded from the spec's own rule: :func:`kmem.spec.slowpath.may_fail_rule`
  is run over every path of its inputs (:func:`kmem.proofs.explore.choice_paths`), each
  path becoming "these inputs imply this answer"; the inputs are tied to a symbolic
  32-bit gfp mask, a symbolic order and the context flags as ``may_fail_reason`` ties
  them. The encoding is cross-checked against ``may_fail`` on concrete masks first.
* The pcp arithmetic is encoded as the kernel writes it and cross-checked against the
  spec on every ``managed >> 10`` up to past the 1 MiB cap and on a grid of pcp states.
"""

from __future__ import annotations

import itertools
import random
from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import gfp as spec_gfp
from kmem.spec import migrate as spec_migrate
from kmem.spec import pcp as spec_pcp
from kmem.spec import slowpath as spec_slowpath
from kmem.spec.constants import MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER

from .core import Obligation, Prover, first_line
from .explore import choice_paths

Impl = ModuleType | SimpleNamespace


def check_fallbacks_total(prover: Prover, impl: Impl = spec_migrate) -> None:
    """The fallback table is total and never falls back to the same type: for every
    migratetype below MIGRATE_PCPTYPES each of its MIGRATE_PCPTYPES - 1 entries is another
    of those types, the entries differ, and the other types have no row."""
    n = impl.MIGRATE_PCPTYPES
    mt, col = z3.Ints("mt col")
    fb: z3.ArithRef = z3.IntVal(-1)
    for t in range(impl.MIGRATE_TYPES):
        row = impl.fallbacks(t)
        if t >= n:
            prover.require(row == (), f"type {t} has the fallback row {row}, expected none")
            continue
        prover.require(len(row) == n - 1, f"type {t} has {len(row)} fallbacks, expected {n - 1}")
        for c, target in enumerate(row):
            fb = z3.If(z3.And(mt == t, col == c), target, fb)
    other = z3.substitute(fb, (col, 1 - col))
    claim = z3.Implies(z3.And(0 <= mt, mt < n, 0 <= col, col < n - 1),
                       z3.And(0 <= fb, fb < n, fb != mt, z3.Or(n - 1 < 2, fb != other)))
    prover.prove(claim, describe=lambda m: f"type {m[mt]}, column {m[col]}: fallback "
                                           f"{m.eval(fb)}", what="fallbacks")


def _may_fail_term(impl: Impl, gfp: z3.BitVecRef, order: z3.ArithRef,
                   ctx: dict[str, z3.BoolRef]) -> z3.BoolRef:
    """``may_fail`` as z3: the disjunction of the paths of the rule that give up."""
    inputs: dict[str, z3.ExprRef] = {
        name: (gfp & bit) != 0 for name, bit in impl.GFP_INPUTS.items()}
    inputs.update(ctx)
    classes = {"too_big": order > MAX_PAGE_ORDER,
               "costly": z3.And(order > PAGE_ALLOC_COSTLY_ORDER, order <= MAX_PAGE_ORDER),
               "small": order <= PAGE_ALLOC_COSTLY_ORDER}
    fails = []
    for path in choice_paths(impl.may_fail_rule):
        conds = [classes[v] if k == "order" else (inputs[k] if v else z3.Not(inputs[k]))
                 for k, v in path.reads]
        if path.result is not None:
            fails.append(z3.And(conds))
    return z3.Or(fails)


def _cross_check_may_fail(prover: Prover, impl: Impl) -> None:
    gfp = z3.BitVec("gfp", 32)
    order = z3.Int("order")
    ctx = {name: z3.Bool(name) for name in impl.CONTEXT_INPUTS}
    term = _may_fail_term(impl, gfp, order, ctx)
    rng = random.Random(11)
    bits = list(impl.GFP_INPUTS.values())
    for _ in range(300):
        mask = sum(b for b in bits if rng.random() < 0.4) | rng.getrandbits(32) & 0x3f
        o = rng.choice((0, 1, 3, 4, 9, 10, 11))
        flags = {name: rng.random() < 0.15 for name in impl.CONTEXT_INPUTS}
        want = impl.may_fail(mask, o, impl.Context(**flags))
        got = z3.simplify(z3.substitute(
            term, (gfp, z3.BitVecVal(mask, 32)), (order, z3.IntVal(o)),
            *((ctx[k], z3.BoolVal(v)) for k, v in flags.items())))
        prover.require(z3.is_true(got) == want,
                       f"the encoding says may_fail={z3.is_true(got)} for mask {mask:#x} order "
                       f"{o} context {flags}, the spec {want}")


def check_may_fail_nofail(prover: Prover, impl: Impl = spec_slowpath) -> None:
    """A __GFP_NOFAIL request that may reclaim never fails: for every 32-bit gfp mask with
    __GFP_NOFAIL and __GFP_DIRECT_RECLAIM, every order up to MAX_PAGE_ORDER and every
    context, ``may_fail`` is false."""
    _cross_check_may_fail(prover, impl)
    gfp = z3.BitVec("gfp", 32)
    order = z3.Int("order")
    ctx = {name: z3.Bool(name) for name in impl.CONTEXT_INPUTS}
    term = _may_fail_term(impl, gfp, order, ctx)
    hyps = [(gfp & spec_gfp.__GFP_NOFAIL) != 0, (gfp & spec_gfp.__GFP_DIRECT_RECLAIM) != 0,
            0 <= order, order <= MAX_PAGE_ORDER]
    prover.prove(z3.Not(term), hyps, what="NOFAIL")


def check_may_fail_gfp_kernel(prover: Prover, impl: Impl = spec_slowpath) -> None:
    """A small-order GFP_KERNEL request in a normal context never fails: for every order up
    to PAGE_ALLOC_COSTLY_ORDER, with no PF_MEMALLOC, no OOM victim, task context, an OOM
    killer that works and storage not suspended, ``may_fail(GFP_KERNEL | extra, order)`` is
    false for every extra set of bits that are not among those the rule reads
    (__GFP_ZERO, __GFP_COMP, __GFP_NOWARN, __GFP_ACCOUNT, ...)."""
    gfp = z3.BitVec("gfp", 32)
    order = z3.Int("order")
    ctx = {name: z3.Bool(name) for name in impl.CONTEXT_INPUTS}
    term = _may_fail_term(impl, gfp, order, ctx)
    read = 0
    for bit in impl.GFP_INPUTS.values():
        read |= bit
    hyps = [gfp & read == spec_gfp.GFP_KERNEL & read, 0 <= order,
            order <= PAGE_ALLOC_COSTLY_ORDER, *(z3.Not(v) for v in ctx.values())]
    prover.prove(z3.Not(term), hyps, what="GFP_KERNEL")


def _rounddown_pow2_z3(x: z3.ArithRef, top: int) -> z3.ArithRef:
    out: z3.ArithRef = z3.IntVal(1)
    for k in range(1, top.bit_length() + 1):
        out = z3.If(x >= 2**k, 2**k, out)
    return out


def _batchsize_z3(managed: z3.ArithRef) -> z3.ArithRef:
    """``zone_batchsize`` as the kernel writes it, over integers."""
    b = z3.If(managed / 1024 < spec_pcp.SZ_1M_PAGES, managed / 1024, spec_pcp.SZ_1M_PAGES) / 4
    b = z3.If(b < 1, 1, b)
    return _rounddown_pow2_z3(b + b / 2, 96) - 1


def _nr_pcp_free_z3(count: z3.ArithRef, batch: z3.ArithRef, high: z3.ArithRef,
                    free_count: z3.ArithRef) -> z3.ArithRef:
    """``nr_pcp_free`` without free_high, as the kernel writes it."""
    lo, hi = batch, high - batch
    clamped = z3.If(z3.If(free_count > lo, free_count, lo) < hi,
                    z3.If(free_count > lo, free_count, lo), hi)
    return z3.If(high < batch, 1, clamped)


def check_pcp_arithmetic(prover: Prover, impl: Impl = spec_pcp) -> None:
    """pcp batch and high stay within their documented bounds: ``zone_batchsize`` is
    2**n - 1 in 0..63 for every zone size, the pageset's batch is at least 1 and at most a
    quarter of high_min and of high_max for any LOW watermark and CPU count, and a free
    past the high mark (high >= 4 * batch, or a disabled pcp with high < batch) returns at
    least one page to the buddy allocator (``nr_pcp_free`` >= 1)."""
    for shifted in range(0, 4 * spec_pcp.SZ_1M_PAGES + 8):
        managed = shifted << 10
        want = impl.zone_batchsize(managed)
        got = z3.simplify(_batchsize_z3(z3.IntVal(managed))).as_long()
        prover.require(want == got, f"zone_batchsize({managed}) is {want}, the encoding {got}")
    for count, batch, high, free_count in itertools.product(
            (1, 5, 63, 700), (1, 7, 63), (0, 3, 28, 252, 1000), (0, 1, 63, 2000)):
        want = impl.nr_pcp_free(count=count, batch=batch, high=high, free_high=False,
                                free_count=free_count)
        got = z3.simplify(_nr_pcp_free_z3(*map(z3.IntVal, (count, batch, high, free_count))))
        prover.require(want == got.as_long(), f"nr_pcp_free{(count, batch, high, free_count)}")
    managed, low, cpus = z3.Ints("managed low cpus")
    batch = _batchsize_z3(managed)
    b = z3.If(batch < 1, 1, batch)
    claim = z3.And(0 <= batch, batch <= 63, z3.Or(*(batch == 2**k - 1 for k in range(7))))
    prover.prove(claim, [managed >= 0], what="zone_batchsize")
    high_min = z3.If(low / cpus > 4 * b, low / cpus, 4 * b)
    high_max = z3.If(managed / 8 / cpus > 4 * b, managed / 8 / cpus, 4 * b)
    prover.prove(z3.And(b >= 1, 4 * b <= high_min, 4 * b <= high_max),
                 [managed >= 0, low >= 0, cpus >= 1], what="pageset high and batch")
    count, bt, high, fc = z3.Ints("count batch high free_count")
    prover.prove(_nr_pcp_free_z3(count, bt, high, fc) >= 1,
                 [bt >= 1, count >= 1, fc >= 0, z3.Or(high >= 4 * bt, high < bt)],
                 what="nr_pcp_free")


def obligations(migrate: Impl = spec_migrate, slowpath: Impl = spec_slowpath,
                pcp: Impl = spec_pcp) -> list[Obligation]:
    """The allocation-path obligations (arguments: the spec or a mutant)."""
    checks = [
        ("alloc.fallbacks-total", lambda pr: check_fallbacks_total(pr, migrate),
         check_fallbacks_total),
        ("alloc.may-fail-nofail", lambda pr: check_may_fail_nofail(pr, slowpath),
         check_may_fail_nofail),
        ("alloc.may-fail-gfp-kernel", lambda pr: check_may_fail_gfp_kernel(pr, slowpath),
         check_may_fail_gfp_kernel),
        ("alloc.pcp-arithmetic", lambda pr: check_pcp_arithmetic(pr, pcp),
         check_pcp_arithmetic),
    ]
    return [Obligation(name, "alloc", first_line(fn.__doc__), run) for name, run, fn in checks]
