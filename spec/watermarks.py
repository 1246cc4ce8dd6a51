"""Zone watermarks, lowmem_reserve and the watermark check (mm/page_alloc.c, 6.x).

Modern rules follow mainline 6.x ``mm/page_alloc.c`` (``__setup_per_zone_wmarks``,
``setup_per_zone_lowmem_reserve``, ``calculate_min_free_kbytes``,
``__zone_watermark_ok``) and ``mm/khugepaged.c``
(``set_recommended_min_free_kbytes``). The 2.6.11 rules (pwanbul/linux-2.6.11
``mm/page_alloc.c``: ``setup_per_zone_pages_min``,
``setup_per_zone_lowmem_reserve``, ``zone_watermark_ok``) are kept under names
ending in ``_2611`` where they differ.

Everything here is plain integer arithmetic on page counts, as in the kernel:
``/`` on unsigned longs is ``//`` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import isqrt

from .alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_MIN_RESERVE,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_RESERVES,
)
from .constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_SHIFT
from .errors import InvalidArgument
from .zones import ZoneConfig, ZoneType

SWAP_CLUSTER_MAX = 32  # include/linux/swap.h
DEFAULT_WATERMARK_SCALE_FACTOR = 10  # 0.1 % of the zone (vm.watermark_scale_factor)
WATERMARK_SCALE_FACTOR_MAX = 3000  # SYSCTL_THREE_THOUSAND: the sysctl accepts 1..3000
DEFAULT_WATERMARK_BOOST_FACTOR = 15000  # vm.watermark_boost_factor
MIN_FREE_KBYTES_FLOOR = 128  # calculate_min_free_kbytes clamp, both kernels
MIN_FREE_KBYTES_CEILING = 262144  # 256 MB (6.x)
MIN_FREE_KBYTES_CEILING_2611 = 65536  # 64 MB (2.6.11 init_per_zone_pages_min)
MIN_FREE_KBYTES_2611_STATIC = 1024  # 2.6.11 static initialiser before the initcall runs
MIGRATE_PCPTYPES = 3  # include/linux/mmzone.h
HPAGE_PMD_ORDER = 9  # x86-64 pageblock_order with THP (2 MB pageblocks)

#: sysctl_lowmem_reserve_ratio[] initialiser (mm/page_alloc.c). DEVICE has no
#: initialiser, so the C array holds 0 there.
DEFAULT_LOWMEM_RESERVE_RATIO: dict[ZoneType, int] = {
    ZoneType.DMA: 256,
    ZoneType.DMA32: 256,
    ZoneType.NORMAL: 32,
    ZoneType.HIGHMEM: 0,
    ZoneType.MOVABLE: 0,
    ZoneType.DEVICE: 0,
}

#: 2.6.11: ``int sysctl_lowmem_reserve_ratio[MAX_NR_ZONES-1] = { 256, 32 }`` (DMA, NORMAL)
LOWMEM_RESERVE_RATIO_2611 = (256, 32)


class WatermarkError(InvalidArgument):
    """Input to a watermark rule that the kernel could never see (negative pages, ...)."""


@dataclass(frozen=True)
class Watermarks:
    """``zone->_watermark[WMARK_MIN..WMARK_PROMO]`` in pages (include/linux/mmzone.h).

    2.6.11 had only pages_min/low/high; there ``promo`` is reported as ``high``.
    """

    min: int
    low: int
    high: int
    promo: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(min, low, high, promo), indexable by WMARK_MIN .. WMARK_PROMO."""
        return (self.min, self.low, self.high, self.promo)


def _nonneg(what: str, v: object) -> int:
    if type(v) is not int or v < 0:
        raise WatermarkError(f"{what} must be an int >= 0, got {v!r}")
    return v


def lowmem_reserve_ratio_for(config: ZoneConfig) -> tuple[int, ...]:
    """The default ``vm.lowmem_reserve_ratio``, one entry per zone index of ``config``.

    /proc/sys/vm/lowmem_reserve_ratio prints MAX_NR_ZONES entries since 4.18
    (``256 256 32 0 0`` on x86-64 with DMA, DMA32, NORMAL, MOVABLE, DEVICE).
    """
    return tuple(DEFAULT_LOWMEM_RESERVE_RATIO[zt] for zt in config.zones)


