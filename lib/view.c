/* SPDX-License-Identifier: MIT */
/*
 * Read views (glommio's ReadResult): a zero-copy window into a buffer that
 * keeps the buffer alive. View records are recycled through the pool.
 */
#include "buf.h"

#include <stdlib.h>

/* view records one pool keeps at most */
#define MAX_FREE_VIEWS 1024

struct dmaio_view *dmaio__view_new(struct dmaio_buf *b, size_t off,
				   size_t len)
{
	struct dmaio__pool *p = b->pool;
	struct dmaio_view *v = p->free_views;

	if (v && !p->dead) {
		p->free_views = v->next_free;
		p->nfree_views--;
	} else {
		v = malloc(sizeof(*v));
		if (!v)
			return NULL;
	}
	v->buf = dmaio_buf_ref(b);
	v->data = (const char *)b->data + off;
	v->len = len;
	v->next_free = NULL;
	p->refs++;
	return v;
}

DMAIO_EXPORT const void *dmaio_view_data(const struct dmaio_view *v)
{
	return v ? v->data : NULL;
}

DMAIO_EXPORT size_t dmaio_view_len(const struct dmaio_view *v)
{
	return v ? v->len : 0;
}

DMAIO_EXPORT struct dmaio_view *dmaio_view_slice(const struct dmaio_view *v,
						 size_t off, size_t len)
{
	if (!v) {
		dmaio__fail(-EINVAL, "view_slice: view is NULL");
		return NULL;
	}
	if (off > v->len || len > v->len - off) {
		dmaio__fail(-EINVAL, "view_slice: off %zu + len %zu is past the "
			    "view's %zu bytes", off, len, v->len);
		return NULL;
	}
	return dmaio__view_new(v->buf,
			       (size_t)(v->data - (const char *)v->buf->data) +
				       off,
			       len);
}

DMAIO_EXPORT void dmaio_view_release(struct dmaio_view *v)
{
	struct dmaio__pool *p;

	if (!v)
		return;
	p = v->buf->pool;
	dmaio_buf_unref(v->buf);
	if (!p->dead && p->nfree_views < MAX_FREE_VIEWS) {
		v->next_free = p->free_views;
		p->free_views = v;
		p->nfree_views++;
	} else {
		free(v);
	}
	dmaio__pool_unref(p);
}
