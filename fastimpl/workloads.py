"""The benchmark suite's workloads (``kmem.spec.workloads``: a, b, c, d) on fastimpl, through
the batch API (:func:`run_batch`) and through the per-operation page API
(:func:`run_per_op`).

The batch form builds each workload's operation array up front, packed one word per
op (``batch.pack_ops``; the frees refer to the allocations by op index, ``batch.ref``),
so the timed part is one ``run_ops`` call, like the C reference's timed loop over its
precomputed random numbers.
Workload b decides what to free from the list of live blocks, which depends on
which allocations failed: its array is built assuming every allocation succeeds,
run with ``stop_on_failed_alloc``, and rebuilt from the true live list after a
failure (rare). ``seconds`` is the time spent in the timed ``run_ops`` calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmem.spec.errors import InvalidArgument
from kmem.spec.gfp import GFP_KERNEL
from kmem.spec.workloads import DEFAULT_SEED, FNV_OFFSET, refill_stopped, run_workload

from . import kernels as K
from .batch import OP_ALLOC, OP_FREE, run_ops, unpack_ops
from .machine import Machine


@dataclass
class BatchResult:
    workload: str
    n: int
    npages: int
    ops: int  # as spec.workloads counts them (the timed part)
    checksum: int
    fails: int
    seconds: float

    @property
    def checksum_hex(self) -> str:
        return f"{self.checksum:016x}"


@K.jit_nrt
def splitmix_stream(seed, n):
    """``n`` values of the splitmix64 stream (spec.workloads.splitmix64)."""
    out = np.empty(n, np.uint64)
    s = np.uint64(seed)
    for i in range(n):
        s = s + np.uint64(0x9E3779B97F4A7C15)
        z = s
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[i] = z ^ (z >> np.uint64(31))
    return out


@K.jit
def _mixed_order(r):
    return np.int64(K.ctz((r & np.uint64(0x3FF)) | np.uint64(0x400)))


@K.jit_inline
def _pack(code, x, y):
    """One packed op (``batch.pack_ops``)."""
    return (x << K.PK_XSHIFT) | (y << K.PK_YSHIFT) | code


@K.jit_nrt
def _b_emit(R, pos, live_x, live_o, nlive, ops, gfp):
    """Workload b's ops for R[pos:], packed, assuming every allocation succeeds (live
    copies)."""
    lx = live_x.copy()
    lo = live_o.copy()
    for k in range(R.shape[0] - pos):
        r = R[pos + k]
        if (r >> np.uint64(63)) == np.uint64(0) or nlive == 0:
            order = _mixed_order(r)
            ops[k] = _pack(OP_ALLOC, gfp, order)
            lx[nlive], lo[nlive] = ~np.int64(k), order
            nlive += 1
        else:
            idx = np.int64((r >> np.uint64(11)) % np.uint64(nlive))
            ops[k] = _pack(OP_FREE, lx[idx], lo[idx])
            nlive -= 1
            lx[idx], lo[idx] = lx[nlive], lo[nlive]
    return R.shape[0] - pos


@K.jit
def _b_advance(R, pos, res, live_x, live_o, nlive):
    """The true live list after the ops for R[pos:pos + len(res)] ran with results res."""
    fails = 0
    for k in range(res.shape[0]):
        r = R[pos + k]
        if (r >> np.uint64(63)) == np.uint64(0) or nlive == 0:
            if res[k] >= 0:
                live_x[nlive], live_o[nlive] = res[k], _mixed_order(r)
                nlive += 1
            else:
                fails += 1
        else:
            idx = np.int64((r >> np.uint64(11)) % np.uint64(nlive))
            nlive -= 1
            live_x[idx], live_o[idx] = live_x[nlive], live_o[nlive]
    return nlive, fails


@K.jit
def _shuffle(pfns, seed):
    """Workload d's Fisher-Yates shuffle with one splitmix64 value per j."""
    s = np.uint64(seed)
    for j in range(pfns.shape[0] - 1, 0, -1):
        s = s + np.uint64(0x9E3779B97F4A7C15)
        z = s
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        k = np.int64((z ^ (z >> np.uint64(31))) % np.uint64(j + 1))
        pfns[j], pfns[k] = pfns[k], pfns[j]


def _fold(h: int, res: np.ndarray) -> int:
    return int(K.k_fold_checksum(res, 0, np.uint64(h)))


def _timed(m: Machine, ops: np.ndarray, **kw: bool) -> tuple[np.ndarray, float]:
    if not isinstance(m, Machine):  # the whole path's loop takes rows (shape (n, 3))
        ops = unpack_ops(ops)
    out = np.full(len(ops), -1, np.int64)  # written (paged in) before the clock starts, as C's arrays
    t0 = time.perf_counter()
    res = run_ops(m, ops, out=out, **kw)
    return res, time.perf_counter() - t0


