/* SPDX-License-Identifier: MIT */
/*
 * Caller memory: read_into, write_from, readv, writev and the _wait
 * twins. Round trips, EOF clamping, reads and vectors larger than the
 * device's largest request, size 0, every refusal with its reason, and
 * calls made from callbacks. Every test runs under every kernel-feature
 * profile and on the buffered fallback in the test directory, and once
 * more on loop-mounted ext4 and XFS images.
 */
#include "testutil.h"
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define MEM_ALIGN 4096

static char ext4_dir[PATH_MAX], xfs_dir[PATH_MAX];

static void *amem(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, MEM_ALIGN, len ? len : 1), 0);
	memset(p, 0, len);
	return p;
}

static struct dmaio_file *create(struct dmaio_loop *loop, const char *name)
{
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path(name), &f), 0);
	return f;
}

struct res {
	int calls;
	int64_t res;
	int inside;   /* set while the submitting call runs */
	int called_inside;
};

static void on_res(void *arg, int64_t res)
{
	struct res *r = arg;

	r->calls++;
	r->res = res;
	r->called_inside |= r->inside;
}

/* write_from and read_into round trip, at an offset, async and _wait. */
START_TEST(round_trip)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = create(loop, "rt");
	size_t len = 64 * 1024;
	char *out = amem(len), *in = amem(len);
	struct res r = { 0 };

	ck_assert_int_eq(dmaio_file_is_direct(f), _i != BUFFERED_RUN);
	tu_fill(out, len, 8192, 3);
	ck_assert_int_eq(dmaio_file_write_from_wait(f, 8192, out, len),
			 (int64_t)len);
	ck_assert_int_eq(dmaio_file_size_wait(f), (int64_t)(8192 + len));
	ck_assert_int_eq(dmaio_file_read_into_wait(f, 8192, in, len),
			 (int64_t)len);
	ck_assert_int_eq(tu_check(in, len, 8192, 3), -1);

	/* async: called back from the loop, never from inside the call */
	memset(in, 0, len);
	r.inside = 1;
	ck_assert_int_eq(dmaio_file_read_into(f, 8192, in, len, on_res, &r), 0);
	r.inside = 0;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.called_inside, 0);
	ck_assert_int_eq(r.res, (int64_t)len);
	ck_assert_int_eq(tu_check(in, len, 8192, 3), -1);
	/* a hole before the data reads as zeros */
	ck_assert_int_eq(dmaio_file_read_into_wait(f, 0, in, 8192), 8192);
	ck_assert_int_eq(tu_first_nonzero(in, 8192), -1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(out);
	free(in);
	dmaio_loop_free(loop);
}
END_TEST

/* Vectors: writev of scattered pieces, readv into others, checked. */
START_TEST(vectors)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = create(loop, "vec");
	size_t a = dmaio_file_alignment(f);
	size_t lens[4] = { a, 4 * a, 2 * a, a };
	struct iovec wv[4], rv[3];
	size_t total = 8 * a, off = 0;
	char *flat = amem(total), *back = amem(total);
	struct res r = { 0 };
	int i;

	tu_fill(flat, total, 0, 5);
	for (i = 0; i < 4; i++) {
		wv[i].iov_base = amem(lens[i]);
		wv[i].iov_len = lens[i];
		memcpy(wv[i].iov_base, flat + off, lens[i]);
		off += lens[i];
	}
	r.inside = 1;
	ck_assert_int_eq(dmaio_file_writev(f, 0, wv, 4, on_res, &r), 0);
	r.inside = 0;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.called_inside, 0);
	ck_assert_int_eq(r.res, (int64_t)total);
	ck_assert_int_eq(dmaio_file_read_into_wait(f, 0, back, total),
			 (int64_t)total);
	ck_assert_int_eq(tu_check(back, total, 0, 5), -1);

	/* read back in three other pieces */
	rv[0].iov_base = back;
	rv[0].iov_len = 3 * a;
	rv[1].iov_base = back + 3 * a;
	rv[1].iov_len = 0; /* an empty element is aligned too */
	rv[2].iov_base = back + 3 * a;
	rv[2].iov_len = 5 * a;
	memset(back, 0, total);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(dmaio_file_readv(f, 0, rv, 3, on_res, &r), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.res, (int64_t)total);
	ck_assert_int_eq(tu_check(back, total, 0, 5), -1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	for (i = 0; i < 4; i++)
		free(wv[i].iov_base);
	free(flat);
	free(back);
	dmaio_loop_free(loop);
}
END_TEST

