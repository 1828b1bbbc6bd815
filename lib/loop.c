/* SPDX-License-Identifier: MIT */
/*
 * The loop: one epoll fd watching the AIO eventfd, the helper threads'
 * eventfd and the user's own fds. One iteration submits what is queued,
 * waits, reaps, runs callbacks and submits again, so operations started
 * from callbacks leave in one io_submit.
 */
#include "aio.h"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/*
 * After this many iterations that skipped epoll_wait because completions
 * were already known, poll once anyway so watched fds are not starved;
 * with fds watched, also once this long has passed (ns): at depth 128 the
 * 16 iterations can hold a few thousand completions, milliseconds.
 */
#define MAX_EPOLL_SKIPS 16
#define EPOLL_EVERY_NS 100000


static void run_deferred(struct dmaio_loop *loop)
{
	struct dmaio__opq q = loop->deferred;
	struct dmaio__op *op;

	/* what these callbacks defer runs in the next iteration */
	memset(&loop->deferred, 0, sizeof(loop->deferred));
	while ((op = dmaio__opq_pop(&q)))
		op->done(op, op->res);
}

/*
 * Waits in io_getevents, where an eventfd cannot reach us. stop() or
 * post() from another thread sees aio.sleeping and submits a read of
 * /dev/zero, whose completion ends the wait; with both sides sequentially
 * consistent, either we see its stop (or post) or it sees us sleeping.
 */
static void wait_aio(struct dmaio_loop *loop, int timeout_ms)
{
	__atomic_store_n(&loop->aio.sleeping, 1, __ATOMIC_SEQ_CST);
	if (!(loop->running && __atomic_load_n(&loop->stop, __ATOMIC_SEQ_CST)) &&
	    !dmaio__posts_waiting(loop))
		dmaio__reap_wait(loop, timeout_ms);
	__atomic_store_n(&loop->aio.sleeping, 0, __ATOMIC_RELAXED);
}

/* Waits for whatever comes first; returns epoll's events in evs. */
static int wait_events(struct dmaio_loop *loop, int timeout_ms,
		       struct epoll_event *evs, int *reap_aio)
{
	int n;

	if (loop->aio.ring && dmaio__ring_ready(loop) &&
	    loop->epoll_skips < MAX_EPOLL_SKIPS &&
	    !dmaio__helper_has_done(loop) &&
	    !(loop->watch.nwatched &&
	      dmaio__now_ns() - loop->epoll_ns >= EPOLL_EVERY_NS)) {
		/* completions are waiting: no need to ask the kernel (an
		 * outside poller's signal is drained after the reap) */
		loop->epoll_skips++;
		*reap_aio = 1;
		return 0;
	}
	loop->epoll_skips = 0;
	if (timeout_ms == 0 && !loop->watch.nwatched && !loop->helper.busy &&
	    !loop->external &&
	    loop->aio.inflight == loop->aio.inflight_silent) {
		/*
		 * A look, not a wait, and epoll could only say what is known
		 * without it: no fd is watched, no helper works, no iocb in
		 * flight signals the eventfd, and posts and stop are seen by
		 * the caller. Skipping it spares a syscall per turn to a loop
		 * turned once per buffer (a stream reader on tmpfs: ~4%).
		 */
		*reap_aio = loop->aio.inflight != 0;
		return 0;
	}
	/*
	 * Only AIO can wake us: wait for it directly. Not on a loop thread
	 * of its own, which other threads wake with a post per _wait call:
	 * a post ends io_getevents with a read of /dev/zero (an io_submit
	 * and a completion more per call), but epoll with one eventfd write.
	 */
	if (timeout_ms != 0 && loop->aio.inflight && !loop->watch.nwatched &&
	    !loop->helper.busy && !loop->external && !loop->hosted) {
		if (dmaio__spin(loop, 0, evs, &timeout_ms, reap_aio) == -2) {
			loop->slept = 1;
			wait_aio(loop, timeout_ms);
		}
		return 0;
	}
	/* completions that signal nothing are looked for every 1 ms */
	if (loop->aio.inflight_silent) {
		if (timeout_ms < 0 || timeout_ms > 1)
			timeout_ms = 1;
		*reap_aio = 1;
	}
	n = dmaio__spin(loop, 1, evs, &timeout_ms, reap_aio);
	if (n == -2) {
		loop->slept = timeout_ms != 0;
		n = epoll_wait(loop->epfd, evs, DMAIO__EPOLL_BATCH, timeout_ms);
	}
	if (loop->watch.nwatched)
		loop->epoll_ns = dmaio__now_ns();
	return n;
}

