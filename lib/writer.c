/* SPDX-License-Identifier: MIT */
/*
 * The stream writer: copies into aligned buffers, keeps write_behind of
 * them in flight (writer_io.c), and hides what appending O_DIRECT costs.
 * These are its calls; the zero-copy pair get_space/commit fills the
 * buffer in place.
 */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

DMAIO_EXPORT void dmaio_writer_opts_init(struct dmaio_writer_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->buffer_size = DMAIO__STREAM_BUFFER_SIZE;
	o->write_behind = DMAIO__STREAM_AHEAD;
	o->sync_on_close = 1;
	o->extent_hint = MIB;
	o->preallocate = 1;
	o->grow_ahead = 1;
}

/* Frees the writer's memory; its file is the caller's (or the loop's). */
static void writer_free(struct dmaio_writer *w)
{
	unsigned i;

	if (w->cur)
		dmaio_buf_unref(w->cur);
	for (i = 0; w->ring && i < w->ring_cap; i++)
		dmaio_buf_unref(w->ring[i].buf); /* a write the loop gave up */
	while (w->reqs) {
		struct flush_req *r = w->reqs;

		w->reqs = r->next;
		free(r);
	}
	free(w->ring);
	free(w);
}

static void writer_drop(struct dmaio__owned *o)
{
	writer_free((struct dmaio_writer *)o);
}

/* ------------------------------------------------------------------ */

/* Fills o from the caller's options and checks them; 0 or -errno. */
static int read_opts(const struct dmaio_file *f,
		     const struct dmaio_writer_opts *uo,
		     struct dmaio_writer_opts *o)
{
	dmaio_writer_opts_init(o);
	if (dmaio__opts_read(o, sizeof(*o), uo))
		return dmaio__fail(-EINVAL, "writer_new: opts->size is smaller "
				   "than a size_t");
	o->buffer_size = DMAIO__OR_DEFAULT(o->buffer_size,
					   DMAIO__STREAM_BUFFER_SIZE);
	o->write_behind = DMAIO__OR_DEFAULT(o->write_behind,
					    DMAIO__STREAM_AHEAD);
	if (o->buffer_size > DMAIO__STREAM_MAX_BUFFER)
		return dmaio__fail(-EINVAL, "writer_new: buffer_size %zu is "
				   "over 1 GiB", o->buffer_size);
	if (o->write_behind > DMAIO__STREAM_MAX_AHEAD)
		return dmaio__fail(-EINVAL, "writer_new: write_behind %u is "
				   "over %u", o->write_behind,
				   DMAIO__STREAM_MAX_AHEAD);
	if (o->flags & ~DMAIO_WRITER_APPEND)
		return dmaio__fail(-EINVAL, "writer_new: flags 0x%x has bits "
				   "other than DMAIO_WRITER_APPEND", o->flags);
	if ((o->flags & DMAIO_WRITER_APPEND) && o->start)
		return dmaio__fail(-EINVAL, "writer_new: start %" PRIu64 " and "
				   "DMAIO_WRITER_APPEND both say where to "
				   "start", o->start);
	/* the size as open saw it and this file's operations changed it */
	if (o->flags & DMAIO_WRITER_APPEND)
		o->start = dmaio__size_seen(f);
	if (o->start > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "writer_new: start %" PRIu64
				   " is past the largest file offset",
				   o->start);
	return 0;
}

