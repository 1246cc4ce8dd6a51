"""Mutants of the whole path's fastimpl and fuzzing modules (fastimpl/mt_machine.py,
fuzz/path.py, fuzz/conform/path.py) that the other tests let survive (issue 20, run with
`python tools/mutation.py`). Expected values come from the kernel's source (cited) or, for
fastimpl, from the model it must equal."""

from __future__ import annotations

import pytest

from kmem import fastimpl
from kmem.model import Machine as ModelMachine
from kmem.spec import gfp, pcp
from kmem.spec import zones as zones_spec
from kmem.spec.errors import BadPageState, InvalidArgument, TailPageFree
from kmem.spec.migrate import MIGRATE_MOVABLE, MIGRATE_UNMOVABLE

MACHINES = (ModelMachine, fastimpl.Machine)
PATH = {"migratetypes": True, "policy": "linux", "nr_cpus": 1}


def _message(fn, *args) -> str:
    with pytest.raises(InvalidArgument) as exc:
        fn(*args)
    return str(exc.value)


@pytest.mark.parametrize("cls", MACHINES)
def test_pagetypeinfo_skips_the_pageblocks_of_an_offline_section(cls):
    # mm/vmstat.c (6.12.118) pagetypeinfo_showblockcount_print, 1616-1621: a pageblock
    # whose pfn_to_online_page() is NULL is not counted. Three 128 MiB sections (32768
    # pages each), the middle one a hole: 2 * 32768 / 512 = 128 pageblocks, not 192.
    m = cls(zones_spec.generic(3 << 15, holes=((1 << 15, 2 << 15),)), **PATH)
    row = m.pagetypeinfo().splitlines()[-1]
    assert row.startswith("Node 0, zone   Normal")
    assert sum(int(n) for n in row.split()[4:]) == 128


@pytest.mark.parametrize("cls", MACHINES)
def test_a_tail_page_of_a_compound_block_counts_on_its_head(cls):
    # include/linux/mm.h (6.12.118) get_page(): folio_get(page_folio(page)); put_page():
    # folio_put(page_folio(page)): a tail page's reference is its head's; the last put
    # frees the whole order-2 block
    m = cls.generic(4096, **PATH)
    head = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 2)
    tail = m.pfn_to_page(head.pfn + 3)
    m.get_page(tail)
    assert m.page_count(head) == 2 and m.page_count(tail) == 2
    before = m.free_pages_total + m.pcp_pages_total
    m.put_page(tail)
    assert m.page_count(head) == 1
    m.put_page(tail)
    assert m.free_pages_total + m.pcp_pages_total == before + 4


def test_compound_heads_include_pfn_0():
    # the bare "lowest" machine hands out pfn 0 first; a __GFP_COMP block there has its
    # head at pfn 0 in both implementations
    heads = []
    for cls in MACHINES:
        m = cls.generic(1024)
        page = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 1)
        assert page.pfn == 0
        heads.append((0 in m.compound_heads, 1 in m.compound_heads, len(m.compound_heads)))
    assert heads == [(True, False, 1)] * 2


def test_the_zero_page_is_the_models():
    got = []
    for cls in MACHINES:
        m = cls.generic(4096, **PATH)
        zp = m.zero_page()
        assert zp.reserved and m.zero_page() is zp
        got.append((zp.pfn, m.free_pages_total + m.pcp_pages_total))
    assert got[0] == got[1]


def test_the_zones_free_guard_names_the_kernels_bad_page_reason():
    # mm/page_alloc.c (6.12.118) page_bad_reason, 926-932: a page inside a free buddy block
    # (PG_buddy lives in _mapcount) is "nonzero mapcount"; a page of an allocated block
    # that does not start it is "nonzero _refcount". The zone's guard (the model's
    # Zone.check_free), called directly: __free_pages stops a refcount-0 page before it.
    seen = []
    for cls in MACHINES:
        m = cls.generic(4096, **PATH)
        held = m.alloc_pages(gfp.GFP_KERNEL, 5)
        parked = m.alloc_pages(gfp.GFP_KERNEL, 0)
        m.free_pages(parked, 0)  # on CPU 0's pcp list now: free as well
        for pfn, want in ((4000, "nonzero mapcount"), (held.pfn + 1, "nonzero _refcount"),
                          (parked.pfn, "nonzero mapcount")):
            with pytest.raises(BadPageState) as exc:
                m.zones[0].check_free(pfn, 0)
            assert exc.value.reason == want
            seen.append(str(exc.value))
    assert seen[:3] == seen[3:]


