/* SPDX-License-Identifier: MIT */
/*
 * The stream reader: reads [start, end) in aligned buffers of buffer_size,
 * keeps read_ahead of them in flight beyond the one being consumed, and
 * hands out zero-copy slices that never cross a buffer. A read that comes
 * back short marks EOF; an error sticks and is reported by the next call.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct rbuf {
	struct dmaio_reader *r;
	struct rbuf *next;
	uint64_t pos;           /* aligned file offset */
	size_t want;
	struct dmaio_view *v;
	int done;
	int dropped;            /* skipped or closed while in flight */
};

struct dmaio_reader {
	struct dmaio__owned own; /* first: dmaio_loop_free() drops it */
	struct dmaio_file *f;
	struct dmaio_loop *loop;
	uint64_t end;           /* UINT64_MAX: to EOF */
	uint64_t eof;           /* UINT64_MAX until a short read */
	size_t bs;
	unsigned read_ahead;
	uint64_t pos;           /* next byte for the user */
	uint64_t next_read;     /* file offset of the next buffer to read */
	struct rbuf *head, *tail;
	struct rbuf *limbo;     /* dropped while in flight: freed when back */
	unsigned nbufs;         /* queued, not dropped */
	unsigned inflight;      /* reads not back yet, dropped ones too */
	int64_t err;

	int req;                /* a get_buffer is waiting */
	size_t req_max;
	dmaio_read_cb req_cb;
	void *req_arg;
	int kick_posted;

	int closing, close_sent;
	dmaio_cb close_cb;
	void *close_arg;
};

DMAIO_EXPORT void dmaio_reader_opts_init(struct dmaio_reader_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->start = 0;
	o->end = 0;
	o->buffer_size = 128 * 1024;
	o->read_ahead = 4;
}

static uint64_t limit(const struct dmaio_reader *r)
{
	return r->end < r->eof ? r->end : r->eof;
}

static void on_buf(void *arg, struct dmaio_view *v, int64_t res);

static void fill_ahead(struct dmaio_reader *r)
{
	unsigned target = r->read_ahead ? r->read_ahead + 1 : (r->req ? 1 : 0);

	while (!r->err && !r->closing && r->nbufs < target &&
	       r->next_read < limit(r)) {
		struct rbuf *b = calloc(1, sizeof(*b));
		uint64_t left = r->end - r->next_read;
		int ret;

		if (!b) {
			r->err = -ENOMEM;
			break;
		}
		b->r = r;
		b->pos = r->next_read;
		b->want = left < r->bs ? (size_t)left : r->bs;
		ret = dmaio__internal(r->loop, dmaio_file_read_at_aligned(r->f, b->pos, b->want, on_buf, b));
		if (ret) {
			free(b);
			r->err = ret;
			break;
		}
		if (r->tail)
			r->tail->next = b;
		else
			r->head = b;
		r->tail = b;
		r->nbufs++;
		r->inflight++;
		r->next_read += b->want;
	}
}

static void drop_head(struct dmaio_reader *r)
{
	struct rbuf *b = r->head;

	r->head = b->next;
	if (!r->head)
		r->tail = NULL;
	r->nbufs--;
	if (b->done) {
		dmaio_view_release(b->v);
		free(b);
	} else {
		b->dropped = 1; /* freed when it comes back */
		b->next = r->limbo;
		r->limbo = b;
	}
}

/* Drops buffers wholly before the position. */
static void drop_consumed(struct dmaio_reader *r)
{
	while (r->head && r->head->pos + r->head->want <= r->pos)
		drop_head(r);
	if (!r->head && r->next_read < r->pos)
		r->next_read = dmaio_file_align_down(r->f, r->pos);
}

static void complete_req(struct dmaio_reader *r, struct dmaio_view *v,
			 int64_t res)
{
	dmaio_read_cb cb = r->req_cb;

	r->req = 0;
	if (!cb || r->loop->freeing) {
		dmaio_view_release(v);
		return;
	}
	dmaio__cb_enter(r->loop);
	cb(r->req_arg, v, res);
	dmaio__cb_leave(r->loop);
}

static void serve(struct dmaio_reader *r)
{
	struct rbuf *b;
	struct dmaio_view *s;
	size_t off, vlen, n;

	if (!r->req)
		return;
	drop_consumed(r);
	if (r->err) {
		complete_req(r, NULL, r->err);
		return;
	}
	if (r->pos >= limit(r)) {
		complete_req(r, NULL, 0);
		return;
	}
	fill_ahead(r);
	b = r->head;
	if (!b || !b->done)
		return; /* on_buf serves it */
	off = (size_t)(r->pos - b->pos);
	vlen = dmaio_view_len(b->v);
	n = vlen > off ? vlen - off : 0;
	if (n > r->req_max)
		n = r->req_max;
	if (n > limit(r) - r->pos)
		n = (size_t)(limit(r) - r->pos);
	s = dmaio_view_slice(b->v, off, n);
	if (!s) {
		complete_req(r, NULL, -ENOMEM);
		return;
	}
	r->pos += n;
	drop_consumed(r);
	fill_ahead(r);
	complete_req(r, s, (int64_t)n);
}

