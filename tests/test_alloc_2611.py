"""Linux 2.6.11's page allocator (``Machine.x86_32(mb, kernel="2.6.11")``).

Expected values are worked out by hand from v2.6.11's mm/page_alloc.c (sha256
9cd1f1cb...; line numbers of that file): ``page_is_buddy`` 202-210, ``__free_pages_bulk``
236-275, ``free_pages_bulk`` 308-328, ``expand`` 368-383, ``__rmqueue`` 431-451,
``rmqueue_bulk`` 458-476, ``free_hot_cold_page`` 569-590, ``buffered_rmqueue`` 617-658,
``zone_watermark_ok`` 664-689, ``__alloc_pages`` 694-856, the pageset sizes of
``free_area_init_core`` 1617-1640, ``setup_per_zone_lowmem_reserve`` 1920-1940,
``setup_per_zone_pages_min`` 1947-1993, ``init_per_zone_pages_min`` 2019-2033, and
mm/bootmem.c ``free_all_bootmem_core`` 256-307, kernel/printk.c ``__printk_ratelimit``
886-912. The step-by-step comparison with the compiled 2.6.11 code itself is
tests/test_conform_2611.py.
"""

from __future__ import annotations

import random

import pytest

from kmem.model.machine import Machine
from kmem.model.machine_2611 import Machine2611
from kmem.spec import alloc_2611 as s
from kmem.spec.errors import AllocationLivelock, BadPageState, InvalidArgument

GFP_KERNEL, GFP_ATOMIC, GFP_HIGHUSER, GFP_DMA = 0xD0, 0x20, 0xD2, 0x01


def _m(mb: int = 64, **kw: object) -> Machine2611:
    m = Machine.x86_32(mb, kernel="2.6.11", **kw)
    assert isinstance(m, Machine2611)
    return m


# -- spec ---------------------------------------------------------------------------------

def test_page_is_buddy_reads_the_page_not_a_bitmap():
    ok = dict(private=True, page_order=3, reserved=False, count=0, order=3)
    assert s.page_is_buddy(**ok)
    for change in (dict(private=False), dict(page_order=2), dict(reserved=True), dict(count=1)):
        assert not s.page_is_buddy(**{**ok, **change})


def test_free_pages_bulk_merges_relative_to_the_zone_and_stops_at_its_end():
    free = {(1, 0), (2, 1), (4, 2)}
    d = s.free_pages_bulk_delta(lambda i, o: (i, o) in free, 0, 0, 8)
    assert d.merged == ((1, 0), (2, 1), (4, 2)) and d.result == (0, 3)
    # the buddy of index 4 at order 2 is index 0 ... and of 8 at order 3 would be 0, but
    # a zone of 12 pages: index 12's buddy at order 2 is 8, index 8's at order 3 is 0
    d = s.free_pages_bulk_delta(lambda i, o: (i, o) in {(0, 3)}, 8, 2, 12)
    assert d.merged == () and d.result == (8, 2)  # 12 >= zone_pages: bad_range, break
    with pytest.raises(InvalidArgument, match="BUG_ON"):
        s.free_pages_bulk_delta(lambda i, o: False, 2, 2, 16)


def test_expand_splits_off_upper_halves_downwards():
    assert s.expand(0, 0, 3) == ((4, 2), (2, 1), (1, 0))
    assert s.expand(64, 2, 2) == ()


def test_pageset_sizes_of_free_area_init_core():
    assert s.zone_batch(4096) == 1        # 4096/1024 = 4, /4 = 1
    assert s.zone_batch(12288) == 3       # 12, /4
    assert s.zone_batch(225280) == 16     # 220 capped at 256 KB = 64 pages, /4
    assert s.zone_batch(100) == 1         # 0 -> at least 1
    hot, cold = s.pageset_params(16)
    assert (hot.low, hot.high, hot.batch) == (32, 96, 16)
    assert (cold.low, cold.high, cold.batch) == (0, 32, 16)


