/* SPDX-License-Identifier: MIT */
/*
 * The libaio engine: what a hand-written libaio program does, and what
 * fio's libaio engine does per I/O: one io_submit as a slot frees, one
 * io_getevents for at least one completion. No library in between, so it
 * is the floor libdmaio's own cost is measured against, under the same
 * harness (job, clock, CPU accounting) as the other engines.
 *
 * --poll-us spins on the completion ring the kernel maps into the process
 * (as the library does), and --sleep-us first sleeps that long in
 * io_getevents: a hybrid wait, which wins only where a timer wake-up costs
 * less than a completion's (see the README's depth 1 figures).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct aslot {
	struct iocb cb;
	void *buf;
	uint64_t t, pos;
	int rd;
};

/* Returns 0 or the -errno io_submit gave (reported as the I/O's result). */
static int submit(struct worker *w, io_context_t ctx, int fd, struct aslot *s)
{
	struct iocb *p = &s->cb;
	int r;

	s->t = bench_begin(w, &s->pos, &s->rd);
	if (s->rd) {
		io_prep_pread(p, fd, s->buf, w->o->bs, (long long)s->pos);
	} else {
		if (w->o->verify)
			bench_fill_block(s->buf, w->o->bs, s->pos);
		io_prep_pwrite(p, fd, s->buf, w->o->bs, (long long)s->pos);
	}
	p->data = s;
	do
		r = io_submit(ctx, 1, &p);
	while (r == -EINTR || r == -EAGAIN);
	if (r == 1)
		return 0;
	r = r < 0 ? r : -EIO;
	bench_complete(w, s->t, r, s->pos, NULL, s->rd);
	return r;
}

/* The kernel's struct aio_ring, at the address io_setup returned. */
struct kring {
	unsigned id, nr, head, tail, magic, compat, incompat, header_length;
	struct io_event events[];
};

/* Whether the ring holds a completion not yet reaped. */
static int ring_ready(struct kring *r)
{
	return r->head != __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}

/*
 * Waits for at least one completion: in io_getevents (block), spinning on
 * the ring for up to --poll-us first, or sleeping --sleep-us in
 * io_getevents before that spin (hybrid).
 */
static int wait_some(struct worker *w, io_context_t ctx, struct io_event *ev,
		     unsigned max)
{
	struct kring *r = (struct kring *)ctx;
	uint64_t end;
	int n;

	if (w->o->poll_us && r->magic == 0xa10a10a1 && !r->incompat) {
		if (w->o->sleep_us) {
			struct timespec ts = { 0, (long)w->o->sleep_us * 1000 };

			n = io_getevents(ctx, 1, (long)max, ev, &ts);
			if (n != 0)
				return n;
		}
		/*
		 * Look at the ring, reap with io_getevents: some 3.10-era
		 * kernels free a request slot only there (reaping from the
		 * ring would leave io_submit refusing with EAGAIN for ever).
		 */
		end = bench_now_ns() + (uint64_t)w->o->poll_us * 1000;
		do {
			if (ring_ready(r))
				break;
#if defined(__x86_64__) || defined(__i386__)
			__asm__ __volatile__("pause" ::: "memory");
#endif
		} while (bench_now_ns() < end);
	}
	return io_getevents(ctx, 1, (long)max, ev, NULL);
}

int bench_run_libaio(struct worker *w)
{
	unsigned depth = w->o->iodepth, i, inflight = 0;
	struct aslot *slots = calloc(depth, sizeof(*slots));
	struct io_event *ev = calloc(depth, sizeof(*ev));
	io_context_t ctx = 0;
	int fd = -1, ret = -ENOMEM;

	if (!slots || !ev)
		goto out;
	for (i = 0; i < depth; i++) {
		if (posix_memalign(&slots[i].buf, 4096, w->o->bs))
			goto out;
		memset(slots[i].buf, 0xa5, w->o->bs);
	}
	fd = open(w->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = io_setup((int)depth, &ctx);
	if (ret)
		goto out;
	/* a sleep of a few us must not be stretched by the default 50 us */
	if (w->o->sleep_us)
		prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	for (i = 0; i < depth && bench_more(w, bench_now_ns()); i++) {
		ret = submit(w, ctx, fd, &slots[i]);
		if (ret)
			break;
		inflight++;
	}
	while (inflight) {
		int n = wait_some(w, ctx, ev, depth);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			ret = n;
			break;
		}
		for (i = 0; i < (unsigned)n; i++) {
			struct aslot *s = ev[i].data;

			inflight--;
			/* res is the syscall's return value in an unsigned long */
			bench_complete(w, s->t, (int64_t)(long)ev[i].res, s->pos,
				       s->buf, s->rd);
			if (!ret && bench_more(w, bench_now_ns())) {
				ret = submit(w, ctx, fd, s);
				if (!ret)
					inflight++;
			}
		}
	}
	io_destroy(ctx);
	ret = 0; /* I/O errors are in the counts, as for the other engines */
out:
	if (fd >= 0)
		close(fd);
	if (slots)
		for (i = 0; i < depth; i++)
			free(slots[i].buf);
	free(slots);
	free(ev);
	return ret;
}
