"""``kmem vmmap``: the x86-32 kernel virtual memory map (as classic lecture slides draw it), as a
table or SVG."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from kmem.spec.constants import MB
from kmem.spec.errors import InvalidArgument
from kmem.spec.x86_32_layout import (
    VMSPLIT_PAGE_OFFSET,
    Era,
    X86_32Layout,
    check_invariants,
    era_of,
    layout,
)

from ._args import int_arg, read_int

HELP = "the x86-32 kernel virtual memory map for a VMSPLIT: table, one address, or SVG picture"
DESCRIPTION = (
    "Print the areas of the x86-32 kernel's address space from PAGE_OFFSET to 4 GB "
    "(direct map, VMALLOC_OFFSET gap, vmalloc, PKMAP, fixmap, ...) with addresses in hex "
    "and sizes in MB, using the modern formulas (default) or those of 2.6.11 (the figure's "
    "era; --era 2.6.11 or --kernel 2.6.11). --split all compares every VMSPLIT option; --addr names the area of an address; "
    "--svg FILE draws the map."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="3G", choices=[*VMSPLIT_PAGE_OFFSET, "all"],
                        help="CONFIG_VMSPLIT_* option (default: 3G), or 'all' for a summary")
    parser.add_argument("--era", default=Era.MODERN.value, choices=[e.value for e in Era],
                        help="whose formulas: modern (default) or 2.6.11")
    parser.add_argument("--kernel", metavar="VERSION", default=None,
                        help="the formulas of this kernel version (uname -r form: 2.6.11 -> "
                             "2.6.11, 4.19 onwards -> modern); overrides --era")
    parser.add_argument("--pae", action="store_true", help="CONFIG_X86_PAE (LAST_PKMAP 512)")
    parser.add_argument("--no-highmem", dest="highmem", action="store_false",
                        help="without CONFIG_HIGHMEM (no PKMAP window)")
    parser.add_argument("--mem", type=int_arg("--mem"), metavar="MB", default=None,
                        help="physical RAM in MB (default: enough to fill the direct map)")
    parser.add_argument("--addr", metavar="ADDR", default=None,
                        help="name the area this virtual address is in (with its conversions)")
    parser.add_argument("--svg", metavar="FILE", default=None, help="also write an SVG picture")


def _mb(n: int) -> str:
    return f"{n / MB:10.3f}"


def table(lay: X86_32Layout) -> list[str]:
    """The layout table: one row per region, addresses in hex, sizes in MB."""
    c = lay.config
    head = (f"x86-32 kernel virtual memory map: VMSPLIT_{c.vmsplit} (PAGE_OFFSET "
            f"{lay.page_offset:#010x}), {c.era.value} formulas, "
            f"{'PAE' if c.pae else 'no PAE'}, {'HIGHMEM' if c.highmem else 'no HIGHMEM'}")
    lines = [head, f"MAXMEM {lay.maxmem / MB:.3f} MB, high_memory {lay.high_memory:#010x}", ""]
    width = max(len("area"), *(len(r.name) for r in lay.regions))  # descriptions line up
    lines.append(f"{'start':<10}  {'end':<11}  {'size (MB)':>10}  {'area':<{width}}  "
                 "description")
    for r in lay.regions:
        lines.append(f"{r.start:#010x}  {r.end:<#11x}  {_mb(r.size)}  {r.name:<{width}}  "
                     f"{r.description}")
    return lines


def summary(era: Era = Era.MODERN, **options: Any) -> list[str]:
    """Every VMSPLIT option side by side: lowmem under both eras' formulas, and
    high_memory and the vmalloc area under ``era``'s (``options``: pae, highmem, mem_mb,
    kernel, as :func:`kmem.spec.x86_32_layout.layout` takes them)."""
    lines = [f"high_memory and VMALLOC_* with the {era.value} formulas", "",
             f"{'split':<7} {'PAGE_OFFSET':<11} {'user (MB)':>9}  {'lowmem 2.6.11 (MB)':>18}  "
             f"{'high_memory':<11} {'VMALLOC_START':<13} {'VMALLOC_END':<11}  "
             f"{'lowmem modern (MB)':>18}"]
    plain = {k: v for k, v in options.items() if k != "kernel"}
    for split, offset in VMSPLIT_PAGE_OFFSET.items():
        old = layout(split, Era.LINUX_2_6_11, **plain)
        new = layout(split, Era.MODERN, **plain)
        chosen = layout(split, era, **options)
        lines.append(f"{split:<7} {offset:#010x}  {offset // MB:>9}  {old.maxmem / MB:>18.3f}  "
                     f"{chosen.high_memory:#010x}  {chosen.vmalloc_start:#010x}    "
                     f"{chosen.vmalloc_end:#010x}  {new.maxmem / MB:>18.3f}")
    return lines


def describe_address(lay: X86_32Layout, vaddr: int) -> list[str]:
    r = lay.region_of(vaddr)
    lines = [f"{vaddr:#010x} is in {r.name} [{r.start:#010x}, {r.end:#010x}): {r.description}"]
    if lay.virt_addr_valid(vaddr):
        lines.append(f"  virt_addr_valid: yes; __pa = {lay.pa(vaddr):#010x}, "
                     f"virt_to_page -> pfn {lay.virt_to_pfn(vaddr):#x}")
    else:
        lines.append("  virt_addr_valid: no (not in the direct map; __pa/virt_to_page do not apply)")
    if r.name == "pkmap":
        lines.append(f"  PKMAP_NR = {lay.pkmap_nr(vaddr)}")
    return lines


def _row_height(size: int) -> float:
    """Heights grow with the square root of the size, so a 4 KB page stays visible."""
    return 22 + 340 * (size / (1 << 30)) ** 0.5


#: the fonts the picture asks for, all monospace: every character has the same advance
SVG_FONTS = "DejaVu Sans Mono, Liberation Mono, Menlo, Consolas, Courier New, monospace"
SVG_FONT_SIZE = 12
#: the advance of one character as a fraction of the font size: 0.6 in the fonts above
#: (DejaVu Sans Mono 0.602); measured text is given a little more so nothing touches an edge
CHAR_ADVANCE = 0.62


def text_width(text: str, font_size: float = SVG_FONT_SIZE) -> float:
    """The width of ``text`` in the picture's monospace font, in pixels."""
    return len(text) * CHAR_ADVANCE * font_size


