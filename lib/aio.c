/* SPDX-License-Identifier: MIT */
/*
 * The Linux AIO context: setup with a useful error when aio-max-nr is too
 * small, io_submit timed for the stats, and waking a loop that waits in
 * io_getevents. What goes to io_submit when is the dispatcher's.
 */
#include "aio.h"
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static long read_proc_long(const char *path)
{
	unsigned long long v;

	return dmaio__read_number(path, &v) ? -1 : (long)v;
}

static void explain_eagain(unsigned depth)
{
	long nr = read_proc_long("/proc/sys/fs/aio-nr");
	long max = read_proc_long("/proc/sys/fs/aio-max-nr");
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long want;

	/*
	 * What a context counts against aio-max-nr varies: n on recent
	 * kernels, up to max(n, 4 * CPUs) * 2 on 3.x. Ask for the larger.
	 */
	want = (long)depth > 4 * cpus ? (long)depth : 4 * cpus;
	want *= 2;
	dmaio__set_last_error(
		"io_setup(%u): EAGAIN: /proc/sys/fs/aio-max-nr is %ld with %ld "
		"in use (/proc/sys/fs/aio-nr); this context needs %u to %ld "
		"more: raise it to at least %ld (sysctl -w fs.aio-max-nr=%ld) "
		"or use a smaller queue_depth",
		depth, max, nr, depth, want, nr + want, nr + want);
}

static int setup_ctx(struct dmaio_loop *loop)
{
	int ret;

	loop->aio.ctx = 0;
	ret = io_setup(loop->aio.depth, &loop->aio.ctx);
	/* contexts of freed loops still count until they are gone */
	if (ret == -EAGAIN && dmaio__aio_destroy_wait())
		ret = io_setup(loop->aio.depth, &loop->aio.ctx);
	if (ret < 0) {
		loop->aio.ctx = 0;
		if (ret == -EAGAIN)
			explain_eagain(loop->aio.depth);
		else
			dmaio__set_last_error("io_setup(%u): %s",
					      loop->aio.depth,
					      dmaio_strerror(ret));
		return ret;
	}
	return 0;
}

int dmaio__aio_setup(struct dmaio_loop *loop)
{
	loop->aio.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->aio.efd < 0)
		return -errno;
	return setup_ctx(loop);
}

/*
 * A probe may leave the context unfit: request slots lost for its life
 * (a failed reaping self-test on 3.10-3.15), an iocb still in flight (a
 * probe that timed out). io_destroy waits for what the kernel has; the
 * loop then starts over on a fresh context, with nothing in flight.
 */
int dmaio__aio_reset(struct dmaio_loop *loop)
{
	if (loop->aio.ctx)
		io_destroy(loop->aio.ctx);
	loop->aio.ring = NULL;
	return setup_ctx(loop);
}

void dmaio__aio_teardown(struct dmaio_loop *loop)
{
	/* io_destroy waits for what the kernel still has: then wait here */
	if (loop->aio.ctx && loop->aio.inflight)
		io_destroy(loop->aio.ctx);
	else if (loop->aio.ctx)
		dmaio__aio_destroy_later(loop->aio.ctx);
	loop->aio.ctx = 0;
	loop->aio.ring = NULL;
	if (loop->aio.efd >= 0)
		close(loop->aio.efd);
	loop->aio.efd = -1;
}

/*
 * A one-byte read of /dev/zero completes inside io_submit (on 3.10 as on
 * today's kernels) and so wakes io_getevents at once. Its event is told
 * apart by its data and counted nowhere. If the context is full, a
 * completion is coming anyway.
 */
void dmaio__aio_wake(struct dmaio_loop *loop)
{
	struct iocb cb, *cbs[1] = { &cb };

	if (loop->aio.zero_fd < 0)
		return;
	io_prep_pread(&cb, loop->aio.zero_fd, &loop->aio.zero_byte, 1, 0);
	cb.data = DMAIO__WAKE_DATA(loop);
	if (io_submit(loop->aio.ctx, 1, cbs) != 1) {
		/* EAGAIN: the context is full, so completions are coming */
	}
}

/*
 * With DMAIO_LOOP_LAZY_EVENTFD the eventfd is only asked for when the loop
 * may wait in epoll: for watched fds, helper work, an outside poller of
 * dmaio_loop_fd() or a loop on its own thread. Otherwise it waits in
 * io_getevents, and signalling the eventfd from every completion only
 * costs (about 2% of the IOPS at depth 32 on virtio). An iocb sent without it is counted: while any is in
 * flight, epoll waits are short.
 */
static void set_resfd(struct dmaio_loop *loop, struct dmaio__op *op)
{
	if (!loop->aio.lazy_eventfd || loop->watch.nwatched ||
	    loop->helper.busy || loop->external || loop->hosted) {
		io_set_eventfd(&op->iocb, loop->aio.efd);
		op->silent = 0;
	} else {
		op->iocb.u.c.flags &= ~(1u << 0); /* IOCB_FLAG_RESFD */
		op->silent = 1;
	}
}

/*
 * io_submit is where the loop thread can stall (a full device queue, a
 * file system lock): one clock pair per call, counted for
 * dmaio_loop_stats() on the loop thread alone, so no atomics.
 */
static int timed_submit(struct dmaio_loop *loop, int n, struct iocb **iocbs)
{
	struct dmaio_loop_stats *st = &loop->stats;
	uint64_t t0 = dmaio__now_ns(), dt;
	int ret = io_submit(loop->aio.ctx, n, iocbs);

	dt = dmaio__now_ns() - t0;
	st->submit_calls++;
	st->submit_ns_total += dt;
	if (dt > st->submit_ns_max)
		st->submit_ns_max = dt;
	st->submit_stalls += dt > 1000000;
	loop->aio.last_t0 = t0;
	loop->aio.last_ns = dt;
	if (ret > 0)
		st->iocbs += (uint64_t)ret;
	else if (ret == -EAGAIN)
		st->submit_eagain++;
	return ret;
}

int dmaio__aio_submit(struct dmaio_loop *loop, struct dmaio__op **ops, int n)
{
	struct iocb *iocbs[n > 0 ? n : 1];
	int i, ret;

	for (i = 0; i < n; i++) {
		set_resfd(loop, ops[i]);
		iocbs[i] = &ops[i]->iocb;
	}
	ret = timed_submit(loop, n, iocbs);
	for (i = 0; i < ret; i++)
		loop->aio.inflight_silent += ops[i]->silent;
	if (ret > 0)
		loop->aio.inflight += (unsigned)ret;
	return ret;
}

void dmaio__wake_remote(struct dmaio_loop *loop)
{
	uint64_t one = 1;

	/* wakes an epoll wait, and makes dmaio_loop_fd() readable */
	if (write(loop->wake_efd, &one, sizeof(one)) < 0) {
		/* the counter is far from full: nothing to do */
	}
	if (__atomic_load_n(&loop->aio.sleeping, __ATOMIC_SEQ_CST))
		dmaio__aio_wake(loop);
}
