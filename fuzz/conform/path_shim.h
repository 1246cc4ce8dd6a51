/*
 * kmem conform --path: the user-space shim the kernel's whole allocation path is
 * compiled against.
 *
 * Written for kmem (no kernel code here). It gives the functions extracted from
 * mm/page_alloc.c, mm/internal.h and include/linux/mmzone.h (pageblock bits, free
 * lists, __free_one_page, expand, __rmqueue and its fallbacks, the highatomic
 * reserve, the per-CPU lists, the pageset sizing) the types and helpers they use:
 * struct page (flags, buddy_list/pcp_list, private, refcount, zone id, PG_lru, the
 * 6.1 pcp migratetype cache in ->index), struct zone (free_area[], pageblock_flags,
 * watermarks, per_cpu_pageset, flags, the highatomic counters), struct
 * per_cpu_pages of the kernel at hand (KMEM_SHAPE_612 or KMEM_SHAPE_61), the list
 * helpers (list_del poisons), one zone on one node, NR_CPUS CPUs without locks.
 * Configuration as Debian amd64 builds it: x86-64 (MAX_PAGE_ORDER 10, pageblock_order 9),
 * CONFIG_TRANSPARENT_HUGEPAGE=y, CONFIG_PCP_BATCH_SCALE_MAX 5, CONFIG_CMA unset (the
 * CMA list exists in kmem's numbering but no pageblock is ever CMA), no
 * debug_pagealloc, no page reporting, no shuffling, no compaction capture.
 * VM_BUG_ON*, VM_WARN* and WARN_ON_ONCE are always on and fatal: "kernel BUG" on
 * stderr, abort().
 */
#ifndef KMEM_PATH_SHIM_H
#define KMEM_PATH_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef int8_t s8;
typedef unsigned int gfp_t;
typedef int fpi_t;
typedef struct { int dummy; } spinlock_t;
typedef struct { int dummy; } nodemask_t;

#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#define __meminit
#define __init
#define __read_mostly
#define __maybe_unused __attribute__((unused))
#define __no_sanitize_memory
#define __force
#define ____cacheline_aligned_in_smp
#define fallthrough __attribute__((fallthrough))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (x)
#define WRITE_ONCE(x, v) ((x) = (v))
#define BUILD_BUG_ON(cond) _Static_assert(!(cond), #cond)
#define BITS_PER_LONG 64
#define EXPORT_SYMBOL(x)
#define EXPORT_SYMBOL_GPL(x)

#define min(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })
#define min_t(type, a, b) min((type)(a), (type)(b))
#define max_t(type, a, b) max((type)(a), (type)(b))
#define max3(a, b, c) max(max(a, b), c)
#define clamp(v, lo, hi) min(max(v, lo), hi)
#define clamp_t(type, v, lo, hi) min_t(type, max_t(type, v, lo), hi)
#define ALIGN(x, a) (((x) + (a) - 1) / (a) * (a))
#define ALIGN_DOWN(x, a) ((x) / (a) * (a))
#define IS_ALIGNED(x, a) (((x) & ((a) - 1)) == 0)
#define mult_frac(x, n, d) ({ __typeof__(x) q = (x) / (d); __typeof__(x) r = (x) % (d); \
			      (q * (n)) + ((r * (n)) / (d)); })
#define SZ_1M (1UL << 20)
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define IS_ENABLED(option) KMEM_ENABLED_##option
#define KMEM_ENABLED_CONFIG_CMA 0
#define KMEM_ENABLED_CONFIG_MEMORY_HOTPLUG 0

static inline unsigned long rounddown_pow_of_two(unsigned long n)
{
	return 1UL << (63 - __builtin_clzl(n));
}

