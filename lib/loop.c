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
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* epoll_data tags of our own fds; user fds are stored as themselves. */
#define TAG_AIO    (1ULL << 62)
#define TAG_HELPER (1ULL << 63)

/*
 * After this many iterations that skipped epoll_wait because completions
 * were already known, poll once anyway so watched fds are not starved.
 */
#define MAX_EPOLL_SKIPS 16

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
		return -EINVAL;
	*out = NULL;
	dmaio_loop_opts_init(&o);
	if (dmaio__opts_read(&o, sizeof(o), uo))
		return -EINVAL;
	if (!o.queue_depth)
		o.queue_depth = 128;
	if (!o.helper_threads)
		o.helper_threads = 1;
	if (o.queue_depth > 65536 || o.helper_threads > 1024)
		return -EINVAL;
	if (o.disable & ~DMAIO_FEAT_ALL)
		return -EINVAL;
	if (!o.submit_batch)
		o.submit_batch = 1;
	if (o.poll_us > 1000000)
		return -EINVAL;
	if (o.flags & ~DMAIO_LOOP_LAZY_EVENTFD)
		return -EINVAL;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = loop->aio_efd = loop->helper.efd = -1;
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

DMAIO_EXPORT void dmaio_loop_free(struct dmaio_loop *loop)
{
	struct dmaio__op *op;

	if (!loop)
		return;
	/*
	 * The kernel and the helpers may still be using buffers of pending
	 * operations: let them finish, without calling anybody back.
	 */
	loop->freeing = 1;
	while (loop->pending && loop->ctx)
		if (dmaio_loop_run_once(loop, -1) < 0)
			break;
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
	if (loop->helper.threads)
		dmaio__helper_stop(&loop->helper);
	dmaio__aio_teardown(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	while ((op = loop->free_ops)) {
		loop->free_ops = op->next;
		free(op);
	}
	free(loop->watch);
	if (loop->pool)
		dmaio__pool_release(loop->pool);
	free(loop);
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

void dmaio__defer(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	op->res = res;
	dmaio__opq_push(&loop->deferred, op);
	/* outside run_once, make the loop fd readable for external pollers */
	if (!loop->in_run && !loop->wake_pending) {
		uint64_t one = 1;

		loop->wake_pending = 1;
		if (write(loop->helper.efd, &one, sizeof(one)) < 0) {
			/* the counter is far from full: nothing to do */
		}
	}
}

static void post_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	loop->pending--;
	dmaio__call_cb(loop, op->u.cb, op->arg, res);
	dmaio__op_put(loop, op);
}

int dmaio__post(struct dmaio_loop *loop, dmaio_cb cb, void *arg, int64_t res)
{
	struct dmaio__op *op = dmaio__op_get(loop);

	if (!op)
		return -ENOMEM;
	op->done = post_done;
	op->u.cb = cb;
	op->arg = arg;
	loop->pending++;
	dmaio__defer(op, res);
	return 0;
}

DMAIO_EXPORT int dmaio_loop_watch(struct dmaio_loop *loop, int fd,
				  uint32_t events, dmaio_watch_cb cb, void *arg)
{
	struct epoll_event ev;
	int op;

	if (!loop || fd < 0 || !cb)
		return -EINVAL;
	if (fd == loop->epfd || fd == loop->aio_efd || fd == loop->helper.efd)
		return -EINVAL;
	events &= EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP;
	if (!events)
		return -EINVAL;
	if (fd >= loop->nwatch_slots) {
		int n = loop->nwatch_slots ? loop->nwatch_slots : 64;
		struct dmaio_watch *w;

		while (n <= fd)
			n *= 2;
		w = realloc(loop->watch, n * sizeof(*w));
		if (!w)
			return -ENOMEM;
		memset(w + loop->nwatch_slots, 0,
		       (n - loop->nwatch_slots) * sizeof(*w));
		loop->watch = w;
		loop->nwatch_slots = n;
	}
	/* ADD or MOD from what we already watch, as the kernel sees it */
	op = loop->watch[fd].mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = (uint64_t)fd;
	if (epoll_ctl(loop->epfd, op, fd, &ev))
		return -errno;
	if (op == EPOLL_CTL_ADD)
		loop->nwatched++;
	loop->watch[fd].mask = events;
	loop->watch[fd].cb = cb;
	loop->watch[fd].arg = arg;
	return 0;
}

DMAIO_EXPORT int dmaio_loop_unwatch(struct dmaio_loop *loop, int fd)
{
	struct epoll_event ev;

	if (!loop || fd < 0)
		return -EINVAL;
	if (fd >= loop->nwatch_slots || !loop->watch[fd].mask)
		return -ENOENT;
	/* a closed fd has left the epoll set already: that is fine */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev) && errno != EBADF &&
	    errno != ENOENT)
		return -errno;
	loop->watch[fd].mask = 0;
	loop->nwatched--;
	return 0;
}

