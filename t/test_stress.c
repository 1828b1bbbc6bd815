/* SPDX-License-Identifier: MIT */
/*
 * Stress with verification: two threads, a loop each, several files each,
 * mixed random writes, aligned and unaligned reads and read_many of 512 B
 * to 1 MiB, at queue depths from 1 to 1024 (beyond the context's 128),
 * then a stream written and read back. A model keeps the generation of
 * every 512-byte sector; every byte read is checked against it, and
 * every operation must be called back exactly once.
 *
 * DMAIO_STRESS_OPS sets the number of operations per thread (make check:
 * a few thousand; make stress: 500000 each, a million in all).
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFILES 3
#define FILE_MB 16
#define STRIPE (1 << 20)
#define NSTRIPES (NFILES * FILE_MB)
#define SECTORS_PER_FILE (FILE_MB * 2048)
#define MAXQD 1024

static const unsigned depths[] = { 1, 8, 64, 256, 1024 };

static inline unsigned char pattern(unsigned file, uint64_t off, uint32_t gen)
{
	uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ULL ^
		     ((uint64_t)gen << 40) ^ ((uint64_t)file << 56);

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 29;
	return (unsigned char)(x >> ((off & 7) * 8));
}

struct job;

struct sop {
	struct job *j;
	int kind;          /* 0 write, 1 read, 2 aligned read, 3 read_many */
	int stripe;
	uint64_t pos;
	size_t len;
	uint32_t gen;
	struct dmaio_iovec iov[6];
	int niov, left;
	int calls;
	struct sop *next_free;
};

struct job {
	int id;
	struct dmaio_loop *loop;
	struct dmaio_file *f[NFILES];
	uint32_t *gen[NFILES];     /* per sector */
	int readers[NSTRIPES];
	int writer[NSTRIPES];
	struct sop *slots;
	struct sop *free;
	unsigned inflight, target;
	uint64_t started, completed, ops;
	uint32_t next_gen;
	uint64_t rng;
	int bad;
	char msg[256];
	char dir[4096];
};

static uint64_t rnd(struct job *j)
{
	uint64_t x = j->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return j->rng = x;
}

static void job_fail(struct job *j, const char *what, uint64_t a, uint64_t b)
{
	if (!j->bad)
		snprintf(j->msg, sizeof(j->msg), "%s (%llu, %llu)", what,
			 (unsigned long long)a, (unsigned long long)b);
	j->bad = 1;
}

static void check_bytes(struct job *j, int file, uint64_t pos,
			const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t off = pos + i;

		if (p[i] != pattern((unsigned)file, off,
				    j->gen[file][off >> 9])) {
			job_fail(j, "bad byte at file offset", off, (uint64_t)file);
			return;
		}
	}
}

#define BAIL(...) do { job_fail(__VA_ARGS__); return; } while (0)

static void submit_one(struct job *j);

static void finish(struct sop *s)
{
	struct job *j = s->j;

	if (++s->calls != 1)
		job_fail(j, "called back twice", (uint64_t)s->kind, s->pos);
	if (s->kind == 0)
		j->writer[s->stripe] = 0;
	else
		j->readers[s->stripe]--;
	j->inflight--;
	j->completed++;
	s->next_free = j->free;
	j->free = s;
	while (j->inflight < j->target && j->started < j->ops && !j->bad)
		submit_one(j);
}

static int file_of(int stripe)
{
	return stripe / FILE_MB;
}

static uint64_t stripe_base(int stripe)
{
	return (uint64_t)(stripe % FILE_MB) * STRIPE;
}

static void on_write(void *arg, int64_t res)
{
	struct sop *s = arg;
	struct job *j = s->j;
	uint64_t sec;
	int file = file_of(s->stripe);

	if (res != (int64_t)s->len)
		job_fail(j, "write result", (uint64_t)res, s->len);
	else
		for (sec = s->pos >> 9; sec < (s->pos + s->len) >> 9; sec++)
			j->gen[file][sec] = s->gen;
	finish(s);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct sop *s = arg;

	if (res != (int64_t)s->len || dmaio_view_len(v) != s->len)
		job_fail(s->j, "read result", (uint64_t)res, s->len);
	else
		check_bytes(s->j, file_of(s->stripe), s->pos,
			    dmaio_view_data(v), s->len);
	dmaio_view_release(v);
	finish(s);
}

static void on_many(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	struct sop *s = arg;

	if (res != (int64_t)s->iov[idx].len)
		job_fail(s->j, "read_many result", (uint64_t)res, s->iov[idx].len);
	else
		check_bytes(s->j, file_of(s->stripe), s->iov[idx].pos,
			    dmaio_view_data(v), s->iov[idx].len);
	dmaio_view_release(v);
	if (--s->left == 0)
		finish(s);
}

