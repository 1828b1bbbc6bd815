/* SPDX-License-Identifier: MIT */
/*
 * Metadata: pre_allocate, deallocate, truncate, rename, remove, size
 * (answered on the loop thread where fstat cannot block),
 * hint_extent_size, and their ordering against I/O. On loop-mounted XFS
 * and ext4 images (root only) the results are checked with stat and
 * xfs_io; elsewhere those tests are reported as skipped, with the reason.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static char xfs_dir[PATH_MAX], ext4_dir[PATH_MAX];
static int have_xfs, have_ext4; /* mounted */

static struct stat stat_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st;
}

START_TEST(size_and_truncate)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("t"));

	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	tu_write_pattern(f, 0, 16384, 1);
	ck_assert_int_eq(dmaio_file_size_wait(f), 16384);
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 5000), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 5000);
	ck_assert_int_eq(stat_of(tu_path("t")).st_size, 5000);
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 1 << 20), 0);
	ck_assert_int_eq(stat_of(tu_path("t")).st_size, 1 << 20);
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 0), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	ck_assert_int_eq(dmaio_file_truncate(f, (uint64_t)INT64_MAX + 1, NULL,
					     NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Barriers keep submission order: a truncate between two writes, all
 * submitted at once, acts after the first and before the second.
 */
START_TEST(truncate_orders_with_writes)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("o"));
	struct dmaio_buf *a = dmaio_file_alloc_buf(f, 65536);
	struct dmaio_buf *b = dmaio_file_alloc_buf(f, 4096);
	struct dmaio_view *v;
	const unsigned char *p;

	tu_fill(dmaio_buf_data(a), 65536, 0, 2);
	tu_fill(dmaio_buf_data(b), 4096, 8192, 3);
	ck_assert_int_eq(dmaio_file_write_at(f, a, 0, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_truncate(f, 4096, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_write_at(f, b, 8192, NULL, NULL), 0);
	dmaio_buf_unref(a);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 12288);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 12288, &v), 12288);
	p = dmaio_view_data(v);
	ck_assert_int_eq(tu_check(p, 4096, 0, 2), -1);
	ck_assert_int_eq(tu_first_nonzero(p + 4096, 4096), -1);
	ck_assert_int_eq(tu_check(p + 8192, 4096, 8192, 3), -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(rename_updates_path)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("before"));
	char after[PATH_MAX];
	struct stat st;

	snprintf(after, sizeof(after), "%s", tu_path("after"));
	tu_write_pattern(f, 0, 4096, 4);
	ck_assert_int_eq(dmaio_file_rename_wait(f, after), 0);
	ck_assert_str_eq(dmaio_file_path(f), after);
	ck_assert_int_eq(stat(tu_path("before"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(stat_of(after).st_size, 4096);
	/* a failed rename leaves the path alone */
	ck_assert_int_eq(dmaio_file_rename_wait(f, tu_path("no/such/dir")),
			 -ENOENT);
	ck_assert_str_eq(dmaio_file_path(f), after);
	ck_assert_int_eq(dmaio_file_rename(f, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_rename(f, "", NULL, NULL), -ENOENT);
	/* and the file is still the one we write */
	tu_write_pattern(f, 4096, 4096, 4);
	ck_assert_int_eq(stat_of(after).st_size, 8192);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_res(void *arg, int64_t res)
{
	int64_t *r = arg;

	*r = res;
}

/*
 * Renames and a remove submitted at once: each reads the path the one
 * before it left (the path is updated before the next one starts).
 */
START_TEST(renames_in_a_row)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("r1"));
	char r2[PATH_MAX], r3[PATH_MAX];
	int64_t res[3] = { 1, 1, 1 };
	struct stat st;

	snprintf(r2, sizeof(r2), "%s", tu_path("r2"));
	snprintf(r3, sizeof(r3), "%s", tu_path("r3"));
	ck_assert_int_eq(dmaio_file_rename(f, r2, on_res, &res[0]), 0);
	ck_assert_int_eq(dmaio_file_rename(f, r3, on_res, &res[1]), 0);
	ck_assert_int_eq(dmaio_file_remove(f, on_res, &res[2]), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(res[0], 0);
	ck_assert_int_eq(res[1], 0);
	ck_assert_int_eq(res[2], 0);
	ck_assert_str_eq(dmaio_file_path(f), r3);
	ck_assert_int_eq(stat(tu_path("r1"), &st), -1);
	ck_assert_int_eq(stat(r2, &st), -1);
	ck_assert_int_eq(stat(r3, &st), -1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(remove_keeps_file_usable)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("gone"));
	struct dmaio_view *v;
	struct stat st;

	tu_write_pattern(f, 0, 4096, 5);
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(stat(tu_path("gone"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* unlinked, still open: still ours to use */
	tu_write_pattern(f, 4096, 4096, 5);
	ck_assert_int_eq(dmaio_file_size_wait(f), 8192);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 8192, &v), 8192);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 8192, 0, 5), -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_remove_wait(f), -ENOENT);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(pre_allocate_and_deallocate)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("pa"));
	struct dmaio_file *ro;
	struct dmaio_view *v;
	const unsigned char *p;
	struct stat st;

	ck_assert_int_eq(dmaio_file_pre_allocate_wait(f, 0), -EINVAL);
	ck_assert_int_eq(dmaio_file_pre_allocate_wait(f, 1 << 20), 0);
	st = stat_of(tu_path("pa"));
	ck_assert_int_ge(st.st_size, 1 << 20);
	ck_assert_int_ge((long long)st.st_blocks * 512, 1 << 20);

	tu_write_pattern(f, 0, 1 << 20, 6);
	ck_assert_int_eq(dmaio_file_deallocate_wait(f, 256 << 10, 512 << 10),
			 0);
	st = stat_of(tu_path("pa"));
	ck_assert_int_eq(st.st_size, 1 << 20); /* KEEP_SIZE */
	ck_assert_int_le((long long)st.st_blocks * 512, (1 << 20) - (512 << 10));
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 1 << 20, &v), 1 << 20);
	p = dmaio_view_data(v);
	ck_assert_int_eq(tu_check(p, 256 << 10, 0, 6), -1);
	ck_assert_int_eq(tu_first_nonzero(p + (256 << 10), 512 << 10), -1);
	ck_assert_int_eq(tu_check(p + (768 << 10), 256 << 10, 768 << 10, 6),
			 -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_deallocate(f, 0, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_deallocate(f, INT64_MAX, 2, NULL, NULL),
			 -EOVERFLOW);

	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("pa"), &ro), 0);
	ck_assert_int_eq(dmaio_file_pre_allocate(ro, 4096, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_truncate(ro, 0, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_deallocate(ro, 0, 4096, NULL, NULL),
			 -EBADF);
	ck_assert_int_eq(dmaio_file_close_wait(ro), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* on real XFS and ext4 images                                         */

static int run_cmd_output(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	return pclose(p);
}

START_TEST(xfs_extent_hint_seen_by_xfs_io)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	char path[PATH_MAX], cmd[PATH_MAX + 64], out[256];
	struct dmaio_file *f;

	snprintf(path, sizeof(path), "%s/hint-%d", xfs_dir, _i);
	f = tu_create(loop, path);
	ck_assert_int_eq(dmaio_file_is_direct(f), 1);
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 1 << 20), 0);
	snprintf(cmd, sizeof(cmd), "xfs_io -c extsize %s", path);
	ck_assert_int_eq(run_cmd_output(cmd, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "[1048576]") != NULL, "xfs_io said: %s", out);
	/* XFS wants a multiple of its block size */
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 1000), -EINVAL);
	/* 0 clears it */
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 0), 0);
	ck_assert_int_eq(run_cmd_output(cmd, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "[0]") != NULL, "xfs_io said: %s", out);
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(xfs_pre_allocate_blocks)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	char path[PATH_MAX];
	struct dmaio_file *f;
	struct stat st;

	snprintf(path, sizeof(path), "%s/pa-%d", xfs_dir, _i);
	f = tu_create(loop, path);
	ck_assert_int_eq(dmaio_file_pre_allocate_wait(f, 8 << 20), 0);
	st = stat_of(path);
	ck_assert_int_eq(st.st_size, 8 << 20);
	ck_assert_int_ge((long long)st.st_blocks * 512, 8 << 20);
	ck_assert_int_eq(dmaio_file_deallocate_wait(f, 0, 4 << 20), 0);
	st = stat_of(path);
	ck_assert_int_eq(st.st_size, 8 << 20);
	ck_assert_int_le((long long)st.st_blocks * 512, 4 << 20);
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(ext4_extent_hint_is_eopnotsupp)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	char path[PATH_MAX];
	struct dmaio_file *f;

	snprintf(path, sizeof(path), "%s/hint-%d", ext4_dir, _i);
	f = tu_create(loop, path);
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 1 << 20),
			 -EOPNOTSUPP);
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* size: no helper-thread round trip where fstat cannot block          */

