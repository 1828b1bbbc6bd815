/* SPDX-License-Identifier: MIT */
/*
 * dmaio-tune's measurements, through libdmaio's public calls only, as an
 * application would see the device: a fixed number of requests kept in
 * flight on one loop, each completion starting the next, for a slice of
 * time. The first tenth of a slice warms up (the queue fills, a
 * write-back cache takes its first writes) and is not counted.
 */
#include "config.h"

#include "tune.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 1024
/* Completions a point counts at least, however long that takes. */
#define MIN_OPS 8

struct run;

struct slot {
	struct run *run;
	struct dmaio_buf *buf;	/* writes only */
	uint64_t t_submit;
};

struct run {
	struct tune_ctx *c;
	int write, seq, err;
	size_t bs;
	uint64_t nblocks, next, rng;
	uint64_t limit, issued;	/* ops to start (0: until t_stop) */
	uint64_t t_warm, t_end, t_stop;	/* t_stop: 0 while it runs */
	uint64_t ops, bytes;
	double lat_sum_us;
	uint32_t *lat_us;	/* latencies of the counted ops */
	size_t nlat, cap;
	struct slot slots[MAX_DEPTH];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: offsets only need to be spread, not secret */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	/* never zeros: a virtual disk may skip or compress them */
	for (i = 0; i < len / 8; i++)
		w[i] = next_rand(&seed) | 1;
}

static void start(struct slot *s);

static void done(struct slot *s, int64_t res)
{
	struct run *r = s->run;
	uint64_t t = now_ns();

	if (res != (int64_t)r->bs && !r->err)
		r->err = res < 0 ? (int)res : -EIO; /* short: file too small */
	if (t >= r->t_warm && !r->t_stop && !r->err) {
		double us = (double)(t - s->t_submit) / 1000.0;

		r->ops++;
		r->bytes += r->bs;
		r->lat_sum_us += us;
		if (r->nlat == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 4096;
			uint32_t *l = realloc(r->lat_us, cap * sizeof(*l));

			if (l) {
				r->lat_us = l;
				r->cap = cap;
			}
		}
		if (r->nlat < r->cap)
			r->lat_us[r->nlat++] = us < 4e9 ? (uint32_t)us
							: UINT32_MAX;
	}
	/* a machine too loaded to finish a few in the slice gets longer */
	if (t >= r->t_end && r->ops >= MIN_OPS && !r->t_stop)
		r->t_stop = t;
	if (!r->t_stop && !r->err && (!r->limit || r->issued < r->limit))
		start(s);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	if (v)
		dmaio_view_release(v);
	done(arg, res);
}

static void on_write(void *arg, int64_t res)
{
	done(arg, res);
}

