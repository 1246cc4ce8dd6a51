/*
 * kmem conform --path: the driver around the kernel's whole allocation path.
 *
 * Written for kmem (no kernel code here). The generated translation unit is
 * path_shim.h + the functions extracted from the kernel + this file, so the calls
 * below reach the kernel's own rmqueue, rmqueue_buddy, free_unref_page (6.1:
 * free_the_page), drain_pages_zone, decay_pcp_high, unreserve_highatomic_pageblock,
 * reserve_highatomic_pageblock and setup_zone_pageset.
 *
 * One zone of NPAGES pages from pfn 0 on one node with NCPUS CPUs; the memmap is
 * padded to a MAX_PAGE_ORDER boundary with pages of another zone (page_is_buddy
 * refuses them); pages [0, RESERVED) are never freed. Boot as the kernel does it:
 * memmap_init_range marks every pageblock MOVABLE (set_pageblock_migratetype),
 * memblock_free_all frees the managed range in maximal aligned chunks, ascending,
 * each through __free_pages_ok(page, order, FPI_TO_TAIL) (what __free_pages_core
 * calls), then setup_zone_pageset sizes the per-CPU lists (zone_batchsize,
 * zone_highsize from the LOW watermark given at init).
 *
 * Requests, one line each; every answer is one line "RESULT STATE" where STATE is
 * the whole allocator state (see kmem_dump):
 *   i NPAGES RESERVED NCPUS PCP WMIN WLOW WHIGH  boot (PCP 0: rmqueue_buddy and
 *                                                free_one_page only, no pcp lists)
 *   a ORDER MT FLAGS CPU    get_page_from_freelist for one zone: rmqueue(); with
 *                           ALLOC_NOFRAGMENT a failure is retried without it; a
 *                           success with ALLOC_HIGHATOMIC calls
 *                           reserve_highatomic_pageblock. FLAGS are kmem's bits
 *                           (1 HIGHATOMIC, 2 OOM, 4 NON_BLOCK, 8 NOFRAGMENT,
 *                           16 KSWAPD). RESULT: the pfn or -1.
 *   f PFN ORDER CPU         __free_pages of a block allocated with that order.
 *   d CPU                   drain_pages_zone(cpu, zone)
 *   y CPU                   decay_pcp_high(zone, cpu's pcp) (6.7+); RESULT 0/1
 *   u MT FORCE              unreserve_highatomic_pageblock(ac, force), ac's
 *                           migratetype MT; RESULT 0/1
 *   s                       the state only (RESULT 0)
 */

struct page *kmem_mem_map;
struct zone kmem_zone;
int kmem_this_cpu, kmem_nr_cpus = 1;
static unsigned long kmem_npages, kmem_reserved, kmem_map_pages;
static unsigned char *kmem_held;      /* order + 1 of each allocated block's head */
static int kmem_pcp_on;

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

static void kmem_init(unsigned long npages, unsigned long reserved, int ncpus, int pcp,
		      unsigned long wmin, unsigned long wlow, unsigned long whigh)
{
	unsigned long top = 1UL << MAX_PAGE_ORDER;
	struct zone *zone = &kmem_zone;

	free(kmem_mem_map);
	free(kmem_held);
	if (zone->per_cpu_pageset)
		free(zone->per_cpu_pageset);
	if (zone->per_cpu_zonestats)
		free(zone->per_cpu_zonestats);
	free(zone->pageblock_flags);
	kmem_npages = npages;
	kmem_reserved = reserved;
	kmem_nr_cpus = ncpus;
	kmem_this_cpu = 0;
	kmem_pcp_on = pcp;
	kmem_map_pages = (npages + top - 1) / top * top + top;
	kmem_mem_map = calloc(kmem_map_pages, sizeof(struct page));
	kmem_held = calloc(npages, 1);
	memset(zone, 0, sizeof *zone);
	zone->pageblock_flags = calloc(kmem_map_pages / pageblock_nr_pages * NR_PAGEBLOCK_BITS
				       / BITS_PER_LONG + 1, sizeof(unsigned long));
	if (!kmem_mem_map || !kmem_held || !zone->pageblock_flags) {
		fprintf(stderr, "harness: out of memory for %lu pages\n", npages);
		exit(2);
	}
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		for (int mt = 0; mt < MIGRATE_TYPES; mt++)
			INIT_LIST_HEAD(&zone->free_area[o].free_list[mt]);
	zone->zone_start_pfn = 0;
	zone->spanned_pages = npages;
	zone->managed_pages = npages - reserved;
	zone->_watermark[WMARK_MIN] = wmin;
	zone->_watermark[WMARK_LOW] = wlow;
	zone->_watermark[WMARK_HIGH] = whigh;
	zone->_watermark[WMARK_PROMO] = whigh + (whigh - wlow);
	zone->initialized = 1;
	for (unsigned long pfn = 0; pfn < kmem_map_pages; pfn++) {
		struct page *page = &kmem_mem_map[pfn];
		INIT_LIST_HEAD(&page->buddy_list);
		page->zone_id = pfn < npages ? 0 : 1;
		page->refcount = pfn < reserved || pfn >= npages ? 1 : 0;
		/* memmap_init_range: each pageblock of the zone starts MOVABLE */
		if (pfn < npages && pageblock_aligned(pfn))
			set_pageblock_migratetype(page, MIGRATE_MOVABLE);
	}
	/* memblock_free_all -> __free_pages_memory -> __free_pages_core */
	for (unsigned long pfn = reserved; pfn < npages;) {
		unsigned int order = MAX_PAGE_ORDER;
		while (order > 0 && (pfn & ((1UL << order) - 1)))
			order--;
		while (pfn + (1UL << order) > npages)
			order--;
		__free_pages_ok(&kmem_mem_map[pfn], order, FPI_TO_TAIL);
		pfn += 1UL << order;
	}
	/* setup_per_cpu_pageset -> setup_zone_pageset (after mem_init) */
	setup_zone_pageset(zone);
}

