/* SPDX-License-Identifier: MIT */
/*
 * Handing files over (1.3): adopt an fd opened elsewhere, let go of a
 * file's fd without closing it, and a second handle on the same open file.
 * Together they move a file from one loop's thread to another's: release
 * on the first, from_fd on the second.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t from_fd_work(struct dmaio__op *op)
{
	int fd = op->file->fd;
	struct stat st;
	int64_t err;

	if (fstat(fd, &st))
		return -errno;
	/* a pipe or socket has no positions to do I/O at */
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return -EINVAL;
	err = dmaio__file_setup(op, fd);
	if (err)
		op->file->fd = -1; /* the fd stays the caller's */
	return err;
}

DMAIO_EXPORT int dmaio_file_from_fd(struct dmaio_loop *loop, int fd,
				    dmaio_open_cb cb, void *arg)
{
	struct dmaio_file *f;
	int fl, ret;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "from_fd: loop is NULL");
	if (fd < 0)
		return dmaio__fail(-EBADF, "from_fd: fd %d is negative", fd);
	/* F_GETFL does not block: the flags are refused before anything */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return dmaio__fail(-errno, "from_fd: fd %d: fcntl(F_GETFL) "
				   "failed", fd);
	/*
	 * Only the status flags open_flags judges: F_GETFL also reports
	 * O_LARGEFILE as the kernel spells it (0 in 64-bit glibc's headers)
	 * and other bits of no meaning here.
	 */
	fl &= O_ACCMODE | O_APPEND | O_PATH | O_ASYNC | O_NONBLOCK | O_DSYNC |
	      O_SYNC | O_DIRECT | O_NOATIME;
	ret = dmaio__check_oflags(fl, "from_fd");
	if (ret)
		return ret;
	f = dmaio__file_alloc(loop, NULL, fl & O_ACCMODE);
	if (!f)
		return dmaio__fail(-ENOMEM, "from_fd: no memory");
	/* the file's only once the helper has set it up (from_fd_work) */
	f->fd = fd;
	ret = dmaio__file_open_submit(f, from_fd_work, cb, arg);
	if (ret)
		return dmaio__fail(ret, "from_fd: no memory");
	return 0;
}

/* ------------------------------------------------------------------ */

static int64_t release_work(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	dmaio__direct_drain(f);
	/* an anonymous file's hidden name goes, as at close (file_tmp.c) */
	if (f->tmp_path)
		unlink(f->tmp_path);
	return f->fd;
}

DMAIO_EXPORT int dmaio_file_release_fd(struct dmaio_file *f, dmaio_cb cb,
				       void *arg)
{
	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);

	return dmaio__file_end(f, release_work, cb, arg, "release_fd");
}

/* ------------------------------------------------------------------ */

/*
 * Everything learnt at open holds for the dup too (same inode, same open
 * file description, so the same O_DIRECT state); the counters start at 0.
 * dup(2) does not block: no helper round trip.
 */
DMAIO_EXPORT int dmaio_file_dup(struct dmaio_file *f, struct dmaio_file **out)
{
	struct dmaio_file *g;
	int fd, ret = dmaio__file_check(f, "dup");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!out)
		return dmaio__fail(-EINVAL, "dup: out is NULL");
	*out = NULL;
	g = dmaio__file_alloc(f->loop, f->path, f->accmode);
	if (!g)
		return dmaio__fail(-ENOMEM, "dup: no memory");
	fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		dmaio__file_free(g);
		return dmaio__fail(ret, "dup: fcntl(F_DUPFD_CLOEXEC) failed");
	}
	g->fd = fd;
	g->direct = f->direct;
	g->dev = f->dev;
	g->ino = f->ino;
	g->align = f->align;
	g->mem_align = f->mem_align;
	g->max_io = f->max_io;
	g->queue_dev = f->queue_dev;
	g->queue_cap = f->queue_cap;
	g->align_source = f->align_source;
	g->fsync_blocks_submit = f->fsync_blocks_submit;
	g->append_blocks_submit = f->append_blocks_submit;
	g->copy_offload = f->copy_offload;
	g->fstat_inline = f->fstat_inline;
	g->size_seen = dmaio__size_seen(f);
	dmaio__file_join(g);
	*out = g;
	return 0;
}
