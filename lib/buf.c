/* SPDX-License-Identifier: MIT */
/*
 * Aligned, reference-counted I/O buffers. Each loop keeps a pool of them in
 * power-of-two size classes (4 KiB .. 4 MiB) so that steady-state I/O does
 * not call the allocator; larger buffers come and go directly.
 *
 * Buffers belong to the loop's thread: counts are not atomic. A buffer
 * may outlive its loop; the pool then frees it directly.
 *
 * All buffer memory is whole pages from mmap, cut into buffers, and
 * MADV_DONTFORK: a forked child has no mapping there, so no read racing
 * with fork() can land in a child's copy of a page (see slab_new). The
 * pool's bookkeeping (free lists, slab records) lives in malloc'd memory,
 * which a child has: it can drop buffers without touching their pages.
 *
 * Buffers of HUGE_FROM bytes and more are cut from 2 MiB-aligned slabs
 * advised MADV_HUGEPAGE. On 4 KiB pages a 1 MiB buffer is ~256 scattered
 * pages, one DMA segment each: more than a virtio disk's 254, so the block
 * layer splits every 1 MiB write in two, and the host walks 256
 * descriptors. From one huge page it is one segment: +24% MiB/s for 1 MiB
 * O_DIRECT writes at depth 4 on virtio (8 alternating runs, 1212 -> 1500).
 */
#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CLASS_SHIFT 12 /* smallest class: 4 KiB */
/* the alignment of pooled buffers: enough for every device we know */
#define CLASS_ALIGN ((size_t)1 << CLASS_SHIFT)
#define NO_CLASS 0xff
/* bytes of free buffers one class keeps at most */
#define CLASS_BYTES_CAP (32u << 20)
#define HUGE_PAGE ((size_t)2 << 20)
/* smaller classes would leave most of a slab unused for a few buffers */
#define HUGE_FROM ((size_t)256 << 10)
/* the slabs of the small classes: a view held for long keeps this much */
#define SMALL_SLAB ((size_t)64 << 10)

/*
 * Under ASan, slab memory no buffer owns (not carved yet, or freed or
 * pooled) is poisoned: buffers are not malloc'd, so this is what finds
 * an overrun or a use after the last unref.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DMAIO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(DMAIO_ASAN)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#include <pthread.h>

/*
 * A forked child has none of the slabs (MADV_DONTFORK) but inherits their
 * poisoned shadow, so its own mappings at those addresses (the AIO ring
 * of a loop it makes) would be reported: the child unpoisons every slab
 * mapped at the fork. The lock is held across fork() so that the list is
 * whole in the child.
 */
static pthread_mutex_t mapped_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t mapped_once = PTHREAD_ONCE_INIT;
static struct dmaio__slab *mapped;

static void mapped_prepare(void)
{
	pthread_mutex_lock(&mapped_lock);
}

static void mapped_parent(void)
{
	pthread_mutex_unlock(&mapped_lock);
}

static void mapped_child(void)
{
	struct dmaio__slab *s;

	for (s = mapped; s; s = s->mapped_next)
		ASAN_UNPOISON_MEMORY_REGION(s->base, s->len);
	pthread_mutex_unlock(&mapped_lock);
}

static void mapped_setup(void)
{
	pthread_atfork(mapped_prepare, mapped_parent, mapped_child);
}

static void mapped_add(struct dmaio__slab *s)
{
	pthread_once(&mapped_once, mapped_setup);
	pthread_mutex_lock(&mapped_lock);
	s->mapped_prev = NULL;
	s->mapped_next = mapped;
	if (mapped)
		mapped->mapped_prev = s;
	mapped = s;
	pthread_mutex_unlock(&mapped_lock);
}

static void mapped_remove(struct dmaio__slab *s)
{
	pthread_mutex_lock(&mapped_lock);
	if (s->mapped_prev)
		s->mapped_prev->mapped_next = s->mapped_next;
	else
		mapped = s->mapped_next;
	if (s->mapped_next)
		s->mapped_next->mapped_prev = s->mapped_prev;
	pthread_mutex_unlock(&mapped_lock);
}
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define mapped_add(s) ((void)(s))
#define mapped_remove(s) ((void)(s))
#endif