static void maybe_close(struct dmaio_reader *r);

static void on_buf(void *arg, struct dmaio_view *v, int64_t res)
{
	struct rbuf *b = arg;
	struct dmaio_reader *r = b->r;

	r->inflight--;
	if (b->dropped) {
		struct rbuf **p = &r->limbo;

		while (*p != b)
			p = &(*p)->next;
		*p = b->next;
		dmaio_view_release(v);
		free(b);
		maybe_close(r);
		return;
	}
	b->done = 1;
	b->v = v;
	if (res < 0) {
		if (!r->err)
			r->err = res;
	} else if ((size_t)res < b->want && b->pos + (uint64_t)res < r->eof) {
		r->eof = b->pos + (uint64_t)res;
	}
	serve(r);
	fill_ahead(r);
	maybe_close(r);
}

/* Frees the reader's memory; its file is the caller's (or the loop's). */
static void reader_free(struct dmaio_reader *r)
{
	struct rbuf *lists[2], *b;
	int i;

	lists[0] = r->head;
	lists[1] = r->limbo;
	for (i = 0; i < 2; i++)
		while ((b = lists[i])) {
			lists[i] = b->next;
			dmaio_view_release(b->v);
			free(b);
		}
	free(r);
}

static void reader_drop(struct dmaio__owned *o)
{
	reader_free((struct dmaio_reader *)o);
}

static void on_closed(void *arg, int64_t res)
{
	struct dmaio_reader *r = arg;

	dmaio__owned_closed(r->loop, &r->own, r->close_cb, r->close_arg, res);
}

static void maybe_close(struct dmaio_reader *r)
{
	if (!r->closing || r->close_sent || r->inflight || r->kick_posted)
		return;
	r->close_sent = 1;
	if (dmaio__internal(r->loop, dmaio_file_close(r->f, on_closed, r)))
		on_closed(r, -EBADF); /* cannot happen: we own the file */
}

static void on_kick(void *arg, int64_t res)
{
	struct dmaio_reader *r = arg;

	(void)res;
	r->kick_posted = 0;
	serve(r);
	maybe_close(r);
}

static int kick(struct dmaio_reader *r)
{
	int ret;

	if (r->kick_posted)
		return 0;
	ret = dmaio__internal(r->loop, dmaio__post(r->loop, on_kick, r, 0));
	if (ret == 0)
		r->kick_posted = 1;
	return ret;
}

/* ------------------------------------------------------------------ */

DMAIO_EXPORT int dmaio_reader_new(struct dmaio_file *f,
				  const struct dmaio_reader_opts *uo,
				  struct dmaio_reader **out)
{
	struct dmaio_reader_opts o;
	struct dmaio_reader *r;
	int ret = dmaio__file_check(f, "reader_new");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!out)
		return dmaio__fail(-EINVAL, "reader_new: out is NULL");
	*out = NULL;
	if (f->accmode == O_WRONLY)
		return dmaio__fail(-EBADF, "reader_new: the file was opened "
				   "write-only");
	dmaio_reader_opts_init(&o);
	if (dmaio__opts_read(&o, sizeof(o), uo))
		return dmaio__fail(-EINVAL, "reader_new: opts->size is smaller "
				   "than a size_t");
	if (!o.buffer_size)
		o.buffer_size = 128 * 1024;
	if (o.buffer_size > (1u << 30))
		return dmaio__fail(-EINVAL, "reader_new: buffer_size %zu is "
				   "over 1 GiB", o.buffer_size);
	if (o.read_ahead > 4096)
		return dmaio__fail(-EINVAL, "reader_new: read_ahead %u is over "
				   "4096", o.read_ahead);
	if (o.end && o.end < o.start)
		return dmaio__fail(-EINVAL, "reader_new: end %" PRIu64 " is "
				   "before start %" PRIu64, o.end, o.start);
	if (o.start > INT64_MAX || o.end > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "reader_new: start or end is "
				   "past the largest file offset");
	r = calloc(1, sizeof(*r));
	if (!r)
		return dmaio__fail(-ENOMEM, "reader_new: no memory");
	r->f = f;
	r->loop = f->loop;
	r->end = o.end ? o.end : UINT64_MAX;
	r->eof = UINT64_MAX;
	r->bs = (size_t)dmaio_file_align_up(f, o.buffer_size);
	r->read_ahead = o.read_ahead;
	r->pos = o.start;
	r->next_read = dmaio_file_align_down(f, o.start);
	dmaio__own(r->loop, &r->own, reader_drop);
	fill_ahead(r);
	*out = r;
	return 0;
}