/* include/linux/mmzone.h, x86-64 */
#define MAX_PAGE_ORDER 10                    /* 6.4+ name, inclusive */
#define NR_PAGE_ORDERS (MAX_PAGE_ORDER + 1)
#define MAX_ORDER 11                         /* before 6.4: exclusive */
#define pageblock_order 9                    /* HPAGE_PMD_ORDER on x86-64 */
#define pageblock_nr_pages (1UL << pageblock_order)
#define pageblock_start_pfn(pfn) ALIGN_DOWN((pfn), pageblock_nr_pages)
#define pageblock_end_pfn(pfn) ALIGN((pfn) + 1, pageblock_nr_pages)
#define pageblock_aligned(pfn) IS_ALIGNED((unsigned long)(pfn), pageblock_nr_pages)
#define HPAGE_PMD_ORDER 9
#define PAGE_ALLOC_COSTLY_ORDER 3
#define CONFIG_TRANSPARENT_HUGEPAGE 1
#define CONFIG_PCP_BATCH_SCALE_MAX 5
#define CONFIG_MMU 1
#define CONFIG_COMPACTION 1
#define CONFIG_MEMORY_ISOLATION 1

/* kmem's numbering (spec/migrate.py): CMA 4, ISOLATE 5 */
enum migratetype {
	MIGRATE_UNMOVABLE,
	MIGRATE_MOVABLE,
	MIGRATE_RECLAIMABLE,
	MIGRATE_PCPTYPES,
	MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES,
	MIGRATE_CMA,
	MIGRATE_ISOLATE,
	MIGRATE_TYPES
};
#define PB_migratetype_bits 3
#define NR_PAGEBLOCK_BITS 4
#define MIGRATETYPE_MASK ((1UL << PB_migratetype_bits) - 1)
#define NR_PCP_THP 2
#define NR_LOWORDER_PCP_LISTS (MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1))
#define NR_PCP_LISTS (NR_LOWORDER_PCP_LISTS + NR_PCP_THP)
#define BOOT_PAGESET_HIGH 0
#define BOOT_PAGESET_BATCH 1
#define MIN_PERCPU_PAGELIST_HIGH_FRACTION 8
#define PCPF_PREV_FREE_HIGH_ORDER (1 << 0)
#define PCPF_FREE_HIGH_BATCH (1 << 1)

enum zone_stat_item { NR_FREE_PAGES, NR_FREE_CMA_PAGES, NR_VM_ZONE_STAT_ITEMS };
enum zone_watermarks { WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO, NR_WMARK };
enum zone_flags { ZONE_BOOSTED_WATERMARK, ZONE_RECLAIM_ACTIVE, ZONE_BELOW_HIGH };
enum { ZONE_NORMAL_IDX = 2, ZONE_MOVABLE = 3 };

/* mm/internal.h: ALLOC_* (only the names matter inside this unit) */
#define ALLOC_WMARK_MIN 0
#define ALLOC_NO_WATERMARKS 0x04
#define ALLOC_OOM 0x08
#define ALLOC_NON_BLOCK 0x10
#define ALLOC_MIN_RESERVE 0x20
#define ALLOC_CPUSET 0x40
#define ALLOC_CMA 0x80
#define ALLOC_NOFRAGMENT 0x100
#define ALLOC_HIGHATOMIC 0x200
#define ALLOC_KSWAPD 0x800

#define FPI_NONE ((fpi_t)0)
#define FPI_SKIP_REPORT_NOTIFY ((fpi_t)(1 << 0))
#define FPI_TO_TAIL ((fpi_t)(1 << 1))

struct list_head {
	struct list_head *next, *prev;
};

#define LIST_POISON1 ((struct list_head *)0x100)
#define LIST_POISON2 ((struct list_head *)0x122)

static inline void INIT_LIST_HEAD(struct list_head *list)
{
	list->next = list;
	list->prev = list;
}

static inline void __list_add(struct list_head *new, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = new;
	new->next = next;
	new->prev = prev;
	prev->next = new;
}

static inline void list_add(struct list_head *new, struct list_head *head)
{
	__list_add(new, head, head->next);
}

static inline void list_add_tail(struct list_head *new, struct list_head *head)
{
	__list_add(new, head->prev, head);
}

