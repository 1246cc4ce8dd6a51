"""Boot a model from a real machine's /proc/zoneinfo, /proc/buddyinfo and vm sysctls.

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

import bisect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kmem.spec import buddy, procfs
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import InvalidArgument
from kmem.spec.zones import MachineLayout, ZoneSpan, subtract_ranges

if TYPE_CHECKING:
    from .machine import Machine


class PlacementError(InvalidArgument):
    """The free-block counts cannot be placed in the zone under the buddy invariants."""


SYSCTL_NAMES = ("min_free_kbytes", "lowmem_reserve_ratio", "watermark_scale_factor")


def read_sysctls(sysctls: Mapping[str, object]) -> dict[str, Any]:
    """Normalise ``{"min_free_kbytes": "67584\\n", "vm.lowmem_reserve_ratio": ...}``:
    keys with or without ``vm.``, values as ints, int sequences or /proc/sys text."""
    out: dict[str, Any] = {}
    for key, value in sysctls.items():
        name = key.removeprefix("vm.").removeprefix("/proc/sys/vm/")
        if name not in SYSCTL_NAMES:
            raise InvalidArgument(f"unknown sysctl {key!r}; expected {', '.join(SYSCTL_NAMES)}")
        if isinstance(value, str):
            ints = procfs.parse_sysctl_ints(value, f"vm.{name}")
        elif isinstance(value, int) and not isinstance(value, bool):
            ints = (value,)
        elif isinstance(value, Sequence) and all(isinstance(v, int) for v in value):
            ints = tuple(value)  # type: ignore[arg-type]
        else:
            raise InvalidArgument(f"vm.{name}: expected an int, ints or /proc/sys text, "
                                  f"got {value!r}")
        out[name] = ints if name == "lowmem_reserve_ratio" else _single(name, ints)
    if "min_free_kbytes" not in out:
        raise InvalidArgument("vm.min_free_kbytes is required (the watermarks depend on it)")
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
    """
    # pool[o]: sorted starts of available aligned chunks of order o
    pool: list[list[int]] = [[] for _ in range(NR_PAGE_ORDERS)]
    for pfn, order in buddy.free_pages_memory_chunks(start, end):
        bisect.insort(pool[order], pfn)
    placed: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []

    def fits(pfn: int, order: int) -> bool:
        return order == MAX_PAGE_ORDER or (buddy.find_buddy_pfn(pfn, order), order) not in placed

    for order in range(len(counts) - 1, -1, -1):
        for _ in range(counts[order]):
            spot = None
            for pfn in pool[order]:
                if fits(pfn, order):
                    spot = (pfn, order)
                    break
            if spot is not None:
                pool[order].remove(spot[0])
            else:
                bigger = next((o for o in range(order + 1, NR_PAGE_ORDERS) if pool[o]), None)
                if bigger is None:
                    raise PlacementError(
                        f"cannot place {counts[order]} free blocks of order {order} in "
                        f"pfn [{start:#x}, {end:#x}) with the higher orders placed: the "
                        f"counts do not fit this zone without breaking maximal coalescing")
                chunk = pool[bigger].pop(0)
                for half, half_order in buddy.expand(chunk, order, bigger):
                    bisect.insort(pool[half_order], half)
                spot = (chunk, order)
            placed.add(spot)
            out.append(spot)
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


def machine_from_proc(cls: type[Machine], zoneinfo_text: str, buddyinfo_text: str,
                      sysctls: Mapping[str, object], *, node: int = 0, policy: str = "lowest",
                      allow_free_mismatch: bool = False, **kwargs: Any) -> Machine:
    """Boot ``cls`` as the machine whose /proc texts are given (see the module docstring).

    ``allow_free_mismatch``: /proc/zoneinfo's ``pages free`` and the pages in
    /proc/buddyinfo are read at different instants on a live machine; by default a
    difference is an error, with this flag the buddyinfo counts win.
    """
    zones = [z for z in procfs.parse_zoneinfo(zoneinfo_text) if z.node == node]
    if not zones:
        raise InvalidArgument(f"no zones of node {node} in the zoneinfo text")
    rows = {r.zone: r for r in procfs.parse_buddyinfo(buddyinfo_text) if r.node == node}
    ctl = read_sysctls(sysctls)
    ratios = ctl.get("lowmem_reserve_ratio")
    if ratios is None:
        ratios = procfs.lowmem_reserve_ratio_for(procfs.config_from_zoneinfo(zones, node))
    wsf = ctl.get("watermark_scale_factor", 10)
    procfs.verify_zoneinfo(zones, min_free_kbytes=ctl["min_free_kbytes"],
                           lowmem_reserve_ratio=ratios, watermark_scale_factor=wsf)
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
    m = cls(layout, policy=policy, min_free_kbytes=ctl["min_free_kbytes"],
            watermark_scale_factor=wsf, lowmem_reserve_ratio=tuple(ratios), **kwargs)
    for zone, (blocks, allocated) in zip(m.zones, placements, strict=True):
        if zone.present_pages:
            zone.load(blocks, allocated)
    problems = m.check_invariants()
    if problems:  # the placement is ours: a violation here is a kmem bug
        raise AssertionError("from_proc built an inconsistent machine: "
                             + "; ".join(map(str, problems[:5])))
    return m
