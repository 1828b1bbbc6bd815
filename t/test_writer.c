/* SPDX-License-Identifier: MIT */
/*
 * The stream writer: exact sizes and bytes for odd buffer sizes and write
 * patterns, a million one-byte writes, ten writers closed at once, flush
 * then more writes, flushed position with out-of-order completions,
 * sticky errors, on_writable, and the append helpers on a real XFS.
 */
#include "testutil.h"
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char xfs_dir[PATH_MAX];

static struct dmaio_writer *new_writer(struct dmaio_loop *loop,
				       const char *path, size_t bs,
				       unsigned wb, int helpers)
{
	struct dmaio_writer_opts o;
	struct dmaio_writer *w = NULL;
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	dmaio_writer_opts_init(&o);
	o.buffer_size = bs;
	o.write_behind = wb;
	if (!helpers) {
		o.extent_hint = 0;
		o.preallocate = 0;
		o.grow_ahead = 0;
	}
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), 0);
	return w;
}

/* The file holds exactly size bytes of pattern seed. */
static void check_file(const char *path, size_t size, unsigned seed)
{
	struct stat st;
	char *buf = malloc(size + 1);
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)size);
	ck_assert_int_eq(pread(fd, buf, size, 0), (ssize_t)size);
	ck_assert_int_eq(tu_check(buf, size, 0, seed), -1);
	close(fd);
	free(buf);
}

static const size_t buffer_sizes[] = { 512, 3072, 4096, 128 * 1024 };
static const char *const buffer_names[] = { "512 B", "3072 B", "4 KiB",
					    "128 KiB" };

/* Writes of random sizes through every buffer size; exact file after. */
START_TEST(writer_exact_bytes)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	const size_t total = 3 * 1000 * 1000 + 17;
	unsigned char *data = malloc(total);
	int helpers;

	tu_fill(data, total, 0, 31);
	for (helpers = 0; helpers < 2; helpers++) {
		struct dmaio_writer *w = new_writer(loop, tu_path("w"),
						    buffer_sizes[_i], 3,
						    helpers);
		size_t done = 0;

		srand(_i * 2 + helpers);
		while (done < total) {
			size_t n = 1 + (size_t)(rand() % 20000);

			if (n > total - done)
				n = total - done;
			ck_assert_int_eq(dmaio_writer_write_wait(w, data + done, n),
					 (int64_t)n);
			done += n;
			ck_assert_uint_eq(dmaio_writer_position(w), done);
			ck_assert_uint_le(dmaio_writer_flushed_position(w), done);
		}
		ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)total);
		check_file(tu_path("w"), total, 31);
	}
	free(data);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(writer_million_one_byte_writes)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("m"), 0, 2, 1);
	uint64_t i;

	for (i = 0; i < 1000000; i++) {
		unsigned char c = tu_pattern(i, 32);

		ck_assert_int_eq(dmaio_writer_write_wait(w, &c, 1), 1);
	}
	ck_assert_int_eq(dmaio_writer_close_wait(w), 1000000);
	check_file(tu_path("m"), 1000000, 32);
	dmaio_loop_free(loop);
}
END_TEST

struct close_state {
	int calls;
	int64_t res;
};

static void on_close(void *arg, int64_t res)
{
	struct close_state *c = arg;

	c->calls++;
	c->res = res;
}

START_TEST(writer_ten_closed_at_once)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w[10];
	struct close_state c[10];
	char name[32];
	size_t size = (1 << 20) + 333;
	unsigned char *data = malloc(size + 10 * 1000);
	int i;

	memset(c, 0, sizeof(c));
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "ten-%d", i);
		w[i] = new_writer(loop, tu_path(name), 64 * 1024, 4, 1);
		tu_fill(data, size + (size_t)i * 1000, 0, 40 + (unsigned)i);
		ck_assert_int_eq(dmaio_writer_write_wait(w[i], data,
							 size + (size_t)i * 1000),
				 (int64_t)(size + (size_t)i * 1000));
	}
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(dmaio_writer_close(w[i], on_close, &c[i]), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(c[i].calls, 1);
		ck_assert_int_eq(c[i].res, (int64_t)(size + (size_t)i * 1000));
		snprintf(name, sizeof(name), "ten-%d", i);
		check_file(tu_path(name), size + (size_t)i * 1000,
			   40 + (unsigned)i);
	}
	free(data);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(writer_flush_then_write_then_close)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("f"), 8192, 4, 1);
	unsigned char data[20000];
	char got[1000];
	int fd;

	tu_fill(data, sizeof(data), 0, 33);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 1000), 1000);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 1000);
	fd = open(tu_path("f"), O_RDONLY);
	ck_assert_int_eq(pread(fd, got, 1000, 0), 1000);
	ck_assert_int_eq(tu_check(got, 1000, 0, 33), -1);
	close(fd);
	/* overwrite the padding, cross a buffer, flush again, sync */
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 1000, 9000), 9000);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 10000);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0); /* nothing new */
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 10000, 5000), 5000);
	ck_assert_int_eq(dmaio_writer_sync_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 15000);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 15000, 5000), 5000);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 20000);
	check_file(tu_path("f"), 20000, 33);
	dmaio_loop_free(loop);
}
END_TEST

