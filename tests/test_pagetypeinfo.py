"""/proc/pagetypeinfo (kmem.spec.pagetypeinfo), the zoneinfo pagesets, ``kmem pagetypeinfo``,
and which step of the slow path gave up (``Machine.last_failure``)."""

from pathlib import Path

import pytest

from kmem.model import Machine, api
from kmem.spec import gfp, migrate, pagetypeinfo
from kmem.spec.errors import AllocationLivelock, InvalidArgument

SAMPLE = """\
Page block order: 9
Pages per block:  512

Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 
Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      1      0      0 
Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      1      3 
Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone      DMA, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone      DMA, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone   Normal, type    Unmovable    761   1021    467    117 >100000     14      3      1      0      0      0 
Node    0, zone   Normal, type      Movable      1      3      0      2      3      2      1      4      4      2    752 
Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 

Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate 
Node 0, zone      DMA            1            7            0            0            0 
Node 0, zone   Normal           86         3266          168            0            0 
"""  # noqa: W291 (the kernel ends each row with a space)


def test_parse_and_print_round_trip_without_cma():
    order, cma, zones = pagetypeinfo.parse_pagetypeinfo(SAMPLE)
    assert (order, cma, len(zones)) == (9, False, 2)
    assert zones[1].free[0][4] == 100000 and zones[1].blocks == (86, 3266, 168, 0, 0)
    assert pagetypeinfo.format_pagetypeinfo(order, [zones], cma) == SAMPLE


@pytest.mark.live
def test_this_machines_pagetypeinfo_round_trips():
    text = Path("/proc/pagetypeinfo").read_text()
    order, cma, zones = pagetypeinfo.parse_pagetypeinfo(text)
    nodes: dict[int, list] = {}
    for z in zones:
        nodes.setdefault(z.node, []).append(z)
    assert pagetypeinfo.format_pagetypeinfo(order, list(nodes.values()), cma) == text


def test_model_pagetypeinfo_matches_its_lists():
    m = Machine.x86_64(64, policy="linux", migratetypes=True, nr_cpus=1, cma=True)
    kept = [api.alloc_pages(m, gfp.GFP_KERNEL, 0) for _ in range(40)]
    kept += [api.alloc_pages(m, gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE, 2) for _ in range(5)]
    assert all(kept)
    text = m.pagetypeinfo()
    order, cma, zones = pagetypeinfo.parse_pagetypeinfo(text)
    assert (order, cma) == (9, True)
    for row, zone in zip(zones, [z for z in m.zones if z.present_pages], strict=True):
        for mt in range(migrate.MIGRATE_TYPES):
            assert list(row.free[mt]) == [zone.nr_free_mt(o, mt) for o in range(11)]
        assert sum(row.blocks) == len(range(zone.start_pfn, zone.end_pfn, 512))
    assert zones[1].blocks[migrate.MIGRATE_UNMOVABLE] >= 1  # claimed by GFP_KERNEL
    assert zones[1].blocks[migrate.MIGRATE_RECLAIMABLE] >= 1
    assert "          CMA " in text and "          CMA " not in m.pagetypeinfo(cma=False)
    with pytest.raises(InvalidArgument):
        Machine.x86_64(64).pagetypeinfo()


def test_pagetypeinfo_without_cma_by_default():
    # Debian's amd64 kernels have CONFIG_CMA unset: no MIGRATE_CMA, no "CMA" in
    # migratetype_names[] (mm/page_alloc.c, #ifdef CONFIG_CMA), so no CMA row or column
    m = Machine.x86_64(64, policy="linux", migratetypes=True)
    assert m.cma is False
    assert "CMA" not in m.pagetypeinfo()
    assert "CMA" in m.pagetypeinfo(cma=True)
    assert "CMA" in Machine.x86_64(64, policy="linux", migratetypes=True, cma=True).pagetypeinfo()


