"""What the fuzzers check, as plain functions over any machine with the model's surface.

- :func:`fingerprint`: everything implementations of one policy must agree on after
  every operation: per zone the free lists in list order, the allocated blocks and
  the counters; and the kernel log.
- :func:`expected_zone`: the zone the spec says an allocation comes from (or None:
  failure is the only legal outcome), from the zones' abstract state before the
  call, by :func:`kmem.spec.page_alloc.alloc_passes` and ``choose_zone``.
- :func:`block_legal`: the block an allocation returned is one the spec allows,
  under the rule the implementation claims (``weak``, ``linux`` or ``lowest``).

No Hypothesis and no numba here: the bulk runner and foreign code use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kmem.spec import buddy, migrate, page_alloc, slowpath
from kmem.spec import gfp as gfp_spec
from kmem.spec.alloc_flags import ALLOC_NOFRAGMENT
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.zones import ZoneType


def crash_summary(exc: BaseException) -> str:
    """``IndexError: list index out of range (at model/freelists.py:43 in first)``: an
    implementation's internal error, named with the innermost frame that raised it."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        f = frames[-1]
        parts = f.filename.replace("\\", "/").split("/")
        where = f" (at {'/'.join(parts[-2:])}:{f.lineno} in {f.name})"
    return f"{type(exc).__name__}: {exc}{where}"


class Divergence(AssertionError):
    """Implementations disagree with each other or with the spec."""

    #: called with each new Divergence (the campaign notes when the first one happened)
    hook: Any = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        if Divergence.hook is not None:
            Divergence.hook(self)


class InvariantCache:
    """The spec's buddy invariants of one zone (:func:`kmem.spec.buddy.check_invariants`),
    each distinct zone state checked once.

    The invariants are a pure function of the :class:`~kmem.spec.buddy.ZoneState`, a
    frozen value compared field by field, so a state equal to one checked before gets the
    stored verdict, which is exactly what checking it again returns: the peer
    implementation's copy of the same zone (when the two agree) and every zone the last
    operation left as it was cost a hash and a comparison instead of a pass of the spec's
    checks. Pass it as ``zone_check`` to a machine's ``check_invariants``. Keeps the
    verdicts of the last ``size`` states; ``hits`` and ``misses`` count the calls.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._memo: dict[Any, tuple[buddy.Violation, ...]] = {}
        #: per zone geometry, the last state found clean (the base of the next check)
        self._clean: dict[Any, buddy.ZoneState] = {}
        self.incremental = 0  # misses decided from the blocks that changed

    def __call__(self, zs: buddy.ZoneState) -> list[buddy.Violation]:
        # what the verdict depends on: the state, the spec's top order and its invariants
        key = (zs, getattr(buddy, "MAX_PAGE_ORDER"), buddy.INVARIANTS)  # noqa: B009
        try:
            got = self._memo.pop(key)  # popped and put back: the newest at the end
        except KeyError:
            got = None
        except TypeError:  # a state with an unhashable field: check it plainly
            self.misses += 1
            return buddy.check_invariants(zs)
        if got is None:
            self.misses += 1
            got = tuple(self._check(zs, key[1:]))
            if len(self._memo) >= self.size:
                del self._memo[next(iter(self._memo))]
        else:
            self.hits += 1
        self._memo[key] = got
        return list(got)

    def _check(self, zs: buddy.ZoneState, spec: tuple[Any, ...]) -> list[buddy.Violation]:
        """:func:`kmem.spec.buddy.check_invariants` of ``zs``, the invariants over every
        block decided from the blocks that differ from the zone's last clean state: the
        three of the tiling (alignment and bounds, disjointness, tiling) by
        :func:`retiles`, and maximal coalescing, the counters and the pageblock lists by
        :data:`INCREMENTAL`; the result is the spec's own whenever anything is found."""
        geometry = (zs.start_pfn, zs.end_pfn, zs.holes, zs.reserved, zs.max_order,
                    zs.pageblock_order, zs.path_era, spec)
        prev = self._clean.get(geometry)
        whole = (buddy.inv_alignment_and_bounds, buddy.inv_disjoint, buddy.inv_tiling)
        if prev is None or not all(inv in buddy.INVARIANTS for inv in whole):
            out = buddy.check_invariants(zs)
        else:
            self.incremental += 1
            out = [] if retiles(prev, zs) else [buddy.Violation("tiling", "")]
            if not out:
                new, gone = zs.free - prev.free, prev.free - zs.free
            for inv in buddy.INVARIANTS:
                if out:
                    break
                if inv in whole:
                    continue
                quick = INCREMENTAL.get(inv)
                if quick is None:
                    out.extend(inv(zs))
                elif not quick(prev, zs, new, gone):
                    out.append(buddy.Violation(inv.__name__, ""))
            if out:  # the spec's own verdict, in its words
                out = buddy.check_invariants(zs)
        if not out:
            self._clean[geometry] = zs
        return out


