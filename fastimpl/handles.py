"""The page handles of fastimpl's two machines (the bare core, ``machine.py``, and the
whole path, ``mt_machine.py``), written once.

A handle is ``struct page *``: one object per pfn of one machine, created the first time
the machine hands the pfn out and returned ever after (as the kernel's pointers and the
model's pages are), so ``is`` and ``==`` agree. The descriptor itself (refcount, flags)
lives in the machine's arrays; each machine's :class:`PageHandle` subclass reads them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from kmem.spec.page_api import MachinePages
from kmem.spec.zones import ZoneType

_Z = TypeVar("_Z")
_P = TypeVar("_P", bound="PageHandle")


class PageHandle:
    """The handle on one pfn of one machine (``m``); the subclass reads ``refcount`` and
    ``reserved`` from its machine's arrays."""

    __slots__ = ("pfn", "_m")

    def __init__(self, m: Any, pfn: int) -> None:
        self.pfn = pfn
        self._m = m

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and other.pfn == self.pfn
                and other._m is self._m)

    def __hash__(self) -> int:
        return hash((id(self._m), self.pfn))

    @property
    def refcount(self) -> int:
        """``page_ref_count`` of this page (not of its folio)."""
        raise NotImplementedError

    @property
    def reserved(self) -> bool:
        """PG_reserved."""
        raise NotImplementedError

    @property
    def zone(self) -> ZoneType | None:
        z = self._m.zone_of(self.pfn)
        return None if z is None else z.ztype

    @property
    def virtual(self) -> int | None:
        """The kmap address of a highmem page while mapped."""
        return self._m._virtual.get(self.pfn)

    @virtual.setter
    def virtual(self, value: int | None) -> None:
        if value is None:
            self._m._virtual.pop(self.pfn, None)
        else:
            self._m._virtual[self.pfn] = value

    def __repr__(self) -> str:
        zone = self.zone
        name = zone.kernel_name if zone is not None else "-"
        flags = " reserved" if self.reserved else ""
        return f"<Page pfn {self.pfn:#x} zone {name} refcount {self.refcount}{flags}>"


class FastMachinePages(MachinePages[_Z, _P]):
    """:class:`kmem.spec.page_api.MachinePages` with ``pfn_to_page`` over handles kept in
    a list indexed by pfn (``_pages``, made at boot: 8 bytes per pfn, plus about 80 per
    handle created). The machine sets ``_npfn`` and ``_Page``, its
    :class:`PageHandle` subclass."""

    _Page: type[_P]
    _npfn: int
    _pages: list[_P | None]

    def pfn_to_page(self, pfn: int) -> _P:
        """``pfn_to_page``: a handle on ``pfn`` (BadRange if ``pfn_valid`` is false)."""
        self._valid_zone(pfn)
        return self._page(int(pfn))

    def _page(self, pfn: int) -> _P:
        """The handle of ``pfn`` (valid), created on first use and kept for good."""
        pages = self._pages
        page = pages[pfn]
        if page is None:
            page = pages[pfn] = self._Page(self, pfn)
        return page
