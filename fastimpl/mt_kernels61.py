"""The compiled steps of fastimpl's whole allocation path for Linux 6.1 (Debian 6.1.192).

:class:`kmem.fastimpl.mt_machine.MtMachine` built with ``kernel="6.1"`` runs its steps
from this module instead of ``mt_kernels.py`` (the only place the era is chosen, once,
in the constructor): every step 6.1 does differently is defined here under the name
the machine calls, over the same arena, and every step that calls one of them is
defined here too, so that a 6.1 step never reaches a 6.12 one. The steps 6.1 shares
(the lists, ``__rmqueue_smallest``, ``find_suitable_fallback``, the pageblock bits,
``boost_watermark``) are ``mt_kernels``' own.

What 6.1.192's mm/page_alloc.c does differently, as :class:`kmem.model.mtzone.MtZone`
follows it (its ``*_61`` methods):

- ``__rmqueue`` (3115-3147): the request's own list, else ``__rmqueue_fallback``
  (3033-3104; which order: :func:`kmem.spec.migrate.rmqueue_fallback_61_pick`) moves a
  block by ``steal_suitable_fallback`` (2791-2871) and the search runs again; no
  rmqueue_mode, no claim/steal split;
- ``move_freepages_block`` (2643-2700) moves what starts in the pageblock and counts
  movable pages, without retyping the pageblock;
- the pcp lists keep the migratetype a block had when it was queued
  (``set_pcppage_migratetype``) in the block's ``P_FMT`` row, and ``free_pcppages_bulk``
  frees with it; ``free_unref_page_commit`` (3469-3499) has one fixed ``pcp->high`` and
  ``free_factor`` (:func:`kmem.spec.pcp.nr_pcp_free_61`, ``nr_pcp_high_61``,
  ``free_high_61``); ``rmqueue_pcplist`` refills ``max(batch >> order, 2)``
  (``pcp_alloc_batch_61``); with CONFIG_CMA a MOVABLE request without ALLOC_CMA skips the
  pcp lists (3898-3899); ``rmqueue``'s out label clears the boost flag always (3909-3915);
- ``__free_pages_ok`` frees a block whole with its first pageblock's type (1735-1757),
  and ``__free_one_page`` does not retype a merged buddy's pageblock (6.10+ does);
- ``reserve_highatomic_pageblock`` (2908-2935) reserves one pageblock below 1 % plus a
  pageblock, ``unreserve_highatomic_pageblock`` (2950-3001) retypes first and moves with
  6.1's ``move_freepages_block``.

Bounds as in ``mt_kernels.py``: every pfn read was checked to lie in its zone.
"""

from __future__ import annotations

import numpy as np

from kmem.spec import alloc_flags as alloc_flags_spec
from kmem.spec import constants as constants_spec
from kmem.spec import migrate as migrate_spec
from kmem.spec import pcp as pcp_spec
from kmem.spec.alloc_flags import (
    ALLOC_CMA,
    ALLOC_HIGHATOMIC,
    ALLOC_KSWAPD,
    ALLOC_NOFRAGMENT,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
)
from kmem.spec.constants import MAX_PAGE_ORDER, NR_PAGE_ORDERS

from . import mt_kernels as _mt_kernels_12
from .kernels import jit
from .mt_kernels import (  # noqa: F401 - the shared steps: the machine calls them from here
    C_BATCH,
    C_COUNT,
    C_FREE_FACTOR,
    C_HIGH,
    HIGHATOMIC,
    ISOLATE,
    MOVABLE,
    NR_PCP_LISTS,
    P_AORD,
    P_FLAGS,
    P_FMT,
    P_FORD,
    P_PCPO,
    PCP_BATCH_SCALE_MAX,
    PCPTYPES,
    PF_MOVABLE,
    TO_LIKELY,
    TO_TAIL,
    Z_BOOSTED,
    Z_CMA,
    Z_HARES,
    Z_HASPCP,
    Z_MANAGED,
    Z_NCPU,
    Z_PBO,
    add_mt,
    boost_watermark,
    buddy_lid,
    change_pageblock_range,
    claim_min_order,
    claim_whole_block,
    del_mt,
    find_suitable_fallback,
    get_pfnblock_migratetype,
    is_free_block,
    list_add,
    list_del,
    list_out,
    load_blocks,
    may_merge,
    migratetype_is_mergeable,
    move_to_free_list,
    order_to_pindex,
    page_del_and_expand,
    pcp_allowed_order,
    pcp_lid,
    pcp_row,
    pindex_to_order,
    rmqueue_smallest_mt,
    spans,
)
from .spec_jit import compile_spec, stamp_cache

