"""Shared options of the commands that build a model machine (buddyinfo, zoneinfo)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kmem.model import Machine
from kmem.spec.errors import InvalidArgument


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=("x86_64", "x86_32", "generic"), default="x86_64",
                        help="machine preset (default x86_64)")
    parser.add_argument("--mem-mb", type=int, default=4096,
                        help="memory size in MB for x86_64/x86_32 (default 4096)")
    parser.add_argument("--pages", type=int, default=1024,
                        help="zone size in pages for the generic preset (default 1024)")
    parser.add_argument("--vmsplit", default="3G", help="x86_32 VMSPLIT option (default 3G)")
    parser.add_argument("--movablecore-mb", type=int, default=0,
                        help="x86_64: size of ZONE_MOVABLE, like movablecore= (default 0)")
    parser.add_argument("--min-free-kbytes", type=int, default=None,
                        help="vm.min_free_kbytes (default: the kernel's boot value)")
    parser.add_argument("--from-proc", metavar="DIR", nargs="?", const="/proc",
                        help="boot the model from a real machine's /proc (zoneinfo, buddyinfo, "
                             "sys/vm/*); DIR defaults to /proc")


def build_machine(args: argparse.Namespace) -> Machine:
    if args.from_proc:
        root = Path(args.from_proc)
        try:
            zoneinfo = (root / "zoneinfo").read_text()
            buddyinfo = (root / "buddyinfo").read_text()
        except OSError as exc:
            raise InvalidArgument(f"cannot read {exc.filename}: {exc.strerror}") from None
        # the whole sys/vm directory: the model reads what it uses and ignores the rest;
        # a live /proc is read file by file: the free counts may move in between
        return Machine.from_proc(zoneinfo, buddyinfo, root / "sys" / "vm",
                                 allow_free_mismatch=True)
    kw = {"min_free_kbytes": args.min_free_kbytes}
    if args.preset == "x86_64":
        return Machine.x86_64(args.mem_mb, movablecore_mb=args.movablecore_mb, **kw)
    if args.preset == "x86_32":
        return Machine.x86_32(args.mem_mb, args.vmsplit, **kw)
    return Machine.generic(args.pages, **kw)
