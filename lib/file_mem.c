/* SPDX-License-Identifier: MIT */
/*
 * Reads and writes of the caller's memory: read_into, write_from and the
 * vectored readv/writev. Nothing is copied and no buffer is allocated, so
 * every address, length and position must be aligned as the device takes
 * them; the I/O itself is file_io.c's (one iocb, parts of a large request,
 * or a helper thread for a buffered-fallback file). One IOCB_CMD_PREADV
 * or PWRITEV carries a vectored request (in the kernel since 2.6.19, so
 * 3.10 has it); one too large for the device goes out element by element.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/*
 * The one end of every caller-memory operation: what the result means
 * for the file is noted here, before the callback.
 */
static void mem_finish(struct dmaio__op *op, int64_t res)
{
	if (op->opcode == IO_CMD_PWRITE)
		dmaio__wrote(op, res);
	if (!op->internal && op->opcode == IO_CMD_PWRITE)
		dmaio__count_write(op->file, res);
	else if (!op->internal)
		dmaio__count_read(op->file, res);
	dmaio__op_call_cb(op, op->u.cb, res);
}

static int check_access(const struct dmaio_file *f, int write,
			const char *what)
{
	if (write && f->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "%s: the file was opened read-only",
				   what);
	if (!write && f->accmode == O_WRONLY)
		return dmaio__fail(-EBADF, "%s: the file was opened write-only",
				   what);
	return 0;
}

static int check_mode(const struct dmaio_file *f, int write, const char *what)
{
	int ret = dmaio__file_check(f, what);

	return ret ? ret : check_access(f, write, what);
}

/* One piece of memory: aligned address and length. */
static int check_piece(const struct dmaio_file *f, const void *p, size_t len,
		       const char *what, const char *name)
{
	if (!p && len)
		return dmaio__fail(-EINVAL, "%s: %s is NULL", what, name);
	if ((uintptr_t)p & (f->mem_align - 1))
		return dmaio__fail(-EINVAL, "%s: %s %p is not aligned to the "
				   "file's memory alignment %zu "
				   "(posix_memalign, or dmaio_file_alignment)",
				   what, name, p, f->mem_align);
	/* the length is the size argument, or the element's iov_len */
	if (len & (f->align - 1))
		return dmaio__fail(-EINVAL, "%s: %s%s %zu is not a multiple of "
				   "the file's alignment %zu", what,
				   strcmp(name, "buf") ? name : "size",
				   strcmp(name, "buf") ? ".iov_len" : "", len,
				   f->align);
	return 0;
}

static int check_pos(const struct dmaio_file *f, uint64_t pos, uint64_t size,
		     const char *what)
{
	if (pos & (f->align - 1))
		return dmaio__fail(-EINVAL, "%s: pos %" PRIu64 " is not a "
				   "multiple of the file's alignment %zu", what,
				   pos, f->align);
	if (pos > INT64_MAX || size > INT64_MAX - pos)
		return dmaio__fail(-EOVERFLOW, "%s: pos %" PRIu64 " + size %"
				   PRIu64 " is past the largest file offset",
				   what, pos, size);
	return 0;
}

/* The vector's total size, checked element by element: 0 or -errno. */
static int check_iov(const struct dmaio_file *f, const struct iovec *iov,
		     int iovcnt, uint64_t *total, const char *what)
{
	int i, ret;

	if (!iov)
		return dmaio__fail(-EINVAL, "%s: iov is NULL", what);
	if (iovcnt <= 0 || iovcnt > IOV_MAX)
		return dmaio__fail(-EINVAL, "%s: iovcnt %d is not in 1..%d "
				   "(IOV_MAX)", what, iovcnt, IOV_MAX);
	*total = 0;
	for (i = 0; i < iovcnt; i++) {
		char name[32];

		snprintf(name, sizeof(name), "iov[%d]", i);
		ret = check_piece(f, iov[i].iov_base, iov[i].iov_len, what,
				  name);
		if (ret)
			return ret;
		if (iov[i].iov_len > (uint64_t)INT64_MAX - *total)
			return dmaio__fail(-EOVERFLOW, "%s: the iovecs add up "
					   "to more than a file can hold",
					   what);
		*total += iov[i].iov_len;
	}
	return 0;
}

