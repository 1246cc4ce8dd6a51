"""``kmem conform --kernel 2.6.11 --source DIR``: Linux 2.6.11's page allocator against kmem's.

Kept apart from the 6.x harness (:mod:`kmem.fuzz.conform`): 2.6.11's code has another
shape (hot and cold per-CPU lists, no migratetypes), its own shim and driver
(:mod:`kmem.fuzz.conform.v2611`), and no package to fetch: the user's tree is needed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kmem.progress import Progress

OUTSIDE_2611 = ("outside this harness: reclaim (try_to_free_pages frees nothing; the kernel's "
                "retry-for-ever paths are reported as 'would loop'), NUMA, CONFIG_HUGETLB_PAGE's "
                "compound pages, page contents; one node, i386 zones DMA/Normal/HighMem")


def run_2611(args: argparse.Namespace) -> int:
    from kmem.fuzz.conform import cache_dir
    from kmem.fuzz.conform.v2611 import (
        HOW_TO_GET,
        Conform2611Error,
        build_harness_2611,
        conform_2611,
    )

    started = time.monotonic()
    source = getattr(args, "source", None)
    if not source:
        raise Conform2611Error(HOW_TO_GET)
    cache = Path(args.cache) if getattr(args, "cache", None) else cache_dir()
    print(f"kmem conform: Linux 2.6.11 from the tree {source}")
    harness = build_harness_2611(Path(source), cache)
    core = harness.core
    print(f"  {len(core.names)} functions and variables extracted by name: "
          f"{', '.join(core.names)}")
    print(f"  sha256 of the extracted kernel text: {core.sha256}")
    print(f"  harness {harness.binary} ({time.monotonic() - started:.1f} s)")
    streams = args.seeds
    with Progress("kmem conform", total=streams, unit="streams") as progress:
        def report(line: str) -> None:
            progress.emit(line)
            progress.advance()

        a = conform_2611(harness, seed=args.seed, streams=streams, ops=args.ops,
                         progress=report)
    print(f"agreement with 2.6.11's code ({a.streams} stream(s), {a.ops} operations, "
          f"{a.seconds:.1f} s): returned pfns {a.pfns_agree}/{a.pfns}, free lists, per-CPU "
          f"hot and cold lists and counters {a.states_agree}/{a.states}, log lines "
          f"{a.logs_agree}/{a.logs}")
    print("events: " + ", ".join(f"{k} {v}" for k, v in sorted(a.events.items())))
    if a.agrees:
        print("first divergence: none")
    else:
        print("first divergence:")
        for line in a.divergence:
            print(f"  {line}")
    print(OUTSIDE_2611)
    return 0 if a.agrees else 1
