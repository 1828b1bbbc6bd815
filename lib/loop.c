/* SPDX-License-Identifier: MIT */
/*
 * The loop: one epoll fd watching the AIO eventfd, the helper threads'
 * eventfd and the user's own fds. One iteration submits what is queued,
 * waits, reaps, runs callbacks and submits again, so operations started
 * from callbacks leave in one io_submit.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* epoll_data tags of our own fds; user fds are stored as themselves. */
#define TAG_AIO    (1ULL << 62)
#define TAG_HELPER (1ULL << 63)
#define TAG_WAKE   (1ULL << 61)

/*
 * After this many iterations that skipped epoll_wait because completions
 * were already known, poll once anyway so watched fds are not starved.
 */
#define MAX_EPOLL_SKIPS 16
/* events taken from one epoll_wait */
#define EPOLL_BATCH 64

DMAIO_EXPORT void dmaio_loop_opts_init(struct dmaio_loop_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->queue_depth = 128;
	o->helper_threads = 1;
	o->disable = 0;
	o->submit_batch = 1;
}

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = tag;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

DMAIO_EXPORT int dmaio_loop_new(struct dmaio_loop **out,
				const struct dmaio_loop_opts *uo)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	int ret;

	dmaio__set_last_error("%s", "");
	if (!out)
		return dmaio__fail(-EINVAL, "loop_new: out is NULL");
	*out = NULL;
	dmaio_loop_opts_init(&o);
	if (dmaio__opts_read(&o, sizeof(o), uo))
		return dmaio__fail(-EINVAL, "loop_new: opts->size is smaller "
				   "than a size_t");
	if (!o.queue_depth)
		o.queue_depth = 128;
	if (!o.helper_threads)
		o.helper_threads = 1;
	if (o.queue_depth > 65536)
		return dmaio__fail(-EINVAL, "loop_new: queue_depth %u is over "
				   "65536", o.queue_depth);
	if (o.helper_threads > 1024)
		return dmaio__fail(-EINVAL, "loop_new: helper_threads %u is "
				   "over 1024", o.helper_threads);
	if (o.disable & ~DMAIO_FEAT_ALL)
		return dmaio__fail(-EINVAL, "loop_new: disable has bits that "
				   "are no DMAIO_FEAT_*: 0x%llx",
				   (unsigned long long)(o.disable &
							~DMAIO_FEAT_ALL));
	if (!o.submit_batch)
		o.submit_batch = 1;
	if (o.poll_us > 1000000)
		return dmaio__fail(-EINVAL, "loop_new: poll_us %u is over "
				   "1000000", o.poll_us);
	if (o.flags & ~DMAIO_LOOP_LAZY_EVENTFD)
		return dmaio__fail(-EINVAL, "loop_new: unknown flags 0x%x",
				   o.flags & ~DMAIO_LOOP_LAZY_EVENTFD);

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return dmaio__fail(-ENOMEM, "loop_new: no memory");
	ret = dmaio__posts_init(&loop->posts);
	if (ret) {
		free(loop);
		return dmaio__fail(ret, "loop_new: pthread_mutex_init");
	}
	ret = dmaio__fork_setup(&loop->fork_gen);
	if (ret) {
		dmaio__posts_destroy(loop, 0);
		free(loop);
		return dmaio__fail(ret, "loop_new: pthread_once");
	}
	loop->owner = getpid();
	loop->epfd = loop->aio_efd = loop->helper.efd = -1;
	loop->wake_efd = loop->zero_fd = -1;
	loop->depth = o.queue_depth;
	loop->submit_batch = o.submit_batch;
	loop->poll_ns = (uint64_t)o.poll_us * 1000;
	loop->lazy_eventfd = !!(o.flags & DMAIO_LOOP_LAZY_EVENTFD);

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		ret = -errno;
		goto fail;
	}
	loop->pool = dmaio__pool_new(o.queue_depth);
	if (!loop->pool) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = dmaio__aio_setup(loop);
	if (ret)
		goto fail;
	ret = epoll_add(loop->epfd, loop->aio_efd, EPOLLIN, TAG_AIO);
	if (ret)
		goto fail;
	loop->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = epoll_add(loop->epfd, loop->wake_efd, EPOLLIN, TAG_WAKE);
	if (ret)
		goto fail;
	/* without it, stop() from another thread waits for a completion */
	loop->zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ret = dmaio__helper_start(&loop->helper, o.helper_threads);
	if (ret)
		goto fail;
	ret = epoll_add(loop->epfd, loop->helper.efd, EPOLLIN, TAG_HELPER);
	if (ret)
		goto fail;
	ret = dmaio__probe_features(loop, o.disable);
	if (ret)
		goto fail;
	loop->pool->huge = !!(loop->features & DMAIO_FEAT_HUGE_BUFFERS);
	*out = loop;
	return 0;
