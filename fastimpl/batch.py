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
The gfp decisions (zonelist, passes, thresholds) are evaluated from the spec once
per distinct (gfp, order) in Python and handed to the loop as a small table.

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

from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import BadRange, InvalidArgument, KmemError

from . import arrays as A
from . import kernels as K
from .machine import GFP_ZERO, Machine, _check_gfp, _check_order

OP_ALLOC = K.OP_ALLOC
OP_FREE = K.OP_FREE
OP_GET = K.OP_GET
OP_PUT = K.OP_PUT

__all__ = ["OP_ALLOC", "OP_FREE", "OP_GET", "OP_PUT", "ref", "run_ops"]


def ref(j: int) -> int:
    """The operand that stands for the pfn op ``j`` of the same batch returned."""
    return ~j


def _tables(m: Machine, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, Any]]:
    """(the table row of every allocation, -1 where Python must raise; the table; the
    side effects (``AllocPrep``) of the rows that have any)."""
    rows = np.full(len(ops), -1, np.int64)
    cap = 1024
    while True:
        keys = np.empty(cap, np.int64)
        nk = int(K.k_alloc_keys(ops, rows, keys, np.full(4 * cap, -1, np.int64)))
        if nk >= 0:
            break
        cap *= 8
    table = np.zeros((max(nk, 1), A.TROW), np.int64)
    lut = np.arange(nk, dtype=np.int64)
    special: dict[int, Any] = {}
    for r, key in enumerate(keys[:nk].tolist()):
        gfp, order = key >> 4, key & 15
        try:
            table[r], prep = m.decision_row(gfp, order)
        except KmemError:
            lut[r] = -1  # raised again, in order, when the loop reaches it
            continue
        if prep.lines or prep.once_lines or prep.livelock_passes:
            special[r] = prep
    K.k_remap(ops, rows, lut)
    return rows, table.ravel(), special


def run_ops(m: Machine, ops: np.ndarray, *, stop_on_failed_alloc: bool = False) -> np.ndarray:
    """Run the operations ``ops`` (shape (n, 3), see the module docstring) on ``m`` and
    return the results (int64, one per op: the pfn or -1 for an alloc, 0 otherwise).

    With ``stop_on_failed_alloc`` the batch ends after the first allocation that
    fails, and only the results of the operations that ran are returned (for
    workloads whose later operations depend on which allocations succeeded)."""
    if not isinstance(m, Machine):
        raise InvalidArgument(f"run_ops needs a kmem.fastimpl.Machine, got {m!r}")
    ops = np.ascontiguousarray(ops, dtype=np.int64)
    if ops.ndim != 2 or ops.shape[1] != 3:
        raise InvalidArgument(f"ops must have shape (n, 3), got {ops.shape}")
    rows, table, special = _tables(m, ops)
    res = np.zeros(len(ops), np.int64)
    stop = int(K.k_run(m._S, table, ops, rows, res, bool(stop_on_failed_alloc)))
    M = m._v.M
    rc = int(M[A.H_ERRCODE])
    if special or M[A.H_NFAIL] or (m.memory.dirty_pages() and _zeroing(m, ops[:stop]).any()):
        _after(m, ops[:stop], rows[:stop], res[:stop], special)
    if rc != 0:
        exc = _batch_error(m, ops, rows, stop, special)
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


def _after(m: Machine, ops: np.ndarray, rows: np.ndarray, res: np.ndarray,
           special: dict[int, Any]) -> None:
    """What the model does around each allocation besides the walk, in op order: page
    zeroing, the warnings before the walk, the reports of failures."""
    allocs = ops[:, 0] == OP_ALLOC
    if m.memory.dirty_pages():
        for i in np.nonzero(allocs & (res >= 0) & _zeroing(m, ops))[0].tolist():
            m.memory.zero(int(res[i]), 1 << int(ops[i, 2]))
    todo = allocs & (res < 0)
    if special:
        todo |= allocs & np.isin(rows, list(special))
    for i in np.nonzero(todo)[0].tolist():
        prep = special.get(int(rows[i]))
        if prep is not None:
            m._before_walk(prep)
        if res[i] < 0:
            m._alloc_failed(int(ops[i, 1]), int(ops[i, 2]))


def _batch_error(m: Machine, ops: np.ndarray, rows: np.ndarray, i: int,
                 special: dict[int, Any]) -> KmemError:
    code, x, y = (int(v) for v in ops[i])
    M = m._v.M
    rc, pfn = int(M[A.H_ERRCODE]), int(M[A.H_ERRPFN])
    if rc == K.E_LIVELOCK:
        prep = special[int(rows[i])]
        m._before_walk(prep)
        return m._livelock(x, y, prep)
    if rc == K.E_BADROW:
        try:
            m.decision_row(_check_gfp(x), _check_order(y))
        except KmemError as exc:
            return exc
        raise AssertionError(f"op {i}: alloc ({x:#x}, {y}) was rejected but passes now")
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


