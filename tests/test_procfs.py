"""/proc/buddyinfo and /proc/zoneinfo: format, parse, recompute (spec/procfs.py)."""

import os
import sys

import pytest

from kmem.spec.errors import InvalidArgument
from kmem.spec.procfs import (
    BuddyinfoRow,
    ProcParseError,
    ZoneinfoMismatch,
    check_zoneinfo,
    config_from_zoneinfo,
    expected_watermarks,
    format_buddyinfo,
    format_sysctl_ints,
    format_zoneinfo,
    layout_from_zoneinfo,
    parse_buddyinfo,
    parse_sysctl_ints,
    parse_zoneinfo,
    verify_zoneinfo,
    zone_type_of,
    zoneinfo_for_layout,
)
from kmem.spec.watermarks import (
    default_min_free_kbytes,
    setup_per_zone_lowmem_reserve,
    setup_per_zone_wmarks,
)
from kmem.spec.zones import MINIMAL_CONFIG, X86_64_CONFIG, ZoneType, generic, x86_32

Z = ZoneType

# /proc/buddyinfo of an x86-64 guest running 6.18, verbatim (note the trailing spaces).
BUDDYINFO = (
    'Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n'
    'Node 0, zone    DMA32      1      2      4      2      5      4      3      3      4      2    752 \n'
    'Node 0, zone   Normal   1097    573    806    666    433    281    240    132     91     36    146 \n'
)

# /proc/zoneinfo of an x86-64 guest running 6.18 (2 CPUs), with the watermark and
# protection values of the sample in the project brief: min_free_kbytes 67584,
# lowmem_reserve_ratio "256 256 32 0 0", watermark_scale_factor 10, managed pages
# DMA 3840, DMA32 772917, Normal 163840, Movable 0, Device 0.
ZONEINFO = """\
Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 1649
      nr_active_anon 384
      nr_inactive_file 11659
      nr_active_file 18803
      nr_unevictable 3786
      nr_slab_reclaimable 8358
      nr_slab_unreclaimable 5268
      nr_isolated_anon 0
      nr_isolated_file 0
      workingset_nodes 9505
      workingset_refault_anon 0
      workingset_refault_file 88461
      workingset_activate_anon 0
      workingset_activate_file 22502
      workingset_restore_anon 0
      workingset_restore_file 0
      workingset_nodereclaim 0
      nr_anon_pages 3624
      nr_mapped    2830
      nr_file_pages 32676
      nr_dirty     93
      nr_writeback 0
      nr_shmem     2214
      nr_shmem_hugepages 0
      nr_shmem_pmdmapped 0
      nr_file_hugepages 0
      nr_file_pmdmapped 0
      nr_anon_transparent_hugepages 0
      nr_vmscan_write 0
      nr_vmscan_immediate_reclaim 1199
      nr_dirtied   261095
      nr_written   157354
      nr_throttled_written 0
      nr_kernel_misc_reclaimable 0
      nr_foll_pin_acquired 0
      nr_foll_pin_released 0
      nr_kernel_stack 1400
      nr_page_table_pages 348
      nr_sec_page_table_pages 0
      nr_iommu_pages 0
      nr_swapcached 0
      pgpromote_success 0
      pgpromote_candidate 0
      pgpromote_candidate_nrl 0
      pgdemote_kswapd 0
      pgdemote_direct 0
      pgdemote_khugepaged 0
      pgdemote_proactive 0
      nr_hugetlb   0
      nr_balloon_pages 0
      nr_kernel_file_pages 0
  pages free     3840
        boost    0
        min      68
        low      85
        high     102
        promo    119
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 3019, 3659, 3659, 3659)
      nr_free_pages 3840
      nr_free_pages_blocks 3584
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_zspages   0
      nr_free_cma  0
      numa_hit     0
      numa_miss    0
      numa_foreign 0
      numa_interleave 0
      numa_local   0
      numa_other   0
  pagesets
    cpu: 0
              count:    0
              high:     0
              batch:    1
              high_min: 37
              high_max: 240
  vm stats threshold: 4
    cpu: 1
              count:    0
              high:     0
              batch:    1
              high_min: 37
              high_max: 240
  vm stats threshold: 4
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone    DMA32
  pages free     772917
        boost    0
        min      13883
        low      17353
        high     20823
        promo    24293
        spanned  1044480
        present  782336
        managed  772917
        cma      0
        protection: (0, 0, 640, 640, 640)
      nr_free_pages 772917
      nr_free_pages_blocks 771072
      nr_zone_inactive_anon 0
      nr_zone_active_anon 0
      nr_zone_inactive_file 0
      nr_zone_active_file 0
      nr_zone_unevictable 0
      nr_zone_write_pending 0
      nr_mlock     0
      nr_zspages   0
      nr_free_cma  0
      numa_hit     0
      numa_miss    0
      numa_foreign 0
      numa_interleave 0
      numa_local   0
      numa_other   0
  pagesets
    cpu: 0
              count:    0
              high:     7615
              batch:    63
              high_min: 7615
              high_max: 48307
  vm stats threshold: 24
    cpu: 1
              count:    0
              high:     7615
              batch:    63
              high_min: 7615
              high_max: 48307
  vm stats threshold: 24
  node_unreclaimable:  0
  start_pfn:           4096
Node 0, zone   Normal
  pages free     150000
        boost    0
        min      2943
        low      3678
        high     4413
        promo    5148
        spanned  262144
        present  262144
        managed  163840
        cma      0
        protection: (0, 0, 0, 0, 0)
      nr_free_pages 150000
      nr_free_pages_blocks 176128
      nr_zone_inactive_anon 1646
      nr_zone_active_anon 384
      nr_zone_inactive_file 11655
      nr_zone_active_file 18803
      nr_zone_unevictable 3786
      nr_zone_write_pending 93
      nr_mlock     3563
      nr_zspages   0
      nr_free_cma  0
      numa_hit     1407207
      numa_miss    0
      numa_foreign 0
      numa_interleave 1111
      numa_local   1407207
      numa_other   0
  pagesets
    cpu: 0
              count:    927
              high:     6242
              batch:    63
              high_min: 2905
              high_max: 18432
  vm stats threshold: 20
    cpu: 1
              count:    4346
              high:     4637
              batch:    63
              high_min: 2905
              high_max: 18432
  vm stats threshold: 20
  node_unreclaimable:  0
  start_pfn:           1048576
Node 0, zone  Movable
  pages free     0
        boost    0
        min      32
        low      32
        high     32
        promo    32
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
Node 0, zone   Device
  pages free     0
        boost    0
        min      0
        low      0
        high     0
        promo    0
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0, 0)
"""

