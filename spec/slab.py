"""The slab layer: kmalloc size classes, SLUB and classic SLAB geometry, slab invariants.

Two allocators, as two eras:

* **SLUB**, the only slab allocator since 6.8 (default since 2.6.23): Linux 6.12
  ``include/linux/slab.h`` (KMALLOC_* constants, ``__kmalloc_index``, ``kmalloc_type``),
  ``mm/slab.h`` (``kmalloc_slab``, ``size_index_elem``), ``mm/slab_common.c``
  (``kmalloc_size_index``, ``setup_kmalloc_cache_index_table``, ``create_kmalloc_caches``,
  ``calculate_alignment``, ``create_boot_cache``, ``cache_show``) and ``mm/slub.c``
  (``calc_slab_order``, ``calculate_order``, ``calculate_sizes``, ``__do_kmalloc_node``,
  ``___kmalloc_large_node``, ``get_slabinfo``).
* **Classic SLAB**, the lecture slides' figure (removed in 6.8): Linux 2.6.11
  ``mm/slab.c`` (``cache_estimate``, ``kmem_cache_create``'s order loop and colouring,
  ``cache_grow``'s ``colour_next``, ``enable_cpucache``, ``s_show``) and
  ``include/linux/kmalloc_sizes.h`` (the ``size-N`` general caches).

Everything here is a pure function of plain ints. The invariants at the end take an
abstract view of a cache (:class:`CacheView`) and return the violations they find.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from .buddy import Violation
from .constants import MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGE_SHIFT, PAGE_SIZE
from .errors import InvalidArgument
from .gfp import (
    __GFP_ACCOUNT,
    __GFP_COMP,
    __GFP_DIRECT_RECLAIM,
    __GFP_DMA,
    __GFP_DMA32,
    __GFP_FS,
    __GFP_HARDWALL,
    __GFP_HIGH,
    __GFP_HIGHMEM,
    __GFP_IO,
    __GFP_MEMALLOC,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RECLAIM,
    __GFP_RECLAIMABLE,
    __GFP_RETRY_MAYFAIL,
    __GFP_THISNODE,
    __GFP_ZERO,
    GFP_T_BITS,
    GFP_ZONEMASK,
)

__all__ = [
    "ZERO_SIZE_PTR", "KMALLOC_MIN_SIZE", "KMALLOC_SHIFT_LOW", "KMALLOC_SHIFT_HIGH",
    "KMALLOC_MAX_CACHE_SIZE", "KMALLOC_SHIFT_MAX", "KMALLOC_MAX_SIZE", "KmallocType",
    "zero_or_null_ptr", "fls", "get_order", "kmalloc_index", "kmalloc_size_index_table",
    "kmalloc_slab_index", "kmalloc_type", "kmalloc_cache_name", "kmalloc_caches",
    "kmalloc_decide", "KmallocDecision", "kmalloc_size_roundup",
    "SlubLayout", "calculate_alignment", "calc_slab_order", "calculate_order", "slub_layout",
    "SlabEra", "SLAB_ERA_2_6_11", "ClassicLayout", "cache_estimate", "classic_layout",
    "general_cache_sizes", "offslab_limit", "next_colour", "enable_cpucache",
    "SlabinfoRow", "format_slabinfo", "SlabView", "CacheView", "check_cache",
    "check_slab_pages", "check_disjoint",
]

# --------------------------------------------------------------------------------------
# Constants (include/linux/slab.h, 6.12, x86-64 with 4 KiB pages)
# --------------------------------------------------------------------------------------

ZERO_SIZE_PTR = 16  # ((void *)16): what kmalloc(0) returns; dereferencing it faults
KMALLOC_SHIFT_LOW = 3  # ilog2(KMALLOC_MIN_SIZE)
KMALLOC_MIN_SIZE = 1 << KMALLOC_SHIFT_LOW  # 8 bytes on x86 (ARCH_KMALLOC_MINALIGN = 8)
KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1  # 13
KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH  # 8 KiB: larger goes to the page allocator
KMALLOC_SHIFT_MAX = MAX_PAGE_ORDER + PAGE_SHIFT  # 22
KMALLOC_MAX_SIZE = 1 << KMALLOC_SHIFT_MAX  # 4 MiB: larger always fails
WORD = 8  # sizeof(void *) on x86-64
CACHE_LINE_SIZE = 64  # cache_line_size() = L1_CACHE_BYTES on x86-64

# slab_flags_t bits (enum _slab_flag_bits, 6.12, CONFIG_MEMCG=y, no DEBUG_OBJECTS, FAILSLAB,
# KASAN_GENERIC or KFENCE, so the bit numbers below hold for that configuration)
SLAB_CONSISTENCY_CHECKS = 1 << 0
SLAB_RED_ZONE = 1 << 1
SLAB_POISON = 1 << 2
SLAB_KMALLOC = 1 << 3  # set by create_kmalloc_cache(): the kmalloc caches
SLAB_HWCACHE_ALIGN = 1 << 4
SLAB_CACHE_DMA = 1 << 5
SLAB_CACHE_DMA32 = 1 << 6
SLAB_STORE_USER = 1 << 7
SLAB_PANIC = 1 << 8
SLAB_TYPESAFE_BY_RCU = 1 << 9
SLAB_NO_MERGE = 1 << 12
SLAB_ACCOUNT = 1 << 13
SLAB_RECLAIM_ACCOUNT = 1 << 15

#: flags kmem models; the debug flags (red zones, poisoning, user tracking) change the
#: object layout and are not modelled, so kmem_cache_create refuses them
SLAB_SUPPORTED_FLAGS = (SLAB_KMALLOC | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_CACHE_DMA32
                        | SLAB_PANIC | SLAB_NO_MERGE | SLAB_ACCOUNT | SLAB_RECLAIM_ACCOUNT)

# mm/internal.h (6.12): the gfp bits a slab passes on to the page allocator, and the bits
# a slab allocation must not carry
GFP_RECLAIM_MASK = (__GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN
                    | __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC
                    | __GFP_NOMEMALLOC)
GFP_CONSTRAINT_MASK = __GFP_HARDWALL | __GFP_THISNODE
#: __GFP_BITS_SHIFT = ___GFP_LAST_BIT: 25 with CONFIG_SLAB_OBJ_EXT (selected by MEMCG; bit 24
#: is __GFP_NO_OBJ_EXT), no KASAN_HW_TAGS and no LOCKDEP (include/linux/gfp_types.h, 6.12)
GFP_BITS_SHIFT = 25
GFP_SLAB_BUG_MASK = (__GFP_DMA32 | __GFP_HIGHMEM
                     | (((1 << GFP_T_BITS) - 1) & ~((1 << GFP_BITS_SHIFT) - 1)))

MAX_OBJS_PER_PAGE = 32767  # mm/slub.c: slab->objects is a 15-bit field
MIN_PARTIAL = 5  # mm/slub.c: min_partial bounds
MAX_PARTIAL = 10


def slab_want_init_on_alloc(gfp: int, init_on_alloc: bool, *, ctor: bool, flags: int) -> bool:
    """``slab_want_init_on_alloc`` (mm/slab.h of 6.12, 684-695): with ``init_on_alloc`` an
    object is zeroed unless its cache has a constructor (never) or SLAB_TYPESAFE_BY_RCU /
    SLAB_POISON (only with __GFP_ZERO); without it, only with __GFP_ZERO."""
    zero = bool(gfp & __GFP_ZERO)
    if init_on_alloc:
        if ctor:
            return False
        if flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON):
            return zero
        return True
    return zero


def zero_or_null_ptr(ptr: int) -> bool:
    """``ZERO_OR_NULL_PTR(x)``: ``(unsigned long)x <= (unsigned long)ZERO_SIZE_PTR``."""
    return ptr <= ZERO_SIZE_PTR


def fls(x: int) -> int:
    """``fls(x)``: the 1-based position of the highest set bit, 0 for 0 (include/asm-generic)."""
    return x.bit_length()


def ilog2(x: int) -> int:
    """``ilog2(x)`` for x >= 1."""
    return x.bit_length() - 1


def get_order(size: int) -> int:
    """``get_order(size)`` (include/asm-generic/getorder.h): the smallest order whose
    block holds ``size`` bytes; ``size`` must be >= 1."""
    if size < 1:
        raise InvalidArgument(f"get_order({size}) is undefined")
    return max(0, fls((size - 1) >> PAGE_SHIFT))


def align_up(x: int, a: int) -> int:
    """``ALIGN(x, a)`` for a power of two ``a``."""
    return (x + a - 1) & ~(a - 1)


def is_power_of_2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


# --------------------------------------------------------------------------------------
# kmalloc size classes (SLUB, 6.x)
# --------------------------------------------------------------------------------------

#: kmalloc_info[]: index -> (object size, short name), mm/slab_common.c 6.12
KMALLOC_INFO: dict[int, tuple[int, str]] = {
    0: (0, "0"), 1: (96, "96"), 2: (192, "192"), 3: (8, "8"), 4: (16, "16"), 5: (32, "32"),
    6: (64, "64"), 7: (128, "128"), 8: (256, "256"), 9: (512, "512"), 10: (1024, "1k"),
    11: (2048, "2k"), 12: (4096, "4k"), 13: (8192, "8k"), 14: (16384, "16k"),
    15: (32768, "32k"), 16: (65536, "64k"), 17: (131072, "128k"), 18: (262144, "256k"),
    19: (524288, "512k"), 20: (1048576, "1M"), 21: (2097152, "2M"),
}


def kmalloc_index(size: int, kmalloc_min_size: int = KMALLOC_MIN_SIZE) -> int:
    """``__kmalloc_index(size)`` (include/linux/slab.h, 6.12): 0 for 0; 1 for 65..96; 2 for
    129..192; otherwise n for 2**(n-1)+1 .. 2**n, with everything <= KMALLOC_MIN_SIZE at
    KMALLOC_SHIFT_LOW. Sizes above 2 MiB are a BUG in the kernel (InvalidArgument here)."""
    if size < 0:
        raise InvalidArgument(f"size must be >= 0, got {size}")
    if size == 0:
        return 0
    if size <= kmalloc_min_size:
        return ilog2(kmalloc_min_size)
    if kmalloc_min_size <= 32 and 64 < size <= 96:
        return 1
    if kmalloc_min_size <= 64 and 128 < size <= 192:
        return 2
    if size > 2 * 1024 * 1024:
        raise InvalidArgument(f"kmalloc_index({size}): BUG, no kmalloc cache index above 2 MiB")
    return max(3, fls(size - 1))


def kmalloc_size_index_table(kmalloc_min_size: int = KMALLOC_MIN_SIZE) -> tuple[int, ...]:
    """``kmalloc_size_index[24]`` after ``setup_kmalloc_cache_index_table()`` (6.12): entry
    ``(size - 1) // 8`` gives the cache index for sizes 1..192. With KMALLOC_MIN_SIZE >= 64
    the 96 entries go to 128 (index 7); with >= 128 the 192 entries to 256 (index 8)."""
    if not is_power_of_2(kmalloc_min_size) or kmalloc_min_size > 256:
        raise InvalidArgument("KMALLOC_MIN_SIZE must be a power of two <= 256")
    table = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2]
    for i in range(8, kmalloc_min_size, 8):
        if (i - 1) // 8 >= len(table):
            break
        table[(i - 1) // 8] = ilog2(kmalloc_min_size)
    if kmalloc_min_size >= 64:
        for i in range(64 + 8, 96 + 1, 8):
            table[(i - 1) // 8] = 7
    if kmalloc_min_size >= 128:
        for i in range(128 + 8, 192 + 1, 8):
            table[(i - 1) // 8] = 8
    return tuple(table)


def kmalloc_slab_index(size: int, kmalloc_min_size: int = KMALLOC_MIN_SIZE) -> int:
    """``kmalloc_slab(size, ...)`` (mm/slab.h, 6.12) as an index into kmalloc_caches[type]:
    ``kmalloc_size_index[size_index_elem(size)]`` for size <= 192, else ``fls(size - 1)``.
    Defined for 1 <= size <= KMALLOC_MAX_CACHE_SIZE (the caller checks)."""
    if not 1 <= size <= KMALLOC_MAX_CACHE_SIZE:
        raise InvalidArgument(f"kmalloc_slab: size {size} is outside 1..{KMALLOC_MAX_CACHE_SIZE}")
    if size <= 192:
        return kmalloc_size_index_table(kmalloc_min_size)[(size - 1) // 8]
    return fls(size - 1)


class KmallocType(Enum):
    """``enum kmalloc_cache_type`` (6.12, CONFIG_ZONE_DMA=y, CONFIG_MEMCG=y, no random
    kmalloc caches): the cache family a gfp mask selects, with its name prefix."""

    NORMAL = "kmalloc-"
    RECLAIM = "kmalloc-rcl-"
    DMA = "dma-kmalloc-"
    CGROUP = "kmalloc-cg-"

    @property
    def prefix(self) -> str:
        return self.value


def kmalloc_type(gfp: int) -> KmallocType:
    """``kmalloc_type(flags)`` (include/linux/slab.h, 6.12): NORMAL unless one of
    __GFP_RECLAIMABLE, __GFP_DMA, __GFP_ACCOUNT is set; then __GFP_DMA wins, then
    __GFP_RECLAIMABLE, then __GFP_ACCOUNT."""
    if gfp & (__GFP_RECLAIMABLE | __GFP_DMA | __GFP_ACCOUNT) == 0:
        return KmallocType.NORMAL
    if gfp & __GFP_DMA:
        return KmallocType.DMA
    if gfp & __GFP_RECLAIMABLE:
        return KmallocType.RECLAIM
    return KmallocType.CGROUP


def kmalloc_cache_name(index: int, ktype: KmallocType = KmallocType.NORMAL) -> str:
    """The name from ``kmalloc_info[index].name[type]`` (e.g. ``kmalloc-96``, ``kmalloc-cg-1k``)."""
    return ktype.prefix + KMALLOC_INFO[index][1]


def kmalloc_caches(kmalloc_min_size: int = KMALLOC_MIN_SIZE) -> tuple[int, ...]:
    """The indexes ``create_kmalloc_caches()`` creates for each type, in creation order:
    1 (96) if KMALLOC_MIN_SIZE <= 32, 2 (192) if <= 64, then KMALLOC_SHIFT_LOW..SHIFT_HIGH."""
    out = []
    if kmalloc_min_size <= 32:
        out.append(1)
    if kmalloc_min_size <= 64:
        out.append(2)
    out.extend(range(ilog2(kmalloc_min_size), KMALLOC_SHIFT_HIGH + 1))
    return tuple(out)


def kmalloc_size_roundup(size: int) -> int:
    """``kmalloc_size_roundup(size)`` (mm/slab_common.c, 6.12): the object size of the cache
    for 1..8 KiB, whole pages up to KMALLOC_MAX_SIZE, and ``size`` itself otherwise."""
    if 0 < size <= KMALLOC_MAX_CACHE_SIZE:
        return KMALLOC_INFO[kmalloc_slab_index(size)][0]
    if 0 < size <= KMALLOC_MAX_SIZE:
        return PAGE_SIZE << get_order(size)
    return size


@dataclass(frozen=True)
class KmallocDecision:
    """Where ``kmalloc(size, gfp)`` goes (``__do_kmalloc_node``, 6.12).

    ``kind`` is ``"zero"`` (ZERO_SIZE_PTR), ``"slab"`` (a kmalloc cache), ``"large"``
    (the page allocator with __GFP_COMP at ``order``) or ``"too-large"`` (above
    KMALLOC_MAX_SIZE: the page allocator refuses the order and kmalloc returns NULL).
    ``bytes_alloc`` is what the kmalloc tracepoint reports. ``reasons`` says why, step by step.
    """

    size: int
    gfp: int
    kind: str
    index: int | None
    cache: str | None
    bytes_alloc: int
    order: int | None
    ktype: KmallocType | None
    reasons: tuple[str, ...]


def kmalloc_decide(size: int, gfp: int = 0) -> KmallocDecision:
    """The decision of ``kmalloc(size, gfp)`` with the kernel's reasons (6.12 SLUB, x86-64)."""
    if size < 0:
        raise InvalidArgument(f"size must be >= 0, got {size}")
    if size > KMALLOC_MAX_CACHE_SIZE:
        order = get_order(size)
        why = [f"{size} > KMALLOC_MAX_CACHE_SIZE ({KMALLOC_MAX_CACHE_SIZE}): __kmalloc_large_node",
               f"get_order({size}) = {order}: alloc_pages(gfp | __GFP_COMP, {order})"]
        if size > KMALLOC_MAX_SIZE:
            why.append(f"order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER}): the page allocator "
                       f"fails (and warns unless __GFP_NOWARN); kmalloc returns NULL")
            return KmallocDecision(size, gfp, "too-large", None, None, 0, order, None,
                                   tuple(why))
        return KmallocDecision(size, gfp, "large", None, None, PAGE_SIZE << order, order, None,
                               tuple(why))
    if size == 0:
        return KmallocDecision(size, gfp, "zero", 0, None, 0, None, None,
                               ("size 0: kmalloc returns ZERO_SIZE_PTR ((void *)16), not NULL",))
    ktype = kmalloc_type(gfp)
    index = kmalloc_slab_index(size)
    obj = KMALLOC_INFO[index][0]
    why = []
    if size <= 192:
        why.append(f"{size} <= 192: kmalloc_size_index[({size} - 1) / 8 = {(size - 1) // 8}] "
                   f"= {index}")
    else:
        why.append(f"{size} > 192: fls({size} - 1) = {index}")
    why.append(f"kmalloc_info[{index}] is {obj} bytes: the smallest class >= {size}")
    if ktype is KmallocType.NORMAL:
        why.append("no __GFP_DMA, __GFP_RECLAIMABLE or __GFP_ACCOUNT: KMALLOC_NORMAL")
    else:
        flag = {KmallocType.DMA: "__GFP_DMA", KmallocType.RECLAIM: "__GFP_RECLAIMABLE",
                KmallocType.CGROUP: "__GFP_ACCOUNT"}[ktype]
        why.append(f"{flag} selects KMALLOC_{ktype.name} ({ktype.prefix}*)")
    return KmallocDecision(size, gfp, "slab", index, kmalloc_cache_name(index, ktype), obj, None,
                           ktype, tuple(why))


