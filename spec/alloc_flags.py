"""ALLOC_* flags of the page allocator (mm/internal.h, 6.3+).

The low two bits select a watermark (ALLOC_WMARK_MIN/LOW/HIGH = WMARK_*); the
rest are independent flags. ALLOC_MIN_RESERVE equals __GFP_HIGH and ALLOC_KSWAPD
equals __GFP_KSWAPD_RECLAIM (the kernel asserts both with BUILD_BUG_ON).
"""

WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2
WMARK_PROMO = 3
NR_WMARK = 4

ALLOC_WMARK_MIN = WMARK_MIN
ALLOC_WMARK_LOW = WMARK_LOW
ALLOC_WMARK_HIGH = WMARK_HIGH
ALLOC_NO_WATERMARKS = 0x04  # don't check watermarks at all
ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1  # 0x03

ALLOC_OOM = 0x08  # an OOM victim may dip further (min -= min/2)
ALLOC_NON_BLOCK = 0x10  # caller cannot block (was ALLOC_HARDER)
ALLOC_MIN_RESERVE = 0x20  # __GFP_HIGH: may use part of the min reserve (was ALLOC_HIGH)
ALLOC_CPUSET = 0x40  # check the cpuset
ALLOC_CMA = 0x80  # may allocate from CMA pageblocks
ALLOC_NOFRAGMENT = 0x100  # avoid mixing pageblock types
ALLOC_HIGHATOMIC = 0x200  # may use the high-order atomic reserve
ALLOC_TRYLOCK = 0x400  # only try-lock the zone (recent kernels)
ALLOC_KSWAPD = 0x800  # may wake kswapd (= __GFP_KSWAPD_RECLAIM)

ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

ALLOC_FLAG_NAMES = {
    ALLOC_NO_WATERMARKS: "ALLOC_NO_WATERMARKS",
    ALLOC_OOM: "ALLOC_OOM",
    ALLOC_NON_BLOCK: "ALLOC_NON_BLOCK",
    ALLOC_MIN_RESERVE: "ALLOC_MIN_RESERVE",
    ALLOC_CPUSET: "ALLOC_CPUSET",
    ALLOC_CMA: "ALLOC_CMA",
    ALLOC_NOFRAGMENT: "ALLOC_NOFRAGMENT",
    ALLOC_HIGHATOMIC: "ALLOC_HIGHATOMIC",
    ALLOC_TRYLOCK: "ALLOC_TRYLOCK",
    ALLOC_KSWAPD: "ALLOC_KSWAPD",
}
WMARK_NAMES = ("ALLOC_WMARK_MIN", "ALLOC_WMARK_LOW", "ALLOC_WMARK_HIGH", "ALLOC_WMARK_PROMO")


def format_alloc_flags(flags: int) -> str:
    """Name the watermark index and every flag bit of ``flags``, joined by ``|``."""
    parts = [WMARK_NAMES[flags & ALLOC_WMARK_MASK]]
    parts += [name for bit, name in ALLOC_FLAG_NAMES.items() if flags & bit]
    return "|".join(parts)
