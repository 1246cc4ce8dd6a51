"""Boot a machine from a real machine's /proc/zoneinfo, /proc/buddyinfo and vm sysctls.

The placement is the spec's, so that every implementation (``kmem.model``,
``kmem.fastimpl``) boots the same machine from the same text:
:func:`machine_from_proc` builds any machine class through its constructor and each
zone's ``load(free_blocks, allocated_blocks)``.

/proc says how many pages each zone spans, has and manages, and how many free
blocks of each order it holds; it does not say *where*. kmem places them:

1. Free blocks, highest order first, each in the lowest-addressed spot that keeps
   the buddy invariants: naturally aligned, inside the zone's span, and never next
   to a free buddy of the same order (which the kernel would have merged).
2. The pages left over become, from the lowest address up, the reserved pages
   (present - managed), then the holes (spanned - present), then allocated blocks
   (managed - free), so that free/present/managed match /proc exactly.

Before booting, the watermarks and protection arrays are recomputed from the
managed pages and the sysctls; a difference from what the kernel printed raises
:class:`~kmem.spec.procfs.ZoneinfoMismatch`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

from . import buddy, procfs, watermarks
from .constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from .errors import InvalidArgument
from .watermarks import lowmem_reserve_ratio_for
from .zones import MachineLayout, ZoneSpan, subtract_ranges


class PlacementError(InvalidArgument):
    """The free-block counts cannot be placed in the zone under the buddy invariants."""


#: the vm sysctls the model uses; every other file of /proc/sys/vm is accepted and ignored
SYSCTL_NAMES = ("min_free_kbytes", "lowmem_reserve_ratio", "watermark_scale_factor",
                "watermark_boost_factor")


def read_sysctl_dir(path: str | os.PathLike[str] = "/proc/sys/vm") -> dict[str, str]:
    """Every readable file of a ``/proc/sys/vm`` directory (or a copy of one) as text;
    write-only and unreadable entries (``drop_caches``, ``compact_memory``) are skipped."""
    root = Path(path)
    if not root.is_dir():
        raise InvalidArgument(f"{str(root)!r} is not a directory; expected /proc/sys/vm or a "
                              f"copy of it")
    out: dict[str, str] = {}
    for entry in sorted(root.iterdir()):
        try:
            out[entry.name] = entry.read_text()
        except (OSError, UnicodeDecodeError):
            continue
    return out


def read_sysctls(sysctls: Mapping[str, object] | str | os.PathLike[str],
                 ignored: list[str] | None = None) -> dict[str, Any]:
    """Normalise ``{"min_free_kbytes": "67584\\n", "vm.lowmem_reserve_ratio": ...}``:
    keys with or without ``vm.`` (or ``/proc/sys/vm/``), values as ints, int sequences or
    /proc/sys text (str or bytes). A directory path reads the whole directory (:func:`read_sysctl_dir`).

    A user naturally passes every file of /proc/sys/vm: the ones the model uses
    (:data:`SYSCTL_NAMES`) are read, every other name is accepted and appended to
    ``ignored`` (if given)."""
    if isinstance(sysctls, str | os.PathLike):
        sysctls = read_sysctl_dir(sysctls)
    out: dict[str, Any] = {}
    for key, value in sysctls.items():
        name = key.removeprefix("/proc/sys/vm/").removeprefix("vm.")
        if name not in SYSCTL_NAMES:
            if ignored is not None:
                ignored.append(name)
            continue
        if isinstance(value, (str, bytes)):
            ints = procfs.parse_sysctl_ints(value, f"vm.{name}")
        elif isinstance(value, int) and not isinstance(value, bool):
            ints = (value,)
        elif isinstance(value, Sequence) and all(isinstance(v, int) for v in value):
            ints = tuple(value)
        else:
            raise InvalidArgument(f"vm.{name}: expected an int, ints or /proc/sys text, "
                                  f"got {value!r}")
        out[name] = ints if name == "lowmem_reserve_ratio" else _single(name, ints)
    if "min_free_kbytes" not in out:
        raise InvalidArgument("vm.min_free_kbytes is required (the watermarks depend on it)")
    return out


def boost_problems(zones: Sequence[procfs.ZoneinfoZone], boost_factor: int,
                   pageblock_nr_pages: int = 512) -> list[str]:
    """``boost_watermark`` (mm/page_alloc.c, 6.12 lines 2000-2035): no boost at all with
    ``vm.watermark_boost_factor`` = 0, and never more than ``max(pageblock_nr_pages,
    high * factor / 10000)`` (``mult_frac(zone->_watermark[WMARK_HIGH], ...)``). The
    printed high includes the boost, so the unboosted high is ``high - boost``."""
    out = []
    for z in zones:
        boost = z.boost or 0
        if not boost:
            continue
        if boost_factor == 0:
            out.append(f"node {z.node} zone {z.zone}: boost {boost} printed, but "
                       f"vm.watermark_boost_factor is 0 (boosting is off)")
            continue
        limit = max(pageblock_nr_pages, (z.high - boost) * boost_factor // 10000)
        if boost > limit:
            out.append(f"node {z.node} zone {z.zone}: boost {boost} exceeds the limit {limit} "
                       f"(max(pageblock_nr_pages, high * {boost_factor} / 10000))")
    return out


def _single(name: str, ints: tuple[int, ...]) -> int:
    if len(ints) != 1:
        raise InvalidArgument(f"vm.{name}: expected one integer, got {ints}")
    return ints[0]


def place_free_blocks(start: int, end: int, counts: Sequence[int]) -> list[tuple[int, int]]:
    """Free blocks for ``counts[o]`` blocks of each order inside [start, end).

    Highest order first; each block goes to the lowest spot in the smallest
    available aligned chunk that fits, where its buddy is not already a free block
    of the same order (order MAX_PAGE_ORDER never merges). Raises PlacementError
    when the counts do not fit.

    The rule, one block at a time: take the lowest available chunk of the block's
    order whose buddy is not a placed block of that order; if there is none, split
    the lowest chunk of the smallest larger order that has one (``expand``: the block
    takes its low end, the upper halves become available chunks). This function
    computes the same placement a whole order at a time, in O(n log n) for n blocks:

    - at the start of order o's turn the available order-o chunks are exactly the
      range's own aligned chunks of that order (splits for higher orders only leave
      chunks of higher orders), none of them the buddy of another (the range's
      decomposition is maximal) nor of a block placed by a split (whose buddy is the
      split's own upper half), so they all fit: the lowest ones are taken first;
    - every further block comes from a split, and a split's order-o upper half is
      the buddy of the block just placed, so it never fits: the rest of the turn is
      splits only. The splits consume order-(o+1) regions in a fixed sequence: the
      available order-(o+1) chunks ascending, then those of order o+2 ascending (each
      two regions, low one first), and so on up; the unused end of the last chunk
      split stays available as its maximal aligned chunks.
    """
    if len(counts) > NR_PAGE_ORDERS:
        raise InvalidArgument(f"{len(counts)} orders; kmem models {NR_PAGE_ORDERS}")
    # pool[o]: sorted starts of available aligned chunks of order o
    pool: list[list[int]] = [[] for _ in range(NR_PAGE_ORDERS)]
    for pfn, order in buddy.free_pages_memory_chunks(start, end):
        pool[order].append(pfn)
    out: list[tuple[int, int]] = []
    for order in range(len(counts) - 1, -1, -1):
        want = counts[order]
        if want < 0:
            raise InvalidArgument(f"negative count {want} of order-{order} blocks")
        own = pool[order]
        take = min(want, len(own))
        out.extend(zip(own[:take], repeat(order)))
        rest = own[take:]
        need = want - take  # blocks that need a split, one order-(order+1) region each
        if need:
            region = 1 << (order + 1)
            regions: list[int] = []  # order-(order+1) region starts, in consumption order
            half = 1 << order
            halves: list[int] = []  # their upper halves: available, but never fit this order
            tail: list[tuple[int, int]] = []
            for bigger in range(order + 1, NR_PAGE_ORDERS):
                per = 1 << (bigger - order - 1)  # regions per chunk of this order
                chunks = pool[bigger]
                whole = min(len(chunks), need // per)
                for chunk in chunks[:whole]:
                    regions.extend(range(chunk, chunk + (1 << bigger), region))
                    halves.extend(range(chunk + half, chunk + (1 << bigger), region))
                need -= whole * per
                pool[bigger] = chunks[whole:]
                if need and pool[bigger]:  # part of one more chunk: its low regions
                    chunk = pool[bigger].pop(0)
                    used = chunk + need * region
                    regions.extend(range(chunk, used, region))
                    halves.extend(range(chunk + half, used, region))
                    tail = list(buddy.free_pages_memory_chunks(used, chunk + (1 << bigger)))
                    need = 0
                if not need:
                    break
            if need:
                raise PlacementError(
                    f"cannot place {want} free blocks of order {order} in "
                    f"pfn [{start:#x}, {end:#x}) with the higher orders placed: the "
                    f"counts do not fit this zone without breaking maximal coalescing")
            out.extend(zip(regions, repeat(order)))
            rest.extend(halves)
            rest.sort()
            for pfn, o in tail:  # lower pools are empty here: the tail is all they hold
                pool[o].append(pfn)
        pool[order] = rest
    return out


def _take(ranges: list[tuple[int, int]], npages: int) -> tuple[tuple[tuple[int, int], ...],
                                                                list[tuple[int, int]]]:
    """Split off the lowest ``npages`` pages of sorted ``ranges``."""
    taken, rest = [], []
    for s, e in ranges:
        if npages <= 0:
            rest.append((s, e))
            continue
        n = min(npages, e - s)
        taken.append((s, s + n))
        if s + n < e:
            rest.append((s + n, e))
        npages -= n
    return tuple(taken), rest


def machine_from_proc(cls: Any, zoneinfo_text: str | bytes,
                      buddyinfo_text: str | bytes,
                      sysctls: Mapping[str, object] | str | os.PathLike[str], *,
                      node: int | None = None, policy: str = "lowest",
                      allow_free_mismatch: bool = False, strict: bool = True,
                      **kwargs: Any) -> Any:
    """Boot ``cls`` as the machine whose /proc texts are given (see the module docstring).

    Every node of the texts becomes a node of the model (``node=None``, the default; the
    watermarks are checked across all nodes, as ``__setup_per_zone_wmarks`` shares
    ``min_free_kbytes`` among them), or only node ``node`` as a one-node machine.

    ``sysctls``: a mapping of vm sysctls (every file of /proc/sys/vm may be passed; the
    ones the model uses are read, the rest are listed in ``m.from_proc_report``), or the
    path of a /proc/sys/vm directory. ``watermark_boost_factor`` checks the printed
    boosts (:func:`boost_problems`) and the zones keep the printed boost.

    ``allow_free_mismatch``: /proc/zoneinfo's ``pages free`` and the pages in
    /proc/buddyinfo are read at different instants on a live machine; by default a
    difference is an error, with this flag the buddyinfo counts win.

    ``strict=False`` boots anyway when the printed watermarks or protection differ
    from those recomputed from the managed pages (real machines hotplug memory, or
    balloon it away, after the watermarks were set, so managed pages moved on): the
    zones then keep the *printed* watermarks and protection, which are what that kernel
    uses, and ``m.from_proc_report`` lists each difference (and the free-count and boost
    differences), one line each; the buddyinfo counts win over ``pages free``.
    ``strict=True`` (the default) raises :class:`~kmem.spec.procfs.ZoneinfoMismatch`.
    """
    parsed = procfs.parse_zoneinfo(zoneinfo_text)
    nodes = sorted({z.node for z in parsed}) if node is None else [node]
    all_zones = [z for z in parsed if z.node in nodes]
    if not all_zones:
        raise InvalidArgument(f"no zones of node {node} in the zoneinfo text")
    verify_zones = list(parsed)  # the watermarks are shared over every node of the text
    if nodes != list(range(len(nodes))) and node is None:
        raise InvalidArgument(f"nodes {nodes} in the zoneinfo text; kmem numbers nodes from 0 "
                              f"without gaps")
    buddy_rows = procfs.parse_buddyinfo(buddyinfo_text)
    ignored: list[str] = []
    ctl = read_sysctls(sysctls, ignored)
    ratios = ctl.get("lowmem_reserve_ratio")
    if ratios is None:
        ratios = lowmem_reserve_ratio_for(procfs.config_from_zoneinfo(all_zones, nodes[0]))
    wsf = ctl.get("watermark_scale_factor", 10)
    procfs.check_complete(verify_zones)  # a truncated text is an input error in either mode
    differences = list(procfs.check_zoneinfo(verify_zones, min_free_kbytes=ctl["min_free_kbytes"],
                                             lowmem_reserve_ratio=ratios,
                                             watermark_scale_factor=wsf))
    if "watermark_boost_factor" in ctl:
        differences += boost_problems(verify_zones, ctl["watermark_boost_factor"])
    if differences and strict:
        raise procfs.ZoneinfoMismatch("recomputed watermarks differ from /proc/zoneinfo: "
                                      + "; ".join(differences)
                                      + " (pass strict=False to boot with the printed values "
                                        "and a report)")
    report = list(differences)
    for z in all_zones:
        row = next((r for r in buddy_rows if r.node == z.node and r.zone == z.zone), None)
        if row is not None and z.populated:
            free = sum(n << o for o, n in enumerate(row.nr_free))
            if free != z.free and (allow_free_mismatch or not strict):
                report.append(f"node {z.node} zone {z.zone}: buddyinfo holds {free} free "
                              f"pages, zoneinfo printed {z.free}; buddyinfo used")
    layouts, placements = [], []
    for nid in nodes:
        zones = [z for z in all_zones if z.node == nid]
        rows = {r.zone: r for r in buddy_rows if r.node == nid}
        layout, node_placements = _node_from_proc(zones, rows, nid,
                                                  allow_free_mismatch or not strict)
        layouts.append(layout)
        placements.extend(node_placements)
    m = cls(layouts[0], policy=policy, min_free_kbytes=ctl["min_free_kbytes"],
            watermark_scale_factor=wsf, lowmem_reserve_ratio=tuple(ratios),
            nodes=tuple(layouts[1:]), **kwargs)
    for zone, (blocks, allocated) in zip(m.zones, placements, strict=True):
        if zone.present_pages:
            zone.load(blocks, allocated)
    # one node of several: its watermarks were shared with the other nodes, so keep the
    # printed (verified) values rather than the one-node recomputation; non-strict with
    # differences: the kernel runs with what it printed
    keep_printed = len(nodes) < len({z.node for z in parsed}) or bool(differences)
    for zone, z in zip(m.zones, all_zones, strict=True):
        boost = z.boost or 0
        zone.watermark_boost = boost  # the printed watermarks include it
        if keep_printed:
            zone.watermark = (z.min - boost, z.low - boost, z.high - boost,
                              (z.promo if z.promo is not None else z.high) - boost)
            zone.lowmem_reserve = tuple(z.protection)
    m.watermark_boost_factor = ctl.get("watermark_boost_factor",
                                       watermarks.DEFAULT_WATERMARK_BOOST_FACTOR)
    if ignored:
        report.append(f"ignored sysctls (not modelled): {', '.join(sorted(ignored))}")
    m.from_proc_report = tuple(report)
    problems = m.check_invariants()
    if problems:  # the placement is ours: a violation here is a kmem bug
        raise AssertionError("from_proc built an inconsistent machine: "
                             + "; ".join(map(str, problems[:5])))
    return m


def _node_from_proc(zones: list[procfs.ZoneinfoZone], rows: dict[str, procfs.BuddyinfoRow],
                    node: int, allow_free_mismatch: bool
                    ) -> tuple[MachineLayout, list[tuple[list[tuple[int, int]],
                                                         list[tuple[int, int]]]]]:
    """One node's layout and, per zone, its placed free blocks and allocated blocks."""
    shape = procfs.layout_from_zoneinfo(zones, node)
    spans: list[ZoneSpan] = []
    placements: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []
    for z, span in zip(zones, shape.zones, strict=True):
        row = rows.get(z.zone)
        if not z.populated:
            if row is not None and any(row.nr_free):
                raise InvalidArgument(f"zone {z.zone} is unpopulated in zoneinfo but has free "
                                      f"blocks in buddyinfo")
            spans.append(span)
            placements.append(([], []))
            continue
        if row is None:
            raise InvalidArgument(f"zone {z.zone} is populated but missing from buddyinfo")
        if len(row.nr_free) != NR_PAGE_ORDERS:
            raise InvalidArgument(f"buddyinfo zone {z.zone} has {len(row.nr_free)} orders; "
                                  f"kmem models {NR_PAGE_ORDERS} (MAX_PAGE_ORDER "
                                  f"{MAX_PAGE_ORDER})")
        free = sum(n << o for o, n in enumerate(row.nr_free))
        if free != z.free and not allow_free_mismatch:
            raise procfs.ZoneinfoMismatch(
                f"zone {z.zone}: buddyinfo holds {free} free pages but zoneinfo says pages "
                f"free {z.free} (read at different instants?); pass allow_free_mismatch=True "
                f"to trust buddyinfo")
        if free > z.managed:
            raise InvalidArgument(f"zone {z.zone}: {free} free pages exceed managed {z.managed}")
        start, end = span.start_pfn, span.end_pfn
        blocks = place_free_blocks(start, end, row.nr_free)
        leftover = list(subtract_ranges(((start, end),),
                                        [(p, p + (1 << o)) for p, o in blocks]))
        reserved, leftover = _take(leftover, z.present - z.managed)
        holes, leftover = _take(leftover, z.spanned - z.present)
        allocated = [b for s, e in leftover for b in buddy.free_pages_memory_chunks(s, e)]
        spans.append(ZoneSpan(span.ztype, start, end, holes, reserved))
        placements.append((blocks, allocated))
    layout = MachineLayout(f"from-proc-node{node}", shape.arch, shape.config, tuple(spans),
                           shape.vmsplit)
    return layout, placements
