/* SPDX-License-Identifier: MIT */
/*
 * Helper threads for the syscalls Linux AIO cannot make asynchronous
 * (open, close, fstat, fallocate, ftruncate, rename, unlink, ioctls, and
 * fdatasync on old kernels). Finished work comes back to the loop through
 * an eventfd in its epoll set, so the loop thread never blocks on it.
 */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void *helper_main(void *p)
{
	struct dmaio__helper *h = p;
	struct dmaio__op *op;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->todo.head && !h->quit)
			pthread_cond_wait(&h->cond, &h->lock);
		op = dmaio__opq_pop(&h->todo);
		if (!op)
			break; /* quit, and nothing left to do */
		pthread_mutex_unlock(&h->lock);

		op->res = op->work(op);

		pthread_mutex_lock(&h->lock);
		dmaio__opq_push(&h->done, op);
		__atomic_store_n(&h->ndone, (unsigned)h->done.n,
				 __ATOMIC_RELEASE);
		/* one signal per batch: the loop takes the whole list */
		if (h->done.n == 1) {
			uint64_t one = 1;

			if (write(h->efd, &one, sizeof(one)) < 0) {
				/* cannot overflow in practice */
			}
		}
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int dmaio__helper_start(struct dmaio__helper *h, unsigned nthreads)
{
	sigset_t all, old;
	unsigned i;
	int ret = 0;

	/* once threads is set, dmaio__helper_stop undoes whatever follows */
	h->threads = calloc(nthreads, sizeof(*h->threads));
	if (!h->threads)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->efd < 0)
		return -errno;

	/* helpers must not take the application's signals */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		ret = -pthread_create(&h->threads[i], NULL, helper_main, h);
		if (ret)
			break;
		h->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		dmaio__set_last_error("pthread_create: %s", dmaio_strerror(ret));
	return ret;
}

void dmaio__helper_stop(struct dmaio__helper *h)
{
	unsigned i;

	pthread_mutex_lock(&h->lock);
	h->quit = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->threads);
	h->threads = NULL;
	if (h->efd >= 0)
		close(h->efd);
	h->efd = -1;
}

void dmaio__helper_submit(struct dmaio_loop *loop, struct dmaio__op *op)
{
	struct dmaio__helper *h = &loop->helper;

	h->busy++;
	loop->stats.helper_ops++;
	pthread_mutex_lock(&h->lock);
	dmaio__opq_push(&h->todo, op);
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

unsigned dmaio__helper_reap(struct dmaio_loop *loop)
{
	struct dmaio__helper *h = &loop->helper;
	struct dmaio__opq q;
	struct dmaio__op *op;
	unsigned n;

	pthread_mutex_lock(&h->lock);
	q = h->done;
	memset(&h->done, 0, sizeof(h->done));
	__atomic_store_n(&h->ndone, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->lock);
	n = (unsigned)q.n;
	h->busy -= n;
	while ((op = dmaio__opq_pop(&q)))
		op->done(op, op->res);
	return n;
}
