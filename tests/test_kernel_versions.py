"""kmem.spec.kernel: version strings -> rules and text; each version's output checked on
text derived from that version's source (file and lines named per test)."""

from pathlib import Path

import pytest

from kmem.spec import gfp, page_alloc, procfs
from kmem.spec.errors import InvalidArgument
from kmem.spec.fault_handler import FaultSituation, Outcome, handle_page_fault
from kmem.spec.kernel import (
    CHANGES,
    UnknownKernel,
    changes_markdown,
    kernel,
    parse_version,
)
from kmem.spec.x86_32_layout import layout
from kmem.spec.x86_fault import oops_lines, segfault_line

DOCS = Path(__file__).resolve().parents[1] / "docs" / "kernel-versions.md"


# --- version strings -------------------------------------------------------------------


@pytest.mark.parametrize("text,parts", [
    ("2.6.11", (2, 6, 11, None, "")),
    ("4.19.0-17-amd64", (4, 19, 0, None, "-17-amd64")),
    ("6.7.0-rc2", (6, 7, 0, 2, "")),
    ("6.12.117", (6, 12, 117, None, "")),
    ("3.10.0-1160.el7.x86_64", (3, 10, 0, None, "-1160.el7.x86_64")),
    ("4.12.0-rc2-v8+", (4, 12, 0, 2, "-v8+")),
    ("6.8", (6, 8, 0, None, "")),
])
def test_parse_uname_r(text, parts):
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.rc, v.local) == parts


def test_rc_sorts_before_release_and_counts_as_its_release():
    assert parse_version("6.8.0-rc1").key < parse_version("6.8.0").key < parse_version("6.8.1").key
    assert parse_version("6.8.0-rc1").at_least("6.8")
    assert not parse_version("6.7.12").at_least("6.8")
    assert parse_version("2.6.32.27").series() == (2, 6, 32)


@pytest.mark.parametrize("bad", ["", "six", "1.0", "2.5.3", "6.x", "6.12abc"])
def test_bad_versions_are_precise_errors(bad):
    with pytest.raises(UnknownKernel):
        parse_version(bad)


def test_default_is_newest():
    assert kernel().gfp_profile == "modern"
    assert kernel(None) is kernel()


# --- gfp by version ----------------------------------------------------------------------


@pytest.mark.parametrize("version,profile", [
    ("2.4.0", "2.4.0"), ("2.6.11", "2.6.11"), ("3.10.0-1160.el7.x86_64", "3.x"),
    ("4.4.0-210-generic", "4.4"), ("4.9.0-19-amd64", "4.8"), ("4.12.0-rc2-v8+", "4.10"),
    ("4.14.336", "4.13"), ("4.19.0-17-amd64", "4.15"), ("5.0.21", "4.15"),
    ("5.10.0-28-amd64", "5.x"), ("6.1.0-28-amd64", "5.x"), ("6.7.0-rc2", "6.x"),
    ("6.8.0-31-generic", "6.8"), ("6.12.117", "6.8"), ("6.15", "modern"),
])
def test_gfp_profile_by_version(version, profile):
    assert kernel(version).gfp_profile == profile


def test_gfp_numbering_gap_is_refused():
    with pytest.raises(UnknownKernel, match="2.6.23-2.6.39"):
        _ = kernel("2.6.32").gfp_profile


def test_gfp_kernel_value_in_each_layout():
    # GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS in each era's include/linux/gfp.h:
    # 4.9 tree (DIRECT 0x400000, KSWAPD 0x2000000), 4.10 (KSWAPD 0x1000000 after
    # __GFP_OTHER_NODE went), 4.19 tree (0x200000 | 0x400000), 5.1 shuffle (0x400 | 0x800)
    expected = {"4.9": 0x24000C0, "4.12": 0x14000C0, "4.19": 0x6000C0, "5.10": 0xCC0,
                "6.12.117": 0xCC0}
    for version, value in expected.items():
        assert gfp.parse_gfp("GFP_KERNEL", kernel=version) == value


