/* SPDX-License-Identifier: MIT */
/*
 * DmaFile: open, close, identity, and the life of a file operation.
 *
 * Operations that change the file's allocation (fallocate, truncate, hole
 * punching, extent hints), rename, remove and close are barriers: they
 * wait until the file's in-flight I/O has drained, and I/O submitted
 * after them waits until they are done. On XFS, fallocate waits for all
 * direct I/O of the file while holding its lock, and an io_submit issued
 * meanwhile would sleep on that lock in the loop thread. Where the file
 * system holds the inode lock across fsync, or across a direct write that
 * extends the file, those are barriers too (see fs_quirks).
 */
#include "aio.h"
#include "drain.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

int dmaio__file_check(const struct dmaio_file *f, const char *what)
{
	if (!f)
		return dmaio__fail(-EINVAL, "%s: file is NULL", what);
	/* a held file lets the holder's own calls through (see close) */
	if (__atomic_load_n(&f->closing, __ATOMIC_RELAXED) &&
	    !(f->holds && f->loop->internal_calls))
		return dmaio__fail(-EBADF, "%s: close was already called on "
				   "this file", what);
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

/* What the caller gets counts: of a read, the bytes it asked for that
 * came back, not the aligned range read. */
static void count_for_class(struct dmaio__op *op, int64_t res)
{
	if (op->rw && op->opcode == IO_CMD_PREAD && res >= 0) {
		size_t off, n;

		dmaio__range_clamp(op->io_pos, res, op->pos, op->len, &off, &n);
		res = (int64_t)n;
	}
	dmaio__class_count(op->cls, op, res);
}

/* The loop-thread end of every file operation. */
static void file_op_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;
	struct dmaio_loop *loop = op->loop;

	if (op->barrier) {
		/*
		 * What the barrier changed (a rename's path) is in place
		 * before the operations held behind it start: a remove or
		 * rename queued after a rename reads the new path on its
		 * helper thread, never the old one being freed.
		 */
		if (op->settle)
			op->settle(op, res);
		f->barrier = NULL;
		f->barrier_running = 0;
		release_held(f);
	} else {
		f->io_inflight--;
		run_barrier_if_drained(f);
	}
	loop->pending--;
	/* counted before its callback, which may free the class */
	if (op->cls)
		count_for_class(op, res);
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
	if (f->cls) {
		/* a class's latency runs from the call (none: no clock) */
		op->cls = f->cls;
		op->cls->nops++;
		op->t_call = dmaio__now_ns();
	}
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

void dmaio__file_hold(struct dmaio_file *f)
{
	f->holds++;
}

void dmaio__file_unhold(struct dmaio_file *f)
{
	struct dmaio__op *op = f->parked_close;

	if (--f->holds || !op)
		return;
	f->parked_close = NULL;
	f->loop->pending--;
	dmaio__file_start(op);
}

void dmaio__finish_cb(struct dmaio__op *op, int64_t res)
{
	dmaio__op_call_cb(op, op->u.cb, res);
}

static void file_unlink(struct dmaio_file *f)
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
	if (f->cls)
		f->cls->nfiles--;
	free(f->path);
	free(f->tmp_path);
	free(f);
}

void dmaio__files_release(struct dmaio_loop *loop)
{
	while (loop->files) {
		struct dmaio_file *f = loop->files;

		file_unlink(f);
		if (f->fd >= 0)
			close(f->fd);
		if (f->tmp_path)
			unlink(f->tmp_path);
		dmaio__file_free(f);
	}
}

/* A buffer for f's I/O: aligned as its memory must be. */
DMAIO_EXPORT struct dmaio_buf *dmaio_file_alloc_buf(struct dmaio_file *f,
						    size_t size)
{
	struct dmaio_buf *b;

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, NULL);
	if (dmaio__file_check(f, "alloc_buf"))
		return NULL;
	b = dmaio__buf_alloc(f->loop->pool, size, f->mem_align);
	if (!b)
		dmaio__fail(-ENOMEM, size ? "alloc_buf: no memory for %zu bytes"
					  : "alloc_buf: size is %zu", size);
	return b;
}

