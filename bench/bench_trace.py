"""Benchmark ``kmem trace check`` on ``perf script`` text: events checked per second of CPU on
one core, and memory over a 1 GB trace.

    python bench/bench_trace.py [--mb 1024] [--speed-mb 200] [--keep DIR]

The text is the committed real recording (tests/trace_data/perf-6.18: 6.18.44, every kmem
event, 117k events) repeated until it reaches the size asked for, written to a temporary
file as ``perf script`` prints it (uncompressed), with a ``PERF_RECORD_LOST`` line between
copies (each copy starts from pages the previous one left live; the lost record resets the
page tracking, as it would in a real trace). Each run reads the file from disk, line by
line, exactly as ``kmem trace check FILE`` does.

- speed: CPU seconds (``time.process_time``) of the whole check of a ``--speed-mb`` file,
  median of 3; events/s = events / CPU seconds (goal >= 500,000 on one core). Wall time
  is printed too, with the load average: on a shared machine wall time follows the load.
- memory: the peak resident set (ru_maxrss) after checking 1/8 of the ``--mb`` file and
  after the whole of it, each in a fresh process; bounded memory means the two are equal
  within the noise (the checker keeps one byte and one int per page frame of the traced
  machine, the distinct texts it has seen, and a few examples per rule).

Not a test: timings depend on the machine and its load; quote them with the load.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "trace_data" / "perf-6.18"
LOST = "            perf  7485 [000]   307.616656: PERF_RECORD_LOST lost 1\n"


def write_trace(path: Path, mb: float) -> int:
    """Write about ``mb`` MB of perf script text; return the number of events."""
    lines = gzip.open(FIXTURE / "events.txt.gz", "rt").readlines()
    block = "".join(lines) + LOST
    n_events = sum(1 for line in lines if " kmem:" in line)
    copies = max(1, int(mb * 1e6 / len(block)))
    with open(path, "w") as fh:
        for _ in range(copies):
            fh.write(block)
    return copies * n_events


CHILD = r"""
import resource, sys, time
from pathlib import Path
from kmem.trace import meta as M
from kmem.trace.check import Checker
from kmem.trace.reader import text_lines
meta, _ = M.load_recording(Path(sys.argv[1]))
limit = int(sys.argv[3])
def lines():
    for i, line in enumerate(text_lines(Path(sys.argv[2]))):
        if i >= limit:
            return
        yield line
w0 = time.perf_counter(); c0 = time.process_time()
rep = Checker(meta).run(lines())
c1 = time.process_time(); w1 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(rep.events, rep.findings, c1 - c0, w1 - w0, rss)
"""


def run_child(path: Path, limit: int) -> tuple[int, int, float, float, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(FIXTURE), str(path), str(limit)],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), float(out[3]), int(out[4])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1024, help="size of the memory run (MB)")
    ap.add_argument("--speed-mb", type=float, default=200, help="size of the speed runs (MB)")
    ap.add_argument("--keep", metavar="DIR", default=None, help="write the files here")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kmem-trace-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    speed = tmp / "speed.txt"
    n = write_trace(speed, args.speed_mb)
    runs = [run_child(speed, 1 << 62) for _ in range(3)]
    cpu = statistics.median(r[2] for r in runs)
    wall = statistics.median(r[3] for r in runs)
    events = runs[0][0]
    print(f"speed: {speed.stat().st_size / 1e6:.0f} MB, {events:,} events ({n:,} written), "
          f"findings {runs[0][1]}: CPU {cpu:.2f} s = {events / cpu:,.0f} events/s on one core "
          f"(goal 500,000); wall {wall:.2f} s = {events / wall:,.0f} events/s; "
          f"load average now {os.getloadavg()[0]:.1f}")
    big = tmp / "big.txt"
    write_trace(big, args.mb)
    total_lines = sum(1 for _ in open(big))
    part = run_child(big, total_lines // 8)
    whole = run_child(big, 1 << 62)
    print(f"memory: {big.stat().st_size / 1e9:.2f} GB, {whole[0]:,} events, findings "
          f"{whole[1]}: peak RSS {part[4] / 1024:.0f} MB after 1/8 of it ({part[0]:,} events), "
          f"{whole[4] / 1024:.0f} MB after all of it (CPU {whole[2]:.1f} s, wall {whole[3]:.1f} s)")
    if not args.keep:
        for f in (speed, big):
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
