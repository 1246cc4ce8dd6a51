"""``kmem conform``: the real kernel's allocation path against kmem, step by step."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kmem.commands._args import int_arg
from kmem.fuzz.conform import KERNELS, build_harness, cache_dir, conform
from kmem.progress import Progress

HELP = "run the real kernel's allocation code (extracted from a kernel tree) against kmem"
DESCRIPTION = (
    "Extract the kernel's whole page allocation path by name (pageblock bits, fallbacks[], "
    "__free_one_page, expand, __rmqueue and its claim/steal or fallback functions, the "
    "highatomic reserve, rmqueue_buddy, the per-CPU lists: rmqueue_pcplist, rmqueue_bulk, "
    "free_unref_page, free_pcppages_bulk, nr_pcp_free, nr_pcp_high, drain_pages_zone, "
    "decay_pcp_high, zone_batchsize, zone_highsize) from Debian's linux-source-VERSION "
    "package (apt-get download; cached) or from any kernel tree (--source), compile it "
    "against kmem's shim, and drive it and the model with the same streams: every returned "
    "pfn, every free list per order and migratetype in list order, every pageblock's type, "
    "every pcp list with its pageset's fields and the zone counters must match after every "
    "operation. The spec's invariants also run on the kernel's state. --core runs the bare "
    "buddy core harness instead. Exit status: 0 agreement, 1 divergence or an invariant "
    "broken by the kernel's code, 2 setup error (package, compiler, a tree of unknown shape).")

OUTSIDE_CORE = ("outside this harness: per-CPU lists (pcp), migratetypes and their fallback, "
                "watermarks, compaction capture, page reporting, shuffling, guard pages; one "
                "zone, one migratetype, MAX_PAGE_ORDER 10")
OUTSIDE_PATH = ("outside this harness: watermarks and the zonelist (one zone; ZONE_BELOW_HIGH "
                "never set), CMA pageblocks, isolation, compaction capture, page reporting, "
                "shuffling, guard pages, PCPF_FREE_HIGH_BATCH (cache-size tuning), the remote "
                "drain; x86-64: MAX_PAGE_ORDER 10, pageblock_order 9, THP pcp lists")


def _sizes(text: str) -> list[int]:
    convert = int_arg("page count", 1)
    return [convert(part) for part in text.split(",") if part.strip()]


def _cpus(text: str) -> list[int]:
    convert = int_arg("CPU count", 1)
    out = [convert(part) for part in text.split(",") if part.strip()]
    if any(n > 8 for n in out):
        raise argparse.ArgumentTypeError("the harness has at most 8 CPUs")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernel", choices=(*KERNELS, "2.6.11"), default=None,
                        help="which Debian linux-source package (default 6.12); with --source, "
                             "the version the tree must be; 2.6.11: the lecture slides' "
                             "allocator, from the tree given with --source")
    parser.add_argument("--source", metavar="DIR", default=None,
                        help="an unpacked kernel tree instead of a package (a git checkout, "
                             "your own patched tree); its version comes from its Makefile")
    parser.add_argument("--core", action="store_true",
                        help="the bare buddy core harness (__free_one_page, expand, "
                             "__rmqueue_smallest; one migratetype, no pcp)")
    parser.add_argument("--seed", type=int_arg("seed", 0), default=0, help="first seed (0)")
    parser.add_argument("--seeds", type=int_arg("seeds", 0), default=6,
                        help="random streams, one seed each (default 6)")
    parser.add_argument("--ops", type=int_arg("operations", 1), default=None,
                        help="operations per stream (default 20000; --core 5000)")
    parser.add_argument("--npages", type=_sizes, default=None,
                        help="zone sizes, comma-separated (default 66000,33000,100001,16500; "
                             "--core 1000,4099,16384)")
    parser.add_argument("--cpus", type=_cpus, default=[1, 2, 4],
                        help="CPU counts, comma-separated, cycled over the streams (1,2,4)")
    parser.add_argument("--no-pcp", action="store_true",
                        help="no per-CPU lists: rmqueue_buddy and free_one_page only")
    parser.add_argument("--no-directed", action="store_true",
                        help="skip the directed streams (refused merge, claim, steal)")
    parser.add_argument("--invariants-every", type=int_arg("operations", 0), default=1,
                        metavar="N", help="check the spec's invariants on the kernel's state "
                                          "after every Nth operation (default 1; 0: never)")
    parser.add_argument("--reserved", type=int_arg("reserved pages", 0), default=0,
                        help="--core: pages at the zone's start never freed to the allocator")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help=f"where the package, sources and build are kept (default "
                             f"{cache_dir()})")


def run(args: argparse.Namespace) -> int:
    if args.kernel == "2.6.11" or (args.kernel is None and args.source and _is_2611(args.source)):
        from kmem.commands._conform_2611 import run_2611

        args.kernel = "2.6.11"
        args.ops = args.ops or 5000
        return run_2611(args)
    if args.core:
        return _run_core(args)
    return _run_path(args)


def _is_2611(source: str) -> bool:
    from kmem.fuzz.conform import tree_version

    return tree_version(Path(source)) == (2, 6, 11)


def _run_path(args: argparse.Namespace) -> int:
    from kmem.fuzz.conform.path import DEFAULT_SIZES, build_path_harness, conform_path

    started = time.monotonic()
    cache = Path(args.cache) if args.cache else None
    if args.source:
        print(f"kmem conform: the whole allocation path of the tree {args.source}")
        if args.kernel:
            from kmem.fuzz.conform import ConformError, tree_version
            version = ".".join(map(str, tree_version(Path(args.source))))
            if not (version + ".").startswith(args.kernel + "."):
                raise ConformError(f"--kernel {args.kernel} but {args.source} is Linux "
                                   f"{version} (its Makefile)")
        harness = build_path_harness(source=Path(args.source), cache=cache)
    else:
        kernel = args.kernel or "6.12"
        print(f"kmem conform: the whole allocation path of Linux {kernel} "
              f"(Debian linux-source-{kernel})")
        harness = build_path_harness(kernel, cache=cache)
    k = harness.kernel
    print(f"  Linux {k.version} ({k.origin}), the {k.shape.name} shape; {len(k.names)} "
          f"functions and tables extracted by name: {', '.join(k.names)}")
    print(f"  sha256 of the extracted kernel text: {k.sha256}")
    print(f"  harness {harness.binary} ({'cached' if harness.cached else 'built'}, "
          f"{time.monotonic() - started:.1f} s)")
    ops = args.ops or 20_000
    sizes = args.npages or list(DEFAULT_SIZES)
    streams = args.seeds + (0 if args.no_directed else 2)
    with Progress("kmem conform", total=streams, unit="streams") as progress:
        def report(line: str) -> None:
            progress.emit(line)
            progress.advance()

        a = conform_path(harness, seed=args.seed, seeds=args.seeds, ops=ops, sizes=sizes,
                         ncpus=args.cpus, pcp=not args.no_pcp, directed=not args.no_directed,
                         invariants=args.invariants_every, progress=report)
    print(f"agreement with the kernel's code ({a.runs} stream(s), {a.ops} operations, "
          f"{a.seconds:.1f} s): returned pfns {a.allocs - a.pfns_differ}/{a.allocs} "
          f"({a.fails} failures), whole states (free lists per order and migratetype, "
          f"pageblock types, pcp lists and pagesets, counters) "
          f"{a.states - a.states_differ}/{a.states}")
    if a.events:
        print("  branches the kernel took: " + ", ".join(f"{name} {n}" for name, n in
                                                        sorted(a.events.items())))
    if a.agrees:
        print("first divergence: none")
    else:
        print("first divergence:")
        for line in a.divergence:
            print(f"  {line}")
    every = args.invariants_every
    print(f"the spec's invariants on the kernel's state ({a.invariant_checks} checks, "
          f"{'never' if not every else 'after every operation' if every == 1 else f'every {every} operations'}): "
          f"{'none broken' if not a.violations else 'BROKEN'}")
    for line in a.violations:
        print(f"  {line}")
    print(OUTSIDE_PATH)
    return 0 if a.agrees and not a.violations else 1


def _run_core(args: argparse.Namespace) -> int:
    if args.source:
        from kmem.fuzz.conform import ConformError
        raise ConformError("--core runs Debian's packages only (--kernel); --source runs the "
                           "whole path")
    kernel = args.kernel or "6.12"
    started = time.monotonic()
    print(f"kmem conform: Linux {kernel} (Debian linux-source-{kernel})")
    harness = build_harness(kernel, Path(args.cache) if args.cache else None)
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

        agreement = conform(harness, seed=args.seed, seeds=args.seeds, ops=args.ops or 5000,
                            npages=args.npages or [1000, 4099, 1 << 14],
                            reserved=args.reserved, progress=report)
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
    print(OUTSIDE_CORE)
    return 0 if a.agrees else 1
