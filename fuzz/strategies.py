"""Public Hypothesis strategies for fuzzing page allocators against kmem.spec.

    from hypothesis import given
    from kmem.fuzz.strategies import gfp_masks, orders, machine_configs, operation_streams

    @given(machine_configs(), operation_streams())
    def test_my_allocator(config, ops): ...

- :func:`gfp_masks`: real composites (GFP_KERNEL, GFP_HIGHUSER_MOVABLE, ...) with
  modifiers, single bits, GFP_ZONE_BAD zone combinations, arbitrary 32-bit masks;
- :func:`orders`: 0..MAX_PAGE_ORDER, weighted to small orders, and beyond;
- :func:`machine_configs`: :class:`~kmem.fuzz.configs.MachineConfig` recipes: x86_32
  (HighMem), x86_64 (DMA32, Movable), single zones from a few pages to 2**20
  pages with holes and reserved ranges, and machines booted with ``from_proc``;
- :func:`operation_streams`: lists of :mod:`kmem.fuzz.ops` operations for the bulk
  runner (:func:`kmem.fuzz.bulk.run_stream`).

This module imports Hypothesis and kmem.spec only: never numba (a test checks it).
"""

from __future__ import annotations

from hypothesis import strategies as st

from kmem.spec import gfp as g
from kmem.spec.constants import MAX_PAGE_ORDER

from . import ops as O
from .configs import MachineConfig

COMPOSITES = (g.GFP_KERNEL, g.GFP_ATOMIC, g.GFP_NOWAIT, g.GFP_NOIO, g.GFP_NOFS, g.GFP_USER,
              g.GFP_HIGHUSER, g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL_ACCOUNT, g.GFP_DMA,
              g.GFP_DMA32, g.GFP_DMA | g.GFP_KERNEL, g.GFP_DMA32 | g.GFP_KERNEL,
              g.GFP_TRANSHUGE, g.GFP_TRANSHUGE_LIGHT, g.GFP_KERNEL | g.__GFP_MOVABLE,
              g.GFP_KERNEL | g.__GFP_COMP, g.GFP_HIGHUSER_MOVABLE | g.__GFP_COMP,
              g.GFP_KERNEL | g.__GFP_ZERO, g.GFP_ATOMIC | g.__GFP_COMP)
MODIFIERS = (g.__GFP_ZERO, g.__GFP_COMP, g.__GFP_NOWARN, g.__GFP_HIGH, g.__GFP_MEMALLOC,
             g.__GFP_NOMEMALLOC, g.__GFP_NORETRY, g.__GFP_NOFAIL, g.__GFP_RECLAIMABLE)
SINGLE_BITS = tuple(1 << b for b in range(24))
#: zone-modifier combinations gfp_zone() rejects (GFP_ZONE_BAD)
BAD_ZONE_COMBOS = tuple(i for i in sorted(g.GFP_ZONE_BAD_INDEXES))


def gfp_masks(*, bad_zones: bool = True, arbitrary: bool = True) -> st.SearchStrategy[int]:
    """gfp masks as the kernel's callers pass them, and some they should not."""
    composite = st.builds(lambda base, mods: base | sum(set(mods)),
                          st.sampled_from(COMPOSITES),
                          st.lists(st.sampled_from(MODIFIERS), max_size=3))
    parts = [composite, composite, composite, st.sampled_from(SINGLE_BITS)]
    if bad_zones:
        parts.append(st.builds(lambda z, base: (base & ~g.GFP_ZONEMASK) | z,
                               st.sampled_from(BAD_ZONE_COMBOS), st.sampled_from(COMPOSITES)))
    if arbitrary:
        parts.append(st.integers(0, 2**32 - 1))
    return st.one_of(parts)


def orders(*, max_order: int = MAX_PAGE_ORDER, beyond: int = 2) -> st.SearchStrategy[int]:
    """Orders 0..max_order, mostly small, and a few above it (``beyond``), which must fail."""
    small = st.integers(0, min(3, max_order))
    parts = [small, small, st.integers(0, max_order)]
    if beyond:
        parts.append(st.integers(max_order + 1, max_order + beyond))
    return st.one_of(parts)