static int mem_submit(struct dmaio_file *f, int write, uint64_t pos,
		      void *mem, const struct iovec *iov, int iovcnt,
		      uint64_t size, dmaio_cb cb, void *arg, const char *what)
{
	struct dmaio__op *op = dmaio__file_op(f, mem_finish, arg);

	if (!op)
		return dmaio__fail(-ENOMEM, "%s: no memory", what);
	op->u.cb = cb;
	op->opcode = write ? IO_CMD_PWRITE : IO_CMD_PREAD;
	op->mem = mem;
	op->iov = iov;
	op->iovcnt = iovcnt;
	op->pos = op->io_pos = pos;
	op->len = op->io_len = (size_t)size;
	/* size 0: called back with 0 from the loop, in order with I/O */
	op->start = size ? dmaio__rw_start : dmaio__complete_empty;
	if (write && size)
		dmaio__write_route(op);
	dmaio__file_start(op);
	return 0;
}

int dmaio__mem_args_check(const struct dmaio_file *f, int write, uint64_t pos,
			  const void *buf, size_t size, const char *what)
{
	int ret = check_access(f, write, what);

	if (!ret)
		ret = check_piece(f, buf, size, what, "buf");
	return ret ? ret : check_pos(f, pos, size, what);
}

static int mem_call(struct dmaio_file *f, int write, uint64_t pos,
		    const void *buf, size_t size, dmaio_cb cb, void *arg,
		    const char *what)
{
	int ret = check_mode(f, write, what);

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (!ret)
		ret = check_piece(f, buf, size, what, "buf");
	if (!ret)
		ret = check_pos(f, pos, size, what);
	if (ret)
		return ret;
	return mem_submit(f, write, pos, (void *)buf, NULL, 0, size, cb, arg,
			  what);
}

static int vec_call(struct dmaio_file *f, int write, uint64_t pos,
		    const struct iovec *iov, int iovcnt, dmaio_cb cb,
		    void *arg, const char *what)
{
	uint64_t size = 0;
	int ret = check_mode(f, write, what);

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	ret = check_iov(f, iov, iovcnt, &size, what);
	if (!ret)
		ret = check_pos(f, pos, size, what);
	if (ret)
		return ret;
	/* one element is the plain call: no vector for the kernel to copy */
	if (iovcnt == 1)
		return mem_submit(f, write, pos, iov[0].iov_base, NULL, 0,
				  size, cb, arg, what);
	return mem_submit(f, write, pos, NULL, iov, iovcnt, size, cb, arg,
			  what);
}

DMAIO_EXPORT int dmaio_file_read_into(struct dmaio_file *f, uint64_t pos,
				      void *buf, size_t size, dmaio_cb cb,
				      void *arg)
{
	return mem_call(f, 0, pos, buf, size, cb, arg, "read_into");
}

DMAIO_EXPORT int dmaio_file_write_from(struct dmaio_file *f, uint64_t pos,
				       const void *buf, size_t size,
				       dmaio_cb cb, void *arg)
{
	return mem_call(f, 1, pos, buf, size, cb, arg, "write_from");
}

DMAIO_EXPORT int dmaio_file_readv(struct dmaio_file *f, uint64_t pos,
				  const struct iovec *iov, int iovcnt,
				  dmaio_cb cb, void *arg)
{
	return vec_call(f, 0, pos, iov, iovcnt, cb, arg, "readv");
}

DMAIO_EXPORT int dmaio_file_writev(struct dmaio_file *f, uint64_t pos,
				   const struct iovec *iov, int iovcnt,
				   dmaio_cb cb, void *arg)
{
	return vec_call(f, 1, pos, iov, iovcnt, cb, arg, "writev");
}
