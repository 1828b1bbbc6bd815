/* SPDX-License-Identifier: MIT */
/*
 * read_into_wait and write_from_wait called from another thread while the
 * loop runs on its own (dmaio_loop_start_thread): where the loop would
 * send the request straight to the kernel anyway, the calling thread
 * makes it itself, with pread or pwrite on the file's descriptor, and
 * sleeps in the kernel until it is done. Handed to the loop's thread
 * instead, each call costs two more thread wake-ups (the loop's, then the
 * caller's) on the request's path: more CPU per I/O than the I/O itself
 * and, at the few requests a pool of threads keeps in flight, fewer of
 * them per second than the threads' own pread.
 *
 * It is only taken where nothing of the loop's is bypassed by it:
 * - the loop has no I/O class (the dispatcher would queue and price it);
 * - a write past EOF not where the loop would hold the file's other I/O
 *   behind it (see loop_would_send); elsewhere an append on the caller's
 *   thread is better than in the loop's io_submit, where ext4 and XFS
 *   complete it before returning, all of the loop's work waiting;
 * - the loop's thread still runs and the file is not closing.
 * Everything else is handed over as before (wait.c). Calls touch only
 * atomics of the loop and the file; close and release_fd
 * (dmaio__direct_drain) and stop_thread wait for the calls in progress,
 * so the file outlives them.
 */
#include "drain.h"
#include "file.h"
#include "wait.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/*
 * What the loop would do with the request is to send it as it is. Not a
 * write past EOF where the file system holds the inode lock through it
 * (FUSE): the loop sends that to a helper thread with the file's other
 * I/O held behind it (dmaio__write_route), so that none of it sleeps in
 * the loop's io_submit on that lock.
 */
static int loop_would_send(struct dmaio_file *f, int write, uint64_t pos,
			   size_t size)
{
	struct dmaio_loop *loop = f->loop;

	if (__atomic_load_n(&loop->disp.nclasses, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&f->cls, __ATOMIC_RELAXED))
		return 0;
	return !write || !f->append_blocks_submit || !f->direct ||
	       pos + size <= dmaio__size_seen(f);
}

/*
 * In: the file's count first, so that a close submitted meanwhile waits
 * for us before the file goes, then the loop's. Out in the same order:
 * the loop last (a stopped loop may be freed, and its files with it).
 * seq_cst both ways: close stores closing, and stop_thread the state,
 * before draining, so either they see us or we see them. 1: the loop
 * still runs on its thread, the call may go on (leave() either way).
 */
static int enter(struct dmaio_file *f)
{
	dmaio__drain_enter(&f->direct_calls);
	dmaio__drain_enter(&f->loop->host.direct);
	return __atomic_load_n(&f->loop->host.state, __ATOMIC_SEQ_CST) ==
	       DMAIO__HOST_RUNNING;
}

static void leave(struct dmaio_file *f, struct dmaio__host *h)
{
	dmaio__drain_leave(&f->direct_calls);
	dmaio__drain_leave(&h->direct);
}

static int closing(struct dmaio_file *f, const char *what)
{
	if (!__atomic_load_n(&f->closing, __ATOMIC_SEQ_CST))
		return 0;
	return dmaio__fail(-EBADF, "%s: close was already called on this "
			   "file", what);
}

static int64_t run(struct dmaio_file *f, int write, uint64_t pos,
		   void *buf, size_t size, const char *what)
{
	int64_t res = closing(f, what);

	if (res)
		return res;
	res = dmaio__mem_args_check(f, write, pos, buf, size, what);
	if (res)
		return res;
	res = dmaio__rw_all(f->fd, write ? IO_CMD_PWRITE : IO_CMD_PREAD,
			    buf, size, pos);
	if (res < 0)
		return dmaio__fail((int)res, "%s: %s at %llu: %s", what,
				   write ? "pwrite" : "pread",
				   (unsigned long long)pos,
				   strerror((int)-res));
	if (write) {
		dmaio__count_write(f, res);
		if (res > 0)
			dmaio__size_seen_raise(f, pos + (uint64_t)res);
	} else
		dmaio__count_read(f, res);
	__atomic_add_fetch(&f->loop->host.direct_ios, 1, __ATOMIC_RELAXED);
	return res;
}

int dmaio__wait_direct(struct dmaio_file *f, int write, uint64_t pos,
		       const void *buf, size_t size, int64_t *res)
{
	struct dmaio__host *h;
	const char *what = write ? "write_from_wait" : "read_into_wait";
	int taken = 0;

	if (!f || !size || !dmaio__hosted_elsewhere(f->loop))
		return 0;
	h = &f->loop->host;
	if (enter(f) && loop_would_send(f, write, pos, size)) {
		*res = run(f, write, pos, (void *)buf, size, what);
		taken = 1;
	}
	leave(f, h);
	return taken;
}

/*
 * size_wait from another thread, where the loop answers it with an
 * fstat of its own (fstat_inline: the file system cannot block it): the
 * caller's fstat gives what the loop's would, without the hand-over's two
 * wake-ups (about 20 us here; an fstat is well under a microsecond).
 */
int dmaio__wait_direct_size(struct dmaio_file *f, int64_t *res)
{
	struct dmaio__host *h;
	int taken = 0;

	if (!f || !f->fstat_inline || !dmaio__hosted_elsewhere(f->loop))
		return 0;
	h = &f->loop->host;
	if (enter(f)) {
		struct stat st;

		taken = 1;
		*res = closing(f, "size_wait");
		if (!*res)
			*res = fstat(f->fd, &st) ?
			       dmaio__fail(-errno, "size_wait: fstat: %s",
					   strerror(errno)) :
			       (int64_t)st.st_size;
	}
	leave(f, h);
	return taken;
}
