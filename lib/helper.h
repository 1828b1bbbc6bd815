/* SPDX-License-Identifier: MIT */
/* Layer 1, helper.c: threads for the system calls that block. */
#ifndef DMAIO_HELPER_H
#define DMAIO_HELPER_H

#include "op.h"

#include <pthread.h>

struct dmaio__helper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dmaio__opq todo;
	struct dmaio__opq done;
	pthread_t *threads;
	unsigned nthreads;
	int efd;          /* signalled when done becomes non-empty */
	unsigned ndone;   /* done.n, readable without the lock */
	unsigned busy;    /* submitted, not yet reaped (loop thread only) */
	int quit;
};
int dmaio__helper_start(struct dmaio__helper *h, unsigned nthreads);
void dmaio__helper_stop(struct dmaio__helper *h);
void dmaio__helper_submit(struct dmaio_loop *loop, struct dmaio__op *op);
/* Moves finished work to the loop's completion path; returns how many. */
unsigned dmaio__helper_reap(struct dmaio_loop *loop);

#endif /* DMAIO_HELPER_H */
