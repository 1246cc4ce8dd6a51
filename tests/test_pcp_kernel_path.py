"""The per-CPU list path step by step against Linux 6.12's mm/page_alloc.c and mm/vmstat.c
(Debian linux-source-6.12, 6.12.118). Each expected value is worked out from the kernel line
cited next to it, not from kmem's spec."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.spec import gfp, pcp
from kmem.spec.errors import InvalidArgument


# -- finding 1: the drain mark ----------------------------------------------------------------
def test_nr_pcp_high_returns_the_mark_from_before_the_raise():
    # mm/page_alloc.c nr_pcp_high(), 6.12.118 lines 2633-2673:
    #   high = pcp->high = clamp(pcp->high, high_min, high_max);     -> 1266
    #   } else if (pcp->count >= high) {                               1266 >= 1266
    #       int need_high = pcp->free_count + batch;                   1266 + 63 = 1329
    #       if (pcp->high < need_high)
    #           pcp->high = clamp(need_high, high_min, high_max);     -> pcp->high 1329
    #   return high;                                                  -> the local 1266
    mark, new_high = pcp.nr_pcp_high(high=1266, high_min=1266, high_max=32256, count=1266,
                                     free_count=1266, batch=63, free_high=False,
                                     below_high=False)
    assert (mark, new_high) == (1266, 1329)


def test_free_at_the_mark_drains_by_the_old_high():
    # free_unref_page_commit (2699-2717): "if (pcp->count >= high) free_pcppages_bulk(zone,
    # nr_pcp_free(pcp, batch, high, free_high), pcp, pindex)" with high the mark nr_pcp_high
    # returned (the old one); nr_pcp_free (2606-2625) then frees clamp(free_count, batch,
    # high - batch).
    m = Machine.generic(1 << 18, policy="linux", migratetypes=True, nr_cpus=1)
    p = m.zones[0].pcp[0]
    held = [api.alloc_page(m, gfp.GFP_KERNEL) for _ in range(2 * p.high_min)]
    m.drain_all_pages()
    m.advance_clock(3600)  # decay_pcp_high brings pcp->high down to high_min
    assert (p.count, p.free_count, p.high) == (0, 0, p.high_min)
    high_min, batch = p.high_min, p.batch
    assert batch << pcp.PCP_BATCH_SCALE_MAX > high_min  # free_count can reach the mark
    for page in held[:high_min - 1]:
        api.__free_page(m, page)
    assert p.count == high_min - 1 and p.high == high_min  # nothing drained yet
    api.__free_page(m, held[high_min - 1])
    # count = free_count = high_min = the mark: need_high = high_min + batch raises pcp->high;
    # the drain uses the old mark: clamp(high_min, batch, high_min - batch) = high_min - batch
    assert p.high == high_min + batch
    assert p.count == high_min - (high_min - batch)
    assert not m.check_invariants()


# -- finding 2: a free goes to the freeing CPU's pageset ------------------------------------------
def test_free_goes_to_the_current_cpus_lists():
    # free_unref_page (2727-2766): pcp = pcp_spin_trylock(zone->per_cpu_pageset) -- this CPU's
    # pageset (this_cpu_ptr); free_unref_page_commit puts the page at the head (list_add, 2693).
    # rmqueue_pcplist (3115) takes this CPU's list head again: the same pfn comes back.
    m = Machine.generic(65536, policy="linux", migratetypes=True, nr_cpus=2)
    m.cpu = 1
    page = api.alloc_page(m, gfp.GFP_KERNEL)
    pfn = page.pfn
    api.__free_page(m, page)
    zone = m.zones[0]
    assert zone.pcp[1].count and not zone.pcp[0].count
    assert api.alloc_page(m, gfp.GFP_KERNEL).pfn == pfn


def test_cpu_must_exist():
    m = Machine.generic(65536, policy="linux", migratetypes=True, nr_cpus=2)
    with pytest.raises(InvalidArgument, match="cpu"):
        m.cpu = 2
    assert m.cpu == 0


# -- finding 3: decay_pcp_high and the vmstat worker ----------------------------------------------
def test_decay_pcp_high_arithmetic():
    # decay_pcp_high (2412-2443):
    #   if (pcp->high > high_min) {
    #       pcp->high = max3(pcp->count - (batch << CONFIG_PCP_BATCH_SCALE_MAX),
    #                        pcp->high - (pcp->high >> 3), high_min);
    #       if (pcp->high > high_min) todo = true; }
    #   to_drain = pcp->count - pcp->high;
    #   while (to_drain > 0) { to_drain_batched = min(to_drain, batch); ... todo = true; }
    # high 1600, min 1266, count 1500, batch 63: max3(1500 - 2016, 1600 - 200, 1266) = 1400;
    # 1400 > 1266 -> todo; to_drain 100 -> chunks 63, 37.
    assert pcp.decay_pcp_high(high=1600, high_min=1266, count=1500, batch=63) == (1400, (63, 37),
                                                                                   True)
    # count - (batch << 5) wins: 5000 - 2016 = 2984 > 1600 - 200; to_drain 2016 = 32 * 63
    assert pcp.decay_pcp_high(high=1600, high_min=1266, count=5000, batch=63) == (
        2984, (63,) * 32, True)
    # at high_min: no decay, nothing above high: nothing to do
    assert pcp.decay_pcp_high(high=1266, high_min=1266, count=100, batch=63) == (1266, (), False)
    # 1300 - 162 = 1138 < high_min -> 1266, not > high_min, count below: todo false
    assert pcp.decay_pcp_high(high=1300, high_min=1266, count=0, batch=63) == (1266, (), False)


def _pcp_machine(nr_cpus: int = 1) -> Machine:
    return Machine.generic(1 << 20, policy="linux", migratetypes=True, nr_cpus=nr_cpus)


def test_decay_drains_in_batch_chunks_each_from_pindex_0():
    # decay_pcp_high calls free_pcppages_bulk(zone, to_drain_batched, pcp, 0) (2436): every
    # chunk starts its round robin at pindex 0 ("pindex = pindex - 1; ... if (++pindex >
    # NR_PCP_LISTS - 1) pindex = 0", 1231-1243) and takes up to the chunk from the first
    # non-empty list's tail before moving on (the inner do-while, 1245-1262).
    m = _pcp_machine()
    zone = m.zones[0]
    p = zone.pcp[0]
    # park order-0 UNMOVABLE (pindex 0) and MOVABLE (pindex 1) pages
    un = [api.alloc_page(m, gfp.GFP_KERNEL) for _ in range(40)]
    mv = [api.alloc_page(m, gfp.GFP_HIGHUSER_MOVABLE) for _ in range(40)]
    for page in un + mv:
        api.__free_page(m, page)
    batch = p.batch
    p.high = p.high_min + 1000  # as auto-tuning leaves it after a burst of frees
    lists0 = [list(lst) for lst in p.lists]
    count0, high0 = p.count, p.high
    new_high, chunks, todo = pcp.decay_pcp_high(high=high0, high_min=p.high_min, count=count0,
                                                 batch=batch)
    # replay the kernel's order by hand on copies of the lists: each chunk from pindex 0
    expect_freed: list[int] = []
    lists = [list(x) for x in lists0]
    for chunk in chunks:
        idx = -1
        left = chunk
        while left > 0:
            idx = (idx + 1) % pcp.NR_PCP_LISTS
            while not lists[idx]:
                idx = (idx + 1) % pcp.NR_PCP_LISTS
            while left > 0 and lists[idx]:
                expect_freed.append(lists[idx].pop())  # list_last_entry
                left -= 1 << pcp.pindex_to_order(idx)
    freed_order: list[int] = []
    orig = zone.free_one_page_mt

    def spy(pfn, order, mt, to_tail):
        freed_order.append(pfn)
        return orig(pfn, order, mt, to_tail)

    zone.free_one_page_mt = spy  # type: ignore[method-assign]
    assert m.vmstat_update(0) is todo
    assert p.high == new_high
    assert freed_order == expect_freed
    assert [list(lst) for lst in p.lists] == lists
    assert p.count == count0 - sum(chunks)
    assert not m.check_invariants()


def test_decay_chunks_drain_more_than_one_bulk_call_of_thp_blocks():
    # decay frees min(to_drain, batch) per free_pcppages_bulk call (2434-2440), and each call
    # frees whole blocks until its count is used up ("count -= nr_pages" in the do-while,
    # 1254-1262): with only THP blocks (512 pages, pindex NR_LOWORDER_PCP_LISTS + 1) on the
    # lists and to_drain = 100 > batch, the chunks 63 and 37 free one block each: two blocks,
    # where one bulk call of 100 would free one.
    m = _pcp_machine()
    zone = m.zones[0]
    p = zone.pcp[0]
    blocks = [api.alloc_pages(m, gfp.GFP_TRANSHUGE, 9) for _ in range(4)]
    for page in blocks:
        api.__free_pages(m, page, 9)
    assert len(p.lists[pcp.NR_LOWORDER_PCP_LISTS + 1]) == 4 and p.count == 4 * 512
    assert p.batch < 100
    p.high = p.high_min = p.count - 100  # no decay of high; to_drain = 100
    p.high_max = max(p.high_max, p.high)
    assert m.vmstat_update(0) is True
    assert p.count == 2 * 512
    assert not m.check_invariants()


def test_time_passing_runs_the_vmstat_worker_each_second_on_every_cpu():
    # vmstat_update (mm/vmstat.c 2003-2015) runs refresh_cpu_vm_stats(true) every
    # sysctl_stat_interval (HZ: 1 s, 1936) on each CPU; that calls decay_pcp_high for every
    # populated zone (839). high decays by an eighth a second towards high_min.
    m = _pcp_machine(nr_cpus=2)
    zone = m.zones[0]
    for cpu in (0, 1):
        zone.pcp[cpu].high = zone.pcp[cpu].high_min * 2
    start = [p.high for p in zone.pcp]
    m.advance_clock(0.5)
    assert [p.high for p in zone.pcp] == start  # no second boundary crossed yet
    m.advance_clock(0.5)
    want = [max(h - (h >> 3), zone.pcp[0].high_min) for h in start]
    assert [p.high for p in zone.pcp] == want
    m.advance_clock(3600)
    assert [p.high for p in zone.pcp] == [zone.pcp[0].high_min] * 2
    assert m.clock_s == 3601


def test_time_passing_on_a_machine_without_pcp_lists_only_moves_the_clock():
    m = Machine.generic(4096)
    before = m.state()
    m.advance_clock(5)
    assert m.state() == before and m.clock_s == 5
    with pytest.raises(InvalidArgument):
        m.vmstat_update(0)
