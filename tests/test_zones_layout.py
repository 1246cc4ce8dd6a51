"""Zone spans, machine layouts and the x86 presets (spec/zones.py)."""

import pytest

from kmem.spec.errors import InvalidArgument
from kmem.spec.zones import (
    MAX_DMA32_PFN,
    MAX_DMA_PFN,
    MINIMAL_CONFIG,
    PRESETS,
    X86_32_CONFIG,
    MachineLayout,
    ZoneSpan,
    ZoneType,
    generic,
    x86_32,
    x86_64,
    zone_movable_pfn,
)

Z = ZoneType


def spans(layout):
    return [(z.ztype, z.start_pfn, z.end_pfn) for z in layout.zones]


# --- ZoneSpan --------------------------------------------------------------


def test_span_counts_with_holes_and_reserved():
    z = ZoneSpan(Z.DMA, 1, 4096, holes=((159, 256),), reserved=((1, 16), (1000, 1010)))
    assert z.spanned_pages == 4095
    assert z.present_pages == 4095 - 97
    assert z.managed_pages == 4095 - 97 - 25
    assert z.managed_ranges() == ((16, 159), (256, 1000), (1010, 4096))
    assert sum(e - s for s, e in z.managed_ranges()) == z.managed_pages


@pytest.mark.parametrize("pfn,contains,present,reserved,managed", [
    (0, False, False, False, False),
    (1, True, True, True, False),
    (15, True, True, True, False),
    (16, True, True, False, True),
    (158, True, True, False, True),
    (159, True, False, False, False),
    (255, True, False, False, False),
    (256, True, True, False, True),
    (4095, True, True, False, True),
    (4096, False, False, False, False),
])
def test_span_predicates_at_every_edge(pfn, contains, present, reserved, managed):
    z = ZoneSpan(Z.DMA, 1, 4096, holes=((159, 256),), reserved=((1, 16),))
    assert z.contains(pfn) is contains
    assert z.is_present(pfn) is present
    assert z.is_reserved(pfn) is reserved
    assert z.is_managed(pfn) is managed


def test_empty_span():
    z = ZoneSpan(Z.MOVABLE, 7, 7)
    assert (z.spanned_pages, z.present_pages, z.managed_pages) == (0, 0, 0)
    assert z.managed_ranges() == ()
    assert not z.contains(7)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(start_pfn=10, end_pfn=5), "below start_pfn"),
    (dict(start_pfn=-1, end_pfn=5), "start_pfn must be an int >= 0"),
    (dict(holes=((5, 5),)), "empty or reversed"),
    (dict(holes=((0, 20),)), "outside the span"),
    (dict(holes=((2, 4), (3, 6))), "overlaps or precedes"),
    (dict(holes=((5, 6), (2, 3))), "overlaps or precedes"),
    (dict(reserved=((8, 12),)), "outside the span"),
    (dict(holes=((2, 4),), reserved=((3, 5),)), "a reserved page must be present"),
    (dict(holes=[(2, 4)]), "must be tuples"),
    (dict(holes=((2, 4.0),)), "pair of ints"),
])
def test_span_validation(kwargs, msg):
    args = dict(ztype=Z.NORMAL, start_pfn=1, end_pfn=10)
    args.update(kwargs)
    with pytest.raises(InvalidArgument, match=msg):
        ZoneSpan(**args)


def test_device_span_cannot_have_managed_pages():
    with pytest.raises(InvalidArgument, match="ZONE_DEVICE never holds buddy pages"):
        ZoneSpan(Z.DEVICE, 0, 8)
    assert ZoneSpan(Z.DEVICE, 0, 8, reserved=((0, 8),)).managed_pages == 0


# --- MachineLayout ---------------------------------------------------------


def test_layout_requires_config_order():
    with pytest.raises(InvalidArgument, match="one span per configured zone"):
        MachineLayout("x", "generic", MINIMAL_CONFIG, (ZoneSpan(Z.NORMAL, 0, 4),))
    with pytest.raises(InvalidArgument, match="unknown arch"):
        MachineLayout("x", "arm", MINIMAL_CONFIG,
                      (ZoneSpan(Z.NORMAL, 0, 4), ZoneSpan(Z.MOVABLE, 0, 0)))