@st.composite
def _ranges(draw: st.DrawFn, lo: int, hi: int, max_n: int) -> tuple[tuple[int, int], ...]:
    """Disjoint, sorted, non-adjacent pfn ranges inside [lo, hi)."""
    if hi - lo < 4:
        return ()
    points = sorted(draw(st.sets(st.integers(lo + 1, hi - 1), max_size=2 * max_n)))
    out = []
    for a, b in zip(points[::2], points[1::2], strict=False):
        if b > a:
            out.append((a, b))
    return tuple(out)


@st.composite
def _generic(draw: st.DrawFn, max_pages: int) -> MachineConfig:
    npages = draw(st.one_of(st.integers(1, 64), st.integers(65, 4096),
                            st.sampled_from([1 << 10, 1 << 12, 3 * 1024 + 17,
                                             min(max_pages, 1 << 20)]),
                            st.integers(1, max_pages)))
    npages = min(npages, max_pages)
    holes = draw(_ranges(0, npages, 2)) if draw(st.booleans()) else ()
    reserved: tuple[tuple[int, int], ...] = ()
    if draw(st.booleans()):
        cand = draw(_ranges(0, npages, 2))
        reserved = tuple(r for r in cand
                         if not any(r[0] < h[1] and h[0] < r[1] for h in holes))
    mfk = draw(st.sampled_from([0, 4, 16, 64, 256, None]))
    return MachineConfig("generic", npages, holes=holes, reserved=reserved, min_free_kbytes=mfk)


@st.composite
def _x86_64(draw: st.DrawFn) -> MachineConfig:
    mem = draw(st.one_of(st.integers(17, 64), st.sampled_from([256, 4096 + 32, 4096 + 256])))
    movable = draw(st.sampled_from([0, 0, 4, 8])) if mem > 4096 else 0
    return MachineConfig("x86_64", mem, movablecore_mb=movable,
                         min_free_kbytes=draw(st.one_of(st.none(), st.sampled_from([16, 128]))))


@st.composite
def _x86_32(draw: st.DrawFn) -> MachineConfig:
    mem = draw(st.one_of(st.integers(17, 64), st.sampled_from([900, 960, 1024, 1536])))
    return MachineConfig("x86_32", mem,
                         min_free_kbytes=draw(st.one_of(st.none(), st.sampled_from([16, 128]))))


def machine_configs(*, max_pages: int = 1 << 20, presets: tuple[str, ...] = (
        "generic", "x86_64", "x86_32", "from_proc")) -> st.SearchStrategy[MachineConfig]:
    """Machines to boot every implementation on (see :class:`MachineConfig`)."""
    parts: list[st.SearchStrategy[MachineConfig]] = []
    if "generic" in presets:
        parts += [_generic(max_pages), _generic(max_pages)]
    if "x86_64" in presets:
        parts.append(_x86_64())
    if "x86_32" in presets:
        parts.append(_x86_32())
    if "from_proc" in presets:
        base = st.one_of(_x86_32(), _x86_64())
        parts.append(st.builds(lambda b, w, s: MachineConfig("from_proc", 0, base=b, warmup=w,
                                                             seed=s),
                               base, st.integers(0, 300), st.integers(0, 2**16)))
    return st.one_of(parts)


def operation_streams(*, min_ops: int = 1, max_ops: int = 200, slots: int = 16,
                      misuse: bool = True) -> st.SearchStrategy[list[tuple[int, ...]]]:
    """Lists of bulk-runner operations (:mod:`kmem.fuzz.ops`) over ``slots`` handles."""
    slot = st.integers(0, slots - 1)
    kinds = [
        st.builds(lambda s, m, o: (O.ALLOC, s, m, o), slot, gfp_masks(arbitrary=False),
                  orders()),
        st.builds(lambda s: (O.FREE, s), slot),
        st.builds(lambda s: (O.FREE, s), slot),
        st.builds(lambda s: (O.GET, s), slot),
        st.builds(lambda s: (O.PUT, s), slot),
        st.builds(lambda s, b: (O.WRITE, s, b), slot, st.integers(1, 255)),
        st.builds(lambda s, m: (O.ZALLOC, s, m), slot, gfp_masks(arbitrary=False)),
    ]
    if misuse:
        kinds.append(st.builds(lambda s, k: (O.BADFREE, s, k), slot,
                               st.integers(0, O.NR_BADFREE - 1)))
    return st.lists(st.one_of(kinds), min_size=min_ops, max_size=max_ops)


__all__ = ["gfp_masks", "orders", "machine_configs", "operation_streams", "MachineConfig"]