/* Reads are clamped at EOF, vectored ones too; past EOF is 0. */
START_TEST(eof_clamp)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f;
	size_t len = 16384;
	char *in = amem(len);
	struct iovec v[2];
	struct res r = { 0 };

	tu_make_file(tu_path("eof"), 10000, 7);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("eof"), &f), 0);
	ck_assert_int_eq(dmaio_file_read_into_wait(f, 0, in, len), 10000);
	ck_assert_int_eq(tu_check(in, 10000, 0, 7), -1);
	ck_assert_int_eq(dmaio_file_read_into_wait(f, 16384, in, 4096), 0);
	v[0].iov_base = in;
	v[0].iov_len = 8192;
	v[1].iov_base = in + 8192;
	v[1].iov_len = 8192;
	memset(in, 0, len);
	ck_assert_int_eq(dmaio_file_readv(f, 0, v, 2, on_res, &r), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.res, 10000);
	ck_assert_int_eq(tu_check(in, 10000, 0, 7), -1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(in);
	dmaio_loop_free(loop);
}
END_TEST

/* Larger than the device's largest request: split, and whole again. */
START_TEST(split_large)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = create(loop, "big");
	size_t max = dmaio_file_max_io(f);
	size_t len = 2 * max + 3 * MEM_ALIGN;
	char *out = amem(len), *in = amem(len);
	struct iovec v[2];
	struct res r = { 0 };

	tu_fill(out, len, 0, 9);
	ck_assert_int_eq(dmaio_file_write_from_wait(f, 0, out, len),
			 (int64_t)len);
	ck_assert_int_eq(dmaio_file_read_into_wait(f, 0, in, len),
			 (int64_t)len);
	ck_assert_int_eq(tu_check(in, len, 0, 9), -1);
	/* a vector whose first element alone is over the limit */
	memset(in, 0, len);
	v[0].iov_base = in;
	v[0].iov_len = max + MEM_ALIGN;
	v[1].iov_base = in + max + MEM_ALIGN;
	v[1].iov_len = len - (max + MEM_ALIGN);
	ck_assert_int_eq(dmaio_file_readv(f, 0, v, 2, on_res, &r), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.res, (int64_t)len);
	ck_assert_int_eq(tu_check(in, len, 0, 9), -1);
	/* and the file is larger than what a second read asks past EOF */
	ck_assert_int_eq(dmaio_file_read_into_wait(f, len - MEM_ALIGN, in,
						   max + MEM_ALIGN),
			 MEM_ALIGN);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(out);
	free(in);
	dmaio_loop_free(loop);
}
END_TEST

