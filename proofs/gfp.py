"""Obligations on zone selection (:mod:`kmem.spec.gfp`) and watermarks (:mod:`kmem.spec.watermarks`).

``gfp_zone`` is encoded as the kernel computes it: GFP_ZONE_TABLE and GFP_ZONE_BAD
(the spec's numbers for each configuration) indexed by ``mask & GFP_ZONEMASK``
with a logical shift, over a symbolic 32-bit mask. The plain rule is written
as a z3 if-chain. Both terms are checked against the spec's Python functions
on every zone-modifier index (with random high bits) before the proof.
"""

from __future__ import annotations

import random
from types import ModuleType, SimpleNamespace

import z3

from kmem.spec import alloc_flags as af
from kmem.spec import gfp as spec_gfp
from kmem.spec import watermarks as spec_wm
from kmem.spec.errors import BadGfpZone
from kmem.spec.zones import ZONE_CONFIGS, ZoneConfig, ZoneType

from .core import Obligation, Prover, bv_value, first_line

Impl = ModuleType | SimpleNamespace
MASK_BITS = spec_gfp.GFP_T_BITS
DMA, HIGHMEM, DMA32, MOVABLE = (spec_gfp.__GFP_DMA, spec_gfp.__GFP_HIGHMEM, spec_gfp.__GFP_DMA32,
                                spec_gfp.__GFP_MOVABLE)


def _bit(mask: z3.BitVecRef, value: int) -> z3.BoolRef:
    return mask & value != 0


def table_zone_z3(mask: z3.BitVecRef, table: int, shift: int) -> z3.BitVecRef:
    """``(GFP_ZONE_TABLE >> (bit * GFP_ZONES_SHIFT)) & ((1 << GFP_ZONES_SHIFT) - 1)``."""
    bit = z3.ZeroExt(64 - MASK_BITS, mask & spec_gfp.GFP_ZONEMASK)
    return z3.LShR(z3.BitVecVal(table, 64), bit * shift) & (2**shift - 1)


def table_bad_z3(mask: z3.BitVecRef, bad: int) -> z3.BoolRef:
    """``(GFP_ZONE_BAD >> bit) & 1``."""
    bit = z3.ZeroExt(64 - MASK_BITS, mask & spec_gfp.GFP_ZONEMASK)
    return z3.LShR(z3.BitVecVal(bad, 64), bit) & 1 == 1


def plain_zone_z3(mask: z3.BitVecRef, config: ZoneConfig) -> z3.BitVecRef:
    """The plain rule: DMA wins, then DMA32; HIGHMEM with MOVABLE is ZONE_MOVABLE; a zone
    that is configured out falls back to NORMAL. The result is a zone index."""
    def idx(zt: ZoneType) -> z3.BitVecRef:
        zt = zt if config.has(zt) else ZoneType.NORMAL
        return z3.BitVecVal(config.idx(zt), 64)

    return z3.If(_bit(mask, DMA), idx(ZoneType.DMA),
                 z3.If(_bit(mask, DMA32), idx(ZoneType.DMA32),
                       z3.If(z3.And(_bit(mask, HIGHMEM), _bit(mask, MOVABLE)), idx(ZoneType.MOVABLE),
                             z3.If(_bit(mask, HIGHMEM), idx(ZoneType.HIGHMEM),
                                   idx(ZoneType.NORMAL)))))


def plain_bad_z3(mask: z3.BitVecRef) -> z3.BoolRef:
    """Two or more of DMA, HIGHMEM, DMA32."""
    n = sum(z3.If(_bit(mask, b), 1, 0) for b in (DMA, HIGHMEM, DMA32))
    return n >= 2


