/* SPDX-License-Identifier: MIT */
/*
 * The stream writer's I/O: buffer writes, the file grown ahead of them,
 * and the steps of flush, sync and close.
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
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dmaio__writer_set_err(struct dmaio_writer *w, int64_t err)
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

void dmaio__writer_on_meta(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	(void)res; /* hints are hints: a file system without them still works */
	w->meta_inflight--;
	dmaio__writer_progress(w);
}

static void on_grow(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	if (res == -EOPNOTSUPP && w->preallocate)
		w->preallocate = 0; /* grow by ftruncate from now on */
	if (res < 0)
		w->ahead = w->size0; /* so the next write tries again */
	dmaio__writer_on_meta(arg, res);
}

/* Keeps the file at least end bytes long before a write reaches there. */
static void grow_for(struct dmaio_writer *w, uint64_t end)
{
	uint64_t grown, stride, target;
	int ret;

	if (!w->grow_ahead || !w->f->direct || end <= w->ahead)
		return;
	/* doubling with this stream, not with what the file held before */
	grown = w->ahead > w->start ? w->ahead - w->start : 0;
	stride = grown < GROW_MIN ? GROW_MIN : grown > GROW_MAX ? GROW_MAX
								: grown;
	target = w->ahead + stride;
	if (target < end)
		target = end;
	target = dmaio__align_up(target, MIB);
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
		dmaio__writer_set_err(w, res < 0 ? res : -EIO);
	dmaio_buf_unref(s->buf);
	s->buf = NULL;
	while (w->ring_n && w->ring[w->ring_head].done) {
		struct wslot *h = &w->ring[w->ring_head];

		/* the prefix ends at the first failed write, for good */
		if (!h->ok)
			w->prefix_broken = 1;
		else if (!w->prefix_broken && h->data_end > w->flushed) {
			/* the stream's bytes, each counted once (a flushed
			 * partial block is written again, not counted again) */
			dmaio__count_write(w->f, (int64_t)(h->data_end -
							   w->flushed));
			w->flushed = h->data_end;
		}
		w->ring_head = (w->ring_head + 1) % w->ring_cap;
		w->ring_n--;
	}
	dmaio__writer_progress(w);
}

/* Submits what may go: full buffers, and the partial one when flushing. */
void dmaio__writer_submit(struct dmaio_writer *w)
{
	/* the first block's head is not back yet: it goes out whole */
	while (!w->err && w->cur && !w->readback) {
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
					dmaio__writer_set_err(w, -ENOMEM);
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
			dmaio__writer_set_err(w, ret);
			break;
		}
		w->ring_n++;
		w->inflight++;
	}
	if (!w->cur || w->fill == w->fill_written)
		w->flush_pending = 0;
}

int dmaio__writer_writable(const struct dmaio_writer *w)
{
	return w->err || !w->cur || w->fill < w->bs;
}

static void on_sync(void *arg, int64_t res)
{
	struct flush_req *r = arg;

	r->syncing = 0;
	r->sync = 0;
	if (res < 0)
		dmaio__writer_set_err(r->w, res);
	else if (r->covers > r->w->synced)
		r->w->synced = r->covers;
	r->w->meta_inflight--;
	dmaio__writer_progress(r->w);
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
			r->covers = w->flushed;
			r->syncing = 1;
			w->meta_inflight++;
		} else {
			dmaio__writer_set_err(w, -EIO);
		}
	}
	while ((r = w->reqs) && flush_req_done(w, r)) {
		w->reqs = r->next;
		if (!w->reqs)
			w->reqs_tail = &w->reqs;
		dmaio__call_cb(w->loop, r->cb, r->arg, w->err ? w->err :
			       r->aligned ? (int64_t)(w->flushed - w->start) : 0);
		free(r);
	}
}

static void on_close_step(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	if (res < 0 && !w->close_err)
		w->close_err = res;
	w->meta_inflight--;
	dmaio__writer_progress(w);
}

/* sync_on_close: the end of the stream is durable now */
static void on_close_sync(void *arg, int64_t res)
{
	struct dmaio_writer *w = arg;

	if (res == 0 && !w->err && !w->close_err)
		w->synced = w->flushed;
	on_close_step(arg, res);
}

/*
 * The file ends where the stream does, or after a failed write where its
 * good prefix does; never before where the file ended when we began.
 */
static uint64_t final_size(const struct dmaio_writer *w)
{
	uint64_t end = w->err ? w->flushed : w->pos;

	return end > w->size0 ? end : w->size0;
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
		w->stage = TRUNCATING;
		ret = dmaio__internal(w->loop, dmaio_file_truncate(w->f,
					final_size(w), on_close_step, w));
		break;
	case TRUNCATING:
		w->stage = SYNCING;
		if (!w->sync_on_close) {
			close_step(w);
			return;
		}
		ret = dmaio__internal(w->loop, dmaio_file_fdatasync(w->f,
						on_close_sync, w));
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
		/* the bytes this writer wrote */
		int64_t res = w->err ? w->err : w->close_err ? w->close_err
					      : (int64_t)(w->pos - w->start);

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
void dmaio__writer_progress(struct dmaio_writer *w)
{
	if (w->stage == CLOSING) {
		close_step(w); /* the file is gone: only the end is left */
		return;
	}
	dmaio__writer_submit(w);
	finish_flushes(w);
	if (w->wcb && dmaio__writer_writable(w)) {
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
	dmaio__writer_progress(w);
}

/* progress from the loop: never call back from inside a user's call. */
int dmaio__writer_kick(struct dmaio_writer *w)
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
