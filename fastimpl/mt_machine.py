"""fastimpl's machine with the whole allocation path: migratetypes, pageblocks, per-CPU
lists, the highatomic reserve, NUMA nodes and their zonelists.

:class:`MtMachine` is what ``kmem.fastimpl.Machine(...)`` builds when it is given any
option of the whole path (``migratetypes``, ``nr_cpus``, ``percpu_pagelist_high_fraction``,
``nodes``, ``distances``, ``cpu_nodes``); the bare one-node core stays in ``machine.py``.
It has the public surface of :class:`kmem.model.Machine` with those options and is
observably identical to it: results, exceptions, free lists per order and migratetype
in list order, pcp lists in order, pageblock types, counters and /proc texts.

The state is flat (``mt_kernels.py`` describes the arrays); every operation runs its
Python guards first (pfn in a zone, alignment, references, the allocated block), then
compiled steps that only change state. The decisions above the zones (``gfp_zone``,
the zonelist, ``alloc_passes``, the slow path of :func:`kmem.spec.slowpath.slowpath`,
``zone_allows``) are the spec's, called from Python once per request.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from kmem.spec import (
    buddy,
    migrate,
    numa,
    page_alloc,
    prepare_alloc,
    slowpath,
    watermarks,
)
from kmem.spec import gfp as gfp_spec
from kmem.spec import kernel as kernel_spec
from kmem.spec import machine_options as opts
from kmem.spec import pagetypeinfo as pagetypeinfo_spec
from kmem.spec import pcp as pcp_spec
from kmem.spec.alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_NO_WATERMARKS,
    ALLOC_NOFRAGMENT,
    ALLOC_OOM,
    ALLOC_RESERVES,
    ALLOC_WMARK_MASK,
    WMARK_HIGH,
    WMARK_MIN,
)
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_SHIFT
from kmem.spec.errors import (
    AllocationLivelock,
    BadPageState,
    BadRange,
    FreeOrderMismatch,
    GetPageOnFreePage,
    InvalidArgument,
    RefcountUnderflow,
    TailPageFree,
    UnalignedFree,
)
from kmem.spec.machine_surface import PathSurface
from kmem.spec.memory import PageContents
from kmem.spec.zones import MachineLayout, ZoneSpan, ZoneType

from . import mt_kernels as K
from . import mt_kernels61 as K61
from .handles import FastMachinePages, PageHandle
from .kernels import JIT_DISABLED as _JIT_DISABLED

GFP_ZERO = page_alloc.GFP_ZERO_BIT
GFP_COMP = page_alloc.GFP_COMP_BIT
GFP_NOWARN = page_alloc.GFP_NOWARN_BIT
GFP_NOFAIL = page_alloc.GFP_NOFAIL_BIT
_check_gfp = page_alloc.check_gfp
_check_order = page_alloc.check_order
SECTION_PAGES_SHIFT = 27 - PAGE_SHIFT  # x86-64 SECTION_SIZE_BITS 27: 128 MiB sections
BARE_PBO = MAX_PAGE_ORDER + 1  # a bare zone: no split at pageblocks, no merge restriction


class Page(PageHandle):
    """``struct page *``: the handle on one pfn of one machine (:mod:`kmem.fastimpl.handles`);
    the descriptor (refcount, PG_reserved, the kmap address) lives in the machine's arrays."""

    __slots__ = ()

    @property
    def refcount(self) -> int:
        return int(self._m._ref[self.pfn])

    @property
    def _refcount(self) -> int:
        return int(self._m._ref[self.pfn])

    @_refcount.setter
    def _refcount(self, value: int) -> None:
        self._m._ref[self.pfn] = value

    @property
    def reserved(self) -> bool:
        return bool(self._m._resv[self.pfn])

    @reserved.setter
    def reserved(self, value: bool) -> None:
        self._m._resv[self.pfn] = bool(value)


_T = TypeVar("_T")


def _held(read: Callable[[Any], _T]) -> Callable[[Any], _T]:
    """A zone reader whose result is kept while the machine's reads are held
    (:meth:`MtMachine.reads_held`: a checker that changes nothing reads the arena once)."""
    def reader(self: Any) -> _T:
        memo = self._m._reads
        if memo is None:
            return read(self)
        key = (read, self.zone_idx_global)
        if key not in memo:
            memo[key] = read(self)
        return memo[key]

    reader.__doc__, reader.__name__ = read.__doc__, read.__name__
    return reader


#: the page descriptor rows the zone readers read (list type, pcp order, allocation
#: order), and any between them
_READ_ROWS = slice(min(K.P_FMT, K.P_PCPO, K.P_AORD), max(K.P_FMT, K.P_PCPO, K.P_AORD) + 1)


class PcpView:
    """``struct per_cpu_pages`` of one CPU and zone, read from the arena."""

    def __init__(self, zone: MtZone, cpu: int) -> None:
        self._zone, self._cpu = zone, cpu
        self._row = zone.zone_idx_global * zone._m._ncpu + cpu

    def _get(self, field: int) -> int:
        return int(self._zone._m._C[self._row, field])

    def _set(self, field: int, value: int) -> None:
        self._zone._m._C[self._row, field] = value

    count = property(lambda s: s._get(K.C_COUNT), lambda s, v: s._set(K.C_COUNT, v))
    high = property(lambda s: s._get(K.C_HIGH), lambda s, v: s._set(K.C_HIGH, v))
    high_min = property(lambda s: s._get(K.C_HIGH_MIN), lambda s, v: s._set(K.C_HIGH_MIN, v))
    high_max = property(lambda s: s._get(K.C_HIGH_MAX), lambda s, v: s._set(K.C_HIGH_MAX, v))
    batch = property(lambda s: s._get(K.C_BATCH), lambda s, v: s._set(K.C_BATCH, v))
    free_count = property(lambda s: s._get(K.C_FREE_COUNT),
                          lambda s, v: s._set(K.C_FREE_COUNT, v))
    alloc_factor = property(lambda s: s._get(K.C_ALLOC_FACTOR),
                            lambda s, v: s._set(K.C_ALLOC_FACTOR, v))
    flags = property(lambda s: s._get(K.C_FLAGS), lambda s, v: s._set(K.C_FLAGS, v))
    free_factor = property(lambda s: s._get(K.C_FREE_FACTOR),
                           lambda s, v: s._set(K.C_FREE_FACTOR, v))  # 6.1

    @property
    def lists(self) -> list[list[int]]:
        """The NR_PCP_LISTS lists, each head first."""
        m, z = self._zone._m, self._zone.zone_idx_global
        return [m._list(int(K.pcp_lid(m._A, z, self._cpu, i)))
                for i in range(pcp_spec.NR_PCP_LISTS)]


class FreeAreaView:
    """``struct free_area`` of one zone and order: ``nr_free`` and the lists per type."""

    def __init__(self, zone: MtZone, order: int) -> None:
        self._zone, self._order = zone, order

    @property
    def nr_free(self) -> int:
        return int(self._zone._z[K.Z_NRFREE + self._order])

    @property
    def free_lists(self) -> list[list[int]]:
        return [self._zone.free_list_order(self._order, mt)
                for mt in range(migrate.MIGRATE_TYPES)]

    @property
    def free_list(self) -> list[int]:
        return self._zone.free_list_order(self._order)


class _Allocated(Mapping[int, int]):
    """A zone's allocated blocks (head pfn -> order), read from the arena."""

    def __init__(self, zone: MtZone) -> None:
        self._zone = zone

    def _heads(self) -> np.ndarray:
        z = self._zone
        aord = z._m._P[K.P_AORD, z.start_pfn:z.end_pfn]
        return np.nonzero(aord >= 0)[0] + z.start_pfn

    def __getitem__(self, pfn: int) -> int:
        z = self._zone
        if not (isinstance(pfn, int) and not isinstance(pfn, bool)
                and z.start_pfn <= pfn < z.end_pfn):
            raise KeyError(pfn)
        order = int(z._m._P[K.P_AORD, pfn])
        if order < 0:
            raise KeyError(pfn)
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self._heads().tolist())

    def __len__(self) -> int:
        return len(self._heads())

    def items(self) -> Any:
        """(head pfn, order) of every allocated block, ascending, read in one pass (a
        list, as the bare core's ``_Allocated.items``)."""
        return list(self._zone._allocated_items())


