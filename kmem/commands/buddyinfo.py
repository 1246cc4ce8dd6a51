"""``kmem buddyinfo``: /proc/buddyinfo of a freshly booted model machine."""

from __future__ import annotations

import argparse

from ._machine_args import add_machine_arguments, build_machine

HELP = "print /proc/buddyinfo of a model machine (a preset, or booted from a real /proc)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    print(build_machine(args).buddyinfo(), end="")
    return 0
