"""The guards of a machine's constructor options: the same for every implementation.

The kernel has no such checks (its options come from Kconfig and the firmware); these are
kmem's, so that a model and a fast twin built with the same bad options raise the same
:class:`~kmem.spec.errors.InvalidArgument`: the free-list policy, the whole allocation
path (``migratetypes``, ``nr_cpus``, ``percpu_pagelist_high_fraction``, which follow
mm/page_alloc.c of Linux 6.12), and NUMA nodes (disjoint, with the same zone types, as
``free_area_init`` lays them out on x86-64).
"""

from __future__ import annotations

from .errors import InvalidArgument
from .pcp import MIN_PERCPU_PAGELIST_HIGH_FRACTION
from .zones import MachineLayout

#: the free-list policies: ``"lowest"`` (lowest pfn first) and ``"linux"`` (the kernel's lists)
POLICIES = ("lowest", "linux")


def check_policy(policy: object) -> str:
    """A known policy name, else InvalidArgument."""
    if policy not in POLICIES:
        raise InvalidArgument(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
    return str(policy)


def check_path_options(policy: str, migratetypes: bool, nr_cpus: object,
                       high_fraction: object) -> None:
    """``nr_cpus`` >= 0, ``percpu_pagelist_high_fraction`` 0 or >= 8 (the sysctl's
    minimum, mm/page_alloc.c ``percpu_pagelist_high_fraction_sysctl_handler``); the whole
    path keeps the kernel's lists (policy ``"linux"``) and pcp lists need migratetypes."""
    if isinstance(nr_cpus, bool) or not isinstance(nr_cpus, int) or nr_cpus < 0:
        raise InvalidArgument(f"nr_cpus must be an int >= 0, got {nr_cpus!r}")
    if (isinstance(high_fraction, bool) or not isinstance(high_fraction, int)
            or not (high_fraction == 0 or high_fraction >= MIN_PERCPU_PAGELIST_HIGH_FRACTION)):
        raise InvalidArgument(f"percpu_pagelist_high_fraction must be 0 or >= "
                              f"{MIN_PERCPU_PAGELIST_HIGH_FRACTION}, got {high_fraction!r}")
    if (migratetypes or nr_cpus) and policy != "linux":
        raise InvalidArgument(f"migratetypes and per-CPU lists follow the kernel's lists: they "
                              f"need policy 'linux', got {policy!r}")
    if nr_cpus and not migratetypes:
        raise InvalidArgument("per-CPU lists are kept per migratetype: pass migratetypes=True "
                              "with nr_cpus")


def check_nodes(layouts: tuple[MachineLayout, ...]) -> None:
    """Every node has the same zone configuration, and no two nodes share a pfn."""
    if len(layouts) == 1:
        return
    first = layouts[0]
    if first.arch == "x86_32":
        raise InvalidArgument("kmem models NUMA on x86-64 and generic machines, not x86-32")
    spans: list[tuple[int, int, int]] = []
    for nid, node in enumerate(layouts):
        if node.config != first.config:
            raise InvalidArgument(f"node {nid} has zones {node.config.zones}, node 0 "
                                  f"{first.config.zones}: every node has the same zone types")
        spans.extend((z.start_pfn, z.end_pfn, nid) for z in node.zones if z.end_pfn > z.start_pfn)
    spans.sort()
    for (_s1, e1, n1), (s2, _e2, n2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise InvalidArgument(f"nodes {n1} and {n2} overlap at pfn {s2:#x}")


def check_cpu_nodes(cpu_nodes: tuple[int, ...] | None, nr_cpus: int,
                    nr_nodes: int) -> tuple[int, ...]:
    """Each CPU's node; by default CPUs numbered node by node, spread evenly."""
    if cpu_nodes is None:
        cpu_nodes = tuple(c * nr_nodes // max(nr_cpus, 1) for c in range(nr_cpus))
    if len(cpu_nodes) != nr_cpus or not all(0 <= n < nr_nodes for n in cpu_nodes):
        raise InvalidArgument(f"cpu_nodes must give a node in 0..{nr_nodes - 1} for "
                              f"each of the {nr_cpus} CPUs, got {cpu_nodes}")
    return tuple(cpu_nodes)