# --------------------------------------------------------------------------------------
# SLUB cache geometry (mm/slub.c, mm/slab_common.c, 6.12)
# --------------------------------------------------------------------------------------

def calculate_alignment(flags: int, align: int, size: int, *,
                        cache_line: int = CACHE_LINE_SIZE, word: int = WORD) -> int:
    """``calculate_alignment(flags, align, size)`` (mm/slab_common.c, 6.12): with
    SLAB_HWCACHE_ALIGN the cache line, halved while the object fits in half of it; never
    below ``align``; rounded up to a word."""
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = cache_line
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    return align_up(max(align, 1), word)


def order_objects(order: int, size: int) -> int:
    """``order_objects(order, size)``: ``(PAGE_SIZE << order) / size``."""
    return (PAGE_SIZE << order) // size


def calc_slab_order(size: int, min_order: int, max_order: int, fract_leftover: int) -> int:
    """``calc_slab_order()`` (mm/slub.c, 6.12): the smallest order from ``min_order`` to
    ``max_order`` whose leftover is at most 1/``fract_leftover`` of the slab; ``max_order + 1``
    when none is."""
    order = min_order
    while order <= max_order:
        slab_size = PAGE_SIZE << order
        if slab_size % size <= slab_size // fract_leftover:
            break
        order += 1
    return order