def test_layout_rejects_overlapping_zones():
    with pytest.raises(InvalidArgument, match="ZONE_NORMAL .* overlaps or lies below ZONE_DMA"):
        MachineLayout("x", "x86_32", X86_32_CONFIG,
                      (ZoneSpan(Z.DMA, 0, 10), ZoneSpan(Z.NORMAL, 5, 20),
                       ZoneSpan(Z.HIGHMEM, 20, 20), ZoneSpan(Z.MOVABLE, 0, 0)))


def test_layout_queries():
    m = x86_32(1024, reserved=((0, 1),), holes=((0x9F, 0x100),), era="2.6.11")
    assert m.zone(Z.DMA).managed_pages == 4096 - 97 - 1
    assert m.pfn_to_zone(0) is Z.DMA  # reserved but present
    assert m.pfn_to_zone(0x9F) is None  # hole
    assert m.max_pfn == 0x40000
    assert m.populated() == (Z.DMA, Z.NORMAL, Z.HIGHMEM)
    assert m.managed_zones() == (Z.DMA, Z.NORMAL, Z.HIGHMEM)
    assert m.lowmem_pages == (4096 - 98) + (0x38000 - 0x1000)
    assert m.managed_pages == (3998, 225280, 32768, 0)
    with pytest.raises(InvalidArgument, match="ZONE_DMA32 is not configured"):
        m.zone(Z.DMA32)


# --- x86_32 ---------------------------------------------------------------


def test_x86_32_1gb_3g():
    m = x86_32(1024, era="2.6.11")
    assert m.vmsplit == "3G" and m.arch == "x86_32"
    assert spans(m) == [(Z.DMA, 0, 4096), (Z.NORMAL, 4096, 229376),
                        (Z.HIGHMEM, 229376, 262144), (Z.MOVABLE, 0, 0)]
    assert m.zone(Z.HIGHMEM).managed_pages == 32768  # 128 MB of highmem


@pytest.mark.parametrize("pfn,zone", [
    (0, Z.DMA), (4095, Z.DMA), (4096, Z.NORMAL), (229375, Z.NORMAL),
    (229376, Z.HIGHMEM), (262143, Z.HIGHMEM), (262144, None), (10**9, None),
])
def test_x86_32_pfn_to_zone_boundaries(pfn, zone):
    assert x86_32(1024, era="2.6.11").pfn_to_zone(pfn) is zone


@pytest.mark.parametrize("vmsplit,lowmem_mb", [
    ("3G", 896), ("3G_OPT", 1152), ("2G", 1920), ("2G_OPT", 2048), ("1G", 2944),
])
def test_x86_32_lowmem_limit_per_vmsplit(vmsplit, lowmem_mb):
    m = x86_32(4096, vmsplit, era="2.6.11")
    limit = lowmem_mb * 256
    assert m.zone(Z.NORMAL).end_pfn == limit
    assert m.zone(Z.HIGHMEM).start_pfn == limit
    assert m.zone(Z.HIGHMEM).end_pfn == 2**20
    assert m.pfn_to_zone(limit - 1) is Z.NORMAL and m.pfn_to_zone(limit) is Z.HIGHMEM


def test_x86_32_small_memory_has_no_highmem():
    m = x86_32(512)
    assert m.zone(Z.NORMAL).end_pfn == 131072
    assert m.zone(Z.HIGHMEM).spanned_pages == 0
    assert m.populated() == (Z.DMA, Z.NORMAL)
    tiny = x86_32(8)
    assert spans(tiny)[0] == (Z.DMA, 0, 2048)
    assert tiny.zone(Z.NORMAL).spanned_pages == 0


def test_x86_32_without_highmem_ignores_memory_above_maxmem():
    m = x86_32(2048, highmem=False, era="2.6.11")
    assert m.max_pfn == 229376
    assert m.zone(Z.HIGHMEM).spanned_pages == 0
    assert m.pfn_to_zone(229376) is None


def test_x86_32_without_pae_uses_at_most_4gb():
    assert x86_32(8192).max_pfn == 2**20


def test_x86_32_bad_arguments():
    with pytest.raises(InvalidArgument, match="unknown vmsplit"):
        x86_32(1024, "4G")
    with pytest.raises(InvalidArgument, match="mem_mb must be a positive int"):
        x86_32(0)
    with pytest.raises(InvalidArgument, match="outside the span"):
        x86_32(16, holes=((4000, 5000),))


# --- x86_64 ---------------------------------------------------------------


