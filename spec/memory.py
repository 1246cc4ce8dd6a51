"""Page contents, stored sparsely: a page nobody wrote reads as zeros.

A data type shared by kmem.model and kmem.fastimpl (both keep page contents this way)."""

from __future__ import annotations

from .constants import PAGE_SIZE
from .errors import InvalidArgument


class PageContents:
    """The bytes of every page frame; only pages holding non-zero data take memory."""

    def __init__(self) -> None:
        self._pages: dict[int, bytearray] = {}

    def read(self, pfn: int, offset: int = 0, length: int = PAGE_SIZE) -> bytes:
        _check_span(offset, length)
        data = self._pages.get(pfn)
        if data is None:
            return bytes(length)
        return bytes(data[offset:offset + length])

    def write(self, pfn: int, offset: int, data: bytes) -> None:
        _check_span(offset, len(data))
        page = self._pages.get(pfn)
        if page is None:
            if not any(data):
                return
            page = self._pages[pfn] = bytearray(PAGE_SIZE)
        page[offset:offset + len(data)] = data

    def fill(self, pfn: int, npages: int, byte: int) -> None:
        """Set every byte of pages [pfn, pfn + npages) to ``byte``."""
        for p in range(pfn, pfn + npages):
            if byte == 0:
                self._pages.pop(p, None)
            else:
                self._pages[p] = bytearray([byte]) * PAGE_SIZE

    def zero(self, pfn: int, npages: int) -> None:
        """``clear_highpage`` over a block (``kernel_init_pages``)."""
        if len(self._pages) < npages:
            for p in [p for p in self._pages if pfn <= p < pfn + npages]:
                del self._pages[p]
        else:
            for p in range(pfn, pfn + npages):
                self._pages.pop(p, None)

    def copy(self, dst: int, src: int) -> None:
        """``copy_highpage``/``copy_user_highpage``."""
        data = self._pages.get(src)
        if data is None:
            self._pages.pop(dst, None)
        else:
            self._pages[dst] = bytearray(data)

    def is_zero(self, pfn: int) -> bool:
        data = self._pages.get(pfn)
        return data is None or not any(data)

    def dirty_pages(self) -> int:
        """How many pages hold stored (possibly non-zero) data."""
        return len(self._pages)


def _check_span(offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > PAGE_SIZE:
        raise InvalidArgument(f"bytes [{offset}, {offset + length}) are outside a "
                              f"{PAGE_SIZE}-byte page")
