/*
 * kmem conform: the line-protocol driver around the kernel's buddy core.
 *
 * Written for kmem (no kernel code here). The generated translation unit is
 * shim.h + the functions extracted from the kernel + this file, so the calls
 * below reach the kernel's own __rmqueue_smallest and __free_one_page.
 * One zone of NPAGES pages from pfn 0; the memmap is padded to a MAX_PAGE_ORDER
 * boundary with pages of another zone (page_is_buddy refuses them); pages
 * [0, RESERVED) are never freed. Boot frees the managed range as memblock does
 * (__free_pages_memory: maximal aligned chunks, ascending) through
 * __free_one_page(..., FPI_TO_TAIL), as __free_pages_core does.
 * Requests: init, alloc, free, dump (docs/line-protocol.md) and `stat`, which
 * answers `free_pages N nr_free C0 C1 ... C10` (NR_FREE_PAGES and free_area[].nr_free).
 */
#include <string.h>

struct page *kmem_mem_map;
static struct zone kmem_zone;
static unsigned long kmem_npages, kmem_reserved, kmem_map_pages;
static unsigned char *kmem_held;      /* order + 1 of each allocated block's head */

void kmem_bug(const char *what, const char *file, int line, const struct page *page)
{
	if (page)
		fprintf(stderr, "kernel BUG at %s:%d: %s (pfn %#lx)\n", file, line, what,
			kmem_pfn(page));
	else
		fprintf(stderr, "kernel BUG at %s:%d: %s\n", file, line, what);
	fflush(stderr);
	abort();
}

static void kmem_init(unsigned long npages, unsigned long reserved)
{
	unsigned long top = 1UL << MAX_PAGE_ORDER;

	free(kmem_mem_map);
	free(kmem_held);
	kmem_npages = npages;
	kmem_reserved = reserved;
	kmem_map_pages = (npages + top - 1) / top * top + top;
	kmem_mem_map = calloc(kmem_map_pages, sizeof(struct page));
	kmem_held = calloc(npages, 1);
	if (!kmem_mem_map || !kmem_held) {
		fprintf(stderr, "harness: out of memory for %lu pages\n", npages);
		exit(2);
	}
	memset(&kmem_zone, 0, sizeof kmem_zone);
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		for (int mt = 0; mt < MIGRATE_TYPES; mt++)
			INIT_LIST_HEAD(&kmem_zone.free_area[o].free_list[mt]);
	kmem_zone.zone_start_pfn = 0;
	kmem_zone.spanned_pages = npages;
	kmem_zone.initialized = 1;
	for (unsigned long pfn = 0; pfn < kmem_map_pages; pfn++) {
		struct page *page = &kmem_mem_map[pfn];
		INIT_LIST_HEAD(&page->buddy_list);
		page->zone_id = pfn < npages ? 0 : 1;
		page->refcount = pfn < reserved || pfn >= npages ? 1 : 0;
	}
	/* memblock_free_all -> __free_pages_memory: maximal aligned chunks, ascending */
	for (unsigned long pfn = reserved; pfn < npages;) {
		unsigned int order = MAX_PAGE_ORDER;
		while (order > 0 && (pfn & ((1UL << order) - 1)))
			order--;
		while (pfn + (1UL << order) > npages)
			order--;
		__free_one_page(&kmem_mem_map[pfn], pfn, &kmem_zone, order, MIGRATE_MOVABLE,
				FPI_TO_TAIL);
		pfn += 1UL << order;
	}
}

static long kmem_alloc(unsigned int order)
{
	struct page *page;

	if (order > MAX_PAGE_ORDER)
		return -1;
	page = __rmqueue_smallest(&kmem_zone, order, MIGRATE_MOVABLE);
	if (!page)
		return -1;
#ifdef KMEM_CALLER_ACCOUNTS
	/* before 6.10 the caller (rmqueue_buddy) takes the pages off NR_FREE_PAGES */
	__mod_zone_freepage_state(&kmem_zone, -(1 << order), MIGRATE_MOVABLE);
#endif
	unsigned long pfn = kmem_pfn(page);
	VM_BUG_ON_PAGE(pfn >= kmem_npages || kmem_held[pfn], page);
	VM_BUG_ON_PAGE(page->refcount != 0 || PageBuddy(page), page);
	page->refcount = 1;
	kmem_held[pfn] = (unsigned char)(order + 1);
	return (long)pfn;
}

static void kmem_free(unsigned long pfn, unsigned int order)
{
	if (pfn >= kmem_npages || kmem_held[pfn] != order + 1) {
		fprintf(stderr, "harness: free(%#lx, %u) of a block that is not allocated\n", pfn,
			order);
		exit(3);
	}
	kmem_held[pfn] = 0;
	kmem_mem_map[pfn].refcount = 0;
	__free_one_page(&kmem_mem_map[pfn], pfn, &kmem_zone, order, MIGRATE_MOVABLE, FPI_NONE);
}

int main(void)
{
	char line[256];
	unsigned long a, b, c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof line, stdin)) {
		if (sscanf(line, "init %lu %lu %lu", &a, &b, &c) == 3) {
			if (b != MAX_PAGE_ORDER || c >= a) {
				fprintf(stderr, "harness: this kernel's MAX_PAGE_ORDER is %d; got init %lu "
					"%lu %lu\n", MAX_PAGE_ORDER, a, b, c);
				return 2;
			}
			kmem_init(a, c);
			printf("ok\n");
		} else if (sscanf(line, "alloc %lu", &a) == 1) {
			long pfn = kmem_alloc((unsigned int)a);
			if (pfn < 0)
				printf("fail\n");
			else
				printf("%ld\n", pfn);
		} else if (sscanf(line, "free %li %lu", (long *)&a, &b) == 2) {
			kmem_free(a, (unsigned int)b);
			printf("ok\n");
		} else if (!strncmp(line, "dump", 4)) {
			printf("blocks");
			for (int o = 0; o < NR_PAGE_ORDERS; o++) {
				struct list_head *head = &kmem_zone.free_area[o].free_list[MIGRATE_MOVABLE];
				for (struct list_head *p = head->next; p != head; p = p->next) {
					struct page *page = list_entry(p, struct page, buddy_list);
					printf(" %lu/%d", kmem_pfn(page), o);
				}
			}
			printf("\n");
		} else if (!strncmp(line, "stat", 4)) {
			printf("free_pages %ld nr_free", kmem_zone.vm_stat_free);
			for (int o = 0; o < NR_PAGE_ORDERS; o++)
				printf(" %lu", kmem_zone.free_area[o].nr_free);
			printf("\n");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			printf("# unknown request\nfail\n");
		}
	}
	return 0;
}
