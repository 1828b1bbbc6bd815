/* SPDX-License-Identifier: MIT */
/*
 * Layer 3, memory: buf.c (aligned, reference-counted buffers from a
 * per-loop pool) and view.c (read-only windows onto them).
 */
#ifndef DMAIO_BUF_H
#define DMAIO_BUF_H

#include "base.h"

#define POOL_CLASSES 11 /* 4 KiB .. 4 MiB */

/*
 * Buffer memory: whole pages from mmap, MADV_DONTFORK, carved into
 * buffers (2 MiB-aligned on transparent huge pages for the large classes).
 */
struct dmaio__slab {
	char *base;
	size_t len;
	unsigned live;         /* buffers carved from it, +1 while carving */
	/* under ASan, every slab mapped (buf.c: a forked child's shadow) */
	struct dmaio__slab *mapped_prev, *mapped_next;
};

struct dmaio_buf {
	void *data;
	struct dmaio__slab *slab; /* where data lies */
	size_t size;           /* what a write writes */
	size_t cap;            /* what was allocated */
	unsigned refs;
	unsigned cls;          /* size class, or 0xff: not pooled */
	struct dmaio__pool *pool;
	struct dmaio_buf *next_free;
};

struct dmaio_view {
	struct dmaio_buf *buf;
	const char *data;
	size_t len;
	struct dmaio_view *next_free;
};

struct dmaio__pool {
	unsigned refs;         /* the loop, and every live buffer and view */
	int dead;              /* the loop is gone: free, do not keep */
	size_t max_per_class;
	struct dmaio_buf *free[POOL_CLASSES];
	size_t nfree[POOL_CLASSES];
	struct dmaio_view *free_views;
	size_t nfree_views;
	int huge;              /* DMAIO_FEAT_HUGE_BUFFERS */
	struct dmaio__slab *carve[POOL_CLASSES]; /* being cut into buffers */
	size_t carve_off[POOL_CLASSES];
	size_t page;           /* the system's page size */
	unsigned fork_gen;     /* in a forked child: the memory is not there */
};

/* buf.c */
struct dmaio__pool *dmaio__pool_new(unsigned queue_depth);
void dmaio__pool_release(struct dmaio__pool *p);
void dmaio__pool_unref(struct dmaio__pool *p);
struct dmaio_buf *dmaio__buf_alloc(struct dmaio__pool *p, size_t size,
				   size_t align);
/* view.c */
struct dmaio_view *dmaio__view_new(struct dmaio_buf *b, size_t off,
				   size_t len);

#endif /* DMAIO_BUF_H */
