"""Benchmark the whole allocation path against the bare buddy core; print ops/s and ratios.

    python bench/bench_alloc_path.py [--npages 65536] [--n 100000] [--repeat 3]

One seeded workload through the page API (``alloc_pages`` / ``__free_pages``): a mix of
GFP_KERNEL, GFP_HIGHUSER_MOVABLE and GFP_KERNEL|__GFP_RECLAIMABLE requests of orders
0-3 (an order 9 now and then), each block held a while, on a generic machine with the
bare core (policy "linux"), with migratetypes, and with migratetypes and per-CPU lists
for 1 and 4 CPUs (the caller hopping between them). Prints the median ops/s of each and
its ratio to the bare core, measured in the same run. Not a test: timings are noisy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from kmem.model import Machine, api
from kmem.spec import gfp

MASKS = (gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE)
CONFIGS = {
    "bare core": {},
    "migratetypes": {"migratetypes": True},
    "migratetypes + pcp x1": {"migratetypes": True, "nr_cpus": 1},
    "migratetypes + pcp x4": {"migratetypes": True, "nr_cpus": 4},
}


def run(config: dict, npages: int, n: int, seed: int) -> float:
    m = Machine.generic(npages, policy="linux", min_free_kbytes=0, **config)
    rnd = random.Random(seed)
    held: list[tuple[object, int]] = []
    nowarn = gfp.__GFP_NOWARN
    t0 = time.perf_counter()
    for _ in range(n):
        if held and (rnd.random() < 0.48 or len(held) > npages // 8):
            page, order = held.pop(rnd.randrange(len(held)))
            if m.nr_cpus:
                m.cpu = rnd.randrange(m.nr_cpus)
            api.__free_pages(m, page, order)
        else:
            order = 9 if rnd.random() < 0.002 else rnd.choice((0, 0, 0, 1, 2, 3))
            page = api.alloc_pages(m, rnd.choice(MASKS) | nowarn, order)
            if page is not None:
                held.append((page, order))
    elapsed = time.perf_counter() - t0
    assert m.check_invariants() == []
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npages", type=int, default=1 << 16)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    medians = {}
    for name, config in CONFIGS.items():
        rates = [run(config, args.npages, args.n, seed) for seed in range(args.repeat)]
        medians[name] = statistics.median(rates)
    base = medians["bare core"]
    for name, rate in medians.items():
        print(f"{name:<24} {rate:>10,.0f} ops/s   {rate / base:5.2f} x bare core")


if __name__ == "__main__":
    main()