static unsigned int kmem_alloc_flags(unsigned long bits)
{
	unsigned int f = ALLOC_WMARK_MIN;

	if (bits & 1)
		f |= ALLOC_HIGHATOMIC;
	if (bits & 2)
		f |= ALLOC_OOM;
	if (bits & 4)
		f |= ALLOC_NON_BLOCK;
	if (bits & 8)
		f |= ALLOC_NOFRAGMENT;
	if (bits & 16)
		f |= ALLOC_KSWAPD;
	return f;
}

static long kmem_alloc(unsigned int order, int mt, unsigned long bits)
{
	struct zone *zone = &kmem_zone;
	unsigned int alloc_flags = kmem_alloc_flags(bits);
	struct page *page;

	if (order > MAX_PAGE_ORDER || mt < 0 || mt >= MIGRATE_PCPTYPES)
		return -2;
retry:
	if (kmem_pcp_on)
		page = rmqueue(zone, zone, order, 0, alloc_flags, mt);
	else
		page = rmqueue_buddy(zone, zone, order, alloc_flags, mt);
	if (!page) {
		/* get_page_from_freelist: a failed ALLOC_NOFRAGMENT pass is retried without */
		if (alloc_flags & ALLOC_NOFRAGMENT) {
			alloc_flags &= ~ALLOC_NOFRAGMENT;
			goto retry;
		}
		return -1;
	}
	unsigned long pfn = kmem_pfn(page);
	VM_BUG_ON_PAGE(pfn >= kmem_npages || kmem_held[pfn], page);
	VM_BUG_ON_PAGE(page->refcount != 0 || PageBuddy(page), page);
	page->refcount = 1;
	kmem_held[pfn] = (unsigned char)(order + 1);
	if (mt == MIGRATE_MOVABLE)
		for (unsigned long i = 0; i < (1UL << order); i++)
			page[i].lru_flag = 1;
	if (alloc_flags & ALLOC_HIGHATOMIC) {
#ifdef KMEM_SHAPE_61
		reserve_highatomic_pageblock(page, zone, order);
#else
		reserve_highatomic_pageblock(page, order, zone);
#endif
	}
	return (long)pfn;
}

static void kmem_free(unsigned long pfn, unsigned int order)
{
	struct page *page;

	if (pfn >= kmem_npages || kmem_held[pfn] != order + 1) {
		fprintf(stderr, "harness: free(%#lx, %u) of a block that is not allocated\n", pfn,
			order);
		exit(3);
	}
	kmem_held[pfn] = 0;
	page = &kmem_mem_map[pfn];
	page->refcount = 0;
	for (unsigned long i = 0; i < (1UL << order); i++)
		page[i].lru_flag = 0;
	if (!kmem_pcp_on)
		__free_pages_ok(page, order, FPI_NONE);
	else
#ifdef KMEM_SHAPE_61
		free_the_page(page, order);
#else
		free_unref_page(page, order);
#endif
}

static long kmem_unreserve(int mt, int force)
{
	struct zonelist zl = { { { &kmem_zone, ZONE_NORMAL_IDX }, { NULL, 0 } } };
	struct alloc_context ac = { .zonelist = &zl, .preferred_zoneref = &zl._zonerefs[0],
				    .migratetype = mt, .highest_zoneidx = ZONE_NORMAL_IDX };

	return unreserve_highatomic_pageblock(&ac, force) ? 1 : 0;
}

static void kmem_list(const char *tag, struct list_head *head)
{
	printf(" %s:", tag);
	for (struct list_head *p = head->next; p != head; p = p->next) {
		struct page *page = list_entry(p, struct page, buddy_list);
		printf(p == head->next ? "%lu" : ",%lu", kmem_pfn(page));
	}
}

