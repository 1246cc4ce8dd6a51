"""The whole model under random use of the page API, every step checked against the spec:
the buddy invariants of every zone, the zone a page comes from (gfp_zone and the zonelist),
and that a failed allocation was legal (no pass could have served it). Slab rules
(caches, objects, kmalloc/kfree, shrink, destroy) interleave with the page rules, and the
slab invariants (kmem.spec.slab) are part of ``check_invariants`` once the slab layer is
in use; each object carries a tag that must survive until it is freed."""

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kmem.model import Machine, api
from kmem.model import slab as K
from kmem.spec import gfp, page_alloc
from kmem.spec.zones import ZoneType

MASKS = [gfp.GFP_KERNEL, gfp.GFP_ATOMIC, gfp.GFP_DMA | gfp.GFP_KERNEL,
         gfp.GFP_DMA32 | gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_NOWAIT,
         gfp.GFP_KERNEL | gfp.__GFP_COMP, gfp.GFP_USER | gfp.__GFP_ZERO]
# module-level names: inside a class body, gfp.__GFP_X would be name-mangled
NOWARN, ZERO = gfp.__GFP_NOWARN, gfp.__GFP_ZERO
free_pages_of = api.__free_pages


class PageApiMachine(RuleBasedStateMachine):
    @initialize(preset=st.sampled_from(["x86_64", "x86_32", "x86_64-movable", "tiny"]),
                policy=st.sampled_from(["lowest", "linux"]),
                slab=st.sampled_from(["slub", "slab"]))
    def boot(self, preset, policy, slab):
        kw = {"policy": policy, "slab": slab}
        if preset == "x86_64":
            self.m = Machine.x86_64(24, **kw)
        elif preset == "x86_32":
            self.m = Machine.x86_32(1024, **kw)  # DMA, Normal, HighMem
        elif preset == "tiny":  # small enough to run out: failures must be legal
            self.m = Machine.generic(256, min_free_kbytes=64, **kw)
        else:
            self.m = Machine.x86_64(4096 + 32, movablecore_mb=8, **kw)
        self.held = []  # (page, order, extra references)
        self.caches = []  # caches made by the rules
        self.objs = []  # (cache or None for kmalloc, address, tag)
        self.tag = 0

    @rule(mask=st.sampled_from(MASKS), order=st.integers(0, 6))
    def alloc(self, mask, order):
        m = self.m
        highest = gfp.gfp_zone(mask, m.config)
        allowed = set(gfp.zonelist(m.config, highest))
        zonelist = [m.zone(zt) for zt in gfp.zonelist(m.config, highest,
                                                       set(m.layout.managed_zones()))]
        views = [m.zone_view(z) for z in zonelist]
        page = api.alloc_pages(m, mask | NOWARN, order)
        if page is None:
            assert page_alloc.allocation_failure_legal(views, mask, order,
                                                       m.config.idx(highest))
            return
        assert api.page_zone(m, page) in allowed
        assert api.page_to_pfn(m, page) % (1 << order) == 0
        if mask & ZERO:
            assert all(m.memory.is_zero(page.pfn + i) for i in range(1 << order))
        self.held.append([page, order, 0])

    @precondition(lambda self: self.held)
    @rule(i=st.integers(0, 10**6), data=st.binary(min_size=1, max_size=8))
    def write(self, i, data):
        page = self.held[i % len(self.held)][0]
        if not self.m.is_highmem_pfn(page.pfn):
            self.m.write_page(page.pfn, 0, data)

    @precondition(lambda self: self.held)
    @rule(i=st.integers(0, 10**6))
    def get(self, i):
        entry = self.held[i % len(self.held)]
        api.get_page(self.m, entry[0])
        entry[2] += 1

    @precondition(lambda self: self.held)
    @rule(i=st.integers(0, 10**6))
    def free(self, i):
        entry = self.held[i % len(self.held)]
        page, order, extra = entry
        free_before = self.m.free_pages_total
        free_pages_of(self.m, page, order)
        if extra:
            entry[2] -= 1
            compound = page.pfn in self.m.compound_heads
            if order and not compound:  # the tails went back at once
                assert self.m.free_pages_total == free_before + (1 << order) - 1
                entry[1] = 0
        else:
            self.held.remove(entry)
            assert self.m.free_pages_total == free_before + (1 << order)

    def _assert_failure_legal(self, mask, order):
        m = self.m
        highest = gfp.gfp_zone(mask, m.config)
        views = [m.zone_view(m.zone(zt)) for zt in
                 gfp.zonelist(m.config, highest, set(m.layout.managed_zones()))]
        assert page_alloc.allocation_failure_legal(views, mask, order, m.config.idx(highest))

    # -- slab rules ------------------------------------------------------------------------
    def _tag(self, addr):
        """Write a fresh 4-byte tag at the object's start; return it."""
        self.tag += 1
        tag = self.tag.to_bytes(4, "little")
        off = addr - self.m.page_offset
        self.m.write_page(off >> 12, off & 0xFFF, tag)
        return tag

    def _read_tag(self, addr):
        off = addr - self.m.page_offset
        return self.m.read_page(off >> 12, off & 0xFFF, 4)

    @precondition(lambda self: len(self.caches) < 4)
    @rule(size=st.sampled_from([8, 24, 100, 192, 600, 1500, 4096, 9000]),
          align=st.sampled_from([0, 8, 64]), hw=st.booleans())
    def cache_create(self, size, align, hw):
        flags = K.spec.SLAB_HWCACHE_ALIGN if hw else 0
        self.tag += 1
        name = f"c{self.tag}_{size}"
        self.caches.append(K.kmem_cache_create(self.m, name, size, align, flags))

    @precondition(lambda self: self.caches and self.m.free_pages_total < 1024)
    @rule(i=st.integers(0, 10**6), atomic=st.booleans())
    def cache_exhaust(self, i, atomic):
        """On a small machine: allocate until slab growth fails (which must be legal)."""
        self.cache_alloc(i, 4096, atomic)

    @precondition(lambda self: self.caches)
    @rule(i=st.integers(0, 10**6), n=st.integers(1, 12), atomic=st.booleans())
    def cache_alloc(self, i, n, atomic):
        cache = self.caches[i % len(self.caches)]
        for _ in range(n):
            obj = K.kmem_cache_alloc(cache, (gfp.GFP_ATOMIC if atomic else gfp.GFP_KERNEL)
                                     | NOWARN)
            if not obj:  # legal only when no slab has a free object left
                v = cache.view()
                assert all(not s.free for s in v.slabs) and not v.cpu_cached
                event("slab growth failed")  # ... and every page request may legally fail
                for mask, order in cache.growth_requests(
                        (gfp.GFP_ATOMIC if atomic else gfp.GFP_KERNEL) | NOWARN):
                    self._assert_failure_legal(mask, order)
                return
            assert obj % cache.align == 0
            self.objs.append((cache, obj, self._tag(obj)))

    @rule(size=st.sampled_from([0, 1, 8, 13, 64, 65, 96, 129, 192, 193, 1000, 4096, 8192,
                                8193, 30000]),
          dma=st.booleans())
    def kmalloc(self, size, dma):
        p = K.kmalloc(self.m, size, gfp.GFP_KERNEL | NOWARN | (gfp.GFP_DMA if dma else 0))
        if size == 0 and self.m.slab == "slub":
            assert p == 16  # ZERO_SIZE_PTR
            K.kfree(self.m, p)
            return
        if p:
            assert K.ksize(self.m, p) >= size
            self.objs.append((None, p, self._tag(p)))

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 10**6))
    def obj_free(self, i):
        cache, p, tag = self.objs.pop(i % len(self.objs))
        assert self._read_tag(p) == tag  # nobody else was handed this memory
        if cache is None:
            K.kfree(self.m, p)
        else:
            K.kmem_cache_free(cache, p)

    @precondition(lambda self: self.caches)
    @rule(i=st.integers(0, 10**6))
    def cache_shrink(self, i):
        cache = self.caches[i % len(self.caches)]
        free_before = self.m.free_pages_total
        K.kmem_cache_shrink(cache)
        assert self.m.free_pages_total >= free_before
        assert not any(s.inuse == 0 for s in cache.slabs)  # every empty slab went back

    @precondition(lambda self: self.caches)
    @rule(i=st.integers(0, 10**6))
    def cache_destroy(self, i):
        cache = self.caches[i % len(self.caches)]
        live = [o for o in self.objs if o[0] is cache]
        if K.kmem_cache_destroy(cache) == 0:
            assert not live and cache.slabs == []
            self.caches.remove(cache)
        else:
            assert live  # refused (SLAB) or leaked (SLUB) only with objects left
            if cache.destroyed:  # SLUB: unlisted and kept; its objects may still be freed
                self.caches.remove(cache)

    @invariant()
    def spec_invariants_hold(self):
        if hasattr(self, "m"):
            assert self.m.check_invariants() == []
            for z in self.m.zones:
                assert z.ztype is not ZoneType.DEVICE or z.free_pages == 0


PageApiMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=50,
                                            deadline=None)
TestPageApi = PageApiMachine.TestCase