Blocks = frozenset[tuple[int, int]]


def coalesced(prev: buddy.ZoneState, zs: buddy.ZoneState, new: Blocks, gone: Blocks) -> bool:
    """Given ``prev`` clean and :func:`retiles` true of (``prev``, ``zs``), with ``new``
    and ``gone`` the free blocks ``zs`` has and ``prev`` has not, and the reverse: does
    ``inv_maximal_coalescing`` pass on ``zs``? A pair of free buddies it flags
    (``pfn ^ (1 << order)`` is symmetric) with neither block new was in ``prev`` too,
    so only the new blocks' buddies are looked up."""
    cap = buddy.order_cap(zs.max_order)
    pbo = zs.pageblock_order
    free = zs.free
    for pfn, order in new:
        if order < cap and (pbo is None or order < pbo) \
                and (buddy.find_buddy_pfn_capped(pfn, order, cap), order) in free:
            return False
    return True


def counted(prev: buddy.ZoneState, zs: buddy.ZoneState, new: Blocks, gone: Blocks) -> bool:
    """As :func:`coalesced`, for ``inv_counters``: ``prev``'s counters are its free
    blocks' (it is clean), so ``zs``'s must be those plus ``new`` less ``gone`` (whose
    orders are in range: ``retiles`` passed ``new``'s through the alignment rule, and
    ``gone``'s were ``prev``'s)."""
    nr = list(prev.nr_free)
    pages = prev.free_pages
    for _, order in new:
        nr[order] += 1
        pages += 1 << order
    for _, order in gone:
        nr[order] -= 1
        pages -= 1 << order
    return tuple(zs.nr_free) == tuple(nr) and zs.free_pages == pages


_VALID_MT = frozenset(range(migrate.MIGRATE_TYPES))


def listed(prev: buddy.ZoneState, zs: buddy.ZoneState, new: Blocks, gone: Blocks) -> bool:
    """As :func:`coalesced`, for ``inv_pageblock_lists`` (the whole check where a
    pageblock's type changed). The list of every free block and the valid types are
    compared whole (set operations); a block's agreement with its pageblocks' types is
    looked at only where it could have changed: a new free block, or one whose list
    changed; and HIGHATOMIC pages counted as ``prev``'s count plus the difference over
    those blocks and the gone ones."""
    if zs.pageblock_order is None:
        return True
    if zs.block_types != prev.block_types:
        return not buddy.inv_pageblock_lists(zs)
    lists = dict(zs.list_types)
    if len(lists) != len(zs.list_types) or lists.keys() != {p for p, _ in zs.free} \
            or not set(lists.values()) <= _VALID_MT:
        return False
    before = dict(prev.list_types)
    was_free = dict(prev.free)  # pfn -> order: free blocks are disjoint (prev is clean)
    now_free = dict(zs.free)
    # a gone block's pfn is free in zs at another order (new) or not listed (the
    # difference of the lists names it)
    touched = {p for p, _ in set(zs.list_types).symmetric_difference(prev.list_types)}
    touched.update(p for p, _ in new)
    ha = migrate.MIGRATE_HIGHATOMIC
    highatomic = prev.nr_free_highatomic
    types = dict(zs.block_types)
    agree = zs.path_era != "6.1"
    for pfn in touched:
        if pfn in was_free and before[pfn] == ha:
            highatomic -= 1 << was_free[pfn]
        order = now_free.get(pfn)
        if order is None:
            continue
        mt = lists[pfn]
        if mt == ha:
            highatomic += 1 << order
        if agree and any(types.get(pb, 0) != mt for pb in
                         migrate.pageblocks_of(pfn, order, zs.pageblock_order)):
            return False
    return highatomic == zs.nr_free_highatomic


#: the spec's invariants decided from what changed since a clean state of the zone
INCREMENTAL: dict[Any, Any] = {buddy.inv_maximal_coalescing: coalesced,
                               buddy.inv_counters: counted,
                               buddy.inv_pageblock_lists: listed}


