/*
 * kmem conform --kernel 2.6.11: the user-space shim 2.6.11's page allocator is
 * compiled against.
 *
 * Written for kmem (no kernel code here). It declares what the functions extracted
 * from a 2.6.11 tree (mm/page_alloc.c, lib/int_sqrt.c, kernel/printk.c) use: struct
 * page (flags, _count as a plain count, private, mapping, lru, a zone id), struct zone
 * and pglist_data with the fields those functions touch, struct per_cpu_pages, the list
 * helpers (list_del poisons), one node, NR_CPUS pagesets, an i386 PAGE_SIZE of 4 KiB,
 * no CONFIG_NUMA, CONFIG_HIGHMEM, no CONFIG_HUGETLB_PAGE, no CONFIG_PM. Reclaim is
 * absent: try_to_free_pages frees nothing, and out_of_memory / blk_congestion_wait
 * (the kernel's "retry for ever" paths) end the request with the answer "loop".
 * BUG_ON and bad_page are fatal: the harness prints "kernel BUG" and aborts.
 */
#ifndef KMEM_SHIM_2611_H
#define KMEM_SHIM_2611_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MMU 1
#define CONFIG_HIGHMEM 1
#define __init
#define __initdata
#define fastcall
#define FASTCALL(x) x
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define EXPORT_SYMBOL(x)
#define min(x, y) ((x) < (y) ? (x) : (y))
#define max(x, y) ((x) > (y) ? (x) : (y))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __FUNCTION__ __func__

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define MAX_ORDER 11
#define MAX_NR_ZONES 3
#define ZONE_DMA 0
#define ZONE_NORMAL 1
#define ZONE_HIGHMEM 2
#define GFP_ZONEMASK 0x03
#define GFP_ZONETYPES ((GFP_ZONEMASK + 1) / 2 + 1)
#ifndef NR_CPUS
#define NR_CPUS 4
#endif
#define MAX_NUMNODES 1
#define ZONES_SHIFT 2
#define NODES_SHIFT 0
#define SWAP_CLUSTER_MAX 32
#define DEF_PRIORITY 12
#define HZ 1000
#define WRITE 1
#define KERN_WARNING "<4>"
#define KERN_DEBUG "<7>"
#define KERN_CRIT "<2>"
#define KERN_EMERG "<0>"

/* include/linux/gfp.h (2.6.11): the values are the ABI the streams speak */
#define __GFP_DMA 0x01
#define __GFP_HIGHMEM 0x02
#define __GFP_WAIT 0x10
#define __GFP_HIGH 0x20
#define __GFP_IO 0x40
#define __GFP_FS 0x80
#define __GFP_COLD 0x100
#define __GFP_NOWARN 0x200
#define __GFP_REPEAT 0x400
#define __GFP_NOFAIL 0x800
#define __GFP_NORETRY 0x1000
#define __GFP_NO_GROW 0x2000
#define __GFP_COMP 0x4000
#define __GFP_ZERO 0x8000
#define GFP_USER (__GFP_WAIT | __GFP_IO | __GFP_FS)

struct list_head {
	struct list_head *next, *prev;
};
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)
#define LIST_POISON1 ((struct list_head *)0x100)
#define LIST_POISON2 ((struct list_head *)0x200)

static inline void INIT_LIST_HEAD(struct list_head *list)
{
	list->next = list;
	list->prev = list;
}

static inline void kmem_list_link(struct list_head *new, struct list_head *prev,
				  struct list_head *next)
{
	next->prev = new;
	new->next = next;
	new->prev = prev;
	prev->next = new;
}

static inline void list_add(struct list_head *new, struct list_head *head)
{
	kmem_list_link(new, head, head->next);
}

static inline void list_add_tail(struct list_head *new, struct list_head *head)
{
	kmem_list_link(new, head->prev, head);
}

static inline void list_del(struct list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
	entry->next = LIST_POISON1;
	entry->prev = LIST_POISON2;
}

#define list_empty(head) ((head)->next == (head))
#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)