def slub_min_objects_default(nr_cpus: int = 1) -> int:
    """``calculate_order()``'s default ``min_objects = 4 * (fls(nr_cpus) + 1)`` (8 on one CPU)."""
    return 4 * (fls(nr_cpus) + 1)


def calculate_order(size: int, *, slub_min_objects: int = 0, nr_cpus: int = 1,
                    slub_min_order: int = 0,
                    slub_max_order: int = PAGE_ALLOC_COSTLY_ORDER) -> int:
    """``calculate_order(size)`` (mm/slub.c, 6.12): try waste fractions 1/16, 1/8, 1/4 (and
    1/2) between the order that holds ``min_objects`` and ``slub_max_order``; failing that,
    ``get_order(size)``; -1 (``-ENOSYS``) if even that exceeds MAX_PAGE_ORDER."""
    min_objects = slub_min_objects or slub_min_objects_default(nr_cpus)
    max_objects = max(order_objects(slub_max_order, size), 1)
    min_objects = min(min_objects, max_objects)
    min_order = max(slub_min_order, get_order(min_objects * size))
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    fraction = 16
    while fraction > 1:
        order = calc_slab_order(size, min_order, slub_max_order, fraction)
        if order <= slub_max_order:
            return order
        fraction //= 2
    order = get_order(size)
    return order if order <= MAX_PAGE_ORDER else -1


