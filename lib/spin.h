/* SPDX-License-Identifier: MIT */
/*
 * Layer 2: spinning for completions before the loop sleeps
 * (dmaio_loop_opts.poll_us), with a budget that backs off when spins keep
 * finding nothing (spin.c).
 */
#ifndef DMAIO_SPIN_H
#define DMAIO_SPIN_H

#include <stdint.h>
#include <sys/epoll.h>

struct dmaio_loop;

/* how the loop spins: part of struct dmaio_loop */
struct dmaio__spin {
	uint64_t max_ns;   /* opts.poll_us: the longest one spin may take */
	unsigned misses;   /* spins in a row that found nothing */
	unsigned skip;     /* sleeps left before the next spin is tried */
	unsigned backoff;  /* what skip is set to at the next miss */
};

/* events taken from one epoll_wait */
#define DMAIO__EPOLL_BATCH 64

/*
 * Spins before a sleep: returns epoll_wait's count (with_epoll), or 0 when
 * completions were found (in the ring: *reap_aio is set; without it they
 * are already reaped), or -2 when the loop should sleep after all, with
 * *timeout_ms lowered by the time spun.
 */
int dmaio__spin(struct dmaio_loop *loop, int with_epoll,
		struct epoll_event *evs, int *timeout_ms, int *reap_aio);

#endif /* DMAIO_SPIN_H */
