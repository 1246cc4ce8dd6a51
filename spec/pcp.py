"""Per-CPU page lists: which orders use them, their sizes and the batch arithmetic.

Follows mm/page_alloc.c of Linux 6.12 (Debian linux-source-6.12, 6.12.117):
``pcp_allowed_order``, ``order_to_pindex``, ``pindex_to_order``, ``zone_batchsize``,
``zone_highsize``, ``zone_set_pageset_high_and_batch``, ``nr_pcp_alloc``,
``nr_pcp_free``, ``nr_pcp_high``, ``free_unref_page_commit``'s ``free_high``, and
mm/vmstat.c ``calculate_normal_threshold``; ``decay_pcp_high`` as 6.12.118 has it; and, with
a ``_61`` suffix, 6.1.192's fixed-high arithmetic (``nr_pcp_free``, ``nr_pcp_high``,
``free_high``, the refill batch). The functions are pure: each returns the values the
kernel computes and the pcp fields it writes back.

Each CPU has, per zone, ``NR_PCP_LISTS`` lists: one per (migratetype < MIGRATE_PCPTYPES,
order <= PAGE_ALLOC_COSTLY_ORDER) and, with THP, two for ``HPAGE_PMD_ORDER`` (movable
and not). A free of such an order lands at the head of its list; when ``count`` reaches
``high`` the oldest pages (list tails) go back to the buddy allocator. An allocation
takes the list head, refilling an empty list with ``nr_pcp_alloc`` blocks from
``rmqueue_bulk``.
"""

from __future__ import annotations

from .constants import PAGE_ALLOC_COSTLY_ORDER, PAGE_SHIFT
from .errors import InvalidArgument
from .migrate import MIGRATE_MOVABLE, MIGRATE_PCPTYPES

HPAGE_PMD_ORDER = 9  # x86-64, 2 MiB THP
NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)  # 12
NR_PCP_THP = 2  # CONFIG_TRANSPARENT_HUGEPAGE (Debian: y)
NR_PCP_LISTS = NR_LOWORDER_PCP_LISTS + NR_PCP_THP  # 14
PCP_BATCH_SCALE_MAX = 5  # CONFIG_PCP_BATCH_SCALE_MAX default
MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8
BOOT_PAGESET_HIGH = 0
BOOT_PAGESET_BATCH = 1
PCPF_PREV_FREE_HIGH_ORDER = 1 << 0
PCPF_FREE_HIGH_BATCH = 1 << 1
SZ_1M_PAGES = (1 << 20) >> PAGE_SHIFT  # 256


def pcp_allowed_order(order: int) -> bool:
    """``pcp_allowed_order``: orders 0..PAGE_ALLOC_COSTLY_ORDER, and HPAGE_PMD_ORDER."""
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == HPAGE_PMD_ORDER


def order_to_pindex(migratetype: int, order: int) -> int:
    """``order_to_pindex``: ``MIGRATE_PCPTYPES * order + mt`` below the costly order; the
    THP order has a movable and a non-movable list after those."""
    if not 0 <= migratetype < MIGRATE_PCPTYPES:
        raise InvalidArgument(f"pcp lists hold migratetypes 0..{MIGRATE_PCPTYPES - 1}, "
                              f"got {migratetype}")
    if order > PAGE_ALLOC_COSTLY_ORDER:
        if order != HPAGE_PMD_ORDER:
            raise InvalidArgument(f"order {order} does not go through the pcp lists "
                                  f"(VM_BUG_ON(order != HPAGE_PMD_ORDER))")
        return NR_LOWORDER_PCP_LISTS + (migratetype == MIGRATE_MOVABLE)
    return MIGRATE_PCPTYPES * order + migratetype


def pindex_to_order(pindex: int) -> int:
    """``pindex_to_order``: the inverse of :func:`order_to_pindex` for the order."""
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return HPAGE_PMD_ORDER
    return pindex // MIGRATE_PCPTYPES


