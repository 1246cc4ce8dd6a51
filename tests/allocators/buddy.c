/*
 * A small buddy allocator that speaks kmem's line protocol (docs/line-protocol.md):
 * the test suite's "foreign" allocator. Free lists are LIFO doubly linked lists
 * (the list head is handed out first), frees merge eagerly, the arena may have any
 * number of pages and the top order is whatever `init` says.
 *
 *   cc -O1 -o buddy buddy.c             the correct allocator
 *   cc -O1 -DBUG_NO_MERGE -o b buddy.c  the same with one planted bug (see BUGS below)
 *
 * Options: -b  answer with byte addresses of a real arena (`ok BASE` on init)
 *          -m  keep the metadata inside the arena's first pages (needs RESERVED pages)
 *          -d  answer `dump` (otherwise `unsupported`)
 *
 * BUGS (one -D at a time):
 *   BUG_BACKPTR       list_del never updates the next entry's back pointer
 *   BUG_UPPER_ADDR    a merged block keeps the upper buddy's address
 *   BUG_TOP_MERGE     the same, only for the merge into the top order (rare in use)
 *   BUG_MERGE_PARTIAL a buddy counts as free when its first page heads a free block of
 *                     any order (so a partly allocated buddy is merged)
 *   BUG_PAST_END      the page table is rounded up to a power of two and its padding
 *                     marked free; the merge does not check the arena end
 *   BUG_OFFSET_MULT   byte addresses computed with 4000-byte pages
 *   BUG_WRONG_HALF    a split puts the half it hands out back on the free list
 *   BUG_NO_MERGE      frees never merge
 *   BUG_LAZY_MERGE    frees do not merge; an allocation that finds nothing merges
 *                     everything first (legal under the weak rule; a dump shows it)
 *   BUG_CAP10         the search for a free block stops at order 10
 *   BUG_OOM_ABORT     abort() instead of answering `fail`
 *   BUG_CRASH         a NULL dereference when a merge reaches order 3
 *   BUG_HANG          never answers once a block of order >= 4 is split for order 0
 *                     (blocked for good rather than spinning: the checker sees the same
 *                     silence, and each hang costs no CPU while its timeout runs)
 *   BUG_OVERFLOW      freeing the last page writes one byte past the page table
 *                     (results unchanged; only AddressSanitizer sees it)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096L

static long npages, max_order, reserved;
static int bytes_mode, meta_in_arena, can_dump;
static unsigned char *arena, *meta_block;
static int32_t *next_, *prev_;     /* list links, per page */
static int8_t *order_;             /* order + 1 of a free block's head page, 0 otherwise */
static int32_t heads[64], tails[64];
static long nr_free[64];

static void list_add(int o, int32_t p, int tail)
{
	if (heads[o] < 0) {
		heads[o] = tails[o] = p;
		next_[p] = prev_[p] = -1;
	} else if (tail) {
		prev_[p] = tails[o];
		next_[p] = -1;
		next_[tails[o]] = p;
		tails[o] = p;
	} else {
		next_[p] = heads[o];
		prev_[p] = -1;
		prev_[heads[o]] = p;
		heads[o] = p;
	}
	order_[p] = (int8_t)(o + 1);
	nr_free[o]++;
}

static void list_del(int o, int32_t p)
{
	if (prev_[p] >= 0)
		next_[prev_[p]] = next_[p];
	else
		heads[o] = next_[p];
#ifndef BUG_BACKPTR
	if (next_[p] >= 0)
		prev_[next_[p]] = prev_[p];
	else
		tails[o] = prev_[p];
#else
	if (next_[p] < 0)
		tails[o] = prev_[p];
#endif
	order_[p] = 0;
	nr_free[o]--;
}

static int is_free_buddy(long b, int o)
{
#ifdef BUG_PAST_END
	(void)o;
	return order_[b] == o + 1;      /* no check against the arena end */
#else
	if (b < reserved || b + (1L << o) > npages)
		return 0;
#ifdef BUG_MERGE_PARTIAL
	return order_[b] != 0;
#else
	return order_[b] == o + 1;
#endif
#endif
}

static void free_block(long pfn, int o)
{
#if defined(BUG_NO_MERGE) || defined(BUG_LAZY_MERGE)
	list_add(o, (int32_t)pfn, 0);
	return;
#endif
	while (o < max_order) {
		long b = pfn ^ (1L << o);
		if (!is_free_buddy(b, o))
			break;
#ifdef BUG_MERGE_PARTIAL
		list_del(order_[b] - 1, (int32_t)b);
#else
		if (b < npages)
			list_del(o, (int32_t)b);
		else
			order_[b] = 0;
#endif
#if defined(BUG_UPPER_ADDR)
		pfn = b > pfn ? b : pfn;
#elif defined(BUG_TOP_MERGE)
		pfn = (b < pfn) == (o + 1 < max_order) ? b : pfn;
#else
		pfn = b < pfn ? b : pfn;
#endif
		o++;
#ifdef BUG_CRASH
		if (o == 3)
			*(volatile int *)0 = 1;
#endif
	}
	list_add(o, (int32_t)pfn, 0);
}

#ifdef BUG_LAZY_MERGE
static void merge_everything(void)
{
	for (int o = 0; o < max_order; o++) {
		for (int32_t p = heads[o]; p >= 0;) {
			int32_t nxt = next_[p];
			long b = p ^ (1L << o);
			if (b >= reserved && b + (1L << o) <= npages && order_[b] == o + 1) {
				if (nxt == b)
					nxt = next_[b];
				list_del(o, p);
				list_del(o, (int32_t)b);
				list_add(o + 1, (int32_t)(p < b ? p : b), 0);
			}
			p = nxt;
		}
	}
}
#endif

