"""``kmem slabinfo``: /proc/slabinfo of a model machine, after an optional workload."""

from __future__ import annotations

import argparse

from kmem.model import slab as K
from kmem.progress import Progress
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument
from kmem.spec.slab import KMALLOC_MAX_SIZE

from ._args import read_int
from ._slab_args import add_slab_arguments, build_slab_machine, gfp_arg
from .slab import free_pages_of

HELP = "print /proc/slabinfo of a model machine (SLUB, or 2.6.11 SLAB)"
DESCRIPTION = (
    "Print /proc/slabinfo (version 2.1) of a freshly booted model machine, after the "
    "kmallocs given with --alloc SIZE[xCOUNT] (repeatable). The kmalloc caches are listed "
    "newest first, as the kernel walks its cache list.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_slab_arguments(parser)
    parser.add_argument("--alloc", action="append", default=[], metavar="SIZE[xCOUNT]",
                        help="kmalloc SIZE bytes COUNT times (default once) before printing")
    parser.add_argument("--gfp", default="GFP_KERNEL", help="gfp mask of the kmallocs")
    parser.add_argument("--nonzero", action="store_true",
                        help="only caches that hold slabs")


def parse_alloc(text: str) -> tuple[int, int]:
    """``SIZE[xCOUNT]``: ``100x3``, ``0x40x2``; a lone ``0x40`` is a hex size."""
    body = text.strip().lower()
    head, sep, count = body.rpartition("x")
    if not sep or head in ("", "0", "-0"):  # no count, or only the x of a 0x prefix
        head, count = body, "1"
    n, c = read_int(head, "--alloc SIZE"), read_int(count, "--alloc COUNT")
    if n < 0 or c < 0:
        raise InvalidArgument(f"--alloc wants sizes and counts >= 0, got {text!r}")
    return n, c


def run(args: argparse.Namespace) -> int:
    m = build_slab_machine(args)
    gfp = gfp_arg(args.gfp)
    allocs = [(spec, *parse_alloc(spec)) for spec in args.alloc]
    # refuse up front what cannot fit: the objects alone need size * count bytes
    for spec, size, count in allocs:
        if count and args.allocator == "slub" and size > KMALLOC_MAX_SIZE:
            raise InvalidArgument(f"--alloc {spec}: kmalloc({size}) always returns NULL: "
                                  f"larger than KMALLOC_MAX_SIZE ({KMALLOC_MAX_SIZE})")
        if count and args.allocator == "slab" and m.slab_allocator.kmalloc_cache(size, gfp) \
                is None:
            raise InvalidArgument(f"--alloc {spec}: kmalloc({size}) always returns NULL: "
                                  "larger than 2.6.11's largest general cache")
    free_bytes = free_pages_of(m) * PAGE_SIZE
    wanted = sum(size * count for _, size, count in allocs)
    if wanted > free_bytes:
        raise InvalidArgument(f"--alloc {' '.join(a for a, _, _ in allocs)} asks for "
                              f"{wanted:,} bytes, more than the {free_bytes:,} free bytes of "
                              f"--mem-mb {args.mem_mb}")
    total = sum(count for _, _, count in allocs)
    with Progress("kmem slabinfo", total=total, unit="kmallocs") as progress:
        for spec, size, count in allocs:
            progress.start(f"kmalloc({size}) x {count}")
            for i in range(count):
                if not K.kmalloc(m, size, gfp):
                    raise InvalidArgument(f"--alloc {spec}: kmalloc({size}) returned NULL "
                                          f"at call {i + 1} of {count} (out of memory with "
                                          f"--mem-mb {args.mem_mb}; the watermarks keep "
                                          "some pages back)")
                if i % 4096 == 4095:
                    progress.advance(4096)
    text = m.slab_allocator.slabinfo()
    if args.nonzero:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[:2] + [ln for ln in lines[2:] if ln.split()[2] != "0"])
    print(text, end="")
    return 0
