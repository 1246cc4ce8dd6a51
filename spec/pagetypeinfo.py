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

from collections.abc import Sequence
from dataclasses import dataclass

from . import procfs
from .constants import NR_PAGE_ORDERS
from .migrate import MIGRATETYPE_NAMES
from .procfs import PAGETYPEINFO_FREECOUNT_CAP, ProcParseError

FREECOUNT_CAP = PAGETYPEINFO_FREECOUNT_CAP  # pagetypeinfo_showfree_print stops counting here


@dataclass(frozen=True)
class PagetypeinfoZone:
    """One populated zone: ``free[mt][order]`` blocks on each free list (uncapped), and
    ``blocks[mt]`` pageblocks of each type."""

    node: int
    zone: str
    free: tuple[tuple[int, ...], ...]
    blocks: tuple[int, ...]


def type_names(cma: bool = True) -> tuple[str, ...]:
    """``migratetype_names[]``: without CONFIG_CMA there is no "CMA" type (MIGRATE_ISOLATE
    is then 4)."""
    return MIGRATETYPE_NAMES if cma else tuple(n for n in MIGRATETYPE_NAMES if n != "CMA")


def _procfs_node(pageblock_order: int, zones: Sequence[PagetypeinfoZone],
                 cma: bool) -> procfs.PagetypeinfoNode:
    """The node as :class:`kmem.spec.procfs.PagetypeinfoNode`, counts capped as printed."""
    names = type_names(cma)
    built = []
    for z in zones:
        over = frozenset((mt, o) for mt, row in enumerate(z.free) for o, n in enumerate(row)
                         if n >= FREECOUNT_CAP)
        free = tuple(tuple(min(n, FREECOUNT_CAP) for n in row) for row in z.free)
        built.append(procfs.PagetypeinfoZone(z.zone, free, tuple(z.blocks), over))
    return procfs.PagetypeinfoNode(zones[0].node, pageblock_order, 1 << pageblock_order, names,
                                   tuple(built))


def format_pagetypeinfo_node(pageblock_order: int, zones: Sequence[PagetypeinfoZone],
                             cma: bool = True) -> str:
    """``pagetypeinfo_show`` for one node with memory (its populated zones, in order).
    ``free`` and ``blocks`` hold one entry per type of :func:`type_names` (``cma``).
    The text itself is :func:`kmem.spec.procfs.format_pagetypeinfo`'s (one printer of the
    format for every kernel version)."""
    if not zones:
        return ""
    return procfs.format_pagetypeinfo([_procfs_node(pageblock_order, zones, cma)])


def format_pagetypeinfo(pageblock_order: int, nodes: Sequence[Sequence[PagetypeinfoZone]],
                        cma: bool = True) -> str:
    """The whole file: each node with memory (a non-empty zone list) in turn."""
    return "".join(format_pagetypeinfo_node(pageblock_order, zones, cma)
                   for zones in nodes if zones)


def parse_pagetypeinfo(text: str) -> tuple[int, bool, tuple[PagetypeinfoZone, ...]]:
    """Parse /proc/pagetypeinfo of a kernel with this model's migratetypes (4.4+): (
    pageblock_order, cma, zones), where ``cma`` says whether the kernel has the CMA type.
    A capped count ``>100000`` reads as 100000. The text is read by
    :func:`kmem.spec.procfs.parse_pagetypeinfo` (every version's format); this function
    then requires the model's types and one pageblock order."""
    nodes = procfs.parse_pagetypeinfo(text)
    cma = any("CMA" in node.migratetypes for node in nodes)
    names = type_names(cma)
    order = nodes[0].pageblock_order
    zones = []
    for node in nodes:
        if node.pageblock_order != order:
            raise ProcParseError("pagetypeinfo", 1, f"pageblock order {node.pageblock_order} "
                                 f"of node {node.node} differs from {order} of an earlier node")
        if node.migratetypes != names:
            raise ProcParseError("pagetypeinfo", 1, f"node {node.node} has the types "
                                 f"{node.migratetypes}; expected the types {names}")
        if node.nr_orders != NR_PAGE_ORDERS:
            raise ProcParseError("pagetypeinfo", 1, f"{node.nr_orders} orders; expected "
                                 f"{NR_PAGE_ORDERS}")
        zones += [PagetypeinfoZone(node.node, z.zone, z.free, z.blocks) for z in node.zones]
    return order, cma, tuple(zones)
