"""Highmem mappings: persistent kmaps on the PKMAP window and kmap_local slots (mm/highmem.c).

``kmap``/``kunmap`` follow ``kmap_high``/``kunmap_high`` (mm/highmem.c, 6.x, the
same scheme as 2.6.11): LAST_PKMAP slots at ``PKMAP_ADDR(nr)``, a use count per
slot (``pkmap_count``: 0 free, 1 unmapped but not yet flushed, n > 1 mapped
n - 1 times), a rotating search from ``last_pkmap_nr`` and, on wrap-around,
``flush_all_zero_pkmaps`` which frees every slot whose count is 1. While a page
is mapped, ``page_address`` answers its PKMAP address (``page.virtual``); after
the last ``kunmap`` it keeps answering it until the slot is flushed, as in the
kernel. ``kmap_local_page`` uses a small per-CPU stack of fixmap slots
(``KM_MAX_IDX``) that must be released in reverse order.

The PKMAP window and fixmap come from :mod:`kmem.spec.x86_32_layout` (2.6.11
formulas, the same MAXMEM as the machine's zones). On a machine without highmem
(x86-64) every page is in the direct map and these functions return its address.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument, KernelBug
from kmem.spec.x86_32_layout import X86_32Layout, layout

from .machine import Machine
from .page import Page

KM_MAX_IDX = 16  # include/linux/highmem-internal.h (without CONFIG_DEBUG_KMAP_LOCAL)
FIX_KMAP_BEGIN = 2  # 2.6.11 fixmap.h with CONFIG_HIGHMEM only: after FIX_HOLE, FIX_VSYSCALL


class PkmapFull(KernelBug):
    """Every PKMAP slot is in use: ``kmap_high`` would sleep until someone calls kunmap.

    The model runs one task, so nobody could ever wake it: reported instead of hanging.
    """


class KunmapUnmapped(KernelBug):
    """``kunmap`` of a highmem page that is not kmapped (kunmap_high's ``BUG_ON(!vaddr)``
    or its ``BUG()`` on a zero count)."""


class KmapLocalMisuse(KernelBug):
    """kmap_local slots exhausted (``BUG_ON(idx >= KM_MAX_IDX)``) or released out of order."""


@dataclass
class _HighmemState:
    lay: X86_32Layout | None
    pkmap_count: list[int]
    pkmap_page: list[Page | None]
    last_pkmap_nr: int = 0
    local_stack: list[Page] = field(default_factory=list)
    flushes: int = 0


_STATE: weakref.WeakKeyDictionary[Machine, _HighmemState] = weakref.WeakKeyDictionary()


def _state(m: Machine) -> _HighmemState:
    st = _STATE.get(m)
    if st is None:
        lay = (layout(m.layout.vmsplit or "3G", m.layout.era or "modern")
               if m.layout.arch == "x86_32" else None)
        n = lay.last_pkmap if lay is not None else 0
        st = _STATE[m] = _HighmemState(lay, [0] * n, [None] * n)
    return st


def PageHighMem(m: Machine, page: Page) -> bool:  # noqa: N802 (kernel name)
    """``PageHighMem(page)``: the page is not in the direct map."""
    return m.is_highmem_pfn(m._own(page).pfn)


def _flush_all_zero_pkmaps(st: _HighmemState) -> None:
    """flush_all_zero_pkmaps(): free slots whose count is 1 and clear their page_address."""
    st.flushes += 1
    for nr, count in enumerate(st.pkmap_count):
        if count != 1:
            continue
        st.pkmap_count[nr] = 0
        page = st.pkmap_page[nr]
        assert page is not None
        page.virtual = None  # set_page_address(page, NULL)
        st.pkmap_page[nr] = None


def kmap(m: Machine, page: Page) -> int:
    """``kmap(page)``: lowmem -> page_address; highmem -> a PKMAP slot (``kmap_high``).

    Raises :class:`PkmapFull` when all LAST_PKMAP slots are mapped.
    """
    page = m._own(page)
    if not PageHighMem(m, page):
        return m.page_address(page)
    st = _state(m)
    assert st.lay is not None and st.lay.pkmap_base is not None
    if page.virtual is not None:  # already mapped (or awaiting flush): reuse its slot
        nr = st.lay.pkmap_nr(page.virtual)
        st.pkmap_count[nr] += 1
        return page.virtual
    nr = _get_free_slot(st)
    vaddr = st.lay.pkmap_addr(nr)
    st.pkmap_count[nr] = 2  # one for the mapping, one for "in the page tables"
    st.pkmap_page[nr] = page
    page.virtual = vaddr  # set_page_address()
    return vaddr


def _get_free_slot(st: _HighmemState) -> int:
    """map_new_virtual(): scan from last_pkmap_nr, flushing on wrap-around."""
    n = len(st.pkmap_count)
    nr = st.last_pkmap_nr
    for _ in range(2 * n):
        nr = (nr + 1) % n  # last_pkmap_nr = (last_pkmap_nr + 1) & LAST_PKMAP_MASK
        if nr == 0:
            _flush_all_zero_pkmaps(st)
        if st.pkmap_count[nr] == 0:
            st.last_pkmap_nr = nr
            return nr
    raise PkmapFull(f"all {n} PKMAP slots are mapped: kmap_high() would sleep on "
                    "pkmap_map_wait until a kunmap(); call kunmap() on a page first")


def kunmap(m: Machine, page: Page) -> None:
    """``kunmap(page)``: drop one use of the page's PKMAP slot (no-op for lowmem)."""
    page = m._own(page)
    if not PageHighMem(m, page):
        return
    st = _state(m)
    assert st.lay is not None
    if page.virtual is None or st.pkmap_count[st.lay.pkmap_nr(page.virtual)] <= 1:
        raise KunmapUnmapped(f"kunmap of highmem pfn {page.pfn:#x}, which is not kmapped")
    nr = st.lay.pkmap_nr(page.virtual)
    st.pkmap_count[nr] -= 1  # at 1 the slot waits for flush_all_zero_pkmaps