struct order {
	int seen[16];
	int n;
};

struct order_cb {
	struct order *o;
	int id;
};

static void on_ordered(void *arg, int64_t res)
{
	struct order_cb *c = arg;

	ck_assert_int_ge(res, 0);
	c->o->seen[c->o->n++] = c->id;
}

/*
 * flush, sync and close call back in the order they were called, though
 * a flush of nothing new is done at once and a sync waits for its
 * fdatasync: a group commit acknowledges its waiters in order.
 */
START_TEST(writer_flush_sync_close_call_back_in_call_order)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("o"), 4096, 4, 1);
	struct order o = { { 0 }, 0 };
	struct order_cb cb[8];
	char data[3000];
	int i;

	for (i = 0; i < 8; i++) {
		cb[i].o = &o;
		cb[i].id = i;
	}
	memset(data, 'o', sizeof(data));
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)), 3000);
	ck_assert_int_eq(dmaio_writer_sync(w, on_ordered, &cb[0]), 0);
	ck_assert_int_eq(dmaio_writer_flush(w, on_ordered, &cb[1]), 0);
	ck_assert_int_eq(dmaio_writer_flush(w, on_ordered, &cb[2]), 0);
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)), 3000);
	ck_assert_int_eq(dmaio_writer_flush(w, on_ordered, &cb[3]), 0);
	ck_assert_int_eq(dmaio_writer_sync(w, on_ordered, &cb[4]), 0);
	ck_assert_int_eq(dmaio_writer_flush(w, on_ordered, &cb[5]), 0);
	ck_assert_int_eq(dmaio_writer_close(w, on_ordered, &cb[6]), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(o.n, 7);
	for (i = 0; i < 7; i++)
		ck_assert_msg(o.seen[i] == i, "callback %d came %dth", o.seen[i],
			      i + 1);
	dmaio_loop_free(loop);
}
END_TEST

/* A write held back completes last: flushed waits for it. */
START_TEST(writer_flushed_position_out_of_order)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("o"), 4096, 4, 0);
	unsigned char data[4 * 4096];
	int spins = 0;

	tu_fill(data, sizeof(data), 0, 34);
	inj_reset();
	inj_hold_write0 = 1;
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	while (dmaio_loop_pending(loop) > 1 && spins++ < 1000)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 100), 0);
	ck_assert_int_eq(inj_holding, 1);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 1);
	/* three of four writes are done, but not the first */
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 0);
	ck_assert_uint_eq(dmaio_writer_position(w), sizeof(data));
	inj_release();
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), sizeof(data));
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)sizeof(data));
	check_file(tu_path("o"), sizeof(data), 34);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(writer_error_sticks)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("e"), 4096, 2, 0);
	struct close_state c1 = { 0, 0 };
	unsigned char data[3 * 4096];
	struct stat st;

	tu_fill(data, sizeof(data), 0, 35);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 4096), 4096);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	inj_reset();
	inj_fail_next = -EIO;
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 4096, 4096), 4096);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), -EIO);
	ck_assert_int_eq(dmaio_writer_write(w, data, 1), -EIO);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 1), -EIO);
	ck_assert_int_eq(dmaio_writer_flush(w, NULL, NULL), -EIO);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 4096);
	ck_assert_int_eq(dmaio_writer_close(w, on_close, &c1), 0);
	ck_assert_int_eq(dmaio_writer_close(w, on_close, &c1), -EBADF);
	ck_assert_int_eq(dmaio_writer_write(w, data, 1), -EBADF);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c1.calls, 1);
	ck_assert_int_eq(c1.res, -EIO);
	/* only what was acknowledged is left */
	ck_assert_int_eq(stat(tu_path("e"), &st), 0);
	ck_assert_int_eq(st.st_size, 4096);
	check_file(tu_path("e"), 4096, 35);
	dmaio_loop_free(loop);
}
END_TEST

