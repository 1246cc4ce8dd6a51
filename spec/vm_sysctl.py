"""The vm sysctls that set every zone's watermarks, as a machine applies them (6.12.118
mm/page_alloc.c: ``min_free_kbytes_sysctl_handler`` 6266, ``watermark_scale_factor_sysctl_handler``
6282, ``lowmem_reserve_ratio_sysctl_handler`` 6363 -> ``setup_per_zone_wmarks`` 6186,
``setup_per_zone_lowmem_reserve`` 6087; boot: ``init_per_zone_wmark_min`` 6243), once for
the model, :class:`kmem.fastimpl.MtMachine` and the bare fast core; the per-zone rules
are :mod:`kmem.spec.watermarks`'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import watermarks
from .constants import PAGE_SIZE
from .zones import MachineLayout, ZoneType


@dataclass(frozen=True)
class MachineWatermarks:
    """The vm sysctls as a machine applies them: the values in force and, for every zone
    of every node (node 0's first), ``_watermark[]`` and ``lowmem_reserve[]``."""

    min_free_kbytes: int
    lowmem_reserve_ratio: tuple[int, ...]
    watermarks: tuple[tuple[int, int, int, int], ...]
    lowmem_reserve: tuple[tuple[int, ...], ...]


def setup_machine_watermarks(
        node_layouts: Sequence[MachineLayout],
        node_zones: Sequence[Sequence[tuple[ZoneType, int]]], *,
        min_free_kbytes: int | None = None,
        watermark_scale_factor: int = watermarks.DEFAULT_WATERMARK_SCALE_FACTOR,
        lowmem_reserve_ratio: Sequence[int] | None = None) -> MachineWatermarks:
    """Writing ``vm.min_free_kbytes``, ``vm.watermark_scale_factor`` or
    ``vm.lowmem_reserve_ratio`` on a machine whose nodes have ``node_zones`` (type,
    managed pages). ``min_free_kbytes`` defaults to
    :func:`~kmem.spec.watermarks.default_min_free_kbytes` of every node's lowmem, the
    ratio to :func:`~kmem.spec.watermarks.lowmem_reserve_ratio_for`;
    ``__setup_per_zone_wmarks`` shares min_free_kbytes over every zone of every node
    (:func:`~kmem.spec.watermarks.setup_per_zone_wmarks`), and
    ``setup_per_zone_lowmem_reserve`` works node by node (``for_each_online_pgdat``)."""
    if min_free_kbytes is None:
        min_free_kbytes = watermarks.default_min_free_kbytes(
            sum(n.lowmem_pages for n in node_layouts) * (PAGE_SIZE // 1024))
    if lowmem_reserve_ratio is None:
        lowmem_reserve_ratio = watermarks.lowmem_reserve_ratio_for(node_layouts[0].config)
    marks = watermarks.setup_per_zone_wmarks([z for zones in node_zones for z in zones],
                                             min_free_kbytes, watermark_scale_factor)
    reserves = tuple(row for zones in node_zones
                     for row in watermarks.setup_per_zone_lowmem_reserve(
                         [managed for _, managed in zones], lowmem_reserve_ratio))
    return MachineWatermarks(min_free_kbytes, tuple(lowmem_reserve_ratio),
                             tuple(m.as_tuple() for m in marks), reserves)