def test_bad_nodes_cpus_and_vmstat_are_refused_with_the_models_messages():
    msgs = []
    for cls in MACHINES:
        m = cls.numa_x86_64((18, 20), **PATH)
        bare = cls.generic(1024, migratetypes=True, policy="linux", nr_cpus=0)
        msgs.append((_message(m.alloc_pages_node, 5, gfp.GFP_KERNEL),
                     _message(m.node_zonelist, -1, gfp.GFP_KERNEL, 2),
                     _message(bare.vmstat_update, 0)))
    assert msgs[0] == msgs[1]
    assert msgs[0][0].endswith("(0..1)") and msgs[0][1].endswith("(0..1)")


def test_a_failed_allocation_warns_with_the_callers_comm():
    # mm/page_alloc.c (6.12.118) warn_alloc: "%s: page allocation failure: order:%u,
    # mode:%#x(%pGg), nodemask=%*pbl" with current->comm
    lines = []
    for cls in MACHINES:
        m = cls.generic(1024, **PATH)
        assert m.alloc_pages(gfp.GFP_KERNEL, 10) is None
        assert m.dmesg and m.dmesg[0].startswith(f"{m.comm}: page allocation failure: order:10")
        lines.append(tuple(m.dmesg))
    assert lines[0] == lines[1]


def test_a_loaded_free_block_takes_the_pageblock_type_given():
    # MtZone.load(free_types=): the pageblock gets the type first, then the block goes on
    # that type's free list (as the model's zone does)
    got = []
    for cls in MACHINES:
        m = cls.generic(4096, **PATH)
        z = m.zones[0]
        allocated = [(p, 0) for p in range(0, 1024) if not 512 <= p < 528]
        z.load([(512, 4)], allocated, free_types={512: MIGRATE_UNMOVABLE})
        got.append((z.get_pfnblock_migratetype(512), z.get_pfnblock_migratetype(0),
                    z.free_list_order(4, MIGRATE_UNMOVABLE), z.free_list_order(4, MIGRATE_MOVABLE),
                    z.state()))
    assert got[0] == got[1]
    assert got[0][0] == MIGRATE_UNMOVABLE and got[0][2] == [512]


def test_a_corrupted_pcp_list_is_reported_naming_the_cpu_and_the_page():
    """fastimpl's pcp checker (MtZone.pcp_violations) on a corrupted arena: a block whose
    recorded pcp order is not its list's, and a count above the lists' pages and the
    bound, are each reported as a "pcp" violation that names the CPU and the numbers."""
    from kmem.fastimpl import mt_kernels as K

    m = fastimpl.Machine.generic(4096, **PATH)
    page = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.free_pages(page, 0)
    z = m.zones[0]
    assert z.pcp_pages == {page.pfn: 0} and z.pcp_violations() == []
    pindex = next(i for i, lst in enumerate(z.pcp[0].lists) if lst == [page.pfn])
    m._P[K.P_PCPO, page.pfn] = 1
    assert [(v.invariant, v.detail) for v in z.pcp_violations()] == [
        ("pcp", f"cpu 0: pfn {page.pfn:#x} on list {pindex} is not a pcp block of order 0")]
    m._P[K.P_PCPO, page.pfn] = 0
    p = z.pcp[0]
    bound = pcp.pcp_count_bound(p.high_max, p.batch)
    p.count = bound + 1
    assert [v.detail for v in z.pcp_violations()] == [
        f"cpu 0: count {bound + 1} but the lists hold 1 pages",
        f"cpu 0: count {bound + 1} exceeds {bound}"]


def test_numa_allocations_go_remote_when_the_local_node_runs_out_as_in_the_model():
    # mm/page_alloc.c (6.12.118) get_page_from_freelist walks the zonelist into the next
    # node's zones once the local ones fail their watermark; fastimpl must give the model's
    # pages, node by node
    got = []
    for cls in MACHINES:
        m = cls.numa_x86_64((18, 20), **PATH)
        pfns = []
        while True:
            page = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 3)
            if page is None:
                break
            pfns.append(page.pfn)
        got.append(pfns)
    assert got[0] == got[1]
    node1 = [z.start_pfn for z in MACHINES[0].numa_x86_64((18, 20), **PATH).node_zones[1]
             if z.present_pages]
    assert any(pfn >= min(node1) for pfn in got[0])


