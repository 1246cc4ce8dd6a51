"""Page-size and order constants (include/linux/mmzone.h, include/asm-generic/page.h, 6.x)."""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT  # 4 KiB

MAX_PAGE_ORDER = 10  # inclusive since 6.4/6.8: largest block 4 MiB with 4 KiB pages
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1  # 11 free_area[] entries, orders 0..10
MAX_ORDER_NR_PAGES = 1 << MAX_PAGE_ORDER  # 1024 pages
PAGE_ALLOC_COSTLY_ORDER = 3  # orders above this are "costly" (give up earlier)

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
