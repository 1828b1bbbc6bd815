/* SPDX-License-Identifier: MIT */
/*
 * Durable names: a new file, a rename or a removal is in the directory,
 * and survives a crash only once the directory itself is fsynced
 * (fsync(2) of the file covers its data and inode, not the entry that
 * names it). The library opens no directory as a DmaFile, so this is the
 * way to do it: an fsync of the directory on a helper thread.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* a directory by path: an operation of the loop, not of a file        */

static int64_t dir_sync_work(struct dmaio__op *op)
{
	return fsync_dir(op->path);
}

static void dir_sync_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	loop->pending--;
	free(op->path);
	op->path = NULL;
	dmaio__op_call_cb(op, op->u.cb, res);
	dmaio__op_put(loop, op);
}

DMAIO_EXPORT int dmaio_dir_sync(struct dmaio_loop *loop, const char *path,
				dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;

	if (!loop || !path)
		return dmaio__fail(-EINVAL, "dir_sync: %s is NULL",
				   loop ? "path" : "loop");
	if (!*path)
		return dmaio__fail(-ENOENT, "dir_sync: path is empty");
	op = dmaio__op_get(loop);
	if (!op)
		return dmaio__fail(-ENOMEM, "dir_sync: no memory");
	op->path = strdup(path);
	if (!op->path) {
		dmaio__op_put(loop, op);
		return dmaio__fail(-ENOMEM, "dir_sync: no memory");
	}
	op->work = dir_sync_work;
	op->done = dir_sync_done;
	op->u.cb = cb;
	op->arg = arg;
	loop->pending++;
	dmaio__helper_submit(loop, op);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the directory that holds a file's path                              */

/*
 * Runs on a helper thread. The path is stable meanwhile: this is not a
 * barrier, so a rename (which is one) waits for it, and one submitted
 * before it has set the new path before this starts (file.c).
 */
static int64_t sync_parent_work(struct dmaio__op *op)
{
	const char *path = op->file->path;
	const char *slash = strrchr(path, '/');
	char *dir;
	size_t n;
	int64_t ret;

	if (!slash)
		return fsync_dir(".");
	/* "/x" is in "/", "a//x" in "a" */
	while (slash > path && slash[-1] == '/')
		slash--;
	n = slash == path ? 1 : (size_t)(slash - path);
	dir = strndup(path, n);
	if (!dir)
		return -ENOMEM;
	ret = fsync_dir(dir);
	free(dir);
	return ret;
}

DMAIO_EXPORT int dmaio_file_sync_parent(struct dmaio_file *f, dmaio_cb cb,
					void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, "sync_parent");

	if (ret)
		return ret;
	if (!f->path)
		return dmaio__fail(-ENOENT, "sync_parent: the file has no "
				   "path");
	op = dmaio__file_op(f, dmaio__finish_cb, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "sync_parent: no memory");
	op->u.cb = cb;
	op->work = sync_parent_work;
	dmaio__file_start(op);
	return 0;
}
