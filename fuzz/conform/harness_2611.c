/*
 * kmem conform --kernel 2.6.11: the line-protocol driver around 2.6.11's page allocator.
 *
 * Written for kmem (no kernel code here). The translation unit is shim_2611.h + the
 * functions and variables extracted from a 2.6.11 tree + this file, so the calls below
 * reach 2.6.11's own free_area_init_core, build_zonelists, __free_pages,
 * __alloc_pages, buffered_rmqueue, free_hot_cold_page, __drain_pages and
 * init_per_zone_pages_min.
 *
 * init NCPUS DMA NORMAL HIGH RS RE: one node from pfn 0 with zones of DMA, NORMAL and HIGH
 *   pages (any sizes: a zone need not start aligned), pfns [RS, RE) reserved; boot as
 *   2.6.11's i386 mem_init: free_all_bootmem over lowmem (a wholly free 32-page bitmap
 *   word is one __free_pages(page, 5), other free pages one __free_page each) then
 *   one_highpage_init for each highmem page, on CPU 0; then init_per_zone_pages_min.
 * alloc CPU GFP ORDER: __alloc_pages(GFP, ORDER, zonelist of GFP & GFP_ZONEMASK) on CPU,
 *   answers the pfn, "fail", or "loop" (the kernel would retry for ever: out_of_memory or
 *   blk_congestion_wait reached).
 * free CPU PFN ORDER COLD: __free_pages (COLD 0), or free_cold_page (COLD 1, order 0).
 * drain CPU: __drain_pages(CPU).
 * memalloc 0|1: current->flags PF_MEMALLOC.   rt 0|1: rt_task(current).
 * tick MS: MS jiffies pass (HZ 1000 on i386): printk_ratelimit refills.
 * dump: "zone Z free_pages N min L H reserve R0 R1 R2 nr_free C0..C10 lists P/O ..." per
 *   zone, then "pcp Z CPU HOT|COLD count low high batch : P ..." per list, then "end".
 * log: every line printk printed since the last log (prefix stripped), then "end".
 */

struct page *kmem_mem_map;
pg_data_t kmem_pgdat;
struct task_struct kmem_task = { .comm = "kmem" };
int kmem_cpu;
unsigned long jiffies;
jmp_buf kmem_loop;
static unsigned long kmem_npages;
static char kmem_log[1 << 16];
static size_t kmem_log_len;

void kmem_bug(const char *what, const char *file, int line)
{
	fprintf(stderr, "kernel BUG at %s:%d: %s\n", file, line, what);
	fflush(stderr);
	abort();
}

static void bad_page(const char *function, struct page *page)
{
	fprintf(stderr, "kernel BUG: Bad page state at %s (pfn %#lx flags %#lx count %d)\n",
		function, page_to_pfn(page), page->flags, page->count);
	fflush(stderr);
	abort();
}

int printk(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	const char *text = buf;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (buf[0] == '<' && buf[1] && buf[2] == '>')
		text = buf + 3;
	if (!strncmp(fmt, KERN_DEBUG, 3))
		return 0;  /* boot chatter (zone sizes, batch) */
	size_t n = strlen(text);
	if (kmem_log_len + n + 1 < sizeof kmem_log) {
		memcpy(kmem_log + kmem_log_len, text, n);
		kmem_log_len += n;
	}
	return (int)n;
}

static void kmem_init(int ncpus, unsigned long dma, unsigned long normal, unsigned long high,
		      unsigned long rs, unsigned long re)
{
	unsigned long zones_size[MAX_NR_ZONES] = { dma, normal, high };
	unsigned long low = dma + normal, pfn;

	(void)ncpus;
	kmem_npages = dma + normal + high;
	free(kmem_mem_map);
	kmem_mem_map = calloc(kmem_npages + 1, sizeof(struct page));
	if (!kmem_mem_map) {
		fprintf(stderr, "harness: out of memory for %lu pages\n", kmem_npages);
		exit(2);
	}
	memset(&kmem_pgdat, 0, sizeof kmem_pgdat);
	kmem_pgdat.node_mem_map = kmem_mem_map;
	kmem_pgdat.node_start_pfn = 0;
	calculate_zone_totalpages(&kmem_pgdat, zones_size, NULL);
	free_area_init_core(&kmem_pgdat, zones_size, NULL);
	build_zonelists(&kmem_pgdat);
	kmem_cpu = 0;
	/* free_all_bootmem_core, node_boot_start 0 (gofast), BITS_PER_LONG 32 on i386 */
	for (pfn = 0; pfn < low;) {
		unsigned long end = pfn + 32 < low ? pfn + 32 : low, p;
		int whole = end - pfn == 32;

		for (p = pfn; p < end; p++)
			if (p >= rs && p < re)
				whole = 0;
		if (whole) {
			struct page *page = pfn_to_page(pfn);
			for (p = pfn; p < end; p++)
				__ClearPageReserved(pfn_to_page(p));
			set_page_refs(page, 5);
			__free_pages(page, 5);
		} else {
			for (p = pfn; p < end; p++) {
				if (p >= rs && p < re)
					continue;
				__ClearPageReserved(pfn_to_page(p));
				set_page_refs(pfn_to_page(p), 0);
				__free_pages(pfn_to_page(p), 0);
			}
		}
		pfn = end;
	}
	/* set_highmem_pages_init -> one_highpage_init */
	for (pfn = low; pfn < kmem_npages; pfn++) {
		if (pfn >= rs && pfn < re)
			continue;
		ClearPageReserved(pfn_to_page(pfn));
		set_page_count(pfn_to_page(pfn), 1);
		__free_pages(pfn_to_page(pfn), 0);
	}
	init_per_zone_pages_min();
	kmem_log_len = 0;
}

