"""NUMA: node distances, each node's zonelists, and which zones a request may use.

Follows mm/page_alloc.c of Linux 6.12 (Debian linux-source-6.12, 6.12.117):
``find_next_best_node``, ``build_zonelists`` (node order with the ``node_load``
round-robin), ``build_zonelists_in_node_order``, ``build_zonerefs_node`` (managed zones,
highest first), ``build_thisnode_zonelists`` (ZONELIST_NOFALLBACK for __GFP_THISNODE), and
``get_page_from_freelist``'s walk of a zonelist up to ``highest_zoneidx``. Distances are
the ACPI SLIT's: LOCAL_DISTANCE 10 on the diagonal, REMOTE_DISTANCE 20 by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .constants import PAGE_SIZE
from .errors import InvalidArgument
from .zones import MAX_DMA32_PFN, MAX_DMA_PFN, X86_64_CONFIG, MachineLayout, ZoneSpan, ZoneType

LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20
PENALTY_FOR_NODE_WITH_CPUS = 1
MAX_NUMNODES = 1 << 10  # CONFIG_NODES_SHIFT=10 (Debian x86-64)
RECLAIM_DISTANCE = 30

ZoneRef = tuple[int, int]  # (node, zone index)


def default_distances(nr_nodes: int) -> tuple[tuple[int, ...], ...]:
    """The SLIT without firmware tables: LOCAL_DISTANCE to itself, REMOTE_DISTANCE else."""
    return tuple(tuple(LOCAL_DISTANCE if i == j else REMOTE_DISTANCE for j in range(nr_nodes))
                 for i in range(nr_nodes))


def check_distances(distances: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """A square matrix of ints, LOCAL_DISTANCE on the diagonal and more elsewhere (the
    checks of ``numa_set_distance`` / ``slit_valid``)."""
    n = len(distances)
    if n < 1:
        raise InvalidArgument("at least one node is needed")
    out = []
    for i, row in enumerate(distances):
        row = tuple(row)
        if len(row) != n or not all(isinstance(d, int) and not isinstance(d, bool) for d in row):
            raise InvalidArgument(f"distance row {i} must hold {n} ints, got {row}")
        if row[i] != LOCAL_DISTANCE:
            raise InvalidArgument(f"distance[{i}][{i}] must be LOCAL_DISTANCE "
                                  f"({LOCAL_DISTANCE}), got {row[i]}")
        if any(d <= LOCAL_DISTANCE for j, d in enumerate(row) if j != i):
            raise InvalidArgument(f"distance row {i}: a remote node must be farther than "
                                  f"{LOCAL_DISTANCE}, got {row}")
        out.append(row)
    return tuple(out)


def find_next_best_node(node: int, used: set[int], distances: Sequence[Sequence[int]],
                        memory_nodes: Sequence[int], cpu_nodes: frozenset[int] | set[int],
                        node_load: Sequence[int]) -> int | None:
    """``find_next_best_node(node, &used_node_mask)``: the local node first (if it has
    memory), then the nearest unused node with memory, preferring higher-numbered,
    CPU-less and less-loaded nodes at equal distance. Adds the node to ``used``."""
    if node not in used and node in memory_nodes:
        used.add(node)
        return node
    best, min_val = None, None
    for n in memory_nodes:
        if n in used:
            continue
        val = distances[node][n] + (n < node)
        if n in cpu_nodes:
            val += PENALTY_FOR_NODE_WITH_CPUS
        val = val * MAX_NUMNODES + node_load[n]
        if min_val is None or val < min_val:
            min_val, best = val, n
    if best is not None:
        used.add(best)
    return best


@dataclass(frozen=True)
class Zonelists:
    """Each node's ZONELIST_FALLBACK node order and (node, zone index) references."""

    node_order: tuple[tuple[int, ...], ...]
    fallback: tuple[tuple[ZoneRef, ...], ...]
    nofallback: tuple[tuple[ZoneRef, ...], ...]


