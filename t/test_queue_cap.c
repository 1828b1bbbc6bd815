/* SPDX-License-Identifier: MIT */
/*
 * The cap on iocbs in flight per block device (lib/dispatch.c), forced small
 * with DMAIO_QUEUE_CAP: many operations, each called back exactly once
 * with its data, never more iocbs on the device than the cap and the cap
 * reached; two files on one device share it; a barrier still orders the
 * writes before and after it; iocbs io_submit refused or left over go
 * again, in order. Every kernel-feature profile (user-space reaping or
 * io_getevents), and under DMAIO_KERNEL=3.10 with the rest of the suite.
 */
#include "testutil.h"
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BS 4096
#define FBLOCKS 256 /* a 1 MiB file */
#define CAP 4
#define DEPTH 64
#define NOPS 1500

struct job;

struct slot {
	struct job *j;
	struct dmaio_file *f;
	struct dmaio_buf *buf;
	uint64_t pos;
	int is_read;
	unsigned id; /* the operation: each is called back once */
};

struct job {
	struct dmaio_file *f[2];
	unsigned nfiles;
	unsigned started, done, bad;
	unsigned char calls[NOPS];
	uint64_t rng;
	int fail_at, short_at; /* inject an EAGAIN or a short count here */
};

static void start(struct slot *s);

static void finish(struct slot *s, int64_t res, const void *data)
{
	struct job *j = s->j;

	inj_track_inflight--;
	j->calls[s->id]++;
	j->done++;
	if (res != BS)
		j->bad++;
	else if (data && tu_check(data, BS, s->pos, 7) != -1)
		j->bad++;
	if (j->started < NOPS)
		start(s);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct slot *s = arg;

	finish(s, res, v ? dmaio_view_data(v) : NULL);
	dmaio_view_release(v);
}

static void on_write(void *arg, int64_t res)
{
	finish(arg, res, NULL);
}

static void start(struct slot *s)
{
	struct job *j = s->j;
	uint64_t x = j->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	j->rng = x;
	s->id = j->started++;
	s->f = j->f[s->id % j->nfiles];
	s->pos = (x % FBLOCKS) * BS;
	s->is_read = (x >> 20) & 1;
	if ((int)s->id == j->fail_at)
		inj_fail_next = -EAGAIN;
	if ((int)s->id == j->short_at)
		inj_short_next = 1;
	if (s->is_read) {
		ck_assert_int_eq(dmaio_file_read_at_aligned(s->f, s->pos, BS,
							    on_read, s), 0);
	} else {
		/* the pattern the file already holds: reads check it */
		tu_fill(dmaio_buf_data(s->buf), BS, s->pos, 7);
		ck_assert_int_eq(dmaio_file_write_at(s->f, s->buf, s->pos,
						     on_write, s), 0);
	}
}

/* The test's files: direct, or the test is skipped (0). */
static int open_capped(struct dmaio_loop *loop, const char *cap,
		       struct dmaio_file **f, unsigned n)
{
	unsigned i;

	ck_assert_int_eq(setenv("DMAIO_QUEUE_CAP", cap, 1), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("f"),
							    O_RDWR, 0, &f[i]),
				 0);
	ck_assert_int_eq(unsetenv("DMAIO_QUEUE_CAP"), 0);
	if (dmaio_file_is_direct(f[0]))
		return 1;
	for (i = 0; i < n; i++)
		dmaio_file_close_wait(f[i]);
	tu_skip("queue_cap", "the scratch file system refuses O_DIRECT: "
			     "no iocb to cap");
	return 0;
}

/* NOPS operations, DEPTH at a time, on nfiles opens of one file opened
 * with DMAIO_QUEUE_CAP=cap (CAP, or a value to be ignored). */
static void run_cap_job(uint64_t disable, unsigned nfiles, int fail_at,
			int short_at, const char *cap)
{
	struct dmaio_loop *loop;
	struct job j;
	struct slot *slots = calloc(DEPTH, sizeof(*slots));
	unsigned i;

	ck_assert_ptr_nonnull(slots);
	memset(&j, 0, sizeof(j));
	j.rng = 0x9E3779B97F4A7C15ull;
	j.nfiles = nfiles;
	j.fail_at = fail_at;
	j.short_at = short_at;
	tu_make_file(tu_path("f"), FBLOCKS * BS, 7);
	loop = tu_loop(disable, DEPTH);
	if (!open_capped(loop, cap, j.f, nfiles)) {
		dmaio_loop_free(loop);
		free(slots);
		return;
	}
	inj_reset();
	inj_track_fd = dmaio_file_fd(j.f[0]);
	if (nfiles == 2)
		inj_track_fd2 = dmaio_file_fd(j.f[1]);
	for (i = 0; i < DEPTH; i++) {
		slots[i].j = &j;
		slots[i].buf = dmaio_file_alloc_buf(j.f[0], BS);
		ck_assert_ptr_nonnull(slots[i].buf);
	}
	/* DEPTH at once: most wait behind the cap from the start */
	for (i = 0; i < DEPTH; i++)
		start(&slots[i]);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(j.done, NOPS);
	ck_assert_uint_eq(j.bad, 0);
	for (i = 0; i < NOPS; i++)
		ck_assert_int_eq(j.calls[i], 1);
	ck_assert_int_eq(inj_track_inflight, 0);
	if (atoi(cap) == CAP && !strcmp(cap, "4")) {
		ck_assert_int_le(inj_track_max, CAP);
		/* reached: the cap, not a shallow job, is what held them */
		ck_assert_int_eq(inj_track_max, CAP);
	} else {
		/* ignored: the device's own cap (or none) lets more go */
		ck_assert_int_gt(inj_track_max, CAP);
	}
	for (i = 0; i < DEPTH; i++)
		dmaio_buf_unref(slots[i].buf);
	for (i = 0; i < nfiles; i++)
		ck_assert_int_eq(dmaio_file_close_wait(j.f[i]), 0);
	dmaio_loop_free(loop);
	free(slots);
	inj_reset();
}