static long alloc_block(int order)
{
	if (order > max_order)
		return -1;
#ifdef BUG_LAZY_MERGE
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			merge_everything();
#endif
	for (int o = order; o <= max_order; o++) {
#ifdef BUG_CAP10
		if (o > 10)
			break;
#endif
		if (heads[o] < 0)
			continue;
		long pfn = heads[o];
		list_del(o, (int32_t)pfn);
#ifdef BUG_HANG
		if (o >= 4 && order == 0)
			for (;;)
				pause();
#endif
		while (o > order) {
			o--;
#ifdef BUG_WRONG_HALF
			list_add(o, (int32_t)pfn, 0);
#else
			list_add(o, (int32_t)(pfn + (1L << o)), 0);
#endif
		}
		return pfn;
	}
#ifdef BUG_LAZY_MERGE
	}
#endif
#ifdef BUG_OOM_ABORT
	fprintf(stderr, "buddy: out of memory for order %d\n", order);
	abort();
#endif
	return -1;
}

static void *get_meta(size_t size)
{
	if (!meta_in_arena)
		return calloc(1, size);
	unsigned char *p = meta_block;
	meta_block += (size + 15) & ~(size_t)15;
	memset(p, 0, size);
	return p;
}

static int init(long n, long mo, long res)
{
	long table = n;
	free(arena);
	if (!meta_in_arena) {
		free(next_);
		free(prev_);
		free(order_);
	}
	npages = n;
	max_order = mo;
	reserved = res;
	if (mo < 0 || mo > 40 || n <= 0 || res < 0 || res >= n)
		return -1;
#ifdef BUG_PAST_END
	table = 1;
	while (table < n)
		table <<= 1;
#endif
	arena = NULL;
	if (bytes_mode || meta_in_arena) {
		arena = aligned_alloc(PAGE, (size_t)n * PAGE);
		if (!arena)
			return -1;
	}
	meta_block = arena;
	if (meta_in_arena) {
		long need = (long)(table * (2 * sizeof(int32_t) + 1) + 64 + PAGE - 1) / PAGE;
		if (need > res) {
			fprintf(stderr, "buddy: the metadata needs %ld reserved pages, got %ld\n",
				need, res);
			return -1;
		}
	}
	next_ = get_meta((size_t)table * sizeof(int32_t));
	prev_ = get_meta((size_t)table * sizeof(int32_t));
	order_ = get_meta((size_t)table);
	for (int o = 0; o < 64; o++) {
		heads[o] = tails[o] = -1;
		nr_free[o] = 0;
	}
	/* boot: the managed range as maximal aligned chunks, ascending, to the list tails */
	for (long pfn = res; pfn < n;) {
		int o = (int)mo;
		while (o > 0 && (pfn & ((1L << o) - 1)))
			o--;
		while (pfn + (1L << o) > n)
			o--;
		list_add(o, (int32_t)pfn, 1);
		pfn += 1L << o;
	}
#ifdef BUG_PAST_END
	for (long pfn = n; pfn < table;) {
		int o = 0;
		while (o < mo && !(pfn & (1L << o)) && pfn + (2L << o) <= table)
			o++;
		order_[pfn] = (int8_t)(o + 1);   /* padding that looks like free blocks */
		pfn += 1L << o;
	}
#endif
	return 0;
}

static unsigned long addr_of(long pfn)
{
	if (!bytes_mode)
		return (unsigned long)pfn;
#ifdef BUG_OFFSET_MULT
	return (unsigned long)arena + (unsigned long)pfn * 4000UL;
#else
	return (unsigned long)arena + (unsigned long)pfn * PAGE;
#endif
}

static long pfn_of(unsigned long addr)
{
	if (!bytes_mode)
		return (long)addr;
#ifdef BUG_OFFSET_MULT
	return (long)((addr - (unsigned long)arena) / 4000UL);
#else
	return (long)((addr - (unsigned long)arena) / PAGE);
#endif
}

int main(int argc, char **argv)
{
	char line[256];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-b"))
			bytes_mode = 1;
		else if (!strcmp(argv[i], "-m"))
			meta_in_arena = 1;
		else if (!strcmp(argv[i], "-d"))
			can_dump = 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof line, stdin)) {
		long a, b, c;
		unsigned long addr;
		if (sscanf(line, "init %ld %ld %ld", &a, &b, &c) == 3) {
			if (init(a, b, c))
				return 2;
			if (bytes_mode)
				printf("ok %#lx\n", (unsigned long)arena);
			else
				printf("ok\n");
		} else if (sscanf(line, "alloc %ld", &a) == 1) {
			long pfn = alloc_block((int)a);
			if (pfn < 0)
				printf("fail\n");
			else
				printf("%#lx\n", addr_of(pfn));
		} else if (sscanf(line, "free %li %ld", &addr, &b) == 2) {
			long pfn = pfn_of(addr);
#ifdef BUG_OVERFLOW
			if (pfn + (1L << b) == npages)
				order_[npages] = 0;     /* one byte past the table */
#endif
			free_block(pfn, (int)b);
			printf("ok\n");
		} else if (!strncmp(line, "dump", 4)) {
			if (!can_dump) {
				printf("unsupported\n");
				continue;
			}
			printf("blocks");
			for (int o = 0; o <= max_order; o++)
				for (int32_t p = heads[o]; p >= 0; p = next_[p])
					printf(" %#lx/%d", addr_of(p), o);
			printf("\n");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			printf("# unknown request: %s", line);
			printf("fail\n");
		}
	}
	return 0;
}