def test_zone_normal_over_a_populated_dma32_keeps_alloc_nofragment_as_the_model():
    """mm/page_alloc.c (6.12.118) alloc_flags_nofragment: ZONE_NORMAL with a populated
    ZONE_DMA32 below it sets ALLOC_NOFRAGMENT; get_page_from_freelist's first pass may then
    not mix migratetypes in a pageblock and retries without it only when every zone of
    the node failed. Filling node 0 with UNMOVABLE blocks must give the model's pages."""
    from kmem.fuzz.path import PATH_CONFIGS, PathRunner, path_impls, path_stream_for

    config = PATH_CONFIGS[9]
    assert config.preset == "x86_64" and config.holes  # a tiny DMA32 under ZONE_NORMAL
    runner = PathRunner(config, path_impls("model,fast"))
    stream = path_stream_for(config, 2, 30, prelude="nofragment")[:3]
    assert stream[0][0] == "exhaust"  # the nofragment prelude
    for op in stream:
        runner.apply(op)  # raises Divergence at the first difference


@pytest.mark.parametrize("cls", MACHINES)
def test_free_pages_without_an_order_frees_one_page(cls):
    # include/linux/gfp.h (6.12.118): #define __free_page(page) __free_pages((page), 0)
    m = cls.generic(1024, **PATH)
    before = m.free_pages_total + m.pcp_pages_total
    page = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.free_pages(page)
    assert m.free_pages_total + m.pcp_pages_total == before and m.check_invariants() == []


def test_an_order_above_max_page_order_warns_once_as_the_model():
    # mm/page_alloc.c (6.12.118) __alloc_pages_noprof: WARN_ON_ONCE_GFP(order >
    # MAX_PAGE_ORDER, gfp) and return NULL
    seen = []
    for cls in MACHINES:
        m = cls.generic(1024, **PATH)
        assert m.alloc_pages(gfp.GFP_KERNEL, 11) is None
        assert m.alloc_pages(gfp.GFP_KERNEL, 12) is None
        seen.append(tuple(m.dmesg))
    assert seen[0] == seen[1] and len(seen[0]) == 1 and "11" in seen[0][0]


@pytest.mark.parametrize("cls", MACHINES)
def test_reserved_and_hole_pages_are_pg_reserved_and_never_freed(cls):
    # include/linux/page-flags.h (6.12.118) 1174-1179: PG_reserved is in
    # PAGE_FLAGS_CHECK_AT_FREE; mm/page_alloc.c 937: freeing such a page is a bad page,
    # "PAGE_FLAGS_CHECK_AT_FREE flag(s) set". Reserved ranges and holes are PG_reserved
    # from boot (memmap_init's reserve_bootmem_region / init_unavailable_range).
    m = cls(zones_spec.generic(1024, holes=((300, 340),), reserved=((0, 16),)), **PATH)
    for pfn in (0, 15, 300, 339):
        page = m.pfn_to_page(pfn)
        assert page.reserved
        with pytest.raises(BadPageState) as exc:
            m.free_pages(page, 0)
        assert exc.value.reason == "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"
    assert not m.pfn_to_page(16).reserved


