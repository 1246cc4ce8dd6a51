"""NUMA: zonelists from node distances (kmem.spec.numa), a multi-node model, and
Machine.from_proc on multi-node /proc text."""

import pytest

from kmem.model import Machine, api
from kmem.spec import gfp, numa, procfs
from kmem.spec.errors import InvalidArgument
from kmem.spec.zones import ZoneType

K = gfp.GFP_KERNEL | gfp.__GFP_NOWARN


def test_node_order_round_robins_equal_distances():
    zl = numa.build_all_zonelists(numa.default_distances(4), [[0, 1, 1, 0, 0]] * 4)
    # the local node first, then the others; node_load spreads the first remote choice
    assert zl.node_order == ((0, 1, 2, 3), (1, 2, 3, 0), (2, 3, 0, 1), (3, 0, 1, 2))
    assert zl.fallback[1][:3] == ((1, 2), (1, 1), (2, 2))  # highest zone of a node first
    assert zl.nofallback[2] == ((2, 2), (2, 1))


def test_node_order_follows_distance():
    ring = ((10, 21, 31, 21), (21, 10, 21, 31), (31, 21, 10, 21), (21, 31, 21, 10))
    zl = numa.build_all_zonelists(ring, [[1]] * 4)
    assert zl.node_order == ((0, 1, 3, 2), (1, 2, 0, 3), (2, 3, 1, 0), (3, 0, 2, 1))
    memoryless = numa.build_all_zonelists(numa.default_distances(3), [[1], [0], [1]])
    assert memoryless.node_order == ((0, 2), (2, 0), (2, 0))


@pytest.mark.parametrize("bad", [((10, 20), (20,)), ((11, 20), (20, 10)), ((10, 10), (20, 10)),
                                 ()])
def test_bad_distances(bad):
    with pytest.raises(InvalidArgument):
        numa.check_distances(bad)


def test_watermarks_are_spread_over_all_nodes():
    m = Machine.numa_x86_64((1024, 1024), policy="linux")
    one = Machine.x86_64(2048, policy="linux", min_free_kbytes=m.min_free_kbytes)
    def lowmem_min(machine):
        return sum(z.watermark[0] for z in machine.zones if z.managed_pages)

    # min_free_kbytes / 4 pages shared by managed pages over every node's lowmem zones
    assert abs(lowmem_min(m) - lowmem_min(one)) <= 3
    assert [z.watermark[0] for z in m.zones if z.managed_pages] == [11, 712, 724]
    # lowmem_reserve is per node: node 1's DMA32 protects against its own zones only
    assert m.node_zones[1][1].lowmem_reserve == (0, 0, 0, 0, 0)


def test_allocation_prefers_the_local_node_then_falls_back():
    m = Machine.numa_x86_64((64, 64, 64), policy="linux", migratetypes=True, nr_cpus=3)
    m.cpu = 1  # node 1
    first = api.alloc_pages(m, K, 0)
    assert m.zone_of(first.pfn).node == 1
    while (page := api.alloc_pages(m, K | gfp.__GFP_THISNODE, 3)) is not None:
        assert m.zone_of(page.pfn).node == 1
    assert m.last_failure == "OOM skipped: __GFP_RETRY_MAYFAIL or __GFP_THISNODE"
    spill = api.alloc_pages(m, K, 3)  # node 1 is below its watermark: node order 1, 2, 0
    assert m.zone_of(spill.pfn).node == 2
    other = m.alloc_pages_node(0, K, 0)
    assert m.zone_of(other.pfn).node == 0
    assert m.check_invariants() == []


def test_from_proc_boots_every_node():
    m = Machine.numa_x86_64((256, 512, 128), policy="linux")
    for i in range(200):
        m.node = i % 3
        api.alloc_pages(m, K, i % 5)
    ctl = {"min_free_kbytes": m.min_free_kbytes}
    m2 = Machine.from_proc(m.zoneinfo(), m.buddyinfo(), ctl, policy="linux")
    assert len(m2.node_zones) == 3
    assert m2.buddyinfo() == m.buddyinfo() and m2.zoneinfo() == m.zoneinfo()
    single = Machine.from_proc(m.zoneinfo(), m.buddyinfo(), ctl, node=1, allow_free_mismatch=True)
    assert len(single.node_zones) == 1
    assert {r.node for r in procfs.parse_buddyinfo(single.buddyinfo())} == {0}  # renumbered
    mt = Machine.from_proc(m.zoneinfo(), m.buddyinfo(), ctl, policy="linux", migratetypes=True,
                           nr_cpus=3)
    assert mt.pagetypeinfo().count("Page block order: 9") == 3
    assert mt.check_invariants() == []


def test_nodes_are_checked():
    a, b = numa.x86_64_nodes((64, 64))
    with pytest.raises(InvalidArgument, match="overlap"):
        Machine(a, nodes=(a,))
    with pytest.raises(InvalidArgument, match="distances"):
        Machine(a, nodes=(b,), distances=numa.default_distances(3))
    with pytest.raises(InvalidArgument, match="cpu_nodes"):
        Machine(a, nodes=(b,), policy="linux", migratetypes=True, nr_cpus=2, cpu_nodes=(0, 5))


def test_boot_zonelists_have_no_cpu_penalty():
    # issue 17 finding 6: x86's start_kernel builds the zonelists before numa_add_cpu
    # (identify_cpu, arch/x86/kernel/cpu/common.c) fills cpumask_of_node(), so
    # find_next_best_node's "if (!cpumask_empty(cpumask_of_node(n))) val +=
    # PENALTY_FOR_NODE_WITH_CPUS" (6.12.118 mm/page_alloc.c:5346-5347) adds nothing: from
    # node 0 the order is by distance, then "val += (n < node)", then node_load: 0, 1, 2
    m = Machine.numa_x86_64((1024, 1024, 1024), nr_cpus=2, policy="linux", migratetypes=True)
    assert m.cpu_nodes == (0, 1)
    normal = m.config.idx(ZoneType.NORMAL)
    order = []
    for node, _idx in numa.zonelist_for(m.zonelists, 0, normal, thisnode=False):
        if node not in order:
            order.append(node)
    assert order == [0, 1, 2]
