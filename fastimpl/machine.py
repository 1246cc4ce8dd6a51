"""fastimpl's Machine: the model's constructors and page API over one arena.

:class:`Machine` has the public surface of :class:`kmem.model.Machine` (the same
constructors, methods, zones, /proc output, exceptions). Every operation runs its
Python guards first, then exactly one compiled step (``kernels.py``); a step that
finds a misuse returns an error code before it changes anything, and the code is
raised here as the model's exception - so, as in the model, an error leaves the
machine exactly as it was.

The gfp decisions are the spec's (``gfp_zone``, ``zonelist``, ``alloc_passes``,
``watermark_threshold``, ``lowmem_reserve``), evaluated once per distinct
``(gfp, order)`` into a table row of the arena; the compiled step only compares
NR_FREE_PAGES with the row's thresholds and walks the row's zonelist.

Page handles (:class:`Page`) are one object per pfn, as the kernel's ``struct page *``
and the model's pages are: a machine creates a pfn's handle the first time it hands
the pfn out and returns that same object ever after (``alloc_pages`` after a free and
a new allocation, ``pfn_to_page``, ``virt_to_page``), so ``is`` and ``==`` agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmem.spec import (
    buddy,
    machine_options,
    numa,
    page_alloc,
    prepare_alloc,
    slowpath,
    watermarks,
)
from kmem.spec import kernel as kernel_spec
from kmem.spec.alloc_flags import ALLOC_MIN_RESERVE, WMARK_MIN
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from kmem.spec.errors import (
    AllocationLivelock,
    BadPageState,
    BadRange,
    FreeOrderMismatch,
    GetPageOnFreePage,
    InvalidArgument,
    KmemError,
    RefcountUnderflow,
    TailPageFree,
    UnalignedFree,
)
from kmem.spec.machine_surface import MachineSurface
from kmem.spec.memory import PageContents
from kmem.spec.zones import MachineLayout, ZoneSpan, ZoneType

from . import arrays as A
from . import kernels as K
from .handles import FastMachinePages, PageHandle

GFP_ZERO = page_alloc.GFP_ZERO_BIT
GFP_COMP = page_alloc.GFP_COMP_BIT
GFP_NOWARN = page_alloc.GFP_NOWARN_BIT
_check_gfp = page_alloc.check_gfp
_check_order = page_alloc.check_order


def _entry(dispatcher: Any, *example: Any) -> Any:
    """The compiled entry point of ``dispatcher`` for the example's argument types: the
    C wrapper without numba's per-call type dispatch (about 150 ns less per call).
    With NUMBA_DISABLE_JIT the plain Python function (returning an int, as the
    compiled one does)."""
    if K.JIT_DISABLED:  # the Python function, its NumPy integer result as an int
        return lambda *args: int(dispatcher(*args))
    dispatcher.compile(tuple(numba_typeof(a) for a in example))
    sig = dispatcher.signatures[-1]
    return dispatcher.overloads[sig].entry_point


def numba_typeof(value: Any) -> Any:
    import numba

    return numba.typeof(value)


#: decision rows per inputs of :meth:`Machine._decision_row` (:meth:`Machine._row_inputs`)
_SHARED_ROWS: dict[tuple[Any, ...], dict[tuple[int, int], tuple[np.ndarray, AllocPrep]]] = {}


@dataclass(frozen=True)
class AllocPrep:
    """What an allocation request does besides walking the zonelist: dmesg lines before
    the walk (every time), the __GFP_NOFAIL WARN_ON_ONCE lines it may print during the
    walk (once per boot; which ones depends on where the walk gets:
    :meth:`Machine._nofail_walk`), and, for a __GFP_NOFAIL request that never fails, the
    pass names of its AllocationLivelock."""

    lines: tuple[str, ...]
    once_lines: tuple[str, ...]
    livelock_passes: tuple[str, ...]


class Page(PageHandle):
    """``struct page *``: the handle on one pfn of one machine (:mod:`kmem.fastimpl.handles`);
    the descriptor itself lives in the machine's arrays (refcount, order, flags)."""

    __slots__ = ()

    @property
    def refcount(self) -> int:
        """``page_ref_count`` of this page (not of its folio)."""
        return int(self._m._v.ref[self.pfn])

    _refcount = refcount

    @property
    def reserved(self) -> bool:
        """PG_reserved."""
        return bool(self._m._v.flg[self.pfn] & A.F_RESV)

    @reserved.setter
    def reserved(self, value: bool) -> None:
        flg = self._m._v.flg
        flg[self.pfn] = (flg[self.pfn] | A.F_RESV) if value else (flg[self.pfn] & ~A.F_RESV)


