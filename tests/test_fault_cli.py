"""``kmem decode-pf`` and ``kmem vmmap``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from kmem.cli import main
from kmem.commands.decode_pf import parse_code


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_decode_pf_0x7(capsys):
    rc, out, _ = run(capsys, "decode-pf", "0x7")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "error code 0x7 = X86_PF_PROT|X86_PF_WRITE|X86_PF_USER"
    assert "  0  0x00000001  X86_PF_PROT   P     1  protection violation on a present page" in lines
    assert "  1  0x00000002  X86_PF_WRITE  W/R   1  write access" in lines
    assert "  2  0x00000004  X86_PF_USER   U/S   1  user-mode access (CPL 3)" in lines
    assert "  3  0x00000008  X86_PF_RSVD   RSVD  0  no reserved-bit violation" in lines
    assert "hardware: a CPU can push this code" in lines
    # a user-mode fault: SIGSEGV and the segfault line, no oops (6.12.118
    # arch/x86/mm/fault.c:784 __bad_area_nosemaphore: only !user_mode(regs) oopses)
    assert not any(line.lstrip().startswith(("#PF:", "BUG:")) for line in lines)
    assert "kernel sends SIGSEGV and prints no oops" in out
    assert ("  a.out[1000]: segfault at 0 ip 0000000000000000 sp 0000000000000000 error 7"
            " likely on CPU 0 (core 0, socket 0)" in lines)
    assert "  bit 0 = 1: slide: 'No page present in RAM'; really: protection violation on a " \
           "present page" in lines
    assert "  bit 1 = 1: slide: 'Read access'; really: write access" in lines
    assert "  bit 2 = 1: slide: 'Privileged kernel mode'; really: user-mode access (CPL 3)" in lines


def test_decode_pf_kernel_null_deref(capsys):
    rc, out, _ = run(capsys, "decode-pf", "0", "--bits", "32")
    assert rc == 0
    assert "  BUG: kernel NULL pointer dereference, address: 00000000" in out.splitlines()
    assert "  #PF: supervisor read access in kernel mode" in out.splitlines()
    assert "  #PF: error_code(0x0000) - not-present page" in out.splitlines()
    assert "segfault" not in out


def test_decode_pf_sanitized_user_fault_on_kernel_address(capsys):
    rc, out, _ = run(capsys, "decode-pf", "USER", "--address", "0xc0001000", "--bits", "32")
    assert rc == 0
    assert "  a.out[1000]: segfault at c0001000 ip 00000000 sp 00000000 error 5" in out
    assert "sanitize_error_code" in out


def test_decode_pf_mode_override_and_impossible_code(capsys):
    rc, out, _ = run(capsys, "decode-pf", "0x8", "--user-mode")
    assert rc == 0
    assert "segfault at 0 ip 0000000000000000 sp 0000000000000000 error 8" in out
    assert "BUG:" not in out and "#PF:" not in out
    assert "hardware: a CPU never pushes this code:" in out
    assert "RSVD is reported only with P = 1" in out
    rc, out, _ = run(capsys, "decode-pf", "0x4", "--kernel-mode")
    # show_fault_oops: "#PF: %s %s access in %s mode" (error code's U bit, then user_mode)
    assert "  #PF: user read access in kernel mode" in out and "segfault" not in out


@pytest.mark.parametrize("argv,msg", [
    (["decode-pf", "0x100"], "undefined bits 0x100"),
    (["decode-pf", "BOGUS"], "cannot read 'BOGUS'"),
    (["decode-pf", "7", "--address", "zz"], "cannot read address"),
    (["decode-pf", "-1"], "out of range"),
])
def test_decode_pf_errors(capsys, argv, msg):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("kmem decode-pf: error: ") and msg in err


def test_parse_code_names():
    assert parse_code("PROT|WRITE|USER") == 7
    assert parse_code("X86_PF_INSTR | p") == 0x11
    assert parse_code("W/R|U/S") == 6
    assert parse_code("HLAT") == 0x80
    assert parse_code("SS") == 0x40


def test_vmmap_3g_table(capsys):
    rc, out, _ = run(capsys, "vmmap", "--split", "3G", "--era", "2.6.11")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == ("x86-32 kernel virtual memory map: VMSPLIT_3G (PAGE_OFFSET 0xc0000000), "
                        "2.6.11 formulas, no PAE, HIGHMEM")
    assert lines[1] == "MAXMEM 896.000 MB, high_memory 0xf8000000"
    rows = [ln.split()[:4] for ln in lines[4:]]
    assert rows == [
        ["0xc0000000", "0xf8000000", "896.000", "lowmem"],
        ["0xf8000000", "0xf8800000", "8.000", "vmalloc_offset_gap"],
        ["0xf8800000", "0xff7fe000", "111.992", "vmalloc"],
        ["0xff7fe000", "0xff800000", "0.008", "vmalloc_end_gap"],
        ["0xff800000", "0xffc00000", "4.000", "pkmap"],
        ["0xffc00000", "0xfffdf000", "3.871", "gap_pkmap_fixmap_boot"],
        ["0xfffdf000", "0xffff0000", "0.066", "fixmap_boot"],
        ["0xffff0000", "0xfffff000", "0.059", "fixmap"],
        ["0xfffff000", "0x100000000", "0.004", "fix_hole"],
    ]


def test_vmmap_all_splits(capsys):
    rc, out, _ = run(capsys, "vmmap", "--split", "all")
    assert rc == 0
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("split"))
    rows = {ln.split()[0]: ln.split() for ln in lines[head + 1:]}
    assert set(rows) == {"3G", "3G_OPT", "2G", "2G_OPT", "1G"}
    assert rows["3G"][1:4] == ["0xc0000000", "3072", "896.000"]
    assert rows["3G_OPT"][1:4] == ["0xb0000000", "2816", "1152.000"]
    assert rows["2G"][1:4] == ["0x80000000", "2048", "1920.000"]
    assert rows["2G_OPT"][1:4] == ["0x78000000", "1920", "2048.000"]
    assert rows["1G"][1:4] == ["0x40000000", "1024", "2944.000"]


def test_vmmap_addr(capsys):
    rc, out, _ = run(capsys, "vmmap", "--addr", "0xc0801000", "--era", "2.6.11")
    assert rc == 0
    assert "0xc0801000 is in lowmem [0xc0000000, 0xf8000000)" in out
    assert "__pa = 0x00801000, virt_to_page -> pfn 0x801" in out
    rc, out, _ = run(capsys, "vmmap", "--addr", "0xff801000", "--era", "2.6.11")
    assert "0xff801000 is in pkmap" in out and "PKMAP_NR = 1" in out
    assert "virt_addr_valid: no" in out


def test_vmmap_modern_pae(capsys):
    rc, out, _ = run(capsys, "vmmap", "--era", "modern", "--pae", "--split", "2G")
    assert rc == 0
    assert "VMSPLIT_2G (PAGE_OFFSET 0x80000000), modern formulas, PAE, HIGHMEM" in out
    assert "persistent kmaps (PKMAP_BASE, LAST_PKMAP = 512)" in out
    assert " ldt " in out and " cpu_entry_area " in out


@pytest.mark.parametrize("argv,msg", [
    (["vmmap", "--split", "3G_OPT", "--era", "modern", "--pae"], "depends on !X86_PAE"),
    (["vmmap", "--addr", "nope"], "cannot read address"),
    (["vmmap", "--addr", "0x100000000"], "not in 0..0xffffffff"),
    (["vmmap", "--mem", "0"], "mem_mb"),
])
def test_vmmap_errors(capsys, argv, msg):
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and err.startswith("kmem vmmap: error: ") and msg in err


def test_vmmap_svg(capsys, tmp_path):
    path = tmp_path / "map.svg"
    rc, out, _ = run(capsys, "vmmap", "--split", "1G", "--era", "2.6.11", "--svg", str(path))
    assert rc == 0 and f"wrote {path}" in out
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "x86-32 kernel virtual memory map: VMSPLIT_1G, 2.6.11" in texts
    for label in ("lowmem", "vmalloc", "pkmap", "fixmap", "fix_hole", "0x40000000",
                  "0xf8000000", "0x100000000"):
        assert label in texts
    rects = [r for r in root.iter(f"{ns}rect") if r.get("stroke") == "black"]
    assert len(rects) == 9  # one per region
    ys = [float(r.get("y")) for r in rects]
    assert ys == sorted(ys)  # drawn top (4 GB) to bottom (PAGE_OFFSET)


def test_vmmap_svg_unwritable(capsys, tmp_path):
    rc, _, err = run(capsys, "vmmap", "--svg", str(tmp_path / "missing" / "x.svg"))
    assert rc == 2 and "cannot write" in err