def test_real_mode_texts_reproduced_and_dated():
    # raspberrypi/linux#2037 (4.12.0-rc2): mode:0x1082020(GFP_ATOMIC|__GFP_MEMALLOC)
    assert gfp.format_gfp_printk(0x1082020, kernel="4.12.0-rc2-v8+") == "GFP_ATOMIC|__GFP_MEMALLOC"
    # minipli/linux-unofficial_grsec#21 (4.9): mode:0x2080024(GFP_ATOMIC|GFP_DMA32)
    assert gfp.format_gfp_printk(0x2080024, kernel="4.9.74") == "GFP_ATOMIC|GFP_DMA32"
    assert gfp.gfp_mode_kernels(0x2080024, "GFP_ATOMIC|GFP_DMA32") == ("4.8-4.9", "4.4-4.7")
    assert gfp.gfp_mode_kernels(0x14210D2, "GFP_HIGHUSER|__GFP_NORETRY|__GFP_RECLAIMABLE") == \
        ("4.13-4.14", "4.10-4.12")
    assert gfp.gfp_mode_kernels(0x6000C0, "GFP_KERNEL") == ("4.15-5.0",)


def test_gfp_nowait_became_0x2800_in_6_8():
    # "gfp: Include __GFP_NOWARN in GFP_NOWAIT"; 6.12.117 include/linux/gfp_types.h:380
    assert gfp.parse_gfp("GFP_NOWAIT", kernel="6.7.12") == 0x800
    assert gfp.parse_gfp("GFP_NOWAIT", kernel="6.8.0") == 0x2800
    assert gfp.parse_gfp("GFP_NOWAIT", kernel="6.12.117") == 0x2800


def test_print_order_of_6_12_differs_from_the_newest():
    # 6.12.117 include/trace/events/mmflags.h:81-116: __GFP_COMP (103) before __GFP_ZERO (104);
    # 6.15+ prints every bit in bit order (TRACE_GFP_FLAGS): ZERO (0x100) before COMP
    assert gfp.format_gfp(0x40DC0, kernel="6.12.117") == "GFP_KERNEL|__GFP_COMP|__GFP_ZERO"
    assert gfp.format_gfp(0x40DC0) == "GFP_KERNEL|__GFP_ZERO|__GFP_COMP"
    with pytest.raises(InvalidArgument, match="6.8 gfp profile"):
        gfp.format_gfp(0x40DC0, "modern", kernel="6.12.117")


# --- allocator rules ---------------------------------------------------------------------


@pytest.mark.parametrize("version,needs", [
    ("6.3", False), ("6.16.5", False), ("6.17", True), ("6.12.40", False),
    ("6.12.117", True), ("6.1.192", True), ("6.1.100", False),
])
def test_highatomic_rule_by_version(version, needs):
    assert kernel(version).highatomic_needs_min_reserve is needs
    flags = gfp.gfp_to_alloc_flags(
        gfp.GFP_NOWAIT, 1,
        highatomic_needs_min_reserve=kernel(version).highatomic_needs_min_reserve)
    assert bool(flags & 0x200) is (not needs)


# --- text: warn_alloc, segfault, oops --------------------------------------------------


def test_warn_alloc_line_by_version():
    # the 4.12.0-rc2 log of raspberrypi/linux#2037, both lines exactly
    assert page_alloc.warn_alloc_lines("cc1plus", 0, 0x1082020, kernel="4.12.0-rc2-v8+") == (
        "cc1plus: page allocation failure: order:0, mode:0x1082020(GFP_ATOMIC|__GFP_MEMALLOC), "
        "nodemask=(null)",
        "cc1plus cpuset=/ mems_allowed=0")
    # 3.x warn_alloc_failed: numeric mode (openzfs/spl#125, 3.4: mode:0x10d0)
    assert page_alloc.warn_alloc_lines("splat", 0, 0x10D0, kernel="3.4.0-1.fc17.x86_64") == (
        "splat: page allocation failure: order:0, mode:0x10d0",)
    assert page_alloc.warn_alloc_lines("x", 5, 0xD0, kernel="2.6.18") == (
        "x: page allocation failure. order:5, mode:0xd0",)
    # 6.12.117 mm/page_alloc.c:3622 + kernel/cgroup/cpuset.c pr_cont(",cpuset=")
    assert page_alloc.warn_alloc_line("kworker/0:1", 2, 0x40DC0, kernel="6.12.117") == (
        "kworker/0:1: page allocation failure: order:2, mode:0x40dc0(GFP_KERNEL|__GFP_COMP|"
        "__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0")


