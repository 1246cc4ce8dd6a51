"""The slab layer over the page model: SLUB (6.12, the default) and classic SLAB (2.6.11).

Both allocators get their slabs from the machine's page allocator
(:meth:`~kmem.model.machine.Machine.alloc_pages`, so slab growth meets the watermarks,
the zone fallback and allocation failure) and give empty slabs back to it. Every
geometry rule (kmalloc classes, slab order, objects per slab, colouring, the per-CPU
array sizes) comes from :mod:`kmem.spec.slab`; the invariants there are checked by
:meth:`SlabAllocator.check_invariants`.

Use it through the kernel's names, machine first::

    from kmem.model import Machine
    from kmem.model import slab
    m = Machine.x86_64(512)                      # slab="slub" (default) or slab="slab"
    p = slab.kmalloc(m, 100, GFP_KERNEL)         # an address in kmalloc-128
    c = slab.kmem_cache_create(m, "dentry", 192, 0, SLAB_HWCACHE_ALIGN)
    d = slab.kmem_cache_alloc(c, GFP_KERNEL)
    slab.kmem_cache_free(c, d); slab.kfree(m, p)
    print(m.slab_allocator.slabinfo())          # /proc/slabinfo

One CPU. (``Machine(..., slab_cpus=N)`` only sizes SLUB's slabs as a kernel on N CPUs
would: ``min_objects = 4 * (fls(N) + 1)``.) SLUB's per-CPU state is one CPU slab with its lockless freelist; the per-CPU
partial lists (CONFIG_SLUB_CPU_PARTIAL), cache merging (kmem runs as with
``slab_nomerge``), random kmalloc caches, freelist randomisation and hardening, and the
debug options (red zones, poisoning, tracking) are left out. SLAB's per-CPU state is one
``array_cache`` (limit and batchcount from ``enable_cpucache``, no shared array, as on a
uniprocessor); the periodic ``cache_reap`` does not run (``kmem_cache_shrink`` drains).
The kernel's own bookkeeping allocations (``struct kmem_cache`` from the ``kmem_cache``
cache, SLUB's ``kmem_cache_node``, SLAB's off-slab ``struct slab`` and its array caches)
take no memory in the model, and those boot caches are not listed in slabinfo.

Misuse raises an exception from :mod:`kmem.spec.errors` after the checks and before any
change, so the machine is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmem.spec import gfp as gfp_spec
from kmem.spec import slab as spec
from kmem.spec.buddy import Violation
from kmem.spec.constants import PAGE_SHIFT, PAGE_SIZE
from kmem.spec.errors import (
    BadCacheArgs,
    BadPageState,
    CacheDestroyed,
    InvalidArgument,
    InvalidObjectPointer,
    KmemError,
    NotSlabObject,
    SlabDoubleFree,
    WrongSlabCache,
)

from .page import Page

if TYPE_CHECKING:
    from .machine import Machine

__all__ = ["KmemCache", "Slab", "SlabAllocator", "kmem_cache_create", "kmem_cache_alloc",
           "kmem_cache_zalloc", "kmem_cache_free", "kmem_cache_shrink", "kmem_cache_destroy",
           "kmalloc", "kzalloc", "kfree", "ksize", "ALLOCATORS"]

ALLOCATORS = ("slub", "slab")
_GFP_ZERO = gfp_spec.__GFP_ZERO
_GFP_NOWARN = gfp_spec.__GFP_NOWARN
_GFP_COMP = gfp_spec.__GFP_COMP
_GFP_DMA = gfp_spec.__GFP_DMA
_BATCHREFILL_LIMIT = 16  # mm/slab.c 2.6.11
_SHRINK_PROMOTE_MAX = 32  # mm/slub.c 6.12


class Slab:
    """One slab: ``2**order`` pages from the page allocator and the objects in them.

    ``free`` is the freelist with its head at the end (``free[-1]`` is handed out next,
    a freed object is appended): SLUB's ``slab->freelist`` (for the CPU slab,
    ``c->freelist``) and SLAB's bufctl chain alike.
    """

    __slots__ = ("cache", "page", "pfn", "order", "addr", "s_mem", "num", "free", "inuse",
                 "list", "colour_offset", "mgmt")

    def __init__(self, cache: KmemCache, page: Page, addr: int, order: int, num: int,
                 colour_offset: int = 0, mgmt: int = 0) -> None:
        self.cache = cache
        self.page = page
        self.pfn = page.pfn
        self.order = order
        self.addr = addr
        self.colour_offset = colour_offset
        self.mgmt = mgmt
        self.s_mem = addr + colour_offset + mgmt
        self.num = num
        self.free: list[int] = list(range(num - 1, -1, -1))
        self.inuse = 0
        self.list = "free"

    def object(self, idx: int) -> int:
        return self.s_mem + idx * self.cache.size

    def index_of(self, addr: int) -> int | None:
        """The object index of ``addr`` if it is an object start, else None."""
        off = addr - self.s_mem
        if off < 0 or off % self.cache.size or off // self.cache.size >= self.num:
            return None
        return off // self.cache.size

    def view(self) -> spec.SlabView:
        return spec.SlabView(self.addr, self.pfn, self.order, self.s_mem, self.num,
                             tuple(self.free), self.inuse, self.list, self.colour_offset,
                             self.mgmt)

    def __repr__(self) -> str:
        return (f"<Slab {self.cache.name} pfn {self.pfn:#x} order {self.order} "
                f"{self.inuse}/{self.num} {self.list}>")


class KmemCache:
    """``struct kmem_cache``: one object cache of either allocator."""

    def __init__(self, owner: SlabAllocator, name: str, object_size: int, align: int,
                 flags: int, ctor: Callable[[int], Any] | None) -> None:
        self.owner = owner
        self.m = owner.m
        self.name = name
        self.object_size = object_size
        self.flags = flags
        self.ctor = ctor
        self.kind = owner.kind
        self.destroyed = False  # unlinked by kmem_cache_destroy
        self.leaked = False  # destroyed with objects left (6.x keeps it, unlisted)
        self.is_kmalloc = False  # a kmalloc (general) cache: never destroyed
        self.slabs: list[Slab] = []  # every slab, in the order they were made
        self.live: set[int] = set()  # objects handed out and not freed
        if self.kind == "slub":
            lay = spec.slub_layout(object_size, align, flags, ctor=ctor is not None,
                                   nr_cpus=owner.nr_cpus)
            self.layout: spec.SlubLayout | spec.ClassicLayout = lay
            self.size, self.align, self.order, self.num = lay.size, lay.align, lay.order, lay.objects
            self.cpu_slab: Slab | None = None
            self.partial: list[Slab] = []
            self.nr_slabs = 0
            self.total_objects = 0
        else:
            cl = spec.classic_layout(object_size, align, flags, era=owner.era,
                                     offslab_lim=owner.offslab_lim)
            self.layout = cl
            self.size, self.align, self.order, self.num = cl.objsize, cl.align, cl.gfporder, cl.num
            self.lists: dict[str, list[Slab]] = {"partial": [], "full": [], "free": []}
            self.free_objects = 0
            self.colour_next = 0
            self.limit, self.batchcount, self.shared = spec.enable_cpucache(cl.objsize)
            self.free_limit = spec.classic_free_limit(self.batchcount, cl.num)
            self.ac: list[int] = []  # array_cache entries, LIFO (the hot end last)
            self.ac_touched = False

    def __repr__(self) -> str:
        return f"<kmem_cache {self.name} size {self.size} ({self.kind})>"

    def growth_requests(self, gfp: int) -> list[tuple[int, int]]:
        """The page allocations ``(gfp, order)`` a new slab tries, in order: SLUB's ``oo``
        then ``min`` attempt (after the gfp fix-up), SLAB's one ``kmem_getpages``."""
        lay = self.layout
        if isinstance(lay, spec.SlubLayout):
            fixed = gfp & ~spec.GFP_SLAB_BUG_MASK
            first, fallback = spec.slub_new_slab_gfp(fixed, lay)
            return [(first, lay.order), (fallback, lay.min_order)]
        return [(spec.classic_grow_gfp(gfp, lay), lay.gfporder)]

    # -- counters -------------------------------------------------------------------------
    def slabinfo_row(self) -> spec.SlabinfoRow:
        """``get_slabinfo`` (SLUB, 6.12) / ``s_show`` (SLAB, 2.6.11)."""
        if self.kind == "slub":
            nr_free = sum(len(s.free) for s in self.partial)  # count_partial_free_approx
            return spec.SlabinfoRow(self.name, self.total_objects - nr_free, self.total_objects,
                                    self.size, self.num, 1 << self.order, 0, 0, 0,
                                    self.nr_slabs, self.nr_slabs, 0)
        active_slabs = len(self.lists["full"]) + len(self.lists["partial"])
        num_slabs = active_slabs + len(self.lists["free"])
        active = (len(self.lists["full"]) * self.num
                  + sum(s.inuse for s in self.lists["partial"]))
        return spec.SlabinfoRow(self.name, active, num_slabs * self.num, self.size, self.num,
                                1 << self.order, self.limit, self.batchcount, 0,
                                active_slabs, num_slabs, 0)

    def view(self) -> spec.CacheView:
        if self.kind == "slub":
            counters = (("nr_slabs", self.nr_slabs), ("total_objects", self.total_objects),
                        ("nr_partial", len(self.partial)))
            return spec.CacheView(self.name, "slub", self.size, self.align,
                                  tuple(s.view() for s in self.slabs), frozenset(self.live),
                                  (), counters, num=self.num)
        lay = self.layout
        assert isinstance(lay, spec.ClassicLayout)
        return spec.CacheView(self.name, "slab", self.size, self.align,
                              tuple(s.view() for s in self.slabs), frozenset(self.live),
                              tuple(self.ac), (("free_objects", self.free_objects),),
                              lay.colour_off, lay.colour, self.num)

    def snapshot(self) -> tuple[Any, ...]:
        """Everything that defines the cache's state, for before/after comparisons."""
        slabs = tuple((s.pfn, s.order, s.list, tuple(s.free), s.inuse, s.colour_offset)
                      for s in self.slabs)
        if self.kind == "slub":
            extra: tuple[Any, ...] = (
                None if self.cpu_slab is None else self.cpu_slab.pfn,
                tuple(s.pfn for s in self.partial), self.nr_slabs, self.total_objects)
        else:
            extra = (tuple(tuple(s.pfn for s in v) for v in self.lists.values()),
                     self.free_objects, self.colour_next, tuple(self.ac), self.ac_touched)
        return (self.name, self.destroyed, self.leaked, slabs, tuple(sorted(self.live)), extra)


