"""The x86-64 direct map, as far as the page API needs it (arch/x86/include/asm/page_64.h,
page_64_types.h, arch/x86/mm/physaddr.c; Documentation/arch/x86/x86_64/mm.rst, 6.x).

With 4-level paging and without KASLR, ``page_offset_base`` is
``__PAGE_OFFSET_BASE_L4`` = 0xffff888000000000 and all physical memory is mapped
there (``__va(p) = p + PAGE_OFFSET``). KASLR randomises it; kmem uses the fixed base.
"""

PAGE_OFFSET = 0xFFFF888000000000  # __PAGE_OFFSET_BASE_L4: direct mapping of all physical memory
DIRECT_MAP_SIZE = 64 << 40  # 64 TB reserved for the direct map (4-level paging)


def pa(vaddr: int) -> int:
    """``__pa(x)`` for a direct-map address: ``x - PAGE_OFFSET``."""
    return vaddr - PAGE_OFFSET


def va(paddr: int) -> int:
    """``__va(p)``: ``p + PAGE_OFFSET``."""
    return paddr + PAGE_OFFSET


def in_direct_map(vaddr: int) -> bool:
    """Inside the direct-map window (``__virt_addr_valid`` then also needs ``pfn_valid``)."""
    return PAGE_OFFSET <= vaddr < PAGE_OFFSET + DIRECT_MAP_SIZE
