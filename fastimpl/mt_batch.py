"""``run_ops`` on the whole allocation path (:class:`kmem.fastimpl.mt_machine.MtMachine`).

The operations are the bare core's (``batch.py``: rows ``(code, x, y)``, ``OP_ALLOC``,
``OP_FREE``, ``OP_GET``, ``OP_PUT``, ``~j`` for the pfn op ``j`` returned) and so are the
results and exceptions. One compiled loop (:func:`kmem.fastimpl.mt_kernels.run_path_ops`)
runs the common operations: each allocation's fast attempt with its (gfp, order)'s cached
decision row, each free of an allocated block's last reference. Whatever it does not
take it leaves, unchanged, to the per-operation API, which runs that one operation and
the loop resumes after it: a key without a row yet (the spec decides it, once), a request
that prints dmesg lines or asks for order > MAX_PAGE_ORDER, the slow path after a failed
fast attempt, get/put, and every operation that raises. So a batch equals the same
operations through ``alloc_pages``/``__free_pages``/``get_page``/``put_page`` one by one:
results, state, dmesg, exceptions (with ``batch_index`` and ``results``, the operations
before it done). Page zeroing of the compiled allocations is applied after the loop, as
the bare core's batch does (nothing reads or writes page contents in between).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kmem.spec import page_alloc
from kmem.spec.constants import MAX_PAGE_ORDER
from kmem.spec.errors import InvalidArgument, KmemError

from . import mt_kernels as K
from .kernels import OP_ALLOC, OP_FREE, OP_GET, OP_PUT
from .mt_machine import MtMachine, Page

_KEY_ORDER = MAX_PAGE_ORDER + 1  # orders above MAX_PAGE_ORDER share one key


class _Rows:
    """One node's decision rows for the compiled loop, found by key ``gfp * 16 +
    min(order, 11)`` (open addressing in ``slots``); copies of the machine's cached
    decisions, dropped with them."""

    __slots__ = ("rows", "keys", "slots", "nk")

    def __init__(self, width: int, cap: int = 16) -> None:
        self.rows = np.zeros((cap, width), np.int64)
        self.keys = np.full(cap, -1, np.int64)
        self.slots = np.full(4 * cap, -1, np.int64)
        self.nk = 0

    def add(self, k: Any, key: int, row: np.ndarray) -> None:
        cap = len(self.keys)
        if self.nk == cap:
            rows, keys = self.rows, self.keys
            self.rows = np.zeros((2 * cap, rows.shape[1]), np.int64)
            self.rows[:cap] = rows
            self.keys = np.full(2 * cap, -1, np.int64)
            self.slots = np.full(8 * cap, -1, np.int64)
            for r, old in enumerate(keys.tolist()):
                k.batch_key_insert(self.keys, self.slots, r, old)
        self.rows[self.nk, :len(row)] = row
        k.batch_key_insert(self.keys, self.slots, self.nk, key)
        self.nk += 1


def _python_row(width: int) -> np.ndarray:
    row = np.zeros(width, np.int64)
    row[K.R_PYTHON] = 1
    return row


def run_path_ops(m: MtMachine, ops: np.ndarray, *, stop_on_failed_alloc: bool = False,
                 out: np.ndarray | None = None) -> np.ndarray:
    """:func:`kmem.fastimpl.batch.run_ops` for a machine with the whole path (same
    arguments, results and exceptions)."""
    ops = np.ascontiguousarray(ops, dtype=np.int64)
    if ops.ndim != 2 or ops.shape[1] != 3:
        raise InvalidArgument(f"ops must have shape (n, 3), got {ops.shape}")
    n = len(ops)
    if out is None:
        res = np.empty(n, np.int64)
    elif (not isinstance(out, np.ndarray) or out.dtype != np.int64 or out.shape != (n,)
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise InvalidArgument(f"out must be a writeable contiguous int64 array of {n} elements")
    else:
        res = out
    k = m._k
    nid = m._decision_nid()
    width = K.R_ZL + 2 * len(m.zones)
    table = m._batch_tables.get(nid)
    if table is None or table.nk >= 4096:
        table = m._batch_tables[nid] = _Rows(width)
    st = np.array([K.S_DONE, -1], np.int64)
    last_python_alloc = -1
    i = 0
    try:
        while i < n:
            if m.migratetypes and m.path_era != "6.1":  # (6.1: the per-op API's walk)
                i = int(k.run_path_ops(m._S, table.keys, table.slots, table.rows, ops, res,
                                       i, m._cpu, st))
                status = int(st[0])
            else:  # a bare NUMA machine or 6.1's path: every operation through the per-op API
                status = K.S_PYTHON
            if status == K.S_DONE or i >= n:
                break
            code, x, y = (int(v) for v in ops[i])
            if code == OP_ALLOC:
                last_python_alloc = i
                if status == K.S_SLOW:  # the fast attempt failed: the slow path goes on
                    d = m._decisions.get((x, y, nid)) or m._decide(x, y)
                    page = m._alloc_slow(x, y, d)
                else:
                    page = m.alloc_pages(x, y)
                    if status == K.S_NEEDROW:
                        _add_row(m, table, x, y, nid, width)
                res[i] = -1 if page is None else page.pfn
                i += 1
                if page is None and stop_on_failed_alloc:
                    break
                continue
            _run_page_op(m, ops, res, i, code, x, y)
            res[i] = 0
            i += 1
    except KmemError as e:
        e.batch_index = i  # type: ignore[attr-defined]
        e.results = res[:i].copy()  # type: ignore[attr-defined]
        raise
    finally:
        _after(m, ops[:i], res[:i], int(st[1]), last_python_alloc)
    return res if i == n else res[:i]


def _add_row(m: MtMachine, table: _Rows, gfp: int, order: int, nid: int, width: int) -> None:
    """The row of a key the per-op API has just decided (and cached)."""
    key = gfp * 16 + min(order, _KEY_ORDER)
    if order > MAX_PAGE_ORDER:
        table.add(m._k, key, _python_row(width))
        return
    d = m._decisions.get((gfp, order, nid))
    if d is not None:
        table.add(m._k, key, d.row)


def _run_page_op(m: MtMachine, ops: np.ndarray, res: np.ndarray, i: int, code: int, x: int,
                 y: int) -> None:
    """Op ``i`` (not an allocation) through the per-op API; raises what it raises."""
    if code not in (OP_FREE, OP_GET, OP_PUT):
        raise InvalidArgument(f"op {i}: unknown operation code {code}; expected "
                              f"OP_ALLOC, OP_FREE, OP_GET or OP_PUT")
    if x < 0:
        j = ~x
        if j >= i or ops[j, 0] != OP_ALLOC or res[j] < 0:
            raise InvalidArgument(f"op {i}: operand ~{j} refers to op {j}, which is not an "
                                  f"earlier allocation of this batch that returned a page")
        x = int(res[j])
    page: Page = m.pfn_to_page(x)
    if code == OP_FREE:
        m.free_pages(page, y)
    elif code == OP_GET:
        m.get_page(page)
    else:
        m.put_page(page)


def _after(m: MtMachine, ops: np.ndarray, res: np.ndarray, last_compiled_alloc: int,
           last_python_alloc: int) -> None:
    """What the per-op API does after each allocation that the compiled loop left out:
    ``last_failure`` cleared by a success, page zeroing (in op order)."""
    if last_compiled_alloc > last_python_alloc:
        m.last_failure = None
    if not m.memory.dirty_pages():
        return
    allocs = (ops[:, 0] == OP_ALLOC) & (res >= 0)
    for i in np.nonzero(allocs)[0].tolist():
        gfp, order = int(ops[i, 1]), int(ops[i, 2])
        if page_alloc.want_init_on_alloc(gfp, m.init_on_alloc):
            m.memory.zero(int(res[i]), 1 << order)