/*
 * Completions that came while the reap ran its callbacks were reaped
 * with their eventfd signals still set: left, they wake an outside poller
 * for nothing. Drained, then the ring looked at again: what completes
 * after the drain signals anew or is reaped here.
 */
#define MAX_DRAIN_ROUNDS 4
static void drain_reaped(struct dmaio_loop *loop)
{
	int round;

	for (round = 0; round < MAX_DRAIN_ROUNDS; round++) {
		dmaio__eventfd_drain(loop->aio.efd);
		/* without the ring, a zero-timeout io_getevents looks */
		if (loop->aio.ring ? !dmaio__ring_ready(loop)
				   : !loop->aio.inflight)
			return;
		if (!dmaio__reap(loop))
			return;
	}
}

int dmaio__loop_iterate(struct dmaio_loop *loop, int timeout_ms)
{
	struct epoll_event evs[DMAIO__EPOLL_BATCH];
	int i, n, reap_aio = 0, reap_helper = 0, callbacks;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "run_once: loop is NULL");
	if (loop->in_run)
		return dmaio__fail(-EDEADLK, "run_once: called from one of "
				   "the loop's own callbacks");
	loop->in_run = 1;
	loop->callbacks = 0;
	loop->slept = 0;
	if (loop->wake_pending) {
		/* this iteration does what the wake-up announced */
		dmaio__eventfd_drain(loop->wake_efd);
		loop->wake_pending = 0;
	}
	if (dmaio__dispatch_queued(&loop->disp))
		dmaio__dispatch_flush(loop);

	if (loop->deferred.n || dmaio__posts_waiting(loop))
		timeout_ms = 0;
	else if (loop->aio.eagain_streak)
		timeout_ms = 1; /* io_submit EAGAIN, nothing in flight: retry */
	else if (!loop->pending && !loop->watch.nwatched && !loop->timers.n &&
		 !loop->hosted)
		timeout_ms = 0; /* nothing could ever wake us (but a post) */
	if (loop->timers.n)
		timeout_ms = dmaio__timers_timeout(loop, timeout_ms,
						   dmaio__now_ns());

	n = wait_events(loop, timeout_ms, evs, &reap_aio);
	if (n < 0) {
		n = 0;
		if (errno != EINTR) {
			loop->in_run = 0;
			return dmaio__fail(-errno, "run_once: epoll_wait");
		}
	}
	for (i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;

		if (tag == DMAIO__TAG_AIO) {
			dmaio__eventfd_drain(loop->aio.efd);
			reap_aio = 1;
		} else if (tag == DMAIO__TAG_HELPER) {
			dmaio__eventfd_drain(loop->helper.efd);
			reap_helper = 1;
		} else if (tag == DMAIO__TAG_WAKE) {
			dmaio__eventfd_drain(loop->wake_efd);
		} else if (tag == DMAIO__TAG_TIMER) {
			dmaio__timers_fd_fired(loop);
		} else {
			dmaio__watch_dispatch(loop, (int)tag, evs[i].events);
		}
	}
	if (reap_aio || (loop->aio.ring && dmaio__ring_ready(loop))) {
		dmaio__reap(loop);
		if (loop->external)
			drain_reaped(loop);
	}
	/*
	 * Work found without epoll's word takes its fd's signal with it,
	 * drained before the work is taken (what comes after signals
	 * again): left, it would wake an outside poller for nothing.
	 */
	if (!reap_helper && dmaio__helper_has_done(loop)) {
		if (loop->external)
			dmaio__eventfd_drain(loop->helper.efd);
		reap_helper = 1;
	}
	if (reap_helper)
		dmaio__helper_reap(loop);
	if (loop->deferred.n)
		run_deferred(loop);
	if (loop->timers.n)
		dmaio__timers_run(loop, dmaio__now_ns());
	if (dmaio__posts_waiting(loop)) {
		if (loop->external) {
			dmaio__eventfd_drain(loop->wake_efd);
			loop->wake_pending = 0;
		}
		dmaio__posts_run(loop);
	}
	if (dmaio__dispatch_queued(&loop->disp))
		dmaio__dispatch_flush(loop);
	loop->in_run = 0;
	if (loop->external)
		dmaio__timers_sync_fd(loop);
	callbacks = (int)loop->callbacks;
	if (loop->slept) {
		loop->stats.wakeups++;
		loop->stats.wakeups_idle += !callbacks;
	}
	return callbacks;
}

