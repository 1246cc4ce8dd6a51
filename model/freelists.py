"""Free lists: ``free_area[order].free_list`` under the model's two choice policies.

- ``"lowest"`` (:class:`LowestFirstList`): the canonical policy, identical to the C
  reference in the benchmark suite: allocation takes the lowest-addressed free block;
  where a block is put back (head or tail) does not matter.
- ``"linux"`` (:class:`KernelList`): a doubly linked list with the kernel's head/tail
  discipline (``list_add`` / ``list_add_tail``, ``__rmqueue_smallest`` takes the head).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator

from kmem.spec.errors import InvalidArgument


class LowestFirstList:
    """A set of free block pfns that hands out its lowest member first.

    A binary heap gives the lowest pfn; a set says which heap entries are still
    members (removal is lazy: a removed pfn stays in the heap until it surfaces).
    """

    __slots__ = ("_heap", "_members")

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._members: set[int] = set()

    def add(self, pfn: int, to_tail: bool = False) -> None:
        self._members.add(pfn)
        heapq.heappush(self._heap, pfn)

    def remove(self, pfn: int) -> None:
        self._members.remove(pfn)
        if len(self._heap) > 64 + 4 * len(self._members):  # drop stale entries now and then
            self._heap = sorted(self._members)

    def first(self) -> int:
        heap, members = self._heap, self._members
        while heap[0] not in members:
            heapq.heappop(heap)
        return heap[0]

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, pfn: int) -> bool:
        return pfn in self._members

    def __iter__(self) -> Iterator[int]:
        """Members in the order they would be handed out."""
        return iter(sorted(self._members))


_HEAD = -1  # the list_head sentinel


class KernelList:
    """``struct list_head`` as the kernel uses it: O(1) add at head or tail, O(1) delete."""

    __slots__ = ("_next", "_prev")

    def __init__(self) -> None:
        self._next: dict[int, int] = {_HEAD: _HEAD}
        self._prev: dict[int, int] = {_HEAD: _HEAD}

    def add(self, pfn: int, to_tail: bool = False) -> None:
        """``list_add`` (head) or ``list_add_tail``."""
        if to_tail:
            prev, nxt = self._prev[_HEAD], _HEAD
        else:
            prev, nxt = _HEAD, self._next[_HEAD]
        self._next[prev] = pfn
        self._prev[pfn] = prev
        self._next[pfn] = nxt
        self._prev[nxt] = pfn

    def remove(self, pfn: int) -> None:
        """``list_del``."""
        prev = self._prev.pop(pfn)
        nxt = self._next.pop(pfn)
        self._next[prev] = nxt
        self._prev[nxt] = prev

    def first(self) -> int:
        """``list_first_entry``; the caller checks the list is not empty."""
        return self._next[_HEAD]

    def last(self) -> int:
        """``list_last_entry``; the caller checks the list is not empty."""
        return self._prev[_HEAD]

    def __len__(self) -> int:
        return len(self._next) - 1

    def __contains__(self, pfn: int) -> bool:
        return pfn != _HEAD and pfn in self._next

    def as_tuple(self) -> tuple[int, ...]:
        """Members from head to tail, as a tuple (the fuzzers' fingerprints)."""
        nxt = self._next
        if len(nxt) == 1:
            return ()
        out = []
        pfn = nxt[_HEAD]
        while pfn != _HEAD:
            out.append(pfn)
            pfn = nxt[pfn]
        return tuple(out)

    def __iter__(self) -> Iterator[int]:
        """Members from head to tail."""
        pfn = self._next[_HEAD]
        while pfn != _HEAD:
            yield pfn
            pfn = self._next[pfn]


def as_tuples(lists: Iterable[KernelList]) -> tuple[tuple[int, ...], ...]:
    """Each of ``lists`` from head to tail (:meth:`KernelList.as_tuple`), in one pass."""
    out: list[tuple[int, ...]] = []
    for lst in lists:
        nxt = lst._next
        if len(nxt) == 1:
            out.append(())
            continue
        members = []
        pfn = nxt[_HEAD]
        while pfn != _HEAD:
            members.append(pfn)
            pfn = nxt[pfn]
        out.append(tuple(members))
    return tuple(out)


def nonempty_mask(lists: list[KernelList]) -> int:
    """A bit mask of the non-empty lists among ``lists`` (bit i: ``lists[i]``); an empty
    list's links hold only the sentinel."""
    mask = 0
    for i, lst in enumerate(lists):
        if len(lst._next) > 1:
            mask |= 1 << i
    return mask


POLICIES: dict[str, type[LowestFirstList | KernelList]] = {"lowest": LowestFirstList,
                                                            "linux": KernelList}


def free_list_class(policy: str) -> type[LowestFirstList | KernelList]:
    """The free-list type of a choice policy (``"lowest"`` or ``"linux"``)."""
    try:
        return POLICIES[policy]
    except KeyError:
        raise InvalidArgument(
            f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}") from None


class BlockRuns:
    """Free blocks of one order kept as ascending runs of consecutive blocks, not one by one.

    Boot frees every managed range in MAX_PAGE_ORDER chunks, ascending, to the list
    tail (:func:`kmem.spec.buddy.free_pages_memory_runs`); a zone keeps those blocks
    here until they are handed out, so boot costs the same for 16 MB as for 64 TB.
    The runs stand for the *tail* of ``free_area[order].free_list`` in ascending
    order: the kernel's list after boot, where allocation reaches them only when the
    blocks before them are gone.
    """

    __slots__ = ("_starts", "_ends", "_count", "step")

    def __init__(self, order: int) -> None:
        self.step = 1 << order
        self._starts: list[int] = []  # run i is pfns _starts[i], +step, ..., < _ends[i]
        self._ends: list[int] = []
        self._count = 0

    def append(self, first: int, count: int) -> None:
        """Add ``count`` blocks from ``first`` after every block already here."""
        if count <= 0:
            return
        if self._ends and first < self._ends[-1]:
            raise InvalidArgument(f"run at pfn {first:#x} is not above the last run")
        if self._ends and first == self._ends[-1]:
            self._ends[-1] += count * self.step
        else:
            self._starts.append(first)
            self._ends.append(first + count * self.step)
        self._count += count

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def _run_of(self, pfn: int) -> int:
        i = bisect.bisect_right(self._starts, pfn) - 1
        if i >= 0 and pfn < self._ends[i] and (pfn - self._starts[i]) % self.step == 0:
            return i
        return -1

    def __contains__(self, pfn: object) -> bool:
        return isinstance(pfn, int) and self._count > 0 and self._run_of(pfn) >= 0

    def first(self) -> int:
        """The lowest block; the caller checks there is one."""
        return self._starts[0]

    def remove(self, pfn: int) -> None:
        """Take block ``pfn`` out, splitting its run (KeyError if it is not here)."""
        i = self._run_of(pfn)
        if i < 0:
            raise KeyError(pfn)
        start, end = self._starts[i], self._ends[i]
        if pfn == start:
            self._starts[i] = start + self.step
        elif pfn + self.step == end:
            self._ends[i] = pfn
        else:
            self._ends[i] = pfn
            self._starts.insert(i + 1, pfn + self.step)
            self._ends.insert(i + 1, end)
        if self._starts[i] == self._ends[i]:
            del self._starts[i], self._ends[i]
        self._count -= 1

    def __iter__(self) -> Iterator[int]:
        """Every block, ascending (the list order)."""
        for start, end in zip(self._starts, self._ends, strict=True):
            yield from range(start, end, self.step)