SYSCTLS = dict(min_free_kbytes=67584, lowmem_reserve_ratio=(256, 256, 32, 0, 0),
               watermark_scale_factor=10)

# What format_zoneinfo prints for the sample: the kernel's lines kmem models.
ZONEINFO_MODELLED_DMA = (
    "Node 0, zone      DMA\n"
    "  pages free     3840\n"
    "        boost    0\n"
    "        min      68\n"
    "        low      85\n"
    "        high     102\n"
    "        promo    119\n"
    "        spanned  4095\n"
    "        present  3998\n"
    "        managed  3840\n"
    "        cma      0\n"
    "        protection: (0, 3019, 3659, 3659, 3659)\n"
    "      nr_free_pages 3840\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           1\n"
)
ZONEINFO_MODELLED_MOVABLE = (
    "Node 0, zone  Movable\n"
    "  pages free     0\n"
    "        boost    0\n"
    "        min      32\n"
    "        low      32\n"
    "        high     32\n"
    "        promo    32\n"
    "        spanned  0\n"
    "        present  0\n"
    "        managed  0\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n"
)

_MODELLED_PREFIXES = ("Node ", "  pages free", "        boost", "        min ",
                      "        low ", "        high ", "        promo", "        spanned",
                      "        present", "        managed", "        cma ",
                      "        protection:", "      nr_free_pages ", "  node_unreclaimable:",
                      "  start_pfn:")


def modelled_lines(text):
    """The lines of a real zoneinfo that format_zoneinfo reproduces."""
    return "".join(line for line in text.splitlines(True) if line.startswith(_MODELLED_PREFIXES))


# --- buddyinfo ---------------------------------------------------------------


def test_buddyinfo_round_trip_is_byte_exact():
    rows = parse_buddyinfo(BUDDYINFO)
    assert rows[0] == BuddyinfoRow(0, "DMA", (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3))
    assert rows[2].nr_free[0] == 1097 and rows[2].zone == "Normal"
    assert format_buddyinfo(rows) == BUDDYINFO


