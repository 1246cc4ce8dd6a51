"""The page allocator of Linux 2.6.11 (mm/page_alloc.c of v2.6.11, March 2005).

The lecture slides' kernel. Every rule here was read in v2.6.11's own
``mm/page_alloc.c`` (line numbers below are of that file, sha256
``9cd1f1cb9ed6c30fa08e47c07c622c694b59ca8d5a2ce5a6fc6974861a4b4bb4``, the same
text in 2.6.11.3) and ``include/linux/mmzone.h``; what differs from 6.x:

* **No buddy bitmaps.** 2.4's ``free_area->map`` (one bit per buddy pair, toggled on
  every alloc and free) is gone: ``page_is_buddy()`` (lines 202-210) reads the order
  from the buddy page itself: PG_private set, ``page->private == order``, not
  PG_reserved, ``page_count == 0``. No migratetypes, no pageblocks, no
  ``buddy_merge_likely``: every free block goes to the **head** of its list
  (``list_add`` in ``__free_pages_bulk`` line 273 and ``expand`` line 378), and
  ``__rmqueue`` takes ``free_list.next`` (line 442).
* **Zone-relative buddies.** ``__free_pages_bulk`` works on ``page_idx = page -
  zone->zone_mem_map`` (line 246): the buddy of index i at order o is ``i ^ (1 << o)``
  *counted from the zone's first page*, so a zone whose start is not aligned to
  MAX_ORDER-1 still merges consistently (``free_area_init_core`` prints "BUG: wrong zone
  alignment, it will crash" for such a zone, lines 1671-1672, but the buddy code itself works
  relative to it). A buddy outside the zone (``bad_range``) stops the merging.
* **Hot and cold per-CPU lists.** ``struct per_cpu_pageset`` holds ``pcp[0]`` (hot)
  and ``pcp[1]`` (cold), each ``struct per_cpu_pages {count, low, high, batch, list}``.
  Only order 0 uses them. ``buffered_rmqueue`` (lines 617-658) refills ``batch`` pages
  with ``rmqueue_bulk`` (each to the list **tail**) when ``count <= low``, then takes the
  list head; ``free_hot_cold_page`` (lines 569-590) first frees ``batch`` pages from the
  list **tail** (``free_pages_bulk`` takes ``list->prev``) when ``count >= high``, then
  adds the page at the head. ``__GFP_COLD`` picks the cold list; ``__free_pages`` frees
  order 0 to the hot list and higher orders straight to the buddy (``__free_pages_ok``).
* **Sizes.** There is no ``zone_batchsize()`` yet (2.6.12.1 still has none): the batch is
  computed inline in ``free_area_init_core`` (lines 1617-1640): ``present / 1024``,
  at most 256 KB of pages, divided by 4, at least 1; hot ``low = 2 * batch``,
  ``high = 6 * batch``; cold ``low = 0``, ``high = 2 * batch``; both ``batch``.
* Watermarks, lowmem_reserve and ``zone_watermark_ok`` are in
  :mod:`kmem.spec.watermarks` (``*_2611``); the passes of ``__alloc_pages`` (lines
  694-856) are :func:`alloc_passes`; the failure line is
  :func:`kmem.spec.page_alloc.warn_alloc_lines` with ``kernel="2.6.11"``.
* Texts: ``/proc/buddyinfo`` (``frag_show``, lines 1750-1770) is the only per-order
  file; there is no ``/proc/zoneinfo`` before 2.6.13 (none in 2.6.11's or 2.6.12.1's
  tree) and no ``/proc/pagetypeinfo`` before 2.6.24.

Indices here are **zone-relative** (``page_idx``), as the kernel's are; callers add
the zone's start pfn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import InvalidArgument

MAX_ORDER = 11  # include/linux/mmzone.h (2.6.11): orders 0..10, exclusive bound
PAGE_SIZE = 4096
BITS_PER_LONG_I386 = 32  # free_all_bootmem_core frees whole bitmap words of this many pages

# include/linux/gfp.h (2.6.11)
GFP_DMA = 0x01
GFP_HIGHMEM = 0x02
GFP_WAIT = 0x10
GFP_HIGH = 0x20
GFP_IO = 0x40
GFP_FS = 0x80
GFP_COLD = 0x100
GFP_NOWARN = 0x200
GFP_REPEAT = 0x400
GFP_NOFAIL = 0x800
GFP_NORETRY = 0x1000
GFP_NO_GROW = 0x2000
GFP_COMP = 0x4000
GFP_ZERO = 0x8000
GFP_BITS_MASK = (1 << 16) - 1  # __GFP_BITS_SHIFT 16
GFP_ATOMIC = GFP_HIGH
GFP_KERNEL = GFP_WAIT | GFP_IO | GFP_FS
GFP_USER = GFP_KERNEL
GFP_HIGHUSER = GFP_KERNEL | GFP_HIGHMEM

ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM = 0, 1, 2
ZONE_NAMES = ("DMA", "Normal", "HighMem")  # zone_names[] (line 67)
#: sysctl_lowmem_reserve_ratio[MAX_NR_ZONES-1] = { 256, 32 } (line 55)
LOWMEM_RESERVE_RATIO = (256, 32)

Block = tuple[int, int]  # (zone-relative index, order)


def is_2611(version: object) -> bool:
    """The kernel (a ``uname -r`` string or a :class:`kmem.spec.kernel.Kernel`) is a 2.6.11
    release (2.6.11, 2.6.11.N): its page allocator is this module's. 2.6.11.3's
    mm/page_alloc.c is byte for byte 2.6.11's."""
    from .kernel import kernel

    return kernel(version).version.series() == (2, 6, 11)  # type: ignore[arg-type]


