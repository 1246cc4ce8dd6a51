"""``kmem zoneinfo``: /proc/zoneinfo (the modelled lines) of a model machine."""

from __future__ import annotations

import argparse

from ._machine_args import add_machine_arguments, build_machine

HELP = "print /proc/zoneinfo's modelled lines of a model machine (watermarks, protection)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from kmem.spec.kernel import kernel

    # --kernel: only the lines that version prints (4.19.0-17-amd64: no boost, cma or
    # promo); a kernel without /proc/zoneinfo is refused before any machine is built
    kernel(args.kernel).zoneinfo_fields  # noqa: B018 (raises UnknownKernel before 2.6.13)
    print(build_machine(args).zoneinfo(), end="")
    return 0
