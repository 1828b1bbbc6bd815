/* SPDX-License-Identifier: MIT */
/*
 * slowfs: a passthrough FUSE file system over a backing directory whose
 * fsync and writes take as long as it is told. The kernel's FUSE client
 * holds the inode lock across an fsync round trip and waits for an
 * appending direct write to be answered; a daemon that answers slowly
 * makes both visible to the tests (t/test_fuse.c).
 *
 *   slowfs [-o fsync_ms=N,write_ms=N,read_ms=N] BACKING MOUNTPOINT [...]
 *
 * fsync_ms (default 750) is slept before every fsync and fdatasync,
 * write_ms (default 0) before every write, read_ms (default 0) before
 * every read. Only what the tests and their
 * cleanup use is implemented.
 */
#define FUSE_USE_VERSION 31

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

struct slowfs_opts {
	unsigned fsync_ms;
	unsigned write_ms;
	unsigned read_ms;
	char *backing;
};

static struct slowfs_opts opts = { 750, 0, 0, NULL };
static int back_fd = -1;

static const struct fuse_opt opt_spec[] = {
	{ "fsync_ms=%u", offsetof(struct slowfs_opts, fsync_ms), 0 },
	{ "write_ms=%u", offsetof(struct slowfs_opts, write_ms), 0 },
	{ "read_ms=%u", offsetof(struct slowfs_opts, read_ms), 0 },
	FUSE_OPT_END
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* FUSE paths begin with '/': make them relative to the backing dir. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static int sys(int ret)
{
	return ret < 0 ? -errno : 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* async direct I/O is what makes io_submit return before the reply */
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	cfg->use_ino = 1;
	return NULL;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	if (fi)
		return sys(fstat((int)fi->fh, st));
	return sys(fstatat(back_fd, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *d;
	int fd;

	(void)off; (void)fi; (void)flags;
	fd = openat(back_fd, rel(path), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d)))
		if (fill(buf, de->d_name, NULL, 0, 0))
			break;
	closedir(d);
	return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	return sys(mkdirat(back_fd, rel(path), mode));
}

static int fs_rmdir(const char *path)
{
	return sys(unlinkat(back_fd, rel(path), AT_REMOVEDIR));
}

static int fs_unlink(const char *path)
{
	return sys(unlinkat(back_fd, rel(path), 0));
}

static int fs_rename(const char *from, const char *to, unsigned flags)
{
	if (flags)
		return -EINVAL;
	return sys(renameat(back_fd, rel(from), back_fd, rel(to)));
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, ret;

	if (fi)
		return sys(ftruncate((int)fi->fh, size));
	fd = openat(back_fd, rel(path), O_WRONLY);
	if (fd < 0)
		return -errno;
	ret = sys(ftruncate(fd, size));
	close(fd);
	return ret;
}

/*
 * O_DIRECT is the client's business (the kernel bypasses its page cache);
 * the daemon's buffers are not aligned for the backing file's.
 */
static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd = openat(back_fd, rel(path),
			(fi->flags & ~O_DIRECT) | O_CREAT | O_CLOEXEC, mode);

	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(back_fd, rel(path),
			(fi->flags & ~O_DIRECT) | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	sleep_ms(opts.read_ms);
	n = pread((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	sleep_ms(opts.write_ms);
	n = pwrite((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return sys(fstatvfs(back_fd, st));
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int fd = (int)fi->fh;

	(void)path;
	sleep_ms(opts.fsync_ms);
	return sys(datasync ? fdatasync(fd) : fsync(fd));
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)path;
	return sys(fallocate((int)fi->fh, mode, off, len));
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.unlink = fs_unlink,
	.rename = fs_rename,
	.truncate = fs_truncate,
	.create = fs_create,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.statfs = fs_statfs,
	.release = fs_release,
	.fsync = fs_fsync,
	.fallocate = fs_fallocate,
};

/* The first argument that is not an option is the backing directory. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *out)
{
	(void)data; (void)out;
	if (key == FUSE_OPT_KEY_NONOPT && !opts.backing) {
		opts.backing = strdup(arg);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int ret;

	if (fuse_opt_parse(&args, &opts, opt_spec, opt_proc))
		return 2;
	if (!opts.backing) {
		fprintf(stderr, "usage: slowfs [-o fsync_ms=N,write_ms=N] "
				"BACKING MOUNTPOINT [FUSE options]\n");
		return 2;
	}
	back_fd = open(opts.backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (back_fd < 0) {
		perror(opts.backing);
		return 1;
	}
	ret = fuse_main(args.argc, args.argv, &ops, NULL);
	fuse_opt_free_args(&args);
	free(opts.backing);
	close(back_fd);
	return ret;
}
