/* SPDX-License-Identifier: MIT */
/*
 * Layer 6, wait.c: the one mechanism behind every _wait twin (the
 * streams' twins use it where they live). A twin fills a waiter with its
 * arguments and a submit function; dmaio__wait_call runs that on the
 * loop: here, driving it, or on the loop's own thread, handed over.
 */
#ifndef DMAIO_WAIT_H
#define DMAIO_WAIT_H

#include "loop.h"

struct dmaio__waiter;
/* On the loop's thread: starts the operation with w's callbacks (or
 * fills w at once); 0, or -errno with dmaio_last_error() set. */
typedef int (*dmaio__submit_fn)(struct dmaio__waiter *w);

struct dmaio__waiter {
	int done;
	int64_t res;
	struct dmaio_view *view;
	struct dmaio_file *file;
	struct dmaio__remote *remote;  /* handed over: whom to wake */
	/* the twin's arguments, for its submit function */
	void *obj;
	const void *ptr;
	uint64_t a, b;
	size_t n;
	int flags;
};
#define DMAIO__WAITER_INIT { 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0 }
/* -EDEADLK inside a callback or a running loop, -EINVAL for NULL. */
int dmaio__wait_check(struct dmaio_loop *loop, const char *func);
/* Callbacks that fill a waiter (arg). */
void dmaio__waiter_res(void *arg, int64_t res);
void dmaio__waiter_read(void *arg, struct dmaio_view *v, int64_t res);
void dmaio__waiter_open(void *arg, struct dmaio_file *f, int err);
/* Runs the loop until the waiter is filled; returns its result
 * (-ECANCELED when a callback freed the loop meanwhile). */
int64_t dmaio__wait_for(struct dmaio_loop *loop, struct dmaio__waiter *w);
/*
 * A _wait twin: submit(w), then its result. On the loop's own thread
 * (dmaio_loop_start_thread) when called from another one, blocking only
 * the caller; func names the twin for dmaio_last_error().
 */
int64_t dmaio__wait_call(struct dmaio_loop *loop, struct dmaio__waiter *w,
			 dmaio__submit_fn submit, const char *func);

/*
 * wait_direct.c: read_into_wait (write 0) or write_from_wait of another
 * thread than the loop's, done on the caller's thread where the loop
 * would send it straight to the kernel: 1 with *res set, or 0 (hand it
 * over as any other call).
 */
int dmaio__wait_direct(struct dmaio_file *f, int write, uint64_t pos,
		       const void *buf, size_t size, int64_t *res);
/* The same for size_wait where the loop's answer is an fstat of its own. */
int dmaio__wait_direct_size(struct dmaio_file *f, int64_t *res);

/*
 * A caller of another thread, asleep until its waiter is filled; linked
 * in host.calls until then (loop_life.c answers what is left -ECANCELED
 * when a callback frees the loop). host.inside counts the callers still
 * touching the loop (its lock, the post), not those asleep. An answer
 * is noted in host.woken and the caller woken after the iteration
 * (loop_life.c), once the loop has submitted what it took: a woken
 * caller that takes the CPU then holds up nothing of the loop's.
 */
struct dmaio__remote {
	struct dmaio__remote *prev, *next;   /* host.calls */
	struct dmaio__remote *wnext;         /* host.woken */
	struct dmaio__host *host;
	struct dmaio__waiter *w;
	dmaio__submit_fn submit;
	pthread_mutex_t lock;                /* guards w->done, with cond */
	pthread_cond_t cond;
	int failed;                          /* err holds the reason */
	char err[256];
};

/* Takes r out of host.calls (host.lock held). */
static inline void dmaio__remote_unlink(struct dmaio__remote *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->host->calls = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

#endif /* DMAIO_WAIT_H */
