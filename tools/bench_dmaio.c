/* SPDX-License-Identifier: MIT */
/*
 * The dmaio engine: one loop per worker, driving I/O through the layer
 * --api names: callbacks (async), blocking twins (wait), the stream reader
 * and writer (stream), or batches of read_many.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct dctx;

struct slot {
	struct dctx *c;
	struct dmaio_buf *buf;
	void *mem;      /* --api=into: the caller's memory, not buf */
	uint64_t t, pos;
	int is_read;
};

struct dctx {
	struct worker *w;
	struct dmaio_loop *loop;
	struct dmaio_file *f;   /* the file, or with --files the first */
	struct dmaio_file **fs; /* --files: all of them */
	struct dmaio_class *cls; /* --class */
	unsigned nopen;
	int fatal;
};

/* With --files, the file and offset of the job's position pos. */
static struct dmaio_file *file_at(struct dctx *c, uint64_t *pos)
{
	uint64_t off;
	unsigned i;

	if (!c->fs)
		return c->f;
	i = bench_split(c->w->o, *pos, &off);
	*pos = off;
	return c->fs[i];
}

static void submit(struct slot *s);

/* The next I/O, or the end: armed --timers would keep run() going. */
static void next_io(struct slot *s)
{
	if (bench_more(s->c->w, bench_now_ns()))
		submit(s);
	else if (!dmaio_loop_pending(s->c->loop))
		dmaio_loop_stop(s->c->loop);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct slot *s = arg;

	bench_complete(s->c->w, s->t, res, s->pos, dmaio_view_data(v), 1);
	dmaio_view_release(v);
	next_io(s);
}

static void on_write(void *arg, int64_t res)
{
	struct slot *s = arg;

	bench_complete(s->c->w, s->t, res, s->pos, NULL, 0);
	next_io(s);
}

/* --api=into: read_into's result is in the slot's own memory */
static void on_into(void *arg, int64_t res)
{
	struct slot *s = arg;

	bench_complete(s->c->w, s->t, res, s->pos, s->mem, 1);
	next_io(s);
}

/* read_into and write_from: the same I/O as read_at_aligned and
 * write_at, of memory the caller owns */
static int submit_mem(struct slot *s, struct dmaio_file *f)
{
	const struct bench_opts *o = s->c->w->o;

	if (s->is_read)
		return dmaio_file_read_into(f, s->pos, s->mem, o->bs, on_into,
					    s);
	if (o->verify)
		bench_fill_block(s->mem, o->bs, s->pos);
	return dmaio_file_write_from(f, s->pos, s->mem, o->bs, on_write, s);
}

static void submit(struct slot *s)
{
	struct worker *w = s->c->w;
	int ret;

	struct dmaio_file *f;

	s->t = bench_begin(w, &s->pos, &s->is_read);
	f = file_at(s->c, &s->pos);
	if (s->mem) {
		ret = submit_mem(s, f);
	} else if (s->is_read) {
		ret = dmaio_file_read_at_aligned(f, s->pos, w->o->bs, on_read, s);
	} else {
		if (w->o->verify)
			bench_fill_block(dmaio_buf_data(s->buf), w->o->bs, s->pos);
		ret = dmaio_file_write_at(f, s->buf, s->pos, on_write, s);
	}
	if (ret) {
		bench_complete(w, s->t, ret, s->pos, NULL, s->is_read);
		s->c->fatal = ret;
	}
}

static int run_async(struct dctx *c)
{
	struct worker *w = c->w;
	struct slot *slots = calloc(w->o->iodepth, sizeof(*slots));
	unsigned i;
	int ret;

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < w->o->iodepth; i++) {
		slots[i].c = c;
		slots[i].buf = dmaio_file_alloc_buf(c->f, w->o->bs);
		if (!slots[i].buf)
			return -ENOMEM;
		memset(dmaio_buf_data(slots[i].buf), 0xa5, w->o->bs);
		if (w->o->api == API_INTO) {
			if (posix_memalign(&slots[i].mem, 4096, w->o->bs))
				return -ENOMEM;
			memset(slots[i].mem, 0xa5, w->o->bs);
		}
	}
	for (i = 0; i < w->o->iodepth && bench_more(w, bench_now_ns()); i++)
		submit(&slots[i]);
	ret = dmaio_loop_run(c->loop);
	for (i = 0; i < w->o->iodepth; i++) {
		dmaio_buf_unref(slots[i].buf);
		free(slots[i].mem);
	}
	free(slots);
	return ret ? ret : c->fatal;
}

