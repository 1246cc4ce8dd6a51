"""Benchmark the fuzzers' throughput of checked operations (issue 18 item 5).

    python bench/bench_fuzz_checks.py [--repeat 3] [--n 20000] [--path-ops 200]

Two tables, in checked operations per CPU second (process time, so the figure is per
core and depends little on other load):

- **bare core** (the bulk runner, :func:`kmem.fuzz.bulk.run_stream`): a checked operation
  is one bulk operation whose result model and fastimpl (policy "lowest") agree on, with
  the fingerprints (free lists in order, allocated blocks, counters, dmesg) compared and
  the spec's invariants checked on both at every checkpoint (2000 operations) and at the
  end. Streams: workloads b and mix on a 4096-page and a 2**20-page zone. The split: each
  implementation's own run (:func:`kmem.fuzz.bulk.execute` with its checkpoints) and what
  the comparison adds. Goal: 200,000.
- **whole path** (:class:`kmem.fuzz.path.PathRunner`, the ``kmem fuzz`` whole-path
  stage): a checked operation is one step run on model and fastimpl with everything
  compared after it (results and exceptions, free lists per order and migratetype in
  order, every CPU's pcp lists and counters, pageblock types, zone counters, dmesg), the
  spec's invariants checked on both machines and the lead's result judged by the spec
  (``legal_rmqueue_blocks``, ``allocation_failure_legal``, no page lost). One seeded
  stream per machine of :data:`kmem.fuzz.path.PATH_CONFIGS`. The split: the model's and
  fastimpl's own calls, and the checks. Goal: 50,000. (``kmem fuzz`` counts a whole-path
  step once per implementation; here a step is counted once.)

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
PATH_GOAL = 50_000


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
    ap.add_argument("--path-ops", type=int, default=200,
                    help="operations per whole-path stream (0: no whole-path table)")
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
    if args.path_ops:
        whole_path(args.path_ops, args.repeat)


def whole_path(n: int, repeat: int) -> None:
    """The whole-path table: one stream per configuration, the median of ``repeat``."""
    from kmem.fuzz import path as P

    impls = P.path_impls("model,fast")
    print(f"\nwhole path (model vs fastimpl, policy linux), {n} operations per stream, "
          f"median of {repeat}")
    print(f"{'machine':44s} {'steps':>5s} {'checked/s':>10s} {'model ops/s':>12s} "
          f"{'fast ops/s':>11s} {'checks':>7s} {'goal':>6s}")
    totals = [0.0, 0.0, 0.0, 0]
    for k, config in enumerate(P.PATH_CONFIGS):
        ops = P.path_stream_for(config, k + 1, n)
        runs = []
        for _ in range(repeat):
            t0 = time.process_time()
            runner = P.PathRunner(config, impls)
            for op in ops:
                runner.apply(op)
            runs.append((time.process_time() - t0, *runner.impl_seconds))
        total, t_model, t_fast = sorted(runs)[len(runs) // 2]
        totals = [totals[0] + total, totals[1] + t_model, totals[2] + t_fast, totals[3] + n]
        _path_row(_describe(config), n, total, t_model, t_fast)
    _path_row("all machines", totals[3], totals[0], totals[1], totals[2])


def _describe(config: object) -> str:
    d = {k: v for k, v in vars(config).items() if v not in (0, (), None)}
    return ", ".join(f"{k}={v}" for k, v in d.items())[:44]


def _path_row(name: str, n: int, total: float, t_model: float, t_fast: float) -> None:
    rate = n / total
    print(f"{name:44s} {n:5d} {rate:10,.0f} {n / max(t_model, 1e-9):12,.0f} "
          f"{n / max(t_fast, 1e-9):11,.0f} {max(0.0, total - t_model - t_fast) / total:6.0%} "
          f"{rate / PATH_GOAL:5.3f}x")


if __name__ == "__main__":
    main()