fail:
	dmaio_loop_free(loop);
	return ret;
}

/*
 * dmaio_loop_free() in a forked child (an atexit clean-up, say). The AIO
 * context, the helper threads and what they are doing are the parent's:
 * waiting for them would hang, and a helper's lock may have been held at
 * the fork. The fds are the child's own copies, closing them leaves the
 * parent's alone; the memory is the child's copy (buffer pages excepted,
 * which it never had). So: close, drop what the loop thread's lists hold,
 * and free. Operations that were pending at the fork stay where they are:
 * in the child nothing leads to them.
 */
static void release(struct dmaio_loop *loop, int inherited)
{
	struct dmaio__op *op;

	while (loop->owned) {
		struct dmaio__owned *o = loop->owned;

		dmaio__disown(loop, o);
		o->drop(o);
	}
	while (loop->files) {
		struct dmaio_file *f = loop->files;

		dmaio__file_unlink(f);
		if (f->fd >= 0)
			close(f->fd);
		dmaio__file_free(f);
	}
	if (inherited) {
		free(loop->helper.threads);
		if (loop->helper.efd >= 0)
			close(loop->helper.efd);
		if (loop->aio_efd >= 0)
			close(loop->aio_efd);
	} else {
		if (loop->helper.threads)
			dmaio__helper_stop(&loop->helper);
		dmaio__aio_teardown(loop);
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wake_efd >= 0)
		close(loop->wake_efd);
	if (loop->zero_fd >= 0)
		close(loop->zero_fd);
	while ((op = loop->free_ops)) {
		loop->free_ops = op->next;
		free(op);
	}
	free(loop->watch);
	dmaio__timers_free_all(loop);
	dmaio__posts_destroy(loop, inherited);
	if (loop->pool)
		dmaio__pool_release(loop->pool);
	free(loop);
}

static void free_inherited(struct dmaio_loop *loop)
{
	loop->freeing = 1;
	release(loop, 1);
}

/* Frees the loop: everything pending finishes, nobody is called back. */
static void destroy(struct dmaio_loop *loop)
{
	/*
	 * The kernel and the helpers may still be using buffers of pending
	 * operations: let them finish. The library's own completions still
	 * run (read_many and the streams free themselves), the user's do not.
	 */
	loop->freeing = 1;
	while (loop->pending && loop->ctx)
		if (dmaio_loop_run_once(loop, -1) < 0)
			break;
	release(loop, 0);
}

DMAIO_EXPORT void dmaio_loop_free(struct dmaio_loop *loop)
{
	if (!loop || loop->free_requested)
		return;
	if (DMAIO__INHERITED(loop)) {
		free_inherited(loop);
		return;
	}
	/* from here on, posts from other threads are refused */
	dmaio__posts_close(loop);
	if (loop->in_run || loop->drivers) {
		/*
		 * From a callback: the code that called it still uses the
		 * loop. From here on nobody is called back; whoever drives
		 * the loop (run, run_once, a _wait) frees it on the way out.
		 */
		loop->free_requested = 1;
		loop->freeing = 1;
		return;
	}
	destroy(loop);
}