static void on_writable(void *arg, int64_t res)
{
	int *n = arg;

	ck_assert_int_eq(res, 0);
	(*n)++;
}

START_TEST(writer_on_writable)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("b"), 4096, 1, 0);
	unsigned char data[3 * 4096];
	int called = 0;
	size_t pos;

	tu_fill(data, sizeof(data), 0, 36);
	/* one write in flight, one buffer full: the rest must wait */
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)), 8192);
	ck_assert_int_eq(dmaio_writer_write(w, data + 8192, 4096), 0);
	ck_assert_int_eq(dmaio_writer_on_writable(w, on_writable, &called), 0);
	ck_assert_int_eq(dmaio_writer_on_writable(w, on_writable, &called),
			 -EBUSY);
	ck_assert_int_eq(called, 0);
	while (!called)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 1000), 0);
	ck_assert_int_eq(called, 1);
	pos = (size_t)dmaio_writer_position(w);
	ck_assert_uint_eq(pos, 8192);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + pos,
						 sizeof(data) - pos),
			 (int64_t)(sizeof(data) - pos));
	/* a buffer is free now: still called back from the loop */
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_int_eq(dmaio_writer_on_writable(w, on_writable, &called), 0);
	ck_assert_int_eq(called, 1);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(called, 2);
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)sizeof(data));
	check_file(tu_path("b"), sizeof(data), 36);
	dmaio_loop_free(loop);
}
END_TEST

/* get_space/commit interleaved with copying writes and flushes: exact. */
START_TEST(writer_zero_copy)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("z"), 4096, 2, 1);
	const size_t total = 1000000;
	unsigned char *data = malloc(total);
	size_t pos = 0;
	int round = 0;

	tu_fill(data, total, 0, 38);
	ck_assert_int_eq(dmaio_writer_commit(w, 1), -EINVAL); /* nothing given */
	while (pos < total) {
		void *at;
		int64_t n = dmaio_writer_get_space(w, &at);
		size_t k;

		ck_assert_int_ge(n, 0);
		if (n == 0) {
			ck_assert_ptr_null(at);
			ck_assert_int_ge(dmaio_loop_run_once(loop, 1000), 0);
			continue;
		}
		ck_assert_int_le(n, 4096);
		k = (size_t)n < total - pos ? (size_t)n : total - pos;
		if (round % 3 == 1 && k > 7)
			k = 7; /* commit less than given */
		memcpy(at, data + pos, k);
		ck_assert_int_eq(dmaio_writer_commit(w, (size_t)n + 1), -EINVAL);
		ck_assert_int_eq(dmaio_writer_commit(w, k), 0);
		pos += k;
		ck_assert_uint_eq(dmaio_writer_position(w), pos);
		if (round % 50 == 0) {
			ck_assert_int_eq(dmaio_writer_get_space(w, &at) >= 0, 1);
			ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
			/* the flush took the space back */
			ck_assert_int_eq(dmaio_writer_commit(w, 1), -EINVAL);
		}
		if (round % 7 == 0 && pos + 333 <= total) {
			ck_assert_int_eq(dmaio_writer_write_wait(w, data + pos, 333),
					 333);
			pos += 333;
		}
		round++;
	}
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)total);
	check_file(tu_path("z"), total, 38);
	free(data);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(writer_bad_input)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer_opts o;
	struct dmaio_writer *w = (struct dmaio_writer *)1;
	struct dmaio_file *ro, *f;

	tu_make_file(tu_path("ro"), 100, 1);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("ro"), &ro), 0);
	ck_assert_int_eq(dmaio_writer_new(ro, NULL, &w), -EBADF);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(dmaio_writer_new(NULL, NULL, &w), -EINVAL);
	ck_assert_int_eq(dmaio_writer_new(ro, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("x"), &f), 0);
	dmaio_writer_opts_init(&o);
	o.size = 0;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), -EINVAL);
	ck_assert_int_eq(dmaio_writer_write(NULL, "x", 1), -EINVAL);
	ck_assert_int_eq(dmaio_writer_close(NULL, NULL, NULL), -EINVAL);
	/* an empty stream makes an empty file */
	ck_assert_int_eq(dmaio_writer_new(f, NULL, &w), 0);
	ck_assert_int_eq(dmaio_writer_write(w, NULL, 1), -EINVAL);
	ck_assert_int_eq(dmaio_writer_write(w, "x", 0), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 0);
	check_file(tu_path("x"), 0, 1);
	ck_assert_int_eq(dmaio_file_close_wait(ro), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Defaults on XFS: the hint is set, the file ends exact, nothing beyond. */
START_TEST(writer_xfs_defaults)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	char path[PATH_MAX], cmd[PATH_MAX + 64], out[256];
	size_t size = (20 << 20) + 1234;
	unsigned char *data = malloc(size);
	struct dmaio_writer *w;
	struct stat st;
	FILE *p;

	snprintf(path, sizeof(path), "%s/stream", xfs_dir);
	w = new_writer(loop, path, 0, 0, 1);
	tu_fill(data, size, 0, 37);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, size), (int64_t)size);
	/* while open, the file was grown ahead of the writes */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_ge(st.st_size, 20 << 20);
	snprintf(cmd, sizeof(cmd), "xfs_io -c extsize %s", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), p));
	pclose(p);
	ck_assert_msg(strstr(out, "[1048576]"), "xfs_io: %s", out);
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)size);
	check_file(path, size, 37);
	ck_assert_int_eq(stat(path, &st), 0);
	/* no preallocation left behind (allow the hint's last extent) */
	ck_assert_int_le((long long)st.st_blocks * 512, (long long)size + (1 << 20));
	unlink(path);
	free(data);
	dmaio_loop_free(loop);
}
END_TEST