class SlabAllocator:
    """The machine's slab allocator: its caches, the kmalloc caches and large kmallocs."""

    def __init__(self, m: Machine, kind: str = "slub", *,
                 era: spec.SlabEra = spec.SLAB_ERA_2_6_11, nr_cpus: int = 1) -> None:
        if kind not in ALLOCATORS:
            raise InvalidArgument(f"slab allocator must be one of {ALLOCATORS}, got {kind!r}")
        self.m = m
        self.nr_cpus = nr_cpus  # SLUB's calculate_order: min_objects = 4 * (fls(nr_cpus) + 1)
        self.kind = kind
        self.era = era
        self.offslab_lim = spec.offslab_limit(era) if kind == "slab" else 0
        self.caches: list[KmemCache] = []  # slab_caches / cache_chain, oldest first
        self.slab_of_pfn: dict[int, Slab] = {}  # every page of every slab (PageSlab)
        self.large: dict[int, int] = {}  # large kmalloc: head pfn -> order
        self.tainted_bad_page = False
        self.leaked: list[KmemCache] = []  # destroyed with slabs left (SLUB): unlisted, kept
        self.kmalloc_caches: dict[tuple[str, int], KmemCache] = {}
        self._create_kmalloc_caches()

    # -- boot --------------------------------------------------------------------------
    def _create_kmalloc_caches(self) -> None:
        """``create_kmalloc_caches`` (6.12) / ``kmem_cache_init`` step 2+3 (2.6.11)."""
        if self.kind == "slub":
            for ktype in spec.KmallocType:
                for idx in spec.kmalloc_caches():
                    size = spec.KMALLOC_INFO[idx][0]
                    flags = spec.SLAB_KMALLOC | {
                        spec.KmallocType.NORMAL: spec.SLAB_NO_MERGE,
                        spec.KmallocType.RECLAIM: spec.SLAB_RECLAIM_ACCOUNT,
                        spec.KmallocType.DMA: spec.SLAB_CACHE_DMA,
                        spec.KmallocType.CGROUP: spec.SLAB_ACCOUNT}[ktype]
                    cache = self._new_cache(spec.kmalloc_cache_name(idx, ktype), size, 0, flags,
                                            None)
                    cache.is_kmalloc = True
                    self.kmalloc_caches[(ktype.name, idx)] = cache
        else:
            for cs in spec.general_cache_sizes(self.era):
                for dma in (False, True):
                    flags = spec.SLAB_HWCACHE_ALIGN | (spec.SLAB_CACHE_DMA if dma else 0)
                    cache = self._new_cache(spec.general_cache_name(cs, dma), cs, 0, flags, None)
                    cache.is_kmalloc = True
                    self.kmalloc_caches[("DMA" if dma else "NORMAL", cs)] = cache

    def _new_cache(self, name: str, size: int, align: int, flags: int,
                   ctor: Callable[[int], Any] | None) -> KmemCache:
        cache = KmemCache(self, name, size, align, flags, ctor)
        self.caches.append(cache)
        return cache

    # -- kmem_cache_create / destroy / shrink ---------------------------------------------
    def create(self, name: str, size: int, align: int = 0, flags: int = 0,
               ctor: Callable[[int], Any] | None = None) -> KmemCache:
        """``kmem_cache_create(name, size, align, flags, ctor)``."""
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise BadCacheArgs(f"kmem_cache_create({name!r}): the name must be a non-empty "
                               f"string without spaces (it is a /proc/slabinfo column)")
        for what, v in (("size", size), ("align", align), ("flags", flags)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise BadCacheArgs(f"kmem_cache_create({name}): {what} must be an int >= 0, "
                                   f"got {v!r}")
        if ctor is not None and not callable(ctor):
            raise BadCacheArgs(f"kmem_cache_create({name}): ctor must be callable or None")
        if flags & ~spec.SLAB_SUPPORTED_FLAGS or flags & spec.SLAB_KMALLOC:
            raise BadCacheArgs(f"kmem_cache_create({name}): flags {flags:#x} include bits kmem "
                               f"does not model (debug flags) or SLAB_KMALLOC")
        if align and (not spec.is_power_of_2(align) or align > PAGE_SIZE):
            raise BadCacheArgs(f"kmem_cache_create({name}): align {align} must be 0 or a power "
                               f"of two <= {PAGE_SIZE}")
        if self.kind == "slub":
            if not 1 <= size <= spec.KMALLOC_MAX_SIZE:
                raise BadCacheArgs(f"kmem_cache_create({name}) integrity check failed: size "
                                   f"{size} not in 1..KMALLOC_MAX_SIZE ({spec.KMALLOC_MAX_SIZE})")
            if any(c.name == name for c in self.caches if not c.destroyed):
                self.m.dmesg.append(f"kmem_cache of name '{name}' already exists")
        else:
            top = (1 << self.era.max_obj_order) * PAGE_SIZE
            if not self.era.word <= size <= top:
                raise BadCacheArgs(f"kmem_cache_create: Early error in slab {name} (size {size} "
                                   f"not in {self.era.word}..{top})")
            if any(c.name == name for c in self.caches if not c.destroyed):
                raise BadCacheArgs(f"kmem_cache_create: duplicate cache {name}")
        return self._new_cache(name, size, align, flags, ctor)

    def _check_live(self, cache: object) -> KmemCache:
        if not isinstance(cache, KmemCache) or cache.owner is not self:
            raise InvalidArgument(f"{cache!r} is not a kmem_cache of this machine")
        if cache.destroyed:
            raise CacheDestroyed(f"kmem_cache {cache.name} was destroyed")
        return cache

    def shrink(self, cache: KmemCache) -> int:
        """``kmem_cache_shrink``: drain the CPU cache and give every empty slab back to the
        page allocator; 0 when no slab is left."""
        cache = self._check_live(cache)
        return self._shrink(cache)

    def _shrink(self, cache: KmemCache) -> int:
        if cache.kind == "slub":
            self._flush_cpu_slab(cache)
            discard = [s for s in cache.partial if s.inuse == 0]
            promote: list[list[Slab]] = [[] for _ in range(_SHRINK_PROMOTE_MAX)]
            rest = []
            for s in cache.partial:
                free = s.num - s.inuse
                if free == s.num:
                    continue
                if free <= _SHRINK_PROMOTE_MAX:
                    promote[free - 1].insert(0, s)  # list_move: to the head of the bucket
                else:
                    rest.append(s)
            cache.partial = [s for bucket in promote for s in bucket] + rest
            for s in discard:
                self._discard(cache, s)
            return 1 if cache.nr_slabs else 0
        self._drain_ac(cache)
        while cache.lists["free"]:
            s = cache.lists["free"].pop()  # slabs_free.prev
            cache.free_objects -= cache.num
            self._discard(cache, s)
        return 1 if cache.lists["full"] or cache.lists["partial"] else 0

    def destroy(self, cache: KmemCache) -> int:
        """``kmem_cache_destroy``. With objects left: SLUB (6.12) reports them, warns, and
        unlinks the cache from slab_caches but keeps it and its slabs (the objects stay
        valid and may still be freed); SLAB (2.6.11) reports "Can't free all objects" and
        puts the cache back on the chain, usable. Returns 0 when the cache is gone."""
        cache = self._check_live(cache)
        if cache.is_kmalloc:
            raise BadCacheArgs(f"kmem_cache_destroy({cache.name}): the kmalloc caches are "
                               f"never destroyed")
        m = self.m
        if cache.kind == "slub":
            self._flush_cpu_slab(cache)
            for s in list(cache.partial):
                if s.inuse == 0:
                    cache.partial.remove(s)
                    self._discard(cache, s)
            remaining = [s for s in cache.partial]
            for s in remaining:
                taint = "Tainted: B" if self.tainted_bad_page else "Not tainted"
                m.dmesg.append("=" * 77)
                m.dmesg.append(f"BUG {cache.name} ({taint}): Objects remaining on "
                               f"__kmem_cache_shutdown()")
                m.dmesg.append("-" * 77)
                free = set(s.free)
                for i in range(s.num):
                    if i not in free:
                        m.dmesg.append(f"Object 0x{s.object(i):x} @offset={s.object(i) - s.addr}")
                fp = 0 if not s.free else s.object(s.free[-1])
                m.dmesg.append(f"Slab 0x{s.addr:x} objects={s.num} used={s.inuse} "
                               f"fp=0x{fp:x} flags=slab|head")
                self.tainted_bad_page = True
            cache.destroyed = True
            self.caches.remove(cache)
            if cache.nr_slabs:
                m.dmesg.append(f"kmem_cache_destroy {cache.name}: Slab cache still has objects "
                               f"when called from {m.comm}")
                cache.leaked = True
                self.leaked.append(cache)
                return 1
            return 0
        busy = self._shrink(cache)
        self.caches.remove(cache)
        if busy:
            m.dmesg.append(f"slab error in kmem_cache_destroy(): cache `{cache.name}': "
                           f"Can't free all objects")
            self.caches.append(cache)  # list_add: back at the head of cache_chain
            return 1
        cache.destroyed = True
        return 0

    # -- growing and discarding slabs ---------------------------------------------------
    def _fix_gfp(self, gfp: int) -> int:
        """``kmalloc_fix_flags`` (6.12): a gfp with GFP_SLAB_BUG_MASK bits is warned about
        and fixed up."""
        bad = gfp & spec.GFP_SLAB_BUG_MASK
        if not bad:
            return gfp
        fixed = gfp & ~spec.GFP_SLAB_BUG_MASK
        self.m.dmesg.append(
            f"Unexpected gfp: {bad:#x} ({gfp_spec.format_gfp_printk(bad)}). Fixing up to gfp: "
            f"{fixed:#x} ({gfp_spec.format_gfp_printk(fixed)}). Fix your code!")
        return fixed

    def _new_slab(self, cache: KmemCache, gfp: int) -> Slab | None:
        """SLUB ``new_slab``/``allocate_slab`` (oo, then the min-order fallback) or SLAB
        ``cache_grow`` (colour, ``kmem_getpages``). If the page allocator raises (e.g.
        AllocationLivelock for an unsatisfiable __GFP_NOFAIL request), the log lines
        written here are taken back, so the machine is unchanged."""
        logged = len(self.m.dmesg)
        try:
            return self._grow(cache, gfp)
        except KmemError:
            del self.m.dmesg[logged:]
            raise

    def _grow(self, cache: KmemCache, gfp: int) -> Slab | None:
        m = self.m
        if cache.kind == "slub":
            lay = cache.layout
            assert isinstance(lay, spec.SlubLayout)
            gfp = self._fix_gfp(gfp)
            first, fallback = spec.slub_new_slab_gfp(gfp, lay)
            order, num = lay.order, lay.objects
            page = m.alloc_pages(first, order)
            if page is None:
                order, num = lay.min_order, lay.min_objects
                page = m.alloc_pages(fallback, order)
                if page is None:
                    return None
            s = Slab(cache, page, m.page_address(page), order, num)
            cache.nr_slabs += 1
            cache.total_objects += num
        else:
            lay = cache.layout
            assert isinstance(lay, spec.ClassicLayout)
            colour, nxt = spec.next_colour(cache.colour_next, lay.colour)
            page = m.alloc_pages(spec.classic_grow_gfp(gfp, lay), lay.gfporder)
            cache.colour_next = nxt  # cache_grow moves on even when kmem_getpages fails
            if page is None:
                return None
            s = Slab(cache, page, m.page_address(page), lay.gfporder, lay.num,
                     colour * lay.colour_off, 0 if lay.off_slab else lay.slab_size)
            cache.lists["free"].append(s)  # list_add_tail(slabs_free)
            cache.free_objects += lay.num
        cache.slabs.append(s)
        for pfn in range(s.pfn, s.pfn + (1 << s.order)):
            self.slab_of_pfn[pfn] = s
        if cache.ctor is not None:
            for i in range(s.num):
                cache.ctor(s.object(i))
        return s

    def _discard(self, cache: KmemCache, s: Slab) -> None:
        """``discard_slab`` (SLUB) / ``slab_destroy`` (SLAB): the pages go back."""
        cache.slabs.remove(s)
        for pfn in range(s.pfn, s.pfn + (1 << s.order)):
            del self.slab_of_pfn[pfn]
        if cache.kind == "slub":
            cache.nr_slabs -= 1
            cache.total_objects -= s.num
        self.m.free_pages(s.page, s.order)

    # -- SLUB ------------------------------------------------------------------------------
    def _flush_cpu_slab(self, cache: KmemCache) -> None:
        """``deactivate_slab`` of the CPU slab (``flush_all``)."""
        s = cache.cpu_slab
        if s is None:
            return
        cache.cpu_slab = None
        s.inuse = s.num - len(s.free)
        if s.inuse == 0 and len(cache.partial) >= cache.layout.min_partial:  # type: ignore[union-attr]
            s.list = "partial"  # transiently, for _discard's bookkeeping
            self._discard(cache, s)
        elif s.free:
            s.list = "partial"
            cache.partial.insert(0, s)  # DEACTIVATE_TO_HEAD: no remote frees on one CPU
        else:
            s.list = "full"

    def _slub_alloc(self, cache: KmemCache, gfp: int) -> int:
        c = cache.cpu_slab
        if c is None or not c.free:
            # ___slab_alloc: a CPU slab without free objects just becomes a full slab (on no
            # list); the next comes from the node partial list (get_partial: its first
            # slab) or new_slab. The old one is let go only once the new one is there, so
            # that a new_slab that raises leaves everything as it was.
            if cache.partial:
                new: Slab | None = cache.partial.pop(0)
            else:
                new = self._new_slab(cache, gfp)
            if c is not None:
                c.list = "full"
                cache.cpu_slab = None
            if new is None:
                if not gfp & _GFP_NOWARN:
                    self._slab_oom(cache, gfp)
                return 0
            new.list = "cpu"
            new.inuse = new.num  # frozen: the whole freelist belongs to the CPU
            cache.cpu_slab = c = new
        return c.object(c.free.pop())

    def _slab_oom(self, cache: KmemCache, gfp: int) -> None:
        """``slab_out_of_memory`` (6.12)."""
        lay = cache.layout
        assert isinstance(lay, spec.SlubLayout)
        m = self.m
        m.dmesg.append(f"SLUB: Unable to allocate memory on node -1, "
                       f"gfp={gfp:#x}({gfp_spec.format_gfp_printk(gfp)})")
        m.dmesg.append(f"  cache: {cache.name}, object size: {cache.object_size}, buffer size: "
                       f"{cache.size}, default order: {lay.order}, min order: {lay.min_order}")
        nr_free = sum(len(s.free) for s in cache.partial)
        m.dmesg.append(f"  node 0: slabs: {cache.nr_slabs}, objs: {cache.total_objects}, "
                       f"free: {nr_free}")

    def _slub_free(self, cache: KmemCache, s: Slab, idx: int) -> None:
        if s is cache.cpu_slab:
            s.free.append(idx)  # do_slab_free fast path: onto c->freelist
            return
        was_full = s.inuse == s.num
        s.free.append(idx)
        s.inuse -= 1
        if s.inuse == 0 and len(cache.partial) >= cache.layout.min_partial:  # type: ignore[union-attr]
            if not was_full:
                cache.partial.remove(s)
            self._discard(cache, s)
        elif was_full:
            s.list = "partial"
            cache.partial.append(s)  # add_partial(n, slab, DEACTIVATE_TO_TAIL)

    # -- SLAB (2.6.11) --------------------------------------------------------------------
    def _slab_alloc(self, cache: KmemCache, gfp: int) -> int:
        if cache.ac:
            cache.ac_touched = True
            return cache.ac.pop()
        while True:  # cache_alloc_refill
            batch = cache.batchcount
            if not cache.ac_touched and batch > _BATCHREFILL_LIMIT:
                batch = _BATCHREFILL_LIMIT
            while batch > 0:
                lists = cache.lists
                if lists["partial"]:
                    s = lists["partial"].pop(0)
                elif lists["free"]:
                    s = lists["free"].pop(0)
                else:
                    break  # must_grow
                while s.inuse < s.num and batch > 0:
                    batch -= 1
                    cache.ac.append(s.object(s.free.pop()))
                    s.inuse += 1
                s.list = "full" if not s.free else "partial"
                lists[s.list].insert(0, s)  # list_add
            cache.free_objects -= len(cache.ac)
            if cache.ac:
                break
            if self._new_slab(cache, gfp) is None:
                return 0
        cache.ac_touched = True
        return cache.ac.pop()

    def _free_block(self, cache: KmemCache, objs: list[int]) -> None:
        """``free_block`` (2.6.11): objects back to their slabs; an empty slab is destroyed
        when the lists already hold more than ``free_limit`` free objects."""
        cache.free_objects += len(objs)
        for obj in objs:
            s = self.slab_of_pfn[(obj - self.m.page_offset) >> PAGE_SHIFT]
            cache.lists[s.list].remove(s)
            idx = s.index_of(obj)
            assert idx is not None
            s.free.append(idx)
            s.inuse -= 1
            if s.inuse == 0:
                if cache.free_objects > cache.free_limit:
                    cache.free_objects -= cache.num
                    s.list = "free"
                    self._discard(cache, s)
                else:
                    s.list = "free"
                    cache.lists["free"].insert(0, s)
            else:
                s.list = "partial"
                cache.lists["partial"].append(s)

    def _drain_ac(self, cache: KmemCache) -> None:
        objs, cache.ac = cache.ac, []
        self._free_block(cache, objs)

    def _slab_free(self, cache: KmemCache, obj: int) -> None:
        if len(cache.ac) >= cache.limit:  # cache_flusharray
            batch, cache.ac = cache.ac[:cache.batchcount], cache.ac[cache.batchcount:]
            self._free_block(cache, batch)
        cache.ac.append(obj)

    def drain_cpu_caches(self, cache: KmemCache) -> None:
        """SLAB ``drain_cpu_caches`` / SLUB ``flush_all``: the per-CPU objects go back to
        their slabs (empty slabs stay unless SLUB's min_partial says otherwise)."""
        cache = self._check_live(cache)
        if cache.kind == "slub":
            self._flush_cpu_slab(cache)
        else:
            self._drain_ac(cache)

    # -- objects -----------------------------------------------------------------------
    def alloc(self, cache: KmemCache, gfp: int) -> int:
        """``kmem_cache_alloc(cache, gfp)``: an object's address, or 0 (NULL)."""
        from .machine import _check_gfp

        cache = self._check_live(cache)
        gfp = _check_gfp(gfp)
        obj = self._slub_alloc(cache, gfp) if cache.kind == "slub" else self._slab_alloc(cache, gfp)
        if obj:
            cache.live.add(obj)
            if spec.slab_want_init_on_alloc(gfp, self.m.init_on_alloc, ctor=cache.ctor is not None,
                                            flags=cache.flags):
                self._zero(obj, cache.object_size)
        return obj

    def _zero(self, addr: int, length: int) -> None:
        m = self.m
        while length > 0:
            pfn, off = (addr - m.page_offset) >> PAGE_SHIFT, (addr - m.page_offset) % PAGE_SIZE
            n = min(length, PAGE_SIZE - off)
            m.memory.write(pfn, off, bytes(n))
            addr, length = addr + n, length - n

    def _locate(self, ptr: int) -> tuple[Slab | None, Page]:
        """The slab of ``ptr`` (None if its page is no slab page) and its page."""
        page = self.m.virt_to_page(ptr)  # BadVirtAddr for anything outside the direct map
        return self.slab_of_pfn.get(page.pfn), page

    def _object_checks(self, cache: KmemCache, s: Slab, ptr: int) -> int:
        if s.cache is not cache:
            raise WrongSlabCache(f"kmem_cache_free: Wrong slab cache. {cache.name} but object "
                                 f"is from {s.cache.name}")
        idx = s.index_of(ptr)
        if idx is None:
            raise InvalidObjectPointer(f"{cache.name}: Invalid object pointer 0x{ptr:x} (not the "
                                       f"start of an object of the slab at 0x{s.addr:x})")
        if ptr not in cache.live:
            raise SlabDoubleFree(f"{cache.name}: object 0x{ptr:x} is already free (double free)")
        return idx

    def free(self, cache: KmemCache, ptr: int) -> None:
        """``kmem_cache_free(cache, ptr)``."""
        if not isinstance(cache, KmemCache) or cache.owner is not self:
            raise InvalidArgument(f"{cache!r} is not a kmem_cache of this machine")
        if cache.destroyed and not cache.leaked:
            raise CacheDestroyed(f"kmem_cache {cache.name} was destroyed")
        s, _ = self._locate(ptr)
        if s is None:
            raise NotSlabObject(f"kmem_cache_free({cache.name}, 0x{ptr:x}): not a slab object")
        idx = self._object_checks(cache, s, ptr)
        self._free_checked(cache, s, idx, ptr)

    def _free_checked(self, cache: KmemCache, s: Slab, idx: int, ptr: int) -> None:
        cache.live.discard(ptr)
        if cache.kind == "slub":
            self._slub_free(cache, s, idx)
        else:
            self._slab_free(cache, ptr)

    # -- kmalloc -------------------------------------------------------------------------
    def kmalloc_cache(self, size: int, gfp: int) -> KmemCache | None:
        """The cache ``kmalloc(size, gfp)`` uses, or None (page allocator, or too large)."""
        if self.kind == "slub":
            if not 1 <= size <= spec.KMALLOC_MAX_CACHE_SIZE:
                return None
            ktype = spec.kmalloc_type(gfp)
            return self.kmalloc_caches[(ktype.name, spec.kmalloc_slab_index(size))]
        cs = spec.general_cache_for(size, self.era)
        if cs is None:
            return None
        return self.kmalloc_caches[("DMA" if gfp & _GFP_DMA else "NORMAL", cs)]

    def kmalloc(self, size: int, gfp: int) -> int:
        """``kmalloc(size, gfp)``: an address, ZERO_SIZE_PTR for 0 (SLUB), or 0 (NULL)."""
        from .machine import _check_gfp

        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"size must be an int >= 0, got {size!r}")
        gfp = _check_gfp(gfp)
        if self.kind == "slub":
            if size > spec.KMALLOC_MAX_CACHE_SIZE:
                return self._kmalloc_large(size, gfp)
            if size == 0:
                return spec.ZERO_SIZE_PTR
        cache = self.kmalloc_cache(size, gfp)
        if cache is None:
            return 0  # 2.6.11 __kmalloc: no general cache is large enough
        return self.alloc(cache, gfp)

    def _kmalloc_large(self, size: int, gfp: int) -> int:
        """``___kmalloc_large_node`` (6.12): compound pages at ``get_order(size)``."""
        gfp_spec.gfp_zone(gfp, self.m.config)  # BadGfpZone before any change
        logged = len(self.m.dmesg)
        gfp = self._fix_gfp(gfp)
        try:
            page = self.m.alloc_pages(gfp | _GFP_COMP, spec.get_order(size))
        except KmemError:
            del self.m.dmesg[logged:]
            raise
        if page is None:
            return 0
        self.large[page.pfn] = spec.get_order(size)
        return self.m.page_address(page)

    def kfree(self, ptr: int) -> None:
        """``kfree(ptr)``: NULL (and SLUB's ZERO_SIZE_PTR) do nothing; a slab object goes
        back to its cache; a large kmalloc goes back to the page allocator."""
        if isinstance(ptr, bool) or not isinstance(ptr, int):
            raise InvalidArgument(f"pointer must be an int, got {ptr!r}")
        if ptr == 0 or (self.kind == "slub" and spec.zero_or_null_ptr(ptr)):
            return
        s, page = self._locate(ptr)
        if s is not None:
            idx = self._object_checks(s.cache, s, ptr)
            self._free_checked(s.cache, s, idx, ptr)
            return
        order = self._large_order(ptr, page)
        del self.large[page.pfn]
        self.m.free_pages(page, order)

    def _large_order(self, ptr: int, page: Page) -> int:
        """The order of the large kmalloc starting at ``ptr``; a pointer into one is
        InvalidObjectPointer, anything else NotSlabObject."""
        order = self.large.get(page.pfn)
        if order is not None and ptr == self.m.page_address(page):
            return order
        zone = self.m.zone_of(page.pfn)
        block = zone.find_allocated(page.pfn) if zone is not None else None
        if order is not None or (block is not None and block[0] in self.large):
            raise InvalidObjectPointer(f"0x{ptr:x} points into the middle of a large kmalloc")
        raise NotSlabObject(f"0x{ptr:x} is neither a slab object nor a large kmalloc "
                            f"(memory from the page allocator goes back with free_pages)")

    def ksize(self, ptr: int) -> int:
        """``ksize(ptr)``: the usable size: the cache's object stride (SLUB ``slab_ksize``:
        ``s->size``; SLAB: ``objsize``), the folio size of a large kmalloc, 0 for NULL and
        ZERO_SIZE_PTR."""
        if ptr == 0 or (self.kind == "slub" and spec.zero_or_null_ptr(ptr)):
            return 0
        s, page = self._locate(ptr)
        if s is not None:
            idx = s.index_of(ptr)
            if idx is None:
                raise InvalidObjectPointer(f"ksize(0x{ptr:x}): not the start of an object")
            lay = s.cache.layout
            if isinstance(lay, spec.SlubLayout) and s.cache.flags & spec.SLAB_TYPESAFE_BY_RCU:
                return lay.inuse
            return s.cache.size
        return PAGE_SIZE << self._large_order(ptr, page)

    # -- pages ---------------------------------------------------------------------------
    def check_page_free(self, page: Page) -> None:
        """``free_pages_prepare`` on a slab page: 6.12 keeps the slab page type in the
        ``_mapcount`` union ("nonzero mapcount"); 2.6.11 has PG_slab in the free-time check."""
        if page.pfn in self.slab_of_pfn:
            reason = ("nonzero mapcount" if self.kind == "slub"
                      else "PAGE_FLAGS_CHECK_AT_FREE flag(s) set")
            raise BadPageState(f"BUG: Bad page state in process {self.m.comm}  pfn:{page.pfn:05x}"
                               f": the page belongs to a slab of {self.slab_of_pfn[page.pfn].cache.name}"
                               f" (free it with kmem_cache_free/kfree)", reason)

    # -- output and checking -------------------------------------------------------------
    def listed_caches(self) -> list[KmemCache]:
        """The caches on slab_caches / cache_chain, newest first (the order of slabinfo)."""
        return list(reversed(self.caches))

    def slabinfo(self) -> str:
        """/proc/slabinfo (version 2.1)."""
        return spec.format_slabinfo(c.slabinfo_row() for c in self.listed_caches())

    def all_caches(self) -> list[KmemCache]:
        """Listed caches and the ones a failed destroy left behind (SLUB)."""
        return self.caches + [c for c in self.leaked if c.slabs]

    def check_invariants(self) -> list[Violation]:
        """Every slab invariant of every cache (:func:`kmem.spec.slab.check_cache`), slabs
        pairwise disjoint and each an allocated block of the page allocator, and every large
        kmalloc an allocated compound block."""
        out: list[Violation] = []
        # a cache without slabs, held objects or per-CPU objects needs only its counters at
        # zero; the full check (spec.check_cache) runs on the others
        views = []
        for c in self.all_caches():
            if c.slabs or c.live or (c.kind == "slab" and c.ac):
                views.append(c.view())
            elif (c.free_objects if c.kind == "slab" else c.nr_slabs or c.total_objects
                  or c.partial or c.cpu_slab is not None):
                views.append(c.view())  # a counter says otherwise: let the spec report it
        for v in views:
            out.extend(spec.check_cache(v))
        out.extend(spec.check_disjoint(views))

        def allocated(pfn: int, order: int) -> bool:
            zone = self.m.zone_of(pfn)
            return zone is not None and zone.allocated.get(pfn) == order

        out.extend(spec.check_slab_pages(views, allocated))
        for pfn, order in self.large.items():
            if not allocated(pfn, order) or pfn not in self.m.compound_heads:
                out.append(Violation("large-kmalloc", f"large kmalloc at pfn {pfn:#x} "
                                                           f"order {order} is not an allocated "
                                                           f"compound block"))
        return out

    def snapshot(self) -> tuple[Any, ...]:
        """The whole slab state, for before/after comparisons."""
        return (tuple(c.snapshot() for c in self.all_caches()),
                tuple(sorted(self.large.items())), self.tainted_bad_page)