def default_min_free_kbytes(lowmem_kbytes: int) -> int:
    """``calculate_min_free_kbytes``: ``clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144)``.

    The kernel's ``lowmem_kbytes`` is ``nr_free_buffer_pages() * 4``: the sum over
    the zones up to ZONE_NORMAL of managed pages above the high watermark. At the
    first call (the postcore initcall) the watermarks are still 0, so this is the
    managed pages of DMA, DMA32 and NORMAL (x86-32: DMA and NORMAL) in KB; pass
    that. The value may later be raised by :func:`khugepaged_min_free_kbytes`.
    """
    _nonneg("lowmem_kbytes", lowmem_kbytes)
    return min(max(isqrt(lowmem_kbytes * 16), MIN_FREE_KBYTES_FLOOR), MIN_FREE_KBYTES_CEILING)


def default_min_free_kbytes_2611(lowmem_kbytes: int) -> int:
    """2.6.11 ``init_per_zone_pages_min``: the same square root, clamped to [128, 65536]."""
    _nonneg("lowmem_kbytes", lowmem_kbytes)
    return min(max(isqrt(lowmem_kbytes * 16), MIN_FREE_KBYTES_FLOOR),
               MIN_FREE_KBYTES_CEILING_2611)


def nr_free_buffer_pages(zones: Sequence[tuple[ZoneType, int, int]]) -> int:
    """``nr_free_buffer_pages()`` (mm/page_alloc.c ``nr_free_zone_pages(gfp_zone(GFP_USER))``).

    ``zones`` holds (type, managed, high watermark); sums ``managed - high`` where
    positive over the zones a GFP_USER allocation may use (not HIGHMEM/MOVABLE/DEVICE).
    """
    total = 0
    for zt, managed, high in zones:
        if zt in (ZoneType.DMA, ZoneType.DMA32, ZoneType.NORMAL) and managed > high:
            total += managed - high
    return total


