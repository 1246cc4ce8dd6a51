"""The page API under the kernel's names (include/linux/gfp.h, mm/page_alloc.c, 6.x),
written once over a small machine interface (:class:`PageMachine`) that every
implementation provides: :class:`kmem.model.Machine`, :class:`kmem.fastimpl.Machine`
(bare core and whole path) and any machine with the same methods.

This naming is a contract for code outside kmem. Every function takes the machine first
(the kernel's global state), then the kernel's own arguments::

    from kmem.model import Machine, api        # or: from kmem.fastimpl import Machine, api
    from kmem.spec.gfp import GFP_KERNEL
    m = Machine.x86_64(mem_mb=512)
    page = api.alloc_pages(m, GFP_KERNEL, 2)     # struct page *, or None
    addr = api.page_address(m, page)
    api.__free_pages(m, page, 2)

``kmem.model.api`` and ``kmem.fastimpl.api`` are this module. Failures return None (NULL)
or 0 as the kernel does; misuse raises a :class:`~kmem.spec.errors.KernelBug` subclass
and leaves the machine unchanged.

Python mangles ``__name`` inside a class body: there, ``api.__free_pages`` becomes
``api._Class__free_pages``. In methods, bind the function at module level
(``free_pages_of = api.__free_pages``) or use the machine's own methods
(``m.free_pages(page, order)``, ``m.alloc_pages(gfp, order)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from . import gfp as _gfp
from . import page_alloc, x86_64_layout
from .buddy import ZoneState
from .constants import PAGE_SHIFT, PAGE_SIZE
from .errors import BadRange, BadVirtAddr, InvalidArgument
from .memory import PageContents
from .x86_32_layout import maxmem, page_offset
from .zones import MachineLayout, ZoneConfig, ZoneType

GFP_MASK_LIMIT = page_alloc.GFP_MASK_LIMIT


class PageMachine(Protocol):
    """What the page API needs of a machine: its page allocator under Pythonic names.
    ``Page`` is the machine's own descriptor handle (any object with ``pfn`` and
    ``zone``); ``_own(page)`` returns it after checking it belongs to this machine
    (InvalidArgument otherwise)."""

    def alloc_pages(self, gfp: int, order: int = 0) -> Any: ...
    def free_pages(self, page: Any, order: int = 0) -> None: ...
    def get_page(self, page: Any) -> None: ...
    def put_page(self, page: Any) -> None: ...
    def page_count(self, page: Any) -> int: ...
    def page_address(self, page: Any) -> int: ...
    def virt_to_page(self, addr: int) -> Any: ...
    def virt_addr_valid(self, addr: object) -> bool: ...
    def pfn_to_page(self, pfn: int) -> Any: ...
    def _own(self, page: object) -> Any: ...


Machine = PageMachine
Page = Any
_check_gfp = page_alloc.check_gfp

__all__ = [
    "alloc_pages", "alloc_page", "__get_free_pages", "__get_free_page", "get_zeroed_page",
    "__get_dma_pages", "__free_pages", "__free_page", "free_pages", "free_page",
    "page_address", "virt_to_page", "page_to_pfn", "pfn_to_page", "get_page", "put_page",
    "page_count", "page_zone", "virt_addr_valid",
]

def direct_map(node_layouts: Sequence[MachineLayout]) -> tuple[int, int]:
    """(PAGE_OFFSET, the first pfn past the direct map) of a machine of these nodes, which
    ``page_address``, ``virt_to_page`` and ``virt_addr_valid`` use. x86-32: PAGE_OFFSET of
    CONFIG_VMSPLIT_*, lowmem up to MAXMEM (:func:`kmem.spec.x86_32_layout.maxmem`; above
    it HIGHMEM, mapped only by kmap); x86-64 (and the generic machine, and any machine of
    several nodes): all memory at ``__PAGE_OFFSET_BASE_L4``
    (:mod:`kmem.spec.x86_64_layout`)."""
    layout = node_layouts[0]
    if len(node_layouts) == 1 and layout.arch == "x86_32":
        vmsplit = layout.vmsplit or "3G"
        return (page_offset(vmsplit),
                min(layout.max_pfn, maxmem(vmsplit, layout.era or "modern") >> PAGE_SHIFT))
    return x86_64_layout.PAGE_OFFSET, max(n.max_pfn for n in node_layouts)


_GFP_ZERO = page_alloc.GFP_ZERO_BIT
_GFP_DMA = 0x01  # __GFP_DMA (include/linux/gfp_types.h)
#: where ZERO_PAGE comes from in kmem: one lowmem page, zeroed (the kernel's is
#: ``empty_zero_page`` in the kernel image, arch/x86/include/asm/pgtable.h)
_ZERO_PAGE_GFP = _gfp.GFP_KERNEL | page_alloc.GFP_ZERO_BIT | page_alloc.GFP_NOWARN_BIT

_Z = TypeVar("_Z")
_P = TypeVar("_P")


class MachinePages(Generic[_Z, _P]):
    """The address and pfn rules every machine shares, written once: the model's
    :class:`kmem.model.Machine`, fastimpl's bare core and its whole path inherit them.

    The machine provides ``zones`` (in pfn order, each with ``start_pfn``, ``end_pfn``
    and ``ztype``), ``node_layouts``, ``config`` (its :class:`~kmem.spec.zones.ZoneConfig`),
    ``memory`` (:class:`~kmem.spec.memory.PageContents`), ``alloc_pages``,
    ``pfn_to_page`` and ``_own`` (:class:`PageMachine`); its pages have ``pfn``,
    ``virtual`` and ``reserved``. ``page_offset`` and ``max_low_pfn`` are set here
    (:func:`direct_map`)."""

    zones: Sequence[_Z]
    node_layouts: tuple[MachineLayout, ...]
    config: ZoneConfig
    memory: PageContents
    page_offset: int
    max_low_pfn: int
    _zero_page: _P | None

    if TYPE_CHECKING:
        def alloc_pages(self, gfp: int, order: int = 0) -> _P | None: ...
        def pfn_to_page(self, pfn: int) -> _P: ...
        def _own(self, page: object) -> _P: ...

    def _direct_map_setup(self) -> None:
        self.page_offset, self.max_low_pfn = direct_map(self.node_layouts)

    def zone_of(self, pfn: object) -> _Z | None:
        """The zone whose span holds ``pfn`` (``page_zone``), or None (also for a non-int)."""
        if isinstance(pfn, bool) or not isinstance(pfn, int):
            return None
        for zone in self.zones:
            if zone.start_pfn <= pfn < zone.end_pfn:  # type: ignore[attr-defined]
                return zone
        return None

    def _valid_zone(self, pfn: int) -> _Z:
        """``pfn``'s zone; BadRange where ``pfn_to_page`` has no page (``pfn_valid``)."""
        zone = self.zone_of(pfn)
        if zone is None:
            raise BadRange(f"pfn {pfn!r} is not valid on this machine (pfn_valid() is false; "
                           f"max_pfn is {self.node_layouts[0].max_pfn:#x})")
        return zone

    def pfn_valid(self, pfn: object) -> bool:
        """``pfn_valid`` (6.12 include/linux/mmzone.h:2026, SPARSEMEM): the pfn has a
        struct page; kmem gives one to every pfn a zone spans."""
        return self.zone_of(pfn) is not None

    def is_highmem_pfn(self, pfn: int) -> bool:
        """Not in the direct map (``PageHighMem``): at or above max_low_pfn."""
        return pfn >= self.max_low_pfn

    def virt_addr_valid(self, addr: object) -> bool:
        """``virt_addr_valid(addr)`` (6.x arch/x86/mm/physaddr.c ``__virt_addr_valid``):
        a direct-map address of a valid, lowmem pfn."""
        if isinstance(addr, bool) or not isinstance(addr, int) or addr < self.page_offset:
            return False
        pfn = (addr - self.page_offset) >> PAGE_SHIFT
        return pfn < self.max_low_pfn and self.pfn_valid(pfn)

    def page_address(self, page: _P) -> int:
        """``page_address`` (6.x mm/highmem.c; ``lowmem_page_address``, include/linux/mm.h):
        the direct-map address; a highmem page has one only while kmapped
        (``page.virtual``), else 0 (NULL)."""
        page = self._own(page)
        pfn: int = page.pfn  # type: ignore[attr-defined]
        if self.is_highmem_pfn(pfn):
            return page.virtual or 0  # type: ignore[attr-defined]
        return self.page_offset + (pfn << PAGE_SHIFT)

    def virt_to_page(self, addr: int) -> _P:
        """``virt_to_page`` (6.x arch/x86/include/asm/page.h: ``pfn_to_page(__pa(addr) >>
        PAGE_SHIFT)``) for a direct-map address (others raise BadVirtAddr)."""
        if not self.virt_addr_valid(addr):
            raise BadVirtAddr(f"{addr!r} is not a direct-map address of this machine "
                              f"(virt_addr_valid() is false)")
        return self.pfn_to_page((addr - self.page_offset) >> PAGE_SHIFT)

    # -- page contents -------------------------------------------------------------------
    def _check_pfn(self, pfn: int) -> None:
        if not self.pfn_valid(pfn):
            raise BadRange(f"pfn {pfn!r} is not valid on this machine")

    def read_page(self, pfn: int, offset: int = 0, length: int = PAGE_SIZE) -> bytes:
        self._check_pfn(pfn)
        return self.memory.read(pfn, offset, length)

    def write_page(self, pfn: int, offset: int, data: bytes) -> None:
        self._check_pfn(pfn)
        self.memory.write(pfn, offset, bytes(data))

    def copy_page(self, dst_pfn: int, src_pfn: int) -> None:
        self._check_pfn(dst_pfn)
        self._check_pfn(src_pfn)
        self.memory.copy(dst_pfn, src_pfn)

    def zero_page(self) -> _P:
        """ZERO_PAGE: one shared, always-zero page; taken from lowmem on first use and
        marked reserved (the kernel's lives in the kernel image)."""
        if self._zero_page is None:
            page = self.alloc_pages(_ZERO_PAGE_GFP, 0)
            if page is None:
                raise InvalidArgument("no lowmem page left for the zero page")
            page.reserved = True  # type: ignore[attr-defined]
            self._zero_page = page
        return self._zero_page

    # -- zones -----------------------------------------------------------------------------
    def zone(self, ztype: ZoneType) -> _Z:
        return self.zones[self.config.idx(ztype)]

    def state(self) -> tuple[ZoneState, ...]:
        """The abstract state of every zone (for :mod:`kmem.spec.buddy`'s invariants)."""
        return tuple(z.state() for z in self.zones)  # type: ignore[attr-defined]

    @property
    def free_pages_total(self) -> int:
        return sum(z.free_pages for z in self.zones)  # type: ignore[attr-defined]