/* What every call on an open reader checks first. */
static int ready(const struct dmaio_reader *r, const char *what)
{
	if (!r)
		return dmaio__fail(-EINVAL, "%s: reader is NULL", what);
	if (r->closing)
		return dmaio__fail(-EBADF, "%s: close was already called on "
				   "this reader", what);
	if (r->req)
		return dmaio__fail(-EBUSY, "%s: a get_buffer of this reader is "
				   "still waiting for its callback", what);
	return 0;
}

DMAIO_EXPORT int dmaio_reader_get_buffer(struct dmaio_reader *r, size_t max_len,
					 dmaio_read_cb cb, void *arg)
{
	int ret;

	DMAIO__NOT_INHERITED(r ? r->loop : NULL, -EBADFD);
	if (!max_len)
		return dmaio__fail(-EINVAL, "reader_get_buffer: max_len is 0");
	ret = ready(r, "reader_get_buffer");
	if (ret)
		return ret;
	/* served from the loop, even when the bytes are here already */
	ret = kick(r);
	if (ret)
		return ret;
	r->req = 1;
	r->req_max = max_len;
	r->req_cb = cb;
	r->req_arg = arg;
	return 0;
}

DMAIO_EXPORT int dmaio_reader_skip(struct dmaio_reader *r, uint64_t n)
{
	int ret = ready(r, "reader_skip");

	DMAIO__NOT_INHERITED(r ? r->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	r->pos = n > UINT64_MAX - r->pos ? UINT64_MAX : r->pos + n;
	if (r->pos > r->end)
		r->pos = r->end;
	drop_consumed(r);
	fill_ahead(r);
	return 0;
}

DMAIO_EXPORT uint64_t dmaio_reader_position(const struct dmaio_reader *r)
{
	return r ? r->pos : 0;
}

DMAIO_EXPORT int dmaio_reader_close(struct dmaio_reader *r, dmaio_cb cb,
				    void *arg)
{
	int ret = ready(r, "reader_close");

	DMAIO__NOT_INHERITED(r ? r->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	ret = kick(r); /* the close goes out from the loop */
	if (ret)
		return ret;
	r->closing = 1;
	r->close_cb = cb;
	r->close_arg = arg;
	while (r->head)
		drop_head(r);
	return 0;
}

/* ------------------------------------------------------------------ */

DMAIO_EXPORT int64_t dmaio_reader_read_wait(struct dmaio_reader *r, void *dst,
					    size_t len)
{
	size_t copied = 0;
	int ret;

	DMAIO__NOT_INHERITED(r ? r->loop : NULL, -EBADFD);
	if (!r || !dst || !len)
		return dmaio__fail(-EINVAL, "reader_read_wait: %s", !r ?
				   "reader is NULL" : !dst ? "dst is NULL" :
				   "len is 0");
	ret = dmaio__wait_check(r->loop, __func__);
	if (ret)
		return ret;
	while (copied < len) {
		struct dmaio__waiter x = DMAIO__WAITER_INIT;

		ret = dmaio_reader_get_buffer(r, len - copied, dmaio__waiter_read, &x);
		if (ret)
			return copied ? (int64_t)copied : ret;
		dmaio__wait_for(r->loop, &x);
		if (x.res <= 0) {
			if (x.res < 0 && !copied)
				return x.res;
			break;
		}
		memcpy((char *)dst + copied, dmaio_view_data(x.view), (size_t)x.res);
		dmaio_view_release(x.view);
		copied += (size_t)x.res;
	}
	return (int64_t)copied;
}

DMAIO_EXPORT int dmaio_reader_close_wait(struct dmaio_reader *r)
{
	struct dmaio__waiter x = DMAIO__WAITER_INIT;
	struct dmaio_loop *loop;
	int ret;

	DMAIO__NOT_INHERITED(r ? r->loop : NULL, -EBADFD);
	if (!r)
		return dmaio__fail(-EINVAL, "reader_close_wait: reader is NULL");
	ret = dmaio__wait_check(r->loop, __func__);
	if (ret)
		return ret;
	loop = r->loop; /* r is freed by the time we return */
	ret = dmaio_reader_close(r, dmaio__waiter_res, &x);
	if (ret)
		return ret;
	return (int)dmaio__wait_for(loop, &x);
}
