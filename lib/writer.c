/* SPDX-License-Identifier: MIT */
/*
 * The stream writer: copies into aligned buffers, keeps write_behind of
 * them in flight, and hides what appending O_DIRECT costs.
 *
 * Appending writes make io_submit allocate blocks and move EOF, and it
 * sleeps doing so. As Seastar does, the writer sets an extent-size hint,
 * and keeps the file's size (and, with fallocate, its blocks) ahead of the
 * writes, so that they become overwrites; close truncates to the exact
 * size. Those steps are barriers in the file layer, so they are taken in
 * doubling strides to keep the pipeline stalls rare.
 *
 * Writes complete out of order. Each write gets a slot in a ring kept in
 * submission order; flushed_position is the end of the completed prefix.
 * A flush writes the partial buffer padded and starts the next buffer with
 * a copy of the partial block, so a later write overwrites the padding;
 * that write overlaps the flush's last block and waits until it is done.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024ULL * 1024)
/* smallest and largest stride by which the file is grown ahead */
#define GROW_MIN (4 * MIB)
#define GROW_MAX (256 * MIB)

struct wslot {
	struct dmaio_writer *w;
	struct dmaio_buf *buf; /* what is being written, for a short write */
	uint64_t start, end;  /* bytes of the file written (padded) */
	uint64_t data_end;    /* end of the stream bytes it carries */
	int done, ok;
};

struct flush_req {
	struct dmaio_writer *w;
	struct flush_req *next;
	uint64_t target;
	int sync;
	int syncing;
	dmaio_cb cb;
	void *arg;
};

enum close_stage { OPEN, DRAINING, TRUNCATING, SYNCING, CLOSING };

struct dmaio_writer {
	struct dmaio__owned own; /* first: dmaio_loop_free() drops it */
	struct dmaio_file *f;
	struct dmaio_loop *loop;
	size_t bs;
	unsigned write_behind;
	int sync_on_close, preallocate, grow_ahead;

	struct dmaio_buf *cur;   /* being filled; NULL until needed */
	uint64_t cur_pos;        /* file offset of cur's first byte */
	size_t fill;
	uint64_t pos;            /* bytes accepted */
	int flush_pending;       /* write the partial buffer too */
	size_t fill_written;     /* of fill, already written by a flush */
	size_t granted;          /* dmaio_writer_get_space()'s last answer */

	struct wslot *ring;
	unsigned ring_cap, ring_head, ring_n;
	unsigned inflight;
	uint64_t flushed;
	int prefix_broken;       /* a write failed: flushed stops there */
	int64_t err;             /* sticky */

	uint64_t ahead;          /* size the file was grown to */
	unsigned meta_inflight;  /* hint, grow and sync calls not back yet */
	int kick_posted;

	dmaio_cb wcb;            /* on_writable */
	void *warg;
	struct flush_req *reqs;  /* flushes and syncs, oldest first */
	struct flush_req **reqs_tail;

	enum close_stage stage;
	dmaio_cb close_cb;
	void *close_arg;
	int64_t close_err;
};

DMAIO_EXPORT void dmaio_writer_opts_init(struct dmaio_writer_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->buffer_size = 128 * 1024;
	o->write_behind = 4;
	o->sync_on_close = 1;
	o->extent_hint = MIB;
	o->preallocate = 1;
	o->grow_ahead = 1;
}

static void progress(struct dmaio_writer *w);

static void set_err(struct dmaio_writer *w, int64_t err)
{
	if (!w->err)
		w->err = err;
}

static struct wslot *newest(struct dmaio_writer *w)
{
	if (!w->ring_n)
		return NULL;
	return &w->ring[(w->ring_head + w->ring_n - 1) % w->ring_cap];
}

static void on_meta(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	(void)res; /* hints are hints: a file system without them still works */
	w->meta_inflight--;
	progress(w);
}