def build_all_zonelists(distances: Sequence[Sequence[int]],
                        managed: Sequence[Sequence[int]],
                        cpu_nodes: frozenset[int] | set[int] | None = None) -> Zonelists:
    """``__build_all_zonelists``: ``node_load`` zeroed, then ``build_zonelists`` for each
    node in id order. ``managed[node][zone_idx]`` is each zone's managed pages (a zone
    joins the lists when it manages pages: ``managed_zone``); a node has memory
    (N_MEMORY) when any of its zones does. ``cpu_nodes``: the nodes with CPUs (default
    all)."""
    distances = check_distances(distances)
    n = len(distances)
    if len(managed) != n:
        raise InvalidArgument(f"managed pages for {len(managed)} nodes, distances for {n}")
    cpu_nodes = frozenset(range(n)) if cpu_nodes is None else frozenset(cpu_nodes)
    memory_nodes = [i for i in range(n) if any(managed[i])]
    node_load = [0] * n
    orders, fallback, nofallback = [], [], []
    for local in range(n):
        used: set[int] = set()
        order: list[int] = []
        prev = local
        while (node := find_next_best_node(local, used, distances, memory_nodes, cpu_nodes,
                                           node_load)) is not None:
            if distances[local][node] != distances[local][prev]:
                node_load[node] += 1
            order.append(node)
            prev = node
        orders.append(tuple(order))
        fallback.append(tuple(ref for nd in order for ref in build_zonerefs_node(nd, managed[nd])))
        nofallback.append(build_zonerefs_node(local, managed[local]))
    return Zonelists(tuple(orders), tuple(fallback), tuple(nofallback))


def build_zonerefs_node(node: int, managed: Sequence[int]) -> tuple[ZoneRef, ...]:
    """``build_zonerefs_node``: the node's zones that manage pages, highest index first."""
    return tuple((node, idx) for idx in range(len(managed) - 1, -1, -1) if managed[idx])


def zonelist_for(zonelists: Zonelists, node: int, highest_zoneidx: int,
                 thisnode: bool) -> tuple[ZoneRef, ...]:
    """The zones ``get_page_from_freelist`` visits for a request on ``node``
    (``node_zonelist(nid, gfp)``: NOFALLBACK with __GFP_THISNODE), skipping zones above
    ``highest_zoneidx`` (``for_next_zone_zonelist_nodemask``)."""
    refs = zonelists.nofallback[node] if thisnode else zonelists.fallback[node]
    return tuple(ref for ref in refs if ref[1] <= highest_zoneidx)


def nr_split_cpus(node_cpus: int, cpu_online: int, online_cpus: int) -> int:
    """``zone_highsize``'s divisor: the CPUs of the zone's node plus ``cpu_online``, or
    all online CPUs for a CPU-less node."""
    return node_cpus + cpu_online or online_cpus


def x86_64_nodes(mem_mb: Sequence[int]) -> tuple[MachineLayout, ...]:
    """An x86-64 NUMA machine: node ``i`` holds ``mem_mb[i]`` MB right after node ``i - 1``
    (physical address 0 up), each node's part of [0, 16 MB) is its DMA zone, of [16 MB,
    4 GB) its DMA32 zone and the rest its NORMAL zone (``zone_sizes_init`` limits
    applied per node by ``free_area_init``)."""
    if not mem_mb:
        raise InvalidArgument("at least one node is needed")
    limits = {ZoneType.DMA: (0, MAX_DMA_PFN), ZoneType.DMA32: (MAX_DMA_PFN, MAX_DMA32_PFN),
              ZoneType.NORMAL: (MAX_DMA32_PFN, 1 << 52)}
    out, start = [], 0
    for nid, mb in enumerate(mem_mb):
        if isinstance(mb, bool) or not isinstance(mb, int) or mb <= 0:
            raise InvalidArgument(f"node {nid}: memory must be a positive int number of MB, "
                                  f"got {mb!r}")
        end = start + mb * (1 << 20) // PAGE_SIZE
        spans = []
        for zt in X86_64_CONFIG.zones:
            lo, hi = limits.get(zt, (end, end))
            s, e = max(lo, start), min(hi, end)
            spans.append(ZoneSpan(zt, s, e) if s < e else ZoneSpan(zt, end, end))
        out.append(MachineLayout(f"x86_64-node{nid}-{mb}M", "x86_64", X86_64_CONFIG,
                                 tuple(spans)))
        start = end
    return tuple(out)
