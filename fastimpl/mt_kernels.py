"""The compiled steps of fastimpl's whole allocation path (migratetypes, pageblocks,
per-CPU lists, the highatomic reserve), over one flat arena (below).

Mirrors mm/page_alloc.c of Linux 6.12 (Debian 6.12.117) function by function, as
:mod:`kmem.spec.migrate` and :mod:`kmem.spec.pcp` define it: ``__rmqueue_smallest``
with ``expand``, ``find_suitable_fallback``, ``__rmqueue_claim`` /
``try_to_steal_block`` / ``__rmqueue_steal``, ``__rmqueue`` with its rmqueue_mode,
``rmqueue_buddy``, ``rmqueue_bulk``, ``rmqueue_pcplist``, ``prep_move_freepages_block``
/ ``__move_freepages_block``, ``boost_watermark``, ``reserve_highatomic_pageblock`` /
``unreserve_highatomic_pageblock``, ``free_unref_page`` / ``free_unref_page_commit`` /
``free_pcppages_bulk``, ``drain_pages_zone``, ``split_large_buddy`` and
``__free_one_page`` with the merge restriction and ``buddy_merge_likely``. The
arithmetic rules (batch, high, free_high, claim threshold, fallback permission,
highatomic sizes, boost) are the spec's own functions compiled by
:func:`kmem.fastimpl.spec_jit.compile_spec`.

Bounds: every pfn a step is given was checked in Python (``mt_machine.py``) to lie in
its zone; a step reads a pfn-indexed array at a computed pfn (a buddy, a pageblock's
pages) only after checking that pfn lies in the zone's span. List ids and pcp rows
come from the zone and CPU indices the machine validated.

The arena is one int64 array ``S`` (:func:`build_arena`), so that a per-operation entry
unboxes one array (and its decision row), not thirteen. :func:`arena` cuts it into
the views the steps take: ``A`` = ``(nxt, prv, P, LH, LT, LN, Z, PB, C)``, ``W``,
``ref``, ``resv``, ``comp``. The per-pfn fields are one 32-byte record per pfn (an
array of structs: a random page is one cache line, not one per field): ``nxt``/``prv``
(int64) link the lists; ``P`` (int8, ``P_* x npfn``, a strided view) holds the free
order, free list type, pcp order, allocated order and flags; ``ref`` (int32) the
refcount, ``resv`` PG_reserved and ``comp`` the compound head. ``LH``/``LT``/``LN``
(int64, per list): head, tail and length of every free list (zone, order, migratetype)
and pcp list (zone, CPU, pindex); ``Z`` (int64, zone x ``Z_*``) the zone's counters;
``PB`` (int8) the pageblock types, zone by zone; ``C`` (int64, (zone, CPU) x ``C_*``)
each ``struct per_cpu_pages``' fields; ``W`` (int64, zone x ``W_*``) the watermarks.
"""

from __future__ import annotations

import types

import numpy as np

from kmem.spec import alloc_flags as alloc_flags_spec
from kmem.spec import constants as constants_spec
from kmem.spec import migrate as migrate_spec
from kmem.spec import pcp as pcp_spec
from kmem.spec import watermarks as watermarks_spec
from kmem.spec.alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_RESERVES,
    ALLOC_WMARK_MASK,
    WMARK_HIGH,
    WMARK_MIN,
)
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER

from .kernels import (
    JIT_DISABLED,
    OP_ALLOC,
    OP_FREE,
    OP_GET,
    OP_PUT,
    ix,
    jit,
    jit_entry,
    jit_inline,
)
from .spec_jit import compile_spec, stamp_cache

# the cached steps below call the spec's rules: a change there recompiles them
stamp_cache(__file__, (pcp_spec, migrate_spec, alloc_flags_spec, constants_spec,
                       watermarks_spec))

# -- the spec's rules, compiled --------------------------------------------------------
clamp = compile_spec(pcp_spec.clamp)
nr_pcp_alloc = compile_spec(pcp_spec.nr_pcp_alloc, clamp=clamp)
nr_pcp_free = compile_spec(pcp_spec.nr_pcp_free, clamp=clamp)
nr_pcp_high = compile_spec(pcp_spec.nr_pcp_high, clamp=clamp)
free_high_decision = compile_spec(pcp_spec.free_high_decision)
free_count_after_free = compile_spec(pcp_spec.free_count_after_free)
pindex_to_order = compile_spec(pcp_spec.pindex_to_order)
migratetype_is_mergeable = compile_spec(migrate_spec.migratetype_is_mergeable)
may_merge = compile_spec(migrate_spec.may_merge, migratetype_is_mergeable=migratetype_is_mergeable)
can_steal_fallback = compile_spec(migrate_spec.can_steal_fallback)
claim_min_order = compile_spec(migrate_spec.claim_min_order)
claim_whole_block = compile_spec(migrate_spec.claim_whole_block)
highatomic_max_managed = compile_spec(migrate_spec.highatomic_max_managed)
highatomic_unreserve_size = compile_spec(migrate_spec.highatomic_unreserve_size)
boosted_watermark = compile_spec(migrate_spec.boosted_watermark)


@jit
def _valid_int(what, v):
    """The compiled twin's stand-in for the spec's argument guard (``_nonneg``): the
    compiled callers pass int64 counters that are >= 0 by construction."""
    return v


watermark_threshold = compile_spec(watermarks_spec.watermark_threshold, _nonneg=_valid_int)

MT_TYPES = migrate_spec.MIGRATE_TYPES  # 6 free lists per order
PCPTYPES = migrate_spec.MIGRATE_PCPTYPES
UNMOVABLE = migrate_spec.MIGRATE_UNMOVABLE
MOVABLE = migrate_spec.MIGRATE_MOVABLE
RECLAIMABLE = migrate_spec.MIGRATE_RECLAIMABLE
HIGHATOMIC = migrate_spec.MIGRATE_HIGHATOMIC
CMA = migrate_spec.MIGRATE_CMA
ISOLATE = migrate_spec.MIGRATE_ISOLATE
NR_PCP_LISTS = pcp_spec.NR_PCP_LISTS
NR_LOWORDER_PCP_LISTS = pcp_spec.NR_LOWORDER_PCP_LISTS
HPAGE_PMD_ORDER = pcp_spec.HPAGE_PMD_ORDER
PCP_BATCH_SCALE_MAX = pcp_spec.PCP_BATCH_SCALE_MAX
WATERMARK_BOOST_FACTOR = 15000  # the model's boost factor (vm.watermark_boost_factor default)

#: ``fallbacks[]`` as a table: row mt, -1 where the row ends (from the spec's FALLBACKS)
FALLBACK_TABLE = np.full((MT_TYPES, 2), -1, np.int64)
for _mt, _row in migrate_spec.FALLBACKS.items():
    FALLBACK_TABLE[_mt, :len(_row)] = _row

# rmqueue_mode
RMQUEUE_NORMAL, RMQUEUE_CMA, RMQUEUE_CLAIM, RMQUEUE_STEAL = 0, 1, 2, 3

# per-pfn rows of P (P_FMT: the list type of a free block; 6.1 also keeps there the
# migratetype cached in a block on a pcp list, set_pcppage_migratetype)
P_FORD, P_FMT, P_PCPO, P_AORD, P_FLAGS = 0, 1, 2, 3, 4
NP = 5
PF_MOVABLE = 1  # allocated by a MOVABLE request (prep_move_freepages_block's stand-in)