def exact_size(size: int) -> str:
    """A size with the largest unit that states it exactly: ``896 MB``, ``114680 KB
    (111.9921875 MB)`` (above 1 MB also in MB, with every decimal).

    >>> exact_size(896 * 2**20), exact_size(114680 * 1024), exact_size(4096)
    ('896 MB', '114680 KB (111.9921875 MB)', '4 KB')
    """
    for unit, name in ((1 << 30, "GB"), (MB, "MB"), (1 << 10, "KB")):
        if size >= unit and size % unit == 0:
            text = f"{size // unit} {name}"
            if unit < MB and size > MB:  # also in MB: a multiple of 1/1024 MB ends in decimals
                text += f" ({Decimal(size) / MB} MB)"
            return text
    return f"{size} bytes"


def svg(lay: X86_32Layout) -> str:
    """An SVG picture of the layout, highest address at the top (as the classic diagrams of
    the x86-32 kernel address space draw it). Every text is laid out from its measured
    width: the canvas grows to hold the longest line, and each box to hold its name."""
    rows = list(reversed(lay.regions))
    heights = [_row_height(r.size) for r in rows]
    c = lay.config
    title = (f"x86-32 kernel virtual memory map: VMSPLIT_{c.vmsplit}, {c.era.value}"
             f"{', PAE' if c.pae else ''}{'' if c.highmem else ', no HIGHMEM'}")
    footer = (f"PAGE_OFFSET = {lay.page_offset:#010x}; heights grow with the square root of "
              "the size")
    addresses = ["0x100000000", *(f"{r.start:#010x}" for r in rows)]
    descriptions = [f"{exact_size(r.size)}: {r.description}" for r in rows]
    pad, gap = 10.0, 10.0
    left = pad + max(text_width(a) for a in addresses) + gap  # the boxes' left edge
    width = max(220.0, max(text_width(r.name) for r in rows) + 2 * gap)
    desc_x = left + width + gap
    canvas_w = int(max(desc_x + max(text_width(d) for d in descriptions),
                       pad + text_width(title, 14), pad + text_width(footer)) + pad + 0.999)
    top = 50.0
    canvas_h = int(top + sum(heights) + 40)
    colors = {"lowmem": "#9ecae1", "vmalloc": "#a1d99b", "pkmap": "#fdae6b", "fixmap": "#bcbddc",
              "fixmap_boot": "#dadaeb", "ldt": "#fdd0a2", "cpu_entry_area": "#c7e9c0",
              "fix_hole": "#d9d9d9"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{canvas_w}" height="{canvas_h}" '
           f'viewBox="0 0 {canvas_w} {canvas_h}" font-family="{SVG_FONTS}" '
           f'font-size="{SVG_FONT_SIZE}">',
           f"<title>{escape(title)}</title>",
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text class="title" x="{pad}" y="24" font-size="14" font-weight="bold">'
           f"{escape(title)}</text>"]
    y = top
    out.append(f'<text class="addr" x="{left - gap}" y="{y + 4:.1f}" text-anchor="end">'
               "0x100000000</text>")
    for r, rh, desc in zip(rows, heights, descriptions, strict=True):
        fill = "#ffffff" if r.is_gap else colors.get(r.name, "#eeeeee")
        dash = ' stroke-dasharray="4 3"' if r.is_gap else ""
        out.append(f'<rect class="box" x="{left}" y="{y:.1f}" width="{width}" '
                   f'height="{rh:.1f}" fill="{fill}" stroke="black"{dash}/>')
        mid = y + rh / 2 + 4
        out.append(f'<text class="name" x="{left + width / 2}" y="{mid:.1f}" '
                   f'text-anchor="middle">{escape(r.name)}</text>')
        out.append(f'<text class="desc" x="{desc_x}" y="{mid:.1f}">{escape(desc)}</text>')
        y += rh
        out.append(f'<text class="addr" x="{left - gap}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{r.start:#010x}</text>")
    out.append(f'<text class="footer" x="{pad}" y="{y + 30:.1f}">{escape(footer)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.split == "all":
        if args.addr is not None or args.svg is not None:
            raise InvalidArgument("--addr and --svg need one VMSPLIT option, not --split all")
        options: dict[str, Any] = {"pae": args.pae, "highmem": args.highmem,
                                   "mem_mb": args.mem, "kernel": args.kernel}
        era = era_of(args.era)
        if args.kernel is not None:
            era = layout("3G", era, kernel=args.kernel).config.era
        print("\n".join(summary(era, **options)))
        return 0
    vaddr = None
    if args.addr is not None:  # read every input before printing anything
        vaddr = read_int(args.addr, "address")
    if args.svg is not None and not args.svg.strip():
        raise InvalidArgument("--svg needs a file name, got ''")
    lay = layout(args.split, era_of(args.era), pae=args.pae, highmem=args.highmem,
                 mem_mb=args.mem, kernel=args.kernel)
    check_invariants(lay)
    if vaddr is not None:
        lay.region_of(vaddr)  # an address outside the map is refused before the table
    print("\n".join(table(lay)))
    if vaddr is not None:
        print()
        print("\n".join(describe_address(lay, vaddr)))
    if args.svg is not None:
        try:
            with open(args.svg, "w", encoding="utf-8") as fh:
                fh.write(svg(lay))
        except OSError as exc:
            raise InvalidArgument(f"cannot write {args.svg}: {exc.strerror}") from None
        print(f"\nwrote {args.svg}")
    return 0