static void run_job(uint64_t disable, unsigned nfiles, int fail_at,
		    int short_at)
{
	run_cap_job(disable, nfiles, fail_at, short_at, "4");
}

START_TEST(queue_cap_bounds_inflight)
{
	run_job(tu_profile_disable[_i], 1, -1, -1);
}
END_TEST

START_TEST(queue_cap_shared_by_files_on_one_device)
{
	run_job(0, 2, -1, -1);
}
END_TEST

/* io_submit's EAGAIN and short count put iocbs back: none lost or run
 * twice, and the cap still holds. */
START_TEST(queue_cap_eagain_and_short_count_lose_nothing)
{
	run_job(0, 1, 100, 700);
}
END_TEST

/* A DMAIO_QUEUE_CAP that is not a whole number is ignored, not taken as
 * its numeric prefix or as "no cap": a typo keeps the device's cap. */
static const char *const bad_caps[] = { "4x", "-4", "4.0", "abc",
					 "99999999999999999999" };

START_TEST(queue_cap_ignores_a_value_that_is_not_a_number)
{
	run_cap_job(0, 1, -1, -1, bad_caps[_i]);
}
END_TEST

struct order {
	int seq;
	int w1_last, trunc_at, w2_first;
	int bad;
};

struct wr {
	struct order *o;
	int group;
};

static void on_group_write(void *arg, int64_t res)
{
	struct wr *w = arg;
	int seq = w->o->seq++;

	inj_track_inflight--;
	/* refused while 27 wait: it goes back first in line */
	if (seq == 0)
		inj_fail_next = -EAGAIN;
	if (res != BS)
		w->o->bad++;
	if (w->group == 1)
		w->o->w1_last = seq;
	else if (w->o->w2_first < 0)
		w->o->w2_first = seq;
}

static void on_trunc(void *arg, int64_t res)
{
	struct order *o = arg;

	if (res != 0)
		o->bad++;
	o->trunc_at = o->seq++;
}

/*
 * 32 writes with a cap of 4 (28 wait in the loop), a truncate to 16
 * blocks, 8 more writes: the truncate runs after every write before it
 * completed and before any after it started. A write that slipped past
 * it would grow the file again. The writes reach the kernel in the order
 * they were made, an EAGAIN and a short count on the way notwithstanding.
 */
START_TEST(queue_cap_keeps_barrier_order)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], DEPTH);
	struct order o = { 0, -1, -1, -1, 0 };
	struct wr w1 = { &o, 1 }, w2 = { &o, 2 };
	struct dmaio_buf *b1, *b2;
	struct dmaio_file *f;
	char *got = malloc(BS);
	int i, fd;

	tu_make_file(tu_path("f"), 0, 7);
	if (!open_capped(loop, "4", &f, 1)) {
		dmaio_loop_free(loop);
		free(got);
		return;
	}
	b1 = dmaio_file_alloc_buf(f, BS);
	b2 = dmaio_file_alloc_buf(f, BS);
	tu_fill(dmaio_buf_data(b1), BS, 0, 1);
	tu_fill(dmaio_buf_data(b2), BS, 0, 2);
	inj_reset();
	inj_track_fd = dmaio_file_fd(f);
	for (i = 0; i < 32; i++)
		ck_assert_int_eq(dmaio_file_write_at(f, b1, (uint64_t)i * BS,
						     on_group_write, &w1),
				 0);
	ck_assert_int_eq(dmaio_file_truncate(f, 16 * BS, on_trunc, &o), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(dmaio_file_write_at(f, b2, (uint64_t)i * BS,
						     on_group_write, &w2),
				 0);
	inj_fail_next = -EAGAIN;
	inj_short_next = 1;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(inj_short_next, 0); /* it happened */
	ck_assert_int_eq(inj_track_npos, 40);
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(inj_track_pos[i],
				 (long long)(i < 32 ? i : i - 32) * BS);
	ck_assert_int_eq(o.bad, 0);
	ck_assert_int_eq(o.seq, 32 + 1 + 8);
	ck_assert_int_eq(o.w1_last, 31);
	ck_assert_int_eq(o.trunc_at, 32);
	ck_assert_int_eq(o.w2_first, 33);
	ck_assert_int_le(inj_track_max, CAP);
	ck_assert_int_eq(dmaio_file_size_wait(f), 16 * BS);
	dmaio_buf_unref(b1);
	dmaio_buf_unref(b2);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
	inj_reset();
	/* blocks 0-7 from after the truncate, 8-15 from before it */
	fd = open(tu_path("f"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 16; i++) {
		ck_assert_int_eq(pread(fd, got, BS, (off_t)i * BS), BS);
		/* each block holds its buffer's pattern from offset 0 */
		ck_assert_int_eq(tu_check(got, BS, 0, i < 8 ? 2 : 1), -1);
	}
	close(fd);
	free(got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("queue_cap");
	TCase *tc = tu_tcase(s, "queue_cap");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, queue_cap_bounds_inflight);
	TU_ADD(tc, queue_cap_shared_by_files_on_one_device);
	TU_ADD(tc, queue_cap_eagain_and_short_count_lose_nothing);
	TU_ADD_PROFILES(tc, queue_cap_keeps_barrier_order);
	tcase_add_loop_test(tc, queue_cap_ignores_a_value_that_is_not_a_number,
			    0, 5);
	tu_name("queue_cap_ignores_a_value_that_is_not_a_number", 0, 5,
		bad_caps);
	return tu_run(s);
}
