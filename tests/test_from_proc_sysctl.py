"""Machine.from_proc: a whole /proc/sys/vm (issue 10, item 11b) and the non-strict mode that
boots anyway and reports each printed-vs-recomputed difference (item 11c)."""

import pytest

from kmem.model import Machine
from kmem.spec import procfs
from kmem.spec.errors import InvalidArgument
from kmem.spec.from_proc import boost_problems, read_sysctl_dir
from kmem.spec.zones import x86_64

from .test_from_proc import REAL_BUDDYINFO, REAL_ZONEINFO

#: a copy of a real /proc/sys/vm (6.x): the files the model uses and many it does not
VM_DIR = {
    "min_free_kbytes": "67584\n", "lowmem_reserve_ratio": "256\t256\t32\t0\t0\n",
    "watermark_scale_factor": "10\n", "watermark_boost_factor": "15000\n",
    "swappiness": "60\n", "overcommit_memory": "0\n", "dirty_ratio": "20\n",
    "numa_zonelist_order": "Node\n", "stat_refresh": "", "page-cluster": "3\n",
}


def test_a_whole_proc_sys_vm_is_accepted(tmp_path):
    m = Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, VM_DIR)
    assert m.buddyinfo() == REAL_BUDDYINFO
    assert m.watermark_boost_factor == 15000
    assert m.from_proc_report == ("ignored sysctls (not modelled): dirty_ratio, "
                                  "numa_zonelist_order, overcommit_memory, page-cluster, "
                                  "stat_refresh, swappiness",)
    # the same from a directory, as `kmem buddyinfo --from-proc DIR` reads it
    for name, text in VM_DIR.items():
        (tmp_path / name).write_text(text)
    assert read_sysctl_dir(tmp_path) == VM_DIR
    assert Machine.from_proc(REAL_ZONEINFO, REAL_BUDDYINFO, tmp_path).buddyinfo() == \
        REAL_BUDDYINFO
    with pytest.raises(InvalidArgument, match="not a directory"):
        read_sysctl_dir(tmp_path / "missing")


def test_boost_factor_checks_and_keeps_the_printed_boost():
    # mm/page_alloc.c boost_watermark: nothing with watermark_boost_factor 0
    boosted = REAL_ZONEINFO.replace("        boost    0\n        min      13883\n        low      "
                                    "17353\n        high     20823\n        promo    24293\n",
                                    "        boost    512\n        min      14395\n        low      "
                                    "17865\n        high     21335\n        promo    24805\n")
    assert boosted != REAL_ZONEINFO
    m = Machine.from_proc(boosted, REAL_BUDDYINFO, VM_DIR)
    assert m.zones[1].watermark_boost == 512 and m.zoneinfo_zones()[1].min == 14395
    off = dict(VM_DIR, watermark_boost_factor="0\n")
    with pytest.raises(procfs.ZoneinfoMismatch, match="watermark_boost_factor is 0"):
        Machine.from_proc(boosted, REAL_BUDDYINFO, off)
    zones = procfs.parse_zoneinfo(boosted)
    assert boost_problems(zones, 15000) == []
    assert boost_problems(zones, 0)[0].startswith("node 0 zone DMA32: boost 512 printed")


def test_non_strict_boots_with_the_printed_values_and_reports_each_difference():
    # memory hot-added after boot: managed grew, the watermarks were not recomputed
    layout = x86_64(8192)
    text = procfs.format_zoneinfo(procfs.zoneinfo_for_layout(layout, min_free_kbytes=8192))
    zones = procfs.parse_zoneinfo(text)
    normal = zones[2]
    hot = text.replace(f"managed  {normal.managed}\n", f"managed  {normal.managed + 32768}\n")
    hot = hot.replace(f"pages free     {normal.free}\n", f"pages free     {normal.free + 32768}\n")
    hot = hot.replace(f"nr_free_pages {normal.free}\n", f"nr_free_pages {normal.free + 32768}\n")
    hot = hot.replace(f"present  {normal.present}\n", f"present  {normal.present + 32768}\n")
    hot = hot.replace(f"spanned  {normal.spanned}\n", f"spanned  {normal.spanned + 32768}\n")
    boot = procfs.parse_zoneinfo(hot)
    rows = [procfs.BuddyinfoRow(0, z.zone, _counts(z.free)) for z in boot if z.present]
    buddy = procfs.format_buddyinfo(rows)
    sysctls = {"min_free_kbytes": 8192}
    with pytest.raises(procfs.ZoneinfoMismatch, match="strict=False"):
        Machine.from_proc(hot, buddy, sysctls)
    m = Machine.from_proc(hot, buddy, sysctls, strict=False)
    expected = procfs.check_zoneinfo(boot, min_free_kbytes=8192,
                                     lowmem_reserve_ratio=(256, 256, 32, 0, 0))
    assert expected and m.from_proc_report == expected  # one line per difference
    # the machine runs with what the kernel printed
    assert procfs.format_zoneinfo(m.zoneinfo_zones()) == procfs.format_zoneinfo(boot)
    assert m.check_invariants() == []


def _counts(free: int) -> tuple[int, ...]:
    """Free-block counts per order for ``free`` pages: the binary digits, order 10 for the
    rest (a valid, placeable /proc/buddyinfo row)."""
    top, rest = divmod(free, 1024)
    return tuple((rest >> o) & 1 for o in range(10)) + (top,)
