/* SPDX-License-Identifier: MIT */
/*
 * Reaping AIO completions: straight from the ring the kernel maps into our
 * address space (no syscall), or with io_getevents where the ring does not
 * qualify, under valgrind (which cannot see the kernel's writes to it), or
 * when DMAIO_FEAT_USER_REAP is disabled.
 */
#include "aio.h"
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* completions copied out of the kernel at a time */
#define REAP_BATCH 128

int dmaio__ring_attach(struct dmaio_loop *loop)
{
	struct dmaio__ring *ring = (struct dmaio__ring *)loop->aio.ctx;

	if (!ring || ring->magic != AIO_RING_MAGIC ||
	    ring->incompat_features != 0 || ring->nr == 0 ||
	    ring->header_length != sizeof(*ring))
		return -ENOTSUP;
	loop->aio.ring = ring;
	return 0;
}

unsigned dmaio__ring_size(struct dmaio_loop *loop)
{
	return loop->aio.ring ? loop->aio.ring->nr : 0;
}

void dmaio__ring_drop(struct dmaio_loop *loop)
{
	struct dmaio__ring *ring = loop->aio.ring;

	__atomic_store_n(&ring->head,
			 __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

int dmaio__ring_ready(struct dmaio_loop *loop)
{
	struct dmaio__ring *ring = loop->aio.ring;

	return ring->head != __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
}

static void complete_events(struct dmaio_loop *loop, struct io_event *ev,
			    unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct dmaio__op *op = ev[i].data;

		if (ev[i].data == DMAIO__WAKE_DATA(loop))
			continue; /* dmaio_loop_stop() woke us: no operation */
		loop->aio.inflight--;
		loop->aio.inflight_silent -= op->silent;
		/* res is the syscall's return value in an unsigned long */
		op->done(op, (int64_t)(long)ev[i].res);
	}
	/* the batch's end: what its callbacks left queued may go now */
	if (loop->aio.reaped)
		loop->aio.reaped(loop);
}

/*
 * The kernel writes the events, then tail (with a barrier), then signals
 * the eventfd: acquire tail, copy, release head so the slots are reused.
 *
 * One call reaps one ring's worth at most. Callbacks start I/O, and when
 * io_submit sleeps (a full device queue) the ring refills while it does:
 * reaping until empty then never ended, and the loop's sockets waited
 * seconds (dmaio-bench --ping at depth 512 on a 256-request virtio disk).
 */
static unsigned reap_ring(struct dmaio_loop *loop)
{
	struct dmaio__ring *ring = loop->aio.ring;
	struct io_event ev[REAP_BATCH];
	unsigned total = 0;

	while (total < ring->nr) {
		unsigned head = ring->head;
		unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
		unsigned nr = ring->nr, n = 0;

		if (head >= nr || tail >= nr)
			break; /* never seen; do not walk off the ring */
		while (head != tail && n < REAP_BATCH) {
			ev[n++] = ring->events[head];
			head = head + 1 == nr ? 0 : head + 1;
		}
		if (!n)
			break;
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
		loop->stats.reaped_ring += n;
		complete_events(loop, ev, n);
		total += n;
	}
	return total;
}

static unsigned reap_syscall(struct dmaio_loop *loop)
{
	struct io_event ev[REAP_BATCH];
	struct timespec zero = { 0, 0 };
	unsigned total = 0;

	/* as reap_ring: a context's worth at most */
	while (loop->aio.inflight && total < loop->aio.depth) {
		int n = io_getevents(loop->aio.ctx, 0, REAP_BATCH, ev, &zero);

		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		loop->stats.reaped_syscall += (unsigned)n;
		complete_events(loop, ev, (unsigned)n);
		total += n;
		if (n < REAP_BATCH)
			break;
	}
	return total;
}

unsigned dmaio__reap(struct dmaio_loop *loop)
{
	return loop->aio.ring ? reap_ring(loop) : reap_syscall(loop);
}

/*
 * Waits in io_getevents itself, as fio does, when AIO completions are the
 * only thing that can wake the loop: one syscall instead of epoll_wait,
 * an eventfd read and the reap, which is most of a low-depth I/O's cost.
 */
unsigned dmaio__reap_wait(struct dmaio_loop *loop, int timeout_ms)
{
	struct io_event ev[REAP_BATCH];
	struct timespec ts, *tsp = NULL;
	int n;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	n = io_getevents(loop->aio.ctx, 1, REAP_BATCH, ev, tsp);
	if (n <= 0)
		return 0; /* EINTR or timeout: the caller's loop goes on */
	loop->stats.reaped_syscall += (unsigned)n;
	complete_events(loop, ev, (unsigned)n);
	return (unsigned)n + dmaio__reap(loop);
}
