"""Shared options of the commands that build a model machine (buddyinfo, zoneinfo)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kmem.model import Machine
from kmem.progress import Progress
from kmem.spec.errors import InvalidArgument
from kmem.spec.from_proc import read_sysctl_dir

from ._args import int_arg

#: option -> (default, the presets it applies to); None in args means "not given"
PRESET_OPTIONS: dict[str, tuple[object, tuple[str, ...]]] = {
    "preset": ("x86_64", ("x86_64", "x86_32", "generic")),
    "mem_mb": (4096, ("x86_64", "x86_32")),
    "pages": (1024, ("generic",)),
    "vmsplit": ("3G", ("x86_32",)),
    "movablecore_mb": (0, ("x86_64",)),
}


#: the largest CONFIG_NR_CPUS x86-64 allows (6.12.118 arch/x86/Kconfig NR_CPUS_RANGE_END:
#: 8192 with CPUMASK_OFFSTACK, i.e. MAXSMP)
MAX_CPUS = 8192
#: vm.min_free_kbytes is an int written through proc_dointvec_minmax (6.12.118
#: mm/page_alloc.c:300 ``int min_free_kbytes``, min_free_kbytes_sysctl_handler)
MAX_MIN_FREE_KBYTES = 2**31 - 1


def _bounded(what: str, lo: int, hi: int, why: str) -> Callable[[str], int]:
    base = int_arg(what, lo)

    def convert(text: str) -> int:
        value = base(text)
        if value > hi:
            raise argparse.ArgumentTypeError(f"{what} {value} is more than {hi:,} ({why})")
        return value

    convert.__name__ = what
    return convert


def add_machine_arguments(parser: argparse.ArgumentParser, *,
                          migratetypes_flag: bool = True) -> None:
    parser.add_argument("--preset", choices=("x86_64", "x86_32", "generic"), default=None,
                        help="machine preset (default x86_64)")
    parser.add_argument("--mem-mb", type=int_arg("--mem-mb", 1), default=None,
                        help="memory size in MB for x86_64/x86_32 (default 4096)")
    parser.add_argument("--pages", type=int_arg("--pages", 1), default=None,
                        help="zone size in pages for the generic preset (default 1024)")
    parser.add_argument("--vmsplit", default=None, help="x86_32 VMSPLIT option (default 3G)")
    parser.add_argument("--movablecore-mb", type=int_arg("--movablecore-mb", 0), default=None,
                        help="x86_64: size of ZONE_MOVABLE, like movablecore= (default 0)")
    parser.add_argument("--min-free-kbytes",
                        type=_bounded("--min-free-kbytes", 0, MAX_MIN_FREE_KBYTES,
                                      "vm.min_free_kbytes is a C int"), default=None,
                        help="vm.min_free_kbytes (default: the kernel's boot value; with "
                             "--from-proc: set after boot, as writing the sysctl does)")
    if migratetypes_flag:
        parser.add_argument("--migratetypes", action="store_true",
                            help="the kernel's whole allocation path: free lists per "
                                 "migratetype, pageblocks, fallback, highatomic (policy linux)")
    parser.add_argument("--cpus", type=_bounded("--cpus", 0, MAX_CPUS,
                                                "x86-64's largest CONFIG_NR_CPUS"), default=0,
                        help="per-CPU page lists for this many CPUs"
                             + (" (implies --migratetypes)" if migratetypes_flag else ""))
    parser.add_argument("--kernel", metavar="VERSION", default=None,
                        help="the kernel the machine models, as uname -r prints it (default: "
                             "the newest kmem knows): its allocation path (with "
                             "migratetypes: 6.1 or 6.12 onwards), its configuration (CONFIG_CMA, "
                             "init_on_alloc) and the lines its /proc files print")
    parser.add_argument("--from-proc", metavar="DIR", nargs="?", const="/proc",
                        help="boot the model from a real machine's /proc (zoneinfo, buddyinfo, "
                             "sys/vm/*); DIR defaults to /proc")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_combinations(args: argparse.Namespace) -> str:
    """The preset to build; refuses options that would be silently ignored."""
    given = [name for name in PRESET_OPTIONS if getattr(args, name) is not None]
    if args.from_proc:
        if given:
            raise InvalidArgument(
                f"--from-proc boots the machine that {args.from_proc} describes, so "
                f"{', '.join(_option(n) for n in given)} cannot apply; drop "
                f"{'it' if len(given) == 1 else 'them'} (--min-free-kbytes does apply)")
        return "from-proc"
    preset = args.preset or "x86_64"
    for name in given:
        presets = PRESET_OPTIONS[name][1]
        if preset not in presets:
            raise InvalidArgument(f"{_option(name)} applies to --preset "
                                  f"{' or '.join(presets)} only, not {preset}")
    return preset


def _value(args: argparse.Namespace, name: str) -> Any:
    value = getattr(args, name)
    return PRESET_OPTIONS[name][0] if value is None else value


def _boot_from_proc(args: argparse.Namespace) -> Machine:
    root = Path(args.from_proc)
    label = f"kmem {args.command} --from-proc"
    with Progress(label, total=2, unit="steps") as progress:
        progress.start(f"reading {root}/zoneinfo, buddyinfo and sys/vm/*")
        try:
            zoneinfo = (root / "zoneinfo").read_text()
            buddyinfo = (root / "buddyinfo").read_text()
            # the whole sys/vm directory: the model reads the files it uses and
            # lists the others in m.from_proc_report
            sysctls = read_sysctl_dir(root / "sys" / "vm")
        except OSError as exc:
            raise InvalidArgument(f"cannot read {exc.filename}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"cannot read {root}: not text ({exc.reason})") from None
        progress.advance()
        progress.start("checking the watermarks and placing the free blocks in the model")
        # a live /proc is read file by file: the free counts may move in between
        machine = Machine.from_proc(zoneinfo, buddyinfo, sysctls, allow_free_mismatch=True,
                                    **_path_options(args))
        progress.advance()
    return machine


def build_machine(args: argparse.Namespace) -> Machine:
    """The machine the options describe: a preset, or this machine booted from /proc."""
    preset = _check_combinations(args)
    if preset == "from-proc":
        machine = _boot_from_proc(args)
        if args.min_free_kbytes is not None:
            machine.setup_watermarks(min_free_kbytes=args.min_free_kbytes,
                                     watermark_scale_factor=machine.watermark_scale_factor,
                                     lowmem_reserve_ratio=machine.lowmem_reserve_ratio)
        return machine
    kw = {"min_free_kbytes": args.min_free_kbytes, **_path_options(args)}
    if preset == "x86_64":
        return Machine.x86_64(_value(args, "mem_mb"),
                              movablecore_mb=_value(args, "movablecore_mb"), **kw)
    if preset == "x86_32":
        return Machine.x86_32(_value(args, "mem_mb"), _value(args, "vmsplit"), **kw)
    return Machine.generic(_value(args, "pages"), **kw)


def _path_options(args: argparse.Namespace) -> dict[str, object]:
    """--kernel, --migratetypes / --cpus: the modelled kernel and the whole allocation path
    (kmem.model.mtzone)."""
    out: dict[str, object] = {"kernel": getattr(args, "kernel", None)}
    cpus = getattr(args, "cpus", 0)
    if getattr(args, "migratetypes", False) or cpus:
        out.update({"policy": "linux", "migratetypes": True, "nr_cpus": cpus})
    return out
