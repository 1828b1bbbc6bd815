/* SPDX-License-Identifier: MIT */
/*
 * Timers on the loop: a binary min-heap of deadlines (CLOCK_MONOTONIC, in
 * ns) whose top sets how long the loop may sleep. Starting, stopping and
 * expiring cost O(log n) and no system call (clock_gettime is the vDSO),
 * so ten thousand armed timers cost an iteration what a handful do: the
 * loop only ever looks at the top.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct dmaio_timer {
	struct dmaio_loop *loop;
	dmaio_timer_cb cb;
	void *arg;
	uint64_t deadline;     /* ns */
	uint64_t repeat;       /* ns; 0: once */
	size_t slot;           /* index in the heap, or NOT_ARMED */
	int internal;          /* the library's own: not a program callback */
	struct dmaio_timer *prev, *next; /* every timer of the loop */
};

#define NOT_ARMED ((size_t)-1)

static int earlier(const struct dmaio_timer *a, const struct dmaio_timer *b)
{
	return a->deadline < b->deadline;
}

static void put(struct dmaio__timers *h, size_t i, struct dmaio_timer *t)
{
	h->heap[i] = t;
	t->slot = i;
}

static void sift_up(struct dmaio__timers *h, size_t i)
{
	struct dmaio_timer *t = h->heap[i];

	while (i > 0 && earlier(t, h->heap[(i - 1) / 2])) {
		put(h, i, h->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	put(h, i, t);
}

static void sift_down(struct dmaio__timers *h, size_t i)
{
	struct dmaio_timer *t = h->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && earlier(h->heap[c + 1], h->heap[c]))
			c++;
		if (!earlier(h->heap[c], t))
			break;
		put(h, i, h->heap[c]);
		i = c;
	}
	put(h, i, t);
}

static void unarm(struct dmaio__timers *h, struct dmaio_timer *t)
{
	size_t i = t->slot;
	struct dmaio_timer *last;

	if (i == NOT_ARMED)
		return;
	t->slot = NOT_ARMED;
	last = h->heap[--h->n];
	if (last == t)
		return;
	put(h, i, last);
	sift_up(h, i);
	sift_down(h, last->slot);
}

static int arm(struct dmaio__timers *h, struct dmaio_timer *t)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		struct dmaio_timer **heap = realloc(h->heap,
						    cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		h->heap = heap;
		h->cap = cap;
	}
	put(h, h->n++, t);
	sift_up(h, t->slot);
	return 0;
}

DMAIO_EXPORT int dmaio_timer_new(struct dmaio_loop *loop, dmaio_timer_cb cb,
				 void *arg, struct dmaio_timer **out)
{
	struct dmaio_timer *t;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || !cb || !out)
		return dmaio__fail(-EINVAL, "timer_new: %s is NULL", !loop ?
				   "loop" : !cb ? "cb" : "out");
	t = calloc(1, sizeof(*t));
	if (!t)
		return dmaio__fail(-ENOMEM, "timer_new: no memory");
	t->loop = loop;
	t->cb = cb;
	t->arg = arg;
	t->slot = NOT_ARMED;
	t->next = loop->timers.all;
	if (t->next)
		t->next->prev = t;
	loop->timers.all = t;
	*out = t;
	return 0;
}

/* Microseconds to ns, refusing what would wrap the monotonic clock. */
static int us_to_ns(uint64_t us, uint64_t *ns)
{
	if (us > UINT64_MAX / 4000)
		return -EOVERFLOW; /* beyond ~146 years */
	*ns = us * 1000;
	return 0;
}

DMAIO_EXPORT int dmaio_timer_start(struct dmaio_timer *t, uint64_t after_us,
				   uint64_t repeat_us)
{
	uint64_t after, repeat;

	if (!t)
		return dmaio__fail(-EINVAL, "timer_start: timer is NULL");
	if (us_to_ns(after_us, &after) || us_to_ns(repeat_us, &repeat))
		return dmaio__fail(-EOVERFLOW, "timer_start: after_us %llu or "
				   "repeat_us %llu is beyond a century",
				   (unsigned long long)after_us,
				   (unsigned long long)repeat_us);
	unarm(&t->loop->timers, t);
	t->deadline = dmaio__now_ns() + after;
	t->repeat = repeat;
	if (arm(&t->loop->timers, t))
		return dmaio__fail(-ENOMEM, "timer_start: no memory");
	dmaio__timers_sync_fd(t->loop);
	return 0;
}

