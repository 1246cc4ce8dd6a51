"""The one exception hierarchy of kmem.

``KmemError`` is the root. ``KernelBug`` and its subclasses are the conditions the
kernel itself treats as BUG()/VM_BUG_ON() (mm/page_alloc.c, include/linux/mm.h):
misuse of the page API. ``InvalidArgument`` is bad input to kmem itself (a
malformed mask, an unknown preset, a /proc text that does not parse). Every
operation checks first and raises before changing any state, so a raised error
leaves the machine exactly as it was.
"""


class KmemError(Exception):
    """Root of every error kmem raises on purpose."""


class InvalidArgument(KmemError, ValueError):
    """Input that kmem cannot interpret (not a kernel condition)."""


class KernelBug(KmemError):
    """A condition the kernel would report with BUG()/VM_BUG_ON(): a misuse of its API."""


class BadGfpZone(KernelBug):
    """gfp_zone(): the zone modifiers are a GFP_ZONE_BAD combination (include/linux/gfp.h)."""


# -- page API misuse: one class per kernel BUG/VM_BUG_ON condition (mm/page_alloc.c,
#    include/linux/mm.h, include/linux/page_ref.h; 6.x) -------------------------------

class BadRange(KernelBug):
    """``bad_range(zone, page)``: the pfn is not a page of this zone (or of any zone)."""


class UnalignedFree(KernelBug):
    """``__free_one_page``: ``VM_BUG_ON_PAGE(pfn & ((1 << order) - 1))``: a block must be
    freed at its natural alignment."""


class RefcountUnderflow(KernelBug):
    """``put_page_testzero``: ``VM_BUG_ON_PAGE(page_ref_count(page) == 0)``: dropping a
    reference of a page whose refcount is already 0 (double free, or a page never
    allocated)."""


class GetPageOnFreePage(KernelBug):
    """``get_page``/``folio_get``: ``VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow)``:
    taking a reference on a page nobody holds."""


class TailPageFree(KernelBug):
    """``free_pages_prepare``: ``VM_BUG_ON_PAGE(PageTail(page))``: tail pages of a compound
    page are never freed directly."""


class BadVirtAddr(KernelBug):
    """``free_pages``: ``VM_BUG_ON(!virt_addr_valid(addr))``: the address is not in the
    direct map (a vmalloc/kmap address, a highmem page, or garbage)."""


class BadPageState(KernelBug):
    """``bad_page(page, reason)`` ("BUG: Bad page state"): a page being freed is not in the
    state the allocator expects (e.g. PG_reserved set, or part of the block is already
    free). ``reason`` is the kernel's ``page_bad_reason`` text."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class FreeOrderMismatch(KernelBug):
    """``__free_pages(page, order)`` with an order other than the one allocated. The kernel
    does not check this (it leaks or frees pages it does not own); kmem refuses it."""


class AllocationLivelock(KmemError):
    """A ``__GFP_NOFAIL`` request (with ``__GFP_DIRECT_RECLAIM``) that no pass can satisfy.

    ``__alloc_pages_slowpath`` (mm/page_alloc.c, 6.12 lines 4560-4584) never returns
    NULL for it: it retries for ever, waiting for reclaim or the OOM killer to free
    memory. kmem has neither, so it refuses the request instead of hanging; the
    machine is unchanged."""


# -- slab misuse (mm/slub.c, mm/slab_common.c 6.12; mm/slab.c 2.6.11) --------------------

class SlabError(KernelBug):
    """Misuse of the slab API (kmem_cache_*, kmalloc/kfree). The kernel reports these with
    slab_err()/WARN or BUG() (or not at all); kmem refuses them before changing anything."""


class BadCacheArgs(SlabError):
    """``kmem_cache_create`` with an invalid name, size, alignment or flags (6.12
    ``kmem_cache_sanity_check``: "kmem_cache_create(%s) integrity check failed"; 2.6.11:
    "kmem_cache_create: Early error in slab %s" and BUG())."""


class CacheDestroyed(SlabError):
    """A cache used after ``kmem_cache_destroy`` removed it (including destroying it twice)."""


class WrongSlabCache(SlabError):
    """``kmem_cache_free(s, x)`` where x belongs to another cache (6.12 ``cache_from_obj``:
    "kmem_cache_free: Wrong slab cache. %s but object is from %s")."""


class SlabDoubleFree(SlabError):
    """Freeing an object that is already free (SLUB ``free_consistency_checks``: "Object
    already free"; 2.6.11 SLAB: "slab: double free detected in cache '%s'")."""


class InvalidObjectPointer(SlabError):
    """A pointer into a slab that is not the start of an object (SLUB: "Invalid object
    pointer 0x%p"; 2.6.11 SLAB: ``BUG_ON(objp != slabp->s_mem + objnr*cachep->objsize)``)."""


class NotSlabObject(SlabError):
    """``kfree``/``ksize`` of a pointer that kmalloc never returned: not in a slab and not
    the start of a large kmalloc (6.12 ``free_large_kmalloc`` would put somebody else's page)."""