int dmaio__loop_has_work(struct dmaio_loop *loop)
{
	return loop->pending || loop->watch.nwatched || loop->timers.n ||
	       dmaio__posts_waiting(loop);
}

/* The one call, with dmaio_loop_post, that any thread may make. */
DMAIO_EXPORT void dmaio_loop_stop(struct dmaio_loop *loop)
{
	if (!loop)
		return;
	__atomic_store_n(&loop->stop, 1, __ATOMIC_SEQ_CST);
	dmaio__wake_remote(loop);
}

DMAIO_EXPORT int dmaio_loop_stats(struct dmaio_loop *loop,
				  struct dmaio_loop_stats *st)
{
	size_t n;

	if (!loop || !st)
		return dmaio__fail(-EINVAL, "loop_stats: %s is NULL",
				   loop ? "st" : "loop");
	n = st->size;
	if (n < sizeof(size_t))
		return dmaio__fail(-EINVAL, "loop_stats: st->size %zu is "
				   "smaller than a size_t", n);
	/* counted on other threads (wait_direct.c), so not in loop->stats */
	loop->stats.caller_ios = __atomic_load_n(&loop->host.direct_ios,
						 __ATOMIC_RELAXED);
	/* what the caller's struct has room for, its size kept */
	memcpy((char *)st + sizeof(size_t),
	       (const char *)&loop->stats + sizeof(size_t),
	       (n < sizeof(*st) ? n : sizeof(*st)) - sizeof(size_t));
	return 0;
}

DMAIO_EXPORT int dmaio_loop_fd(struct dmaio_loop *loop)
{
	DMAIO__NOT_INHERITED(loop, -EBADFD);

	if (!loop)
		return dmaio__fail(-EINVAL, "loop_fd: loop is NULL");
	/* someone else will poll it: every completion must make it readable,
	 * and so must a due timer */
	loop->external = 1;
	dmaio__timers_sync_fd(loop);
	if (dmaio__dispatch_queued(&loop->disp) || loop->deferred.n)
		dmaio__wake_poller(loop);
	return loop->epfd;
}

DMAIO_EXPORT uint64_t dmaio_loop_features(struct dmaio_loop *loop)
{
	return loop ? loop->features : 0;
}

DMAIO_EXPORT size_t dmaio_loop_pending(const struct dmaio_loop *loop)
{
	return loop ? loop->pending : 0;
}

/*
 * For a host loop that prefers a timeout to another fd: what no fd event
 * announces is a timer's deadline (and work run_once already has, which
 * the host may not have noticed: queued ops, posts, deferred callbacks).
 */
DMAIO_EXPORT int dmaio_loop_timeout(struct dmaio_loop *loop)
{
	DMAIO__NOT_INHERITED(loop, -EBADFD);

	if (!loop)
		return dmaio__fail(-EINVAL, "loop_timeout: loop is NULL");
	if (dmaio__loop_work_queued(loop) || dmaio__posts_waiting(loop) ||
	    dmaio__helper_has_done(loop) ||
	    (loop->aio.ring && dmaio__ring_ready(loop)))
		return 0;
	if (!loop->timers.n)
		return -1;
	return dmaio__timers_timeout(loop, -1, dmaio__now_ns());
}