def test_zoneinfo_pagesets_layout_follows_the_kernel():
    # 6.13 "mm: add pcp high_min high_max to proc zoneinfo" (mm/vmstat.c zoneinfo_show_print):
    # "count:    %i", "high:     %i", "batch:    %i", "high_min: %i", "high_max: %i", as
    # this machine's 6.18 prints them; the default machine models the newest kernel
    m = Machine.x86_64(512, policy="linux", migratetypes=True, nr_cpus=2)
    p = m.zones[1].pcp[0]
    dma32 = m.zoneinfo().split("zone    DMA32")[1]
    assert (f"\n    cpu: 0\n              count:    0\n              high:     0\n"
            f"              batch:    {p.batch}\n              high_min: {p.high_min}\n"
            f"              high_max: {p.high_max}\n  vm stats threshold: ") in dma32


def test_zoneinfo_pagesets():
    # 6.12.118 mm/vmstat.c:1797-1805: "count: %i", "high:  %i", "batch: %i"
    m = Machine.x86_64(512, policy="linux", migratetypes=True, nr_cpus=2, kernel="6.12")
    text = m.zoneinfo()
    assert ("\n  pagesets\n    cpu: 0\n              count: 0\n              high:  0\n"
            "              batch: 1\n  vm stats threshold: 4\n    cpu: 1\n") in text
    api.alloc_pages(m, gfp.GFP_HIGHUSER_MOVABLE, 0)
    dma32 = m.zoneinfo().split("zone    DMA32")[1]
    # the refill raised high to min(high_min + batch, high_max) and kept batch - 1 pages
    assert "count: 30\n              high:  469\n              batch: 31\n" in dma32  # 438 + 31
    assert "pagesets" not in Machine.x86_64(512, policy="linux").zoneinfo()


def test_kmem_pagetypeinfo_command(capsys):
    from kmem.cli import main

    assert main(["pagetypeinfo", "--mem-mb", "256", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Page block order: 9\nPages per block:  512\n")


def test_last_failure_names_the_step():
    m = Machine.generic(512, policy="linux", migratetypes=True, min_free_kbytes=64)
    while api.alloc_pages(m, gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 0) is not None:
        pass
    assert m.last_failure == "OOM made no progress"
    assert api.alloc_pages(m, gfp.GFP_NOWAIT | gfp.__GFP_NOWARN, 0) is None
    assert m.last_failure == "no direct reclaim"
    assert api.alloc_pages(m, gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 5) is None
    assert m.last_failure == "costly order"
    with pytest.raises(AllocationLivelock):  # NOFAIL takes the reserves, then loops
        for _ in range(600):
            assert api.alloc_pages(m, gfp.GFP_KERNEL | gfp.__GFP_NOFAIL, 0) is not None
    assert m.free_pages_total == 0 and m.check_invariants() == []


@pytest.mark.live
def test_this_machine_booted_with_the_whole_path():
    """``Machine.from_proc`` of this machine with migratetypes and pcp lists: every node,
    invariants hold, and its pagetypeinfo parses with this kernel's column set."""
    root = Path("/proc")
    sysctls = {n: (root / "sys/vm" / n).read_text()
               for n in ("min_free_kbytes", "lowmem_reserve_ratio", "watermark_scale_factor")}
    m = Machine.from_proc((root / "zoneinfo").read_text(), (root / "buddyinfo").read_text(),
                          sysctls, allow_free_mismatch=True, policy="linux", migratetypes=True,
                          nr_cpus=2)
    assert m.check_invariants() == []
    _, real_cma, real = pagetypeinfo.parse_pagetypeinfo((root / "pagetypeinfo").read_text())
    order, cma, zones = pagetypeinfo.parse_pagetypeinfo(m.pagetypeinfo(cma=real_cma))
    assert (order, cma) == (9, real_cma)
    assert [(z.node, z.zone) for z in zones] == [(z.node, z.zone) for z in real]
