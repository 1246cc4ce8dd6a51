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

import numpy as np

from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import BadRange, InvalidArgument, KmemError

from . import arrays as A
from . import kernels as K
from .machine import GFP_NOWARN, GFP_ZERO, Machine, _check_gfp, _check_order

OP_ALLOC = K.OP_ALLOC
OP_FREE = K.OP_FREE
OP_GET = K.OP_GET
OP_PUT = K.OP_PUT

__all__ = ["OP_ALLOC", "OP_FREE", "OP_GET", "OP_PUT", "ref", "run_ops"]


def ref(j: int) -> int:
    """The operand that stands for the pfn op ``j`` of the same batch returned."""
    return ~j


def _tables(m: Machine, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ops with each alloc's gfp replaced by its table row or -1, the table)."""
    out = ops.copy()
    is_alloc = ops[:, 0] == OP_ALLOC
    if not is_alloc.any():
        return out, np.zeros(A.TROW, np.int64)
    keys, inverse = np.unique(ops[is_alloc, 1:3], axis=0, return_inverse=True)
    table = np.zeros((len(keys), A.TROW), np.int64)
    rows = np.arange(len(keys), dtype=np.int64)
    for r, (gfp, order) in enumerate(keys.tolist()):
        try:
            table[r] = m.decision_row(_check_gfp(gfp), _check_order(order))
        except KmemError:
            rows[r] = -1  # raised again, in order, when the loop reaches it
    out[is_alloc, 1] = rows[inverse.ravel()]
    return out, table.ravel()


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
    coded, table = _tables(m, ops)
    res = np.zeros(len(ops), np.int64)
    stop = int(K.k_run(m._S, table, coded, res, bool(stop_on_failed_alloc)))
    _after(m, ops[:stop], res[:stop])
    if m._v.M[A.H_ERRCODE] != 0:
        exc = _batch_error(m, ops, stop)
        exc.batch_index = stop  # type: ignore[attr-defined]
        exc.results = res[:stop].copy()  # type: ignore[attr-defined]
        raise exc
    return res if stop == len(ops) else res[:stop]


def _after(m: Machine, ops: np.ndarray, res: np.ndarray) -> None:
    """Page zeroing and dmesg lines of the allocations that ran, in order."""
    allocs = ops[:, 0] == OP_ALLOC
    if m.memory.dirty_pages():
        for i in np.nonzero(allocs & (res >= 0) & ((ops[:, 1] & GFP_ZERO) != 0))[0].tolist():
            m.memory.zero(int(res[i]), 1 << int(ops[i, 2]))
    for i in np.nonzero(allocs & (res < 0) & ((ops[:, 1] & GFP_NOWARN) == 0))[0].tolist():
        m._alloc_failed(int(ops[i, 1]), int(ops[i, 2]))


def _batch_error(m: Machine, ops: np.ndarray, i: int) -> KmemError:
    code, x, y = (int(v) for v in ops[i])
    M = m._v.M
    rc, pfn = int(M[A.H_ERRCODE]), int(M[A.H_ERRPFN])
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


