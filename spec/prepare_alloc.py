"""What ``__alloc_pages`` decides before it walks the zonelist (6.12.118
mm/page_alloc.c: ``__alloc_pages_noprof`` 4823-4856 -> ``prepare_alloc_pages`` 4596-4637,
``alloc_flags_nofragment`` 3372-3402; include/linux/gfp.h: ``gfp_zone`` 136-145,
``gfp_zonelist`` 154-161, ``node_zonelist`` 197-200, ``gfp_migratetype`` 23-37), written once over a
small machine interface (:class:`AllocMachine`) that :class:`kmem.model.Machine` and
:class:`kmem.fastimpl.MtMachine` provide: both call :func:`decide`, :func:`node_zonelist`
and :func:`alloc_pages_node`; the bare fast core (one node) calls :func:`decide_one_node`.

Nothing here reads what an allocation or a free changes (free counts, lists, pcp), so a
machine may keep a decision per (gfp, order, node) until its zones or configuration are
replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from . import gfp as gfp_spec
from . import numa
from .alloc_flags import ALLOC_NOFRAGMENT
from .errors import InvalidArgument
from .page_alloc import AllocPass, alloc_flags_nofragment, alloc_passes
from .zones import MachineLayout, ZoneConfig, ZoneType

#: a machine's zone object: any object with ``ztype``, ``node`` and ``present_pages``
Zone = Any


class OneNodeMachine(Protocol):
    """What the decision needs of a one-node machine: its zone config, layout, zones (in
    zone index order) and CONFIG_CMA."""

    @property
    def config(self) -> ZoneConfig: ...
    @property
    def layout(self) -> MachineLayout: ...
    @property
    def zones(self) -> Sequence[Zone]: ...
    @property
    def cma(self) -> bool: ...


class AllocMachine(OneNodeMachine, Protocol):
    """What the decision needs of a machine of one or more nodes: besides
    :class:`OneNodeMachine`'s, its layouts and zones per node, the zonelists, the CPU's
    node, and the preferred node of an ``alloc_pages_node`` call while it runs (None
    otherwise)."""

    _preferred_nid: int | None

    @property
    def node_layouts(self) -> tuple[MachineLayout, ...]: ...
    @property
    def node_zones(self) -> Sequence[Sequence[Zone]]: ...
    @property
    def zonelists(self) -> numa.Zonelists: ...
    def numa_node_id(self) -> int: ...
    def alloc_pages(self, gfp: int, order: int = 0) -> Any: ...


class AllocDecision(NamedTuple):
    """``prepare_alloc_pages``' alloc_context and the fast pass's flags, for one request."""

    highest_idx: int  # ac->highest_zoneidx = gfp_zone(gfp)
    zonelist: tuple[Zone, ...]  # node_zonelist(preferred_nid, gfp) up to highest_idx
    passes: tuple[AllocPass, ...]  # alloc_passes, the first with alloc_flags_nofragment
    migratetype: int  # ac->migratetype = gfp_migratetype(gfp)
    lowmem_only: bool  # highest_zoneidx < ZONE_NORMAL (__alloc_pages_may_oom's bail-out)
    warning: str | None  # gfp_migratetype's VM_WARN_ON line, printed on every call


def decision_nid(m: AllocMachine) -> int:
    """The node whose zonelist serves this call: ``alloc_pages_node``'s ``nid``, else
    ``numa_node_id()`` (the node ``alloc_pages`` prefers under the default mempolicy;
    kmem models no other policy)."""
    return m.numa_node_id() if m._preferred_nid is None else m._preferred_nid


def _check_nid(m: AllocMachine, nid: object) -> int:
    if isinstance(nid, bool) or not isinstance(nid, int) or not 0 <= nid < len(m.node_zones):
        raise InvalidArgument(f"node {nid!r} does not exist (0..{len(m.node_zones) - 1})")
    return nid


def node_zonelist(m: AllocMachine, nid: int, gfp: int, highest_idx: int) -> list[Zone]:
    """``node_zonelist(nid, gfp)`` (gfp.h 197-200: ZONELIST_NOFALLBACK with __GFP_THISNODE,
    ``gfp_zonelist`` 154-161) walked up to ``highest_zoneidx``
    (:func:`kmem.spec.numa.zonelist_for`): the machine's zones, in visiting order."""
    _check_nid(m, nid)
    refs = numa.zonelist_for(m.zonelists, nid, highest_idx,
                             thisnode=bool(gfp & gfp_spec.__GFP_THISNODE))
    return [m.node_zones[n][idx] for n, idx in refs]


