/* SPDX-License-Identifier: MIT */
/*
 * DmaFile: close, identity, and the life of a file operation (opening
 * is file_open.c's).
 *
 * Operations that change the file's allocation (fallocate, truncate, hole
 * punching, extent hints), rename, remove and close are barriers: they
 * wait until the file's in-flight I/O has drained, and I/O submitted
 * after them waits until they are done. On XFS, fallocate waits for all
 * direct I/O of the file while holding its lock, and an io_submit issued
 * meanwhile would sleep on that lock in the loop thread. Where the file
 * system holds the inode lock across fsync, or across a direct write that
 * extends the file, those are barriers too (see fs_quirks, file_open.c).
 */
#include "aio.h"
#include "drain.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

int dmaio__file_check(const struct dmaio_file *f, const char *what)
{
	if (!f)
		return dmaio__fail(-EINVAL, "%s: file is NULL", what);
	/* a held file lets the holder's own calls through (see close) */
	if (__atomic_load_n(&f->closing, __ATOMIC_RELAXED) &&
	    !(f->holds && f->loop->internal_calls))
		return dmaio__fail(-EBADF, "%s: close was already called on "
				   "this file", what);
	return 0;
}

static void run_barrier_if_drained(struct dmaio_file *f)
{
	if (f->barrier && !f->barrier_running && !f->io_inflight) {
		f->barrier_running = 1;
		dmaio__helper_submit(f->loop, f->barrier);
	}
}

static void dispatch(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	if (op->barrier) {
		f->barrier = op;
		run_barrier_if_drained(f);
		return;
	}
	f->io_inflight++;
	if (op->start)
		op->start(op);
	else
		dmaio__helper_submit(f->loop, op);
}

static void release_held(struct dmaio_file *f)
{
	struct dmaio__op *op;

	while (!f->barrier && (op = dmaio__opq_pop(&f->held)))
		dispatch(op);
	run_barrier_if_drained(f);
}

/* What the caller gets counts: of a read, the bytes it asked for that
 * came back, not the aligned range read. */
static void count_for_class(struct dmaio__op *op, int64_t res)
{
	if (op->rw && op->opcode == IO_CMD_PREAD && res >= 0) {
		size_t off, n;

		dmaio__range_clamp(op->io_pos, res, op->pos, op->len, &off, &n);
		res = (int64_t)n;
	}
	dmaio__class_count(op->cls, op, res);
}

/* The loop-thread end of every file operation. */
static void file_op_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;
	struct dmaio_loop *loop = op->loop;

	if (op->barrier) {
		/*
		 * What the barrier changed (a rename's path) is in place
		 * before the operations held behind it start: a remove or
		 * rename queued after a rename reads the new path on its
		 * helper thread, never the old one being freed.
		 */
		if (op->settle)
			op->settle(op, res);
		f->barrier = NULL;
		f->barrier_running = 0;
		release_held(f);
	} else {
		f->io_inflight--;
		run_barrier_if_drained(f);
	}
	loop->pending--;
	/* counted before its callback, which may free the class */
	if (op->cls)
		count_for_class(op, res);
	/* may free f (close): nothing touches f after this */
	op->finish(op, res);
	dmaio__op_put(loop, op);
}

struct dmaio__op *dmaio__file_op(struct dmaio_file *f, dmaio__done_fn finish,
				 void *arg)
{
	struct dmaio__op *op = dmaio__op_get(f->loop);

	if (!op)
		return NULL;
	op->file = f;
	if (f->cls) {
		/* a class's latency runs from the call (none: no clock) */
		op->cls = f->cls;
		op->cls->nops++;
		op->t_call = dmaio__now_ns();
	}
	op->done = file_op_done;
	op->finish = finish;
	op->arg = arg;
	return op;
}

void dmaio__file_start(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	f->loop->pending++;
	if (f->barrier || f->held.n)
		dmaio__opq_push(&f->held, op);
	else
		dispatch(op);
}

void dmaio__file_hold(struct dmaio_file *f)
{
	f->holds++;
}

void dmaio__file_unhold(struct dmaio_file *f)
{
	struct dmaio__op *op = f->parked_close;

	if (--f->holds || !op)
		return;
	f->parked_close = NULL;
	f->loop->pending--;
	dmaio__file_start(op);
}

void dmaio__finish_cb(struct dmaio__op *op, int64_t res)
{
	dmaio__op_call_cb(op, op->u.cb, res);
}

static void file_unlink(struct dmaio_file *f)
{
	struct dmaio_loop *loop = f->loop;

	if (f->prev)
		f->prev->next = f->next;
	else if (loop->files == f)
		loop->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->next = f->prev = NULL;
}

void dmaio__file_free(struct dmaio_file *f)
{
	if (f->cls)
		f->cls->nfiles--;
	free(f->path);
	free(f->tmp_path);
	free(f);
}

