/* SPDX-License-Identifier: MIT */
/*
 * copy_range (1.3) on XFS, ext4, tmpfs and the build directory's file
 * system, under every profile and with copy_file_range turned off: whole
 * files, unaligned positions and lengths into a file that has bytes
 * around the range, the source's EOF, one file to itself. The copies are
 * compared with cmp(1); the bytes around them with buffered reads.
 */
#include "testutil.h"
#include "fsdirs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SRC_SIZE ((3 << 20) + 1234)

/* The profiles, and each with copy_file_range turned off too. */
static uint64_t disable_of(int i)
{
	return i < TU_NPROFILES ? tu_profile_disable[i]
				: tu_profile_disable[i - TU_NPROFILES] |
				  DMAIO_FEAT_COPY_RANGE;
}

/* cmp(1): n bytes of a at skip_a against b at skip_b are the same. */
static int cmp_range(const char *a, long long skip_a, const char *b,
		     long long skip_b, long long n)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cmp -s -i %lld:%lld -n %lld '%s' '%s'",
		 skip_a, skip_b, n, a, b);
	return system(cmd) == 0;
}

static long long size_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (long long)st.st_size;
}

/* What a command printed contains needle. */
static int cmd_says(const char *cmd, const char *needle)
{
	char out[8192];
	FILE *p = popen(cmd, "r");
	size_t n;

	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	return strstr(out, needle) != NULL;
}

/*
 * On XFS with reflink a copy in the kernel shares the source's extents
 * (filefrag says "shared"); through the loop it writes blocks of its own.
 */
static void check_sharing(int fs, const char *dst, int kernel)
{
	char cmd[PATH_MAX + 64];

	if (tu_fs[fs].kind != TU_FS_XFS)
		return;
	snprintf(cmd, sizeof(cmd), "xfs_info '%s' 2>&1", tu_fs[fs].dir);
	if (!cmd_says(cmd, "reflink=1"))
		return;
	snprintf(cmd, sizeof(cmd), "filefrag -v '%s' 2>&1", dst);
	ck_assert_int_eq(cmd_says(cmd, "shared"), kernel);
}

static struct dmaio_file *open_rw(struct dmaio_loop *loop, const char *path)
{
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, path,
						    O_RDWR | O_CREAT, 0644,
						    &f), 0);
	return f;
}

