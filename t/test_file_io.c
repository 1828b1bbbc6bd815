/* SPDX-License-Identifier: MIT */
/*
 * DmaFile I/O: open/create, write_at, read_at (any range, exact bytes,
 * EOF clamping), read_at_aligned, split requests, fdatasync, close
 * ordering, is_same, bad input. Every test runs under every kernel-feature
 * profile and once more on the buffered fallback, forced by refusing
 * O_DIRECT in fcntl below.
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

static void check_direct(struct dmaio_file *f, int run)
{
	ck_assert_int_eq(dmaio_file_is_direct(f), run != BUFFERED_RUN);
}

/* glommio's is_same example, and its write_at example. */
START_TEST(seed_examples)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *w, *r;
	struct dmaio_buf *b;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("myfile.txt"), &w),
			 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("myfile.txt"), &r),
			 0);
	check_direct(w, _i);
	ck_assert_int_ne(dmaio_file_fd(w), dmaio_file_fd(r));
	ck_assert_int_eq(dmaio_file_is_same(w, r), 1);

	b = dmaio_file_alloc_buf(w, 4096);
	tu_fill(dmaio_buf_data(b), 4096, 0, 1);
	ck_assert_int_eq(dmaio_file_write_at_wait(w, b, 0), 4096);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_file_close_wait(w), 0);
	ck_assert_int_eq(dmaio_file_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* create is read-write: what we wrote reads back through the same file. */
START_TEST(create_is_read_write)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct dmaio_buf *b;
	struct dmaio_view *v;
	struct stat st;
	mode_t um = umask(022);

	umask(um);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("rw"), &f), 0);
	ck_assert_str_eq(dmaio_file_path(f), tu_path("rw"));
	ck_assert_int_eq(stat(tu_path("rw"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644 & ~um);
	b = dmaio_file_alloc_buf(f, 8192);
	tu_fill(dmaio_buf_data(b), 8192, 0, 2);
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, 0), 8192);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 8192, &v), 8192);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 8192, 0, 2), -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_size_wait(f), 8192);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);

	/* create truncates */
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("rw"), &f), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void expect_read(struct dmaio_file *f, uint64_t pos, size_t size,
			int64_t want, unsigned seed)
{
	struct dmaio_view *v = NULL;
	int64_t res = dmaio_file_read_at_wait(f, pos, size, &v);

	ck_assert_msg(res == want, "read_at(%llu, %zu) = %lld, want %lld",
		      (unsigned long long)pos, size, (long long)res,
		      (long long)want);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(dmaio_view_len(v), (size_t)want);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), (size_t)want, pos, seed),
			 -1);
	dmaio_view_release(v);
}

/* Any range: exact bytes, clamped at EOF, never a byte not read. */
START_TEST(read_at_any_range)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	const size_t fsize = 10000; /* not a multiple of any alignment */

	tu_make_file(tu_path("r"), fsize, 3);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("r"), &f), 0);
	check_direct(f, _i);
	expect_read(f, 0, 1, 1, 3);
	expect_read(f, 1, 1, 1, 3);
	expect_read(f, 511, 2, 2, 3);           /* across a sector */
	expect_read(f, 100, 5000, 5000, 3);     /* across many blocks */
	expect_read(f, 4095, 4098, 4098, 3);    /* both ends unaligned */
	expect_read(f, 0, fsize, fsize, 3);     /* whole file */
	expect_read(f, 9000, 5000, 1000, 3);    /* across EOF */
	expect_read(f, 9999, 100, 1, 3);        /* last byte */
	expect_read(f, 0, 1 << 20, fsize, 3);   /* far past EOF */
	expect_read(f, fsize, 10, 0, 3);        /* at EOF: empty */
	expect_read(f, 20000, 4096, 0, 3);      /* past EOF: empty */
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(read_at_aligned_rules)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct dmaio_view *v = (struct dmaio_view *)1;
	size_t a;

	tu_make_file(tu_path("ra"), 10000, 4);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("ra"), &f), 0);
	a = dmaio_file_alignment(f);
	ck_assert_uint_ge(a, 512);
	ck_assert_uint_eq(a & (a - 1), 0);
	ck_assert_int_eq(dmaio_file_read_at_aligned_wait(f, 1, 512, &v),
			 -EINVAL);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(dmaio_file_read_at_aligned(f, a - 1, 10, NULL, NULL),
			 -EINVAL);
	/* aligned position, any size: clamped to what was asked */
	ck_assert_int_eq(dmaio_file_read_at_aligned_wait(f, a, 100, &v), 100);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 100, a, 4), -1);
	dmaio_view_release(v);
	/* and to EOF */
	ck_assert_int_eq(dmaio_file_read_at_aligned_wait(f, 8192, 8192, &v),
			 10000 - 8192);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 10000 - 8192, 8192, 4),
			 -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Larger than the device takes: split into parts, one result. */
