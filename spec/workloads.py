"""The benchmark suite's seeded workloads and checksum (a, b, c, d).

They define the canonical "lowest" policy by example: an allocator that
reproduces the reference checksums for a workload makes the same choices as the
C reference allocator used as the benchmark peer. Random numbers come from
splitmix64; the checksum is an FNV-1a-style fold over every pfn a successful
allocation returns, in order.

A workload drives any allocator given as two callables: ``alloc(order) -> pfn``
(or None/-1 on failure) and ``free(pfn, order)``. The optional ``observe``
callback sees each step (``("alloc", order, pfn_or_None)`` /
``("free", order, pfn)``) after it happened, for step-by-step checking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .constants import MAX_PAGE_ORDER
from .errors import InvalidArgument

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
DEFAULT_SEED = 12345

Alloc = Callable[[int], "int | None"]
Free = Callable[[int, int], None]
Observe = Callable[[str, int, "int | None"], None]

#: reference checksums at npages = 2**20, seed 12345 (a and b with n = 10**6)
REFERENCE_CHECKSUMS = {
    "a": 0x8F6DD72FBA193025,
    "b": 0xA1D0C5F0D2C32867,
    "c": 0xFF0A038CF0322325,
    "d": 0xFF0A038CF0322325,
}
REFERENCE_NPAGES = 2**20
REFERENCE_N = 10**6


def splitmix64(seed: int) -> Iterator[int]:
    """The splitmix64 stream: ``s += GAMMA; z = s; z = (z ^ z>>30) * C1; ...`` mod 2**64."""
    s = seed & MASK64
    while True:
        s = (s + GOLDEN_GAMMA) & MASK64
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def fnv_mix(h: int, pfn: int) -> int:
    """One checksum step: ``h = (h ^ pfn) * FNV_PRIME mod 2**64``."""
    return ((h ^ pfn) * FNV_PRIME) & MASK64


def ctz(x: int) -> int:
    """Count trailing zeros of a positive int."""
    return (x & -x).bit_length() - 1


def mixed_order(r: int) -> int:
    """Workload b's order for random value r: ``ctz((r & 0x3ff) | 0x400)`` (0..10)."""
    return ctz((r & 0x3FF) | 0x400)


@dataclass
class WorkloadResult:
    """Outcome of one workload run."""

    workload: str
    n: int
    npages: int
    ops: int  # alloc calls (failed ones included) plus frees in the timed part
    checksum: int
    fails: int

    @property
    def checksum_hex(self) -> str:
        return f"{self.checksum:016x}"


def _ok(p: int | None) -> bool:
    return p is not None and p >= 0



def refill_stopped(got: int, total: int) -> str:
    """Workload d's error when the refill of a zone whose every page was freed stops
    short (every implementation's words)."""
    return (f"workload d: the refill stopped after {got} of the {total} pages the fill "
            f"took, with every page freed (does the allocator keep freed pages aside?)")

def run_workload(name: str, alloc: Alloc, free: Free, *, n: int, npages: int,
                 seed: int = DEFAULT_SEED, observe: Observe | None = None) -> WorkloadResult:
    """Run workload ``name`` (a, b, c or d) on an allocator over one zone of ``npages``."""
    if name not in "abcd" or len(name) != 1:
        raise InvalidArgument(f"unknown workload {name!r}; expected a, b, c or d")
    if npages <= 0 or npages % 2**MAX_PAGE_ORDER:
        raise InvalidArgument(f"npages must be a positive multiple of {2**MAX_PAGE_ORDER}, "
                              f"got {npages}")

    def do_alloc(order: int) -> int | None:
        p = alloc(order)
        p = p if _ok(p) else None
        if observe is not None:
            observe("alloc", order, p)
        return p

    def do_free(pfn: int, order: int) -> None:
        free(pfn, order)
        if observe is not None:
            observe("free", order, pfn)

    h, ops, fails = FNV_OFFSET, 0, 0
    if name == "a":
        for _ in range(n):
            p = do_alloc(0)
            if p is None:
                raise InvalidArgument("workload a: an order-0 allocation failed on a zone "
                                      "with free pages")
            h = fnv_mix(h, p)
            do_free(p, 0)
        ops = 2 * n
    elif name == "b":
        live: list[tuple[int, int]] = []
        stream = splitmix64(seed)
        for _ in range(n):
            r = next(stream)
            if r >> 63 == 0 or not live:
                order = mixed_order(r)
                p = do_alloc(order)
                if p is None:
                    fails += 1
                else:
                    live.append((p, order))
                    h = fnv_mix(h, p)
            else:
                idx = (r >> 11) % len(live)
                pfn, order = live[idx]
                do_free(pfn, order)
                live[idx] = live[-1]
                live.pop()
        ops = n
        for pfn, order in live:  # untimed drain
            do_free(pfn, order)
    elif name == "c":
        pfns = []
        while (p := do_alloc(0)) is not None:
            pfns.append(p)
            h = fnv_mix(h, p)
        for p in pfns:
            do_free(p, 0)
        ops = 2 * len(pfns) + 1
        fails = 1
    else:  # d
        pfns = []
        while (p := do_alloc(0)) is not None:
            pfns.append(p)
        fails = 1
        stream = splitmix64(seed)
        for j in range(len(pfns) - 1, 0, -1):
            k = next(stream) % (j + 1)
            pfns[j], pfns[k] = pfns[k], pfns[j]
        for p in pfns:
            do_free(p, 0)
        for j in range(len(pfns)):
            p = do_alloc(0)
            if p is None:
                raise InvalidArgument(refill_stopped(j, len(pfns)))
            h = fnv_mix(h, p)
            pfns[j] = p
        for p in pfns:
            do_free(p, 0)
        ops = 2 * len(pfns)
    return WorkloadResult(name, n, npages, ops, h, fails)