int dmaio__free_if_requested(struct dmaio_loop *loop)
{
	if (!loop->free_requested)
		return 0;
	loop->free_requested = 0;
	destroy(loop);
	return 1;
}

void dmaio__own(struct dmaio_loop *loop, struct dmaio__owned *o,
		void (*drop)(struct dmaio__owned *o))
{
	o->drop = drop;
	o->prev = NULL;
	o->next = loop->owned;
	if (o->next)
		o->next->prev = o;
	loop->owned = o;
}

void dmaio__disown(struct dmaio_loop *loop, struct dmaio__owned *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		loop->owned = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->prev = o->next = NULL;
}

void dmaio__owned_closed(struct dmaio_loop *loop, struct dmaio__owned *o,
			 dmaio_cb cb, void *arg, int64_t res)
{
	dmaio__disown(loop, o);
	o->drop(o);
	dmaio__call_cb(loop, cb, arg, res);
}

struct dmaio__op *dmaio__op_get(struct dmaio_loop *loop)
{
	struct dmaio__op *op = loop->free_ops;

	if (op) {
		loop->free_ops = op->next;
		loop->nfree_ops--;
	} else {
		op = malloc(sizeof(*op));
		if (!op)
			return NULL;
	}
	memset(op, 0, sizeof(*op));
	op->loop = loop;
	op->internal = loop->internal_calls != 0;
	return op;
}

void dmaio__op_put(struct dmaio_loop *loop, struct dmaio__op *op)
{
	/* keep about two context's worth: beyond that, memory goes back */
	if (loop->nfree_ops >= 2 * (size_t)loop->depth + 64) {
		free(op);
		return;
	}
	op->next = loop->free_ops;
	loop->free_ops = op;
	loop->nfree_ops++;
}

/*
 * An embedding program polls dmaio_loop_fd() and calls run_once(loop, 0)
 * when it is readable, so work queued in user space must make it
 * readable too. Once per batch: the write is drained by the next
 * run_once. Only for such a program: run and run_once look for queued
 * work themselves.
 */
void dmaio__wake_poller(struct dmaio_loop *loop)
{
	uint64_t one = 1;

	if (!loop->external || loop->wake_pending)
		return;
	loop->wake_pending = 1;
	if (write(loop->wake_efd, &one, sizeof(one)) < 0) {
		/* the counter is far from full: nothing to do */
	}
}

void dmaio__defer(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	op->res = res;
	dmaio__opq_push(&loop->deferred, op);
	if (!loop->in_run)
		dmaio__wake_poller(loop);
}

static void post_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	loop->pending--;
	dmaio__op_call_cb(op, op->u.cb, res);
	dmaio__op_put(loop, op);
}