# zone fields of Z
(Z_START, Z_END, Z_PB0, Z_PBBASE, Z_PBO, Z_NCPU, Z_HASPCP, Z_FREE, Z_HAFREE, Z_HARES,
 Z_BELOW_HIGH, Z_BOOSTED, Z_BOOST, Z_WHIGH, Z_MANAGED, Z_MODE, Z_IDX, Z_HRESERVE,
 Z_CMA, Z_NRFREE) = range(20)  # Z_CMA: CONFIG_CMA (6.1's rmqueue reads it)
ZF = Z_NRFREE + NR_PAGE_ORDERS

# per_cpu_pages fields of C
(C_COUNT, C_HIGH, C_HIGH_MIN, C_HIGH_MAX, C_BATCH, C_FREE_COUNT, C_ALLOC_FACTOR, C_FLAGS,
 C_FREE_FACTOR) = range(9)  # C_FREE_FACTOR: 6.1's pcp->free_factor
CF = 9

# W (int64, zone x W_*): each zone's watermarks (min, low, high, promo; without the boost)
# and lowmem_reserve[], written by MtZone's setters.
W_MIN, W_LOW, W_HIGH, W_PROMO, W_RESERVE = 0, 1, 2, 3, 4
W_ZONES = 8  # lowmem_reserve[] entries (one per zone type of the node)
WF = W_RESERVE + W_ZONES

# -- the arena ----------------------------------------------------------------------------
# header words of S: the pfn count and the word offset and size of each part
(H_NPFN, H_PAGES, H_LISTS, H_NLISTS, H_Z, H_NZ, H_C, H_NC, H_W, H_PB, H_NPB) = range(11)
HDR = 16
#: one pfn's record: 4 words (32 bytes, two per 64-byte cache line): word 0 nxt, word 1
#: prv, int32 2 * 2 the refcount, bytes 20 .. 24 the P_* fields, byte 25 PG_reserved,
#: byte 26 the compound head mark
PAGE_WORDS = 4
PAGE_BYTES = 8 * PAGE_WORDS
PG_REF32 = 4  # int32 index in the record
PG_P8 = 20  # byte offset of the P_* fields
PG_RESV8 = PG_P8 + 5
PG_COMP8 = PG_RESV8 + 1
LINE = 64


def rows2d(a, n, m):
    """``a.reshape((n, m))`` of a contiguous 1-D ``a`` of ``n * m`` items (in
    :func:`arena`, compiled, the view is built directly: :func:`_rows2d`)."""
    return a.reshape((n, m))


if not JIT_DISABLED:
    from numba import types as _t
    from numba.core import cgutils as _cgutils
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def _rows2d(typingctx, a, n, m):  # noqa: ANN001, ANN202
        """:func:`rows2d` without numba's ``reshape``, which calls a C helper
        (``numba_attempt_nocopy_reshape``): about 150 instructions a view, four views in
        every per-call entry (callgrind, the whole path's ``alloc_pages``)."""
        if not (isinstance(a, _t.Array) and a.ndim == 1 and isinstance(n, _t.Integer)
                and isinstance(m, _t.Integer)):
            return None
        ret = _t.Array(a.dtype, 2, "C")

        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
            aty, nty, mty = signature.args
            src = context.make_array(aty)(context, builder, args[0])
            dst = context.make_array(ret)(context, builder)
            item = context.get_constant(_t.intp, context.get_abi_sizeof(
                context.get_data_type(aty.dtype)))
            rows = context.cast(builder, args[1], nty, _t.intp)
            cols = context.cast(builder, args[2], mty, _t.intp)
            context.populate_array(
                dst, data=src.data, shape=_cgutils.pack_array(builder, [rows, cols]),
                strides=_cgutils.pack_array(builder, [builder.mul(cols, item), item]),
                itemsize=item, meminfo=src.meminfo, parent=None)
            return dst._getvalue()

        return ret(a, n, m), codegen


