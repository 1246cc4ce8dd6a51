"""The compiled steps of fastimpl (numba ``@njit``), and nothing else.

Each step works on one arena ``S`` (``arrays.py``) and mirrors a function of
mm/page_alloc.c (6.x) as :mod:`kmem.spec.buddy` defines it: ``rmqueue_smallest``
(``__rmqueue_smallest`` + ``expand``), ``free_one`` (``__free_one_page`` with
``buddy_merge_likely``), the guards of ``__free_pages``/``put_page``/``get_page``
as the model orders them, and ``alloc`` (``get_page_from_freelist``'s zonelist walk
with the watermark test of :func:`kmem.spec.watermarks.zone_watermark_ok`, its
thresholds precomputed per gfp mask from the spec in ``machine.py``).

Every step validates before it mutates and returns 0, a pfn, or a negative error
code (``E_*``; ``machine.py`` turns it into the model's exception), so a failed
step leaves the arena as it was. Integer widths are explicit: bitmap words are
uint64 and only ever combined with uint64; counters and pfns are int64.

Environment: ``KMEM_NUMBA_BOUNDSCHECK=1`` compiles with ``boundscheck=True`` (and
without the on-disk cache); ``NUMBA_DISABLE_JIT=1`` runs the same code as Python.
"""

from __future__ import annotations

import os

import numba
import numpy as np

from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS

from .arrays import (
    F_BUDDY,
    F_COMP,
    F_ORDER,
    F_RESV,
    H_DESC,
    H_ERR0,
    H_ERR1,
    H_ERRCODE,
    H_ERRPFN,
    H_NFAIL,
    H_NPFN,
    H_NXT,
    H_NZONES,
    H_POLICY,
    H_PRV,
    H_TAB,
    MAX_LEVELS,
    POLICY_LOWEST,
    T_COMP,
    T_LIVELOCK,
    T_NPASS,
    T_NZL,
    T_PASS,
    T_PSTRIDE,
    T_ZL,
    TAB_ROWS,
    TROW,
    Z_BASE,
    Z_END,
    Z_FREE,
    Z_HEAD,
    Z_NBITS0,
    Z_NLEV,
    Z_NONEMPTY,
    Z_NRFREE,
    Z_OFF,
    Z_START,
    Z_TAIL,
    ZONE0,
    ZSTRIDE,
)

BOUNDSCHECK = os.environ.get("KMEM_NUMBA_BOUNDSCHECK", "") not in ("", "0")
JIT_DISABLED = bool(numba.config.DISABLE_JIT)  # type: ignore[attr-defined]

# Without NRT (numba's reference-counted memory): the steps only index and view arrays
# they are given, and each call between compiled functions would otherwise pay an atomic
# increment and decrement per array argument (profiled: ~10x the cost of the step).
jit = numba.njit(cache=not BOUNDSCHECK, boundscheck=BOUNDSCHECK, nogil=True, _nrt=False)  # type: ignore[call-overload]
#: for the steps the entry points call: inlined into their callers. A call between
#: compiled functions is not inlined when the callee comes from the on-disk cache (it is
#: linked as machine code): every call passed each array as 7 words on the stack, about
#: 300 instructions per operation (profiled with callgrind; see README "Measured").
jit_inline = numba.njit(cache=not BOUNDSCHECK, boundscheck=BOUNDSCHECK, nogil=True, _nrt=False,
                        inline="always")  # type: ignore[call-overload]
#: for the per-operation entry points (``k_alloc``, ``k_free``, ...): they keep the GIL.
#: Releasing and taking it back around a step of a few hundred instructions cost more than
#: the step (profiled with callgrind: ~2,500 instructions per call through the entry point).
jit_entry = numba.njit(cache=not BOUNDSCHECK, boundscheck=BOUNDSCHECK, _nrt=False)  # type: ignore[call-overload]
#: for compiled helpers that allocate arrays (workloads.py)
jit_nrt = numba.njit(cache=not BOUNDSCHECK, boundscheck=BOUNDSCHECK, nogil=True)

if JIT_DISABLED:
    def ctz(x):  # noqa: ANN001, ANN202 - the Python twin of LLVM's cttz
        x = int(x)
        return (x & -x).bit_length() - 1
else:
    from numba.cpython.unsafe.numbers import trailing_zeros as ctz  # type: ignore[assignment]

if JIT_DISABLED:
    def prefetch(arr, i):  # noqa: ANN001, ANN202 - a hint only: nothing to do in Python
        pass