def test_buddyinfo_format_widths():
    row = BuddyinfoRow(1, "HighMem", (0, 1234567, 5))
    assert format_buddyinfo([row]) == "Node 1, zone  HighMem      0 1234567      5 \n"


@pytest.mark.parametrize("text,lineno,msg", [
    ("Node 0, zone DMA 1 2\nNode 0 zone Normal 1 2\n", 2, "expected 'Node <n>, zone"),
    ("Node 0, zone Foo 1 2\n", 1, "unknown zone name 'Foo'"),
    ("Node 0, zone DMA 1 2\nNode 0, zone Normal 1 2 3\n", 2, "3 orders, but line 1 has 2"),
    ("Node 0, zone DMA 1 x\n", 1, "expected 'Node"),
    ("\n\n", 1, "no zone rows"),
])
def test_buddyinfo_parse_errors(text, lineno, msg):
    with pytest.raises(ProcParseError, match=msg) as exc:
        parse_buddyinfo(text)
    assert exc.value.lineno == lineno
    assert f"buddyinfo line {lineno}:" in str(exc.value)
    assert isinstance(exc.value, InvalidArgument)


# --- zoneinfo parse / format --------------------------------------------------


def test_parse_real_zoneinfo_sample():
    zones = parse_zoneinfo(ZONEINFO)
    assert [z.zone for z in zones] == ["DMA", "DMA32", "Normal", "Movable", "Device"]
    dma = zones[0]
    assert (dma.free, dma.boost, dma.min, dma.low, dma.high, dma.promo) == (
        3840, 0, 68, 85, 102, 119)
    assert (dma.spanned, dma.present, dma.managed, dma.cma) == (4095, 3998, 3840, 0)
    assert dma.protection == (0, 3019, 3659, 3659, 3659)
    assert (dma.nr_free_pages, dma.node_unreclaimable, dma.start_pfn) == (3840, 0, 1)
    assert zones[1].start_pfn == 4096 and zones[2].start_pfn == 1048576
    mov = zones[3]
    assert not mov.populated and mov.start_pfn is None and mov.nr_free_pages is None
    assert (mov.min, mov.low, mov.high, mov.promo) == (32, 32, 32, 32)
    assert zones[4].ztype is Z.DEVICE
    assert config_from_zoneinfo(zones) == X86_64_CONFIG


def test_format_zoneinfo_matches_kernel_lines():
    zones = parse_zoneinfo(ZONEINFO)
    assert format_zoneinfo(zones[:1]) == ZONEINFO_MODELLED_DMA
    assert format_zoneinfo(zones[3:4]) == ZONEINFO_MODELLED_MOVABLE
    assert format_zoneinfo(zones) == modelled_lines(ZONEINFO)


def test_zoneinfo_without_newer_fields():
    # a 4.x kernel: no boost, promo or cma lines
    old = ("Node 0, zone   Normal\n  pages free     100\n        min      10\n"
           "        low      12\n        high     15\n        spanned  256\n"
           "        present  256\n        managed  200\n        protection: (0, 0)\n"
           "  pagesets\n  node_unreclaimable:  0\n  start_pfn:           0\n")
    (z,) = parse_zoneinfo(old)
    assert (z.boost, z.promo, z.cma, z.nr_free_pages) == (None, None, None, None)
    assert format_zoneinfo([z]) == old.replace("  pagesets\n", "")


@pytest.mark.parametrize("text,lineno,msg", [
    ("  pages free 3\n", 1, "header first"),
    ("Node 0, zone Weird\n", 1, "unknown zone name"),
    ("Node 0, zone DMA\n  pages free     x\n", 2, "free: expected an integer"),
    ("Node 0, zone DMA\n  pages free     1\n        min      1\n", 1, "lacks low, high"),
    ("Node 0, zone DMA\n        min      1\n        min      2\n", 3, "min repeated"),
    ("Node 0, zone DMA\n        protection: (0, a)\n", 2, "protection: expected integers, got .a."),
    ("", 1, "no 'Node <n>, zone <name>' blocks"),
])
def test_zoneinfo_parse_errors(text, lineno, msg):
    with pytest.raises(ProcParseError, match=msg) as exc:
        parse_zoneinfo(text)
    assert exc.value.lineno == lineno