static int run_wait(struct dctx *c)
{
	struct worker *w = c->w;
	struct dmaio_buf *b = dmaio_file_alloc_buf(c->f, w->o->bs);

	if (!b)
		return -ENOMEM;
	memset(dmaio_buf_data(b), 0xa5, w->o->bs);
	while (bench_more(w, bench_now_ns())) {
		struct dmaio_view *v = NULL;
		struct dmaio_file *f;
		uint64_t pos, t;
		int64_t res;
		int rd;

		t = bench_begin(w, &pos, &rd);
		f = file_at(c, &pos);
		if (rd) {
			res = dmaio_file_read_at_aligned_wait(f, pos, w->o->bs, &v);
			bench_complete(w, t, res, pos, dmaio_view_data(v), 1);
			dmaio_view_release(v);
		} else {
			if (w->o->verify)
				bench_fill_block(dmaio_buf_data(b), w->o->bs, pos);
			res = dmaio_file_write_at_wait(f, b, pos);
			bench_complete(w, t, res, pos, NULL, 0);
		}
	}
	dmaio_buf_unref(b);
	return 0;
}

/* ------------------------------------------------------------------ */
/* stream: the reader for reads, the writer for writes                 */

struct got {
	int done;
	int64_t res;
	struct dmaio_view *v;
};

static void on_got(void *arg, struct dmaio_view *v, int64_t res)
{
	struct got *g = arg;

	g->done = 1;
	g->res = res;
	g->v = v;
}

static int stream_read_pass(struct dctx *c)
{
	struct worker *w = c->w;
	struct dmaio_reader_opts ro;
	struct dmaio_reader *r;
	struct dmaio_file *f;
	uint64_t pos = w->region;
	int ret;

	ret = dmaio_file_open_wait(c->loop, w->path, &f);
	if (ret)
		return ret;
	dmaio_reader_opts_init(&ro);
	ro.start = w->region;
	ro.end = w->region + w->region_blocks * w->o->bs;
	ro.buffer_size = w->o->bs;
	ro.read_ahead = w->o->iodepth;
	ret = dmaio_reader_new(f, &ro, &r);
	if (ret) {
		dmaio_file_close_wait(f);
		return ret;
	}
	while (bench_more(w, bench_now_ns())) {
		struct got g = { 0, 0, NULL };
		uint64_t t = bench_now_ns();

		ret = dmaio_reader_get_buffer(r, w->o->bs, on_got, &g);
		if (ret)
			break;
		while (!g.done)
			dmaio_loop_run_once(c->loop, -1);
		if (g.res == 0)
			break; /* end of the region: start over */
		w->started++;
		bench_complete(w, t, g.res, pos, dmaio_view_data(g.v), 1);
		dmaio_view_release(g.v);
		if (g.res < 0) {
			ret = (int)g.res;
			break;
		}
		pos += (uint64_t)g.res;
	}
	dmaio_reader_close_wait(r);
	return ret;
}

static int stream_write(struct dctx *c)
{
	struct worker *w = c->w;
	struct dmaio_writer_opts wo;
	struct dmaio_writer *wr;
	char *chunk = malloc(w->o->bs);
	uint64_t pos = 0;
	int64_t total;
	int ret;

	if (!chunk)
		return -ENOMEM;
	memset(chunk, 0xa5, w->o->bs);
	if (w->o->verify)
		bench_fill_block(chunk, w->o->bs, 0);
	dmaio_writer_opts_init(&wo);
	wo.buffer_size = w->o->bs;
	wo.write_behind = w->o->iodepth;
	wo.sync_on_close = 0; /* as fio without end_fsync */
	ret = dmaio_writer_new(c->f, &wo, &wr);
	if (ret) {
		free(chunk);
		return ret;
	}
	c->f = NULL; /* the writer owns it now */
	/* a stream is written once: --size bytes, or fewer by --runtime/--ios;
	 * straight into the writer's buffers (get_space/commit), no copy */
	while (pos < w->region_blocks * w->o->bs && bench_more(w, bench_now_ns())) {
		uint64_t t = bench_now_ns();
		size_t done = 0;

		w->started++;
		while (done < w->o->bs) {
			void *at;
			int64_t n = dmaio_writer_get_space(wr, &at);

			if (n < 0) {
				ret = (int)n;
				break;
			}
			if (n == 0) {
				dmaio_loop_run_once(c->loop, -1);
				continue;
			}
			if ((size_t)n > w->o->bs - done)
				n = (int64_t)(w->o->bs - done);
			if (w->o->verify)
				memcpy(at, chunk + done, (size_t)n);
			ret = dmaio_writer_commit(wr, (size_t)n);
			if (ret)
				break;
			done += (size_t)n;
		}
		bench_complete(w, t, ret ? ret : (int64_t)done, pos, NULL, 0);
		if (ret)
			break;
		pos += done;
		if (w->o->verify && pos < w->region_blocks * w->o->bs)
			bench_fill_block(chunk, w->o->bs, pos);
	}
	total = dmaio_writer_close_wait(wr);
	free(chunk);
	if (!ret && total < 0)
		ret = (int)total;
	return ret;
}