def alloc_pages(m: Machine, gfp: int, order: int) -> Page | None:
    """``alloc_pages(gfp, order)``: the first page of 2**order contiguous pages, or None."""
    return m.alloc_pages(gfp, order)


def alloc_page(m: Machine, gfp: int) -> Page | None:
    """``alloc_page(gfp)`` = ``alloc_pages(gfp, 0)``."""
    return m.alloc_pages(gfp, 0)


def __get_free_pages(m: Machine, gfp: int, order: int) -> int:
    """``__get_free_pages(gfp, order)``: the block's kernel virtual address, or 0.

    6.x strips __GFP_HIGHMEM silently, so the page always has a direct-map address.
    """
    page = m.alloc_pages(page_alloc.get_free_pages_gfp(_check_gfp(gfp)), order)
    return 0 if page is None else m.page_address(page)


def __get_free_page(m: Machine, gfp: int) -> int:
    """``__get_free_page(gfp)`` = ``__get_free_pages(gfp, 0)``."""
    return __get_free_pages(m, gfp, 0)


def get_zeroed_page(m: Machine, gfp: int) -> int:
    """``get_zeroed_page(gfp)`` = ``__get_free_pages(gfp | __GFP_ZERO, 0)``."""
    return __get_free_pages(m, _check_gfp(gfp) | _GFP_ZERO, 0)


