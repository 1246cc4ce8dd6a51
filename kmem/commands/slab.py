"""``kmem slab``: one cache's slabs drawn from the live model (as the lecture slides draw slabs;
see the README's section on teaching material)."""

from __future__ import annotations

import argparse
from html import escape

from kmem.model import slab as K
from kmem.progress import Progress
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import GFP_KERNEL

from ._args import int_arg
from ._slab_args import add_slab_arguments, build_slab_machine

HELP = "show one cache's slabs (full / partial / free), objects in use and colouring"
DESCRIPTION = (
    "Create a cache of --size bytes on a model machine, allocate --objects objects, free "
    "every --free-every'th one (and the first --free-first still held), then list the "
    "cache's slabs by list (SLAB: full / partial / free with their colour offsets, objects "
    "parked in the per-CPU array marked 'c'; SLUB: the CPU slab, the node partial list and "
    "the full slabs). --drain first returns the per-CPU objects to their slabs. --svg FILE "
    "draws it: the lecture slides' figure of the slab allocator, from the live model.")

_LIST_ORDER = {"slab": ("full", "partial", "free"), "slub": ("cpu", "partial", "full")}
_LIST_TITLE = {("slab", "full"): "slabs_full", ("slab", "partial"): "slabs_partial",
               ("slab", "free"): "slabs_free", ("slub", "cpu"): "CPU slab (c->slab)",
               ("slub", "partial"): "node partial list",
               ("slub", "full"): "full slabs (on no list)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_slab_arguments(parser)
    parser.add_argument("--size", type=int_arg("--size", 0), default=600, help="object size (default 600)")
    parser.add_argument("--align", type=int_arg("--align", 0), default=0, help="alignment (default 0)")
    parser.add_argument("--objects", type=int_arg("--objects", 0), default=40, help="objects to allocate (40)")
    parser.add_argument("--free-every", type=int_arg("--free-every", 0), default=3,
                        help="free every Nth object afterwards (default 3; 0: none)")
    parser.add_argument("--free-first", type=int_arg("--free-first", 0), default=0,
                        help="then free the first N objects still held (empties slabs)")
    parser.add_argument("--drain", action="store_true",
                        help="drain the per-CPU cache (SLAB's array, SLUB's CPU slab) first")
    parser.add_argument("--svg", metavar="FILE", default=None, help="write an SVG picture")


def free_pages_of(m: object) -> int:
    """Free pages in all of the machine's zones (an upper bound on what any request gets)."""
    return sum(z.free_pages for z in m.zones)  # type: ignore[attr-defined]


def build(args: argparse.Namespace) -> tuple[K.KmemCache, list[int]]:
    if args.objects < 0 or args.free_every < 0 or args.free_first < 0:
        raise InvalidArgument("--objects, --free-every and --free-first must be >= 0")
    m = build_slab_machine(args)
    cache = K.kmem_cache_create(m, "demo_cache", args.size, args.align, 0)
    # refuse up front what cannot fit: each slab is 2^order pages holding cache.num objects
    slabs = -(-args.objects // cache.num)
    free = free_pages_of(m)
    if slabs << cache.order > free:
        fit = (free >> cache.order) * cache.num
        raise InvalidArgument(
            f"--objects {args.objects}: {slabs} slabs of {1 << cache.order} page(s) "
            f"({cache.num} objects each) need {slabs << cache.order} pages, more than the "
            f"{free} free pages of --mem-mb {args.mem_mb}; at most about {fit} objects fit")
    objs: list[int] = []
    with Progress("kmem slab", total=args.objects, unit="objects") as progress:
        progress.start("kmem_cache_alloc")
        for i in range(args.objects):
            obj = K.kmem_cache_alloc(cache, GFP_KERNEL)
            if not obj:
                raise InvalidArgument(
                    f"--objects {args.objects}: kmem_cache_alloc returned NULL at object "
                    f"{i + 1} (out of memory with --mem-mb {args.mem_mb}: the watermarks keep "
                    f"some pages back); ask for at most {i} objects or more memory")
            objs.append(obj)
            if i % 4096 == 4095:
                progress.advance(4096)
    held = objs
    if args.free_every:
        for o in held[args.free_every - 1::args.free_every]:
            K.kmem_cache_free(cache, o)
        held = [o for i, o in enumerate(held) if args.free_every == 0
                or (i + 1) % args.free_every]
    for o in held[:args.free_first]:
        K.kmem_cache_free(cache, o)
    held = held[args.free_first:]
    if args.drain:
        m.slab_allocator.drain_cpu_caches(cache)
    return cache, held


def _slabs_by_list(cache: K.KmemCache) -> list[tuple[str, list[K.Slab]]]:
    return [(name, [s for s in cache.slabs if s.list == name])
            for name in _LIST_ORDER[cache.kind]]


def describe(cache: K.KmemCache) -> str:
    lay = cache.layout
    lines = [f"cache {cache.name} ({'SLUB 6.12' if cache.kind == 'slub' else 'SLAB 2.6.11'}): "
             f"object {cache.object_size} bytes, stride {cache.size}, align {cache.align}, "
             f"{cache.num} objects per order-{cache.order} slab"]
    if cache.kind == "slab":
        lines.append(f"  per-CPU array: {len(cache.ac)} of {cache.limit} entries "
                     f"(batchcount {cache.batchcount}); '#' in use, 'c' in the array, '.' free")
        lines.append(f"  management {'off' if lay.off_slab else 'on'}-slab "  # type: ignore[union-attr]
                     f"({lay.slab_size} bytes), left over {lay.left_over}, "  # type: ignore[union-attr]
                     f"colour_off {lay.colour_off}, colour {lay.colour}, "  # type: ignore[union-attr]
                     f"colour_next {cache.colour_next}")
    for name, slabs in _slabs_by_list(cache):
        lines.append(f"{_LIST_TITLE[(cache.kind, name)]}: {len(slabs)} slab(s)")
        cached = set(getattr(cache, "ac", ()))
        for s in slabs:
            free = set(s.free)
            used = "".join("." if i in free else "c" if s.object(i) in cached else "#"
                           for i in range(s.num))
            colour = f" colour +{s.colour_offset}" if cache.kind == "slab" else ""
            lines.append(f"  0x{s.addr:x} pfn {s.pfn:#x}{colour} inuse {s.num - len(free)}/"
                         f"{s.num} [{used}]")
    return "\n".join(lines)


def svg(cache: K.KmemCache) -> str:
    """The cache's slabs, one bar per slab grouped by list: colour offset (grey), on-slab
    management (dark), objects in use (red), in the per-CPU array (blue) or free (white),
    left-over space (hatched)."""
    width, left, bar_h, gap = 900, 170, 26, 8
    legend = ("in use: red; in the per-CPU array: blue; free: white; colour offset: grey; "
              "management: dark blue; left over: hatched" if cache.kind == "slab" else
              "in use: red; free: white; left over: hatched")
    rows: list[tuple[str, K.Slab | None]] = []
    for name, slabs in _slabs_by_list(cache):
        rows.append((_LIST_TITLE[(cache.kind, name)], None))
        rows.extend((name, s) for s in slabs)
    h = 70 + len(rows) * (bar_h + gap) + 40
    nbytes = PAGE_SIZE << cache.order
    scale = (width - left - 20) / nbytes
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'font-family="monospace" font-size="12">',
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse">'
           '<path d="M0,6 L6,0" stroke="#999" stroke-width="1"/></pattern></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15">{escape(cache.name)}: {cache.num} objects of '
           f'{cache.size} bytes per slab of {1 << cache.order} page(s) '
           f'({"SLAB 2.6.11" if cache.kind == "slab" else "SLUB 6.12"})</text>',
           f'<text x="10" y="40">{legend}</text>']
    y = 60
    for label, s in rows:
        if s is None:
            out.append(f'<text x="10" y="{y + 17}" font-weight="bold">{escape(label)}</text>')
            y += bar_h + gap
            continue
        out.append(f'<text x="20" y="{y + 17}">0x{s.addr:x}</text>')
        x0 = left
        out.append(f'<rect x="{x0}" y="{y}" width="{nbytes * scale:.1f}" height="{bar_h}" '
                   f'fill="url(#hatch)" stroke="black"/>')
        if s.colour_offset:
            out.append(f'<rect x="{x0}" y="{y}" width="{s.colour_offset * scale:.1f}" '
                       f'height="{bar_h}" fill="#bbb"/>')
        if s.mgmt:
            out.append(f'<rect x="{x0 + s.colour_offset * scale:.1f}" y="{y}" '
                       f'width="{s.mgmt * scale:.1f}" height="{bar_h}" fill="#235"/>')
        free = set(s.free)
        cached = set(getattr(cache, "ac", ()))
        for i in range(s.num):
            ox = x0 + (s.s_mem - s.addr + i * cache.size) * scale
            fill = "#fff" if i in free else "#36c" if s.object(i) in cached else "#d33"
            out.append(f'<rect x="{ox:.1f}" y="{y}" width="{cache.size * scale:.1f}" '
                       f'height="{bar_h}" fill="{fill}" stroke="#333" stroke-width="0.5"/>')
        y += bar_h + gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.svg is not None and not args.svg.strip():
        raise InvalidArgument("--svg needs a file name (got an empty one)")
    cache, _ = build(args)
    print(describe(cache))
    if args.svg:
        try:
            with open(args.svg, "w", encoding="utf-8") as fh:
                fh.write(svg(cache))
        except OSError as exc:
            raise InvalidArgument(f"cannot write {args.svg}: {exc.strerror}") from None
        print(f"\nwrote {args.svg}")
    return 0