def _check_order(order: object) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order < MAX_ORDER:
        raise InvalidArgument(f"order must be an int in 0..{MAX_ORDER - 1} (2.6.11's MAX_ORDER "
                              f"is {MAX_ORDER}), got {order!r}")
    return order


# --------------------------------------------------------------------------------------
# The buddy core
# --------------------------------------------------------------------------------------

def page_is_buddy(*, private: bool, page_order: int, reserved: bool, count: int,
                  order: int) -> bool:
    """``page_is_buddy(page, order)`` (2.6.11 mm/page_alloc.c:202-210): the page heads a
    free block of exactly ``order`` in the buddy allocator: ``PagePrivate(page)``,
    ``page_order(page) == order`` (``page->private``), ``!PageReserved(page)`` and
    ``page_count(page) == 0``. No bitmap is consulted (2.4's ``free_area->map`` is gone)."""
    return private and page_order == order and not reserved and count == 0


@dataclass(frozen=True)
class FreeDelta2611:
    """What ``__free_pages_bulk`` does to the lists: the free buddies it takes off (in
    that order) and the coalesced block it adds at the list **head**."""

    merged: tuple[Block, ...]
    result: Block


def free_pages_bulk_delta(is_buddy: Callable[[int, int], bool], page_idx: int, order: int,
                          zone_pages: int) -> FreeDelta2611:
    """``__free_pages_bulk(page, base, zone, order)`` (2.6.11 lines 236-275), zone-relative.

    ``BUG_ON(page_idx & (order_size - 1))``: the index must be aligned; then while
    ``order < MAX_ORDER - 1``: ``buddy_idx = page_idx ^ (1 << order)``; stop if the buddy
    lies outside the zone (``bad_range``: index >= ``zone_pages``) or is not
    ``page_is_buddy(buddy, order)``; else take the buddy off its list
    (``list_del``, ``nr_free--``, ``rmv_page_order``), ``page_idx &= buddy_idx``,
    ``order++``. Finally ``set_page_order`` and ``list_add`` (the head) of
    ``free_area[order]``. ``is_buddy(idx, order)`` answers ``page_is_buddy``.
    """
    _check_order(order)
    if page_idx < 0 or page_idx & ((1 << order) - 1):
        raise InvalidArgument(f"page_idx {page_idx} is not aligned to order {order} "
                              f"(BUG_ON(page_idx & (order_size - 1)))")
    if page_idx + (1 << order) > zone_pages:
        raise InvalidArgument(f"block [{page_idx}, {page_idx + (1 << order)}) is outside the "
                              f"zone's {zone_pages} pages (BUG_ON(bad_range(zone, page)))")
    merged: list[Block] = []
    while order < MAX_ORDER - 1:
        buddy_idx = page_idx ^ (1 << order)
        if buddy_idx >= zone_pages:  # bad_range(zone, buddy)
            break
        if not is_buddy(buddy_idx, order):
            break
        merged.append((buddy_idx, order))
        page_idx &= buddy_idx
        order += 1
    return FreeDelta2611(tuple(merged), (page_idx, order))


def expand(idx: int, low: int, high: int) -> tuple[Block, ...]:
    """``expand(zone, page, low, high, area)`` (2.6.11 lines 368-383): the halves split off
    a block of order ``high`` at ``idx`` down to ``low``, in the order they are added,
    each with ``list_add`` (the **head**) of ``free_area[high - 1]``, ...: the upper half
    ``page[size]`` each time."""
    _check_order(low)
    _check_order(high)
    if low > high:
        raise InvalidArgument(f"expand: low {low} > high {high}")
    out = []
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        out.append((idx + size, high))
    return tuple(out)