static void kmem_dump(void)
{
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &kmem_pgdat.node_zones[z];
		printf("zone %d free_pages %lu min %lu %lu %lu reserve %lu %lu %lu nr_free", z,
		       zone->free_pages, zone->pages_min, zone->pages_low, zone->pages_high,
		       zone->lowmem_reserve[0], zone->lowmem_reserve[1], zone->lowmem_reserve[2]);
		for (int o = 0; o < MAX_ORDER; o++)
			printf(" %lu", zone->free_area[o].nr_free);
		printf(" lists");
		for (int o = 0; o < MAX_ORDER; o++) {
			struct list_head *head = &zone->free_area[o].free_list, *p;
			if (!head->next)
				continue;
			list_for_each(p, head)
				printf(" %lu/%d", page_to_pfn(list_entry(p, struct page, lru)), o);
		}
		printf("\n");
		for (int cpu = 0; cpu < NR_CPUS; cpu++)
			for (int c = 0; c < 2; c++) {
				struct per_cpu_pages *pcp = &zone->pageset[cpu].pcp[c];
				struct list_head *p;
				printf("pcp %d %d %d %d %d %d %d :", z, cpu, c, pcp->count, pcp->low,
				       pcp->high, pcp->batch);
				if (pcp->list.next)
					list_for_each(p, &pcp->list)
						printf(" %lu", page_to_pfn(list_entry(p, struct page, lru)));
				printf("\n");
			}
	}
	printf("end\n");
}

static void kmem_alloc(int cpu, unsigned int gfp, unsigned int order)
{
	struct page *page;
	int why;

	kmem_cpu = cpu;
	if (order >= MAX_ORDER) {  /* alloc_pages_node */
		printf("fail\n");
		return;
	}
	why = setjmp(kmem_loop);
	if (why) {
		/* __alloc_pages cleared PF_MEMALLOC after try_to_free_pages; a PF_MEMALLOC
		 * caller never gets this far, so the caller's flags were clear */
		printf("loop\n");
		return;
	}
	page = __alloc_pages(gfp, order,
			     NODE_DATA(0)->node_zonelists + (gfp & GFP_ZONEMASK));
	if (!page)
		printf("fail\n");
	else
		printf("%lu\n", page_to_pfn(page));
}

int main(void)
{
	char line[256];
	unsigned long a, b, c, d, e, f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof line, stdin)) {
		if (sscanf(line, "init %lu %lu %lu %lu %lu %lu", &a, &b, &c, &d, &e, &f) == 6) {
			if (a < 1 || a > NR_CPUS) {
				fprintf(stderr, "harness: NR_CPUS is %d\n", NR_CPUS);
				return 2;
			}
			kmem_init((int)a, b, c, d, e, f);
			printf("ok\n");
		} else if (sscanf(line, "alloc %lu %li %lu", &a, (long *)&b, &c) == 3) {
			kmem_alloc((int)a, (unsigned int)b, (unsigned int)c);
		} else if (sscanf(line, "free %lu %lu %lu %lu", &a, &b, &c, &d) == 4) {
			kmem_cpu = (int)a;
			if (b >= kmem_npages || pfn_to_page(b)->count != 1) {
				fprintf(stderr, "harness: free of pfn %lu, count %d\n", b,
					b < kmem_npages ? pfn_to_page(b)->count : -1);
				return 3;
			}
			if (d) {  /* the caller dropped the last reference (pagevec release) */
				set_page_count(pfn_to_page(b), 0);
				free_cold_page(pfn_to_page(b));
			}
			else
				__free_pages(pfn_to_page(b), (unsigned int)c);
			printf("ok\n");
		} else if (sscanf(line, "drain %lu", &a) == 1) {
			__drain_pages((unsigned int)a);
			printf("ok\n");
		} else if (sscanf(line, "memalloc %lu", &a) == 1) {
			if (a)
				kmem_task.flags |= PF_MEMALLOC;
			else
				kmem_task.flags &= ~PF_MEMALLOC;
			printf("ok\n");
		} else if (sscanf(line, "tick %lu", &a) == 1) {
			jiffies += a;
			printf("ok\n");
		} else if (sscanf(line, "rt %lu", &a) == 1) {
			kmem_task.rt = (int)a;
			printf("ok\n");
		} else if (!strncmp(line, "dump", 4)) {
			kmem_dump();
		} else if (!strncmp(line, "log", 3)) {
			fwrite(kmem_log, 1, kmem_log_len, stdout);
			kmem_log_len = 0;
			printf("end\n");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			printf("# unknown request\nfail\n");
		}
	}
	return 0;
}