def test_zonelists_of_build_zonelists():
    assert s.zonelist(GFP_HIGHUSER, (4096, 100, 100)) == (2, 1, 0)
    assert s.zonelist(GFP_HIGHUSER, (4096, 100, 0)) == (1, 0)  # empty HighMem left out
    assert s.zonelist(GFP_KERNEL, (4096, 100, 100)) == (1, 0)
    assert s.zonelist(GFP_DMA | 0x20, (4096, 100, 100)) == (0,)
    with pytest.raises(InvalidArgument, match="loner"):
        s.zonelist(GFP_DMA | 0x02, (4096, 100, 100))


def test_alloc_plan_passes():
    atomic = s.alloc_plan(GFP_ATOMIC)
    assert [(p.mark, p.can_try_harder, p.gfp_high) for p in atomic.passes] == [
        ("low", False, False), ("min", True, True)]
    assert atomic.on_failure == "nopage"
    kernel = s.alloc_plan(GFP_KERNEL)
    assert [p.mark for p in kernel.passes] == ["low", "min", "high"]
    assert kernel.on_failure == "loops" and not kernel.passes[1].can_try_harder
    assert s.alloc_plan(0x10).on_failure == "retry"  # GFP_NOIO: no __GFP_FS
    assert s.alloc_plan(GFP_KERNEL | 0x1000).on_failure == "retry"  # __GFP_NORETRY
    assert [p.mark for p in s.alloc_plan(GFP_KERNEL, memalloc=True).passes] == [
        "low", "min", None]
    assert s.alloc_plan(GFP_KERNEL, rt_task=True).passes[1].can_try_harder
    assert s.retries(0x10, 3) and not s.retries(0x10, 4) and s.retries(0x410, 4)
    assert not s.retries(0x1010, 0) and s.retries(0x810, 9)


def test_printk_ratelimit_burst_of_ten_then_one_per_five_seconds():
    st = s.Ratelimit2611()
    shown = []
    for _ in range(12):
        ok, st, note = s.printk_ratelimit(st, 0)
        shown.append(ok)
    assert shown == [True] * 10 + [False] * 2
    ok, st, note = s.printk_ratelimit(st, 5 * s.HZ)
    assert ok and note == "printk: 2 messages suppressed."


def test_bootmem_frees_whole_words_as_order_5():
    frees = s.bootmem_frees(0, 70, [(0, 40), (41, 70)])
    assert frees[0] == (0, 5) and (32, 5) not in frees and (33, 0) in frees
    assert (40, 0) not in frees and frees[-1] == (69, 0) and (64, 0) in frees
    assert frees == [(0, 5)] + [(p, 0) for p in range(32, 70) if p != 40]


def test_hot_list_boot_frees_in_closed_form():
    # free_hot_cold_page with high 6, batch 2: frees 1-6 fill the list; free 7 drains 2
    # first (count 6 >= high), free 9 drains 2 more, ...
    assert [s.hot_frees_drained(n, 6, 2) for n in range(12)] == [
        0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 6]
    assert s.canonical_blocks(4128, 4128 + 1030, 4128) == [(4128, 10), (5152, 2), (5156, 1)]


# -- the machine -------------------------------------------------------------------------

def test_boot_buddyinfo_and_watermarks_of_a_64mb_machine():
    m = _m(64)
    # 2.6.11 frag_show: "Node %d, zone %8s " and "%6lu " per order; HighMem is empty
    assert m.buddyinfo() == (
        "Node 0, zone      DMA      0      0      0      0      0      0      0      0      0"
        "      0      4 \n"
        "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0"
        "      0     12 \n")
    # min_free_kbytes = int_sqrt(16384 pages * 4 KB * 16) = 1024; pages_min 256 shared
    # over 16384 lowmem pages: DMA 64, Normal 192; empty HighMem max(0, 32) = 32
    assert m.min_free_kbytes == 1024
    assert [z.watermark[:3] for z in m.zones] == [(64, 80, 96), (192, 240, 288), (32, 40, 48)]
    # lowmem_reserve: DMA[1] = 12288/256, DMA[2] = (0 + 12288)/256, Normal[2] = 0/32
    assert [z.lowmem_reserve for z in m.zones] == [(0, 48, 48), (0, 0, 0), (0, 0, 0)]
    assert [(p.low, p.high, p.batch) for p in m.zones[1].pageset[0]] == [(6, 18, 3), (0, 6, 3)]
    assert m.check_invariants() == []


