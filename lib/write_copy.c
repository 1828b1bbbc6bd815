/* SPDX-License-Identifier: MIT */
/*
 * write_copy: any byte range from the caller's memory. The bytes are
 * copied into an aligned buffer covering the enclosing blocks before the
 * call returns; the partial first and last blocks are read back and
 * merged; one aligned write_at writes it all; a truncate cuts the padding
 * off a write past EOF. Built on the file layer's public calls.
 *
 * Order: two calls overlap when they touch a common aligned block (the
 * read-modify-write is per block). A call waits until every earlier call
 * it overlaps has finished, so overlapping calls take effect in call
 * order and the others run in parallel.
 *
 * Size: a padded write leaves the file up to a block longer than it
 * should be. The size the calls leave, `size', is the file's size when no
 * call was writing, grown by each call's pos + len as its write is
 * submitted. After its write, a call whose padding reaches past `size'
 * truncates to `size' (a barrier: the file layer runs it after the I/O
 * submitted before it and before the I/O submitted after it). Every
 * write submitted before that truncate counted its end into `size', so
 * the truncate never cuts what one of them wrote; one submitted after it
 * lands after it. `size' only grows while calls are writing, so the last
 * truncate is to the largest end, and a padding reaching past that was
 * written by a call that truncates after it. The file layer's size_seen
 * sees our writes and truncates as any others.
 */
#include "file.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct wc_job {
	struct wc_job *prev, *next;   /* the file's calls, in call order */
	struct wc_job *ready_next;
	struct dmaio__wcopy *w;
	dmaio_cb cb;
	void *arg;
	uint64_t pos;
	size_t len;
	uint64_t start, end;          /* the aligned blocks it touches */
	struct dmaio_buf *buf;        /* [start, end), the caller's bytes in */
	uint64_t written;             /* of the buffer, by write_at so far */
	unsigned waits;               /* earlier overlapping calls running */
	unsigned reads;               /* read-backs in flight */
	int64_t err;
	int sizing;                   /* counted in w->sizing */
	int counted;                  /* a caller's: counts on the file */
};

/* A file's write_copy calls; freed when none is left. */
struct dmaio__wcopy {
	struct dmaio_file *f;
	struct wc_job *head, *tail;   /* calls not finished */
	struct wc_job *ready, *ready_tail; /* may start now */
	unsigned busy;                /* in drain or a callback: keep w */
	uint64_t size;                /* see above */
	unsigned sizing;              /* calls between write and truncate */
};

#define INTERNAL(w, call) dmaio__internal((w)->f->loop, call)

static int overlap(const struct wc_job *a, const struct wc_job *b)
{
	return a->start < b->end && b->start < a->end;
}

static void release_if_idle(struct dmaio__wcopy *w)
{
	if (!w->head && !w->busy) {
		w->f->wcopy = NULL;
		free(w);
	}
}

static int read_stage(struct wc_job *j);
static void finish_job(struct wc_job *j, int64_t res);

/*
 * Starts the calls that no longer wait. A call that finishes meanwhile
 * (it could not start) adds to the list this loop is taking from.
 */
static void drain(struct dmaio__wcopy *w)
{
	struct wc_job *j;
	int ret;

	if (w->busy)
		return;
	w->busy++;
	while ((j = w->ready)) {
		w->ready = j->ready_next;
		if (!w->ready)
			w->ready_tail = NULL;
		ret = read_stage(j);
		if (ret)
			finish_job(j, ret);
	}
	w->busy--;
	release_if_idle(w);
}

static void unlink_job(struct dmaio__wcopy *w, struct wc_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		w->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		w->tail = j->prev;
}

static void finish_job(struct wc_job *j, int64_t res)
{
	struct dmaio__wcopy *w = j->w;
	struct dmaio_file *f = w->f;
	struct dmaio_loop *loop = f->loop;
	struct wc_job *k;

	for (k = j->next; k; k = k->next) {
		if (!overlap(j, k) || --k->waits)
			continue;
		k->ready_next = NULL;
		if (w->ready_tail)
			w->ready_tail->ready_next = k;
		else
			w->ready = k;
		w->ready_tail = k;
	}
	unlink_job(w, j);
	if (j->sizing)
		w->sizing--;
	dmaio_buf_unref(j->buf);
	loop->pending--;
	w->busy++;
	/* the last hold lets a parked close go, after all of our I/O */
	dmaio__file_unhold(f);
	if (j->counted)
		dmaio__count_write(f, res);
	dmaio__call_cb(loop, j->cb, j->arg, res);
	free(j);
	w->busy--;
	drain(w);
}

/* ------------------------------------------------------------------ */
/* the stages: read back the edges, write, truncate                    */

