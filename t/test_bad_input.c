/* SPDX-License-Identifier: MIT */
/*
 * Bad input, table-driven: every public function that can refuse its
 * arguments is called with NULL pointers, a closing file, unaligned
 * positions and sizes, pos + size overflow, zero and huge sizes, negative
 * fds, and paths that do not exist, are directories or are not
 * directories. Each returns its documented -errno and starts nothing;
 * then read_many takes zero and a million ranges. (Using a view after
 * releasing it is undefined, as for free(); it is not tried.)
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

static struct dmaio_loop *L;
static struct dmaio_file *F;    /* read-write, 64 KiB of data */
static struct dmaio_file *RO;   /* read-only */
static struct dmaio_file *WO;   /* write-only */
static struct dmaio_file *C;    /* close submitted */
static struct dmaio_buf *B;     /* 4 KiB */
static struct dmaio_buf *ODD;   /* 100 bytes */
static struct dmaio_reader *R;
static struct dmaio_reader *RD; /* open, reads nothing ahead */
static char BYTE;
static struct dmaio_writer *W;
static struct dmaio_iovec IOV[2] = { { 0, 10 }, { 10, 0 } };
/* writer options: an unknown flag, start and APPEND both, a start past
 * the largest offset, a start inside a block */
static struct dmaio_writer_opts WFLAG, WBOTH, WFAR, WMID;

struct row {
	const char *what;
	int64_t (*call)(void);
	int64_t want;
	const char *expr;
};

#define ROW(name, want, expr)                                    \
	static int64_t name(void) { return (int64_t)(expr); }    \
	static const char name##_expr[] = #expr;
#define SIZE_HUGE ((size_t)1 << 62)

