"""kmem.spec — the executable specification of Linux physical memory management.

Pure functions, frozen dataclasses and plain ints; no I/O and no third-party
imports. One module per concern, each opening with the kernel files it follows:

- ``constants``     page size, MAX_PAGE_ORDER (include/linux/mmzone.h)
- ``errors``        the one exception hierarchy (KmemError, KernelBug, ...)
- ``alloc_flags``   ALLOC_* (mm/internal.h)
- ``zones``         zone types, zone configurations, machine presets
- ``gfp``           gfp flags, gfp_zone, zonelists, show_gfp_flags
- ``watermarks``    min_free_kbytes, per-zone watermarks, lowmem_reserve
- ``buddy``         buddy arithmetic, invariants, alloc/free transitions
- ``procfs``        /proc/buddyinfo and /proc/zoneinfo formats
- ``x86_fault``     page-fault error code and the fault handler's decisions
- ``x86_32_layout`` the x86-32 kernel virtual memory map
- ``slab``          kmalloc classes, SLUB and 2.6.11 SLAB geometry, slabinfo, slab invariants
"""
