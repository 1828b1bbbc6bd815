/* SPDX-License-Identifier: MIT */
/*
 * read_many: shuffled, overlapping, duplicate and past-EOF ranges under no
 * merging, 4 KiB merging and unlimited merging, each checked against
 * pread of the same file; how many reads reach the kernel; errors.
 */
#include "testutil.h"
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FSIZE (1000000) /* not a multiple of the alignment */

struct result {
	int calls;
	int64_t res;
	struct dmaio_view *v;
};

struct collect {
	struct result *r;
	size_t n;
	size_t called;
};

static void on_one(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	struct collect *c = arg;

	ck_assert_uint_lt(idx, c->n);
	c->r[idx].calls++;
	c->r[idx].res = res;
	c->r[idx].v = v;
	c->called++;
	if (res < 0)
		ck_assert_ptr_null(v);
}

/* Runs read_many and checks every result against pread. */
static void run_and_check(struct dmaio_loop *loop, struct dmaio_file *f,
			  const struct dmaio_iovec *iov, size_t n,
			  const struct dmaio_read_many_opts *o, int fd)
{
	struct collect c = { calloc(n, sizeof(struct result)), n, 0 };
	char *want = malloc(1 << 20);
	size_t i;

	ck_assert_int_eq(dmaio_file_read_many(f, iov, n, o, on_one, &c), 0);
	ck_assert_uint_eq(c.called, 0); /* never from inside the call */
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(c.called, n);
	for (i = 0; i < n; i++) {
		ssize_t got = pread(fd, want, iov[i].len, (off_t)iov[i].pos);

		ck_assert_int_ge(got, 0);
		ck_assert_int_eq(c.r[i].calls, 1);
		ck_assert_msg(c.r[i].res == got, "iov %zu (%llu+%zu): %lld, pread %zd",
			      i, (unsigned long long)iov[i].pos, iov[i].len,
			      (long long)c.r[i].res, got);
		ck_assert_uint_eq(dmaio_view_len(c.r[i].v), (size_t)got);
		ck_assert_int_eq(memcmp(dmaio_view_data(c.r[i].v), want,
					(size_t)got),
				 0);
		dmaio_view_release(c.r[i].v);
	}
	free(want);
	free(c.r);
}

static void make_ranges(struct dmaio_iovec *iov, size_t n, unsigned seed)
{
	size_t i;

	srand(seed);
	for (i = 0; i < n; i++) {
		switch (i % 5) {
		case 0: /* anywhere, small */
			iov[i].pos = (uint64_t)(rand() % FSIZE);
			iov[i].len = 1 + (size_t)(rand() % 300);
			break;
		case 1: /* overlapping the previous one */
			iov[i].pos = iov[i - 1].pos + iov[i - 1].len / 2;
			iov[i].len = 1 + (size_t)(rand() % 9000);
			break;
		case 2: /* a duplicate */
			iov[i] = iov[i - 2];
			break;
		case 3: /* across or past EOF */
			iov[i].pos = FSIZE - 2000 + (uint64_t)(rand() % 5000);
			iov[i].len = 1 + (size_t)(rand() % 8000);
			break;
		default: /* near another one */
			iov[i].pos = iov[i - 4].pos + (uint64_t)(rand() % 20000);
			iov[i].len = 1 + (size_t)(rand() % 70000);
			break;
		}
	}
}

static const size_t merge_sizes[] = { 0, 4096, SIZE_MAX,
				      DMAIO_MERGE_DEVICE_MAX };
static const char *const merge_names[] = { "no merging", "4 KiB merging",
					   "unlimited merging",
					   "device-size merging" };

