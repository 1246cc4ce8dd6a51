"""Obligations on the slab layer (:mod:`kmem.spec.slab`).

kmalloc's selection is encoded as the kernel computes it: ``kmalloc_size_index[]`` (the
spec's table) indexed by ``(size - 1) / 8`` up to 192, ``fls(size - 1)`` above, and
``get_order`` on the page-allocator side; the z3 terms are checked against the spec's
functions on concrete sizes before the proofs. ``cache_estimate``'s loop is the first
``i`` that no longer fits, minus one; the obligation proves that the fit condition is
monotone, so that ``i`` is the maximum, and checks the spec's results on a grid.
Colouring is proved for a symbolic left-over space and colour unit.
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import slab as spec_slab
from kmem.spec.constants import PAGE_SHIFT, PAGE_SIZE

from .core import Obligation, Prover, bv_value, first_line

Impl = ModuleType | SimpleNamespace
BITS = 32  # sizes up to KMALLOC_MAX_SIZE (2**22) and 4096 << 10 fit
CLASSES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


def _fls_z3(x: z3.BitVecRef, top: int = 40) -> z3.BitVecRef:
    """``fls(x)`` for ``x < 2**top`` as an if-chain."""
    out: z3.BitVecRef = z3.BitVecVal(0, BITS)
    for b in range(top):
        out = z3.If(z3.Extract(b, b, x) == 1, z3.BitVecVal(b + 1, BITS), out)
    return out


def kmalloc_object_size_z3(size: z3.BitVecRef, impl: Impl = spec_slab) -> z3.BitVecRef:
    """The object size ``kmalloc_slab(size)`` selects, for 1 <= size <= 8192: the table
    entry for size <= 192, ``fls(size - 1)`` above, mapped through ``kmalloc_info[]``."""
    table = impl.kmalloc_size_index_table()
    elem = z3.UDiv(size - 1, 8)
    idx: z3.BitVecRef = z3.BitVecVal(table[-1], BITS)
    for i in range(len(table) - 2, -1, -1):
        idx = z3.If(elem == i, z3.BitVecVal(table[i], BITS), idx)
    idx = z3.If(z3.ULE(size, 192), idx, _fls_z3(size - 1, 14))
    obj: z3.BitVecRef = z3.BitVecVal(0, BITS)
    for index, (osize, _name) in sorted(impl.KMALLOC_INFO.items()):
        obj = z3.If(idx == index, z3.BitVecVal(osize, BITS), obj)
    return obj


def get_order_z3(size: z3.BitVecRef) -> z3.BitVecRef:
    """``get_order(size)`` = ``fls((size - 1) >> PAGE_SHIFT)``."""
    return _fls_z3(z3.LShR(size - 1, PAGE_SHIFT), 24)


def check_kmalloc_smallest_class(prover: Prover, impl: Impl = spec_slab) -> None:
    """For every size 1..KMALLOC_MAX_CACHE_SIZE, kmalloc's cache (the size_index table up to
    192 bytes, fls(size - 1) above) is the smallest kmalloc class that holds the size; for
    every size above, up to KMALLOC_MAX_SIZE, get_order(size) is the smallest page order
    that holds it, and that order is at most MAX_PAGE_ORDER."""
    edges = sorted({n for c in range(8, 201, 8) for n in (c, c + 1)}
                   | {n for c in CLASSES for n in (c - 1, c, c + 1)} | {1, 5000})
    for n in [n for n in edges if 1 <= n <= 8192]:
        got = z3.simplify(kmalloc_object_size_z3(z3.BitVecVal(n, BITS), impl)).as_long()
        want = impl.KMALLOC_INFO[impl.kmalloc_slab_index(n)][0]
        prover.require(got == want, f"the z3 term selects {got} for size {n}, the spec {want}")
    for n in (8193, 12288, 12289, 65536, 1 << 20, (1 << 22) - 1, 1 << 22):
        got = z3.simplify(get_order_z3(z3.BitVecVal(n, BITS))).as_long()
        prover.require(got == impl.get_order(n), f"get_order term {got} != spec for {n}")
    size = z3.BitVec("size", BITS)
    obj = kmalloc_object_size_z3(size, impl)
    fits = z3.ULE(size, obj)
    smallest = z3.And(*[z3.Or(z3.UGE(z3.BitVecVal(c, BITS), obj), z3.ULT(z3.BitVecVal(c, BITS),
                                                                          size))
                        for c in CLASSES])
    is_class = z3.Or(*[obj == c for c in CLASSES])

    def describe(model: z3.ModelRef) -> str:
        return (f"size {bv_value(model, size)} selects "
                f"{bv_value(model, obj)}")

    prover.prove(z3.And(fits, smallest, is_class),
                 [z3.UGE(size, 1), z3.ULE(size, impl.KMALLOC_MAX_CACHE_SIZE)], describe,
                 "slab side")
    order = get_order_z3(size)
    block = z3.BitVecVal(PAGE_SIZE, BITS) << order
    prover.prove(z3.And(z3.ULE(size, block), z3.ULT(z3.LShR(block, 1), size),
                        z3.ULE(order, 10)),
                 [z3.UGT(size, impl.KMALLOC_MAX_CACHE_SIZE), z3.ULE(size, impl.KMALLOC_MAX_SIZE)],
                 lambda mdl: f"size {bv_value(mdl, size)} gets order {bv_value(mdl, order)}",
                 "page side")


def _align_z3(x: z3.BitVecRef, a: z3.BitVecRef) -> z3.BitVecRef:
    return (x + a - 1) & ~(a - 1)


def check_cache_estimate_maximal(prover: Prover, impl: Impl = spec_slab) -> None:
    """classic SLAB's cache_estimate gives the most objects a slab can hold with its
    management: the fit condition i*size + ALIGN(base + i*extra, align) <= slab bytes is
    monotone in i (for every object size up to 32 pages, power-of-two alignment, order
    0..5, on- and off-slab), so the loop's "first i that fails, minus one" is the maximum;
    and the spec's (num, left_over) satisfy it exactly on a grid of sizes and aligns."""
    era = impl.SLAB_ERA_2_6_11
    for size in (4, 8, 12, 32, 36, 60, 100, 128, 200, 333, 512, 1000, 4096, 5000):
        for align in (4, 8, 32, 128, 512):
            for off in (False, True):
                for order in (0, 1, 3):
                    num, left = impl.cache_estimate(order, size, align, off, era)
                    base, extra = (0, 0) if off else (era.sizeof_slab, era.bufctl)

                    def used(i: int, base: int = base, extra: int = extra, align: int = align,
                             size: int = size) -> int:
                        return i * size + ((base + i * extra + align - 1) & ~(align - 1))

                    slab = PAGE_SIZE << order
                    prover.require(used(num) + left == slab and (num == era.slab_limit
                                                                 or used(num + 1) > slab),
                                   f"cache_estimate({order}, {size}, {align}, off={off}) = "
                                   f"({num}, {left}) is not the maximum")
    # the one-step claim fits(i + 1) => fits(i), over unbounded integers (z3's nonlinear
    # integer arithmetic decides it at once; bit-vector products are far slower), for every
    # alignment 4..4096 at once, on- and off-slab; by induction the objects that fit form
    # 0..num, so the loop's answer is the maximum
    size, i, order, a = z3.Ints("size i order align")
    slab = z3.IntVal(PAGE_SIZE)
    for o in range(1, era.max_gfp_order + 1):
        slab = z3.If(order == o, z3.IntVal(PAGE_SIZE << o), slab)
    for off in (False, True):
        base, extra = (0, 0) if off else (era.sizeof_slab, era.bufctl)

        def fits(n: z3.ArithRef, base: int = base, extra: int = extra) -> z3.BoolRef:
            return n * size + ((base + n * extra + a - 1) / a) * a <= slab

        hyps = [size >= era.word, size <= PAGE_SIZE << era.max_obj_order, i >= 0,
                order >= 0, order <= era.max_gfp_order,
                z3.Or(*[a == 1 << k for k in range(2, 13)])]
        prover.prove(z3.Implies(fits(i + 1), fits(i)), hyps,
                     lambda mdl: (f"size {mdl.eval(size)}, align {mdl.eval(a)}: "
                                  f"{mdl.eval(i)} + 1 objects fit but {mdl.eval(i)} do not"),
                     f"monotone fit, {'off' if off else 'on'}-slab")