/* the loop */
ROW(r1, -EINVAL, dmaio_loop_new(NULL, NULL))
ROW(r2, -EINVAL, dmaio_loop_run(NULL))
ROW(r3, -EINVAL, dmaio_loop_run_once(NULL, 0))
ROW(r4, -EINVAL, dmaio_loop_fd(NULL))
ROW(r5, -EINVAL, dmaio_loop_watch(L, -1, EPOLLIN, (dmaio_watch_cb)1, NULL))
ROW(r6, -EBADF, dmaio_loop_watch(L, 9999, EPOLLIN, (dmaio_watch_cb)1, NULL))
ROW(r7, -EINVAL, dmaio_loop_watch(L, 0, 0, (dmaio_watch_cb)1, NULL))
ROW(r8, -ENOENT, dmaio_loop_unwatch(L, 5))
ROW(r9, -EINVAL, dmaio_loop_unwatch(L, -3))
ROW(r10, -ENOENT, dmaio_loop_watch_modify(L, 5, EPOLLIN))
ROW(r11, -EINVAL, dmaio_loop_post(L, NULL, NULL))
ROW(r12, -EINVAL, dmaio_loop_stats(NULL, NULL))
ROW(r13, -EINVAL, dmaio_timer_new(L, NULL, NULL, NULL))
ROW(r14, -EINVAL, dmaio_timer_start(NULL, 1, 1))
ROW(r15, -EINVAL, dmaio_timer_stop(NULL))
/* opening */
ROW(o1, -EINVAL, dmaio_file_open(NULL, "x", NULL, NULL))
ROW(o2, -EINVAL, dmaio_file_open(L, NULL, NULL, NULL))
ROW(o3, -ENOENT, dmaio_file_create(L, "", NULL, NULL))
ROW(o4, -EINVAL, dmaio_file_open_flags(L, "x", O_RDWR | O_WRONLY | O_RDONLY | 3, 0, NULL, NULL))
ROW(o5, -EINVAL, dmaio_file_open_wait(L, "x", NULL))
ROW(o6, -EINVAL, dmaio_file_open_flags(L, "x", O_RDWR | O_APPEND, 0, NULL, NULL))
/* buffers and views */
ROW(b1, 0, dmaio_file_alloc_buf(NULL, 4096) != NULL)
ROW(b2, 0, dmaio_file_alloc_buf(F, 0) != NULL)
ROW(b3, 0, dmaio_file_alloc_buf(F, SIZE_HUGE) != NULL)
ROW(b4, 0, dmaio_file_alloc_buf(C, 4096) != NULL)
ROW(b5, -EINVAL, dmaio_buf_trim(NULL, 0))
ROW(b6, -EINVAL, dmaio_buf_trim(B, 4097))
ROW(b7, 0, dmaio_view_slice(NULL, 0, 0) != NULL)
ROW(b8, 0, dmaio_buf_data(NULL) != NULL)
/* writes */
ROW(w1, -EINVAL, dmaio_file_write_at(NULL, B, 0, NULL, NULL))
ROW(w2, -EINVAL, dmaio_file_write_at(F, NULL, 0, NULL, NULL))
ROW(w3, -EINVAL, dmaio_file_write_at(F, B, 100, NULL, NULL))
ROW(w4, -EINVAL, dmaio_file_write_at(F, ODD, 0, NULL, NULL))
ROW(w5, -EOVERFLOW, dmaio_file_write_at(F, B, UINT64_MAX - 4095, NULL, NULL))
ROW(w6, -EOVERFLOW, dmaio_file_write_at(F, B, (uint64_t)INT64_MAX - 511, NULL, NULL))
ROW(w7, -EBADF, dmaio_file_write_at(RO, B, 0, NULL, NULL))
ROW(w8, -EBADF, dmaio_file_write_at(C, B, 0, NULL, NULL))
ROW(w9, -EINVAL, dmaio_file_write_at_wait(NULL, B, 0))
/* reads */
ROW(d1, -EINVAL, dmaio_file_read_at(NULL, 0, 1, NULL, NULL))
ROW(d2, -EOVERFLOW, dmaio_file_read_at(F, (uint64_t)INT64_MAX + 1, 0, NULL, NULL))
ROW(d3, -EOVERFLOW, dmaio_file_read_at(F, UINT64_MAX, 1, NULL, NULL))
ROW(d4, -EOVERFLOW, dmaio_file_read_at(F, 1, SIZE_MAX, NULL, NULL))
ROW(d5, -ENOMEM, dmaio_file_read_at(F, 0, SIZE_HUGE, NULL, NULL))
ROW(d6, -EINVAL, dmaio_file_read_at_aligned(F, 7, 512, NULL, NULL))
ROW(d7, -EBADF, dmaio_file_read_at(WO, 0, 1, NULL, NULL))
ROW(d8, -EBADF, dmaio_file_read_at(C, 0, 1, NULL, NULL))
ROW(d9, -EINVAL, dmaio_file_read_at_wait(F, 0, 1, NULL))
/* metadata */
ROW(m1, -EINVAL, dmaio_file_pre_allocate(F, 0, NULL, NULL))
ROW(m2, -EOVERFLOW, dmaio_file_pre_allocate(F, UINT64_MAX, NULL, NULL))
ROW(m3, -EBADF, dmaio_file_pre_allocate(RO, 4096, NULL, NULL))
ROW(m4, -EINVAL, dmaio_file_deallocate(F, 0, 0, NULL, NULL))
ROW(m5, -EOVERFLOW, dmaio_file_deallocate(F, 1, UINT64_MAX, NULL, NULL))
ROW(m6, -EINVAL, dmaio_file_hint_extent_size(F, SIZE_HUGE, NULL, NULL))
ROW(m7, -EOVERFLOW, dmaio_file_truncate(F, UINT64_MAX, NULL, NULL))
ROW(m8, -EBADF, dmaio_file_truncate(RO, 0, NULL, NULL))
ROW(m9, -EINVAL, dmaio_file_rename(F, NULL, NULL, NULL))
ROW(m10, -ENOENT, dmaio_file_rename(F, "", NULL, NULL))
ROW(m11, -EBADF, dmaio_file_rename(C, "x", NULL, NULL))
ROW(m12, -EBADF, dmaio_file_remove(C, NULL, NULL))
ROW(m13, -EINVAL, dmaio_file_size(NULL, NULL, NULL))
ROW(m14, -EBADF, dmaio_file_size(C, NULL, NULL))
ROW(m15, -EBADF, dmaio_file_fdatasync(C, NULL, NULL))
ROW(m16, -EBADF, dmaio_file_close(C, NULL, NULL))
ROW(m17, -EINVAL, dmaio_file_close(NULL, NULL, NULL))
ROW(m18, -EBADF, dmaio_file_fd(C))
ROW(m19, -EINVAL, dmaio_file_truncate_wait(NULL, 0))
/* 1.1: write_copy, durable names */
ROW(c1, -EINVAL, dmaio_file_write_copy(NULL, 0, "x", 1, NULL, NULL))
ROW(c2, -EINVAL, dmaio_file_write_copy(F, 0, NULL, 1, NULL, NULL))
ROW(c3, -EOVERFLOW, dmaio_file_write_copy(F, INT64_MAX, "x", 1, NULL, NULL))
ROW(c4, -EOVERFLOW, dmaio_file_write_copy(F, 1, "x", SIZE_MAX, NULL, NULL))
ROW(c5, -ENOMEM, dmaio_file_write_copy(F, 0, "x", SIZE_HUGE, NULL, NULL))
ROW(c6, -EBADF, dmaio_file_write_copy(RO, 0, "x", 1, NULL, NULL))
ROW(c7, -EBADF, dmaio_file_write_copy(WO, 1, "x", 1, NULL, NULL))
ROW(c8, -EBADF, dmaio_file_write_copy(C, 0, "x", 1, NULL, NULL))
ROW(c9, -EINVAL, dmaio_file_write_copy_wait(NULL, 0, "x", 1))
ROW(ds1, -EINVAL, dmaio_dir_sync(NULL, "/", NULL, NULL))
ROW(ds2, -EINVAL, dmaio_dir_sync(L, NULL, NULL, NULL))
ROW(ds3, -ENOENT, dmaio_dir_sync(L, "", NULL, NULL))
ROW(ds4, -EINVAL, dmaio_dir_sync_wait(NULL, "/"))
ROW(ds5, -EINVAL, dmaio_file_sync_parent(NULL, NULL, NULL))
ROW(ds6, -EBADF, dmaio_file_sync_parent(C, NULL, NULL))
ROW(ds7, -EINVAL, dmaio_file_sync_parent_wait(NULL))
/* read_many */
ROW(n1, -EINVAL, dmaio_file_read_many(F, IOV, 0, NULL, NULL, NULL))
ROW(n2, -EINVAL, dmaio_file_read_many(F, NULL, 1, NULL, NULL, NULL))
ROW(n3, -EINVAL, dmaio_file_read_many(F, IOV, 2, NULL, NULL, NULL))
ROW(n4, -EBADF, dmaio_file_read_many(WO, IOV, 1, NULL, NULL, NULL))
ROW(n5, -EBADF, dmaio_file_read_many(C, IOV, 1, NULL, NULL, NULL))
ROW(n6, -ENOMEM, dmaio_file_read_many(F, IOV, SIZE_MAX / 8, NULL, NULL, NULL))
/* streams */
ROW(s1, -EINVAL, dmaio_writer_new(NULL, NULL, &W))
ROW(s2, -EBADF, dmaio_writer_new(RO, NULL, &W))
ROW(s3, -EBADF, dmaio_writer_new(C, NULL, &W))
ROW(s4, -EINVAL, dmaio_writer_new(F, NULL, NULL))
ROW(s5, -EINVAL, dmaio_writer_write(NULL, "x", 1))
ROW(s6, -EINVAL, dmaio_writer_flush(NULL, NULL, NULL))
ROW(s7, -EINVAL, dmaio_writer_close(NULL, NULL, NULL))
ROW(s8, -EINVAL, dmaio_reader_new(NULL, NULL, &R))
ROW(s9, -EBADF, dmaio_reader_new(WO, NULL, &R))
ROW(s10, -EINVAL, dmaio_reader_get_buffer(NULL, 1, NULL, NULL))
ROW(s11, -EINVAL, dmaio_reader_skip(NULL, 1))
ROW(s12, -EINVAL, dmaio_reader_close(NULL, NULL, NULL))
ROW(s13, -EINVAL, dmaio_reader_read_wait(NULL, "x", 1))
ROW(s14, -EINVAL, dmaio_writer_new(F, &WFLAG, &W))
ROW(s15, -EINVAL, dmaio_writer_new(F, &WBOTH, &W))
ROW(s16, -EOVERFLOW, dmaio_writer_new(F, &WFAR, &W))
ROW(s17, -EBADF, dmaio_writer_new(WO, &WMID, &W))
ROW(s18, 0, dmaio_writer_synced_position(NULL))
ROW(s19, -EINVAL, dmaio_reader_read(NULL, &BYTE, 1, NULL, NULL))
ROW(s20, -EINVAL, dmaio_reader_read(RD, NULL, 1, NULL, NULL))
ROW(s21, -EINVAL, dmaio_reader_read(RD, &BYTE, 0, NULL, NULL))