# --------------------------------------------------------------------------------------
# Per-CPU pagesets
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PcpParams:
    """One ``struct per_cpu_pages``' fixed fields: ``low``, ``high``, ``batch``."""

    low: int
    high: int
    batch: int


def zone_batch(present_pages: int, page_size: int = PAGE_SIZE) -> int:
    """The pageset batch of ``free_area_init_core`` (2.6.11 lines 1617-1621; there is no
    ``zone_batchsize()`` in 2.6.11 or 2.6.12): ``present_pages / 1024``, capped at 256 KB of
    pages, then ``/= 4`` ("we effectively *= 4 below"), at least 1."""
    if isinstance(present_pages, bool) or not isinstance(present_pages, int) or present_pages < 0:
        raise InvalidArgument(f"present_pages must be an int >= 0, got {present_pages!r}")
    batch = present_pages // 1024
    if batch * page_size > 256 * 1024:
        batch = (256 * 1024) // page_size
    batch //= 4
    return max(batch, 1)


def pageset_params(batch: int) -> tuple[PcpParams, PcpParams]:
    """(hot, cold) as ``free_area_init_core`` sets every CPU's pageset (lines 1623-1638):
    hot ``low 2*batch, high 6*batch``; cold ``low 0, high 2*batch``; both ``batch``."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidArgument(f"batch must be an int >= 1, got {batch!r}")
    return PcpParams(2 * batch, 6 * batch, batch), PcpParams(0, 2 * batch, batch)


def pcp_refill(count: int, low: int) -> bool:
    """``buffered_rmqueue`` (line 628): ``if (pcp->count <= pcp->low)`` refill ``batch``
    pages with ``rmqueue_bulk`` (to the list tail) before taking the head."""
    return count <= low


def pcp_drain_on_free(count: int, high: int) -> bool:
    """``free_hot_cold_page`` (line 584): ``if (pcp->count >= pcp->high)`` free ``batch``
    pages from the list's tail (``free_pages_bulk``) before adding the page at the head."""
    return count >= high


# --------------------------------------------------------------------------------------
# __alloc_pages
# --------------------------------------------------------------------------------------

def zonelist(gfp: int, present: Sequence[int]) -> tuple[int, ...]:
    """``build_zonelists`` (non-NUMA, 2.6.11 lines 1411-1451) for ``gfp & GFP_ZONEMASK``:
    ``__GFP_DMA`` starts at ZONE_DMA, ``__GFP_HIGHMEM`` at
    ZONE_HIGHMEM, else ZONE_NORMAL; then downwards, each zone only if it has present
    pages (``build_zonelists_node``). ``present`` holds the present pages of DMA,
    Normal and HighMem. The first zone is the classzone (``classzone_idx``)."""
    if gfp & (GFP_DMA | GFP_HIGHMEM) == GFP_DMA | GFP_HIGHMEM:
        raise InvalidArgument(f"gfp {gfp:#x}: __GFP_DMA|__GFP_HIGHMEM has no zonelist in 2.6.11 "
                              f"(GFP_ZONETYPES is 3: __GFP_HIGHMEM is a \"loner\" bit, "
                              f"include/linux/mmzone.h; alloc_pages would index past "
                              f"node_zonelists)")
    k = ZONE_NORMAL
    if gfp & GFP_HIGHMEM:
        k = ZONE_HIGHMEM
    if gfp & GFP_DMA:
        k = ZONE_DMA
    return tuple(z for z in range(k, -1, -1) if z < len(present) and present[z])


@dataclass(frozen=True)
class Pass2611:
    """One walk of the zonelist in ``__alloc_pages``: the watermark (``"low"``, ``"min"``,
    ``"high"`` or None for no check) and ``zone_watermark_ok``'s two discounts."""

    name: str
    mark: str | None
    can_try_harder: bool = False
    gfp_high: bool = False


@dataclass(frozen=True)
class Plan2611:
    """``__alloc_pages`` without reclaim: the passes, then what happens when all fail:
    ``"nopage"`` (the failure line unless __GFP_NOWARN) or ``"loops"`` (the kernel would
    retry for ever: OOM kill and restart, or ``goto rebalance``)."""

    passes: tuple[Pass2611, ...]
    on_failure: str


