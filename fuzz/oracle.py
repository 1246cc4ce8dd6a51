"""A step-by-step oracle for any buddy allocator over one zone, built on :mod:`kmem.spec.buddy`.

The oracle keeps a shadow of the abstract state (free blocks by pfn, allocated
blocks) and moves it only by the spec's transitions. Feed it every operation
your allocator performs, *after* it happened::

    from kmem.fuzz.oracle import ZoneOracle
    oracle = ZoneOracle(0, 1 << 20, rule="weak", max_order=10)
    pfn = my_alloc(order)
    oracle.alloc(order, pfn)          # None (or a negative pfn) for a failed allocation
    my_free(pfn, order)
    oracle.free(pfn, order)

Checking is by *refinement*: under ``rule="weak"`` the allocator may return any
legal block (aligned, inside the zone, wholly free) and the shadow follows that
choice, so allocators with other policies (LIFO lists, trees, bitmaps) can be
checked; ``rule="linux"`` also demands ``__rmqueue_smallest``'s choice of order.
Each call raises :class:`OracleViolation` when the result is not legal; the
message names the operation (its index and arguments) and prints every pfn in
hex.

What the results alone cannot show is a wrong merge: an allocator that fails
to coalesce (or coalesces lazily at allocation time) keeps giving legal answers
until memory runs short. So the oracle takes optional observations of the real
state and compares them *at every step*, whatever the rule, with the spec's
merge result of that step (``free_one_page_delta``):

- ``is_free_block(pfn, order)``: is that a free block of the allocator? Asked for
  the blocks the step touched (the merged buddies and the merged result, or the
  split parts);
- ``counters()``: the allocator's ``(free_pages, nr_free per order)``;
- ``free_blocks()``: the allocator's whole free-block set, as ``(pfn, order)``
  pairs; compared with the shadow after every operation.

:meth:`compare_all` compares a free-block set once, on demand. ``max_order`` is
the allocator's top order (any value; the spec's arithmetic follows it).

With ``lists=True`` (rule ``"linux"``) the oracle also keeps every free list *in list
order*, as the spec defines it for Linux 6.12 (Debian 6.12.118, mm/page_alloc.c): boot
frees each chunk to the tail (``__free_pages_core`` -> ``__free_pages_ok(FPI_TO_TAIL)``,
:1372); ``__rmqueue_smallest`` takes the head (``get_page_from_free_area``:
``list_first_entry_or_null``, :746, called at :1644); ``expand`` puts each upper half
at the head of its list (``__add_to_free_list(..., false)``, :1461, high order first);
``__free_one_page`` puts the merged block at the tail when ``buddy_merge_likely``, else
at the head (:886-893; ``__add_to_free_list``'s ``list_add_tail``/``list_add``,
:692/:694). An allocation must then return the head of the smallest non-empty list
(kind ``not-list-head``), and :meth:`compare_lists` compares an allocator's lists with
the spec's (kind ``list-order``): a block at the wrong end of a list is found even when
every implementation puts it there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from kmem.spec import buddy
from kmem.spec.errors import InvalidArgument, KmemError

RULES = ("linux", "weak")

Block = tuple[int, int]


class SpecFreeList:
    """One ``free_area[order].free_list`` in the spec's order: ``list_add`` (head) and
    ``list_add_tail``, O(1) removal; ``None`` is the list head's sentinel."""

    __slots__ = ("nxt", "prv")

    def __init__(self) -> None:
        self.nxt: dict[int | None, int | None] = {None: None}
        self.prv: dict[int | None, int | None] = {None: None}

    def add(self, pfn: int, tail: bool) -> None:
        if tail:
            last = self.prv[None]
            self.prv[pfn], self.nxt[pfn] = last, None
            self.nxt[last] = self.prv[None] = pfn
        else:
            first = self.nxt[None]
            self.nxt[pfn], self.prv[pfn] = first, None
            self.prv[first] = self.nxt[None] = pfn

    def remove(self, pfn: int) -> None:
        p, n = self.prv.pop(pfn), self.nxt.pop(pfn)
        self.nxt[p], self.prv[n] = n, p

    def head(self) -> int | None:
        return self.nxt[None]

    def __iter__(self) -> Iterator[int]:
        pfn = self.nxt[None]
        while pfn is not None:
            yield pfn
            pfn = self.nxt[pfn]


