"""Watermarks, lowmem_reserve and zone_watermark_ok (spec/watermarks.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmem.spec.alloc_flags import (
    ALLOC_HIGHATOMIC,
    ALLOC_MIN_RESERVE,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MIN,
)
from kmem.spec.errors import InvalidArgument
from kmem.spec.watermarks import (
    DEFAULT_LOWMEM_RESERVE_RATIO,
    LOWMEM_RESERVE_RATIO_2611,
    WatermarkError,
    Watermarks,
    default_min_free_kbytes,
    default_min_free_kbytes_2611,
    khugepaged_min_free_kbytes,
    lowmem_reserve_ratio_for,
    nr_free_buffer_pages,
    setup_per_zone_lowmem_reserve,
    setup_per_zone_lowmem_reserve_2611,
    setup_per_zone_pages_min_2611,
    setup_per_zone_wmarks,
    watermark_threshold,
    zone_watermark_ok,
    zone_watermark_ok_2611,
)
from kmem.spec.zones import MINIMAL_CONFIG, X86_32_CONFIG, X86_64_CONFIG, ZoneType

Z = ZoneType

# A real x86-64 guest, kernel 6.18 (/proc/zoneinfo and /proc/sys/vm/*), copied verbatim.
SAMPLE_MIN_FREE_KBYTES = 67584
SAMPLE_RATIO = (256, 256, 32, 0, 0)
SAMPLE_ZONES = [(Z.DMA, 3840), (Z.DMA32, 772917), (Z.NORMAL, 163840), (Z.MOVABLE, 0),
                (Z.DEVICE, 0)]
SAMPLE_WMARKS = (Watermarks(68, 85, 102, 119), Watermarks(13883, 17353, 20823, 24293),
                 Watermarks(2943, 3678, 4413, 5148), Watermarks(32, 32, 32, 32),
                 Watermarks(0, 0, 0, 0))
SAMPLE_PROTECTION = ((0, 3019, 3659, 3659, 3659), (0, 0, 640, 640, 640), (0, 0, 0, 0, 0),
                     (0, 0, 0, 0, 0), (0, 0, 0, 0, 0))


def test_default_ratios():
    assert DEFAULT_LOWMEM_RESERVE_RATIO[Z.DMA] == 256
    assert DEFAULT_LOWMEM_RESERVE_RATIO[Z.DMA32] == 256
    assert DEFAULT_LOWMEM_RESERVE_RATIO[Z.NORMAL] == 32
    assert lowmem_reserve_ratio_for(X86_64_CONFIG) == (256, 256, 32, 0, 0)
    assert lowmem_reserve_ratio_for(X86_32_CONFIG) == (256, 32, 0, 0)
    assert lowmem_reserve_ratio_for(MINIMAL_CONFIG) == (32, 0)
    assert LOWMEM_RESERVE_RATIO_2611 == (256, 32)


@pytest.mark.parametrize("lowmem_kb,expected", [
    (0, 128), (1024, 128), (16 * 1024, 512), (1024 * 1024, 4096), (4 * 1024 * 1024, 8192),
    (16 * 1024 * 1024, 16384), (4096 * 1024 * 1024, 262144), (10**12, 262144),
    (3 * 1024 * 1024, 7094),  # int_sqrt(50331648) = 7094
])
def test_default_min_free_kbytes(lowmem_kb, expected):
    assert default_min_free_kbytes(lowmem_kb) == expected


def test_default_min_free_kbytes_2611_ceiling():
    # the 2.6.11 comment table: 16384MB -> 16384k; the cap was 64 MB
    assert default_min_free_kbytes_2611(16384 * 1024) == 16384
    assert default_min_free_kbytes_2611(10**12) == 65536
    assert default_min_free_kbytes_2611(0) == 128
    with pytest.raises(WatermarkError, match="lowmem_kbytes must be an int >= 0"):
        default_min_free_kbytes(-1)


def test_khugepaged_explains_the_sample_min_free_kbytes():
    # 3 populated zones up to NORMAL, 2 MB pageblocks: 512 * 3 * (2 + 9) pages = 67584 KB
    assert khugepaged_min_free_kbytes(3, 900000, 7000) == SAMPLE_MIN_FREE_KBYTES
    # never lowers a larger value; capped at 5 % of nr_free_buffer_pages
    assert khugepaged_min_free_kbytes(3, 900000, 100000) == 100000
    assert khugepaged_min_free_kbytes(3, 20000, 100) == 1000 * 4


def test_nr_free_buffer_pages_skips_highmem_and_movable():
    zones = [(Z.DMA, 3840, 90), (Z.DMA32, 772917, 18277), (Z.NORMAL, 10, 20),
             (Z.HIGHMEM, 5000, 0), (Z.MOVABLE, 5000, 0)]
    assert nr_free_buffer_pages(zones) == 3750 + 754640


def test_sample_machine_watermarks():
    assert setup_per_zone_wmarks(SAMPLE_ZONES, SAMPLE_MIN_FREE_KBYTES, 10) == SAMPLE_WMARKS


def test_sample_machine_protection():
    managed = [m for _, m in SAMPLE_ZONES]
    assert setup_per_zone_lowmem_reserve(managed, SAMPLE_RATIO) == SAMPLE_PROTECTION


def test_watermark_scale_factor_dominates_for_big_zones():
    # tmp/4 = 16896*1/1/4 is small next to 1% of a large zone
    (wm,) = setup_per_zone_wmarks([(Z.NORMAL, 1_000_000)], 4096, 100)
    assert wm.min == 1024
    assert wm.low - wm.min == 10000 and wm.high - wm.low == 10000 and wm.promo - wm.high == 10000


def test_highmem_and_movable_min_clamp():
    zones = [(Z.DMA, 4096), (Z.NORMAL, 225280), (Z.HIGHMEM, 32768), (Z.MOVABLE, 1 << 20)]
    wm = setup_per_zone_wmarks(zones, 3788)
    assert wm[2].min == 32  # 32768/1024 = 32
    assert wm[3].min == 128  # 1024 clamped down to 128
    # HIGHMEM is not lowmem: its tmp share uses the lowmem total; delta still applies
    tmp_high = (3788 // 4) * 32768 // (4096 + 225280)
    assert wm[2].low == 32 + max(tmp_high // 4, 32768 * 10 // 10000)
    assert setup_per_zone_wmarks([(Z.NORMAL, 1), (Z.HIGHMEM, 100)], 1024)[1].min == 32


def test_setup_per_zone_wmarks_errors():
    with pytest.raises(WatermarkError, match="no managed lowmem pages"):
        setup_per_zone_wmarks([(Z.HIGHMEM, 100), (Z.MOVABLE, 10)], 1024)
    with pytest.raises(WatermarkError, match="watermark_scale_factor must be an int in 1..3000"):
        setup_per_zone_wmarks(SAMPLE_ZONES, 1024, 0)
    with pytest.raises(WatermarkError, match="zones\\[0\\] must be a"):
        setup_per_zone_wmarks([("DMA", 3)], 1024)
    with pytest.raises(WatermarkError, match="min_free_kbytes must be an int >= 0"):
        setup_per_zone_wmarks(SAMPLE_ZONES, -4)
    assert issubclass(WatermarkError, InvalidArgument)


def test_2611_pages_min():
    # 1 GB i386, min_free_kbytes = int_sqrt(lowmem_kb*16) over present lowmem
    zones = [(Z.DMA, 4096), (Z.NORMAL, 225280), (Z.HIGHMEM, 32768)]
    wm = setup_per_zone_pages_min_2611(zones, 3788)
    assert wm[0] == Watermarks(16, 20, 24, 24)  # 947 * 4096 // 229376 = 16
    assert wm[1] == Watermarks(930, 1162, 1395, 1395)
    assert wm[2] == Watermarks(32, 40, 48, 48)
    with pytest.raises(WatermarkError, match="no lowmem pages"):
        setup_per_zone_pages_min_2611([(Z.HIGHMEM, 5)], 1024)


def test_lowmem_reserve_clears_for_zero_ratio_or_empty_lower_zone():
    assert setup_per_zone_lowmem_reserve([0, 1000, 320], [256, 32, 0]) == (
        (0, 0, 0), (0, 0, 10), (0, 0, 0))
    assert setup_per_zone_lowmem_reserve([10, 1000, 320], [0, 0, 0]) == ((0,) * 3,) * 3
    assert setup_per_zone_lowmem_reserve([10, 512, 256], [256, 32, 0]) == (
        (0, 2, 3), (0, 0, 8), (0, 0, 0))


def test_lowmem_reserve_errors():
    with pytest.raises(WatermarkError, match="one lowmem_reserve_ratio per zone"):
        setup_per_zone_lowmem_reserve([1, 2], [256])
    with pytest.raises(WatermarkError, match="lowmem_reserve_ratio\\[1\\] must be"):
        setup_per_zone_lowmem_reserve([1, 2], [256, -1])


def test_lowmem_reserve_2611():
    # the 2.6.11 source comment: 1G machine, 16M DMA, 784M normal, 224M high
    present = [4096, 784 * 256, 224 * 256]
    prot = setup_per_zone_lowmem_reserve_2611(present, [256, 32])
    assert prot[0] == (0, 784 * 256 // 256, (784 + 224) * 256 // 256)
    assert prot[1] == (0, 0, 224 * 256 // 32)
    assert prot[2] == (0, 0, 0)
    with pytest.raises(WatermarkError, match="MAX_NR_ZONES - 1 = 2 ratios"):
        setup_per_zone_lowmem_reserve_2611(present, [256, 32, 0])
    with pytest.raises(WatermarkError, match="must be an int >= 1"):
        setup_per_zone_lowmem_reserve_2611(present, [256, 0])


# --- zone_watermark_ok ----------------------------------------------------

NO_BLOCKS = (0,) * 11


@pytest.mark.parametrize("flags,expected", [
    (ALLOC_WMARK_MIN, 1000),
    (ALLOC_NON_BLOCK, 1000),  # GFP_NOWAIT: no discount
    (ALLOC_MIN_RESERVE, 500),  # __GFP_HIGH
    (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, 375),  # GFP_ATOMIC: 3/8
    (ALLOC_OOM, 500),
    (ALLOC_HIGHATOMIC, 1000),
    (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK | ALLOC_OOM, 188),
    (ALLOC_WMARK_LOW | ALLOC_MIN_RESERVE, 500),
])
def test_watermark_threshold(flags, expected):
    assert watermark_threshold(1000, flags) == expected


def test_threshold_rounds_like_c():
    assert watermark_threshold(7, ALLOC_MIN_RESERVE) == 4  # 7 - 3
    assert watermark_threshold(7, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK) == 3  # 4 - 1


def test_watermark_ok_boundary_is_strict():
    ok = dict(order=0, mark=100, lowmem_reserve=0, alloc_flags=0, nr_free=NO_BLOCKS)
    assert zone_watermark_ok(free_pages=101, **ok)
    assert not zone_watermark_ok(free_pages=100, **ok)


def test_watermark_ok_lowmem_reserve_term():
    args = dict(order=0, mark=100, alloc_flags=0, nr_free=NO_BLOCKS)
    assert not zone_watermark_ok(free_pages=740, lowmem_reserve=640, **args)
    assert zone_watermark_ok(free_pages=741, lowmem_reserve=640, **args)


def test_watermark_ok_atomic_discount():
    args = dict(order=0, mark=1000, lowmem_reserve=0, nr_free=NO_BLOCKS)
    atomic = ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK
    assert zone_watermark_ok(free_pages=376, alloc_flags=atomic, **args)
    assert not zone_watermark_ok(free_pages=375, alloc_flags=atomic, **args)
    assert not zone_watermark_ok(free_pages=376, alloc_flags=ALLOC_NON_BLOCK, **args)
    assert zone_watermark_ok(free_pages=501, alloc_flags=ALLOC_OOM, **args)
    assert not zone_watermark_ok(free_pages=500, alloc_flags=ALLOC_OOM, **args)


def test_watermark_ok_unusable_pages_for_order():
    # order 3: (1 << 3) - 1 = 7 pages do not count
    blocks = (0,) * 3 + (1,) + (0,) * 7
    args = dict(order=3, mark=100, lowmem_reserve=0, alloc_flags=0, nr_free=blocks)
    assert zone_watermark_ok(free_pages=108, **args)
    assert not zone_watermark_ok(free_pages=107, **args)


def test_watermark_ok_needs_a_block_of_at_least_the_order():
    args = dict(free_pages=10_000, mark=100, lowmem_reserve=0, alloc_flags=0)
    only_small = (500, 200, 100) + (0,) * 8
    assert zone_watermark_ok(order=2, nr_free=only_small, **args)
    assert not zone_watermark_ok(order=3, nr_free=only_small, **args)
    one_big = (0,) * 10 + (1,)
    assert zone_watermark_ok(order=10, nr_free=one_big, **args)
    assert zone_watermark_ok(order=5, nr_free=one_big, **args)
    assert zone_watermark_ok(order=0, nr_free=NO_BLOCKS, **args)  # order 0: no block check


def test_watermark_ok_errors():
    base = dict(free_pages=10, mark=1, lowmem_reserve=0, alloc_flags=0)
    with pytest.raises(WatermarkError, match="order must be an int in 0..10"):
        zone_watermark_ok(order=11, nr_free=NO_BLOCKS, **base)
    with pytest.raises(WatermarkError, match="one block count per order \\(11\\)"):
        zone_watermark_ok(order=0, nr_free=(0,) * 10, **base)
    with pytest.raises(WatermarkError, match="nr_free\\[2\\] must be"):
        zone_watermark_ok(order=0, nr_free=(0, 0, -1) + (0,) * 8, **base)


def test_2611_per_order_loop():
    # free 100 pages: 60 single pages, 10 order-2 blocks; order-2 request, mark 20
    nr_free = (60, 0, 10) + (0,) * 8
    args = dict(free_pages=100, mark=20, lowmem_reserve=0, can_try_harder=False,
                gfp_high=False, nr_free=nr_free)
    # free = 100-4+1 = 97 > 20; o=0: 97-60 = 37 > 10; o=1: 37 > 5 -> ok
    assert zone_watermark_ok_2611(order=2, **args)
    # with only order-0 pages the loop fails at o=0: 97-100 <= 10
    args["nr_free"] = (100,) + (0,) * 10
    assert not zone_watermark_ok_2611(order=2, **args)
    assert zone_watermark_ok_2611(order=0, **args)


def test_2611_discounts_and_boundary():
    args = dict(order=0, lowmem_reserve=0, nr_free=NO_BLOCKS)
    assert not zone_watermark_ok_2611(free_pages=1000, mark=1000, can_try_harder=False,
                                      gfp_high=False, **args)
    assert zone_watermark_ok_2611(free_pages=1001, mark=1000, can_try_harder=False,
                                  gfp_high=False, **args)
    assert zone_watermark_ok_2611(free_pages=376, mark=1000, can_try_harder=True,
                                  gfp_high=True, **args)
    assert not zone_watermark_ok_2611(free_pages=375, mark=1000, can_try_harder=True,
                                      gfp_high=True, **args)
    assert zone_watermark_ok_2611(free_pages=751, mark=1000, can_try_harder=True,
                                  gfp_high=False, **args)


# --- properties -------------------------------------------------------------

_zone_types = st.sampled_from([Z.DMA, Z.DMA32, Z.NORMAL, Z.HIGHMEM, Z.MOVABLE])


@given(st.lists(st.tuples(_zone_types, st.integers(0, 10**7)), min_size=1, max_size=5),
       st.integers(0, 262144), st.integers(1, 3000))
def test_watermarks_are_ordered_and_lowmem_mins_fit_pages_min(zones, mfk, wsf):
    if sum(m for zt, m in zones if zt not in (Z.HIGHMEM, Z.MOVABLE)) == 0:
        return
    wm = setup_per_zone_wmarks(zones, mfk, wsf)
    for w in wm:
        assert w.min <= w.low <= w.high <= w.promo
        assert w.low - w.min == w.high - w.low == w.promo - w.high
    assert sum(w.min for (zt, _), w in zip(zones, wm, strict=True)
               if zt not in (Z.HIGHMEM, Z.MOVABLE)) <= mfk // 4


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=6), st.data())
def test_protection_is_monotone_and_zero_on_and_below_diagonal(managed, data):
    ratios = data.draw(st.lists(st.integers(0, 512), min_size=len(managed),
                                max_size=len(managed)))
    prot = setup_per_zone_lowmem_reserve(managed, ratios)
    for i, row in enumerate(prot):
        assert len(row) == len(managed)
        assert all(v == 0 for v in row[: i + 1])
        assert list(row[i + 1:]) == sorted(row[i + 1:])


@given(st.integers(-50, 5000), st.integers(0, 10), st.integers(0, 2000), st.integers(0, 500),
       st.integers(0, 0xFFF), st.lists(st.integers(0, 3), min_size=11, max_size=11))
def test_watermark_ok_is_monotone_in_free_pages(free, order, mark, reserve, flags, nr_free):
    args = dict(order=order, mark=mark, lowmem_reserve=reserve, alloc_flags=flags,
                nr_free=nr_free)
    if zone_watermark_ok(free_pages=free, **args):
        assert zone_watermark_ok(free_pages=free + 1, **args)
    # the threshold never rises above the mark
    assert watermark_threshold(mark, flags) <= mark