def test_conform_reports_the_first_differing_sections_of_two_states():
    """`kmem conform`'s divergence report: the differing sections of the kernel's and the
    model's state lines (pageset and pcp lists first), each named, with both sides'
    values around the first differing position, at most ``limit`` of them."""
    from kmem.fuzz.conform.path import _first_difference

    kernel = ("Z:100,0,0,0,0 N:1,2 B:0011 L0.1:5,6,7,8,9,10,11,12,13,14 "
              "P0:3,10,5,20,2,0,0,1 Q0.0:40,41")
    model = ("Z:100,0,0,0,0 N:1,3 B:0111 L0.1:5,6,7,8,9,10,99,12,13 "
             "P0:3,10,5,20,2,0,0,1 Q0.1:40")
    assert _first_difference(kernel, model) == [
        "cpu 0's pcp list 0: kernel 40,41; kmem empty",
        "cpu 0's pcp list 1: kernel empty; kmem 40",
        "free_area[].nr_free differ at position 1:",
        "  kernel: 1,2 (2 entries)",
        "  kmem:   1,3 (2 entries)",
        "  (more sections differ)"]
    assert _first_difference(kernel, model, limit=5)[5:] == [
        "pageblock types (one digit per pageblock) differ at position 1:",
        "  kernel: 0011 (4 entries)",
        "  kmem:   0111 (4 entries)",
        "free_area[0].free_list[1] differ at position 6:",
        "  kernel: 8,9,10,11,12,13,14 (10 entries)",
        "  kmem:   8,9,10,99,12,13 (9 entries)"]
    assert _first_difference("Z:1,0,0,0,0 P1:1,2", "Z:2,0,0,0,0 P1:1,3") == [
        "cpu 1's pageset (count,high,high_min,high_max,batch,free_count,flags,alloc_factor; "
        "6.1: count,high,batch,free_factor) differ at position 1:",
        "  kernel: 1,2 (2 entries)", "  kmem:   1,3 (2 entries)",
        "zone counters (NR_FREE_PAGES, nr_free_highatomic, nr_reserved_highatomic, "
        "watermark_boost, ZONE_BOOSTED_WATERMARK) differ at position 0:",
        "  kernel: 1,0,0,0,0 (5 entries)", "  kmem:   2,0,0,0,0 (5 entries)"]
    assert _first_difference(kernel, kernel) == ["the states differ"]


def test_conform_names_each_operation_as_the_kernel_function_it_runs():
    from kmem.fuzz.conform.path import Op, _describe

    assert _describe(Op("alloc", order=3, mt=1, flags=0, cpu=1)) == \
        "alloc(order=3, MOVABLE, 0, cpu 1)"
    assert _describe(Op("alloc", order=0, mt=0, flags=1 | 2 | 16, cpu=0)) == \
        "alloc(order=0, UNMOVABLE, HIGHATOMIC|OOM|KSWAPD, cpu 0)"
    assert _describe(Op("free", cpu=2), 0x1200, 2) == "free(0x1200, order=2, cpu 2)"
    assert _describe(Op("unreserve", mt=2, force=True)) == \
        "unreserve_highatomic_pageblock(RECLAIMABLE, force=True)"
    assert _describe(Op("drain", cpu=1)) == "drain_pages_zone(cpu 1)"
    assert _describe(Op("decay", cpu=0)) == "decay_pcp_high(cpu 0)"


def test_the_whole_path_runner_says_where_two_machines_differ():
    """kmem.fuzz.path's report of a divergence names the zone and the field that differs
    first (a free list by order and migratetype, a CPU's pcp, a counter), then dmesg,
    last_failure and the CPU; long values are cut at 240 characters."""
    from kmem.fuzz.path import describe_path_difference as where
    from kmem.spec.constants import NR_PAGE_ORDERS
    from kmem.spec.migrate import MIGRATE_TYPES

    lists = tuple(() for _ in range(NR_PAGE_ORDERS * MIGRATE_TYPES))
    zone = (lists, ((1,), (2,)), (), (), 5, (1,), 0, 0, 0, False, False)
    a = ((zone,), ("x",), None, 0)
    moved = list(lists)
    moved[2 * MIGRATE_TYPES + MIGRATE_MOVABLE] = (8,)

    def zone_with(i, value):
        return (((*zone[:i], value, *zone[i + 1:]),), ("x",), None, 0)

    assert where(a, zone_with(0, tuple(moved))) == \
        "zone 0 free_area[2].free_list[Movable]: () vs (8,)"
    assert where(a, zone_with(1, ((1,), (3,)))) == "zone 0 cpu 1 pcp: (2,) vs (3,)"
    assert where(a, zone_with(4, 6)) == "zone 0 NR_FREE_PAGES: 5 vs 6"
    assert where(a, zone_with(10, True)) == "zone 0 ZONE_BOOSTED_WATERMARK: False vs True"
    assert where(a, ((zone,), ("y",), None, 0)) == "dmesg: ('x',) vs ('y',)"
    assert where(a, ((zone,), ("x",), "oom", 0)) == "last_failure: None vs 'oom'"
    assert where(a, ((zone,), ("x",), None, 1)) == "cpu: 0 vs 1"
    assert where(a, a) == "no difference"
    long = where(a, ((zone,), ("y" * 300,), None, 0))
    assert long.startswith("dmesg: ('x',) vs ('yyy") and long.endswith("y...")
    assert len(long) == len("dmesg: ('x',) vs ") + 240


