"""``kmem vmmap``: the x86-32 kernel virtual memory map (the seed's figure 1.1), as a table or SVG."""

from __future__ import annotations

import argparse
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
    parser.add_argument("--mem", type=int, metavar="MB", default=None,
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
    lines.append(f"{'start':<10}  {'end':<11}  {'size (MB)':>10}  {'area':<20}  description")
    for r in lay.regions:
        lines.append(f"{r.start:#010x}  {r.end:<#11x}  {_mb(r.size)}  {r.name:<20}  "
                     f"{r.description}")
    return lines


def summary() -> list[str]:
    """Every VMSPLIT option side by side (2.6.11 and modern lowmem)."""
    lines = [f"{'split':<7} {'PAGE_OFFSET':<11} {'user (MB)':>9}  {'lowmem 2.6.11 (MB)':>18}  "
             f"{'high_memory':<11} {'VMALLOC_START':<13} {'VMALLOC_END':<11}  "
             f"{'lowmem modern (MB)':>18}"]
    for split, offset in VMSPLIT_PAGE_OFFSET.items():
        old = layout(split, Era.LINUX_2_6_11)
        new = layout(split, Era.MODERN)
        lines.append(f"{split:<7} {offset:#010x}  {offset // MB:>9}  {old.maxmem / MB:>18.3f}  "
                     f"{old.high_memory:#010x}  {old.vmalloc_start:#010x}    "
                     f"{old.vmalloc_end:#010x}  {new.maxmem / MB:>18.3f}")
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


def svg(lay: X86_32Layout) -> str:
    """A hand-written SVG picture of the layout, highest address at the top (as in fig. 1.1)."""
    rows = list(reversed(lay.regions))
    heights = [_row_height(r.size) for r in rows]
    top, left, width = 50, 130, 220
    total = sum(heights)
    h = int(top + total + 40)
    c = lay.config
    title = (f"x86-32 kernel virtual memory map: VMSPLIT_{c.vmsplit}, {c.era.value}"
             f"{', PAE' if c.pae else ''}{'' if c.highmem else ', no HIGHMEM'}")
    colors = {"lowmem": "#9ecae1", "vmalloc": "#a1d99b", "pkmap": "#fdae6b", "fixmap": "#bcbddc",
              "fixmap_boot": "#dadaeb", "ldt": "#fdd0a2", "cpu_entry_area": "#c7e9c0",
              "fix_hole": "#d9d9d9"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="760" height="{h}" '
           f'viewBox="0 0 760 {h}" font-family="monospace" font-size="12">',
           f"<title>{escape(title)}</title>",
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="24" font-size="14" font-weight="bold">{escape(title)}</text>']
    y = float(top)
    out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">0x100000000</text>')
    for r, rh in zip(rows, heights, strict=True):
        fill = "#ffffff" if r.is_gap else colors.get(r.name, "#eeeeee")
        dash = ' stroke-dasharray="4 3"' if r.is_gap else ""
        out.append(f'<rect x="{left}" y="{y:.1f}" width="{width}" height="{rh:.1f}" '
                   f'fill="{fill}" stroke="black"{dash}/>')
        mid = y + rh / 2 + 4
        out.append(f'<text x="{left + width / 2}" y="{mid:.1f}" text-anchor="middle">'
                   f"{escape(r.name)}</text>")
        size = f"{r.size / MB:.3f} MB" if r.size < 10 * MB else f"{r.size // MB} MB"
        out.append(f'<text x="{left + width + 10}" y="{mid:.1f}">{escape(size)}: '
                   f"{escape(r.description)}</text>")
        y += rh
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{r.start:#010x}</text>')
    out.append(f'<text x="10" y="{y + 30:.1f}">PAGE_OFFSET = {lay.page_offset:#010x}; '
               f"heights grow with the square root of the size</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.split == "all":
        print("\n".join(summary()))
        return 0
    lay = layout(args.split, era_of(args.era), pae=args.pae, highmem=args.highmem,
                 mem_mb=args.mem, kernel=args.kernel)
    check_invariants(lay)
    print("\n".join(table(lay)))
    if args.addr is not None:
        try:
            vaddr = int(args.addr, 0)
        except ValueError:
            raise InvalidArgument(f"cannot read address {args.addr!r}; expected a number such "
                                  "as 0xf8800000") from None
        print()
        print("\n".join(describe_address(lay, vaddr)))
    if args.svg:
        try:
            with open(args.svg, "w", encoding="utf-8") as fh:
                fh.write(svg(lay))
        except OSError as exc:
            raise InvalidArgument(f"cannot write {args.svg}: {exc.strerror}") from None
        print(f"\nwrote {args.svg}")
    return 0