def test_per_node_nr_stats_are_not_taken_for_zone_stats():
    text = ("Node 0, zone   Normal\n  per-node stats\n      nr_free_pages 999\n"
            "  pages free     5\n        min      1\n        low      1\n        high     1\n"
            "        spanned  8\n        present  8\n        managed  8\n"
            "        protection: (0, 0)\n      nr_free_pages 5\n  start_pfn:           0\n")
    (z,) = parse_zoneinfo(text)
    assert z.nr_free_pages == 5


def test_zone_names():
    assert zone_type_of("HighMem") is Z.HIGHMEM
    with pytest.raises(InvalidArgument, match="unknown zone name 'normal'"):
        zone_type_of("normal")


# --- sysctls ------------------------------------------------------------------


def test_sysctl_ints():
    assert parse_sysctl_ints("256\t256\t32\t0\t0\n") == (256, 256, 32, 0, 0)
    assert format_sysctl_ints((256, 256, 32, 0, 0)) == "256\t256\t32\t0\t0\n"
    with pytest.raises(ProcParseError, match="expected integers"):
        parse_sysctl_ints("256 x")
    with pytest.raises(ProcParseError, match="empty"):
        parse_sysctl_ints("\n")


# --- recomputing the printed values -----------------------------------------------


def test_sample_watermarks_and_protection_are_recomputed_exactly():
    zones = parse_zoneinfo(ZONEINFO)
    assert check_zoneinfo(zones, **SYSCTLS) == ()
    assert expected_watermarks(zones, **SYSCTLS) == zones
    verify_zoneinfo(zones, **SYSCTLS)


def test_a_wrong_sysctl_is_detected():
    zones = parse_zoneinfo(ZONEINFO)
    problems = check_zoneinfo(zones, min_free_kbytes=65536,
                              lowmem_reserve_ratio=(256, 256, 32, 0, 0))
    assert "node 0 zone DMA: min printed 68, recomputed 66" in problems
    with pytest.raises(ZoneinfoMismatch, match="DMA32: protection printed"):
        verify_zoneinfo(zones, min_free_kbytes=67584, lowmem_reserve_ratio=(256, 128, 32, 0, 0))
    with pytest.raises(InvalidArgument, match="lowmem_reserve_ratio has 3 entries"):
        check_zoneinfo(zones, min_free_kbytes=67584, lowmem_reserve_ratio=(256, 256, 32))


def test_boost_is_part_of_the_printed_watermarks():
    zones = list(parse_zoneinfo(ZONEINFO))
    from dataclasses import replace
    zones[1] = replace(zones[1], boost=100, min=13983, low=17453, high=20923, promo=24393)
    assert check_zoneinfo(zones, **SYSCTLS) == ()


def test_layout_from_zoneinfo_keeps_the_counts():
    zones = parse_zoneinfo(ZONEINFO)
    layout = layout_from_zoneinfo(zones)
    assert layout.arch == "x86_64" and layout.config == X86_64_CONFIG
    for z, span in zip(zones, layout.zones, strict=True):
        assert span.managed_pages == z.managed
        if z.populated:
            assert (span.start_pfn, span.spanned_pages, span.present_pages) == (
                z.start_pfn, z.spanned, z.present)
    # and the layout prints back the same zoneinfo once free pages are given
    again = zoneinfo_for_layout(layout, min_free_kbytes=67584,
                                free_pages=[z.free for z in zones])
    assert format_zoneinfo(again) == format_zoneinfo(zones)


# --- built samples -----------------------------------------------------------------


def test_x86_32_sample_with_highmem():
    layout = x86_32(1024, era="2.6.11")  # the 896 MB lowmem of the 2.6.11 formula
    lowmem_kb = layout.lowmem_pages * 4
    mfk = default_min_free_kbytes(lowmem_kb)
    assert mfk == 3831  # int_sqrt(917504 * 16): 3831**2 = 14676561 <= 14680064 < 3832**2
    zones = zoneinfo_for_layout(layout, min_free_kbytes=mfk)
    text = format_zoneinfo(zones)
    assert text.splitlines()[:2] == ["Node 0, zone      DMA", "  pages free     4096"]
    assert "Node 0, zone  HighMem\n  pages free     32768\n" in text
    assert "        protection: (0, 880, 1008, 1008)\n" in text  # DMA: 225280/256, +32768
    assert "        protection: (0, 0, 1024, 1024)\n" in text  # NORMAL: 32768/32
    parsed = parse_zoneinfo(text)
    assert parsed == zones
    assert check_zoneinfo(parsed, min_free_kbytes=mfk, lowmem_reserve_ratio=(256, 32, 0, 0)) == ()
    high = parsed[2]
    assert (high.min, high.start_pfn) == (32, 229376)