START_TEST(large_io_is_split)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct dmaio_buf *b;
	size_t big;
	char *check;
	int fd;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("big"), &f), 0);
	big = 3 * dmaio_file_max_io(f) + 2 * dmaio_file_alignment(f);
	b = dmaio_file_alloc_buf(f, big);
	tu_fill(dmaio_buf_data(b), big, 0, 5);
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, 0), (int64_t)big);
	dmaio_buf_unref(b);
	expect_read(f, 0, big, (int64_t)big, 5);
	expect_read(f, 1000, big, (int64_t)big - 1000, 5);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);

	/* an independent reader agrees */
	check = malloc(big);
	fd = open(tu_path("big"), O_RDONLY);
	ck_assert_int_eq(pread(fd, check, big, 0), (ssize_t)big);
	ck_assert_int_eq(tu_check(check, big, 0, 5), -1);
	close(fd);
	free(check);
	dmaio_loop_free(loop);
}
END_TEST

struct order_state {
	int writes_done;
	int writes_at_close;
	int closed;
	int fsync_res;
};

static void on_write_order(void *arg, int64_t res)
{
	struct order_state *s = arg;

	ck_assert_int_eq(res, 65536);
	ck_assert_int_eq(s->closed, 0);
	s->writes_done++;
}

static void on_close_order(void *arg, int64_t res)
{
	struct order_state *s = arg;

	ck_assert_int_eq(res, 0);
	s->writes_at_close = s->writes_done;
	s->closed = 1;
}