/* Size 0 completes with 0, from the loop; so does a vector of empties. */
START_TEST(size_zero)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = create(loop, "zero");
	struct res r = { 0 }, w = { 0 };
	struct iovec v[2] = { { NULL, 0 }, { NULL, 0 } }, *many;

	r.inside = w.inside = 1;
	ck_assert_int_eq(dmaio_file_read_into(f, 0, NULL, 0, on_res, &r), 0);
	ck_assert_int_eq(dmaio_file_writev(f, 4096, v, 2, on_res, &w), 0);
	r.inside = w.inside = 0;
	ck_assert_int_eq(r.calls + w.calls, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(r.res, 0);
	ck_assert_int_eq(w.res, 0);
	ck_assert_int_eq(dmaio_file_write_from_wait(f, 0, NULL, 0), 0);
	/* IOV_MAX elements are taken (empty ones: nothing to write) */
	many = calloc(IOV_MAX, sizeof(*many));
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dmaio_file_writev(f, 0, many, IOV_MAX, on_res, &w),
			 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(w.res, 0);
	free(many);
	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* -EINVAL, -EOVERFLOW, -EBADF, each with its reason. */
static void refused(int ret, int want, const char *word)
{
	ck_assert_int_eq(ret, want);
	ck_assert_msg(strstr(dmaio_last_error(), word) != NULL,
		      "reason \"%s\" does not say \"%s\"", dmaio_last_error(),
		      word);
}

START_TEST(refusals)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = create(loop, "bad"), *ro, *wo;
	size_t a = dmaio_file_alignment(f);
	char *m = amem(4 * a);
	struct iovec v[2], *many;

	refused(dmaio_file_read_into(f, 0, m + 1, a, NULL, NULL), -EINVAL,
		"not aligned");
	refused(dmaio_file_write_from(f, 0, m, a + 1, NULL, NULL), -EINVAL,
		"multiple");
	refused(dmaio_file_read_into(f, 1, m, a, NULL, NULL), -EINVAL,
		"pos 1");
	refused(dmaio_file_read_into(f, 0, NULL, a, NULL, NULL), -EINVAL,
		"NULL");
	refused(dmaio_file_read_into(NULL, 0, m, a, NULL, NULL), -EINVAL,
		"file is NULL");
	refused(dmaio_file_write_from(f, (uint64_t)INT64_MAX - a + 1, m, a,
				      NULL, NULL), -EOVERFLOW, "largest");
	refused(dmaio_file_readv(f, 0, v, 0, NULL, NULL), -EINVAL,
		"iovcnt 0");
	refused(dmaio_file_readv(f, 0, NULL, 1, NULL, NULL), -EINVAL,
		"iov is NULL");
	many = calloc(IOV_MAX + 1, sizeof(*many));
	refused(dmaio_file_writev(f, 0, many, IOV_MAX + 1, NULL, NULL),
		-EINVAL, "IOV_MAX");
	free(many);
	v[0].iov_base = m;
	v[0].iov_len = a;
	v[1].iov_base = m + a;
	v[1].iov_len = a / 2;
	refused(dmaio_file_writev(f, 0, v, 2, NULL, NULL), -EINVAL, "iov[1]");
	v[1].iov_base = m + a + 8;
	v[1].iov_len = a;
	refused(dmaio_file_readv(f, 0, v, 2, NULL, NULL), -EINVAL, "iov[1]");
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("bad"), &ro), 0);
	refused(dmaio_file_write_from(ro, 0, m, a, NULL, NULL), -EBADF,
		"read-only");
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("bad"),
						    O_WRONLY, 0, &wo), 0);
	refused(dmaio_file_read_into(wo, 0, m, a, NULL, NULL), -EBADF,
		"write-only");
	ck_assert_int_eq(dmaio_file_close_wait(ro), 0);
	ck_assert_int_eq(dmaio_file_close_wait(wo), 0);
	ck_assert_int_eq(dmaio_file_close(f, NULL, NULL), 0);
	refused(dmaio_file_read_into(f, 0, m, a, NULL, NULL), -EBADF,
		"close");
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	free(m);
	dmaio_loop_free(loop);
}
END_TEST

/* From callbacks: each call started in another's callback; the _wait
 * twins there are -EDEADLK. */
struct chain {
	struct dmaio_file *f;
	char *out, *in;
	struct iovec v[2];
	size_t len;
	int step;
	int64_t res[4];
	int deadlk[2];
};

static void chain_next(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->res[c->step++] = res;
	switch (c->step) {
	case 1:
		c->deadlk[0] = (int)dmaio_file_read_into_wait(c->f, 0, c->in,
							      c->len);
		c->deadlk[1] = (int)dmaio_file_write_from_wait(c->f, 0,
							       c->out, c->len);
		ck_assert_int_eq(dmaio_file_read_into(c->f, 0, c->in, c->len,
						      chain_next, c), 0);
		break;
	case 2:
		ck_assert_int_eq(dmaio_file_writev(c->f, c->len, c->v, 2,
						   chain_next, c), 0);
		break;
	case 3:
		ck_assert_int_eq(dmaio_file_readv(c->f, 0, c->v, 2,
						  chain_next, c), 0);
		break;
	}
}