/* ext4, XFS, tmpfs, btrfs */
static int fstat_cannot_block(const char *dir)
{
	struct statfs sfs;

	ck_assert_int_eq(statfs(dir, &sfs), 0);
	switch ((uint32_t)sfs.f_type) {
	case 0xEF53u: case 0x58465342u: case 0x01021994u: case 0x9123683Eu:
		return 1;
	}
	return 0;
}

struct sizes {
	struct dmaio_file *f;
	int inside, called_inside, calls;
	int64_t res[2];
};

static void on_size(void *arg, int64_t res)
{
	struct sizes *z = arg;

	z->called_inside |= z->inside;
	z->res[z->calls++] = res;
	/* from a callback: another size, answered the same way */
	if (z->calls == 1)
		ck_assert_int_eq(dmaio_file_size(z->f, on_size, z), 0);
}

static void size_path(struct dmaio_loop *loop, const char *dir, int n)
{
	char path[PATH_MAX];
	struct sizes z;
	uint64_t before;
	int inline_ok = fstat_cannot_block(dir);

	memset(&z, 0, sizeof(z));
	snprintf(path, sizeof(path), "%s/size-%d", dir, n);
	z.f = tu_create(loop, path);
	tu_write_pattern(z.f, 0, 8192, 3);
	before = tu_loop_stats(loop).helper_ops;
	ck_assert_int_eq(dmaio_file_size_wait(z.f), 8192);
	/* where fstat may block, a helper thread answers as before */
	ck_assert_uint_eq(tu_loop_stats(loop).helper_ops, before + !inline_ok);
	z.inside = 1;
	ck_assert_int_eq(dmaio_file_size(z.f, on_size, &z), 0);
	z.inside = 0;
	ck_assert_int_eq(z.calls, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(z.called_inside, 0);
	ck_assert_int_eq(z.calls, 2);
	ck_assert_int_eq(z.res[0], 8192);
	ck_assert_int_eq(z.res[1], 8192);
	ck_assert_uint_eq(tu_loop_stats(loop).helper_ops, before + 3 * !inline_ok);
	/* behind a truncate, it waits for it: the new size, never the old */
	ck_assert_int_eq(dmaio_file_truncate(z.f, 100, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_size_wait(z.f), 100);
	ck_assert_int_eq(dmaio_file_remove_wait(z.f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(z.f), 0);
}

START_TEST(size_on_the_loop_thread)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);

	size_path(loop, tu_dir, _i);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(size_on_ext4_xfs_tmpfs)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct statfs sfs;

	if (have_ext4) {
		ck_assert(fstat_cannot_block(ext4_dir));
		size_path(loop, ext4_dir, _i);
	}
	if (have_xfs) {
		ck_assert(fstat_cannot_block(xfs_dir));
		size_path(loop, xfs_dir, _i);
	}
	/* /dev/shm is tmpfs where it exists as such */
	if (statfs("/dev/shm", &sfs) == 0 && sfs.f_type == 0x01021994)
		size_path(loop, "/dev/shm", (int)getpid());
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_meta");
	TCase *tc = tu_tcase(s, "file_meta");
	const char *why_xfs = NULL, *why_ext4 = NULL;
	int ret;

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, size_and_truncate);
	TU_ADD_PROFILES(tc, truncate_orders_with_writes);
	TU_ADD_PROFILES(tc, rename_updates_path);
	TU_ADD_PROFILES(tc, renames_in_a_row);
	TU_ADD_PROFILES(tc, remove_keeps_file_usable);
	TU_ADD_PROFILES(tc, pre_allocate_and_deallocate);
	TU_ADD_PROFILES(tc, size_on_the_loop_thread);

	if (tu_mount_image("xfs", 300, xfs_dir, sizeof(xfs_dir), &why_xfs) == 0) {
		TU_ADD_PROFILES(tc, xfs_extent_hint_seen_by_xfs_io);
		TU_ADD_PROFILES(tc, xfs_pre_allocate_blocks);
	} else {
		tu_skip("xfs_extent_hint_seen_by_xfs_io", why_xfs);
		tu_skip("xfs_pre_allocate_blocks", why_xfs);
	}
	if (tu_mount_image("ext4", 64, ext4_dir, sizeof(ext4_dir), &why_ext4) ==
	    0) {
		TU_ADD_PROFILES(tc, ext4_extent_hint_is_eopnotsupp);
	} else {
		tu_skip("ext4_extent_hint_is_eopnotsupp", why_ext4);
	}
	have_xfs = !why_xfs;
	have_ext4 = !why_ext4;
	if (why_xfs && why_ext4)
		tu_skip("size_on_ext4_xfs_tmpfs", why_ext4);
	else
		TU_ADD_PROFILES(tc, size_on_ext4_xfs_tmpfs);
	ret = tu_run(s);
	if (!why_xfs)
		tu_umount_image(xfs_dir);
	if (!why_ext4)
		tu_umount_image(ext4_dir);
	return ret;
}