class MtZone:
    """One zone of the whole path: the model's ``MtZone`` (or, in a bare NUMA machine,
    ``Zone``) attributes and views, backed by the arena."""

    def __init__(self, m: MtMachine, span: ZoneSpan, zone_idx: int, node: int,
                 zglobal: int) -> None:
        self._m = m
        self.span = span
        self.ztype = span.ztype
        self.zone_idx = zone_idx
        self.zone_idx_global = zglobal
        self._lid0 = zglobal * NR_PAGE_ORDERS * migrate.MIGRATE_TYPES  # buddy_lid(z, 0, 0)
        self.node = node
        self.name = span.ztype.kernel_name
        self.start_pfn = span.start_pfn
        self.end_pfn = span.end_pfn
        self.policy = m.policy
        self.managed_ranges = span.managed_ranges()
        self.managed_pages = span.managed_pages
        self.present_pages = span.present_pages
        self._lowmem_reserve: tuple[int, ...] = ()
        self._movable_idx = -1
        self._watermark: tuple[int, int, int, int] = (0, 0, 0, 0)
        #: see :attr:`kmem.spec.buddy.ZoneState.highatomic_uncounted`
        self.highatomic_uncounted = False
        self.free_area = [FreeAreaView(self, o) for o in range(NR_PAGE_ORDERS)]
        self.allocated = _Allocated(self)
        self.pcp: list[PcpView] = []
        if m.migratetypes:
            self.pageblock_order = m._pbo
            #: whose code this zone follows: "6.12" (Debian 6.12.118) or "6.1" (6.1.192)
            self.era = m.path_era
            self.cma = m.cma

    @property
    def _z(self) -> np.ndarray:
        return self._m._Z[self.zone_idx_global]

    # -- counters ------------------------------------------------------------------------
    @property
    def watermark(self) -> tuple[int, int, int, int]:
        return self._watermark

    @watermark.setter
    def watermark(self, value: tuple[int, int, int, int]) -> None:
        self._watermark = tuple(value)  # type: ignore[assignment]
        self._z[K.Z_WHIGH] = value[2]
        self._m._W[self.zone_idx_global, K.W_MIN:K.W_MIN + 4] = value

    @property
    def lowmem_reserve(self) -> tuple[int, ...]:
        return self._lowmem_reserve

    @lowmem_reserve.setter
    def lowmem_reserve(self, value: tuple[int, ...]) -> None:
        self._lowmem_reserve = tuple(value)
        if len(self._lowmem_reserve) > K.W_ZONES:
            raise InvalidArgument(f"lowmem_reserve has {len(self._lowmem_reserve)} entries; "
                                  f"at most {K.W_ZONES} zones per node")
        W = self._m._W[self.zone_idx_global]
        W[K.W_RESERVE:] = 0
        W[K.W_RESERVE:K.W_RESERVE + len(self._lowmem_reserve)] = self._lowmem_reserve
        self._set_hreserve()

    @property
    def movable_idx(self) -> int:
        """ZONE_MOVABLE's index (``high_wmark_ok`` checks its lowmem_reserve)."""
        return self._movable_idx

    @movable_idx.setter
    def movable_idx(self, value: int) -> None:
        self._movable_idx = value
        self._set_hreserve()

    def _set_hreserve(self) -> None:
        lr = self._lowmem_reserve
        self._z[K.Z_HRESERVE] = lr[self._movable_idx] if lr else 0

    @property
    def watermark_boost(self) -> int:
        return int(self._z[K.Z_BOOST])

    @watermark_boost.setter
    def watermark_boost(self, value: int) -> None:
        self._z[K.Z_BOOST] = value

    @property
    def free_pages(self) -> int:
        return int(self._z[K.Z_FREE])

    @property
    def nr_free_highatomic(self) -> int:
        return int(self._z[K.Z_HAFREE])

    @property
    def nr_reserved_highatomic(self) -> int:
        return int(self._z[K.Z_HARES])

    @property
    def below_high(self) -> bool:
        return bool(self._z[K.Z_BELOW_HIGH])

    @below_high.setter
    def below_high(self, value: bool) -> None:
        self._z[K.Z_BELOW_HIGH] = int(bool(value))

    @property
    def boosted(self) -> bool:
        return bool(self._z[K.Z_BOOSTED])

    @property
    def spanned_pages(self) -> int:
        return self.end_pfn - self.start_pfn

    def spans(self, pfn: int) -> bool:
        return self.start_pfn <= pfn < self.end_pfn

    def is_hole(self, pfn: int) -> bool:
        return self.span.contains(pfn) and not self.span.is_present(pfn)

    def is_reserved(self, pfn: int) -> bool:
        return self.span.is_reserved(pfn)

    def is_free_block(self, pfn: int, order: int) -> bool:
        """``page_is_buddy``: a free block of exactly this order, in this zone."""
        return (self.spans(pfn) and 0 <= order <= MAX_PAGE_ORDER
                and int(self._m._P[K.P_FORD, pfn]) == order)

    def nr_free(self) -> tuple[int, ...]:
        return tuple(self._z[K.Z_NRFREE:K.Z_NRFREE + NR_PAGE_ORDERS].tolist())

    # -- lists ---------------------------------------------------------------------------
    def free_list_order(self, order: int, mt: int | None = None) -> list[int]:
        """The pfns on ``free_area[order].free_list[mt]`` (all types in type order when
        ``mt`` is None), head first; policy "lowest": ascending."""
        z = self.zone_idx_global
        if mt is not None:
            out = self._m._list(K.buddy_lid(z, order, mt))
        else:
            out = [p for t in range(migrate.MIGRATE_TYPES)
                   for p in self._m._list(K.buddy_lid(z, order, t))]
        return sorted(out) if self.policy == "lowest" else out

    def _change_args(self) -> tuple[int, ...]:
        """What :func:`mt_kernels.zone_changed` compares: the zone, its span, its free
        lists, its pcp lists, its pageblock types."""
        m, z = self._m, self.zone_idx_global
        lo = self._lid0
        plo = int(K.pcp_lid(m._A, z, 0, 0))
        phi = plo + len(self.pcp) * pcp_spec.NR_PCP_LISTS
        pb0 = pb1 = 0
        if self.end_pfn > self.start_pfn:
            pbo = m._pbo
            pb0 = int(self._z[K.Z_PBBASE])
            pb1 = pb0 + ((self.end_pfn - 1) >> pbo) - (self.start_pfn >> pbo) + 1
        return (z, lo, lo + NR_PAGE_ORDERS * migrate.MIGRATE_TYPES, plo, phi, pb0, pb1)

    @_held
    def _allocated_items(self) -> tuple[tuple[int, int], ...]:
        aord = self._m._P[K.P_AORD, self.start_pfn:self.end_pfn]
        heads = np.nonzero(aord >= 0)[0]
        return tuple(zip((heads + self.start_pfn).tolist(), aord[heads].tolist(), strict=True))

    @_held
    def free_lists(self) -> tuple[tuple[int, ...], ...]:
        """Every ``free_area[order].free_list[mt]``, order-major (index ``order *
        MIGRATE_TYPES + mt``), each as :meth:`free_list_order` returns it: all of them in
        one compiled walk."""
        lid0 = self._lid0
        got = self._m._lists(lid0, lid0 + NR_PAGE_ORDERS * migrate.MIGRATE_TYPES)
        if self.policy == "lowest":
            return tuple(tuple(sorted(lst)) for lst in got)
        return tuple(got)

    @_held
    def pcp_fingerprint(self) -> tuple[tuple[Any, ...], ...]:
        """Per CPU: its NR_PCP_LISTS lists (head first) and ``count``, ``high``,
        ``high_min``, ``high_max``, ``batch``, ``free_count``, ``alloc_factor``, ``flags``,
        ``free_factor`` (the model's ``MtZone.pcp_fingerprint``): one compiled walk and one
        read of the counters."""
        ncpu = len(self.pcp)
        if not ncpu:
            return ()
        m, nl = self._m, pcp_spec.NR_PCP_LISTS
        lo = int(K.pcp_lid(m._A, self.zone_idx_global, 0, 0))
        lists = m._lists(lo, lo + ncpu * nl)
        row = self.zone_idx_global * m._ncpu
        counters = m._C[row:row + ncpu, :K.CF].tolist()
        return tuple((tuple(lists[c * nl:(c + 1) * nl]), *counters[c]) for c in range(ncpu))

    def free_blocks(self) -> list[tuple[int, int]]:
        lists, nt = self.free_lists(), migrate.MIGRATE_TYPES
        if self.policy == "lowest":
            return [(p, o) for o in range(NR_PAGE_ORDERS)
                    for p in sorted(p for lst in lists[o * nt:(o + 1) * nt] for p in lst)]
        return [(p, o) for o in range(NR_PAGE_ORDERS) for lst in lists[o * nt:(o + 1) * nt]
                for p in lst]

    def free_blocks_typed(self) -> dict[int, tuple[int, int]]:
        blocks = self.free_blocks()
        types = self._list_types([p for p, _ in blocks])
        return {p: (o, t) for (p, o), t in zip(blocks, types, strict=True)}

    def _list_types(self, pfns: list[int]) -> list[int]:
        """The list type each free block's first page records (``P_FMT``), in one read."""
        if not pfns:
            return []
        types: list[int] = self._m._P[K.P_FMT, np.array(pfns, np.int64)].tolist()
        return types

    def nr_free_mt(self, order: int, mt: int) -> int:
        return int(self._m._LN[K.buddy_lid(self.zone_idx_global, order, mt)])

    def list_nonempty(self, order: int, mt: int) -> bool:
        return self.nr_free_mt(order, mt) > 0

    def lists_mask(self) -> tuple[int, ...]:
        z = self.zone_idx_global
        ln = self._m._LN
        base = K.buddy_lid(z, 0, 0)
        counts = ln[base:base + NR_PAGE_ORDERS * migrate.MIGRATE_TYPES].reshape(
            NR_PAGE_ORDERS, migrate.MIGRATE_TYPES)
        weights = 1 << np.arange(migrate.MIGRATE_TYPES)
        return tuple(int(x) for x in ((counts > 0) * weights).sum(axis=1))

    def pcp_mask(self, cpu: int) -> int:
        if not self.pcp:
            return 0
        m = self._m
        lid = int(K.pcp_lid(m._A, self.zone_idx_global, cpu, 0))
        counts = m._LN[lid:lid + pcp_spec.NR_PCP_LISTS]
        return sum(1 << i for i in range(pcp_spec.NR_PCP_LISTS) if counts[i])

    def pcp_head(self, cpu: int, mt: int, order: int) -> int | None:
        if not self.pcp or not pcp_spec.pcp_allowed_order(order):
            return None
        m = self._m
        lid = int(K.pcp_lid(m._A, self.zone_idx_global, cpu, pcp_spec.order_to_pindex(mt, order)))
        head = int(m._LH[lid])
        return head if head >= 0 else None

    @property
    def pcp_pages(self) -> dict[int, int]:
        """Head pfn -> order of every block parked on some CPU's pcp list."""
        return dict(self._pcp_pages())

    @_held
    def _pcp_pages(self) -> tuple[tuple[int, int], ...]:
        pcpo = self._m._P[K.P_PCPO, self.start_pfn:self.end_pfn]
        idx = np.nonzero(pcpo >= 0)[0]
        return tuple(zip((idx + self.start_pfn).tolist(), pcpo[idx].tolist(), strict=True))

    # -- pageblocks ----------------------------------------------------------------------
    def get_pfnblock_migratetype(self, pfn: int) -> int:
        """The type of ``pfn``'s pageblock (UNMOVABLE outside the zone's pageblocks)."""
        pbo = self._m._pbo
        if self.end_pfn <= self.start_pfn:
            return migrate.MIGRATE_UNMOVABLE
        first, last, pb = self.start_pfn >> pbo, (self.end_pfn - 1) >> pbo, pfn >> pbo
        if not first <= pb <= last:
            return migrate.MIGRATE_UNMOVABLE
        return int(self._m._PB[int(self._z[K.Z_PBBASE]) + pb - first])

    @property
    def block_type(self) -> dict[int, int]:
        """Pageblock index -> type for every pageblock overlapping the zone."""
        return dict(self.block_types())

    @_held
    def block_types(self) -> tuple[tuple[int, int], ...]:
        """(pageblock index, type) of every pageblock overlapping the zone, ascending."""
        if self.end_pfn <= self.start_pfn:
            return ()
        pbo = self._m._pbo
        first = self.start_pfn >> pbo
        base = int(self._z[K.Z_PBBASE])
        n = ((self.end_pfn - 1) >> pbo) - first + 1
        return tuple(zip(range(first, first + n), self._m._PB[base:base + n].tolist(),
                         strict=True))

    def pageblock_counts(self, online: Any) -> list[int]:
        counts = [0] * migrate.MIGRATE_TYPES
        for pfn in range(self.start_pfn, self.end_pfn, 1 << self._m._pbo):
            if online(pfn):
                counts[self.get_pfnblock_migratetype(pfn)] += 1
        return counts

    # -- queries -------------------------------------------------------------------------
    def find_allocated(self, pfn: int) -> tuple[int, int] | None:
        """The allocated block (head pfn, order) that contains ``pfn``, if any."""
        aord = self._m._P[K.P_AORD]
        for order in range(NR_PAGE_ORDERS):
            head = pfn - pfn % (1 << order)
            if self.spans(head) and int(aord[head]) == order:
                return head, order
        return None

    def containing_free_block(self, pfn: int) -> tuple[int, int] | None:
        return buddy.containing_free_block(self.is_free_block, pfn, 0)

    def check_free(self, pfn: int, order: int) -> None:
        """The model's guards of a free (``Zone.check_free``; a block parked on a pcp
        list counts as free)."""
        P = self._m._P
        if not 0 <= order <= MAX_PAGE_ORDER:
            raise InvalidArgument(f"order {order} outside 0..{MAX_PAGE_ORDER}")
        in_zone = self.start_pfn <= pfn < self.end_pfn
        if in_zone and P.item(K.P_PCPO, pfn) >= 0 and P.item(K.P_AORD, pfn) < 0:
            raise BadPageState(f"pfn {pfn:#x} is already free (on a per-CPU list; double "
                               f"free)", "nonzero mapcount")
        if pfn % (1 << order):
            raise UnalignedFree(f"pfn {pfn:#x} is not aligned to order {order} "
                                f"({1 << order} pages)")
        if not (self.start_pfn <= pfn and pfn + (1 << order) <= self.end_pfn):
            raise BadRange(f"block [{pfn:#x}, {pfn + (1 << order):#x}) is outside zone "
                           f"{self.name} [{self.start_pfn:#x}, {self.end_pfn:#x})")
        held = P.item(K.P_AORD, pfn)
        if held < 0:
            if self.containing_free_block(pfn) is not None:
                raise BadPageState(f"pfn {pfn:#x} is already free (double free)",
                                   "nonzero mapcount")
            raise BadPageState(f"pfn {pfn:#x} does not start an allocated block",
                               "nonzero _refcount")
        if held != order:
            raise FreeOrderMismatch(f"block at pfn {pfn:#x} was allocated at order {held}, "
                                    f"freed at order {order}")

    # -- load (from_proc) ------------------------------------------------------------------
    def load(self, free_blocks: list[tuple[int, int]],
             allocated_blocks: list[tuple[int, int]],
             free_types: dict[int, int] | None = None) -> None:
        """Replace the zone's state: each free block to the tail of its pageblock type's
        list (``free_types`` may set a pageblock's type first), ascending."""
        self._m._load_zone(self, free_blocks, allocated_blocks, free_types)

    # -- the abstract state ---------------------------------------------------------------
    def state(self) -> buddy.ZoneState:
        allocated = frozenset(self._allocated_items())
        free = frozenset(self.free_blocks())
        if not self._m.migratetypes:
            return buddy.ZoneState(
                start_pfn=self.start_pfn, end_pfn=self.end_pfn, free=free, allocated=allocated,
                holes=self.span.holes, reserved=self.span.reserved, nr_free=self.nr_free(),
                free_pages=self.free_pages)
        pfns = sorted(p for p, _ in free)
        return buddy.ZoneState(
            start_pfn=self.start_pfn, end_pfn=self.end_pfn, free=free, allocated=allocated,
            holes=self.span.holes, reserved=self.span.reserved, nr_free=self.nr_free(),
            free_pages=self.free_pages, pcp=frozenset(self._pcp_pages()),
            pageblock_order=self._m._pbo, block_types=self.block_types(),
            list_types=tuple(zip(pfns, self._list_types(pfns), strict=True)),
            nr_free_highatomic=self.nr_free_highatomic,
            nr_reserved_highatomic=self.nr_reserved_highatomic,
            highatomic_uncounted=self.highatomic_uncounted, path_era=self.era or "6.12")

    def pcp_violations(self) -> list[buddy.Violation]:
        """Each CPU's ``count`` equals the pages on its lists, every block is on the list
        of its order, ``count`` within :func:`kmem.spec.pcp.pcp_count_bound`."""
        out = []
        seen: dict[int, int] = {}
        pcp_pages = self.pcp_pages
        for cpu, (lists, count, _high, _high_min, high_max, batch, *_rest) in enumerate(
                self.pcp_fingerprint()):
            pages = 0
            for pindex, lst in enumerate(lists):
                order = pcp_spec.pindex_to_order(pindex)
                for pfn in lst:
                    if pcp_pages.get(pfn) != order or pfn in seen:
                        out.append(buddy.Violation("pcp", f"cpu {cpu}: pfn {pfn:#x} on list "
                                                          f"{pindex} is not a pcp block of "
                                                          f"order {order}"))
                    seen[pfn] = order
                    pages += 1 << order
            if pages != count:
                out.append(buddy.Violation("pcp", f"cpu {cpu}: count {count} but the lists "
                                                  f"hold {pages} pages"))
            bound = pcp_spec.pcp_count_bound(high_max, batch)
            if count > bound:
                out.append(buddy.Violation("pcp", f"cpu {cpu}: count {count} exceeds "
                                                  f"{bound}"))
        if len(seen) != len(pcp_pages):
            out.append(buddy.Violation("pcp", "pcp_pages and the pcp lists differ"))
        return out

    def __repr__(self) -> str:
        return (f"<Zone {self.name} pfn [{self.start_pfn:#x}, {self.end_pfn:#x}) "
                f"free {self.free_pages}/{self.managed_pages}>")


