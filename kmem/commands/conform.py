"""``kmem conform --kernel 6.12``: the real kernel's buddy core against kmem, step by step."""

from __future__ import annotations

import argparse
import time

from kmem.commands._args import int_arg
from kmem.fuzz.conform import KERNELS, build_harness, cache_dir, conform
from kmem.progress import Progress

HELP = "run the real kernel's buddy code (extracted from linux-source) against kmem"
DESCRIPTION = (
    "Extract __free_one_page, expand, __rmqueue_smallest, buddy_merge_likely and their "
    "helpers by name from Debian's linux-source-VERSION package (apt-get download; cached), "
    "compile them against kmem's shim, and drive them and the model (policy linux) with the "
    "same seeded streams: every returned pfn, every free list in list order and the counters "
    "must match. Prints the agreement, the first divergence and the sha256 of the extracted "
    "kernel text. Exit status: 0 agreement, 1 divergence, 2 setup error (package, compiler).")

OUTSIDE = ("outside this harness: per-CPU lists (pcp), migratetypes and their fallback, "
           "watermarks, compaction capture, page reporting, shuffling, guard pages; one zone, "
           "one migratetype, MAX_PAGE_ORDER 10")


def _sizes(text: str) -> list[int]:
    convert = int_arg("page count", 1)
    return [convert(part) for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernel", choices=(*KERNELS, "2.6.11"), default="6.12",
                        help="which linux-source package (default 6.12); 2.6.11: the lecture "
                             "slides' allocator, from the tree given with --source")
    parser.add_argument("--source", default=None, metavar="DIR",
                        help="a kernel source tree (with --kernel 2.6.11: a 2.6.11 tree)")
    parser.add_argument("--seed", type=int_arg("seed", 0), default=0, help="first seed (0)")
    parser.add_argument("--seeds", type=int_arg("seeds", 1), default=6,
                        help="runs, one seed each (default 6)")
    parser.add_argument("--ops", type=int_arg("operations", 1), default=5000,
                        help="operations per run (default 5000)")
    parser.add_argument("--npages", type=_sizes, default=[1000, 4099, 1 << 14],
                        help="zone sizes, comma-separated (default 1000,4099,16384)")
    parser.add_argument("--reserved", type=int_arg("reserved pages", 0), default=0,
                        help="pages at the zone's start never freed to the buddy allocator")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help=f"where the package, sources and build are kept (default "
                             f"{cache_dir()})")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.kernel == "2.6.11":
        from kmem.commands._conform_2611 import run_2611

        return run_2611(args)
    started = time.monotonic()
    print(f"kmem conform: Linux {args.kernel} (Debian linux-source-{args.kernel})")
    harness = build_harness(args.kernel, Path(args.cache) if args.cache else None)
    core = harness.core
    print(f"  package {core.package}; {len(core.names)} functions extracted by name: "
          f"{', '.join(core.names)}")
    print(f"  sha256 of the extracted kernel text: {core.sha256}")
    print(f"  harness {harness.binary} ({'cached' if harness.cached else 'built'}, "
          f"{time.monotonic() - started:.1f} s)")
    with Progress("kmem conform", total=args.seeds, unit="runs") as progress:
        def report(line: str) -> None:
            progress.emit(line)
            progress.advance()

        agreement = conform(harness, seed=args.seed, seeds=args.seeds, ops=args.ops,
                            npages=args.npages, reserved=args.reserved, progress=report)
    a = agreement
    print(f"agreement with the kernel's code ({a.runs} run(s), {a.ops} operations, "
          f"{a.seconds:.1f} s): returned pfns {a.pfns_agree}/{a.pfns}, free lists in list order "
          f"{a.lists_agree}/{a.lists}, counters {a.counters_agree}/{a.counters}")
    if a.agrees:
        print("first divergence: none")
    else:
        print("first divergence:")
        for line in a.divergence:
            print(f"  {line}")
    print(OUTSIDE)
    return 0 if a.agrees else 1
