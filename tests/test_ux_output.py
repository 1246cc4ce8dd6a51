"""Output that was wrong for real machines and old kernels, through the installed command:
version strings with CONFIG_LOCALVERSION glued to -rcN, /proc/zoneinfo of kernels before
4.8 (start_pfn with the older spacing, all_unreclaimable) and before 2.6.15/2.6.23 (no
DMA32/Movable zone), the segfault line's file-offset form (6.10)."""

from __future__ import annotations

import pytest

from kmem.spec.kernel import parse_version


@pytest.mark.parametrize("text, parts", [
    # CONFIG_LOCALVERSION glued to -rcN, '+' from a dirty tree (seen on real machines)
    ("5.17.0-rc1dg+", (5, 17, 0, 1, "dg+")),
    ("6.7.0-rc2igor1+", (6, 7, 0, 2, "igor1+")),
])
def test_local_version_glued_to_rc(kmem_cli, text, parts):
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.rc, v.local) == parts and str(v) == text
    done = kmem_cli("gfp", "0xcc0", "--kernel", text)
    assert done.returncode == 0 and "GFP_KERNEL" in done.stdout, done.stderr


def test_zoneinfo_tail_lines_by_version(kmem_cli):
    # 2.6.2x-4.7 mm/vmstat.c zoneinfo_show_print: "\n  all_unreclaimable: %u" ...
    # "\n  start_pfn:         %lu" (2.6.13's zoneinfo_show printed it already);
    # 4.8 "mm, vmscan: move LRU lists to node": "\n  node_unreclaimable:  %u"
    # "\n  start_pfn:           %lu"
    for kernel in ("2.6.20", "3.10.0-1160.el7.x86_64", "4.2.0"):
        out = kmem_cli("zoneinfo", "--kernel", kernel).stdout
        assert "\n  all_unreclaimable: 0\n  start_pfn:         4096\n" in out, kernel
        assert "node_unreclaimable" not in out
    out = kmem_cli("zoneinfo", "--kernel", "4.9.0-19-amd64").stdout
    assert "\n  node_unreclaimable:  0\n  start_pfn:           4096\n" in out
    assert "all_unreclaimable" not in out


def test_zoneinfo_zones_a_kernel_did_not_have(kmem_cli):
    # ZONE_DMA32 came with 2.6.15 ("x86_64: Add 4GB DMA32 zone"), ZONE_MOVABLE with 2.6.23
    done = kmem_cli("zoneinfo", "--kernel", "2.6.14")  # x86-64: its pages would be Normal
    assert done.returncode == 2 and "has no DMA32 zone" in done.stderr
    out = kmem_cli("zoneinfo", "--preset", "x86_32", "--kernel", "2.6.14").stdout
    assert "zone    DMA32" not in out and "zone  Movable" not in out and "zone   Normal" in out
    out = kmem_cli("zoneinfo", "--kernel", "2.6.20").stdout
    assert "zone    DMA32" in out and "zone  Movable" not in out
    for kernel in ("2.6.11", "2.4.0"):  # /proc/zoneinfo itself came with 2.6.13
        done = kmem_cli("zoneinfo", "--kernel", kernel)
        assert done.returncode == 2 and "does not exist before 2.6.13" in done.stderr


def test_segfault_line_offset_form_from_6_10(kmem_cli):
    # commit de7e71ef8bed "mm: simplify and improve print_vma_addr() output" (6.10 merge
    # window): " in %pD[%lx,%lx+%lx]"; 6.1-6.9 print " likely on CPU" without it
    from kmem.spec.kernel import kernel
    assert kernel("6.9.12").segfault_format == "cpu"
    assert kernel("6.10.0").segfault_format == "offset"
    assert kernel("6.2.0").segfault_format == "cpu"


# --- refused up front, not partial output (issue 20 item 12) ------------------------------

@pytest.mark.parametrize("args, said", [
    (["slabinfo", "--alloc", "4096x100000"], "asks for 409,600,000 bytes, more than the "
                                              "268,435,456 free bytes of --mem-mb 256"),
    (["slabinfo", "--alloc", "99999999999x1"], "always returns NULL: larger than "
                                                "KMALLOC_MAX_SIZE (4194304)"),
    (["slabinfo", "--alloc", "100x99999999"], "asks for 9,999,999,900 bytes"),
    (["slab", "--objects", "1000000", "--mem-mb", "64"], "more than the 16384 free pages of "
                                                          "--mem-mb 64"),
    (["slab", "--objects", "100000000"], "at most about"),
    (["slab", "--objects", "56000", "--mem-mb", "32"], "more than the 8192 free pages"),
    (["buddyinfo", "--cpus", "100000"], "more than 8,192 (x86-64's largest CONFIG_NR_CPUS)"),
    (["zoneinfo", "--min-free-kbytes", "999999999999"], "vm.min_free_kbytes is a C int"),
    (["slab", "--svg", ""], "--svg needs a file name"),
    (["kmalloc", "100", "--allocator", "slab", "--cpus", "4"], "--cpus applies to "
                                                                "--allocator slub only"),
    (["pagetypeinfo", "--kernel", "2.6.20"], "has no /proc/pagetypeinfo (2.6.24+)"),
    (["pagetypeinfo", "--kernel", "4.2.0"], "kmem models the whole allocation path of the "
                                             "6.1 series and of 6.12 onwards"),
])
def test_what_cannot_be_done_is_refused_at_once(kmem_cli, args, said):
    done = kmem_cli(*args)
    assert done.returncode == 2 and done.stdout == "", done.stdout[-500:]
    assert said in done.stderr.splitlines()[-1], done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"kmem {args[0]}: error: ")


