"""fastimpl's flat state: one machine in one NumPy arena (no numba here).

Everything a compiled step reads or writes lives in a single ``uint64`` array ``S``
(the *arena*), so that a per-operation call hands numba one array: unboxing each
array argument costs about 100 ns, more than the step itself. The arena holds,
at word offsets recorded in its header:

- the header (``H_*``) and one meta block per zone (``Z_*``): span, the 1024-aligned
  bitmap base, NR_FREE_PAGES, ``free_area[o].nr_free``, the "order non-empty" mask,
  list heads and tails (policy ``"linux"``) and the bitmap level offsets
  (policy ``"lowest"``);
- policy ``"lowest"``: per zone and order a bitmap with one bit per order-k block,
  plus summary levels (bit j of level l+1 set <=> word j of level l is non-zero),
  the layout of ``../shared/bench/buddy_bench.c``: about 0.254 bytes per page;
- the gfp decision table (``TAB_ROWS`` rows of ``TROW`` words; see ``machine.py``);
- page descriptors indexed by pfn, one int32 pair per page (8 bytes, so that the
  descriptor of a page is one cache line: a random free touches one line of them, not
  one per field): ``D[2 * pfn]`` = ``ref`` (``page_ref_count``) and ``D[2 * pfn + 1]`` =
  ``flg`` (the block order + 1 in the low 4 bits for the head of an allocated block,
  or of a free block under ``"linux"`` with ``F_BUDDY`` = PageBuddy, plus
  ``F_COMP`` (compound head) and ``F_RESV`` (PG_reserved));
- policy ``"linux"``: ``nxt``/``prv`` (int32, pfn-indexed) - the free lists as the
  kernel's intrusive ``struct list_head``, -1 ending a list: 8 bytes per page.

Views: ``S.view(np.int64)`` is the signed word view ``M`` of the same memory;
``ref``/``flg`` are strided views of the descriptor pairs, ``nxt``/``prv`` views of
their word ranges. Boot costs
O(zones + 1024-page chunks): ``np.zeros`` pages memory in lazily, and only holes
and reserved ranges are written.
"""

from __future__ import annotations

import numpy as np

from kmem.spec.constants import MAX_ORDER_NR_PAGES, NR_PAGE_ORDERS
from kmem.spec.errors import InvalidArgument
from kmem.spec.zones import MachineLayout

POLICY_LOWEST = 0
POLICY_LINUX = 1
POLICY_CODES = {"lowest": POLICY_LOWEST, "linux": POLICY_LINUX}

# -- header words ----------------------------------------------------------------------
H_NZONES = 0
H_NPFN = 1  # descriptors exist for pfns [0, npfn)
H_DESC = 2  # word offset of the page descriptors: (int32 refcount, int32 flags) per pfn
H_NXT = 4  # word offset of the int32 next links ("linux")
H_PRV = 5  # word offset of the int32 prev links ("linux")
H_POLICY = 6
H_TAB = 7  # word offset of the gfp decision table
H_ERR0 = 8  # scratch: detail of the last error code (e.g. the head pfn of a tail page)
H_ERR1 = 9
H_ERRCODE = 10  # batch: the error code of the op that stopped the batch
H_ERRPFN = 11  # batch: the pfn that op worked on
H_NFAIL = 12  # batch: allocations that returned NULL

ZONE0 = 16  # first zone meta block
ZSTRIDE = 128
NZMAX = 6  # enum zone_type has 6 members
MAX_LEVELS = 6  # 64**6 bits: enough for any 64-bit zone

# -- zone meta words (relative to ZONE0 + z * ZSTRIDE) --------------------------------
Z_START = 0
Z_END = 1
Z_BASE = 2  # start_pfn rounded down to MAX_ORDER_NR_PAGES: bitmap index 0
Z_FREE = 3  # NR_FREE_PAGES
Z_NONEMPTY = 4  # bit o: free_area[o] is not empty
Z_NBITS0 = 5  # bits in the order-0 bitmap (span rounded up to MAX_ORDER_NR_PAGES)
Z_NRFREE = 8  # NR_PAGE_ORDERS words: free_area[o].nr_free
Z_HEAD = Z_NRFREE + NR_PAGE_ORDERS  # list head pfn per order, -1 = empty ("linux")
Z_TAIL = Z_HEAD + NR_PAGE_ORDERS  # list tail pfn per order
Z_NLEV = Z_TAIL + NR_PAGE_ORDERS  # bitmap levels per order ("lowest")
Z_OFF = Z_NLEV + NR_PAGE_ORDERS  # word offset of level l of order o at Z_OFF + o*MAX_LEVELS + l
assert Z_OFF + NR_PAGE_ORDERS * MAX_LEVELS <= ZSTRIDE

# -- gfp decision table: one row per distinct (gfp, order) ----------------------------
TAB_ROWS = 256
MAX_PASSES = 4  # fast, slow, reserves, nofail (spec.page_alloc.alloc_passes)
T_NPASS = 0
T_NZL = 1  # zones in the zonelist
T_COMP = 2  # __GFP_COMP with order > 0: mark the head compound
T_LIVELOCK = 3  # __GFP_NOFAIL that never fails: a NULL result is AllocationLivelock
T_ZL = 4  # NZMAX zone indices, highest first
T_PASS = T_ZL + NZMAX  # per pass: [no_watermarks, threshold per zonelist position]
T_PSTRIDE = 1 + NZMAX
TROW = 40
assert T_PASS + MAX_PASSES * T_PSTRIDE <= TROW

