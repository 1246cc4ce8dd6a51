"""The ``kmem`` command line: one sub-command per module in :mod:`kmem.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from kmem import __version__, commands
from kmem.spec.errors import KmemError

#: the exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmem",
        description="Executable reference model of Linux physical memory management.",
    )
    parser.add_argument("--version", action="version", version=f"kmem {__version__}")
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


def _os_error(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory (ask for less)"
    if isinstance(exc, OSError) and exc.strerror:
        name = f" {exc.filename!s}" if exc.filename else ""
        return f"cannot use{name}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status: 0 ok, 1 a check failed, 2 bad input, 130 Ctrl-C."""
    try:
        args = build_parser().parse_args(argv)
        try:
            return int(args._run(args) or 0)
        except KmemError as exc:
            print(f"kmem {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            raise  # handled below: the reader went away
        except (OSError, MemoryError) as exc:
            # the machine said no (a file, a directory, a permission, memory): bad input
            # or setup, never a finding; one line, no traceback
            print(f"kmem {args.command}: error: {_os_error(exc)}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly (no traceback), with the status a shell gives SIGINT
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (kmem ... | head): stop writing, and let the interpreter's
        # final flush of stdout not complain either
        # (the recipe of Python's signal module documentation)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