DMAIO_EXPORT int dmaio_writer_new(struct dmaio_file *f,
				  const struct dmaio_writer_opts *uo,
				  struct dmaio_writer **out)
{
	struct dmaio_writer_opts o;
	struct dmaio_writer *w;
	int ret = dmaio__file_check(f, "writer_new");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!out)
		return dmaio__fail(-EINVAL, "writer_new: out is NULL");
	*out = NULL;
	if (f->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "writer_new: the file was opened "
				   "read-only");
	ret = read_opts(f, uo, &o);
	if (ret)
		return ret;
	w = calloc(1, sizeof(*w));
	if (!w)
		return dmaio__fail(-ENOMEM, "writer_new: no memory");
	w->f = f;
	w->loop = f->loop;
	w->reqs_tail = &w->reqs;
	w->bs = (size_t)dmaio_file_align_up(f, o.buffer_size);
	w->write_behind = o.write_behind;
	w->sync_on_close = o.sync_on_close;
	w->preallocate = o.preallocate;
	w->grow_ahead = o.grow_ahead;
	w->ring_cap = 2 * o.write_behind + 2;
	w->ring = calloc(w->ring_cap, sizeof(*w->ring));
	ret = w->ring ? dmaio__writer_resume(w, o.start)
		      : dmaio__fail(-ENOMEM, "writer_new: no memory");
	if (ret) {
		writer_free(w);
		return ret;
	}
	/* extent hints turn off XFS delayed allocation: direct files only */
	dmaio__own(w->loop, &w->own, writer_drop);
	if (o.extent_hint && f->direct &&
	    dmaio__internal(w->loop, dmaio_file_hint_extent_size(f,
			    o.extent_hint, dmaio__writer_on_meta, w)) == 0)
		w->meta_inflight++;
	*out = w;
	return 0;
}

static int usable(const struct dmaio_writer *w, const char *what)
{
	if (!w)
		return dmaio__fail(-EINVAL, "%s: writer is NULL", what);
	if (w->stage != OPEN)
		return dmaio__fail(-EBADF, "%s: close was already called on "
				   "this writer", what);
	return 0;
}

/* The error that stopped the writer, returned by every later call. */
static int sticky(const struct dmaio_writer *w, const char *what)
{
	return dmaio__fail((int)w->err, "%s: an earlier write or sync of "
			   "this writer failed", what);
}

/*
 * Room in the buffer being filled: allocates it, or submits it when full,
 * as needed. Returns the free bytes (0: every buffer is in flight) and
 * where they start, or -errno.
 */
static int64_t room(struct dmaio_writer *w, char **at)
{
	for (;;) {
		if (w->err)
			return w->err;
		if (!w->cur) {
			w->cur = dmaio_file_alloc_buf(w->f, w->bs);
			if (!w->cur)
				return -ENOMEM;
			w->fill = w->fill_written = 0;
		}
		if (w->fill < w->bs) {
			*at = (char *)dmaio_buf_data(w->cur) + w->fill;
			return (int64_t)(w->bs - w->fill);
		}
		dmaio__writer_submit(w);
		if (!w->err && w->cur && w->fill == w->bs)
			return 0;
	}
}

static void advance(struct dmaio_writer *w, size_t n)
{
	w->fill += n;
	w->pos += n;
	if (w->fill == w->bs)
		dmaio__writer_submit(w);
}

DMAIO_EXPORT int64_t dmaio_writer_write(struct dmaio_writer *w,
					const void *data, size_t len)
{
	const char *p = data;
	size_t taken = 0;
	int ret = usable(w, "writer_write");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (w->err)
		return sticky(w, "writer_write");
	if (!data && len)
		return dmaio__fail(-EINVAL, "writer_write: data is NULL");
	if (len > INT64_MAX || w->pos + len > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "writer_write: the stream would "
				   "end past the largest file offset");
	w->granted = 0; /* the space handed out may move now */
	while (taken < len) {
		char *at;
		int64_t free_bytes = room(w, &at);
		size_t n;

		if (free_bytes <= 0) {
			if (taken)
				break;
			return free_bytes;
		}
		n = (size_t)free_bytes < len - taken ? (size_t)free_bytes
						     : len - taken;
		memcpy(at, p + taken, n);
		advance(w, n);
		taken += n;
	}
	return (int64_t)taken;
}

DMAIO_EXPORT int64_t dmaio_writer_get_space(struct dmaio_writer *w,
					    void **ptr)
{
	char *at = NULL;
	int64_t n;
	int ret = usable(w, "writer_get_space");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!ptr)
		return dmaio__fail(-EINVAL, "writer_get_space: ptr is NULL");
	n = room(w, &at);
	*ptr = n > 0 ? at : NULL;
	w->granted = n > 0 ? (size_t)n : 0;
	return n;
}