static void slab_put(struct dmaio__pool *p, struct dmaio__slab *s)
{
	if (--s->live)
		return;
	mapped_remove(s);
	UNPOISON(s->base, s->len);
	/*
	 * In a forked child the pages were never there (MADV_DONTFORK), and
	 * the range may hold the child's own mappings since: leave it.
	 */
	if (!DMAIO__INHERITED(p))
		munmap(s->base, s->len);
	free(s);
}

/*
 * len bytes (whole pages) from mmap aligned to align (a power of two, at
 * least a page), or NULL. Buffers own their pages, never sharing one with
 * malloc'd memory, so that they can be kept out of a forked child.
 */
static struct dmaio__slab *slab_new(struct dmaio__pool *p, size_t len,
				    size_t align, int huge)
{
	struct dmaio__slab *s = malloc(sizeof(*s));
	size_t over = align - p->page, head;
	char *m, *base;
	int err;

	if (!s || len + over < len) {
		free(s);
		return NULL;
	}
	/* over-map, then unmap the unaligned ends */
	m = mmap(NULL, len + over, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(s);
		return NULL;
	}
	base = (char *)(uintptr_t)dmaio__align_up((uintptr_t)m, align);
	head = (size_t)(base - m);
	if (head)
		munmap(m, head);
	if (over > head)
		munmap(base + len, over - head);
	/*
	 * A fork() while the kernel reads into a private page makes the page
	 * copy-on-write, and the read can land in the child's copy: the
	 * parent sees stale bytes (open(2), NOTES; fixed in 5.8-5.10, so
	 * RHEL 7 and 8 have it). Pages not copied into the child cannot be.
	 * Once per slab, never per I/O.
	 */
	if (madvise(base, len, MADV_DONTFORK)) {
		err = errno;
		munmap(base, len);
		free(s);
		dmaio__set_last_error("madvise(MADV_DONTFORK): %s",
				      dmaio_strerror(err));
		return NULL;
	}
#ifdef MADV_HUGEPAGE
	/* refused (THP compiled out): still memory, on small pages */
	if (huge)
		(void)madvise(base, len, MADV_HUGEPAGE);
#endif
	POISON(base, len);
	s->base = base;
	s->len = len;
	s->live = 1; /* the pool's while it carves, or the one buffer's */
	mapped_add(s);
	return s;
}

/*
 * Fresh from mmap, so zero; touching it faults it in: a write from
 * never-touched memory pins the shared zero page, which the fast GUP path
 * refuses, so each I/O took the slow path (perf: __get_user_pages); 1 MiB
 * stream writes cost 108 -> 65 us of CPU per MiB.
 */
static void fault_in(char *data, size_t len)
{
	size_t off, page = dmaio__page_size();

	UNPOISON(data, len);
	for (off = 0; off < len; off += page)
		data[off] = 0;
}

/* cap bytes from class c's slab (a new one when it is used up), or NULL. */
static void *slab_carve(struct dmaio__pool *p, unsigned c, size_t cap,
			struct dmaio__slab **out)
{
	struct dmaio__slab *s = p->carve[c];
	char *data;

	if (!s || p->carve_off[c] + cap > s->len) {
		int huge = p->huge && cap >= HUGE_FROM;
		size_t unit = huge ? HUGE_PAGE
			    : SMALL_SLAB > p->page ? SMALL_SLAB : p->page;
		struct dmaio__slab *n = slab_new(p, cap > unit ? cap : unit,
						 huge ? HUGE_PAGE : p->page,
						 huge);

		if (!n)
			return NULL;
		if (s)
			slab_put(p, s);
		p->carve[c] = s = n;
		p->carve_off[c] = 0;
	}
	data = s->base + p->carve_off[c];
	p->carve_off[c] += cap;
	s->live++;
	fault_in(data, cap);
	*out = s;
	return data;
}

/* A buffer of no class (large, or aligned beyond a page): its own slab. */
static void *slab_whole(struct dmaio__pool *p, size_t size, size_t align,
			struct dmaio__slab **out)
{
	size_t len = (size_t)dmaio__align_up(size, p->page);
	struct dmaio__slab *s;

	if (len < size)
		return NULL;
	s = slab_new(p, len, align > p->page ? align : p->page, 0);
	if (!s)
		return NULL;
	fault_in(s->base, size);
	*out = s;
	return s->base;
}

static void buf_free_mem(struct dmaio_buf *b)
{
	POISON(b->data, b->cap);
	slab_put(b->pool, b->slab);
}