class OracleViolation(KmemError):
    """The allocator under test did something the spec does not allow.

    ``index`` is the operation's index (0-based, in the order fed to the oracle),
    ``operation`` its text (``alloc(order=2) -> 0x8``), ``kind`` a short label of the
    finding (``unaligned``, ``outside``, ``overlap``, ``not-free``, ``bad-failure``,
    ``not-linux``, ``not-list-head``, ``merge``, ``counters``, ``free-blocks``,
    ``list-order``, ``bad-free``).
    """

    def __init__(self, message: str, *, index: int = -1, operation: str = "",
                 kind: str = "") -> None:
        super().__init__(message)
        self.index, self.operation, self.kind = index, operation, kind


def fmt_block(block: Block) -> str:
    """A block as the oracle prints it: ``(0x40, order 3)``."""
    return f"({block[0]:#x}, order {block[1]})"


class ZoneOracle:
    """The spec's view of one zone, advanced by the spec's transitions.

    ``rule="linux"``: an allocation must return the start of a free block of the
    smallest order that has one (``__rmqueue_smallest`` + ``expand``; which block
    of that order is the free list's business). ``rule="weak"``: any naturally
    aligned, wholly free block of the requested order. Under both rules failure is
    legal only when no free block of order >= the request exists, and frees follow
    ``__free_one_page``'s merging up to ``max_order``.
    """

    def __init__(self, start_pfn: int, end_pfn: int, *, holes: tuple[tuple[int, int], ...] = (),
                 reserved: tuple[tuple[int, int], ...] = (), rule: str = "linux",
                 max_order: int | None = None,
                 is_free_block: Callable[[int, int], bool] | None = None,
                 counters: Callable[[], tuple[int, tuple[int, ...]]] | None = None,
                 free_blocks: Callable[[], Iterable[Block]] | None = None,
                 lists: bool = False) -> None:
        if rule not in RULES:
            raise InvalidArgument(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
        if not 0 <= start_pfn < end_pfn:
            raise InvalidArgument(f"zone [{start_pfn:#x}, {end_pfn:#x}) is empty or negative")
        self.rule = rule
        self.max_order = buddy.order_cap(max_order)
        boot = buddy.boot_state(start_pfn, end_pfn, holes, reserved, self.max_order)
        self.start_pfn, self.end_pfn = start_pfn, end_pfn
        self.holes, self.reserved = boot.holes, boot.reserved
        if lists and rule != "linux":
            raise InvalidArgument("lists=True needs rule='linux' (the only rule with a list "
                                  "order)")
        self.lists: list[SpecFreeList] | None = None
        self.free_blocks: dict[int, int] = dict(boot.free)
        self.allocated: dict[int, int] = {}
        self.nr_free = list(boot.nr_free)
        self.free_pages = boot.free_pages
        if lists:
            # boot again, chunk by chunk: memblock_free_all frees each managed range in
            # ascending __free_pages_memory chunks, each by __free_one_page(FPI_TO_TAIL)
            self.lists = [SpecFreeList() for _ in range(self.max_order + 1)]
            self.free_blocks, self.nr_free, self.free_pages = {}, [0] * len(boot.nr_free), 0
            for s, e in boot.managed_ranges:
                for p, o in buddy.free_pages_memory_chunks(s, e, self.max_order):
                    self._merge_in(p, o, to_tail=True)
        self.steps = 0  # operations checked so far; the next one has index ``steps``
        self._real_is_free = is_free_block
        self._real_counters = counters
        self._real_free_blocks = free_blocks
        self._op = ""

    # -- shadow edits ---------------------------------------------------------------------
    def _is_free(self, pfn: int, order: int) -> bool:
        return self.free_blocks.get(pfn) == order

    def _add(self, pfn: int, order: int, to_tail: bool = False) -> None:
        self.free_blocks[pfn] = order
        self.nr_free[order] += 1
        self.free_pages += 1 << order
        if self.lists is not None:
            self.lists[order].add(pfn, to_tail)

    def _del(self, pfn: int, order: int) -> None:
        del self.free_blocks[pfn]
        self.nr_free[order] -= 1
        self.free_pages -= 1 << order
        if self.lists is not None:
            self.lists[order].remove(pfn)

    def _merge_in(self, pfn: int, order: int, to_tail: bool | None = None) -> buddy.FreeDelta:
        """``__free_one_page``: the spec's merge, the result to the head or the tail."""
        delta = buddy.free_one_page_delta(self._is_free, pfn, order, to_tail=to_tail,
                                          max_order=self.max_order)
        for p, o in delta.merged:
            self._del(p, o)
        self._add(*delta.result, to_tail=delta.to_tail)
        return delta

    def _fail(self, kind: str, message: str) -> None:
        index = self.steps - 1
        raise OracleViolation(f"operation #{index} {self._op}: {message}", index=index,
                              operation=self._op, kind=kind)

    def live_block_at(self, pfn: int) -> Block | None:
        """The allocated block that contains page ``pfn``, if any."""
        for level in range(self.max_order + 1):
            head = pfn - pfn % (1 << level)
            if self.allocated.get(head) == level:
                return head, level
        return None

    # -- operations ---------------------------------------------------------------------------
    def alloc(self, order: int, pfn: int | None) -> None:
        """Check and record ``alloc(order) -> pfn`` (None or a negative pfn = failed)."""
        self.steps += 1
        failed = pfn is None or pfn < 0
        self._op = f"alloc(order={order}) -> {'fail' if failed else f'{pfn:#x}'}"
        if not 0 <= order <= self.max_order:
            self._fail("bad-order", f"order {order} outside 0..{self.max_order}")
        source = buddy.rmqueue_smallest_order(lambda o: self.nr_free[o], order, self.max_order)
        if pfn is None or pfn < 0:
            if source is not None:
                some = min(p for p, o in self.free_blocks.items() if o == source)
                self._fail("bad-failure", f"failed although the spec has {self.nr_free[source]} "
                                          f"free block(s) of order {source} (e.g. "
                                          f"{fmt_block((some, source))})")
            self._compare(())
            return
        if not buddy.is_aligned(pfn, order):
            self._fail("unaligned", f"pfn {pfn:#x} is not aligned to {1 << order} pages")
        end = pfn + (1 << order)
        if not (self.start_pfn <= pfn and end <= self.end_pfn):
            self._fail("outside", f"block [{pfn:#x}, {end:#x}) is outside the zone "
                                  f"[{self.start_pfn:#x}, {self.end_pfn:#x})")
        block = buddy.containing_free_block(self._is_free, pfn, order, self.max_order)
        if block is None:
            self._fail(*self._why_not_free(pfn, order))
            return
        # a free block of order >= ``order`` exists, so __rmqueue_smallest has a source
        assert source is not None
        if self.rule == "linux" and block != (pfn, source):
            self._fail("not-linux", f"taken from free block {fmt_block(block)}, but the Linux "
                                    f"rule takes the start of a block of order {source} (the "
                                    f"smallest non-empty order)")
        if self.lists is not None and self.lists[source].head() != pfn:
            head = self.lists[source].head()
            assert head is not None  # source is a non-empty order
            self._fail("not-list-head", f"took {fmt_block(block)}, but __rmqueue_smallest "
                                        f"takes the head of free_area[{source}], which the "
                                        f"spec's list order says is {fmt_block((head, source))}")
        self._del(*block)
        rest = buddy.split_around(block, pfn, order)  # = expand(): upper halves, high first
        for p, o in rest:
            self._add(p, o)  # expand: __add_to_free_list(..., false), the head
        self.allocated[pfn] = order
        self._compare([(pfn, order), *rest])

    def _why_not_free(self, pfn: int, order: int) -> tuple[str, str]:
        end = pfn + (1 << order)
        for p in range(pfn, end):
            live = self.live_block_at(p)
            if live is not None:
                return "overlap", (f"block [{pfn:#x}, {end:#x}) overlaps the live block "
                                   f"{fmt_block(live)}")
        for s, e in (*self.holes, *self.reserved):
            if s < end and pfn < e:
                return "outside", (f"block [{pfn:#x}, {end:#x}) overlaps the reserved or absent "
                                   f"range [{s:#x}, {e:#x})")
        return "not-free", f"block [{pfn:#x}, {end:#x}) is not wholly free"

    def free(self, pfn: int, order: int) -> None:
        """Check and record ``free(pfn, order)``; the spec merges as ``__free_one_page`` does."""
        self.steps += 1
        self._op = f"free({pfn:#x}, order={order})"
        if self.allocated.get(pfn) != order:
            held = self.allocated.get(pfn)
            self._fail("bad-free", "the block is not allocated at that order (allocated: "
                                   f"{'nothing' if held is None else f'order {held}'}); this is "
                                   f"a misuse of the oracle, not a fault of the allocator")
        del self.allocated[pfn]
        delta = self._merge_in(pfn, order)
        self._compare([*delta.merged, delta.result])

    def free_tails(self, pfn: int, order: int) -> None:
        """Check and record ``___free_pages`` on a non-compound block whose first page is
        still referenced: the tail portions are freed (``while (order-- > 0)``, 6.12
        mm/page_alloc.c:4949), the first page stays allocated as an order-0 block."""
        self.steps += 1
        self._op = f"free_tails({pfn:#x}, order={order})"
        if self.allocated.get(pfn) != order:
            self._fail("bad-free", "the block is not allocated at that order; this is a "
                                   "misuse of the oracle, not a fault of the allocator")
        self.allocated[pfn] = 0
        touched: list[Block] = []
        for p, o in buddy.free_tail_portions(pfn, order):
            delta = self._merge_in(p, o)
            touched += [*delta.merged, delta.result]
        self._compare(touched)

    def list_order(self, order: int) -> list[int]:
        """The spec's ``free_area[order].free_list``, head first (``lists=True`` only)."""
        if self.lists is None:
            raise InvalidArgument("this oracle keeps no list order (lists=False)")
        return list(self.lists[order]) if order < len(self.lists) else []

    def compare_lists(self, real: Sequence[Sequence[int]], when: str = "") -> None:
        """Compare an allocator's free lists (``real[order]``: pfns head first) with the
        spec's order; raises :class:`OracleViolation` (kind ``list-order``) at the first
        list that differs."""
        self._op = f"compare_lists{f' {when}' if when else ''}"
        for order, got in enumerate(real):
            want = self.list_order(order)
            if list(got) != want:
                got = list(got)
                k = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                         min(len(got), len(want)))
                mine = ", ".join(f"{p:#x}" for p in got[k:k + 3]) or "past the end"
                spec = ", ".join(f"{p:#x}" for p in want[k:k + 3]) or "past the end"
                raise OracleViolation(
                    f"{self._op}: free_area[{order}] is not in the spec's list order: from "
                    f"entry {k} on the allocator has {mine} (of {len(got)} blocks), the spec "
                    f"{spec} (of {len(want)})",
                    index=self.steps - 1, operation=self._op, kind="list-order")

    # -- comparison with the real allocator ---------------------------------------------------
    def _compare(self, touched: Iterable[Block]) -> None:
        if self._real_is_free is not None:
            for p, o in touched:
                want = self._is_free(p, o)
                if self._real_is_free(p, o) != want:
                    self._fail("merge", f"block {fmt_block((p, o))} should "
                                        f"{'' if want else 'not '}be free after this step")
        if self._real_counters is not None:
            free_pages, nr_free = self._real_counters()
            if free_pages != self.free_pages or tuple(nr_free) != tuple(self.nr_free):
                self._fail("counters", f"counters differ: allocator has free_pages {free_pages}, "
                                       f"nr_free {tuple(nr_free)}; the spec has "
                                       f"{self.free_pages}, {tuple(self.nr_free)}")
        if self._real_free_blocks is not None:
            self._compare_blocks(self._real_free_blocks(), "after this step")

    def _compare_blocks(self, real_free_blocks: Iterable[Block], when: str) -> None:
        real = list(real_free_blocks)
        real_set = set(real)
        mine = set(self.free_blocks.items())
        if real_set != mine or len(real) != len(real_set):
            missing = ", ".join(fmt_block(b) for b in sorted(mine - real_set)[:5]) or "none"
            extra = ", ".join(fmt_block(b) for b in sorted(real_set - mine)[:5]) or "none"
            dup = len(real) - len(real_set)
            self._fail("free-blocks", f"free blocks differ {when}: the spec has free but the "
                                      f"allocator does not: {missing}; the allocator has free "
                                      f"but the spec does not: {extra}"
                                      + (f"; {dup} block(s) listed twice" if dup else ""))

    def compare_all(self, real_free_blocks: Iterable[Block]) -> None:
        """Compare the whole free-block set with the allocator's ``(pfn, order)`` pairs."""
        self._op = "compare_all"
        self._compare_blocks(real_free_blocks, "at the final comparison")

    def state(self) -> buddy.ZoneState:
        """The shadow as a :class:`kmem.spec.buddy.ZoneState`."""
        return buddy.ZoneState(self.start_pfn, self.end_pfn, frozenset(self.free_blocks.items()),
                               frozenset(self.allocated.items()), self.holes, self.reserved,
                               tuple(self.nr_free), self.free_pages, max_order=self.max_order)


__all__ = ["OracleViolation", "RULES", "ZoneOracle", "fmt_block"]
