/* SPDX-License-Identifier: MIT */
/*
 * DmaFile: opening a file. Its fd is opened and set up on a helper thread
 * (O_DIRECT through fcntl, or the buffered fallback; alignment; what the
 * file system makes io_submit sleep on, fs_quirks), then the file joins
 * its loop.
 */
#include "aio.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define FUSE_MAGIC 0x65735546u  /* fuse and fuseblk */
#define BTRFS_MAGIC 0x9123683Eu
#define EXT4_MAGIC 0xEF53u      /* ext2, ext3 and ext4 */
#define XFS_MAGIC 0x58465342u
#define TMPFS_MAGIC 0x01021994u
#define NFS_MAGIC 0x6969u
#define SMB2_MAGIC 0xFE534D42u
#define CIFS_MAGIC 0xFF534D42u
#define CEPH_MAGIC 0x00C36400u

/*
 * A direct write takes the inode lock inside io_submit. FUSE holds it for
 * the whole round trip of an fsync to the daemon (fs/fuse/file.c,
 * fuse_fsync), and of a direct write that extends the file, which it
 * answers before io_submit returns (fuse_direct_IO: "We cannot
 * asynchronously extend the size of a file"). btrfs_sync_file holds it
 * while it waits for ordered extents and the log: measured on 6.18, a
 * write slept 200-400 ms behind a 0.5 s fdatasync. XFS and ext4 take no
 * such lock in fsync: unchanged there. t/test_fuse times the calls.
 *
 * copy_offload: file systems whose copy_file_range shares extents (XFS
 * with reflink, btrfs) or copies on the server (NFS 4.2, SMB, Ceph).
 * Elsewhere the kernel splices the data through a pipe, and on O_DIRECT
 * fds that is small synchronous direct I/O: measured on 6.18, 256 MiB on
 * ext4 took 1.6-3.3 s against 0.34 s through the loop (copy_range.c).
 */
static void fs_quirks(struct dmaio_file *f, int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs))
		return;
	switch ((uint32_t)sfs.f_type) {
	case FUSE_MAGIC:
		f->append_blocks_submit = 1;
		f->fsync_blocks_submit = 1;
		break;
	case BTRFS_MAGIC:
		f->fsync_blocks_submit = 1;
		f->fstat_inline = 1;
		f->copy_offload = 1;
		break;
	case XFS_MAGIC:
		f->copy_offload = 1;
		/* fall through */
	case EXT4_MAGIC:
	case TMPFS_MAGIC:
		/*
		 * fstat of an open file here copies the inode's fields: no
		 * I/O, no lock held across any, so it is answered on the
		 * loop thread. FUSE asks its daemon and NFS its server (and
		 * anything unknown may): those keep the helper threads.
		 */
		f->fstat_inline = 1;
		break;
	case NFS_MAGIC:
	case SMB2_MAGIC:
	case CIFS_MAGIC:
	case CEPH_MAGIC:
		f->copy_offload = 1;
		break;
	}
}

int64_t dmaio__file_setup(struct dmaio__op *op, int fd)
{
	struct dmaio_file *f = op->file;
	struct stat st;
	int fl;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	/*
	 * O_DIRECT through fcntl rather than open: a file system that refuses
	 * it fails open with EINVAL after O_CREAT made the file, and a retry
	 * with O_EXCL would then fail with EEXIST.
	 */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) == 0)
		f->direct = 1;
	else if (errno == EINVAL)
		f->direct = 0; /* buffered fallback, same API */
	else
		return -errno;
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size_seen = (uint64_t)st.st_size;
	fs_quirks(f, fd);
	dmaio__file_discover(f, op->loop->features, &st);
	return 0;
}

static int64_t open_work(struct dmaio__op *op)
{
	int64_t err;
	int fd;

	fd = open(op->file->path, (op->oflags & ~O_DIRECT) | O_CLOEXEC,
		  op->mode);
	if (fd < 0)
		return -errno;
	err = dmaio__file_setup(op, fd);
	if (err) {
		op->file->fd = -1;
		close(fd);
	}
	return err;
}

