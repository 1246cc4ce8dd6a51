"""What the kernel's ``kmem`` tracepoints promise about their fields.

The page and slab allocators report every allocation and free through the tracepoints of
``include/trace/events/kmem.h`` (``mm_page_alloc``, ``mm_page_free``,
``mm_page_free_batched``, ``mm_page_pcpu_drain``, ``mm_page_alloc_zone_locked``,
``mm_page_alloc_extfrag``, ``kmalloc``, ``kmem_cache_alloc``, ...). Each rule here says
what a field must be, as a function of the other fields, in the kernel version named;
``kmem trace check`` applies them to a recording. The rules that are spec rules already
(``gfp_migratetype``, ``gfp_zone``, ``fallbacks[]``, ``can_steal_fallback``,
``pcp_allowed_order``, the kmalloc size classes, ``show_gfp_flags``) are called, not
restated.

Sources: Debian's 6.12.117 and 6.1.192 trees (mm/page_alloc.c, mm/slub.c,
include/trace/events/kmem.h) and the format files of a 6.18.44 kernel
(/sys/kernel/tracing/events/kmem/*/format), whose fields and print formats equal
6.12's for these events.
"""

from __future__ import annotations

from .constants import MAX_PAGE_ORDER, PAGE_SIZE
from .errors import InvalidArgument
from .gfp import gfp_migratetype
from .migrate import (
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    can_steal_fallback,
    fallbacks,
)
from .pcp import pcp_allowed_order
from .slab import KMALLOC_INFO, KMALLOC_MAX_CACHE_SIZE, get_order, kmalloc_slab_index

#: the free lists ``__rmqueue_smallest`` is called with, so the migratetypes
#: ``mm_page_alloc_zone_locked`` can report (mm/page_alloc.c, 6.12.117): the request's own
#: type (0..2, ``__rmqueue``), MIGRATE_HIGHATOMIC (``rmqueue_buddy`` with ALLOC_HIGHATOMIC,
#: or as the last resort of a non-blocking/OOM request), MIGRATE_CMA
#: (``__rmqueue_cma_fallback``). Never MIGRATE_ISOLATE: isolated blocks are not allocated from.
ZONE_LOCKED_MIGRATETYPES = frozenset(range(MIGRATE_PCPTYPES)) | {MIGRATE_HIGHATOMIC, MIGRATE_CMA}


def page_alloc_migratetype(gfp: int, *, mobility_disabled: bool = False) -> int:
    """The ``migratetype`` field of ``mm_page_alloc``: ``ac.migratetype`` of
    ``__alloc_pages_noprof`` (6.12.117 mm/page_alloc.c:4881; the same in
    ``alloc_pages_nolock``, 6.15+), set by ``prepare_alloc_pages`` to
    ``gfp_migratetype(gfp_mask)`` of the mask the event prints (``alloc_gfp`` after
    ``current_gfp_context``). So it is the *requested* type: the kernel's exceptions to
    "the list the page came from" (a MIGRATE_HIGHATOMIC reserve, a CMA block, a fallback
    to another type's block) are not visible here but in ``mm_page_alloc_zone_locked``
    and ``mm_page_alloc_extfrag``. Both mobility bits set give 3 (the VM_WARN_ON case of
    :func:`kmem.spec.gfp.gfp_migratetype`); with grouping by mobility disabled it is 0.
    """
    return gfp_migratetype(gfp, group_by_mobility_disabled=mobility_disabled)


def mobility_grouping_disabled(total_pages: int, pageblock_order: int) -> bool:
    """``page_group_by_mobility_disabled`` as ``build_all_zonelists`` sets it (6.12.117
    mm/page_alloc.c:5608-5620): ``vm_total_pages < pageblock_nr_pages * MIGRATE_TYPES``,
    where ``vm_total_pages`` counts the pages above the high watermark of the zones
    GFP_HIGHUSER_MOVABLE may use (``nr_free_zone_pages``). ``total_pages`` is that count."""
    if total_pages < 0:
        raise InvalidArgument(f"total_pages must be >= 0, got {total_pages}")
    return total_pages < (1 << pageblock_order) * MIGRATE_TYPES


def zone_locked_percpu_refill(order: int, migratetype: int) -> int:
    """The ``percpu_refill`` field of ``mm_page_alloc_zone_locked``: not whether the page
    went to a per-CPU list, but ``pcp_allowed_order(order) && migratetype <
    MIGRATE_PCPTYPES`` as ``__rmqueue_smallest`` passes it (6.1.192 mm/page_alloc.c:2605,
    6.12.117 mm/page_alloc.c:1650)."""
    return int(pcp_allowed_order(order) and migratetype < MIGRATE_PCPTYPES)