def _sample_masks(seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [index | (rng.getrandbits(MASK_BITS) & ~0xF & ((1 << 26) - 1))
            for index in range(16) for _ in range(3)] + list(range(16))


def _zone_or_bad(fn, mask: int, config: ZoneConfig) -> int | None:
    try:
        return config.idx(fn(mask, config))
    except BadGfpZone:
        return None


def check_gfp_zone_table(prover: Prover, impl: Impl = spec_gfp) -> None:
    """``gfp_zone`` computed from GFP_ZONE_TABLE (as the kernel does) equals the plainly
    written rule (``gfp_zone_plain``) for every 32-bit mask and every zone configuration
    preset, and GFP_ZONE_BAD is set exactly for the masks with two or more of
    __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32."""
    mask = z3.BitVec("gfp_mask", MASK_BITS)
    for name, config in sorted(ZONE_CONFIGS.items()):
        zt = impl.gfp_zone_table(config)
        for m in _sample_masks():
            t_zone = z3.simplify(table_zone_z3(z3.BitVecVal(m, MASK_BITS), zt.table, zt.shift))
            t_bad = z3.is_true(z3.simplify(table_bad_z3(z3.BitVecVal(m, MASK_BITS), zt.bad)))
            spec_table = _zone_or_bad(impl.gfp_zone, m, config)
            prover.require((None if t_bad else t_zone.as_long()) == spec_table,
                           f"{name}: the table term gives {'BAD' if t_bad else t_zone} for mask "
                           f"{m:#x}, gfp_zone gives {spec_table}")
            p_zone = z3.simplify(plain_zone_z3(z3.BitVecVal(m, MASK_BITS), config)).as_long()
            p_bad = z3.is_true(z3.simplify(plain_bad_z3(z3.BitVecVal(m, MASK_BITS))))
            spec_plain = _zone_or_bad(impl.gfp_zone_plain, m, config)
            prover.require((None if p_bad else p_zone) == spec_plain,
                           f"{name}: the plain term gives {'BAD' if p_bad else p_zone} for mask "
                           f"{m:#x}, gfp_zone_plain gives {spec_plain}")
        bad_t, bad_p = table_bad_z3(mask, zt.bad), plain_bad_z3(mask)
        claim = z3.And(bad_t == bad_p, z3.Implies(z3.Not(bad_t), table_zone_z3(mask, zt.table, zt.shift)
                                                   == plain_zone_z3(mask, config)))

        def describe(model: z3.ModelRef, config: ZoneConfig = config, zt=zt, name=name) -> str:
            m = bv_value(model, mask)
            tz = bv_value(model, table_zone_z3(mask, zt.table, zt.shift))
            pz = bv_value(model, plain_zone_z3(mask, config))
            tb = z3.is_true(model.eval(table_bad_z3(mask, zt.bad)))
            pb = z3.is_true(model.eval(plain_bad_z3(mask)))
            return (f"config {name}, mask {m:#x}: table gives zone index {tz} (bad={tb}), "
                    f"plain rule gives {pz} (bad={pb})")

        prover.prove(claim, describe=describe, what="gfp_zone")


def check_zonelist_descends(prover: Prover, impl: Impl = spec_gfp) -> None:
    """Fallback only ever descends: for every configuration preset, highest zone and set of
    populated zones, ``zonelist`` lists populated zones in strictly decreasing zone index,
    none above the highest allowed, and every populated zone at or below it."""
    i = z3.Int("i")
    for name, config in sorted(ZONE_CONFIGS.items()):
        cases = []
        for highest in (zt for zt in config.zones if zt is not ZoneType.DEVICE):
            top = config.idx(highest)
            for bits in range(2 ** len(config.zones)):
                populated = {zt for k, zt in enumerate(config.zones) if bits >> k & 1}
                got = [config.idx(zt) for zt in impl.zonelist(config, highest, populated)]
                want = {config.idx(zt) for zt in populated
                        if zt is not ZoneType.DEVICE and config.idx(zt) <= top}
                label = (f"{name}, highest {highest.name}, populated "
                         f"{sorted(z.name for z in populated)}: zone indices {got}")
                prover.require(set(got) == want, f"{label}, expected the set {sorted(want)}")
                at: z3.ArithRef = z3.IntVal(-1)
                for k, v in enumerate(got):  # at(i): the zone index at position i
                    at = z3.If(i == k, v, at)
                nxt = z3.substitute(at, (i, i + 1))
                cases.append((label, z3.And(
                    z3.Implies(z3.And(0 <= i, i + 1 < len(got)), at > nxt),
                    z3.Implies(z3.And(0 <= i, i < len(got)), at <= top))))

        def describe(model: z3.ModelRef, cases=cases) -> str:
            bad = next(lbl for lbl, c in cases if z3.is_false(model.eval(c, model_completion=True)))
            return f"{bad} do not strictly descend from the highest allowed (position {model[i]})"

        prover.prove(z3.And([c for _, c in cases]), describe=describe, what="zonelist")


def threshold_z3(mark: z3.BitVecRef, flags: int) -> z3.BitVecRef:
    """Mirror of ``watermark_threshold`` for concrete ``flags``: unsigned 64-bit ``min``."""
    wmin = mark
    if flags & af.ALLOC_RESERVES:
        if flags & af.ALLOC_MIN_RESERVE:
            wmin = wmin - z3.UDiv(wmin, 2)
            if flags & af.ALLOC_NON_BLOCK:
                wmin = wmin - z3.UDiv(wmin, 4)
        if flags & af.ALLOC_OOM:
            wmin = wmin - z3.UDiv(wmin, 2)
    return wmin


ALLOC_BITS = (af.ALLOC_NO_WATERMARKS, af.ALLOC_OOM, af.ALLOC_NON_BLOCK, af.ALLOC_MIN_RESERVE,
              af.ALLOC_CPUSET, af.ALLOC_CMA, af.ALLOC_HIGHATOMIC, af.ALLOC_KSWAPD)


def all_alloc_flags() -> list[int]:
    """Every combination of the ALLOC_* bits, with each watermark index."""
    out = []
    for combo in range(2 ** len(ALLOC_BITS)):
        bits = sum(b for i, b in enumerate(ALLOC_BITS) if combo >> i & 1)
        out.extend(bits | w for w in (af.ALLOC_WMARK_MIN, af.ALLOC_WMARK_LOW, af.ALLOC_WMARK_HIGH))
    return out


def _mirror_threshold(prover: Prover, impl: Impl) -> None:
    marks = [0, 1, 3, 7, 1023, 2**64 - 1]
    for flags in all_alloc_flags():
        for mark in marks:
            want = impl.watermark_threshold(mark, flags)
            got = z3.simplify(threshold_z3(z3.BitVecVal(mark, 64), flags)).as_long()
            prover.require(want == got, f"watermark_threshold({mark}, {flags:#x}) = {want}, the z3 "
                                        f"mirror gives {got}")


def check_discount_never_raises(prover: Prover, impl: Impl = spec_wm) -> None:
    """The watermark discounts never raise the threshold: ``watermark_threshold(mark, flags)
    <= mark`` for every 64-bit mark and every combination of ALLOC_* flags
    (``__zone_watermark_ok``, mm/page_alloc.c)."""
    _mirror_threshold(prover, impl)
    mark = z3.BitVec("mark", 64)
    # flags that give the same threshold term need one case: group them by term
    terms: dict[int, tuple[int, z3.BitVecRef]] = {}
    for flags in all_alloc_flags():
        term = threshold_z3(mark, flags)
        terms.setdefault(term.get_id(), (flags, term))
    cases = [(f"alloc_flags {flags:#x}", z3.ULE(term, mark)) for flags, term in terms.values()]

    def describe(model: z3.ModelRef) -> str:
        bad = next(lbl for lbl, c in cases if z3.is_false(model.eval(c, model_completion=True)))
        m = bv_value(model, mark)
        flags = int(bad.split()[-1], 16)
        return (f"{bad}, mark {m}: threshold {impl.watermark_threshold(m, flags)} is above "
                f"the mark")

    prover.prove(z3.And([c for _, c in cases]), describe=describe, what="discount")


def non_memalloc_flags(gfp: Impl = spec_gfp) -> dict[str, int]:
    """alloc_flags of every slow-path request that may not ignore watermarks: each mask
    over the bits ``gfp_to_alloc_flags`` reads (without __GFP_MEMALLOC), orders 0 and 1,
    RT or not, plus the OOM victim's ALLOC_OOM (``__gfp_pfmemalloc_flags``)."""
    bits = (spec_gfp.__GFP_HIGH, spec_gfp.__GFP_KSWAPD_RECLAIM, spec_gfp.__GFP_DIRECT_RECLAIM,
            spec_gfp.__GFP_NOMEMALLOC, spec_gfp.__GFP_MOVABLE, spec_gfp.__GFP_RECLAIMABLE)
    out: dict[str, int] = {}
    for combo in range(2 ** len(bits)):
        mask = sum(b for i, b in enumerate(bits) if combo >> i & 1)
        for order in (0, 1):
            for rt in (False, True):
                flags = gfp.gfp_to_alloc_flags(mask, order, rt_task=rt)
                out[f"mask {mask:#x} order {order}{' rt' if rt else ''}"] = flags
                reserve = gfp.gfp_pfmemalloc_flags(mask, oom_victim=True)
                if reserve and not reserve & af.ALLOC_NO_WATERMARKS:
                    out[f"mask {mask:#x} order {order} oom victim"] = reserve | (flags & af.ALLOC_KSWAPD)
    return out


def check_atomic_discount_largest(prover: Prover, impl: Impl = spec_wm, gfp: Impl = spec_gfp) -> None:
    """GFP_ATOMIC gets the largest watermark discount of all requests that may not ignore
    watermarks: for every mark, its threshold (3/8 of the mark, rounded as the kernel
    does) is at most that of any other ``gfp_to_alloc_flags`` result without
    __GFP_MEMALLOC, OOM victims included."""
    _mirror_threshold(prover, impl)
    mark = z3.BitVec("mark", 64)
    cases: dict[int, tuple[str, z3.BoolRef]] = {}
    for order in (0, 1):
        atomic = gfp.gfp_to_alloc_flags(spec_gfp.GFP_ATOMIC, order)
        for label, flags in sorted(non_memalloc_flags(gfp).items()):
            claim = z3.ULE(threshold_z3(mark, atomic), threshold_z3(mark, flags))
            cases.setdefault(claim.get_id(), (
                f"GFP_ATOMIC order {order} (alloc_flags {atomic:#x}) against {label} "
                f"(alloc_flags {flags:#x})", claim))

    def describe(model: z3.ModelRef) -> str:
        bad = next(lbl for lbl, c in cases.values()
                   if z3.is_false(model.eval(c, model_completion=True)))
        return f"{bad}: at mark {bv_value(model, mark)} GFP_ATOMIC keeps the higher threshold"

    prover.prove(z3.And([c for _, c in cases.values()]), describe=describe,
                 what="GFP_ATOMIC discount")


def obligations(gfp: Impl = spec_gfp, wm: Impl = spec_wm) -> list[Obligation]:
    """The zone-selection and watermark obligations (``gfp``/``wm``: the spec or a mutant)."""
    checks = [
        ("gfp.zone-table-equals-rule", lambda pr: check_gfp_zone_table(pr, gfp),
         check_gfp_zone_table),
        ("gfp.zonelist-descends", lambda pr: check_zonelist_descends(pr, gfp),
         check_zonelist_descends),
        ("watermark.discount-never-raises", lambda pr: check_discount_never_raises(pr, wm),
         check_discount_never_raises),
        ("watermark.atomic-discount-largest", lambda pr: check_atomic_discount_largest(pr, wm, gfp),
         check_atomic_discount_largest),
    ]
    return [Obligation(name, name.split(".")[0], first_line(fn.__doc__), run)
            for name, run, fn in checks]