static void dispatch_watch(struct dmaio_loop *loop, int fd, uint32_t events)
{
	struct dmaio_watch *w;
	uint32_t got;

	/* unwatched by an earlier callback of this batch */
	if (fd >= loop->nwatch_slots || !loop->watch[fd].mask || loop->freeing)
		return;
	w = &loop->watch[fd];
	got = events & w->mask;
	/* errors and hang-ups wake readers and writers alike */
	if (events & (EPOLLERR | EPOLLHUP))
		got |= (w->mask & (EPOLLIN | EPOLLOUT)) |
		       (events & (EPOLLERR | EPOLLHUP));
	if (!got)
		return;
	dmaio__cb_enter(loop);
	w->cb(w->arg, fd, got);
	dmaio__cb_leave(loop);
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
	while (loop->inflight) {
		if (loop->ring && dmaio__ring_ready(loop)) {
			*reap_aio = 1;
			return 0;
		}
		if (!loop->ring && dmaio__reap(loop))
			return 0;
		if (with_epoll) {
			n = epoll_wait(loop->epfd, evs, 64, 0);
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

DMAIO_EXPORT int dmaio_loop_run_once(struct dmaio_loop *loop, int timeout_ms)
{
	struct epoll_event evs[64];
	int i, n = 0, reap_aio = 0, reap_helper = 0;

	if (!loop)
		return -EINVAL;
	if (loop->in_run)
		return -EDEADLK;
	loop->in_run = 1;
	loop->callbacks = 0;
	if (loop->subq.n)
		dmaio__aio_flush(loop);

	if (loop->deferred.n)
		timeout_ms = 0;
	else if (loop->eagain_streak)
		timeout_ms = 1; /* io_submit EAGAIN, nothing in flight: retry */
	else if (!loop->pending && !loop->nwatched)
		timeout_ms = 0; /* nothing could ever wake us */

	if (loop->ring && dmaio__ring_ready(loop) &&
	    loop->epoll_skips < MAX_EPOLL_SKIPS && !helper_has_done(loop)) {
		/* completions are waiting: no need to ask the kernel */
		loop->epoll_skips++;
		reap_aio = 1;
	} else if (timeout_ms != 0 && loop->inflight && !loop->nwatched &&
		   !loop->helper.busy && !loop->wake_pending) {
		/* only AIO can wake us: wait for it directly */
		loop->epoll_skips = 0;
		if (!loop->poll_ns ||
		    spin(loop, 0, evs, &timeout_ms, &reap_aio) == -2)
			dmaio__reap_wait(loop, timeout_ms);
	} else {
		loop->epoll_skips = 0;
		/* completions that signal nothing are looked for every 1 ms */
		if (loop->inflight_silent) {
			if (timeout_ms < 0 || timeout_ms > 1)
				timeout_ms = 1;
			reap_aio = 1;
		}
		n = -2;
		if (loop->poll_ns && timeout_ms != 0)
			n = spin(loop, 1, evs, &timeout_ms, &reap_aio);
		if (n == -2)
			n = epoll_wait(loop->epfd, evs, 64, timeout_ms);
		if (n < 0) {
			n = 0;
			if (errno != EINTR) {
				loop->in_run = 0;
				return -errno;
			}
		}
	}
	for (i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;

		if (tag == TAG_AIO) {
			drain_eventfd(loop->aio_efd);
			reap_aio = 1;
		} else if (tag == TAG_HELPER) {
			drain_eventfd(loop->helper.efd);
			loop->wake_pending = 0;
			reap_helper = 1;
		} else {
			dispatch_watch(loop, (int)tag, evs[i].events);
		}
	}
	if (reap_aio || (loop->ring && dmaio__ring_ready(loop)))
		dmaio__reap(loop);
	if (reap_helper || helper_has_done(loop))
		dmaio__helper_reap(loop);
	if (loop->deferred.n)
		run_deferred(loop);
	if (loop->subq.n)
		dmaio__aio_flush(loop);
	loop->in_run = 0;
	return (int)loop->callbacks;
}

DMAIO_EXPORT int dmaio_loop_run(struct dmaio_loop *loop)
{
	int ret = 0;

	if (!loop)
		return -EINVAL;
	if (loop->in_run || loop->cb_depth)
		return -EDEADLK;
	while (!loop->stop && (loop->pending || loop->nwatched)) {
		ret = dmaio_loop_run_once(loop, -1);
		if (ret < 0)
			break;
		ret = 0;
	}
	loop->stop = 0;
	return ret;
}

DMAIO_EXPORT void dmaio_loop_stop(struct dmaio_loop *loop)
{
	if (loop)
		loop->stop = 1;
}

DMAIO_EXPORT int dmaio_loop_fd(struct dmaio_loop *loop)
{
	if (!loop)
		return -EINVAL;
	/* someone else will poll it: every completion must make it readable */
	loop->external = 1;
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