def test_pagetypeinfo_has_no_migratetypes_switch(kmem_cli):
    # pagetypeinfo always runs with migratetypes: a switch that is always on is no switch
    done = kmem_cli("pagetypeinfo", "--migratetypes")
    assert done.returncode == 2 and "unrecognized arguments: --migratetypes" in done.stderr
    assert "--migratetypes" not in kmem_cli("pagetypeinfo", "--help").stdout


def test_slab_reports_an_allocation_that_fails_after_the_estimate(kmem_cli):
    # 53248 objects fill every page by the estimate, but the watermarks keep pages back:
    # kmem_cache_alloc returns NULL before the end, and the command says so (no table)
    done = kmem_cli("slab", "--objects", "53248", "--mem-mb", "32")
    assert done.returncode == 2 and done.stdout == ""
    assert "kmem_cache_alloc returned NULL at object" in done.stderr


def test_vmmap_summary_follows_era(kmem_cli):
    modern = kmem_cli("vmmap", "--split", "all").stdout
    old = kmem_cli("vmmap", "--split", "all", "--era", "2.6.11").stdout
    # 2.6.11 arch/i386: high_memory = PAGE_OFFSET + 896 MB for VMSPLIT_3G (0xf8000000);
    # the modern formulas take the fixmap and vmalloc reserve off the top instead
    assert "3G      0xc0000000       3072             896.000  0xf8000000" in old
    assert "0xf8000000" not in modern.splitlines()[3] and "modern formulas" in modern
    table = kmem_cli("vmmap").stdout.splitlines()
    starts = {line.index("direct map of") for line in table if "direct map of" in line}
    starts |= {line.index("description") for line in table if line.startswith("start")}
    starts |= {line.index("unused, between") for line in table if "unused, between" in line}
    assert len(starts) == 1  # the description column lines up


def test_pagetypeinfo_from_proc_says_the_split_is_assumed(kmem_cli, tmp_path):
    from .test_from_proc import REAL_BUDDYINFO, REAL_ZONEINFO, SYSCTLS

    proc = tmp_path
    (proc / "sys" / "vm").mkdir(parents=True)
    (proc / "zoneinfo").write_text(REAL_ZONEINFO)
    (proc / "buddyinfo").write_text(REAL_BUDDYINFO)
    for name, text in SYSCTLS.items():
        (proc / "sys" / "vm" / name).write_text(text)
    plain = kmem_cli("pagetypeinfo", "--from-proc", str(proc))
    assert plain.returncode == 0, plain.stderr
    assert "the split by migratetype above is assumed, not read" in plain.stderr
    # with the machine's real /proc/pagetypeinfo beside it, the note quotes the real split
    lines = plain.stdout.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("Number of blocks")))
    names = lines[head].split()[4:]
    zone = lines[head + 1].split()[3]
    counts = [0] * len(names)
    counts[0], counts[1] = 110, 1930
    lines[head + 1] = f"Node 0, zone {zone:>8} " + "".join(f"{c:12d} " for c in counts)
    (proc / "pagetypeinfo").write_text("\n".join(lines) + "\n")
    got = kmem_cli("pagetypeinfo", "--from-proc", str(proc))
    assert f"zone {zone}: 110 {names[0]}, 1930 {names[1]}" in got.stderr, got.stderr


def test_demo_says_when_blocks_merge(kmem_cli):
    out = kmem_cli("demo").stdout
    # __free_one_page merges a freed block with its free buddy, order by order
    assert "merged 2 time(s) with free buddies (__free_one_page): now one free block of " \
           "order 2 at pfn 0" in out
    assert "no merge: its buddy (pfn 1, order 0) is not a free block of that order" in out


def test_kmalloc_allocator_has_help(kmem_cli):
    assert "2.6.11 classic SLAB" in kmem_cli("kmalloc", "--help").stdout.split("--allocator")[-1]


def test_long_slab_runs_show_progress(kmem_cli):
    env = {"KMEM_PROGRESS": "plain", "KMEM_PROGRESS_INTERVAL": "0"}
    done = kmem_cli("slab", "--objects", "9000", env=env)
    assert done.returncode == 0
    assert "kmem slab: 8192/9000 objects done" in done.stderr, done.stderr[-500:]
    done = kmem_cli("slabinfo", "--alloc", "64x5000", env=env)
    assert done.returncode == 0 and "kmem slabinfo: 4096/5000 kmallocs done" in done.stderr