def test_hot_pages_come_back_lifo_and_refill_in_batches():
    m = _m(64)
    normal = m.zones[1]
    first = m.alloc_pages(GFP_KERNEL)
    # the head of free_area[10] is the block freed last at boot (head insertion): 0x3c00;
    # rmqueue_bulk put batch 3 pages on the hot list tail, the head was handed out
    assert first is not None and first.pfn == 0x3C00
    assert normal.pcp_list(0, 0) == [0x3C01, 0x3C02] and normal.pageset[0][0].count == 2
    second = m.alloc_pages(GFP_KERNEL)  # count 2 <= low 6: refill 3 more first
    assert second is not None and second.pfn == 0x3C01
    assert normal.pcp_list(0, 0) == [0x3C02, 0x3C03, 0x3C04, 0x3C05]
    m.free_pages(first)
    assert normal.pcp_list(0, 0)[0] == 0x3C00  # free_hot_cold_page: list_add at the head
    again = m.alloc_pages(GFP_KERNEL)
    assert again is first


def test_free_drains_a_batch_from_the_tail_at_high():
    m = _m(64)
    normal = m.zones[1]
    pages = [m.alloc_pages(GFP_KERNEL) for _ in range(30)]
    m.drain_local_pages()
    for p in pages[:18]:
        m.free_pages(p)  # count reaches high 18
    lst = normal.pcp_list(0, 0)
    assert len(lst) == 18 and lst[-3:] == [pages[2].pfn, pages[1].pfn, pages[0].pfn]
    m.free_pages(pages[18])  # count >= high: free batch 3 from the tail, then add
    lst = normal.pcp_list(0, 0)
    assert len(lst) == 16 and lst[0] == pages[18].pfn
    assert pages[0].pfn not in lst and pages[2].pfn not in lst and pages[3].pfn in lst


def test_cold_pages_use_the_cold_list():
    m = _m(64)
    normal = m.zones[1]
    page = m.alloc_pages(GFP_KERNEL | s.GFP_COLD)
    assert page is not None and normal.pageset[0][1].count == 2  # cold low 0: refilled 3
    m.free_cold_page(page)
    assert normal.pcp_list(0, 1)[0] == page.pfn and normal.pcp_list(0, 0) == []


def test_orders_above_zero_bypass_the_lists():
    m = _m(64)
    page = m.alloc_pages(GFP_KERNEL, 3)
    assert page is not None and m.pcp_pages_total == 0
    m.free_pages(page, 3)
    assert m.pcp_pages_total == 0 and m.zones[1].nr_free()[10] == 12


def test_failure_line_of_2_6_and_livelock_where_2_6_11_loops():
    m = _m(16)  # DMA only
    got = []
    while (p := m.alloc_pages(GFP_ATOMIC, 10)) is not None:
        got.append(p)
    assert m.dmesg[-1] == "kmem: page allocation failure. order:10, mode:0x20"
    assert m.alloc_pages(GFP_ATOMIC | s.GFP_NOWARN, 10) is None
    assert len(m.dmesg) == 1
    before = (m.zones[0].nr_free(), m.zones[0].free_pages)
    with pytest.raises(AllocationLivelock, match="retry for ever"):
        m.alloc_pages(GFP_KERNEL, 10)
    assert (m.zones[0].nr_free(), m.zones[0].free_pages) == before
    assert m.alloc_pages(GFP_KERNEL, 11) is None  # order >= MAX_ORDER: NULL, no message


