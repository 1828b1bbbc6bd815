/* SPDX-License-Identifier: MIT */
/*
 * Reads, writes and fdatasync. A read of any range reads the enclosing
 * aligned range into one buffer and hands back a view of exactly the
 * bytes asked for that the kernel returned: one I/O, no copy. Requests
 * larger than the device takes are split into parts that complete as one.
 * Buffered-fallback files do their I/O on the helper threads, since
 * io_submit on them would block the loop.
 */
#include "aio.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* launching: one iocb, several parts, or a helper thread              */

static void prep_rw(struct iocb *cb, int opcode, int fd, void *data,
		    size_t len, uint64_t pos)
{
	if (opcode == IO_CMD_PREAD)
		io_prep_pread(cb, fd, data, len, (long long)pos);
	else
		io_prep_pwrite(cb, fd, data, len, (long long)pos);
}

/*
 * A part ends the whole request when it is the last one. The result is the
 * bytes the parts made contiguous from the start, or the first error.
 */
static void part_done(struct dmaio__op *part, int64_t res)
{
	struct dmaio__op *op = part->parent;

	if (res < 0) {
		if (!op->part_err)
			op->part_err = res;
	} else if ((uint64_t)res < part->io_len &&
		   part->io_pos + (uint64_t)res < op->short_end) {
		op->short_end = part->io_pos + (uint64_t)res;
	}
	dmaio__op_put(op->loop, part);
	if (--op->parts_left)
		return;
	op->done(op, op->part_err ? op->part_err
				  : (int64_t)(op->short_end - op->io_pos));
}

/* Queues [p, p + len) at *pos as parts of max bytes at most. */
static int queue_parts(struct dmaio__op *op, char *p, size_t len,
		       uint64_t *pos, size_t max)
{
	struct dmaio_file *f = op->file;
	size_t off;

	for (off = 0; off < len; off += max) {
		struct dmaio__op *part = dmaio__op_get(op->loop);
		size_t n = len - off < max ? len - off : max;

		if (!part)
			return -ENOMEM;
		part->parent = op;
		part->done = part_done;
		part->io_pos = *pos;
		part->io_len = n;
		part->cls = op->cls;
		prep_rw(&part->iocb, op->opcode, f->fd, p + off, n, *pos);
		op->parts_left++;
		dmaio__dispatch(op->loop, part, f->disp_dev);
		*pos += n;
	}
	return 0;
}

/*
 * A vectored request too large for one iocb goes out element by element
 * (each is aligned on its own), split further where one is too large:
 * no iovec array of our own to allocate.
 */
static void start_parts(struct dmaio__op *op, size_t max)
{
	uint64_t pos = op->io_pos;
	int i, ret = 0;

	op->short_end = op->io_pos + op->io_len;
	op->parts_left = 1; /* held until every part is queued */
	if (op->iov) {
		for (i = 0; i < op->iovcnt && !ret; i++)
			ret = queue_parts(op, op->iov[i].iov_base,
					  op->iov[i].iov_len, &pos, max);
	} else {
		ret = queue_parts(op, op->mem, op->io_len, &pos, max);
	}
	if (ret)
		op->part_err = ret;
	if (--op->parts_left == 0)
		dmaio__defer(op, op->part_err);
}

/* pread/pwrite until len bytes, EOF or an error: bytes, or -errno. */
int64_t dmaio__rw_all(int fd, int opcode, char *p, size_t len, uint64_t pos)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n;

		if (opcode == IO_CMD_PREAD)
			n = pread(fd, p + done, len - done,
				  (off_t)(pos + done));
		else
			n = pwrite(fd, p + done, len - done,
				   (off_t)(pos + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (int64_t)done : -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int64_t)done;
}

/*
 * Buffered fallback: the page cache may return less; ask again. Also a
 * direct write that would make io_submit sleep (see write_at).
 */
static int64_t buffered_rw_work(struct dmaio__op *op)
{
	uint64_t pos = op->io_pos;
	int64_t n, total = 0;
	int i;

	if (!op->iov)
		return dmaio__rw_all(op->file->fd, op->opcode, op->mem,
				     op->io_len, pos);
	for (i = 0; i < op->iovcnt; i++) {
		n = dmaio__rw_all(op->file->fd, op->opcode,
				  op->iov[i].iov_base, op->iov[i].iov_len,
				  pos);
		if (n < 0)
			return total ? total : n;
		total += n;
		pos += (uint64_t)n;
		if ((size_t)n < op->iov[i].iov_len)
			break;
	}
	return total;
}

/*
 * The largest request op should go in: what the device takes, and beside
 * a class with a latency target, what the dispatcher says fits in what
 * that class leaves the others (class.c), in multiples of the alignment.
 */