# -- descriptor flags (uint8) ------------------------------------------------------------
F_ORDER = 0x0F  # block order + 1 at a block head, 0 elsewhere
F_BUDDY = 0x10  # PageBuddy: the head of a free block ("linux")
F_COMP = 0x20  # head of a __GFP_COMP block
F_RESV = 0x40  # PG_reserved (holes, reserved ranges, the zero page)


def zone_meta(z: int) -> int:
    """Word offset of zone ``z``'s meta block."""
    return ZONE0 + z * ZSTRIDE


def _words(nbytes: int) -> int:
    return (nbytes + 7) // 8


def build_arena(layout: MachineLayout, policy: str) -> np.ndarray:
    """A zeroed arena for ``layout``: header, zone metas and offsets filled in, every
    zone empty (no free blocks), every descriptor zero. ``boot`` fills it."""
    if policy not in POLICY_CODES:
        raise InvalidArgument(f"unknown policy {policy!r}; expected one of "
                              f"{', '.join(POLICY_CODES)}")
    pol = POLICY_CODES[policy]
    nz = len(layout.zones)
    if nz > NZMAX:
        raise InvalidArgument(f"{nz} zones; fastimpl holds at most {NZMAX}")
    npfn = layout.max_pfn
    if pol == POLICY_LINUX and npfn >= 2**31:
        raise InvalidArgument(f"max_pfn {npfn:#x}: policy 'linux' links pfns as int32 "
                              f"(at most 2**31 - 1 pages, 8 TiB)")
    head = ZONE0 + NZMAX * ZSTRIDE
    offs = np.zeros((nz, NR_PAGE_ORDERS, MAX_LEVELS), np.int64)
    nlev = np.zeros((nz, NR_PAGE_ORDERS), np.int64)
    nbits0 = np.zeros(nz, np.int64)
    bases = np.zeros(nz, np.int64)
    cursor = head
    for z, span in enumerate(layout.zones):
        base = span.start_pfn - span.start_pfn % MAX_ORDER_NR_PAGES
        bases[z] = base
        if pol != POLICY_LOWEST or span.managed_pages == 0:
            continue
        n0 = -(-(span.end_pfn - base) // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
        nbits0[z] = n0
        for k in range(NR_PAGE_ORDERS):
            nbits = n0 >> k
            level = 0
            while True:
                nw = (nbits + 63) >> 6
                offs[z, k, level] = cursor
                cursor += nw
                level += 1
                if nw == 1:
                    break
                nbits = nw
            nlev[z, k] = level
    tab = cursor
    cursor += TAB_ROWS * TROW
    desc = cursor
    cursor += npfn
    nxt = prv = 0
    if pol == POLICY_LINUX:
        nxt = cursor
        cursor += _words(4 * npfn)
        prv = cursor
        cursor += _words(4 * npfn)
    S = np.zeros(cursor, np.uint64)
    M = S.view(np.int64)
    M[H_NZONES], M[H_NPFN], M[H_DESC] = nz, npfn, desc
    M[H_NXT], M[H_PRV], M[H_POLICY], M[H_TAB] = nxt, prv, pol, tab
    for z, span in enumerate(layout.zones):
        zb = zone_meta(z)
        M[zb + Z_START], M[zb + Z_END], M[zb + Z_BASE] = span.start_pfn, span.end_pfn, bases[z]
        M[zb + Z_NBITS0] = nbits0[z]
        M[zb + Z_HEAD:zb + Z_HEAD + NR_PAGE_ORDERS] = -1
        M[zb + Z_TAIL:zb + Z_TAIL + NR_PAGE_ORDERS] = -1
        M[zb + Z_NLEV:zb + Z_NLEV + NR_PAGE_ORDERS] = nlev[z]
        M[zb + Z_OFF:zb + Z_OFF + NR_PAGE_ORDERS * MAX_LEVELS] = offs[z].ravel()
    return S


class Views:
    """NumPy views of one arena, for the Python side (export, /proc, boot, load)."""

    __slots__ = ("S", "M", "D", "ref", "flg", "nxt", "prv", "npfn")

    def __init__(self, S: np.ndarray) -> None:
        self.S = S
        self.M = M = S.view(np.int64)
        self.npfn = n = int(M[H_NPFN])
        d = int(M[H_DESC])
        self.D = S[d:d + n].view(np.int32)
        self.ref = self.D[0::2]
        self.flg = self.D[1::2]
        if M[H_POLICY] == POLICY_LINUX:
            a, b = int(M[H_NXT]), int(M[H_PRV])
            self.nxt = S[a:a + _words(4 * n)].view(np.int32)[:n]
            self.prv = S[b:b + _words(4 * n)].view(np.int32)[:n]
        else:
            self.nxt = self.prv = None  # type: ignore[assignment]

    def table(self) -> np.ndarray:
        t = int(self.M[H_TAB])
        return self.M[t:t + TAB_ROWS * TROW].reshape(TAB_ROWS, TROW)


def allocator_bytes(S: np.ndarray) -> int:
    """Bytes of free-block state (bitmaps, or links) excluding descriptors and tables."""
    M = S.view(np.int64)
    n = int(M[H_NPFN])
    if M[H_POLICY] == POLICY_LINUX:
        return 2 * 4 * n  # nxt + prv; PageBuddy/order live in the descriptor's flags word
    return 8 * (int(M[H_TAB]) - (ZONE0 + NZMAX * ZSTRIDE))


def descriptor_bytes(S: np.ndarray) -> int:
    """Bytes of page descriptors: int32 refcount + int32 flags per pfn."""
    return 8 * int(S.view(np.int64)[H_NPFN])
