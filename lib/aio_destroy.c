/* SPDX-License-Identifier: MIT */
/*
 * io_destroy waits for an RCU grace period even when the context is idle:
 * 20-40 ms on today's kernels, which a program that makes a loop per
 * connection, tenant or test pays on every dmaio_loop_free. With nothing
 * in flight there is nothing to wait for but the kernel's own bookkeeping,
 * so the call is made on a short-lived thread of its own and the loop is
 * freed at once.
 *
 * Until that thread is done the context still counts against
 * fs.aio-max-nr: io_setup's EAGAIN waits for such contexts and tries
 * again. The library's destructor waits for them too, so no thread runs
 * its code after it is unloaded. A forked child has none of the parent's
 * threads or contexts: it starts from zero.
 */
#include "aio.h"

#include <pthread.h>
#include <signal.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
static unsigned destroying;	/* contexts handed to a thread, not yet gone */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
	pthread_mutex_init(&lock, NULL);
	pthread_cond_init(&gone, NULL);
	destroying = 0;
}

static void setup(void)
{
	if (pthread_atfork(NULL, NULL, in_child)) {
		/* no handler: a child just destroys its contexts itself */
	}
}

static void *destroy_main(void *arg)
{
	io_destroy((io_context_t)arg);
	pthread_mutex_lock(&lock);
	if (--destroying == 0)
		pthread_cond_broadcast(&gone);
	pthread_mutex_unlock(&lock);
	return NULL;
}

void dmaio__aio_destroy_later(io_context_t ctx)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int err;

	pthread_once(&once, setup);
	pthread_mutex_lock(&lock);
	destroying++;
	pthread_mutex_unlock(&lock);
	/* the thread takes no signal meant for the program */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_attr_init(&attr);
	if (!err) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		/* it calls one syscall: the smallest stack glibc takes */
		pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN > 65536
						 ? PTHREAD_STACK_MIN : 65536);
		err = pthread_create(&t, &attr, destroy_main, (void *)ctx);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		destroy_main((void *)ctx); /* no thread: wait here */
}

int dmaio__aio_destroy_wait(void)
{
	int waited = 0;

	pthread_mutex_lock(&lock);
	while (destroying) {
		waited = 1;
		pthread_cond_wait(&gone, &lock);
	}
	pthread_mutex_unlock(&lock);
	return waited;
}

__attribute__((destructor)) static void wait_at_unload(void)
{
	dmaio__aio_destroy_wait();
}