def test_gfp_high_and_realtime_dig_deeper_than_plain_requests():
    m = _m(16)
    # exhaust DMA down to its watermarks with order-0 GFP_KERNEL|__GFP_NORETRY (nopage)
    while m.alloc_pages(0x10D0 | s.GFP_NOWARN) is not None:
        pass
    dma = m.zones[0]
    wmin = dma.watermark[0]  # 128: min_free_kbytes int_sqrt(16384 * 16) = 512 KB
    assert wmin == 128 and dma.free_pages == wmin  # stopped at pages_min: free <= min fails
    m.rt_task = True  # can_try_harder: min - min/4 = 96
    while m.alloc_pages(0x10D0 | s.GFP_NOWARN) is not None:
        pass
    assert dma.free_pages == wmin - wmin // 4
    m.rt_task = False  # GFP_ATOMIC: __GFP_HIGH halves min and !wait takes a quarter: 48
    while m.alloc_pages(GFP_ATOMIC) is not None:
        pass
    assert dma.free_pages == (wmin - wmin // 2) - (wmin - wmin // 2) // 4


def test_no_zoneinfo_and_no_pagetypeinfo_in_2_6_11():
    m = _m(16)
    with pytest.raises(InvalidArgument, match="2.6.13"):
        m.zoneinfo()
    with pytest.raises(InvalidArgument, match="2.6.24"):
        m.pagetypeinfo()
    assert "free_area->map" in s.NO_BITMAPS


def test_double_free_is_a_bad_page():
    m = _m(16)
    p = m.alloc_pages(GFP_KERNEL)
    assert p is not None
    m.free_pages(p)
    with pytest.raises(BadPageState):
        m.zones[0].free_hot_cold_page(0, p.pfn, False)


def test_a_zone_start_not_a_multiple_of_32_pages_bugs_at_boot():
    with pytest.raises(InvalidArgument, match="would BUG at boot"):
        Machine2611.custom((1000, 3000, 0))


def test_a_zone_not_aligned_to_max_order_merges_relative_to_its_start():
    m = Machine2611.custom((4128, 4096, 0))  # Normal starts at 4128 = 0x1020
    normal = m.zones[1]
    assert list(normal.free_area[10].free_list) == [4128 + 3072, 4128 + 2048, 4128 + 1024, 4128]
    assert m.check_invariants() == []


def test_random_operations_keep_the_invariants():
    m = _m(32, nr_cpus=2)
    rng = random.Random(5)
    held: list[tuple[object, int]] = []
    for _ in range(1500):
        m.cpu = rng.randrange(2)
        if held and rng.random() < 0.5:
            page, order = held.pop(rng.randrange(len(held)))
            if order == 0 and rng.random() < 0.3:
                m.free_cold_page(page)  # type: ignore[arg-type]
            else:
                m.free_pages(page, order)  # type: ignore[arg-type]
        else:
            order = rng.choice((0, 0, 0, 1, 2, 5))
            page = m.alloc_pages(rng.choice((GFP_ATOMIC, 0x120, 0x10D0 | s.GFP_NOWARN)), order)
            if page is not None:
                held.append((page, order))
        if rng.random() < 0.02:
            m.drain_local_pages()
    assert m.check_invariants() == []


def test_kernel_switch_only_takes_2_6_11_releases():
    assert s.is_2611("2.6.11") and s.is_2611("2.6.11.3") and not s.is_2611("2.6.12")
    m = _m(16)
    with pytest.raises(InvalidArgument, match="no ZONE_MOVABLE"):
        m.zone(m.config.zones[-1])


def test_demo_shows_free_lists_and_hot_cold_lists_step_by_step(capsys):
    from kmem.cli import main

    assert main(["demo", "--kernel", "2.6.11"]) == 0
    out = capsys.readouterr().out
    assert "free_area->map" in out and "no buddy bitmaps" in out
    # boot: 12 order-10 blocks in Normal, the last freed (0x3c00) at the head
    assert "free_area[10] nr_free 12  [0x3c00, 0x3800," in out
    # A: a batch of 3 to the hot list, the head handed out; D gets A back (LIFO)
    assert "A = alloc_pages(GFP_KERNEL, 0) -> pfn 0x3c00" in out
    assert "cpu 0 hot  count 2  low 6 high 18 batch 3  [0x3c01, 0x3c02]" in out
    assert "D = alloc_pages(GFP_KERNEL, 0) -> pfn 0x3c00" in out
    assert "cpu 0 cold count 2  low 0 high 6  batch 3  [0x3c07, 0x3c08]" in out
    # the drain at high: batch pages leave from the tail, the freed page goes to the head
    assert "cpu 0 hot  count 16 low 6 high 18 batch 3  [0x3c17, 0x3c16" in out
    assert "buddy invariants: all hold" in out and "2.6.13" in out


def test_kmem_zoneinfo_for_2_6_11_says_there_was_none(capsys):
    from kmem.cli import main

    assert main(["zoneinfo", "--kernel", "2.6.11", "--preset", "x86_32", "--mem-mb", "64"]) == 2
    err = capsys.readouterr().err
    assert "does not exist before 2.6.13" in err and "buddyinfo" in err


def test_failure_lines_are_rate_limited_as_printk_ratelimit_does():
    m = _m(16)
    while m.alloc_pages(GFP_ATOMIC, 10) is not None:
        pass  # the first failure
    for _ in range(11):
        assert m.alloc_pages(GFP_ATOMIC, 10) is None
    lines = [d for d in m.dmesg if "page allocation failure" in d]
    assert len(lines) == 10  # a burst of 10, then nothing within the same 5 s
    m.advance_clock(5)
    assert m.alloc_pages(GFP_ATOMIC, 10) is None
    assert m.dmesg[-2:] == ["printk: 2 messages suppressed.",
                            "kmem: page allocation failure. order:10, mode:0x20"]


def test_2_6_11_only_on_the_i386_preset():
    for build in (lambda: Machine.x86_64(64, kernel="2.6.11"),
                  lambda: Machine.generic(64, kernel="2.6.11.3")):
        with pytest.raises(InvalidArgument, match=r"Machine.x86_32\(mem_mb, kernel='2.6.11'\)"):
            build()


def test_buddyinfo_command_boots_the_2_6_11_machine(capsys):
    from kmem.cli import main

    assert main(["buddyinfo", "--preset", "x86_32", "--mem-mb", "1024", "--kernel", "2.6.11"]) == 0
    out = capsys.readouterr().out
    m = _m(1024)
    assert out == m.buddyinfo() != Machine.x86_32(1024).buddyinfo()
    # one_highpage_init freed HighMem (896 MB..1 GB, 32768 pages: batch 32 -> 64 cap -> 8,
    # hot high 48) page by page through CPU 0's hot list: the last 48 pages stay there,
    # so the top 64-page block is not whole: 31 order-10 blocks, not 32
    high = m.zones[2]
    assert high.pageset[0][0].count == 48 and high.nr_free()[10] == 31
    assert high.pcp_list(0, 0)[0] == high.end_pfn - 1


@pytest.mark.parametrize("size,hole", [(40, None), (1000, None), (3000, (1500, 1533)),
                                       (5000, (4990, 5000)), (7, None)])
def test_highmem_boot_in_one_step_equals_page_by_page(size: int, hole: tuple[int, int] | None):
    from kmem.model.zone_2611 import Zone2611
    from kmem.spec.zones import ZoneSpan, ZoneType

    start = 229376 + 32  # a HighMem zone not aligned to MAX_ORDER-1
    reserved = () if hole is None else ((start + hole[0], start + hole[1]),)
    span = ZoneSpan(ZoneType.HIGHMEM, start, start + size, reserved=reserved)
    fast, slow = Zone2611(span, 2), Zone2611(span, 2)
    fast.boot_single_frees(list(fast.managed_ranges))
    for s_, e_ in slow.managed_ranges:
        for pfn in range(s_, e_):  # one_highpage_init: __free_page each, on CPU 0
            slow.allocated[pfn] = 0
            slow.free_hot_cold_page(0, pfn, cold=False)
    for order in range(s.MAX_ORDER):
        assert list(fast.free_area[order].free_list) == list(slow.free_area[order].free_list)
    assert fast.pcp_list(0, 0) == slow.pcp_list(0, 0)
    assert fast.pageset[0][0].count == slow.pageset[0][0].count
    assert (fast.free_pages, fast.nr_free()) == (slow.free_pages, slow.nr_free())


def test_helpers_speaking_the_6x_gfp_numbering_refuse_the_2_6_11_machine():
    from kmem.model.mmu import Mm, vmalloc

    m = _m(16)
    with pytest.raises(InvalidArgument, match="gfp numbering"):
        Mm(m)
    with pytest.raises(InvalidArgument, match="gfp numbering"):
        vmalloc(m, 1)
    with pytest.raises(InvalidArgument, match="slab"):
        m.slab_allocator  # noqa: B018
    z = m.zero_page()  # 2.6.11's GFP_KERNEL|__GFP_ZERO: a lowmem page, reserved
    assert z.reserved and m.read_page(z.pfn, 0, 16) == bytes(16)
