/* SPDX-License-Identifier: MIT */
/*
 * Space and facts of a file (1.3): fallocate of any range, fstat for the
 * caller, and the handle's counters. fallocate and fstat run on helper
 * threads (fstat may block on FUSE and NFS); fallocate is a barrier, as
 * pre_allocate is (XFS waits in it for the file's direct I/O).
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/falloc.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif

static int64_t allocate_work(struct dmaio__op *op)
{
	int mode = op->oflags & DMAIO_ALLOC_KEEP_SIZE ? FALLOC_FL_KEEP_SIZE : 0;

	if (fallocate(op->file->fd, mode, (off_t)op->pos, (off_t)op->arg64))
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

/* write_at needs to know where EOF is on some file systems (file_io.c) */
static void allocate_finish(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;
	uint64_t end = op->pos + op->arg64;

	if (res == 0 && !(op->oflags & DMAIO_ALLOC_KEEP_SIZE))
		dmaio__size_seen_raise(f, end);
	dmaio__finish_cb(op, res);
}

DMAIO_EXPORT int dmaio_file_allocate(struct dmaio_file *f, uint64_t pos,
				     uint64_t len, unsigned flags,
				     dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, "allocate");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (f->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "allocate: the file was opened "
				   "read-only");
	if (!len)
		return dmaio__fail(-EINVAL, "allocate: len is 0");
	if (flags & ~DMAIO_ALLOC_KEEP_SIZE)
		return dmaio__fail(-EINVAL, "allocate: unknown flags 0x%x "
				   "(DMAIO_ALLOC_KEEP_SIZE is the only one)",
				   flags & ~DMAIO_ALLOC_KEEP_SIZE);
	if (pos > INT64_MAX || len > INT64_MAX - pos)
		return dmaio__fail(-EOVERFLOW, "allocate: pos %" PRIu64
				   " + len %" PRIu64 " is past the largest "
				   "file offset", pos, len);
	op = dmaio__file_op(f, allocate_finish, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "allocate: no memory");
	op->u.cb = cb;
	op->work = allocate_work;
	op->barrier = 1;
	op->pos = pos;
	op->arg64 = len;
	op->oflags = (int)flags;
	dmaio__file_start(op);
	return 0;
}

/* ------------------------------------------------------------------ */

/* What the helper found, and where the caller wants it. */
struct stat_req {
	struct dmaio_file_stat *out;
	struct dmaio_file_stat got;
};

static int64_t stat_work(struct dmaio__op *op)
{
	struct stat_req *r = op->priv;
	struct stat st;

	if (fstat(op->file->fd, &st))
		return -errno;
	r->got.file_size = (uint64_t)st.st_size;
	/* st_blocks counts 512-byte units whatever the block size */
	r->got.allocated = (uint64_t)st.st_blocks * 512;
	r->got.fs_block_size = (uint64_t)st.st_blksize;
	r->got.inode = (uint64_t)st.st_ino;
	r->got.dev_major = major(st.st_dev);
	r->got.dev_minor = minor(st.st_dev);
	return 0;
}

/* The caller's struct is written on the loop thread, before its callback,
 * and only as far as its size says. */
static void stat_finish(struct dmaio__op *op, int64_t res)
{
	struct stat_req *r = op->priv;

	/* at the loop's end the caller's struct may be gone: not touched */
	if (res == 0 && dmaio__may_call(op->loop)) {
		size_t n = r->out->size;

		r->got.size = n;
		if (n > sizeof(r->got))
			n = sizeof(r->got);
		memcpy(r->out, &r->got, n);
	}
	free(r);
	op->priv = NULL;
	dmaio__finish_cb(op, res);
}

DMAIO_EXPORT int dmaio_file_stat(struct dmaio_file *f,
				 struct dmaio_file_stat *st, dmaio_cb cb,
				 void *arg)
{
	struct dmaio__op *op;
	struct stat_req *r;
	int ret = dmaio__file_check(f, "stat");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!st)
		return dmaio__fail(-EINVAL, "stat: st is NULL");
	if (st->size < sizeof(st->size))
		return dmaio__fail(-EINVAL, "stat: st->size %zu is smaller "
				   "than the size field (set it to sizeof)",
				   st->size);
	r = calloc(1, sizeof(*r));
	op = r ? dmaio__file_op(f, stat_finish, arg) : NULL;
	if (!op) {
		free(r);
		return dmaio__fail(-ENOMEM, "stat: no memory");
	}
	r->out = st;
	op->priv = r;
	op->u.cb = cb;
	op->work = stat_work;
	dmaio__file_start(op);
	return 0;
}

DMAIO_EXPORT int dmaio_file_stats(const struct dmaio_file *f,
				  struct dmaio_file_stats *st)
{
	int ret = dmaio__file_check(f, "stats");
	struct dmaio_file_stats now;
	size_t n;

	if (ret)
		return ret;
	if (!st)
		return dmaio__fail(-EINVAL, "stats: st is NULL");
	n = st->size;
	if (n < sizeof(st->size))
		return dmaio__fail(-EINVAL, "stats: st->size %zu is smaller "
				   "than the size field (set it to sizeof)", n);
	/* read counter by counter: calls on other threads add to them */
	now.size = n;
	now.reads = __atomic_load_n(&f->stats.reads, __ATOMIC_RELAXED);
	now.read_bytes = __atomic_load_n(&f->stats.read_bytes,
					 __ATOMIC_RELAXED);
	now.writes = __atomic_load_n(&f->stats.writes, __ATOMIC_RELAXED);
	now.write_bytes = __atomic_load_n(&f->stats.write_bytes,
					  __ATOMIC_RELAXED);
	now.syncs = __atomic_load_n(&f->stats.syncs, __ATOMIC_RELAXED);
	memcpy(st, &now, n < sizeof(now) ? n : sizeof(now));
	return 0;
}