def alloc_plan(gfp: int, *, memalloc: bool = False, rt_task: bool = False,
               in_interrupt: bool = False) -> Plan2611:
    """The passes of 2.6.11 ``__alloc_pages`` (lines 694-856) as kmem runs them, with no
    reclaim (``try_to_free_pages`` frees nothing) and an OOM killer that frees nothing.

    ``can_try_harder = (rt_task && !in_interrupt) || !wait``.
    1. every zone with ``zone_watermark_ok(z, order, pages_low, classzone, 0, 0)``;
    2. (``wakeup_kswapd``) every zone at ``pages_min`` with ``can_try_harder`` and
       ``gfp & __GFP_HIGH``;
    3. PF_MEMALLOC or TIF_MEMDIE outside interrupts (``memalloc``): every zone, no
       watermark, then ``nopage``;
    4. ``!wait``: ``nopage``;
    5. reclaim makes no progress: with ``__GFP_FS`` and not ``__GFP_NORETRY``, one pass at
       ``pages_high``, then ``out_of_memory`` and ``goto restart``: kmem's OOM killer frees
       nothing, so the kernel would loop; otherwise ``do_retry`` (not __GFP_NORETRY, and
       order <= 3 or __GFP_REPEAT or __GFP_NOFAIL; see :func:`retries`) loops too, and
       the rest reach ``nopage``.
    Returned for order 0; :func:`retries` refines step 5 by order.
    """
    wait = bool(gfp & GFP_WAIT)
    can_try_harder = (rt_task and not in_interrupt) or not wait
    passes = [Pass2611("low", "low"),
              Pass2611("min", "min", can_try_harder, bool(gfp & GFP_HIGH))]
    if memalloc and not in_interrupt:
        passes.append(Pass2611("no-watermarks", None))
        return Plan2611(tuple(passes), "nopage")
    if not wait:
        return Plan2611(tuple(passes), "nopage")
    if gfp & GFP_FS and not gfp & GFP_NORETRY:
        passes.append(Pass2611("high", "high"))
        return Plan2611(tuple(passes), "loops")
    return Plan2611(tuple(passes), "retry")


def retries(gfp: int, order: int) -> bool:
    """``do_retry`` (2.6.11 lines 833-841): not __GFP_NORETRY and (order <= 3 or
    __GFP_REPEAT), or __GFP_NOFAIL (also under __GFP_NORETRY's test: the kernel checks
    NOFAIL inside ``if (!(gfp_mask & __GFP_NORETRY))``)."""
    _check_order(order)
    if gfp & GFP_NORETRY:
        return False
    return order <= 3 or bool(gfp & GFP_REPEAT) or bool(gfp & GFP_NOFAIL)


# --------------------------------------------------------------------------------------
# Boot: free_all_bootmem_core and one_highpage_init
# --------------------------------------------------------------------------------------

def bootmem_frees(start: int, end: int, free_ranges: Sequence[tuple[int, int]],
                  bits: int = BITS_PER_LONG_I386) -> list[Block]:
    """The frees of ``free_all_bootmem_core`` (2.6.11 mm/bootmem.c:256-307) for lowmem
    pfns [start, end), node_boot_start 0 (``gofast``): word by word of ``bits`` pages,
    a wholly free word is one ``__free_pages(page, ffs(BITS_PER_LONG) - 1)`` (order 5 on
    i386), otherwise each free page one ``__free_page`` (order 0, through the hot
    per-CPU list). ``free_ranges`` are the free (managed) pfn ranges, ascending and
    disjoint. Returns absolute (pfn, order) in the kernel's order."""
    out: list[Block] = []
    order = bits.bit_length() - 1
    for s, e in free_ranges:
        s, e = max(s, start), min(e, end)
        pfn = s
        while pfn < e:
            word = pfn - pfn % bits
            word_end = word + bits
            if pfn == word and word_end <= e and word_end <= end:
                out.append((pfn, order))
                pfn = word_end
            else:  # a partly free (or the last, partial) word: page by page
                stop = min(word_end, e)
                out.extend((p, 0) for p in range(pfn, stop))
                pfn = stop
    return out