class _CompoundHeads:
    """The head pfns of __GFP_COMP blocks, read from the arena."""

    def __init__(self, m: MtMachine) -> None:
        self._m = m

    def __contains__(self, pfn: object) -> bool:
        return (isinstance(pfn, int) and 0 <= pfn < len(self._m._comp)
                and bool(self._m._comp[pfn]))

    def __iter__(self) -> Iterator[int]:
        return iter(np.nonzero(self._m._comp)[0].tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self._m._comp))

    def add(self, pfn: int) -> None:
        self._m._comp[pfn] = True

    def discard(self, pfn: int) -> None:
        self._m._comp[pfn] = False


class _Decision(NamedTuple):
    """What ``alloc_pages`` decides for (gfp, order, node) before the zonelist walk, from
    the spec (``gfp_zone``, the zonelist, ``alloc_passes``, ``gfp_migratetype``, the
    request's warnings): none of it reads the free counts, so it is cached as the bare
    core caches its decision rows (:meth:`kmem.fastimpl.Machine.decision_row`)."""

    highest_idx: int
    zonelist: list[MtZone]
    passes: tuple[page_alloc.AllocPass, ...]
    mt: int
    lowmem_only: bool
    lines: tuple[str, ...]  # printed on every call (VM_WARN_ON of the migratetype)
    rmqueue_lines: tuple[str, ...]  # 6.1's rmqueue __GFP_NOFAIL WARN_ON_ONCE (each call)
    row: np.ndarray  # the compiled walk's decision row (mt_kernels.R_*)
    plain: bool  # migratetypes and no dmesg line: alloc_pages' hot path takes it