struct dmaio__pool *dmaio__pool_new(unsigned queue_depth)
{
	struct dmaio__pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->refs = 1;
	/* a context's worth of each size, plus slack for views held a while */
	p->max_per_class = queue_depth + 16;
	p->page = dmaio__page_size();
	p->fork_gen = dmaio__fork_gen;
	return p;
}

void dmaio__pool_unref(struct dmaio__pool *p)
{
	if (--p->refs)
		return;
	free(p);
}

static void pool_trim(struct dmaio__pool *p)
{
	struct dmaio_view *v;
	unsigned c;

	for (c = 0; c < POOL_CLASSES; c++) {
		struct dmaio_buf *b;

		while ((b = p->free[c])) {
			p->free[c] = b->next_free;
			buf_free_mem(b);
			free(b);
		}
		p->nfree[c] = 0;
		if (p->carve[c]) {
			slab_put(p, p->carve[c]);
			p->carve[c] = NULL;
		}
	}
	while ((v = p->free_views)) {
		p->free_views = v->next_free;
		free(v);
	}
	p->nfree_views = 0;
}

void dmaio__pool_release(struct dmaio__pool *p)
{
	pool_trim(p);
	p->dead = 1;
	dmaio__pool_unref(p);
}

static unsigned size_class(size_t size)
{
	unsigned c = 0;

	while (((size_t)1 << (c + CLASS_SHIFT)) < size) {
		if (++c >= POOL_CLASSES)
			return NO_CLASS;
	}
	return c;
}

static size_t class_keep(const struct dmaio__pool *p, unsigned c)
{
	size_t by_bytes = CLASS_BYTES_CAP >> (c + CLASS_SHIFT);

	return by_bytes < p->max_per_class ? by_bytes : p->max_per_class;
}

struct dmaio_buf *dmaio__buf_alloc(struct dmaio__pool *p, size_t size,
				   size_t align)
{
	struct dmaio_buf *b;
	unsigned c;
	size_t cap;

	if (!size)
		return NULL;
	if (align < CLASS_ALIGN)
		align = CLASS_ALIGN;
	c = align == CLASS_ALIGN ? size_class(size) : NO_CLASS;
	if (c != NO_CLASS && p->free[c]) {
		b = p->free[c];
		p->free[c] = b->next_free;
		p->nfree[c]--;
		UNPOISON(b->data, b->cap);
	} else {
		cap = c != NO_CLASS ? (size_t)1 << (c + CLASS_SHIFT) : size;
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
		b->data = c != NO_CLASS ? slab_carve(p, c, cap, &b->slab)
					: slab_whole(p, size, align, &b->slab);
		if (!b->data) {
			free(b);
			return NULL;
		}
		b->cap = cap;
		b->cls = c;
	}
	b->size = size;
	b->refs = 1;
	b->pool = p;
	b->next_free = NULL;
	p->refs++;
	return b;
}

DMAIO_EXPORT void *dmaio_buf_data(struct dmaio_buf *b)
{
	return b ? b->data : NULL;
}

DMAIO_EXPORT size_t dmaio_buf_size(const struct dmaio_buf *b)
{
	return b ? b->size : 0;
}

DMAIO_EXPORT int dmaio_buf_trim(struct dmaio_buf *b, size_t size)
{
	if (!b)
		return dmaio__fail(-EINVAL, "buf_trim: buffer is NULL");
	if (size > b->size)
		return dmaio__fail(-EINVAL, "buf_trim: size %zu is larger than "
				   "the buffer's %zu (trim only shrinks)", size,
				   b->size);
	b->size = size;
	return 0;
}

DMAIO_EXPORT struct dmaio_buf *dmaio_buf_ref(struct dmaio_buf *b)
{
	if (b)
		b->refs++;
	return b;
}

DMAIO_EXPORT void dmaio_buf_unref(struct dmaio_buf *b)
{
	struct dmaio__pool *p;

	if (!b || --b->refs)
		return;
	p = b->pool;
	if (!p->dead && b->cls != NO_CLASS &&
	    p->nfree[b->cls] < class_keep(p, b->cls)) {
		POISON(b->data, b->cap);
		b->next_free = p->free[b->cls];
		p->free[b->cls] = b;
		p->nfree[b->cls]++;
	} else {
		buf_free_mem(b);
		free(b);
	}
	dmaio__pool_unref(p);
}