/* close waits for the file's in-flight writes, then closes. */
START_TEST(close_waits_for_inflight)
{
	struct dmaio_loop *loop = start(_i);
	struct order_state s = { 0, 0, 0, 0 };
	struct dmaio_file *f;
	char *check;
	int i, fd;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("c"), &f), 0);
	for (i = 0; i < 32; i++) {
		struct dmaio_buf *b = dmaio_file_alloc_buf(f, 65536);

		tu_fill(dmaio_buf_data(b), 65536, (uint64_t)i * 65536, 6);
		ck_assert_int_eq(dmaio_file_write_at(f, b, (uint64_t)i * 65536,
						     on_write_order, &s),
				 0);
		dmaio_buf_unref(b); /* the write holds its own reference */
	}
	ck_assert_int_eq(dmaio_file_close(f, on_close_order, &s), 0);
	/* after close was submitted the file takes nothing new */
	ck_assert_int_eq(dmaio_file_size(f, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_read_at(f, 0, 1, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_fdatasync(f, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_close(f, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_fd(f), -EBADF);
	ck_assert_ptr_null(dmaio_file_alloc_buf(f, 4096));
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(s.closed, 1);
	ck_assert_int_eq(s.writes_at_close, 32);

	check = malloc(32 * 65536);
	fd = open(tu_path("c"), O_RDONLY);
	ck_assert_int_eq(pread(fd, check, 32 * 65536, 0), 32 * 65536);
	ck_assert_int_eq(tu_check(check, 32 * 65536, 0, 6), -1);
	close(fd);
	free(check);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(fdatasync_completes)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct dmaio_buf *b;
	int i;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("s"), &f), 0);
	b = dmaio_file_alloc_buf(f, 4096);
	for (i = 0; i < 4; i++) {
		tu_fill(dmaio_buf_data(b), 4096, (uint64_t)i * 4096, 8);
		/* the same buffer again, once its write is done */
		ck_assert_int_eq(dmaio_file_write_at_wait(f, b,
							  (uint64_t)i * 4096),
				 4096);
		ck_assert_int_eq(dmaio_file_fdatasync_wait(f), 0);
	}
	dmaio_buf_unref(b);
	expect_read(f, 0, 16384, 16384, 8);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(is_same_links_and_reopen)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *a, *b, *c, *d, *e;

	tu_make_file(tu_path("orig"), 4096, 9);
	tu_make_file(tu_path("other"), 4096, 9);
	ck_assert_int_eq(link(tu_path("orig"), tu_path("hard")), 0);
	ck_assert_int_eq(symlink(tu_path("orig"), tu_path("soft")), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("orig"), &a), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("orig"), &b), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("hard"), &c), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("soft"), &d), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("other"), &e), 0);
	ck_assert_int_eq(dmaio_file_is_same(a, b), 1);
	ck_assert_int_eq(dmaio_file_is_same(a, c), 1);
	ck_assert_int_eq(dmaio_file_is_same(a, d), 1); /* open resolved it */
	ck_assert_int_eq(dmaio_file_is_same(a, e), 0);
	ck_assert_int_eq(dmaio_file_is_same(a, NULL), 0);
	ck_assert_int_eq(dmaio_file_is_same(NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_close_wait(a), 0);
	ck_assert_int_eq(dmaio_file_close_wait(b), 0);
	ck_assert_int_eq(dmaio_file_close_wait(c), 0);
	ck_assert_int_eq(dmaio_file_close_wait(d), 0);
	ck_assert_int_eq(dmaio_file_close_wait(e), 0);
	dmaio_loop_free(loop);
}
END_TEST

struct open_state {
	int calls;
	int err;
	struct dmaio_file *f;
};

static void on_open(void *arg, struct dmaio_file *f, int err)
{
	struct open_state *s = arg;

	s->calls++;
	s->err = err;
	s->f = f;
}