def __get_dma_pages(m: Machine, gfp: int, order: int) -> int:
    """``__get_dma_pages(gfp, order)`` = ``__get_free_pages(gfp | GFP_DMA, order)``."""
    return __get_free_pages(m, _check_gfp(gfp) | _GFP_DMA, order)


def __free_pages(m: Machine, page: Page, order: int) -> None:
    """``__free_pages(page, order)``: drop a reference; free the block when it was the last."""
    m.free_pages(page, order)


def __free_page(m: Machine, page: Page) -> None:
    """``__free_page(page)`` = ``__free_pages(page, 0)``."""
    m.free_pages(page, 0)


def free_pages(m: Machine, addr: int, order: int) -> None:
    """``free_pages(addr, order)``: ``free_pages(0, order)`` is a no-op; an address outside
    the direct map is ``VM_BUG_ON(!virt_addr_valid(addr))`` (BadVirtAddr)."""
    if addr == 0:
        return
    m.free_pages(m.virt_to_page(addr), order)


def free_page(m: Machine, addr: int) -> None:
    """``free_page(addr)`` = ``free_pages(addr, 0)``."""
    free_pages(m, addr, 0)


def page_address(m: Machine, page: Page) -> int:
    """``page_address(page)``: the kernel virtual address, 0 for an unmapped highmem page."""
    return m.page_address(page)


def virt_to_page(m: Machine, addr: int) -> Page:
    """``virt_to_page(addr)`` for a direct-map address."""
    return m.virt_to_page(addr)


def virt_addr_valid(m: Machine, addr: int) -> bool:
    """``virt_addr_valid(addr)``: a direct-map address of a valid page."""
    return m.virt_addr_valid(addr)


def page_to_pfn(m: Machine, page: Page) -> int:
    """``page_to_pfn(page)``."""
    return m._own(page).pfn


def pfn_to_page(m: Machine, pfn: int) -> Page:
    """``pfn_to_page(pfn)`` (BadRange if ``pfn_valid`` is false)."""
    return m.pfn_to_page(pfn)


def get_page(m: Machine, page: Page) -> None:
    """``get_page(page)``: take a reference."""
    m.get_page(page)


def put_page(m: Machine, page: Page) -> None:
    """``put_page(page)``: drop a reference; the last one frees the page."""
    m.put_page(page)


def page_count(m: Machine, page: Page) -> int:
    """``page_count(page)``: the reference count (of the head, for a compound tail)."""
    return m.page_count(page)


def page_zone(m: Machine, page: Page) -> ZoneType:
    """``page_zone(page)``: the zone type the page belongs to."""
    zone = m._own(page).zone
    assert zone is not None
    return zone