static size_t part_max(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;
	uint64_t part;

	/* parts are 4 KiB at least: a smaller request needs no asking */
	if (!op->loop->disp.nclasses || !f->disp_dev || op->io_len <= 4096)
		return f->max_io;
	part = dmaio__class_part_max(op->loop, f->disp_dev, op->cls,
				     op->opcode == IO_CMD_PWRITE);
	if (!part || part >= f->max_io)
		return f->max_io;
	if (f->align && part % f->align)
		part += f->align - part % f->align;
	return part < f->max_io ? (size_t)part : f->max_io;
}

/* Launches a read or write whose op->mem (or op->iov) is set. */
void dmaio__rw_start(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;
	size_t max;

	op->rw = 1;
	if (!f->direct) {
		op->work = buffered_rw_work;
		dmaio__helper_submit(op->loop, op);
	} else if (op->io_len > (max = part_max(op))) {
		start_parts(op, max);
	} else {
		if (op->iov && op->opcode == IO_CMD_PREAD)
			io_prep_preadv(&op->iocb, f->fd, op->iov, op->iovcnt,
				       (long long)op->io_pos);
		else if (op->iov)
			io_prep_pwritev(&op->iocb, f->fd, op->iov, op->iovcnt,
					(long long)op->io_pos);
		else
			prep_rw(&op->iocb, op->opcode, f->fd, op->mem,
				op->io_len, op->io_pos);
		dmaio__dispatch(op->loop, op, f->disp_dev);
	}
}

/* A write's result moves the EOF we know of (write_at, write_from). */
void dmaio__wrote(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;

	if (res > 0)
		dmaio__size_seen_raise(f, op->io_pos + (uint64_t)res);
}

/* Where a direct write past EOF makes io_submit sleep (file.c). */
void dmaio__write_route(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	/*
	 * Where a write past EOF is answered inside io_submit, holding the
	 * inode lock (file.c), it runs on a helper thread with the file's
	 * other I/O waiting behind it. size_seen may lag behind writes in
	 * flight: that only sends more of them this way.
	 */
	if (f->append_blocks_submit && f->direct &&
	    op->io_pos + op->io_len > dmaio__size_seen(f)) {
		op->work = buffered_rw_work;
		op->barrier = 1;
	}
}

/* ------------------------------------------------------------------ */
/* write_at                                                            */

static void write_finish(struct dmaio__op *op, int64_t res)
{
	dmaio__wrote(op, res);
	/* a stream's or write_copy's writes count where they know the
	 * caller's bytes */
	if (!op->internal)
		dmaio__count_write(op->file, res);
	dmaio_buf_unref(op->buf);
	dmaio__op_call_cb(op, op->u.cb, res);
}

DMAIO_EXPORT int dmaio_file_write_at(struct dmaio_file *f, struct dmaio_buf *b,
				     uint64_t pos, dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;
	size_t size;
	int ret = dmaio__file_check(f, "write_at");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!b)
		return dmaio__fail(-EINVAL, "write_at: buffer is NULL");
	if (f->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "write_at: the file was opened "
				   "read-only");
	size = b->size;
	if (!size)
		return dmaio__fail(-EINVAL, "write_at: the buffer's size is 0");
	if (size & (f->align - 1))
		return dmaio__fail(-EINVAL, "write_at: size %zu is not a "
				   "multiple of the file's alignment %zu "
				   "(dmaio_buf_trim, or dmaio_file_align_up)",
				   size, f->align);
	if (pos & (f->align - 1))
		return dmaio__fail(-EINVAL, "write_at: pos %" PRIu64 " is not a "
				   "multiple of the file's alignment %zu", pos,
				   f->align);
	if ((uintptr_t)b->data & (f->mem_align - 1))
		return dmaio__fail(-EINVAL, "write_at: the buffer's memory is "
				   "not aligned to %zu (was it allocated for a "
				   "file of another device?)", f->mem_align);
	if (pos > INT64_MAX || size > INT64_MAX - pos)
		return dmaio__fail(-EOVERFLOW, "write_at: pos %" PRIu64
				   " + size %zu is past the largest file "
				   "offset", pos, size);
	op = dmaio__file_op(f, write_finish, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "write_at: no memory");
	op->u.cb = cb;
	/* the kernel has the buffer until we are called back */
	op->buf = dmaio_buf_ref(b);
	op->mem = b->data;
	op->opcode = IO_CMD_PWRITE;
	op->io_pos = pos;
	op->io_len = size;
	op->start = dmaio__rw_start;
	dmaio__write_route(op);
	dmaio__file_start(op);
	return 0;
}

/* ------------------------------------------------------------------ */
/* read_at, read_at_aligned                                            */

