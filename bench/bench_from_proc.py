"""Benchmark ``Machine.from_proc`` at real-machine scale; print medians.

    python bench/bench_from_proc.py [--repeat 5]

Two cases:

- ``busy-24G``: a 24 GiB x86-64 machine whose Normal zone holds the buddyinfo of a
  busy machine (8878 14750 8320 6466 2604 2204 954 895 500 344 1416: about 50,000
  free blocks), the report of issue 12 (over two minutes before the placement was
  computed an order at a time). Whole ``from_proc`` (parse, watermark check,
  placement, load, invariant check) and the placement alone.
- ``64G-1M``: a 64 GiB machine whose Normal zone holds 10^6 free blocks (orders 0-9);
  placement alone (goal: under one second) and whole ``from_proc``.

Not a test: timings are noisy; quote medians, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

from kmem.model import Machine
from kmem.spec import procfs
from kmem.spec.from_proc import place_free_blocks

BUSY_NORMAL = (8878, 14750, 8320, 6466, 2604, 2204, 954, 895, 500, 344, 1416)
MILLION = (400000, 300000, 150000, 80000, 40000, 15000, 8000, 4000, 2000, 1000, 0)


def proc_texts(mem_mb: int, normal: tuple[int, ...]) -> tuple[str, str, dict[str, int]]:
    """/proc texts of an x86-64 machine of ``mem_mb`` whose Normal zone holds ``normal``."""
    m = Machine.x86_64(mem_mb=mem_mb)
    free = sum(n << o for o, n in enumerate(normal))
    zones = [z if z.zone != "Normal" else
             procfs.ZoneinfoZone(**{**z.__dict__, "free": free, "nr_free_pages": free})
             for z in m.zoneinfo_zones()]
    rows = [procfs.BuddyinfoRow(0, z.name, normal if z.name == "Normal" else z.nr_free())
            for z in m.zones if z.present_pages]
    return (procfs.format_zoneinfo(zones), procfs.format_buddyinfo(rows),
            {"min_free_kbytes": m.min_free_kbytes})


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"median of {args.repeat}")
    for name, mem_mb, normal in (("busy-24G", 24576, BUSY_NORMAL),
                                 ("64G-1M", 65536, MILLION)):
        zoneinfo, buddyinfo, ctl = proc_texts(mem_mb, normal)
        span = next(z for z in Machine.x86_64(mem_mb=mem_mb).zones if z.name == "Normal")
        place = median_s(partial(place_free_blocks, span.start_pfn, span.end_pfn, normal),
                         args.repeat)
        whole = median_s(partial(Machine.from_proc, zoneinfo, buddyinfo, ctl), args.repeat)
        print(f"{name:9} {sum(normal):>8} free blocks: placement {place:.3f} s, "
              f"whole from_proc {whole:.3f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
