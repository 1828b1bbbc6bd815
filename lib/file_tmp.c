/* SPDX-License-Identifier: MIT */
/*
 * Anonymous files (1.3): create_tmp makes a file with no name in a
 * directory, link names it later (the way to publish a file whole: write,
 * sync, then link). O_TMPFILE (3.11, and only on file systems that have
 * it) does it in the kernel; elsewhere a hidden unique name stands in,
 * removed by close and renamed by link, so a crash may leave one behind
 * (".dmaio-tmp-*": safe to remove when no process has it open).
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMP_MODE 0644   /* as dmaio_file_create, less the umask */
#define TMP_TRIES 100

static unsigned tmp_counter;

/* A hidden name unique in dir: created with O_EXCL, tried again if taken. */
static int open_hidden(struct dmaio_file *f, const char *dir)
{
	uint64_t salt = dmaio__now_ns();
	int i;

	for (i = 0; i < TMP_TRIES; i++) {
		unsigned n = __atomic_fetch_add(&tmp_counter, 1,
						__ATOMIC_RELAXED);
		char *name;
		int fd;

		if (asprintf(&name, "%s/.dmaio-tmp-%ld-%u-%" PRIx64, dir,
			     (long)getpid(), n, salt) < 0)
			return -ENOMEM;
		fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			  TMP_MODE);
		if (fd >= 0) {
			f->tmp_path = name;
			return fd;
		}
		free(name);
		if (errno != EEXIST)
			return -errno;
		salt = salt * 6364136223846793005ULL + 1442695040888963407ULL;
	}
	return -EEXIST;
}

/*
 * Kernels before 3.11 take O_TMPFILE for O_DIRECTORY and say EISDIR (or
 * EINVAL); a file system without ->tmpfile says EOPNOTSUPP. Those fall
 * back to a hidden name; other errors (no such directory...) are the
 * caller's.
 */
static int open_anonymous(struct dmaio__op *op, const char *dir)
{
	int fd;

	if (op->loop->features & DMAIO_FEAT_TMPFILE) {
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, TMP_MODE);
		if (fd >= 0)
			return fd;
		if (errno != EISDIR && errno != EINVAL && errno != EOPNOTSUPP)
			return -errno;
	}
	return open_hidden(op->file, dir);
}

static int64_t create_tmp_work(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;
	int64_t err;
	int fd;

	/* the directory rode in path: an anonymous file has none */
	fd = open_anonymous(op, f->path);
	free(f->path);
	f->path = NULL;
	if (fd < 0)
		return fd;
	err = dmaio__file_setup(op, fd);
	if (err) {
		f->fd = -1;
		if (f->tmp_path)
			unlink(f->tmp_path);
		close(fd);
	}
	return err;
}

DMAIO_EXPORT int dmaio_file_create_tmp(struct dmaio_loop *loop, const char *dir,
				       dmaio_open_cb cb, void *arg)
{
	struct dmaio_file *f;
	int ret;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || !dir)
		return dmaio__fail(-EINVAL, "create_tmp: %s is NULL",
				   loop ? "dir" : "loop");
	if (!*dir)
		return dmaio__fail(-ENOENT, "create_tmp: dir is empty");
	f = dmaio__file_alloc(loop, dir, O_RDWR);
	if (!f)
		return dmaio__fail(-ENOMEM, "create_tmp: no memory");
	ret = dmaio__file_open_submit(f, create_tmp_work, cb, arg);
	if (ret)
		return dmaio__fail(ret, "create_tmp: no memory");
	return 0;
}

/* ------------------------------------------------------------------ */

/*
 * A file known by its fd only: /proc/self/fd's link is what linkat can
 * follow without privileges (AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, so
 * it is tried only where /proc is missing).
 */
static int link_fd(int fd, const char *path)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT || access("/proc/self/fd", F_OK) == 0)
		return -errno;
	return linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) ? -errno : 0;
}

static int64_t link_work(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	if (!f->tmp_path)
		return link_fd(f->fd, op->path);
	/* link(2), not rename(2): a name already taken is EEXIST */
	if (link(f->tmp_path, op->path))
		return -errno;
	unlink(f->tmp_path);
	return 0;
}

/* Before the operations held behind it start (file.c): the new name. */
static void link_settle(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;

	if (res == 0 && (!f->path || f->tmp_path)) {
		free(f->path);
		f->path = op->path;
		op->path = NULL;
		free(f->tmp_path);
		f->tmp_path = NULL;
	}
	free(op->path);
	op->path = NULL;
}

DMAIO_EXPORT int dmaio_file_link(struct dmaio_file *f, const char *path,
				 dmaio_cb cb, void *arg)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, "link");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!path)
		return dmaio__fail(-EINVAL, "link: path is NULL");
	if (!*path)
		return dmaio__fail(-ENOENT, "link: path is empty");
	op = dmaio__file_op(f, dmaio__finish_cb, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "link: no memory");
	op->path = strdup(path);
	if (!op->path) {
		dmaio__op_put(f->loop, op);
		return dmaio__fail(-ENOMEM, "link: no memory");
	}
	op->u.cb = cb;
	op->work = link_work;
	op->settle = link_settle;
	/* as rename: it reads and changes the names, one at a time */
	op->barrier = 1;
	dmaio__file_start(op);
	return 0;
}
