"""``kmem pagetypeinfo``: /proc/pagetypeinfo of a model machine with migratetypes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kmem.spec import procfs
from kmem.spec.errors import InvalidArgument
from kmem.spec.kernel import UnknownKernel
from kmem.spec.kernel import kernel as kernel_rules

from ._machine_args import add_machine_arguments, build_machine

HELP = ("print /proc/pagetypeinfo (free blocks per migratetype and order, pageblocks per type) "
        "of a model machine (always with migratetypes)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser, migratetypes_flag=False)
    cma = parser.add_mutually_exclusive_group()
    cma.add_argument("--cma", dest="cma", action="store_const", const=True, default=None,
                     help="print the CMA row and column of a kernel with CONFIG_CMA")
    cma.add_argument("--no-cma", dest="cma", action="store_const", const=False,
                     help="print the columns of a kernel without CONFIG_CMA (the default "
                          "for Debian's amd64 kernels)")


def _real_blocks(root: Path) -> list[str]:
    """The 'Number of blocks type' rows of the real file, when there is one."""
    try:
        nodes = procfs.parse_pagetypeinfo((root / "pagetypeinfo").read_text())
    except (OSError, UnicodeDecodeError, InvalidArgument, ValueError):
        return []
    rows = []
    for node in nodes:
        for z in node.zones:
            split = ", ".join(f"{n} {name}" for name, n in zip(node.migratetypes, z.blocks,
                                                              strict=False) if n)
            rows.append(f"Node {node.node}, zone {z.zone}: {split}")
    return rows


def run(args: argparse.Namespace) -> int:
    args.migratetypes = True
    if args.kernel is not None and kernel_rules(args.kernel).pagetypeinfo_format == "none":
        raise UnknownKernel(f"kernel {args.kernel} has no /proc/pagetypeinfo (2.6.24+)")
    text = build_machine(args).pagetypeinfo(cma=args.cma)
    if args.kernel is not None:  # the same bytes, checked against that version's format
        text = procfs.format_pagetypeinfo(procfs.parse_pagetypeinfo(text), kernel=args.kernel)
    print(text, end="")
    if args.from_proc:
        # zoneinfo and buddyinfo do not say which migratetype a free block or a pageblock
        # has: the model boots every pageblock MIGRATE_MOVABLE, as memmap_init does
        note = ("kmem pagetypeinfo: note: the split by migratetype above is assumed, not "
                f"read: {args.from_proc}/zoneinfo and buddyinfo do not record it, so the "
                "model boots every pageblock Movable (as memmap_init_range does)")
        real = _real_blocks(Path(args.from_proc))
        if real:
            note += f"; the real {args.from_proc}/pagetypeinfo has: " + "; ".join(real)
        print(note, file=sys.stderr)
    return 0
