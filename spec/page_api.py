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
from typing import Any, Protocol

from . import page_alloc, x86_64_layout
from .constants import PAGE_SHIFT
from .x86_32_layout import maxmem, page_offset
from .zones import MachineLayout, ZoneType

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