@dataclass(frozen=True)
class SlubLayout:
    """A SLUB cache's geometry (``struct kmem_cache`` fields after ``calculate_sizes``).

    ``size`` is the stride between objects (object size, word- and align-rounded, plus the
    free pointer when it cannot live inside the object); ``offset`` is where the free
    pointer sits in a free object; ``oo`` = (``order``, ``objects``) and ``min`` =
    (``min_order``, ``min_objects``) the preferred and fallback slab shapes.
    """

    object_size: int
    size: int
    align: int
    inuse: int
    offset: int
    order: int
    objects: int
    min_order: int
    min_objects: int
    min_partial: int
    allocflags: int


def slub_layout(object_size: int, align: int = 0, flags: int = 0, *, ctor: bool = False,
                nr_cpus: int = 1) -> SlubLayout:
    """``calculate_alignment`` + ``calculate_sizes`` + ``min_partial`` of ``do_kmem_cache_create``
    (6.12) without the debug options: the object rounded to a word; the free pointer in the
    middle of the object (``ALIGN_DOWN(object_size / 2, sizeof(void *))``), or after it when
    there is a constructor or SLAB_TYPESAFE_BY_RCU; the stride rounded to the alignment.
    kmalloc caches (SLAB_KMALLOC) are aligned to at least the largest power of two dividing
    their size (``create_boot_cache``)."""
    if flags & SLAB_KMALLOC:
        align = max(align, object_size & -object_size)
    align = calculate_alignment(flags, align, object_size)
    size = align_up(object_size, WORD)
    inuse = size
    if flags & SLAB_TYPESAFE_BY_RCU or ctor:
        offset = size
        size += WORD
    else:
        offset = (object_size // 2) & ~(WORD - 1)
    size = align_up(size, align)
    order = calculate_order(size, nr_cpus=nr_cpus)
    if order < 0:
        raise InvalidArgument(f"object size {object_size}: no slab order <= {MAX_PAGE_ORDER} fits")
    allocflags = __GFP_COMP
    if flags & SLAB_CACHE_DMA:
        allocflags |= __GFP_DMA
    if flags & SLAB_CACHE_DMA32:
        allocflags |= __GFP_DMA32
    if flags & SLAB_RECLAIM_ACCOUNT:
        allocflags |= __GFP_RECLAIMABLE
    min_partial = max(MIN_PARTIAL, min(MAX_PARTIAL, ilog2(size) // 2))
    return SlubLayout(object_size, size, align, inuse, offset, order, order_objects(order, size),
                      get_order(size), order_objects(get_order(size), size), min_partial,
                      allocflags)


def slub_new_slab_gfp(gfp: int, layout: SlubLayout) -> tuple[int, int]:
    """``new_slab``/``allocate_slab`` (mm/slub.c, 6.12): the gfp masks of the first attempt
    (order ``oo``, with __GFP_NOWARN | __GFP_NORETRY, no __GFP_NOFAIL, and without direct
    reclaim when it is a higher order than ``min``) and of the fallback (order ``min``).
    Only the reclaim and constraint bits of the caller's mask pass; the cache's allocflags
    (__GFP_COMP, the zone, __GFP_RECLAIMABLE) are added."""
    flags = (gfp & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)) | layout.allocflags
    first = (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL
    if first & __GFP_DIRECT_RECLAIM and layout.order > layout.min_order:
        first = (first | __GFP_NOMEMALLOC) & ~__GFP_RECLAIM
    return first, flags


# --------------------------------------------------------------------------------------
# Classic SLAB (mm/slab.c, 2.6.11)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlabEra:
    """The machine constants classic SLAB's arithmetic depends on (2.6.11, i386 by default).

    ``sizeof_slab`` is ``sizeof(struct slab)`` (list_head, colouroff, s_mem, inuse and a
    kmem_bufctl_t ``free``, padded to the word); ``bufctl`` is ``sizeof(kmem_bufctl_t)``
    (``unsigned short`` on i386 in 2.6.11); ``cache_line`` is L1_CACHE_BYTES (128 with
    CONFIG_X86_GENERIC / Pentium 4); ``slab_break_gfp_order`` is BREAK_GFP_ORDER_HI (1)
    on machines with more than 32 MB, else 0.
    """

    word: int = 4
    cache_line: int = 128
    sizeof_slab: int = 24
    bufctl: int = 2
    max_obj_order: int = 5  # MAX_OBJ_ORDER with CONFIG_MMU: objects up to 32 pages
    max_gfp_order: int = 5  # MAX_GFP_ORDER
    slab_break_gfp_order: int = 1

    @property
    def slab_limit(self) -> int:
        """SLAB_LIMIT = (kmem_bufctl_t)~0 - 2."""
        return (1 << (8 * self.bufctl)) - 3


SLAB_ERA_2_6_11 = SlabEra()

CFLGS_OFF_SLAB = 0x80000000  # mm/slab.c: management off-slab


def cache_estimate(gfporder: int, size: int, align: int, off_slab: bool,
                   era: SlabEra = SLAB_ERA_2_6_11) -> tuple[int, int]:
    """``cache_estimate()`` (mm/slab.c, 2.6.11): ``(num, left_over)`` for a slab of
    ``PAGE_SIZE << gfporder`` bytes: the largest ``i`` with
    ``i*size + ALIGN(base + i*extra, align) <= slab bytes`` where (base, extra) is
    (sizeof(struct slab), sizeof(kmem_bufctl_t)) on-slab and (0, 0) off-slab."""
    wastage = PAGE_SIZE << gfporder
    base, extra = (0, 0) if off_slab else (era.sizeof_slab, era.bufctl)
    i = 0
    while i * size + align_up(base + i * extra, align) <= wastage:
        i += 1
    if i > 0:
        i -= 1
    i = min(i, era.slab_limit)
    left_over = wastage - i * size - align_up(base + i * extra, align)
    return i, left_over


def slab_mgmt_size(num: int, align: int, era: SlabEra = SLAB_ERA_2_6_11) -> int:
    """On-slab management bytes: ``ALIGN(num * sizeof(kmem_bufctl_t) + sizeof(struct slab), align)``."""
    return align_up(num * era.bufctl + era.sizeof_slab, align)


@dataclass(frozen=True)
class ClassicLayout:
    """A classic SLAB cache after ``kmem_cache_create`` (2.6.11): object size (``objsize``,
    aligned), alignment, ``gfporder``, objects per slab (``num``), whether management is
    off-slab, ``slab_size`` (management bytes), ``left_over`` and the colouring
    (``colour_off`` bytes per colour, ``colour`` colours)."""

    objsize: int
    align: int
    gfporder: int
    num: int
    off_slab: bool
    slab_size: int
    left_over: int
    colour_off: int
    colour: int
    gfpflags: int


def _choose_order(size: int, align: int, off_slab: bool, reclaim: bool, era: SlabEra,
                  offslab_lim: int) -> tuple[int, int, int]:
    """The order loop of ``kmem_cache_create`` (2.6.11): ``(gfporder, num, left_over)``."""
    if reclaim and size <= PAGE_SIZE:
        num, left = cache_estimate(0, size, align, off_slab, era)
        return 0, num, left
    order = 0
    while True:
        num, left = cache_estimate(order, size, align, off_slab, era)
        if order >= era.max_gfp_order:
            break
        if num:
            if off_slab and num > offslab_lim:
                order -= 1  # "This num of objs will cause problems."
                num, left = cache_estimate(order, size, align, off_slab, era)
                break
            if order >= era.slab_break_gfp_order:
                break
            if left * 8 <= PAGE_SIZE << order:
                break  # acceptable internal fragmentation
        order += 1
    return order, num, left


def classic_layout(size: int, align: int = 0, flags: int = 0, *,
                   era: SlabEra = SLAB_ERA_2_6_11, offslab_lim: int | None = None) -> ClassicLayout:
    """``kmem_cache_create`` (mm/slab.c, 2.6.11) without debugging: word-round the size;
    alignment from SLAB_HWCACHE_ALIGN (cache line, halved while the object fits twice) or a
    word, raised to the caller's ``align``; management off-slab for objects of at least
    PAGE_SIZE/8; the order loop; management moved back on-slab when ``left_over`` has room
    for it; ``colour_off`` = max(cache line, align) and ``colour = left_over / colour_off``."""
    if offslab_lim is None:
        offslab_lim = offslab_limit(era)
    size = align_up(size, era.word)
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = era.cache_line
        while size <= ralign // 2:
            ralign //= 2
    else:
        ralign = era.word
    ralign = max(ralign, align)
    off_slab = size >= PAGE_SIZE >> 3
    size = align_up(size, ralign)
    order, num, left_over = _choose_order(size, ralign, off_slab,
                                          bool(flags & SLAB_RECLAIM_ACCOUNT), era, offslab_lim)
    if not num:
        raise InvalidArgument(f"kmem_cache_create: couldn't create cache (object size {size})")
    slab_size = slab_mgmt_size(num, ralign, era)
    if off_slab and left_over >= slab_size:
        off_slab = False
        left_over -= slab_size
    if off_slab:
        slab_size = num * era.bufctl + era.sizeof_slab
    colour_off = max(era.cache_line, ralign)
    gfpflags = __GFP_DMA if flags & SLAB_CACHE_DMA else 0
    return ClassicLayout(size, ralign, order, num, off_slab, slab_size, left_over, colour_off,
                         left_over // colour_off, gfpflags)


def general_cache_sizes(era: SlabEra = SLAB_ERA_2_6_11) -> tuple[int, ...]:
    """``malloc_sizes[]`` from include/linux/kmalloc_sizes.h (2.6.11, 4 KiB pages, MMU): 32,
    64, 96 (if L1_CACHE_BYTES < 64), 128, 192 (if L1_CACHE_BYTES < 128), 256 ... 131072."""
    sizes = [32, 64]
    if era.cache_line < 64:
        sizes.append(96)
    sizes.append(128)
    if era.cache_line < 128:
        sizes.append(192)
    sizes.extend(1 << s for s in range(8, 18))
    return tuple(sizes)


def offslab_limit(era: SlabEra = SLAB_ERA_2_6_11) -> int:
    """``offslab_limit`` after ``kmem_cache_init`` (2.6.11): for each general cache whose
    management ended up on-slab, ``(cs_size - sizeof(struct slab)) / sizeof(kmem_bufctl_t)``
    (the largest objects an off-slab slab descriptor, itself from a general cache, may track)."""
    limit = 0
    for cs_size in general_cache_sizes(era):
        layout = classic_layout(cs_size, 0, SLAB_HWCACHE_ALIGN, era=era, offslab_lim=limit)
        if not layout.off_slab:
            limit = (cs_size - era.sizeof_slab) // era.bufctl
    return limit


def general_cache_for(size: int, era: SlabEra = SLAB_ERA_2_6_11) -> int | None:
    """``__kmalloc`` / ``kmem_find_general_cachep`` (2.6.11): the first general cache size
    >= ``size``, or None (kmalloc returns NULL). 2.6.11 has no ZERO_SIZE_PTR: kmalloc(0)
    gets the smallest cache."""
    for cs in general_cache_sizes(era):
        if size <= cs:
            return cs
    return None


def general_cache_name(cs_size: int, dma: bool = False) -> str:
    """``size-N`` and ``size-N(DMA)`` (cache_names[] in mm/slab.c, 2.6.11)."""
    return f"size-{cs_size}(DMA)" if dma else f"size-{cs_size}"


def next_colour(colour_next: int, colour: int) -> tuple[int, int]:
    """``cache_grow`` (2.6.11): the colour this slab gets and the cache's next
    ``colour_next`` (incremented, wrapping to 0 at ``colour``)."""
    nxt = colour_next + 1
    if nxt >= colour:
        nxt = 0
    return colour_next, nxt


def enable_cpucache(objsize: int, *, smp: bool = False) -> tuple[int, int, int]:
    """``enable_cpucache`` (2.6.11): the per-CPU array's ``(limit, batchcount, shared)``:
    limit 1 / 8 / 24 / 54 / 120 by object size, batchcount ``(limit + 1) / 2``, shared 8 on
    SMP for objects up to a page and 0 on a uniprocessor."""
    if objsize > 131072:
        limit = 1
    elif objsize > PAGE_SIZE:
        limit = 8
    elif objsize > 1024:
        limit = 24
    elif objsize > 256:
        limit = 54
    else:
        limit = 120
    shared = 8 if smp and objsize <= PAGE_SIZE else 0
    return limit, (limit + 1) // 2, shared


def classic_grow_gfp(gfp: int, layout: ClassicLayout) -> int:
    """``cache_grow``/``kmem_getpages`` (2.6.11): the page request of a new slab: the
    caller's flags with the cache's ``gfpflags`` (GFP_DMA for a DMA cache) as the zone
    modifiers; kmem also drops __GFP_ZERO and __GFP_COMP, which 2.6.11 did not have."""
    return (gfp & ~(GFP_ZONEMASK | __GFP_ZERO | __GFP_COMP)) | layout.gfpflags


def classic_free_limit(batchcount: int, num: int, online_cpus: int = 1) -> int:
    """``free_limit = (1 + num_online_cpus()) * batchcount + num`` (2.6.11): above this many
    free objects in the lists, ``free_block`` destroys an empty slab instead of keeping it."""
    return (1 + online_cpus) * batchcount + num


# --------------------------------------------------------------------------------------
# /proc/slabinfo (mm/slab_common.c cache_show, 6.12; mm/slab.c s_show, 2.6.11)
# --------------------------------------------------------------------------------------

SLABINFO_HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor>"
    " : slabdata <active_slabs> <num_slabs> <sharedavail>\n")


@dataclass(frozen=True)
class SlabinfoRow:
    """One cache line of /proc/slabinfo (``struct slabinfo`` plus name and size)."""

    name: str
    active_objs: int
    num_objs: int
    objsize: int
    objperslab: int
    pagesperslab: int
    limit: int = 0
    batchcount: int = 0
    sharedfactor: int = 0
    active_slabs: int = 0
    num_slabs: int = 0
    sharedavail: int = 0


def format_slabinfo_row(r: SlabinfoRow) -> str:
    """``"%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"``."""
    return (f"{r.name:<17} {r.active_objs:>6} {r.num_objs:>6} {r.objsize:>6} "
            f"{r.objperslab:>4} {r.pagesperslab:>4} : tunables {r.limit:>4} {r.batchcount:>4} "
            f"{r.sharedfactor:>4} : slabdata {r.active_slabs:>6} {r.num_slabs:>6} "
            f"{r.sharedavail:>6}\n")


def format_slabinfo(rows: Iterable[SlabinfoRow]) -> str:
    """/proc/slabinfo: the version-2.1 header, then one line per cache (newest first, as the
    kernel walks ``slab_caches`` / ``cache_chain`` from its head)."""
    return SLABINFO_HEADER + "".join(format_slabinfo_row(r) for r in rows)


def parse_slabinfo(text: str) -> tuple[SlabinfoRow, ...]:
    """Read /proc/slabinfo back (version 2.1, without the statistics columns)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("slabinfo - version: 2.1"):
        raise InvalidArgument("not /proc/slabinfo version 2.1")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        try:
            name = parts[0]
            a = [int(x) for x in parts[1:6]]
            t = [int(x) for x in parts[8:11]]
            s = [int(x) for x in parts[13:16]]
        except (ValueError, IndexError):
            raise InvalidArgument(f"slabinfo line {n} does not parse: {line!r}") from None
        if parts[6:8] != [":", "tunables"] or parts[11:13] != [":", "slabdata"]:
            raise InvalidArgument(f"slabinfo line {n} does not parse: {line!r}")
        rows.append(SlabinfoRow(name, *a, *t, *s))
    return tuple(rows)


# --------------------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------------------

#: the lists a slab can be on. SLAB: full / partial / free; SLUB: "cpu" (the CPU slab,
#: frozen), "partial" (node partial list) and "full" (on no list without debugging)
SLAB_LISTS = ("full", "partial", "free", "cpu")


@dataclass(frozen=True)
class SlabView:
    """One slab as the invariants see it.

    ``addr`` is the address of its first page (``slab_address``), ``order`` its page
    order, ``s_mem`` its first object, ``num`` its object count; ``free`` the free object
    indexes in freelist order (for SLUB's CPU slab: the CPU freelist); ``inuse`` the
    slab's own counter; ``colour_offset`` the colour bytes before the objects (SLAB),
    ``mgmt`` the on-slab management bytes after them (SLAB on-slab), ``pfn`` the first pfn.
    """

    addr: int
    pfn: int
    order: int
    s_mem: int
    num: int
    free: tuple[int, ...]
    inuse: int
    list: str
    colour_offset: int = 0
    mgmt: int = 0

    @property
    def nbytes(self) -> int:
        return PAGE_SIZE << self.order


@dataclass(frozen=True)
class CacheView:
    """One cache as the invariants see it: its geometry, slabs, the objects its users hold
    (``live``) and the objects parked in the per-CPU array (``cpu_cached``, SLAB), and the
    counters the allocator keeps (``counters``; names follow the kernel: SLAB
    ``free_objects``; SLUB ``nr_slabs``, ``total_objects``, ``nr_partial``)."""

    name: str
    allocator: str
    size: int
    align: int
    slabs: tuple[SlabView, ...]
    live: frozenset[int]
    cpu_cached: tuple[int, ...] = ()
    counters: tuple[tuple[str, int], ...] = ()
    colour_off: int = 0
    colour: int = 0
    num: int = 0


def _slab_violations(c: CacheView, s: SlabView) -> list[Violation]:
    out: list[Violation] = []
    where = f"cache {c.name} slab {s.addr:#x}"
    if s.addr % s.nbytes:
        out.append(Violation("slab-aligned", f"{where}: not aligned to its {s.nbytes} bytes"))
    if len(set(s.free)) != len(s.free):
        out.append(Violation("object-once", f"{where}: an object is on the freelist twice"))
    if any(not 0 <= i < s.num for i in s.free):
        out.append(Violation("object-in-slab", f"{where}: freelist index outside 0..{s.num - 1}"))
    end = s.s_mem + s.num * c.size
    if s.s_mem < s.addr or end > s.addr + s.nbytes:
        out.append(Violation("object-in-slab",
                             f"{where}: objects [{s.s_mem:#x}, {end:#x}) leave the slab's pages"))
    if s.s_mem % c.align:
        out.append(Violation("object-aligned", f"{where}: first object {s.s_mem:#x} is not "
                                               f"{c.align}-byte aligned"))
    if c.size % c.align:
        out.append(Violation("object-aligned", f"{where}: stride {c.size} breaks alignment "
                                               f"{c.align}"))
    nfree = len(set(s.free))
    if c.allocator == "slab":
        if s.s_mem != s.addr + s.colour_offset + s.mgmt:
            out.append(Violation("colour-offset", f"{where}: objects start at {s.s_mem:#x}, not "
                                                  f"at slab + colour {s.colour_offset} + "
                                                  f"management {s.mgmt}"))
        if c.colour_off and (s.colour_offset % c.colour_off
                             or s.colour_offset // c.colour_off > max(c.colour - 1, 0)):
            out.append(Violation("colour-offset", f"{where}: colour offset {s.colour_offset} is "
                                                  f"not k * {c.colour_off} with k < {c.colour}"))
        if s.inuse != s.num - nfree:
            out.append(Violation("slab-counters", f"{where}: inuse {s.inuse} but "
                                                  f"{s.num - nfree} objects not on the freelist"))
        want = "full" if s.inuse == s.num else "free" if s.inuse == 0 else "partial"
        if s.list != want:
            out.append(Violation("slab-list", f"{where}: on slabs_{s.list} with {s.inuse} of "
                                              f"{s.num} in use (belongs on slabs_{want})"))
    else:
        if s.list == "cpu":
            if s.inuse != s.num:
                out.append(Violation("slab-counters", f"{where}: the frozen CPU slab must count "
                                                      f"all {s.num} objects in use"))
        else:
            if s.inuse != s.num - nfree:
                out.append(Violation("slab-counters", f"{where}: inuse {s.inuse} but "
                                                      f"{s.num - nfree} objects not free"))
            want = "full" if s.inuse == s.num else "partial"
            if s.list != want:
                out.append(Violation("slab-list", f"{where}: on {s.list} with {s.inuse} of "
                                                  f"{s.num} in use (belongs on {want})"))
    return out


def check_cache(c: CacheView) -> list[Violation]:
    """Every slab invariant of one cache:

    * each slab is aligned to its size; its objects lie inside its pages, are aligned and
      (SLAB) start at the slab's colour offset (plus on-slab management), the colour being
      a multiple of ``colour_off`` below ``colour``;
    * each object is on its slab's freelist at most once, and every object of the cache is
      exactly one of: free in its slab, parked in the CPU array (SLAB), held by a user;
    * each slab sits on the list its in-use count says (SLAB full / partial / free; SLUB
      partial or full, the CPU slab frozen with every object counted in use);
    * the cache's counters equal the sums over its slabs.
    """
    out: list[Violation] = []
    seen: dict[int, int] = {}
    for s in c.slabs:
        out.extend(_slab_violations(c, s))
        free = set(s.free)
        for i in range(s.num):
            if i not in free:
                seen[s.s_mem + i * c.size] = seen.get(s.s_mem + i * c.size, 0) + 1
    held = list(c.live) + list(c.cpu_cached)
    if len(set(c.cpu_cached)) != len(c.cpu_cached):
        out.append(Violation("object-once", f"cache {c.name}: an object is in the CPU array twice"))
    both = set(c.live) & set(c.cpu_cached)
    if both:
        out.append(Violation("object-once", f"cache {c.name}: {len(both)} object(s) both held "
                                            f"and in the CPU array, e.g. {min(both):#x}"))
    missing = set(held) - set(seen)
    if missing:
        out.append(Violation("object-in-slab", f"cache {c.name}: {len(missing)} held object(s) "
                                               f"are no allocated object of any slab, e.g. "
                                               f"{min(missing):#x}"))
    lost = set(seen) - set(held)
    if lost:
        out.append(Violation("object-once", f"cache {c.name}: {len(lost)} object(s) neither free "
                                            f"nor held, e.g. {min(lost):#x}"))
    counters = dict(c.counters)
    if c.allocator == "slab":
        want = {"free_objects": sum(len(set(s.free)) for s in c.slabs)}
    else:
        want = {"nr_slabs": len(c.slabs), "total_objects": sum(s.num for s in c.slabs),
                "nr_partial": sum(s.list == "partial" for s in c.slabs)}
    for key, value in want.items():
        if counters.get(key) != value:
            out.append(Violation("cache-counters", f"cache {c.name}: {key} is "
                                                   f"{counters.get(key)}, the slabs say {value}"))
    return out


def check_disjoint(caches: Sequence[CacheView]) -> list[Violation]:
    """No two slabs (of any caches) share a page."""
    spans = sorted((s.pfn, s.pfn + (1 << s.order), c.name) for c in caches for s in c.slabs)
    out = []
    for (a0, a1, an), (b0, _b1, bn) in zip(spans, spans[1:], strict=False):
        if b0 < a1:
            out.append(Violation("slab-disjoint", f"slabs of {an} (pfn {a0:#x}) and {bn} "
                                                  f"(pfn {b0:#x}) overlap"))
    return out


def check_slab_pages(caches: Sequence[CacheView],
                     is_allocated_block: Callable[[int, int], bool]) -> list[Violation]:
    """Every slab's pages are one block the page allocator has handed out
    (``is_allocated_block(pfn, order)``): a slab never holds a page the buddy allocator
    thinks is free."""
    return [Violation("slab-pages-allocated",
                      f"cache {c.name}: slab at pfn {s.pfn:#x} order {s.order} is not an "
                      f"allocated block of the page allocator")
            for c in caches for s in c.slabs if not is_allocated_block(s.pfn, s.order)]