def test_segfault_line_by_version():
    vma = ("/usr/lib/x86_64-linux-gnu/libc.so.6", 0x9D5A4, 0x7F0E5C428000, 0x195000)
    args = ("a.out", 4242, 0x10, 0x7F0E5C4C55A4, 0x7FFD8E9F2B30, 4)
    # 6.12.117 arch/x86/mm/fault.c:759-770, mm/memory.c:6742 (%pD = the file's name)
    assert segfault_line(*args, vma_file=vma, cpu=(5, 2, 0), kernel="6.12.117") == (
        "a.out[4242]: segfault at 10 ip 00007f0e5c4c55a4 sp 00007ffd8e9f2b30 error 4 in "
        "libc.so.6[9d5a4,7f0e5c428000+195000] likely on CPU 5 (core 2, socket 0)")
    # 6.1.192 mm/memory.c:5835 (kbasename, no offset), fault.c:781 (CPU)
    assert segfault_line(*args, vma_file=vma, cpu=(5, 2, 0), kernel="6.1.0-28-amd64") == (
        "a.out[4242]: segfault at 10 ip 00007f0e5c4c55a4 sp 00007ffd8e9f2b30 error 4 in "
        "libc.so.6[7f0e5c428000+195000] likely on CPU 5 (core 2, socket 0)")
    assert segfault_line(*args, vma_file=vma, kernel="5.10.0-28-amd64") == (
        "a.out[4242]: segfault at 10 ip 00007f0e5c4c55a4 sp 00007ffd8e9f2b30 error 4 in "
        "libc.so.6[7f0e5c428000+195000]")
    with pytest.raises(InvalidArgument, match="pass cpu="):
        segfault_line(*args, kernel="6.12.117")
    with pytest.raises(InvalidArgument, match="leave cpu out"):
        segfault_line(*args, cpu=(0, 0, 0), kernel="4.19")
    with pytest.raises(UnknownKernel):
        segfault_line(*args, kernel="2.6.11")


def test_oops_lines_by_version():
    assert oops_lines(0x0, 0x10, kernel="6.12.117")[0] == \
        "BUG: kernel NULL pointer dereference, address: 0000000000000010"
    assert oops_lines(0x0, 0x10, kernel="4.19") == \
        ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000010",)
    assert oops_lines(0x0, 0xF8000000, word_bits=32, kernel="4.9") == \
        ("BUG: unable to handle kernel paging request at f8000000",)
    assert oops_lines(0x0, 0x10, kernel="2.6.11") == \
        ("Unable to handle kernel NULL pointer dereference at virtual address 00000010",)
    with pytest.raises(UnknownKernel, match="#PF error"):
        oops_lines(0x0, 0x10, kernel="4.20")


def test_fault_handler_and_layout_by_version():
    s = FaultSituation(kernel_ref_present=True)
    assert handle_page_fault(0x0, 0xF7C00000, False, s, kernel="6.12.117").outcome is \
        Outcome.VMALLOC_SYNC
    assert handle_page_fault(0x0, 0xF7C00000, False, s, kernel="2.6.11").era.value == "2.6.11"
    assert layout(kernel="2.6.11").maxmem == 896 << 20
    assert layout(kernel="6.12.117").maxmem == 0x373FE000
    with pytest.raises(UnknownKernel):
        layout(kernel="3.10")


# --- /proc/pagetypeinfo ----------------------------------------------------------------