START_TEST(copies)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		char src[PATH_MAX], dst[PATH_MAX];
		struct dmaio_file *s, *d;
		const long long len = (1 << 20) + 777;

		if (!tu_fs[fs].up)
			continue;
		snprintf(src, sizeof(src), "%s", tu_fs_path(fs, "src", _i));
		snprintf(dst, sizeof(dst), "%s", tu_fs_path(fs, "dst", _i));
		tu_make_file(src, SRC_SIZE, 1);
		ck_assert_int_eq(dmaio_file_open_wait(loop, src, &s), 0);

		/* the whole file, into a new one */
		d = open_rw(loop, dst);
		ck_assert_int_eq(dmaio_file_copy_range_wait(d, 0, s, 0,
							    SRC_SIZE),
				 SRC_SIZE);
		ck_assert_int_eq(size_of(dst), SRC_SIZE);
		ck_assert_msg(cmp_range(src, 0, dst, 0, SRC_SIZE), "%s: whole",
			      tu_fs[fs].name);
		check_sharing(fs, dst, (dmaio_loop_features(loop) &
					DMAIO_FEAT_COPY_RANGE) != 0);
		ck_assert_int_eq(dmaio_file_close_wait(d), 0);

		/* unaligned both ends, inside a file of other bytes */
		tu_make_file(dst, 2 << 20, 2);
		d = open_rw(loop, dst);
		ck_assert_int_eq(dmaio_file_copy_range_wait(d, 5000, s, 1000,
							    (uint64_t)len),
				 len);
		ck_assert_int_eq(size_of(dst), 2 << 20);
		ck_assert_msg(cmp_range(src, 1000, dst, 5000, len),
			      "%s: unaligned", tu_fs[fs].name);
		tu_check_file(dst, 0, 5000, 2);
		tu_check_file(dst, 5000 + len, 2 << 20, 2);

		/* past the destination's end: it ends exactly there */
		ck_assert_int_eq(dmaio_file_copy_range_wait(d, (2 << 20) + 3,
							    s, 7, 10000),
				 10000);
		ck_assert_int_eq(size_of(dst), (2 << 20) + 10003);
		ck_assert_msg(cmp_range(src, 7, dst, (2 << 20) + 3, 10000),
			      "%s: past the end", tu_fs[fs].name);
		ck_assert_int_eq(dmaio_file_close_wait(d), 0);

		/* the source's EOF: what there is */
		ck_assert_int_eq(unlink(dst), 0);
		d = open_rw(loop, dst);
		ck_assert_int_eq(dmaio_file_copy_range_wait(d, 0, s,
							    SRC_SIZE - 100,
							    1 << 20), 100);
		ck_assert_int_eq(size_of(dst), 100);
		ck_assert(cmp_range(src, SRC_SIZE - 100, dst, 0, 100));
		ck_assert_int_eq(dmaio_file_copy_range_wait(d, 0, s,
							    SRC_SIZE + 10, 5),
				 0);
		ck_assert_int_eq(dmaio_file_copy_range_wait(d, 0, s, 0, 0), 0);
		ck_assert_int_eq(size_of(dst), 100);
		ck_assert_int_eq(dmaio_file_close_wait(d), 0);
		ck_assert_int_eq(dmaio_file_close_wait(s), 0);
		ck_assert_int_eq(unlink(src), 0);
		ck_assert_int_eq(unlink(dst), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

/* Within one file: ranges apart are copied, overlapping ones refused. */
START_TEST(one_file)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct dmaio_file *f;

	tu_make_file(tu_path("one"), 1 << 20, 3);
	f = open_rw(loop, tu_path("one"));
	ck_assert_int_eq(dmaio_file_copy_range_wait(f, 600000, f, 10, 300000),
			 300000);
	ck_assert(cmp_range(tu_path("one"), 10, tu_path("one"), 600000,
			    300000));
	tu_check_file(tu_path("one"), 0, 600000, 3);
	tu_check_file(tu_path("one"), 900000, 1 << 20, 3);
	ck_assert_int_eq(dmaio_file_copy_range(f, 100, f, 0, 200, NULL, NULL),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "overlap"));
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(refusals)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct dmaio_loop *other = tu_loop(disable_of(_i), 0);
	struct dmaio_file *ro, *rw, *far;

	tu_make_file(tu_path("a"), 4096, 1);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("a"), &ro), 0);
	rw = open_rw(loop, tu_path("b"));
	far = open_rw(other, tu_path("c"));
	ck_assert_int_eq(dmaio_file_copy_range(ro, 0, rw, 0, 1, NULL, NULL),
			 -EBADF);
	ck_assert_int_eq(dmaio_file_copy_range(rw, 0, far, 0, 1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_copy_range(rw, 0, ro, INT64_MAX, 2, NULL,
					       NULL), -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_copy_range(rw, INT64_MAX, ro, 0, 2, NULL,
					       NULL), -EOVERFLOW);
	/* the largest offset itself, with nothing to copy, is no overflow */
	ck_assert_int_eq(dmaio_file_copy_range_wait(rw, INT64_MAX, ro, 0, 0),
			 0);
	ck_assert_int_eq(dmaio_file_copy_range_wait(rw, 0, ro, INT64_MAX, 0),
			 0);
	ck_assert_int_eq(dmaio_file_copy_range(NULL, 0, ro, 0, 1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_copy_range(rw, 0, NULL, 0, 1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_close_wait(ro), 0);
	ck_assert_int_eq(dmaio_file_close_wait(rw), 0);
	ck_assert_int_eq(dmaio_file_close_wait(far), 0);
	dmaio_loop_free(other);
	dmaio_loop_free(loop);
}
END_TEST

struct seq {
	int n, copy_at, close_at;
	int64_t copy_res, close_res;
	struct dmaio_file *d, *s;
};

static void on_copy(void *arg, int64_t res)
{
	struct seq *q = arg;

	q->copy_res = res;
	q->copy_at = ++q->n;
}

static void on_res(void *arg, int64_t res)
{
	*(int64_t *)arg = res;
}

static void on_close(void *arg, int64_t res)
{
	struct seq *q = arg;

	q->close_res = res;
	q->close_at = ++q->n;
}

/* close of either file waits for a copy that uses it. */
START_TEST(close_waits_for_copy)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct seq q = { 0, 0, 0, 1, 1, NULL, NULL };
	int64_t dres = 1;

	tu_make_file(tu_path("s"), SRC_SIZE, 4);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("s"), &q.s), 0);
	q.d = open_rw(loop, tu_path("d"));
	ck_assert_int_eq(dmaio_file_copy_range(q.d, 0, q.s, 0, SRC_SIZE,
					       on_copy, &q), 0);
	ck_assert_int_eq(dmaio_file_close(q.s, on_close, &q), 0);
	ck_assert_int_eq(dmaio_file_close(q.d, on_res, &dres), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(q.copy_res, SRC_SIZE);
	ck_assert_int_eq(q.copy_at, 1);
	ck_assert_int_eq(q.close_at, 2);
	ck_assert_int_eq(q.close_res, 0);
	ck_assert_int_eq(dres, 0);
	ck_assert(cmp_range(tu_path("s"), 0, tu_path("d"), 0, SRC_SIZE));
	dmaio_loop_free(loop);
}
END_TEST

