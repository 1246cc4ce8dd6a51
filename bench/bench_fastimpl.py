"""Benchmark fastimpl against the C reference allocator and the model, in one process run.

    python bench/bench_fastimpl.py [--npages 4194304] [--n 1000000] [--repeat 3]
        [--workloads abcd] [--impls c,batch,perop,model] [--model-n 100000]
        [--model-max-ops 2000000] [--path-n 200000] [--path-workloads ab]
        [--path-kinds per-op,batch] [--boot] [--compile]
        [--c-source PATH/buddy_bench.c] [--json FILE]

On one zone of ``npages`` pages (policy "lowest", GFP_KERNEL, min_free_kbytes=0) it
runs the seeded workloads a-d (``kmem.spec.workloads``) on: the C reference
(``../shared/bench/buddy_bench.c``, built with ``cc -O2`` into build/, never copied
into the repository), fastimpl's batch API (``run_ops``; the timed part is the
``run_ops`` call, as C times its loop over precomputed random numbers), fastimpl's
per-operation API (one Python call per ``alloc_pages``/``__free_pages``, driven by
``spec.workloads.run_workload``), and the model's page API. It prints ns/op
(median of ``--repeat``), each one's ratio to C, and whether every checksum equals
C's for the same (workload, n, npages). The model runs workloads a and b with
``--model-n`` operations and skips a workload of more than ``--model-max-ops``
operations (c and d take 2 * npages). Also: bytes of allocator state per managed
page (both policies), the per-call cost of the page API (alloc and free of one page,
with Python's garbage collector on and off; the bare core, and the whole path with
1 CPU's pcp lists), the whole allocation path (``PATH_CONFIGS``: migratetypes,
+ 1 CPU's pcp lists, + 4 CPUs; ``--path-workloads``, default a and b with ``--path-n``
operations, c and d with 2 * npages; ``--path-kinds``, default per-op and batch), each against the bare core's per-op and batch under policy
"linux" in the same run; checksums equal between per-op and batch),
``--boot``: boot time of a 2**24-page (64 GiB) machine, ``--compile``: first-call
(cold, empty numba cache) and warm (cached) start-up, each in a fresh process.

Not a test: timings are noisy on a shared machine; quote medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_C = ROOT.parent / "shared" / "bench" / "buddy_bench.c"


def build_c(source: Path) -> Path:
    binary = ROOT / "build" / "buddy_bench"
    binary.parent.mkdir(exist_ok=True)
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def run_c(binary: Path, wl: str, n: int, npages: int) -> dict:
    out = subprocess.run([str(binary), wl, str(n), str(npages)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[0])


def run_fast(kind: str, wl: str, n: int, npages: int, policy: str = "lowest") -> tuple[float, str]:
    from kmem.fastimpl import Machine
    from kmem.fastimpl.workloads import run_batch, run_per_op

    m = Machine.generic(npages, policy=policy, min_free_kbytes=0)
    c0 = time.process_time()
    r = (run_batch if kind == "batch" else run_per_op)(m, wl, n=n)
    CPU_NS.setdefault((kind, wl), []).append((time.process_time() - c0) * 1e9 / r.ops)
    assert m.free_pages_total == npages
    return r.seconds * 1e9 / r.ops, r.checksum_hex


#: (kind, workload) -> CPU ns/op of each run (the whole workload call, untimed parts included)
CPU_NS: dict[tuple[str, str], list[float]] = {}


def run_model(wl: str, n: int, npages: int) -> tuple[float, str]:
    from kmem.model import Machine, api
    from kmem.spec.gfp import GFP_KERNEL
    from kmem.spec.workloads import run_workload

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
    r = run_workload(wl, alloc, free, n=n, npages=npages)
    return (time.perf_counter() - t0) * 1e9 / r.ops, r.checksum_hex


def per_call_ns(npages: int, calls: int = 200_000, repeat: int = 3,
                **machine: object) -> dict[str, float]:
    """alloc_pages(GFP_KERNEL, 0) and __free_pages(page, 0), timed separately, per call
    (CPU time, median of ``repeat``), ``calls`` pages held at once: with Python's cyclic
    garbage collector on (it walks every tracked object each time enough new ones
    accumulate), and with it off. A pfn's page handle is created the first time the pfn
    is handed out and kept (one per pfn): the first repeat creates ``calls`` of them,
    the later ones reuse them. ``machine``: the machine's options (the bare core
    without)."""
    import gc

    from kmem.fastimpl import Machine, api
    from kmem.spec.gfp import GFP_KERNEL

    m = Machine.generic(npages, min_free_kbytes=0, **machine)
    calls = min(calls, npages // 2)
    alloc, free = api.alloc_pages, api.__free_pages
    free(m, alloc(m, GFP_KERNEL, 0), 0)
    out: dict[str, list[float]] = {}
    for _ in range(repeat):
        for collector in (True, False):
            pages = [None] * calls
            if not collector:
                gc.disable()
            try:
                c0 = time.process_time()
                for i in range(calls):
                    pages[i] = alloc(m, GFP_KERNEL, 0)
                c1 = time.process_time()
                for p in pages:
                    free(m, p, 0)
                c2 = time.process_time()
            finally:
                gc.enable()
            tag = "" if collector else " (gc off)"
            out.setdefault(f"alloc_pages{tag}", []).append((c1 - c0) * 1e9 / calls)
            out.setdefault(f"__free_pages{tag}", []).append((c2 - c1) * 1e9 / calls)
    return {k: statistics.median(v) for k, v in out.items()}


#: the whole allocation path, each compared with the bare core under policy "linux" (the
#: whole path keeps the kernel's lists)
PATH_CONFIGS = (("bare core 'linux'", {}),
                ("migratetypes", {"migratetypes": True}),
                ("+ 1 CPU's pcp lists", {"migratetypes": True, "nr_cpus": 1}),
                ("+ 4 CPUs (ops on CPU 0)", {"migratetypes": True, "nr_cpus": 4}))


def path_rows(npages: int, n: int, workloads: str, repeat: int,
              kinds: tuple[str, ...] = ("per-op", "batch")) -> dict[str, dict[str, float]]:
    """ns/op (wall of the timed part, median of ``repeat``) of workloads ``workloads``
    per-op and batch (``run_ops``) on the bare core and on the whole path
    (``PATH_CONFIGS``), and "... cpu": the CPU time of the whole workload call (its
    untimed parts included), which a loaded machine inflates less. Per-op and batch must
    give the same checksum on each machine."""
    from kmem.fastimpl import Machine
    from kmem.fastimpl.workloads import run_batch, run_per_op

    out: dict[str, dict[str, float]] = {}
    for label, kw in PATH_CONFIGS:
        for run in (run_per_op, run_batch):  # load the compiled steps outside the timings
            run(Machine.generic(1024, policy="linux", min_free_kbytes=0, **kw), "a", n=100)
        for wl in workloads:
            sums = set()
            for kind, run in (("per-op", run_per_op), ("batch", run_batch)):
                if kind not in kinds:
                    continue
                times, cpu = [], []
                for _ in range(repeat):
                    m = Machine.generic(npages, policy="linux", min_free_kbytes=0, **kw)
                    c0 = time.process_time()
                    r = run(m, wl, n=n)
                    cpu.append((time.process_time() - c0) * 1e9 / r.ops)
                    times.append(r.seconds * 1e9 / r.ops)
                    sums.add(r.checksum_hex)
                out.setdefault(label, {})[f"{wl} {kind}"] = statistics.median(times)
                out[label][f"{wl} {kind} cpu"] = statistics.median(cpu)
            if len(sums) != 1:
                raise AssertionError(f"{label} workload {wl}: per-op and batch checksums "
                                     f"differ: {sorted(sums)}")
    return out


def state_bytes(npages: int) -> dict[str, dict[str, float]]:
    from kmem.fastimpl import Machine

    out = {}
    for policy in ("lowest", "linux"):
        m = Machine.generic(npages, policy=policy)
        b = m.state_bytes()
        out[policy] = {k: v / npages for k, v in b.items()}
    return out


def boot_seconds(repeat: int) -> dict[str, float]:
    from kmem.fastimpl import Machine

    out = {}
    for policy in ("lowest", "linux"):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            m = Machine.x86_64(64 * 1024, policy=policy)  # 2**24 pages
            times.append(time.perf_counter() - t0)
            assert m.layout.max_pfn == 1 << 24
            del m
        out[policy] = statistics.median(times)
    return out


STARTUP = ("import time; t0 = time.perf_counter()\n"
           "import numpy as np\n"
           "from kmem.fastimpl import Machine, run_ops, OP_ALLOC, OP_FREE, ref\n"
           "t1 = time.perf_counter()\n"
           "for policy in ('lowest', 'linux'):\n"
           "    m = Machine.generic(1024, policy=policy)\n"
           "    p = m.alloc_pages(0xcc0, 1); m.get_page(p); m.put_page(p); m.free_pages(p, 1)\n"
           "    run_ops(m, np.array([(OP_ALLOC, 0xcc0, 0), (OP_FREE, ref(0), 0)]))\n"
           "    m.state(); m.buddyinfo()\n"
           "t2 = time.perf_counter()\n"
           "print(t1 - t0, t2 - t1)\n")


def compile_seconds() -> dict[str, float]:
    """Import and first use of every step, in fresh processes: cold (empty cache), warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = {}
        for label in ("cold", "warm"):
            r = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True,
                               env=env, check=True, cwd=ROOT)
            imp, first = map(float, r.stdout.split())
            out[f"{label} import"], out[f"{label} first use"] = imp, first
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npages", type=int, default=1 << 22)
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workloads", default="abcd")
    ap.add_argument("--impls", default="c,batch,perop,model")
    ap.add_argument("--model-n", type=int, default=10**5)
    ap.add_argument("--model-max-ops", type=int, default=2_000_000)
    ap.add_argument("--boot", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--c-source", type=Path, default=DEFAULT_C)
    ap.add_argument("--path-n", type=int, default=200_000,
                    help="operations of the whole-path rows (workloads a, b; 0: none)")
    ap.add_argument("--path-workloads", default="ab",
                    help="workloads of the whole-path rows (c and d run 2 x npages operations)")
    ap.add_argument("--path-kinds", default="per-op,batch",
                    help="the whole-path rows' kinds: per-op, batch or both")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args()
    impls = args.impls.split(",")
    binary = build_c(args.c_source)
    report: dict = {"npages": args.npages, "n": args.n, "repeat": args.repeat,
                    "loadavg": os.getloadavg(), "workloads": {}}
    print(f"npages {args.npages}, n {args.n}, median of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.c_source == DEFAULT_C and not DEFAULT_C.exists():
        ap.error(f"{DEFAULT_C} not found: pass --c-source PATH/buddy_bench.c")
    if "batch" in impls or "perop" in impls:
        run_fast("batch", "a", 1000, 1024)  # compile (or load) outside the timings
    all_ok = True
    for wl in args.workloads:
        rows: dict[str, list[float]] = {}
        sums: dict[str, str] = {}
        c_sum: dict[int, str] = {}
        model_ops = args.model_n if wl in "ab" else 2 * args.npages
        for _ in range(args.repeat):
            row = run_c(binary, wl, args.n, args.npages)
            rows.setdefault("C reference", []).append(row["ns_per_op"])
            c_sum[args.n] = row["checksum"]
            if "batch" in impls:
                ns, cs = run_fast("batch", wl, args.n, args.npages)
                rows.setdefault("fastimpl batch", []).append(ns)
                sums["fastimpl batch"] = cs
            if "perop" in impls:
                ns, cs = run_fast("perop", wl, args.n, args.npages)
                rows.setdefault("fastimpl per-op", []).append(ns)
                sums["fastimpl per-op"] = cs
            if "model" in impls and model_ops <= args.model_max_ops:
                ns, cs = run_model(wl, args.model_n, args.npages)
                rows.setdefault("model page API", []).append(ns)
                sums["model page API"] = cs
        if "model" in impls and model_ops <= args.model_max_ops and args.model_n != args.n:
            c_sum[args.model_n] = run_c(binary, wl, args.model_n, args.npages)["checksum"]
        c_med = statistics.median(rows["C reference"])
        print(f"workload {wl}:")
        report["workloads"][wl] = {}
        for name, values in rows.items():
            med = statistics.median(values)
            line = f"  {name:<18} {med:>10.1f} ns/op  {med / c_med:>8.2f}x C"
            if name != "C reference":
                want = c_sum[args.model_n if name.startswith("model") and wl in "ab"
                             else args.n]
                ok = sums[name] == want
                all_ok &= ok
                line += "  checksum = C" if ok else f"  CHECKSUM {sums[name]} != C {want}"
            print(line)
            report["workloads"][wl][name] = {"ns_per_op": med, "ratio_to_c": med / c_med,
                                             "runs": values}
            kind = {"fastimpl batch": "batch", "fastimpl per-op": "perop"}.get(name)
            if kind and (kind, wl) in CPU_NS:
                cpu = statistics.median(CPU_NS[(kind, wl)])
                report["workloads"][wl][name]["cpu_ns_per_op_upper"] = cpu
                print(f"  {'':18} (CPU time of the whole workload call: {cpu:.1f} ns/op)")
        if "model" in impls and model_ops > args.model_max_ops:
            print(f"  model page API     skipped: {model_ops} ops > --model-max-ops")
    c_bytes = run_c(binary, "a", 1, args.npages)["bitmap_bytes_per_page"]
    sb = state_bytes(args.npages)
    report["bytes_per_page"] = {"C reference": c_bytes, **sb}
    print(f"bytes per managed page: C bitmaps {c_bytes:.4f}; fastimpl 'lowest' bitmaps "
          f"{sb['lowest']['allocator']:.4f}, 'linux' links {sb['linux']['allocator']:.2f} "
          f"(PageBuddy and the order live in the descriptor's flags); descriptors (refcount, "
          f"flags) {sb['lowest']['descriptors']:.2f}")
    if "perop" in impls:
        pc = per_call_ns(args.npages, repeat=args.repeat)
        report["per_call_ns"] = pc
        print("per call (page API, order 0): " +
              ", ".join(f"{k} {v:.0f} ns" for k, v in pc.items()))
        path = dict(PATH_CONFIGS)["+ 1 CPU's pcp lists"]
        pc = per_call_ns(args.npages, repeat=args.repeat, policy="linux", **path)
        report["per_call_ns_whole_path"] = pc
        print("per call, whole path (migratetypes, 1 CPU's pcp lists): " +
              ", ".join(f"{k} {v:.0f} ns" for k, v in pc.items()))
    if args.path_n:
        pr = path_rows(args.npages, args.path_n, args.path_workloads, args.repeat,
                       tuple(args.path_kinds.split(",")))
        report["whole_path_ns_per_op"] = pr
        base = pr[PATH_CONFIGS[0][0]]
        print(f"whole allocation path (policy 'linux', n {args.path_n}; each ratio to the bare "
              f"core's per-op or batch of the same workload, this run):")
        for label, row in pr.items():
            for tag, keys in (("", [k for k in row if not k.endswith(" cpu")]),
                              (" (CPU)", [k for k in row if k.endswith(" cpu")])):
                print(f"  {label + tag:<32} " + "  ".join(
                    f"{k.removesuffix(' cpu')} {row[k]:7.1f} ns/op ({row[k] / base[k]:.2f}x)"
                    for k in keys))
    if args.boot:
        bs = boot_seconds(args.repeat)
        report["boot_2_24_pages_s"] = bs
        print("boot of a 2**24-page x86_64 machine: " +
              ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in bs.items()))
    if args.compile:
        cs = compile_seconds()
        report["startup_s"] = cs
        print("start-up in a fresh process: " + ", ".join(f"{k} {v:.2f} s" for k, v in cs.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    report["loadavg_end"] = os.getloadavg()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("every checksum equals C's" if all_ok else "CHECKSUM MISMATCH")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
