"""Adapters: how kmem's checkers talk to an allocator that is not kmem's own.

An allocator under test is anything with the two methods of :class:`Allocator`;
two more are optional (:class:`FreeBlockDump`, :class:`Resettable`)::

    class MyAllocator:
        def alloc(self, order: int, gfp: int = 0) -> int | None: ...   # pfn, or None
        def free(self, pfn: int, order: int) -> None: ...
        def free_blocks(self) -> list[tuple[int, int]] | None: ...     # optional
        def reset(self, config: ZoneConfig) -> None: ...                # optional

Checking is by refinement (:class:`kmem.fuzz.oracle.ZoneOracle`): kmem accepts
any legal choice the allocator makes and follows it, so an allocator with another
policy (LIFO lists, trees, bitmaps) can be checked. Pfns are page indexes in the
allocator's zone (0 = the first page of the arena, reserved pages included);
:class:`ZoneConfig` says how large the zone is, its top order and how many pages
at its start are not the allocator's to hand out.

:class:`kmem.fuzz.adapters.process.SubprocessAllocator` runs a program in any
language that speaks the line protocol of ``docs/line-protocol.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kmem.spec.constants import MAX_PAGE_ORDER, PAGE_SIZE
from kmem.spec.errors import InvalidArgument, KmemError

Block = tuple[int, int]  # (pfn, order)
UNITS = ("pages", "bytes")


@dataclass(frozen=True)
class ZoneConfig:
    """One zone as the allocator under test sees it.

    ``npages``: pages in the arena (any positive number, not only powers of two);
    ``max_order``: the allocator's largest block is ``2**max_order`` pages (any value
    >= 0; kmem's own default is MAX_PAGE_ORDER = 10); ``reserved``: pages at the start
    of the arena that are never handed out (the allocator's metadata, say);
    ``unit``: whether the allocator speaks in page numbers or byte addresses;
    ``page_size``: bytes per page when ``unit == "bytes"``.
    """

    npages: int
    max_order: int = MAX_PAGE_ORDER
    reserved: int = 0
    unit: str = "pages"
    page_size: int = PAGE_SIZE

    def __post_init__(self) -> None:
        for name in ("npages", "max_order", "reserved", "page_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"ZoneConfig.{name} must be an int, got {value!r}")
        if self.npages <= 0:
            raise InvalidArgument(f"npages must be positive, got {self.npages}")
        if self.max_order < 0:
            raise InvalidArgument(f"max_order must be >= 0, got {self.max_order}")
        if not 0 <= self.reserved < self.npages:
            raise InvalidArgument(f"reserved must be in 0..npages-1 ({self.npages - 1}), "
                                  f"got {self.reserved}")
        if self.unit not in UNITS:
            raise InvalidArgument(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.page_size <= 0:
            raise InvalidArgument(f"page_size must be positive, got {self.page_size}")

    @property
    def reserved_ranges(self) -> tuple[tuple[int, int], ...]:
        """The reserved pages as the spec's pfn ranges."""
        return ((0, self.reserved),) if self.reserved else ()

    def describe(self) -> str:
        text = f"{self.npages} pages, max order {self.max_order}"
        if self.reserved:
            text += f", {self.reserved} reserved at the start"
        if self.unit == "bytes":
            text += f", byte addresses ({self.page_size}-byte pages)"
        return text


@runtime_checkable
class Allocator(Protocol):
    """The two operations every allocator under test provides."""

    def alloc(self, order: int, gfp: int = 0) -> int | None:
        """Allocate ``2**order`` pages; the first pfn, or None when the allocator fails."""
        ...

    def free(self, pfn: int, order: int) -> None:
        """Free the block of ``2**order`` pages at ``pfn`` (one that ``alloc`` returned)."""
        ...


@runtime_checkable
class FreeBlockDump(Protocol):
    """Optional: the allocator's free blocks, so its merging can be checked at every step."""

    def free_blocks(self) -> list[Block] | None:
        """Every free block as ``(pfn, order)``, each order's blocks in the order the
        allocator would hand them out; None when this allocator cannot tell."""
        ...


@runtime_checkable
class Resettable(Protocol):
    """Optional: start over with a fresh arena of this configuration."""

    def reset(self, config: ZoneConfig) -> None:
        ...


class AdapterError(KmemError):
    """The allocator under test misbehaved in a way that is not a wrong result: it crashed,
    hung, or broke the protocol. When kmem is checking, these are findings."""

    kind = "adapter"


class SetupError(KmemError):
    """The allocator program cannot be used as set up: it does not start (no such file,
    not executable), exits or answers something other than ``ok`` to ``init`` (it refuses
    the geometry, prints a banner), or says nothing within the start-up limit. Not a
    finding about the allocator: ``kmem check`` reports it with exit status 2."""


def free_blocks_of(allocator: object) -> list[Block] | None:
    """The allocator's free-block dump, or None when it offers none."""
    if isinstance(allocator, FreeBlockDump):
        return allocator.free_blocks()
    return None


__all__ = ["AdapterError", "Allocator", "Block", "FreeBlockDump", "Resettable", "SetupError",
           "UNITS", "ZoneConfig", "free_blocks_of"]