/* ------------------------------------------------------------------ */
/* open                                                                */

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

int dmaio__file_open_submit(struct dmaio_file *f, dmaio__work_fn work,
			    dmaio_open_cb cb, void *arg)
{
	struct dmaio_loop *l = f->loop;
	struct dmaio__op *op = dmaio__op_get(l);

	if (!op) {
		dmaio__file_free(f);
		return -ENOMEM;
	}
	op->file = f;
	op->work = work;
	op->done = open_done;
	op->u.open_cb = cb;
	op->arg = arg;
	l->pending++;
	dmaio__helper_submit(l, op);
	return 0;
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
	struct dmaio__op *op;
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
	if (!f)
		return dmaio__fail(-ENOMEM, "open: no memory");
	op = dmaio__op_get(l);
	if (!op) {
		dmaio__file_free(f);
		return dmaio__fail(-ENOMEM, "open: no memory");
	}
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

void dmaio__direct_drain(struct dmaio_file *f)
{
	/* closing is set: a call coming in now leaves at once (-EBADF) */
	dmaio__drain(&f->direct_calls);
}

static int64_t close_work(struct dmaio__op *op)
{
	struct dmaio_file *f = op->file;

	dmaio__direct_drain(f);
	/* an anonymous file's hidden name goes with it (file_tmp.c) */
	if (f->tmp_path)
		unlink(f->tmp_path);
	/* Linux releases the fd even when close reports an error */
	return close(f->fd) ? -errno : 0;
}

static void close_finish(struct dmaio__op *op, int64_t res)
{
	struct dmaio_file *f = op->file;

	f->fd = -1;
	file_unlink(f);
	dmaio__op_call_cb(op, op->u.cb, res);
	dmaio__file_free(f);
}

int dmaio__file_end(struct dmaio_file *f, dmaio__work_fn work, dmaio_cb cb,
		    void *arg, const char *what)
{
	struct dmaio__op *op;
	int ret = dmaio__file_check(f, what);

	if (ret)
		return ret;
	op = dmaio__file_op(f, close_finish, arg);
	if (!op)
		return dmaio__fail(-ENOMEM, "%s: no memory", what);
	op->u.cb = cb;
	op->work = work;
	op->barrier = 1;
	/* from here a call on another thread fails (wait_direct.c) */
	__atomic_store_n(&f->closing, 1, __ATOMIC_SEQ_CST);
	/* a lock still waiting would never be taken: it ends first */
	if (f->lock_waits)
		f->cancel_locks(f);
	if (f->holds) {
		/*
		 * A write_copy call still has a write or truncate to submit
		 * (after its read-back): the close follows the last of them.
		 */
		f->parked_close = op;
		f->loop->pending++;
		return 0;
	}
	dmaio__file_start(op);
	return 0;
}

DMAIO_EXPORT int dmaio_file_close(struct dmaio_file *f, dmaio_cb cb, void *arg)
{
	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);

	return dmaio__file_end(f, close_work, cb, arg, "close");
}

/* ------------------------------------------------------------------ */
/* identity and alignment                                              */

DMAIO_EXPORT uint64_t dmaio_file_align_up(const struct dmaio_file *f,
					  uint64_t v)
{
	uint64_t a = f ? f->align : DMAIO_MIN_ALIGN;

	return dmaio__align_up(v, a);
}

DMAIO_EXPORT uint64_t dmaio_file_align_down(const struct dmaio_file *f,
					    uint64_t v)
{
	uint64_t a = f ? f->align : DMAIO_MIN_ALIGN;

	return dmaio__align_down(v, a);
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
	int ret = dmaio__file_check(f, "fd");

	return ret ? ret : f->fd;
}

DMAIO_EXPORT const char *dmaio_file_path(const struct dmaio_file *f)
{
	return f ? f->path : NULL;
}