static void count_call(void *arg, int64_t res)
{
	(void)res;
	(*(int *)arg)++;
}

static void count_read(void *arg, struct dmaio_view *v, int64_t res)
{
	(void)res;
	dmaio_view_release(v);
	(*(int *)arg)++;
}

/*
 * dmaio_loop_free() with a writer and a reader still open, I/O in flight,
 * a flush and a get_buffer waiting: nothing is called back, what was
 * flushed is on disk, and nothing leaks (LeakSanitizer in the sanitizer
 * build and make check-valgrind fail this test otherwise).
 */
START_TEST(writer_and_reader_open_at_loop_free)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = new_writer(loop, tu_path("w"), 8192, 4, 1);
	struct dmaio_reader_opts ro;
	struct dmaio_reader *r;
	struct dmaio_file *f;
	unsigned char *data = malloc(60000);
	char got[10000];
	int calls = 0, fd;

	tu_fill(data, 60000, 0, 41);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 10000), 10000);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);

	tu_make_file(tu_path("r"), 1 << 20, 43);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("r"), &f), 0);
	dmaio_reader_opts_init(&ro);
	ro.buffer_size = 64 * 1024;
	ro.read_ahead = 8;
	ck_assert_int_eq(dmaio_reader_new(f, &ro, &r), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(r, got, 100), 100);
	ck_assert_int_eq(tu_check(got, 100, 0, 43), -1);
	/* nothing below runs the loop: all of it is still pending at free */
	ck_assert_int_eq(dmaio_writer_write(w, data + 10000, 50000) > 0, 1);
	ck_assert_int_eq(dmaio_writer_flush(w, count_call, &calls), 0);
	/* read-ahead buffers still in flight are dropped, then one waits */
	ck_assert_int_eq(dmaio_reader_skip(r, 300 * 1024), 0);
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 4096, count_read, &calls),
			 0);

	dmaio_loop_free(loop);
	ck_assert_int_eq(calls, 0);
	fd = open(tu_path("w"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, got, 10000, 0), 10000);
	ck_assert_int_eq(tu_check(got, 10000, 0, 41), -1);
	close(fd);
	free(data);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("writer");
	TCase *tc = tu_tcase(s, "writer");
	const char *why = NULL;
	int ret;

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	tcase_add_loop_test(tc, writer_exact_bytes, 0, 4);
	tu_name("writer_exact_bytes", 0, 4, buffer_names);
	TU_ADD(tc, writer_million_one_byte_writes);
	TU_ADD(tc, writer_ten_closed_at_once);
	TU_ADD_PROFILES(tc, writer_flush_then_write_then_close);
	TU_ADD(tc, writer_flushed_position_out_of_order);
	TU_ADD_PROFILES(tc, writer_flush_sync_close_call_back_in_call_order);
	TU_ADD(tc, writer_error_sticks);
	TU_ADD(tc, writer_on_writable);
	TU_ADD(tc, writer_zero_copy);
	TU_ADD(tc, writer_bad_input);
	TU_ADD_PROFILES(tc, writer_and_reader_open_at_loop_free);
	if (tu_mount_image("xfs", 300, xfs_dir, sizeof(xfs_dir), &why) == 0)
		TU_ADD(tc, writer_xfs_defaults);
	else
		tu_skip("writer_xfs_defaults", why);
	ret = tu_run(s);
	if (!why)
		tu_umount_image(xfs_dir);
	return ret;
}
