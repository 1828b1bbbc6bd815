/* SPDX-License-Identifier: MIT */
/*
 * dmaio_loop_post(): another thread hands a callback to the loop. A short
 * mutex around a FIFO keeps each thread's order; only the post that finds
 * the queue empty wakes the loop, so a burst costs one eventfd write (and
 * at most one /dev/zero read when the loop sleeps in io_getevents), and
 * the loop takes the whole batch under one lock.
 */
#include "aio.h"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>

struct dmaio__post {
	struct dmaio__post *next;
	dmaio_post_cb cb;
	void *arg;
};

int dmaio__posts_init(struct dmaio__posts *p)
{
	return -pthread_mutex_init(&p->lock, NULL);
}

DMAIO_EXPORT int dmaio_loop_post(struct dmaio_loop *loop, dmaio_post_cb cb,
				 void *arg)
{
	struct dmaio__posts *p;
	struct dmaio__post *e;
	int first;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || !cb)
		return dmaio__fail(-EINVAL, "loop_post: %s is NULL",
				   loop ? "cb" : "loop");
	p = &loop->posts;
	e = malloc(sizeof(*e));
	if (!e)
		return dmaio__fail(-ENOMEM, "loop_post: no memory");
	e->next = NULL;
	e->cb = cb;
	e->arg = arg;
	pthread_mutex_lock(&p->lock);
	if (p->closed) {
		pthread_mutex_unlock(&p->lock);
		free(e);
		return dmaio__fail(-ESHUTDOWN, "loop_post: dmaio_loop_free has "
				   "begun on this loop");
	}
	first = !p->head;
	if (p->tail)
		p->tail->next = e;
	else
		p->head = e;
	p->tail = e;
	__atomic_store_n(&p->waiting, 1, __ATOMIC_SEQ_CST);
	/*
	 * Woken under the lock: the loop takes the batch under it too, so
	 * the callback (which may free the loop) cannot run before this
	 * thread is done with the loop's fds.
	 */
	if (first)
		dmaio__wake_remote(loop);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int dmaio__posts_waiting(struct dmaio_loop *loop)
{
	return __atomic_load_n(&loop->posts.waiting, __ATOMIC_SEQ_CST);
}

/* Takes the queue; later posts go to the next iteration. */
static struct dmaio__post *take(struct dmaio__posts *p)
{
	struct dmaio__post *batch;

	pthread_mutex_lock(&p->lock);
	batch = p->head;
	p->head = p->tail = NULL;
	__atomic_store_n(&p->waiting, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&p->lock);
	return batch;
}

void dmaio__posts_run(struct dmaio_loop *loop)
{
	struct dmaio__post *e = take(&loop->posts);

	while (e) {
		struct dmaio__post *next = e->next;

		DMAIO__CALL_USER(loop, e->cb(e->arg));
		free(e);
		e = next;
	}
}

void dmaio__posts_close(struct dmaio_loop *loop)
{
	struct dmaio__posts *p = &loop->posts;

	pthread_mutex_lock(&p->lock);
	p->closed = 1;
	pthread_mutex_unlock(&p->lock);
}

void dmaio__posts_destroy(struct dmaio_loop *loop, int inherited)
{
	struct dmaio__posts *p = &loop->posts;
	struct dmaio__post *e;

	/*
	 * In a forked child the lock may have been held by a thread of the
	 * parent at the fork: neither take it nor destroy it.
	 */
	if (inherited) {
		e = p->head;
		p->head = p->tail = NULL;
	} else {
		dmaio__posts_close(loop);
		e = take(p);
	}
	while (e) {
		struct dmaio__post *next = e->next;

		free(e);
		e = next;
	}
	if (!inherited)
		pthread_mutex_destroy(&p->lock);
}
