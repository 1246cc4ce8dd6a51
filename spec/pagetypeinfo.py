"""/proc/pagetypeinfo: free blocks per migratetype and order, pageblocks per type.

Follows mm/vmstat.c of Linux 6.12 (``pagetypeinfo_show``, ``pagetypeinfo_showfree_print``,
``pagetypeinfo_showblockcount_print``; Debian linux-source-6.12, 6.12.117). The file is
printed node by node; a node without memory prints nothing, each other node prints its
own header, its populated zones' free counts per (type, order), and the number of
pageblocks of each type. Free counts stop at 100000 (5.4+) and are then printed as
``>100000``. The "Number of mixed blocks" table appears only with page_owner enabled at
boot (kmem does not model page_owner).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .constants import NR_PAGE_ORDERS
from .migrate import MIGRATETYPE_NAMES
from .procfs import ProcParseError

FREECOUNT_CAP = 100000  # pagetypeinfo_showfree_print stops counting here


@dataclass(frozen=True)
class PagetypeinfoZone:
    """One populated zone: ``free[mt][order]`` blocks on each free list (uncapped), and
    ``blocks[mt]`` pageblocks of each type."""

    node: int
    zone: str
    free: tuple[tuple[int, ...], ...]
    blocks: tuple[int, ...]


def _count(n: int) -> str:
    if n >= FREECOUNT_CAP:
        return f">{FREECOUNT_CAP:6d} "
    return f"{n:6d} "


def type_names(cma: bool = True) -> tuple[str, ...]:
    """``migratetype_names[]``: without CONFIG_CMA there is no "CMA" type (MIGRATE_ISOLATE
    is then 4)."""
    return MIGRATETYPE_NAMES if cma else tuple(n for n in MIGRATETYPE_NAMES if n != "CMA")


def format_pagetypeinfo_node(pageblock_order: int, zones: Sequence[PagetypeinfoZone],
                             cma: bool = True) -> str:
    """``pagetypeinfo_show`` for one node with memory (its populated zones, in order).
    ``free`` and ``blocks`` hold one entry per type of :func:`type_names` (``cma``)."""
    names = type_names(cma)
    out = [f"Page block order: {pageblock_order}\n",
           f"Pages per block:  {1 << pageblock_order}\n", "\n",
           f"{'Free pages count per migrate type at order':<43} "
           + "".join(f"{o:6d} " for o in range(NR_PAGE_ORDERS)) + "\n"]
    for z in zones:
        for mt, name in enumerate(names):
            out.append(f"Node {z.node:4d}, zone {z.zone:>8}, type {name:>12} "
                       + "".join(_count(n) for n in z.free[mt]) + "\n")
    out.append(f"\n{'Number of blocks type ':<23}"
               + "".join(f"{name:>12} " for name in names) + "\n")
    for z in zones:
        out.append(f"Node {z.node}, zone {z.zone:>8} " + "".join(f"{n:12d} " for n in z.blocks)
                   + "\n")
    return "".join(out)


def format_pagetypeinfo(pageblock_order: int, nodes: Sequence[Sequence[PagetypeinfoZone]],
                        cma: bool = True) -> str:
    """The whole file: each node with memory (a non-empty zone list) in turn."""
    return "".join(format_pagetypeinfo_node(pageblock_order, zones, cma)
                   for zones in nodes if zones)


_FREE_RE = re.compile(r"Node +(\d+), zone +(\S+), type +(\S+) ((?:>? *\d+ )+)")
_BLOCK_RE = re.compile(r"Node (\d+), zone +(\S+) ((?: *\d+ )+)")


def parse_pagetypeinfo(text: str) -> tuple[int, bool, tuple[PagetypeinfoZone, ...]]:
    """Parse /proc/pagetypeinfo: (pageblock_order, cma, zones), where ``cma`` says whether
    the kernel has the CMA type. A capped count ``>100000`` reads as 100000."""
    cma = "CMA" in re.findall(r"type +(\S+) ", text)
    names = type_names(cma)
    order = None
    free: dict[tuple[int, str], list[tuple[int, ...]]] = {}
    blocks: dict[tuple[int, str], tuple[int, ...]] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.startswith("Page block order:"):
            value = int(line.split(":")[1])
            if order is not None and value != order:
                raise ProcParseError("pagetypeinfo", lineno, f"pageblock order {value} differs "
                                     f"from {order} of an earlier node")
            order = value
            continue
        m = _FREE_RE.fullmatch(line)
        if m is not None:
            counts = tuple(int(c.lstrip(">")) for c in m.group(4).split())
            if len(counts) != NR_PAGE_ORDERS:
                raise ProcParseError("pagetypeinfo", lineno, f"{len(counts)} orders; expected "
                                     f"{NR_PAGE_ORDERS}")
            rows = free.setdefault((int(m.group(1)), m.group(2)), [])
            if len(rows) >= len(names) or names[len(rows)] != m.group(3):
                raise ProcParseError("pagetypeinfo", lineno, f"type {m.group(3)!r} out of "
                                     f"order; expected the types {names}")
            rows.append(counts)
            continue
        m = _BLOCK_RE.fullmatch(line)
        if m is not None:
            counts = tuple(int(c) for c in m.group(3).split())
            if len(counts) != len(names):
                raise ProcParseError("pagetypeinfo", lineno, f"{len(counts)} block counts; "
                                     f"expected {len(names)}")
            blocks[(int(m.group(1)), m.group(2))] = counts
    if order is None:
        raise ProcParseError("pagetypeinfo", 1, "no 'Page block order:' line")
    zones = []
    for key, rows in free.items():
        if len(rows) != len(names) or key not in blocks:
            raise ProcParseError("pagetypeinfo", 1, f"zone {key[1]} of node {key[0]} is "
                                 f"incomplete")
        zones.append(PagetypeinfoZone(key[0], key[1], tuple(rows), blocks[key]))
    return order, cma, tuple(zones)