/* 512 B .. 1 MiB, more small than large */
static size_t rand_len(struct job *j, size_t max)
{
	size_t len = (size_t)512 << (rnd(j) % 12);

	len += (size_t)(rnd(j) % len);
	return len > max ? max : len;
}

static void submit_one(struct job *j)
{
	struct sop *s = j->free;
	int stripe, tries = 0, file, ret = 0, i;

	if (!s)
		return;
	do {
		stripe = (int)(rnd(j) % NSTRIPES);
	} while (j->writer[stripe] && ++tries < 64);
	if (j->writer[stripe])
		return; /* everything busy: completions will call again */
	j->free = s->next_free;
	memset(s, 0, sizeof(*s));
	s->j = j;
	s->stripe = stripe;
	file = file_of(stripe);
	s->kind = (int)(rnd(j) % 4);
	if (s->kind == 0 && j->readers[stripe])
		s->kind = 1;
	if (s->kind == 0) {
		struct dmaio_buf *b;
		size_t k;

		s->len = rand_len(j, STRIPE) & ~(size_t)511;
		s->pos = stripe_base(stripe) +
			 ((rnd(j) % (STRIPE - s->len + 1)) & ~(uint64_t)511);
		s->gen = ++j->next_gen;
		b = dmaio_file_alloc_buf(j->f[file], s->len);
		for (k = 0; k < s->len; k++)
			((unsigned char *)dmaio_buf_data(b))[k] =
				pattern((unsigned)file, s->pos + k, s->gen);
		j->writer[stripe] = 1;
		ret = dmaio_file_write_at(j->f[file], b, s->pos, on_write, s);
		dmaio_buf_unref(b);
	} else if (s->kind == 3) {
		struct dmaio_read_many_opts o;

		dmaio_read_many_opts_init(&o);
		o.max_merged_buffer_size = rnd(j) % 3 == 0 ? 0 : SIZE_MAX;
		o.max_read_amp = (size_t)(rnd(j) % 65536);
		s->niov = s->left = 2 + (int)(rnd(j) % 5);
		for (i = 0; i < s->niov; i++) {
			s->iov[i].len = rand_len(j, STRIPE / 4);
			s->iov[i].pos = stripe_base(stripe) +
					rnd(j) % (STRIPE - s->iov[i].len + 1);
		}
		j->readers[stripe]++;
		ret = dmaio_file_read_many(j->f[file], s->iov, (size_t)s->niov,
					   &o, on_many, s);
	} else {
		s->len = rand_len(j, STRIPE);
		s->pos = stripe_base(stripe) + rnd(j) % (STRIPE - s->len + 1);
		if (s->kind == 2)
			s->pos &= ~(uint64_t)511;
		j->readers[stripe]++;
		ret = s->kind == 2
			? dmaio_file_read_at_aligned(j->f[file], s->pos, s->len,
						     on_read, s)
			: dmaio_file_read_at(j->f[file], s->pos, s->len,
					     on_read, s);
	}
	if (ret) {
		job_fail(j, "submit", (uint64_t)-ret, (uint64_t)s->kind);
		return;
	}
	j->inflight++;
	j->started++;
}

/* A stream in random chunks, flushed now and then, read back whole. */
static void stream_round(struct job *j)
{
	char path[4200];
	struct dmaio_writer_opts wo;
	struct dmaio_reader_opts ro;
	struct dmaio_writer *w;
	struct dmaio_reader *r;
	struct dmaio_file *f;
	static __thread unsigned char chunk[300000];
	uint64_t total = 0, want = 3000000 + rnd(j) % 3000000, got = 0;
	int64_t n;

	snprintf(path, sizeof(path), "%s/stream-%d", j->dir, j->id);
	if (dmaio_file_create_wait(j->loop, path, &f))
		BAIL(j, "stream create", 0, 0);
	dmaio_writer_opts_init(&wo);
	wo.buffer_size = 512 * (1 + rnd(j) % 300);
	wo.write_behind = 1 + (unsigned)(rnd(j) % 8);
	if (dmaio_writer_new(f, &wo, &w))
		BAIL(j, "writer", 0, 0);
	while (total < want) {
		size_t len = 1 + (size_t)(rnd(j) % sizeof(chunk)), k;

		if (len > want - total)
			len = (size_t)(want - total);
		for (k = 0; k < len; k++)
			chunk[k] = pattern(99, total + k, 7);
		if (dmaio_writer_write_wait(w, chunk, len) != (int64_t)len)
			BAIL(j, "stream write", total, len);
		total += len;
		if (rnd(j) % 16 == 0 && dmaio_writer_flush_wait(w))
			BAIL(j, "stream flush", total, 0);
	}
	if (dmaio_writer_close_wait(w) != (int64_t)total)
		BAIL(j, "stream close", total, 0);
	if (dmaio_file_open_wait(j->loop, path, &f))
		BAIL(j, "stream open", 0, 0);
	dmaio_reader_opts_init(&ro);
	ro.buffer_size = 512 * (1 + rnd(j) % 600);
	ro.read_ahead = (unsigned)(rnd(j) % 6);
	if (dmaio_reader_new(f, &ro, &r))
		BAIL(j, "reader", 0, 0);
	while ((n = dmaio_reader_read_wait(r, chunk, sizeof(chunk))) > 0) {
		size_t k;

		for (k = 0; k < (size_t)n; k++)
			if (chunk[k] != pattern(99, got + k, 7))
				BAIL(j, "stream byte", got + k, 0);
		got += (uint64_t)n;
	}
	if (n < 0 || got != total)
		job_fail(j, "stream length", got, total);
	dmaio_reader_close_wait(r);
}

