"""Free lists: ``free_area[order].free_list`` under the model's two choice policies.

- ``"lowest"`` (:class:`LowestFirstList`): the canonical policy, identical to the C
  reference in the benchmark suite: allocation takes the lowest-addressed free block;
  where a block is put back (head or tail) does not matter.
- ``"linux"`` (:class:`KernelList`): a doubly linked list with the kernel's head/tail
  discipline (``list_add`` / ``list_add_tail``, ``__rmqueue_smallest`` takes the head).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

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

    def __iter__(self) -> Iterator[int]:
        """Members from head to tail."""
        pfn = self._next[_HEAD]
        while pfn != _HEAD:
            yield pfn
            pfn = self._next[pfn]


POLICIES = {"lowest": LowestFirstList, "linux": KernelList}


def free_list_class(policy: str) -> type[LowestFirstList] | type[KernelList]:
    """The free-list type of a choice policy (``"lowest"`` or ``"linux"``)."""
    try:
        return POLICIES[policy]
    except KeyError:
        raise InvalidArgument(
            f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}") from None
