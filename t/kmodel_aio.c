/* SPDX-License-Identifier: MIT */
/*
 * The AIO half of kmodel-run's old kernel, preloaded over libaio: what a
 * seccomp filter cannot see, because it lies in user memory (the iocbs)
 * or in the kernel's own bookkeeping (request slots). $DMAIO_KMODEL names
 * the kernel; without it every call passes straight through.
 *
 *  - io_submit refuses IOCB_CMD_FDSYNC and IOCB_CMD_FSYNC before 4.18
 *    and a non-zero aio_rw_flags (3.10's aio_reserved1) before 4.13 with
 *    EINVAL: for the first such iocb, a short count after others, as the
 *    kernel reports it.
 *  - Before 3.16, request slots. 3.10 gives a context the events of its
 *    ring less one (nr + 2 rounded up to whole pages of 32-byte events,
 *    after a 32-byte header), takes one for each iocb io_submit accepts
 *    and returns them only in io_getevents, as it reads events from the
 *    ring (aio_read_events_ring): completions a program takes from the
 *    ring itself, moving its head, never give theirs back (fixed by "aio:
 *    fix aio request leak when events are reaped by userspace", 3.16).
 *    With no slot left io_submit fails with EAGAIN, or takes fewer.
 *
 * Debian's libaio (0.3.113) io_getevents looks at the ring only to return
 * 0 at once when it is empty and the timeout is zero; every event it
 * returns came from the system call, so counting its results is exact.
 * Programs that define these functions themselves (the fault-injection
 * tests) reach this file through dlsym(RTLD_NEXT). A direct
 * syscall(SYS_io_submit) is not seen: libdmaio calls libaio.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libaio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV(maj, min) ((maj) * 256 + (min))
#define MAX_CTX 1024
#define PAGE 4096

struct slots {
	io_context_t ctx;
	long avail, cap;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slots table[MAX_CTX];
static int kv = -1;

static int model(void)
{
	const char *s;
	unsigned maj, min;

	if (kv >= 0)
		return kv;
	s = getenv("DMAIO_KMODEL");
	if (s && sscanf(s, "%u.%u", &maj, &min) == 2)
		kv = KV((int)maj, (int)min);
	else
		kv = 0; /* none: pass everything through */
	return kv;
}

static int counts_slots(void)
{
	return model() && model() < KV(3, 16);
}

#define NEXT(name)                                                   \
	static __typeof__(name) *next;                               \
	if (!next)                                                   \
		next = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* The kernel's struct aio_ring begins with id, nr: the ring's events. */
static long ring_nr(io_context_t ctx)
{
	return ctx ? (long)((const unsigned *)ctx)[1] : 0;
}

/* 3.10's aio_setup_ring for io_setup(nr), less the slot it keeps back */
static long slots_310(int nr)
{
	long events = (long)nr + 2;
	long pages = (32 + events * 32 + PAGE - 1) / PAGE;

	return (pages * PAGE - 32) / 32 - 1;
}

/* Under lock. A context this file did not see made gets its ring's. */
static struct slots *find(io_context_t ctx, int add, long cap)
{
	struct slots *free_one = NULL;
	int i;

	for (i = 0; i < MAX_CTX; i++) {
		if (table[i].ctx == ctx)
			return &table[i];
		if (!table[i].ctx && !free_one)
			free_one = &table[i];
	}
	if (!add || !free_one)
		return NULL;
	free_one->ctx = ctx;
	free_one->cap = free_one->avail = cap > 0 ? cap : ring_nr(ctx) - 1;
	return free_one;
}

int io_setup(int nr, io_context_t *ctxp)
{
	NEXT(io_setup);
	int r = next(nr, ctxp);

	if (r == 0 && counts_slots()) {
		struct slots *s;

		pthread_mutex_lock(&lock);
		s = find(*ctxp, 1, slots_310(nr));
		if (s) /* a new context at an old one's address */
			s->cap = s->avail = slots_310(nr);
		pthread_mutex_unlock(&lock);
	}
	return r;
}

int io_destroy(io_context_t ctx)
{
	NEXT(io_destroy);
	struct slots *s;

	pthread_mutex_lock(&lock);
	s = find(ctx, 0, 0);
	if (s)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&lock);
	return next(ctx);
}

/* The kernel ABI's aio_rw_flags: 32 bits at offset 12 of struct iocb. */
static uint32_t rw_flags(const struct iocb *cb)
{
	uint32_t v;

	memcpy(&v, (const char *)cb + 12, sizeof(v));
	return v;
}

static int refused(const struct iocb *cb)
{
	if (model() < KV(4, 18) && (cb->aio_lio_opcode == IO_CMD_FDSYNC ||
				    cb->aio_lio_opcode == IO_CMD_FSYNC))
		return 1;
	return model() < KV(4, 13) && rw_flags(cb);
}

int io_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	NEXT(io_submit);
	struct slots *s = NULL;
	long i, n = nr;
	int r;

	if (!model() || nr <= 0)
		return next(ctx, nr, iocbs);
	/* 3.10 takes a slot, then looks at the iocb */
	if (counts_slots()) {
		pthread_mutex_lock(&lock);
		s = find(ctx, 1, 0);
		if (s && s->avail < n)
			n = s->avail;
		pthread_mutex_unlock(&lock);
		if (n == 0)
			return -EAGAIN;
	}
	for (i = 0; i < n; i++)
		if (refused(iocbs[i]))
			break;
	if (i == 0)
		return -EINVAL;
	r = next(ctx, i, iocbs);
	if (r > 0 && s) {
		pthread_mutex_lock(&lock);
		s->avail -= r;
		pthread_mutex_unlock(&lock);
	}
	return r;
}

int io_getevents(io_context_t ctx, long min_nr, long nr,
		 struct io_event *events, struct timespec *timeout)
{
	NEXT(io_getevents);
	int r = next(ctx, min_nr, nr, events, timeout);

	if (r > 0 && counts_slots()) {
		struct slots *s;

		pthread_mutex_lock(&lock);
		s = find(ctx, 1, 0);
		if (s) {
			s->avail += r;
			if (s->avail > s->cap)
				s->avail = s->cap;
		}
		pthread_mutex_unlock(&lock);
	}
	return r;
}
