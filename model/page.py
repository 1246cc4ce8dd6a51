"""``struct page``: the descriptor of one page frame, created lazily (include/linux/mm_types.h).

Only pages somebody looks at get a descriptor: a 64 GiB machine boots without
creating any. A descriptor keeps what the page API changes (the reference count,
PG_reserved, the kmap address); whether a page is free, a block head or a tail
is the zone's knowledge and is derived from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmem.spec.zones import ZoneType


class Page:
    """One page frame. Compare pages by identity: the machine hands out one object per pfn."""

    __slots__ = ("pfn", "zone", "_refcount", "reserved", "virtual", "_mapcount", "__weakref__")

    def __init__(self, pfn: int, zone: ZoneType | None, refcount: int = 0,
                 reserved: bool = False) -> None:
        self.pfn = pfn
        self.zone = zone
        self._refcount = refcount  # page_ref_count()
        self.reserved = reserved  # PG_reserved: never given to the buddy allocator
        self.virtual: int | None = None  # kmap address of a highmem page while mapped
        self._mapcount = -1  # page_mapcount() - 1, as the kernel stores it

    @property
    def refcount(self) -> int:
        return self._refcount

    def __repr__(self) -> str:
        zone = self.zone.kernel_name if self.zone is not None else "-"
        flags = " reserved" if self.reserved else ""
        return f"<Page pfn {self.pfn:#x} zone {zone} refcount {self._refcount}{flags}>"