static const struct row rows[] = {
#define R(n, w) { #n, n, w, n##_expr }
	R(r1, -EINVAL), R(r2, -EINVAL), R(r3, -EINVAL), R(r4, -EINVAL),
	R(r5, -EINVAL), R(r6, -EBADF), R(r7, -EINVAL), R(r8, -ENOENT),
	R(r9, -EINVAL), R(r10, -ENOENT), R(r11, -EINVAL), R(r12, -EINVAL),
	R(r13, -EINVAL), R(r14, -EINVAL), R(r15, -EINVAL),
	R(o1, -EINVAL), R(o2, -EINVAL), R(o3, -ENOENT), R(o4, -EINVAL),
	R(o5, -EINVAL), R(o6, -EINVAL),
	R(b1, 0), R(b2, 0), R(b3, 0), R(b4, 0), R(b5, -EINVAL),
	R(b6, -EINVAL), R(b7, 0), R(b8, 0),
	R(w1, -EINVAL), R(w2, -EINVAL), R(w3, -EINVAL), R(w4, -EINVAL),
	R(w5, -EOVERFLOW), R(w6, -EOVERFLOW), R(w7, -EBADF), R(w8, -EBADF),
	R(w9, -EINVAL),
	R(d1, -EINVAL), R(d2, -EOVERFLOW), R(d3, -EOVERFLOW), R(d4, -EOVERFLOW),
	R(d5, -ENOMEM), R(d6, -EINVAL), R(d7, -EBADF), R(d8, -EBADF),
	R(d9, -EINVAL),
	R(m1, -EINVAL), R(m2, -EOVERFLOW), R(m3, -EBADF), R(m4, -EINVAL),
	R(m5, -EOVERFLOW), R(m6, -EINVAL), R(m7, -EOVERFLOW), R(m8, -EBADF),
	R(m9, -EINVAL), R(m10, -ENOENT), R(m11, -EBADF), R(m12, -EBADF),
	R(m13, -EINVAL), R(m14, -EBADF), R(m15, -EBADF), R(m16, -EBADF),
	R(m17, -EINVAL), R(m18, -EBADF), R(m19, -EINVAL),
	R(c1, -EINVAL), R(c2, -EINVAL), R(c3, -EOVERFLOW), R(c4, -EOVERFLOW),
	R(c5, -ENOMEM), R(c6, -EBADF), R(c7, -EBADF), R(c8, -EBADF),
	R(c9, -EINVAL),
	R(ds1, -EINVAL), R(ds2, -EINVAL), R(ds3, -ENOENT), R(ds4, -EINVAL),
	R(ds5, -EINVAL), R(ds6, -EBADF), R(ds7, -EINVAL),
	R(n1, -EINVAL), R(n2, -EINVAL), R(n3, -EINVAL), R(n4, -EBADF),
	R(n5, -EBADF), R(n6, -ENOMEM),
	R(s1, -EINVAL), R(s2, -EBADF), R(s3, -EBADF), R(s4, -EINVAL),
	R(s5, -EINVAL), R(s6, -EINVAL), R(s7, -EINVAL), R(s8, -EINVAL),
	R(s9, -EBADF), R(s10, -EINVAL), R(s11, -EINVAL), R(s12, -EINVAL),
	R(s13, -EINVAL), R(s14, -EINVAL), R(s15, -EINVAL), R(s16, -EOVERFLOW),
	R(s17, -EBADF), R(s18, 0), R(s19, -EINVAL), R(s20, -EINVAL),
	R(s21, -EINVAL),
#undef R
};

