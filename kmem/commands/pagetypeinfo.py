"""``kmem pagetypeinfo``: /proc/pagetypeinfo of a model machine with migratetypes."""

from __future__ import annotations

import argparse

from ._machine_args import add_machine_arguments, build_machine

HELP = ("print /proc/pagetypeinfo (free blocks per migratetype and order, pageblocks per type) "
        "of a model machine with migratetypes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser)
    cma = parser.add_mutually_exclusive_group()
    cma.add_argument("--cma", dest="cma", action="store_const", const=True, default=None,
                     help="print the CMA row and column of a kernel with CONFIG_CMA")
    cma.add_argument("--no-cma", dest="cma", action="store_const", const=False,
                     help="print the columns of a kernel without CONFIG_CMA (the default "
                          "for Debian's amd64 kernels)")


def run(args: argparse.Namespace) -> int:
    args.migratetypes = True
    print(build_machine(args).pagetypeinfo(cma=args.cma), end="")
    return 0
