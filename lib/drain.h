/* SPDX-License-Identifier: MIT */
/*
 * A count of calls in progress on other threads that an ending (a file's
 * close, the loop thread's stop) waits to fall to 0. The "draining" bit
 * lives in the count's own word, so that a leaving call's decrement is
 * its last touch of the object: the ending may free it at once, and the
 * futex wake that follows may find the memory gone, which a futex wake
 * tolerates (at worst a spurious wake-up of its next user).
 */
#ifndef DMAIO_DRAIN_H
#define DMAIO_DRAIN_H

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DMAIO__DRAINING 0x40000000u

static inline unsigned dmaio__drain_enter(unsigned *count)
{
	return __atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST);
}

static inline void dmaio__drain_leave(unsigned *count)
{
	if (__atomic_sub_fetch(count, 1, __ATOMIC_SEQ_CST) == DMAIO__DRAINING)
		syscall(SYS_futex, count, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
			NULL, 0);
}

/* Once no new call can start (the caller made sure): waits for the rest,
 * and leaves the draining bit set (dmaio__drain_reset clears it). */
static inline void dmaio__drain(unsigned *count)
{
	unsigned v;

	__atomic_or_fetch(count, DMAIO__DRAINING, __ATOMIC_SEQ_CST);
	while ((v = __atomic_load_n(count, __ATOMIC_SEQ_CST)) !=
	       DMAIO__DRAINING)
		syscall(SYS_futex, count, FUTEX_WAIT_PRIVATE, (int)v, NULL,
			NULL, 0);
}

static inline void dmaio__drain_reset(unsigned *count)
{
	__atomic_and_fetch(count, ~DMAIO__DRAINING, __ATOMIC_SEQ_CST);
}

#endif /* DMAIO_DRAIN_H */
