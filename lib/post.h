/* SPDX-License-Identifier: MIT */
/* Layer 2, post.c: callbacks handed over by other threads. */
#ifndef DMAIO_POST_H
#define DMAIO_POST_H

#include "base.h"

#include <pthread.h>

struct dmaio__post;
struct dmaio__posts {
	pthread_mutex_t lock;
	struct dmaio__post *head, *tail;
	int waiting;              /* any thread reads: atomic */
	int closed;               /* loop_free has begun: -ESHUTDOWN */
};
int dmaio__posts_init(struct dmaio__posts *p);
int dmaio__posts_waiting(struct dmaio_loop *loop);
void dmaio__posts_run(struct dmaio_loop *loop);
void dmaio__posts_close(struct dmaio_loop *loop);
/* inherited: in a forked child (the lock is not touched) */
void dmaio__posts_destroy(struct dmaio_loop *loop, int inherited);

#endif /* DMAIO_POST_H */
