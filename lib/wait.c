/* SPDX-License-Identifier: MIT */
/*
 * The _wait twins, one mechanism for all (the twins themselves are in
 * wait_file.c and where their streams live): submit with a callback that
 * fills a waiter on the stack, then run the loop until it is filled. Other
 * operations and watched fds keep being served meanwhile.
 *
 * While the loop runs on its own thread (dmaio_loop_start_thread), a twin
 * called from another thread hands its submit function to that thread
 * with dmaio_loop_post and sleeps on a condition variable of its own until
 * the callback (or the submission's error) wakes it: many threads may wait
 * at once, none of them spins, and the loop's own memory is touched only
 * by its thread.
 */
#include "file.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int dmaio__wait_check(struct dmaio_loop *loop, const char *func)
{
	const char *what = func;

	/* said as the other messages say it: "read_at_wait: ..." */
	if (!strncmp(what, "dmaio_file_", 11))
		what += 11;
	else if (!strncmp(what, "dmaio_", 6))
		what += 6;
	if (!loop)
		return dmaio__fail(-EINVAL, "%s: the loop, file or stream is "
				   "NULL", what);
	/* the loop is already running below us: we would wait forever */
	if (loop->cb_depth || loop->in_run)
		return dmaio__fail(-EDEADLK, "%s: called from one of the "
				   "loop's callbacks, where it would wait "
				   "forever", what);
	return 0;
}

/* Filled: the caller may go on (once woken, for another thread's). */
static void waiter_done(struct dmaio__waiter *w)
{
	struct dmaio__remote *r = w->remote;

	if (!r) {
		w->done = 1;
		return;
	}
	r->wnext = r->host->woken;
	r->host->woken = r;
}

void dmaio__waiter_res(void *arg, int64_t res)
{
	struct dmaio__waiter *w = arg;

	w->res = res;
	waiter_done(w);
}

void dmaio__waiter_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct dmaio__waiter *w = arg;

	w->view = v;
	w->res = res;
	waiter_done(w);
}

void dmaio__waiter_open(void *arg, struct dmaio_file *f, int err)
{
	struct dmaio__waiter *w = arg;

	w->file = f;
	w->res = err;
	waiter_done(w);
}

/*
 * The callback will write into *w, so we may not return before it has:
 * errors of an iteration (a signal, say) are retried.
 */
int64_t dmaio__wait_for(struct dmaio_loop *loop, struct dmaio__waiter *w)
{
	loop->drivers++;
	while (!w->done && !loop->free_requested)
		dmaio_loop_run_once(loop, -1);
	/* a callback freed the loop: nobody will fill w */
	if (dmaio__drive_end(loop) && !w->done) {
		w->res = -ECANCELED;
		w->done = 1;
	}
	return w->res;
}

/* On the loop's thread: a post from a caller of another thread. */
static void run_remote(void *arg)
{
	struct dmaio__remote *r = arg;
	struct dmaio__waiter *w = r->w;
	int ret = r->submit(w);

	if (ret < 0) {
		/* the reason is this thread's: hand it over with the code */
		snprintf(r->err, sizeof(r->err), "%s", dmaio_last_error());
		r->failed = 1;
		dmaio__waiter_res(w, ret);
	}
}

/* The caller is done with the loop's memory (host_wait_idle). */
static void leave(struct dmaio__host *h)
{
	pthread_mutex_lock(&h->lock);
	if (!--h->inside && h->state != DMAIO__HOST_RUNNING)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->lock);
}

static int64_t wait_remote(struct dmaio_loop *loop, struct dmaio__waiter *w,
			   dmaio__submit_fn submit, const char *what)
{
	struct dmaio__host *h = &loop->host;
	struct dmaio__remote r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.host = h;
	r.w = w;
	r.submit = submit;
	w->remote = &r;
	if (pthread_mutex_init(&r.lock, NULL))
		return dmaio__fail(-ENOMEM, "%s: pthread_mutex_init", what);
	if (pthread_cond_init(&r.cond, NULL)) {
		pthread_mutex_destroy(&r.lock);
		return dmaio__fail(-ENOMEM, "%s: pthread_cond_init", what);
	}
	pthread_mutex_lock(&h->lock);
	if (h->state != DMAIO__HOST_RUNNING) {
		pthread_mutex_unlock(&h->lock);
		ret = dmaio__fail(-ESHUTDOWN, "%s: dmaio_loop_stop_thread "
				  "was called: the loop takes no more calls "
				  "from other threads", what);
		goto out;
	}
	/* linked first: the thread does not leave before it answers */
	r.next = h->calls;
	if (r.next)
		r.next->prev = &r;
	h->calls = &r;
	h->inside++;
	pthread_mutex_unlock(&h->lock);
	ret = dmaio_loop_post(loop, run_remote, &r);
	if (ret) {
		pthread_mutex_lock(&h->lock);
		if (!w->done)
			dmaio__remote_unlink(&r);
		pthread_mutex_unlock(&h->lock);
		/* a thread stopping may wait for this call: look again */
		dmaio_loop_stop(loop);
	}
	leave(h);
	if (ret)
		goto out;
	pthread_mutex_lock(&r.lock);
	while (!w->done)
		pthread_cond_wait(&r.cond, &r.lock);
	pthread_mutex_unlock(&r.lock);
	if (r.failed)
		dmaio__set_last_error("%s", r.err);
	ret = 0;
out:
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.lock);
	return ret ? ret : w->res;
}

int64_t dmaio__wait_call(struct dmaio_loop *loop, struct dmaio__waiter *w,
			 dmaio__submit_fn submit, const char *func)
{
	int ret;

	if (loop && dmaio__hosted_elsewhere(loop)) {
		const char *what = func;

		if (!strncmp(what, "dmaio_file_", 11))
			what += 11;
		else if (!strncmp(what, "dmaio_", 6))
			what += 6;
		return wait_remote(loop, w, submit, what);
	}
	ret = dmaio__wait_check(loop, func);
	if (ret)
		return ret;
	ret = submit(w);
	if (ret)
		return ret;
	return dmaio__wait_for(loop, w);
}
