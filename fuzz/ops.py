"""Operation streams for the bulk runner: the encoding, seeded generators and a plain executor.

An operation is a tuple of ints; handles are *slots* (small ints) that an
allocation fills and a free empties, so any sub-sequence of a stream is again a
valid stream (the shrinker relies on it)::

    (ALLOC, slot, gfp, order)   alloc_pages(gfp, order) into an empty slot
    (ZALLOC, slot, gfp)         alloc_pages(gfp | __GFP_ZERO, 0); the page must read as zeros
    (FREE, slot)                __free_pages(page, order) of the slot's block
    (GET, slot) / (PUT, slot)   get_page / put_page on the slot's page
    (WRITE, slot, byte)         dirty the first and last page of the slot's block
    (BADFREE, slot, kind)       a misuse that must raise (double free, tail-page free,
                                wrong order, put/get on a free page, bad address)

Each operation yields one int result: a pfn (>= 0), ``FAIL`` (-1, NULL), ``NOOP``
(-2: empty or occupied slot, nothing done), ``OK`` (-3), ``NOT_ZERO`` (-4), or
``-10 - k`` for the k-th exception class of :data:`ERRORS`. Implementations of one
policy must produce the same results, operation by operation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from kmem.spec import errors as E
from kmem.spec import gfp as g
from kmem.spec.constants import MAX_PAGE_ORDER, PAGE_SIZE
from kmem.spec.workloads import mixed_order, splitmix64

ALLOC, FREE, GET, PUT, WRITE, ZALLOC, BADFREE = range(7)
NAMES = ("ALLOC", "FREE", "GET", "PUT", "WRITE", "ZALLOC", "BADFREE")
BAD_DOUBLE, BAD_TAIL, BAD_ORDER, BAD_PUT_FREE, BAD_GET_FREE, BAD_ADDR, BAD_DIRECT = range(7)
NR_BADFREE = 7
BAD_NAMES = ("double free", "inner/tail page free", "wrong order", "put_page on a free page",
             "get_page on a free page", "free_pages of a bad address",
             "free_pages of a direct-map address below 4 GB that is no page of the machine")

FAIL, NOOP, OK, NOT_ZERO, CRASH = -1, -2, -3, -4, -9
#: most specific first: an exception's code is -10 - (index of the first class it is)
ERRORS: tuple[type[BaseException], ...] = (
    E.BadGfpZone, E.BadRange, E.UnalignedFree, E.RefcountUnderflow, E.GetPageOnFreePage,
    E.TailPageFree, E.BadVirtAddr, E.BadPageState, E.FreeOrderMismatch, E.KernelBug,
    E.InvalidArgument, E.AllocationLivelock, E.KmemError)

ZERO = g.__GFP_ZERO
_ZERO_PAGE = bytes(PAGE_SIZE)
COMP = g.__GFP_COMP
NOWARN = g.__GFP_NOWARN
Op = tuple[int, ...]


def error_code(exc: BaseException) -> int:
    for k, cls in enumerate(ERRORS):
        if isinstance(exc, cls):
            return -10 - k
    return CRASH


def describe_result(r: int) -> str:
    if r >= 0:
        return f"pfn {r:#x}"
    if r <= -10 and -10 - r < len(ERRORS):
        return f"raised {ERRORS[-10 - r].__name__}"
    return {FAIL: "NULL", NOOP: "no-op", OK: "ok", NOT_ZERO: "page not zeroed",
            CRASH: "crashed (not a kmem error)"}.get(r, str(r))


def describe_op(op: Sequence[int]) -> str:
    kind = op[0]
    if kind == ALLOC:
        return f"ALLOC slot {op[1]} gfp {op[2]:#x} ({g.format_gfp(op[2])}) order {op[3]}"
    if kind == ZALLOC:
        return f"ZALLOC slot {op[1]} gfp {op[2]:#x}"
    if kind == WRITE:
        return f"WRITE slot {op[1]} byte {op[2]:#x}"
    if kind == BADFREE:
        return f"BADFREE slot {op[1]}: {BAD_NAMES[op[2] % NR_BADFREE]}"
    return f"{NAMES[kind]} slot {op[1]}"


class Executor:
    """Runs operations on one machine (any implementation with the model's page API),
    keeping the slot table. ``results`` collects one int per operation."""

    def __init__(self, m: Any) -> None:
        self.m = m
        # slot -> [page, pfn, order, compound, refs]
        self.slots: dict[int, list[Any]] = {}
        self.ghosts: dict[int, tuple[int, int]] = {}  # slot -> last freed (pfn, order)
        self.results: list[int] = []
        self.messages: dict[int, str] = {}  # op index -> text of an unexpected crash

    def run(self, ops: Sequence[Op]) -> list[int]:
        step = self.step
        append = self.results.append
        for op in ops:
            append(step(op))
        return self.results

    def step(self, op: Sequence[int]) -> int:
        try:
            return self._step(op)
        except E.KmemError as exc:
            return error_code(exc)
        except Exception as exc:  # a crash is a finding, not the end of the run
            self.messages[len(self.results)] = f"{type(exc).__name__}: {exc}"
            return CRASH

    def _step(self, op: Sequence[int]) -> int:
        m = self.m
        kind = op[0]
        slot = op[1]
        if kind == ALLOC or kind == ZALLOC:
            if slot in self.slots:
                return NOOP
            if kind == ALLOC:
                gfp, order = op[2], op[3]
            else:
                gfp, order = op[2] | ZERO, 0
            page = m.alloc_pages(gfp, order)
            if page is None:
                return FAIL
            pfn = page.pfn
            self.slots[slot] = [page, pfn, order, bool(order and gfp & COMP), 1]
            if gfp & ZERO:
                for p in range(pfn, pfn + (1 << order)):
                    if m.read_page(p, 0, PAGE_SIZE) != _ZERO_PAGE:
                        return NOT_ZERO
            return pfn
        entry = self.slots.get(slot)
        if kind == FREE:
            if entry is None:
                return NOOP
            _, pfn, order, compound, refs = entry[:5]
            m.free_pages(entry[0] if entry[0] is not None else self._page(entry), order)
            if refs == 1:
                del self.slots[slot]
                self.ghosts[slot] = (pfn, order)
            else:
                entry[4] -= 1
                if order and not compound:
                    entry[2] = 0
            return OK
        if kind == GET:
            if entry is None:
                return NOOP
            m.get_page(entry[0] if entry[0] is not None else self._page(entry))
            entry[4] += 1
            return OK
        if kind == PUT:
            if entry is None:
                return NOOP
            m.put_page(entry[0] if entry[0] is not None else self._page(entry))
            if entry[4] == 1:
                del self.slots[slot]
                self.ghosts[slot] = (entry[1], entry[2])
            else:
                entry[4] -= 1
            return OK
        if kind == WRITE:
            if entry is None or m.is_highmem_pfn(entry[1]):
                return NOOP
            data = bytes([op[2]]) * 8
            m.write_page(entry[1], 0, data)
            m.write_page(entry[1] + (1 << entry[2]) - 1, PAGE_SIZE - 8, data)
            return OK
        if kind == BADFREE:
            return self._bad(op[2] % NR_BADFREE, slot, entry)
        raise E.InvalidArgument(f"unknown operation {op!r}")

    def _page(self, entry: list[Any]) -> Any:
        """The slot's page: the handle its allocation returned, or (a batch binds pfns
        only) ``pfn_to_page`` of its pfn, made on first use."""
        page = entry[0]
        if page is None:
            page = entry[0] = self.m.pfn_to_page(entry[1])
        return page

    def _bad(self, bad: int, slot: int, entry: list[Any] | None) -> int:
        m = self.m
        if bad in (BAD_DOUBLE, BAD_PUT_FREE, BAD_GET_FREE):
            ghost = self.ghosts.get(slot)
            if ghost is None or any(e[1] <= ghost[0] < e[1] + (1 << e[2])
                                    for e in self.slots.values()):
                return NOOP  # never freed, or the pfn is ours again: not a misuse
            page = m.pfn_to_page(ghost[0])
            if bad == BAD_DOUBLE:
                m.free_pages(page, ghost[1])
            elif bad == BAD_PUT_FREE:
                m.put_page(page)
            else:
                m.get_page(page)
            return OK
        if bad == BAD_ADDR:
            addr = entry[1] if entry is not None else 0x1000 + slot
            m.free_pages(m.virt_to_page(addr), 0)  # a pfn is no kernel address
            return OK
        if bad == BAD_DIRECT:
            # inside the direct map's span below 4 GB (PAGE_OFFSET + a physical address
            # under 4 GB, spread over it by the slot), at a pfn that is no valid lowmem page
            # of this machine: a hole, past the end of memory, or highmem
            phys = (slot * 0x9E3779B9 + 0x7F000) % (1 << 32) & ~0xFFF
            addr = m.page_offset + phys
            if m.virt_addr_valid(addr):
                return NOOP  # a real page: no misuse
            m.free_pages(m.virt_to_page(addr), 0)
            return OK
        if entry is None:
            return NOOP
        _, pfn, order, compound, refs = entry[:5]
        if bad == BAD_TAIL:
            if not order:
                return NOOP
            m.free_pages(m.pfn_to_page(pfn + (1 << order) - 1), 0)
            return OK
        # BAD_ORDER: only with one reference (a compound page with others just drops one)
        if refs != 1:
            return NOOP
        m.free_pages(self._page(entry), order + 1)
        return OK


# -- seeded generators ---------------------------------------------------------------------

MIX_MASKS = (g.GFP_KERNEL, g.GFP_KERNEL, g.GFP_ATOMIC, g.GFP_HIGHUSER_MOVABLE, g.GFP_USER,
             g.GFP_DMA | g.GFP_KERNEL, g.GFP_DMA32 | g.GFP_KERNEL, g.GFP_NOWAIT,
             g.GFP_KERNEL | COMP, g.GFP_HIGHUSER_MOVABLE | COMP, g.GFP_KERNEL | ZERO,
             g.GFP_KERNEL | g.__GFP_HIGHMEM | g.__GFP_DMA)  # the last: GFP_ZONE_BAD
WORKLOADS = ("a", "b", "c", "d", "mix")


def workload_stream(name: str, seed: int, n: int, npages: int,
                    gfp: int = g.GFP_KERNEL | NOWARN) -> list[Op]:
    """Workloads a-d of :mod:`kmem.spec.workloads` in slot form (``n`` steps for a and b;
    c and d fill ``npages`` pages and drain them), or ``"mix"``: every operation kind,
    misuse included, with masks of :data:`MIX_MASKS`."""
    out: list[Op] = []
    if name == "a":
        for _ in range(n):
            out += [(ALLOC, 0, gfp, 0), (FREE, 0)]
    elif name == "b":
        stream = splitmix64(seed)
        live: list[int] = []
        free_slots: list[int] = []
        nslots = 0
        for _ in range(n):
            r = next(stream)
            if r >> 63 == 0 or not live:
                if free_slots:
                    s = free_slots.pop()
                else:
                    s, nslots = nslots, nslots + 1
                out.append((ALLOC, s, gfp, mixed_order(r)))
                live.append(s)
            else:
                idx = (r >> 11) % len(live)
                s = live[idx]
                live[idx] = live[-1]
                live.pop()
                out.append((FREE, s))
                free_slots.append(s)
        out += [(FREE, s) for s in live]
    elif name in ("c", "d"):
        count = npages + 1
        out += [(ALLOC, s, gfp, 0) for s in range(count)]
        order = list(range(count))
        if name == "d":
            rng = random.Random(seed)
            rng.shuffle(order)
            out += [(FREE, s) for s in order]
            out += [(ALLOC, s, gfp, 0) for s in range(count)]
        out += [(FREE, s) for s in order]
    elif name == "mix":
        out = mix_stream(seed, n)
    else:
        raise E.InvalidArgument(f"unknown workload {name!r}; expected one of {WORKLOADS}")
    return out


#: modifiers the mixes add to a mask now and then: the ones whose handling differs
EDGE_MODIFIERS = (g.__GFP_NOFAIL, g.__GFP_HIGH, g.__GFP_NORETRY, g.__GFP_MEMALLOC,
                  g.__GFP_NOMEMALLOC, g.__GFP_RECLAIMABLE, g.__GFP_COMP, g.__GFP_ZERO)


def edge_mask(rng: random.Random) -> int:
    """A mask of :data:`MIX_MASKS` with, sometimes, modifiers of :data:`EDGE_MODIFIERS`;
    __GFP_NOWARN on 70% only, so that failed allocations log to dmesg too."""
    gfp = rng.choice(MIX_MASKS)
    if rng.random() < 0.3:
        gfp |= rng.choice(EDGE_MODIFIERS)
    if rng.random() < 0.7:
        gfp |= NOWARN
    return gfp


def edge_order(rng: random.Random) -> int:
    """Mostly small orders, with the top orders and a few above MAX_PAGE_ORDER."""
    r = rng.random()
    if r < 0.03:
        return MAX_PAGE_ORDER + 1 + rng.randrange(2)  # must fail (a WARN without NOWARN)
    if r < 0.12:
        return rng.choice((7, 8, 8, 9, MAX_PAGE_ORDER))
    return min(mixed_order(rng.getrandbits(64)), rng.choice((0, 1, 2, 3, 5, 10)))


def mix_stream(seed: int, n: int, nslots: int = 48) -> list[Op]:
    """Random operations of every kind, misuse included, over ``nslots`` slots; masks
    with the edge modifiers (__GFP_NOFAIL too) and without __GFP_NOWARN now and then,
    orders up to and above MAX_PAGE_ORDER."""
    rng = random.Random(seed)
    out: list[Op] = []
    for _ in range(n):
        r = rng.random()
        s = rng.randrange(nslots)
        if r < 0.45:
            out.append((ALLOC, s, edge_mask(rng), edge_order(rng)))
        elif r < 0.74:
            out.append((FREE, s))
        elif r < 0.78:
            out.append((GET, s))
        elif r < 0.84:
            out.append((PUT, s))
        elif r < 0.90:
            out.append((WRITE, s, rng.randrange(1, 256)))
        elif r < 0.95:
            out.append((ZALLOC, s, edge_mask(rng)))
        else:
            out.append((BADFREE, s, rng.randrange(NR_BADFREE)))
    return out


def long_lived_stream(seed: int, n: int, nslots: int = 256) -> list[Op]:
    """A machine that lives long and sees hundreds of distinct (gfp, order) pairs: every
    composite of :data:`MIX_MASKS` with any two edge modifiers, orders 0..MAX_PAGE_ORDER
    + 1, allocations and frees interleaved over many slots (so nothing is freed back
    at once)."""
    rng = random.Random(seed)
    out: list[Op] = []
    for _ in range(n):
        s = rng.randrange(nslots)
        if rng.random() < 0.55:
            gfp = rng.choice(MIX_MASKS) | rng.choice(EDGE_MODIFIERS) | rng.choice(
                EDGE_MODIFIERS + (NOWARN, NOWARN, NOWARN))
            out.append((ALLOC, s, gfp, rng.randrange(MAX_PAGE_ORDER + 2)
                        if rng.random() < 0.3 else edge_order(rng)))
        else:
            out.append((FREE, s))
    return out


def top_order_stream(seed: int, npages: int, order: int = 8) -> list[Op]:
    """Order-``order`` lists with two and more blocks, and wrong, larger-order frees at
    the end of the zone: fill the zone with order-``order`` blocks (the last ones at the
    zone's end, aligned or not), free every other one (non-buddies: they stay on the
    list side by side), free the last held ones at order + 1 (a misuse), then the rest."""
    rng = random.Random(seed)
    count = max(2, npages >> order) + 1
    gfp = rng.choice((g.GFP_KERNEL, g.GFP_HIGHUSER_MOVABLE, g.GFP_KERNEL | COMP)) | NOWARN
    out: list[Op] = [(ALLOC, s, gfp, order) for s in range(count)]
    out += [(FREE, s) for s in range(0, count, 2)]
    out += [(BADFREE, s, BAD_ORDER) for s in range(count - 1, max(0, count - 5), -1)]
    out += [(ALLOC, s, gfp, order - 1) for s in range(0, count, 2)]
    out += [(BADFREE, s, BAD_DIRECT) for s in range(0, 8)]
    out += [(FREE, s) for s in range(count)]
    return out


def stream_chunks(seed: int, npages: int) -> Iterator[tuple[str, list[Op]]]:
    """An endless, seeded sequence of (label, stream): workloads, mixes, long-lived
    machines and top-order lists in turn."""
    rng = random.Random(seed)
    while True:
        name = rng.choice(("a", "b", "b", "mix", "mix", "mix", "c", "d", "long", "top"))
        s = rng.getrandbits(32)
        if name in ("c", "d") and npages > 1 << 14:
            name = "b"
        if name == "long":
            yield f"long(seed={s})", long_lived_stream(s, 5000)
            continue
        if name == "top":
            order = rng.choice((8, 8, 9, MAX_PAGE_ORDER, 3))
            if npages and npages >> order > 4096:
                order = MAX_PAGE_ORDER
            yield (f"top(seed={s}, order={order})",
                   top_order_stream(s, npages or 1 << 12, order))
            continue
        n = {"a": 2000, "b": 20000, "mix": 5000}.get(name, 0)
        yield f"{name}(seed={s})", workload_stream(name, s, n, npages)


class BatchExecutor(Executor):
    """:class:`Executor` over an implementation's batch API (``kmem.fastimpl.run_ops``):
    runs of ALLOC/FREE/GET/PUT go to the compiled loop as one array, with ``~j``
    operands for pages allocated earlier in the same array; writes, zeroed allocations
    and misuse go through the page API one by one. An exception stops a batch at its
    index; the stream goes on after that operation.

    Which slots are filled is decided while translating, from ``expected`` (the
    results of the lane's first implementation): where this implementation differs,
    the comparison of results reports that operation, the first divergence."""

    def __init__(self, m: Any, run_ops: Any, codes: tuple[int, int, int, int],
                 expected: Sequence[int]) -> None:
        super().__init__(m)
        self.run_ops = run_ops
        self.codes = dict(zip((ALLOC, FREE, GET, PUT), codes, strict=True))
        self.expected = expected
        self._ghost_rows: dict[int, int | None] = {}
        # this batch's undo journal: slot -> (its entry, its ghost) before the batch
        # touched it (None: absent); and the entries the batch fills (bound in _bind)
        self._undo: dict[int, tuple[list[Any] | None, tuple[int, int] | None]] = {}
        self._filled: list[list[Any]] = []

    def run(self, ops: Sequence[Op]) -> list[int]:
        import numpy as np

        i = 0
        while i < len(ops):
            self._undo = {}
            self._filled = []
            rows: list[tuple[int, int, int]] = []
            kinds: list[tuple[int, int | None]] = []  # per op: (stream index, row or None)
            j = i
            while j < len(ops) and ops[j][0] in self.codes:
                kinds.append((j, self._translate(ops[j], len(self.results) + j - i, rows)))
                j += 1
            if j == i:  # not batchable: one step through the page API
                self.results.append(self.step(ops[i]))
                i += 1
                continue
            err: BaseException | None = None
            try:
                res = [int(r) for r in self.run_ops(self.m, np.array(rows, np.int64)
                                                    .reshape(-1, 3))] if rows else []
            except E.KmemError as exc:
                err, res = exc, [int(r) for r in getattr(exc, "results", [])]
            if err is not None:  # undo, then book only what ran
                self._rollback()
                stop_row = len(res)
                stop = next(k for k, r in kinds if r == stop_row)
                kinds = []
                rows = []
                for k in range(i, stop):
                    kinds.append((k, self._translate(ops[k], len(self.results) + k - i,
                                                     rows)))
            for _k, r in kinds:
                self.results.append(NOOP if r is None else
                                    (res[r] if res[r] >= 0 else FAIL)
                                    if rows[r][0] == self.codes[ALLOC] else OK)
            self._bind(res)
            if err is not None:
                self.results.append(error_code(err))
                i = stop + 1
            else:
                i = j
        return self.results

    def _rollback(self) -> None:
        """Put the slots and ghosts the batch touched back as they were before it."""
        for slot, (entry, ghost) in self._undo.items():
            if entry is None:
                self.slots.pop(slot, None)
            else:
                self.slots[slot] = entry
            if ghost is None:
                self.ghosts.pop(slot, None)
            else:
                self.ghosts[slot] = ghost
        self._undo = {}
        self._filled = []
        self._ghost_rows = {}

    def _expect(self, k: int) -> int:
        return self.expected[k] if k < len(self.expected) else OK

    def _translate(self, op: Sequence[int], k: int,
                   rows: list[tuple[int, int, int]]) -> int | None:
        """Append the batch row of stream op ``k`` (None: a no-op) and do its slot
        bookkeeping as if it had the expected result."""
        kind, slot = op[0], op[1]
        entry = self.slots.get(slot)
        if slot not in self._undo:
            self._undo[slot] = (None if entry is None else list(entry), self.ghosts.get(slot))
        want = self._expect(k)
        if kind == ALLOC:
            if entry is not None or want == NOOP:
                return None
            rows.append((self.codes[ALLOC], op[2], op[3]))
            if want >= 0:  # [page, pfn, order, compound, refs, batch row]
                entry = self.slots[slot] = [None, -1, op[3], bool(op[3] and op[2] & COMP), 1,
                                            len(rows) - 1]
                self._filled.append(entry)
            return len(rows) - 1
        if entry is None or want == NOOP:
            return None
        x = entry[1] if entry[1] >= 0 else ~entry[5]
        rows.append((self.codes[kind], x, entry[2] if kind == FREE else 0))
        if want == OK:
            if kind == GET:
                entry[4] += 1
            elif entry[4] == 1:
                del self.slots[slot]
                self.ghosts[slot] = (entry[1], entry[2])  # pfn bound in _bind
                self._ghost_rows[slot] = entry[5] if entry[1] < 0 else None
            else:
                entry[4] -= 1
                if kind == FREE and entry[2] and not entry[3]:
                    entry[2] = 0
        return len(rows) - 1

    def _bind(self, res: list[int]) -> None:
        """Replace batch-row references by the pfns the batch returned (only entries this
        batch filled hold one); the page handle is made when a step needs it
        (:meth:`Executor._page`)."""
        for entry in self._filled:
            if entry[1] < 0 and entry[5] is not None \
                    and entry[5] < len(res) and res[entry[5]] >= 0:
                entry[1] = res[entry[5]]
            entry[5] = None
        self._filled = []
        for slot, row in list(self._ghost_rows.items()):
            if row is not None and row < len(res) and res[row] >= 0:
                self.ghosts[slot] = (res[row], self.ghosts[slot][1])
        self._ghost_rows = {}