static void on_grow(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	if (res == -EOPNOTSUPP && w->preallocate)
		w->preallocate = 0; /* grow by ftruncate from now on */
	if (res < 0)
		w->ahead = 0;       /* so the next write tries again */
	on_meta(arg, res);
}

/* Keeps the file at least end bytes long before a write reaches there. */
static void grow_for(struct dmaio_writer *w, uint64_t end)
{
	uint64_t stride, target;
	int ret;

	if (!w->grow_ahead || !w->f->direct || end <= w->ahead)
		return;
	stride = w->ahead < GROW_MIN ? GROW_MIN
	       : w->ahead > GROW_MAX ? GROW_MAX : w->ahead;
	target = w->ahead + stride;
	if (target < end)
		target = end;
	target = (target + MIB - 1) & ~(MIB - 1);
	if (w->preallocate)
		ret = dmaio__internal(w->loop, dmaio_file_pre_allocate(w->f, target, on_grow, w));
	else
		ret = dmaio__internal(w->loop, dmaio_file_truncate(w->f, target, on_grow, w));
	if (ret == 0) {
		w->meta_inflight++;
		w->ahead = target;
	}
}

static void on_write(void *arg, int64_t res);

/*
 * A short write is not yet an error: the kernel wrote what it could and
 * the rest will say why it cannot be written (ENOSPC, EDQUOT, EIO...).
 * Write the rest from a copy; its result decides.
 */
static int write_rest(struct wslot *s, int64_t done)
{
	struct dmaio_writer *w = s->w;
	size_t rest = (size_t)(s->end - s->start - (uint64_t)done);
	struct dmaio_buf *b;
	int ret;

	if ((uint64_t)done % dmaio_file_alignment(w->f))
		return -EIO; /* cannot continue an unaligned O_DIRECT write */
	b = dmaio_file_alloc_buf(w->f, rest);
	if (!b)
		return -ENOMEM;
	memcpy(dmaio_buf_data(b), (char *)dmaio_buf_data(s->buf) + done, rest);
	dmaio_buf_unref(s->buf);
	s->buf = b;
	s->start += (uint64_t)done;
	ret = dmaio__internal(w->loop, dmaio_file_write_at(w->f, b, s->start, on_write, s));
	return ret;
}

static void on_write(void *arg, int64_t res)
{
	struct wslot *s = arg;
	struct dmaio_writer *w = s->w;

	if (res > 0 && res < (int64_t)(s->end - s->start)) {
		int ret = write_rest(s, res);

		if (ret == 0)
			return; /* still in flight */
		res = ret;
	}
	w->inflight--;
	s->done = 1;
	s->ok = res == (int64_t)(s->end - s->start);
	if (!s->ok)
		set_err(w, res < 0 ? res : -EIO);
	dmaio_buf_unref(s->buf);
	s->buf = NULL;
	while (w->ring_n && w->ring[w->ring_head].done) {
		struct wslot *h = &w->ring[w->ring_head];

		/* the prefix ends at the first failed write, for good */
		if (!h->ok)
			w->prefix_broken = 1;
		else if (!w->prefix_broken && h->data_end > w->flushed)
			w->flushed = h->data_end;
		w->ring_head = (w->ring_head + 1) % w->ring_cap;
		w->ring_n--;
	}
	progress(w);
}