def _pk(code: int, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """Packed ops (``batch.pack_ops``) from columns that fit (the workloads' do)."""
    return (np.asarray(x, np.int64) << K.PK_XSHIFT) | (np.asarray(y, np.int64) << K.PK_YSHIFT) | code


def _fill_ops(count: int) -> np.ndarray:
    return np.full(count, _pk(OP_ALLOC, GFP_KERNEL, 0), np.int64)


def _free_ops(x: np.ndarray, orders: np.ndarray | int = 0) -> np.ndarray:
    return _pk(OP_FREE, x, orders)


def _check_machine(m: Any, name: str) -> None:
    """Workloads c and d count on the zone handing out every free page and taking them
    all back: not so with per-CPU lists, where the pages a list caches are outside the
    zone's free count that the watermark check reads (6.12 mm/page_alloc.c
    zone_watermark_fast, free_pcppages_bulk), so a fill and a refill of the same zone
    stop at different counts."""
    cpus = getattr(m, "nr_cpus", None)  # the bare core has no per-CPU lists
    if name in ("c", "d") and cpus:
        raise InvalidArgument(f"workload {name} needs a machine without per-CPU lists (it "
                              f"fills the zone and expects every page back; pages cached on "
                              f"the lists are outside the zone's free count); this one has "
                              f"nr_cpus={cpus}")


def run_batch(m: Machine, name: str, *, n: int, seed: int = DEFAULT_SEED) -> BatchResult:
    """Workload ``name`` on ``m`` (allocating with GFP_KERNEL) through ``run_ops``."""
    _check_machine(m, name)
    npages = m.free_pages_total
    h, fails = FNV_OFFSET, 0
    if name == "a":
        ops = np.empty(2 * n, np.int64)
        ops[0::2] = _pk(OP_ALLOC, GFP_KERNEL, 0)
        ops[1::2] = _free_ops(~np.arange(0, 2 * n, 2))
        res, secs = _timed(m, ops)
        if (res[0::2] < 0).any():
            raise InvalidArgument("workload a: an order-0 allocation failed")
        return BatchResult(name, n, npages, 2 * n, _fold(h, res[0::2]), 0, secs)
    if name == "b":
        R = splitmix_stream(seed, n)
        live_x = np.zeros(n, np.int64)
        live_o = np.zeros(n, np.int64)
        nlive, pos, secs = 0, 0, 0.0
        while pos < n:
            ops = np.empty(n - pos, np.int64)
            _b_emit(R, pos, live_x[:], live_o[:], nlive, ops, GFP_KERNEL)
            res, t = _timed(m, ops, stop_on_failed_alloc=True)
            secs += t
            h = _fold(h, np.where((ops[:len(res)] & K.PK_CODE) == OP_ALLOC, res, -1))
            nlive, f = _b_advance(R, pos, res, live_x, live_o, nlive)
            fails += int(f)
            pos += len(res)
        if nlive:  # untimed drain
            run_ops(m, _free_ops(live_x[:nlive], live_o[:nlive]))
        return BatchResult(name, n, npages, n, h, fails, secs)
    if name == "c":
        ops = np.concatenate([_fill_ops(npages + 1), _free_ops(~np.arange(npages))])
        res, secs = _timed(m, ops)
        if (res[:npages] < 0).any() or res[npages] >= 0:
            raise InvalidArgument(f"workload c: the fill did not take exactly {npages} pages")
        return BatchResult(name, n, npages, 2 * npages + 1, _fold(h, res[:npages]), 1, secs)
    if name == "d":
        pfns = run_ops(m, _fill_ops(npages + 1))
        if (pfns[:npages] < 0).any() or pfns[npages] >= 0:
            raise InvalidArgument(f"workload d: the fill did not take exactly {npages} pages")
        pfns = pfns[:npages].copy()
        _shuffle(pfns, np.uint64(seed))
        ops = np.concatenate([_free_ops(pfns), _fill_ops(npages)])
        res, secs = _timed(m, ops)
        refill = res[npages:]
        if (refill < 0).any():
            got = int(np.argmax(refill < 0))
            raise InvalidArgument(refill_stopped(got, npages))
        run_ops(m, _free_ops(refill))
        return BatchResult(name, n, npages, 2 * npages, _fold(h, refill), 1, secs)
    raise InvalidArgument(f"unknown workload {name!r}; expected a, b, c or d")


def run_per_op(m: Any, name: str, *, n: int, seed: int = DEFAULT_SEED) -> BatchResult:
    """Workload ``name`` through the per-operation API (``m.alloc_pages``/``m.free_pages``,
    one Python call each, holding each page handle until its free), driven by
    :func:`kmem.spec.workloads.run_workload`. ``m``: any fastimpl machine (the bare core
    or the whole path)."""
    _check_machine(m, name)
    alloc_pages, free_pages = m.alloc_pages, m.free_pages
    held: dict[int, Any] = {}

    def alloc(order: int) -> int | None:
        page = alloc_pages(GFP_KERNEL, order)
        if page is None:
            return None
        pfn = page.pfn
        held[pfn] = page
        return pfn

    def free(pfn: int, order: int) -> None:
        free_pages(held.pop(pfn), order)

    npages = m.free_pages_total
    t0 = time.perf_counter()
    r = run_workload(name, alloc, free, n=n, npages=npages, seed=seed)
    return BatchResult(name, n, npages, r.ops, r.checksum, r.fails, time.perf_counter() - t0)