START_TEST(open_errors)
{
	struct dmaio_loop *loop = start(_i);
	struct open_state s = { 0, 0, NULL };
	struct dmaio_file *f = (struct dmaio_file *)1;

	/* errors found by the kernel reach the callback */
	ck_assert_int_eq(dmaio_file_open(loop, tu_path("nope"), on_open, &s), 0);
	ck_assert_int_eq(s.calls, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.err, -ENOENT);
	ck_assert_ptr_null(s.f);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_dir, &f), -EISDIR);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("no/such/dir"),
						&f),
			 -ENOENT);
	tu_make_file(tu_path("x"), 10, 1);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("x"),
						    O_RDWR | O_CREAT | O_EXCL,
						    0600, &f),
			 -EEXIST);
	/* errors in the arguments: returned, no callback */
	s.calls = 0;
	ck_assert_int_eq(dmaio_file_open(loop, NULL, on_open, &s), -EINVAL);
	ck_assert_int_eq(dmaio_file_open(NULL, "x", on_open, &s), -EINVAL);
	ck_assert_int_eq(dmaio_file_open(loop, "", on_open, &s), -ENOENT);
	ck_assert_int_eq(dmaio_file_open_flags(loop, "x", O_ACCMODE, 0, on_open,
					       &s),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_open_wait(loop, "x", NULL), -EINVAL);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(s.calls, 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(bad_io_arguments)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f, *ro, *wo;
	struct dmaio_buf *b, *odd;
	size_t a;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("bad"), &f), 0);
	a = dmaio_file_alignment(f);
	b = dmaio_file_alloc_buf(f, 4096);
	odd = dmaio_file_alloc_buf(f, 4096);
	tu_fill(dmaio_buf_data(b), 4096, 0, 13);
	ck_assert_int_eq(dmaio_buf_trim(odd, 100), 0);

	ck_assert_int_eq(dmaio_file_write_at(f, b, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_write_at(f, b, a / 2, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_write_at(f, odd, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_write_at(f, NULL, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_write_at(NULL, b, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_write_at(f, b, UINT64_MAX - 4095, NULL,
					     NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_buf_trim(odd, 0), 0);
	ck_assert_int_eq(dmaio_file_write_at(f, odd, 0, NULL, NULL), -EINVAL);

	ck_assert_int_eq(dmaio_file_read_at(NULL, 0, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_read_at(f, UINT64_MAX, 2, NULL, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_read_at(f, 1, SIZE_MAX, NULL, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_fdatasync(NULL, NULL, NULL), -EINVAL);

	/* access modes are checked at submission */
	tu_make_file(tu_path("ro"), 4096, 1);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("ro"), &ro), 0);
	ck_assert_int_eq(dmaio_file_write_at(ro, b, 0, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("ro"),
						    O_WRONLY, 0, &wo),
			 0);
	ck_assert_int_eq(dmaio_file_read_at(wo, 0, 512, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_write_at_wait(wo, b, 0), 4096);

	/* nothing above started anything */
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	dmaio_buf_unref(b);
	dmaio_buf_unref(odd);
	ck_assert_int_eq(dmaio_file_close_wait(ro), 0);
	ck_assert_int_eq(dmaio_file_close_wait(wo), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* A NULL callback: the operation runs, the result (and view) is dropped. */
START_TEST(null_callbacks)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct dmaio_buf *b;
	int i;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("n"), &f), 0);
	b = dmaio_file_alloc_buf(f, 4096);
	tu_fill(dmaio_buf_data(b), 4096, 0, 12);
	ck_assert_int_eq(dmaio_file_write_at(f, b, 0, NULL, NULL), 0);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(dmaio_file_read_at(f, 10, 100, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_fdatasync(f, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	expect_read(f, 0, 4096, 4096, 12);
	ck_assert_int_eq(dmaio_file_close(f, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(dmaio_file_open(loop, tu_path("n"), NULL, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	/* the file opened for nobody is closed by loop_free */
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(alignment_helpers)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	uint64_t a;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("al"), &f), 0);
	a = dmaio_file_alignment(f);
	ck_assert_uint_eq(dmaio_file_align_down(f, a + 1), a);
	ck_assert_uint_eq(dmaio_file_align_up(f, a + 1), 2 * a);
	ck_assert_uint_eq(dmaio_file_align_up(f, a), a);
	ck_assert_uint_eq(dmaio_file_align_down(f, a - 1), 0);
	ck_assert_uint_eq(dmaio_file_align_up(f, 0), 0);
	ck_assert_uint_ge(dmaio_file_max_io(f), a);
	ck_assert_uint_eq(dmaio_file_max_io(f) % a, 0);
	ck_assert_int_ge(dmaio_file_fd(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_file_fd(NULL), -EINVAL);
	ck_assert_ptr_null(dmaio_file_path(NULL));
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Flags a DmaFile cannot honour are refused before anything is created or
 * truncated. O_APPEND would make every positional direct write land at
 * the end of the file while reporting success.
 */
START_TEST(open_flags_that_cannot_be_honoured)
{
	static const struct {
		int flags;
		const char *name;
	} refused[] = {
		{ O_RDWR | O_APPEND, "O_APPEND" },
		{ O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, "O_APPEND" },
		{ O_PATH, "O_PATH" },
		{ O_RDONLY | O_DIRECTORY, "O_DIRECTORY" },
		{ O_RDWR | O_TMPFILE, "O_DIRECTORY" },
		{ O_RDWR | O_ASYNC, "O_ASYNC" },
		{ O_RDONLY | O_TRUNC, "O_TRUNC" },
		{ O_RDWR | O_CREAT | O_TRUNC | 040000000, "unknown" },
	};
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f = NULL;
	struct stat st;
	size_t i;

	tu_make_file(tu_path("keep"), 8192, 4);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		ck_assert_int_eq(dmaio_file_open_flags(loop, tu_path("keep"),
						       refused[i].flags, 0644,
						       NULL, NULL),
				 -EINVAL);
		ck_assert_msg(strstr(dmaio_last_error(), refused[i].name),
			      "flags 0%o: \"%s\" does not name %s",
			      (unsigned)refused[i].flags, dmaio_last_error(),
			      refused[i].name);
		/* not created, not truncated */
		ck_assert_int_eq(dmaio_file_open_flags_wait(
					 loop, tu_path("new"),
					 refused[i].flags | O_CREAT, 0644, &f),
				 -EINVAL);
		ck_assert_ptr_null(f);
		ck_assert_int_eq(stat(tu_path("new"), &st), -1);
	}
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	ck_assert_int_eq(stat(tu_path("keep"), &st), 0);
	ck_assert_int_eq(st.st_size, 8192);
	/* what can be honoured still opens */
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("keep"),
						    O_RDWR | O_DSYNC |
							    O_NOATIME |
							    O_CLOEXEC,
						    0, &f),
			 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

struct read0 {
	int calls;
	int64_t res;
	int got_view;
	size_t len;
};

static void on_read0(void *arg, struct dmaio_view *v, int64_t res)
{
	struct read0 *r = arg;

	r->calls++;
	r->res = res;
	r->got_view = v != NULL;
	r->len = dmaio_view_len(v);
	dmaio_view_release(v);
}

/* A read of nothing is what pread makes of it: 0 bytes, an empty view,
 * from the loop like any other read, anywhere in or past the file. */
START_TEST(read_of_size_zero)
{
	static const uint64_t at[] = { 0, 100, 4096, 1 << 20 };
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct dmaio_view *v = (struct dmaio_view *)1;
	struct read0 r;
	size_t i;

	tu_make_file(tu_path("z"), 8192, 2);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("z"), &f), 0);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memset(&r, 0, sizeof(r));
		ck_assert_int_eq(dmaio_file_read_at(f, at[i], 0, on_read0, &r),
				 0);
		ck_assert_int_eq(r.calls, 0); /* never from the call */
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		ck_assert_int_eq(r.calls, 1);
		ck_assert_int_eq(r.res, 0);
		ck_assert_int_eq(r.got_view, 1);
		ck_assert_uint_eq(r.len, 0);
	}
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(dmaio_file_read_at_aligned(f, 4096, 0, on_read0, &r),
			 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.res, 0);
	ck_assert_int_eq(r.got_view, 1);
	/* still an aligned read: the position must be aligned */
	ck_assert_int_eq(dmaio_file_read_at_aligned(f, 7, 0, on_read0, &r),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 10, 0, &v), 0);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(dmaio_view_len(v), 0);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_io");
	TCase *tc = tu_tcase(s, "file_io");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	ADD_RUNS(tc, seed_examples);
	ADD_RUNS(tc, create_is_read_write);
	ADD_RUNS(tc, read_at_any_range);
	ADD_RUNS(tc, read_at_aligned_rules);
	ADD_RUNS(tc, large_io_is_split);
	ADD_RUNS(tc, close_waits_for_inflight);
	ADD_RUNS(tc, fdatasync_completes);
	ADD_RUNS(tc, is_same_links_and_reopen);
	ADD_RUNS(tc, open_errors);
	ADD_RUNS(tc, bad_io_arguments);
	ADD_RUNS(tc, null_callbacks);
	ADD_RUNS(tc, alignment_helpers);
	ADD_RUNS(tc, open_flags_that_cannot_be_honoured);
	ADD_RUNS(tc, read_of_size_zero);
	return tu_run(s);
}