/* struct page: what 2.6.11's allocator reads and writes */
enum kmem_pageflags {
	PG_locked, PG_error, PG_referenced, PG_uptodate, PG_dirty, PG_lru, PG_active, PG_slab,
	PG_highmem, PG_checked, PG_arch_1, PG_reserved, PG_private, PG_writeback, PG_nosave,
	PG_compound, PG_swapcache, PG_mappedtodisk, PG_reclaim, PG_nosave_free,
};
typedef unsigned long page_flags_t;

struct address_space;
struct page {
	page_flags_t flags;
	int count;            /* page_count(): the kernel keeps count - 1 in _count */
	int mapcount;
	unsigned long private;
	struct address_space *mapping;
	unsigned long index;
	struct list_head lru;
	int zone_id;          /* the kernel encodes it in flags (set_page_zone) */
};

#define PageReserved(p) (((p)->flags >> PG_reserved) & 1)
#define SetPageReserved(p) ((p)->flags |= 1UL << PG_reserved)
#define ClearPageReserved(p) ((p)->flags &= ~(1UL << PG_reserved))
#define __ClearPageReserved(p) ClearPageReserved(p)
#define PagePrivate(p) (((p)->flags >> PG_private) & 1)
#define __SetPagePrivate(p) ((p)->flags |= 1UL << PG_private)
#define __ClearPagePrivate(p) ((p)->flags &= ~(1UL << PG_private))
#define PageDirty(p) (((p)->flags >> PG_dirty) & 1)
#define ClearPageDirty(p) ((p)->flags &= ~(1UL << PG_dirty))
#define PageCompound(p) (((p)->flags >> PG_compound) & 1)
#define PageAnon(p) 0
#define page_count(p) ((p)->count)
#define set_page_count(p, v) ((p)->count = (v))
#define put_page_testzero(p) (--(p)->count == 0)
#define page_mapped(p) ((p)->mapcount >= 0)
#define page_mapcount(p) ((p)->mapcount + 1)
#define reset_page_mapcount(p) ((p)->mapcount = -1)
#define set_page_zone(p, z) ((p)->zone_id = (z))
#define NODEZONE(nid, zone) (zone)
#define prep_compound_page(page, order) do { } while (0)
#define destroy_compound_page(page, order) do { } while (0)
#define clear_highpage(page) ((void)(page))
#define kernel_map_pages(page, n, enable) do { } while (0)
#define arch_free_page(page, order) do { } while (0)
#define inc_page_state(member) do { } while (0)
#define mod_page_state(member, delta) do { } while (0)
#define mod_page_state_zone(zone, member, delta) do { } while (0)

/* locks, interrupts, CPUs: one thread; get_cpu() is the stream's CPU */
typedef int spinlock_t;
typedef int wait_queue_head_t;
#define DEFINE_SPINLOCK(x) spinlock_t x = 0
#define spin_lock_init(l) ((void)(l))
#define spin_lock_irqsave(l, f) ((void)(l), (f) = 0)
#define spin_unlock_irqrestore(l, f) ((void)(l), (void)(f))
#define local_irq_save(f) ((f) = 0)
#define local_irq_restore(f) ((void)(f))
#define init_waitqueue_head(q) ((void)(q))
extern int kmem_cpu;
#define get_cpu() (kmem_cpu)
#define put_cpu() do { } while (0)
#define smp_processor_id() (kmem_cpu)
#define might_sleep_if(c) do { } while (0)
#define cond_resched() do { } while (0)
#define in_interrupt() 0
#define ffz(x) ((unsigned long)__builtin_ctzl(~(unsigned long)(x)))
#define printk_ratelimit_state_lock(x) ((void)0)

struct per_cpu_pages {
	int count;
	int low;
	int high;
	int batch;
	struct list_head list;
};

struct per_cpu_pageset {
	struct per_cpu_pages pcp[2];
};

struct free_area {
	struct list_head free_list;
	unsigned long nr_free;
};