static void read_finish(struct dmaio__op *op, int64_t res)
{
	struct dmaio_view *v = NULL;

	if (res >= 0) {
		size_t off, n;

		dmaio__range_clamp(op->io_pos, res, op->pos, op->len, &off, &n);
		v = dmaio__view_new(op->buf, off, n);
		res = v ? (int64_t)n : -ENOMEM;
	}
	if (!op->internal)
		dmaio__count_read(op->file, res);
	dmaio_buf_unref(op->buf);
	if (!op->u.read_cb || !dmaio__op_may_call(op)) {
		dmaio_view_release(v);
		return;
	}
	DMAIO__DELIVER_OP(op, op->u.read_cb(op->arg, v, res));
}

/* A read of nothing still completes from the loop, in order with I/O. */
void dmaio__complete_empty(struct dmaio__op *op)
{
	dmaio__defer(op, 0);
}

static int read_submit(struct dmaio_file *f, uint64_t pos, size_t size,
		       int aligned, dmaio_read_cb cb, void *arg,
		       const char *what)
{
	struct dmaio__op *op;
	struct dmaio_buf *b;
	uint64_t start, len;
	int ret = dmaio__file_check(f, what);

	if (ret)
		return ret;
	if (f->accmode == O_WRONLY)
		return dmaio__fail(-EBADF, "%s: the file was opened write-only",
				   what);
	if (!size) {
		/* as pread: nothing to read, 0 bytes and an empty view */
		start = dmaio__align_down(pos, f->align);
		len = 0;
		if (pos > INT64_MAX)
			return dmaio__fail(-EOVERFLOW, "%s: pos %" PRIu64
					   " is past the largest file offset",
					   what, pos);
	} else {
		ret = dmaio__range_cover(f->align, pos, size, &start, &len);
		if (ret)
			return dmaio__fail(ret, "%s: pos %" PRIu64 " + size "
					   "%zu is past the largest file "
					   "offset", what, pos, size);
	}
	if (aligned && pos != start)
		return dmaio__fail(-EINVAL, "%s: pos %" PRIu64 " is not a "
				   "multiple of the file's alignment %zu", what,
				   pos, f->align);
	b = dmaio__buf_alloc(f->loop->pool, len ? (size_t)len : f->align,
			     f->mem_align);
	if (!b)
		return dmaio__fail(-ENOMEM, "%s: no memory for a buffer of "
				   "%" PRIu64 " bytes", what, len);
	op = dmaio__file_op(f, read_finish, arg);
	if (!op) {
		dmaio_buf_unref(b);
		return dmaio__fail(-ENOMEM, "%s: no memory", what);
	}
	op->u.read_cb = cb;
	op->buf = b;
	op->mem = b->data;
	op->opcode = IO_CMD_PREAD;
	op->pos = pos;
	op->len = size;
	op->io_pos = start;
	op->io_len = (size_t)len;
	op->start = len ? dmaio__rw_start : dmaio__complete_empty;
	dmaio__file_start(op);
	return 0;
}

DMAIO_EXPORT int dmaio_file_read_at(struct dmaio_file *f, uint64_t pos,
				    size_t size, dmaio_read_cb cb, void *arg)
{
	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);

	return read_submit(f, pos, size, 0, cb, arg, "read_at");
}

DMAIO_EXPORT int dmaio_file_read_at_aligned(struct dmaio_file *f, uint64_t pos,
					    size_t size, dmaio_read_cb cb,
					    void *arg)
{
	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);

	return read_submit(f, pos, size, 1, cb, arg, "read_at_aligned");
}

/* ------------------------------------------------------------------ */
/* fdatasync                                                           */

static int64_t fdatasync_work(struct dmaio__op *op)
{
	return fdatasync(op->file->fd) ? -errno : 0;
}

static void fdatasync_start(struct dmaio__op *op)
{
	if (op->loop->features & DMAIO_FEAT_AIO_FDSYNC) {
		io_prep_fdsync(&op->iocb, op->file->fd);
		dmaio__dispatch(op->loop, op, NULL);
	} else {
		op->work = fdatasync_work;
		dmaio__helper_submit(op->loop, op);
	}
}

static void fdatasync_finish(struct dmaio__op *op, int64_t res)
{
	/* a stream's syncs are its file's too */
	if (res == 0)
		__atomic_add_fetch(&op->file->stats.syncs, 1,
				   __ATOMIC_RELAXED);
	dmaio__finish_cb(op, res);
}

DMAIO_EXPORT int dmaio_file_fdatasync(struct dmaio_file *f, dmaio_cb cb,
				      void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, "fdatasync");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	op = dmaio__file_op(f, fdatasync_finish, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "fdatasync: no memory");
	op->u.cb = cb;
	if (f->fsync_blocks_submit) {
		/* a barrier: no write of the file sleeps behind it (file.c) */
		op->work = fdatasync_work;
		op->barrier = 1;
	} else {
		op->start = fdatasync_start;
	}
	dmaio__file_start(op);
	return 0;
}