def hot_frees_drained(n: int, high: int, batch: int) -> int:
    """How many of ``n`` order-0 frees through an empty per-CPU list (``free_hot_cold_page``:
    when ``count >= high`` first ``free_pages_bulk`` ``batch`` pages from the tail, then add
    at the head) have reached the buddy allocator afterwards. The tail is always the oldest
    page, so exactly the first ``hot_frees_drained(...)`` pages freed went to the buddy, in
    the order they were freed, and the other ``n - drained`` are on the list, newest first.
    Closed form: no drain up to ``high`` frees; then one drain of ``batch`` at free
    ``high + 1``, and another every ``batch`` frees (``high >= batch``, as 2.6.11 sets them)."""
    if min(n, high, batch) < 0 or batch < 1 or high < batch:
        raise InvalidArgument(f"need n >= 0 and high >= batch >= 1, got n={n} high={high} "
                              f"batch={batch}")
    if n <= high:
        return 0
    return -(-(n - high) // batch) * batch


def canonical_blocks(start: int, end: int, base: int) -> list[Block]:
    """The free blocks that single-page frees of every pfn in [start, end), in ascending
    order, leave in a zone whose first page is ``base`` and that had no free page there:
    at each position the largest order <= MAX_ORDER-1 aligned relative to ``base`` that
    fits (the maximally coalesced decomposition, which is unique). Absolute (pfn, order),
    ascending; each was created after the ones before it, so each list holds them in
    descending pfn order (every block went to the head)."""
    out: list[Block] = []
    pfn = start
    while pfn < end:
        order = MAX_ORDER - 1
        while order and ((pfn - base) & ((1 << order) - 1) or pfn + (1 << order) > end):
            order -= 1
        out.append((pfn, order))
        pfn += 1 << order
    return out


# --------------------------------------------------------------------------------------
# printk_ratelimit (kernel/printk.c, 2.6.11)
# --------------------------------------------------------------------------------------

HZ = 1000
PRINTK_RATELIMIT_JIFFIES = 5 * HZ  # printk_ratelimit_jiffies
PRINTK_RATELIMIT_BURST = 10  # printk_ratelimit_burst


@dataclass(frozen=True)
class Ratelimit2611:
    """``__printk_ratelimit``'s statics: ``toks`` (starts at 10*5*HZ), ``last_msg``,
    ``missed``."""

    toks: int = 10 * 5 * HZ
    last_msg: int = 0
    missed: int = 0


def printk_ratelimit(state: Ratelimit2611, now_jiffies: int) -> tuple[bool, Ratelimit2611,
                                                                         str | None]:
    """``__printk_ratelimit(5*HZ, 10)`` (2.6.11 kernel/printk.c:886-912): a token bucket of
    ``burst * jiffies`` tokens, one message costs ``ratelimit_jiffies``. Returns (print?,
    the new state, the "printk: %d messages suppressed." line to print first, or None)."""
    toks = state.toks + now_jiffies - state.last_msg
    cap = PRINTK_RATELIMIT_BURST * PRINTK_RATELIMIT_JIFFIES
    toks = min(toks, cap)
    if toks >= PRINTK_RATELIMIT_JIFFIES:
        note = (f"printk: {state.missed} messages suppressed." if state.missed else None)
        return True, Ratelimit2611(toks - PRINTK_RATELIMIT_JIFFIES, now_jiffies, 0), note
    return False, Ratelimit2611(toks, now_jiffies, state.missed + 1), None


NO_ZONEINFO = ("/proc/zoneinfo does not exist in Linux 2.6.11: it was added in 2.6.13 "
               "(zoneinfo_show; none in 2.6.11 or 2.6.12); 2.6.11 prints per-order counts only in "
               "/proc/buddyinfo")
NO_PAGETYPEINFO = ("/proc/pagetypeinfo does not exist in Linux 2.6.11: migratetypes and the "
                   "file came in 2.6.24")
NO_BITMAPS = ("2.6.11 has no buddy bitmaps: 2.4's free_area->map (one bit per buddy pair, "
              "toggled on every allocation and free) is gone; page_is_buddy() reads the order "
              "from the buddy's own struct page (PG_private and page->private)")

__all__ = [
    "BITS_PER_LONG_I386", "Block", "FreeDelta2611", "GFP_ATOMIC", "GFP_COLD", "GFP_COMP",
    "GFP_DMA", "GFP_FS", "GFP_HIGH", "GFP_HIGHMEM", "GFP_HIGHUSER", "GFP_IO", "GFP_KERNEL",
    "GFP_NOFAIL", "GFP_NORETRY", "GFP_NOWARN", "GFP_REPEAT", "GFP_USER", "GFP_WAIT",
    "GFP_ZERO", "HZ", "LOWMEM_RESERVE_RATIO", "MAX_ORDER", "NO_BITMAPS", "NO_PAGETYPEINFO",
    "NO_ZONEINFO", "Pass2611", "PcpParams", "Plan2611", "Ratelimit2611", "ZONE_DMA",
    "ZONE_HIGHMEM", "ZONE_NAMES", "ZONE_NORMAL", "alloc_plan", "bootmem_frees", "is_2611", "expand",
    "canonical_blocks", "free_pages_bulk_delta", "hot_frees_drained", "page_is_buddy", "pageset_params", "pcp_drain_on_free",
    "pcp_refill", "printk_ratelimit", "retries", "zone_batch", "zonelist",
]
