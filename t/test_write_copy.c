/* SPDX-License-Identifier: MIT */
/*
 * write_copy against an in-memory model: edges read back and merged,
 * writes past EOF leaving the exact size, holes, thousands of random
 * overlapping writes in flight (more submitted from callbacks, the
 * caller's buffer reused at once), overlapping calls completing in call
 * order, mixing with write_at and truncate, close and loop_free with
 * calls in flight, and the refusals. Each test runs under every feature
 * profile and on the buffered fallback; the file is compared with the
 * model byte by byte, and its size exactly.
 */
#include "testutil.h"
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct dmaio_loop *start(int run)
{
	return run_loop(run);
}

/* ------------------------------------------------------------------ */
/* the model                                                           */

#define MODEL_CAP (16u << 20)

struct model {
	unsigned char *data;  /* zeros past size, always */
	uint64_t size;
};

static void model_init(struct model *m, const char *path, size_t size,
		       unsigned seed)
{
	m->data = calloc(1, MODEL_CAP);
	ck_assert_ptr_nonnull(m->data);
	tu_fill(m->data, size, 0, seed);
	m->size = size;
	tu_make_file(path, size, seed);
}

static void model_write(struct model *m, uint64_t pos, const void *data,
			size_t len)
{
	ck_assert_uint_le(pos + len, MODEL_CAP);
	memcpy(m->data + pos, data, len);
	if (len && pos + len > m->size)
		m->size = pos + len;
}

/* The file at path is the model: size exactly, every byte. */
static void model_check(const struct model *m, const char *path)
{
	unsigned char *buf = malloc(m->size + 1);
	struct stat st;
	ssize_t n;
	long bad;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_msg((uint64_t)st.st_size == m->size, "size %lld, model %llu",
		      (long long)st.st_size, (unsigned long long)m->size);
	n = pread(fd, buf, m->size + 1, 0);
	ck_assert_int_eq(n, (ssize_t)m->size);
	bad = -1;
	for (size_t i = 0; i < m->size; i++)
		if (buf[i] != m->data[i]) {
			bad = (long)i;
			break;
		}
	ck_assert_msg(bad < 0, "byte %ld: file 0x%02x, model 0x%02x", bad,
		      bad < 0 ? 0 : buf[bad], bad < 0 ? 0 : m->data[bad]);
	close(fd);
	free(buf);
}

static struct dmaio_file *open_rw(struct dmaio_loop *loop, const char *path,
				  int run)
{
	struct dmaio_file *f = NULL;

	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, path, O_RDWR, 0, &f),
			 0);
	ck_assert_int_eq(dmaio_file_is_direct(f), run != BUFFERED_RUN);
	return f;
}

/* Writes through write_copy_wait and into the model. */
static void wc(struct dmaio_file *f, struct model *m, uint64_t pos,
	       size_t len, unsigned seed)
{
	unsigned char *data = malloc(len ? len : 1);

	tu_fill(data, len, pos, seed);
	ck_assert_int_eq(dmaio_file_write_copy_wait(f, pos, data, len),
			 (int64_t)len);
	model_write(m, pos, data, len);
	free(data);
}

static void on_res(void *arg, int64_t res)
{
	int64_t *r = arg;

	*r = res;
}

/* ------------------------------------------------------------------ */

START_TEST(edges_eof_and_holes)
{
	struct dmaio_loop *loop = start(_i);
	const char *path = tu_path("e");
	struct model m;
	struct dmaio_file *f;
	size_t a;

	model_init(&m, path, 10000, 1);
	f = open_rw(loop, path, _i);
	a = dmaio_file_alignment(f);
	wc(f, &m, 100, 50, 2);                 /* inside one block */
	wc(f, &m, a - 10, 20, 3);              /* across a block boundary */
	wc(f, &m, a, a, 4);                    /* aligned: no read-back */
	wc(f, &m, 3 * a + 1, 2 * a, 5);        /* three blocks, both edges */
	model_check(&m, path);
	wc(f, &m, 9990, 30, 6);                /* past EOF: exactly 10020 */
	model_check(&m, path);
	wc(f, &m, 20000, 10, 7);               /* a hole, then 10 bytes */
	model_check(&m, path);
	wc(f, &m, 20010, 0, 8);                /* nothing, not even the size */
	wc(f, &m, 40000, 0, 8);
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_size_wait(f), (int64_t)m.size);
	wc(f, &m, 777, 3 << 20, 9);            /* larger than a request */
	model_check(&m, path);
	wc(f, &m, 5, 1, 10);                   /* one byte */
	wc(f, &m, m.size, 1, 11);              /* one byte at EOF */
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(m.data);
	dmaio_loop_free(loop);
}
END_TEST