# Text written from 6.12.117 mm/vmstat.c:1550-1700 (pagetypeinfo_show and helpers) and
# migratetype_names[] (mm/page_alloc.c:287-298, CONFIG_CMA off, CONFIG_MEMORY_ISOLATION on)
PAGETYPEINFO_612 = (
    "Page block order: 9\n"
    "Pages per block:  512\n"
    "\n"
    "Free pages count per migrate type at order       0      1      2      3      4      5"
    "      6      7      8      9     10 \n"
    "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0"
    "      0      0      1      0      0 \n"
    "Node    0, zone      DMA, type      Movable      0      0      0      0      0      0"
    "      0      0      0      1      3 \n"
    "Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0"
    "      0      0      0      0      0 \n"
    "Node    0, zone      DMA, type   HighAtomic      0      0      0      0      0      0"
    "      0      0      0      0      0 \n"
    "Node    0, zone      DMA, type      Isolate      0      0      0      0      0      0"
    "      0      0      0      0      0 \n"
    "Node    0, zone   Normal, type    Unmovable    267    707    548    432    195     95"
    "     32     13      4      0      0 \n"
    "Node    0, zone   Normal, type      Movable >100000   9106   3889   1743    713    440"
    "   1302   1110    490    207    421 \n"
    "Node    0, zone   Normal, type  Reclaimable   4123   1616     12    152     88     35"
    "     16      3      3      0      0 \n"
    "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0"
    "      0      0      0      0      0 \n"
    "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0"
    "      0      0      0      0      0 \n"
    "\n"
    "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
    "Node 0, zone      DMA            1            7            0            0            0 \n"
    "Node 0, zone   Normal           86         3266          168            0            0 \n"
)


def test_pagetypeinfo_round_trip_612():
    nodes = procfs.parse_pagetypeinfo(PAGETYPEINFO_612)
    assert procfs.format_pagetypeinfo(nodes, kernel="6.12.117") == PAGETYPEINFO_612
    (node,) = nodes
    assert (node.pageblock_order, node.pages_per_block) == (9, 512)
    normal = node.zones[1]
    assert normal.free[1][0] == 100000 and normal.overflow == frozenset({(1, 0)})
    assert normal.blocks == (86, 3266, 168, 0, 0)
    assert procfs.pagetypeinfo_kernels(nodes) == "5.4 onwards"
    with pytest.raises(InvalidArgument, match="did not cap"):
        procfs.format_pagetypeinfo(nodes, kernel="4.19")
    with pytest.raises(InvalidArgument, match="names the migratetypes"):
        procfs.format_pagetypeinfo(nodes, kernel="4.3")


