/* SPDX-License-Identifier: MIT */
/*
 * Aligned, reference-counted I/O buffers. Each loop keeps a pool of them in
 * power-of-two size classes (4 KiB .. 4 MiB) so that steady-state I/O does
 * not call the allocator; larger buffers come and go directly.
 *
 * Buffers belong to the loop's thread: counts are not atomic. A buffer
 * may outlive its loop; the pool then frees it directly.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLASS_SHIFT 12 /* smallest class: 4 KiB */
#define NO_CLASS 0xff
/* bytes of free buffers one class keeps at most */
#define CLASS_BYTES_CAP (32u << 20)

struct dmaio__pool *dmaio__pool_new(unsigned queue_depth)
{
	struct dmaio__pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->refs = 1;
	/* a context's worth of each size, plus slack for views held a while */
	p->max_per_class = queue_depth + 16;
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
			free(b->data);
			free(b);
		}
		p->nfree[c] = 0;
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
	if (align < 4096)
		align = 4096; /* page alignment satisfies every device we know */
	c = align == 4096 ? size_class(size) : NO_CLASS;
	if (c != NO_CLASS && p->free[c]) {
		b = p->free[c];
		p->free[c] = b->next_free;
		p->nfree[c]--;
	} else {
		cap = c != NO_CLASS ? (size_t)1 << (c + CLASS_SHIFT) : size;
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
		if (posix_memalign(&b->data, align, cap)) {
			free(b);
			return NULL;
		}
		/*
		 * Fault the pages in now: a write from never-touched memory
		 * pins the shared zero page, which the fast GUP path refuses,
		 * so each I/O takes the slow path (perf: __get_user_pages,
		 * follow_page_pte); 1 MiB stream writes cost 108 -> 65 us of
		 * CPU per MiB with this.
		 */
		memset(b->data, 0, cap);
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
	if (!b || size > b->size)
		return -EINVAL;
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
		b->next_free = p->free[b->cls];
		p->free[b->cls] = b;
		p->nfree[b->cls]++;
	} else {
		free(b->data);
		free(b);
	}
	dmaio__pool_unref(p);
}

DMAIO_EXPORT struct dmaio_buf *dmaio_file_alloc_buf(struct dmaio_file *f,
						    size_t size)
{
	if (dmaio__file_check(f))
		return NULL;
	return dmaio__buf_alloc(f->loop->pool, size, f->mem_align);
}
