"""Instructions per operation of fastimpl's batch API and of the C reference, under callgrind.

    python bench/count_instructions.py [--npages 1048576] [--n 250000] [--workloads abcd]
        [--c-source PATH/buddy_bench.c] [--cache-sim] [--per-call | --path]

Instruction counts do not depend on the machine's load (timings on a shared machine
do), so their ratio says how much more work fastimpl does per operation than C, apart
from cache misses. Needs valgrind. Each side counts only its timed part:

- C (``../shared/bench/buddy_bench.c`` built with ``cc -O2`` into build/): callgrind
  dumps its counters at each ``clock_gettime`` call; the program calls it exactly
  twice, around its timed loop, so the second dump is the timed loop;
- fastimpl: the same workloads through ``run_batch`` in a child process that calls
  ``os.getppid()`` just before and after each timed ``run_ops`` call; callgrind dumps
  at each such call, so every second dump is a timed part (the few thousand
  instructions of the Python calls around ``run_ops`` included).

``--path``: instead of C, the whole allocation path's batch (``bench_fastimpl.py``'s
``PATH_CONFIGS``: migratetypes, + 1 CPU's pcp lists, + 4 CPUs; policy "linux"), each
workload's count against the bare core "linux" of the same child (workloads a and b
unless ``--workloads`` says otherwise). ``--cache-sim`` (with C or ``--path``) adds
callgrind's simulated data cache misses per operation (first level and last level, reads
+ writes): the memory lines an operation touches, which a loaded machine's wall times do
not show.

``--per-call``: instead, instructions per call of the page API (``alloc_pages(GFP_KERNEL,
0)`` and ``__free_pages(page, 0)``, ``--n`` pages held, after two warm-up rounds that
create their page handles), on the bare core and on the whole path (migratetypes, 1
CPU's pcp lists), with Python's garbage collector on and off.

Both run as generic x86-64 code (C: ``cc -O2``; numba: ``NUMBA_CPU_NAME=generic``, in
a cache directory of its own under build/, compiled natively first: compiling under
valgrind takes minutes). Takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_fastimpl import DEFAULT_C, PATH_CONFIGS, build_c  # noqa: E402

# each child marks the timed part of a batch with a getppid() call on each side: callgrind
# (--dump-before/--dump-after=getppid) dumps its counts there
MARKED = """
import json, os, sys
from kmem.fastimpl import Machine
from kmem.fastimpl import workloads as W
timed, calls = W._timed, [0]
def marked(m, ops, **kw):
    calls[0] += 1
    os.getppid()
    r = timed(m, ops, **kw)
    os.getppid()
    return r
W._timed = marked
"""

CHILD = MARKED + """
wls, npages, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for wl in wls:
    calls[0] = 0
    r = W.run_batch(Machine.generic(npages, policy="lowest", min_free_kbytes=0), wl, n=n)
    print(wl, r.ops, r.checksum_hex, calls[0], flush=True)
"""

PER_CALL = """
import gc, os, sys
from kmem.fastimpl import Machine, api
from kmem.spec.gfp import GFP_KERNEL
npages, calls = int(sys.argv[1]), int(sys.argv[2])
def run(m, alloc, free, calls, gfp):
    for _ in range(2):  # warm up: the rows, the compiled steps, the page handles
        pages = [alloc(m, gfp, 0) for _ in range(calls)]
        for p in pages:
            free(m, p, 0)
    for collector in (True, False):
        pages = [None] * calls
        if not collector:
            gc.disable()
        os.getppid()
        for i in range(calls):
            pages[i] = alloc(m, gfp, 0)
        os.getppid()
        for p in pages:
            free(m, p, 0)
        os.getppid()
        gc.enable()
for kw in ({}, {"policy": "linux", "migratetypes": True, "nr_cpus": 1}):
    run(Machine.generic(npages, min_free_kbytes=0, **kw), api.alloc_pages,
        api.__free_pages, calls, GFP_KERNEL)
