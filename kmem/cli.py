"""The ``kmem`` command line: one sub-command per module in :mod:`kmem.commands`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from kmem import commands
from kmem.spec.errors import KmemError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmem",
        description="Executable reference model of Linux physical memory management.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"kmem.commands.{info.name}")
        p = sub.add_parser(info.name.replace("_", "-"), help=module.HELP,
                           description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KmemError as exc:
        print(f"kmem {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