static void setup(void)
{
	tu_dir_setup();
	L = tu_loop(0, 0);
	tu_make_file(tu_path("f"), 65536, 91);
	ck_assert_int_eq(dmaio_file_open_flags_wait(L, tu_path("f"), O_RDWR, 0, &F), 0);
	ck_assert_int_eq(dmaio_file_open_wait(L, tu_path("f"), &RO), 0);
	ck_assert_int_eq(dmaio_file_open_flags_wait(L, tu_path("f"), O_WRONLY, 0, &WO), 0);
	ck_assert_int_eq(dmaio_file_open_wait(L, tu_path("f"), &C), 0);
	B = dmaio_file_alloc_buf(F, 4096);
	ODD = dmaio_file_alloc_buf(F, 4096);
	memset(dmaio_buf_data(B), 0, 4096);
	ck_assert_int_eq(dmaio_buf_trim(ODD, 100), 0);
	{ /* before C's close: the loop runs while it opens */
		struct dmaio_reader_opts ro;
		struct dmaio_file *rf;

		dmaio_reader_opts_init(&ro);
		ro.read_ahead = 0;
		ck_assert_int_eq(dmaio_file_open_wait(L, tu_path("f"), &rf), 0);
		ck_assert_int_eq(dmaio_reader_new(rf, &ro, &RD), 0);
	}
	ck_assert_int_eq(dmaio_file_close(C, NULL, NULL), 0); /* closing */
	dmaio_writer_opts_init(&WFLAG);
	WFLAG.flags = 2;
	dmaio_writer_opts_init(&WBOTH);
	WBOTH.flags = DMAIO_WRITER_APPEND;
	WBOTH.start = 1;
	dmaio_writer_opts_init(&WFAR);
	WFAR.start = (uint64_t)INT64_MAX + 1;
	dmaio_writer_opts_init(&WMID);
	WMID.start = 100;
}