class FreeAreaView:
    """``struct free_area`` of one zone and order, read from the arena."""

    __slots__ = ("_zone", "_order")

    def __init__(self, zone: Zone, order: int) -> None:
        self._zone, self._order = zone, order

    @property
    def nr_free(self) -> int:
        return int(self._zone._m._v.M[self._zone._zb + A.Z_NRFREE + self._order])

    @property
    def free_list(self) -> list[int]:
        return self._zone.free_list_order(self._order)


class _Allocated(Mapping[int, int]):
    """A zone's allocated blocks (head pfn -> order), read from the descriptor flags."""

    def __init__(self, zone: Zone) -> None:
        self._zone = zone

    def _heads(self) -> tuple[np.ndarray, np.ndarray]:
        z = self._zone
        if K.JIT_DISABLED:  # (numpy's passes beat a Python loop over the span)
            flg = z._m._v.flg[z.start_pfn:z.end_pfn]
            idx = np.nonzero(((flg & A.F_ORDER) != 0) & ((flg & A.F_BUDDY) == 0))[0]
            return idx + z.start_pfn, (flg[idx] & A.F_ORDER).astype(np.int64) - 1
        # one compiled pass; every head is a page that is not free, so this many suffice
        cap = max(z.end_pfn - z.start_pfn - z.free_pages, 0)
        while True:
            pfns, orders = np.empty(cap, np.int64), np.empty(cap, np.int64)
            n = int(K.k_alloc_heads(z._m._v.D, z.start_pfn, z.end_pfn, pfns, orders))
            if n <= cap:
                return pfns[:n], orders[:n]
            cap = n

    def __getitem__(self, pfn: int) -> int:
        z = self._zone
        if not (isinstance(pfn, int) and z.start_pfn <= pfn < z.end_pfn):
            raise KeyError(pfn)
        order = K.alloc_order(z._m._v.D, pfn)
        if order < 0:
            raise KeyError(pfn)
        return int(order)

    def __iter__(self) -> Iterator[int]:
        return iter(int(p) for p in self._heads()[0])

    def __len__(self) -> int:
        return len(self._heads()[0])

    def items(self) -> Any:
        heads, orders = self._heads()
        return list(zip(heads.tolist(), orders.tolist(), strict=True))


class Zone:
    """One zone: the model's ``Zone`` attributes and views, backed by the arena."""

    def __init__(self, m: Machine, span: ZoneSpan, zone_idx: int) -> None:
        self._m = m
        self._zb = A.zone_meta(zone_idx)
        self.span = span
        self.ztype = span.ztype
        self.zone_idx = zone_idx
        self.name = span.ztype.kernel_name
        self.node = 0  # the NUMA node (one node: the whole path's MtMachine has more)
        self.start_pfn = span.start_pfn
        self.end_pfn = span.end_pfn
        self.policy = m.policy
        self.managed_ranges = span.managed_ranges()
        self.managed_pages = span.managed_pages
        self.present_pages = span.present_pages
        self.watermark: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.lowmem_reserve: tuple[int, ...] = ()
        self.watermark_boost = 0
        self.free_area = [FreeAreaView(self, o) for o in range(NR_PAGE_ORDERS)]
        self.allocated = _Allocated(self)

    @property
    def spanned_pages(self) -> int:
        return self.end_pfn - self.start_pfn

    @property
    def free_pages(self) -> int:
        """NR_FREE_PAGES."""
        return int(self._m._v.M[self._zb + A.Z_FREE])

    def spans(self, pfn: int) -> bool:
        return self.start_pfn <= pfn < self.end_pfn

    def is_hole(self, pfn: int) -> bool:
        return self.span.contains(pfn) and not self.span.is_present(pfn)

    def is_reserved(self, pfn: int) -> bool:
        return self.span.is_reserved(pfn)

    def is_free_block(self, pfn: int, order: int) -> bool:
        """``page_is_buddy``: a free block of exactly this order, in this zone."""
        v = self._m._v
        if not (0 <= order <= MAX_PAGE_ORDER):
            return False
        return bool(K.is_free_block(v.S, v.M, v.D, self._zb, pfn, order,
                                    self._m.policy == "lowest"))

    def nr_free(self) -> tuple[int, ...]:
        base = self._zb + A.Z_NRFREE
        return tuple(int(x) for x in self._m._v.M[base:base + NR_PAGE_ORDERS])

    def free_list_order(self, order: int) -> list[int]:
        """The pfns on ``free_area[order]`` in the order they would be handed out."""
        n = self.free_area[order].nr_free
        out = np.zeros(n, np.int64)
        got = K.k_list(self._m._S, self.zone_idx, order, out)
        assert got == n, (got, n)
        return out.tolist()

    def free_blocks(self) -> list[tuple[int, int]]:
        return [(p, o) for o in range(NR_PAGE_ORDERS) for p in self.free_list_order(o)]

    def state(self) -> buddy.ZoneState:
        """The abstract state (:class:`kmem.spec.buddy.ZoneState`) for checking."""
        return buddy.ZoneState(
            start_pfn=self.start_pfn, end_pfn=self.end_pfn,
            free=frozenset(self.free_blocks()),
            allocated=frozenset(self.allocated.items()),
            holes=self.span.holes, reserved=self.span.reserved,
            nr_free=self.nr_free(), free_pages=self.free_pages)

    def find_allocated(self, pfn: int) -> tuple[int, int] | None:
        head = int(K.find_allocated(self._m._v.M, self._m._v.D, self._zb, pfn))
        if head < 0:
            return None
        return head, int(K.alloc_order(self._m._v.D, head))

    def load(self, free_blocks: list[tuple[int, int]],
             allocated_blocks: list[tuple[int, int]]) -> None:
        """Replace the zone's state with these free and allocated blocks (ascending, to
        the list tails, as boot would). The caller checks the invariants afterwards."""
        self._m._load_zone(self, free_blocks, allocated_blocks)

    def __repr__(self) -> str:
        return (f"<Zone {self.name} pfn [{self.start_pfn:#x}, {self.end_pfn:#x}) "
                f"free {self.free_pages}/{self.managed_pages}>")