"""


def per_call(args: argparse.Namespace, env: dict[str, str]) -> int:
    """Instructions per page-API call (``--per-call``)."""
    with tempfile.TemporaryDirectory() as tmp:
        child = Path(tmp) / "child.py"
        child.write_text(PER_CALL)
        subprocess.run([sys.executable, str(child), "4096", "100"], env=env, check=True,
                       capture_output=True)
        prefix = Path(tmp) / "py"
        callgrind([sys.executable, str(child), str(args.npages), str(args.n)], "getppid*",
                  prefix, env)
        dumps = totals(prefix)
    print(f"instructions per call (callgrind), npages {args.npages}, {args.n} pages held")
    # per machine: dumps 3k+2 .. 3k+6 (alloc, free; the gap; alloc, free with gc off)
    for k, label in enumerate(("bare core", "whole path (migratetypes, 1 CPU)")):
        b = 1 + 6 * k
        print(f"  {label}: alloc_pages {dumps[b + 1] / args.n:.0f} / {dumps[b + 4] / args.n:.0f}"
              f", __free_pages {dumps[b + 2] / args.n:.0f} / {dumps[b + 5] / args.n:.0f} "
              f"(collector on / off)")
    return 0


PATH_CHILD = MARKED + """
wls, npages, n, configs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
for kw in configs:
    for wl in wls:
        calls[0] = 0
        m = Machine.generic(npages, policy="linux", min_free_kbytes=0, **kw)
        for again in (0, 1):  # a fresh machine, then the same one with its rows decided
            calls[0] = 0
            r = W.run_batch(m, wl, n=n)
            print(wl, r.ops, r.checksum_hex, calls[0], flush=True)