static void teardown(void)
{
	dmaio_buf_unref(B);
	dmaio_buf_unref(ODD);
	dmaio_loop_free(L); /* closes F, RO, WO; finishes C */
	tu_dir_teardown();
}

/*
 * The name dmaio_last_error() gives a call: "dmaio_file_read_at_wait("
 * says "read_at", as in "read_at: pos 7 is not a multiple of ...".
 */
static void call_name(const char *expr, char *name, size_t len)
{
	const char *p = strstr(expr, "dmaio_");
	size_t n;

	p += strlen("dmaio_");
	if (!strncmp(p, "file_", 5))
		p += 5;
	if (!strncmp(p, "loop_", 5) && strncmp(p, "loop_new", 8) &&
	    strncmp(p, "loop_fd", 7))
		p += 5;
	n = strcspn(p, "(");
	if (n > 5 && !strncmp(p + n - 5, "_wait", 5))
		n -= 5; /* a twin may report its inner call */
	/* open, open_flags and create are one call underneath */
	if (!strncmp(p, "create", 6) || !strncmp(p, "open", 4))
		n = 4, p = "open";
	if (n >= len)
		n = len - 1;
	memcpy(name, p, n);
	name[n] = 0;
}

/* Something else that fails, so that a stale message cannot pass. */
static void set_other_error(const char *name)
{
	if (strcmp(name, "unwatch"))
		ck_assert_int_eq(dmaio_loop_unwatch(NULL, 0), -EINVAL);
	else
		ck_assert_int_eq(dmaio_loop_run(NULL), -EINVAL);
}