def rounddown_pow_of_two(n: int) -> int:
    """``rounddown_pow_of_two`` (n >= 1)."""
    return 1 << (n.bit_length() - 1)


def zone_batchsize(managed_pages: int) -> int:
    """``zone_batchsize`` (CONFIG_MMU): about 0.1 % of the zone or 1 MiB, whichever is
    smaller, divided by 4, at least 1, then clamped to ``2**n - 1``.

    pre: managed_pages >= 0
    post: 0 <= __return__ <= 63
    """
    batch = min(managed_pages >> 10, SZ_1M_PAGES)
    batch //= 4
    if batch < 1:
        batch = 1
    return rounddown_pow_of_two(batch + batch // 2) - 1


def zone_highsize(*, low_wmark: int, managed_pages: int, batch: int, nr_split_cpus: int,
                  high_fraction: int = 0) -> int:
    """``zone_highsize``: the LOW watermark (or ``managed / high_fraction``) split over the
    CPUs, at least ``batch * 4``.

    ``nr_split_cpus`` is the CPUs local to the zone's node plus ``cpu_online``
    (``zone_pcp_init``/``setup_per_cpu_pageset`` pass 0); at least 1.
    """
    if nr_split_cpus < 1:
        raise InvalidArgument(f"nr_split_cpus must be >= 1, got {nr_split_cpus}")
    total = low_wmark if not high_fraction else managed_pages // high_fraction
    return max(total // nr_split_cpus, batch << 2)


def pageset_high_and_batch(*, low_wmark: int, managed_pages: int, nr_split_cpus: int,
                           high_fraction: int = 0) -> tuple[int, int, int]:
    """``zone_set_pageset_high_and_batch``: (high_min, high_max, batch). Without
    ``vm.percpu_pagelist_high_fraction`` high_min comes from the LOW watermark and
    high_max from 1/8 of the zone (auto-tuning between them); with it both are equal.

    pre: managed_pages >= 0 and low_wmark >= 0 and nr_split_cpus >= 1
    post: 1 <= __return__[2] <= __return__[0] // 4
    post: 1 <= __return__[2] <= __return__[1] // 4
    """
    batch = max(1, zone_batchsize(managed_pages))
    if high_fraction:
        high = zone_highsize(low_wmark=low_wmark, managed_pages=managed_pages, batch=batch,
                             nr_split_cpus=nr_split_cpus, high_fraction=high_fraction)
        return high, high, batch
    high_min = zone_highsize(low_wmark=low_wmark, managed_pages=managed_pages, batch=batch,
                             nr_split_cpus=nr_split_cpus)
    high_max = zone_highsize(low_wmark=low_wmark, managed_pages=managed_pages, batch=batch,
                             nr_split_cpus=nr_split_cpus,
                             high_fraction=MIN_PERCPU_PAGELIST_HIGH_FRACTION)
    return high_min, high_max, batch


def clamp(v: int, lo: int, hi: int) -> int:
    """The kernel's ``clamp(v, lo, hi)`` = ``min(max(v, lo), hi)``."""
    return min(max(v, lo), hi)


def nr_pcp_alloc(*, high: int, high_min: int, high_max: int, count: int, batch: int,
                 alloc_factor: int, order: int, below_high: bool) -> tuple[int, int, int]:
    """``nr_pcp_alloc``: how many blocks ``rmqueue_bulk`` fetches to refill an empty list.

    Returns (blocks, new pcp->high, new pcp->alloc_factor). ``below_high`` is the zone's
    ZONE_BELOW_HIGH bit.
    """
    high = clamp(high, high_min, high_max)
    if high < batch:
        return 1, high, alloc_factor
    n = batch if order else batch << alloc_factor
    if high_min != high_max and not below_high:
        high = min(high + n, high_max)
    if not order:
        max_nr_alloc = max(high - count - batch, batch)
        if n <= max_nr_alloc and alloc_factor < PCP_BATCH_SCALE_MAX:
            alloc_factor += 1
        n = min(n, max_nr_alloc)
    if n > 1:
        n = max(n >> order, 2)
    return n, high, alloc_factor


def nr_pcp_free(*, count: int, batch: int, high: int, free_high: bool, free_count: int) -> int:
    """``nr_pcp_free``: how many pages ``free_pcppages_bulk`` returns to the buddy.

    post: __return__ >= 1 or count == 0
    """
    if free_high:
        return min(count, batch << PCP_BATCH_SCALE_MAX)
    if high < batch:
        return 1
    return clamp(free_count, batch, high - batch)


def nr_pcp_high(*, high: int, high_min: int, high_max: int, count: int, free_count: int,
                batch: int, free_high: bool, below_high: bool,
                reclaim_active: bool = False) -> tuple[int, int]:
    """``nr_pcp_high``: the high mark a free compares ``count`` against.

    Returns (mark, new pcp->high). The mark is the clamped ``high`` from *before* a raise
    (6.12.118 lines 2633-2673: ``high = pcp->high = clamp(...)`` ... ``pcp->high =
    clamp(need_high, ...)`` ... ``return high;``): a free that reaches the old mark drains
    by it although ``pcp->high`` grew. ``reclaim_active`` is ZONE_RECLAIM_ACTIVE (kmem has
    no reclaim: always False in the model).
    """
    high = clamp(high, high_min, high_max)
    if not high:
        return 0, high
    if free_high:
        return 0, max(high - (batch << PCP_BATCH_SCALE_MAX), high_min)
    if reclaim_active:
        new = max(high - max(free_count, batch), high_min)
        return min(batch << 2, new), new
    if high_min == high_max:
        return high, high
    if below_high:
        new = max(high - max(free_count, batch), high_min)
        return max(count, high_min), new
    new = high
    if count >= high:
        need_high = free_count + batch
        if high < need_high:
            new = clamp(need_high, high_min, high_max)
    # 6.12.118 mm/page_alloc.c:2673 "return high;": the local, pre-raise value is the mark
    return high, new


def decay_pcp_high(*, high: int, high_min: int, count: int,
                   batch: int) -> tuple[int, tuple[int, ...], bool]:
    """``decay_pcp_high`` (mm/page_alloc.c of 6.12, lines 2412-2443; the vmstat worker's
    periodic call, 6.7+): lower ``pcp->high`` by an eighth towards ``high_min`` (no lower
    than ``count - (batch << CONFIG_PCP_BATCH_SCALE_MAX)``), then drain what is above it.

    Returns (new pcp->high, the ``free_pcppages_bulk(zone, chunk, pcp, 0)`` chunk sizes in
    order, todo). Each chunk is ``min(to_drain, batch)`` and starts its round robin at
    pindex 0; ``todo`` (6.12 returns bool) says the worker has more to do.

    pre: batch >= 1
    post: __return__[0] >= high_min or __return__[0] == high
    post: sum(__return__[1]) == max(0, count - __return__[0])
    """
    todo = False
    if high > high_min:
        high = max(count - (batch << PCP_BATCH_SCALE_MAX), high - (high >> 3), high_min)
        if high > high_min:
            todo = True
    to_drain = count - high
    chunks = []
    while to_drain > 0:
        chunk = min(to_drain, batch)
        chunks.append(chunk)
        todo = True
        to_drain -= chunk
    return high, tuple(chunks), todo


def free_high_decision(*, order: int, free_count: int, count: int, batch: int,
                       flags: int) -> tuple[bool, int]:
    """``free_unref_page_commit``: is this a run of high-order frees to flush (free_high)?
    Returns (free_high, new pcp->flags). ``count`` already includes the freed page."""
    free_high = False
    if order and order <= PAGE_ALLOC_COSTLY_ORDER:
        free_high = (free_count >= batch and bool(flags & PCPF_PREV_FREE_HIGH_ORDER)
                     and (not flags & PCPF_FREE_HIGH_BATCH or count >= batch))
        flags |= PCPF_PREV_FREE_HIGH_ORDER
    elif flags & PCPF_PREV_FREE_HIGH_ORDER:
        flags &= ~PCPF_PREV_FREE_HIGH_ORDER
    return free_high, flags


def free_count_after_free(free_count: int, batch: int, order: int) -> int:
    """``free_unref_page_commit``: ``free_count += 1 << order`` while below
    ``batch << PCP_BATCH_SCALE_MAX``."""
    if free_count < batch << PCP_BATCH_SCALE_MAX:
        return free_count + (1 << order)
    return free_count


def stat_threshold(managed_pages: int, online_cpus: int) -> int:
    """``calculate_normal_threshold`` (mm/vmstat.c): ``2 * fls(cpus) * (1 + fls(mem))``
    with ``mem`` the zone in 128 MiB units, at most 125 (zoneinfo's
    ``vm stats threshold``)."""
    mem = managed_pages >> (27 - PAGE_SHIFT)
    return min(125, 2 * online_cpus.bit_length() * (1 + mem.bit_length()))


def pcp_count_bound(high_max: int, batch: int) -> int:
    """An upper bound of ``pcp->count`` between operations: a free drains once ``count``
    reaches the high mark (at most ``high_max``) and adds at most one THP-order block
    before; a refill of an empty list adds at most ``max(high - count - batch, batch)``
    order-0 pages, or ``max(batch >> order, 2)`` blocks of a higher order, with every
    other list at most full. The sum over the NR_PCP_LISTS lists of one refill's worth
    plus ``high_max`` covers every reachable count."""
    per_refill = max(batch << PCP_BATCH_SCALE_MAX, 2 << HPAGE_PMD_ORDER, batch << HPAGE_PMD_ORDER)
    return high_max + NR_PCP_LISTS * per_refill


# -- Linux 6.1 (Debian 6.1.192): one fixed pcp->high and free_factor ---------------------------
# mm/page_alloc.c of 6.1.192: nr_pcp_free (3422-3441), nr_pcp_high (3451-3467),
# free_unref_page_commit (3469-3499), __rmqueue_pcplist (3792-3831), rmqueue_pcplist
# (3833-3862). No high_min/high_max, alloc_factor, free_count, flags or decay (6.7+).

def nr_pcp_free_61(*, count: int, high: int, batch: int, free_high: bool,
                   free_factor: int) -> tuple[int, int]:
    """6.1's ``nr_pcp_free``: (pages to free, new pcp->free_factor). A run of high-order
    frees (``free_high``) frees the whole list; else ``batch << free_factor`` clamped to
    [batch, high - batch], with free_factor growing while below ``high - batch``."""
    if free_high:
        return count, free_factor
    if high < batch:
        return 1, free_factor
    min_nr_free, max_nr_free = batch, high - batch
    batch <<= free_factor
    if batch < max_nr_free and free_factor < PCP_BATCH_SCALE_MAX:
        free_factor += 1
    return clamp(batch, min_nr_free, max_nr_free), free_factor


def nr_pcp_high_61(*, high: int, batch: int, free_high: bool,
                   reclaim_active: bool = False) -> int:
    """6.1's ``nr_pcp_high``: the fixed ``pcp->high`` (0 for a free_high run or a zero
    high; ``min(batch << 2, high)`` while reclaim is active)."""
    if not high or free_high:
        return 0
    if not reclaim_active:
        return high
    return min(batch << 2, high)


def free_high_61(*, free_factor: int, order: int) -> bool:
    """6.1's ``free_unref_page_commit``: ``free_high = (pcp->free_factor && order &&
    order <= PAGE_ALLOC_COSTLY_ORDER)``."""
    return bool(free_factor) and 0 < order <= PAGE_ALLOC_COSTLY_ORDER


def pcp_alloc_batch_61(batch: int, order: int) -> int:
    """6.1's ``__rmqueue_pcplist``: an empty list is refilled with ``max(batch >> order,
    2)`` blocks (``batch`` itself when it is 1: boot pagesets, tiny zones)."""
    if batch > 1:
        return max(batch >> order, 2)
    return batch