def test_x86_64_8gb():
    m = x86_64(8192)
    assert spans(m) == [(Z.DMA, 0, MAX_DMA_PFN), (Z.DMA32, MAX_DMA_PFN, MAX_DMA32_PFN),
                        (Z.NORMAL, 0x100000, 0x200000), (Z.MOVABLE, 0, 0), (Z.DEVICE, 0, 0)]
    assert MAX_DMA_PFN == 4096 and MAX_DMA32_PFN == 0x100000
    assert m.lowmem_pages == 0x200000  # DMA32 and NORMAL are lowmem on 64-bit


@pytest.mark.parametrize("pfn,zone", [
    (0, Z.DMA), (4095, Z.DMA), (4096, Z.DMA32), (0xFFFFF, Z.DMA32),
    (0x100000, Z.NORMAL), (0x1FFFFF, Z.NORMAL), (0x200000, None),
])
def test_x86_64_pfn_to_zone_boundaries(pfn, zone):
    assert x86_64(8192).pfn_to_zone(pfn) is zone


def test_x86_64_below_4gb_has_empty_normal():
    m = x86_64(2048)
    assert m.zone(Z.DMA32).end_pfn == 0x80000
    assert m.zone(Z.NORMAL).spanned_pages == 0
    assert m.populated() == (Z.DMA, Z.DMA32)


def test_x86_64_first_page_hole_moves_dma_start():
    # like real machines: pfn 0 is not memory, so ZONE_DMA starts at pfn 1
    m = x86_64(4096, holes=((0, 1),))
    dma = m.zone(Z.DMA)
    assert (dma.start_pfn, dma.spanned_pages, dma.present_pages) == (1, 4095, 4095)


def test_x86_64_movablecore_takes_top_of_normal():
    m = x86_64(8192, movablecore_mb=1000)
    # 1000 MB = 256000 pages = 250 * MAX_ORDER_NR_PAGES exactly
    assert m.zone(Z.MOVABLE).start_pfn == 0x200000 - 256000
    assert m.zone(Z.MOVABLE).end_pfn == 0x200000
    assert m.zone(Z.NORMAL).end_pfn == 0x200000 - 256000
    assert m.lowmem_pages == 0x200000 - 256000


def test_x86_64_movablecore_rounds_up_to_max_order_pages():
    m = x86_64(8192, movablecore_mb=1)  # 256 pages -> 1024
    assert m.zone(Z.MOVABLE).spanned_pages == 1024


def test_x86_64_movablecore_comes_from_dma32_below_4gb():
    m = x86_64(2048, movablecore_mb=100, holes=((0, 1),))
    assert m.zone(Z.MOVABLE).start_pfn == 0x79C00
    assert m.zone(Z.MOVABLE).managed_pages == 25600
    assert m.zone(Z.DMA32).end_pfn == 0x79C00


def test_x86_64_movablecore_all_memory_means_no_movable():
    # required_kernelcore = 0 -> find_zone_movable_pfns_for_nodes gives up
    m = x86_64(2048, movablecore_mb=4096)
    assert m.zone(Z.MOVABLE).spanned_pages == 0


def test_zone_movable_pfn_below_usable_start_counts_as_kernelcore():
    memory = ((0, 0x1000), (0x1000, 0x3000))
    # 0x3000 pages, 0x1000 movable: kernelcore 0x2000, 0x1000 of it below usable 0x1000
    assert zone_movable_pfn(memory, 0x1000, 0x1000) == 0x2000
    assert zone_movable_pfn(memory, 0, 0x1000) == 0


def test_x86_64_bad_arguments():
    with pytest.raises(InvalidArgument, match="movablecore_mb"):
        x86_64(1024, movablecore_mb=-1)
    with pytest.raises(InvalidArgument, match="cover all memory"):
        x86_64(1, holes=((0, 256),))


# --- generic --------------------------------------------------------------


def test_generic():
    m = generic(1000)
    assert m.config == MINIMAL_CONFIG and m.arch == "generic"
    assert spans(m) == [(Z.NORMAL, 0, 1000), (Z.MOVABLE, 0, 0)]
    assert m.zone(Z.NORMAL).managed_ranges() == ((0, 1000),)
    assert generic(64, ztype=Z.MOVABLE).zone(Z.MOVABLE).managed_pages == 64
    with pytest.raises(InvalidArgument, match="ZONE_DMA is not configured"):
        generic(64, ztype=Z.DMA)
    with pytest.raises(InvalidArgument, match="npages"):
        generic(0)


def test_presets_table():
    assert set(PRESETS) == {"x86_32", "x86_64", "generic"}
    assert PRESETS["x86_32"](1024) == x86_32(1024)