def khugepaged_min_free_kbytes(nr_zones: int, free_buffer_pages: int, min_free_kbytes: int,
                               pageblock_order: int = HPAGE_PMD_ORDER) -> int:
    """``set_recommended_min_free_kbytes`` (mm/khugepaged.c) with THP enabled.

    ``nr_zones`` counts the populated zones up to ZONE_NORMAL. The recommendation is
    ``pageblock_nr_pages * nr_zones * (2 + MIGRATE_PCPTYPES**2)`` pages, capped at 5 %
    of :func:`nr_free_buffer_pages`; min_free_kbytes is raised to it, never lowered.
    This is why a 4 GB x86-64 guest shows 67584: 512 * 3 * 11 pages = 67584 KB.
    """
    for what, v in (("nr_zones", nr_zones), ("free_buffer_pages", free_buffer_pages),
                    ("min_free_kbytes", min_free_kbytes), ("pageblock_order", pageblock_order)):
        _nonneg(what, v)
    pageblock_nr_pages = 2**pageblock_order
    recommended = pageblock_nr_pages * nr_zones * 2
    recommended += pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    recommended = min(recommended, free_buffer_pages // 20)
    recommended_kbytes = recommended * 2 ** (PAGE_SHIFT - 10)
    return max(recommended_kbytes, min_free_kbytes)


def _is_highmem_or_movable(zt: ZoneType) -> bool:
    return zt in (ZoneType.HIGHMEM, ZoneType.MOVABLE)


def _check_zone_pages(zones: Sequence[tuple[ZoneType, int]]) -> None:
    for i, z in enumerate(zones):
        if not (isinstance(z, tuple) and len(z) == 2 and isinstance(z[0], ZoneType)):
            raise WatermarkError(f"zones[{i}] must be a (ZoneType, pages) pair, got {z!r}")
        _nonneg(f"zones[{i}] pages", z[1])


def setup_per_zone_wmarks(zones: Sequence[tuple[ZoneType, int]], min_free_kbytes: int,
                          watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
                          ) -> tuple[Watermarks, ...]:
    """``__setup_per_zone_wmarks`` (mm/page_alloc.c, 6.x): one Watermarks per zone.

    ``zones`` is (type, managed pages) for every zone of the node, in order.
    ``pages_min = min_free_kbytes / 4`` is shared out in proportion to managed pages
    over the lowmem zones (all but HIGHMEM and MOVABLE); ``tmp`` is each zone's
    share. HIGHMEM and MOVABLE get ``min = clamp(managed / 1024, 32, 128)`` instead.
    ``delta = max(tmp / 4, managed * watermark_scale_factor / 10000)`` and
    low = min + delta, high = low + delta, promo = high + delta (boost = 0).
    """
    _check_zone_pages(zones)
    _nonneg("min_free_kbytes", min_free_kbytes)
    if type(watermark_scale_factor) is not int or not (
            1 <= watermark_scale_factor <= WATERMARK_SCALE_FACTOR_MAX):
        raise WatermarkError(f"watermark_scale_factor must be an int in 1..3000 (the sysctl "
                             f"range), got {watermark_scale_factor!r}")
    pages_min = min_free_kbytes // 2 ** (PAGE_SHIFT - 10)
    lowmem_pages = sum(managed for zt, managed in zones if not _is_highmem_or_movable(zt))
    if lowmem_pages == 0:
        raise WatermarkError("no managed lowmem pages: the kernel divides by lowmem_pages, "
                             "expected at least one managed page outside HIGHMEM/MOVABLE")
    out = []
    for zt, managed in zones:
        tmp = pages_min * managed // lowmem_pages
        if _is_highmem_or_movable(zt):
            wmark_min = min(max(managed // 1024, SWAP_CLUSTER_MAX), 128)
        else:
            wmark_min = tmp
        delta = max(tmp // 4, managed * watermark_scale_factor // 10000)
        low = wmark_min + delta
        high = low + delta
        out.append(Watermarks(wmark_min, low, high, high + delta))
    return tuple(out)


def setup_per_zone_pages_min_2611(zones: Sequence[tuple[ZoneType, int]],
                                  min_free_kbytes: int) -> tuple[Watermarks, ...]:
    """2.6.11 ``setup_per_zone_pages_min``: one Watermarks per zone (promo = high).

    ``zones`` is (type, **present** pages): 2.6.11 had no managed count. Lowmem is
    every zone but HIGHMEM. HIGHMEM gets ``clamp(present / 1024, 32, 128)``; a
    lowmem zone ``pages_min * present / lowmem_pages``. Then
    ``pages_low = min * 5 / 4`` and ``pages_high = min * 6 / 4``.
    """
    _check_zone_pages(zones)
    _nonneg("min_free_kbytes", min_free_kbytes)
    pages_min = min_free_kbytes // 2 ** (PAGE_SHIFT - 10)
    lowmem_pages = sum(p for zt, p in zones if zt is not ZoneType.HIGHMEM)
    if lowmem_pages == 0:
        raise WatermarkError("no lowmem pages: 2.6.11 divides by lowmem_pages, expected at "
                             "least one present page outside HIGHMEM")
    out = []
    for zt, present in zones:
        if zt is ZoneType.HIGHMEM:
            wmark_min = min(max(present // 1024, SWAP_CLUSTER_MAX), 128)
        else:
            wmark_min = pages_min * present // lowmem_pages
        low = wmark_min * 5 // 4
        high = wmark_min * 6 // 4
        out.append(Watermarks(wmark_min, low, high, high))
    return tuple(out)


def _check_ratios(managed: Sequence[int], ratios: Sequence[int]) -> None:
    for i, m in enumerate(managed):
        _nonneg(f"managed[{i}]", m)
    if len(ratios) != len(managed):
        raise WatermarkError(f"expected one lowmem_reserve_ratio per zone ({len(managed)}), "
                             f"got {len(ratios)}")
    for i, r in enumerate(ratios):
        _nonneg(f"lowmem_reserve_ratio[{i}]", r)


def setup_per_zone_lowmem_reserve(managed: Sequence[int], ratios: Sequence[int],
                                  ) -> tuple[tuple[int, ...], ...]:
    """``setup_per_zone_lowmem_reserve`` (mm/page_alloc.c, 6.x): the protection arrays.

    For zone ``i`` and each higher index ``j``,
    ``lowmem_reserve[j] = (managed[i+1] + ... + managed[j]) / ratios[i]``, or 0 for
    every j when ``ratios[i]`` is 0 or zone i has no managed pages; entries
    ``j <= i`` are 0. An empty *upper* zone does not zero its entry (the running
    sum is simply repeated), as /proc/zoneinfo shows: ``(0, 3019, 3659, 3659, 3659)``.
    Each tuple has MAX_NR_ZONES = ``len(managed)`` entries.
    """
    _check_ratios(managed, ratios)
    n = len(managed)
    out = []
    for i in range(n):
        reserve = [0] * n
        ratio = ratios[i]
        clear = ratio == 0 or managed[i] == 0
        upper = 0
        for j in range(i + 1, n):
            upper += managed[j]
            reserve[j] = 0 if clear else upper // ratio
        out.append(tuple(reserve))
    return tuple(out)


def setup_per_zone_lowmem_reserve_2611(present: Sequence[int], ratios: Sequence[int],
                                       ) -> tuple[tuple[int, ...], ...]:
    """2.6.11 ``setup_per_zone_lowmem_reserve``: the same sums over **present** pages.

    ``ratios`` has MAX_NR_ZONES - 1 entries (the 2.6.11 array, ``{256, 32}``); there
    is no clearing for an empty lower zone, and a ratio of 0 is rejected (2.6.11
    would divide by zero).
    """
    n = len(present)
    if len(ratios) != max(n - 1, 0):
        raise WatermarkError(f"2.6.11 has MAX_NR_ZONES - 1 = {n - 1} ratios, got {len(ratios)}")
    for i, p in enumerate(present):
        _nonneg(f"present[{i}]", p)
    for i, r in enumerate(ratios):
        if type(r) is not int or r < 1:
            raise WatermarkError(f"2.6.11 lowmem_reserve_ratio[{i}] must be an int >= 1 "
                                 f"(it divides by it), got {r!r}")
    out = [[0] * n for _ in range(n)]
    for j in range(n):
        pages = present[j]
        for idx in range(j - 1, -1, -1):
            out[idx][j] = pages // ratios[idx]
            pages += present[idx]
    return tuple(tuple(row) for row in out)


def watermark_threshold(mark: int, alloc_flags: int) -> int:
    """The ``min`` that ``__zone_watermark_ok`` compares against, after the discounts.

    With any ALLOC_RESERVES flag: ALLOC_MIN_RESERVE (``__GFP_HIGH``) takes off half,
    and with ALLOC_NON_BLOCK as well a further quarter (GFP_ATOMIC: 3/8 of the mark
    is left); ALLOC_OOM takes off half. ALLOC_NON_BLOCK alone (GFP_NOWAIT) gets
    no discount. ALLOC_HIGHATOMIC changes nothing here.

    pre: mark >= 0
    post: 0 <= __return__ <= mark
    """
    _nonneg("mark", mark)
    wmin = mark
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            wmin -= wmin // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                wmin -= wmin // 4
        if alloc_flags & ALLOC_OOM:
            wmin -= wmin // 2
    return wmin


def _check_nr_free(nr_free: Sequence[int], n: int) -> None:
    if len(nr_free) != n:
        raise WatermarkError(f"nr_free must have one block count per order ({n}), "
                             f"got {len(nr_free)}")
    for o, c in enumerate(nr_free):
        if type(c) is not int or c < 0:  # (inline: called on every watermark check)
            _nonneg(f"nr_free[{o}]", c)


def _check_order(order: object, max_order: int) -> int:
    if type(order) is not int or not 0 <= order <= max_order:
        raise WatermarkError(f"order must be an int in 0..{max_order}, got {order!r}")
    return order


def zone_watermark_ok(*, free_pages: int, order: int, mark: int, lowmem_reserve: int,
                      alloc_flags: int, nr_free: Sequence[int], nr_free_highatomic: int = 0,
                      free_lists: Sequence[int] | None = None) -> bool:
    """``__zone_watermark_ok`` (mm/page_alloc.c, 6.x).

    ``free_pages`` is the zone's NR_FREE_PAGES, ``mark`` the chosen watermark
    (including any boost), ``lowmem_reserve`` is
    ``z->lowmem_reserve[highest_zoneidx]`` and ``nr_free`` the free block count
    per order (NR_PAGE_ORDERS entries). Steps:

    1. ``free_pages -= (1 << order) - 1`` (``__zone_watermark_unusable_free``);
    2. ``min`` = :func:`watermark_threshold` (mark, alloc_flags);
    3. false if ``free_pages <= min + lowmem_reserve``;
    4. true for order 0;
    5. true if some order ``o >= order`` has a free block.

    With migratetypes (``free_lists``: per order, a bit mask of the migratetypes whose
    free list is not empty; see :mod:`kmem.spec.migrate`): step 1 also subtracts
    ``nr_free_highatomic`` unless some ALLOC_RESERVES flag is set, and step 5 counts
    only the UNMOVABLE/MOVABLE/RECLAIMABLE lists, the CMA list with ALLOC_CMA and the
    HIGHATOMIC list with ALLOC_HIGHATOMIC or ALLOC_OOM. Without ``free_lists`` every
    free block counts (one migratetype in use). CMA pages are never counted apart
    (kmem has no CMA areas).
    """
    _check_order(order, MAX_PAGE_ORDER)
    _check_nr_free(nr_free, NR_PAGE_ORDERS)
    _nonneg("lowmem_reserve", lowmem_reserve)
    if type(free_pages) is not int:
        raise WatermarkError(f"free_pages must be an int, got {free_pages!r}")
    usable = free_pages - (2**order - 1)
    if not alloc_flags & ALLOC_RESERVES:
        usable -= nr_free_highatomic
    wmin = watermark_threshold(mark, alloc_flags)
    if usable <= wmin + lowmem_reserve:
        return False
    if order == 0:
        return True
    if free_lists is None:
        return any(nr_free[o] for o in range(order, NR_PAGE_ORDERS))
    allowed = 0b111  # MIGRATE_PCPTYPES
    if alloc_flags & ALLOC_CMA:
        allowed |= 1 << 4  # MIGRATE_CMA
    if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM):
        allowed |= 1 << 3  # MIGRATE_HIGHATOMIC
    return any(nr_free[o] and free_lists[o] & allowed for o in range(order, NR_PAGE_ORDERS))


def zone_watermark_ok_2611(*, free_pages: int, order: int, mark: int, lowmem_reserve: int,
                           can_try_harder: bool, gfp_high: bool, nr_free: Sequence[int]) -> bool:
    """2.6.11 ``zone_watermark_ok(z, order, mark, classzone_idx, can_try_harder, gfp_high)``.

    ``free_pages = z->free_pages - (1 << order) + 1``; ``gfp_high`` halves ``min``
    and ``can_try_harder`` takes a further quarter; false if
    ``free_pages <= min + lowmem_reserve``; then for each order below the request
    the blocks of that order stop counting and ``min`` halves, and false if
    ``free_pages <= min``. 2.6.11 has orders 0..10 (MAX_ORDER 11): ``nr_free``
    holds 11 counts.
    """
    _check_order(order, MAX_PAGE_ORDER)
    _check_nr_free(nr_free, NR_PAGE_ORDERS)
    _nonneg("mark", mark)
    _nonneg("lowmem_reserve", lowmem_reserve)
    if type(free_pages) is not int:
        raise WatermarkError(f"free_pages must be an int, got {free_pages!r}")
    wmin = mark
    free = free_pages - 2**order + 1
    if gfp_high:
        wmin -= wmin // 2
    if can_try_harder:
        wmin -= wmin // 4
    if free <= wmin + lowmem_reserve:
        return False
    for o in range(order):
        free -= nr_free[o] * 2**o
        wmin //= 2
        if free <= wmin:
            return False
    return True