def pcpu_drain_migratetype_ok(migratetype: int) -> bool:
    """``mm_page_pcpu_drain`` reports ``get_pfnblock_migratetype`` of the page's pageblock
    (``free_pcppages_bulk``, 6.12.117 mm/page_alloc.c:1256-1264): any migratetype."""
    return 0 <= migratetype < MIGRATE_TYPES


def extfrag_problems(alloc_order: int, fallback_order: int, alloc_mt: int, fallback_mt: int,
                     change_ownership: int, pageblock_order: int, *,
                     mobility_disabled: bool = False) -> list[str]:
    """What is wrong with one ``mm_page_alloc_extfrag`` event (empty: nothing).

    The event fires when ``__rmqueue_claim`` claimed a pageblock of a fallback type or
    ``__rmqueue_steal`` took a single block from one (6.12.117 mm/page_alloc.c:2255 and
    2286; 6.1's ``__rmqueue_fallback``:3103 likewise). So:

    * ``fallback_migratetype`` is in ``fallbacks[alloc_migratetype]``
      (:func:`kmem.spec.migrate.fallbacks`), and the request's type is a per-CPU type;
    * ``alloc_order <= fallback_order <= MAX_PAGE_ORDER`` (the block split is at least
      the request);
    * ``change_ownership`` (the page's pageblock now has the request's type,
      ``alloc_migratetype == get_pageblock_migratetype(page)``) happens only on a claim,
      and a claim is only tried where ``can_steal_fallback(fallback_order, alloc_mt)``
      (``should_try_claim_block`` from 6.15) allows it.

    ``fragmenting`` is not a recorded field: it is ``fallback_order < pageblock_order``,
    computed when printing (perf cannot evaluate ``pageblock_order`` and prints nonsense).
    """
    out = []
    if not 0 <= alloc_mt < MIGRATE_PCPTYPES:
        out.append(f"alloc_migratetype {alloc_mt} is not a per-CPU type (0..{MIGRATE_PCPTYPES - 1})")
    elif fallback_mt not in fallbacks(alloc_mt):
        out.append(f"fallback_migratetype {fallback_mt} is not in fallbacks[{alloc_mt}] = "
                   f"{list(fallbacks(alloc_mt))}")
    if not 0 <= alloc_order <= fallback_order <= MAX_PAGE_ORDER:
        out.append(f"orders: expected alloc_order <= fallback_order <= {MAX_PAGE_ORDER}, got "
                   f"{alloc_order} and {fallback_order}")
    elif change_ownership and 0 <= alloc_mt < MIGRATE_PCPTYPES and not can_steal_fallback(
            fallback_order, alloc_mt, pageblock_order, mobility_disabled):
        out.append(f"change_ownership=1 but can_steal_fallback({fallback_order}, {alloc_mt}) is "
                   f"false: the kernel never claims a pageblock for this request from this order")
    return out


def kmalloc_bytes_alloc(bytes_req: int, cache_size: int | None = None) -> int:
    """The ``bytes_alloc`` field of the ``kmalloc`` tracepoint for ``bytes_req`` bytes
    (``__do_kmalloc_node``, 6.12.117 mm/slub.c): above KMALLOC_MAX_CACHE_SIZE the page
    allocator's ``PAGE_SIZE << get_order(size)``; otherwise ``s->size`` of the kmalloc cache
    ``kmalloc_slab`` picks, which is the size class (:data:`kmem.spec.slab.KMALLOC_INFO`)
    unless slab debugging or KASAN grows the object (then pass the cache's recorded
    ``slab_size`` as ``cache_size``). Every kmalloc family (normal, cg, rcl, dma, the random
    copies and kmem_buckets) has the same size classes."""
    if bytes_req <= 0:
        raise InvalidArgument(f"kmalloc of {bytes_req} bytes has no tracepoint (0 returns "
                              "ZERO_SIZE_PTR before it)")
    if bytes_req > KMALLOC_MAX_CACHE_SIZE:
        return PAGE_SIZE << get_order(bytes_req)
    if cache_size is not None:
        return cache_size
    return KMALLOC_INFO[kmalloc_slab_index(bytes_req)][0]