static inline void list_del(struct list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
	entry->next = LIST_POISON1;
	entry->prev = LIST_POISON2;
}

static inline void list_move_tail(struct list_head *list, struct list_head *head)
{
	list->next->prev = list->prev;
	list->prev->next = list->next;
	list_add_tail(list, head);
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_last_entry(ptr, type, member) list_entry((ptr)->prev, type, member)
#define list_empty(head) ((head)->next == (head))
#define list_first_entry_or_null(ptr, type, member) \
	(!list_empty(ptr) ? list_first_entry(ptr, type, member) : NULL)

struct page {
	unsigned long flags;
	union {                        /* as in struct page: buddy_list/pcp_list share lru's place */
		struct list_head lru;
		struct list_head buddy_list;
		struct list_head pcp_list;
	};
	unsigned long index;           /* 6.1: the pcp migratetype cache */
	unsigned long private;
	int refcount;
	int zone_id;
	int buddy;     /* PG_buddy (a page type) */
	int lru_flag;  /* PG_lru: kmem marks every page of a MOVABLE allocation */
};

struct free_area {
	struct list_head free_list[MIGRATE_TYPES];
	unsigned long nr_free;
};

#ifdef KMEM_SHAPE_61
struct per_cpu_pages {
	spinlock_t lock;
	int count;
	int high;
	int batch;
	short free_factor;
	short expire;
	struct list_head lists[NR_PCP_LISTS];
};
#else
struct per_cpu_pages {
	spinlock_t lock;
	int count;
	int high;
	int high_min;
	int high_max;
	int batch;
	u8 flags;
	u8 alloc_factor;
	u8 expire;
	short free_count;
	struct list_head lists[NR_PCP_LISTS];
};
#endif

struct per_cpu_zonestat { s8 vm_stat_diff[NR_VM_ZONE_STAT_ITEMS]; s8 stat_threshold; };

struct zone {
	unsigned long _watermark[NR_WMARK];
	unsigned long watermark_boost;
	unsigned long nr_reserved_highatomic;
	unsigned long nr_free_highatomic;
	struct per_cpu_pages *per_cpu_pageset;
	struct per_cpu_zonestat *per_cpu_zonestats;
	int pageset_high_min, pageset_high_max, pageset_high, pageset_batch;
	unsigned long *pageblock_flags;
	unsigned long zone_start_pfn, spanned_pages, managed_pages;
	int initialized;
	spinlock_t lock;
	struct free_area free_area[NR_PAGE_ORDERS];
	unsigned long flags;
	long vm_stat[NR_VM_ZONE_STAT_ITEMS];
};

struct zoneref { struct zone *zone; int zone_idx; };
struct zonelist { struct zoneref _zonerefs[2]; };
struct alloc_context {
	struct zonelist *zonelist;
	nodemask_t *nodemask;
	struct zoneref *preferred_zoneref;
	int migratetype;
	int highest_zoneidx;
	bool spread_dirty_pages;
};
struct capture_control;

#define KMEM_NR_CPUS 8
extern struct page *kmem_mem_map;
extern struct zone kmem_zone;
extern int kmem_this_cpu, kmem_nr_cpus;
void kmem_bug(const char *what, const char *file, int line, const struct page *page);

#define VM_BUG_ON(cond) do { if (unlikely(cond)) kmem_bug(#cond, __FILE__, __LINE__, NULL); } while (0)
#define VM_BUG_ON_PAGE(cond, page) \
	do { if (unlikely(cond)) kmem_bug(#cond, __FILE__, __LINE__, page); } while (0)
#define VM_WARN_ONCE(cond, ...) \
	({ int __c = !!(cond); if (unlikely(__c)) kmem_bug(#cond, __FILE__, __LINE__, NULL); __c; })
#define VM_WARN_ON(cond) VM_WARN_ONCE(cond)
#define VM_WARN_ON_ONCE(cond) VM_WARN_ONCE(cond)
#define WARN_ON_ONCE(cond) VM_WARN_ONCE(cond)
#define lockdep_assert_held(lock) ((void)0)
#define spin_lock_irqsave(lock, flags) ((void)(flags))
#define spin_unlock_irqrestore(lock, flags) ((void)(flags))
#define spin_lock_init(lock) ((void)0)
#define mutex_lock(m) ((void)0)
#define mutex_unlock(m) ((void)0)
#define pcp_trylock_prepare(flags) ((void)(flags))
#define pcp_trylock_finish(flags) ((void)(flags))
#define pcp_spin_trylock(ptr) (&(ptr)[kmem_this_cpu])
#define pcp_spin_unlock(pcp) ((void)0)
#define pcp_spin_lock_maybe_irqsave(pcp, flags) ((void)(flags))
#define pcp_spin_unlock_maybe_irqrestore(pcp, flags) ((void)(flags))
#define per_cpu_ptr(ptr, cpu) (&(ptr)[cpu])
#define alloc_percpu(type) ((type *)calloc(KMEM_NR_CPUS, sizeof(type)))
#define for_each_possible_cpu(cpu) for ((cpu) = 0; (cpu) < kmem_nr_cpus; (cpu)++)
#define cpumask_weight(mask) (kmem_nr_cpus)
#define cpumask_of_node(nid) NULL
#define zone_to_nid(zone) 0
#define page_to_nid(page) 0
#define num_online_cpus() (kmem_nr_cpus)
#define for_each_zone_zonelist_nodemask(zone, z, zlist, highidx, nodemask) \
	for ((z) = &(zlist)->_zonerefs[0]; ((zone) = (z)->zone) != NULL; (z)++)

static inline unsigned long kmem_pfn(const struct page *page)
{
	return (unsigned long)(page - kmem_mem_map);
}
#define page_to_pfn(page) kmem_pfn(page)
#define pfn_to_page(pfn) (&kmem_mem_map[(pfn)])
#define page_zone(page) (&kmem_zone)
#define page_zonenum(page) ZONE_NORMAL_IDX
#define zone_idx(zone) ZONE_NORMAL_IDX
#define zone_managed_pages(zone) ((zone)->managed_pages)
#define zone_spans_pfn(zone, pfn) \
	((pfn) >= (zone)->zone_start_pfn && (pfn) < (zone)->zone_start_pfn + (zone)->spanned_pages)
#define low_wmark_pages(z) ((z)->_watermark[WMARK_LOW] + (z)->watermark_boost)
#define high_wmark_pages(z) ((z)->_watermark[WMARK_HIGH] + (z)->watermark_boost)
#define test_bit(nr, addr) ((*(addr) >> (nr)) & 1UL)
#define set_bit(nr, addr) (*(addr) |= 1UL << (nr))
#define clear_bit(nr, addr) (*(addr) &= ~(1UL << (nr)))
#define try_cmpxchg(ptr, oldp, new) \
	({ bool __ok = *(ptr) == *(oldp); if (__ok) *(ptr) = (new); else *(oldp) = *(ptr); __ok; })

#define page_private(page) ((page)->private)
#define set_page_private(page, v) ((page)->private = (v))
#define PageBuddy(page) ((page)->buddy)
#define __SetPageBuddy(page) \
	do { VM_BUG_ON_PAGE((page)->buddy, page); (page)->buddy = 1; } while (0)
#define __ClearPageBuddy(page) \
	do { VM_BUG_ON_PAGE(!(page)->buddy, page); (page)->buddy = 0; } while (0)
#define PageLRU(page) ((page)->lru_flag)
#define __PageMovable(page) false
#define PageHead(page) false
#define page_reported(page) false
#define __ClearPageReported(page) ((void)0)
#define page_is_guard(page) false
#define set_page_guard(...) false
#define clear_page_guard(...) ((void)0)
#define page_zone_id(page) ((page)->zone_id)
#define page_count(page) ((page)->refcount)
#define PAGE_FLAGS_CHECK_AT_PREP (~0UL)

#define is_migrate_isolate(mt) ((mt) == MIGRATE_ISOLATE)
#define is_migrate_cma(mt) false
#define is_migrate_highatomic(mt) ((mt) == MIGRATE_HIGHATOMIC)
#define is_migrate_highatomic_page(_page) \
	(get_pageblock_migratetype(_page) == MIGRATE_HIGHATOMIC)
#define migratetype_is_mergeable(mt) ((mt) < MIGRATE_PCPTYPES)
#define has_isolate_pageblock(zone) false
/* include/linux/mmzone.h: get_pageblock_migratetype() */
#define get_pageblock_migratetype(page) \
	get_pfnblock_flags_mask(page, page_to_pfn(page), MIGRATETYPE_MASK)
static int page_group_by_mobility_disabled;
static int watermark_boost_factor = 15000;   /* vm.watermark_boost_factor default */
static int percpu_pagelist_high_fraction;    /* vm.percpu_pagelist_high_fraction 0 */
#define is_kdump_kernel() false

#define zone_page_state(zone, item) ((zone)->vm_stat[item])
#define __mod_zone_page_state(zone, item, nr) ((zone)->vm_stat[item] += (nr))
/* include/linux/vmstat.h: __mod_zone_freepage_state (before 6.10) */
#define __mod_zone_freepage_state(zone, nr, mt) \
	do { __mod_zone_page_state(zone, NR_FREE_PAGES, nr); \
	     if (is_migrate_cma(mt)) __mod_zone_page_state(zone, NR_FREE_CMA_PAGES, nr); } while (0)
#define zone_is_initialized(zone) ((zone)->initialized)
#define __count_vm_events(item, n) ((void)0)
#define __count_zid_vm_events(item, zid, n) ((void)0)
#define zone_statistics(pref, z, n) ((void)0)
#define trace_mm_page_alloc_zone_locked(...) ((void)0)
#define trace_mm_page_pcpu_drain(...) ((void)0)
#define trace_mm_page_alloc_extfrag(...) ((void)0)
#define wakeup_kswapd(...) ((void)0)
#define check_new_pages(page, order) false
#define check_new_pcp(page, order) false
#define check_pcp_refill(page, order) false
#define bulkfree_pcp_prepare(page) false
#define free_pcp_prepare(page, order) true
#define free_pages_prepare(page, order, ...) true
#define zone_watermark_ok(...) (kmem_bug("zone_watermark_ok: ZONE_BELOW_HIGH is never set " \
	"by kmem's harness", __FILE__, __LINE__, NULL), false)

static inline bool bad_range(struct zone *zone, struct page *page)
{
	unsigned long pfn = kmem_pfn(page);

	return pfn < zone->zone_start_pfn || pfn >= zone->zone_start_pfn + zone->spanned_pages;
}

static inline struct capture_control *task_capc(struct zone *zone)
{
	(void)zone;
	return NULL;
}

#define compaction_capture(capc, page, order, mt) false
#define is_shuffle_order(order) false
#define shuffle_pick_tail() false
#define page_reporting_notify_free(order) ((void)0)

/* prototypes: the kernel's file declares some of these in headers */
unsigned long get_pfnblock_flags_mask(const struct page *page, unsigned long pfn,
				      unsigned long mask);
void set_pageblock_migratetype(struct page *page, int migratetype);
int find_suitable_fallback(struct free_area *area, unsigned int order, int migratetype,
			   bool only_stealable, bool *can_steal);
void setup_zone_pageset(struct zone *zone);
#ifndef KMEM_SHAPE_61
bool decay_pcp_high(struct zone *zone, struct per_cpu_pages *pcp);
void free_unref_page(struct page *page, unsigned int order);
#else
#define __GFP_NOFAIL 0x8000u
void free_unref_page(struct page *page, unsigned int order);
static void __free_pages_ok(struct page *page, unsigned int order, fpi_t fpi_flags);
int move_freepages_block(struct zone *zone, struct page *page, int migratetype,
			 int *num_movable);
#endif

#endif /* KMEM_PATH_SHIM_H */