def _normal_idx(config: ZoneConfig) -> int:
    return config.idx(ZoneType.NORMAL) if config.has(ZoneType.NORMAL) else 0


def decide(m: AllocMachine, gfp: int, order: int) -> AllocDecision:
    """The decision for a checked (gfp, 0 <= order <= MAX_PAGE_ORDER) on this call's node
    (:func:`decision_nid`): ``gfp_zone`` (BadGfpZone for a bad modifier combination), the
    zonelist (one node: :func:`decide_one_node`; several: :func:`node_zonelist`),
    ``alloc_flags_nofragment`` of its first zone (with more than one node, only if that
    zone's node has DMA32 populated: ``nr_online_nodes > 1 && !populated_zone(--zone)``,
    mm/page_alloc.c:3396), the passes of :func:`kmem.spec.page_alloc.alloc_passes` and
    ``gfp_migratetype``'s warning."""
    if len(m.node_layouts) == 1:
        return decide_one_node(m, gfp, order)
    config = m.config
    highest_idx = config.idx(gfp_spec.gfp_zone(gfp, config))
    zonelist = node_zonelist(m, decision_nid(m), gfp, highest_idx)
    preferred = zonelist[0].ztype if zonelist else None
    if preferred is ZoneType.NORMAL and config.has(ZoneType.DMA32):
        if not m.node_zones[zonelist[0].node][config.idx(ZoneType.DMA32)].present_pages:
            preferred = None  # no ALLOC_NOFRAGMENT
    return _decision(m, gfp, order, highest_idx, zonelist, preferred)


def decide_one_node(m: OneNodeMachine, gfp: int, order: int) -> AllocDecision:
    """:func:`decide` on a machine of one node: the zonelist is
    :func:`kmem.spec.gfp.zonelist` of the managed zones up to ``gfp_zone``, and
    ``alloc_flags_nofragment`` needs no populated DMA32 (line 3396: "assume on UMA that
    if Normal is populated then so is DMA32")."""
    config = m.config
    highest = gfp_spec.gfp_zone(gfp, config)
    chain = gfp_spec.zonelist(config, highest, set(m.layout.managed_zones()))
    return _decision(m, gfp, order, config.idx(highest),
                     [m.zones[config.idx(zt)] for zt in chain], chain[0] if chain else None)


def _decision(m: OneNodeMachine, gfp: int, order: int, highest_idx: int,
              zonelist: Sequence[Zone], preferred: ZoneType | None) -> AllocDecision:
    config = m.config
    nofragment = bool(alloc_flags_nofragment(gfp, preferred, config) & ALLOC_NOFRAGMENT)
    lowmem_only = highest_idx < _normal_idx(config)
    passes = alloc_passes(gfp, order, nofragment=nofragment, cma=m.cma, lowmem_only=lowmem_only)
    warning = (gfp_spec.gfp_migratetype_warning_line(gfp)
               if gfp_spec.gfp_migratetype_warns(gfp) else None)
    return AllocDecision(highest_idx, tuple(zonelist), passes, gfp_spec.gfp_migratetype(gfp),
                         lowmem_only, warning)


def alloc_pages_node(m: AllocMachine, nid: int, gfp: int, order: int = 0) -> Any:
    """``alloc_pages_node(nid, gfp, order)`` (gfp.h 294-301 -> ``__alloc_pages_node_noprof``
    268-274: ``VM_BUG_ON(nid < 0 || nid >= MAX_NUMNODES)``, here InvalidArgument for any
    node the machine lacks): ``m.alloc_pages`` with ``nid``'s zonelist; the caller's CPU
    and its pcp lists stay the same."""
    m._preferred_nid = _check_nid(m, nid)
    try:
        return m.alloc_pages(gfp, order)
    finally:
        m._preferred_nid = None
