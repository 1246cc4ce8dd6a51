"""Differential fuzzing of the whole allocation path: migratetypes, pageblocks, fallback
(claim/steal), ALLOC_NOFRAGMENT, highatomic reserves, per-CPU lists on several CPUs,
NUMA nodes.

A :class:`PathConfig` is a serialisable recipe of a machine with the whole path on; an
operation stream is a list of plain tuples (:data:`OPS` names them): allocations with
migratetype mixes and highatomic requests (``GFP_ATOMIC`` at high orders), allocations
on a NUMA node, frees by the current CPU, ``get_page``/``put_page``, misuse (double
frees, wrong orders, inner pages), ``drain_all_pages``, switching the current CPU, and
time passing. :func:`run_path_stream` runs one stream through several implementations
(the model, fastimpl, mutants), and after every step:

- every implementation gives the same result or raises the same exception;
- their observable state is identical (:func:`path_fingerprint`: free lists per order
  and migratetype in list order, every CPU's pcp lists in order with their counters,
  pageblock types, the highatomic and boost counters, ZONE_BELOW_HIGH, dmesg);
- the lead's result is legal per the spec: an allocation takes this CPU's pcp head if
  there was one, else a block :func:`kmem.spec.migrate.legal_rmqueue_blocks` allows,
  from a zone of the request's zonelist; a failure is legal only when
  :func:`kmem.spec.page_alloc.allocation_failure_legal` says so; every buddy, pageblock,
  pcp and highatomic invariant of :mod:`kmem.spec.buddy` holds; no page is lost.

A divergence comes back shrunk (the shortest prefix, then ddmin over the operations) with
a runnable reproducer. ``kmem fuzz`` runs these streams as its whole-path stage.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

from kmem.spec import gfp as g
from kmem.spec import migrate, page_alloc
from kmem.spec import zones as zones_spec
from kmem.spec.alloc_flags import ALLOC_NOFRAGMENT
from kmem.spec.constants import NR_PAGE_ORDERS
from kmem.spec.errors import InvalidArgument, KmemError

from .checks import InvariantCache, check_invariants, crash_summary
from .impls import Impl, resolve

NOWARN = g.__GFP_NOWARN
COMP = g.__GFP_COMP  # module level: in a class body the name would be mangled
#: migratetype mixes: UNMOVABLE, MOVABLE, RECLAIMABLE, atomic (highatomic reserve and
#: ALLOC_NON_BLOCK), DMA, compound, THISNODE, MOVABLE|RECLAIMABLE (gfp_migratetype 3)
PATH_MASKS = (g.GFP_KERNEL, g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL | g.__GFP_RECLAIMABLE,
              g.GFP_ATOMIC, g.GFP_NOWAIT, g.GFP_KERNEL | g.GFP_DMA,
              g.GFP_KERNEL | g.__GFP_COMP, g.GFP_HIGHUSER_MOVABLE | g.__GFP_THISNODE,
              g.GFP_ATOMIC | g.__GFP_COMP, g.GFP_KERNEL | g.__GFP_MOVABLE | g.__GFP_RECLAIMABLE,
              g.GFP_USER | g.__GFP_HIGH, g.GFP_NOWAIT | g.__GFP_RECLAIMABLE)
PATH_ORDERS = (0, 0, 0, 0, 1, 1, 2, 3, 3, 4, 5, 9, 9)
OPS = ("alloc", "alloc_node", "exhaust", "free", "release", "get", "put", "misfree", "drain",
       "cpu", "clock", "decay")
#: what ``exhaust`` fills memory with: one migratetype at a time (then other types must
#: claim or steal), and atomic requests (the highatomic reserve)
EXHAUST_MASKS = (g.GFP_KERNEL, g.GFP_KERNEL | g.__GFP_RECLAIMABLE, g.GFP_HIGHUSER_MOVABLE,
                 g.GFP_ATOMIC)
Op = tuple[Any, ...]


@dataclass(frozen=True)
class PathConfig:
    """A machine with the whole path: ``preset`` ``generic`` (``size`` pages), ``x86_64``
    (``size`` MB), ``numa`` (``nodes_mb`` MB per node) or ``x86_32`` (``size`` MB), with
    ``nr_cpus`` CPUs, ``pageblock_order`` (None: the kernel's), ``min_free_kbytes``
    (None: the boot value), holes, ``high_fraction``, ``movablecore_mb`` and ``kernel``
    (None: the newest kmem knows, whose path is 6.12's; ``"6.1"``: 6.1.192's path)."""

    preset: str
    size: int = 0
    nr_cpus: int = 2
    pageblock_order: int | None = None
    min_free_kbytes: int | None = None
    nodes_mb: tuple[int, ...] = ()
    holes: tuple[tuple[int, int], ...] = ()
    high_fraction: int = 0
    movablecore_mb: int = 0
    cpu_nodes: tuple[int, ...] | None = None
    kernel: str | None = None

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"policy": "linux", "migratetypes": True, "nr_cpus": self.nr_cpus}
        if self.kernel is not None:
            kw["kernel"] = self.kernel
        if self.cpu_nodes is not None:
            kw["cpu_nodes"] = self.cpu_nodes
        if self.pageblock_order is not None:
            kw["pageblock_order"] = self.pageblock_order
        if self.min_free_kbytes is not None:
            kw["min_free_kbytes"] = self.min_free_kbytes
        if self.high_fraction:
            kw["percpu_pagelist_high_fraction"] = self.high_fraction
        return kw

    def build(self, machine_cls: Any) -> Any:
        """Boot ``machine_cls`` (a class with the model's constructors)."""
        kw = self.kwargs()
        if self.preset == "generic":
            return machine_cls(zones_spec.generic(self.size, holes=self.holes), **kw)
        if self.preset == "x86_64":
            return machine_cls(zones_spec.x86_64(self.size, movablecore_mb=self.movablecore_mb,
                                                 holes=self.holes), **kw)
        if self.preset == "x86_32":
            return machine_cls.x86_32(self.size, **kw)
        if self.preset == "numa":
            from dataclasses import replace

            from kmem.spec import numa

            layouts = list(numa.x86_64_nodes(self.nodes_mb))
            if self.holes:  # holes in node 0's zones (a tiny DMA32 below a ZONE_NORMAL)
                spans = tuple(replace(z, holes=tuple(
                    (max(s, z.start_pfn), min(e, z.end_pfn)) for s, e in self.holes
                    if s < z.end_pfn and z.start_pfn < e)) for z in layouts[0].zones)
                layouts[0] = replace(layouts[0], zones=spans)
            return machine_cls(layouts[0], nodes=tuple(layouts[1:]), **kw)
        raise InvalidArgument(f"unknown whole-path preset {self.preset!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PathConfig:
        d = dict(d)
        d["nodes_mb"] = tuple(d.get("nodes_mb", ()))
        d["holes"] = tuple(tuple(h) for h in d.get("holes", ()))
        if d.get("cpu_nodes") is not None:
            d["cpu_nodes"] = tuple(d["cpu_nodes"])
        return cls(**d)


#: the machines the whole-path stage cycles through: small pageblocks so that claims,
#: steals, merge limits and highatomic reserves happen within a few hundred steps
PATH_CONFIGS: tuple[PathConfig, ...] = (
    PathConfig("generic", 4096, nr_cpus=2, pageblock_order=4, min_free_kbytes=128),
    PathConfig("generic", 8192, nr_cpus=1, pageblock_order=5, min_free_kbytes=0),
    PathConfig("generic", 1000, nr_cpus=3, pageblock_order=3, min_free_kbytes=32,
               holes=((300, 517),)),
    PathConfig("generic", 24576, nr_cpus=2, pageblock_order=6, min_free_kbytes=256),
    PathConfig("x86_64", 24, nr_cpus=2),
    PathConfig("numa", nodes_mb=(20, 24, 16), nr_cpus=3),
    PathConfig("generic", 2048, nr_cpus=0, pageblock_order=4, min_free_kbytes=64),
    PathConfig("generic", 4096, nr_cpus=4, pageblock_order=4, min_free_kbytes=128,
               high_fraction=8),
    # THP-order blocks stay on the pcp lists (high_max 4096 pages per CPU)
    PathConfig("generic", 65536, nr_cpus=2, pageblock_order=9, min_free_kbytes=1024),
    # ZONE_NORMAL preferred with a populated (tiny) DMA32: ALLOC_NOFRAGMENT and its retry
    PathConfig("x86_64", 4160, nr_cpus=2, holes=((4352, 1 << 20),)),
    # the same node 0 and a remote node: ALLOC_NOFRAGMENT's retry before going remote
    PathConfig("numa", nodes_mb=(4160, 64), nr_cpus=2, holes=((4352, 1 << 20),),
               cpu_nodes=(0, 0)),
)

#: the quick machines on Linux 6.1's path (Debian 6.1.192: ``__rmqueue_fallback``, one
#: fixed pcp high with free_factor, the pcp migratetype cache, no decay), and the one
#: whose ZONE_NORMAL sits over a tiny DMA32 (ALLOC_NOFRAGMENT)
PATH_CONFIGS_61: tuple[PathConfig, ...] = tuple(
    replace(c, kernel="6.1") for c in (*PATH_CONFIGS[:8], PATH_CONFIGS[9]))
#: the quick 6.1 machine whose pcp batch is above 1 (7: 24576 pages): 6.1's refill of an
#: empty pcp list (``max(batch >> order, 2)`` blocks, mm/page_alloc.c 3814 of 6.1.192)
#: takes more than one block only there and on the 4160 MB machine's ZONE_NORMAL (batch
#: 3); every other quick zone has batch 1 (``zone_batchsize`` of under 12k pages)
PATH_CONFIG_61_BATCH = PATH_CONFIGS_61[3]


# -- streams ------------------------------------------------------------------------------
def random_stream(seed: int, n: int, *, nr_cpus: int = 2, nr_nodes: int = 1,
                  nofragment: bool = False, prelude: str | None = None,
                  pageblock_order: int | None = None) -> list[Op]:
    """``n`` operations of a seeded mix (swarm: each stream leans on a few of them), after
    a shaped start: ``prelude`` (one of :data:`PRELUDES`; None: drawn; the claims of
    "claim" at the half-pageblock threshold when ``pageblock_order`` is given). On a
    machine of several CPUs, half the streams go on from the prelude on the last CPU, so
    that per-CPU state other than CPU 0's is in play from the start."""
    rng = random.Random(seed)
    masks = rng.sample(PATH_MASKS, rng.randint(2, len(PATH_MASKS)))
    weights = {"alloc": 10.0, "free": 8.0, "get": rng.choice([0, 0.5]),
               "put": rng.choice([0, 1.0]), "misfree": rng.choice([0, 0.3]),
               "drain": rng.choice([0.1, 0.5, 2.0]),
               "cpu": rng.choice([0, 0.5, 2.0]) if nr_cpus > 1 else 0,
               "alloc_node": rng.choice([0, 2.0]) if nr_nodes > 1 else 0,
               "decay": rng.choice([0, 0.5, 2.0]) if nr_cpus else 0,
               "exhaust": rng.choice([0, 0.2, 0.6]),
               "release": rng.choice([0, 0.1, 0.3]),
               "clock": rng.choice([0.1, 0.5])}
    names = list(weights)
    w = [weights[k] for k in names]
    big = rng.random() < 0.3  # lean on high orders (claims, highatomic)
    out: list[Op] = _prelude(rng, nr_cpus, nofragment, prelude, pageblock_order)
    if nr_cpus > 1 and rng.random() < 0.5:
        out.append(("cpu", nr_cpus - 1))
    for _ in range(max(0, n - len(out))):
        kind = rng.choices(names, w)[0]
        order = rng.choice((2, 3, 4, 5, 9, 10)) if big and rng.random() < 0.5 \
            else rng.choice(PATH_ORDERS)
        mask = rng.choice(masks) | NOWARN
        if kind == "alloc":
            out.append(("alloc", mask, order))
        elif kind == "alloc_node":
            out.append(("alloc_node", rng.randrange(nr_nodes), mask, order))
        elif kind == "exhaust":
            out.append(("exhaust", rng.choice(EXHAUST_MASKS) | NOWARN,
                        rng.choice((0, 0, 1, 2, 3, 4, 9)), rng.choice((64, 256, 1024))))
        elif kind in ("free", "get", "put"):
            out.append((kind, rng.randrange(1 << 16)))
        elif kind == "release":
            out.append(("release", rng.choice((1, 2, 3)), rng.randrange(3)))
        elif kind == "misfree":
            out.append(("misfree", rng.randrange(1 << 16), rng.choice((-1, 1, 2, "inner",
                                                                        "twice"))))
        elif kind == "drain":
            out.append(("drain",))
        elif kind == "cpu":
            out.append(("cpu", rng.randrange(nr_cpus)))
        elif kind == "decay":
            out.append(("decay", rng.randrange(nr_cpus)))
        else:
            out.append(("clock", rng.choice((1, 11))))
    return out


#: the shaped starts of a stream (:func:`_prelude`): "claim" (one migratetype fills memory,
#: another asks: claims and steals), "steal" (an order-1 fill of a non-movable type, then
#: movable requests: steals that split a block), "pcp" (blocks parked on the pcp lists, then decayed),
#: "highatomic" (memory filled to the min watermark, then atomic high-order requests),
#: "nofragment" (node 0 filled with UNMOVABLE blocks, then MOVABLE requests) and "none"
PRELUDES = ("claim", "steal", "pcp", "highatomic", "nofragment", "none")


def _prelude(rng: random.Random, nr_cpus: int, nofragment: bool = False,
             kind: str | None = None, pageblock_order: int | None = None) -> list[Op]:
    """A shaped start (``kind``, one of :data:`PRELUDES`; None: drawn, "nofragment" mostly
    on a machine whose ZONE_NORMAL sits over a populated DMA32): fill memory with one
    migratetype in blocks of one order, free some of them, then ask for small blocks of
    another type (claims that fail the half-pageblock test, steals that split a block);
    or park blocks of orders 1-3 and now and then of the THP order (the pcp orders,
    ``pcp_allowed_order``) on the pcp lists and let the vmstat worker decay them (its
    drain overshoots by whole blocks); or fill every zone of node 0 with UNMOVABLE
    blocks, then ask for MOVABLE pages, which ALLOC_NOFRAGMENT's first pass cannot serve
    without mixing types; or the highatomic reserve (below). Half the claim preludes ask
    for the other type until it fails (claims take the largest free blocks first, so
    only that reaches the partly free pageblocks), and the fill takes blocks of half a
    pageblock now and then (``pageblock_order`` - 1): a freed one leaves its
    pageblock exactly half free, the edge of try_to_claim_block's test (``free_pages +
    alike_pages >= (1 << (pageblock_order-1))``, mm/page_alloc.c 2021 of 6.12.118)."""
    if kind is None:
        r = rng.random()
        kind = ("nofragment" if nofragment and r < 0.6 else "claim" if r < 0.35
                else "pcp" if r < 0.7 and nr_cpus else "highatomic" if r >= 0.85 else "none")
    if kind == "pcp" and not nr_cpus:
        kind = "none"
    out: list[Op] = []
    if kind == "nofragment":
        out.append(("exhaust", g.GFP_KERNEL | NOWARN, 3, 1 << 14))
        out += [("free", rng.randrange(1 << 16)) for _ in range(rng.randint(5, 60))]
        out += [("alloc", g.GFP_HIGHUSER_MOVABLE | NOWARN, rng.choice((0, 0, 1)))
                for _ in range(20)]
    elif kind == "claim":
        types = [g.GFP_KERNEL, g.GFP_KERNEL | g.__GFP_RECLAIMABLE, g.GFP_HIGHUSER_MOVABLE]
        first = rng.choice(types)
        other = rng.choice([t for t in types if t != first])
        orders = (1, 2, 2, 3) + ((pageblock_order - 1,) * 2 if pageblock_order else ())
        out.append(("exhaust", first | NOWARN, rng.choice(orders), 4096))
        out += [("free", rng.randrange(1 << 16)) for _ in range(rng.randint(10, 120))]
        if rng.random() < 0.5:
            # the other type until it fails: claims run through the freed pageblocks,
            # largest first, down to the half-free ones
            out.append(("exhaust", other | NOWARN, rng.choice((0, 0, 1)), 4096))
        out += [("alloc", other | NOWARN, rng.choice((0, 0, 1))) for _ in range(40)]
        if rng.random() < 0.3:  # free much at once: merges past pageblocks of both types
            out.append(("release", rng.choice((1, 2)), 0))
    elif kind == "steal":
        # a movable request steals (no claim) from a free block of another type below
        # half a pageblock (can_steal_fallback of the block's order, mm/page_alloc.c
        # 1882-1898 of 6.12.118): the smallest such block, whose split-off halves stay
        # on that type's lists (__rmqueue_steal, 2275-2285); an order-1 fill of another
        # type leaves such blocks. The fill stops at the min watermark, whose pages lie
        # in blocks large enough to claim (the movable requests would take those first,
        # __rmqueue_claim 2220-2259): GFP_ATOMIC order-0 requests break them up (they go
        # below min by a half and a quarter, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK,
        # 3222-3233 and 4105-4119). The frees then leave order-1 blocks, on the buddy
        # lists once drained, and enough movable requests follow to use up what a claim
        # still takes on the stealing family's small pageblocks
        first = rng.choice((g.GFP_KERNEL, g.GFP_KERNEL | g.__GFP_RECLAIMABLE))
        out.append(("exhaust", first | NOWARN, 1, 4096))
        out.append(("exhaust", g.GFP_ATOMIC | NOWARN, 0, 1 << 10))
        out += [("free", rng.randrange(1 << 16)) for _ in range(rng.randint(10, 60))]
        out.append(("drain",))
        out += [("alloc", g.GFP_HIGHUSER_MOVABLE | NOWARN, 0) for _ in range(40)]
    elif kind == "pcp":
        # order-0 frees between the high-order ones keep free_high from flushing the
        # lists; the first two high-order blocks are THP-sized, one movable and one not:
        # the THP order has a pcp list of each (order_to_pindex, mm/page_alloc.c 537-548)
        thp = [g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL]
        for i in range(rng.randint(20, 60)):
            if i % 2 and thp:
                out.append(("alloc", thp.pop(0) | NOWARN, 9))
            else:
                out.append(("alloc", rng.choice(PATH_MASKS[:3]) | NOWARN,
                            (0, rng.choice((1, 2, 3, 1, 2, 3, 9)))[i % 2]))
        # half the time freed on another CPU than the one that allocated: the blocks go
        # to the freeing CPU's lists (free_unref_page, mm/page_alloc.c 2761 of 6.12.118)
        cpu = rng.choice((0, nr_cpus - 1))
        if cpu:
            out.append(("cpu", cpu))
        out += [("free", 0) for _ in range(len(out) - bool(cpu))]
        # each decay lowers the freeing CPU's pcp->high by an eighth, so that the drains
        # reach the high-order lists (each chunk of pcp->batch then frees a whole block)
        # from a high_max of 256-1536 pages (decay_pcp_high, 2425-2441)
        out += [("decay", cpu)] * rng.randint(16, 48)
    elif kind == "highatomic":
        out += _highatomic_prelude(rng)
    elif kind != "none":
        raise InvalidArgument(f"unknown whole-path prelude {kind!r}")
    return out


def _highatomic_prelude(rng: random.Random) -> list[Op]:
    """Fill every zone of the zonelist down to its min watermark in blocks that never go
    through the pcp lists (orders 8, then 4: above PAGE_ALLOC_COSTLY_ORDER and below the
    THP order, ``pcp_allowed_order``), so that a zone of any size fills in a few hundred
    allocations and ends within 15 pages of its min watermark, below its low one; then
    atomic requests of orders 1-3: there only the slow path serves them, and it serves
    them with ALLOC_HIGHATOMIC (no __GFP_DIRECT_RECLAIM, order > 0: gfp_to_alloc_flags,
    mm/page_alloc.c 4108 of 6.12.118), so get_page_from_freelist reserves their
    pageblock (3565; reserve_highatomic_pageblock, 2069, where 1 % of the zone is at
    least a pageblock); then frees every held block in one step."""
    first = rng.choice(EXHAUST_MASKS[:3]) | NOWARN
    out: list[Op] = [("exhaust", first, 8, 1 << 12), ("exhaust", first, 4, 1 << 12)]
    out += [("alloc", g.GFP_ATOMIC | NOWARN, rng.choice((1, 1, 2, 3)))
            for _ in range(rng.randint(4, 12))]
    # then every held block at once: merges at pageblock order and above meet the
    # reserved HIGHATOMIC pageblocks (no merge with another type) and pageblocks of the
    # fill's type next to others (merged and retyped): __free_one_page, 842-854, 868-874
    out.append(("release", 1, 0))
    return out


# -- observing ----------------------------------------------------------------------------
def path_fingerprint(m: Any) -> tuple[Any, ...]:
    """Everything of the whole path that two implementations must agree on."""
    return (tuple(zone_fingerprint(z) for z in m.zones), tuple(m.dmesg), m.last_failure,
            m.cpu)


def zone_fingerprint(z: Any) -> tuple[Any, ...]:
    """One zone's part of :func:`path_fingerprint` (:data:`FIELDS` name its parts)."""
    bulk = getattr(z, "free_lists", None)  # the model and fastimpl: every list in one pass
    lists = bulk() if bulk is not None else tuple(
        tuple(z.free_list_order(o, mt)) for o in range(NR_PAGE_ORDERS)
        for mt in range(migrate.MIGRATE_TYPES))
    bulk = getattr(z, "pcp_fingerprint", None)
    pcps = bulk() if bulk is not None else tuple(
        (tuple(tuple(lst) for lst in p.lists), p.count, p.high, p.high_min, p.high_max,
         p.batch, p.free_count, p.alloc_factor, p.flags, p.free_factor) for p in z.pcp)
    return (lists, pcps, tuple(sorted(z.allocated.items())),
            tuple(sorted(z.block_type.items())), z.free_pages, z.nr_free(),
            z.nr_free_highatomic, z.nr_reserved_highatomic, z.watermark_boost,
            z.below_high, z.boosted)


FIELDS = ("free lists", "pcp lists and counters", "allocated blocks", "pageblock types",
          "NR_FREE_PAGES", "nr_free", "nr_free_highatomic", "nr_reserved_highatomic",
          "watermark_boost", "ZONE_BELOW_HIGH", "ZONE_BOOSTED_WATERMARK")


def describe_path_difference(a: tuple[Any, ...], b: tuple[Any, ...]) -> str:
    """Where two fingerprints first differ, in words."""
    for zi, (x, y) in enumerate(zip(a[0], b[0], strict=True)):
        for name, u, v in zip(FIELDS, x, y, strict=True):
            if u == v:
                continue
            if name == "free lists":
                k = next(i for i in range(len(u)) if u[i] != v[i])
                o, mt = divmod(k, migrate.MIGRATE_TYPES)
                return (f"zone {zi} free_area[{o}].free_list[{migrate.MIGRATETYPE_NAMES[mt]}]: "
                        f"{_short(u[k])} vs {_short(v[k])}")
            if name == "pcp lists and counters":
                c = next(i for i in range(len(u)) if u[i] != v[i])
                return f"zone {zi} cpu {c} pcp: {_short(u[c])} vs {_short(v[c])}"
            return f"zone {zi} {name}: {_short(u)} vs {_short(v)}"
    for name, u, v in zip(("dmesg", "last_failure", "cpu"), a[1:], b[1:], strict=True):
        if u != v:
            return f"{name}: {_short(u)} vs {_short(v)}"
    return "no difference"


def _short(x: Any) -> str:
    s = repr(x)
    return s if len(s) < 240 else s[:237] + "..."


# -- running ------------------------------------------------------------------------------
class Divergence(AssertionError):
    """A step where an implementation broke a spec rule or differed from its peers."""


@dataclass(eq=False)
class _Held:
    """A block the stream holds; compared by identity (the runner removes the very
    entry it freed, in O(1) comparisons per entry)."""

    pfn: int
    order: int
    compound: bool
    refs: int = 1


@dataclass
class _Run:
    """One implementation's machine and what the stream holds in it."""

    impl: Impl
    m: Any
    results: list[Any] = field(default_factory=list)


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except KmemError as exc:
        return "raise", f"{type(exc).__name__}: {exc}"
    except Divergence:
        raise
    except Exception as exc:  # an internal error of the implementation: a finding
        return "crash", crash_summary(exc)


class PathRunner:
    """Runs operations on every implementation side by side and checks each step."""

    def __init__(self, config: PathConfig | None, impls: Sequence[Impl], *, judge: bool = True,
                 machines: Sequence[Any] | None = None, held: Sequence[_Held] = ()) -> None:
        """``machines``: run over these (booted elsewhere, one per ``impls``) instead of
        building ``config``'s; ``held``: the blocks they hold already."""
        if machines is None:
            if config is None:
                raise InvalidArgument("PathRunner needs a config or the machines")
            machines = [config.build(_machine_cls(i)) for i in impls]
        elif len(machines) != len(impls):
            raise InvalidArgument(f"{len(machines)} machines for {len(impls)} implementations")
        self.config = config
        self.impls = list(impls)
        self.machines = list(machines)
        self.held: list[_Held] = list(held)
        self.held_pages = sum(1 << h.order for h in self.held)  # the pages of the held blocks
        self.judge = judge
        self.step = 0
        self.fails = 0  # allocations that returned NULL (legally)
        self.stopped_at: int | None = None  # where a deadline cut the stream
        #: CPU seconds each implementation spent in its own calls (the rest of a step is
        #: the comparison and the judging)
        self.impl_seconds = [0.0] * len(self.impls)
        self.managed = sum(z.managed_pages for z in self.lead.zones)
        #: the spec's invariants, each distinct zone state checked once (the peers' equal
        #: copies and the zones a step did not touch are looked up, not checked again)
        self._invariants = InvariantCache()
        #: the machines that can hold their reads while a step is checked (fastimpl)
        self._holders = [m for m in self.machines if hasattr(m, "reads_held")]
        #: the machines that say which of their zones changed (fastimpl), by position;
        #: each machine's zone fingerprints as last read
        self._trackers = {k for k, m in enumerate(self.machines)
                          if hasattr(m, "zones_changed")}
        self._zone_fps: list[list[Any]] = [[None] * len(m.zones) for m in self.machines]
        self._check_step("boot")

    @property
    def lead(self) -> Any:
        return self.machines[0]

    def _all(self, what: str, fn: Callable[[Any], Any]) -> tuple[str, Any]:
        outs = []
        for k, m in enumerate(self.machines):
            t0 = time.process_time()
            outs.append(_outcome(partial(fn, m)))
            self.impl_seconds[k] += time.process_time() - t0
        for impl, out in zip(self.impls, outs, strict=True):
            if out[0] == "crash":
                raise Divergence(f"step {self.step} {what}: {impl.label} crashed with "
                                 f"{out[1]}, which is none of the kernel's failure modes")
        for impl, out in zip(self.impls[1:], outs[1:], strict=True):
            if out != outs[0]:
                raise Divergence(f"step {self.step} {what}: {self.impls[0].label} gave "
                                 f"{_fmt(outs[0])}, {impl.label} gave {_fmt(out)}")
        return outs[0]

    def _hold(self, h: _Held) -> None:
        self.held.append(h)
        self.held_pages += 1 << h.order

    def _release(self, h: _Held) -> None:
        self.held.remove(h)
        self.held_pages -= 1 << h.order

    def _check_step(self, what: str) -> None:
        with contextlib.ExitStack() as stack:
            for m in self._holders:  # nothing changes the machines until the step is checked
                stack.enter_context(m.reads_held())
            self._check_state(what)

    def _fingerprints(self) -> tuple[list[tuple[Any, ...]], list[list[int] | None]]:
        """Every machine's :func:`path_fingerprint`, and per machine the zones (indices)
        whose state may have changed since the last check (None: all of them). A machine
        that says which of its zones changed (fastimpl's exact ``zones_changed``) has
        only those read again; the others keep the part read before."""
        fps, dirty = [], []
        for k, m in enumerate(self.machines):
            changed = m.zones_changed() if k in self._trackers else None
            memo = self._zone_fps[k]
            zfps = []
            touched = []
            for i, z in enumerate(m.zones):
                if changed is None or changed[i] or memo[i] is None:
                    memo[i] = zone_fingerprint(z)
                    touched.append(i)
                zfps.append(memo[i])
            fps.append((tuple(zfps), tuple(m.dmesg), m.last_failure, m.cpu))
            dirty.append(None if changed is None else touched)
        return fps, dirty

    def _check_state(self, what: str) -> None:
        fps, dirty = self._fingerprints()
        for impl, fp in zip(self.impls[1:], fps[1:], strict=True):
            if fp != fps[0]:
                raise Divergence(f"step {self.step} {what}: {self.impls[0].label} and "
                                 f"{impl.label} differ: {describe_path_difference(fps[0], fp)}")
        if not self.judge:
            return
        for impl, m, zones in zip(self.impls, self.machines, dirty, strict=True):
            if zones == []:
                continue  # no zone changed since they were all found clean
            bad = check_invariants(m, self._invariants, zones=zones)
            if bad:
                raise Divergence(f"step {self.step} {what}: {impl.label} breaks a spec "
                                 f"invariant: {'; '.join(map(str, bad[:3]))}")
        m = self.lead
        held = self.held_pages
        total = m.free_pages_total + m.pcp_pages_total + held
        if total != self.managed:
            raise Divergence(f"step {self.step} {what}: pages lost or made: free "
                             f"{m.free_pages_total} + pcp {m.pcp_pages_total} + held {held} "
                             f"!= managed {self.managed}")

    def apply(self, op: Op) -> None:
        self.step += 1
        kind = op[0]
        what = f"{op}"
        if kind in ("alloc", "alloc_node"):
            self._alloc(op)
        elif kind == "exhaust":
            self._exhaust(op)
        elif kind in ("free", "put", "get", "misfree"):
            if not self.held:
                return
            h = self.held[op[1] % len(self.held)]
            self._refop(kind, h, op)
        elif kind == "release":
            self._release_many(op)
        elif kind == "drain":
            self._all(what, lambda m: m.drain_all_pages())
        elif kind == "cpu":
            cpu = op[1] % max(self.lead.nr_cpus, 1)
            for m in self.machines:
                m.cpu = cpu
                m.node = op[1] % len(m.node_zones)
        elif kind == "clock":
            self._all(what, lambda m: m.advance_clock(op[1]))
        elif kind == "decay":  # the vmstat worker on one CPU: decay_pcp_high
            self._all(what, lambda m: m.vmstat_update(op[1] % max(m.nr_cpus, 1)))
        else:
            raise InvalidArgument(f"unknown whole-path operation {op!r}")
        self._check_step(what)

    def _alloc(self, op: Op) -> None:
        if op[0] == "alloc":
            _, mask, order = op
            nid = None
        else:
            _, nid, mask, order = op
        m = self.lead
        highest = g.gfp_zone(mask, m.config)
        hidx = m.config.idx(highest)
        node = m.numa_node_id() if nid is None else nid
        if len(m.node_zones) > 1:
            zonelist = m.node_zonelist(node, mask, hidx)
        else:
            zonelist = [m.zone(zt) for zt in g.zonelist(m.config, highest,
                                                         set(m.layout.managed_zones()))]
        views = [m.zone_view(z) for z in zonelist]
        mt = g.gfp_migratetype(mask)
        before = {(z.node, z.zone_idx): (z.free_blocks_typed(),
                                          z.pcp_head(m.cpu, mt, order)
                                          if mt < migrate.MIGRATE_PCPTYPES else None)
                  for z in zonelist}

        def call(mm: Any) -> int | None:
            page = (mm.alloc_pages(mask, order) if nid is None
                    else mm.alloc_pages_node(nid, mask, order))
            return None if page is None else page.pfn

        kind, pfn = self._all(f"{op}", call)
        if kind == "raise":
            if "AllocationLivelock" in pfn:
                return
            raise Divergence(f"step {self.step} {op}: raised {pfn} on a valid request")
        if not self.judge:
            if pfn is not None:
                self._hold(_Held(pfn, order, bool(order and mask & COMP)))
            return
        if pfn is None:
            self.fails += 1
            if not page_alloc.allocation_failure_legal(views, mask, order, hidx,
                                                       atomic_gfp=_atomic_gfp(m, mask)):
                raise Divergence(f"step {self.step} {op}: failed, but the spec says some pass "
                                 f"can serve it")
            return
        zone = m.zone_of(pfn)
        if pfn % (1 << order) or zone not in zonelist:
            raise Divergence(f"step {self.step} {op}: pfn {pfn:#x} is not an aligned block of "
                             f"a zone in the request's zonelist")
        free_blocks, pcp_head = before[(zone.node, zone.zone_idx)]
        if pcp_head is not None:
            if pfn != pcp_head:
                raise Divergence(f"step {self.step} {op}: pfn {pfn:#x}, but rmqueue_pcplist "
                                 f"takes the head of this CPU's list, {pcp_head:#x}")
        else:
            flags = [p.alloc_flags for p in page_alloc.alloc_passes(mask, order)]
            legal: set[int] = set()
            for f in [*flags, flags[0] | ALLOC_NOFRAGMENT]:
                legal |= migrate.legal_rmqueue_blocks(free_blocks, order, mt, f) or set()
            if pfn not in legal:
                # the slow path may first give HIGHATOMIC pageblocks back to the request's
                # type (unreserve_highatomic_pageblock): judge against that state too, with
                # the slow path's flags only: they never hold ALLOC_NOFRAGMENT, which only
                # __alloc_pages' first attempt adds (mm/page_alloc.c of 6.12.118: the
                # unreserve at 4047 and 4250, gfp_to_alloc_flags at 4339, the first attempt's
                # alloc_flags_nofragment at 4856; 6.1.192: 4860, 5058, 5135, 5655)
                after = {p: (o, mt if t == migrate.MIGRATE_HIGHATOMIC else t)
                         for p, (o, t) in free_blocks.items()}
                for f in flags:
                    legal |= migrate.legal_rmqueue_blocks(after, order, mt, f) or set()
            if pfn not in legal:
                raise Divergence(f"step {self.step} {op}: pfn {pfn:#x} is not a block "
                                 f"rmqueue may take (legal_rmqueue_blocks)")
        self._hold(_Held(pfn, order, bool(order and mask & COMP)))

    def _exhaust(self, op: Op) -> None:
        """Allocate until the request fails (at most ``limit`` blocks): every machine must
        hand out the same blocks in the same order; checked as one step."""
        _, mask, order, limit = op

        def call(m: Any) -> tuple[int, ...]:
            out = []
            for _ in range(limit):
                page = m.alloc_pages(mask, order)
                if page is None:
                    break
                out.append(page.pfn)
            return tuple(out)

        kind, pfns = self._all(f"{op}", call)
        if kind == "raise":
            raise Divergence(f"step {self.step} {op}: raised {pfns} on valid requests")
        for pfn in pfns:
            self._hold(_Held(pfn, order, bool(order and mask & COMP)))

    def _release_many(self, op: Op) -> None:
        """Free every ``stride``-th held block from ``offset`` that only the stream holds
        (one reference), checked as one step: many frees at once, whose merges run past
        pageblocks (and retype a buddy pageblock of another type, __free_one_page)."""
        _, stride, offset = op
        if stride < 1:
            raise InvalidArgument(f"release needs a stride >= 1: {op!r}")
        picked = [h for i, h in enumerate(self.held) if i % stride == offset % stride
                  and h.refs == 1]
        def free(m: Any, h: _Held) -> Any:
            return m.free_pages(m.pfn_to_page(h.pfn), h.order)

        gone: set[int] = set()
        try:
            for h in picked:
                out = self._all(f"{op} on pfn {h.pfn:#x} order {h.order}",
                                partial(free, h=h))
                if out[0] == "raise":
                    raise Divergence(f"step {self.step} {op}: a valid free of pfn "
                                     f"{h.pfn:#x} order {h.order} raised {out[1]}")
                self.held_pages -= 1 << h.order
                gone.add(id(h))
        finally:  # dropped in one pass: one list.remove each was most of a release's time
            self.held = [h for h in self.held if id(h) not in gone]

    def _refop(self, kind: str, h: _Held, op: Op) -> None:
        what = f"{op} on pfn {h.pfn:#x} order {h.order}"
        if kind == "get":
            out = self._all(what, lambda m: m.get_page(m.pfn_to_page(h.pfn)))
            if out[0] != "ok":
                raise Divergence(f"step {self.step} {what}: get_page on a held page: {out[1]}")
            h.refs += 1
            return
        if kind == "misfree":
            how = op[2]
            if how == "inner" and h.order:
                pfn, order = h.pfn + (1 << h.order) - 1, 0
            elif how == "twice":
                pfn, order = h.pfn, h.order
                if h.refs != 1:
                    return
                out = self._all(what, lambda m: m.free_pages(m.pfn_to_page(pfn), order))
                self._release(h)
                self._check_step(what)
            elif isinstance(how, int) and h.order + how >= 0 and h.refs == 1:
                pfn, order = h.pfn, h.order + how
            else:
                return
            out = self._all(what, lambda m: m.free_pages(m.pfn_to_page(pfn), order))
            if out[0] != "raise" and self.judge:
                raise Divergence(f"step {self.step} {what}: misuse was accepted")
            return
        if kind == "put":
            out = self._all(what, lambda m: m.put_page(m.pfn_to_page(h.pfn)))
        else:
            out = self._all(what, lambda m: m.free_pages(m.pfn_to_page(h.pfn), h.order))
        if out[0] == "raise":
            if kind == "put" and "FreeOrderMismatch" in out[1] and h.refs == 1:
                return
            raise Divergence(f"step {self.step} {what}: a valid free raised {out[1]}")
        h.refs -= 1
        if h.refs == 0:
            self._release(h)
        elif kind == "free" and h.order and not h.compound:
            self.held_pages -= (1 << h.order) - 1
            h.order = 0  # tails went back; the first page stays


def _atomic_gfp(m: Any, mask: int) -> bool | None:
    """On a machine that follows 6.1's path, whether ``mask`` has __GFP_ATOMIC in that
    kernel's numbering (its watermark boost retry keys on it); None on 6.12's."""
    if getattr(m, "path_era", None) != "6.1":
        return None
    flag = g.get_profile(m.kernel.gfp_profile).flag("__GFP_ATOMIC")
    return flag is not None and bool(mask & flag.value)


def _machine_cls(impl: Impl) -> Any:
    cls = getattr(impl, "path_cls", None)
    if cls is not None:
        return cls
    return _IMPL_CLASSES[impl.name]() if impl.name in _IMPL_CLASSES else _mutant_cls(impl.name)


def _model_cls() -> Any:
    from kmem.model import Machine

    return Machine


def _fast_cls() -> Any:
    from kmem import fastimpl

    return fastimpl.Machine


_IMPL_CLASSES: dict[str, Callable[[], Any]] = {"model": _model_cls, "fast": _fast_cls}


def _mutant_cls(name: str) -> Any:
    from .mutants.path import PATH_MUTANTS

    key = name.removeprefix("mutant:")
    if key not in PATH_MUTANTS:
        raise InvalidArgument(f"{name!r} is not a whole-path implementation (model, fast or a "
                              f"whole-path mutant: {', '.join(sorted(PATH_MUTANTS))})")
    return PATH_MUTANTS[key].machine_class()


def path_impls(names: str | Iterable[str] | None) -> list[Impl]:
    """The implementations of the whole path among ``names`` (each once, policy "linux":
    the whole path keeps the kernel's lists)."""
    if names is None:
        items = [i.name for i in resolve(None)]
    elif isinstance(names, str):
        items = [s.strip() for s in names.split(",") if s.strip()]
    else:
        items = list(names)
    bases = list(dict.fromkeys(n.partition("@")[0] for n in items))
    return [i for i in resolve(bases, ("linux",)) if _whole_path_capable(i)]


def all_whole_path(names: str | Iterable[str] | None) -> bool:
    """Every implementation named has the whole path (model, fast, whole-path mutants)."""
    items = ([s.strip() for s in names.split(",") if s.strip()] if isinstance(names, str)
             else [i.name for i in resolve(None)] if names is None else list(names))
    bases = set(n.partition("@")[0] for n in items)
    return len(path_impls(names)) == len(bases)


def _whole_path_capable(impl: Impl) -> bool:
    if impl.name in _IMPL_CLASSES:
        return True
    if impl.name.startswith("mutant:"):
        from .mutants.path import PATH_MUTANTS

        return impl.name.removeprefix("mutant:") in PATH_MUTANTS
    return False


# -- the stream runner ---------------------------------------------------------------------
@dataclass
class PathReport:
    ops: int
    checked_ops: int = 0
    seconds: float = 0.0
    failure: str | None = None
    stream: list[Op] = field(default_factory=list)
    config: PathConfig | None = None
    impls: list[str] = field(default_factory=list)
    #: from the stream's start to its failing check (before shrinking): wall and CPU
    #: seconds
    found_after: float = 0.0
    found_cpu: float = 0.0

    def reproducer(self) -> str:
        return (f"from kmem.fuzz.path import PathConfig, replay_path\n"
                f"replay_path({self.config!r}, {self.stream!r}, {self.impls!r})\n")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "path", "config": self.config.to_json() if self.config else None,
                "stream": [list(op) for op in self.stream], "impls": self.impls,
                "error": self.failure}


_LAST: list[PathRunner | None] = [None]  # the runner of the latest _run (its progress)


def _run(config: PathConfig, impls: Sequence[Impl], ops: Sequence[Op],
         deadline: float = float("inf")) -> tuple[int, str] | None:
    """(index of the failing op, message), or None when the stream runs clean (or
    ``deadline``, a time.monotonic() value, comes first)."""
    try:
        runner = PathRunner(config, impls)
    except Divergence as exc:
        return 0, str(exc)
    _LAST[0] = runner
    for i, op in enumerate(ops):
        if time.monotonic() > deadline:
            runner.stopped_at = i
            return None
        try:
            runner.apply(op)
        except Divergence as exc:
            return i, str(exc)
    return None


def replay_path(config: PathConfig, ops: Sequence[Sequence[Any]],
                impls: str | Sequence[str] = ("model", "fast")) -> None:
    """Run a stream again; raises :class:`Divergence` where it fails."""
    impl_objs = [*(path_impls(impls if isinstance(impls, str) else ",".join(impls)))]
    runner = PathRunner(config, impl_objs)
    for op in ops:
        runner.apply(tuple(op))


def run_path_stream(config: PathConfig, ops: Sequence[Op], impls: Sequence[Impl], *,
                    shrink_seconds: float = 15.0,
                    deadline: float = float("inf")) -> PathReport:
    """Run ``ops`` through ``impls`` side by side; on a failure, shrink the stream (the
    failing prefix, then ddmin) and report it with a reproducer. At ``deadline``
    (time.monotonic()) the stream stops, clean so far."""
    t0, c0 = time.monotonic(), time.process_time()
    ops = list(ops)
    rep = PathReport(ops=len(ops), config=config, impls=[i.label.split("@")[0] for i in impls])
    found = _run(config, impls, ops, deadline)
    if found is None:
        ran = _LAST[0].stopped_at if _LAST[0] is not None else None
        rep.ops = len(ops) if ran is None else ran
        rep.checked_ops = rep.ops * len(impls)
        rep.seconds = time.monotonic() - t0
        return rep
    idx, msg = found
    rep.found_after, rep.found_cpu = time.monotonic() - t0, time.process_time() - c0
    rep.checked_ops = idx * len(impls)
    ops = ops[:idx + 1]
    deadline = time.monotonic() + shrink_seconds
    ops, msg = _ddmin(config, impls, ops, msg, deadline)
    rep.failure = msg
    rep.stream = ops
    rep.seconds = time.monotonic() - t0
    return rep


def _ddmin(config: PathConfig, impls: Sequence[Impl], ops: list[Op], msg: str,
           deadline: float) -> tuple[list[Op], str]:
    n = 2
    while len(ops) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(ops) // n)
        reduced = False
        for start in range(0, len(ops), chunk):
            if time.monotonic() >= deadline:
                break
            cand = ops[:start] + ops[start + chunk:]
            got = _run(config, impls, cand)
            if got is not None:
                ops, msg = cand[:got[0] + 1], got[1]
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(ops), n * 2)
    return ops, msg


def pick_config(rng: random.Random) -> PathConfig:
    """A configuration for the next stream: the eight quick ones 43 % of the time, the
    large ones (a THP-sized zone, ZONE_NORMAL over a tiny DMA32, alone and with a remote
    node) 32 %, and 25 % a machine on Linux 6.1's path: any of ``PATH_CONFIGS_61`` 10 %,
    and 15 % the one whose pcp batch is above 1 (:data:`PATH_CONFIG_61_BATCH`)."""
    r = rng.random()
    if r < 0.1:
        return rng.choice(PATH_CONFIGS_61)
    if r < 0.25:
        return PATH_CONFIG_61_BATCH
    if r < 0.68:
        return rng.choice(PATH_CONFIGS[:8])
    return rng.choice(PATH_CONFIGS[8:])


def reserves_highatomic(config: PathConfig) -> bool:
    """Whether a zone of ``config``'s machine can reserve a highatomic pageblock once it is
    filled to its min watermark: 1 % of it is at least a pageblock on 6.12's path
    (mm/page_alloc.c 2081 of 6.12.118; any zone on 6.1's, whose cap is 1 % plus a
    pageblock, 6.1.192 2918), and its min watermark is above 0 (else the fill leaves
    nothing for the atomic requests)."""
    cap = (migrate.highatomic_max_managed_61 if config.kernel == "6.1"
           else migrate.highatomic_max_managed)
    return any(z.managed_pages and z.watermark[0] > 0
               and cap(z.managed_pages, z.pageblock_order) > 0 for z in _booted(config).zones)


def pcp_batch_above_one(config: PathConfig) -> bool:
    """Whether a zone of ``config``'s machine has a pcp batch above 1, so that a refill of
    an empty pcp list may take several blocks (6.1: ``max(batch >> order, 2)`` blocks
    when batch > 1, mm/page_alloc.c 3814 of 6.1.192)."""
    return any(p.batch > 1 for z in _booted(config).zones for p in z.pcp)


def pcp_decays(config: PathConfig) -> bool:
    """Whether the vmstat worker's decay can drain a pcp list of ``config``'s machine: a
    6.12 zone with CPUs whose pcp->high_min is below its high_max (``decay_pcp_high``
    lowers pcp->high towards high_min, mm/page_alloc.c 2425 of 6.12.118; a
    percpu_pagelist_high_fraction sets both to one value, 5798-5804; 6.1 has no decay)."""
    return config.kernel != "6.1" and any(
        p.high_min < p.high_max for z in _booted(config).zones for p in z.pcp)


@functools.cache
def _booted(config: PathConfig) -> Any:
    """The model's machine of ``config`` as booted (read only)."""
    return config.build(_model_cls())


#: the shapes of the whole-path stage's streams, dealt as a deck (:class:`PathDeck`):
#: (machines, prelude), None for a draw (:func:`pick_config`, the prelude of
#: :func:`random_stream`). Each shape reaches what random draws reach only now and then:
#: THP-order pcp lists (the THP-sized zone), pcp lists decayed by the vmstat worker (a
#: machine whose pcp->high decays, in chunks of one page), claims and steals on small
#: pageblocks, steals of single blocks (movable requests after an order-1 fill, small pageblocks), the
#: highatomic reserve (a machine whose zones reserve), 6.1's pcp refill of more than one
#: block and its free_factor (a 6.1 zone whose pcp batch is above 1, pcp lists filled),
#: ALLOC_NOFRAGMENT's retry (ZONE_NORMAL over a tiny DMA32); and one stream of any draw. The first round deals them in this
#: order: the shapes that reach their rule in the fewest operations first (the THP
#: lists and the highatomic reserve within 1-5), the dearest streams (the 4160 MB
#: machines, 1-5 CPU seconds where a quick machine's take 0.1-0.5) last.
PATH_DECK: tuple[tuple[str, str | None], ...] = (
    ("thp", "pcp"), ("reserving", "highatomic"), ("stealing", "steal"), ("decaying", "pcp"),
    ("quick", "claim"), ("6.1-batch", "pcp"), ("nofragment", "nofragment"), ("any", None))

#: the length of every stream of the deck's first round, whatever the time left in the
#: turn (a longer prelude is kept whole): each first-round shape reaches its rule within
#: its prelude, so that a loaded campaign deals the whole round in its first seconds, the
#: same streams at any load; later rounds run the full length
FIRST_ROUND_OPS = 100


def deck_machines(family: str) -> tuple[PathConfig, ...]:
    """The machines of one family of :data:`PATH_DECK` (``"any"``: empty, drawn)."""
    if family == "quick":
        return PATH_CONFIGS[:8]
    if family == "stealing":
        # pageblocks of at most 32 pages: the steal prelude's 40 movable requests use up
        # the blocks they may claim (half a pageblock and more, can_steal_fallback,
        # mm/page_alloc.c 1882-1898 of 6.12.118) and go on to steal single blocks
        # (__rmqueue_steal, 2269-2290) in every stream; on order-9 pageblocks (x86_64,
        # numa: two zones, min watermarks of 52-122 pages) the prelude split a block in
        # 9 and 8 streams of 12, on the 24576-page zone (order 6, pcp batch 7) in 1
        return tuple(c for c in PATH_CONFIGS[:8] if all(
            z.pageblock_order <= 5 for z in _booted(c).zones if z.managed_pages))
    if family == "decaying":
        # pcp->batch 1: every page a decay drains past the order-0 lists is a chunk of its
        # own that frees a whole block, so the chunking shows at the first high-order list
        # (decay_pcp_high, mm/page_alloc.c 2433-2441 of 6.12.118); a larger batch needs
        # more parked pages than the prelude parks, and a pcp->high_max below 64 pages
        # drains them as they are freed (free_unref_page_commit, 2714), before any decay;
        # and one zone: on two (x86_64, numa) the prelude's blocks come from both, so
        # that each zone's lists hold fewer and the decays reached the high-order lists
        # in 20 of 24 streams (one zone: 24 of 24)
        return tuple(c for c in PATH_CONFIGS[:8] if pcp_decays(c)
                     and sum(1 for z in _booted(c).zones if z.managed_pages) == 1
                     and all(p.batch == 1 and p.high_max >= 64
                             for z in _booted(c).zones for p in z.pcp))
    if family == "reserving":
        return tuple(c for c in PATH_CONFIGS if reserves_highatomic(c))
    if family == "thp":
        return (PATH_CONFIGS[8],)
    if family == "nofragment":
        return PATH_CONFIGS[9:]
    if family == "6.1-batch":
        return tuple(c for c in PATH_CONFIGS_61 if pcp_batch_above_one(c))
    if family == "any":
        return ()
    raise InvalidArgument(f"unknown whole-path machine family {family!r}")


class PathDeck:
    """The whole-path stage's draws: every shape of :data:`PATH_DECK` once per round, so
    that a campaign that runs only a few streams (a short box, a loaded machine) still
    runs each shape once in its first eight: the first round in the deck's order (the
    rare rules within the first few CPU seconds, whatever the seed), each later one
    shuffled anew."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.hand: list[tuple[str, str | None]] = []
        self.rounds = 0

    @classmethod
    def seeded(cls, seed: int, worker: int = 0) -> PathDeck:
        """The deck of a campaign's ``seed`` and ``worker``, with a generator of its own:
        the streams it deals are the same whatever the other stages drew (the load)."""
        return cls(random.Random(f"kmem path deck {seed} {worker}"))

    def draw(self) -> tuple[PathConfig, str | None]:
        """The next stream's machine and prelude (None: drawn with the stream)."""
        if not self.hand:
            self.hand = list(reversed(PATH_DECK))  # dealt from the end
            if self.rounds:
                self.rng.shuffle(self.hand)
            self.rounds += 1
        family, prelude = self.hand.pop()
        machines = deck_machines(family)
        return (self.rng.choice(machines) if machines else pick_config(self.rng)), prelude

    def stream(self, n: int) -> tuple[PathConfig, list[Op]]:
        """The next stream: a machine and ``n`` operations for it."""
        config, prelude = self.draw()
        if self.rounds == 1:
            n = FIRST_ROUND_OPS  # whatever the time left: the same streams at any load
        return config, path_stream_for(config, self.rng.getrandbits(32), n, prelude)


def path_stream_for(config: PathConfig, seed: int, n: int,
                    prelude: str | None = None) -> list[Op]:
    """A random stream sized to ``config`` (its CPUs and nodes), opening with ``prelude``
    (one of :data:`PRELUDES`; None: drawn)."""
    return random_stream(seed, n, nr_cpus=config.nr_cpus,
                         nofragment=bool(config.holes) and config.preset != "generic",
                         nr_nodes=max(len(config.nodes_mb), 1), prelude=prelude,
                         pageblock_order=_booted(config).zones[0].pageblock_order)


def _fmt(out: tuple[str, Any]) -> str:
    kind, value = out
    if kind == "raise":
        return f"raise {value}"
    return "None" if value is None else (hex(value) if isinstance(value, int) else repr(value))


def dumps(rep: PathReport) -> str:
    return json.dumps(rep.to_json())
