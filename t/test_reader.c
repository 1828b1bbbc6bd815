/* SPDX-License-Identifier: MIT */
/*
 * The stream reader: to the end with read_ahead 0, 1 and 64 and buffer
 * sizes 512, 3072, 4096 and 1 MiB on a file whose size is not a multiple
 * of the alignment; empty files; start near EOF; end before EOF; views
 * that never cross a buffer; skip; errors; write-only files.
 */
#include "testutil.h"
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define FSIZE 1000003

struct getter {
	int done;
	int64_t res;
	struct dmaio_view *v;
};

static void on_get(void *arg, struct dmaio_view *v, int64_t res)
{
	struct getter *g = arg;

	g->done = 1;
	g->res = res;
	g->v = v;
}

static int64_t get(struct dmaio_loop *loop, struct dmaio_reader *r,
		   size_t max, struct dmaio_view **v)
{
	struct getter g = { 0, 0, NULL };

	ck_assert_int_eq(dmaio_reader_get_buffer(r, max, on_get, &g), 0);
	ck_assert_int_eq(g.done, 0);
	while (!g.done)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 5000), 0);
	*v = g.v;
	return g.res;
}

static struct dmaio_reader *open_reader(struct dmaio_loop *loop,
					const char *path, uint64_t start,
					uint64_t end, size_t bs, unsigned ra)
{
	struct dmaio_reader_opts o;
	struct dmaio_reader *r = NULL;
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &f), 0);
	dmaio_reader_opts_init(&o);
	o.start = start;
	o.end = end;
	o.buffer_size = bs;
	o.read_ahead = ra;
	ck_assert_int_eq(dmaio_reader_new(f, &o, &r), 0);
	return r;
}

/* Reads [start, expect_end) with get_buffer(max), checking every view. */
static void read_all(struct dmaio_loop *loop, struct dmaio_reader *r,
		     uint64_t start, uint64_t expect_end, size_t max,
		     size_t bs_rounded, size_t align)
{
	uint64_t pos = start, base = start & ~(uint64_t)(align - 1);
	struct dmaio_view *v;
	int64_t n;

	for (;;) {
		ck_assert_uint_eq(dmaio_reader_position(r), pos);
		n = get(loop, r, max, &v);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		ck_assert_int_le(n, (int64_t)max);
		ck_assert_uint_eq(dmaio_view_len(v), (size_t)n);
		/* never across an internal buffer */
		ck_assert_uint_eq((pos - base) / bs_rounded,
				  (pos + (uint64_t)n - 1 - base) / bs_rounded);
		ck_assert_int_eq(tu_check(dmaio_view_data(v), (size_t)n, pos, 51),
				 -1);
		dmaio_view_release(v);
		pos += (uint64_t)n;
	}
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(pos, expect_end);
	/* and the end stays the end */
	ck_assert_int_eq(get(loop, r, max, &v), 0);
}

static const size_t bsizes[] = { 512, 3072, 4096, 1 << 20 };
static const unsigned aheads[] = { 0, 1, 64 };
static const char *const combo_names[] = {
	"512 B, ahead 0", "512 B, ahead 1", "512 B, ahead 64",
	"3072 B, ahead 0", "3072 B, ahead 1", "3072 B, ahead 64",
	"4 KiB, ahead 0", "4 KiB, ahead 1", "4 KiB, ahead 64",
	"1 MiB, ahead 0", "1 MiB, ahead 1", "1 MiB, ahead 64",
};

