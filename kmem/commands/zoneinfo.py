"""``kmem zoneinfo``: /proc/zoneinfo (the modelled lines) of a model machine."""

from __future__ import annotations

import argparse

from ._machine_args import add_machine_arguments, build_machine

HELP = "print /proc/zoneinfo's modelled lines of a model machine (watermarks, protection)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser)
    parser.add_argument("--kernel", metavar="VERSION", default=None,
                        help="print only the lines this kernel version prints (uname -r "
                             "form, e.g. 4.19.0-17-amd64: no boost, cma or promo)")


def run(args: argparse.Namespace) -> int:
    from kmem.spec.procfs import format_zoneinfo

    print(format_zoneinfo(build_machine(args).zoneinfo_zones(), kernel=args.kernel), end="")
    return 0