/* The caller's memory is copied before the call returns. */
START_TEST(data_is_copied_at_the_call)
{
	struct dmaio_loop *loop = start(_i);
	const char *path = tu_path("c");
	unsigned char data[3000];
	struct model m;
	struct dmaio_file *f;
	int64_t r1 = 1, r2 = 1;

	model_init(&m, path, 5000, 1);
	f = open_rw(loop, path, _i);
	tu_fill(data, sizeof(data), 0, 2);
	ck_assert_int_eq(dmaio_file_write_copy(f, 1000, data, sizeof(data),
					       on_res, &r1), 0);
	model_write(&m, 1000, data, sizeof(data));
	memset(data, 0xEE, sizeof(data));
	ck_assert_int_eq(dmaio_file_write_copy(f, 4000, data, 2000,
					       on_res, &r2), 0);
	model_write(&m, 4000, data, 2000);
	memset(data, 0x11, sizeof(data));
	ck_assert_int_eq(r1, 1); /* never called from inside the call */
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r1, 3000);
	ck_assert_int_eq(r2, 2000);
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(m.data);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* thousands in flight                                                 */

#define NWRITES 3000
#define FIRST_WAVE 1500

struct wjob {
	struct rnd *r;
	uint64_t pos;
	size_t len;
	int64_t res;
	unsigned done_seq;  /* 0: not called back */
};

struct rnd {
	struct dmaio_file *f;
	struct model *m;
	struct wjob jobs[NWRITES];
	unsigned submitted, done;
	unsigned char *scratch;   /* reused for every call */
	unsigned seed;
	unsigned total;           /* writes to make */
	int near_eof;             /* all of them around EOF */
	int refused;
};

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

static void on_job(void *arg, int64_t res);

/* Picks a write, submits it from the one scratch buffer, applies it to
 * the model. Overlaps are common: many small writes, many near EOF. */
static void submit_one(struct rnd *r)
{
	struct wjob *j = &r->jobs[r->submitted];
	unsigned kind = next_rand(&r->seed) % 100;
	int ret;

	if (kind < 70)
		j->len = 1 + next_rand(&r->seed) % 1000;
	else if (kind < 95)
		j->len = 1 + next_rand(&r->seed) % 16384;
	else
		j->len = 1 + next_rand(&r->seed) % 131072;
	kind = r->near_eof ? 2 + next_rand(&r->seed) % 3
			   : next_rand(&r->seed) % 10;
	if (kind < 2 || kind == 4) { /* at or past EOF */
		j->pos = r->m->size + next_rand(&r->seed) % 8000;
	} else if (kind < 4) { /* around EOF: ends before, at or after it */
		j->pos = r->m->size - next_rand(&r->seed) % 3000;
		j->len = 1 + next_rand(&r->seed) % 4000;
	} else if (kind < 7) {
		j->pos = next_rand(&r->seed) % (1u << 20);
	} else {
		j->pos = next_rand(&r->seed) % (r->m->size + 1);
	}
	if (j->pos + j->len > MODEL_CAP)
		j->pos = MODEL_CAP - j->len;
	tu_fill(r->scratch, j->len, j->pos, r->submitted);
	j->r = r;
	j->res = 1;
	ret = dmaio_file_write_copy(r->f, j->pos, r->scratch, j->len, on_job,
				    j);
	if (ret) {
		r->refused = ret;
		return;
	}
	model_write(r->m, j->pos, r->scratch, j->len);
	/* the library has its copy: scribble over ours */
	memset(r->scratch, 0xA5, j->len);
	r->submitted++;
}

static void on_job(void *arg, int64_t res)
{
	struct wjob *j = arg;
	struct rnd *r = j->r;

	j->res = res;
	j->done_seq = ++r->done;
	/* more from the callbacks, while the rest is in flight */
	if (r->submitted < r->total && !r->refused)
		submit_one(r);
}

static int jobs_overlap(const struct wjob *a, const struct wjob *b,
			size_t align)
{
	uint64_t as = a->pos & ~(uint64_t)(align - 1);
	uint64_t ae = (a->pos + a->len + align - 1) & ~(uint64_t)(align - 1);
	uint64_t bs = b->pos & ~(uint64_t)(align - 1);
	uint64_t be = (b->pos + b->len + align - 1) & ~(uint64_t)(align - 1);

	return as < be && bs < ae;
}

/*
 * Runs total random writes, first_wave at once and one more from each
 * callback; checks every result, the order of overlapping calls, and the
 * file against the model.
 */