def _spans(blocks: Any) -> list[tuple[int, int]]:
    return sorted((pfn, pfn + (1 << order)) for pfn, order in blocks)


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """The pages of sorted ``spans`` as maximal ranges, or None when two overlap."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and s < out[-1][1]:
            return None
        if out and s == out[-1][1]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def retiles(prev: buddy.ZoneState, zs: buddy.ZoneState) -> bool:
    """Given ``prev``, a state of the same zone (span, holes, reserved ranges, top order)
    that breaks no invariant of :func:`kmem.spec.buddy.check_invariants`: do the spec's
    ``inv_alignment_and_bounds``, ``inv_disjoint`` and ``inv_tiling`` all pass on ``zs``?

    Decided from the blocks (free, allocated, on pcp lists) that ``zs`` has and ``prev``
    has not (N) and those ``prev`` has and ``zs`` has not (R): they pass exactly when the
    blocks of N pass ``inv_alignment_and_bounds`` (a rule per block) and are pairwise
    disjoint and cover exactly the pages of R. Why: ``prev``'s blocks partition the
    zone's managed pages M (they are aligned, inside M, pairwise disjoint, and their
    sizes add up to |M|); ``zs``'s blocks are ``prev``'s less R plus N, and they
    partition M (which is what the three invariants say together: the spec's
    disjointness check of neighbours in pfn order finds any overlapping pair) exactly
    when N partitions the pages R leaves. Tested against the spec on clean and planted
    states (tests/test_fuzz_check_memo.py)."""
    new = (zs.free - prev.free, zs.allocated - prev.allocated, zs.pcp - prev.pcp)
    gone = (prev.free - zs.free, prev.allocated - zs.allocated, prev.pcp - zs.pcp)
    part = buddy.ZoneState(zs.start_pfn, zs.end_pfn, free=new[0], allocated=new[1],
                           pcp=new[2], holes=zs.holes, reserved=zs.reserved,
                           max_order=zs.max_order)
    if buddy.inv_alignment_and_bounds(part):
        return False
    n_pages = _union(_spans([b for blocks in new for b in blocks]))
    return n_pages is not None and n_pages == _union(_spans([b for bl in gone for b in bl]))


def check_invariants(m: Any, cache: InvariantCache | None,
                     states: list[buddy.ZoneState] | None = None, *,
                     zones: Sequence[int] | None = None) -> list[Any]:
    """``m.check_invariants()``, through ``cache`` when the machine takes a ``zone_check``
    (the model and fastimpl do; other implementations are asked plainly). ``states``: a
    list to which the zone states the machine handed to the check are appended, in
    zone order (left empty for an implementation asked plainly). ``zones``: only these
    zones (by index), for a machine whose ``check_invariants`` takes ``zones``
    (fastimpl's whole path); the others are checked whole."""
    kw: dict[str, Any] = {}
    if zones is not None and _takes(type(m), "zones"):
        kw["zones"] = zones
    if cache is not None and _takes_zone_check(type(m)):
        if states is None:
            return list(m.check_invariants(zone_check=cache, **kw))

        def record(zs: buddy.ZoneState) -> list[buddy.Violation]:
            states.append(zs)
            return cache(zs)

        return list(m.check_invariants(zone_check=record, **kw))
    return list(m.check_invariants(**kw))


_TAKES: dict[Any, bool] = {}


def _takes_zone_check(cls: Any) -> bool:
    return _takes(cls, "zone_check")


def _takes(cls: Any, param: str) -> bool:
    """Whether ``cls.check_invariants`` has a parameter ``param``."""
    got = _TAKES.get((cls, param))
    if got is None:
        import inspect

        try:
            got = param in inspect.signature(cls.check_invariants).parameters
        except (TypeError, ValueError, AttributeError):
            got = False
        _TAKES[(cls, param)] = got
    return got


def fingerprint(m: Any, states: Sequence[buddy.ZoneState] | None = None) -> tuple[Any, ...]:
    """Free lists (in list order), allocated blocks, counters of every zone, and dmesg.
    ``states``: ``m.state()`` when the caller has it already."""
    zones = []
    for z, zs in zip(m.zones, m.state() if states is None else states, strict=True):
        lists = tuple(tuple(z.free_list_order(o)) for o in range(NR_PAGE_ORDERS))
        zones.append((lists, tuple(sorted(zs.allocated)), tuple(zs.nr_free), zs.free_pages))
    return (tuple(zones), tuple(m.dmesg))


def describe_difference(a: tuple[Any, ...], b: tuple[Any, ...]) -> str:
    """Where two fingerprints first differ, in words."""
    (za, da), (zb, db) = a, b
    for i, (x, y) in enumerate(zip(za, zb, strict=False)):
        if x == y:
            continue
        names = ("free lists", "allocated blocks", "nr_free", "free_pages")
        for name, u, v in zip(names, x, y, strict=True):
            if u != v:
                if name == "free lists":
                    o = next(k for k in range(len(u)) if u[k] != v[k])
                    return (f"zone {i} free_area[{o}] differs: {_short(u[o])} vs "
                            f"{_short(v[o])}")
                return f"zone {i} {name} differ: {_short(u)} vs {_short(v)}"
    if da != db:
        return f"dmesg differs: {list(da[-2:])} vs {list(db[-2:])}"
    return "no difference"


def _short(x: Any, n: int = 8) -> str:
    if isinstance(x, tuple) and len(x) > n:
        return "(" + ", ".join(_hexish(v) for v in x[:n]) + f", ... {len(x)} in all)"
    return "(" + ", ".join(_hexish(v) for v in x) + ")" if isinstance(x, tuple) else repr(x)


def _hexish(v: Any) -> str:
    if isinstance(v, int):
        return hex(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_hexish(u) for u in v) + ")"
    return repr(v)


@dataclass(frozen=True)
class Prediction:
    """The spec's verdict on an allocation before it runs."""

    zone_idx: int | None  # None: no pass finds a zone, the request must fail (or, for
    # __GFP_NOFAIL that may reclaim, raise AllocationLivelock: the kernel would loop)
    depth: int  # position of that zone in the zonelist (0 = the preferred zone)
    pass_name: str  # "fast", "slow", "reserves" (or "" on failure)
    bad_gfp: bool = False  # gfp_zone() hits GFP_ZONE_BAD: BadGfpZone must be raised
    livelock: bool = False  # no pass serves a __GFP_NOFAIL request: AllocationLivelock


def zone_views(m: Any, states: Sequence[buddy.ZoneState]) -> list[page_alloc.ZoneView]:
    """The allocation path's view of every zone, with counters from ``states``."""
    return [page_alloc.ZoneView(i, zs.free_pages, tuple(zs.nr_free), tuple(z.watermark),
                                tuple(z.lowmem_reserve), getattr(z, "watermark_boost", 0))
            for i, (z, zs) in enumerate(zip(m.zones, states, strict=True))]


def expected_zone(m: Any, states: Sequence[buddy.ZoneState], gfp: int,
                  order: int) -> Prediction:
    """Which zone ``alloc_pages(gfp, order)`` must take its block from (before the call)."""
    from kmem.spec.errors import BadGfpZone

    if order > MAX_PAGE_ORDER:
        return Prediction(None, 0, "")
    try:
        highest = gfp_spec.gfp_zone(gfp, m.config)
    except BadGfpZone:
        return Prediction(None, 0, "", bad_gfp=True)
    hi = m.config.idx(highest)
    types = gfp_spec.zonelist(m.config, highest, set(m.layout.managed_zones()))
    zl = [m.config.idx(zt) for zt in types]
    views = zone_views(m, states)
    chain = [views[i] for i in zl]
    normal = (m.config.idx(ZoneType.NORMAL) if m.config.has(ZoneType.NORMAL)
              else 0)  # as the model: no ZONE_NORMAL, no lowmem-only rule
    nofrag = page_alloc.alloc_flags_nofragment(gfp, types[0] if types else None, m.config)
    passes = page_alloc.alloc_passes(gfp, order, nofragment=bool(nofrag & ALLOC_NOFRAGMENT),
                                     lowmem_only=hi < normal)
    for p in passes:
        pos = page_alloc.choose_zone(chain, order, p.alloc_flags, hi)
        if pos is not None:
            return Prediction(zl[pos], pos, p.name)
    return Prediction(None, 0, "", livelock=slowpath.loops_without_progress(
        gfp, order, lowmem_only=hi < normal))


def block_legal(rule: str, zs: buddy.ZoneState, order: int, pfn: int) -> str | None:
    """None if (pfn, order) is a legal choice in zone state ``zs`` under ``rule``; else why."""
    if not buddy.is_legal_alloc_weak(zs, order, pfn):
        return f"block ({pfn:#x}, order {order}) was not wholly free and aligned"
    if rule == "weak":
        return None
    if not buddy.is_legal_alloc_linux(zs, order, pfn):
        src = buddy.rmqueue_smallest_order(lambda o: zs.nr_free[o], order)
        return (f"pfn {pfn:#x} does not start a free block of order {src}, the smallest "
                f"non-empty order >= {order} (__rmqueue_smallest)")
    if rule == "lowest":
        src = buddy.rmqueue_smallest_order(lambda o: zs.nr_free[o], order)
        low = min(p for p, o in zs.free if o == src)
        if pfn != low:
            return f"policy lowest must take pfn {low:#x}, the lowest block of order {src}"
    return None


def zone_index_of(m: Any, pfn: int) -> int:
    for i, z in enumerate(m.zones):
        if z.start_pfn <= pfn < z.end_pfn:
            return i
    raise Divergence(f"pfn {pfn:#x} lies in no zone")


def fragmentation(states: Sequence[buddy.ZoneState]) -> float:
    """1 - (largest free block / free pages), over all zones: 0 when the free memory is one
    block, near 1 when it is scattered in single pages."""
    free = sum(zs.free_pages for zs in states)
    if not free:
        return 0.0
    largest = max((1 << o for zs in states for o, n in enumerate(zs.nr_free) if n), default=0)
    return 1.0 - largest / free