/* ------------------------------------------------------------------ */
/* read_many: batches of iodepth random ranges                         */

struct batch {
	struct worker *w;
	uint64_t t;
	struct dmaio_iovec *iov;
	size_t left;
};

static void on_many(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	struct batch *b = arg;

	bench_complete(b->w, b->t, res, b->iov[idx].pos, dmaio_view_data(v), 1);
	dmaio_view_release(v);
	b->left--;
}

static int run_read_many(struct dctx *c)
{
	struct worker *w = c->w;
	struct dmaio_iovec *iov = calloc(w->o->iodepth, sizeof(*iov));
	struct batch b = { w, 0, iov, 0 };
	int ret = 0;

	if (!iov)
		return -ENOMEM;
	while (!ret && bench_more(w, bench_now_ns())) {
		unsigned i;

		for (i = 0; i < w->o->iodepth; i++) {
			iov[i].pos = bench_next_pos(w);
			iov[i].len = w->o->bs;
		}
		w->started += w->o->iodepth;
		b.left = w->o->iodepth;
		b.t = bench_now_ns();
		ret = dmaio_file_read_many(c->f, iov, w->o->iodepth, NULL,
					   on_many, &b);
		while (!ret && b.left)
			dmaio_loop_run_once(c->loop, -1);
	}
	free(iov);
	return ret;
}

/* ------------------------------------------------------------------ */
/* --files: all opened at once, through the helper threads             */

static void on_open(void *arg, struct dmaio_file *f, int res)
{
	struct dctx *c = arg;

	if (res < 0 && !c->fatal)
		c->fatal = res;
	if (f) {
		/* in the order they come back: the index is in the path */
		unsigned i = (unsigned)strtoul(strrchr(dmaio_file_path(f), '/') + 1,
					       NULL, 10);

		c->fs[i] = f;
	}
	c->nopen--;
}

static int open_files(struct dctx *c)
{
	const struct bench_opts *o = c->w->o;
	char path[4096];
	unsigned i;
	int ret = 0;

	c->fs = calloc(o->files, sizeof(*c->fs));
	if (!c->fs)
		return -ENOMEM;
	for (i = 0; i < o->files && !ret; i++) {
		bench_file_name(path, sizeof(path), c->w->path, i);
		ret = dmaio_file_open_flags(c->loop, path, O_RDWR, 0, on_open, c);
		if (!ret)
			c->nopen++;
	}
	while (c->nopen)
		dmaio_loop_run_once(c->loop, -1);
	if (!ret)
		ret = c->fatal;
	c->f = c->fs[0];
	return ret;
}

static void on_closed(void *arg, int64_t res)
{
	(void)res;
	(*(unsigned *)arg)--;
}

static void close_files(struct dctx *c)
{
	unsigned i, left = 0;

	for (i = 0; i < c->w->o->files; i++)
		if (c->fs[i] && !dmaio_file_close(c->fs[i], on_closed, &left))
			left++;
	while (left)
		dmaio_loop_run_once(c->loop, -1);
	free(c->fs);
	c->fs = NULL;
	c->f = NULL;
}

static void on_tick(void *arg)
{
	(*(uint64_t *)arg)++;
}