/*
 * The state, one line: Z:free,nr_free_highatomic (6.1: -),nr_reserved_highatomic,boost,boosted
 * N:nr_free[0..10] B:<pageblock types> then each non-empty free list as L<o>.<mt>:pfns
 * (list order), each CPU's pageset as P<cpu>:count,high,high_min,high_max,batch,
 * free_count,flags,alloc_factor (6.1: count,high,batch,free_factor) and each non-empty
 * pcp list as Q<cpu>.<pindex>:pfns (list order).
 */
static void kmem_dump(void)
{
	struct zone *zone = &kmem_zone;
	char tag[32];

#ifdef KMEM_SHAPE_61
	/* 6.1 has no nr_free_highatomic (6.10+) */
	printf(" Z:%ld,-,%lu,%lu,%lu", zone->vm_stat[NR_FREE_PAGES],
	       zone->nr_reserved_highatomic, zone->watermark_boost,
	       (zone->flags >> ZONE_BOOSTED_WATERMARK) & 1);
#else
	printf(" Z:%ld,%lu,%lu,%lu,%lu", zone->vm_stat[NR_FREE_PAGES], zone->nr_free_highatomic,
	       zone->nr_reserved_highatomic, zone->watermark_boost,
	       (zone->flags >> ZONE_BOOSTED_WATERMARK) & 1);
#endif
	printf(" N:");
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		printf(o ? ",%lu" : "%lu", zone->free_area[o].nr_free);
	printf(" B:");
	for (unsigned long pfn = 0; pfn < kmem_npages; pfn += pageblock_nr_pages)
		printf("%lu", get_pfnblock_flags_mask(&kmem_mem_map[pfn], pfn, MIGRATETYPE_MASK));
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		for (int mt = 0; mt < MIGRATE_TYPES; mt++) {
			struct list_head *head = &zone->free_area[o].free_list[mt];
			if (list_empty(head))
				continue;
			snprintf(tag, sizeof tag, "L%d.%d", o, mt);
			kmem_list(tag, head);
		}
	if (kmem_pcp_on)
		for (int cpu = 0; cpu < kmem_nr_cpus; cpu++) {
			struct per_cpu_pages *pcp = per_cpu_ptr(zone->per_cpu_pageset, cpu);
#ifdef KMEM_SHAPE_61
			printf(" P%d:%d,%d,%d,%d", cpu, pcp->count, pcp->high, pcp->batch,
			       pcp->free_factor);
#else
			printf(" P%d:%d,%d,%d,%d,%d,%d,%d,%d", cpu, pcp->count, pcp->high,
			       pcp->high_min, pcp->high_max, pcp->batch, pcp->free_count,
			       pcp->flags, pcp->alloc_factor);
#endif
			for (int i = 0; i < NR_PCP_LISTS; i++) {
				if (list_empty(&pcp->lists[i]))
					continue;
				snprintf(tag, sizeof tag, "Q%d.%d", cpu, i);
				kmem_list(tag, &pcp->lists[i]);
			}
		}
	printf("\n");
}

int main(void)
{
	char line[256];
	unsigned long a, b, c, d, e, f, g;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while (fgets(line, sizeof line, stdin)) {
		long result = 0;

		if (sscanf(line, "i %lu %lu %lu %lu %lu %lu %lu", &a, &b, &c, &d, &e, &f, &g) == 7) {
			if (b >= a || c < 1 || c > KMEM_NR_CPUS) {
				fprintf(stderr, "harness: bad init %s", line);
				return 2;
			}
			kmem_init(a, b, (int)c, (int)d, e, f, g);
		} else if (sscanf(line, "a %lu %lu %lu %lu", &a, &b, &c, &d) == 4) {
			kmem_this_cpu = (int)(d % kmem_nr_cpus);
			result = kmem_alloc((unsigned int)a, (int)b, c);
		} else if (sscanf(line, "f %lu %lu %lu", &a, &b, &c) == 3) {
			kmem_this_cpu = (int)(c % kmem_nr_cpus);
			kmem_free(a, (unsigned int)b);
		} else if (sscanf(line, "d %lu", &a) == 1) {
			if (kmem_pcp_on)
				drain_pages_zone((unsigned int)(a % kmem_nr_cpus), &kmem_zone);
		} else if (sscanf(line, "y %lu", &a) == 1) {
#ifdef KMEM_SHAPE_61
			result = -2;   /* 6.1 has no decay_pcp_high */
#else
			if (kmem_pcp_on)
				result = decay_pcp_high(&kmem_zone,
					per_cpu_ptr(kmem_zone.per_cpu_pageset, a % kmem_nr_cpus));
#endif
		} else if (sscanf(line, "u %lu %lu", &a, &b) == 2) {
			result = kmem_unreserve((int)a, (int)b);
		} else if (line[0] == 's') {
			result = 0;
		} else if (line[0] == 'q') {
			break;
		} else {
			fprintf(stderr, "harness: unknown request %s", line);
			return 2;
		}
		printf("%ld", result);
		kmem_dump();
		fflush(stdout);
	}
	return 0;
}