void dmaio__file_join(struct dmaio_file *f)
{
	struct dmaio_loop *loop = f->loop;

	f->next = loop->files;
	if (f->next)
		f->next->prev = f;
	loop->files = f;
	/* buffered I/O runs on helpers: nothing to dispatch */
	f->disp_dev = f->direct ? dmaio__disp_dev_get(loop, f->queue_dev,
						      f->queue_cap)
				: NULL;
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
		dmaio__file_join(f);
	}
	if (op->u.open_cb)
		DMAIO__CALL_USER(loop, op->u.open_cb(op->arg, f, (int)res));
	dmaio__op_put(loop, op);
}

struct dmaio_file *dmaio__file_alloc(struct dmaio_loop *l, const char *path,
				     int accmode)
{
	struct dmaio_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	if (path && !(f->path = strdup(path))) {
		free(f);
		return NULL;
	}
	f->loop = l;
	f->fd = -1;
	f->accmode = accmode;
	f->stats.size = sizeof(f->stats);
	return f;
}

/* f's open (work, with oflags and mode for open_work) on a helper. */
static int submit_open(struct dmaio_file *f, dmaio__work_fn work, int oflags,
		       mode_t mode, dmaio_open_cb cb, void *arg)
{
	struct dmaio_loop *l = f->loop;
	struct dmaio__op *op = dmaio__op_get(l);

	if (!op) {
		dmaio__file_free(f);
		return -ENOMEM;
	}
	op->file = f;
	op->oflags = oflags;
	op->mode = mode;
	op->work = work;
	op->done = open_done;
	op->u.open_cb = cb;
	op->arg = arg;
	l->pending++;
	dmaio__helper_submit(l, op);
	return 0;
}

int dmaio__file_open_submit(struct dmaio_file *f, dmaio__work_fn work,
			    dmaio_open_cb cb, void *arg)
{
	return submit_open(f, work, 0, 0, cb, arg);
}

/*
 * Flags a DmaFile cannot honour are refused before anything is created or
 * truncated: O_APPEND makes every positional direct write land at EOF
 * while reporting success; O_PATH and O_DIRECTORY (O_TMPFILE includes it)
 * give no file to do I/O on; O_ASYNC would signal the process on every
 * completion; O_TRUNC on a file opened read-only truncates it on Linux.
 */
int dmaio__check_oflags(int oflags, const char *what)
{
	static const struct {
		int flag;
		const char *name, *why;
	} refused[] = {
		{ O_APPEND, "O_APPEND",
		  "positional writes would land at the end of the file" },
		{ O_PATH, "O_PATH", "it opens no file to do I/O on" },
		{ O_DIRECTORY, "O_DIRECTORY",
		  "directories take no direct I/O (O_TMPFILE includes it)" },
		{ O_ASYNC, "O_ASYNC",
		  "completions arrive through the loop, not as signals" },
	};
	const int known = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC |
			  O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_ASYNC |
			  O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW |
			  O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE;
	size_t i;

	if ((oflags & O_ACCMODE) == O_ACCMODE)
		return dmaio__fail(-EINVAL, "%s: access mode 3 is "
				   "none of O_RDONLY, O_WRONLY, O_RDWR", what);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (oflags & refused[i].flag)
			return dmaio__fail(-EINVAL, "%s: %s is refused: "
					   "%s", what, refused[i].name,
					   refused[i].why);
	if ((oflags & O_TRUNC) && (oflags & O_ACCMODE) == O_RDONLY)
		return dmaio__fail(-EINVAL, "%s: O_TRUNC with "
				   "O_RDONLY would truncate a file opened for "
				   "reading", what);
	if (oflags & ~known)
		return dmaio__fail(-EINVAL, "%s: unknown flags 0%o",
				   what, (unsigned)(oflags & ~known));
	return 0;
}

DMAIO_EXPORT int dmaio_file_open_flags(struct dmaio_loop *l, const char *path,
				       int oflags, mode_t mode,
				       dmaio_open_cb cb, void *arg)
{
	struct dmaio_file *f;
	int ret;

	DMAIO__NOT_INHERITED(l, -EBADFD);
	if (!l || !path)
		return dmaio__fail(-EINVAL, "open: %s is NULL",
				   l ? "path" : "loop");
	if (!*path)
		return dmaio__fail(-ENOENT, "open: path is empty");
	ret = dmaio__check_oflags(oflags, "open_flags");
	if (ret)
		return ret;
	f = dmaio__file_alloc(l, path, oflags & O_ACCMODE);
	if (!f || submit_open(f, open_work, oflags, mode, cb, arg))
		return dmaio__fail(-ENOMEM, "open: no memory");
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
