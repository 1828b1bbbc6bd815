/* SPDX-License-Identifier: MIT */
/*
 * fork(): a loop belongs to the process that made it. The child of a fork
 * has a copy of the loop's memory but not its AIO context (the kernel does
 * not copy the context table), not its helper threads, and shares its
 * epoll set and eventfds with the parent: what it did with them would
 * wait forever or disturb the parent. So every call that reaches the
 * kernel, the helpers or buffer memory compares the loop's fork
 * generation with the process's, which the child handler below bumps: a
 * plain compare per call, where getpid() would be a syscall (glibc stopped
 * caching the pid in 2.25).
 */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

unsigned dmaio__fork_gen;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int setup_err;

/* Runs in the child, single-threaded, before fork() returns there. */
static void in_child(void)
{
	dmaio__fork_gen++;
}

static void setup(void)
{
	setup_err = -pthread_atfork(NULL, NULL, in_child);
}

int dmaio__fork_setup(unsigned *gen)
{
	pthread_once(&once, setup);
	if (setup_err) {
		dmaio__set_last_error("pthread_atfork: %s",
				      dmaio_strerror(setup_err));
		return setup_err;
	}
	*gen = dmaio__fork_gen;
	return 0;
}

int dmaio__fork_refuse(const struct dmaio_loop *loop, const char *fn)
{
	/* the rule and the code's description, as every other refusal */
	return dmaio__fail(-EBADFD, "%s: this loop belongs to process %d; a "
			   "forked child cannot use it (see libdmaio(7))", fn,
			   (int)loop->owner);
}