def test_61_lowmem_reserve_keeps_the_lower_zone_like_the_model():
    """6.1.192 __zone_watermark_ok (mm/page_alloc.c:4029, 4073-4074): ``if (free_pages <= min +
    z->lowmem_reserve[highest_zoneidx]) return false``. GFP_KERNEL order-0 requests on a
    64 MiB x86-64 machine fill DMA32, then fall back to DMA until its free pages reach
    min + lowmem_reserve (64 + 48 = 112: DMA32's 12,288 pages / lowmem_reserve_ratio 256);
    fastimpl's 6.1 watermark test (``_zone_allows_61``) stops where the model does."""
    got = []
    for cls in MACHINES:
        m = cls.x86_64(64, policy="linux", migratetypes=True, nr_cpus=1, kernel="6.1")
        n = 0
        while m.alloc_pages(gfp.GFP_KERNEL, 0) is not None:
            n += 1
        dma = m.zones[0]
        assert dma.free_pages <= dma.watermark[0] + dma.lowmem_reserve[2] == 112
        got.append((n, [z.free_pages for z in m.zones]))
    assert got[0] == got[1]


@pytest.mark.parametrize("cls", MACHINES)
def test_a_compound_block_at_pfn_0_is_a_compound_head(cls):
    """prep_compound_page (6.12.118 mm/page_alloc.c:593-603, ``__SetPageHead(page)``)
    marks the head of every __GFP_COMP block, the first pfn of the zone included: on a generic machine the first order-1 blocks come from pfn 0 up, and
    each head, 0 too, is in compound_heads (the model's set, fastimpl's arena view)."""
    m = cls.generic(4096, **PATH)
    pages = [m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 1) for _ in range(3)]
    assert [p.pfn for p in pages] == [0, 2, 4]
    assert 0 in m.compound_heads and 2 in m.compound_heads and 1 not in m.compound_heads


def test_freeing_a_compound_tail_names_the_head_like_the_model():
    """Freeing a tail page of a __GFP_COMP block is refused (kmem's TailPageFree: the
    kernel's put_page_testzero on a tail, whose refcount is 0, is a VM_BUG_ON_PAGE);
    fastimpl's message names the tail and the head as the model's does."""
    got = []
    for cls in MACHINES:
        m = cls.generic(4096, **PATH)
        page = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 2)
        with pytest.raises(TailPageFree) as exc:
            m.free_pages(m.pfn_to_page(page.pfn + 1), 0)
        got.append(str(exc.value))
    assert got[0] == got[1] == ("pfn 0x1 is a tail page of the compound block at pfn 0x0: "
                                "free the head page")


def test_a_bare_path_livelock_names_the_passes_like_the_model():
    """A GFP_NOFS order-0 request on a full machine: out_of_memory() reports progress
    without a kill when __GFP_FS is clear (6.12.118 mm/oom_kill.c:1143-1144), so the kernel's
    slow path retries for ever (mm/page_alloc.c:4548-4551); kmem refuses it with
    AllocationLivelock naming the passes tried. fastimpl's bare walk (a NUMA machine
    without migratetypes) says what the model says."""
    from kmem.spec.errors import AllocationLivelock

    got = []
    for cls in MACHINES:
        m = cls.numa_x86_64((8, 8), policy="linux")
        while m.alloc_pages(gfp.GFP_KERNEL, 0) is not None:
            pass
        with pytest.raises(AllocationLivelock) as exc:
            m.alloc_pages(gfp.GFP_NOFS, 0)
        got.append(str(exc.value))
    assert got[0] == got[1]
    assert got[0].startswith("alloc_pages(0xc40, 0): no pass can satisfy it")
    assert got[0].endswith("Passes tried: fast, slow")


