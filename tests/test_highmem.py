"""Persistent kmaps on the PKMAP window and kmap_local slots (mm/highmem.c)."""

from __future__ import annotations

import pytest

from kmem.model import Machine, api
from kmem.model import highmem as hm
from kmem.spec import gfp
from kmem.spec.errors import InvalidArgument, KernelBug
from kmem.spec.x86_32_layout import layout


@pytest.fixture
def m():
    return Machine.x86_32(mem_mb=1024)


def high(m):
    page = api.alloc_pages(m, gfp.GFP_HIGHUSER, 0)
    assert page is not None and hm.PageHighMem(m, page)
    return page


def test_kmap_highmem_page_takes_a_pkmap_slot(m):
    page = high(m)
    assert api.page_address(m, page) == 0
    vaddr = hm.kmap(m, page)
    # last_pkmap_nr starts at 0 and is advanced before use: the first slot is 1
    assert vaddr == layout("3G").pkmap_base + 1 * 4096  # 0xFF400000 + 4096 (modern layout)
    assert layout("3G").region_of(vaddr).name == "pkmap"
    assert api.page_address(m, page) == vaddr
    assert hm.kmap_to_page(m, vaddr) is page
    assert hm.kmap(m, page) == vaddr  # a second kmap shares the slot
    assert hm.pkmap_in_use(m) == 1
    hm.kunmap(m, page)
    hm.kunmap(m, page)
    assert hm.pkmap_in_use(m) == 0
    # still answers its address until the slot is flushed (pkmap_count == 1)
    assert api.page_address(m, page) == vaddr
    with pytest.raises(hm.KunmapUnmapped):
        hm.kunmap(m, page)


def test_kmap_lowmem_page_is_its_direct_map_address(m):
    page = api.alloc_pages(m, gfp.GFP_KERNEL, 0)
    assert hm.kmap(m, page) == api.page_address(m, page) == 0xC0000000 + page.pfn * 4096
    hm.kunmap(m, page)  # a no-op
    assert hm.kmap_local_page(m, page) == api.page_address(m, page)
    assert hm.kmap_to_page(m, api.page_address(m, page)) is page


def test_running_out_of_pkmap_slots_is_reported(m):
    pages = [high(m) for _ in range(1025)]
    addrs = [hm.kmap(m, p) for p in pages[:1024]]
    assert len(set(addrs)) == 1024
    assert sorted(addrs) == [layout("3G").pkmap_base + i * 4096 for i in range(1024)]
    with pytest.raises(hm.PkmapFull, match="1024 PKMAP slots"):
        hm.kmap(m, pages[1024])
    assert issubclass(hm.PkmapFull, KernelBug)
    assert api.page_address(m, pages[1024]) == 0  # nothing changed
    # release one: after the wrap-around flush the slot is reused
    hm.kunmap(m, pages[5])
    vaddr = hm.kmap(m, pages[1024])
    assert vaddr == addrs[5]
    assert api.page_address(m, pages[5]) == 0  # flushed: set_page_address(page, NULL)
    assert api.page_address(m, pages[1024]) == vaddr


def test_kmap_local_is_lifo_and_bounded(m):
    pages = [high(m) for _ in range(17)]
    top = layout("3G").fixaddr_top
    a0 = hm.kmap_local_page(m, pages[0])
    a1 = hm.kmap_local_page(m, pages[1])
    assert (a0, a1) == (top - 2 * 4096, top - 3 * 4096)
    assert api.page_address(m, pages[0]) == 0  # kmap_local is invisible to page_address
    with pytest.raises(hm.KmapLocalMisuse, match="reverse"):
        hm.kunmap_local(m, a0)
    hm.kunmap_local(m, a1)
    hm.kunmap_local(m, a0)
    addrs = [hm.kmap_local_page(m, p) for p in pages[:16]]
    assert len(set(addrs)) == 16
    with pytest.raises(hm.KmapLocalMisuse, match="KM_MAX_IDX"):
        hm.kmap_local_page(m, pages[16])


def test_x86_64_has_no_highmem():
    m = Machine.x86_64(mem_mb=128)
    page = api.alloc_pages(m, gfp.GFP_HIGHUSER_MOVABLE, 0)
    assert not hm.PageHighMem(m, page)
    assert hm.kmap(m, page) == api.page_address(m, page)


def test_bad_inputs(m):
    with pytest.raises(InvalidArgument):
        hm.kmap(m, object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="free PKMAP slot"):
        hm.kmap_to_page(m, layout("3G").pkmap_base + 0x100000)
    with pytest.raises(hm.KmapLocalMisuse):
        hm.kunmap_local(m, 0x1000)
