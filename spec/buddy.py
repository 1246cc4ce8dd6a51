"""The buddy allocator: arithmetic, abstract state, invariants and transitions.

Follows mm/page_alloc.c (``__free_one_page``, ``__rmqueue_smallest``, ``expand``,
``buddy_merge_likely``), mm/internal.h (``__find_buddy_pfn``, ``page_is_buddy``)
and mm/memblock.c (``__free_pages_memory``), Linux 6.x.

The abstract state of one zone (:class:`ZoneState`) is the set of free blocks and
the set of allocated blocks, each a ``(pfn, order)`` pair, plus the pages that are
not the allocator's (holes: not present; reserved: present but never managed)
and the counters the kernel keeps (``free_area[o].nr_free``, NR_FREE_PAGES).
Invariants are predicates that return the violations they find (empty = holds).
Transitions are pure functions from a state to the next state; each has a
*delta* form over a lookup function, so an allocator with millions of pages can
be checked step by step without materialising whole states.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from . import migrate
from .constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS
from .errors import InvalidArgument, KernelBug
from .zones import subtract_ranges

Block = tuple[int, int]  # (pfn, order): the 2**order pages starting at pfn
Range = tuple[int, int]  # [start, end) pfn range
IsFreeBlock = Callable[[int, int], bool]  # is (pfn, order) a free block of the zone?
BlockType = Callable[[int], int]  # get_pfnblock_migratetype: the type of pfn's pageblock


def order_cap(max_order: int | None = None) -> int:
    """The top order of the allocator being described: ``max_order`` when given, else
    ``MAX_PAGE_ORDER`` (include/linux/mmzone.h), read when called, so that a kernel
    configured with another ``CONFIG_ARCH_FORCE_MAX_ORDER`` (or an allocator with larger
    blocks) is described by the same functions. Every function below that depends on
    the cap takes ``max_order=None`` and resolves it here."""
    if max_order is None:
        return MAX_PAGE_ORDER
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 0:
        raise InvalidArgument(f"max_order must be an int >= 0, got {max_order!r}")
    return max_order


# --------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------

def block_pages(order: int) -> int:
    """Pages in a block of ``order``: ``1 << order``."""
    return 2**order


def is_aligned(pfn: int, order: int) -> bool:
    """A block of ``order`` must start at a multiple of its size (natural alignment)."""
    return pfn % 2**order == 0


def check_pfn_order(pfn: object, order: object, max_order: int | None = None) -> None:
    """Refuse what the buddy arithmetic is not defined on: a pfn that is not an int >= 0,
    an order outside 0..MAX_PAGE_ORDER (or 0..``max_order``, see :func:`order_cap`). (A z3
    bit-vector term, which the proofs pass as a symbolic pfn, is let through: it has
    ``sexpr``.)"""
    cap = order_cap(max_order)
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= cap:
        raise InvalidArgument(f"order must be an int in 0..{cap}, got {order!r}")
    if isinstance(pfn, int) and not isinstance(pfn, bool):
        if pfn < 0:
            raise InvalidArgument(f"pfn must be an int >= 0, got {pfn!r}")
    elif not hasattr(pfn, "sexpr"):
        raise InvalidArgument(f"pfn must be an int >= 0, got {pfn!r}")


def find_buddy_pfn(pfn: int, order: int) -> int:
    """``__find_buddy_pfn(pfn, order)`` (mm/internal.h): ``pfn ^ (1 << order)``.

    pre: pfn >= 0 and 0 <= order <= 10
    post: __return__ == find_buddy_pfn_arith(pfn, order)
    post: find_buddy_pfn(__return__, order) == pfn

    >>> find_buddy_pfn(8, 3), find_buddy_pfn(0, 3), find_buddy_pfn(12, 2)
    (0, 8, 8)
    """
    if type(pfn) is not int or type(order) is not int or pfn < 0 or not 0 <= order <= MAX_PAGE_ORDER:
        check_pfn_order(pfn, order)  # raises, or lets a proof's symbolic pfn through
    return pfn ^ (1 << order)


def find_buddy_pfn_capped(pfn: int, order: int, max_order: int | None = None) -> int:
    """:func:`find_buddy_pfn` for an allocator whose top order is ``max_order`` (see
    :func:`order_cap`), which may be above MAX_PAGE_ORDER: orders up to it are accepted."""
    if max_order is None or order <= MAX_PAGE_ORDER:
        return find_buddy_pfn(pfn, order)
    check_pfn_order(pfn, order, max_order)
    return pfn ^ (1 << order)


def find_buddy_pfn_arith(pfn: int, order: int) -> int:
    """The buddy in plain arithmetic: the other half of the aligned order+1 parent.

    Equal to :func:`find_buddy_pfn` for every non-negative pfn (proved in kmem.proofs).

    pre: pfn >= 0 and 0 <= order <= 10
    post: __return__ >= 0
    post: abs(__return__ - pfn) == 2**order
    post: __return__ // 2 ** (order + 1) == pfn // 2 ** (order + 1)
    """
    check_pfn_order(pfn, order)
    size = 2**order
    if (pfn // size) % 2 == 0:
        return pfn + size
    return pfn - size


def combined_pfn(pfn: int, order: int) -> int:
    """Start of the merged block: ``buddy_pfn & pfn`` = ``pfn & ~(1 << order)``
    (``__free_one_page``, mm/page_alloc.c).

    pre: pfn >= 0 and 0 <= order <= 10
    post: __return__ == combined_pfn_arith(pfn, order)
    """
    return pfn & find_buddy_pfn(pfn, order)


def combined_pfn_arith(pfn: int, order: int) -> int:
    """:func:`combined_pfn` in plain arithmetic: clear the ``2**order`` digit of pfn (for
    an aligned block, the start of its order+1 parent).

    pre: pfn >= 0 and 0 <= order <= 10
    post: pfn - __return__ in (0, 2**order)
    post: pfn % 2**order != 0 or __return__ % 2 ** (order + 1) == 0
    """
    check_pfn_order(pfn, order)
    return pfn - (pfn // 2**order) % 2 * 2**order


def expand(pfn: int, low: int, high: int) -> tuple[Block, ...]:
    """``expand(zone, page, low, high, mt)`` (mm/page_alloc.c, 2.6.9+).

    Splitting a free block of order ``high`` at ``pfn`` for a request of order
    ``low``: the caller keeps the lower part (``pfn``, order ``low``); the upper
    halves go back to the free lists, in the kernel's order: ``pfn + 2**(high-1)``
    at order high-1 first, down to ``pfn + 2**low`` at order ``low``.

    pre: 0 <= low <= high <= 10 and pfn >= 0 and pfn % 2**high == 0
    post: [o for _, o in __return__] == list(range(high - 1, low - 1, -1))
    post: sum(2**o for _, o in __return__) == 2**high - 2**low
    post: all(p == pfn + 2**o for p, o in __return__)
    """
    halves = []
    for order in range(high - 1, low - 1, -1):
        halves.append((pfn + 2**order, order))
    return tuple(halves)


def split_around(block: Block, pfn: int, order: int) -> tuple[Block, ...]:
    """The free blocks left when the aligned block (pfn, order) is carved out of ``block``.

    The generalisation of :func:`expand` to any aligned sub-block: at each level
    below the free block's order, the half that does not hold ``pfn`` stays free.
    For ``pfn == block[0]`` it equals ``expand(pfn, order, block[1])``.
    """
    start, high = block
    rest = []
    for level in range(high - 1, order - 1, -1):
        size = 2**level
        if pfn >= start + size:  # target is in the upper half: the lower half stays free
            rest.append((start, level))
            start += size
        else:
            rest.append((start + size, level))
    return tuple(rest)


def free_pages_memory_chunks(start: int, end: int,
                             max_order: int | None = None) -> tuple[Block, ...]:
    """``__free_pages_memory(start, end)`` (mm/memblock.c): how boot frees a pfn range.

    Each chunk has ``order = min(MAX_PAGE_ORDER, __ffs(start))``, shrunk until it
    fits before ``end``. The chunks are the range's canonical decomposition into
    maximal naturally aligned blocks, ascending. :func:`free_pages_memory_runs`
    gives the same chunks grouped into runs. ``max_order``: see :func:`order_cap`.
    """
    return tuple((pfn + i * 2**order, order)
                 for pfn, order, count in free_pages_memory_runs(start, end, max_order)
                 for i in range(count))


def free_pages_memory_runs(start: int, end: int,
                           max_order: int | None = None) -> tuple[tuple[int, int, int], ...]:
    """The chunks of :func:`free_pages_memory_chunks` as runs ``(first_pfn, order, count)``.

    ``__free_pages_memory`` (mm/memblock.c): a chunk has ``order = min(MAX_PAGE_ORDER,
    __ffs(start))``, shrunk until it fits before ``end``. Once ``start`` is aligned to
    MAX_PAGE_ORDER every chunk is a MAX_PAGE_ORDER block until fewer than
    MAX_ORDER_NR_PAGES remain, so only that order repeats: a run is ``count``
    consecutive chunks of one order, and a range of any size has at most
    ``2 * MAX_PAGE_ORDER + 1`` runs (what lets a model boot terabytes in constant time).
    ``max_order``: see :func:`order_cap`.

    >>> free_pages_memory_runs(4, 5000)
    ((4, 2, 1), (8, 3, 1), (16, 4, 1), (32, 5, 1), (64, 6, 1), (128, 7, 1), (256, 8, 1), (512, 9, 1), (1024, 10, 3), (4096, 9, 1), (4608, 8, 1), (4864, 7, 1), (4992, 3, 1))
    >>> free_pages_memory_runs(0, 2**40)  # 4 PB of pages: one run
    ((0, 10, 1073741824),)
    """
    runs: list[tuple[int, int, int]] = []
    cap = order_cap(max_order)
    while start < end:
        order = cap
        while order > 0 and start % 2**order != 0:
            order -= 1
        while start + 2**order > end:
            order -= 1
        count = (end - start) // 2**order if order == cap else 1
        runs.append((start, order, count))
        start += count * 2**order
    return tuple(runs)


def buddy_merge_likely(pfn: int, buddy_pfn: int, order: int, is_free_block: IsFreeBlock,
                       max_order: int | None = None) -> bool:
    """``buddy_merge_likely(pfn, buddy_pfn, page, order)`` (mm/page_alloc.c, 5.x+).

    After merging stopped at ``order`` (``buddy_pfn`` is the buddy that was not
    free), look one order up: if the order+1 block containing that buddy has its
    own order+1 buddy free, the freed block goes to the *tail* of its list, so it
    stays free longer and may yet merge. Never at order >= MAX_PAGE_ORDER - 1.
    ``max_order``: see :func:`order_cap`.
    """
    if order >= order_cap(max_order) - 1:
        return False
    higher_page_pfn = buddy_pfn & pfn
    return is_free_block(find_buddy_pfn_capped(higher_page_pfn, order + 1, max_order), order + 1)


# --------------------------------------------------------------------------------------
# Transition deltas (over a lookup function)
# --------------------------------------------------------------------------------------

class FreeDelta(NamedTuple):
    """What ``__free_one_page`` does to the free lists when (pfn, order) is freed.

    ``merged`` are the free buddies taken off their lists, in merge order; the
    block ``result`` goes onto ``free_area[result order]``, at the tail when
    ``to_tail`` (``buddy_merge_likely``), else at the head. (Immutable; a named tuple,
    made on every free: a quarter of the cost of a frozen dataclass.)
    """

    merged: tuple[Block, ...]
    result: Block
    to_tail: bool
    retyped: tuple[Block, ...] = ()


def free_one_page_delta(is_free_block: IsFreeBlock, pfn: int, order: int,
                        block_type: BlockType | None = None, migratetype: int = 0,
                        pageblock_order: int = MAX_PAGE_ORDER,
                        to_tail: bool | None = None,
                        max_order: int | None = None) -> FreeDelta:
    """``__free_one_page`` (mm/page_alloc.c): merge with free buddies while below MAX_PAGE_ORDER.

    ``is_free_block(p, o)`` must answer whether (p, o) is currently a free block of
    *this zone* (the kernel's ``page_is_buddy``: PageBuddy, same order, same zone).

    With migratetypes (``block_type`` given; ``migratetype`` is the freed block's type),
    from ``pageblock_order`` up a buddy of another type is merged only when
    :func:`kmem.spec.migrate.may_merge` allows it, and a merged buddy of another type
    has its pageblocks retyped to ``migratetype`` (``change_pageblock_range``): those
    buddies are ``retyped``. ``to_tail`` forces the placement (FPI_TO_TAIL); by default
    it is ``buddy_merge_likely``. ``max_order``: see :func:`order_cap`.
    """
    merged = []
    retyped = []
    cap = order_cap(max_order)
    buddy_pfn = find_buddy_pfn_capped(pfn, order, cap)
    while order < cap:
        buddy_pfn = find_buddy_pfn_capped(pfn, order, cap)
        if not is_free_block(buddy_pfn, order):
            break
        if block_type is not None and order >= pageblock_order:
            buddy_mt = block_type(buddy_pfn)
            if not migrate.may_merge(order, migratetype, buddy_mt, pageblock_order):
                break
            if buddy_mt != migratetype:
                retyped.append((buddy_pfn, order))
        merged.append((buddy_pfn, order))
        pfn = buddy_pfn & pfn
        order += 1
    if to_tail is None:
        to_tail = buddy_merge_likely(pfn, buddy_pfn, order, is_free_block, cap)
    return FreeDelta(tuple(merged), (pfn, order), to_tail, tuple(retyped))


def rmqueue_smallest_order(nr_free: Callable[[int], int], order: int,
                           max_order: int | None = None) -> int | None:
    """The order ``__rmqueue_smallest`` takes a block from: the smallest order >= ``order``
    whose free list is not empty, or None. ``max_order``: see :func:`order_cap`."""
    top = NR_PAGE_ORDERS if max_order is None else order_cap(max_order) + 1
    for current in range(order, top):
        if nr_free(current) > 0:
            return current
    return None


def containing_free_block(is_free_block: IsFreeBlock, pfn: int, order: int,
                          max_order: int | None = None) -> Block | None:
    """The free block that wholly contains the aligned block (pfn, order), if any.

    Free blocks are aligned and disjoint, so only the aligned ancestors of pfn can
    contain it: at most NR_PAGE_ORDERS lookups. ``max_order``: see :func:`order_cap`.
    """
    top = NR_PAGE_ORDERS if max_order is None else order_cap(max_order) + 1
    for level in range(order, top):
        start = pfn - pfn % 2**level
        if is_free_block(start, level):
            return (start, level)
    return None


# --------------------------------------------------------------------------------------
# Abstract state
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZoneState:
    """The buddy allocator's abstract state for one zone.

    ``holes`` are pfn ranges in the span with no memory (not present); ``reserved``
    are present pages never handed to the allocator (present - managed).
    ``nr_free`` and ``free_pages`` are the counters as the implementation keeps
    them (``free_area[o].nr_free``, NR_FREE_PAGES); the invariants check them.
    """

    start_pfn: int
    end_pfn: int
    free: frozenset[Block] = frozenset()
    allocated: frozenset[Block] = frozenset()
    holes: tuple[Range, ...] = ()
    reserved: tuple[Range, ...] = ()
    nr_free: tuple[int, ...] = field(default=(0,) * NR_PAGE_ORDERS)
    free_pages: int = 0
    # -- per-CPU lists and migratetypes (absent: the bare buddy core) -----------------
    pcp: frozenset[Block] = frozenset()  # blocks parked on per-CPU lists
    pageblock_order: int | None = None  # None: one free list per order (no migratetypes)
    block_types: tuple[tuple[int, int], ...] = ()  # (pageblock index, migratetype)
    list_types: tuple[tuple[int, int], ...] = ()  # (free block pfn, its free_list[mt])
    nr_free_highatomic: int = 0  # zone->nr_free_highatomic
    nr_reserved_highatomic: int = 0  # zone->nr_reserved_highatomic
    #: an ``unreserve_highatomic_pageblock`` whose ``ac->migratetype`` was MIGRATE_HIGHATOMIC
    #: (a gfp with both __GFP_MOVABLE and __GFP_RECLAIMABLE) moved pages: it took them out
    #: of ``nr_reserved_highatomic`` and left their pageblocks HIGHATOMIC, so from then on
    #: the count may be below those pageblocks (the kernel keeps no such mark)
    highatomic_uncounted: bool = False
    #: the allocator's top order (None: MAX_PAGE_ORDER; see :func:`order_cap`)
    max_order: int | None = None
    #: whose whole-path rules the state follows ("6.12": free lists agree with pageblock
    #: types, 6.10+; "6.1": a block sits on the list it was freed or moved to)
    path_era: str = "6.12"

    # -- derived ---------------------------------------------------------------------
    @property
    def managed_ranges(self) -> tuple[Range, ...]:
        """The pfn ranges the allocator owns: the span minus holes and reserved ranges."""
        return subtract_ranges(((self.start_pfn, self.end_pfn),), (*self.holes, *self.reserved))

    @property
    def managed_pages(self) -> int:
        return sum(e - s for s, e in self.managed_ranges)

    def is_free_block(self, pfn: int, order: int) -> bool:
        return (pfn, order) in self.free

    def counted(self) -> ZoneState:
        """This state with ``nr_free``/``free_pages`` recomputed from the free set."""
        return replace(self, nr_free=count_nr_free(self.free, self.max_order),
                       free_pages=sum(2**o for _, o in self.free))

    def block_type(self, pfn: int) -> int:
        """``get_pfnblock_migratetype``: the type of the pageblock holding ``pfn``."""
        assert self.pageblock_order is not None
        return dict(self.block_types).get(pfn >> self.pageblock_order, 0)


def count_nr_free(free: Iterable[Block], max_order: int | None = None) -> tuple[int, ...]:
    """``free_area[o].nr_free`` for every order: blocks (not pages) per order."""
    counts = [0] * (NR_PAGE_ORDERS if max_order is None else order_cap(max_order) + 1)
    for _, order in free:
        counts[order] += 1
    return tuple(counts)


def boot_state(start_pfn: int, end_pfn: int, holes: tuple[Range, ...] = (),
               reserved: tuple[Range, ...] = (), max_order: int | None = None) -> ZoneState:
    """The state after boot: every managed range freed by ``__free_pages_memory``."""
    zs = ZoneState(start_pfn, end_pfn, holes=tuple(holes), reserved=tuple(reserved),
                   max_order=max_order)
    free = frozenset(b for s, e in zs.managed_ranges
                     for b in free_pages_memory_chunks(s, e, max_order))
    return replace(zs, free=free).counted()


# --------------------------------------------------------------------------------------
# Invariants: each returns the violations found (an empty list means it holds)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Violation:
    """One broken invariant: its name and what exactly is wrong."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


def _blocks(zs: ZoneState) -> Iterator[tuple[str, Block]]:
    for b in zs.free:
        yield "free", b
    for b in zs.allocated:
        yield "allocated", b
    for b in zs.pcp:
        yield "pcp", b


def inv_alignment_and_bounds(zs: ZoneState) -> list[Violation]:
    """Every block has an order in 0..MAX_PAGE_ORDER, is naturally aligned, and lies
    inside the zone's managed pages (no block crosses a zone edge, a hole or a
    reserved range: ``bad_range()`` / ``page_is_buddy``'s same-zone rule)."""
    out = []
    managed = zs.managed_ranges
    ranges = sorted(managed)  # disjoint: only the last range starting at or below pfn can
    starts = [s for s, _ in ranges]  # hold the block (bisect keeps big zones linear)
    cap = order_cap(zs.max_order)
    for kind, (pfn, order) in _blocks(zs):
        if not 0 <= order <= cap:
            out.append(Violation("alignment", f"{kind} block at pfn {pfn:#x} has order {order}, "
                                              f"outside 0..{cap}"))
            continue
        if not is_aligned(pfn, order):
            out.append(Violation("alignment", f"{kind} block pfn {pfn:#x} is not aligned to "
                                              f"order {order} ({2**order} pages)"))
        end = pfn + 2**order
        i = bisect.bisect_right(starts, pfn) - 1
        if i < 0 or end > ranges[i][1]:
            out.append(Violation("bounds", f"{kind} block [{pfn:#x}, {end:#x}) is not inside the "
                                           f"zone's managed pages {managed}"))
    return out


def inv_disjoint(zs: ZoneState) -> list[Violation]:
    """No two blocks (free or allocated) share a page, and no page is both free and
    allocated."""
    out = []
    cap = order_cap(zs.max_order)
    spans = sorted((pfn, pfn + 2**order, kind) for kind, (pfn, order) in _blocks(zs)
                   if 0 <= order <= cap)
    for (s1, e1, k1), (s2, e2, k2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            out.append(Violation("disjoint", f"{k1} block [{s1:#x}, {e1:#x}) overlaps "
                                             f"{k2} block [{s2:#x}, {e2:#x})"))
    return out


def inv_tiling(zs: ZoneState) -> list[Violation]:
    """Free + allocated + reserved pages = the zone's present pages, exactly
    (together with disjointness and bounds: every managed page is in exactly one block)."""
    cap = order_cap(zs.max_order)
    covered = sum(2**o for _, (_, o) in _blocks(zs) if 0 <= o <= cap)
    managed = zs.managed_pages
    if covered != managed:
        return [Violation("tiling", f"free + allocated blocks cover {covered} pages, but the zone "
                                    f"manages {managed} pages")]
    return []


def inv_maximal_coalescing(zs: ZoneState) -> list[Violation]:
    """No two free buddies of the same order below MAX_PAGE_ORDER: ``__free_one_page``
    merges them. The one exception (migratetypes modelled): at orders >=
    ``pageblock_order`` free buddies may stay apart. ``__free_one_page`` refuses the
    merge when one type is not mergeable (HIGHATOMIC, CMA, ISOLATE;
    ``migratetype_is_mergeable``), and the pair stays apart after a later retype that
    does not merge: ``unreserve_highatomic_pageblock`` moves a free HIGHATOMIC block of
    order >= pageblock_order to another type's list (6.12.118 mm/page_alloc.c:2185-2191,
    ``move_to_free_list`` + ``change_pageblock_range``; 6.1.192 via
    ``move_freepages_block``), which the kernel's own code was seen doing by
    ``kmem conform``. So whether such a pair is legal depends on history, not state.
    Pages on per-CPU lists are not free in the buddy: they never count as buddies."""
    out = []
    cap = order_cap(zs.max_order)
    for pfn, order in zs.free:
        if order < cap:
            buddy = find_buddy_pfn_capped(pfn, order, cap)
            if pfn < buddy and (buddy, order) in zs.free:
                if zs.pageblock_order is not None and order >= zs.pageblock_order:
                    continue
                out.append(Violation("maximal-coalescing",
                                     f"free buddies {pfn:#x} and {buddy:#x} at order {order} "
                                     f"were not merged"))
    return out


def inv_counters(zs: ZoneState) -> list[Violation]:
    """``free_area[o].nr_free`` counts free blocks of order o; NR_FREE_PAGES counts their pages."""
    out = []
    expect = count_nr_free(zs.free, zs.max_order)
    if tuple(zs.nr_free) != expect:
        out.append(Violation("counters", f"nr_free {tuple(zs.nr_free)} but the free blocks give "
                                         f"{expect}"))
    pages = sum(2**o for _, o in zs.free)
    if zs.free_pages != pages:
        out.append(Violation("counters", f"free_pages {zs.free_pages} but the free blocks hold "
                                         f"{pages} pages"))
    return out


def inv_pageblock_lists(zs: ZoneState) -> list[Violation]:
    """With migratetypes: every free block is on exactly one ``free_list[mt]``, and ``mt``
    is the type of every pageblock the block overlaps (``__add_to_free_list``'s
    VM_WARN_ONCE, 6.10+; ``change_pageblock_range`` keeps multi-pageblock blocks
    uniform; not in 6.1, ``path_era="6.1"``); every type is a valid migratetype; ``nr_free_highatomic`` counts the pages
    on the HIGHATOMIC lists (``account_freepages``)."""
    if zs.pageblock_order is None:
        return []
    out = []
    lists = dict(zs.list_types)
    types = dict(zs.block_types)
    agree = zs.path_era != "6.1"  # 6.1's lists need not follow the pageblock types
    if set(lists) != {p for p, _ in zs.free} or len(lists) != len(zs.list_types):
        out.append(Violation("pageblock-lists", "the free blocks and the blocks on typed free "
                                                "lists differ"))
    for mt in (*lists.values(), *types.values()):
        if not 0 <= mt < migrate.MIGRATE_TYPES:
            out.append(Violation("pageblock-lists", f"migratetype {mt} is out of range"))
    highatomic = 0
    for pfn, order in zs.free:
        listed = lists.get(pfn)
        if listed == migrate.MIGRATE_HIGHATOMIC:
            highatomic += 1 << order
        for pb in migrate.pageblocks_of(pfn, order, zs.pageblock_order) if agree else ():
            if types.get(pb, 0) != listed:
                out.append(Violation("pageblock-lists",
                                     f"free block ({pfn:#x}, order {order}) is on the "
                                     f"free_list[{listed}] but pageblock {pb:#x} has type "
                                     f"{types.get(pb, 0)}"))
                break
    if highatomic != zs.nr_free_highatomic:
        out.append(Violation("pageblock-lists", f"nr_free_highatomic {zs.nr_free_highatomic} but "
                                                f"the HIGHATOMIC lists hold {highatomic} pages"))
    return out


def inv_highatomic_reserve(zs: ZoneState) -> list[Violation]:
    """With migratetypes: ``nr_reserved_highatomic`` is the pages of the zone's HIGHATOMIC
    pageblocks (not in 6.1, see below; at most them, in whole pageblocks, once
    ``highatomic_uncounted``), and stays within ``reserve_highatomic_pageblock``'s cap (1 % of the
    zone, pageblock aligned) plus the one reservation that may cross it."""
    if zs.pageblock_order is None:
        return []
    pbo = zs.pageblock_order
    blocks = sum(1 for _, mt in zs.block_types if mt == migrate.MIGRATE_HIGHATOMIC)
    out = []
    # 6.1's steal_suitable_fallback retypes every pageblock of a block of pageblock order
    # or more (change_pageblock_range) when only its first is checked for HIGHATOMIC, and
    # never takes the others out of nr_reserved_highatomic: the count may exceed the blocks
    if zs.path_era != "6.1" and zs.highatomic_uncounted:
        # 6.12.118 mm/page_alloc.c:2157-2169: the count drops by whole pageblocks (or a
        # block of pageblock order or more) while the block keeps ac->migratetype's type,
        # HIGHATOMIC; it never rises above the HIGHATOMIC pageblocks
        if (zs.nr_reserved_highatomic > blocks << pbo
                or zs.nr_reserved_highatomic % (1 << pbo)):
            out.append(Violation("highatomic", f"nr_reserved_highatomic "
                                               f"{zs.nr_reserved_highatomic} is not whole "
                                               f"pageblocks within the {blocks} HIGHATOMIC "
                                               f"pageblocks' {blocks << pbo} pages"))
    elif zs.path_era != "6.1" and blocks << pbo != zs.nr_reserved_highatomic:
        out.append(Violation("highatomic", f"nr_reserved_highatomic {zs.nr_reserved_highatomic} "
                                           f"but {blocks} HIGHATOMIC pageblocks hold "
                                           f"{blocks << pbo} pages"))
    if zs.path_era == "6.1":  # one pageblock per reservation while below the 6.1 cap
        bound = migrate.highatomic_max_managed_61(zs.managed_pages, pbo) - 1 + (1 << pbo)
    else:
        bound = migrate.highatomic_reserve_bound(zs.managed_pages, pbo)
    if zs.nr_reserved_highatomic > bound:
        out.append(Violation("highatomic", f"nr_reserved_highatomic {zs.nr_reserved_highatomic} "
                                           f"exceeds its bound {bound} for {zs.managed_pages} "
                                           f"managed pages"))
    return out


INVARIANTS: tuple[Callable[[ZoneState], list[Violation]], ...] = (
    inv_alignment_and_bounds, inv_disjoint, inv_tiling, inv_maximal_coalescing, inv_counters,
    inv_pageblock_lists, inv_highatomic_reserve,
)


def check_invariants(zs: ZoneState) -> list[Violation]:
    """All buddy invariants of one zone; an empty list means the state is well formed."""
    out: list[Violation] = []
    for inv in INVARIANTS:
        out.extend(inv(zs))
    return out


# --------------------------------------------------------------------------------------
# Transitions on whole states
# --------------------------------------------------------------------------------------

class IllegalTransition(KernelBug):
    """A transition was asked of a state that does not allow it (e.g. freeing a block
    that is not allocated)."""


def is_legal_alloc_weak(zs: ZoneState, order: int, pfn: int) -> bool:
    """The weak rule: any naturally aligned block of ``order`` whose pages are all free."""
    return is_aligned(pfn, order) and \
        containing_free_block(zs.is_free_block, pfn, order, zs.max_order) is not None


def is_legal_alloc_linux(zs: ZoneState, order: int, pfn: int) -> bool:
    """The Linux rule (``__rmqueue_smallest``): ``pfn`` starts a free block of the smallest
    order >= ``order`` that has any free block (which one is the free list's business)."""
    source = rmqueue_smallest_order(lambda o: zs.nr_free[o], order, zs.max_order)
    return source is not None and (pfn, source) in zs.free


def alloc_failure_legal(zs: ZoneState, order: int) -> bool:
    """Within one zone, failing is legal only when no free block of order >= ``order`` exists."""
    return all(o < order for _, o in zs.free)


def alloc_next(zs: ZoneState, order: int, pfn: int) -> ZoneState:
    """The state after the aligned block (pfn, order) is allocated.

    The containing free block leaves its list; the parts around (pfn, order) go back
    as free blocks (:func:`split_around`; for the Linux rule this is :func:`expand`).
    """
    cap = order_cap(zs.max_order)
    if not 0 <= order <= cap:
        raise InvalidArgument(f"order {order} outside 0..{cap}")
    if not is_aligned(pfn, order):
        raise IllegalTransition(f"pfn {pfn:#x} is not aligned to order {order}")
    block = containing_free_block(zs.is_free_block, pfn, order, zs.max_order)
    if block is None:
        raise IllegalTransition(f"block ({pfn:#x}, order {order}) is not wholly free")
    free = (zs.free - {block}) | set(split_around(block, pfn, order))
    return replace(zs, free=frozenset(free), allocated=zs.allocated | {(pfn, order)}).counted()


def free_next(zs: ZoneState, pfn: int, order: int) -> ZoneState:
    """The state after the allocated block (pfn, order) is freed (``__free_one_page``)."""
    if (pfn, order) not in zs.allocated:
        raise IllegalTransition(f"block ({pfn:#x}, order {order}) is not allocated")
    delta = free_one_page_delta(zs.is_free_block, pfn, order, max_order=zs.max_order)
    free = (zs.free - set(delta.merged)) | {delta.result}
    return replace(zs, free=frozenset(free), allocated=zs.allocated - {(pfn, order)}).counted()


def free_tail_portions(pfn: int, order: int) -> tuple[Block, ...]:
    """``___free_pages`` on a non-compound block whose first page is still referenced:
    the tail portions freed at once, in the kernel's order (``while (order-- > 0)
    free(page + (1 << order), order)``); only the first page stays allocated."""
    return tuple((pfn + 2**o, o) for o in range(order - 1, -1, -1))


def free_tails_next(zs: ZoneState, pfn: int, order: int) -> ZoneState:
    """The state after ``___free_pages`` freed the tails of (pfn, order), keeping page pfn."""
    if (pfn, order) not in zs.allocated:
        raise IllegalTransition(f"block ({pfn:#x}, order {order}) is not allocated")
    parts = free_tail_portions(pfn, order)
    zs = replace(zs, allocated=(zs.allocated - {(pfn, order)}) | {(pfn, 0)} | set(parts))
    for p, o in parts:
        zs = free_next(zs, p, o)
    return zs