/* --timers: a heap of timers firing once a second each, staggered. */
/* --class: every file in one class of the loop's, alone on the device. */
static int join_class(struct dctx *c)
{
	struct dmaio_class_opts co;
	unsigned i, n = c->fs ? c->w->o->files : 1;
	int ret;

	dmaio_class_opts_init(&co);
	co.name = "bench";
	co.shares = c->w->o->class_shares;
	ret = dmaio_class_new(c->loop, &co, &c->cls);
	for (i = 0; !ret && i < n; i++)
		ret = dmaio_file_set_class(c->fs ? c->fs[i] : c->f, c->cls);
	if (ret)
		fprintf(stderr, "dmaio-bench: --class: %s\n",
			dmaio_last_error());
	return ret;
}

static int arm_timers(struct dctx *c, struct dmaio_timer ***out,
		      uint64_t *ticks)
{
	unsigned i, n = c->w->o->timers;
	struct dmaio_timer **t;
	int ret = 0;

	*out = t = n ? calloc(n, sizeof(*t)) : NULL;
	if (n && !t)
		return -ENOMEM;
	for (i = 0; i < n && !ret; i++) {
		ret = dmaio_timer_new(c->loop, on_tick, ticks, &t[i]);
		if (!ret)
			ret = dmaio_timer_start(t[i],
						(uint64_t)i * 1000000 / n + 1,
						1000000);
	}
	return ret;
}

int bench_run_dmaio(struct worker *w)
{
	struct dmaio_loop_opts lo;
	struct dmaio_timer **timers = NULL;
	struct bench_ping *ping = NULL;
	uint64_t ticks = 0;
	struct dctx c;
	unsigned i;
	int ret;

	if (w->o->api == API_THREAD)
		return bench_run_dmaio_thread(w);
	memset(&c, 0, sizeof(c));
	c.w = w;
	dmaio_loop_opts_init(&lo);
	lo.queue_depth = w->o->iodepth;
	lo.flags = DMAIO_LOOP_LAZY_EVENTFD; /* nothing here waits in epoll */
	lo.poll_us = w->o->poll_us;
	lo.helper_threads = w->o->helper_threads;
	ret = dmaio_loop_new(&c.loop, &lo);
	if (ret)
		return ret;
	if (w->o->files)
		ret = open_files(&c);
	else
		ret = dmaio_file_open_flags_wait(c.loop, w->path, O_RDWR, 0,
						 &c.f);
	if (!ret && w->o->class_shares)
		ret = join_class(&c);
	if (ret)
		goto out;
	ret = arm_timers(&c, &timers, &ticks);
	if (ret)
		goto out;
	if (w->o->ping) {
		ret = bench_ping_start(w, c.loop, &ping);
		if (ret)
			goto out;
	}
	bench_started(w);
	if (w->id == 0 && !dmaio_file_is_direct(c.f) && !w->o->quiet)
		fprintf(stderr, "dmaio-bench: warning: %s refuses O_DIRECT; "
				"measuring the page cache\n", w->path);
	switch (w->o->api) {
	case API_ASYNC:
	case API_INTO:
		ret = run_async(&c);
		break;
	case API_WAIT:
		ret = run_wait(&c);
		break;
	case API_STREAM:
		if (w->o->rw == RW_WRITE) {
			ret = stream_write(&c);
		} else {
			dmaio_file_close_wait(c.f);
			c.f = NULL;
			while (!ret && bench_more(w, bench_now_ns()))
				ret = stream_read_pass(&c);
		}
		break;
	case API_READ_MANY:
		ret = run_read_many(&c);
		break;
	case API_THREAD:
		break; /* bench_thread.c's */
	}
	if (c.fs)
		close_files(&c);
	else if (c.f)
		dmaio_file_close_wait(c.f);
	bench_ping_stop(ping);
	ping = NULL;
	c.w->loop_stats.size = sizeof(c.w->loop_stats);
	dmaio_loop_stats(c.loop, &c.w->loop_stats);
out:
	bench_ping_stop(ping);
	free(c.fs); /* files left open close with the loop */
	for (i = 0; timers && i < w->o->timers; i++)
		dmaio_timer_free(timers[i]);
	free(timers);
	if (w->o->timers && !w->o->quiet && w->id == 0)
		fprintf(stderr, "dmaio-bench: %u timers fired %" PRIu64
			" times\n", w->o->timers, ticks);
	dmaio_loop_free(c.loop);
	return ret;
}