def kmap_to_page(m: Machine, vaddr: int) -> Page:
    """``kmap_to_page(addr)``: the page behind a PKMAP address, else virt_to_page."""
    st = _state(m)
    lay = st.lay
    if lay is not None and lay.pkmap_base is not None and \
            lay.pkmap_base <= vaddr < (lay.pkmap_end or 0):
        page = st.pkmap_page[lay.pkmap_nr(vaddr)]
        if page is None:
            raise InvalidArgument(f"{vaddr:#x} is a free PKMAP slot: no page is mapped there")
        return page
    return m.virt_to_page(vaddr)


def pkmap_in_use(m: Machine) -> int:
    """Slots with a live kmap (pkmap_count > 1)."""
    return sum(1 for c in _state(m).pkmap_count if c > 1)


def kmap_local_page(m: Machine, page: Page) -> int:
    """``kmap_local_page(page)``: a CPU-local temporary mapping in the fixmap.

    Lowmem pages return their page_address. Highmem pages take the next of
    KM_MAX_IDX slots at ``__fix_to_virt(FIX_KMAP_BEGIN + idx)``; page_address does
    not see these mappings.
    """
    page = m._own(page)
    if not PageHighMem(m, page):
        return m.page_address(page)
    st = _state(m)
    assert st.lay is not None
    idx = len(st.local_stack)
    if idx >= KM_MAX_IDX:
        raise KmapLocalMisuse(f"kmap_local_page: all {KM_MAX_IDX} per-CPU slots in use "
                              "(BUG_ON(idx >= KM_MAX_IDX)); unmap in reverse order first")
    st.local_stack.append(page)
    return st.lay.fixaddr_top - (FIX_KMAP_BEGIN + idx) * PAGE_SIZE


def kunmap_local(m: Machine, vaddr: int) -> None:
    """``kunmap_local(addr)``: release the most recent kmap_local slot (LIFO)."""
    st = _state(m)
    if st.lay is not None and vaddr >= st.lay.fixaddr_start:
        idx = (st.lay.fixaddr_top - vaddr) // PAGE_SIZE - FIX_KMAP_BEGIN
        if idx != len(st.local_stack) - 1:
            raise KmapLocalMisuse(f"kunmap_local({vaddr:#x}): slot {idx} is not the most "
                                  f"recent mapping (slot {len(st.local_stack) - 1}); "
                                  "kmap_local mappings nest and must be released in reverse")
        st.local_stack.pop()
        return
    if not m.virt_addr_valid(vaddr):
        raise KmapLocalMisuse(f"kunmap_local({vaddr:#x}): not a kmap_local or lowmem address")
