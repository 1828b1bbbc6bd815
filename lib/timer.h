/* SPDX-License-Identifier: MIT */
/* Layer 2, timer.c: the loop's timers, a min-heap on the deadline. */
#ifndef DMAIO_TIMER_H
#define DMAIO_TIMER_H

#include "base.h"

struct dmaio__timers {
	struct dmaio_timer **heap;
	size_t n, cap;
	struct dmaio_timer *all;  /* every timer, armed or not */
	int tfd;                  /* timerfd in the epoll set, or -1 */
	uint64_t tfd_deadline;    /* what tfd is armed to; 0: disarmed */
};
unsigned dmaio__timers_armed(const struct dmaio_loop *loop);
/* timeout_ms shortened to the next deadline (now: dmaio__now_ns()). */
int dmaio__timers_timeout(const struct dmaio_loop *loop, int timeout_ms,
			  uint64_t now);
/* Calls back the timers due at now. */
void dmaio__timers_run(struct dmaio_loop *loop, uint64_t now);
void dmaio__timers_free_all(struct dmaio_loop *loop);
/* A timer of the library's own (a lock's retries): its firings are no
 * callback of the program's, for run_once's count. */
void dmaio__timer_set_internal(struct dmaio_timer *t);
/* Driven from outside (dmaio_loop_fd): arms the timerfd in the epoll set
 * to the earliest deadline, so that a due timer makes the fd readable. */
void dmaio__timers_sync_fd(struct dmaio_loop *loop);
/* The timerfd expired: read it so it no longer makes epoll readable. */
void dmaio__timers_fd_fired(struct dmaio_loop *loop);

#endif /* DMAIO_TIMER_H */