# the cached steps below call the spec's rules and inline mt_kernels' shared steps: a
# change in either recompiles them
stamp_cache(__file__, (pcp_spec, migrate_spec, alloc_flags_spec, constants_spec,
                       _mt_kernels_12))

# -- the spec's 6.1 rules, compiled ---------------------------------------------------------
clamp = compile_spec(pcp_spec.clamp)
nr_pcp_free_61 = compile_spec(pcp_spec.nr_pcp_free_61, clamp=clamp)
nr_pcp_high_61 = compile_spec(pcp_spec.nr_pcp_high_61)
free_high_61 = compile_spec(pcp_spec.free_high_61)
pcp_alloc_batch_61 = compile_spec(pcp_spec.pcp_alloc_batch_61)
rmqueue_fallback_61_pick = compile_spec(migrate_spec.rmqueue_fallback_61_pick,
                                        claim_min_order=claim_min_order)
highatomic_max_managed_61 = compile_spec(migrate_spec.highatomic_max_managed_61)
highatomic_unreserve_size_61 = compile_spec(migrate_spec.highatomic_unreserve_size_61)


# -- __rmqueue ------------------------------------------------------------------------------
@jit
def move_freepages_block(A, z, pfn, new_mt):
    """6.1's ``move_freepages_block`` / ``move_freepages`` (2643-2700): every free block
    that starts in pfn's pageblock to the tail of ``new_mt``'s list (from pfn itself when
    the pageblock starts before the zone; nothing when it ends after it); returns (pages
    moved, movable pages seen). The pageblock's type is left alone."""
    P, Z = A[2], A[6]
    nr = np.int64(1) << Z[z, Z_PBO]
    start = pfn - pfn % nr
    end = start + nr - 1
    if not spans(A, z, start):
        start = pfn
    if not spans(A, z, end):
        return 0, 0
    moved = 0
    movable = 0
    p = start
    while p <= end:
        o = np.int64(P[P_FORD, p])
        if o >= 0:
            move_to_free_list(A, z, p, o, new_mt)
            moved += np.int64(1) << o
            p += np.int64(1) << o
            continue
        held = np.int64(P[P_AORD, p])
        if held >= 0 and P[P_FLAGS, p] & PF_MOVABLE:
            n = min(np.int64(1) << held, end + 1 - p)
            movable += n
            p += n
            continue
        p += 1
    return moved, movable


@jit
def steal_suitable_fallback(A, z, pfn, current, alloc_flags, start_type, whole_block):
    """6.1's ``steal_suitable_fallback`` (2791-2871): a HIGHATOMIC block or a single page
    goes to ``start_type``'s list tail; a block of pageblock order or more first retypes
    its pageblocks; otherwise (``whole_block``) every free page of the pageblock moves to
    ``start_type``'s list and the pageblock is claimed when its free plus alike pages
    fill half of it (:func:`kmem.spec.migrate.claim_whole_block`)."""
    Z = A[6]
    pbo = Z[z, Z_PBO]
    old_block_type = get_pfnblock_migratetype(A, z, pfn)
    if old_block_type != HIGHATOMIC:
        if current >= pbo:
            change_pageblock_range(A, z, pfn, current, start_type)
        else:
            if boost_watermark(A, z) and alloc_flags & ALLOC_KSWAPD:
                Z[z, Z_BOOSTED] = 1
            if whole_block:
                free, movable = move_freepages_block(A, z, pfn, start_type)
                if free:
                    if claim_whole_block(free, movable, start_type, old_block_type, pbo,
                                         False):
                        nr = np.int64(1) << pbo
                        change_pageblock_range(A, z, pfn - pfn % nr, pbo, start_type)
                    return
    move_to_free_list(A, z, pfn, current, start_type)


