/* SPDX-License-Identifier: MIT */
/*
 * The writer's flush_aligned and sync_aligned (1.3): only full buffers
 * go out (no padded tail), the callback says how many bytes of the stream
 * are in the file, and callbacks keep call order with flush, sync and
 * close. On XFS, ext4, tmpfs and the build directory's file system.
 */
#include "testutil.h"
#include "fsdirs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BS 65536

static struct dmaio_writer *writer(struct dmaio_loop *loop, const char *path,
				   uint64_t start, struct dmaio_file **fp)
{
	struct dmaio_writer_opts o;
	struct dmaio_writer *w;
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, path,
						    O_RDWR | O_CREAT, 0644,
						    &f), 0);
	dmaio_writer_opts_init(&o);
	o.buffer_size = BS;
	o.start = start;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), 0);
	if (fp)
		*fp = f;
	return w;
}

/* Nothing of the stream at [from, to): past EOF, or zeros. */
static void check_absent(const char *path, long long from, long long to)
{
	size_t len = (size_t)(to - from);
	char *buf = calloc(1, len);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = pread(fd, buf, len, from);
	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(tu_first_nonzero(buf, (size_t)n), -1);
	close(fd);
	free(buf);
}

struct rec {
	int n;
	int at[8];
	int64_t res[8];
};

static struct rec *cur_rec;

static void on_step(void *arg, int64_t res)
{
	intptr_t i = (intptr_t)arg;

	cur_rec->res[i] = res;
	cur_rec->at[i] = ++cur_rec->n;
}

START_TEST(only_full_buffers)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static char data[200000];
	int fs;

	tu_fill(data, sizeof(data), 0, 3);
	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "fa", _i);
		struct dmaio_writer *w;
		struct dmaio_file *f;
		struct dmaio_file_stats st = { sizeof(st), 0, 0, 0, 0, 0 };
		struct rec r;

		if (!tu_fs[fs].up)
			continue;
		memset(&r, 0, sizeof(r));
		cur_rec = &r;
		w = writer(loop, path, 0, &f);
		/* nothing yet: nothing in the file */
		ck_assert_int_eq(dmaio_writer_flush_aligned(w, on_step,
							    (void *)0), 0);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		ck_assert_int_eq(r.res[0], 0);
		ck_assert_int_eq(dmaio_writer_write_wait(w, data, sizeof(data)),
				 (int64_t)sizeof(data));
		ck_assert_int_eq(dmaio_writer_flush_aligned(w, on_step,
							    (void *)1), 0);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		ck_assert_int_eq(r.res[1], 3 * BS);
		ck_assert_uint_ge(dmaio_writer_flushed_position(w), 3 * BS);
		tu_check_file(path, 0, 3 * BS, 3);
		/* the partial buffer stayed in memory: no padded tail */
		check_absent(path, 3 * BS, sizeof(data));
		ck_assert_int_eq(dmaio_writer_sync_aligned(w, on_step,
							   (void *)2), 0);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		ck_assert_int_eq(r.res[2], 3 * BS);
		ck_assert_uint_ge(dmaio_writer_synced_position(w), 3 * BS);
		ck_assert_int_eq(dmaio_file_stats(f, &st), 0);
		ck_assert_uint_eq(st.syncs, 1);
		ck_assert_int_eq(dmaio_writer_close_wait(w),
				 (int64_t)sizeof(data));
		tu_check_file(path, 0, sizeof(data), 3);
		ck_assert_int_eq(unlink(path), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

/* Callbacks in call order with flush, sync and close. */
START_TEST(call_order)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static char data[2 * BS + 100];
	struct dmaio_writer *w = writer(loop, tu_path("o"), 0, NULL);
	struct rec r;
	int i;

	memset(&r, 0, sizeof(r));
	cur_rec = &r;
	tu_fill(data, sizeof(data), 0, 4);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 2 * BS + 100),
			 2 * BS + 100);
	ck_assert_int_eq(dmaio_writer_sync_aligned(w, on_step, (void *)0), 0);
	ck_assert_int_eq(dmaio_writer_flush(w, on_step, (void *)1), 0);
	ck_assert_int_eq(dmaio_writer_flush_aligned(w, on_step, (void *)2),
			 0);
	ck_assert_int_eq(dmaio_writer_sync(w, on_step, (void *)3), 0);
	ck_assert_int_eq(dmaio_writer_close(w, on_step, (void *)4), 0);
	ck_assert_int_eq(r.n, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(r.at[i], i + 1);
	ck_assert_int_ge(r.res[0], 2 * BS);
	ck_assert_int_eq(r.res[1], 0);
	/* after the flush before it: every byte, the partial block too */
	ck_assert_int_eq(r.res[2], 2 * BS + 100);
	ck_assert_int_eq(r.res[3], 0);
	ck_assert_int_eq(r.res[4], 2 * BS + 100);
	tu_check_file(tu_path("o"), 0, 2 * BS + 100, 4);
	dmaio_loop_free(loop);
}
END_TEST

/* A stream that starts inside a block: the bytes are the stream's own. */
START_TEST(stream_from_an_offset)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static char data[70000];
	struct dmaio_writer *w;
	struct dmaio_file *f;
	uint64_t first_end;
	struct rec r;

	memset(&r, 0, sizeof(r));
	cur_rec = &r;
	tu_make_file(tu_path("off"), 1000, 5);
	tu_fill(data, sizeof(data), 1000, 5);
	w = writer(loop, tu_path("off"), 1000, &f);
	/* the first buffer begins at the block that holds the start */
	first_end = dmaio_file_align_down(f, 1000) + BS;
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	ck_assert_int_eq(dmaio_writer_flush_aligned(w, on_step, (void *)0), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.res[0], (int64_t)first_end - 1000);
	tu_check_file(tu_path("off"), 0, (long long)first_end, 5);
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)sizeof(data));
	tu_check_file(tu_path("off"), 0, 1000 + sizeof(data), 5);
	ck_assert_int_eq(dmaio_writer_flush_aligned(NULL, NULL, NULL), -EINVAL);
	dmaio_loop_free(loop);
}
END_TEST

struct chain {
	struct dmaio_writer *w;
	int64_t first, second;
	int steps;
};

static void on_second(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->second = res;
	c->steps++;
}

static void on_first(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->first = res;
	c->steps++;
	ck_assert_int_eq(dmaio_writer_sync_aligned(c->w, on_second, c), 0);
	ck_assert_int_eq(dmaio_writer_sync_wait(c->w), -EDEADLK);
}

START_TEST(from_a_callback)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static char data[BS + 10];
	struct chain c = { NULL, 1, 1, 0 };

	tu_fill(data, sizeof(data), 0, 6);
	c.w = writer(loop, tu_path("cb"), 0, NULL);
	ck_assert_int_eq(dmaio_writer_write_wait(c.w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	ck_assert_int_eq(dmaio_writer_flush_aligned(c.w, on_first, &c), 0);
	ck_assert_int_eq(c.steps, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.steps, 2);
	ck_assert_int_eq(c.first, BS);
	ck_assert_int_eq(c.second, BS);
	ck_assert_int_eq(dmaio_writer_close_wait(c.w), (int64_t)sizeof(data));
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("writer_aligned");
	TCase *tc = tu_tcase(s, "writer_aligned");
	int ret;

	tu_fs_setup("test_writer_aligned");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, only_full_buffers);
	TU_ADD_PROFILES(tc, call_order);
	TU_ADD_PROFILES(tc, stream_from_an_offset);
	TU_ADD_PROFILES(tc, from_a_callback);
	ret = tu_run(s);
	tu_fs_teardown();
	return ret;
}