def check_colour_inside_leftover(prover: Prover, impl: Impl = spec_slab) -> None:
    """Every colour offset classic SLAB gives a slab (colour_next * colour_off, with
    colour_next cycling through 0 .. colour - 1, colour = left_over / colour_off) lies
    within the left-over space, so the objects and on-slab management still fit in the
    slab's pages; the spec's layouts split each slab exactly into management, objects and
    left-over space."""
    era = impl.SLAB_ERA_2_6_11
    for size in (4, 24, 100, 200, 300, 600, 1000, 3000, 5000, 70000):
        for align in (0, 8, 64, 256):
            for flags in (0, impl.SLAB_HWCACHE_ALIGN):
                lay = impl.classic_layout(size, align, flags, era=era)
                mgmt = 0 if lay.off_slab else lay.slab_size
                prover.require(lay.num * lay.objsize + mgmt + lay.left_over
                               == PAGE_SIZE << lay.gfporder
                               and lay.colour == lay.left_over // lay.colour_off
                               and lay.colour_off % lay.align == 0,
                               f"classic_layout({size}, {align}, {flags:#x}) = {lay} does not "
                               f"split its slab")
                nxt, seen = 0, set()
                for _ in range(lay.colour + 2):
                    c, nxt = impl.next_colour(nxt, lay.colour)
                    seen.add(c)
                prover.require(seen == set(range(max(lay.colour, 1))),
                               f"next_colour with colour {lay.colour} visits {sorted(seen)}")
    left, log_off, cn = (z3.BitVec(n, BITS) for n in ("left_over", "colour_off_log",
                                                      "colour_next"))
    off = z3.BitVecVal(1, BITS) << log_off
    colour = z3.UDiv(left, off)
    nxt = z3.If(z3.UGE(cn + 1, colour), z3.BitVecVal(0, BITS), cn + 1)
    in_range = z3.Or(z3.ULT(cn, colour), cn == 0)
    hyps = [z3.ULE(left, PAGE_SIZE << era.max_gfp_order), z3.UGE(log_off, 2),
            z3.ULE(log_off, 12), in_range]
    prover.prove(z3.And(z3.ULE(cn * off, left), z3.Or(z3.ULT(nxt, colour), nxt == 0)), hyps,
                 lambda mdl: (f"left_over {bv_value(mdl, left)}, colour_off "
                              f"{1 << bv_value(mdl, log_off)}, colour_next {bv_value(mdl, cn)}"),
                 "colour offset")


def obligations(impl: Impl = spec_slab) -> list[Obligation]:
    """The slab obligations, against ``impl`` (the spec, or a mutant of it)."""
    def bind(fn):  # noqa: ANN001, ANN202 - a check with impl fixed
        return lambda prover: fn(prover, impl)

    return [
        Obligation("slab.kmalloc-smallest-class", "slab",
                   first_line(check_kmalloc_smallest_class.__doc__),
                   bind(check_kmalloc_smallest_class)),
        Obligation("slab.cache-estimate-maximal", "slab",
                   first_line(check_cache_estimate_maximal.__doc__),
                   bind(check_cache_estimate_maximal)),
        Obligation("slab.colour-inside-leftover", "slab",
                   first_line(check_colour_inside_leftover.__doc__),
                   bind(check_colour_inside_leftover)),
    ]
