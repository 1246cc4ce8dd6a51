"""``kmem demo``: the buddy allocator in action (the seed's figure 1.5) on a small zone."""

from __future__ import annotations

import argparse

from kmem.model import Machine, api
from kmem.spec.gfp import GFP_KERNEL, format_gfp

HELP = "watch the buddy allocator split and merge blocks on a small zone"
DESCRIPTION = ("Allocate and free blocks of mixed orders on a small zone, printing the zone's "
               "pages and free_area[] after each step, then /proc/buddyinfo.")

#: (label, order) to allocate, or (label, None) to free what that label holds
SCRIPT: tuple[tuple[str, int | None], ...] = (
    ("A", 0), ("B", 2), ("C", 1), ("D", 0), ("E", 3),
    ("A", None), ("D", None), ("F", 1), ("C", None), ("B", None), ("E", None), ("F", None),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=int, default=32,
                        help="zone size in pages (default 32)")
    parser.add_argument("--policy", choices=("lowest", "linux"), default="linux",
                        help="which free block is taken (default linux: the list head)")
    parser.add_argument("--impl", choices=("model", "fast"), default="model",
                        help="run on the reference model (default) or on kmem.fastimpl "
                             "(needs the [fast] extra)")


def zone_map(m: Machine, held: dict[str, tuple[int, int]]) -> str:
    zone = m.zones[0] if m.zones[0].managed_pages else m.zones[1]
    cells = ["."] * zone.spanned_pages
    for label, (pfn, order) in held.items():
        for p in range(pfn, pfn + (1 << order)):
            cells[p - zone.start_pfn] = label
    return "".join(cells)


def free_area_lines(m: Machine) -> list[str]:
    zone = next(z for z in m.zones if z.managed_pages)
    lines = []
    for order, area in enumerate(zone.free_area):
        if area.nr_free:
            pfns = ", ".join(str(p) for p in zone.free_list_order(order))
            lines.append(f"    free_area[{order}]  nr_free {area.nr_free:<3} pfns [{pfns}]")
    return lines


def run(args: argparse.Namespace) -> int:
    machine_cls, page_api = Machine, api
    if getattr(args, "impl", "model") == "fast":
        from kmem import fastimpl

        machine_cls, page_api = fastimpl.Machine, fastimpl.api
    m = machine_cls.generic(args.pages, policy=args.policy, min_free_kbytes=0)
    print(f"A zone of {args.pages} pages (pfn 0..{args.pages - 1}), policy {args.policy!r}; "
          f"allocations use {format_gfp(GFP_KERNEL)}. "
          "Each letter marks an allocated page, '.' a free one.\n")
    print(f"boot:              {zone_map(m, {})}")
    print("\n".join(free_area_lines(m)))
    held: dict[str, tuple[int, int]] = {}
    for label, order in SCRIPT:
        if order is not None:
            page = page_api.alloc_pages(m, GFP_KERNEL, order)
            if page is None:
                step = f"alloc_pages(order {order}) -> NULL"
            else:
                held[label] = (page_api.page_to_pfn(m, page), order)
                step = f"{label} = alloc_pages(order {order}) -> pfn {held[label][0]}"
        else:
            pfn, held_order = held.pop(label)
            page_api.__free_pages(m, page_api.pfn_to_page(m, pfn), held_order)
            step = f"__free_pages({label}, order {held_order})"
        print(f"\n{step}\n{'':19}{zone_map(m, held)}")
        print("\n".join(free_area_lines(m)))
    problems = m.check_invariants()
    print("\nbuddy invariants:", "all hold" if not problems else "; ".join(map(str, problems)))
    print("\n/proc/buddyinfo:")
    print(m.buddyinfo(), end="")
    return 1 if problems else 0