DMAIO_EXPORT int dmaio_writer_commit(struct dmaio_writer *w, size_t n)
{
	int ret = usable(w, "writer_commit");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (w->err)
		return sticky(w, "writer_commit");
	if (n > w->granted)
		return dmaio__fail(-EINVAL, "writer_commit: n %zu is more than "
				   "the %zu bytes get_space granted", n,
				   w->granted);
	if (w->pos + n > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "writer_commit: the stream would "
				   "end past the largest file offset");
	w->granted = 0;
	advance(w, n);
	return 0;
}

DMAIO_EXPORT int dmaio_writer_on_writable(struct dmaio_writer *w, dmaio_cb cb,
					  void *arg)
{
	int ret = usable(w, "writer_on_writable");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (w->wcb)
		return dmaio__fail(-EBUSY, "writer_on_writable: an earlier "
				   "on_writable is still waiting");
	w->wcb = cb;
	w->warg = arg;
	/* called back from the loop, even when a buffer is free now */
	if (dmaio__writer_writable(w))
		return dmaio__writer_kick(w);
	return 0;
}

/*
 * The end of the full buffers: all of the stream before the buffer being
 * filled, and that one too once it is full (it waits for a free slot).
 */
static uint64_t aligned_end(const struct dmaio_writer *w)
{
	if (!w->cur)
		return w->pos;
	return w->cur_pos + (w->fill == w->bs ? w->bs : 0);
}

static int add_flush(struct dmaio_writer *w, int sync, int aligned,
		     dmaio_cb cb, void *arg, const char *what)
{
	struct flush_req *r;
	int ret = usable(w, what);

	if (ret)
		return ret;
	if (w->err)
		return sticky(w, what);
	r = calloc(1, sizeof(*r));
	if (!r)
		return dmaio__fail(-ENOMEM, "%s: no memory", what);
	ret = dmaio__writer_kick(w);
	if (ret) {
		free(r);
		return ret;
	}
	w->granted = 0;
	r->w = w;
	r->target = aligned ? aligned_end(w) : w->pos;
	r->sync = sync;
	r->aligned = aligned;
	r->cb = cb;
	r->arg = arg;
	/* appended: callbacks run in the order the calls were made */
	*w->reqs_tail = r;
	w->reqs_tail = &r->next;
	/* the aligned forms leave the partial buffer alone: no padded tail */
	if (!aligned)
		w->flush_pending = 1;
	dmaio__writer_submit(w);
	return 0;
}

DMAIO_EXPORT int dmaio_writer_flush(struct dmaio_writer *w, dmaio_cb cb,
				    void *arg)
{
	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);

	return add_flush(w, 0, 0, cb, arg, "writer_flush");
}

DMAIO_EXPORT int dmaio_writer_sync(struct dmaio_writer *w, dmaio_cb cb,
				   void *arg)
{
	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);

	return add_flush(w, 1, 0, cb, arg, "writer_sync");
}

DMAIO_EXPORT int dmaio_writer_flush_aligned(struct dmaio_writer *w,
					    dmaio_cb cb, void *arg)
{
	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);

	return add_flush(w, 0, 1, cb, arg, "writer_flush_aligned");
}

DMAIO_EXPORT int dmaio_writer_sync_aligned(struct dmaio_writer *w,
					   dmaio_cb cb, void *arg)
{
	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);

	return add_flush(w, 1, 1, cb, arg, "writer_sync_aligned");
}

