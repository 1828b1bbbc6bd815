/* SPDX-License-Identifier: MIT */
/* Layer 2, timer.c: the loop's timers, a min-heap on the deadline. */
#ifndef DMAIO_TIMER_H
#define DMAIO_TIMER_H

#include "base.h"

struct dmaio__timers {
	struct dmaio_timer **heap;
	size_t n, cap;
	struct dmaio_timer *all;  /* every timer, armed or not */
};
unsigned dmaio__timers_armed(const struct dmaio_loop *loop);
/* timeout_ms shortened to the next deadline (now: dmaio__now_ns()). */
int dmaio__timers_timeout(const struct dmaio_loop *loop, int timeout_ms,
			  uint64_t now);
/* Calls back the timers due at now. */
void dmaio__timers_run(struct dmaio_loop *loop, uint64_t now);
void dmaio__timers_free_all(struct dmaio_loop *loop);

#endif /* DMAIO_TIMER_H */