START_TEST(reader_to_end)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	size_t bs = bsizes[_i / 3];
	unsigned ra = aheads[_i % 3];
	struct dmaio_reader *r;
	size_t align, rounded;

	tu_make_file(tu_path("r"), FSIZE, 51);
	r = open_reader(loop, tu_path("r"), 0, 0, bs, ra);
	{
		struct dmaio_file *f;

		/* the same device: ask a file for the alignment */
		ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("r"), &f), 0);
		align = dmaio_file_alignment(f);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	}
	rounded = (bs + align - 1) & ~(align - 1);
	read_all(loop, r, 0, FSIZE, 1 << 30, rounded, align);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);

	/* small asks cross the internal buffers' edges */
	r = open_reader(loop, tu_path("r"), 0, 0, bs, ra);
	read_all(loop, r, 0, FSIZE, 1000, rounded, align);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(reader_ranges)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader *r;
	struct dmaio_view *v;

	tu_make_file(tu_path("r"), FSIZE, 51);
	tu_make_file(tu_path("empty"), 0, 51);

	r = open_reader(loop, tu_path("empty"), 0, 0, 4096, 4);
	ck_assert_int_eq(get(loop, r, 100, &v), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);

	/* start near EOF */
	r = open_reader(loop, tu_path("r"), FSIZE - 10, 0, 4096, 4);
	read_all(loop, r, FSIZE - 10, FSIZE, 1 << 20, 4096, 512);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);

	/* start past EOF */
	r = open_reader(loop, tu_path("r"), FSIZE + 5000, 0, 4096, 4);
	ck_assert_int_eq(get(loop, r, 100, &v), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);

	/* end before EOF, unaligned at both ends */
	r = open_reader(loop, tu_path("r"), 1001, 500007, 3072, 2);
	read_all(loop, r, 1001, 500007, 1 << 20, 3072, 512);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);

	/* end past EOF: EOF wins */
	r = open_reader(loop, tu_path("r"), 0, FSIZE + 100000, 65536, 1);
	read_all(loop, r, 0, FSIZE, 1 << 20, 65536, 512);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(reader_skip_and_read_wait)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader *r;
	struct dmaio_view *v;
	char buf[10000];

	tu_make_file(tu_path("s"), FSIZE, 51);
	r = open_reader(loop, tu_path("s"), 0, 0, 4096, 2);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 100), 100);
	ck_assert_int_eq(tu_check(buf, 100, 0, 51), -1);
	ck_assert_int_eq(dmaio_reader_skip(r, 50), 0);          /* in a buffer */
	ck_assert_uint_eq(dmaio_reader_position(r), 150);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 10000), 10000);
	ck_assert_int_eq(tu_check(buf, 10000, 150, 51), -1);
	ck_assert_int_eq(dmaio_reader_skip(r, 300000), 0);      /* far ahead */
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 5000), 5000);
	ck_assert_int_eq(tu_check(buf, 5000, 310150, 51), -1);
	/* up to the end, then past it */
	ck_assert_int_eq(dmaio_reader_skip(r, FSIZE - 315150 - 7), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 10000), 7);
	ck_assert_int_eq(tu_check(buf, 7, FSIZE - 7, 51), -1);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 10000), 0);
	ck_assert_int_eq(dmaio_reader_skip(r, 1 << 30), 0);
	ck_assert_int_eq(get(loop, r, 100, &v), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);

	r = open_reader(loop, tu_path("s"), 0, 0, 4096, 0);
	ck_assert_int_eq(dmaio_reader_skip(r, FSIZE + 1), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 10), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(reader_error_reported_next_call)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader *r;
	struct dmaio_view *v;

	tu_make_file(tu_path("e"), FSIZE, 51);
	inj_reset();
	inj_fail_next = -EIO; /* the first buffer's read */
	r = open_reader(loop, tu_path("e"), 0, 0, 4096, 4);
	ck_assert_int_eq(get(loop, r, 100, &v), -EIO);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(get(loop, r, 100, &v), -EIO); /* it sticks */
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(reader_bad_input)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader_opts o;
	struct dmaio_reader *r = (struct dmaio_reader *)1;
	struct dmaio_file *wo, *f;
	struct getter g = { 0, 0, NULL };
	char c;

	tu_make_file(tu_path("b"), 5000, 51);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("b"), O_WRONLY,
						    0, &wo),
			 0);
	ck_assert_int_eq(dmaio_reader_new(wo, NULL, &r), -EBADF);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(dmaio_file_close_wait(wo), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("b"), &f), 0);
	dmaio_reader_opts_init(&o);
	o.start = 100;
	o.end = 50;
	ck_assert_int_eq(dmaio_reader_new(f, &o, &r), -EINVAL);
	ck_assert_int_eq(dmaio_reader_new(NULL, NULL, &r), -EINVAL);
	ck_assert_int_eq(dmaio_reader_new(f, NULL, &r), 0);
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 0, on_get, &g), -EINVAL);
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 10, on_get, &g), 0);
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 10, on_get, &g), -EBUSY);
	ck_assert_int_eq(dmaio_reader_skip(r, 1), -EBUSY);
	ck_assert_int_eq(dmaio_reader_close(r, NULL, NULL), -EBUSY);
	ck_assert_int_eq(dmaio_reader_read_wait(r, &c, 0), -EINVAL);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(g.res, 10);
	dmaio_view_release(g.v);
	ck_assert_int_eq(dmaio_reader_close(r, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_reader_close(r, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(dmaio_reader_get_buffer(NULL, 1, NULL, NULL), -EINVAL);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader");
	TCase *tc = tu_tcase(s, "reader");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	tcase_add_loop_test(tc, reader_to_end, 0, 12);
	tu_name("reader_to_end", 0, 12, combo_names);
	TU_ADD(tc, reader_ranges);
	TU_ADD(tc, reader_skip_and_read_wait);
	TU_ADD(tc, reader_error_reported_next_call);
	TU_ADD(tc, reader_bad_input);
	return tu_run(s);
}