DMAIO_EXPORT int dmaio_writer_close(struct dmaio_writer *w, dmaio_cb cb,
				    void *arg)
{
	int ret = usable(w, "writer_close");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	ret = dmaio__writer_kick(w);
	if (ret)
		return ret;
	w->granted = 0;
	w->stage = DRAINING;
	w->close_cb = cb;
	w->close_arg = arg;
	w->flush_pending = 1;
	if (w->wcb) {
		/* nobody will write again: let the waiter know */
		dmaio_cb wcb = w->wcb;

		w->wcb = NULL;
		if (dmaio__post(w->loop, wcb, w->warg, -ECANCELED))
			dmaio__writer_set_err(w, -ENOMEM);
	}
	dmaio__writer_submit(w);
	return 0;
}

DMAIO_EXPORT uint64_t dmaio_writer_position(const struct dmaio_writer *w)
{
	return w ? w->pos : 0;
}

DMAIO_EXPORT uint64_t dmaio_writer_flushed_position(const struct dmaio_writer *w)
{
	return w ? w->flushed : 0;
}

DMAIO_EXPORT uint64_t dmaio_writer_synced_position(const struct dmaio_writer *w)
{
	return w ? w->synced : 0;
}

/* ------------------------------------------------------------------ */
/* blocking twins                                                      */

/*
 * One turn of write_wait, on the loop's thread: what fits is taken (b);
 * if not all of it, the waiter is filled once a buffer is free again.
 */
static int write_step_submit(struct dmaio__waiter *x)
{
	struct dmaio_writer *w = x->obj;
	int64_t n;
	int ret = usable(w, "writer_write_wait");

	if (ret)
		return ret;
	n = dmaio_writer_write(w, x->ptr, x->n);
	if (n < 0)
		return (int)n;
	x->b = (uint64_t)n;
	if ((size_t)n == x->n) {
		dmaio__waiter_res(x, 0);
		return 0;
	}
	return dmaio_writer_on_writable(w, dmaio__waiter_res, x);
}

DMAIO_EXPORT int64_t dmaio_writer_write_wait(struct dmaio_writer *w,
					     const void *data, size_t len)
{
	const char *p = data;
	size_t total = 0;

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (!w)
		return usable(w, "writer_write_wait");
	for (;;) {
		struct dmaio__waiter x = DMAIO__WAITER_INIT;
		int64_t res;

		x.obj = w;
		x.ptr = p + total;
		x.n = len - total;
		res = dmaio__wait_call(w->loop, &x, write_step_submit,
				       __func__);
		if (res < 0)
			return res;
		total += (size_t)x.b;
		if (total == len)
			return (int64_t)total;
	}
}

enum { W_FLUSH, W_SYNC, W_CLOSE };

static int writer_submit(struct dmaio__waiter *x)
{
	struct dmaio_writer *w = x->obj;
	static const char *const what[] = { "writer_flush_wait",
					    "writer_sync_wait",
					    "writer_close_wait" };
	int ret = usable(w, what[x->flags]);

	if (ret)
		return ret;
	if (x->flags == W_FLUSH)
		return dmaio_writer_flush(w, dmaio__waiter_res, x);
	if (x->flags == W_SYNC)
		return dmaio_writer_sync(w, dmaio__waiter_res, x);
	return dmaio_writer_close(w, dmaio__waiter_res, x);
}

/* w is freed by the time close returns: its loop is read before. */
static int64_t writer_wait(struct dmaio_writer *w, int call, const char *func)
{
	struct dmaio__waiter x = DMAIO__WAITER_INIT;

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (!w)
		return usable(w, func + strlen("dmaio_"));
	x.obj = w;
	x.flags = call;
	return dmaio__wait_call(w->loop, &x, writer_submit, func);
}

DMAIO_EXPORT int dmaio_writer_flush_wait(struct dmaio_writer *w)
{
	return (int)writer_wait(w, W_FLUSH, __func__);
}

DMAIO_EXPORT int dmaio_writer_sync_wait(struct dmaio_writer *w)
{
	return (int)writer_wait(w, W_SYNC, __func__);
}

DMAIO_EXPORT int64_t dmaio_writer_close_wait(struct dmaio_writer *w)
{
	return writer_wait(w, W_CLOSE, __func__);
}