else:
    from llvmlite import ir as _ir  # type: ignore[import-untyped]
    from numba import types as _t
    from numba.core import cgutils as _cgutils
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def prefetch(typingctx, arr, i):  # noqa: ANN001, ANN202
        """``__builtin_prefetch(&arr[i])`` (read, keep in all cache levels): a hint that
        never faults; the callers pass only indices inside ``arr``."""
        if not isinstance(arr, _t.Array) or not isinstance(i, _t.Integer):
            return None

        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
            aryty, ity = signature.args
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = builder.gep(ary.data, [context.cast(builder, args[1], ity, _t.intp)])
            i8p = _ir.IntType(8).as_pointer()
            i32 = _ir.IntType(32)
            fn = _cgutils.get_or_insert_function(
                builder.module, _ir.FunctionType(_ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0i8")
            builder.call(fn, [builder.bitcast(ptr, i8p), _ir.Constant(i32, 0),
                              _ir.Constant(i32, 3), _ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return _t.void(arr, i), codegen

#: How many operations ahead ``k_run`` asks for the descriptor of a page it will free.
PREFETCH_AHEAD = 8

#: Array indices in the steps go through ``ix`` (uint64): numba fixes up a negative signed
#: index (Python's wraparound) on every access, three instructions each (~40 per
#: operation, profiled); no index here is ever negative.
ix = np.uint64
ONE = np.uint64(1)
ZERO64 = np.uint64(0)
MAXO = MAX_PAGE_ORDER

# -- error codes (negative returns); machine.py maps each to the model's exception -------
E_TAIL = -1  # TailPageFree (M[H_ERR0] = head pfn)
E_REF0 = -2  # RefcountUnderflow (__free_pages on refcount 0)
E_RESERVED = -3  # BadPageState: PG_reserved
E_UNALIGNED = -4  # UnalignedFree
E_BADRANGE = -5  # BadRange: the block leaves the zone
E_DOUBLE = -6  # BadPageState: already free (double free)
E_NOTALLOC = -7  # BadPageState: not the start of an allocated block
E_ORDER = -8  # FreeOrderMismatch (M[H_ERR0] = the order allocated)
E_GETFREE = -9  # GetPageOnFreePage
E_PUT_REF0 = -10  # RefcountUnderflow in put_page (M[H_ERR0] = the folio's pfn)
E_PUT_NOTBLOCK = -11  # BadPageState in put_page: not an allocated block (M[H_ERR0] = pfn)
E_PUT_ORDER = -12  # FreeOrderMismatch in put_page (M[H_ERR0] = pfn, H_ERR1 = order)
E_PUT_RESERVED = -13  # BadPageState in put_page: PG_reserved (M[H_ERR0] = pfn)
# batch-only conditions (checked in the compiled loop, raised by batch.py)
E_NOPFN = -20  # BadRange: pfn_valid() is false
E_ORDER_NEG = -21  # InvalidArgument: order < 0
E_ORDER_BIG = -22  # InvalidArgument: __free_pages order > MAX_PAGE_ORDER
E_BADREF = -23  # InvalidArgument: an operand refers to an op that returned no page
E_NEEDROW = -24  # the alloc's (gfp, order) has no table row yet: Python adds it (or raises)
E_BADOP = -25  # InvalidArgument: unknown operation code
E_LIVELOCK = -26  # AllocationLivelock: a __GFP_NOFAIL allocation no pass can satisfy

OP_ALLOC = 1
OP_FREE = 2
OP_GET = 3
OP_PUT = 4


# ---------------------------------------------------------------------------------------
# views and small helpers
# ---------------------------------------------------------------------------------------
# Page descriptors: one int32 pair per pfn in ``D`` (``arrays.py``): D[2 * pfn] is the
# refcount, D[2 * pfn + 1] the flags, so that one page's descriptor is one cache line.

@jit_inline
def _views(S):
    M = S.view(np.int64)
    n = M[H_NPFN]
    d = M[H_DESC]
    D = S[d:d + n].view(np.int32)
    if M[H_POLICY] == POLICY_LOWEST:
        nxt = D[:0]
        prv = D[:0]
    else:
        a = M[H_NXT]
        b = M[H_PRV]
        nxt = S[a:a + (4 * n + 7) // 8].view(np.int32)
        prv = S[b:b + (4 * n + 7) // 8].view(np.int32)
    return M, D, nxt, prv


@jit_inline
def zone_of(M, pfn):
    """The index of the zone whose span holds ``pfn``, or -1 (``page_zone``/pfn_valid)."""
    for z in range(M[H_NZONES]):
        zb = ZONE0 + z * ZSTRIDE
        if M[ix(zb + Z_START)] <= pfn < M[ix(zb + Z_END)]:
            return z
    return -1


@jit_inline
def alloc_order(D, pfn):
    """The order of the allocated block starting at ``pfn``, or -1."""
    f = D[ix(2 * pfn + 1)]
    if f & F_BUDDY:
        return np.int64(-1)
    return np.int64(f & F_ORDER) - 1


# ---------------------------------------------------------------------------------------
# per-order bitmaps with summary levels (policy "lowest"; buddy_bench.c's bm_*)
# ---------------------------------------------------------------------------------------

@jit_inline
def bm_set(S, M, zb, k, i):
    """Set bit ``i`` of order ``k``; a word turning non-zero sets its summary bit."""
    nl = M[ix(zb + Z_NLEV + k)]
    for level in range(nl):
        w = M[ix(zb + Z_OFF + k * MAX_LEVELS + level)] + (i >> 6)
        old = S[ix(w)]
        S[ix(w)] = old | (ONE << np.uint64(i & 63))
        if old != ZERO64:
            return
        i >>= 6
    M[ix(zb + Z_NONEMPTY)] |= np.int64(1) << k


@jit_inline
def bm_clear(S, M, zb, k, i):
    """Clear bit ``i`` of order ``k``; a word turning zero clears its summary bit."""
    nl = M[ix(zb + Z_NLEV + k)]
    for level in range(nl):
        w = M[ix(zb + Z_OFF + k * MAX_LEVELS + level)] + (i >> 6)
        new = S[ix(w)] & ~(ONE << np.uint64(i & 63))
        S[ix(w)] = new
        if new != ZERO64:
            return
        i >>= 6
    M[ix(zb + Z_NONEMPTY)] &= ~(np.int64(1) << k)


@jit_inline
def bm_test(S, M, zb, k, i):
    w = S[ix(M[ix(zb + Z_OFF + k * MAX_LEVELS)] + (i >> 6))]
    return (w >> np.uint64(i & 63)) & ONE != ZERO64


@jit_inline
def bm_first(S, M, zb, k):
    """The lowest set bit of order ``k`` (the caller knows one is set): one ctz per level."""
    i = np.int64(0)
    for level in range(M[ix(zb + Z_NLEV + k)] - 1, -1, -1):
        w = S[ix(M[ix(zb + Z_OFF + k * MAX_LEVELS + level)] + i)]
        i = (i << 6) | np.int64(ctz(w))
    return i


# ---------------------------------------------------------------------------------------
# free lists: the kernel's page_is_buddy / __add_to_free_list / __del_page_from_free_list
# ---------------------------------------------------------------------------------------

@jit_inline
def is_free_block(S, M, D, zb, pfn, k, lowest):
    """``page_is_buddy``: (pfn, k) is a free block of exactly order k in this zone.
    ``lowest``: the zone's policy is "lowest" (a constant where the caller is
    specialised for one policy: ``k_run``)."""
    if pfn < M[ix(zb + Z_START)] or pfn >= M[ix(zb + Z_END)]:
        return False
    if lowest:
        i = pfn - M[ix(zb + Z_BASE)]
        if i & ((np.int64(1) << k) - 1):
            return False
        return bm_test(S, M, zb, k, i >> k)
    f = D[ix(2 * pfn + 1)]
    return (f & F_BUDDY) != 0 and np.int64(f & F_ORDER) == k + 1


@jit_inline
def buddy_is_free(S, M, D, zb, buddy, k, lowest):
    """``page_is_buddy`` for the buddy ``buddy`` of a block of order ``k < MAX_PAGE_ORDER``
    inside the zone. Under "lowest" no zone-bounds test is needed: the bitmaps cover the
    zone's span rounded out to MAX_ORDER_NR_PAGES (so the buddy's bit exists), and only
    blocks inside the zone are ever marked free."""
    if lowest:
        return bm_test(S, M, zb, k, (buddy - M[ix(zb + Z_BASE)]) >> k)
    return is_free_block(S, M, D, zb, buddy, k, lowest)


@jit_inline
def add_free(S, M, D, nxt, prv, zb, pfn, k, tail, lowest):
    """``__add_to_free_list`` (``list_add``, or ``list_add_tail`` when ``tail``)."""
    M[ix(zb + Z_NRFREE + k)] += 1
    M[ix(zb + Z_FREE)] += np.int64(1) << k
    if lowest:
        bm_set(S, M, zb, k, (pfn - M[ix(zb + Z_BASE)]) >> k)
        return
    M[ix(zb + Z_NONEMPTY)] |= np.int64(1) << k
    D[ix(2 * pfn + 1)] = (D[ix(2 * pfn + 1)] & np.int32(~(F_ORDER | F_BUDDY))) | np.int32(F_BUDDY + k + 1)
    p32 = np.int32(pfn)
    if tail:
        t = M[ix(zb + Z_TAIL + k)]
        prv[ix(pfn)] = np.int32(t)
        nxt[ix(pfn)] = np.int32(-1)
        if t >= 0:
            nxt[ix(t)] = p32
        else:
            M[ix(zb + Z_HEAD + k)] = pfn
        M[ix(zb + Z_TAIL + k)] = pfn
    else:
        h = M[ix(zb + Z_HEAD + k)]
        nxt[ix(pfn)] = np.int32(h)
        prv[ix(pfn)] = np.int32(-1)
        if h >= 0:
            prv[ix(h)] = p32
        else:
            M[ix(zb + Z_TAIL + k)] = pfn
        M[ix(zb + Z_HEAD + k)] = pfn


@jit_inline
def del_free(S, M, D, nxt, prv, zb, pfn, k, lowest):
    """``__del_page_from_free_list``."""
    M[ix(zb + Z_NRFREE + k)] -= 1
    M[ix(zb + Z_FREE)] -= np.int64(1) << k
    if lowest:
        bm_clear(S, M, zb, k, (pfn - M[ix(zb + Z_BASE)]) >> k)
        return
    if M[ix(zb + Z_NRFREE + k)] == 0:
        M[ix(zb + Z_NONEMPTY)] &= ~(np.int64(1) << k)
    D[ix(2 * pfn + 1)] = D[ix(2 * pfn + 1)] & np.int32(~(F_ORDER | F_BUDDY))
    p = np.int64(prv[ix(pfn)])
    n = np.int64(nxt[ix(pfn)])
    if p >= 0:
        nxt[ix(p)] = np.int32(n)
    else:
        M[ix(zb + Z_HEAD + k)] = n
    if n >= 0:
        prv[ix(n)] = np.int32(p)
    else:
        M[ix(zb + Z_TAIL + k)] = p


@jit_inline
def rmqueue_smallest(S, M, D, nxt, prv, zb, order, lowest):
    """``__rmqueue_smallest``: the first block of the smallest non-empty order >= ``order``
    (``"lowest"``: the lowest pfn; ``"linux"``: the list head), split by ``expand``
    (upper halves to the list heads, high to low). Returns the pfn kept, or -1."""
    m = M[ix(zb + Z_NONEMPTY)] >> order
    if m == 0:
        return np.int64(-1)
    cur = order + np.int64(ctz(m))
    if lowest:
        pfn = M[ix(zb + Z_BASE)] + (bm_first(S, M, zb, cur) << cur)
    else:
        pfn = M[ix(zb + Z_HEAD + cur)]
    del_free(S, M, D, nxt, prv, zb, pfn, cur, lowest)
    for o in range(cur - 1, order - 1, -1):
        add_free(S, M, D, nxt, prv, zb, pfn + (np.int64(1) << o), o, False, lowest)
    return pfn


@jit_inline
def free_one(S, M, D, nxt, prv, zb, pfn, order, lowest):
    """``__free_one_page``: merge with free buddies below MAX_PAGE_ORDER, then add the block
    at the head, or at the tail when ``buddy_merge_likely`` ("linux" only: for
    "lowest" the end of the list does not matter)."""
    buddy = pfn ^ (np.int64(1) << order)
    while order < MAXO:
        buddy = pfn ^ (np.int64(1) << order)
        if not buddy_is_free(S, M, D, zb, buddy, order, lowest):
            break
        del_free(S, M, D, nxt, prv, zb, buddy, order, lowest)
        pfn = pfn & buddy
        order += 1
    tail = False
    if not lowest and order < MAXO - 1:
        higher = buddy & pfn
        tail = is_free_block(S, M, D, zb, higher ^ (np.int64(1) << (order + 1)), order + 1,
                             lowest)
    add_free(S, M, D, nxt, prv, zb, pfn, order, tail, lowest)


@jit_inline
def containing_free_block(S, M, D, zb, pfn, lowest):
    """The head of the free block holding page ``pfn``, or -1 (spec
    ``containing_free_block``)."""
    for level in range(NR_PAGE_ORDERS):
        start = pfn - pfn % (np.int64(1) << level)
        if is_free_block(S, M, D, zb, start, level, lowest):
            return start
    return np.int64(-1)


@jit_inline
def find_allocated(M, D, zb, pfn):
    """The head pfn of the allocated block holding ``pfn``, or -1 (model
    ``Zone.find_allocated``)."""
    for level in range(NR_PAGE_ORDERS):
        head = pfn - pfn % (np.int64(1) << level)
        if head >= M[ix(zb + Z_START)] and alloc_order(D, head) == level:
            return head
    return np.int64(-1)


@jit_inline
def compound_tail_head(M, D, zb, pfn):
    """``PageTail``: the head pfn if ``pfn`` is a tail page of a compound block, else -1."""
    if alloc_order(D, pfn) >= 0:  # a block head is nobody's tail
        return np.int64(-1)
    head = find_allocated(M, D, zb, pfn)
    if head >= 0 and head != pfn and D[ix(2 * head + 1)] & F_COMP:
        return head
    return np.int64(-1)


# ---------------------------------------------------------------------------------------
# the page API steps
# ---------------------------------------------------------------------------------------

@jit_inline
def alloc_core(S, M, D, nxt, prv, T, row, order, lowest):
    """``get_page_from_freelist`` over the passes and zonelist of table row ``row``:
    the first zone whose watermark test passes (``free_pages - (2**order - 1) >
    threshold`` and, for order > 0, a free block of order >= ``order``, as
    :func:`kmem.spec.watermarks.zone_watermark_ok`) and whose ``rmqueue_smallest``
    succeeds gives the block; ``prep_new_page`` sets refcount 1 (and PG_head for
    __GFP_COMP). Returns the pfn or -1."""
    base = row * TROW
    nzl = T[ix(base + T_NZL)]
    # The first try on its own (pass 0, the zonelist's first zone), where almost every
    # allocation ends: straight-line code (profiled: the loops' set-up cost ~40
    # instructions per allocation). When it fails the loops below try it again, with
    # the same outcome (a failed rmqueue_smallest changes nothing), then the rest.
    if nzl > 0 and T[ix(base + T_NPASS)] > 0:
        zb = ZONE0 + T[ix(base + T_ZL)] * ZSTRIDE
        if (M[ix(zb + Z_NONEMPTY)] >> order) != 0 and (
                T[ix(base + T_PASS)] != 0
                or M[ix(zb + Z_FREE)] - ((np.int64(1) << order) - 1) > T[ix(base + T_PASS + 1)]):
            pfn = rmqueue_smallest(S, M, D, nxt, prv, zb, order, lowest)
            if pfn >= 0:
                prep_new_page(D, pfn, order, T[ix(base + T_COMP)])
                return pfn
    for p in range(T[ix(base + T_NPASS)]):
        pb = base + T_PASS + p * T_PSTRIDE
        no_wmark = T[ix(pb)] != 0
        for pos in range(nzl):
            z = T[ix(base + T_ZL + pos)]
            zb = ZONE0 + z * ZSTRIDE
            if not no_wmark:
                if M[ix(zb + Z_FREE)] - ((np.int64(1) << order) - 1) <= T[ix(pb + 1 + pos)]:
                    continue
                if order > 0 and (M[ix(zb + Z_NONEMPTY)] >> order) == 0:
                    continue
            pfn = rmqueue_smallest(S, M, D, nxt, prv, zb, order, lowest)
            if pfn >= 0:
                prep_new_page(D, pfn, order, T[ix(base + T_COMP)])
                return pfn
    return np.int64(-1)


@jit_inline
def prep_new_page(D, pfn, order, comp):
    """``prep_new_page``: refcount 1, the block's order (and PG_head for __GFP_COMP)."""
    f = (D[ix(2 * pfn + 1)] & np.int32(F_RESV)) | np.int32(order + 1)
    if comp != 0:
        f |= np.int32(F_COMP)
    D[ix(2 * pfn)] = np.int32(1)
    D[ix(2 * pfn + 1)] = f


@jit_inline
def check_free(S, M, D, zb, pfn, order, lowest):
    """``Zone.check_free``: aligned, inside the zone, the start of a block allocated at
    this order. Returns 0 or an error code."""
    if pfn & ((np.int64(1) << order) - 1):
        return E_UNALIGNED
    if not (M[ix(zb + Z_START)] <= pfn and pfn + (np.int64(1) << order) <= M[ix(zb + Z_END)]):
        return E_BADRANGE
    held = alloc_order(D, pfn)
    if held < 0:
        if containing_free_block(S, M, D, zb, pfn, lowest) >= 0:
            return E_DOUBLE
        return E_NOTALLOC
    if held != order:
        M[H_ERR0] = held
        return E_ORDER
    return 0


@jit_inline
def free_core(S, M, D, nxt, prv, pfn, order, lowest):
    """``__free_pages(page, order)`` for a valid pfn and 0 <= order <= MAX_PAGE_ORDER, with
    the model's guards in the model's order; 6.x ``___free_pages`` frees the tail
    portions at once when a non-compound block keeps other references."""
    return free_core_z(S, M, D, nxt, prv, ZONE0 + zone_of(M, pfn) * ZSTRIDE, pfn, order, lowest)


@jit_inline
def free_common(S, M, D, nxt, prv, zb, zend, pfn, order, lowest):
    """``free_core_z``'s common case alone: the only reference to the head of a block
    allocated at this order (not PageBuddy, not PG_reserved), aligned and inside the
    zone (``zend``: its end pfn). Every guard of ``free_core_z`` passes for it (a block
    head is nobody's tail) and the result is the same. Frees it and returns True; else
    changes nothing and returns False."""
    r = D[ix(2 * pfn)]
    f = D[ix(2 * pfn + 1)]
    if (r == 1 and (f & np.int32(~F_COMP)) == np.int32(order + 1)
            and (pfn & ((np.int64(1) << order) - 1)) == 0
            and pfn + (np.int64(1) << order) <= zend):
        D[ix(2 * pfn + 1)] = np.int32(0)
        D[ix(2 * pfn)] = np.int32(0)
        free_one(S, M, D, nxt, prv, zb, pfn, order, lowest)
        return True
    return False


@jit_inline
def free_core_z(S, M, D, nxt, prv, zb, pfn, order, lowest):
    """``free_core`` for a pfn of the zone at meta offset ``zb``."""
    if free_common(S, M, D, nxt, prv, zb, M[ix(zb + Z_END)], pfn, order, lowest):
        return 0
    head = compound_tail_head(M, D, zb, pfn)
    if head >= 0:
        M[H_ERR0] = head
        return E_TAIL
    r = D[ix(2 * pfn)]
    f = D[ix(2 * pfn + 1)]
    if r == 0:
        return E_REF0
    if r == 1:
        if f & F_RESV:
            return E_RESERVED
        e = check_free(S, M, D, zb, pfn, order, lowest)
        if e != 0:
            return e
        D[ix(2 * pfn)] = np.int32(0)
        D[ix(2 * pfn + 1)] = f & np.int32(F_RESV)
        free_one(S, M, D, nxt, prv, zb, pfn, order, lowest)
        return 0
    if not (f & F_COMP) and order > 0:
        e = check_free(S, M, D, zb, pfn, order, lowest)
        if e != 0:
            return e
        D[ix(2 * pfn)] = r - np.int32(1)
        D[ix(2 * pfn + 1)] = (f & np.int32(F_RESV)) | np.int32(1)  # an order-0 block now
        for o in range(order - 1, -1, -1):
            free_one(S, M, D, nxt, prv, zb, pfn + (np.int64(1) << o), o, lowest)
        return 0
    D[ix(2 * pfn)] = r - np.int32(1)
    return 0


@jit_inline
def folio_of(M, D, pfn):
    """``page_folio``: the compound head for a compound tail page, else the page."""
    zb = ZONE0 + zone_of(M, pfn) * ZSTRIDE
    head = compound_tail_head(M, D, zb, pfn)
    return head if head >= 0 else pfn


@jit_inline
def get_core(M, D, pfn):
    """``get_page``: take a reference on the folio (GetPageOnFreePage at refcount 0)."""
    t = folio_of(M, D, pfn)
    if D[ix(2 * t)] <= 0:
        return E_GETFREE
    D[ix(2 * t)] += np.int32(1)
    return 0


@jit_inline
def put_core(S, M, D, nxt, prv, pfn, lowest):
    """``put_page``: drop a reference on the folio; the last one frees the block (a
    compound block at its order; otherwise only an order-0 block)."""
    t = folio_of(M, D, pfn)
    M[H_ERR0] = t
    r = D[ix(2 * t)]
    if r <= 0:
        return E_PUT_REF0
    if r > 1:
        D[ix(2 * t)] = r - np.int32(1)
        return 0
    f = D[ix(2 * t + 1)]
    if f & F_RESV:
        return E_PUT_RESERVED
    held = alloc_order(D, t)
    if held < 0:
        return E_PUT_NOTBLOCK
    if held > 0 and not (f & F_COMP):
        M[H_ERR1] = held
        return E_PUT_ORDER
    D[ix(2 * t)] = np.int32(0)
    D[ix(2 * t + 1)] = f & np.int32(F_RESV)
    zb = ZONE0 + zone_of(M, t) * ZSTRIDE
    free_one(S, M, D, nxt, prv, zb, t, held, lowest)
    return 0


# ---------------------------------------------------------------------------------------
# entry points: one call per page-API operation (the Python guards ran before)
# ---------------------------------------------------------------------------------------

@jit_entry
def k_alloc(S, row, order):
    M, D, nxt, prv = _views(S)
    t = M[H_TAB]
    return alloc_core(S, M, D, nxt, prv, M[t:t + TAB_ROWS * TROW], row, order,
                      M[H_POLICY] == POLICY_LOWEST)


@jit_entry
def k_free(S, pfn, order):
    M, D, nxt, prv = _views(S)
    return free_core(S, M, D, nxt, prv, pfn, order, M[H_POLICY] == POLICY_LOWEST)


@jit_entry
def k_get(S, pfn):
    M, D, nxt, prv = _views(S)
    return get_core(M, D, pfn)


@jit_entry
def k_put(S, pfn):
    M, D, nxt, prv = _views(S)
    return put_core(S, M, D, nxt, prv, pfn, M[H_POLICY] == POLICY_LOWEST)


@jit_entry
def k_count(S, pfn):
    """``page_count``: the refcount of the page's folio."""
    M, D, nxt, prv = _views(S)
    return np.int64(D[ix(2 * folio_of(M, D, pfn))])


@jit
def k_add_blocks(S, z, blocks):
    """Put free blocks ``blocks[i] = (pfn, order)`` on the list tails, in order (boot's
    ``__free_pages_memory`` chunks, FPI_TO_TAIL; ``Zone.load``)."""
    M, D, nxt, prv = _views(S)
    zb = ZONE0 + z * ZSTRIDE
    lowest = M[H_POLICY] == POLICY_LOWEST
    for i in range(blocks.shape[0]):
        add_free(S, M, D, nxt, prv, zb, blocks[ix(i), 0], blocks[ix(i), 1], True, lowest)


@jit
def k_alloc_heads(D, start, end, out_pfn, out_order):
    """The allocated blocks in pfns [start, end) (order bits set, PageBuddy clear), in
    pfn order: writes the first ones' head pfns and orders to ``out_pfn``/``out_order``
    and returns how many there are."""
    end = min(end, D.shape[0] // 2)
    cap = min(out_pfn.shape[0], out_order.shape[0])
    n = 0
    for p in range(max(start, 0), end):
        f = D[ix(2 * p + 1)]
        if f & F_ORDER and not f & F_BUDDY:
            if n < cap:
                out_pfn[ix(n)] = p
                out_order[ix(n)] = (f & F_ORDER) - 1
            n += 1
    return n


@jit
def k_list(S, z, k, out):
    """The pfns of ``free_area[k]`` of zone ``z`` in the order they would be handed out;
    returns how many were written to ``out``."""
    M, D, nxt, prv = _views(S)
    zb = ZONE0 + z * ZSTRIDE
    n = 0
    if M[H_POLICY] == POLICY_LOWEST:
        base = M[ix(zb + Z_BASE)]
        nbits = M[ix(zb + Z_NBITS0)] >> k
        w0 = M[ix(zb + Z_OFF + k * MAX_LEVELS)]
        for i in range(nbits):
            if (S[ix(w0 + (i >> 6))] >> np.uint64(i & 63)) & ONE:
                if n < out.shape[0]:
                    out[ix(n)] = base + (i << k)
                n += 1
        return n
    p = M[ix(zb + Z_HEAD + k)]
    while p >= 0:
        if n < out.shape[0]:
            out[ix(n)] = p
        n += 1
        p = np.int64(nxt[ix(p)])
    return n


@jit_inline
def key_slot(key, mask):
    """The first slot of ``key`` (= gfp * 16 + min(order, 11)) in a batch key table."""
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask


@jit
def k_run(S, T, keys, slots, ops, res, start, stop_on_fail, fails):
    """``run_ops``: the operations from ``start`` on, in order, inside compiled code; ``ops``:
    the (n, 3) array of rows ``(code, x, y)`` flattened (row i at ``3 * i``);
    :func:`k_run_packed` takes one int64 word per op, ``x << 8 | y << 3 | code``
    (``batch.pack_ops``). Two functions, not one: with all four loops (policy x op format)
    in one function LLVM compiled each worse (callgrind: 1,111 instructions per operation
    of workload a, 1,051 as two functions).

    OP_ALLOC (x = gfp, y = order) -> res[i] = pfn or -1, with the decisions of row
    ``slots[...]`` of ``T`` for its key ``gfp * 16 + min(order, 11)`` (open addressing
    over ``keys``; a key not there stops the loop with E_NEEDROW so that Python adds
    its row and resumes); OP_FREE (x = pfn, y = order); OP_GET / OP_PUT (x = pfn), each
    res[i] = 0. A negative pfn operand ``x`` means ``~j``: the pfn op j of this batch
    returned. Returns the index of the first op that failed its checks (its code in
    M[H_ERRCODE], its pfn in M[H_ERRPFN], details in M[H_ERR0/1]); the number of ops
    when all ran. A failing op changes nothing. With ``stop_on_fail`` a failed allocation
    ends the batch after it (returns its index + 1). Failed allocations are counted in
    M[H_NFAIL] (the caller zeroes it), the first ``len(fails)`` of their indices written
    to ``fails`` (so that the caller reports them without a pass over the batch)."""
    # one loop compiled per policy: the policy tests in the steps fold away (profiled:
    # they were reloaded from the arena after every store)
    if S.view(np.int64)[H_POLICY] == POLICY_LOWEST:
        return run_loop(S, T, keys, slots, ops, res, start, stop_on_fail, fails, True, False)
    return run_loop(S, T, keys, slots, ops, res, start, stop_on_fail, fails, False, False)


@jit
def k_run_packed(S, T, keys, slots, ops, res, start, stop_on_fail, fails):
    """:func:`k_run` over packed ops (one int64 word per op)."""
    if S.view(np.int64)[H_POLICY] == POLICY_LOWEST:
        return run_loop(S, T, keys, slots, ops, res, start, stop_on_fail, fails, True, True)
    return run_loop(S, T, keys, slots, ops, res, start, stop_on_fail, fails, False, True)


#: the packed op word (``k_run``): bits 0-2 the code, 3-7 the order, 8-63 the operand
PK_CODE = 7
PK_YSHIFT = 3
PK_YMASK = 31
PK_XSHIFT = 8


@jit_inline
def op_code(ops, i, packed):
    if packed:
        return ops[ix(i)] & PK_CODE
    return ops[ix(3 * i)]


@jit_inline
def op_x(ops, i, packed):
    if packed:
        return ops[ix(i)] >> PK_XSHIFT
    return ops[ix(3 * i + 1)]


@jit_inline
def prefetch_ahead(ops, res, D, i, n, npfn, packed):
    """Ask for the descriptor of the page op ``i + PREFETCH_AHEAD`` frees, if it frees one
    (``run_ops`` knows the future; C's loop does not use that)."""
    if i + PREFETCH_AHEAD < n:
        if op_code(ops, i + PREFETCH_AHEAD, packed) != OP_ALLOC:
            q = op_x(ops, i + PREFETCH_AHEAD, packed)
            if q < 0 and ~q < i:
                q = res[ix(~q)]
            if 0 <= q < npfn:
                prefetch(D, 2 * q)


@jit_inline
def run_loop(S, T, keys, slots, ops, res, start, stop_on_fail, fails, lowest, packed):
    """``k_run`` for one policy and op format (``lowest``, ``packed``: constants).

    Packed ops also run in two inner loops, each over a run of the same kind of op after
    one that the general path ran: allocations of the same op word (so the same row:
    its first try's zone, threshold and compound flag stay in registers), and frees
    (common case only: the only reference to an allocated block head in the cached
    zone). An op either inner loop does not take (any other case: a failing first try,
    a bad reference, another zone, an uncommon descriptor) goes back to the general
    path before anything changes, which then runs it with every check. Each inner
    loop needs only its own values in registers (profiled: the one loop spilled them)."""
    M, D, nxt, prv = _views(S)
    n = ops.shape[0] if packed else ops.shape[0] // 3
    npfn = M[H_NPFN]
    mask = slots.shape[0] - 1
    M[H_ERRCODE] = 0
    last_key = np.int64(-1)
    row = np.int64(-1)
    # the zone of the last page freed: most frees are in the same zone (one zone test)
    zlo = np.int64(0)
    zhi = np.int64(0)
    zb = np.int64(ZONE0)
    i = start
    while i < n:
        prefetch_ahead(ops, res, D, i, n, npfn, packed)
        if packed:
            w = ops[ix(i)]
            code = w & PK_CODE
            x = w >> PK_XSHIFT
            y = (w >> PK_YSHIFT) & PK_YMASK
        else:
            w = np.int64(0)
            code = ops[ix(3 * i)]
            x = ops[ix(3 * i + 1)]
            y = ops[ix(3 * i + 2)]
        if code == OP_ALLOC:
            if x < 0 or x >= np.int64(1) << 32 or y < 0:
                M[H_ERRCODE] = E_NEEDROW
                return i
            key = x * 16 + min(y, MAXO + 1)
            if key != last_key:
                h = key_slot(key, mask)
                while True:
                    s = slots[ix(h)]
                    if s < 0:
                        M[H_ERRCODE] = E_NEEDROW
                        return i
                    if keys[ix(s)] == key:
                        break
                    h = (h + 1) & mask
                last_key = key
                row = s
            p = alloc_core(S, M, D, nxt, prv, T, row, y, lowest)
            res[ix(i)] = p
            if p < 0:
                if T[ix(row * TROW + T_LIVELOCK)] != 0:
                    M[H_ERRCODE] = E_LIVELOCK
                    return i
                nf = M[H_NFAIL]
                if nf < fails.shape[0]:
                    fails[ix(nf)] = i
                M[H_NFAIL] = nf + 1
                if stop_on_fail:
                    return i + 1
                i += 1
                continue
            i += 1
            if packed and i < n and ops[ix(i)] == w:
                # the run of the same op word: alloc_core's first try with the row's
                # values in registers; whatever it does not take (its first try fails)
                # the general path runs, from the start of alloc_core
                base = row * TROW
                if y <= MAXO and T[ix(base + T_NZL)] > 0 and T[ix(base + T_NPASS)] > 0:
                    fzb = ZONE0 + T[ix(base + T_ZL)] * ZSTRIDE
                    no_wmark = T[ix(base + T_PASS)] != 0
                    thr = T[ix(base + T_PASS + 1)] + ((np.int64(1) << y) - 1)
                    comp = T[ix(base + T_COMP)]
                    while i < n and ops[ix(i)] == w:
                        if (M[ix(fzb + Z_NONEMPTY)] >> y) == 0 or not (
                                no_wmark or M[ix(fzb + Z_FREE)] > thr):
                            break
                        prefetch_ahead(ops, res, D, i, n, npfn, packed)
                        p = rmqueue_smallest(S, M, D, nxt, prv, fzb, y, lowest)
                        prep_new_page(D, p, y, comp)
                        res[ix(i)] = p
                        i += 1
            continue
        if code == OP_FREE:
            pass
        elif code != OP_GET and code != OP_PUT:
            M[H_ERRCODE] = E_BADOP
            return i
        pfn = x
        if x < 0:
            j = ~x
            # res[j] (j < i) is written: a pfn or -1 for an allocation, 0 for any other
            # op, so the op's code needs reading only for 0 (a stream less, profiled)
            pfn = res[ix(j)] if j < i else np.int64(-1)
            if pfn < 0 or (pfn == 0 and op_code(ops, j, packed) != OP_ALLOC):
                M[H_ERR0] = j
                M[H_ERRCODE] = E_BADREF
                return i
        if not (zlo <= pfn < zhi):
            z = zone_of(M, pfn) if pfn < npfn else np.int64(-1)
            if z < 0:
                M[H_ERRPFN] = pfn
                M[H_ERRCODE] = E_NOPFN
                return i
            zb = ZONE0 + z * ZSTRIDE
            zlo = M[ix(zb + Z_START)]
            zhi = M[ix(zb + Z_END)]
        if code == OP_FREE:
            if y < 0:
                e = E_ORDER_NEG
            elif y > MAXO:
                e = E_ORDER_BIG
            else:
                e = free_core_z(S, M, D, nxt, prv, zb, pfn, y, lowest)
        elif code == OP_GET:
            e = get_core(M, D, pfn)
        else:
            e = put_core(S, M, D, nxt, prv, pfn, lowest)
        if e != 0:
            M[H_ERRPFN] = pfn
            M[H_ERRCODE] = e
            return i
        res[ix(i)] = 0
        i += 1
        if packed and code == OP_FREE:
            # the run of frees: the common case in the cached zone (anything else, and
            # a reference that is not to a page, goes back to the general path)
            while i < n:
                w = ops[ix(i)]
                if (w & PK_CODE) != OP_FREE:
                    break
                x = w >> PK_XSHIFT
                y = (w >> PK_YSHIFT) & PK_YMASK
                pfn = x
                if x < 0:
                    j = ~x
                    if j >= i:
                        break
                    pfn = res[ix(j)]
                    if pfn <= 0:
                        break
                if not (zlo <= pfn < zhi) or y > MAXO:
                    break
                prefetch_ahead(ops, res, D, i, n, npfn, packed)
                if not free_common(S, M, D, nxt, prv, zb, zhi, pfn, y, lowest):
                    break
                res[ix(i)] = 0
                i += 1
    return n


@jit
def k_key_insert(keys, slots, nk, key):
    """Add ``key`` as row ``nk`` of a batch key table (``slots``: -1 = empty, a power of two
    at least twice ``len(keys)``; the caller grows both before they fill)."""
    mask = slots.shape[0] - 1
    h = key_slot(key, mask)
    while slots[ix(h)] >= 0:
        h = (h + 1) & mask
    slots[ix(h)] = nk
    keys[ix(nk)] = key


@jit
def k_fold_checksum(res, start, h):
    """The benchmark checksum (spec.workloads.fnv_mix) over ``res[start:]`` values >= 0."""
    prime = np.uint64(0x100000001B3)
    for i in range(start, res.shape[0]):
        p = res[ix(i)]
        if p >= 0:
            h = (h ^ np.uint64(p)) * prime
    return h