def test_run_ops_drops_its_decisions_when_the_zonelists_change():
    """build_all_zonelists (6.12.118 mm/page_alloc.c:5598; build_zonelists 5413) decides
    where a node's requests go first; setting a machine's zonelists drops the cached
    decisions, run_ops' copies included: a batch after node 0 is given node 1's zonelist
    allocates where the model's alloc_pages does (node 1), not where the batch before
    it did."""
    import numpy as np

    from kmem.fastimpl import OP_ALLOC, run_ops
    from kmem.spec.numa import Zonelists

    def swapped(z: Zonelists) -> Zonelists:
        return Zonelists(node_order=z.node_order[::-1], fallback=z.fallback[::-1],
                         nofallback=z.nofallback[::-1])

    ops = np.array([(OP_ALLOC, gfp.GFP_KERNEL, 0)] * 3, np.int64)
    fm = fastimpl.Machine.numa_x86_64((16, 16), policy="linux", migratetypes=True, nr_cpus=2)
    mm = ModelMachine.numa_x86_64((16, 16), policy="linux", migratetypes=True, nr_cpus=2)
    nodes = []
    for _ in range(2):
        got = run_ops(fm, ops).tolist()
        want = [mm.alloc_pages(gfp.GFP_KERNEL, 0).pfn for _ in range(3)]
        assert got == want
        nodes.append({n for pfn in got for n, zones in enumerate(mm.node_zones)
                      if any(z.spans(pfn) for z in zones)})
        fm.zonelists, mm.zonelists = swapped(fm.zonelists), swapped(mm.zonelists)
    assert nodes == [{0}, {1}]


def test_61_atomic_order_0_ignores_the_boost_at_min_like_the_model():
    """6.1.192 zone_watermark_fast (mm/page_alloc.c:4143-4153): an order-0 request with
    __GFP_ATOMIC (6.1's bit 0x200; its GFP_ATOMIC is 0xa20) checked at WMARK_MIN while a
    boost is set is tried again against the unboosted _watermark[WMARK_MIN]. A full
    4 MiB zone (64 free pages = its min mark) boosted by 1000 pages: the MIN pass fails
    (threshold (64 + 1000) * 3/8), the retry allows down to min - min/2 - min/4 = 24
    (__zone_watermark_ok 4045, 4055: ALLOC_HIGH and ALLOC_HARDER), so 40 pages are handed
    out; fastimpl (which finds the bit through 6.1's gfp profile) does what the model does."""
    got = []
    for cls in MACHINES:
        m = cls.generic(1024, policy="linux", migratetypes=True, nr_cpus=1, kernel="6.1")
        while m.alloc_pages(gfp.GFP_KERNEL, 0) is not None:
            pass
        zone = m.zones[0]
        assert zone.free_pages == zone.watermark[0] == 64
        zone.watermark_boost = 1000
        n = 0
        while m.alloc_pages(0xa20, 0) is not None:
            n += 1
        got.append((n, zone.free_pages))
    assert got == [(40, 24), (40, 24)]


# -- the fuzzing harness's streams (kmem.fuzz.path) -----------------------------------------
STREAM_KINDS = {"alloc", "alloc_node", "exhaust", "free", "release", "get", "put", "misfree",
                "drain", "cpu", "decay", "clock"}


def test_random_streams_ask_with_real_masks_and_known_operations():
    """kmem.fuzz.path.random_stream: every allocation asks with a real mask plus
    __GFP_NOWARN (a failure is legal and must not print), every operation is one the
    runner knows (the nofragment prelude's too), and the vmstat worker's decay runs on
    either CPU of a two-CPU machine, not only on CPU 0 as the prelude's does."""
    from kmem.fuzz.path import NOWARN, random_stream

    ops = [op for seed in range(30) for nofrag in (False, True)
           for op in random_stream(seed, 200, nr_cpus=2, nofragment=nofrag)]
    assert {op[0] for op in ops} <= STREAM_KINDS
    allocs = [op[1] for op in ops if op[0] == "alloc"]
    assert allocs and all(mask & NOWARN and mask & ~NOWARN for mask in allocs)
    assert ("decay", 1) in ops


def test_the_runner_counts_its_steps():
    """PathRunner.apply numbers the operations it runs (a divergence names its step)."""
    from kmem.fuzz.path import PATH_CONFIGS, PathRunner, path_impls

    runner = PathRunner(PATH_CONFIGS[0], path_impls("model"))
    for op in [("alloc", gfp.GFP_KERNEL, 0), ("drain",), ("clock", 1)]:
        runner.apply(op)
    assert runner.step == 3


def test_path_impls_keep_the_whole_path_mutants():
    """path_impls keeps the implementations that have the whole path: the model, fastimpl
    and every planted whole-path mutant ("mutant:" + a name of PATH_MUTANTS)."""
    from kmem.fuzz.mutants.path import PATH_MUTANTS
    from kmem.fuzz.path import path_impls

    names = ["mutant:" + n for n in PATH_MUTANTS]
    assert [i.name for i in path_impls(["model", *names])] == ["model", *names]