START_TEST(read_many_matches_pread)
{
	struct dmaio_loop *loop = tu_loop(0, 16);
	struct dmaio_read_many_opts o;
	struct dmaio_iovec iov[500];
	struct dmaio_file *f;
	int fd, amp;

	tu_make_file(tu_path("rm"), FSIZE, 21);
	fd = open(tu_path("rm"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("rm"), &f), 0);
	for (amp = 0; amp < 2; amp++) {
		dmaio_read_many_opts_init(&o);
		o.max_merged_buffer_size = merge_sizes[_i];
		o.max_read_amp = amp ? 64 * 1024 : 0;
		make_ranges(iov, 500, 1234 + amp);
		run_and_check(loop, f, iov, 500, &o, fd);
		run_and_check(loop, f, iov, 1, &o, fd);
	}
	close(fd);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* How many reads reach the kernel is the point of merging. */
START_TEST(read_many_merges_reads)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_read_many_opts o;
	struct dmaio_iovec iov[64];
	struct dmaio_view *views[64];
	int64_t res[64];
	struct dmaio_file *f;
	size_t i;

	tu_make_file(tu_path("m"), 1 << 20, 22);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("m"), &f), 0);
	/* 64 ranges 8 KiB apart, in reverse order */
	for (i = 0; i < 64; i++) {
		iov[i].pos = (63 - i) * 8192 + 100;
		iov[i].len = 1000;
	}
	dmaio_read_many_opts_init(&o);
	o.max_merged_buffer_size = 0;
	inj_reset();
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 64, &o, views, res),
			 0);
	ck_assert_int_eq(inj_submit_reads, 64);
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(res[i], 1000);
		ck_assert_int_eq(tu_check(dmaio_view_data(views[i]), 1000,
					  iov[i].pos, 22),
				 -1);
		dmaio_view_release(views[i]);
	}

	/* the gaps are 4 KiB or more unrequested: amp 0 keeps them apart */
	o.max_merged_buffer_size = SIZE_MAX;
	inj_reset();
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 64, &o, views, res),
			 0);
	ck_assert_int_eq(inj_submit_reads, 64);
	for (i = 0; i < 64; i++)
		dmaio_view_release(views[i]);

	/* allowing them: one read */
	o.max_read_amp = 8192;
	inj_reset();
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 64, &o, views, res),
			 0);
	ck_assert_int_eq(inj_submit_reads, 1);
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(res[i], 1000);
		ck_assert_int_eq(tu_check(dmaio_view_data(views[i]), 1000,
					  iov[i].pos, 22),
				 -1);
		dmaio_view_release(views[i]);
	}

	/* capped at 32 KiB: four ranges a read */
	o.max_merged_buffer_size = 32768;
	inj_reset();
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 64, &o, views, res),
			 0);
	ck_assert_int_eq(inj_submit_reads, 16);
	for (i = 0; i < 64; i++)
		dmaio_view_release(views[i]);

	/* the same block asked for 64 times is read once, merging or not */
	for (i = 0; i < 64; i++) {
		iov[i].pos = 5000 + i;
		iov[i].len = 10;
	}
	o.max_merged_buffer_size = 0;
	o.max_read_amp = 0;
	inj_reset();
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 64, &o, views, res),
			 0);
	ck_assert_int_eq(inj_submit_reads, 1);
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(res[i], 10);
		ck_assert_int_eq(tu_check(dmaio_view_data(views[i]), 10,
					  5000 + i, 22),
				 -1);
		dmaio_view_release(views[i]);
	}
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Larger than the device takes: still right (the file layer splits). */
START_TEST(read_many_huge_merge)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_read_many_opts o;
	struct dmaio_iovec iov[3];
	struct dmaio_view *views[3];
	int64_t res[3];
	struct dmaio_file *f;
	size_t big;
	int i;

	tu_make_file(tu_path("h"), 20 << 20, 23);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("h"), &f), 0);
	big = 2 * dmaio_file_max_io(f);
	iov[0].pos = 1;
	iov[0].len = big;
	iov[1].pos = big / 2;
	iov[1].len = big;
	iov[2].pos = 3;
	iov[2].len = 5;
	dmaio_read_many_opts_init(&o);
	o.max_merged_buffer_size = SIZE_MAX;
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 3, &o, views, res),
			 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(res[i], (int64_t)iov[i].len);
		ck_assert_int_eq(tu_check(dmaio_view_data(views[i]), iov[i].len,
					  iov[i].pos, 23),
				 -1);
		dmaio_view_release(views[i]);
	}
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* A merged read that fails fails every range it served, and no other. */
START_TEST(read_many_error_fails_its_ranges)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_read_many_opts o;
	struct dmaio_iovec iov[4] = {
		{ 0, 100 }, { 200, 100 }, { 500000, 10 }, { 500100, 10 },
	};
	struct dmaio_view *views[4];
	int64_t res[4];
	struct dmaio_file *f;
	int i;

	tu_make_file(tu_path("e"), 1 << 20, 24);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("e"), &f), 0);
	dmaio_read_many_opts_init(&o);
	inj_reset();
	/* the first io_submit carries the group at 0 */
	inj_fail_next = -EIO;
	ck_assert_int_eq(dmaio_file_read_many_wait(f, iov, 4, &o, views, res),
			 0);
	ck_assert_int_eq(res[0], -EIO);
	ck_assert_int_eq(res[1], -EIO);
	ck_assert_ptr_null(views[0]);
	ck_assert_ptr_null(views[1]);
	for (i = 2; i < 4; i++) {
		ck_assert_int_eq(res[i], 10);
		dmaio_view_release(views[i]);
	}
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(read_many_bad_input)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_iovec iov[2] = { { 0, 10 }, { 5, 0 } };
	struct dmaio_iovec over = { UINT64_MAX - 5, 10 };
	struct dmaio_read_many_opts o;
	struct dmaio_file *f, *wo;

	tu_make_file(tu_path("b"), 4096, 25);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("b"), &f), 0);
	ck_assert_int_eq(dmaio_file_read_many(f, iov, 0, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_read_many(f, NULL, 1, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_read_many(NULL, iov, 1, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_read_many(f, iov, 2, NULL, NULL, NULL),
			 -EINVAL); /* a zero length */
	ck_assert_int_eq(dmaio_file_read_many(f, &over, 1, NULL, NULL, NULL),
			 -EOVERFLOW);
	dmaio_read_many_opts_init(&o);
	o.size = 0;
	ck_assert_int_eq(dmaio_file_read_many(f, iov, 1, &o, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("b"),
						    O_WRONLY, 0, &wo),
			 0);
	ck_assert_int_eq(dmaio_file_read_many(wo, iov, 1, NULL, NULL, NULL),
			 -EBADF);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	/* a NULL callback: read and dropped */
	ck_assert_int_eq(dmaio_file_read_many(f, iov, 1, NULL, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(dmaio_file_close_wait(wo), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("read_many");
	TCase *tc = tu_tcase(s, "read_many");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	tcase_add_loop_test(tc, read_many_matches_pread, 0, 4);
	tu_name("read_many_matches_pread", 0, 4, merge_names);
	TU_ADD(tc, read_many_merges_reads);
	TU_ADD(tc, read_many_huge_merge);
	TU_ADD(tc, read_many_error_fails_its_ranges);
	TU_ADD(tc, read_many_bad_input);
	return tu_run(s);
}