def arena_views(S):
    """The views of arena ``S``: (``A``, ``W``, ``ref``, ``resv``, ``comp``), in
    Python or compiled (:func:`arena`)."""
    n = S[H_NPFN]
    p = S[H_PAGES]
    pages = S[p:p + PAGE_WORDS * n]
    B = pages.view(np.int8)
    P = rows2d(B, n, PAGE_BYTES)[:, PG_P8:PG_P8 + NP].T
    flags = pages.view(np.bool_)
    ref = pages.view(np.int32)[PG_REF32::PAGE_BYTES // 4]
    resv = flags[PG_RESV8::PAGE_BYTES]
    comp = flags[PG_COMP8::PAGE_BYTES]
    lo = S[H_LISTS]
    nl = S[H_NLISTS]
    LH = S[lo:lo + nl]
    LT = S[lo + nl:lo + 2 * nl]
    LN = S[lo + 2 * nl:lo + 3 * nl]
    zo, nz = S[H_Z], S[H_NZ]
    Z = rows2d(S[zo:zo + nz * ZF], nz, ZF)
    co, nc = S[H_C], S[H_NC]
    C = rows2d(S[co:co + nc * CF], nc, CF)
    wo = S[H_W]
    W = rows2d(S[wo:wo + nz * WF], nz, WF)
    bo = S[H_PB]
    PB = S[bo:bo + (S[H_NPB] + 7) // 8].view(np.int8)[:S[H_NPB]]
    A = (pages[0::PAGE_WORDS], pages[1::PAGE_WORDS], P, LH, LT, LN, Z, PB, C)
    return A, W, ref, resv, comp


def _twin(fn, **names):  # noqa: ANN001, ANN202, ANN003
    """``fn``'s code over its module's globals with ``names`` replaced (for numba)."""
    g = {**fn.__globals__, **names}
    twin = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__qualname__, twin.__module__ = fn.__qualname__, fn.__module__
    return twin


arena = jit_inline(arena_views if JIT_DISABLED else _twin(arena_views, rows2d=_rows2d))


def build_arena(npfn, nlists, nz, nc, npb):
    """A new arena (zeros; every record's fields -1, but the flags and marks 0; every
    list empty) for ``npfn`` pfns, ``nlists`` lists, ``nz`` zones, ``nc`` pcp rows and
    ``npb`` pageblocks; the page records start on a cache line."""
    words = [PAGE_WORDS * npfn, 3 * nlists, nz * ZF, nc * CF, nz * WF, (npb + 7) // 8]
    S = np.zeros(HDR + LINE // 8 + sum(words), np.int64)
    p = HDR + (-(S.ctypes.data + 8 * HDR) % LINE) // 8
    offs = []
    for w in words:
        offs.append(p)
        p += w
    S[H_NPFN], S[H_PAGES], S[H_LISTS], S[H_NLISTS] = npfn, offs[0], offs[1], nlists
    S[H_Z], S[H_NZ], S[H_C], S[H_NC], S[H_W] = offs[2], nz, offs[3], nc, offs[4]
    S[H_PB], S[H_NPB] = offs[5], npb
    A = arena_views(S)[0]
    A[0][:] = -1
    A[1][:] = -1
    A[2][:] = -1
    A[2][P_FLAGS] = 0
    A[3][:] = -1
    A[4][:] = -1
    return S


# to_tail of __free_one_page: FPI_TO_TAIL, head, or buddy_merge_likely
TO_HEAD, TO_TAIL, TO_LIKELY = 0, 1, -1


@jit_inline
def order_to_pindex(mt, order):
    """``order_to_pindex`` for a pcp type and a pcp order (validated by the caller; the
    spec's :func:`kmem.spec.pcp.order_to_pindex` raises on the others)."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if mt == MOVABLE else 0)
    return PCPTYPES * order + mt


@jit_inline
def pcp_allowed_order(order):
    """``pcp_allowed_order`` (:func:`kmem.spec.pcp.pcp_allowed_order`)."""
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == HPAGE_PMD_ORDER


# -- lists -------------------------------------------------------------------------------
@jit_inline
def buddy_lid(z, order, mt):
    return (z * NR_PAGE_ORDERS + order) * MT_TYPES + mt


@jit_inline
def pcp_lid(A, z, cpu, pindex):
    Z = A[6]
    nb = Z.shape[0] * NR_PAGE_ORDERS * MT_TYPES
    return nb + (z * Z[z, Z_NCPU] + cpu) * NR_PCP_LISTS + pindex


@jit_inline
def pcp_row(A, z, cpu):
    Z = A[6]
    return z * Z[z, Z_NCPU] + cpu


# list ids and pfns are never negative here: indexed as uint64 (``kernels.ix``), which
# spares numba's negative-index fix-up on every access (profiled on the bare core)
@jit_inline
def list_add(A, lid, pfn, tail):
    nxt, prv, LH, LT, LN = A[0], A[1], A[3], A[4], A[5]
    u, lu = ix(pfn), ix(lid)
    h = LH[lu]
    if h < 0:
        nxt[u] = -1
        prv[u] = -1
        LH[lu] = pfn
        LT[lu] = pfn
    elif tail:
        t = LT[lu]
        nxt[ix(t)] = pfn
        prv[u] = t
        nxt[u] = -1
        LT[lu] = pfn
    else:
        prv[ix(h)] = pfn
        nxt[u] = h
        prv[u] = -1
        LH[lu] = pfn
    LN[lu] += 1


@jit_inline
def list_del(A, lid, pfn):
    nxt, prv, LH, LT, LN = A[0], A[1], A[3], A[4], A[5]
    u, lu = ix(pfn), ix(lid)
    n = nxt[u]
    p = prv[u]
    if p >= 0:
        nxt[ix(p)] = n
    else:
        LH[lu] = n
    if n >= 0:
        prv[ix(n)] = p
    else:
        LT[lu] = p
    LN[lu] -= 1


# -- pageblocks ---------------------------------------------------------------------------
@jit_inline
def get_pfnblock_migratetype(A, z, pfn):
    Z, PB = A[6], A[7]
    zu = ix(z)
    return np.int64(PB[ix(Z[zu, Z_PBBASE] + (pfn >> Z[zu, Z_PBO]) - Z[zu, Z_PB0])])


@jit_inline
def change_pageblock_range(A, z, pfn, order, mt):
    """``change_pageblock_range``: every pageblock the block overlaps."""
    Z, PB = A[6], A[7]
    pbo = Z[z, Z_PBO]
    first = pfn >> pbo
    last = (pfn + (1 << order) - 1) >> pbo
    for pb in range(first, last + 1):
        PB[Z[z, Z_PBBASE] + pb - Z[z, Z_PB0]] = mt


# -- free lists (account_freepages, __add_to_free_list, __del_page_from_free_list) ---------
@jit_inline
def account(A, z, nr, mt):
    Z = A[6]
    if mt == ISOLATE:
        return
    Z[ix(z), Z_FREE] += nr
    if mt == HIGHATOMIC:
        Z[ix(z), Z_HAFREE] += nr


@jit_inline
def link_mt(A, z, pfn, order, mt, tail):
    """:func:`add_mt` but the free page counters (``account``)."""
    P, Z = A[2], A[6]
    list_add(A, buddy_lid(z, order, mt), pfn, tail)
    Z[ix(z), ix(Z_NRFREE + order)] += 1
    P[P_FORD, ix(pfn)] = order
    P[P_FMT, ix(pfn)] = mt


@jit_inline
def unlink_mt(A, z, pfn, order):
    """:func:`del_mt` but the free page counters; returns the list's type."""
    P, Z = A[2], A[6]
    mt = np.int64(P[P_FMT, ix(pfn)])
    list_del(A, buddy_lid(z, order, mt), pfn)
    Z[ix(z), ix(Z_NRFREE + order)] -= 1
    P[P_FORD, ix(pfn)] = -1
    P[P_FMT, ix(pfn)] = -1
    return mt


@jit_inline
def add_mt(A, z, pfn, order, mt, tail):
    link_mt(A, z, pfn, order, mt, tail)
    account(A, z, 1 << order, mt)


@jit_inline
def del_mt(A, z, pfn, order):
    mt = unlink_mt(A, z, pfn, order)
    account(A, z, -(1 << order), mt)
    return mt


@jit_inline
def move_to_free_list(A, z, pfn, order, new_mt):
    """``move_to_free_list``: to the tail of the new type's list."""
    del_mt(A, z, pfn, order)
    add_mt(A, z, pfn, order, new_mt, True)


@jit_inline
def spans(A, z, pfn):
    Z = A[6]
    return Z[ix(z), Z_START] <= pfn < Z[ix(z), Z_END]


@jit_inline
def is_free_block(A, z, pfn, order):
    """``page_is_buddy``: a free block of exactly this order, in this zone."""
    Z = A[6]
    return free_in_span(A[2], Z[ix(z), Z_START], Z[ix(z), Z_END], pfn, order)


@jit_inline
def free_in_span(P, start, end, pfn, order):
    """:func:`is_free_block` for a zone spanning [start, end)."""
    return start <= pfn < end and P[P_FORD, ix(pfn)] == order


# -- __rmqueue ------------------------------------------------------------------------------
@jit_inline
def page_del_and_expand(A, z, pfn, order, current, mt):
    old = unlink_mt(A, z, pfn, current)
    for half_order in range(current - 1, order - 1, -1):  # expand(): upper halves, high first
        link_mt(A, z, pfn + (1 << half_order), half_order, mt, False)
    # the free page counters once, not per half: the same sums
    if old == mt:
        account(A, z, -(np.int64(1) << order), mt)
    else:
        account(A, z, -(np.int64(1) << current), old)
        account(A, z, (np.int64(1) << current) - (np.int64(1) << order), mt)


@jit_inline
def rmqueue_smallest_mt(A, z, order, mt):
    """``__rmqueue_smallest(zone, order, mt)``; -1 when no list of order >= ``order``."""
    LH = A[3]
    for current in range(order, NR_PAGE_ORDERS):
        pfn = LH[ix(buddy_lid(z, current, mt))]
        if pfn >= 0:
            page_del_and_expand(A, z, pfn, order, current, mt)
            return pfn
    return -1


@jit
def rmqueue_smallest_cold(A, z, order, mt):
    """:func:`rmqueue_smallest_mt` as a call, for the rare lists (CMA, HIGHATOMIC): the hot
    steps inline every helper (a call passes the arena's nine arrays as ~70 words)."""
    return rmqueue_smallest_mt(A, z, order, mt)


@jit
def find_suitable_fallback(A, z, current, start_mt):
    """``find_suitable_fallback(area, current, start_mt, false, &can_steal)``: (fallback
    type or -1, can_steal)."""
    Z, LH = A[6], A[3]
    if Z[z, Z_NRFREE + current] == 0:
        return -1, False
    can_steal = False
    for i in range(FALLBACK_TABLE.shape[1]):
        fb = FALLBACK_TABLE[start_mt, i]
        if fb < 0:
            break
        if LH[buddy_lid(z, current, fb)] < 0:
            continue
        if can_steal_fallback(current, start_mt, Z[z, Z_PBO], False):
            can_steal = True
        return fb, can_steal
    return -1, can_steal


@jit
def prep_move_freepages_block(A, z, pfn):
    """``prep_move_freepages_block``: (start, free pages, movable pages) of the pageblock,
    start -1 when it straddles the zone's span."""
    P, Z = A[2], A[6]
    nr = np.int64(1) << Z[z, Z_PBO]
    start = pfn - pfn % nr
    end = start + nr
    if not (spans(A, z, start) and spans(A, z, end - 1)):
        return -1, 0, 0
    free = 0
    movable = 0
    p = start
    while p < end:
        o = np.int64(P[P_FORD, p])
        if o >= 0:
            free += 1 << o
            p += 1 << o
            continue
        held = np.int64(P[P_AORD, p])
        if held >= 0 and P[P_FLAGS, p] & PF_MOVABLE:
            n = min(np.int64(1) << held, end - p)
            movable += n
            p += n
            continue
        p += 1
    return start, free, movable


@jit
def move_freepages_block_at(A, z, start, new_mt):
    """``__move_freepages_block``: every free block of the pageblock to the tail of
    ``new_mt``'s list, then the pageblock's type. Returns the pages moved."""
    P, Z, PB = A[2], A[6], A[7]
    end = start + (np.int64(1) << Z[z, Z_PBO])
    moved = 0
    p = start
    while p < end:
        o = np.int64(P[P_FORD, p])
        if o < 0:
            p += 1
            continue
        move_to_free_list(A, z, p, o, new_mt)
        moved += 1 << o
        p += 1 << o
    PB[Z[z, Z_PBBASE] + (start >> Z[z, Z_PBO]) - Z[z, Z_PB0]] = new_mt
    return moved


@jit
def move_freepages_block(A, z, pfn, new_mt):
    """``move_freepages_block``: -1 when the pageblock straddles the zone."""
    start, _, _ = prep_move_freepages_block(A, z, pfn)
    if start < 0:
        return -1
    return move_freepages_block_at(A, z, start, new_mt)


@jit
def boost_watermark(A, z):
    """``boost_watermark``: raise ``watermark_boost`` by a pageblock (the spec's
    :func:`kmem.spec.migrate.boosted_watermark`)."""
    Z = A[6]
    boost = boosted_watermark(Z[z, Z_BOOST], Z[z, Z_WHIGH], Z[z, Z_MANAGED], Z[z, Z_PBO],
                              WATERMARK_BOOST_FACTOR)
    if boost is None:
        return False
    Z[z, Z_BOOST] = boost
    return True


@jit
def try_to_steal_block(A, z, pfn, current, order, start_type, alloc_flags):
    """``try_to_steal_block``: claim the pageblock(s) of the free block at ``pfn``."""
    Z = A[6]
    pbo = Z[z, Z_PBO]
    block_type = get_pfnblock_migratetype(A, z, pfn)
    if block_type == HIGHATOMIC:
        return -1
    if current >= pbo:
        del_mt(A, z, pfn, current)
        change_pageblock_range(A, z, pfn, current, start_type)
        for half_order in range(current - 1, order - 1, -1):
            add_mt(A, z, pfn + (1 << half_order), half_order, start_type, False)
        return pfn
    if boost_watermark(A, z) and alloc_flags & ALLOC_KSWAPD:
        Z[z, Z_BOOSTED] = 1
    start, free, movable = prep_move_freepages_block(A, z, pfn)
    if start < 0:
        return -1
    if claim_whole_block(free, movable, start_type, block_type, pbo, False):
        move_freepages_block_at(A, z, start, start_type)
        return rmqueue_smallest_mt(A, z, order, start_type)
    return -1


@jit
def rmqueue_claim(A, z, order, start_mt, alloc_flags):
    """``__rmqueue_claim``: largest order first, claim a pageblock of a fallback type."""
    LH, Z = A[3], A[6]
    min_order = claim_min_order(order, (alloc_flags & ALLOC_NOFRAGMENT) != 0, Z[z, Z_PBO])
    for current in range(MAX_PAGE_ORDER, min_order - 1, -1):
        fb, can_steal = find_suitable_fallback(A, z, current, start_mt)
        if fb < 0:
            continue
        if not can_steal:
            break
        pfn = LH[buddy_lid(z, current, fb)]
        got = try_to_steal_block(A, z, pfn, current, order, start_mt, alloc_flags)
        if got >= 0:
            return got
    return -1


@jit
def rmqueue_steal(A, z, order, start_mt):
    """``__rmqueue_steal``: smallest order first, one block of a fallback type."""
    LH = A[3]
    for current in range(order, NR_PAGE_ORDERS):
        fb, _ = find_suitable_fallback(A, z, current, start_mt)
        if fb < 0:
            continue
        pfn = LH[buddy_lid(z, current, fb)]
        page_del_and_expand(A, z, pfn, order, current, fb)
        return pfn
    return -1


@jit_inline
def rmqueue_mt(A, z, order, mt, alloc_flags):
    """``__rmqueue(zone, order, migratetype, alloc_flags, &mode)``; the mode carried across
    one ``rmqueue_bulk`` is ``Z[z, Z_MODE]``."""
    Z = A[6]
    mode = Z[z, Z_MODE]
    if mode == RMQUEUE_NORMAL:
        pfn = rmqueue_smallest_mt(A, z, order, mt)
        if pfn >= 0:
            return pfn
    if mode <= RMQUEUE_CMA and alloc_flags & ALLOC_CMA:
        pfn = rmqueue_smallest_cold(A, z, order, CMA)
        if pfn >= 0:
            Z[z, Z_MODE] = RMQUEUE_CMA
            return pfn
    if mode <= RMQUEUE_CLAIM:
        pfn = rmqueue_claim(A, z, order, mt, alloc_flags)
        if pfn >= 0:
            Z[z, Z_MODE] = RMQUEUE_NORMAL
            return pfn
    if not alloc_flags & ALLOC_NOFRAGMENT:
        pfn = rmqueue_steal(A, z, order, mt)
        if pfn >= 0:
            Z[z, Z_MODE] = RMQUEUE_STEAL
            return pfn
    return -1


@jit_inline
def rmqueue_buddy(A, z, order, mt, alloc_flags):
    """``rmqueue_buddy``: the HIGHATOMIC reserve first with ALLOC_HIGHATOMIC, then
    ``__rmqueue``, then the reserve for ALLOC_OOM / ALLOC_NON_BLOCK."""
    pfn = -1
    if alloc_flags & ALLOC_HIGHATOMIC:
        pfn = rmqueue_smallest_cold(A, z, order, HIGHATOMIC)
    if pfn < 0:
        A[6][z, Z_MODE] = RMQUEUE_NORMAL
        pfn = rmqueue_mt(A, z, order, mt, alloc_flags)
        if pfn < 0 and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
            pfn = rmqueue_smallest_cold(A, z, order, HIGHATOMIC)
    return pfn


@jit
def rmqueue_bulk(A, z, order, count, mt, alloc_flags, lid):
    """``rmqueue_bulk``: up to ``count`` blocks to the tail of pcp list ``lid``."""
    P = A[2]
    A[6][z, Z_MODE] = RMQUEUE_NORMAL
    for i in range(count):
        pfn = rmqueue_mt(A, z, order, mt, alloc_flags)
        if pfn < 0:
            return i
        list_add(A, lid, pfn, True)
        P[P_PCPO, pfn] = order
    return count


@jit_inline
def rmqueue_pcplist(A, z, cpu, order, mt, alloc_flags):
    """``rmqueue_pcplist``: the head of this CPU's list, refilled when empty."""
    P, LH, Z, C = A[2], A[3], A[6], A[8]
    r = ix(pcp_row(A, z, cpu))
    C[r, C_FREE_COUNT] >>= 1
    lid = pcp_lid(A, z, cpu, order_to_pindex(mt, order))
    if LH[ix(lid)] < 0:
        n, high, af = nr_pcp_alloc(C[r, C_HIGH], C[r, C_HIGH_MIN], C[r, C_HIGH_MAX],
                                   C[r, C_COUNT], C[r, C_BATCH], C[r, C_ALLOC_FACTOR], order,
                                   Z[ix(z), Z_BELOW_HIGH] != 0)
        C[r, C_HIGH] = high
        C[r, C_ALLOC_FACTOR] = af
        got = rmqueue_bulk(A, z, order, n, mt, alloc_flags, lid)
        C[r, C_COUNT] += got << order
        if LH[ix(lid)] < 0:
            return -1
    pfn = LH[ix(lid)]
    list_del(A, lid, pfn)
    P[P_PCPO, ix(pfn)] = -1
    C[r, C_COUNT] -= 1 << order
    return pfn


@jit_inline
def rmqueue(A, z, cpu, order, mt, alloc_flags):
    """``rmqueue``: pcp lists for their orders, else the buddy; the block is recorded as
    allocated (with the MOVABLE mark). -1 when nothing was found."""
    P, Z = A[2], A[6]
    pfn = -1
    if Z[ix(z), Z_HASPCP] and pcp_allowed_order(order) and mt < PCPTYPES:
        pfn = rmqueue_pcplist(A, z, cpu, order, mt, alloc_flags)
    if pfn < 0:
        pfn = rmqueue_buddy(A, z, order, mt, alloc_flags)
    # out: (6.12.118 3168-3174), reached by a failure too: the boost flag is cleared for
    # ALLOC_KSWAPD and kswapd woken (not modelled)
    if Z[ix(z), Z_BOOSTED] and alloc_flags & ALLOC_KSWAPD:
        Z[ix(z), Z_BOOSTED] = 0
    if pfn < 0:
        return -1
    P[P_AORD, ix(pfn)] = order
    if mt == MOVABLE:
        P[P_FLAGS, ix(pfn)] |= PF_MOVABLE
    return pfn


# -- highatomic reserve ---------------------------------------------------------------------
@jit
def reserve_highatomic_pageblock(A, z, pfn, order):
    """``reserve_highatomic_pageblock``: the allocation's pageblock(s) become HIGHATOMIC
    while below the 1 % cap, if their type is mergeable."""
    Z = A[6]
    pbo = Z[z, Z_PBO]
    cap = highatomic_max_managed(Z[z, Z_MANAGED], pbo)
    if cap == 0 or Z[z, Z_HARES] >= cap:
        return
    mt = get_pfnblock_migratetype(A, z, pfn)
    if not migratetype_is_mergeable(mt):
        return
    if order < pbo:
        if move_freepages_block(A, z, pfn, HIGHATOMIC) == -1:
            return
        Z[z, Z_HARES] += np.int64(1) << pbo
    else:
        change_pageblock_range(A, z, pfn, order, HIGHATOMIC)
        Z[z, Z_HARES] += np.int64(1) << order


@jit
def unreserve_highatomic_pageblock(A, z, mt, force):
    """One zone's part of ``unreserve_highatomic_pageblock``: the first HIGHATOMIC free
    block's pageblock(s) go to ``mt``; keeps one pageblock unless ``force``."""
    LH, Z = A[3], A[6]
    pbo = Z[z, Z_PBO]
    if not force and Z[z, Z_HARES] <= np.int64(1) << pbo:
        return False
    for order in range(NR_PAGE_ORDERS):
        pfn = LH[buddy_lid(z, order, HIGHATOMIC)]
        if pfn < 0:
            continue
        block_mt = get_pfnblock_migratetype(A, z, pfn)
        if block_mt == HIGHATOMIC:
            Z[z, Z_HARES] -= highatomic_unreserve_size(order, pbo, Z[z, Z_HARES])
        if order < pbo:
            ret = move_freepages_block(A, z, pfn, mt)
        else:
            move_to_free_list(A, z, pfn, order, mt)
            change_pageblock_range(A, z, pfn, order, mt)
            ret = 1
        if ret > 0:
            return True
    return False


# -- freeing ---------------------------------------------------------------------------------
@jit_inline
def free_one_page_mt(A, z, pfn, order, mt, to_tail):
    """``__free_one_page(page, pfn, zone, order, mt, fpi)``: merge within the migratetype
    rule (retyping merged buddies of another type), then head, tail or merge-likely."""
    Z, P = A[6], A[2]
    pbo = Z[ix(z), Z_PBO]
    # the span read once: LLVM reloads it after every store to the lists (may alias Z)
    start = Z[ix(z), Z_START]
    end = Z[ix(z), Z_END]
    buddy_pfn = pfn ^ (np.int64(1) << order)
    while order < MAX_PAGE_ORDER:
        buddy_pfn = pfn ^ (np.int64(1) << order)
        if not free_in_span(P, start, end, buddy_pfn, order):
            break
        if order >= pbo:
            buddy_mt = get_pfnblock_migratetype(A, z, buddy_pfn)
            if not may_merge(order, mt, buddy_mt, pbo):
                break
            del_mt(A, z, buddy_pfn, order)
            if buddy_mt != mt:
                change_pageblock_range(A, z, buddy_pfn, order, mt)
        else:
            del_mt(A, z, buddy_pfn, order)
        pfn = buddy_pfn & pfn
        order += 1
    if to_tail == TO_LIKELY:  # buddy_merge_likely
        tail = False
        if order < MAX_PAGE_ORDER - 1:
            higher = buddy_pfn & pfn
            tail = free_in_span(P, start, end, higher ^ (np.int64(1) << (order + 1)), order + 1)
    else:
        tail = to_tail == TO_TAIL
    add_mt(A, z, pfn, order, mt, tail)


@jit_inline
def split_large_buddy(A, z, pfn, order, to_tail):
    """``split_large_buddy``: free in pageblock-sized pieces, each with its own
    pageblock's type."""
    end = pfn + (np.int64(1) << order)
    step = min(order, A[6][z, Z_PBO])
    while pfn < end:
        free_one_page_mt(A, z, pfn, step, get_pfnblock_migratetype(A, z, pfn), to_tail)
        pfn += np.int64(1) << step


@jit
def free_pcppages_bulk(A, z, cpu, count, pindex):
    """``free_pcppages_bulk``: ``count`` pages from the list tails, round robin from
    ``pindex``, each through ``__free_one_page`` with its pageblock's type."""
    P, LH, LT, C = A[2], A[3], A[4], A[8]
    r = pcp_row(A, z, cpu)
    count = min(C[r, C_COUNT], count)
    pindex -= 1
    while count > 0:
        while True:
            pindex += 1
            if pindex > NR_PCP_LISTS - 1:
                pindex = 0
            if LH[pcp_lid(A, z, cpu, pindex)] >= 0:
                break
        lid = pcp_lid(A, z, cpu, pindex)
        order = pindex_to_order(pindex)
        while True:
            pfn = LT[lid]
            list_del(A, lid, pfn)
            P[P_PCPO, pfn] = -1
            count -= 1 << order
            C[r, C_COUNT] -= 1 << order
            free_one_page_mt(A, z, pfn, order, get_pfnblock_migratetype(A, z, pfn), TO_LIKELY)
            if not (count > 0 and LH[lid] >= 0):
                break


@jit
def drain_pages_zone(A, z, cpu):
    """``drain_pages_zone``: empty one CPU's lists, ``batch << PCP_BATCH_SCALE_MAX`` pages
    at a time."""
    C = A[8]
    r = pcp_row(A, z, cpu)
    while C[r, C_COUNT]:
        free_pcppages_bulk(A, z, cpu, min(C[r, C_COUNT], C[r, C_BATCH] << PCP_BATCH_SCALE_MAX), 0)


@jit_inline
def high_wmark_ok(A, z):
    """``zone_watermark_ok(zone, 0, high_wmark_pages(zone), ZONE_MOVABLE, 0)``: the order-0
    case of :func:`kmem.spec.watermarks.zone_watermark_ok` without ALLOC_RESERVES (no
    discount; nr_free_highatomic is unusable): free pages above HIGH + boost +
    lowmem_reserve[ZONE_MOVABLE] (``Z_HRESERVE``)."""
    Z = A[6]
    usable = Z[z, Z_FREE] - Z[z, Z_HAFREE]
    return usable > Z[z, Z_WHIGH] + Z[z, Z_BOOST] + Z[z, Z_HRESERVE]


@jit_inline
def free_unref_page_commit(A, z, cpu, pfn, mt, order):
    """``free_unref_page_commit``: head of the pcp list; drain past the high mark; after a
    drain, a zone below its HIGH mark that passes it again clears ZONE_BELOW_HIGH."""
    P, Z, C = A[2], A[6], A[8]
    r = ix(pcp_row(A, z, cpu))
    C[r, C_ALLOC_FACTOR] >>= 1
    pindex = order_to_pindex(mt, order)
    list_add(A, pcp_lid(A, z, cpu, pindex), pfn, False)
    P[P_PCPO, ix(pfn)] = order
    C[r, C_COUNT] += 1 << order
    free_high, flags = free_high_decision(order, C[r, C_FREE_COUNT], C[r, C_COUNT],
                                          C[r, C_BATCH], C[r, C_FLAGS])
    C[r, C_FLAGS] = flags
    C[r, C_FREE_COUNT] = free_count_after_free(C[r, C_FREE_COUNT], C[r, C_BATCH], order)
    high, new_high = nr_pcp_high(C[r, C_HIGH], C[r, C_HIGH_MIN], C[r, C_HIGH_MAX],
                                 C[r, C_COUNT], C[r, C_FREE_COUNT], C[r, C_BATCH], free_high,
                                 Z[ix(z), Z_BELOW_HIGH] != 0, False)
    C[r, C_HIGH] = new_high
    if C[r, C_COUNT] >= high:
        n = nr_pcp_free(C[r, C_COUNT], C[r, C_BATCH], high, free_high, C[r, C_FREE_COUNT])
        free_pcppages_bulk(A, z, cpu, n, pindex)
        if Z[ix(z), Z_BELOW_HIGH] and high_wmark_ok(A, z):
            Z[ix(z), Z_BELOW_HIGH] = 0


@jit_inline
def free_unref_page(A, z, cpu, pfn, order):
    """``free_unref_page``: pcp orders to CPU ``cpu``'s list (ISOLATE straight to the
    buddy; HIGHATOMIC and CMA as MOVABLE), others via ``free_one_page``."""
    Z = A[6]
    if not Z[z, Z_HASPCP] or not pcp_allowed_order(order):
        split_large_buddy(A, z, pfn, order, TO_LIKELY)
        return
    block_mt = get_pfnblock_migratetype(A, z, pfn)
    if block_mt < PCPTYPES:
        mt = block_mt
    elif block_mt == ISOLATE:
        split_large_buddy(A, z, pfn, order, TO_LIKELY)
        return
    else:
        mt = MOVABLE
    ncpu = Z[z, Z_NCPU]
    free_unref_page_commit(A, z, min(cpu, ncpu - 1), pfn, mt, order)


@jit_inline
def free_block(A, z, cpu, pfn, order):
    """``__free_pages`` -> ``free_unref_page`` for a checked, allocated block."""
    P = A[2]
    P[P_AORD, pfn] = -1
    P[P_FLAGS, pfn] &= ~PF_MOVABLE
    free_unref_page(A, z, cpu, pfn, order)


@jit
def free_tails(A, z, cpu, pfn, order):
    """``___free_pages``' tails (first page kept allocated at order 0), each through
    ``free_unref_page``."""
    A[2][P_AORD, pfn] = 0
    for o in range(order - 1, -1, -1):
        free_unref_page(A, z, cpu, pfn + (np.int64(1) << o), o)


@jit
def boot_chunks(A, z, chunks, to_tail):
    """Free ``chunks[i] = (pfn, order)`` through ``split_large_buddy`` (boot:
    ``__free_pages_core`` with FPI_TO_TAIL)."""
    for i in range(chunks.shape[0]):
        split_large_buddy(A, z, chunks[i, 0], chunks[i, 1], to_tail)


@jit
def load_blocks(A, z, blocks):
    """Zone.load: each free block to the tail of its pageblock type's list, ascending."""
    for i in range(blocks.shape[0]):
        pfn = blocks[i, 0]
        add_mt(A, z, pfn, blocks[i, 1], get_pfnblock_migratetype(A, z, pfn), True)


@jit
def lists_out(A, lo, hi, out, lens):
    """The pfns of lists ``lo`` .. ``hi - 1``, each head first, one after another into
    ``out`` (``lens[i]``: how many of list ``lo + i``); returns how many in all. Stops at
    the end of ``out`` and at a link outside the arena (a reader: it never writes there)."""
    nxt, LH = A[0], A[3]
    n = 0
    for lid in range(lo, hi):
        k = 0
        p = LH[lid]
        while 0 <= p < nxt.shape[0] and n < out.shape[0]:
            out[n] = p
            n += 1
            k += 1
            p = nxt[p]
        lens[lid - lo] = k
    return n


@jit
def _keep(snap, k, v):
    """Puts ``v`` at ``snap[k]``: 0 when it was there, 1 when it was not, 2 when ``k`` is
    past the end of ``snap`` (nothing written)."""
    if k >= snap.shape[0]:
        return 2
    if snap[k] == v:
        return 0
    snap[k] = v
    return 1


@jit
def zone_changed(A, z, lo, hi, plo, phi, pb0, pb1, snap_s):
    """Whether anything a reader of zone ``z`` reads outside the page descriptors differs
    from the copy ``snap_s`` (the zone's ``Z`` row, its CPUs' ``C`` rows, pageblock types
    ``pb0 .. pb1 - 1``, head, tail and length of lists ``lo .. hi - 1`` and ``plo .. phi -
    1``, then every walk of those lists as :func:`lists_out` walks them, each ended by
    -1); the copy is brought up to date. Returns 0 (the same), 1 (changed) or 2 (the copy
    is too small: the caller sizes it again and takes the zone as changed). A reader: it
    writes only the copy, and every index is checked."""
    nxt, LH, LT, LN, Z, PB, C = A[0], A[3], A[4], A[5], A[6], A[7], A[8]
    if z < 0 or z >= Z.shape[0]:
        return 2
    changed = 0
    k = 0
    for f in range(Z.shape[1]):
        got = _keep(snap_s, k, Z[z, f])
        if got == 2:
            return 2
        changed |= got
        k += 1
    r0 = max(min(z * Z[z, Z_NCPU], C.shape[0]), 0)
    r1 = max(min(r0 + Z[z, Z_NCPU], C.shape[0]), r0)
    for r in range(r0, r1):
        for f in range(C.shape[1]):
            got = _keep(snap_s, k, C[r, f])
            if got == 2:
                return 2
            changed |= got
            k += 1
    for i in range(max(pb0, 0), min(pb1, PB.shape[0])):
        got = _keep(snap_s, k, np.int64(PB[i]))
        if got == 2:
            return 2
        changed |= got
        k += 1
    budget = 0  # lists_out's: the lists' lengths in all
    for part in range(2):
        a, b = (lo, hi) if part == 0 else (plo, phi)
        for i in range(max(a, 0), min(b, LH.shape[0])):
            budget += LN[i]
            for v in (LH[i], LT[i], LN[i]):
                got = _keep(snap_s, k, v)
                if got == 2:
                    return 2
                changed |= got
                k += 1
    n = 0
    for part in range(2):
        a, b = (lo, hi) if part == 0 else (plo, phi)
        for i in range(max(a, 0), min(b, LH.shape[0])):
            p = LH[i]
            while 0 <= p < nxt.shape[0] and n < budget:
                got = _keep(snap_s, k, p)
                if got == 2:
                    return 2
                changed |= got
                k += 1
                n += 1
                p = nxt[p]
            got = _keep(snap_s, k, -1)
            if got == 2:
                return 2
            changed |= got
            k += 1
    return changed


@jit
def list_out(A, lid, out):
    """The pfns of list ``lid`` head first into ``out``; returns how many."""
    nxt, LH = A[0], A[3]
    n = 0
    p = LH[lid]
    while p >= 0 and n < out.shape[0]:
        out[n] = p
        n += 1
        p = nxt[p]
    return n


# -- the hot path: one compiled call per operation ----------------------------------------

# A decision row R (int64) of ``MtMachine``'s cached (gfp, order, node) decisions: the
# fast attempt's alloc_flags, the request's migratetype, gfp_zone's index, whether the
# machine has several nodes, whether the block is compound, whether the batch must leave
# the request to Python (dmesg lines, order > MAX_PAGE_ORDER), the zonelist's length,
# then per zonelist entry its global zone index and node.
R_FLAGS0, R_MT, R_HIDX, R_NUMA, R_COMP, R_PYTHON, R_NZ, R_ZL = range(8)

# batch status (run_path_ops' st[0]); the op codes are the bare core's (kernels.py)
S_DONE, S_NEEDROW, S_PYTHON, S_SLOW, S_BADREF, S_BADOP = range(6)


@jit_inline
def zone_allows(A, W, z, order, alloc_flags, highest_idx, migratetypes):
    """:func:`kmem.spec.page_alloc.zone_allows` (``zone_watermark_fast``, mm/page_alloc.c
    of 6.12) on zone ``z``'s counters: the threshold is the spec's
    :func:`~kmem.spec.watermarks.watermark_threshold` of the mark plus the boost; per
    order, the free counts and the lists ``__zone_watermark_ok`` reads
    (``tests/test_fastimpl_path.py`` checks it against the spec's on every zone state of
    a run). ``migratetypes`` false: the bare zone's view (every block counts, no
    highatomic discount)."""
    Z, LN = A[6], A[5]
    if alloc_flags & ALLOC_NO_WATERMARKS:
        return True
    wmark = alloc_flags & ALLOC_WMARK_MASK
    reserve = W[ix(z), ix(W_RESERVE + highest_idx)]
    boost = Z[ix(z), Z_BOOST]
    usable = Z[ix(z), Z_FREE] - ((np.int64(1) << order) - 1)
    if migratetypes and not alloc_flags & ALLOC_RESERVES:
        usable -= Z[ix(z), Z_HAFREE]
    if usable > watermark_threshold(W[ix(z), ix(wmark)] + boost, alloc_flags) + reserve:
        if order == 0:
            return True
        allowed = (1 << UNMOVABLE) | (1 << MOVABLE) | (1 << RECLAIMABLE)
        if alloc_flags & ALLOC_CMA:
            allowed |= 1 << CMA
        if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM):
            allowed |= 1 << HIGHATOMIC
        for o in range(order, NR_PAGE_ORDERS):
            if Z[ix(z), ix(Z_NRFREE + o)] == 0:
                continue
            if not migratetypes:
                return True
            for t in range(MT_TYPES):
                if allowed >> t & 1 and LN[ix(buddy_lid(z, o, t))] > 0:
                    return True
        return False
    if order == 0 and alloc_flags & ALLOC_MIN_RESERVE and boost and wmark == WMARK_MIN:
        return usable > watermark_threshold(W[ix(z), W_MIN], alloc_flags) + reserve
    return False


@jit_inline
def get_page_from_freelist(A, W, R, order, alloc_flags, cpu):
    """``get_page_from_freelist`` over the zonelist of decision row ``R``: ZONE_BELOW_HIGH,
    the watermark (:func:`zone_allows`), ``rmqueue`` and the highatomic reservation; with
    ALLOC_NOFRAGMENT a failed walk (or a remote node's zone) retries without it. -1 when
    no zone gives a block."""
    Z = A[6]
    nz = R[R_NZ]
    mt = R[R_MT]
    hidx = R[R_HIDX]
    numa = R[R_NUMA] != 0
    while True:
        no_fallback = alloc_flags & ALLOC_NOFRAGMENT
        retry = False
        for i in range(nz):
            z = R[R_ZL + 2 * i]
            if (no_fallback and numa and z != R[R_ZL]
                    and R[R_ZL + 2 * i + 1] != R[R_ZL + 1]):
                alloc_flags &= ~ALLOC_NOFRAGMENT
                retry = True
                break
            high_flags = (alloc_flags & ~(ALLOC_NO_WATERMARKS | ALLOC_WMARK_MASK)) | WMARK_HIGH
            if Z[ix(z), Z_BELOW_HIGH] or not zone_allows(A, W, z, order, high_flags, hidx, True):
                Z[ix(z), Z_BELOW_HIGH] = 1
                if not zone_allows(A, W, z, order, alloc_flags, hidx, True):
                    continue
            pfn = rmqueue(A, z, cpu, order, mt, alloc_flags)
            if pfn >= 0:
                if alloc_flags & ALLOC_HIGHATOMIC:
                    reserve_highatomic_pageblock(A, z, pfn, order)
                return pfn
        if retry:
            continue
        if not no_fallback:
            return -1
        alloc_flags &= ~ALLOC_NOFRAGMENT


@jit_inline
def alloc_fast(A, W, ref, comp, R, order, cpu):
    """``__alloc_pages``' fast attempt (``get_page_from_freelist`` with the first pass's
    flags) and ``prep_new_page``'s refcount and compound mark; -1 when it fails (the slow
    path is Python's). ``order`` <= MAX_PAGE_ORDER and ``cpu`` were checked."""
    pfn = get_page_from_freelist(A, W, R, order, R[R_FLAGS0], cpu)
    if pfn >= 0:
        ref[pfn] = 1
        if R[R_COMP]:
            comp[pfn] = True
    return pfn


@jit_inline
def zone_of(Z, pfn):
    """The zone whose span holds ``pfn``, -1 when none."""
    for g in range(Z.shape[0]):
        if Z[g, Z_START] <= pfn < Z[g, Z_END]:
            return g
    return -1


@jit_inline
def free_fast_z(A, ref, resv, comp, z, pfn, order, cpu):
    """:func:`free_fast` with ``pfn`` known to lie in zone ``z`` and ``order`` in range."""
    P = A[2]
    if P[P_AORD, ix(pfn)] != order or pfn & ((np.int64(1) << order) - 1):
        return 1
    if ref[ix(pfn)] != 1 or resv[ix(pfn)]:
        return 1
    comp[ix(pfn)] = False
    ref[ix(pfn)] = 0
    free_block(A, z, cpu, pfn, order)
    return 0


@jit_inline
def free_fast(A, ref, resv, comp, pfn, order, cpu):
    """``__free_pages(page, order)`` of the common case: the head of an allocated block
    of exactly ``order``, aligned, its last reference, not PG_reserved, in a zone; 0 when
    done. Any other case returns 1 and changes nothing: Python's guards take it (and
    raise what the model raises)."""
    if order < 0 or order > MAX_PAGE_ORDER:
        return 1
    z = zone_of(A[6], pfn)
    if z < 0:
        return 1
    return free_fast_z(A, ref, resv, comp, z, pfn, order, cpu)


# The entries take the arena ``S`` whole: unboxing an array argument costs ~150
# instructions, and the views cost a few each (profiled: bench/count_instructions.py
# --per-call).
@jit_entry
def e_alloc_fast(S, R, order, cpu):
    """The entry point of :func:`alloc_fast` (keeps the GIL: a per-operation call)."""
    A, W, ref, _, comp = arena(S)
    return alloc_fast(A, W, ref, comp, R, order, cpu)


@jit_entry
def e_free_fast(S, pfn, order, cpu):
    """The entry point of :func:`free_fast`."""
    A, _, ref, resv, comp = arena(S)
    return free_fast(A, ref, resv, comp, pfn, order, cpu)


@jit_entry
def e_get_page(S, R, order, alloc_flags, cpu):
    """The entry point of :func:`get_page_from_freelist` (the slow path's attempts)."""
    A, W, _, _, _ = arena(S)
    return get_page_from_freelist(A, W, R, order, alloc_flags, cpu)


@jit_entry
def e_zone_allows(S, z, order, alloc_flags, highest_idx, migratetypes):
    """The entry point of :func:`zone_allows`."""
    A, W, _, _, _ = arena(S)
    return zone_allows(A, W, z, order, alloc_flags, highest_idx, migratetypes)


@jit_inline
def batch_key_slot(key, mask):
    """The first slot of ``key`` (gfp * 16 + min(order, 11)) in a batch key table."""
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask


@jit
def batch_key_insert(keys, slots, r, key):
    """Add ``key`` as row ``r`` (``slots``: -1 = empty, a power of two at least twice
    ``len(keys)``; the caller grows both before they fill)."""
    mask = slots.shape[0] - 1
    h = batch_key_slot(key, mask)
    while slots[h] >= 0:
        h = (h + 1) & mask
    slots[h] = r
    keys[r] = key


@jit
def run_path_ops(S, keys, slots, rows, ops, res, start, cpu, st):
    """``run_ops`` of the whole path from op ``start`` on (the bare core's encoding,
    ``batch.py``): each allocation with its key's decision row (:func:`alloc_fast`), each
    free through :func:`free_fast`. Stops at the first op it leaves to Python, with
    ``st[0]``: S_NEEDROW (no row for the key yet), S_PYTHON (an op the per-op API runs:
    a row with side effects, a free off the common case, get/put, a bad operand),
    S_SLOW (the fast attempt failed: the slow path continues), S_BADREF, S_BADOP; S_DONE
    at the end. ``st[1]``: the last op whose allocation succeeded here."""
    A, W, ref, resv, comp = arena(S)
    n = ops.shape[0]
    mask = slots.shape[0] - 1
    Z = A[6]
    # the last key's row and the last free's zone: most operations repeat them (the
    # lookups were a hash probe and a scan of the zones per operation, profiled)
    last_key = np.int64(-1)
    r = np.int64(-1)
    zlo = np.int64(0)
    zhi = np.int64(0)
    zc = np.int64(0)
    last_ok = st[1]
    status = S_DONE
    i = start
    while i < n:
        code = ops[ix(i), 0]
        x = ops[ix(i), 1]
        y = ops[ix(i), 2]
        if code == OP_ALLOC:
            if x < 0 or x >= np.int64(1) << 32 or y < 0:
                status = S_PYTHON
                break
            key = x * 16 + min(y, MAX_PAGE_ORDER + 1)
            if key != last_key:
                h = batch_key_slot(key, mask)
                while True:
                    r = slots[ix(h)]
                    if r < 0 or keys[ix(r)] == key:
                        break
                    h = (h + 1) & mask
                if r < 0:
                    status = S_NEEDROW
                    break
                last_key = key
            R = rows[ix(r)]
            if R[R_PYTHON]:
                status = S_PYTHON
                break
            pfn = alloc_fast(A, W, ref, comp, R, y, cpu)
            if pfn < 0:
                status = S_SLOW
                break
            res[ix(i)] = pfn
            last_ok = i
            i += 1
            continue
        if code != OP_FREE and code != OP_GET and code != OP_PUT:
            status = S_BADOP
            break
        pfn = x
        if x < 0:
            j = ~x
            # res[j] (j < i) is written: a pfn or -1 for an allocation, 0 for any other
            # op, so the op's code needs reading only for 0 (as the bare core's loop)
            pfn = res[ix(j)] if j < i else np.int64(-1)
            if pfn < 0 or (pfn == 0 and ops[ix(j), 0] != OP_ALLOC):
                status = S_BADREF
                break
        if code != OP_FREE or y < 0 or y > MAX_PAGE_ORDER:
            status = S_PYTHON
            break
        if not (zlo <= pfn < zhi):
            zc = zone_of(Z, pfn)
            if zc < 0:
                status = S_PYTHON
                break
            zlo = Z[zc, Z_START]
            zhi = Z[zc, Z_END]
        if free_fast_z(A, ref, resv, comp, zc, pfn, y, cpu):
            status = S_PYTHON
            break
        res[ix(i)] = 0
        i += 1
    st[0] = status
    st[1] = last_ok
    return i