DMAIO_EXPORT int dmaio_timer_stop(struct dmaio_timer *t)
{
	if (!t)
		return dmaio__fail(-EINVAL, "timer_stop: timer is NULL");
	unarm(&t->loop->timers, t);
	dmaio__timers_sync_fd(t->loop);
	return 0;
}

static void forget(struct dmaio_loop *loop, struct dmaio_timer *t)
{
	unarm(&loop->timers, t);
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->timers.all = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

DMAIO_EXPORT void dmaio_timer_free(struct dmaio_timer *t)
{
	struct dmaio_loop *loop;

	if (!t)
		return;
	loop = t->loop;
	forget(loop, t);
	dmaio__timers_sync_fd(loop);
}

unsigned dmaio__timers_armed(const struct dmaio_loop *loop)
{
	return (unsigned)loop->timers.n;
}

int dmaio__timers_timeout(const struct dmaio_loop *loop, int timeout_ms,
			  uint64_t now)
{
	uint64_t due, ms;

	if (!loop->timers.n)
		return timeout_ms;
	due = loop->timers.heap[0]->deadline;
	if (due <= now)
		return 0;
	/* rounded up: waking early would only mean waiting again */
	ms = (due - now + 999999) / 1000000;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
		return timeout_ms;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

void dmaio__timers_run(struct dmaio_loop *loop, uint64_t now)
{
	struct dmaio__timers *h = &loop->timers;

	while (h->n && h->heap[0]->deadline <= now &&
	       dmaio__may_call(loop)) {
		struct dmaio_timer *t = h->heap[0];

		unarm(h, t);
		/*
		 * Re-armed before the call, from now: the callback may stop,
		 * restart or free it, and a slow one does not make it fire in
		 * a burst to catch up.
		 */
		if (t->repeat) {
			t->deadline = now + t->repeat;
			if (arm(h, t))
				t->slot = NOT_ARMED; /* no memory: once more */
		}
		DMAIO__DELIVER_AS(loop, !t->internal, t->cb(t->arg));
	}
	/* run without the timerfd's word: take its signal too */
	if (h->tfd_deadline && h->tfd_deadline <= now)
		dmaio__timers_fd_fired(loop);
}

/*
 * A program that polls dmaio_loop_fd() sleeps in its own poll, where the
 * loop's timeout means nothing: the earliest deadline must make the fd
 * readable by itself. A timerfd in the epoll set does it, armed only
 * while the loop is driven from outside and rewritten only when the
 * earliest deadline changes (one syscall per fire of a repeating timer).
 * Inside an iteration the sync waits for its end: callbacks may start and
 * stop timers many times.
 */
void dmaio__timers_sync_fd(struct dmaio_loop *loop)
{
	struct dmaio__timers *h = &loop->timers;
	struct itimerspec its;
	struct epoll_event ev;
	uint64_t want;

	if (!loop->external || loop->in_run)
		return;
	want = h->n ? h->heap[0]->deadline : 0;
	if (want == h->tfd_deadline)
		return;
	if (h->tfd < 0) {
		if (!want)
			return;
		h->tfd = timerfd_create(CLOCK_MONOTONIC,
					TFD_NONBLOCK | TFD_CLOEXEC);
		if (h->tfd < 0)
			return; /* no fd left: dmaio_loop_timeout still says */
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = DMAIO__TAG_TIMER;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->tfd, &ev)) {
			close(h->tfd);
			h->tfd = -1;
			return;
		}
	}
	memset(&its, 0, sizeof(its));
	/* absolute on the heap's own clock: no drift, and a deadline already
	 * past fires at once (0 would disarm: deadlines are never 0) */
	its.it_value.tv_sec = (time_t)(want / 1000000000u);
	its.it_value.tv_nsec = (long)(want % 1000000000u);
	if (timerfd_settime(h->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		h->tfd_deadline = want;
}

void dmaio__timers_fd_fired(struct dmaio_loop *loop)
{
	uint64_t n;

	if (read(loop->timers.tfd, &n, sizeof(n)) < 0) {
		/* EAGAIN: re-armed since it fired; nothing to take */
	}
	loop->timers.tfd_deadline = 0;
}

void dmaio__timers_free_all(struct dmaio_loop *loop)
{
	if (loop->timers.tfd >= 0)
		close(loop->timers.tfd);
	loop->timers.tfd = -1;
	while (loop->timers.all)
		forget(loop, loop->timers.all);
	free(loop->timers.heap);
	loop->timers.heap = NULL;
	loop->timers.cap = 0;
}

void dmaio__timer_set_internal(struct dmaio_timer *t)
{
	t->internal = 1;
}