@jit
def rmqueue_fallback(A, z, order, start_mt, alloc_flags):
    """6.1's ``__rmqueue_fallback`` (3033-3104): ``find_suitable_fallback`` at every order
    from ``order`` up, the order the spec's ``rmqueue_fallback_61_pick`` takes, the head
    of that order's fallback list through :func:`steal_suitable_fallback`. Whether a block
    moved."""
    LH, Z = A[3], A[6]
    found = np.int64(0)
    stealable = np.int64(0)
    for current in range(order, NR_PAGE_ORDERS):
        fb, can_steal = find_suitable_fallback(A, z, current, start_mt)
        if fb >= 0:
            found |= np.int64(1) << current
        if can_steal:
            stealable |= np.int64(1) << current
    current, can_steal = rmqueue_fallback_61_pick(order, start_mt,
                                                  (alloc_flags & ALLOC_NOFRAGMENT) != 0,
                                                  Z[z, Z_PBO], found, stealable)
    if current < 0:
        return False
    fb, _ = find_suitable_fallback(A, z, current, start_mt)
    pfn = LH[buddy_lid(z, current, fb)]
    steal_suitable_fallback(A, z, pfn, current, alloc_flags, start_mt, can_steal)
    return True


@jit
def rmqueue_mt(A, z, order, mt, alloc_flags):
    """6.1's ``__rmqueue`` (3115-3147): the request's own list, else a fallback moves a
    block to it and the search runs again (``goto retry``). -1 when nothing is left."""
    while True:
        pfn = rmqueue_smallest_mt(A, z, order, mt)
        if pfn >= 0:
            return pfn
        if not rmqueue_fallback(A, z, order, mt, alloc_flags):
            return -1


@jit
def rmqueue_buddy(A, z, order, mt, alloc_flags):
    """``rmqueue_buddy``: the HIGHATOMIC reserve first with ALLOC_HIGHATOMIC, then
    6.1's ``__rmqueue``, then the reserve for ALLOC_OOM / ALLOC_NON_BLOCK."""
    pfn = -1
    if alloc_flags & ALLOC_HIGHATOMIC:
        pfn = rmqueue_smallest_mt(A, z, order, HIGHATOMIC)
    if pfn < 0:
        pfn = rmqueue_mt(A, z, order, mt, alloc_flags)
        if pfn < 0 and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
            pfn = rmqueue_smallest_mt(A, z, order, HIGHATOMIC)
    return pfn


@jit
def rmqueue_bulk(A, z, order, count, mt, alloc_flags, lid):
    """``rmqueue_bulk``: up to ``count`` blocks to the tail of pcp list ``lid``, each
    with the request's migratetype cached (``__rmqueue_smallest``'s
    ``set_pcppage_migratetype``)."""
    P = A[2]
    for i in range(count):
        pfn = rmqueue_mt(A, z, order, mt, alloc_flags)
        if pfn < 0:
            return i
        list_add(A, lid, pfn, True)
        P[P_PCPO, pfn] = order
        P[P_FMT, pfn] = mt
    return count


@jit
def rmqueue_pcplist(A, z, cpu, order, mt, alloc_flags):
    """6.1's ``rmqueue_pcplist`` / ``__rmqueue_pcplist`` (3792-3862): ``free_factor``
    halves; an empty list is refilled with ``pcp_alloc_batch_61`` blocks; the head."""
    P, LH, C = A[2], A[3], A[8]
    r = pcp_row(A, z, cpu)
    C[r, C_FREE_FACTOR] >>= 1
    lid = pcp_lid(A, z, cpu, order_to_pindex(mt, order))
    if LH[lid] < 0:
        n = pcp_alloc_batch_61(C[r, C_BATCH], order)
        got = rmqueue_bulk(A, z, order, n, mt, alloc_flags, lid)
        C[r, C_COUNT] += got << order
        if LH[lid] < 0:
            return -1
    pfn = LH[lid]
    list_del(A, lid, pfn)
    P[P_PCPO, pfn] = -1
    P[P_FMT, pfn] = -1
    C[r, C_COUNT] -= 1 << order
    return pfn


