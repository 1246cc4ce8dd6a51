"""The whole model under random use of the page API, every step checked against the spec:
the buddy invariants of every zone, the zone a page comes from (gfp_zone and the zonelist),
and that a failed allocation was legal (no pass could have served it)."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kmem.model import Machine, api
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
                policy=st.sampled_from(["lowest", "linux"]))
    def boot(self, preset, policy):
        if preset == "x86_64":
            self.m = Machine.x86_64(24, policy=policy)
        elif preset == "x86_32":
            self.m = Machine.x86_32(1024, policy=policy)  # DMA, Normal, HighMem
        elif preset == "tiny":  # small enough to run out: failures must be legal
            self.m = Machine.generic(256, policy=policy, min_free_kbytes=64)
        else:
            self.m = Machine.x86_64(4096 + 32, movablecore_mb=8, policy=policy)
        self.held = []  # (page, order, extra references)

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

    @invariant()
    def spec_invariants_hold(self):
        if hasattr(self, "m"):
            assert self.m.check_invariants() == []
            for z in self.m.zones:
                assert z.ztype is not ZoneType.DEVICE or z.free_pages == 0


PageApiMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=50,
                                            deadline=None)
TestPageApi = PageApiMachine.TestCase
