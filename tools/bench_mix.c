/* SPDX-License-Identifier: MIT */
/*
 * dmaio-bench --mix: kinds of work sharing one device, each part an I/O
 * class of its own, on one loop or (--loops=N, N the number of parts) a
 * loop per part on a thread each; figures per part. A part is
 * RW:BS:DEPTH[:lat=US][:shares=N][:noclass][:stop=S][:reshare=S,N]
 * (RW randread, randwrite, read or write), parts joined by '+'.
 * --mix-trace=FILE writes each part's I/O and p99 per 100 ms, for a
 * plot. stop=S ends a part's I/O after S seconds, and reshare=S,N gives
 * its class N shares then: how long the others take to follow (reach
 * 0.9x of their rate in the run's last second; hold the new ratio
 * within 15%) is reported per 100 ms window.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_PARTS 8
#define TRACE_NS 100000000ull
#define MAX_WINDOWS 6000 /* of TRACE_NS: 10 minutes */

struct mix_part {
	int rw;
	size_t bs;
	unsigned depth, shares;
	uint32_t lat_us;
	int noclass;
	double stop_s;            /* stop=: 0, none */
	double reshare_s;         /* reshare=S,N: 0, none */
	unsigned reshare_to;
	int reshared;
	/* running */
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct dmaio_class *c;
	uint64_t rng, seq, blocks, deadline, t0;
	unsigned inflight;
	uint64_t done, bytes, errors;
	struct histogram hist, win; /* all; the current trace window */
	uint64_t win_start, win_done;
	FILE *trace;
	pthread_mutex_t *trace_mu;
	unsigned id;
	struct mix_io *ios;       /* depth of them, freed after the run */
	uint64_t base;            /* the run's start: windows line up */
	uint32_t *win_ios;        /* completions per TRACE_NS window */
};

struct mix_io {
	struct mix_part *p;
	struct dmaio_buf *buf;
	uint64_t t;
};

static int parse_part(char *s, struct mix_part *p)
{
	char *f[8], *save = NULL, *tok;
	unsigned n = 0, i;
	char *end;

	for (tok = strtok_r(s, ":", &save); tok && n < 8;
	     tok = strtok_r(NULL, ":", &save))
		f[n++] = tok;
	if (n < 3)
		return -1;
	for (i = 0; bench_rw_names[i]; i++)
		if (!strcmp(f[0], bench_rw_names[i]) && i != RW_RANDRW)
			break;
	if (!bench_rw_names[i])
		return -1;
	p->rw = (int)i;
	p->bs = strtoul(f[1], &end, 10);
	if (*end == 'k' || *end == 'K')
		p->bs <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		p->bs <<= 20, end++;
	p->depth = (unsigned)strtoul(f[2], NULL, 10);
	if (*end || !p->bs || p->bs % 4096 || !p->depth || p->depth > 1024)
		return -1;
	p->shares = 100;
	for (i = 3; i < n; i++) {
		if (!strncmp(f[i], "lat=", 4))
			p->lat_us = (uint32_t)strtoul(f[i] + 4, NULL, 10);
		else if (!strncmp(f[i], "shares=", 7))
			p->shares = (unsigned)strtoul(f[i] + 7, NULL, 10);
		else if (!strcmp(f[i], "noclass"))
			p->noclass = 1;
		else if (!strncmp(f[i], "stop=", 5))
			p->stop_s = strtod(f[i] + 5, NULL);
		else if (!strncmp(f[i], "reshare=", 8)) {
			p->reshare_s = strtod(f[i] + 8, &end);
			if (*end != ',')
				return -1;
			p->reshare_to = (unsigned)strtoul(end + 1, NULL, 10);
			if (!p->reshare_to || p->reshare_s <= 0)
				return -1;
		} else
			return -1;
	}
	return 0;
}