START_TEST(every_bad_input_is_refused)
{
	struct dmaio_file *before = F;
	char name[64], other[512];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t got;

		call_name(rows[i].expr, name, sizeof(name));
		set_other_error(name);
		snprintf(other, sizeof(other), "%s", dmaio_last_error());
		got = rows[i].call();
		ck_assert_msg(got == rows[i].want, "%s: %lld (%s), want %lld",
			      rows[i].what, (long long)got,
			      dmaio_strerror((int)got), (long long)rows[i].want);
		/* accessors that return NULL or 0 have nothing to explain */
		if (rows[i].want == 0 && strstr(rows[i].expr, "alloc_buf") == NULL)
			continue;
		ck_assert_msg(strcmp(dmaio_last_error(), other) != 0 &&
				      strstr(dmaio_last_error(), name) != NULL,
			      "%s: %s: dmaio_last_error() says \"%s\", not why "
			      "%s failed", rows[i].what, rows[i].expr,
			      dmaio_last_error(), name);
	}
	/* none of them started anything but the close already under way */
	ck_assert_uint_eq(dmaio_loop_pending(L), 1);
	ck_assert_ptr_eq(F, before);
	ck_assert_int_eq(dmaio_loop_run(L), 0);
}
END_TEST

/* errors only the kernel can find come through the callback */
START_TEST(paths_that_do_not_exist_or_are_directories)
{
	struct dmaio_file *out = (struct dmaio_file *)1;

	ck_assert_int_eq(dmaio_file_open_wait(L, tu_path("nope"), &out), -ENOENT);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(dmaio_file_open_wait(L, tu_dir, &out), -EISDIR);
	ck_assert_int_eq(dmaio_file_create_wait(L, tu_dir, &out), -EISDIR);
	ck_assert_int_eq(dmaio_file_create_wait(L, tu_path("a/b"), &out), -ENOENT);
	ck_assert_int_eq(dmaio_file_rename_wait(F, tu_path("a/b")), -ENOENT);
	ck_assert_int_eq(dmaio_dir_sync_wait(L, tu_path("nope")), -ENOENT);
	ck_assert_int_eq(dmaio_dir_sync_wait(L, tu_path("f")), -ENOTDIR);
	ck_assert_str_eq(dmaio_file_path(F), tu_path("f"));
}
END_TEST

static void on_one(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	unsigned char *seen = arg;

	ck_assert_int_eq(seen[idx], 0);
	seen[idx] = (unsigned char)(res == 1 ? 1 : 2);
	dmaio_view_release(v);
}

START_TEST(read_many_a_million)
{
	const size_t n = 1000000;
	struct dmaio_iovec *iov = malloc(n * sizeof(*iov));
	unsigned char *seen = calloc(n, 1);
	size_t i;

	for (i = 0; i < n; i++) {
		iov[i].pos = (i * 7919) % 65536;
		iov[i].len = 1;
	}
	ck_assert_int_eq(dmaio_file_read_many(F, iov, n, NULL, on_one, seen), 0);
	free(iov); /* copied: the caller's array is free to go */
	ck_assert_int_eq(dmaio_loop_run(L), 0);
	for (i = 0; i < n; i++)
		if (seen[i] != 1)
			break;
	ck_assert_msg(i == n, "range %zu: %d", i, i < n ? seen[i] : 0);
	free(seen);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bad_input");
	TCase *tc = tu_tcase(s, "bad_input");

	tcase_add_checked_fixture(tc, setup, teardown);
	TU_ADD(tc, every_bad_input_is_refused);
	TU_ADD(tc, paths_that_do_not_exist_or_are_directories);
	TU_ADD(tc, read_many_a_million);
	return tu_run(s);
}
