"""``kmem kmalloc SIZE``: which cache a kmalloc of SIZE bytes lands in, and why."""

from __future__ import annotations

import argparse

from kmem.spec import slab as S
from kmem.spec.constants import PAGE_SIZE
from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import format_gfp

from ._args import int_arg
from ._slab_args import gfp_arg

HELP = "explain which kmalloc cache (or the page allocator) serves a size"
DESCRIPTION = (
    "Explain kmalloc(SIZE, GFP): the size class SLUB (6.12) picks and why "
    "(kmalloc_size_index for sizes up to 192, fls(size - 1) above), the cache family the gfp "
    "flags select (kmalloc-, kmalloc-rcl-, dma-kmalloc-, kmalloc-cg-), the cache's geometry, "
    "and the page-allocator side above 8 KiB. --allocator slab explains 2.6.11's general "
    "caches (size-N) instead.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("size", metavar="SIZE", type=int_arg("SIZE", 0),
                        help="bytes (31, 0x1f, ...)")
    parser.add_argument("--gfp", default="GFP_KERNEL", help="gfp mask (default GFP_KERNEL)")
    parser.add_argument("--allocator", choices=("slub", "slab"), default="slub",
                        help="slub: 6.12 SLUB (default); slab: 2.6.11 classic SLAB, the "
                             "lecture slides' era")
    parser.add_argument("--cpus", type=int_arg("--cpus", 1), default=None,
                        help="CPUs SLUB sizes its slabs for (default 1; SLUB only)")


def explain_slub(size: int, gfp: int, cpus: int = 1) -> list[str]:
    d = S.kmalloc_decide(size, gfp)
    lines = [f"kmalloc({size}, {format_gfp(gfp)}) with SLUB (Linux 6.12, x86-64):"]
    lines += [f"  {r}" for r in d.reasons]
    if d.kind == "slab":
        assert d.index is not None and d.ktype is not None
        flags = S.SLAB_KMALLOC | {S.KmallocType.RECLAIM: S.SLAB_RECLAIM_ACCOUNT,
                                  S.KmallocType.DMA: S.SLAB_CACHE_DMA}.get(d.ktype, 0)
        lay = S.slub_layout(S.KMALLOC_INFO[d.index][0], 0, flags, nr_cpus=cpus)
        lines += [f"=> cache {d.cache}: object size {lay.size}, aligned {lay.align}, "
                  f"{lay.objects} objects per order-{lay.order} slab "
                  f"({PAGE_SIZE << lay.order} bytes; fallback order {lay.min_order}: "
                  f"{lay.min_objects} objects)",
                  f"   wasted per object: {lay.size - size} bytes; ksize() = {lay.size}"]
    elif d.kind == "large":
        lines.append(f"=> the page allocator: {1 << (d.order or 0)} pages (order {d.order}), "
                     f"a compound page; ksize() = {d.bytes_alloc}")
    elif d.kind == "zero":
        lines.append("=> ZERO_SIZE_PTR (0x10): kfree() and ksize() accept it, any access faults")
    else:
        lines.append(f"=> NULL: {size} > KMALLOC_MAX_SIZE ({S.KMALLOC_MAX_SIZE})")
    return lines


def explain_slab(size: int, gfp: int) -> list[str]:
    lines = [f"kmalloc({size}, {format_gfp(gfp)}) with classic SLAB (Linux 2.6.11, i386):",
             "  __kmalloc walks malloc_sizes[] (" +
             ", ".join(str(s) for s in S.general_cache_sizes()) + ") for the first size >= "
             f"{size}"]
    cs = S.general_cache_for(size)
    if cs is None:
        lines.append(f"=> NULL: no general cache holds {size} bytes (largest "
                     f"{S.general_cache_sizes()[-1]})")
        return lines
    dma = bool(gfp & 0x01)
    if size == 0:
        lines.append("  (2.6.11 has no ZERO_SIZE_PTR: kmalloc(0) gets the smallest object)")
    lines.append("  GFP_DMA selects the (DMA) cache" if dma else "  no GFP_DMA: the normal cache")
    lay = S.classic_layout(cs, 0, S.SLAB_HWCACHE_ALIGN)
    limit, batch, _ = S.enable_cpucache(lay.objsize)
    lines += [f"=> cache {S.general_cache_name(cs, dma)}: {lay.num} objects per order-"
              f"{lay.gfporder} slab, management {'off' if lay.off_slab else 'on'}-slab "
              f"({lay.slab_size} bytes), left over {lay.left_over}, colour range {lay.colour} "
              f"(colour_off {lay.colour_off} bytes); per-CPU array limit {limit}, "
              f"batchcount {batch}",
              f"   wasted per object: {cs - size} bytes"]
    return lines


def run(args: argparse.Namespace) -> int:
    size = args.size
    gfp = gfp_arg(args.gfp)
    if args.allocator == "slab" and args.cpus is not None:
        raise InvalidArgument("--cpus applies to --allocator slub only (2.6.11 SLAB's caches "
                              "do not depend on the number of CPUs)")
    lines = (explain_slub(size, gfp, args.cpus or 1) if args.allocator == "slub"
             else explain_slab(size, gfp))
    print("\n".join(lines))
    return 0