def test_minimal_two_zone_sample():
    layout = generic(4096)
    zones = zoneinfo_for_layout(layout, min_free_kbytes=128, free_pages=[4000, 0])
    assert format_zoneinfo(zones) == (
        "Node 0, zone   Normal\n"
        "  pages free     4000\n"
        "        boost    0\n"
        "        min      32\n"
        "        low      40\n"
        "        high     48\n"
        "        promo    56\n"
        "        spanned  4096\n"
        "        present  4096\n"
        "        managed  4096\n"
        "        cma      0\n"
        "        protection: (0, 0)\n"
        "      nr_free_pages 4000\n"
        "  node_unreclaimable:  0\n"
        "  start_pfn:           0\n"
        "Node 0, zone  Movable\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      32\n"
        "        low      32\n"
        "        high     32\n"
        "        promo    32\n"
        "        spanned  0\n"
        "        present  0\n"
        "        managed  0\n"
        "        cma      0\n"
        "        protection: (0, 0)\n")
    assert config_from_zoneinfo(parse_zoneinfo(format_zoneinfo(zones))) == MINIMAL_CONFIG
    with pytest.raises(InvalidArgument, match="free_pages needs one entry per zone"):
        zoneinfo_for_layout(layout, min_free_kbytes=128, free_pages=[1])


# --- the running machine --------------------------------------------------------------

_LIVE = ("/proc/zoneinfo", "/proc/buddyinfo", "/proc/sys/vm/min_free_kbytes",
         "/proc/sys/vm/lowmem_reserve_ratio", "/proc/sys/vm/watermark_scale_factor")


def _read_live():
    if not sys.platform.startswith("linux") or not all(os.access(p, os.R_OK) for p in _LIVE):
        pytest.skip("needs a Linux /proc with zoneinfo, buddyinfo and vm sysctls")
    out = {}
    for p in _LIVE:
        with open(p) as f:
            out[p] = f.read()
    return out


@pytest.mark.live
def test_live_machine_watermarks_and_protection():
    live = _read_live()
    zones = parse_zoneinfo(live["/proc/zoneinfo"])
    (mfk,) = parse_sysctl_ints(live["/proc/sys/vm/min_free_kbytes"])
    ratios = parse_sysctl_ints(live["/proc/sys/vm/lowmem_reserve_ratio"])
    (wsf,) = parse_sysctl_ints(live["/proc/sys/vm/watermark_scale_factor"])
    nzones = max(sum(1 for z in zones if z.node == n) for n in {z.node for z in zones})
    if len(ratios) != nzones:
        pytest.skip("a kernel older than 4.18 prints MAX_NR_ZONES - 1 ratios")
    assert check_zoneinfo(zones, min_free_kbytes=mfk, lowmem_reserve_ratio=ratios,
                          watermark_scale_factor=wsf) == ()
    # the pure rules agree with the kernel zone by zone
    wm = setup_per_zone_wmarks([(z.ztype, z.managed) for z in zones], mfk, wsf)
    assert [w.min + (z.boost or 0) for w, z in zip(wm, zones, strict=True)] == [
        z.min for z in zones]
    node0 = [z for z in zones if z.node == 0]
    assert setup_per_zone_lowmem_reserve([z.managed for z in node0], ratios) == tuple(
        z.protection for z in node0)


@pytest.mark.live
def test_live_machine_formats_round_trip():
    live = _read_live()
    text = live["/proc/buddyinfo"]
    assert format_buddyinfo(parse_buddyinfo(text)) == text
    zi = live["/proc/zoneinfo"]
    assert format_zoneinfo(parse_zoneinfo(zi)) == modelled_lines(zi)


# --- input forms and malformed lines ----------------------------------------------------


