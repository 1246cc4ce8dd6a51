"""Benchmark the reference model on the seeded workloads; print ops/s and ratios.

    python bench/bench_model.py [--workload b] [--npages 1048576] [--n 1000000]
                                [--repeat 3] [--c-source PATH/buddy_bench.c]

Runs each workload on the model's zone-level buddy core (``rmqueue_smallest`` /
``free_one_page``) for both choice policies, and through the page API
(``alloc_pages``/``__free_pages`` with watermarks), ``--repeat`` times, and
prints the median ops/s. With ``--c-source`` (the C reference allocator of the
benchmark suite) it compiles it with ``cc -O2`` into build/ and runs it in the
same session, so the ratios compare like with like. The "lowest" runs also
check the checksum against the reference values (at npages = 2**20).
Not a test: timings are noisy; quote medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kmem.model import Machine, api
from kmem.spec.gfp import GFP_KERNEL
from kmem.spec.workloads import REFERENCE_CHECKSUMS, REFERENCE_NPAGES, run_workload

ROOT = Path(__file__).resolve().parents[1]


def time_zone(workload: str, policy: str, n: int, npages: int) -> tuple[float, str]:
    m = Machine.generic(npages, policy=policy, min_free_kbytes=0)
    zone = m.zones[0]
    t0 = time.perf_counter()
    result = run_workload(workload, zone.rmqueue_smallest, zone.free_one_page, n=n,
                          npages=npages)
    return result.ops / (time.perf_counter() - t0), result.checksum_hex


def time_api(workload: str, n: int, npages: int) -> tuple[float, str]:
    m = Machine.generic(npages, policy="lowest", min_free_kbytes=0)
    pages: dict[int, object] = {}

    def alloc(order: int) -> int | None:
        page = api.alloc_pages(m, GFP_KERNEL, order)
        if page is None:
            return None
        pages[page.pfn] = page
        return page.pfn

    def free(pfn: int, order: int) -> None:
        api.__free_pages(m, pages[pfn], order)

    t0 = time.perf_counter()
    result = run_workload(workload, alloc, free, n=n, npages=npages)
    return result.ops / (time.perf_counter() - t0), result.checksum_hex


def time_c(binary: Path, workload: str, n: int, npages: int) -> tuple[float, str]:
    out = subprocess.run([str(binary), workload, str(n), str(npages)], check=True,
                         capture_output=True, text=True).stdout
    row = json.loads(out.splitlines()[0])
    return 1e9 / row["ns_per_op"], row["checksum"]


def build_c(source: Path) -> Path:
    binary = ROOT / "build" / "buddy_bench"
    binary.parent.mkdir(exist_ok=True)
    subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="b", help="workloads to run, e.g. b or abcd")
    ap.add_argument("--npages", type=int, default=REFERENCE_NPAGES)
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--c-source", type=Path, help="buddy_bench.c of the benchmark suite")
    ap.add_argument("--no-api", action="store_true", help="skip the page-API runs")
    args = ap.parse_args()
    binary = build_c(args.c_source) if args.c_source else None
    reference = args.npages == REFERENCE_NPAGES and args.n == 10**6
    for wl in args.workload:
        rows: dict[str, list[float]] = {}
        checks: dict[str, str] = {}
        for _ in range(args.repeat):
            for policy in ("lowest", "linux"):
                ops, cs = time_zone(wl, policy, args.n, args.npages)
                rows.setdefault(f"model zone {policy}", []).append(ops)
                checks[f"model zone {policy}"] = cs
            if not args.no_api:
                ops, cs = time_api(wl, args.n, args.npages)
                rows.setdefault("model page API lowest", []).append(ops)
                checks["model page API lowest"] = cs
            if binary is not None:
                ops, cs = time_c(binary, wl, args.n, args.npages)
                rows.setdefault("C reference", []).append(ops)
                checks["C reference"] = cs
        print(f"workload {wl}: npages {args.npages}, n {args.n}, median of {args.repeat}")
        base = statistics.median(rows["model zone lowest"])
        c_ops = statistics.median(rows["C reference"]) if "C reference" in rows else None
        for name, values in rows.items():
            med = statistics.median(values)
            line = f"  {name:<24} {med:>12,.0f} ops/s  x{med / base:6.2f} vs model-lowest"
            if c_ops:
                line += f"  x{med / c_ops:8.4f} vs C"
            ok = ""
            if reference and "lowest" in name or name == "C reference":
                want = f"{REFERENCE_CHECKSUMS[wl]:016x}"
                ok = "  checksum ok" if checks[name] == want else f"  CHECKSUM {checks[name]}"
            print(line + ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