"""


#: with ``--cache-sim``: the events summed besides instructions (callgrind's simulated
#: first-level and last-level data cache misses, reads and writes)
MISS_EVENTS = (("D1", ("D1mr", "D1mw")), ("LL", ("DLmr", "DLmw")))


def totals(prefix: Path, event: str = "Ir") -> dict[int, int]:
    """Dump number -> the count of ``event`` (instructions; with the cache simulation
    also a miss event: ``D1``, ``LL``, each reads + writes), from callgrind's out files
    ``prefix.N``."""
    out = {}
    for f in prefix.parent.glob(prefix.name + ".*"):
        m = re.search(r"\.(\d+)$", f.name)
        text = f.read_text(errors="replace")
        t = re.search(r"^totals: ([\d ]+)", text, re.M)
        names = re.search(r"^events: (.+)$", text, re.M)
        if not (m and t and names):
            continue
        values = dict(zip(names.group(1).split(), map(int, t.group(1).split()), strict=False))
        want = dict(MISS_EVENTS).get(event, (event,))
        out[int(m.group(1))] = sum(values.get(e, 0) for e in want)
    return out


def callgrind(cmd: list[str], marker: str, out: Path, env: dict[str, str],
              cache_sim: bool = False) -> str:
    sim = ["--cache-sim=yes"] if cache_sim else []
    r = subprocess.run(["valgrind", "--tool=callgrind", *sim, f"--dump-before={marker}",
                        f"--callgrind-out-file={out}", *cmd], capture_output=True, text=True,
                       env=env, check=True)
    return r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npages", type=int, default=1 << 20)
    ap.add_argument("--n", type=int, default=250_000)
    ap.add_argument("--workloads", default="abcd")
    ap.add_argument("--c-source", type=Path, default=DEFAULT_C)
    ap.add_argument("--per-call", action="store_true",
                    help="instructions per page-API call instead (--n: pages held)")
    ap.add_argument("--path", action="store_true",
                    help="the whole path's batch against the bare core 'linux' (no C)")
    ap.add_argument("--cache-sim", action="store_true",
                    help="also callgrind's simulated data cache misses (D1, LL) per op")
    args = ap.parse_args()
    if args.path:
        return path_main(args.npages, args.n,
                         "ab" if args.workloads == "abcd" else args.workloads, args.cache_sim)
    env = dict(os.environ, NUMBA_CPU_NAME="generic",
               NUMBA_CACHE_DIR=str(ROOT / "build" / "numba-generic"))
    if args.per_call:
        return per_call(args, env)
    binary = build_c(args.c_source)
    with tempfile.TemporaryDirectory() as tmp:
        child = Path(tmp) / "child.py"
        child.write_text(CHILD)
        # compile natively into the generic cache (callgrind then loads it)
        subprocess.run([sys.executable, str(child), args.workloads, "4096", "100"], env=env,
                       check=True, capture_output=True)
        events = ["Ir", *(name for name, _ in MISS_EVENTS)] if args.cache_sim else ["Ir"]
        c_ev, c_sum = {}, {}
        for wl in args.workloads:
            prefix = Path(tmp) / f"c{wl}"
            line = callgrind([str(binary), wl, str(args.n), str(args.npages)],
                             "clock_gettime*", prefix, env, args.cache_sim)
            ops = int(re.search(r'"ops":(\d+)', line).group(1))  # type: ignore[union-attr]
            c_sum[wl] = re.search(r'"checksum":"(\w+)"', line).group(1)  # type: ignore[union-attr]
            c_ev[wl] = {e: totals(prefix, e)[2] / ops for e in events}
        prefix = Path(tmp) / "py"
        lines = callgrind([sys.executable, str(child), args.workloads, str(args.npages),
                           str(args.n)], "getppid*", prefix, env, args.cache_sim).split()
        all_dumps = {e: totals(prefix, e) for e in events}
    # odd dumps end just before a timed call, even ones just after it (workload b takes
    # more than one timed call when an allocation fails)
    print(f"instructions per operation (callgrind), npages {args.npages}, n {args.n}")
    ok, dump = True, 0
    for k, wl in enumerate(args.workloads):
        ops, checksum, calls = int(lines[4 * k + 1]), lines[4 * k + 2], int(lines[4 * k + 3])
        fast = {e: sum(d[dump + 2 * c + 2] for c in range(calls)) / ops
                for e, d in all_dumps.items()}
        dump += 2 * calls
        same = checksum == c_sum[wl]
        ok &= same
        c_ins = c_ev[wl]["Ir"]
        misses = "".join(f"  {e} misses C {c_ev[wl][e]:6.2f} batch {fast[e]:6.2f}"
                         for e in events[1:])
        print(f"  {wl}: C {c_ins:7.1f}  fastimpl batch {fast['Ir']:7.1f}  "
              f"ratio {fast['Ir'] / c_ins:5.2f}  "
              f"{'checksum = C' if same else 'CHECKSUM DIFFERS'}{misses}")
    return 0 if ok else 1


def fast_counts(child_src: str, argv: list[str], rows: int, cache_sim: bool = False
                ) -> list[tuple[str, dict[str, float], str]]:
    """(workload, {event: count per op}, checksum) of each of the child's ``rows`` output
    lines, counting only the timed ``run_ops`` calls: instructions ("Ir"), with
    ``cache_sim`` also the simulated D1 and LL data cache misses."""
    env = dict(os.environ, NUMBA_CPU_NAME="generic",
               NUMBA_CACHE_DIR=str(ROOT / "build" / "numba-generic"))
    with tempfile.TemporaryDirectory() as tmp:
        child = Path(tmp) / "child.py"
        child.write_text(child_src)
        subprocess.run([sys.executable, str(child), argv[0], "4096", "100", *argv[3:]],
                       env=env, check=True, capture_output=True)
        prefix = Path(tmp) / "py"
        lines = callgrind([sys.executable, str(child), *argv], "getppid*", prefix,
                          env, cache_sim).split()
        events = ["Ir", *(name for name, _ in MISS_EVENTS)] if cache_sim else ["Ir"]
        dumps = {e: totals(prefix, e) for e in events}
    out, dump = [], 0
    for k in range(rows):
        wl, ops, checksum, calls = lines[4 * k], int(lines[4 * k + 1]), lines[4 * k + 2], \
            int(lines[4 * k + 3])
        out.append((wl, {e: sum(d[dump + 2 * c + 2] for c in range(calls)) / ops
                         for e, d in dumps.items()}, checksum))
        dump += 2 * calls
    return out


def path_main(npages: int, n: int, workloads: str, cache_sim: bool = False) -> int:
    configs = [kw for _, kw in PATH_CONFIGS]
    counts = fast_counts(PATH_CHILD, [workloads, str(npages), str(n), json.dumps(configs)],
                         2 * len(configs) * len(workloads), cache_sim)
    print(f"whole path batch, instructions per operation (callgrind), npages {npages}, n {n}; "
          f"ratio to the bare core 'linux'. Fresh: a new machine (its first batch decides "
          f"each (gfp, order) row in Python); again: the same workload once more on it")
    per = 2 * len(workloads)
    base = counts[:per]
    for event in counts[0][1]:
        if event != "Ir":
            print(f"{event}: simulated {event} data cache misses (reads + writes) per operation")
        for c, (label, _) in enumerate(PATH_CONFIGS):
            row = counts[c * per:(c + 1) * per]
            print(f"  {label:<26} " + "  ".join(
                f"{wl} {'again' if k % 2 else 'fresh'} {ev[event]:7.1f} "
                f"({ev[event] / max(base[k][1][event], 1e-9):.2f}x)"
                for k, (wl, ev, _) in enumerate(row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