static void run_random(int run, unsigned total, unsigned first_wave,
		       int near_eof)
{
	struct dmaio_loop *loop = start(run);
	const char *path = tu_path("r");
	struct rnd *r = calloc(1, sizeof(*r));
	struct model m;
	unsigned i, k, late = 0, bad = 0;
	size_t align;

	ck_assert_uint_le(total, NWRITES);
	model_init(&m, path, 256 << 10, 1);
	r->f = open_rw(loop, path, run);
	r->m = &m;
	r->scratch = malloc(131072);
	r->seed = 12345u + (unsigned)run + total;
	r->total = total;
	r->near_eof = near_eof;
	align = dmaio_file_alignment(r->f);
	for (i = 0; i < first_wave; i++)
		submit_one(r);
	ck_assert_int_eq(r->refused, 0);
	ck_assert_uint_ge(dmaio_loop_pending(loop), first_wave);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r->refused, 0);
	ck_assert_uint_eq(r->submitted, total);
	ck_assert_uint_eq(r->done, total);
	for (i = 0; i < total; i++)
		if (r->jobs[i].res != (int64_t)r->jobs[i].len)
			bad++;
	ck_assert_msg(bad == 0, "%u writes did not return their length", bad);
	/* overlapping calls finish in call order */
	for (i = 0; i < total; i++)
		for (k = 0; k < i; k++)
			if (jobs_overlap(&r->jobs[k], &r->jobs[i], align) &&
			    r->jobs[k].done_seq > r->jobs[i].done_seq)
				late++;
	ck_assert_msg(late == 0, "%u overlapping pairs finished out of order",
		      late);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_size_wait(r->f), (int64_t)m.size);
	ck_assert_int_eq(dmaio_file_close_wait(r->f), 0);
	free(r->scratch);
	free(r);
	free(m.data);
	dmaio_loop_free(loop);
}

/* Thousands in flight, everywhere in the file. */
START_TEST(random_overlapping_writes_in_flight)
{
	run_random(_i, NWRITES, FIRST_WAVE, 0);
}
END_TEST

/* A few in flight at a time, all around EOF: the size moves each time. */
START_TEST(random_writes_around_eof)
{
	run_random(_i, 1000, 4, 1);
}
END_TEST

/* ------------------------------------------------------------------ */

/* write_at and truncate between write_copy calls move the size too. */
START_TEST(mixed_with_write_at_and_truncate)
{
	struct dmaio_loop *loop = start(_i);
	const char *path = tu_path("x");
	struct dmaio_file *f;
	struct dmaio_buf *b;
	struct model m;

	model_init(&m, path, 0, 1);
	f = open_rw(loop, path, _i);
	b = dmaio_file_alloc_buf(f, 1 << 20);
	tu_fill(dmaio_buf_data(b), 1 << 20, 0, 2);
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, 0), 1 << 20);
	model_write(&m, 0, dmaio_buf_data(b), 1 << 20);
	dmaio_buf_unref(b);
	wc(f, &m, 10, 5, 3);              /* the size stays 1 MiB */
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 5000), 0);
	memset(m.data + 5000, 0, (1 << 20) - 5000);
	m.size = 5000;
	wc(f, &m, 4990, 20, 4);           /* 5010 */
	wc(f, &m, 100, 10, 5);            /* still 5010 */
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 100000), 0);
	m.size = 100000;
	wc(f, &m, 99999, 1, 6);           /* the last byte: still 100000 */
	wc(f, &m, 50000, 3, 7);
	model_check(&m, path);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(m.data);
	dmaio_loop_free(loop);
}
END_TEST

struct order {
	unsigned seq;
	unsigned wc_last;     /* seq of the last write_copy callback */
	unsigned close_seq;
	int64_t close_res;
	unsigned bad;
};

static void on_wc_order(void *arg, int64_t res)
{
	struct order *o = arg;

	o->wc_last = ++o->seq;
	if (res < 0)
		o->bad++;
}

static void on_close_order(void *arg, int64_t res)
{
	struct order *o = arg;

	o->close_seq = ++o->seq;
	o->close_res = res;
}

/* close waits for the write_copy calls, even those still to read back. */
START_TEST(close_waits_for_write_copy)
{
	struct dmaio_loop *loop = start(_i);
	const char *path = tu_path("cl");
	unsigned char data[5000];
	struct order o = { 0 };
	struct dmaio_file *f;
	struct model m;
	unsigned i, seed = 7;

	model_init(&m, path, 100000, 1);
	f = open_rw(loop, path, _i);
	for (i = 0; i < 300; i++) {
		uint64_t pos = next_rand(&seed) % 200000;
		size_t len = 1 + next_rand(&seed) % sizeof(data);

		tu_fill(data, len, pos, i + 100);
		ck_assert_int_eq(dmaio_file_write_copy(f, pos, data, len,
						       on_wc_order, &o), 0);
		model_write(&m, pos, data, len);
	}
	ck_assert_int_eq(dmaio_file_close(f, on_close_order, &o), 0);
	ck_assert_int_eq(dmaio_file_write_copy(f, 0, data, 1, NULL, NULL),
			 -EBADF);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "write_copy"));
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(o.bad, 0);
	ck_assert_uint_eq(o.wc_last, 300);
	ck_assert_uint_eq(o.close_seq, 301);
	ck_assert_int_eq(o.close_res, 0);
	model_check(&m, path);
	free(m.data);
	dmaio_loop_free(loop);
}
END_TEST

