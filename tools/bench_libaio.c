/* SPDX-License-Identifier: MIT */
/*
 * The libaio engine: what a hand-written libaio program does, and what
 * fio's libaio engine does per I/O: one io_submit as a slot frees, one
 * io_getevents for at least one completion. No library in between, so it
 * is the floor libdmaio's own cost is measured against, under the same
 * harness (job, clock, CPU accounting) as the other engines.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdlib.h>
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
	for (i = 0; i < depth && bench_more(w, bench_now_ns()); i++) {
		ret = submit(w, ctx, fd, &slots[i]);
		if (ret)
			break;
		inflight++;
	}
	while (inflight) {
		int n = io_getevents(ctx, 1, (long)depth, ev, NULL);

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