START_TEST(from_callbacks)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct chain c;

	memset(&c, 0, sizeof(c));
	c.f = create(loop, "chain");
	c.len = 8192;
	c.out = amem(c.len);
	c.in = amem(c.len);
	tu_fill(c.out, c.len, 0, 11);
	c.v[0].iov_base = c.out;
	c.v[0].iov_len = 4096;
	c.v[1].iov_base = c.out + 4096;
	c.v[1].iov_len = 4096;
	ck_assert_int_eq(dmaio_file_write_from(c.f, 0, c.out, c.len,
					       chain_next, &c), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.step, 4);
	ck_assert_int_eq(c.deadlk[0], -EDEADLK);
	ck_assert_int_eq(c.deadlk[1], -EDEADLK);
	ck_assert_int_eq(c.res[0], 8192);
	ck_assert_int_eq(c.res[1], 8192);
	ck_assert_int_eq(c.res[2], 8192);
	ck_assert_int_eq(c.res[3], 8192);
	ck_assert_int_eq(tu_check(c.in, c.len, 0, 11), -1);
	ck_assert_int_eq(dmaio_file_size_wait(c.f), 16384);
	ck_assert_int_eq(dmaio_file_close_wait(c.f), 0);
	free(c.out);
	free(c.in);
	dmaio_loop_free(loop);
}
END_TEST

/* The same tests in a directory of a mounted image. */
static void fs_setup(const char *mnt)
{
	snprintf(tu_dir, PATH_MAX, "%s/dmaio-test.XXXXXX", mnt);
	ck_assert_ptr_nonnull(mkdtemp(tu_dir));
}

static void ext4_setup(void)
{
	fs_setup(ext4_dir);
}

static void xfs_setup(void)
{
	fs_setup(xfs_dir);
}

static const char *const fs_names[] = {
	"round_trip", "vectors", "eof_clamp", "split_large", "size_zero",
	"from_callbacks",
};

#define ADD_FS(tc, fn, type)                                          \
	do {                                                          \
		char n_[128];                                         \
		snprintf(n_, sizeof(n_), "%s [%s]", #fn, type);       \
		tcase_add_loop_test(tc, fn, 0, 1);                    \
		tu_name(n_, 0, 1, NULL);                              \
	} while (0)

static void add_fs(Suite *s, const char *type, unsigned mb, char *dir,
		   void (*setup)(void), const char **why)
{
	TCase *tc;
	char name[128];
	size_t i;

	if (tu_mount_image(type, mb, dir, PATH_MAX, why)) {
		for (i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++) {
			snprintf(name, sizeof(name), "%s [%s]", fs_names[i],
				 type);
			tu_skip(name, *why);
		}
		return;
	}
	tc = tu_tcase(s, type);
	tcase_add_checked_fixture(tc, setup, tu_dir_teardown);
	ADD_FS(tc, round_trip, type);
	ADD_FS(tc, vectors, type);
	ADD_FS(tc, eof_clamp, type);
	ADD_FS(tc, split_large, type);
	ADD_FS(tc, size_zero, type);
	ADD_FS(tc, from_callbacks, type);
}

int main(void)
{
	Suite *s = suite_create("caller_mem");
	TCase *tc = tu_tcase(s, "caller_mem");
	const char *why_ext4 = NULL, *why_xfs = NULL;
	int ret;

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	ADD_RUNS(tc, round_trip);
	ADD_RUNS(tc, vectors);
	ADD_RUNS(tc, eof_clamp);
	ADD_RUNS(tc, split_large);
	ADD_RUNS(tc, size_zero);
	ADD_RUNS(tc, refusals);
	ADD_RUNS(tc, from_callbacks);
	add_fs(s, "ext4", 64, ext4_dir, ext4_setup, &why_ext4);
	add_fs(s, "xfs", 300, xfs_dir, xfs_setup, &why_xfs);
	ret = tu_run(s);
	if (!why_ext4)
		tu_umount_image(ext4_dir);
	if (!why_xfs)
		tu_umount_image(xfs_dir);
	return ret;
}