static void start(struct slot *s)
{
	struct run *r = s->run;
	uint64_t pos;
	int ret;

	if (r->seq) {
		pos = r->next * r->bs;
		r->next = (r->next + 1) % r->nblocks;
	} else {
		pos = next_rand(&r->rng) % r->nblocks * r->bs;
	}
	r->issued++;
	s->t_submit = now_ns();
	if (r->write)
		ret = dmaio_file_write_at(r->c->f, s->buf, pos, on_write, s);
	else
		ret = dmaio_file_read_at_aligned(r->c->f, pos, r->bs, on_read,
						 s);
	if (ret && !r->err)
		r->err = ret;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void summarize(struct run *r, unsigned depth, struct tune_point *out)
{
	double secs = (double)(r->t_stop - r->t_warm) / 1e9;

	memset(out, 0, sizeof(*out));
	out->depth = depth;
	out->bs = r->bs;
	out->ops = r->ops;
	if (!r->ops || secs <= 0)
		return;
	out->iops = (double)r->ops / secs;
	out->bw = (double)r->bytes / secs;
	out->lat_mean_us = r->lat_sum_us / (double)r->ops;
	if (r->nlat) {
		qsort(r->lat_us, r->nlat, sizeof(*r->lat_us), cmp_u32);
		out->lat_p50_us = r->lat_us[r->nlat / 2];
		out->lat_p99_us = r->lat_us[r->nlat * 99 / 100];
	}
}

/*
 * depth requests of bs in flight, from t0 + warm_ns to t0 + end_ns, or
 * (limit) that many in order from offset 0. 0 or -errno.
 */
static int run_job(struct tune_ctx *c, struct run *r, unsigned depth,
		   uint64_t warm_ns, uint64_t end_ns)
{
	uint64_t t0;
	unsigned i;
	int ret = 0;

	r->c = c;
	r->nblocks = c->size / r->bs;
	r->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)depth << 32 | r->bs);
	for (i = 0; i < depth && r->write; i++) {
		r->slots[i].buf = dmaio_file_alloc_buf(c->f, r->bs);
		if (!r->slots[i].buf) {
			ret = -ENOMEM;
			goto out;
		}
		fill(dmaio_buf_data(r->slots[i].buf), r->bs, r->rng + i);
	}
	/* a sequential stream starts anywhere: each run reads anew */
	if (!r->limit)
		r->next = next_rand(&r->rng) % r->nblocks;
	t0 = now_ns();
	r->t_warm = t0 + warm_ns;
	r->t_end = end_ns == UINT64_MAX ? end_ns : t0 + end_ns;
	for (i = 0; i < depth && !r->err; i++) {
		if (r->limit && r->issued == r->limit)
			break;
		r->slots[i].run = r;
		start(&r->slots[i]);
	}
	/* until the last completion: none after t_stop starts another */
	ret = dmaio_loop_run(c->loop);
	if (!ret)
		ret = r->err;
out:
	for (i = 0; i < depth; i++)
		if (r->slots[i].buf)
			dmaio_buf_unref(r->slots[i].buf);
	return ret;
}

int tune_measure(struct tune_ctx *c, int write, int seq, size_t bs,
		 unsigned depth, struct tune_point *out)
{
	struct run *r;
	int ret;

	if (!depth || depth > MAX_DEPTH || !bs || c->size < bs)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->write = write;
	r->seq = seq;
	r->bs = bs;
	ret = run_job(c, r, depth, (uint64_t)(c->slice_s * 1e8),
		      (uint64_t)(c->slice_s * 1e9));
	if (!ret)
		summarize(r, depth, out);
	free(r->lat_us);
	free(r);
	return ret;
}

#define MIB (1u << 20)

int tune_prepare(struct tune_ctx *c, const char *path, uint64_t size)
{
	struct dmaio_loop_opts lo;
	struct run *r;
	int ret;

	c->size = size / MIB * MIB;
	if (!c->size)
		return -EINVAL;
	dmaio_loop_opts_init(&lo);
	lo.queue_depth = 2 * (c->max_depth > 128 ? c->max_depth : 128);
	ret = dmaio_loop_new(&c->loop, &lo);
	if (ret)
		return ret;
	ret = dmaio_file_open_flags_wait(c->loop, path, O_RDWR, 0, &c->f);
	if (ret)
		return ret;
	/* blocks in one piece where the file system can: a disk's, not a
	 * fragmented file's figures */
	ret = dmaio_file_pre_allocate_wait(c->f, c->size);
	if (ret && ret != -EOPNOTSUPP)
		return ret;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* written once, in order, so that reads find data, not holes or
	 * unwritten extents the file system answers without the device */
	r->write = 1;
	r->seq = 1;
	r->bs = MIB;
	r->limit = c->size / MIB;
	ret = run_job(c, r, 8, 0, UINT64_MAX);
	free(r->lat_us);
	free(r);
	if (!ret)
		ret = dmaio_file_fdatasync_wait(c->f);
	return ret;
}

void tune_close(struct tune_ctx *c)
{
	if (c->f)
		dmaio_file_close_wait(c->f);
	c->f = NULL;
	if (c->loop)
		dmaio_loop_free(c->loop);
	c->loop = NULL;
}