# -- the kernel's names --------------------------------------------------------------------

def kmem_cache_create(m: Machine, name: str, size: int, align: int = 0, flags: int = 0,
                      ctor: Callable[[int], Any] | None = None) -> KmemCache:
    """``kmem_cache_create(name, size, align, flags, ctor)``."""
    return m.slab_allocator.create(name, size, align, flags, ctor)


def kmem_cache_alloc(cache: KmemCache, gfp: int) -> int:
    """``kmem_cache_alloc(cache, gfp)``: an object address, or 0."""
    if not isinstance(cache, KmemCache):
        raise InvalidArgument(f"{cache!r} is not a kmem_cache")
    return cache.owner.alloc(cache, gfp)


def kmem_cache_zalloc(cache: KmemCache, gfp: int) -> int:
    """``kmem_cache_zalloc(cache, gfp)`` = ``kmem_cache_alloc(cache, gfp | __GFP_ZERO)``."""
    return kmem_cache_alloc(cache, gfp | _GFP_ZERO)


def kmem_cache_free(cache: KmemCache, obj: int) -> None:
    """``kmem_cache_free(cache, obj)``."""
    if not isinstance(cache, KmemCache):
        raise InvalidArgument(f"{cache!r} is not a kmem_cache")
    cache.owner.free(cache, obj)