def _entry(fn: Any, *example: Any) -> Any:
    """The compiled entry point of ``fn`` for the example's argument types, without
    numba's per-call type dispatch (which costs more than the step for a tuple of
    arrays: ~550 ns against ~170 ns a call, measured); the Python function (returning an
    int) where ``fn`` is not compiled (NUMBA_DISABLE_JIT, a planted-bug namespace)."""
    if not hasattr(fn, "overloads"):
        return lambda *args: int(fn(*args))
    import numba

    sig = tuple(numba.typeof(a) for a in example)
    fn.compile(sig)
    return fn.overloads[sig].entry_point  # this signature's (not the last compiled one)


class _Invalidates:
    """An attribute that is an input of the cached decisions: setting it drops them."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_inv_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj, self.slot)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.slot, value)
        obj.__dict__.setdefault("_decisions", {}).clear()
        obj.__dict__.setdefault("_hot", {}).clear()
        obj.__dict__["_batch_tables"] = {}  # run_ops' copies of the decisions
        if self.slot == "_inv_node_layouts":
            obj.__dict__["_one_node"] = len(value) == 1


class MtMachine(FastMachinePages[MtZone, Page], PathSurface[MtZone, Page]):
    """The whole path on flat arrays; the constructor of :class:`kmem.model.Machine` (the
    address rules, page contents and ZERO_PAGE: :class:`kmem.spec.page_api.MachinePages`;
    presets, NUMA entry points, the current CPU, reports and /proc rows:
    :class:`kmem.spec.machine_surface.PathSurface`)."""

    _Page = Page

    #: while reads are held (:meth:`reads_held`), what the zone readers read
    _reads: dict[Any, Any] | None = None
    #: per zone, the copies :meth:`zones_changed` compares with
    _snaps: dict[int, tuple[bytes, np.ndarray]] | None = None

    # the inputs of the cached decisions (_Decision) besides gfp, order and the node
    cma = _Invalidates()
    config = _Invalidates()
    layout = _Invalidates()
    zonelists = _Invalidates()
    node_layouts = _Invalidates()
    node_zones = _Invalidates()
    _normal_idx = _Invalidates()

    #: the compiled steps (a planted-bug variant swaps in a changed copy): ``_k`` for the
    #: 6.12 path and the bare core, ``_k61`` for the 6.1 path (the constructor makes
    #: ``_k`` the 6.1 steps on a 6.1 machine: the one place the era picks code)
    _k: Any = K
    _k61: Any = K61
    #: one node (set with node_layouts): the decisions' key needs no node
    _one_node: bool = True

    def __init__(self, layout: MachineLayout, *, policy: str = "lowest",
                 min_free_kbytes: int | None = None, watermark_scale_factor: int = 10,
                 lowmem_reserve_ratio: tuple[int, ...] | None = None,
                 comm: str = "kmem", slab: str = "slub", slab_cpus: int = 1,
                 migratetypes: bool = False, nr_cpus: int = 0,
                 pageblock_order: int = migrate.PAGEBLOCK_ORDER,
                 percpu_pagelist_high_fraction: int = 0,
                 nodes: tuple[MachineLayout, ...] = (),
                 distances: tuple[tuple[int, ...], ...] | None = None,
                 cpu_nodes: tuple[int, ...] | None = None,
                 kernel: str | kernel_spec.Kernel | None = None,
                 cma: bool | None = None, init_on_alloc: bool | None = None) -> None:
        opts.check_policy(policy)
        self._decisions: dict[tuple[int, int, int], _Decision] = {}
        #: order -> gfp -> the decision row of a plain decision on a one-node machine:
        #: alloc_pages' hot path (two int subscripts cost less than a 3-tuple key and the
        #: decision's attributes, ~300 instructions a call under callgrind)
        self._hot: dict[int, dict[int, np.ndarray]] = {}
        self._batch_tables: dict[int, Any] = {}  # run_ops' decision rows per node
        self.kernel = kernel_spec.buddy_machine_kernel(kernel)
        config = self.kernel.debian_config
        for name, value in (("cma", cma), ("init_on_alloc", init_on_alloc)):
            if value is not None and not isinstance(value, bool):
                raise InvalidArgument(f"{name} must be True, False or None (the kernel "
                                      f"configuration's default), got {value!r}")
        self.cma = config.cma if cma is None else cma
        self.init_on_alloc = config.init_on_alloc if init_on_alloc is None else init_on_alloc
        self.path_era = self.kernel.path_era if migratetypes else None
        opts.check_path_options(policy, migratetypes, nr_cpus, percpu_pagelist_high_fraction)
        if self.path_era == "6.1":
            self._k = self._k61
        # 6.1's zone_watermark_fast keys its boost retry on the mask's __GFP_ATOMIC (its
        # numbering), 6.3+ on ALLOC_MIN_RESERVE (as kmem.model.Machine)
        atomic = (gfp_spec.get_profile(self.kernel.gfp_profile).flag("__GFP_ATOMIC")
                  if self.path_era == "6.1" else None)
        self._gfp_atomic_bit = atomic.value if atomic is not None else 0
        self._atomic_gfp: bool | None = None  # 6.1: the request's __GFP_ATOMIC, while it runs
        self._rmqueue_warnings: tuple[str, ...] = ()  # 6.1: rmqueue's, while a request runs
        node_layouts = (layout, *nodes)
        opts.check_nodes(node_layouts)
        self.node_layouts = node_layouts
        self.distances = numa.check_distances(
            distances if distances is not None else numa.default_distances(len(node_layouts)))
        if len(self.distances) != len(node_layouts):
            raise InvalidArgument(f"distances for {len(self.distances)} nodes, but "
                                  f"{len(node_layouts)} nodes")
        self.cpu_nodes = opts.check_cpu_nodes(cpu_nodes, nr_cpus, len(node_layouts))
        self.node = 0
        self._preferred_nid: int | None = None
        if slab not in ("slub", "slab"):
            raise InvalidArgument(f"slab must be 'slub' (6.x) or 'slab' (2.6.11), got {slab!r}")
        if isinstance(slab_cpus, bool) or not isinstance(slab_cpus, int) or slab_cpus < 1:
            raise InvalidArgument(f"slab_cpus must be an int >= 1, got {slab_cpus!r}")
        self.slab = slab
        self.slab_cpus = slab_cpus
        self.layout = layout
        self.config = layout.config
        self.policy = policy
        self.comm = comm
        self.migratetypes = bool(migratetypes)
        self.nr_cpus = nr_cpus
        self._cpu = 0
        self.percpu_pagelist_high_fraction = percpu_pagelist_high_fraction
        self.last_failure: str | None = None
        self.outcomes = slowpath.Outcomes(reclaim_retry_wmark=None)
        self._pbo = (migrate.check_pageblock_order(pageblock_order) if migratetypes
                     else BARE_PBO)
        self._ncpu = max(nr_cpus, 1)
        self._build_arena()
        self._bind_entries()
        self.zones: list[MtZone] = []
        self.node_zones = []
        g = 0
        for nid, node_layout in enumerate(node_layouts):
            zones = []
            for idx, span in enumerate(node_layout.zones):
                zones.append(MtZone(self, span, idx, nid, g))
                g += 1
            self.node_zones.append(zones)
            self.zones.extend(zones)
        self._init_zones()
        self.zonelists = numa.build_all_zonelists(
            self.distances, [[z.managed_pages for z in zones] for zones in self.node_zones],
            frozenset())  # built before any CPU joins its node (as the model)
        self.memory = PageContents()
        self._stored = self.memory._pages  # the pages holding data (dirty_pages() > 0)
        # pfn -> its handle (see _page), made at boot as the kernel's mem_map: the batch
        # runs each new (gfp, order) key's first operation through alloc_pages, and
        # making 8 bytes per pfn there cost a fresh machine's first batch ~100 ns/op at
        # 2^22 pages (b, 200,000 operations; 12,653 page faults in the timed part)
        self._pages: list[Page | None] = [None] * self._npfn
        self.dmesg: list[str] = []
        self.compound_heads = _CompoundHeads(self)
        self._virtual: dict[int, int] = {}
        self._order_warned = False
        self._warned_once: set[str] = set()
        self.clock_s = 0.0
        self._warn_alloc_rs = page_alloc.RatelimitState()
        self.watermark_boost_factor = watermarks.DEFAULT_WATERMARK_BOOST_FACTOR
        self.from_proc_report: tuple[str, ...] = ()
        self._normal_idx = (self.config.idx(ZoneType.NORMAL) if self.config.has(ZoneType.NORMAL)
                            else 0)
        self._movable_idx = (self.config.idx(ZoneType.MOVABLE)
                             if self.config.has(ZoneType.MOVABLE) else len(self.config.zones) - 1)
        self._zero_page: Page | None = None
        self._direct_map_setup()
        self.setup_watermarks(min_free_kbytes=min_free_kbytes,
                              watermark_scale_factor=watermark_scale_factor,
                              lowmem_reserve_ratio=lowmem_reserve_ratio)
        for zone in self.zones:
            if zone.ztype is not ZoneType.DEVICE:
                self._boot_zone(zone)

    # -- the arena -------------------------------------------------------------------------
    def _build_arena(self) -> None:
        spans = [z for node in self.node_layouts for z in node.zones]
        npfn = max([z.end_pfn for z in spans] + [1])
        nz = len(spans)
        pbo = self._pbo
        self._npfn = npfn
        nlists = nz * NR_PAGE_ORDERS * migrate.MIGRATE_TYPES + nz * self._ncpu * pcp_spec.NR_PCP_LISTS
        npb = 0
        pbbase = []
        for span in spans:
            pbbase.append(npb)
            if span.end_pfn > span.start_pfn:
                npb += ((span.end_pfn - 1) >> pbo) - (span.start_pfn >> pbo) + 1
        self._S = K.build_arena(npfn, nlists, nz, nz * self._ncpu, max(npb, 1))
        self._A, self._W, self._ref, self._resv, self._comp = K.arena_views(self._S)
        (self._nxt, self._prv, self._P, self._LH, self._LT, self._LN, self._Z, self._PB,
         self._C) = self._A
        for g, span in enumerate(spans):
            Zr = self._Z[g]
            Zr[K.Z_START], Zr[K.Z_END] = span.start_pfn, span.end_pfn
            Zr[K.Z_PB0] = span.start_pfn >> min(pbo, 62)
            Zr[K.Z_PBBASE] = pbbase[g]
            Zr[K.Z_PBO] = pbo
            Zr[K.Z_NCPU] = self._ncpu
            Zr[K.Z_MANAGED] = span.managed_pages
            Zr[K.Z_IDX] = g
            Zr[K.Z_CMA] = int(self.cma)
        for span in spans:  # holes and reserved ranges: refcount 1, PG_reserved
            for s, e in (*span.holes, *span.reserved):
                self._ref[s:e] = 1
                self._resv[s:e] = True

    def _bind_entries(self) -> None:
        """The per-operation compiled entries (``mt_kernels.e_*``), bound once; the
        machine's compiled steps (``_k``) are a planted-bug namespace's Python where they
        were swapped."""
        k, S = self._k, self._S
        if self.path_era == "6.1":
            # 6.1's walk runs in Python over the 6.1 steps (_get_page_from_freelist_61,
            # _zone_allows_61); every free takes the Python guards, then _k.free_block
            self._e_free = lambda *args: 1
            return
        row = np.zeros(K.R_ZL + 2, np.int64)
        self._e_alloc = _entry(k.e_alloc_fast, S, row, 0, 0)
        self._e_free = _entry(k.e_free_fast, S, 0, 0, 0)
        self._e_get_page = _entry(k.e_get_page, S, row, 0, 0, 0)
        self._e_zone_allows = _entry(k.e_zone_allows, S, 0, 0, 0, 0, True)

    def _init_zones(self) -> None:
        """``memmap_init_range``: each pageblock-aligned pfn of memory makes its pageblock
        MOVABLE; a hole's pageblock bits stay 0 (UNMOVABLE). A bare zone keeps one list
        per order (type 0)."""
        if not self.migratetypes:
            return
        pbo = self._pbo
        for zone in self.zones:
            if zone.end_pfn <= zone.start_pfn:
                continue
            base = int(zone._z[K.Z_PBBASE])
            first = zone.start_pfn >> pbo
            for pb in range(first, ((zone.end_pfn - 1) >> pbo) + 1):
                self._PB[base + pb - first] = (migrate.MIGRATE_MOVABLE
                                               if self._is_memory_pfn(pb << pbo)
                                               else migrate.MIGRATE_UNMOVABLE)

    def _lists(self, lo: int, hi: int) -> list[tuple[int, ...]]:
        """Lists ``lo`` .. ``hi - 1``, each head first (:func:`mt_kernels.lists_out`)."""
        lens = np.zeros(hi - lo, np.int64)
        out = np.empty(int(self._LN[lo:hi].sum()), np.int64)
        got = K.lists_out(self._A, lo, hi, out, lens)
        flat = out[:got].tolist()
        res: list[tuple[int, ...]] = [()] * (hi - lo)
        nonempty = np.nonzero(lens)[0]
        ends = np.cumsum(lens)[nonempty].tolist()
        for i, k, end in zip(nonempty.tolist(), lens[nonempty].tolist(), ends, strict=True):
            res[i] = tuple(flat[end - k:end])
        return res

    def _list(self, lid: int) -> list[int]:
        if self._A[3][lid] < 0:  # an empty list: what list_out returns, without the call
            return []
        n = int(self._LN[lid])
        out = np.zeros(n, np.int64)
        got = self._k.list_out(self._A, lid, out)
        return out[:got].tolist()

    def _boot_zone(self, zone: MtZone) -> None:
        chunks = [b for s, e in zone.managed_ranges for b in buddy.free_pages_memory_chunks(s, e)]
        if not chunks:
            return
        arr = np.array(chunks, np.int64).reshape(-1, 2)
        if self.migratetypes:
            self._k.boot_chunks(self._A, zone.zone_idx_global, arr, K.TO_TAIL)
        else:  # Zone.boot: each chunk to the list tail
            self._k.load_blocks(self._A, zone.zone_idx_global, arr)

    def _load_zone(self, zone: MtZone, free_blocks: list[tuple[int, int]],
                   allocated_blocks: list[tuple[int, int]],
                   free_types: dict[int, int] | None) -> None:
        z = zone.zone_idx_global
        s, e = zone.start_pfn, zone.end_pfn
        P = self._P
        for order in range(NR_PAGE_ORDERS):
            for mt in range(migrate.MIGRATE_TYPES):
                lid = K.buddy_lid(z, order, mt)
                self._LH[lid] = self._LT[lid] = -1
                self._LN[lid] = 0
        Zr = self._Z[z]
        Zr[K.Z_NRFREE:K.Z_NRFREE + NR_PAGE_ORDERS] = 0
        Zr[K.Z_FREE] = Zr[K.Z_HAFREE] = 0
        P[K.P_FORD, s:e] = -1
        P[K.P_FMT, s:e] = -1
        P[K.P_AORD, s:e] = -1
        blocks = sorted(free_blocks)
        if free_types and self.migratetypes:
            for pfn, order in blocks:
                block_mt = free_types.get(pfn)
                if block_mt is not None:
                    self._k.change_pageblock_range(self._A, z, pfn, order, block_mt)
        if blocks:
            self._k.load_blocks(self._A, z, np.array(blocks, np.int64).reshape(-1, 2))
        for pfn, order in allocated_blocks:
            P[K.P_AORD, pfn] = order
            self._ref[pfn] = 1

    # -- watermarks (setup_watermarks, presets, NUMA, cpu, /proc: kmem.spec.machine_surface)
    def _watermarks_changed(self) -> None:
        for zone in self.zones:
            if self.migratetypes:
                zone.movable_idx = self._movable_idx
            if self.migratetypes and self.nr_cpus and zone.present_pages:
                split = numa.nr_split_cpus(self.cpu_nodes.count(zone.node), 0, self.nr_cpus)
                self._setup_pageset(zone, split)

    def _setup_pageset(self, zone: MtZone, nr_split_cpus: int) -> None:
        """``zone_set_pageset_high_and_batch`` for every CPU (creating the pagesets)."""
        high_min, high_max, batch = pcp_spec.pageset_high_and_batch(
            low_wmark=zone.watermark[1], managed_pages=zone.managed_pages,
            nr_split_cpus=max(1, nr_split_cpus),
            high_fraction=self.percpu_pagelist_high_fraction)
        if self.path_era == "6.1":
            # 6.1's zone_set_pageset_high_and_batch: one high, set directly (as the model)
            high_max = high_min
        if not zone.pcp:
            zone.pcp = [PcpView(zone, cpu) for cpu in range(self.nr_cpus)]
            zone._z[K.Z_HASPCP] = 1
        for p in zone.pcp:
            p.high_min, p.high_max, p.batch = high_min, high_max, batch
            if self.path_era == "6.1":
                p.high = high_min

    # -- page descriptors (addresses and handles: kmem.fastimpl.handles) ------------------
    def _own(self, page: object) -> Page:
        if type(page) is not Page or page._m is not self:
            raise InvalidArgument(f"{page!r} is not a struct page of this machine")
        return page

    def _compound_tail_head(self, zone: MtZone, pfn: int) -> int | None:
        block = zone.find_allocated(pfn)
        if block is not None and block[0] != pfn and self._comp[block[0]]:
            return block[0]
        return None

    def _folio(self, page: Page) -> tuple[MtZone, Page]:
        zone = self.zone_of(page.pfn)
        assert zone is not None
        head = self._compound_tail_head(zone, page.pfn)
        return zone, (self._page(head) if head is not None else page)

    # -- allocation ------------------------------------------------------------------------
    def alloc_pages(self, gfp: int, order: int = 0) -> Page | None:
        """``alloc_pages(gfp, order)`` (see :meth:`kmem.model.Machine.alloc_pages`)."""
        d = None
        if type(gfp) is int and type(order) is int:  # the hot path: a cached decision
            try:  # (subscripts: a dict.get() call costs ~450 instructions more)
                row = self._hot[order][gfp]
            except KeyError:
                row = None
            if row is None:
                d = self._decisions.get((gfp, order, self._decision_nid()))
                if d is not None and d.plain:
                    row = d.row
            if row is not None:  # one compiled call: the fast attempt
                pfn = self._e_alloc(self._S, row, order, self._cpu)
                if pfn < 0:  # (a row from _hot is a one-node machine's: node 0)
                    return self._alloc_slow(gfp, order, d or self._decisions[gfp, order, 0])
                self.last_failure = None
                # zeroing is a no-op while no page holds data (as the bare core)
                if (self._stored
                        and page_alloc.want_init_on_alloc(gfp, self.init_on_alloc)):
                    self.memory.zero(pfn, 1 << order)
                page = self._pages[pfn]  # the table is made at boot
                return self._page(pfn) if page is None else page
        if d is None:
            gfp = _check_gfp(gfp)
            order = _check_order(order)
            if order > MAX_PAGE_ORDER:
                if not gfp & GFP_NOWARN and not self._order_warned:
                    self._order_warned = True
                    self.dmesg.append(page_alloc.order_warning_line(order))
                return None
            d = self._decide(gfp, order)
        if d.lines:
            self.dmesg.extend(d.lines)
        if self.migratetypes:
            return self._alloc_path(gfp, order, d)
        zonelist, highest_idx, passes = d.zonelist, d.highest_idx, d.passes
        if gfp & GFP_NOFAIL:  # the walk below changes nothing until it finds a block
            # (map, not a comprehension: one that reads self makes self a cell, which
            # every call of alloc_pages would then create)
            for line in page_alloc.bare_walk_warnings(
                    list(map(self.zone_view, zonelist)), gfp, order, highest_idx, passes,
                    era=self.kernel.path_era):
                self._warn_once(line)
        for attempt in passes:
            for zone in zonelist:
                if self._zone_allows(zone, order, attempt.alloc_flags, highest_idx):
                    pfn = self._rmqueue_bare(zone, order)
                    if pfn >= 0:
                        return self._prep_new_page(pfn, order, gfp)
        if slowpath.loops_without_progress(gfp, order, lowmem_only=d.lowmem_only):
            raise AllocationLivelock(slowpath.livelock_message(
                gfp, order, tuple(p.name for p in passes)))
        self._warn_alloc(gfp, order)
        return None

    def _decision_nid(self) -> int:
        """The node whose zonelist serves this call (0 on one node)."""
        return 0 if self._one_node else prepare_alloc.decision_nid(self)

    def _decide(self, gfp: int, order: int) -> _Decision:
        """The spec's decision (:func:`kmem.spec.prepare_alloc.decide`) for a checked (gfp,
        order <= MAX_PAGE_ORDER) on this call's node, with what the compiled walk needs
        (:class:`_Decision`); cached once computed without an exception."""
        base = prepare_alloc.decide(self, gfp, order)
        zonelist, passes, highest_idx, mt = (list(base.zonelist), base.passes,
                                             base.highest_idx, base.migratetype)
        lines = () if base.warning is None else (base.warning,)
        rmqueue_lines = page_alloc.nofail_warnings(gfp, order, "rmqueue",
                                                   era=self.path_era or "6.12")
        row = np.zeros(K.R_ZL + 2 * len(zonelist), np.int64)
        row[K.R_FLAGS0] = passes[0].alloc_flags if passes else 0
        row[K.R_MT], row[K.R_HIDX] = mt, highest_idx
        row[K.R_NUMA] = not self._one_node
        row[K.R_COMP] = bool(order and gfp & GFP_COMP)
        # 6.1's path runs its walk in Python (_get_page_from_freelist_61)
        plain = (self.migratetypes and bool(passes) and not lines
                 and self.path_era != "6.1")
        row[K.R_PYTHON] = not plain
        row[K.R_NZ] = len(zonelist)
        for i, zone in enumerate(zonelist):
            row[K.R_ZL + 2 * i], row[K.R_ZL + 2 * i + 1] = zone.zone_idx_global, zone.node
        d = _Decision(highest_idx, zonelist, passes, mt, base.lowmem_only, lines, rmqueue_lines,
                      row, plain)
        if len(self._decisions) >= 4096:
            self._decisions.clear()
            self._hot.clear()
        self._decisions[(gfp, order, self._decision_nid())] = d
        if plain and self._one_node:
            self._hot.setdefault(order, {})[gfp] = row
        return d

    def _rmqueue_bare(self, zone: MtZone, order: int) -> int:
        """``__rmqueue_smallest`` of a bare zone (one list per order, type 0); "lowest"
        takes the lowest pfn of the smallest non-empty order."""
        z = zone.zone_idx_global
        if self.policy == "lowest":
            for current in range(order, NR_PAGE_ORDERS):
                lst = self._list(K.buddy_lid(z, current, 0))
                if lst:
                    pfn = min(lst)
                    self._k.page_del_and_expand(self._A, z, pfn, order, current, 0)
                    self._P[K.P_AORD, pfn] = order
                    return pfn
            return -1
        pfn = int(self._k.rmqueue_smallest_mt(self._A, z, order, 0))
        if pfn >= 0:
            self._P[K.P_AORD, pfn] = order
        return pfn

    def vmstat_update(self, cpu: int) -> bool:
        """One run of the vmstat worker on ``cpu`` (mm/vmstat.c of 6.12
        ``refresh_cpu_vm_stats``): ``decay_pcp_high`` of that CPU's pageset in every
        populated zone (the spec's :func:`kmem.spec.pcp.decay_pcp_high` gives the new high
        and the chunks, each freed by the compiled ``free_pcppages_bulk`` from pindex 0).
        Returns whether there is more to do."""
        if not self.nr_cpus or not self.migratetypes:
            raise InvalidArgument("vmstat_update needs per-CPU lists (migratetypes=True and "
                                  "nr_cpus >= 1)")
        if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < self.nr_cpus:
            raise InvalidArgument(f"cpu must be an int in 0..{self.nr_cpus - 1}, got {cpu!r}")
        todo = False
        if self.path_era == "6.1":
            return todo  # 6.1 has no decay_pcp_high (6.7+)
        for zone in self.zones:
            if zone.pcp and zone.present_pages:
                p = zone.pcp[cpu]
                p.high, chunks, more = pcp_spec.decay_pcp_high(
                    high=p.high, high_min=p.high_min, count=p.count, batch=p.batch)
                for chunk in chunks:
                    self._k.free_pcppages_bulk(self._A, zone.zone_idx_global, cpu, chunk, 0)
                todo |= more
        return todo

    def zone_view(self, zone: MtZone) -> page_alloc.ZoneView:
        """:meth:`kmem.model.Machine.zone_view`."""
        if self.migratetypes:
            return page_alloc.path_zone_view(zone, self.path_era, self.cpu)
        return page_alloc.bare_zone_view(zone)

    def _alloc_path(self, gfp: int, order: int, d: _Decision) -> Page | None:
        """``__alloc_pages`` with migratetypes: the fast attempt and the slow path of
        :func:`kmem.spec.slowpath.slowpath`, each ``get_page`` step a zonelist walk. The
        fast attempt (the walk's first step, ``passes[0]``) runs before the walk is
        started: the walk is needed only when it fails."""
        if self.path_era == "6.1":
            self._atomic_gfp = bool(gfp & self._gfp_atomic_bit)
            self._rmqueue_warnings = d.rmqueue_lines
            pfn = self._get_page_from_freelist_61(d.zonelist, order, d.passes[0].alloc_flags,
                                                  d.highest_idx, d.mt)
        else:
            pfn = self._e_alloc(self._S, d.row, order, self._cpu)
        if pfn >= 0:
            self.last_failure = None
            return self._prep_new_page(pfn, order, gfp)
        return self._alloc_slow(gfp, order, d)

    def _alloc_slow(self, gfp: int, order: int, d: _Decision) -> Page | None:
        """The slow path of :func:`kmem.spec.slowpath.slowpath` after a failed fast
        attempt (which the walk's first step stands for): :func:`kmem.spec.slowpath.run_on`."""
        def get_page(alloc_flags: int) -> int | None:
            pfn = self._get_page_from_freelist(d, order, alloc_flags)
            return pfn if pfn >= 0 else None

        pfn = slowpath.run_on(self, gfp, order, get_page, zonelist=d.zonelist,
                              highest_idx=d.highest_idx, mt=d.mt,
                              fast_flags=d.passes[0].alloc_flags, lowmem_only=d.lowmem_only,
                              fast_done=True)
        return None if pfn is None else self._prep_new_page(pfn, order, gfp)

    def _unreserve_highatomic(self, zonelist: list[MtZone], mt: int, force: bool) -> bool:
        for z in zonelist:
            if self._k.unreserve_highatomic_pageblock(self._A, z.zone_idx_global, mt, force):
                z.highatomic_uncounted |= mt == migrate.MIGRATE_HIGHATOMIC
                return True
        return False

    def _get_page_from_freelist(self, d: _Decision, order: int, alloc_flags: int) -> int:
        """``get_page_from_freelist`` over ``d``'s zonelist with ``alloc_flags``: the compiled
        walk (:func:`kmem.fastimpl.mt_kernels.get_page_from_freelist`). -1 when no zone
        gives a block."""
        if self.path_era == "6.1":
            return self._get_page_from_freelist_61(d.zonelist, order, alloc_flags,
                                                   d.highest_idx, d.mt)
        return self._e_get_page(self._S, d.row, order, alloc_flags, self._cpu)

    def _get_page_from_freelist_61(self, zonelist: list[MtZone], order: int,
                                   alloc_flags: int, highest_idx: int, mt: int) -> int:
        """6.1's ``get_page_from_freelist``, in Python over the 6.1 steps (``_k``): ZONE_BELOW_HIGH, the watermark, ``rmqueue`` and the
        highatomic reservation; with ALLOC_NOFRAGMENT a failed walk (or a remote node)
        retries without it. -1 when no zone gives a block."""
        numa = len(self.node_zones) > 1
        Z = self._Z
        while True:
            no_fallback = alloc_flags & ALLOC_NOFRAGMENT
            retry = False
            for zone in zonelist:
                if (no_fallback and numa and zone is not zonelist[0]
                        and zone.node != zonelist[0].node):
                    alloc_flags &= ~ALLOC_NOFRAGMENT
                    retry = True
                    break
                z = zone.zone_idx_global
                high_flags = (alloc_flags & ~(ALLOC_NO_WATERMARKS | ALLOC_WMARK_MASK)) | WMARK_HIGH
                if Z.item(z, K.Z_BELOW_HIGH) or not self._zone_allows_61(zone, order, high_flags,
                                                                         highest_idx):
                    Z[z, K.Z_BELOW_HIGH] = 1  # zone.below_high = True
                    if not self._zone_allows_61(zone, order, alloc_flags, highest_idx):
                        continue
                if self._rmqueue_warnings:
                    for line in self._rmqueue_warnings:
                        self._warn_once(line)
                pfn = int(self._k.rmqueue(self._A, z, self._cpu, order, mt, alloc_flags))
                if pfn >= 0:
                    if alloc_flags & ALLOC_HIGHATOMIC:
                        self._k.reserve_highatomic_pageblock(self._A, z, pfn, order)
                    return pfn
            if retry:
                continue
            if not no_fallback:
                return -1
            alloc_flags &= ~ALLOC_NOFRAGMENT

    def _zone_allows(self, zone: MtZone, order: int, alloc_flags: int,
                     highest_idx: int) -> bool:
        """:func:`kmem.spec.page_alloc.zone_allows` on the zone's counters, compiled
        (:func:`kmem.fastimpl.mt_kernels.zone_allows`; the threshold is the spec's
        :func:`~kmem.spec.watermarks.watermark_threshold`).
        ``tests/test_fastimpl_path.py`` checks it against the spec's on every zone state of
        a run."""
        if self.path_era == "6.1":
            return self._zone_allows_61(zone, order, alloc_flags, highest_idx)
        return bool(self._e_zone_allows(self._S, zone.zone_idx_global, order,
                                        alloc_flags, highest_idx, self.migratetypes))

    def _zone_allows_61(self, zone: MtZone, order: int, alloc_flags: int,
                        highest_idx: int) -> bool:
        """6.1's :func:`kmem.spec.page_alloc.zone_allows` (``zone_watermark_fast`` of
        6.1.192) on the zone's counters: the whole nr_reserved_highatomic is unusable, and
        the order-0 boost retry keys on the request's __GFP_ATOMIC (``_atomic_gfp``)."""
        if alloc_flags & ALLOC_NO_WATERMARKS:
            return True
        g = zone.zone_idx_global
        item = self._Z.item
        wmark = alloc_flags & ALLOC_WMARK_MASK
        reserve = zone._lowmem_reserve[highest_idx]
        boost = item(g, K.Z_BOOST)
        usable = item(g, K.Z_FREE) - ((1 << order) - 1)
        if not alloc_flags & ALLOC_RESERVES and self.migratetypes:  # (the bare view has 0)
            # the whole nr_reserved_highatomic (6.1.192 mm/page_alloc.c:4012)
            usable -= item(g, K.Z_HARES)
        mark = zone._watermark[wmark] + boost
        thr = watermarks.watermark_threshold(mark, alloc_flags)
        if usable > thr + reserve:
            if order == 0:
                return True
            nr_free = self._Z[g, K.Z_NRFREE + order:K.Z_NRFREE + NR_PAGE_ORDERS].tolist()
            if not self.migratetypes:  # the view has no free_lists: every block counts
                return any(nr_free)
            allowed = [migrate.MIGRATE_UNMOVABLE, migrate.MIGRATE_MOVABLE,
                       migrate.MIGRATE_RECLAIMABLE]
            if alloc_flags & ALLOC_CMA:
                allowed.append(migrate.MIGRATE_CMA)
            if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM):
                allowed.append(migrate.MIGRATE_HIGHATOMIC)
            base = zone._lid0
            mts = migrate.MIGRATE_TYPES
            counts = self._LN[base + order * mts:base + NR_PAGE_ORDERS * mts].tolist()
            return any(n and any(counts[i * mts + t] for t in allowed)
                       for i, n in enumerate(nr_free))
        if order == 0 and self._atomic_gfp and boost and wmark == WMARK_MIN:
            return usable > watermarks.watermark_threshold(zone._watermark[WMARK_MIN],
                                                           alloc_flags) + reserve
        return False

    def drain_all_pages(self, zone: MtZone | None = None) -> None:
        """``drain_all_pages(zone)``: every CPU's pcp lists back to the buddy allocator."""
        if zone is not None and not any(zone is z for z in self.zones):
            raise InvalidArgument(f"{zone!r} is not a zone of this machine")
        for z in ([zone] if zone is not None else self.zones):
            for cpu in range(len(z.pcp)):
                self._k.drain_pages_zone(self._A, z.zone_idx_global, cpu)

    def _prep_new_page(self, pfn: int, order: int, gfp: int) -> Page:
        self._ref[pfn] = 1
        # zeroing is a no-op while no page holds data (as the bare core)
        if self._stored and page_alloc.want_init_on_alloc(gfp, self.init_on_alloc):
            self.memory.zero(pfn, 1 << order)
        if order and gfp & GFP_COMP:
            self._comp[pfn] = True
        return self._page(int(pfn))  # a Python int also without the JIT

    # -- freeing -------------------------------------------------------------------------
    def free_pages(self, page: Page, order: int = 0) -> None:
        """``__free_pages(page, order)``: drop one reference; free the block at zero (see
        :meth:`kmem.model.Machine.free_pages`)."""
        if (type(page) is Page and page._m is self and type(order) is int and self.migratetypes
                and not self._e_free(self._S, page.pfn, order, self._cpu)):
            return  # the common case, in one compiled call (mt_kernels.free_fast)
        page = self._own(page)
        order = _check_order(order)
        zone = self.zone_of(page.pfn)
        assert zone is not None
        if order > MAX_PAGE_ORDER:
            raise InvalidArgument(f"order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")
        pfn = page.pfn
        held = self._P.item(K.P_AORD, pfn)
        # the head of an allocated block (aligned to its order) is no compound tail
        head = (None if held >= 0 and not pfn & ((1 << held) - 1)
                else self._compound_tail_head(zone, pfn))
        if head is not None:
            raise TailPageFree(f"pfn {pfn:#x} is a tail page of the compound block at "
                               f"pfn {head:#x}: free the head page")
        ref = int(self._ref.item(pfn))
        if ref == 0:
            raise RefcountUnderflow(f"pfn {pfn:#x} has refcount 0: it is free, never "
                                    f"allocated, or a tail page (double free?)")
        compound = bool(self._comp.item(pfn))
        if ref == 1:
            self._check_free_state(pfn)
            zone.check_free(pfn, order)
            self._ref[pfn] = 0
            self._release(zone, pfn, order)
        elif not compound and order > 0:
            zone.check_free(pfn, order)
            self._ref[pfn] = ref - 1
            if self.migratetypes:
                self._k.free_tails(self._A, zone.zone_idx_global, self.cpu, pfn, order)
            else:
                self._P[K.P_AORD, pfn] = 0
                for tpfn, torder in buddy.free_tail_portions(pfn, order):
                    self._k.free_one_page_mt(self._A, zone.zone_idx_global, tpfn, torder, 0,
                                       K.TO_LIKELY)
        else:
            self._ref[pfn] = ref - 1

    def _check_free_state(self, pfn: int) -> None:
        if self._resv.item(pfn):
            raise BadPageState(f"BUG: Bad page state in process {self.comm}  pfn:{pfn:05x}: "
                               f"PG_reserved is set (a reserved page is never freed)",
                               "PAGE_FLAGS_CHECK_AT_FREE flag(s) set")

    def _release(self, zone: MtZone, pfn: int, order: int) -> None:
        self._comp[pfn] = False
        z = zone.zone_idx_global
        if self.migratetypes:
            self._k.free_block(self._A, z, self.cpu, pfn, order)
        else:
            self._P[K.P_AORD, pfn] = -1
            self._k.free_one_page_mt(self._A, z, pfn, order, 0, K.TO_LIKELY)

    def get_page(self, page: Page) -> None:
        page = self._own(page)
        _, target = self._folio(page)
        if self._ref[target.pfn] <= 0:
            raise GetPageOnFreePage(f"pfn {page.pfn:#x} has refcount 0: nobody holds it "
                                    f"(free, or a tail page of a non-compound block)")
        self._ref[target.pfn] += 1

    def put_page(self, page: Page) -> None:
        page = self._own(page)
        zone, target = self._folio(page)
        pfn = target.pfn
        ref = int(self._ref[pfn])
        if ref <= 0:
            raise RefcountUnderflow(f"pfn {pfn:#x} has refcount 0 (put_page on a "
                                    f"free page)")
        if ref > 1:
            self._ref[pfn] = ref - 1
            return
        self._check_free_state(pfn)
        held = int(self._P[K.P_AORD, pfn])
        if held < 0:
            raise BadPageState(f"pfn {pfn:#x} is not an allocated block", "nonzero _refcount")
        if held > 0 and not self._comp[pfn]:
            raise FreeOrderMismatch(
                f"put_page on the last reference of a non-compound order-{held} block at pfn "
                f"{pfn:#x}: the kernel would free only the first page and leak the "
                f"rest; use __free_pages(page, {held})")
        self._ref[pfn] = 0
        self._release(zone, pfn, held)

    def page_count(self, page: Page) -> int:
        return int(self._ref[self._folio(self._own(page))[1].pfn])

    @property
    def slab_allocator(self) -> Any:
        raise InvalidArgument("the slab layer (kmem.model.slab) runs on kmem.model.Machine; "
                              "kmem.fastimpl implements the page allocator only")

    # -- state and checking (page contents, zone(), state(): MachinePages) ---------------
    def zones_changed(self) -> list[bool]:
        """Per zone, whether anything its readers read (the page descriptors' list type,
        pcp order and allocation order over its span, its counters, its CPUs' pcp
        counters, its pageblock types, its free and pcp lists as they walk them) changed
        since the last call: True at the first call, and for every zone when compiled
        code is off. Exact: compared with copies (the descriptors as bytes, the rest in
        :func:`mt_kernels.zone_changed`), no digest. The whole-path fuzzer reads and
        checks again only the zones that changed."""
        if _JIT_DISABLED:
            return [True] * len(self.zones)
        if self._snaps is None:
            self._snaps = {}
        out = []
        for zone in self.zones:
            z, lo, hi, plo, phi, pb0, pb1 = args = zone._change_args()
            rows = self._P[_READ_ROWS, zone.start_pfn:zone.end_pfn].tobytes()
            snap = self._snaps.get(z)
            got = 2 if snap is None else int(K.zone_changed(self._A, *args, snap[1]))
            if snap is None or got == 2:  # no copy yet, or too small a one: a new one
                size = (self._Z.shape[1] + self._C.shape[1] * int(self._Z[z, K.Z_NCPU])
                        + (pb1 - pb0) + 4 * ((hi - lo) + (phi - plo))
                        + int(self._LN[lo:hi].sum()) + int(self._LN[plo:phi].sum()))
                copy = np.zeros(size, np.int64)
                K.zone_changed(self._A, *args, copy)
                got = 2
            else:
                copy = snap[1]
                if rows != snap[0]:
                    got = 1
            self._snaps[z] = (rows, copy)
            out.append(got != 0)
        return out

    @contextlib.contextmanager
    def reads_held(self) -> Iterator[None]:
        """Within: each zone reader (free lists, pcp lists and counters, allocated blocks,
        pcp blocks, pageblock types) reads the arena once, and a second fingerprint or
        state built from them reuses what the first read. For checkers that change
        nothing meanwhile."""
        if self._reads is not None:
            yield
            return
        self._reads = {}
        try:
            yield
        finally:
            self._reads = None

    def check_invariants(self, zone_check: Callable[[buddy.ZoneState], list[buddy.Violation]]
                         = buddy.check_invariants, *,
                         zones: Iterable[int] | None = None) -> list[buddy.Violation]:
        """As the model's (``zone_check``: the spec's check or a memo of it); ``zones``:
        only the zones at these indices of :attr:`zones` (those :meth:`zones_changed`
        names, when the others were found clean before)."""
        out: list[buddy.Violation] = []
        for zone in self.zones if zones is None else [self.zones[i] for i in zones]:
            out.extend(zone_check(zone.state()))
            if self.migratetypes:
                out.extend(zone.pcp_violations())
        return out

    @property
    def pcp_pages_total(self) -> int:
        return sum(p.count for z in self.zones for p in z.pcp)

    # -- /proc -----------------------------------------------------------------------------
    def _pagesets(self, zone: MtZone) -> tuple[tuple[int, int, int, int, int, int, int],
                                               ...] | None:
        if not zone.pcp or not zone.present_pages:
            return None
        threshold = pcp_spec.stat_threshold(zone.managed_pages, self.nr_cpus)
        return tuple((cpu, p.count, p.high, p.batch, threshold, p.high_min, p.high_max)
                     for cpu, p in enumerate(zone.pcp))

    def pagetypeinfo(self, *, cma: bool | None = None) -> str:
        """/proc/pagetypeinfo (``pagetypeinfo_show``) of a machine with migratetypes; the
        CMA column by ``cma`` (default: the machine's CONFIG_CMA)."""
        if cma is None:
            cma = self.cma
        zones = [z for z in self.zones if z.present_pages]
        if not self.migratetypes and zones:
            raise InvalidArgument("pagetypeinfo needs a machine with migratetypes=True (the bare "
                                  "buddy core keeps one free list per order)")
        types = [mt for mt in range(migrate.MIGRATE_TYPES) if cma or mt != migrate.MIGRATE_CMA]
        rows: list[list[pagetypeinfo_spec.PagetypeinfoZone]] = [[] for _ in self.node_zones]
        for z in zones:
            counts = z.pageblock_counts(self._section_online)
            rows[z.node].append(pagetypeinfo_spec.PagetypeinfoZone(
                z.node, z.name, tuple(tuple(z.nr_free_mt(o, mt) for o in range(NR_PAGE_ORDERS))
                                      for mt in types),
                tuple(counts[mt] for mt in types)))
        order = self._pbo if self.migratetypes else migrate.PAGEBLOCK_ORDER
        return pagetypeinfo_spec.format_pagetypeinfo(order, rows, cma)

    @classmethod
    def from_proc(cls, zoneinfo_text: str | bytes, buddyinfo_text: str | bytes,
                  sysctls: Mapping[str, object] | str | os.PathLike[str],
                  **kwargs: Any) -> MtMachine:
        from kmem.spec.from_proc import machine_from_proc

        return machine_from_proc(cls, zoneinfo_text, buddyinfo_text, sysctls,
                                 **kwargs)

    def state_bytes(self) -> dict[str, int]:
        return {"arena": int(self._S.nbytes)}