static int parse_mix(const char *spec, struct mix_part *parts)
{
	char *s = strdup(spec), *save = NULL, *tok;
	int n = 0;

	if (!s)
		return -1;
	for (tok = strtok_r(s, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
		if (n == MAX_PARTS || parse_part(tok, &parts[n])) {
			n = -1;
			break;
		}
		parts[n].id = (unsigned)n;
		n++;
	}
	free(s);
	return n;
}

static void trace_window(struct mix_part *p, uint64_t now)
{
	if (!p->trace || now - p->win_start < TRACE_NS)
		return;
	pthread_mutex_lock(p->trace_mu);
	fprintf(p->trace, "%.1f %u %.0f %.0f\n", (now - p->t0) / 1e9, p->id,
		(p->done - p->win_done) * 1e9 / (now - p->win_start),
		hist_quantile(&p->win, 0.99) / 1e3);
	pthread_mutex_unlock(p->trace_mu);
	hist_init(&p->win);
	p->win_start = now;
	p->win_done = p->done;
}

static void mix_start(struct mix_io *io);

static void mix_done(struct mix_io *io, int64_t res)
{
	struct mix_part *p = io->p;
	uint64_t now = bench_now_ns();

	p->inflight--;
	if (res < 0) {
		p->errors++;
	} else {
		uint64_t w = (now - p->base) / TRACE_NS;

		p->done++;
		p->bytes += (uint64_t)res;
		hist_add(&p->hist, now - io->t);
		hist_add(&p->win, now - io->t);
		if (w < MAX_WINDOWS)
			p->win_ios[w]++;
	}
	trace_window(p, now);
	if (p->reshare_s && !p->reshared &&
	    now - p->base >= (uint64_t)(p->reshare_s * 1e9)) {
		p->reshared = 1;
		if (p->c && dmaio_class_set_shares(p->c, p->reshare_to))
			p->errors++;
	}
	if (now < p->deadline && !p->errors)
		mix_start(io);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	if (v)
		dmaio_view_release(v);
	mix_done(arg, res);
}

static void on_write(void *arg, int64_t res)
{
	mix_done(arg, res);
}

static void mix_start(struct mix_io *io)
{
	struct mix_part *p = io->p;
	uint64_t blk;
	int ret;

	if (p->rw == RW_RANDREAD || p->rw == RW_RANDWRITE)
		blk = bench_rand(&p->rng) % p->blocks;
	else
		blk = p->seq++ % p->blocks;
	io->t = bench_now_ns();
	if (p->rw == RW_RANDREAD || p->rw == RW_READ)
		ret = dmaio_file_read_at_aligned(p->f, blk * p->bs, p->bs,
						 on_read, io);
	else
		ret = dmaio_file_write_at(p->f, io->buf, blk * p->bs, on_write,
					  io);
	if (ret)
		p->errors++;
	else
		p->inflight++;
}

/* Opens the part's file on its loop, in a class of its own, and starts
 * depth I/Os; 0 or -errno. */
static int mix_setup(struct mix_part *p, const char *path, uint64_t size,
		     double runtime)
{
	struct dmaio_class_opts o;
	struct mix_io *ios;
	unsigned i;
	int ret;

	ret = dmaio_file_open_flags_wait(p->loop, path, O_RDWR, 0, &p->f);
	if (ret)
		return ret;
	if (!p->noclass) {
		dmaio_class_opts_init(&o);
		o.name = bench_rw_names[p->rw];
		o.shares = p->shares;
		o.latency_us = p->lat_us;
		ret = dmaio_class_new(p->loop, &o, &p->c);
		if (!ret)
			ret = dmaio_file_set_class(p->f, p->c);
		if (ret)
			return ret;
	}
	p->blocks = size / p->bs;
	p->rng = 0x9E3779B97F4A7C15ull * (p->id + 1);
	hist_init(&p->hist);
	hist_init(&p->win);
	ios = p->ios = calloc(p->depth, sizeof(*ios));
	if (!ios)
		return -ENOMEM;
	p->t0 = p->win_start = bench_now_ns();
	p->deadline = p->base + (uint64_t)(runtime * 1e9);
	if (p->stop_s && p->stop_s < runtime)
		p->deadline = p->base + (uint64_t)(p->stop_s * 1e9);
	for (i = 0; i < p->depth; i++) {
		ios[i].p = p;
		ios[i].buf = dmaio_file_alloc_buf(p->f, p->bs);
		if (!ios[i].buf)
			return -ENOMEM;
		memset(dmaio_buf_data(ios[i].buf), 0x5a, p->bs);
		mix_start(&ios[i]);
	}
	return 0;
}

struct mix_thread {
	struct mix_part *parts;
	unsigned n;
	const char *path;
	const struct bench_opts *o;
	int err;
};

/* The parts' buffers and records, then their loop (the buffers hold
 * its pool). */
static void mix_free(struct mix_thread *t)
{
	unsigned i, k;

	for (i = 0; i < t->n; i++) {
		struct mix_part *p = &t->parts[i];

		for (k = 0; p->ios && k < p->depth; k++)
			if (p->ios[k].buf)
				dmaio_buf_unref(p->ios[k].buf);
		free(p->ios);
		p->ios = NULL;
	}
	dmaio_loop_free(t->parts[0].loop);
}

static void *mix_thread(void *arg)
{
	struct mix_thread *t = arg;
	unsigned i;

	if ((t->err = dmaio_loop_new(&t->parts[0].loop, NULL)))
		return NULL;
	for (i = 0; i < t->n; i++) {
		t->parts[i].loop = t->parts[0].loop;
		if ((t->err = mix_setup(&t->parts[i], t->path, t->o->size,
					t->o->runtime))) {
			mix_free(t);
			return NULL;
		}
	}
	t->err = dmaio_loop_run(t->parts[0].loop);
	mix_free(t);
	return NULL;
}

/* The first window from `from` s on whose completions reach `want` (of
 * a window); -1: none. */
static long first_window(const struct mix_part *p, double from, double want,
			 unsigned nwin)
{
	unsigned w;

	for (w = (unsigned)(from * 10); w < nwin; w++)
		if (p->win_ios[w] >= want)
			return (long)w;
	return -1;
}

/*
 * After another part stopped: milliseconds until q's window reached 0.9x
 * its mean window of the run's last second (then alone). After q's own
 * reshare: until its ratio to the other part (of two) came within 15%
 * of their shares'. -1: never, or nothing to measure.
 */
static double settle_ms(const struct mix_part *parts, unsigned n, unsigned qi,
			unsigned nwin)
{
	const struct mix_part *q = &parts[qi];
	unsigned i, w;

	if (q->reshare_s && n == 2) {
		const struct mix_part *o = &parts[!qi];
		double want = (double)q->reshare_to / o->shares;

		for (w = (unsigned)(q->reshare_s * 10); w < nwin; w++) {
			double r;

			if (!o->win_ios[w])
				continue;
			r = (double)q->win_ios[w] / o->win_ios[w] / want;
			if (r >= 0.85 && r <= 1.15)
				return (w + 1) * 100.0 - q->reshare_s * 1000;
		}
		return -1;
	}
	for (i = 0; i < n; i++) {
		double ref = 0;
		long w0;

		if (i == qi || !parts[i].stop_s || nwin < 12)
			continue;
		/* the last whole second, the window in progress left out */
		for (w = nwin - 11; w < nwin - 1; w++)
			ref += q->win_ios[w];
		w0 = first_window(q, parts[i].stop_s, 0.9 * ref / 10, nwin);
		return w0 < 0 ? -1 : (w0 + 1) * 100.0 - parts[i].stop_s * 1000;
	}
	return -1;
}

static void report(const struct mix_part *parts, unsigned n, double secs,
		   int json)
{
	unsigned i, nwin = (unsigned)(secs * 10);

	if (json)
		printf("{\"mix_parts\":%u,\"seconds\":%.3f", n, secs);
	for (i = 0; i < n; i++) {
		const struct mix_part *p = &parts[i];
		double iops = p->done / secs, mib = p->bytes / secs / 1048576.0;
		double p50 = hist_quantile(&p->hist, 0.5) / 1e3;
		double p99 = hist_quantile(&p->hist, 0.99) / 1e3;
		double max = p->hist.count ? p->hist.max / 1e3 : 0;
		double settle = settle_ms(parts, n, i, nwin < MAX_WINDOWS ?
						       nwin : MAX_WINDOWS);

		if (json)
			printf(",\"p%u_iops\":%.1f,\"p%u_mib_s\":%.2f,"
			       "\"p%u_p50_us\":%.0f,\"p%u_p99_us\":%.0f,"
			       "\"p%u_max_us\":%.0f,\"p%u_errors\":%llu", i, iops,
			       i, mib, i, p50, i, p99, i, max, i,
			       (unsigned long long)p->errors);
		if (json && settle >= 0)
			printf(",\"p%u_settle_ms\":%.0f", i, settle);
		if (!json)
			printf("part %u %s bs=%zu depth=%u shares=%u lat_us=%u%s: "
			       "%.0f IOPS, %.1f MiB/s, lat p50 %.0f us, p99 "
			       "%.0f us, max %.0f us, errors %llu\n", i,
			       bench_rw_names[p->rw], p->bs, p->depth, p->shares,
			       p->lat_us, p->noclass ? " (no class)" : "", iops,
			       mib, p50, p99, max,
			       (unsigned long long)p->errors);
		if (!json && settle >= 0)
			printf("part %u followed the change (%s) in %.0f ms\n",
			       i, p->reshare_s ? "its new shares' ratio within "
			       "15%" : "0.9x of its last second's rate", settle);
	}
	if (json)
		printf("}\n");
}

int bench_mix_run(const struct bench_opts *o, const char *path)
{
	struct mix_part parts[MAX_PARTS];
	struct mix_thread th[MAX_PARTS];
	pthread_t tid[MAX_PARTS];
	pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;
	FILE *trace = NULL;
	unsigned i, nthreads;
	uint64_t t0;
	int n, err = 0;

	memset(parts, 0, sizeof(parts));
	n = parse_mix(o->mix, parts);
	if (n <= 0) {
		fprintf(stderr, "dmaio-bench: --mix=%s: parts are "
			"RW:BS:DEPTH[:lat=US][:shares=N][:noclass][:stop=S]"
			"[:reshare=S,N] joined by "
			"'+', at most %d\n", o->mix, MAX_PARTS);
		return 2;
	}
	if (o->loops != 1 && o->loops != (unsigned)n) {
		fprintf(stderr, "dmaio-bench: --mix: --loops is 1 (one loop) "
			"or the number of parts (%d: a loop each)\n", n);
		return 2;
	}
	if (o->mix_trace && !(trace = fopen(o->mix_trace, "w"))) {
		perror(o->mix_trace);
		return 1;
	}
	if (trace)
		fprintf(trace, "# seconds part iops p99_us (per 100 ms)\n");
	for (i = 0; i < (unsigned)n; i++) {
		parts[i].trace = trace;
		parts[i].trace_mu = &trace_mu;
	}
	nthreads = o->loops == 1 ? 1 : (unsigned)n;
	t0 = bench_now_ns();
	for (i = 0; i < (unsigned)n; i++) {
		parts[i].base = t0;
		parts[i].win_ios = calloc(MAX_WINDOWS, sizeof(uint32_t));
		if (!parts[i].win_ios)
			return 1;
	}
	for (i = 0; i < nthreads; i++) {
		th[i].parts = nthreads == 1 ? parts : &parts[i];
		th[i].n = nthreads == 1 ? (unsigned)n : 1;
		th[i].path = path;
		th[i].o = o;
		th[i].err = 0;
		if (pthread_create(&tid[i], NULL, mix_thread, &th[i]))
			return 1;
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		if (th[i].err && !err)
			err = th[i].err;
	}
	if (trace)
		fclose(trace);
	if (err) {
		fprintf(stderr, "dmaio-bench: --mix: %s (%s)\n",
			dmaio_strerror(err), dmaio_last_error());
		return 1;
	}
	report(parts, (unsigned)n, (bench_now_ns() - t0) / 1e9, o->json);
	for (i = 0; i < (unsigned)n; i++)
		free(parts[i].win_ios);
	return 0;
}