class _CompoundHeads:
    """The head pfns of __GFP_COMP blocks (the model's ``compound_heads`` set), read-only."""

    def __init__(self, m: Machine) -> None:
        self._m = m

    def __contains__(self, pfn: object) -> bool:
        v = self._m._v
        return (isinstance(pfn, int) and 0 <= pfn < v.npfn
                and bool(v.flg[pfn] & A.F_COMP))

    def __iter__(self) -> Iterator[int]:
        return iter(np.nonzero(self._m._v.flg & A.F_COMP)[0].tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self._m._v.flg & A.F_COMP))


class Machine(FastMachinePages[Zone, Page], MachineSurface[Zone, Page]):
    """One node of physical memory with its zones and the page API (fast twin of
    :class:`kmem.model.Machine`; same constructors, arguments and behaviour; the address
    rules, page contents and ZERO_PAGE: :class:`kmem.spec.page_api.MachinePages`)."""

    _Page = Page

    def __new__(cls, layout: MachineLayout | None = None, **kwargs: Any) -> Any:
        """The whole allocation path (any of ``migratetypes``, ``nr_cpus``,
        ``percpu_pagelist_high_fraction``, ``nodes``, ``distances``, ``cpu_nodes``) is a
        :class:`kmem.fastimpl.mt_machine.MtMachine`; the bare one-node core is this class."""
        if (kwargs.get("migratetypes") or kwargs.get("nr_cpus")
                or kwargs.get("percpu_pagelist_high_fraction") or kwargs.get("nodes")
                or kwargs.get("distances") is not None or kwargs.get("cpu_nodes") is not None):
            from .mt_machine import MtMachine

            return MtMachine(layout, **kwargs)  # type: ignore[arg-type]
        return super().__new__(cls)

    def __init__(self, layout: MachineLayout, *, policy: str = "lowest",
                 min_free_kbytes: int | None = None, watermark_scale_factor: int = 10,
                 lowmem_reserve_ratio: tuple[int, ...] | None = None,
                 comm: str = "kmem", slab: str = "slub", slab_cpus: int = 1,
                 migratetypes: bool = False, nr_cpus: int = 0,
                 pageblock_order: int | None = None,
                 percpu_pagelist_high_fraction: int = 0,
                 nodes: tuple[MachineLayout, ...] = (),
                 distances: tuple[tuple[int, ...], ...] | None = None,
                 cpu_nodes: tuple[int, ...] | None = None,
                 kernel: str | kernel_spec.Kernel | None = None,
                 cma: bool | None = None, init_on_alloc: bool | None = None) -> None:
        # the modelled kernel and its configuration, as kmem.model.Machine takes them
        self.kernel = kernel_spec.buddy_machine_kernel(kernel)
        for name, value in (("cma", cma), ("init_on_alloc", init_on_alloc)):
            if value is not None and not isinstance(value, bool):
                raise InvalidArgument(f"{name} must be True, False or None (the kernel "
                                      f"configuration's default), got {value!r}")
        config = self.kernel.debian_config
        self.cma = config.cma if cma is None else cma
        self.init_on_alloc = config.init_on_alloc if init_on_alloc is None else init_on_alloc
        if slab not in ("slub", "slab"):
            raise InvalidArgument(f"slab must be 'slub' (6.x) or 'slab' (2.6.11), got {slab!r}")
        if isinstance(slab_cpus, bool) or not isinstance(slab_cpus, int) or slab_cpus < 1:
            raise InvalidArgument(f"slab_cpus must be an int >= 1, got {slab_cpus!r}")
        self.slab = slab
        self.slab_cpus = slab_cpus
        self._S = A.build_arena(layout, policy)  # validates the policy
        self._v = A.Views(self._S)
        self._npfn = int(self._v.npfn)
        self.layout = layout
        self.config = layout.config
        self.policy = policy
        self.comm = comm
        self.zones: list[Zone] = [Zone(self, span, i) for i, span in enumerate(layout.zones)]
        # the model's surface of a machine of one node without per-CPU lists (the whole
        # path's options build an MtMachine instead: see __new__)
        self.migratetypes = False
        self.nr_cpus = 0
        self.percpu_pagelist_high_fraction = 0
        self.path_era: str | None = None
        self.node_layouts = (layout,)
        self.node_zones = [self.zones]
        self.distances = numa.check_distances(numa.default_distances(1))
        self.cpu_nodes = machine_options.check_cpu_nodes(None, 0, 1)
        self.node = 0  # numa_node_id() (a machine without CPUs modelled)
        self._preferred_nid: int | None = None  # alloc_pages_node's nid while it runs
        self.zonelists = numa.build_all_zonelists(
            self.distances, [[z.managed_pages for z in self.zones]], frozenset())
        self.last_failure: str | None = None  # the whole path's slow-path step (None here)
        self.outcomes = slowpath.Outcomes(reclaim_retry_wmark=None)
        self.watermark_boost_factor = watermarks.DEFAULT_WATERMARK_BOOST_FACTOR
        #: Machine.from_proc: each difference and ignored input, one line each
        self.from_proc_report: tuple[str, ...] = ()
        self.memory = PageContents()
        self.dmesg: list[str] = []
        self.compound_heads = _CompoundHeads(self)
        self._virtual: dict[int, int] = {}
        self._order_warned = False
        self._warned_once: set[str] = set()  # WARN_ON_ONCE sites already reported
        self.clock_s = 0.0  # model time in seconds (see advance_clock)
        self._warn_alloc_rs = page_alloc.RatelimitState()
        self._normal_idx = (self.config.idx(ZoneType.NORMAL) if self.config.has(ZoneType.NORMAL)
                            else 0)
        self._has_dma = (self.config.has(ZoneType.DMA)
                         and layout.zone(ZoneType.DMA).managed_pages > 0)
        self._zero_page: Page | None = None
        # (gfp, order) -> table row, for requests without side effects before the walk;
        # the others (dmesg warnings, __GFP_NOFAIL) -> (row, AllocPrep)
        self._rows: dict[tuple[int, int], int] = {}
        # the same rows by order, then gfp (the hot path builds no key tuple)
        self._rows_by_order: dict[int, dict[int, int]] = {}
        self._special: dict[tuple[int, int], tuple[int, AllocPrep]] = {}
        # pfn -> its handle (see _page), made at boot as the kernel's mem_map: when the
        # first hand-out made it, that fell inside the first timed batch (8 B/pfn, 32 MiB
        # at 2^22 pages)
        self._pages: list[Page | None] = [None] * self._npfn
        self._stored = self.memory._pages  # the pages holding data (dirty_pages() > 0)
        self._populated = set(layout.managed_zones())
        self._direct_map_setup()
        self._mark_unmanaged()
        self.setup_watermarks(min_free_kbytes=min_free_kbytes,
                              watermark_scale_factor=watermark_scale_factor,
                              lowmem_reserve_ratio=lowmem_reserve_ratio)
        self._bind_kernels()
        for zone in self.zones:
            if zone.ztype is not ZoneType.DEVICE:  # ZONE_DEVICE never holds buddy pages
                self._boot_zone(zone)

    # -- presets (x86_32, x86_64, generic: kmem.spec.machine_surface) --------------------
    @classmethod
    def from_proc(cls, zoneinfo_text: str, buddyinfo_text: str,
                  sysctls: Mapping[str, object], **kwargs: Any) -> Machine:
        """Boot from a real machine's /proc (the placement of ``kmem.spec.from_proc``,
        which builds any machine class through its constructor and ``Zone.load``)."""
        from kmem.spec.from_proc import machine_from_proc  # off the hot path

        return machine_from_proc(cls, zoneinfo_text, buddyinfo_text, sysctls,
                                 **kwargs)

    # -- boot --------------------------------------------------------------------------------
    def _mark_unmanaged(self) -> None:
        """Holes and reserved ranges: descriptors with refcount 1 and PG_reserved."""
        v = self._v
        for span in self.layout.zones:
            for s, e in (*span.holes, *span.reserved):
                v.ref[s:e] = 1
                v.flg[s:e] = A.F_RESV

    def _boot_zone(self, zone: Zone) -> None:
        """``memblock_free_all``: ascending ``__free_pages_memory`` chunks, to the tails."""
        chunks = [b for s, e in zone.managed_ranges
                  for b in buddy.free_pages_memory_chunks(s, e)]
        if chunks:
            K.k_add_blocks(self._S, zone.zone_idx, np.array(chunks, np.int64).reshape(-1, 2))

    def _load_zone(self, zone: Zone, free_blocks: list[tuple[int, int]],
                   allocated_blocks: list[tuple[int, int]]) -> None:
        v, zb = self._v, zone._zb
        M = v.M
        s, e = zone.start_pfn, zone.end_pfn
        if self.policy == "lowest":
            for k in range(NR_PAGE_ORDERS):
                for level in range(int(M[zb + A.Z_NLEV + k])):
                    off = int(M[zb + A.Z_OFF + k * A.MAX_LEVELS + level])
                    nw = ((int(M[zb + A.Z_NBITS0]) >> k) + 63) >> 6
                    for _ in range(level):
                        nw = (nw + 63) >> 6
                    v.S[off:off + nw] = 0
        else:
            M[zb + A.Z_HEAD:zb + A.Z_HEAD + NR_PAGE_ORDERS] = -1
            M[zb + A.Z_TAIL:zb + A.Z_TAIL + NR_PAGE_ORDERS] = -1
        M[zb + A.Z_NRFREE:zb + A.Z_NRFREE + NR_PAGE_ORDERS] = 0
        M[zb + A.Z_FREE] = 0
        M[zb + A.Z_NONEMPTY] = 0
        v.flg[s:e] &= A.F_RESV
        v.ref[s:e] = np.where(v.flg[s:e] & A.F_RESV, 1, 0).astype(np.int32)
        if free_blocks:
            K.k_add_blocks(self._S, zone.zone_idx,
                           np.array(sorted(free_blocks), np.int64).reshape(-1, 2))
        for pfn, order in allocated_blocks:
            v.flg[pfn] = (v.flg[pfn] & A.F_RESV) | (order + 1)
            v.ref[pfn] = 1

    def _bind_kernels(self) -> None:
        S = self._S
        self._k_alloc = _entry(K.k_alloc, S, 0, 0)
        self._k_free = _entry(K.k_free, S, 0, 0)
        self._k_get = _entry(K.k_get, S, 0)
        self._k_put = _entry(K.k_put, S, 0)
        self._k_count = _entry(K.k_count, S, 0)

    # -- watermarks (setup_watermarks: kmem.spec.machine_surface) -------------------------
    def _watermarks_changed(self) -> None:
        if hasattr(self, "_rows"):
            self._rows.clear()  # the thresholds changed
            self._rows_by_order.clear()
            self._special.clear()
        self._batch_keys: Any = None  # run_ops' decision rows (batch.py), rebuilt on use
        # decision_row's shared rows for this machine's inputs, looked up on first use
        self._shared_rows: dict[tuple[int, int], tuple[np.ndarray, AllocPrep]] | None = None

    # -- the gfp decision table ----------------------------------------------------------
    def _prepare(self, gfp: int, order: int) -> tuple[int, AllocPrep | None]:
        """The table row for (gfp, order) and its side effects (None: none), computed from
        the spec on first use. Raises what the model raises for the mask (BadGfpZone)."""
        key = (gfp, order)
        row = self._rows.get(key)
        if row is not None:
            return row, None
        special = self._special.get(key)
        if special is not None:
            return special
        if len(self._rows) + len(self._special) >= A.TAB_ROWS:
            self._rows.clear()
            self._rows_by_order.clear()
            self._special.clear()
        values, prep = self.decision_row(gfp, order)
        row = len(self._rows) + len(self._special)
        self._v.table()[row] = values
        if prep.lines or prep.once_lines or prep.livelock_passes:
            self._special[key] = (row, prep)
            return row, prep
        self._rows[key] = row
        self._rows_by_order.setdefault(order, {})[gfp] = row
        return row, None

    def decision_row(self, gfp: int, order: int) -> tuple[np.ndarray, AllocPrep]:
        """:meth:`_decision_row`, shared by the machines whose inputs of it are equal
        (:meth:`_row_inputs`: fuzzing builds many machines of one configuration, and each
        would otherwise compute every row again). The row is read-only."""
        shared = self._shared_rows
        if shared is None:
            inputs = self._row_inputs()
            if len(_SHARED_ROWS) >= 64 and inputs not in _SHARED_ROWS:
                _SHARED_ROWS.clear()
            shared = self._shared_rows = _SHARED_ROWS.setdefault(inputs, {})
        got = shared.get((gfp, order))
        if got is None:
            got = self._decision_row(gfp, order)  # (a raise is not kept)
            got[0].flags.writeable = False
            if len(shared) >= 4096:
                shared.clear()
            shared[(gfp, order)] = got
        return got

    def _row_inputs(self) -> tuple[Any, ...]:
        """Everything :meth:`_decision_row` reads of the machine besides (gfp, order):
        the zone config, the populated zones, the NORMAL index, CONFIG_CMA, the kernel and
        every zone's watermarks, boost and lowmem_reserve."""
        return (self.config, frozenset(self._populated), self._normal_idx, self.cma,
                self.kernel,
                tuple((z.watermark, z.watermark_boost, z.lowmem_reserve) for z in self.zones))

    def _decision_row(self, gfp: int, order: int) -> tuple[np.ndarray, AllocPrep]:
        """One row of the gfp decision table (``arrays.T_*``) and the request's side effects.

        The row: the zonelist of the spec's decision
        (:func:`kmem.spec.prepare_alloc.decide_one_node`) and, per allocation pass, whether
        it skips the watermarks and, per zone, the value NR_FREE_PAGES - (2**order - 1)
        must exceed (``zone_allows``/``__zone_watermark_ok``):
        ``watermark_threshold(mark + boost, alloc_flags) + lowmem_reserve[highest]``,
        or the lower unboosted one where ``zone_allows`` retries without the boost.
        Order > MAX_PAGE_ORDER gets no pass (and no gfp checks, as in the model)."""
        r = np.zeros(A.TROW, np.int64)
        if order > MAX_PAGE_ORDER:
            return r, AllocPrep((), (), ())
        d = prepare_alloc.decide_one_node(self, gfp, order)
        hidx, passes = d.highest_idx, d.passes
        zl = [z.zone_idx for z in d.zonelist]
        if len(passes) > A.MAX_PASSES:
            raise AssertionError(f"{len(passes)} passes; the table holds {A.MAX_PASSES}")
        r[A.T_NPASS], r[A.T_NZL] = len(passes), len(zl)
        r[A.T_COMP] = 1 if order and gfp & GFP_COMP else 0
        livelocks = slowpath.loops_without_progress(gfp, order, lowmem_only=d.lowmem_only)
        r[A.T_LIVELOCK] = 1 if livelocks else 0
        r[A.T_ZL:A.T_ZL + len(zl)] = zl
        for p, attempt in enumerate(passes):
            pb = A.T_PASS + p * A.T_PSTRIDE
            flags = attempt.alloc_flags
            r[pb] = 1 if attempt.wmark is None else 0
            if attempt.wmark is None:
                continue
            for pos, z in enumerate(zl):
                zone = self.zones[z]
                reserve = zone.lowmem_reserve[hidx]
                mark = zone.watermark[attempt.wmark] + zone.watermark_boost
                thr = watermarks.watermark_threshold(mark, flags) + reserve
                if (order == 0 and flags & ALLOC_MIN_RESERVE and zone.watermark_boost
                        and attempt.wmark == WMARK_MIN):
                    thr = min(thr, watermarks.watermark_threshold(zone.watermark[WMARK_MIN],
                                                                  flags) + reserve)
                r[pb + 1 + pos] = thr
        lines = () if d.warning is None else (d.warning,)
        livelock = tuple(p.name for p in passes) if livelocks else ()
        # as the model's: the era is asked for only where a __GFP_NOFAIL warning may print
        # (the bare core runs on any kernel the layout allows; the warnings know 6.1 and 6.12)
        once = (tuple(line for where in page_alloc.NOFAIL_WARN_PLACES
                      for line in page_alloc.nofail_warnings(gfp, order, where,
                                                             era=self.kernel.path_era))
                if gfp & page_alloc.GFP_NOFAIL_BIT else ())
        return r, AllocPrep(lines, once, livelock)

    # -- page descriptors (addresses and handles: kmem.fastimpl.handles) ------------------
    def _own(self, page: object) -> Page:
        if type(page) is not Page or page._m is not self:
            raise InvalidArgument(f"{page!r} is not a struct page of this machine")
        return page

    # -- allocation (__alloc_pages) ------------------------------------------------------
    def alloc_pages(self, gfp: int, order: int = 0) -> Page | None:
        """``alloc_pages(gfp, order)``: the first page of a 2**order block, or None (see
        :meth:`kmem.model.Machine.alloc_pages`: warnings, rate-limited failure reports,
        AllocationLivelock for a __GFP_NOFAIL request no pass can satisfy)."""
        if type(gfp) is int and type(order) is int:
            try:  # (subscripts: numba-free dict.get() calls cost ~500 instructions each)
                row = self._rows_by_order[order][gfp]
            except KeyError:
                row = None
            if row is not None:  # the hot path: no side effects before the walk
                pfn = self._k_alloc(self._S, row, order)  # a Python int also without the JIT
                if pfn >= 0:
                    # want_init_on_alloc; zeroing is a no-op while no page holds data
                    if self._stored and (self.init_on_alloc or gfp & GFP_ZERO):
                        self.memory.zero(pfn, 1 << order)
                    page = self._pages[pfn]  # (the table is made at boot)
                    return self._page(pfn) if page is None else page
                self._alloc_failed(gfp, order)
                return None
        gfp = _check_gfp(gfp)
        order = _check_order(order)
        row, prep = self._prepare(gfp, order)
        if prep is not None:
            self._before_walk(prep)
            if prep.once_lines and self._nofail_pending(prep):
                self._nofail_walk(gfp, order)
        pfn = self._k_alloc(self._S, row, order)
        if pfn < 0:
            if prep is not None and prep.livelock_passes:
                raise self._livelock(gfp, order, prep)
            self._alloc_failed(gfp, order)
            return None
        if page_alloc.want_init_on_alloc(gfp, self.init_on_alloc):
            self.memory.zero(pfn, 1 << order)
        return self._page(pfn)

    def _before_walk(self, prep: AllocPrep) -> None:
        """``prepare_alloc_pages``' VM_WARN_ON (every time)."""
        self.dmesg.extend(prep.lines)

    def _nofail_pending(self, prep: AllocPrep) -> bool:
        """Whether a walk of this __GFP_NOFAIL request may still print a WARN_ON_ONCE."""
        return any(line not in self._warned_once for line in prep.once_lines)

    def _nofail_walk(self, gfp: int, order: int) -> None:
        """The __GFP_NOFAIL WARN_ON_ONCE lines the walk of (gfp, order) prints from the
        zones as they are now (:func:`kmem.spec.page_alloc.bare_walk_warnings`)."""
        d = prepare_alloc.decide_one_node(self, gfp, order)
        views = [self.zone_view(z) for z in d.zonelist]
        for line in page_alloc.bare_walk_warnings(views, gfp, order, d.highest_idx, d.passes,
                                                  era=self.kernel.path_era):
            if line not in self._warned_once:
                self._warned_once.add(line)
                self.dmesg.append(line)

    @staticmethod
    def _livelock(gfp: int, order: int, prep: AllocPrep) -> AllocationLivelock:
        return AllocationLivelock(slowpath.livelock_message(gfp, order, prep.livelock_passes))

    def _alloc_failed(self, gfp: int, order: int) -> None:
        """A NULL return: the order warning (once) or ``warn_alloc`` (rate-limited)."""
        if order > MAX_PAGE_ORDER:
            if not gfp & GFP_NOWARN and not self._order_warned:
                self._order_warned = True  # WARN_ON_ONCE
                self.dmesg.append(page_alloc.order_warning_line(order))
            return
        self._warn_alloc_rs, lines = page_alloc.warn_alloc(
            gfp, order, self._warn_alloc_rs, self.clock_s, has_managed_dma=self._has_dma,
            comm=self.comm, kernel=self.kernel)
        self.dmesg.extend(lines)

    # -- the model's NUMA and per-CPU surface, on one node without CPUs ---------------------
    def numa_node_id(self) -> int:
        """``numa_node_id()``: node 0 (``self.node``), as on the model's bare machine."""
        return self.node

    @property
    def cpu(self) -> int:
        """The CPU the caller runs on: 0 (a machine without per-CPU lists)."""
        return 0

    @cpu.setter
    def cpu(self, cpu: int) -> None:
        if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu != 0:
            raise InvalidArgument(f"cpu must be an int in 0..0 (nr_cpus=0), got {cpu!r}")

    def drain_all_pages(self, zone: Zone | None = None) -> None:
        """``drain_all_pages(zone)``: nothing to drain without per-CPU lists."""
        if zone is not None and not any(zone is z for z in self.zones):
            raise InvalidArgument(f"{zone!r} is not a zone of this machine")

    def vmstat_update(self, cpu: int) -> bool:
        """The vmstat worker's pcp decay: refused without per-CPU lists, as by the model."""
        raise InvalidArgument("vmstat_update needs per-CPU lists (migratetypes=True and "
                              "nr_cpus >= 1)")

    @property
    def pcp_pages_total(self) -> int:
        """Pages parked on per-CPU lists: none."""
        return 0

    def pagetypeinfo(self, *, cma: bool | None = None) -> str:
        """/proc/pagetypeinfo needs migratetypes: refused, as by the model's bare machine."""
        raise InvalidArgument("pagetypeinfo needs a machine with migratetypes=True (the bare "
                              "buddy core keeps one free list per order)")

    @property
    def slab_allocator(self) -> Any:
        """The slab layer runs on :class:`kmem.model.Machine` only."""
        raise InvalidArgument("the slab layer (kmem.model.slab) runs on kmem.model.Machine; "
                              "kmem.fastimpl implements the page allocator only")

    def zone_view(self, zone: Zone) -> page_alloc.ZoneView:
        return page_alloc.bare_zone_view(zone)

    # -- freeing and references -------------------------------------------------------
    def free_pages(self, page: Page, order: int = 0) -> None:
        """``__free_pages(page, order)``: drop one reference; free the block at zero."""
        if type(page) is not Page or page._m is not self:
            self._own(page)
        if type(order) is not int:
            order = _check_order(order)
        elif order < 0:
            _check_order(order)
        if order > MAX_PAGE_ORDER:
            raise InvalidArgument(f"order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")
        rc = self._k_free(self._S, page.pfn, order)
        if rc:
            raise self._error(rc, page.pfn, order)

    def get_page(self, page: Page) -> None:
        """``get_page``: take a reference (on the head, for a compound tail)."""
        page = self._own(page)
        rc = self._k_get(self._S, page.pfn)
        if rc:
            raise self._error(rc, page.pfn, 0)

    def put_page(self, page: Page) -> None:
        """``put_page``: drop a reference; at zero the whole block is freed."""
        page = self._own(page)
        rc = self._k_put(self._S, page.pfn)
        if rc:
            raise self._error(rc, page.pfn, 0)

    def page_count(self, page: Page) -> int:
        """``page_count``: the refcount of the page's folio."""
        return int(self._k_count(self._S, self._own(page).pfn))

    def _error(self, rc: int, pfn: int, order: int) -> KmemError:
        """The model's exception for error code ``rc`` of a step on ``pfn``."""
        M = self._v.M
        d0, d1 = int(M[A.H_ERR0]), int(M[A.H_ERR1])
        if rc == K.E_TAIL:
            return TailPageFree(f"pfn {pfn:#x} is a tail page of the compound block at "
                                f"pfn {d0:#x}: free the head page")
        if rc == K.E_REF0:
            return RefcountUnderflow(f"pfn {pfn:#x} has refcount 0: it is free, never "
                                     f"allocated, or a tail page (double free?)")
        if rc in (K.E_RESERVED, K.E_PUT_RESERVED):
            p = pfn if rc == K.E_RESERVED else d0
            return BadPageState(f"BUG: Bad page state in process {self.comm}  pfn:{p:05x}: "
                                f"PG_reserved is set (a reserved page is never freed)",
                                "PAGE_FLAGS_CHECK_AT_FREE flag(s) set")
        if rc == K.E_UNALIGNED:
            return UnalignedFree(f"pfn {pfn:#x} is not aligned to order {order} "
                                 f"({1 << order} pages)")
        if rc == K.E_BADRANGE:
            zone = self.zone_of(pfn)
            assert zone is not None
            return BadRange(f"block [{pfn:#x}, {pfn + (1 << order):#x}) is outside zone "
                            f"{zone.name} [{zone.start_pfn:#x}, {zone.end_pfn:#x})")
        if rc == K.E_DOUBLE:
            return BadPageState(f"pfn {pfn:#x} is already free (double free)",
                                "nonzero mapcount")
        if rc == K.E_NOTALLOC:
            return BadPageState(f"pfn {pfn:#x} does not start an allocated block",
                                "nonzero _refcount")
        if rc == K.E_ORDER:
            return FreeOrderMismatch(f"block at pfn {pfn:#x} was allocated at order {d0}, "
                                     f"freed at order {order}")
        if rc == K.E_GETFREE:
            return GetPageOnFreePage(f"pfn {pfn:#x} has refcount 0: nobody holds it "
                                     f"(free, or a tail page of a non-compound block)")
        if rc == K.E_PUT_REF0:
            return RefcountUnderflow(f"pfn {d0:#x} has refcount 0 (put_page on a "
                                     f"free page)")
        if rc == K.E_PUT_NOTBLOCK:
            return BadPageState(f"pfn {d0:#x} is not an allocated block", "nonzero _refcount")
        if rc == K.E_PUT_ORDER:
            return FreeOrderMismatch(
                f"put_page on the last reference of a non-compound order-{d1} block at pfn "
                f"{d0:#x}: the kernel would free only the first page and leak the "
                f"rest; use __free_pages(page, {d1})")
        raise AssertionError(f"unknown fastimpl error code {rc}")

    # -- state and checking (page contents, zone(), state(): MachinePages) ---------------
    def check_invariants(self, zone_check: Callable[[buddy.ZoneState], list[buddy.Violation]]
                         = buddy.check_invariants) -> list[buddy.Violation]:
        """Every buddy invariant of every zone; empty when the machine is well formed.
        ``zone_check``: the spec's check or a memo of it, as the model's."""
        out: list[buddy.Violation] = []
        for zone in self.zones:
            out.extend(zone_check(zone.state()))
        return out

    # -- sizes (/proc: kmem.spec.machine_surface) -----------------------------------------
    def state_bytes(self) -> dict[str, int]:
        """Bytes of the arena by part: free-block state (bitmaps or links), descriptors."""
        return {"allocator": A.allocator_bytes(self._S),
                "descriptors": A.descriptor_bytes(self._S),
                "arena": int(self._S.nbytes)}