int dmaio__post(struct dmaio_loop *loop, dmaio_cb cb, void *arg, int64_t res)
{
	struct dmaio__op *op = dmaio__op_get(loop);

	if (!op)
		return dmaio__fail(-ENOMEM, "no memory for an operation");
	op->done = post_done;
	op->u.cb = cb;
	op->arg = arg;
	loop->pending++;
	dmaio__defer(op, res);
	return 0;
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	/* non-blocking: EAGAIN just means someone read it first */
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static void run_deferred(struct dmaio_loop *loop)
{
	struct dmaio__opq q = loop->deferred;
	struct dmaio__op *op;

	/* what these callbacks defer runs in the next iteration */
	memset(&loop->deferred, 0, sizeof(loop->deferred));
	while ((op = dmaio__opq_pop(&q)))
		op->done(op, op->res);
}

static int helper_has_done(struct dmaio_loop *loop)
{
	return __atomic_load_n(&loop->helper.ndone, __ATOMIC_RELAXED) != 0;
}

static int stop_requested(struct dmaio_loop *loop)
{
	return __atomic_load_n(&loop->stop, __ATOMIC_RELAXED);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A spinning loop's breath: lets the sibling hyperthread run. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * opts.poll_us: a sleeping loop thread pays for the wake-up on every I/O
 * (on a guest, the halted vCPU is resumed by the host first). Spinning on
 * the ring sees a completion as the kernel writes it; without the ring
 * (old kernel, valgrind, DMAIO_FEAT_USER_REAP off) each look reaps with a
 * zero-timeout io_getevents. With fds watched or helpers working
 * (with_epoll) each turn also asks epoll_wait with a zero timeout.
 *
 * Returns epoll_wait's count, or 0 when completions were found (in the
 * ring: *reap_aio is set; without it they are already reaped), or -2 once
 * the budget is spent, with *timeout_ms lowered by the time spun.
 */
static int spin(struct dmaio_loop *loop, int with_epoll,
		struct epoll_event *evs, int *timeout_ms, int *reap_aio)
{
	uint64_t budget = loop->poll_ns, start = monotonic_ns(), spent = 0;
	int n;

	if (*timeout_ms >= 0 && (uint64_t)*timeout_ms * 1000000 < budget)
		budget = (uint64_t)*timeout_ms * 1000000;
	while (loop->inflight && !stop_requested(loop)) {
		if (loop->ring && dmaio__ring_ready(loop)) {
			*reap_aio = 1;
			return 0;
		}
		if (!loop->ring && dmaio__reap(loop))
			return 0;
		if (with_epoll) {
			n = epoll_wait(loop->epfd, evs, EPOLL_BATCH, 0);
			if (n != 0 || helper_has_done(loop))
				return n;
		}
		spent = monotonic_ns() - start;
		if (spent >= budget)
			break;
		cpu_relax();
	}
	if (*timeout_ms > 0)
		*timeout_ms = *timeout_ms > (int)(spent / 1000000)
				      ? *timeout_ms - (int)(spent / 1000000)
				      : 0;
	return -2;
}

/*
 * Waits in io_getevents, where an eventfd cannot reach us. stop() or
 * post() from another thread sees aio_sleeping and submits a read of
 * /dev/zero, whose completion ends the wait; with both sides sequentially
 * consistent, either we see its stop (or post) or it sees us sleeping.
 */
static void wait_aio(struct dmaio_loop *loop, int timeout_ms)
{
	__atomic_store_n(&loop->aio_sleeping, 1, __ATOMIC_SEQ_CST);
	if (!(loop->running && __atomic_load_n(&loop->stop, __ATOMIC_SEQ_CST)) &&
	    !dmaio__posts_waiting(loop))
		dmaio__reap_wait(loop, timeout_ms);
	__atomic_store_n(&loop->aio_sleeping, 0, __ATOMIC_RELAXED);
}

/* Waits for whatever comes first; returns epoll's events in evs. */
static int wait_events(struct dmaio_loop *loop, int timeout_ms,
		       struct epoll_event *evs, int *reap_aio)
{
	int n;

	if (loop->ring && dmaio__ring_ready(loop) &&
	    loop->epoll_skips < MAX_EPOLL_SKIPS && !helper_has_done(loop)) {
		/* completions are waiting: no need to ask the kernel */
		loop->epoll_skips++;
		/* drained first: what completes after the reap signals again */
		if (loop->external)
			drain_eventfd(loop->aio_efd);
		*reap_aio = 1;
		return 0;
	}
	loop->epoll_skips = 0;
	if (timeout_ms != 0 && loop->inflight && !loop->nwatched &&
	    !loop->helper.busy && !loop->external) {
		/* only AIO can wake us: wait for it directly */
		if (!loop->poll_ns ||
		    spin(loop, 0, evs, &timeout_ms, reap_aio) == -2) {
			loop->slept = 1;
			wait_aio(loop, timeout_ms);
		}
		return 0;
	}
	/* completions that signal nothing are looked for every 1 ms */
	if (loop->inflight_silent) {
		if (timeout_ms < 0 || timeout_ms > 1)
			timeout_ms = 1;
		*reap_aio = 1;
	}
	n = -2;
	if (loop->poll_ns && timeout_ms != 0)
		n = spin(loop, 1, evs, &timeout_ms, reap_aio);
	if (n == -2) {
		loop->slept = timeout_ms != 0;
		n = epoll_wait(loop->epfd, evs, EPOLL_BATCH, timeout_ms);
	}
	return n;
}

DMAIO_EXPORT int dmaio_loop_run_once(struct dmaio_loop *loop, int timeout_ms)
{
	struct epoll_event evs[EPOLL_BATCH];
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
		drain_eventfd(loop->wake_efd);
		loop->wake_pending = 0;
	}
	if (loop->subq.n)
		dmaio__aio_flush(loop);

	if (loop->deferred.n || dmaio__posts_waiting(loop))
		timeout_ms = 0;
	else if (loop->eagain_streak)
		timeout_ms = 1; /* io_submit EAGAIN, nothing in flight: retry */
	else if (!loop->pending && !loop->nwatched && !loop->timers.n)
		timeout_ms = 0; /* nothing could ever wake us */
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

		if (tag == TAG_AIO) {
			drain_eventfd(loop->aio_efd);
			reap_aio = 1;
		} else if (tag == TAG_HELPER) {
			drain_eventfd(loop->helper.efd);
			reap_helper = 1;
		} else if (tag == TAG_WAKE) {
			drain_eventfd(loop->wake_efd);
		} else {
			dmaio__watch_dispatch(loop, (int)tag, evs[i].events);
		}
	}
	if (reap_aio || (loop->ring && dmaio__ring_ready(loop)))
		dmaio__reap(loop);
	if (reap_helper || helper_has_done(loop))
		dmaio__helper_reap(loop);
	if (loop->deferred.n)
		run_deferred(loop);
	if (loop->timers.n)
		dmaio__timers_run(loop, dmaio__now_ns());
	if (dmaio__posts_waiting(loop))
		dmaio__posts_run(loop);
	if (loop->subq.n)
		dmaio__aio_flush(loop);
	loop->in_run = 0;
	callbacks = (int)loop->callbacks;
	if (loop->slept) {
		loop->stats.wakeups++;
		loop->stats.wakeups_idle += !callbacks;
	}
	if (!loop->drivers && dmaio__free_if_requested(loop))
		return callbacks;
	/* what the next run_once(loop, 0) would do at once */
	if (loop->deferred.n || (loop->subq.n && loop->inflight < loop->depth))
		dmaio__wake_poller(loop);
	return callbacks;
}

