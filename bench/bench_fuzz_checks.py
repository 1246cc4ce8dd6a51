"""Benchmark the bulk runner's throughput of checked operations (issue 18 item 5).

    python bench/bench_fuzz_checks.py [--repeat 3] [--n 20000]

A checked operation is one bulk operation whose result two implementations of one
policy agree on (with fingerprints and the spec's invariants at every checkpoint).
For each stream (workloads b and mix on a 4096-page and a 2**20-page zone, policy
"lowest"), it runs :func:`kmem.fuzz.bulk.run_stream` on model and fastimpl and prints
checked operations per CPU second (process time, so the figure is per core and does
not depend on other load), and the split: each implementation's own run
(:func:`kmem.fuzz.bulk.execute`) and what the comparison adds. The goal is 200,000
checked operations per second per core; the split says what bounds it.
Not a test: quote medians, with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from kmem.fuzz import ops as O
from kmem.fuzz.bulk import execute, run_stream
from kmem.fuzz.configs import MachineConfig
from kmem.fuzz.impls import resolve

GOAL = 200_000


def cpu(fn, repeat: int) -> float:
    """The median CPU seconds of ``fn()`` over ``repeat`` runs."""
    out = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        out.append(time.process_time() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--n", type=int, default=20000, help="operations per stream")
    args = ap.parse_args()
    model, fast = resolve("model@lowest,fast@lowest")
    print(f"load {os.getloadavg()[0]:.1f}; CPU seconds per run (median of {args.repeat})")
    print(f"{'stream':28s} {'ops':>6s} {'checked/s':>10s} {'model ops/s':>12s} "
          f"{'fast ops/s':>11s} {'compare':>8s} {'goal':>6s}")
    for npages in (1 << 12, 1 << 20):
        config = MachineConfig("generic", npages, min_free_kbytes=0)
        for name in ("b", "mix"):
            ops = O.workload_stream(name, 7, args.n if name == "b" else args.n // 4, npages)
            run_stream(config, ops[:200], [model, fast])  # warm the compiled code
            lead = execute(model, config, ops)
            total = cpu(lambda c=config, o=ops: run_stream(c, o, [model, fast]), args.repeat)
            t_model = cpu(lambda c=config, o=ops: execute(model, c, o), args.repeat)
            t_fast = cpu(lambda c=config, o=ops, r=lead.results: execute(fast, c, o, expected=r),
                         args.repeat)
            rep = run_stream(config, ops, [model, fast])
            assert rep.ok, rep.divergence
            rate = rep.checked_ops / total
            print(f"{name} on {config.describe():20s} {len(ops):6d} {rate:10,.0f} "
                  f"{len(ops) / t_model:12,.0f} {len(ops) / t_fast:11,.0f} "
                  f"{max(0.0, total - t_model - t_fast) / total:7.0%} "
                  f"{rate / GOAL:5.2f}x")


if __name__ == "__main__":
    main()