/* Submits what may go: full buffers, and the partial one when flushing. */
static void submit_ready(struct dmaio_writer *w)
{
	while (!w->err && w->cur) {
		struct dmaio_buf *buf = w->cur, *next = NULL;
		int full = w->fill == w->bs;
		uint64_t start = w->cur_pos;
		struct wslot *s = newest(w);
		size_t len, keep = 0, tail = 0;
		int ret;

		if (!full && (!w->flush_pending || w->fill == w->fill_written))
			break;
		if (w->inflight >= w->write_behind || w->ring_n >= w->ring_cap)
			break;
		if (s && !s->done && s->end > start)
			break; /* overlaps the flush still in flight */
		len = full ? w->bs : (size_t)dmaio_file_align_up(w->f, w->fill);
		if (!full) {
			keep = (size_t)dmaio_file_align_down(w->f, w->fill);
			tail = w->fill - keep;
			if (tail) {
				next = dmaio_file_alloc_buf(w->f, w->bs);
				if (!next) {
					set_err(w, -ENOMEM);
					break;
				}
				memcpy(dmaio_buf_data(next),
				       (char *)dmaio_buf_data(buf) + keep, tail);
			}
			memset((char *)dmaio_buf_data(buf) + w->fill, 0,
			       len - w->fill);
			dmaio_buf_trim(buf, len);
			w->flush_pending = 0;
		}
		grow_for(w, start + len);
		s = &w->ring[(w->ring_head + w->ring_n) % w->ring_cap];
		s->w = w;
		s->start = start;
		s->end = start + len;
		s->data_end = start + w->fill;
		s->done = s->ok = 0;
		s->buf = buf; /* our reference, kept for a short write */
		ret = dmaio__internal(w->loop, dmaio_file_write_at(w->f, buf, start, on_write, s));
		w->cur = next;
		if (full) {
			w->cur_pos += w->bs;
			w->fill = 0;
		} else {
			w->cur_pos += keep;
			w->fill = tail;
		}
		w->fill_written = w->fill;
		if (ret) {
			dmaio_buf_unref(buf);
			s->buf = NULL;
			set_err(w, ret);
			break;
		}
		w->ring_n++;
		w->inflight++;
	}
	if (!w->cur || w->fill == w->fill_written)
		w->flush_pending = 0;
}

static int writable(const struct dmaio_writer *w)
{
	return w->err || !w->cur || w->fill < w->bs;
}

static void on_sync(void *arg, int64_t res)
{
	struct flush_req *r = arg;

	r->syncing = 0;
	r->sync = 0;
	if (res < 0)
		set_err(r->w, res);
	r->w->meta_inflight--;
	progress(r->w);
}

static int flush_req_done(const struct dmaio_writer *w,
			  const struct flush_req *r)
{
	return !r->syncing && (w->err || (!r->sync && w->flushed >= r->target));
}

/*
 * Starts the fdatasync of every sync whose bytes are written, then calls
 * back, oldest first, the requests that are done: a flush made after a
 * sync is not reported before it, though its own work may finish first.
 */
static void finish_flushes(struct dmaio_writer *w)
{
	struct flush_req *r;

	for (r = w->reqs; r && !w->err; r = r->next) {
		if (!r->sync || r->syncing || w->flushed < r->target)
			continue;
		if (dmaio__internal(w->loop, dmaio_file_fdatasync(w->f, on_sync, r)) == 0) {
			r->syncing = 1;
			w->meta_inflight++;
		} else {
			set_err(w, -EIO);
		}
	}
	while ((r = w->reqs) && flush_req_done(w, r)) {
		w->reqs = r->next;
		if (!w->reqs)
			w->reqs_tail = &w->reqs;
		dmaio__call_cb(w->loop, r->cb, r->arg, w->err);
		free(r);
	}
}

static void on_close_step(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	if (res < 0 && !w->close_err)
		w->close_err = res;
	w->meta_inflight--;
	progress(w);
}