def kmem_cache_shrink(cache: KmemCache) -> int:
    """``kmem_cache_shrink(cache)``: 0 if every slab was released."""
    if not isinstance(cache, KmemCache):
        raise InvalidArgument(f"{cache!r} is not a kmem_cache")
    return cache.owner.shrink(cache)


def kmem_cache_destroy(cache: KmemCache) -> int:
    """``kmem_cache_destroy(cache)`` (returns 2.6.11's status: 0 when destroyed)."""
    if not isinstance(cache, KmemCache):
        raise InvalidArgument(f"{cache!r} is not a kmem_cache")
    return cache.owner.destroy(cache)


def kmalloc(m: Machine, size: int, gfp: int) -> int:
    """``kmalloc(size, gfp)``."""
    return m.slab_allocator.kmalloc(size, gfp)


def kzalloc(m: Machine, size: int, gfp: int) -> int:
    """``kzalloc(size, gfp)`` = ``kmalloc(size, gfp | __GFP_ZERO)``."""
    return m.slab_allocator.kmalloc(size, gfp | _GFP_ZERO)


def kfree(m: Machine, ptr: int) -> None:
    """``kfree(ptr)``."""
    m.slab_allocator.kfree(ptr)


def ksize(m: Machine, ptr: int) -> int:
    """``ksize(ptr)``."""
    return m.slab_allocator.ksize(ptr)