DMAIO_EXPORT int dmaio_loop_run(struct dmaio_loop *loop)
{
	int ret = 0;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "run: loop is NULL");
	if (loop->in_run || loop->cb_depth)
		return dmaio__fail(-EDEADLK, "run: called from one of the "
				   "loop's own callbacks");
	loop->drivers++;
	loop->running = 1;
	while (!stop_requested(loop) &&
	       (loop->pending || loop->nwatched || loop->timers.n ||
		dmaio__posts_waiting(loop))) {
		ret = dmaio_loop_run_once(loop, -1);
		if (ret < 0)
			break;
		ret = 0;
		if (loop->free_requested)
			break;
	}
	loop->running = 0;
	__atomic_store_n(&loop->stop, 0, __ATOMIC_RELAXED);
	dmaio__drive_end(loop);
	return ret;
}

void dmaio__wake_remote(struct dmaio_loop *loop)
{
	uint64_t one = 1;

	/* wakes an epoll wait, and makes dmaio_loop_fd() readable */
	if (write(loop->wake_efd, &one, sizeof(one)) < 0) {
		/* the counter is far from full: nothing to do */
	}
	if (__atomic_load_n(&loop->aio_sleeping, __ATOMIC_SEQ_CST))
		dmaio__aio_wake(loop);
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
	/* someone else will poll it: every completion must make it readable */
	loop->external = 1;
	if (loop->subq.n || loop->deferred.n)
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