static void on_written(void *arg, int64_t res);

static void on_truncated(void *arg, int64_t res)
{
	struct wc_job *j = arg;

	finish_job(j, res < 0 ? res : (int64_t)j->len);
}

/* Writes the buffer from j->written on. */
static int submit_write(struct wc_job *j)
{
	struct dmaio__wcopy *w = j->w;
	struct dmaio_file *f = w->f;
	struct dmaio_buf *b = j->buf;
	int ret;

	if (j->written) {
		size_t n = (size_t)(j->end - j->start - j->written);

		b = dmaio__buf_alloc(f->loop->pool, n, f->mem_align);
		if (!b)
			return -ENOMEM;
		memcpy(b->data, (char *)j->buf->data + j->written, n);
	}
	ret = INTERNAL(w, dmaio_file_write_at(f, b, j->start + j->written,
					      on_written, j));
	if (b != j->buf)
		dmaio_buf_unref(b); /* the write holds its own reference */
	return ret;
}

static void on_written(void *arg, int64_t res)
{
	struct wc_job *j = arg;
	struct dmaio__wcopy *w = j->w;
	struct dmaio_file *f = w->f;
	uint64_t want = j->end - j->start - j->written;
	int ret;

	if (res < 0) {
		finish_job(j, res);
		return;
	}
	j->written += (uint64_t)res;
	if ((uint64_t)res < want && j->start + j->written < j->pos + j->len) {
		/*
		 * Short: the kernel wrote what it could. Writing the rest
		 * says why it stopped (ENOSPC, EDQUOT, EFBIG) or finishes.
		 */
		ret = !res || (j->written & (f->align - 1)) ? -EIO
							    : submit_write(j);
		if (ret)
			finish_job(j, ret);
		return;
	}
	if (j->start + j->written <= w->size) {
		finish_job(j, (int64_t)j->len);
		return;
	}
	/* the padding reaches past the size: cut it (see above) */
	ret = INTERNAL(w, dmaio_file_truncate(f, w->size, on_truncated, j));
	if (ret)
		finish_job(j, ret);
}

/* 0, or the error of a write that could not start (and left no trace). */
static int write_stage(struct wc_job *j)
{
	struct dmaio__wcopy *w = j->w;
	uint64_t was;
	int ret;

	/* no call writing: what the file layer saw is the size */
	if (!w->sizing)
		w->size = dmaio__size_seen(w->f);
	was = w->size;
	if (j->pos + j->len > w->size)
		w->size = j->pos + j->len;
	ret = submit_write(j);
	if (ret) {
		w->size = was;
		return ret;
	}
	w->sizing++;
	j->sizing = 1;
	return 0;
}

/* Copies what the read returned of [at, at + n) into the buffer; the
 * rest, past EOF, is zeros. */
static void merge(struct wc_job *j, const struct dmaio_view *v, uint64_t vpos,
		  uint64_t at, uint64_t n)
{
	char *dst = (char *)j->buf->data + (at - j->start);
	uint64_t off = at - vpos, got = 0;

	if (dmaio_view_len(v) > off)
		got = dmaio_view_len(v) - off;
	if (got > n)
		got = n;
	memcpy(dst, (const char *)dmaio_view_data(v) + off, (size_t)got);
	memset(dst + got, 0, (size_t)(n - got));
}

struct wc_read {
	struct wc_job *j;
	uint64_t pos, len;
};

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct wc_read *r = arg;
	struct wc_job *j = r->j;
	uint64_t last = j->pos + j->len;
	int ret;

	if (res < 0) {
		if (!j->err)
			j->err = res;
	} else {
		/* the head [start, pos) and the tail [pos + len, end) */
		if (j->pos != j->start && r->pos == j->start)
			merge(j, v, r->pos, j->start, j->pos - j->start);
		if (last != j->end && r->pos + r->len == j->end)
			merge(j, v, r->pos, last, j->end - last);
	}
	dmaio_view_release(v);
	free(r);
	if (--j->reads)
		return;
	ret = j->err ? (int)j->err : write_stage(j);
	if (ret)
		finish_job(j, ret);
}

