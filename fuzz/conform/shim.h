/*
 * kmem conform: the user-space shim the kernel's buddy core is compiled against.
 *
 * Written for kmem (no kernel code here). It gives the extracted functions of
 * mm/page_alloc.c and mm/internal.h the few types and helpers they use: struct page
 * (flags, private, buddy_list, refcount, zone id), struct zone with free_area[],
 * struct list_head with the kernel's list helpers (list_del poisons), one migratetype,
 * no per-cpu lists, no guard pages, no page reporting, no compaction capture, no
 * shuffling. VM_BUG_ON, VM_BUG_ON_PAGE and VM_WARN_ONCE are always on and fatal:
 * the harness prints "kernel BUG" to stderr and aborts.
 */
#ifndef KMEM_SHIM_H
#define KMEM_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define __always_inline inline __attribute__((always_inline))
#define __force
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (x)
#define WRITE_ONCE(x, v) ((x) = (v))

/* include/linux/mmzone.h (x86-64 defaults: CONFIG_ARCH_FORCE_MAX_ORDER unset) */
#define MAX_PAGE_ORDER 10                    /* 6.4+ name, inclusive */
#define NR_PAGE_ORDERS (MAX_PAGE_ORDER + 1)
#define MAX_ORDER 11                         /* before 6.4: exclusive */
#define pageblock_order 9                    /* HPAGE_PMD_ORDER on x86-64 */

enum migratetype {
	MIGRATE_UNMOVABLE,
	MIGRATE_MOVABLE,
	MIGRATE_RECLAIMABLE,
	MIGRATE_PCPTYPES,
	MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES,
	MIGRATE_TYPES
};
enum zone_stat_item { NR_FREE_PAGES, NR_FREE_CMA_PAGES };
typedef int fpi_t;
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
#define list_empty(head) ((head)->next == (head))
#define list_first_entry_or_null(ptr, type, member) \
	(!list_empty(ptr) ? list_first_entry(ptr, type, member) : NULL)

struct page {
	unsigned long flags;
	union {                        /* as in struct page: buddy_list shares lru's place */
		struct list_head lru;
		struct list_head buddy_list;
	};
	unsigned long private;
	int refcount;
	int zone_id;
	int buddy;     /* PG_buddy (a page type since 4.x) */
};

struct free_area {
	struct list_head free_list[MIGRATE_TYPES];
	unsigned long nr_free;
};

struct zone {
	struct free_area free_area[NR_PAGE_ORDERS];
	long vm_stat_free;                  /* NR_FREE_PAGES */
	long nr_free_highatomic;
	unsigned long zone_start_pfn, spanned_pages;
	int initialized;
};

struct capture_control;

extern struct page *kmem_mem_map;
void kmem_bug(const char *what, const char *file, int line, const struct page *page);

#define VM_BUG_ON(cond) do { if (unlikely(cond)) kmem_bug(#cond, __FILE__, __LINE__, NULL); } while (0)
#define VM_BUG_ON_PAGE(cond, page) \
	do { if (unlikely(cond)) kmem_bug(#cond, __FILE__, __LINE__, page); } while (0)
#define VM_WARN_ONCE(cond, ...) \
	do { if (unlikely(cond)) kmem_bug(#cond, __FILE__, __LINE__, NULL); } while (0)
#define lockdep_assert_held(lock) ((void)0)

static inline unsigned long kmem_pfn(const struct page *page)
{
	return (unsigned long)(page - kmem_mem_map);
}

#define page_private(page) ((page)->private)
#define set_page_private(page, v) ((page)->private = (v))
#define PageBuddy(page) ((page)->buddy)
#define __SetPageBuddy(page) \
	do { VM_BUG_ON_PAGE((page)->buddy, page); (page)->buddy = 1; } while (0)
#define __ClearPageBuddy(page) \
	do { VM_BUG_ON_PAGE(!(page)->buddy, page); (page)->buddy = 0; } while (0)
#define page_reported(page) false
#define __ClearPageReported(page) ((void)0)
#define page_is_guard(page) false
#define set_page_guard(...) false
#define clear_page_guard(...) ((void)0)
#define page_zone_id(page) ((page)->zone_id)
#define page_count(page) ((page)->refcount)
#define PAGE_FLAGS_CHECK_AT_PREP (~0UL)

#define is_migrate_isolate(mt) false
#define is_migrate_cma(mt) false
#define is_migrate_highatomic(mt) ((mt) == MIGRATE_HIGHATOMIC)
#define migratetype_is_mergeable(mt) ((mt) < MIGRATE_PCPTYPES)
#define get_pageblock_migratetype(page) MIGRATE_MOVABLE
#define get_pfnblock_migratetype(page, pfn) MIGRATE_MOVABLE
#define set_pageblock_migratetype(page, mt) ((void)0)
#define change_pageblock_range(page, order, mt) \
	kmem_bug("change_pageblock_range with one migratetype", __FILE__, __LINE__, page)
#define set_pcppage_migratetype(page, mt) ((void)0)
#define __mod_zone_page_state(zone, item, nr) \
	do { if ((item) == NR_FREE_PAGES) (zone)->vm_stat_free += (nr); } while (0)
#define __mod_zone_freepage_state(zone, nr, mt) ((zone)->vm_stat_free += (nr))
#define zone_is_initialized(zone) ((zone)->initialized)

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
#define trace_mm_page_alloc_zone_locked(...) ((void)0)
#define pcp_allowed_order(order) true

#endif /* KMEM_SHIM_H */
