"""The x86-32 kernel virtual memory map: every VMSPLIT, both eras, conversions, invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmem.spec.constants import MB
from kmem.spec.errors import InvalidArgument, KernelBug
from kmem.spec.x86_32_layout import (
    VMSPLIT_PAGE_OFFSET,
    Era,
    NotDirectMapped,
    check_invariants,
    layout,
    maxmem,
    page_offset,
    region_of,
)

# facts §3b: VMSPLIT table (PAGE_OFFSET, lowmem MB)
VMSPLITS = [("3G", 0xC0000000, 896), ("3G_OPT", 0xB0000000, 1152), ("2G", 0x80000000, 1920),
            ("2G_OPT", 0x78000000, 2048), ("1G", 0x40000000, 2944)]


@pytest.mark.parametrize("split,offset,lowmem_mb", VMSPLITS)
def test_vmsplit_page_offset_and_lowmem(split, offset, lowmem_mb):
    assert page_offset(split) == offset
    assert maxmem(split, "2.6.11") == lowmem_mb * MB
    lay = layout(split, "2.6.11")
    assert lay.page_offset == lay.task_size == offset
    assert lay.maxmem == lowmem_mb * MB
    assert lay.high_memory == offset + lowmem_mb * MB
    check_invariants(lay)


def test_vmsplit_names_are_exactly_the_kconfig_options():
    assert list(VMSPLIT_PAGE_OFFSET) == [s for s, _, _ in VMSPLITS]


def test_3g_2611_layout_exact():
    lay = layout("3G", "2.6.11")
    assert lay.high_memory == 0xF8000000
    assert lay.vmalloc_start == 0xF8800000
    assert lay.pkmap_base == 0xFF800000
    assert lay.vmalloc_end == 0xFF7FE000  # PKMAP_BASE - 2 * PAGE_SIZE
    assert lay.last_pkmap == 1024 and lay.pkmap_end == 0xFFC00000
    assert lay.fixaddr_top == 0xFFFFF000
    assert lay.fixaddr_start == 0xFFFFF000 - 15 * 4096
    assert lay.fixaddr_boot_start == 0xFFFFF000 - 32 * 4096
    assert [(r.name, r.start, r.end) for r in lay.regions] == [
        ("lowmem", 0xC0000000, 0xF8000000),
        ("vmalloc_offset_gap", 0xF8000000, 0xF8800000),
        ("vmalloc", 0xF8800000, 0xFF7FE000),
        ("vmalloc_end_gap", 0xFF7FE000, 0xFF800000),
        ("pkmap", 0xFF800000, 0xFFC00000),
        ("gap_pkmap_fixmap_boot", 0xFFC00000, 0xFFFDF000),
        ("fixmap_boot", 0xFFFDF000, 0xFFFF0000),
        ("fixmap", 0xFFFF0000, 0xFFFFF000),
        ("fix_hole", 0xFFFFF000, 0x100000000),
    ]


def test_pae_halves_the_pkmap_window():
    lay = layout("3G", "2.6.11", pae=True)
    assert lay.last_pkmap == 512
    assert lay.pkmap_end - lay.pkmap_base == 2 * MB
    assert lay.pkmap_base % (2 * MB) == 0
    assert lay.vmalloc_end == lay.pkmap_base - 2 * 4096


def test_no_highmem_vmalloc_ends_below_fixmap():
    lay = layout("3G", "2.6.11", highmem=False)
    assert lay.pkmap_base is None and lay.pkmap_end is None
    assert lay.vmalloc_end == lay.fixaddr_start - 2 * 4096
    assert "pkmap" not in [r.name for r in lay.regions]
    check_invariants(lay)
    with pytest.raises(InvalidArgument, match="CONFIG_HIGHMEM"):
        lay.pkmap_addr(0)


def test_vmalloc_start_rounding_differs_between_eras():
    # 2.6.11: round high_memory + 8 MB up to 8 MB; modern: high_memory + 8 MB
    old = layout("3G", "2.6.11", mem_mb=100)
    assert old.high_memory == 0xC0000000 + 100 * MB
    assert old.vmalloc_start == 0xC0000000 + 112 * MB
    new = layout("3G", "modern", mem_mb=100)
    assert new.vmalloc_start == 0xC0000000 + 108 * MB
    # an 8 MB-aligned high_memory gets exactly 8 MB of gap in both
    assert layout("3G", "2.6.11", mem_mb=512).vmalloc_start == 0xE0800000
    assert layout("3G", "modern", mem_mb=512).vmalloc_start == 0xE0800000


def test_modern_layout_formulas():
    lay = layout("3G", "modern")
    # PKMAP_BASE = (LDT_BASE_ADDR - PAGE_SIZE) & PMD_MASK, LDT below the CPU entry area
    assert lay.cpu_entry_area_base == 0xFFC00000
    assert lay.ldt_base_addr == 0xFF800000
    assert lay.pkmap_base == 0xFF400000
    assert lay.vmalloc_end == 0xFF3FE000
    # MAXMEM = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE
    assert lay.maxmem == 0xFF3FE000 - 0xC0000000 - 128 * MB
    assert lay.vmalloc_start == lay.high_memory + 8 * MB
    names = [r.name for r in lay.regions if not r.is_gap]
    assert names == ["lowmem", "vmalloc", "pkmap", "ldt", "cpu_entry_area", "fixmap_boot",
                     "fixmap", "fix_hole"]
    check_invariants(lay)


def test_modern_pae_forbids_opt_splits():
    for split in ("3G_OPT", "2G_OPT"):
        with pytest.raises(InvalidArgument, match="depends on !X86_PAE"):
            layout(split, "modern", pae=True)
        check_invariants(layout(split, "modern"))
    check_invariants(layout("2G", "modern", pae=True))


@pytest.mark.parametrize("split", list(VMSPLIT_PAGE_OFFSET))
@pytest.mark.parametrize("era", list(Era))
@pytest.mark.parametrize("pae", [False, True])
@pytest.mark.parametrize("highmem", [False, True])
@pytest.mark.parametrize("mem_mb", [None, 64, 1024, 8192])
def test_invariants_everywhere(split, era, pae, highmem, mem_mb):
    if era is Era.MODERN and pae and split.endswith("_OPT"):
        return
    lay = layout(split, era, pae=pae, highmem=highmem, mem_mb=mem_mb)
    check_invariants(lay)
    regions = lay.regions
    assert regions[0].start == lay.page_offset and regions[-1].end == 1 << 32
    for a, b in zip(regions, regions[1:], strict=False):
        assert a.end == b.start  # ordered, disjoint, no hole left unnamed
        assert not (a.is_gap and b.is_gap)
    assert lay.vmalloc_start - lay.high_memory >= 8 * MB
    assert lay.vmalloc_start % 4096 == 0 and lay.vmalloc_end % 4096 == 0
    if lay.pkmap_base is not None:
        assert lay.vmalloc_end == lay.pkmap_base - 8192


def test_check_invariants_detects_broken_layouts():
    import dataclasses

    lay = layout("3G", "2.6.11")
    r = list(lay.regions)
    with pytest.raises(KernelBug, match="starts at"):
        check_invariants(dataclasses.replace(lay, regions=tuple(r[1:])))
    with pytest.raises(KernelBug, match="4 GB"):
        check_invariants(dataclasses.replace(lay, regions=tuple(r[:-1])))
    empty = dataclasses.replace(r[1], end=r[1].start)
    with pytest.raises(KernelBug, match="empty"):
        check_invariants(dataclasses.replace(lay, regions=(r[0], empty, *r[2:])))


@pytest.mark.parametrize("vaddr,name", [
    (0x00000000, "user"), (0xBFFFFFFF, "user"), (0xC0000000, "lowmem"), (0xF7FFFFFF, "lowmem"),
    (0xF8000000, "vmalloc_offset_gap"), (0xF8800000, "vmalloc"), (0xFF7FDFFF, "vmalloc"),
    (0xFF7FE000, "vmalloc_end_gap"), (0xFF800000, "pkmap"), (0xFFBFFFFF, "pkmap"),
    (0xFFFFEFFF, "fixmap"), (0xFFFFF000, "fix_hole"), (0xFFFFFFFF, "fix_hole"),
])
def test_region_of(vaddr, name):
    assert region_of(vaddr, "3G", "2.6.11").name == name


def test_region_of_rejects_out_of_range():
    for bad in (-1, 1 << 32):
        with pytest.raises(InvalidArgument):
            region_of(bad)


def test_address_conversions():
    lay = layout("3G", "2.6.11")
    assert lay.pa(0xC0000000) == 0
    assert lay.pa(0xC0123456) == 0x123456
    assert lay.va(0x123456) == 0xC0123456
    assert lay.virt_to_pfn(0xC0801000) == 0x801
    assert lay.virt_addr_valid(0xF7FFFFFF) and not lay.virt_addr_valid(0xF8000000)
    assert not lay.virt_addr_valid(0xBFFFFFFF)
    assert lay.max_low_pfn == 896 * MB // 4096
    with pytest.raises(NotDirectMapped, match="vmalloc"):
        lay.pa(0xF8800000)
    with pytest.raises(NotDirectMapped):
        lay.virt_to_pfn(0x1000)
    with pytest.raises(NotDirectMapped, match="kmap"):
        lay.va(896 * MB)
    with pytest.raises(InvalidArgument):
        lay.va(-1)
    assert issubclass(NotDirectMapped, KernelBug)


@given(st.integers(0, 896 * MB - 1))
def test_pa_va_round_trip(paddr):
    lay = layout("3G", "2.6.11")
    assert lay.pa(lay.va(paddr)) == paddr
    assert lay.region_of(lay.va(paddr)).name == "lowmem"


def test_pkmap_slots():
    lay = layout("3G", "2.6.11")
    assert lay.pkmap_addr(0) == 0xFF800000
    assert lay.pkmap_addr(1023) == 0xFFBFF000
    assert lay.pkmap_nr(0xFFBFF123) == 1023
    with pytest.raises(InvalidArgument):
        lay.pkmap_addr(1024)
    with pytest.raises(InvalidArgument):
        lay.pkmap_nr(0xFFC00000)


def test_layout_rejects_bad_configuration():
    with pytest.raises(InvalidArgument, match="unknown vmsplit"):
        layout("4G")
    with pytest.raises(InvalidArgument, match="unknown era"):
        layout("3G", "2.4")
    with pytest.raises(InvalidArgument, match="mem_mb"):
        layout("3G", "2.6.11", mem_mb=0)
    with pytest.raises(InvalidArgument, match="fixmap"):
        layout("3G", "2.6.11", fixmap_pages=10, fixmap_boot_pages=5)
    with pytest.raises(InvalidArgument, match="cpu_entry_area"):
        layout("3G", "modern", cpu_entry_area_pages=-1)
    with pytest.raises(InvalidArgument, match="no room for vmalloc"):
        layout("3G", "2.6.11", fixmap_pages=20000, fixmap_boot_pages=30000)
