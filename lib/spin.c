/* SPDX-License-Identifier: MIT */
/*
 * opts.poll_us: a sleeping loop thread pays for the wake-up on every I/O
 * (on a guest, the host resumes the halted vCPU first: about 20 us of a
 * 60 us read on virtio). Spinning on the completion ring sees a completion
 * as the kernel writes it, with no system call; without the ring (old
 * kernel, valgrind, DMAIO_FEAT_USER_REAP off) each look reaps with a
 * zero-timeout io_getevents. With fds watched or helpers working
 * (with_epoll) the spin also asks epoll_wait with a zero timeout, every
 * SPIN_EPOLL_EVERY_NS rather than every turn: the syscall would otherwise be
 * most of the spin.
 *
 * A spin that finds nothing has cost its whole budget and the loop sleeps
 * anyway: on a cold or slow device (a disk spinning up, a network file
 * system, a throttled cgroup) spinning only burns the CPU. After MISS_LIMIT
 * such spins in a row the loop sleeps without spinning for a while, then
 * tries one spin; each further miss doubles the while (up to MAX_BACKOFF
 * sleeps) and a spin that finds work ends it.
 *
 * A spin during which the thread lost its CPU (two looks at the clock
 * further apart than PREEMPTED_NS: another task ran) says nothing about
 * the device: a completion found after it may have come while someone
 * else spun, and a budget spent off the CPU was not spent looking. Such
 * a spin is counted apart (poll_interrupted) and neither ends nor feeds
 * the back-off, so a busy machine does not decide it for the device.
 */
#include "aio.h"
#include "loop.h"

#include <errno.h>

#define MISS_LIMIT 4
#define MAX_BACKOFF 256
#define SPIN_EPOLL_EVERY_NS 2000
/* a gap between two looks no interrupt handler takes: preempted */
#define PREEMPTED_NS 50000

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

static void hit(struct dmaio_loop *loop, uint64_t spent)
{
	loop->stats.poll_hits++;
	loop->stats.poll_ns += spent;
	loop->spin.misses = 0;
	loop->spin.backoff = 0;
}

static void interrupted(struct dmaio_loop *loop, uint64_t spent)
{
	loop->stats.poll_interrupted++;
	loop->stats.poll_ns += spent;
}

static void miss(struct dmaio_loop *loop, uint64_t spent)
{
	struct dmaio__spin *s = &loop->spin;

	loop->stats.poll_misses++;
	loop->stats.poll_ns += spent;
	if (++s->misses < MISS_LIMIT)
		return;
	s->backoff = s->backoff ? s->backoff * 2 : 1;
	if (s->backoff > MAX_BACKOFF)
		s->backoff = MAX_BACKOFF;
	s->skip = s->backoff;
}

/* Whether this sleep is one the back-off skips spinning before. */
static int skipping(struct dmaio_loop *loop)
{
	if (!loop->spin.skip)
		return 0;
	loop->spin.skip--;
	loop->stats.poll_skips++;
	return 1;
}

int dmaio__spin(struct dmaio_loop *loop, int with_epoll,
		struct epoll_event *evs, int *timeout_ms, int *reap_aio)
{
	uint64_t budget = loop->spin.max_ns, start, now, spent = 0;
	uint64_t next_epoll, last;
	int n, preempted = 0;

	if (!budget || *timeout_ms == 0 || skipping(loop))
		return -2;
	if (*timeout_ms > 0 && (uint64_t)*timeout_ms * 1000000 < budget)
		budget = (uint64_t)*timeout_ms * 1000000;
	start = next_epoll = last = dmaio__now_ns();
	while (loop->aio.inflight && !dmaio__loop_stop_requested(loop)) {
		if (loop->aio.ring ? dmaio__ring_ready(loop)
				   : dmaio__reap(loop) != 0) {
			*reap_aio = loop->aio.ring != NULL;
			/*
			 * Where completions signal the eventfd (with_epoll),
			 * take the signal with them: left, it would make the
			 * next turn's epoll_wait return for nothing.
			 */
			if (with_epoll)
				dmaio__eventfd_drain(loop->aio.efd);
			now = dmaio__now_ns();
			if (preempted || now - last > PREEMPTED_NS)
				interrupted(loop, now - start);
			else
				hit(loop, now - start);
			return 0;
		}
		now = dmaio__now_ns();
		preempted |= now - last > PREEMPTED_NS;
		last = now;
		spent = now - start;
		if (with_epoll && now >= next_epoll) {
			n = epoll_wait(loop->epfd, evs, DMAIO__EPOLL_BATCH, 0);
			if (n != 0 || dmaio__helper_has_done(loop)) {
				if (preempted)
					interrupted(loop, spent);
				else
					hit(loop, spent);
				return n;
			}
			next_epoll = now + SPIN_EPOLL_EVERY_NS;
			last = dmaio__now_ns(); /* epoll_wait is no preemption */
		}
		if (spent >= budget)
			break;
		cpu_relax();
	}
	if (loop->aio.inflight && preempted)
		interrupted(loop, spent);
	else if (loop->aio.inflight)
		miss(loop, spent);
	if (*timeout_ms > 0)
		*timeout_ms = *timeout_ms > (int)(spent / 1000000)
				      ? *timeout_ms - (int)(spent / 1000000)
				      : 0;
	return -2;
}
