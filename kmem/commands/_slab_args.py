"""Shared options of the slab commands (slabinfo, kmalloc, slab): the allocator and machine."""

from __future__ import annotations

import argparse

from kmem.model import Machine
from kmem.spec.gfp import parse_gfp

from ._args import int_arg


def add_slab_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allocator", choices=("slub", "slab"), default="slub",
                        help="slub: 6.12 SLUB (default); slab: 2.6.11 classic SLAB, the "
                             "lecture slides' era")
    parser.add_argument("--preset", choices=("x86_64", "x86_32"), default=None,
                        help="machine preset (default: x86_64 for slub, x86_32 for slab)")
    parser.add_argument("--cpus", type=int_arg("--cpus", 1), default=1,
                        help="CPUs SLUB sizes its slabs for (min_objects = 4 * (fls(N) + 1); "
                             "default 1). The model itself runs one CPU")
    parser.add_argument("--mem-mb", type=int_arg("--mem-mb", 32), default=256, help="memory size in MB (default 256)")


def build_slab_machine(args: argparse.Namespace) -> Machine:
    preset = args.preset or ("x86_32" if args.allocator == "slab" else "x86_64")
    if preset == "x86_32":
        return Machine.x86_32(args.mem_mb, slab=args.allocator, slab_cpus=args.cpus)
    return Machine.x86_64(args.mem_mb, slab=args.allocator, slab_cpus=args.cpus)


def gfp_arg(text: str) -> int:
    """A gfp mask given as a number or as names (GFP_KERNEL|__GFP_DMA)."""
    return parse_gfp(text)