@jit
def rmqueue(A, z, cpu, order, mt, alloc_flags):
    """6.1's ``rmqueue`` (3881-3916): the pcp lists for their orders (not for a MOVABLE
    request without ALLOC_CMA under CONFIG_CMA, 3898-3899), else the buddy; the out label
    clears the boost flag whatever the flags (3909-3915). -1 when nothing was found."""
    P, Z = A[2], A[6]
    pfn = -1
    pcp_ok = not (Z[z, Z_CMA] and not alloc_flags & ALLOC_CMA and mt == MOVABLE)
    if Z[z, Z_HASPCP] and pcp_allowed_order(order) and mt < PCPTYPES and pcp_ok:
        pfn = rmqueue_pcplist(A, z, cpu, order, mt, alloc_flags)
    if pfn < 0:
        pfn = rmqueue_buddy(A, z, order, mt, alloc_flags)
    if Z[z, Z_BOOSTED]:
        Z[z, Z_BOOSTED] = 0
    if pfn < 0:
        return -1
    P[P_AORD, pfn] = order
    if mt == MOVABLE:
        P[P_FLAGS, pfn] |= PF_MOVABLE
    return pfn


# -- highatomic reserve ---------------------------------------------------------------------
@jit
def reserve_highatomic_pageblock(A, z, pfn, order):
    """6.1's ``reserve_highatomic_pageblock`` (2908-2935): below 1 % of the zone plus a
    pageblock (:func:`kmem.spec.migrate.highatomic_max_managed_61`), a mergeable
    pageblock becomes HIGHATOMIC, one pageblock, and its free pages move."""
    Z = A[6]
    pbo = Z[z, Z_PBO]
    if Z[z, Z_HARES] >= highatomic_max_managed_61(Z[z, Z_MANAGED], pbo):
        return
    if migratetype_is_mergeable(get_pfnblock_migratetype(A, z, pfn)):
        nr = np.int64(1) << pbo
        Z[z, Z_HARES] += nr
        change_pageblock_range(A, z, pfn - pfn % nr, pbo, HIGHATOMIC)
        move_freepages_block(A, z, pfn, HIGHATOMIC)


@jit
def unreserve_highatomic_pageblock(A, z, mt, force):
    """One zone's part of 6.1's ``unreserve_highatomic_pageblock`` (2950-3001): the first
    HIGHATOMIC free block's pageblock goes to ``mt`` (retyped first, then its free pages
    moved); keeps one pageblock unless ``force``."""
    LH, Z = A[3], A[6]
    pbo = Z[z, Z_PBO]
    nr = np.int64(1) << pbo
    if not force and Z[z, Z_HARES] <= nr:
        return False
    for order in range(NR_PAGE_ORDERS):
        pfn = LH[buddy_lid(z, order, HIGHATOMIC)]
        if pfn < 0:
            continue
        if get_pfnblock_migratetype(A, z, pfn) == HIGHATOMIC:
            Z[z, Z_HARES] -= highatomic_unreserve_size_61(pbo, Z[z, Z_HARES])
        change_pageblock_range(A, z, pfn - pfn % nr, pbo, mt)
        moved, _ = move_freepages_block(A, z, pfn, mt)
        if moved:
            return True
    return False


# -- freeing ---------------------------------------------------------------------------------
@jit
def free_one_page_mt(A, z, pfn, order, mt, to_tail):
    """6.1's ``__free_one_page``: merge within the migratetype rule (a buddy of another
    mergeable type is taken as it is: 6.1 does not retype its pageblock), then head,
    tail or merge-likely."""
    Z = A[6]
    pbo = Z[z, Z_PBO]
    buddy_pfn = pfn ^ (np.int64(1) << order)
    while order < MAX_PAGE_ORDER:
        buddy_pfn = pfn ^ (np.int64(1) << order)
        if not is_free_block(A, z, buddy_pfn, order):
            break
        if order >= pbo:
            buddy_mt = get_pfnblock_migratetype(A, z, buddy_pfn)
            if not may_merge(order, mt, buddy_mt, pbo):
                break
        del_mt(A, z, buddy_pfn, order)
        pfn = buddy_pfn & pfn
        order += 1
    if to_tail == TO_LIKELY:  # buddy_merge_likely
        tail = False
        if order < MAX_PAGE_ORDER - 1:
            higher = buddy_pfn & pfn
            tail = is_free_block(A, z, higher ^ (np.int64(1) << (order + 1)), order + 1)
    else:
        tail = to_tail == TO_TAIL
    add_mt(A, z, pfn, order, mt, tail)