static int submit_read(struct wc_job *j, uint64_t pos, size_t len)
{
	struct wc_read *r = malloc(sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->j = j;
	r->pos = pos;
	r->len = len;
	ret = INTERNAL(j->w, dmaio_file_read_at_aligned(j->w->f, pos, len,
							on_read, r));
	if (ret)
		free(r);
	else
		j->reads++;
	return ret;
}

/*
 * Reads back the partial blocks at the edges (one read when they are the
 * same block or neighbours), or writes at once when there are none.
 * Returns an error only when nothing was started; a second read that
 * cannot start fails the call when the first completes.
 */
static int read_stage(struct wc_job *j)
{
	size_t a = j->w->f->align;
	int head = j->pos != j->start;
	int tail = j->pos + j->len != j->end;
	int ret = 0;

	if (!head && !tail)
		return write_stage(j);
	j->reads = 1; /* held while the reads are submitted */
	if (head && tail && j->end - j->start <= 2 * a) {
		ret = submit_read(j, j->start, (size_t)(j->end - j->start));
	} else {
		if (head)
			ret = submit_read(j, j->start, a);
		if (tail && !ret)
			ret = submit_read(j, j->end - a, a);
	}
	if (ret && j->reads == 1) {
		j->reads = 0;
		return ret;
	}
	if (ret)
		j->err = ret;
	j->reads--; /* one is in flight: it goes on */
	return 0;
}

/* ------------------------------------------------------------------ */

static int check_args(struct dmaio_file *f, uint64_t pos, const void *data,
		      size_t len)
{
	int ret = dmaio__file_check(f, "write_copy");
	uint64_t a;

	if (ret)
		return ret;
	if (f->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "write_copy: the file was opened "
				   "read-only");
	if (!data && len)
		return dmaio__fail(-EINVAL, "write_copy: data is NULL");
	a = f->align;
	if (pos > INT64_MAX || len > INT64_MAX - pos ||
	    dmaio__align_up(pos + len, a) > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "write_copy: pos %" PRIu64
				   " + len %zu is past the largest file "
				   "offset", pos, len);
	if (f->accmode == O_WRONLY && ((pos | (pos + len)) & (a - 1)) && len)
		return dmaio__fail(-EBADF, "write_copy: the file was opened "
				   "write-only, and the partial blocks at the "
				   "edges of pos %" PRIu64 " + len %zu must "
				   "be read back (alignment %zu)", pos, len,
				   f->align);
	return 0;
}

DMAIO_EXPORT int dmaio_file_write_copy(struct dmaio_file *f, uint64_t pos,
				       const void *data, size_t len,
				       dmaio_cb cb, void *arg)
{
	struct dmaio__wcopy *w;
	struct wc_job *j, *k;
	int ret = check_args(f, pos, data, len);

	if (ret)
		return ret;
	if (!len) { /* as pwrite: nothing written, not even the size */
		ret = dmaio__post(f->loop, cb, arg, 0);
		return ret ? dmaio__fail(ret, "write_copy: no memory") : 0;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return dmaio__fail(-ENOMEM, "write_copy: no memory");
	j->start = dmaio__align_down(pos, f->align);
	j->end = dmaio__align_up(pos + len, f->align);
	j->buf = dmaio__buf_alloc(f->loop->pool, (size_t)(j->end - j->start),
				  f->mem_align);
	w = f->wcopy ? f->wcopy : calloc(1, sizeof(*w));
	if (!j->buf || !w) {
		if (j->buf)
			dmaio_buf_unref(j->buf);
		free(j);
		if (w && !f->wcopy)
			free(w);
		return dmaio__fail(-ENOMEM, "write_copy: no memory for %zu "
				   "bytes", len);
	}
	memcpy((char *)j->buf->data + (pos - j->start), data, len);
	j->pos = pos;
	j->len = len;
	j->cb = cb;
	j->arg = arg;
	j->counted = !f->loop->internal_calls;
	j->w = w;
	w->f = f;
	f->wcopy = w;
	for (k = w->head; k; k = k->next)
		if (overlap(j, k))
			j->waits++;
	j->prev = w->tail;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	dmaio__file_hold(f);
	f->loop->pending++;
	if (j->waits)
		return 0;
	ret = read_stage(j);
	if (ret) {
		/* nothing started: undone as if never called */
		unlink_job(w, j);
		f->loop->pending--;
		dmaio__file_unhold(f);
		dmaio_buf_unref(j->buf);
		free(j);
		release_if_idle(w);
		return dmaio__fail(ret, "write_copy: its first I/O could not "
				   "start");
	}
	return 0;
}

static int write_copy_submit(struct dmaio__waiter *w)
{
	return dmaio_file_write_copy(w->obj, w->a, w->ptr, w->n,
				     dmaio__waiter_res, w);
}

DMAIO_EXPORT int64_t dmaio_file_write_copy_wait(struct dmaio_file *f,
						uint64_t pos, const void *data,
						size_t len)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.obj = f;
	w.a = pos;
	w.ptr = data;
	w.n = len;
	return dmaio__wait_call(f ? f->loop : NULL, &w, write_copy_submit,
				"write_copy_wait");
}
