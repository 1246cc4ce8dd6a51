"""A step-by-step oracle for any buddy allocator over one zone, built on :mod:`kmem.spec.buddy`.

The oracle keeps a shadow of the abstract state (free blocks by pfn, allocated
blocks) and moves it only by the spec's transitions. Feed it every operation
your allocator performs, *after* it happened::

    from kmem.fuzz.oracle import ZoneOracle
    oracle = ZoneOracle(0, 1 << 20, rule="linux")
    pfn = my_alloc(order)
    oracle.alloc(order, pfn)          # None/-1 for a failed allocation
    my_free(pfn, order)
    oracle.free(pfn, order)

Each call checks that the result is legal under the chosen rule and raises
:class:`OracleViolation` with a precise message when it is not. Pass
``counters=`` a function returning the allocator's real ``(free_pages, nr_free)``
and ``is_free_block=`` a function ``(pfn, order) -> bool`` to compare the shadow with the real state at
every step (the touched blocks and the counters), and call :meth:`compare_all`
with the real free blocks now and then for a full comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kmem.spec import buddy
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import InvalidArgument, KmemError

RULES = ("linux", "weak")


class OracleViolation(KmemError):
    """The allocator under test did something the spec does not allow."""


class ZoneOracle:
    """The spec's view of one zone, advanced by the spec's transitions.

    ``rule="linux"``: an allocation must return the start of a free block of the
    smallest order that has one, keeping the lower part (``__rmqueue_smallest`` +
    ``expand``). ``rule="weak"``: any naturally aligned, wholly free block of the
    requested order. Failure is legal only when no free block of order >= the
    request exists. Frees must follow ``__free_one_page``'s merging.
    """

    def __init__(self, start_pfn: int, end_pfn: int, *, holes: tuple[tuple[int, int], ...] = (),
                 reserved: tuple[tuple[int, int], ...] = (), rule: str = "linux",
                 is_free_block: Callable[[int, int], bool] | None = None,
                 counters: Callable[[], tuple[int, tuple[int, ...]]] | None = None) -> None:
        if rule not in RULES:
            raise InvalidArgument(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
        self.rule = rule
        boot = buddy.boot_state(start_pfn, end_pfn, holes, reserved)
        self.start_pfn, self.end_pfn = start_pfn, end_pfn
        self.holes, self.reserved = boot.holes, boot.reserved
        self.free_blocks: dict[int, int] = dict(boot.free)
        self.allocated: dict[int, int] = {}
        self.nr_free = list(boot.nr_free)
        self.free_pages = boot.free_pages
        self.steps = 0
        self._real_is_free = is_free_block
        self._real_counters = counters

    # -- shadow edits ---------------------------------------------------------------------
    def _is_free(self, pfn: int, order: int) -> bool:
        return self.free_blocks.get(pfn) == order

    def _add(self, pfn: int, order: int) -> None:
        self.free_blocks[pfn] = order
        self.nr_free[order] += 1
        self.free_pages += 1 << order

    def _del(self, pfn: int, order: int) -> None:
        del self.free_blocks[pfn]
        self.nr_free[order] -= 1
        self.free_pages -= 1 << order

    def _fail(self, message: str) -> None:
        raise OracleViolation(f"step {self.steps}: {message}")

    # -- operations ---------------------------------------------------------------------------
    def alloc(self, order: int, pfn: int | None) -> None:
        """Check and record ``alloc(order) -> pfn`` (None or a negative pfn = failed)."""
        self.steps += 1
        if not 0 <= order <= MAX_PAGE_ORDER:
            self._fail(f"alloc order {order} outside 0..{MAX_PAGE_ORDER}")
        source = buddy.rmqueue_smallest_order(lambda o: self.nr_free[o], order)
        if pfn is None or pfn < 0:
            if source is not None:
                self._fail(f"alloc(order {order}) failed although a free block of order "
                           f"{source} exists")
            return
        if not buddy.is_aligned(pfn, order):
            self._fail(f"alloc(order {order}) returned pfn {pfn:#x}, not aligned to "
                       f"{1 << order} pages")
        block = buddy.containing_free_block(self._is_free, pfn, order)
        if block is None:
            self._fail(f"alloc(order {order}) returned pfn {pfn:#x}, which is not wholly free")
            return
        if self.rule == "linux" and block != (pfn, source):
            self._fail(f"alloc(order {order}) returned pfn {pfn:#x} from free block {block}, "
                       f"but the Linux rule takes the start of a block of order {source} "
                       f"(the smallest non-empty order)")
        self._del(*block)
        rest = buddy.split_around(block, pfn, order)
        for p, o in rest:
            self._add(p, o)
        self.allocated[pfn] = order
        self._compare([(pfn, order), *rest])

    def free(self, pfn: int, order: int) -> None:
        """Check and record ``free(pfn, order)``."""
        self.steps += 1
        if self.allocated.get(pfn) != order:
            self._fail(f"free(pfn {pfn:#x}, order {order}) of a block that is not allocated "
                       f"at that order (allocated: {self.allocated.get(pfn)})")
        delta = buddy.free_one_page_delta(self._is_free, pfn, order)
        del self.allocated[pfn]
        for p, o in delta.merged:
            self._del(p, o)
        self._add(*delta.result)
        self._compare([*delta.merged, delta.result])

    # -- comparison with the real allocator ---------------------------------------------------
    def _compare(self, touched: Iterable[tuple[int, int]]) -> None:
        if self._real_is_free is not None:
            for p, o in touched:
                want = self._is_free(p, o)
                if self._real_is_free(p, o) != want:
                    self._fail(f"block ({p:#x}, order {o}) should {'' if want else 'not '}"
                               f"be free after this step")
        if self._real_counters is not None:
            free_pages, nr_free = self._real_counters()
            if free_pages != self.free_pages or tuple(nr_free) != tuple(self.nr_free):
                self._fail(f"counters differ: allocator has free_pages {free_pages}, nr_free "
                           f"{tuple(nr_free)}; the spec has {self.free_pages}, "
                           f"{tuple(self.nr_free)}")

    def compare_all(self, real_free_blocks: Iterable[tuple[int, int]]) -> None:
        """Compare the whole free-block set with the allocator's."""
        real = dict(real_free_blocks)
        if real != self.free_blocks:
            missing = sorted(set(self.free_blocks.items()) - set(real.items()))[:5]
            extra = sorted(set(real.items()) - set(self.free_blocks.items()))[:5]
            self._fail(f"free blocks differ: missing {missing}, unexpected {extra}")

    def state(self) -> buddy.ZoneState:
        """The shadow as a :class:`kmem.spec.buddy.ZoneState`."""
        return buddy.ZoneState(self.start_pfn, self.end_pfn, frozenset(self.free_blocks.items()),
                               frozenset(self.allocated.items()), self.holes, self.reserved,
                               tuple(self.nr_free), self.free_pages)


__all__ = ["OracleViolation", "RULES", "ZoneOracle"]