static void on_chained(void *arg, int64_t res)
{
	struct seq *q = arg;

	q->close_res = res;
	q->close_at = ++q->n;
}

static void on_first(void *arg, int64_t res)
{
	struct seq *q = arg;

	q->copy_res = res;
	q->copy_at = ++q->n;
	/* the second half, from the first one's callback */
	ck_assert_int_eq(dmaio_file_copy_range(q->d, 50000, q->s, 50000,
					       50000, on_chained, q), 0);
	ck_assert_int_eq(dmaio_file_copy_range_wait(q->d, 0, q->s, 0, 1),
			 -EDEADLK);
}

START_TEST(from_a_callback)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct seq q = { 0, 0, 0, 1, 1, NULL, NULL };

	tu_make_file(tu_path("s"), 100000, 5);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("s"), &q.s), 0);
	q.d = open_rw(loop, tu_path("d"));
	ck_assert_int_eq(dmaio_file_copy_range(q.d, 0, q.s, 0, 50000,
					       on_first, &q), 0);
	ck_assert_int_eq(q.n, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(q.copy_res, 50000);
	ck_assert_int_eq(q.close_res, 50000);
	ck_assert_int_eq(q.n, 2);
	ck_assert_int_eq(size_of(tu_path("d")), 100000);
	ck_assert(cmp_range(tu_path("s"), 0, tu_path("d"), 0, 100000));
	ck_assert_int_eq(dmaio_file_close_wait(q.s), 0);
	ck_assert_int_eq(dmaio_file_close_wait(q.d), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("copy_range");
	TCase *tc = tu_tcase(s, "copy_range");
	const char *labels[2 * TU_NPROFILES];
	int ret;

	tu_twice_labels(labels, "no copy_file_range");
	tu_fs_setup("test_copy_range");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES_TWICE(tc, copies, labels);
	TU_ADD_PROFILES_TWICE(tc, one_file, labels);
	TU_ADD_PROFILES_TWICE(tc, refusals, labels);
	TU_ADD_PROFILES_TWICE(tc, close_waits_for_copy, labels);
	TU_ADD_PROFILES_TWICE(tc, from_a_callback, labels);
	ret = tu_run(s);
	tu_fs_teardown();
	return ret;
}
