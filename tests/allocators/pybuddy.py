"""A small buddy allocator in Python speaking kmem's line protocol (docs/line-protocol.md),
with switches for the setups and mistakes that `kmem check` must tell apart.

    python pybuddy.py [options]

  --reset            answer `ok` to `reset` (start over in place, no new process)
  --unit-bytes       answer byte addresses (the arena at ARENA, see --meta)
  --meta K           K metadata pages at the front of the arena; blocks are aligned to the
                     first page after them (the data area). With --base-at-data, `init`
                     answers `ok BASE` with the data area's address and manages NPAGES pages
                     there; without, it answers `ok ARENA` and manages pages K.. of NPAGES
  --base-at-data     see --meta
  --random-base      a new arena address per process (as ASLR gives a malloc'ed arena)
  --banner           print a banner line on stdout at start (a setup mistake)
  --refuse-below N   exit 2 at `init` when NPAGES < N (a program that refuses the geometry)
  --slow-start S     sleep S seconds before reading the first request
  --hang-order N     never answer an allocation of order >= N
  --bug NAME         two-kinds: order-6 blocks are answered 32 pages late (unaligned) in
                     zones of more than 1000 pages; in smaller zones the 7th order-0
                     allocation hands out the 6th's page again (overlap)
  --base-in-pages B  answer `ok B` to `init` in page mode (a mistake: kmem must refuse it)

Each start appends a line to the file $PYBUDDY_LOG when it is set; $PYBUDDY_BUG is a
default for --bug.
"""

from __future__ import annotations

import os
import random
import sys
import time

PAGE = 4096


def main(argv: list[str]) -> int:
    opts: dict[str, str | bool] = {}
    it = iter(argv)
    for a in it:
        if a in ("--reset", "--unit-bytes", "--base-at-data", "--random-base", "--banner"):
            opts[a] = True
        else:
            opts[a] = next(it)
    log = os.environ.get("PYBUDDY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
    if "--slow-start" in opts:
        time.sleep(float(opts["--slow-start"]))
    if opts.get("--banner"):
        print("pybuddy 1.0 ready", flush=True)
    meta = int(opts.get("--meta", 0))
    arena = (random.randrange(1, 1 << 20) << 16) if opts.get("--random-base") else 0x10000000
    hang = int(opts.get("--hang-order", 1 << 30))
    bug = opts.get("--bug", os.environ.get("PYBUDDY_BUG"))
    free: list[set[int]] = []
    maxo = 0
    offset = 0  # page index of data page 0 in the numbering the program answers in
    npages = 0
    order0 = 0
    last0 = None

    def out(d: int) -> str:
        page = offset + d
        return hex(base + page * PAGE) if opts.get("--unit-bytes") else str(page)

    def to_data(addr: int) -> int:
        page = (addr - base) // PAGE if opts.get("--unit-bytes") else addr
        return page - offset

    base = 0
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd = words[0]
        if cmd == "init":
            npages, maxo, reserved = (int(w, 0) for w in words[1:4])
            if "--refuse-below" in opts and npages < int(opts["--refuse-below"]):
                print(f"pybuddy: an arena of {npages} pages is too small", file=sys.stderr)
                return 2
            if opts.get("--base-at-data"):
                base, offset, n = arena + meta * PAGE, 0, npages
            else:
                base, offset, n = arena, max(meta, reserved), npages - max(meta, reserved)
            free = [set() for _ in range(maxo + 1)]
            d = 0
            while d < n:  # maximal aligned blocks of the data area
                o = maxo
                while o and (d % (1 << o) or d + (1 << o) > n):
                    o -= 1
                free[o].add(d)
                d += 1 << o
            order0, last0 = 0, None
            if "--base-in-pages" in opts:
                print(f"ok {opts['--base-in-pages']}")
            else:
                print(f"ok {base:#x}" if opts.get("--unit-bytes") else "ok", flush=True)
        elif cmd == "reset":
            print("ok" if opts.get("--reset") else "unsupported", flush=True)
        elif cmd == "alloc":
            order = int(words[1], 0)
            if order >= hang:
                time.sleep(3600)
            o = order
            while o <= maxo and not free[o]:
                o += 1
            if o > maxo:
                print("fail", flush=True)
                continue
            d = min(free[o])
            free[o].discard(d)
            while o > order:
                o -= 1
                free[o].add(d + (1 << o))
            if bug == "two-kinds" and order == 0 and npages <= 1000:
                order0 += 1
                if order0 == 7 and last0 is not None:
                    free[0].add(d)  # the page stays free, the 6th's is handed out again
                    d = last0
                last0 = d
            if bug == "two-kinds" and order == 6 and npages > 1000:
                d += 32
            print(out(d), flush=True)
        elif cmd == "free":
            d, order = to_data(int(words[1], 0)), int(words[2], 0)
            while order < maxo and (d ^ (1 << order)) in free[order]:
                free[order].discard(d ^ (1 << order))
                d &= ~(1 << order)
                order += 1
            free[order].add(d)
            print("ok", flush=True)
        elif cmd == "dump":
            print("blocks " + " ".join(f"{out(d)}/{o}" for o in range(maxo + 1)
                                       for d in sorted(free[o])), flush=True)
        elif cmd == "quit":
            break
        else:
            print(f"# unknown request {line.strip()!r}", flush=True)
            print("unsupported", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
