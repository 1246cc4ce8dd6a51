"""``kmem pagetypeinfo``: /proc/pagetypeinfo of a model machine with migratetypes."""

from __future__ import annotations

import argparse

from ._machine_args import add_machine_arguments, build_machine

HELP = ("print /proc/pagetypeinfo (free blocks per migratetype and order, pageblocks per type) "
        "of a model machine with migratetypes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser)
    parser.add_argument("--no-cma", action="store_true",
                        help="print the columns of a kernel without CONFIG_CMA")


def run(args: argparse.Namespace) -> int:
    args.migratetypes = True
    print(build_machine(args).pagetypeinfo(cma=not args.no_cma), end="")
    return 0
