"""``kmem demo``: the buddy allocator in action on a small zone (splitting and merging, as the
classic buddy-system diagrams of teaching material draw it)."""

from __future__ import annotations

import argparse
from typing import Any

from kmem.model import Machine, api
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import GFP_KERNEL, format_gfp

from ._args import int_arg

HELP = "watch the buddy allocator split and merge blocks on a small zone"
DESCRIPTION = ("Allocate and free blocks of mixed orders on a small zone, printing the zone's "
               "pages and free_area[] after each step, then /proc/buddyinfo.")

#: (label, order) to allocate, or (label, None) to free what that label holds. After A and C
#: are freed, free_area[0] holds pfns 0 and 2: "linux" hands out the list head (2, the block
#: freed last), "lowest" the lowest pfn (0). The end frees everything back into one block.
SCRIPT: tuple[tuple[str, int | None], ...] = (
    ("A", 0), ("B", 0), ("C", 0), ("D", 0), ("E", 2),
    ("A", None), ("C", None), ("F", 0), ("G", 3),
    ("B", None), ("D", None), ("F", None), ("E", None), ("G", None),
)
MAX_DEMO_PAGES = 1024  # the demo draws every page of the zone on one line
OTHER_POLICY = {"linux": "lowest", "lowest": "linux"}
WHY = {"linux": "the head of the list: the block put there last",
       "lowest": "the free block with the lowest pfn"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=int_arg("--pages", 1), default=32,
                        help=f"zone size in pages, 1..{MAX_DEMO_PAGES} (default 32; below 16 "
                             "some allocations fail, as they would in the kernel)")
    parser.add_argument("--policy", choices=("lowest", "linux"), default="linux",
                        help="which free block is taken (default linux: the list head)")
    parser.add_argument("--kernel", choices=("newest", "2.6.11"), default="newest",
                        help="2.6.11: the lecture slides' allocator on a 64 MB i386 machine, "
                             "with its hot and cold per-CPU lists (the other options do not "
                             "apply)")
    parser.add_argument("--impl", choices=("model", "fast"), default="model",
                        help="run on the reference model (default) or on kmem.fastimpl, the "
                             "numba twin (needs the [fast] extra); the output is the same")


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


def merge_note(m: Machine, pfn: int, order: int) -> str:
    """What ``__free_one_page`` did with the block of ``order`` freed at ``pfn``: the free
    block that now holds it (bigger when it merged with free buddies) or why not."""
    zone = next(z for z in m.zones if z.managed_pages)
    for o in range(len(zone.free_area) - 1, -1, -1):
        for start in zone.free_list_order(o):
            if start <= pfn < start + (1 << o):
                if o == order:
                    buddy = pfn ^ (1 << order)
                    return (f"    no merge: its buddy (pfn {buddy}, order {order}) is not a "
                            "free block of that order")
                merges = o - order
                return (f"    merged {merges} time(s) with free buddies (__free_one_page): now "
                        f"one free block of order {o} at pfn {start}")
    return "    (the block is not on a free list: it went to a per-CPU list)"


def _alloc(m: Machine, order: int) -> int | None:
    page = api.alloc_pages(m, GFP_KERNEL, order)
    return None if page is None else api.page_to_pfn(m, page)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "kernel", "newest") == "2.6.11":
        from ._demo_2611 import run_2611_demo

        return run_2611_demo()
    if args.pages > MAX_DEMO_PAGES:
        raise InvalidArgument(f"--pages {args.pages}: the demo draws every page, so at most "
                              f"{MAX_DEMO_PAGES}; for a large machine use kmem buddyinfo")
    machine_cls: Any = Machine
    if getattr(args, "impl", "model") == "fast":  # kmem.model.api works on both machines
        from kmem.fastimpl import Machine as machine_cls
    m = machine_cls.generic(args.pages, policy=args.policy, min_free_kbytes=0)
    other_policy = OTHER_POLICY[args.policy]
    other = machine_cls.generic(args.pages, policy=other_policy, min_free_kbytes=0)
    print(f"A zone of {args.pages} pages (pfn 0..{args.pages - 1}), policy {args.policy!r}; "
          f"allocations use {format_gfp(GFP_KERNEL)}. "
          "Each letter marks an allocated page, '.' a free one.\n")
    print(f"boot:              {zone_map(m, {})}")
    print("\n".join(free_area_lines(m)))
    held: dict[str, tuple[int, int]] = {}
    other_held: dict[str, tuple[int, int]] = {}
    failures = differences = 0
    for label, order in SCRIPT:
        notes: list[str] = []
        if order is not None:
            logged = len(m.dmesg)
            pfn = _alloc(m, order)
            other_pfn = _alloc(other, order)
            if other_pfn is not None:
                other_held[label] = (other_pfn, order)
            if pfn is None:
                failures += 1
                step = f"{label} = alloc_pages(order {order}) -> NULL"
                notes.append(f"    no free block of order {order} or more in this zone: "
                             "the allocation fails, and the kernel logs")
                notes.extend(f"    {line}" for line in m.dmesg[logged:])
            else:
                held[label] = (pfn, order)
                step = f"{label} = alloc_pages(order {order}) -> pfn {pfn}"
                if other_pfn is not None and other_pfn != pfn:
                    differences += 1
                    notes.append(f"    policy {args.policy!r} takes pfn {pfn}, "
                                 f"{WHY[args.policy]};\n    policy {other_policy!r} would take "
                                 f"pfn {other_pfn}, {WHY[other_policy]}")
        else:
            if label in other_held:
                other_pfn, other_order = other_held.pop(label)
                api.__free_pages(other, api.pfn_to_page(other, other_pfn), other_order)
            if label not in held:
                print(f"\n__free_pages({label}): nothing to free, the allocation of {label} "
                      "failed (the kernel's callers check for NULL first)")
                continue
            pfn, held_order = held.pop(label)
            api.__free_pages(m, api.pfn_to_page(m, pfn), held_order)
            step = f"__free_pages({label}, order {held_order})"
            notes.append(merge_note(m, pfn, held_order))
        print(f"\n{step}\n{'':19}{zone_map(m, held)}")
        print("\n".join(free_area_lines(m)))
        if notes:
            print("\n".join(notes))
    problems = m.check_invariants()
    print()
    if failures:
        print(f"{failures} allocation(s) failed: a zone of {args.pages} pages cannot hold the "
              "whole script, and kmem has no reclaim to make room.")
    if differences:
        print(f"The policies chose differently {differences} time(s): both choices are legal "
              "buddy allocations; 'linux' is the kernel's list discipline.")
    print("buddy invariants:", "all hold" if not problems else "; ".join(map(str, problems)))
    print("\n/proc/buddyinfo:")
    print(m.buddyinfo(), end="")
    return 1 if problems else 0
