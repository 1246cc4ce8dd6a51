"""``kmem demo --kernel 2.6.11``: the lecture slides' allocator step by step.

A 64 MB i386 machine running Linux 2.6.11's page allocator
(:class:`kmem.model.machine_2611.Machine2611`): after each step the Normal zone's free
lists (``free_area[order].free_list``, head first) and CPU 0's hot and cold per-CPU
lists (``pageset[0].pcp[0]`` and ``pcp[1]``, head first, with count/low/high/batch).
"""

from __future__ import annotations

from kmem.model.machine import Machine
from kmem.model.machine_2611 import Machine2611
from kmem.model.page import Page
from kmem.model.zone_2611 import COLD, HOT, Zone2611
from kmem.spec import alloc_2611 as s

MB = 64
GFP_KERNEL = s.GFP_KERNEL
GFP_COLD = GFP_KERNEL | s.GFP_COLD


def _lists(zone: Zone2611) -> list[str]:
    out = []
    for order in range(s.MAX_ORDER):
        area = zone.free_area[order]
        if area.nr_free:
            pfns = [f"{p:#x}" for p in area.free_list]
            shown = ", ".join(pfns[:6]) + (f", ... ({len(pfns) - 6} more)" if len(pfns) > 6 else "")
            out.append(f"    free_area[{order:2}] nr_free {area.nr_free:<3} [{shown}]")
    for which, name in ((HOT, "hot "), (COLD, "cold")):
        p = zone.pageset[0][which]
        pfns = [f"{q:#x}" for q in p.list]
        shown = ", ".join(pfns[:10]) + (f", ... ({len(pfns) - 10} more)" if len(pfns) > 10 else "")
        out.append(f"    cpu 0 {name} count {p.count:<2} low {p.low} high {p.high:<2} batch "
                   f"{p.batch}  [{shown}]")
    return out


def run_2611_demo() -> int:
    m = Machine.x86_32(MB, kernel="2.6.11")
    assert isinstance(m, Machine2611)
    zone = m.zones[1]
    assert isinstance(zone, Zone2611)
    print(f"Linux 2.6.11's page allocator on a {MB} MB i386 machine (the lecture slides' "
          f"kernel). Zone Normal: pfns {zone.start_pfn:#x}..{zone.end_pfn - 1:#x}, "
          f"{zone.present_pages} pages. Allocations use GFP_KERNEL ({GFP_KERNEL:#x} in "
          f"2.6.11's numbering).")
    print(f"Note: {s.NO_BITMAPS}.")
    print("Free lists are shown head first: 2.6.11 adds every free block at the head "
          "(list_add) and __rmqueue takes the head.\n")
    print("boot (free_all_bootmem: 32-page bitmap words freed as order-5 blocks, merged up to "
          "order 10; the block freed last is at the head)")
    print("\n".join(_lists(zone)))
    held: dict[str, Page] = {}

    def step(title: str, why: str) -> None:
        print(f"\n{title}\n    {why}")
        print("\n".join(_lists(zone)))

    def alloc(label: str, gfp: int, order: int = 0) -> Page:
        page = m.alloc_pages(gfp, order)
        assert page is not None
        held[label] = page
        return page

    a = alloc("A", GFP_KERNEL)
    step(f"A = alloc_pages(GFP_KERNEL, 0) -> pfn {a.pfn:#x}",
         "buffered_rmqueue: hot count 0 <= low, so rmqueue_bulk moved batch pages to the hot "
         "list's tail (splitting the head order-10 block with expand: each upper half to "
         "the head of the next lower list); then the hot list's head was handed out")
    b = alloc("B", GFP_KERNEL)
    step(f"B = alloc_pages(GFP_KERNEL, 0) -> pfn {b.pfn:#x}",
         "count 2 <= low: another batch first, then the head")
    c = alloc("C", GFP_COLD)
    step(f"C = alloc_pages(GFP_KERNEL|__GFP_COLD, 0) -> pfn {c.pfn:#x}",
         "__GFP_COLD: the cold list (low 0), refilled from the buddy allocator by one batch")
    m.free_pages(held.pop("A"))
    step("__free_pages(A, 0)", "order 0: free_hot_page puts A at the head of the hot list "
                               "(count < high, no drain)")
    d = alloc("D", GFP_KERNEL)
    step(f"D = alloc_pages(GFP_KERNEL, 0) -> pfn {d.pfn:#x}",
         "the hot list is LIFO: the page freed last (A, still in the CPU cache) comes back")
    e = alloc("E", GFP_KERNEL, 2)
    step(f"E = alloc_pages(GFP_KERNEL, 2) -> pfn {e.pfn:#x}",
         "order > 0 never uses the per-CPU lists: __rmqueue takes the head of the smallest "
         "non-empty list of order >= 2 and expand puts the halves back at the heads")
    m.free_pages(held.pop("E"), 2)
    step("__free_pages(E, 2)", "__free_pages_ok -> __free_pages_bulk: page_is_buddy (PG_private "
                               "and page->private == order on the buddy page itself) merges "
                               "while it can; the result goes to the head of its list")
    extra = [m.alloc_pages(GFP_KERNEL) for _ in range(zone.pageset[0][HOT].high + 1)]
    for page in extra[:-1]:
        assert page is not None
        m.free_pages(page)
    step(f"{len(extra)} more order-0 allocations, then {len(extra) - 1} frees",
         f"the hot list fills up to high ({zone.pageset[0][HOT].high})")
    last = extra[-1]
    assert last is not None
    m.free_pages(last)
    step(f"__free_pages(pfn {last.pfn:#x}, 0) with count >= high",
         "free_hot_cold_page first gives batch pages back from the list's tail (the coldest, "
         "free_pages_bulk takes list->prev), then adds this page at the head")
    for label in list(held):
        m.free_pages(held.pop(label))
    m.drain_local_pages()
    step("free B, C, D; drain_local_pages()",
         "__drain_pages returns every page of both lists, tail first; the buddies merge back")
    problems = m.check_invariants()
    print("\nbuddy invariants:", "all hold" if not problems else "; ".join(map(str, problems)))
    print("\n/proc/buddyinfo (2.6.11 had no /proc/zoneinfo: it came in 2.6.13):")
    print(m.buddyinfo(), end="")
    return 1 if problems else 0


__all__ = ["run_2611_demo"]