static void close_step(struct dmaio_writer *w)
{
	int ret = 0;

	switch (w->stage) {
	case OPEN:
		return;
	case DRAINING:
		if (w->inflight || w->meta_inflight || w->reqs ||
		    (!w->err && w->cur && w->fill > w->fill_written))
			return;
		/* exactly what was written, or the good prefix after an error */
		w->stage = TRUNCATING;
		ret = dmaio__internal(w->loop, dmaio_file_truncate(w->f, w->err ? w->flushed : w->pos,
					  on_close_step, w));
		break;
	case TRUNCATING:
		w->stage = SYNCING;
		if (!w->sync_on_close) {
			close_step(w);
			return;
		}
		ret = dmaio__internal(w->loop, dmaio_file_fdatasync(w->f, on_close_step, w));
		break;
	case SYNCING:
		w->stage = CLOSING;
		ret = dmaio__internal(w->loop, dmaio_file_close(w->f, on_close_step, w));
		if (ret == 0) {
			w->f = NULL;
			w->meta_inflight++;
			return;
		}
		break;
	case CLOSING: {
		int64_t res = w->err ? w->err : w->close_err ? w->close_err
							     : (int64_t)w->pos;

		dmaio__owned_closed(w->loop, &w->own, w->close_cb, w->close_arg,
				    res);
		return;
	}
	}
	if (ret == 0) {
		w->meta_inflight++;
	} else {
		if (!w->close_err)
			w->close_err = ret;
		close_step(w); /* on to the next step */
	}
}

/* Everything that can move after an event moves here. */
static void progress(struct dmaio_writer *w)
{
	if (w->stage == CLOSING) {
		close_step(w); /* the file is gone: only the end is left */
		return;
	}
	submit_ready(w);
	finish_flushes(w);
	if (w->wcb && writable(w)) {
		dmaio_cb cb = w->wcb;

		w->wcb = NULL;
		dmaio__call_cb(w->loop, cb, w->warg, w->err);
	}
	if (w->stage != OPEN)
		close_step(w);
}

static void on_kick(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	(void)res;
	w->kick_posted = 0;
	w->meta_inflight--;
	progress(w);
}

/* progress() from the loop: never call back from inside a user's call. */
static int kick(struct dmaio_writer *w)
{
	int ret;

	if (w->kick_posted)
		return 0;
	ret = dmaio__internal(w->loop, dmaio__post(w->loop, on_kick, w, 0));
	if (ret == 0) {
		w->kick_posted = 1;
		w->meta_inflight++;
	}
	return ret;
}

/* Frees the writer's memory; its file is the caller's (or the loop's). */
static void writer_free(struct dmaio_writer *w)
{
	unsigned i;

	if (w->cur)
		dmaio_buf_unref(w->cur);
	for (i = 0; i < w->ring_cap; i++)
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
	dmaio_writer_opts_init(&o);
	if (dmaio__opts_read(&o, sizeof(o), uo))
		return dmaio__fail(-EINVAL, "writer_new: opts->size is smaller "
				   "than a size_t");
	if (!o.buffer_size)
		o.buffer_size = 128 * 1024;
	if (!o.write_behind)
		o.write_behind = 4;
	if (o.buffer_size > (1u << 30))
		return dmaio__fail(-EINVAL, "writer_new: buffer_size %zu is "
				   "over 1 GiB", o.buffer_size);
	if (o.write_behind > 4096)
		return dmaio__fail(-EINVAL, "writer_new: write_behind %u is "
				   "over 4096", o.write_behind);
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
	if (!w->ring) {
		free(w);
		return dmaio__fail(-ENOMEM, "writer_new: no memory");
	}
	/* extent hints turn off XFS delayed allocation: direct files only */
	dmaio__own(w->loop, &w->own, writer_drop);
	if (o.extent_hint && f->direct &&
	    dmaio__internal(w->loop, dmaio_file_hint_extent_size(f, o.extent_hint, on_meta, w)) == 0)
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
		submit_ready(w);
		if (!w->err && w->cur && w->fill == w->bs)
			return 0;
	}
}

static void advance(struct dmaio_writer *w, size_t n)
{
	w->fill += n;
	w->pos += n;
	if (w->fill == w->bs)
		submit_ready(w);
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
	if (writable(w))
		return kick(w);
	return 0;
}