static void *job_main(void *p)
{
	struct job *j = p;
	struct dmaio_loop_opts o;
	unsigned d, i;
	int k;

	dmaio_loop_opts_init(&o);
	o.queue_depth = 128; /* below the deepest phase on purpose */
	o.helper_threads = 2;
	if (dmaio_loop_new(&j->loop, &o)) {
		job_fail(j, "loop", 0, 0);
		return NULL;
	}
	j->slots = calloc(MAXQD, sizeof(*j->slots));
	for (i = 0; i < MAXQD; i++) {
		j->slots[i].next_free = j->free;
		j->free = &j->slots[i];
	}
	for (k = 0; k < NFILES; k++) {
		char path[4200];
		uint64_t off;
		struct dmaio_buf *b;

		snprintf(path, sizeof(path), "%s/s-%d-%d", j->dir, j->id, k);
		j->gen[k] = calloc(SECTORS_PER_FILE, sizeof(uint32_t));
		if (dmaio_file_create_wait(j->loop, path, &j->f[k])) {
			job_fail(j, "create", 0, 0);
			return NULL;
		}
		b = dmaio_file_alloc_buf(j->f[k], STRIPE);
		for (off = 0; off < (uint64_t)FILE_MB * STRIPE; off += STRIPE) {
			size_t x;

			for (x = 0; x < STRIPE; x++)
				((unsigned char *)dmaio_buf_data(b))[x] =
					pattern((unsigned)k, off + x, 0);
			if (dmaio_file_write_at_wait(j->f[k], b, off) != STRIPE)
				job_fail(j, "layout", off, 0);
		}
		dmaio_buf_unref(b);
	}
	for (d = 0; d < sizeof(depths) / sizeof(depths[0]) && !j->bad; d++) {
		uint64_t phase_ops = j->ops / 5;

		j->target = depths[d];
		j->started = j->completed = 0;
		{
			uint64_t saved = j->ops;

			j->ops = phase_ops;
			while (j->inflight < j->target && j->started < j->ops)
				submit_one(j);
			while (j->inflight && dmaio_loop_run_once(j->loop, -1) >= 0)
				if (j->inflight < j->target && j->started < j->ops)
					submit_one(j);
			j->ops = saved;
		}
		if (j->completed != j->started)
			job_fail(j, "completed != started", j->completed, j->started);
		stream_round(j);
	}
	for (k = 0; k < NFILES; k++) {
		dmaio_file_close_wait(j->f[k]);
		free(j->gen[k]);
	}
	if (dmaio_loop_pending(j->loop))
		job_fail(j, "pending at the end", dmaio_loop_pending(j->loop), 0);
	dmaio_loop_free(j->loop);
	free(j->slots);
	return NULL;
}

START_TEST(stress_two_loops)
{
	struct job jobs[2];
	pthread_t t[2];
	const char *env = getenv("DMAIO_STRESS_OPS");
	uint64_t ops = env ? strtoull(env, NULL, 0) : 5000;
	int i;

	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 2; i++) {
		jobs[i].id = i;
		jobs[i].ops = ops;
		jobs[i].rng = 0x1234567ULL * (uint64_t)(i + 1) + (uint64_t)_i;
		snprintf(jobs[i].dir, sizeof(jobs[i].dir), "%s", tu_dir);
		ck_assert_int_eq(pthread_create(&t[i], NULL, job_main, &jobs[i]),
				 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(!jobs[i].bad, "thread %d: %s", i, jobs[i].msg);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tu_tcase(s, "stress");

	tcase_set_timeout(tc, 3600);
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD(tc, stress_two_loops);
	return tu_run(s);
}