void dmaio__files_end_lock_waits(struct dmaio_loop *loop)
{
	struct dmaio_file *f;

	for (f = loop->files; f; f = f->next)
		if (f->lock_waits)
			f->cancel_locks(f);
}

void dmaio__files_release(struct dmaio_loop *loop)
{
	while (loop->files) {
		struct dmaio_file *f = loop->files;

		file_unlink(f);
		if (f->fd >= 0)
			close(f->fd);
		if (f->tmp_path)
			unlink(f->tmp_path);
		dmaio__file_free(f);
	}
}

/* A buffer for f's I/O: aligned as its memory must be. */
DMAIO_EXPORT struct dmaio_buf *dmaio_file_alloc_buf(struct dmaio_file *f,
						    size_t size)
{
	struct dmaio_buf *b;

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, NULL);
	if (dmaio__file_check(f, "alloc_buf"))
		return NULL;
	b = dmaio__buf_alloc(f->loop->pool, size, f->mem_align);
	if (!b)
		dmaio__fail(-ENOMEM, size ? "alloc_buf: no memory for %zu bytes"
					  : "alloc_buf: size is %zu", size);
	return b;
}

/* ------------------------------------------------------------------ */
/* close                                                               */

void dmaio__direct_drain(struct dmaio_file *f)
{
	/* closing is set: a call coming in now leaves at once (-EBADF) */
	dmaio__drain(&f->direct_calls);
}

static int64_t close_work(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	dmaio__direct_drain(f);
	/* an anonymous file's hidden name goes with it (file_tmp.c) */
	if (f->tmp_path)
		unlink(f->tmp_path);
	/* Linux releases the fd even when close reports an error */
	return close(f->fd) ? -errno : 0;
}

static void close_finish(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;

	f->fd = -1;
	file_unlink(f);
	dmaio__op_call_cb(op, op->u.cb, res);
	dmaio__file_free(f);
}

int dmaio__file_end(struct dmaio_file *f, dmaio__work_fn work, dmaio_cb cb,
		    void *arg, const char *what)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, what);

	if (ret)
		return ret;
	op = dmaio__file_op(f, close_finish, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "%s: no memory", what);
	op->u.cb = cb;
	op->work = work;
	op->barrier = 1;
	/* from here a call on another thread fails (wait_direct.c) */
	__atomic_store_n(&f->closing, 1, __ATOMIC_SEQ_CST);
	/* a lock still waiting would never be taken: it ends first */
	if (f->lock_waits)
		f->cancel_locks(f);
	if (f->holds) {
		/*
		 * A write_copy call still has a write or truncate to submit
		 * (after its read-back): the close follows the last of them.
		 */
		f->parked_close = op;
		f->loop->pending++;
		return 0;
	}
	dmaio__file_start(op);
	return 0;
}

DMAIO_EXPORT int dmaio_file_close(struct dmaio_file *f, dmaio_cb cb, void *arg)
{
	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);

	return dmaio__file_end(f, close_work, cb, arg, "close");
}

/* ------------------------------------------------------------------ */
/* identity and alignment                                              */

DMAIO_EXPORT uint64_t dmaio_file_align_up(const struct dmaio_file *f,
					  uint64_t v)
{
	uint64_t a = f ? f->align : DMAIO_MIN_ALIGN;

	return dmaio__align_up(v, a);
}

DMAIO_EXPORT uint64_t dmaio_file_align_down(const struct dmaio_file *f,
					    uint64_t v)
{
	uint64_t a = f ? f->align : DMAIO_MIN_ALIGN;

	return dmaio__align_down(v, a);
}

DMAIO_EXPORT size_t dmaio_file_alignment(const struct dmaio_file *f)
{
	return f ? f->align : DMAIO_MIN_ALIGN;
}

DMAIO_EXPORT size_t dmaio_file_max_io(const struct dmaio_file *f)
{
	return f ? f->max_io : DMAIO_DEFAULT_MAX_IO;
}

DMAIO_EXPORT const char *dmaio_file_alignment_source(const struct dmaio_file *f)
{
	return f ? f->align_source : NULL;
}

DMAIO_EXPORT int dmaio_file_is_same(const struct dmaio_file *a,
				    const struct dmaio_file *b)
{
	return a && b && a->dev == b->dev && a->ino == b->ino;
}

DMAIO_EXPORT int dmaio_file_is_direct(const struct dmaio_file *f)
{
	return f ? f->direct : 0;
}

DMAIO_EXPORT int dmaio_file_fd(const struct dmaio_file *f)
{
	int ret = dmaio__file_check(f, "fd");

	return ret ? ret : f->fd;
}

DMAIO_EXPORT const char *dmaio_file_path(const struct dmaio_file *f)
{
	return f ? f->path : NULL;
}