static int add_flush(struct dmaio_writer *w, int sync, dmaio_cb cb, void *arg)
{
	const char *what = sync ? "writer_sync" : "writer_flush";
	struct flush_req *r;
	int ret = usable(w, what);

	if (ret)
		return ret;
	if (w->err)
		return sticky(w, what);
	r = calloc(1, sizeof(*r));
	if (!r)
		return dmaio__fail(-ENOMEM, "%s: no memory", what);
	ret = kick(w);
	if (ret) {
		free(r);
		return ret;
	}
	w->granted = 0;
	r->w = w;
	r->target = w->pos;
	r->sync = sync;
	r->cb = cb;
	r->arg = arg;
	/* appended: callbacks run in the order the calls were made */
	*w->reqs_tail = r;
	w->reqs_tail = &r->next;
	w->flush_pending = 1;
	submit_ready(w);
	return 0;
}

DMAIO_EXPORT int dmaio_writer_flush(struct dmaio_writer *w, dmaio_cb cb,
				    void *arg)
{
	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);

	return add_flush(w, 0, cb, arg);
}

DMAIO_EXPORT int dmaio_writer_sync(struct dmaio_writer *w, dmaio_cb cb,
				   void *arg)
{
	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);

	return add_flush(w, 1, cb, arg);
}

DMAIO_EXPORT int dmaio_writer_close(struct dmaio_writer *w, dmaio_cb cb,
				    void *arg)
{
	int ret = usable(w, "writer_close");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	ret = kick(w);
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
			set_err(w, -ENOMEM);
	}
	submit_ready(w);
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

/* ------------------------------------------------------------------ */
/* blocking twins                                                      */

DMAIO_EXPORT int64_t dmaio_writer_write_wait(struct dmaio_writer *w,
					     const void *data, size_t len)
{
	const char *p = data;
	size_t total = 0;
	int ret = usable(w, "writer_write_wait");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	ret = dmaio__wait_check(w->loop, __func__);
	if (ret)
		return ret;
	for (;;) {
		struct dmaio__waiter x = DMAIO__WAITER_INIT;
		int64_t n = dmaio_writer_write(w, p + total, len - total);

		if (n < 0)
			return n;
		total += (size_t)n;
		if (total == len)
			return (int64_t)total;
		ret = dmaio_writer_on_writable(w, dmaio__waiter_res, &x);
		if (ret)
			return ret;
		if (dmaio__wait_for(w->loop, &x) < 0)
			return x.res;
	}
}

DMAIO_EXPORT int dmaio_writer_flush_wait(struct dmaio_writer *w)
{
	struct dmaio__waiter x = DMAIO__WAITER_INIT;
	int ret = usable(w, "writer_flush_wait");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret || (ret = dmaio__wait_check(w->loop, __func__)))
		return ret;
	ret = dmaio_writer_flush(w, dmaio__waiter_res, &x);
	return ret ? ret : (int)dmaio__wait_for(w->loop, &x);
}

DMAIO_EXPORT int dmaio_writer_sync_wait(struct dmaio_writer *w)
{
	struct dmaio__waiter x = DMAIO__WAITER_INIT;
	int ret = usable(w, "writer_sync_wait");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret || (ret = dmaio__wait_check(w->loop, __func__)))
		return ret;
	ret = dmaio_writer_sync(w, dmaio__waiter_res, &x);
	return ret ? ret : (int)dmaio__wait_for(w->loop, &x);
}

DMAIO_EXPORT int64_t dmaio_writer_close_wait(struct dmaio_writer *w)
{
	struct dmaio__waiter x = DMAIO__WAITER_INIT;
	struct dmaio_loop *loop;
	int ret = usable(w, "writer_close_wait");

	DMAIO__NOT_INHERITED(w ? w->loop : NULL, -EBADFD);
	if (ret || (ret = dmaio__wait_check(w->loop, __func__)))
		return ret;
	loop = w->loop; /* w is freed by the time we return */
	ret = dmaio_writer_close(w, dmaio__waiter_res, &x);
	return ret ? ret : dmaio__wait_for(loop, &x);
}