def test_pagetypeinfo_built_from_counts_and_two_nodes():
    free = [[1, 0, 2], [0, 0, 150000], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    a = procfs.pagetypeinfo_node(0, [("Normal", free, [1, 2, 0, 0, 0])], pageblock_order=2)
    b = procfs.pagetypeinfo_node(1, [("Normal", free, [3, 0, 0, 0, 0])], pageblock_order=2)
    text = procfs.format_pagetypeinfo([a, b])
    assert text.count("Page block order: 2\n") == 2  # one section per node (pgdat)
    assert "Node    1, zone   Normal, type      Movable      0      0 >100000 \n" in text
    assert procfs.parse_pagetypeinfo(text) == (a, b)
    old = procfs.pagetypeinfo_node(0, [("Normal", [[1, 2]] * 4, [1, 0, 0, 0])], kernel="3.10",
                                   isolate=False)
    assert old.migratetypes == ("Unmovable", "Reclaimable", "Movable", "Reserve")
    assert procfs.pagetypeinfo_kernels([old]) == "2.6.24-4.3"


def test_pagetypeinfo_bad_text_is_a_parse_error():
    with pytest.raises(procfs.ProcParseError, match="Page block order"):
        procfs.parse_pagetypeinfo("Node 0, zone Normal 1 2 3\n")
    broken = PAGETYPEINFO_612.replace("      0      0      1      0      0 \n", "  0 \n", 1)
    with pytest.raises(procfs.ProcParseError, match="orders"):
        procfs.parse_pagetypeinfo(broken)


def test_live_pagetypeinfo_round_trips():
    path = Path("/proc/pagetypeinfo")
    try:
        text = path.read_text()
    except OSError:
        pytest.skip("/proc/pagetypeinfo is not readable here (mode 0400)")
    assert procfs.format_pagetypeinfo(procfs.parse_pagetypeinfo(text)) == text


# --- /proc/zoneinfo ----------------------------------------------------------------------


def test_zoneinfo_lines_by_version():
    z = procfs.ZoneinfoZone(node=0, zone="Normal", free=10, min=1, low=2, high=3, spanned=10,
                            present=10, managed=10, protection=(0,), boost=0, promo=4, cma=0,
                            nr_free_pages=10, node_unreclaimable=0, start_pfn=0)
    new = procfs.format_zoneinfo([z], kernel="6.12.117")
    old = procfs.format_zoneinfo([z], kernel="4.19.0-17-amd64")
    assert "promo" in new and "boost" in new and "cma" in new
    assert "promo" not in old and "boost" not in old and "cma" not in old
    assert procfs.zoneinfo_kernels(procfs.parse_zoneinfo(new)) == "6.1 onwards"
    assert procfs.zoneinfo_kernels(procfs.parse_zoneinfo(old)) == "3.8-4.20"


# --- the docs table ----------------------------------------------------------------------


def test_docs_page_carries_the_generated_table():
    text = DOCS.read_text()
    assert changes_markdown() in text
    for change in CHANGES:
        assert change.subject in text


# --- configuration-dependent gfp bits (item 10) ------------------------------------------


def test_enum_packed_bits_follow_the_configuration():
    # 6.12.117 include/linux/gfp_types.h:26-61: enum positions after ___GFP_ZEROTAGS_BIT (23)
    assert gfp.gfp_config_bits("6.12.117", lockdep=True) == {
        "__GFP_SKIP_ZERO": 0, "__GFP_SKIP_KASAN": 0, "__GFP_NOLOCKDEP": 0x1000000,
        "__GFP_NO_OBJ_EXT": 0}
    assert gfp.gfp_config_bits("6.12.117", lockdep=True, slab_obj_ext=True,
                               kasan_hw_tags=True) == {
        "__GFP_SKIP_ZERO": 0x1000000, "__GFP_SKIP_KASAN": 0x2000000,
        "__GFP_NOLOCKDEP": 0x4000000, "__GFP_NO_OBJ_EXT": 0x8000000}
    assert gfp.gfp_config_bits("6.12.117", slab_obj_ext=True)["__GFP_NO_OBJ_EXT"] == 0x1000000
    # 6.3-6.9: fixed values
    assert gfp.gfp_config_bits("6.6.30", lockdep=True)["__GFP_NOLOCKDEP"] == 0x4000000
    # 6.1.192 include/linux/gfp_types.h:50-63
    assert gfp.gfp_config_bits("6.1.0-28-amd64", lockdep=True)["__GFP_NOLOCKDEP"] == 0x8000000
    # 4.19 tree include/linux/gfp.h
    assert gfp.gfp_config_bits("4.19.0-17-amd64", lockdep=True) == {"__GFP_NOLOCKDEP": 0x800000}
    with pytest.raises(InvalidArgument, match="6.10"):
        gfp.gfp_config_bits("6.6", slab_obj_ext=True)
    with pytest.raises(UnknownKernel):
        gfp.gfp_config_bits("5.15.0-91-generic")


def test_warn_alloc_lines_are_dated():
    p = page_alloc.parse_warn_alloc_line
    # raspberrypi/linux#2037 (4.12.0-rc2)
    r = p("cc1plus: page allocation failure: order:0, mode:0x1082020(GFP_ATOMIC|__GFP_MEMALLOC),"
          " nodemask=(null)")
    assert (r.comm, r.order, r.mode) == ("cc1plus", 0, 0x1082020)
    assert r.kernels == ("4.13-4.14", "4.10-4.12")
    # minipli/linux-unofficial_grsec#21 (4.9): names, no nodemask -> 4.5-4.9
    assert p("mencoder: page allocation failure: order:1, mode:0x2080024(GFP_ATOMIC|GFP_DMA32)"
             ).kernels == ("4.8-4.9", "4.5-4.7")
    assert p("splat: page allocation failure: order:0, mode:0x10d0").kernels == ("3.0-4.4",)
    assert p("x: page allocation failure. order:5, mode:0xd0").kernels == ("2.6.0-2.6.39",)
    line = page_alloc.warn_alloc_line("k", 2, 0x40DC0, kernel="6.12.117")
    assert p(line).kernels == ("6.8-6.14", "6.3-6.7", "5.1-6.2")
    with pytest.raises(InvalidArgument, match="no kernel"):
        p("k: page allocation failure: order:0, mode:0xcc0(GFP_USER), nodemask=(null)")
    with pytest.raises(InvalidArgument, match="not a 'page allocation failure'"):
        p("hello")