def test_crlf_and_bytes_read_like_the_text():
    for text in (ZONEINFO.replace("\n", "\r\n"), ZONEINFO.encode(),
                 ZONEINFO.replace("\n", "\r\n").encode(), bytearray(ZONEINFO.encode())):
        assert parse_zoneinfo(text) == parse_zoneinfo(ZONEINFO)
    for text in (BUDDYINFO.replace("\n", "\r\n"), BUDDYINFO.encode()):
        assert parse_buddyinfo(text) == parse_buddyinfo(BUDDYINFO)
    assert parse_sysctl_ints(b"256\t256\t32\t0\t0\r\n") == (256, 256, 32, 0, 0)


def test_non_ascii_bytes_and_wrong_types_are_refused():
    with pytest.raises(ProcParseError, match=r"buddyinfo line 2: byte 0xe9 at offset \d+ is "
                                             r"not ASCII") as exc:
        parse_buddyinfo(b"Node 0, zone DMA 1 2\nNode 0, zone Normal 1 \xe9\n")
    assert exc.value.lineno == 2
    for bad in (None, 3, ["Node 0, zone DMA 1"]):
        with pytest.raises(InvalidArgument, match="text must be a str or bytes"):
            parse_buddyinfo(bad)
        with pytest.raises(InvalidArgument, match="text must be a str or bytes"):
            parse_zoneinfo(bad)


def test_every_malformed_buddyinfo_line_is_reported():
    text = ("Node 0, zone DMA 1 2\nNode 0 zone DMA32 1 2\nNode 0, zone Normal 1 x\n"
            "Node 0, zone Movable 1 2 3\nNode 0, zone HighMem 1 2\r\r\n")
    with pytest.raises(ProcParseError) as exc:
        parse_buddyinfo(text)
    assert [n for n, _ in exc.value.problems] == [2, 3, 4, 5]
    assert "line 4: 3 orders, but line 1 has 2" in str(exc.value)
    assert str(exc.value).startswith("buddyinfo line 2: expected 'Node")


ZONE = ("Node 0, zone   Normal\n  pages free     5\n        min      1\n        low      1\n"
        "        high     1\n        spanned  8\n        present  8\n        managed  8\n"
        "        protection: (0, 0)\n      nr_free_pages 5\n  start_pfn:           0\n")


@pytest.mark.parametrize("old,new,msg", [
    ("        min      1\n", "        min      1 2\n", r"line 3: malformed line '        min"),
    ("        min      1\n", "        min      1_0\n", r"line 3: min: expected an integer, got '1_0'"),
    ("        min      1\n", "        min      -1\n", r"line 3: min: expected an integer"),
    ("        min      1\n", "        min\n", r"line 3: malformed line"),
    ("  pages free     5\n", "  pages free     \u0665\n", r"line 2: free: expected an integer"),
    ("protection: (0, 0)", "protection: (0, 0", r"line 9: malformed line"),
    ("protection: (0, 0)", "protection: (0, +1)", r"line 9: protection: expected integers"),
    ("  start_pfn:           0\n", "  start_pfn:\n", r"line 11: malformed line"),
    ("Node 0, zone   Normal\n", "Node 0, zone   Normal\nNode 0 zone   DMA\n",
     r"line 2: malformed line 'Node 0 zone   DMA'"),
])
def test_a_malformed_modelled_line_is_never_skipped(old, new, msg):
    assert parse_zoneinfo(ZONE)[0].min == 1
    with pytest.raises(ProcParseError, match=msg) as exc:
        parse_zoneinfo(ZONE.replace(old, new))
    assert "lacks" not in str(exc.value)  # the bad line itself is named, not a consequence


def test_every_malformed_zoneinfo_line_is_reported_at_once():
    text = ZONE.replace("min      1", "min      x").replace("high     1", "high     1 1")
    text += ZONE.replace("Normal", "Weird") + ZONE.replace("managed  8", "managed  8.0")
    with pytest.raises(ProcParseError) as exc:
        parse_zoneinfo(text)
    assert [n for n, _ in exc.value.problems] == [3, 5, 12, 30]
    assert "unknown zone name 'Weird'" in str(exc.value)


def test_every_bad_sysctl_value_is_reported():
    with pytest.raises(ProcParseError) as exc:
        parse_sysctl_ints("256\tx\t32\ty\n", "vm.lowmem_reserve_ratio")
    assert str(exc.value) == ("vm.lowmem_reserve_ratio line 1: expected integers, got 'x'; "
                              "line 1: expected integers, got 'y'")
    assert parse_sysctl_ints("-1\n") == (-1,)
