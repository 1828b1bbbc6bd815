/* SPDX-License-Identifier: MIT */
/*
 * Metadata operations: fallocate, hole punching, extent-size hints,
 * truncate, rename, remove, size. Each is a blocking syscall, so each runs
 * on a helper thread; those that change the file's blocks or name are
 * barriers (see file.c).
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/falloc.h>

#include "fsxattr.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

/* Submits a metadata operation whose callback is a plain dmaio_cb. */
static int meta_start(struct dmaio_file *f, dmaio__work_fn work,
		      dmaio__done_fn finish, int barrier, uint64_t a,
		      uint64_t b, dmaio_cb cb, void *arg)
{
	struct dmaio__op *op = dmaio__file_op(f, finish, arg);

	if (!op)
		return dmaio__fail(-ENOMEM, "file operation: no memory");
	op->u.cb = cb;
	op->work = work;
	op->barrier = barrier;
	op->pos = a;
	op->arg64 = b;
	dmaio__file_start(op);
	return 0;
}

static int meta_submit(struct dmaio_file *f, dmaio__work_fn work, int barrier,
		       uint64_t a, uint64_t b, dmaio_cb cb, void *arg)
{
	return meta_start(f, work, dmaio__finish_cb, barrier, a, b, cb, arg);
}

/* write_at needs to know where EOF is on some file systems (file_io.c) */
static void grew_finish(struct dmaio__op *op, int64_t res)
{
	if (res == 0)
		dmaio__size_seen_raise(op->file, op->arg64);
	dmaio__finish_cb(op, res);
}

static void truncated_finish(struct dmaio__op *op, int64_t res)
{
	if (res == 0)
		dmaio__size_seen_set(op->file, op->arg64);
	dmaio__finish_cb(op, res);
}

static int check_writable(const struct dmaio_file *f, const char *what)
{
	int ret = dmaio__file_check(f, what);

	if (ret)
		return ret;
	if (f->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "%s: the file was opened read-only",
				   what);
	return 0;
}

/* ------------------------------------------------------------------ */

static int64_t fallocate_work(struct dmaio__op *op)
{
	if (fallocate(op->file->fd, 0, 0, (off_t)op->arg64))
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

DMAIO_EXPORT int dmaio_file_pre_allocate(struct dmaio_file *f, uint64_t size,
					 dmaio_cb cb, void *arg)
{
	int ret = check_writable(f, "pre_allocate");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!size)
		return dmaio__fail(-EINVAL, "pre_allocate: size is 0");
	if (size > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "pre_allocate: size %" PRIu64
				   " is past the largest file offset", size);
	return meta_start(f, fallocate_work, grew_finish, 1, 0, size, cb, arg);
}

static int64_t punch_work(struct dmaio__op *op)
{
	if (fallocate(op->file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)op->pos, (off_t)op->arg64))
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

DMAIO_EXPORT int dmaio_file_deallocate(struct dmaio_file *f, uint64_t pos,
				       uint64_t len, dmaio_cb cb, void *arg)
{
	int ret = check_writable(f, "deallocate");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!len)
		return dmaio__fail(-EINVAL, "deallocate: len is 0");
	if (pos > INT64_MAX || len > INT64_MAX - pos)
		return dmaio__fail(-EOVERFLOW, "deallocate: pos %" PRIu64
				   " + len %" PRIu64 " is past the largest "
				   "file offset", pos, len);
	return meta_submit(f, punch_work, 1, pos, len, cb, arg);
}

/* ------------------------------------------------------------------ */

static int xattr_err(int err)
{
	/* no such ioctl on this file system */
	return err == ENOTTY || err == ENOSYS ? -EOPNOTSUPP : -err;
}

/*
 * Read, modify, write back (writing blindly would clear the project id
 * and other flags), then read again: ext4 takes the ioctl and drops the
 * hint, which must not pass for success.
 */
static int64_t extsize_work(struct dmaio__op *op)
{
	int fd = op->file->fd;
	uint32_t size = (uint32_t)op->arg64;
	struct fsxattr a;

	memset(&a, 0, sizeof(a));
	if (ioctl(fd, FS_IOC_FSGETXATTR, &a))
		return xattr_err(errno);
	if (size)
		a.fsx_xflags |= FS_XFLAG_EXTSIZE;
	else
		a.fsx_xflags &= ~FS_XFLAG_EXTSIZE;
	a.fsx_extsize = size;
	if (ioctl(fd, FS_IOC_FSSETXATTR, &a))
		return xattr_err(errno);
	memset(&a, 0, sizeof(a));
	if (ioctl(fd, FS_IOC_FSGETXATTR, &a))
		return xattr_err(errno);
	if (size && (!(a.fsx_xflags & FS_XFLAG_EXTSIZE) || a.fsx_extsize != size))
		return -EOPNOTSUPP;
	if (!size && (a.fsx_xflags & FS_XFLAG_EXTSIZE))
		return -EOPNOTSUPP;
	return 0;
}