static void on_never(void *arg, int64_t res)
{
	int *called = arg;

	(void)res;
	(*called)++;
}

/* Freeing the loop finishes what was submitted and calls nobody. */
START_TEST(loop_free_with_write_copy_in_flight)
{
	struct dmaio_loop *loop = start(_i);
	const char *path = tu_path("lf");
	unsigned char data[5000];
	struct dmaio_file *f;
	struct model m;
	unsigned i, seed = 9;
	int called = 0;

	model_init(&m, path, 100000, 1);
	f = open_rw(loop, path, _i);
	for (i = 0; i < 300; i++) {
		uint64_t pos = next_rand(&seed) % 200000;
		size_t len = 1 + next_rand(&seed) % sizeof(data);

		tu_fill(data, len, pos, i + 100);
		ck_assert_int_eq(dmaio_file_write_copy(f, pos, data, len,
						       on_never, &called), 0);
		model_write(&m, pos, data, len);
	}
	ck_assert_int_eq(dmaio_file_close(f, on_never, &called), 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(called, 0);
	model_check(&m, path);
	free(m.data);
}
END_TEST

static void on_deadlk(void *arg, int64_t res)
{
	struct dmaio_file *f = arg;

	ck_assert_int_eq(res, 1);
	ck_assert_int_eq(dmaio_file_write_copy_wait(f, 0, "x", 1), -EDEADLK);
}

START_TEST(refusals)
{
	struct dmaio_loop *loop = start(_i);
	const char *path = tu_path("rf");
	struct dmaio_file *f, *ro, *wo;
	char data[8192];
	size_t a;

	memset(data, 'w', sizeof(data));
	tu_make_file(path, 8192, 1);
	f = open_rw(loop, path, _i);
	a = dmaio_file_alignment(f);
	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &ro), 0);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, path, O_WRONLY, 0,
						    &wo), 0);
	ck_assert_int_eq(dmaio_file_write_copy(NULL, 0, data, 1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_write_copy(f, 0, NULL, 1, NULL, NULL),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "write_copy: data"));
	ck_assert_int_eq(dmaio_file_write_copy(f, INT64_MAX, data, 1, NULL,
					       NULL), -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_write_copy(f, INT64_MAX - 10, data, 5,
					       NULL, NULL), -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_write_copy(f, 0, data, SIZE_MAX, NULL,
					       NULL), -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_write_copy(ro, 0, data, 1, NULL, NULL),
			 -EBADF);
	/* write-only: aligned goes, a partial block cannot be read back */
	ck_assert_int_eq(dmaio_file_write_copy_wait(wo, 0, data, a),
			 (int64_t)a);
	ck_assert_int_eq(dmaio_file_write_copy(wo, 1, data, a, NULL, NULL),
			 -EBADF);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "write-only"));
	ck_assert_int_eq(dmaio_file_write_copy(wo, 0, data, a + 1, NULL, NULL),
			 -EBADF);
	/* NULL data is fine for nothing */
	ck_assert_int_eq(dmaio_file_write_copy_wait(f, 5, NULL, 0), 0);
	ck_assert_int_eq(dmaio_file_write_copy_wait(NULL, 0, data, 1), -EINVAL);
	/* a _wait from a callback would wait forever */
	ck_assert_int_eq(dmaio_file_write_copy(f, 3, data, 1, on_deadlk, f), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("write_copy");
	TCase *tc = tu_tcase(s, "write_copy");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	ADD_RUNS(tc, edges_eof_and_holes);
	ADD_RUNS(tc, data_is_copied_at_the_call);
	ADD_RUNS(tc, random_overlapping_writes_in_flight);
	ADD_RUNS(tc, random_writes_around_eof);
	ADD_RUNS(tc, mixed_with_write_at_and_truncate);
	ADD_RUNS(tc, close_waits_for_write_copy);
	ADD_RUNS(tc, loop_free_with_write_copy_in_flight);
	ADD_RUNS(tc, refusals);
	return tu_run(s);
}