@jit
def split_large_buddy(A, z, pfn, order, to_tail):
    """6.1's ``__free_pages_ok`` / ``free_one_page`` (1735-1757): the whole block, with
    its first pageblock's type."""
    free_one_page_mt(A, z, pfn, order, get_pfnblock_migratetype(A, z, pfn), to_tail)


@jit
def free_pcppages_bulk(A, z, cpu, count, pindex):
    """``free_pcppages_bulk``: ``count`` pages from the list tails, round robin from
    ``pindex``, each through ``__free_one_page`` with the migratetype cached in it
    (6.1's ``get_pcppage_migratetype``)."""
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
            mt = np.int64(P[P_FMT, pfn])
            P[P_FMT, pfn] = -1
            count -= 1 << order
            C[r, C_COUNT] -= 1 << order
            free_one_page_mt(A, z, pfn, order, mt, TO_LIKELY)
            if not (count > 0 and LH[lid] >= 0):
                break


@jit
def drain_pages_zone(A, z, cpu):
    """``drain_pages_zone``: empty one CPU's lists, ``batch << PCP_BATCH_SCALE_MAX`` pages
    at a time (as the model's)."""
    C = A[8]
    r = pcp_row(A, z, cpu)
    while C[r, C_COUNT]:
        free_pcppages_bulk(A, z, cpu, min(C[r, C_COUNT], C[r, C_BATCH] << PCP_BATCH_SCALE_MAX), 0)


@jit
def free_unref_page_commit(A, z, cpu, pfn, mt, order):
    """6.1's ``free_unref_page_commit`` (3469-3499): head of the pcp list; past the fixed
    high mark (``nr_pcp_high_61``) ``nr_pcp_free_61`` pages go back, ``free_factor``
    growing; a run of high-order frees (``free_high_61``) flushes the lists."""
    P, C = A[2], A[8]
    r = pcp_row(A, z, cpu)
    pindex = order_to_pindex(mt, order)
    list_add(A, pcp_lid(A, z, cpu, pindex), pfn, False)
    P[P_PCPO, pfn] = order
    C[r, C_COUNT] += 1 << order
    free_high = free_high_61(C[r, C_FREE_FACTOR], order)
    high = nr_pcp_high_61(C[r, C_HIGH], C[r, C_BATCH], free_high, False)
    if C[r, C_COUNT] >= high:
        n, ff = nr_pcp_free_61(C[r, C_COUNT], high, C[r, C_BATCH], free_high,
                               C[r, C_FREE_FACTOR])
        C[r, C_FREE_FACTOR] = ff
        free_pcppages_bulk(A, z, cpu, n, pindex)


@jit
def free_unref_page(A, z, cpu, pfn, order):
    """``free_unref_page``: pcp orders to CPU ``cpu``'s list with the pageblock's type
    cached in the block (``free_unref_page_prepare``; ISOLATE straight to the buddy;
    HIGHATOMIC and CMA on the MOVABLE list), others via ``free_one_page``."""
    P, Z = A[2], A[6]
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
    P[P_FMT, pfn] = block_mt
    ncpu = Z[z, Z_NCPU]
    free_unref_page_commit(A, z, min(cpu, ncpu - 1), pfn, mt, order)


@jit
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
    """Free ``chunks[i] = (pfn, order)`` whole (boot: ``__free_pages_core`` with
    FPI_TO_TAIL)."""
    for i in range(chunks.shape[0]):
        split_large_buddy(A, z, chunks[i, 0], chunks[i, 1], to_tail)

