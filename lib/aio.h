/* SPDX-License-Identifier: MIT */
/*
 * Layer 1, the kernel's AIO: aio.c (the context, io_submit,
 * waking a loop from another thread) and reap.c (the user-space
 * completion ring, io_getevents otherwise). reap.c may call aio.c, not
 * the reverse.
 */
#ifndef DMAIO_AIO_H
#define DMAIO_AIO_H

#include "op.h"

#include <sys/types.h>

#define AIO_RING_MAGIC 0xa10a10a1

/* The kernel's struct aio_ring, which io_setup returns the address of
 * (reap.c reads it; aio.c looks at its tail after io_submit). */
struct dmaio__ring {
	unsigned id;
	unsigned nr;
	unsigned head;
	unsigned tail;
	unsigned magic;
	unsigned compat_features;
	unsigned incompat_features;
	unsigned header_length;
	struct io_event events[];
};

/* A loop's AIO state (struct dmaio_loop's aio). */
struct dmaio__aio {
	io_context_t ctx;
	struct dmaio__ring *ring; /* NULL: reap with io_getevents */
	int efd;                  /* IOCB_FLAG_RESFD target */
	int zero_fd;              /* /dev/zero: wakes a wait in io_getevents */
	char zero_byte;
	unsigned depth;           /* most iocbs in the kernel at once */
	unsigned inflight;        /* iocbs in the kernel now */
	unsigned inflight_silent; /* of those, ones that signal no eventfd */
	int lazy_eventfd;         /* DMAIO_LOOP_LAZY_EVENTFD */
	unsigned eagain_streak;
	uint64_t last_t0, last_ns; /* the last io_submit: start, time taken */
	/* called after each batch of completions (the dispatcher's) */
	void (*reaped)(struct dmaio_loop *loop);
	int sleeping;             /* in io_getevents; any thread reads: atomic */
};

/* aio_destroy.c: io_destroy of an idle context on a thread of its own */
void dmaio__aio_destroy_later(io_context_t ctx);
/* Waits for the contexts handed over to be gone; 1 if there were any. */
int dmaio__aio_destroy_wait(void);

/* aio.c */
int dmaio__aio_setup(struct dmaio_loop *loop);
/* Replaces the context by a new one (after a probe): 0 or -errno. */
int dmaio__aio_reset(struct dmaio_loop *loop);
void dmaio__aio_teardown(struct dmaio_loop *loop);
/*
 * One io_submit of ops[0..n) (iocbs prepared, data set), timed for the
 * loop's stats; those taken count as in flight. Returns what io_submit
 * does: how many it took, or -errno for the first.
 */
int dmaio__aio_submit(struct dmaio_loop *loop, struct dmaio__op **ops, int n);
/* Any thread: ends a wait in io_getevents with a completion of nothing. */
void dmaio__aio_wake(struct dmaio_loop *loop);
/* Any thread: wakes the loop wherever it waits (stop, post). */
void dmaio__wake_remote(struct dmaio_loop *loop);
/* The io_event data of that completion: not an operation. */
#define DMAIO__WAKE_DATA(loop) ((void *)&(loop)->aio.zero_byte)

/* reap.c */
int dmaio__ring_attach(struct dmaio_loop *loop);
unsigned dmaio__ring_size(struct dmaio_loop *loop);
/* Throws away what the ring holds (the self-test's own completions). */
void dmaio__ring_drop(struct dmaio_loop *loop);
/* True when the ring holds completions not yet reaped. */
int dmaio__ring_ready(struct dmaio_loop *loop);
/* Reaps every completion available now; returns how many. */
unsigned dmaio__reap(struct dmaio_loop *loop);
/* Blocks in io_getevents for at least one completion; returns how many. */
unsigned dmaio__reap_wait(struct dmaio_loop *loop, int timeout_ms);

#endif /* DMAIO_AIO_H */