struct pglist_data;
struct zone {
	unsigned long free_pages;
	unsigned long pages_min, pages_low, pages_high;
	unsigned long lowmem_reserve[MAX_NR_ZONES];
	struct per_cpu_pageset pageset[NR_CPUS];
	spinlock_t lock;
	struct free_area free_area[MAX_ORDER];
	spinlock_t lru_lock;
	struct list_head active_list, inactive_list;
	unsigned long nr_scan_active, nr_scan_inactive, nr_active, nr_inactive;
	unsigned long pages_scanned;
	int all_unreclaimable;
	int temp_priority, prev_priority;
	wait_queue_head_t *wait_table;
	unsigned long wait_table_size, wait_table_bits;
	struct pglist_data *zone_pgdat;
	struct page *zone_mem_map;
	unsigned long zone_start_pfn;
	unsigned long spanned_pages, present_pages;
	char *name;
};

struct zonelist {
	struct zone *zones[MAX_NUMNODES * MAX_NR_ZONES + 1];
};

typedef struct pglist_data {
	struct zone node_zones[MAX_NR_ZONES];
	struct zonelist node_zonelists[GFP_ZONETYPES];
	int nr_zones;
	struct page *node_mem_map;
	unsigned long node_start_pfn, node_present_pages, node_spanned_pages;
	int node_id;
	wait_queue_head_t kswapd_wait;
	int kswapd_max_order;
	struct pglist_data *pgdat_next;
} pg_data_t;

extern pg_data_t kmem_pgdat;
extern struct page *kmem_mem_map;
extern struct zone *zone_table[];
#define NODE_DATA(nid) (&kmem_pgdat)
#define pgdat_list (&kmem_pgdat)
#define node_online(n) ((n) == 0)
#define for_each_pgdat(pgdat) for (pgdat = &kmem_pgdat; pgdat; pgdat = NULL)
#define for_each_zone(zone) \
	for (zone = kmem_pgdat.node_zones; zone < kmem_pgdat.node_zones + MAX_NR_ZONES; zone++)
#define zone_idx(zone) ((zone) - (zone)->zone_pgdat->node_zones)
#define is_highmem(zone) (zone_idx(zone) == ZONE_HIGHMEM)
#define page_zone(page) (zone_table[(page)->zone_id])
#define pfn_to_page(pfn) (kmem_mem_map + (pfn))
#define page_to_pfn(page) ((unsigned long)((page) - kmem_mem_map))
#define alloc_bootmem_node(pgdat, size) calloc(1, (size))
#define memmap_init(size, nid, zone, start_pfn) \
	memmap_init_zone((size), (nid), (zone), (start_pfn))

/* the task: current->comm and flags; PF_MEMALLOC and realtime set by the stream */
#define PF_MEMALLOC 0x00000800
#define TIF_MEMDIE 16
struct reclaim_state { unsigned long reclaimed_slab; };
struct task_struct {
	unsigned long flags;
	char comm[16];
	int rt;
	struct reclaim_state *reclaim_state;
};
extern struct task_struct kmem_task;
#define current (&kmem_task)
#define rt_task(p) ((p)->rt)
#define test_thread_flag(f) 0

/* no reclaim: try_to_free_pages frees nothing; the retry-for-ever paths end the request */
extern jmp_buf kmem_loop;
static inline int try_to_free_pages(struct zone **zones, unsigned int gfp, unsigned int order)
{
	(void)zones; (void)gfp; (void)order;
	return 0;
}
static inline void wakeup_kswapd(struct zone *zone, int order) { (void)zone; (void)order; }
static inline void out_of_memory(unsigned int gfp) { (void)gfp; longjmp(kmem_loop, 1); }
static inline long blk_congestion_wait(int rw, long timeout)
{
	(void)rw; (void)timeout;
	longjmp(kmem_loop, 2);
}
static inline void dump_stack(void) { }

extern unsigned long jiffies;
int printk(const char *fmt, ...);
void kmem_bug(const char *what, const char *file, int line);
#define BUG() kmem_bug("BUG()", __FILE__, __LINE__)
#define BUG_ON(c) do { if (unlikely(c)) kmem_bug(#c, __FILE__, __LINE__); } while (0)

/* functions the extracted text calls before it defines them */
static void bad_page(const char *function, struct page *page);
unsigned long int_sqrt(unsigned long x);
int printk_ratelimit(void);

#endif /* KMEM_SHIM_2611_H */
