"""The whole allocation path (migratetypes, per-CPU lists, highatomic reserves) under random
use of the page API, every step checked against the spec: the buddy invariants with the
pageblock, pcp and highatomic predicates, the zone a page comes from, and that a failed
allocation was legal (no pass could have served it from a usable list or the pcp list)."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kmem.model import Machine, api
from kmem.spec import gfp, migrate, page_alloc
from kmem.spec.alloc_flags import ALLOC_NOFRAGMENT

MASKS = [gfp.GFP_KERNEL, gfp.GFP_ATOMIC, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_NOWAIT,
         gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE, gfp.GFP_DMA | gfp.GFP_KERNEL,
         gfp.GFP_KERNEL | gfp.__GFP_COMP, gfp.GFP_KERNEL | gfp.__GFP_THISNODE]
NOWARN = gfp.__GFP_NOWARN
free_pages_of = api.__free_pages


class AllocPathMachine(RuleBasedStateMachine):
    @initialize(preset=st.sampled_from(["x86_64", "tiny", "small-blocks", "numa"]),
                nr_cpus=st.sampled_from([0, 1, 2]))
    def boot(self, preset, nr_cpus):
        if preset == "x86_64":
            self.m = Machine.x86_64(24, policy="linux", migratetypes=True, nr_cpus=nr_cpus)
        elif preset == "tiny":  # runs out: failures must be legal
            self.m = Machine.generic(512, policy="linux", migratetypes=True, nr_cpus=nr_cpus,
                                     min_free_kbytes=64, pageblock_order=3)
        elif preset == "numa":  # three small nodes: node order, THISNODE, remote spill
            self.m = Machine.numa_x86_64((20, 24, 16), policy="linux", migratetypes=True,
                                         nr_cpus=nr_cpus)
        else:  # small pageblocks, so that fallback, claims and merge limits happen often
            self.m = Machine.generic(4096, policy="linux", migratetypes=True, nr_cpus=nr_cpus,
                                     min_free_kbytes=128, pageblock_order=4)
        self.held = []

    @rule(mask=st.sampled_from(MASKS), order=st.sampled_from([0, 0, 1, 2, 3, 4, 5, 9]))
    def alloc(self, mask, order):
        m = self.m
        highest = gfp.gfp_zone(mask, m.config)
        if len(m.node_zones) > 1:
            zonelist = m.node_zonelist(m.numa_node_id(), mask, m.config.idx(highest))
        else:
            zonelist = [m.zone(zt) for zt in gfp.zonelist(m.config, highest,
                                                           set(m.layout.managed_zones()))]
        views = [m.zone_view(z) for z in zonelist]
        mt = gfp.gfp_migratetype(mask)
        before = {(z.node, z.zone_idx): (z.free_blocks_typed(), z.pcp_head(m.cpu, mt, order))
                  for z in zonelist}
        page = api.alloc_pages(m, mask | NOWARN, order)
        if page is None:
            assert page_alloc.allocation_failure_legal(views, mask, order,
                                                       m.config.idx(highest))
            return
        pfn = api.page_to_pfn(m, page)
        assert pfn % (1 << order) == 0
        zone = m.zone_of(pfn)
        assert zone in zonelist
        free_blocks, pcp_head = before[(zone.node, zone.zone_idx)]
        if pcp_head is not None:  # rmqueue_pcplist: the head of this CPU's list
            assert pfn == pcp_head
        else:
            flags = [p.alloc_flags for p in page_alloc.alloc_passes(mask, order)]
            legal = set()
            for f in flags + [flags[0] | ALLOC_NOFRAGMENT]:
                legal |= migrate.legal_rmqueue_blocks(free_blocks, order, mt, f) or set()
            assert pfn in legal
        self.held.append((page, order))

    @precondition(lambda self: self.held)
    @rule(i=st.integers(0, 10**6))
    def free(self, i):
        page, order = self.held.pop(i % len(self.held))
        before = self.m.free_pages_total + self.m.pcp_pages_total
        free_pages_of(self.m, page, order)
        assert self.m.free_pages_total + self.m.pcp_pages_total == before + (1 << order)

    @rule(cpu=st.integers(0, 2))
    def switch_cpu(self, cpu):
        self.m.cpu = min(cpu, max(self.m.nr_cpus - 1, 0))
        self.m.node = cpu % len(self.m.node_zones)  # numa_node_id() without CPUs

    @rule()
    def drain(self):
        total = self.m.free_pages_total + self.m.pcp_pages_total
        self.m.drain_all_pages()
        assert self.m.pcp_pages_total == 0
        assert self.m.free_pages_total == total

    @invariant()
    def spec_invariants_hold(self):
        if hasattr(self, "m"):
            assert self.m.check_invariants() == []


AllocPathMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=60,
                                              deadline=None)
TestAllocPath = AllocPathMachine.TestCase
