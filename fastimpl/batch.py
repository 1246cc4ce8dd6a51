"""``run_ops``: a whole array of page-API operations inside one compiled loop.

An operation is one row ``(code, x, y)`` of an int64 array:

=============  ===========================  ===============================================
code           x                            y
=============  ===========================  ===============================================
``OP_ALLOC``   gfp mask                     order -> result: the pfn, or -1 (NULL)
``OP_FREE``    pfn, or ``~j``               order (``__free_pages``)
``OP_GET``     pfn, or ``~j``               unused (``get_page``)
``OP_PUT``     pfn, or ``~j``               unused (``put_page``)
=============  ===========================  ===============================================

``~j`` (a negative x) stands for the pfn that op ``j < i`` of the same batch
returned, so a workload whose frees depend on earlier allocations is one array.
The same operations packed one int64 word each (:func:`pack_ops`: ``x << 8 | y << 3 |
code``, for ``0 <= y < 32`` and ``|x| < 2**55``) are a third of the memory the loop
streams through (profiled: the 24-byte rows were most of workload c's traffic).
The gfp decisions (zonelist, passes, thresholds) are evaluated from the spec once
per distinct (gfp, order) in Python, when the loop first meets it (it stops there,
Python adds the row to the machine's table and resumes), and kept for later batches
until the watermarks change.

A bad operation stops the batch at its index with the exception the model raises
for it, the machine exactly as it was before that operation (the operations before
it stay done); the exception carries ``batch_index`` and ``results`` (the results
of the operations before it). Page contents (``__GFP_ZERO``) and dmesg lines (failed
allocations) are applied after the loop, in operation order: nothing else reads
or writes them in between.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kmem.spec import page_alloc
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import BadRange, InvalidArgument, KmemError

from . import arrays as A
from . import kernels as K
from .machine import GFP_ZERO, Machine, _check_gfp, _check_order

OP_ALLOC = K.OP_ALLOC
OP_FREE = K.OP_FREE
OP_GET = K.OP_GET
OP_PUT = K.OP_PUT

__all__ = ["OP_ALLOC", "OP_FREE", "OP_GET", "OP_PUT", "pack_ops", "ref", "run_ops",
           "unpack_ops"]

#: failed allocations whose indices the compiled loop notes (more: a pass over the batch)
_NFAILS = 64


def ref(j: int) -> int:
    """The operand that stands for the pfn op ``j`` of the same batch returned."""
    return ~j


def pack_ops(ops: np.ndarray) -> np.ndarray:
    """The rows ``(code, x, y)`` of ``ops`` (shape (n, 3)) as one int64 word each, ``x << 8 |
    y << 3 | code`` (what :func:`run_ops` takes as a 1-D array). Raises InvalidArgument
    when a row does not fit: a code outside 0..7, ``y`` outside 0..31, ``x`` outside
    ``[-2**55, 2**55)`` (such batches run as rows)."""
    ops = np.asarray(ops, dtype=np.int64)
    if ops.ndim != 2 or ops.shape[1] != 3:
        raise InvalidArgument(f"ops must have shape (n, 3), got {ops.shape}")
    code, x, y = ops[:, 0], ops[:, 1], ops[:, 2]
    lim = 1 << (63 - K.PK_XSHIFT)
    if ((code < 0) | (code > K.PK_CODE) | (y < 0) | (y > K.PK_YMASK) | (x < -lim)
            | (x >= lim)).any():
        raise InvalidArgument("an operation does not fit the packed form (code 0..7, "
                              "y 0..31, |x| < 2**55)")
    return (x << K.PK_XSHIFT) | (y << K.PK_YSHIFT) | code


def unpack_ops(packed: np.ndarray) -> np.ndarray:
    """The rows ``(code, x, y)`` (shape (n, 3)) of packed ops (:func:`pack_ops`)."""
    w = np.asarray(packed, dtype=np.int64).reshape(-1)
    out = np.empty((len(w), 3), np.int64)
    out[:, 0] = w & K.PK_CODE
    out[:, 1] = w >> K.PK_XSHIFT
    out[:, 2] = (w >> K.PK_YSHIFT) & K.PK_YMASK
    return out


class _Rows:
    """``ops[lo:hi]`` as rows (n, 3), unpacking packed ops only where Python reads them
    (errors, side effects after the loop)."""

    __slots__ = ("ops", "packed")

    def __init__(self, ops: np.ndarray, packed: bool) -> None:
        self.ops, self.packed = ops, packed

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, sl: slice) -> np.ndarray:
        return unpack_ops(self.ops[sl]) if self.packed else self.ops[sl]


class _KeyTable:
    """A machine's decision rows for run_ops, one per distinct key ``gfp * 16 +
    min(order, 11)`` (orders above MAX_PAGE_ORDER behave alike), found by the compiled
    loop itself (open addressing in ``slots``); kept across batches until the
    watermarks change (``Machine.setup_watermarks`` drops it)."""

    __slots__ = ("T", "keys", "slots", "nk", "special")

    def __init__(self, cap: int = 16) -> None:
        self.T = np.zeros(cap * A.TROW, np.int64)
        self.keys = np.full(cap, -1, np.int64)
        self.slots = np.full(4 * cap, -1, np.int64)
        self.nk = 0
        self.special: dict[int, Any] = {}  # key -> AllocPrep of a request with side effects

    def add(self, key: int, row: np.ndarray) -> None:
        cap = len(self.keys)
        if self.nk == cap:
            T, keys = self.T, self.keys[:self.nk]
            self.T = np.zeros(2 * cap * A.TROW, np.int64)
            self.T[:len(T)] = T
            self.keys = np.full(2 * cap, -1, np.int64)
            self.slots = np.full(8 * cap, -1, np.int64)
            for r, k in enumerate(keys.tolist()):
                K.k_key_insert(self.keys, self.slots, r, k)
        self.T[self.nk * A.TROW:(self.nk + 1) * A.TROW] = row
        K.k_key_insert(self.keys, self.slots, self.nk, key)
        self.nk += 1


def _key(gfp: int, order: int) -> int:
    return gfp * 16 + min(order, MAX_PAGE_ORDER + 1)


def _add_row(m: Machine, kt: _KeyTable, gfp: int, order: int) -> None:
    """The decision row of (gfp, order), from the spec; raises what the model raises."""
    _check_gfp(gfp)
    _check_order(order)
    row, prep = m.decision_row(gfp, min(order, MAX_PAGE_ORDER + 1))
    key = _key(gfp, order)
    if prep.lines or prep.once_lines or prep.livelock_passes:
        kt.special[key] = prep
    kt.add(key, row)


def run_ops(m: Machine, ops: np.ndarray, *, stop_on_failed_alloc: bool = False,
            out: np.ndarray | None = None) -> np.ndarray:
    """Run the operations ``ops`` (shape (n, 3), or packed: 1-D, see the module docstring) on
    ``m`` and return the results (int64, one per op: the pfn or -1 for an alloc, 0 otherwise).

    With ``stop_on_failed_alloc`` the batch ends after the first allocation that
    fails, and only the results of the operations that ran are returned (for
    workloads whose later operations depend on which allocations succeeded). ``out``: an
    int64 array of ``len(ops)`` to write the results into (and return a view of),
    instead of a new one."""
    if not isinstance(m, Machine):
        from .mt_machine import MtMachine

        if isinstance(m, MtMachine):  # the whole path: its own loop (mt_batch.py)
            from .mt_batch import run_path_ops

            if np.ndim(ops) == 1:  # packed: its loop takes rows
                ops = unpack_ops(ops)
            return run_path_ops(m, ops, stop_on_failed_alloc=stop_on_failed_alloc, out=out)
        raise InvalidArgument(f"run_ops needs a kmem.fastimpl.Machine, got {m!r}")
    ops = np.ascontiguousarray(ops, dtype=np.int64)
    packed = ops.ndim == 1
    if not packed and (ops.ndim != 2 or ops.shape[1] != 3):
        raise InvalidArgument(f"ops must have shape (n, 3) or be packed (1-D), got {ops.shape}")
    rows = _Rows(ops, packed)
    kt = m._batch_keys
    if kt is None:
        kt = m._batch_keys = _KeyTable()
    if out is None:
        res = np.empty(len(ops), np.int64)
    elif (not isinstance(out, np.ndarray) or out.dtype != np.int64 or out.shape != (len(ops),)
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise InvalidArgument(f"out must be a writeable contiguous int64 array of "
                              f"{len(ops)} elements")
    else:
        res = out
    M = m._v.M
    M[A.H_NFAIL] = 0
    flat = ops.reshape(-1)  # the compiled loop indexes rows at 3 * i
    fails = np.empty(_NFAILS, np.int64)
    run = K.k_run_packed if packed else K.k_run
    stop, exc = 0, None
    done = 0  # ops before this one have had their side effects (_after)
    while True:
        stop = int(run(m._S, kt.T, kt.keys, kt.slots, flat, res, stop,
                       bool(stop_on_failed_alloc), fails))
        if M[A.H_ERRCODE] != K.E_NEEDROW:
            break
        _, gfp, order = (int(v) for v in rows[stop:stop + 1][0])
        try:
            if _nofail_pending(m, gfp, order):
                # a __GFP_NOFAIL WARN_ON_ONCE may still fire, depending on where the walk
                # gets: this one op runs alone, as alloc_pages (its row is not cached),
                # after the side effects of the ops before it
                _after(m, rows[done:stop], res[done:stop], kt.special)
                done = stop  # (a raise below: the op's own side effects are done too)
                page = m.alloc_pages(gfp, order)
                res[stop] = -1 if page is None else page.pfn
                stop += 1
                done = stop
                M[A.H_ERRCODE] = 0
                if stop == len(ops) or (page is None and stop_on_failed_alloc):
                    break
                continue
            _add_row(m, kt, gfp, order)
        except KmemError as e:
            exc = e
            break
    rc = int(M[A.H_ERRCODE])
    nfail = int(M[A.H_NFAIL])
    if kt.special or (m.memory.dirty_pages() and _zeroing(m, rows[done:stop]).any()):
        _after(m, rows[done:stop], res[done:stop], kt.special)
    elif nfail > _NFAILS:
        _after(m, rows[done:stop], res[done:stop], kt.special)
    else:  # only failure reports, and the loop noted where (no pass over the batch)
        for i in fails[:nfail].tolist():
            if i >= done:
                _, gfp, order = (int(v) for v in rows[i:i + 1][0])
                m._alloc_failed(gfp, order)
    if rc != 0:
        if exc is None:
            exc = _batch_error(m, rows[stop:stop + 1][0], stop, kt.special)
        exc.batch_index = stop  # type: ignore[attr-defined]
        exc.results = res[:stop].copy()  # type: ignore[attr-defined]
        raise exc
    return res if stop == len(ops) else res[:stop]


def _zeroing(m: Machine, ops: np.ndarray) -> np.ndarray:
    """Per op: does an allocation zero its block (``want_init_on_alloc``: init_on_alloc, or
    __GFP_ZERO)?"""
    if m.init_on_alloc:
        return np.ones(len(ops), dtype=bool)
    return (ops[:, 1] & GFP_ZERO) != 0


def _nofail_pending(m: Machine, gfp: int, order: int) -> bool:
    """A valid __GFP_NOFAIL request whose walk may still print a WARN_ON_ONCE."""
    if not gfp & page_alloc.GFP_NOFAIL_BIT or not 0 <= gfp < 1 << 32 or order < 0:
        return False
    _, prep = m.decision_row(gfp, min(order, MAX_PAGE_ORDER + 1))
    return m._nofail_pending(prep)


#: below this many operations :func:`_after` walks Python lists: numpy's per-call cost
#: (``isin``, ``nonzero``) is tens of microseconds, more than the loop over a short batch
_SMALL = 64


def _after(m: Machine, ops: np.ndarray, res: np.ndarray, special: dict[int, Any]) -> None:
    """What the model does around each allocation besides the walk, in op order: page
    zeroing, the warnings before the walk, the reports of failures."""
    if len(ops) < _SMALL:
        _after_small(m, ops.tolist(), res.tolist(), special)
        return
    allocs = ops[:, 0] == OP_ALLOC
    if m.memory.dirty_pages():
        for i in np.nonzero(allocs & (res >= 0) & _zeroing(m, ops))[0].tolist():
            m.memory.zero(int(res[i]), 1 << int(ops[i, 2]))
    todo = allocs & (res < 0)
    keys = ops[:, 1] * 16 + np.minimum(ops[:, 2], MAX_PAGE_ORDER + 1)
    if special:
        todo |= allocs & np.isin(keys, list(special))
    for i in np.nonzero(todo)[0].tolist():
        prep = special.get(int(keys[i]))
        if prep is not None:
            m._before_walk(prep)
        if res[i] < 0:
            m._alloc_failed(int(ops[i, 1]), int(ops[i, 2]))


def _after_small(m: Machine, ops: list[list[int]], res: list[int],
                 special: dict[int, Any]) -> None:
    """:func:`_after` over Python lists (the same steps in the same order)."""
    cap = MAX_PAGE_ORDER + 1
    if m.memory.dirty_pages():
        zero_all = m.init_on_alloc
        for (code, gfp, order), r in zip(ops, res, strict=True):
            if code == OP_ALLOC and r >= 0 and (zero_all or gfp & GFP_ZERO):
                m.memory.zero(r, 1 << order)
    for (code, gfp, order), r in zip(ops, res, strict=True):
        if code != OP_ALLOC:
            continue
        prep = special.get(gfp * 16 + min(order, cap)) if special else None
        if prep is not None:
            m._before_walk(prep)
        if r < 0:
            m._alloc_failed(gfp, order)


def _batch_error(m: Machine, op: np.ndarray, i: int, special: dict[int, Any]) -> KmemError:
    """The exception for op ``i`` (the row ``op``), which stopped the loop."""
    code, x, y = (int(v) for v in op)
    M = m._v.M
    rc, pfn = int(M[A.H_ERRCODE]), int(M[A.H_ERRPFN])
    if rc == K.E_LIVELOCK:
        prep = special[_key(x, y)]
        m._before_walk(prep)
        return m._livelock(x, y, prep)
    if rc == K.E_BADOP:
        return InvalidArgument(f"op {i}: unknown operation code {code}; expected "
                               f"OP_ALLOC, OP_FREE, OP_GET or OP_PUT")
    if rc == K.E_BADREF:
        return InvalidArgument(f"op {i}: operand ~{~x} refers to op {~x}, which is not an "
                               f"earlier allocation of this batch that returned a page")
    if rc == K.E_NOPFN:
        return BadRange(f"pfn {pfn!r} is not valid on this machine (pfn_valid() is false; "
                        f"max_pfn is {m.layout.max_pfn:#x})")
    if rc == K.E_ORDER_NEG:
        return InvalidArgument(f"order must be an int >= 0, got {y!r}")
    if rc == K.E_ORDER_BIG:
        return InvalidArgument(f"order {y} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")
    return m._error(rc, pfn, y if code == OP_FREE else 0)


