/* SPDX-License-Identifier: MIT */
/*
 * DmaFile: open, close, identity, and the life of a file operation.
 *
 * Operations that change the file's allocation (fallocate, truncate, hole
 * punching, extent hints), rename, remove and close are barriers: they
 * wait until the file's in-flight I/O has drained, and I/O submitted
 * after them waits until they are done. On XFS, fallocate waits for all
 * direct I/O of the file while holding its lock, and an io_submit issued
 * meanwhile would sleep on that lock in the loop thread.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dmaio__file_check(const struct dmaio_file *f)
{
	if (!f)
		return -EINVAL;
	if (f->closing)
		return -EBADF;
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

/* The loop-thread end of every file operation. */
static void file_op_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;
	struct dmaio_loop *loop = op->loop;

	if (op->barrier) {
		f->barrier = NULL;
		f->barrier_running = 0;
		release_held(f);
	} else {
		f->io_inflight--;
		run_barrier_if_drained(f);
	}
	loop->pending--;
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

void dmaio__finish_cb(struct dmaio__op *op, int64_t res)
{
	dmaio__call_cb(op->loop, op->u.cb, op->arg, res);
}

void dmaio__file_unlink(struct dmaio_file *f)
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
	free(f->path);
	free(f);
}

/* ------------------------------------------------------------------ */
/* open                                                                */

static int64_t open_work(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;
	struct stat st;
	int fd, fl, err;

	fd = open(f->path, (op->oflags & ~O_DIRECT) | O_CLOEXEC, op->mode);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto fail;
	}
	/*
	 * O_DIRECT through fcntl rather than open: a file system that refuses
	 * it fails open with EINVAL after O_CREAT made the file, and a retry
	 * with O_EXCL would then fail with EEXIST.
	 */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0) {
		err = -errno;
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) == 0) {
		f->direct = 1;
	} else if (errno == EINVAL) {
		f->direct = 0; /* buffered fallback, same API */
	} else {
		err = -errno;
		goto fail;
	}
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	dmaio__file_discover(f, op->loop->features);
	return 0;
fail:
	close(fd);
	return err;
}

static void open_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;
	struct dmaio_file *f = op->file;

	loop->pending--;
	if (res < 0) {
		dmaio__file_free(f);
		f = NULL;
	} else {
		f->next = loop->files;
		if (f->next)
			f->next->prev = f;
		loop->files = f;
	}
	if (op->u.open_cb && !loop->freeing) {
		dmaio__cb_enter(loop);
		op->u.open_cb(op->arg, f, (int)res);
		dmaio__cb_leave(loop);
	}
	dmaio__op_put(loop, op);
}

DMAIO_EXPORT int dmaio_file_open_flags(struct dmaio_loop *l, const char *path,
				       int oflags, mode_t mode,
				       dmaio_open_cb cb, void *arg)
{
	struct dmaio_file *f;
	struct dmaio__op *op;

	DMAIO__NOT_INHERITED(l, -EBADFD);
	if (!l || !path)
		return -EINVAL;
	if (!*path)
		return -ENOENT;
	if ((oflags & O_ACCMODE) == O_ACCMODE || (oflags & O_PATH))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->path = strdup(path);
	op = dmaio__op_get(l);
	if (!f->path || !op) {
		dmaio__file_free(f);
		if (op)
			dmaio__op_put(l, op);
		return -ENOMEM;
	}
	f->loop = l;
	f->fd = -1;
	f->accmode = oflags & O_ACCMODE;
	op->file = f;
	op->oflags = oflags;
	op->mode = mode;
	op->work = open_work;
	op->done = open_done;
	op->u.open_cb = cb;
	op->arg = arg;
	l->pending++;
	dmaio__helper_submit(l, op);
	return 0;
}

DMAIO_EXPORT int dmaio_file_open(struct dmaio_loop *l, const char *path,
				 dmaio_open_cb cb, void *arg)
{
	return dmaio_file_open_flags(l, path, O_RDONLY, 0, cb, arg);
}

DMAIO_EXPORT int dmaio_file_create(struct dmaio_loop *l, const char *path,
				   dmaio_open_cb cb, void *arg)
{
	return dmaio_file_open_flags(l, path, O_RDWR | O_CREAT | O_TRUNC, 0644,
				     cb, arg);
}

/* ------------------------------------------------------------------ */
/* close                                                               */

static int64_t close_work(struct dmaio__op *op)
{
	/* Linux releases the fd even when close reports an error */
	return close(op->file->fd) ? -errno : 0;
}

static void close_finish(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;

	f->fd = -1;
	dmaio__file_unlink(f);
	dmaio__call_cb(op->loop, op->u.cb, op->arg, res);
	dmaio__file_free(f);
}

DMAIO_EXPORT int dmaio_file_close(struct dmaio_file *f, dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f);

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	op = dmaio__file_op(f, close_finish, arg);
	if (!op)
		return -ENOMEM;
	op->u.cb = cb;
	op->work = close_work;
	op->barrier = 1;
	f->closing = 1;
	dmaio__file_start(op);
	return 0;
}

/* ------------------------------------------------------------------ */
/* identity and alignment                                              */

DMAIO_EXPORT uint64_t dmaio_file_align_up(const struct dmaio_file *f,
					  uint64_t v)
{
	uint64_t a = f ? f->align : DMAIO_MIN_ALIGN;

	return (v + a - 1) & ~(a - 1);
}

DMAIO_EXPORT uint64_t dmaio_file_align_down(const struct dmaio_file *f,
					    uint64_t v)
{
	uint64_t a = f ? f->align : DMAIO_MIN_ALIGN;

	return v & ~(a - 1);
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
	int ret = dmaio__file_check(f);

	return ret ? ret : f->fd;
}

DMAIO_EXPORT const char *dmaio_file_path(const struct dmaio_file *f)
{
	return f ? f->path : NULL;
}