DMAIO_EXPORT int dmaio_file_hint_extent_size(struct dmaio_file *f, size_t size,
					     dmaio_cb cb, void *arg)
{
	int ret = dmaio__file_check(f, "hint_extent_size");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (size > UINT32_MAX)
		return dmaio__fail(-EINVAL, "hint_extent_size: size %zu is "
				   "over 4 GiB - 1 (fsx_extsize is 32 bits)",
				   size);
	/* extent hints turn off XFS delayed allocation: not for the cache */
	if (!f->direct)
		return dmaio__fail(-EOPNOTSUPP, "hint_extent_size: the file "
				   "is on the buffered fallback (no O_DIRECT)");
	return meta_submit(f, extsize_work, 1, 0, size, cb, arg);
}

/* ------------------------------------------------------------------ */

static int64_t truncate_work(struct dmaio__op *op)
{
	return ftruncate(op->file->fd, (off_t)op->arg64) ? -errno : 0;
}

DMAIO_EXPORT int dmaio_file_truncate(struct dmaio_file *f, uint64_t size,
				     dmaio_cb cb, void *arg)
{
	int ret = check_writable(f, "truncate");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (size > INT64_MAX)
		return dmaio__fail(-EOVERFLOW, "truncate: size %" PRIu64
				   " is past the largest file offset", size);
	return meta_start(f, truncate_work, truncated_finish, 1, 0, size, cb,
			  arg);
}

/* ------------------------------------------------------------------ */

static int64_t rename_work(struct dmaio__op *op)
{
	/* an anonymous or adopted file has no name to rename (link) */
	if (!op->file->path)
		return -ENOENT;
	return rename(op->file->path, op->path) ? -errno : 0;
}

/* Runs before the operations held behind the rename start (file.c). */
static void rename_settle(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;

	if (res == 0) {
		free(f->path);
		f->path = op->path;
	} else {
		free(op->path);
	}
	op->path = NULL;
}

DMAIO_EXPORT int dmaio_file_rename(struct dmaio_file *f, const char *new_path,
				   dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, "rename");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!new_path)
		return dmaio__fail(-EINVAL, "rename: new_path is NULL");
	if (!*new_path)
		return dmaio__fail(-ENOENT, "rename: new_path is empty");
	op = dmaio__file_op(f, dmaio__finish_cb, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "rename: no memory");
	op->path = strdup(new_path);
	if (!op->path) {
		dmaio__op_put(f->loop, op);
		return dmaio__fail(-ENOMEM, "rename: no memory");
	}
	op->u.cb = cb;
	op->work = rename_work;
	op->settle = rename_settle;
	/* renames and removes read the path: one at a time, in order */
	op->barrier = 1;
	dmaio__file_start(op);
	return 0;
}

static int64_t unlink_work(struct dmaio__op *op)
{
	if (!op->file->path)
		return -ENOENT;
	return unlink(op->file->path) ? -errno : 0;
}

DMAIO_EXPORT int dmaio_file_remove(struct dmaio_file *f, dmaio_cb cb,
				   void *arg)
{
	int ret = dmaio__file_check(f, "remove");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	return meta_submit(f, unlink_work, 1, 0, 0, cb, arg);
}

/* ------------------------------------------------------------------ */

static int64_t size_work(struct dmaio__op *op)
{
	struct stat st;

	return fstat(op->file->fd, &st) ? -errno : (int64_t)st.st_size;
}

/*
 * Where fstat cannot block (file.c: ext4, XFS, tmpfs, btrfs) it runs on
 * the loop thread when the file lets the operation start (after a
 * truncate before it, say), and its result is delivered from the loop's
 * next turn, as every result is: no helper-thread round trip.
 */
static void size_inline(struct dmaio__op *op)
{
	dmaio__defer(op, size_work(op));
}

DMAIO_EXPORT int dmaio_file_size(struct dmaio_file *f, dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, "size");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!f->fstat_inline)
		return meta_submit(f, size_work, 0, 0, 0, cb, arg);
	op = dmaio__file_op(f, dmaio__finish_cb, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "size: no memory");
	op->u.cb = cb;
	op->start = size_inline;
	dmaio__file_start(op);
	return 0;
}
