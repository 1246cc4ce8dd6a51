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
