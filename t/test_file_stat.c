/* SPDX-License-Identifier: MIT */
/*
 * allocate, stat and the per-handle counters (1.3), on XFS, ext4, tmpfs
 * and the build directory's file system, under every feature profile.
 * Sizes and allocated blocks are checked with stat(1), preallocated
 * (unwritten) extents with filefrag where the file system maps extents.
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
#include <sys/sysmacros.h>
#include <unistd.h>

/* stat(1)'s size and allocated bytes of path */
static void stat1(const char *path, long long *size, long long *alloc)
{
	char cmd[PATH_MAX + 64];
	long long blocks, unit;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "stat -c '%%s %%b %%B' '%s'", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%lld %lld %lld", size, &blocks, &unit), 3);
	ck_assert_int_eq(pclose(p), 0);
	*alloc = blocks * unit;
}

/* filefrag -v lists preallocated extents as "unwritten" */
static int filefrag_unwritten(const char *path)
{
	char cmd[PATH_MAX + 64], out[8192];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "filefrag -v '%s' 2>&1", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	return strstr(out, "unwritten") != NULL;
}

static int maps_extents(int fs)
{
	return tu_fs[fs].kind == TU_FS_XFS || tu_fs[fs].kind == TU_FS_EXT4;
}

START_TEST(allocate_sizes_and_blocks)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "alloc", _i);
		struct dmaio_file *f;
		long long size, alloc;

		if (!tu_fs[fs].up)
			continue;
		f = tu_create(loop, path);
		ck_assert_int_eq(dmaio_file_allocate_wait(f, 0, 1 << 20, 0), 0);
		stat1(path, &size, &alloc);
		ck_assert_msg(size == 1 << 20, "%s: size %lld", tu_fs[fs].name,
			      size);
		ck_assert_msg(alloc >= 1 << 20, "%s: %lld bytes allocated",
			      tu_fs[fs].name, alloc);
		if (maps_extents(fs))
			ck_assert_msg(filefrag_unwritten(path), "%s: no "
				      "unwritten extent", tu_fs[fs].name);
		/* KEEP_SIZE: blocks past EOF, the size left alone */
		ck_assert_int_eq(dmaio_file_allocate_wait(
					 f, 1 << 20, 1 << 20,
					 DMAIO_ALLOC_KEEP_SIZE), 0);
		stat1(path, &size, &alloc);
		ck_assert_int_eq(size, 1 << 20);
		ck_assert_msg(alloc >= 2 << 20, "%s: %lld bytes allocated",
			      tu_fs[fs].name, alloc);
		ck_assert_int_eq(dmaio_file_size_wait(f), 1 << 20);
		/* any range, unaligned: the size is exactly its end */
		ck_assert_int_eq(dmaio_file_allocate_wait(f, (3 << 20) + 1000,
							  5000, 0), 0);
		stat1(path, &size, &alloc);
		ck_assert_int_eq(size, (3 << 20) + 6000);
		/* the images are small: more than they hold is ENOSPC */
		if (maps_extents(fs)) {
			ck_assert_int_eq(dmaio_file_allocate_wait(
						 f, 8 << 20, 1ULL << 40, 0),
					 -ENOSPC);
			ck_assert_int_eq(dmaio_file_truncate_wait(
						 f, (3 << 20) + 6000), 0);
		}
		/* a write after it lands where it should */
		tu_write_pattern(f, 3 << 20, 8192, 7);
		ck_assert_int_eq(dmaio_file_size_wait(f), (3 << 20) + 8192);
		ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(allocate_refuses)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("bad")), *ro;

	ck_assert_int_eq(dmaio_file_allocate(f, 0, 0, 0, NULL, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "len is 0"));
	ck_assert_int_eq(dmaio_file_allocate(f, 0, 4096, 2, NULL, NULL),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "unknown flags"));
	ck_assert_int_eq(dmaio_file_allocate(f, INT64_MAX, 2, 0, NULL, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_allocate(NULL, 0, 1, 0, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("bad"), &ro), 0);
	ck_assert_int_eq(dmaio_file_allocate(ro, 0, 4096, 0, NULL, NULL),
			 -EBADF);
	ck_assert_int_eq(dmaio_file_close_wait(ro), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(stat_matches_fstat)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "stat", _i);
		struct dmaio_file_stat st;
		struct dmaio_file *f;
		struct stat ref;

		if (!tu_fs[fs].up)
			continue;
		f = tu_create(loop, path);
		tu_write_pattern(f, 0, 65536, 3);
		ck_assert_int_eq(dmaio_file_truncate_wait(f, 70000), 0);
		memset(&st, 0xff, sizeof(st));
		st.size = sizeof(st);
		ck_assert_int_eq(dmaio_file_stat_wait(f, &st), 0);
		ck_assert_int_eq(stat(path, &ref), 0);
		ck_assert_uint_eq(st.size, sizeof(st));
		ck_assert_uint_eq(st.file_size, 70000);
		ck_assert_uint_eq(st.allocated, (uint64_t)ref.st_blocks * 512);
		ck_assert_uint_ge(st.allocated, 65536);
		ck_assert_uint_eq(st.fs_block_size, (uint64_t)ref.st_blksize);
		ck_assert_uint_eq(st.inode, (uint64_t)ref.st_ino);
		ck_assert_uint_eq(st.dev_major, major(ref.st_dev));
		ck_assert_uint_eq(st.dev_minor, minor(ref.st_dev));
		ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

/* A caller that knows fewer fields gets only those written. */
START_TEST(stat_size_versioned)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("sv"));
	struct dmaio_file_stat st;

	tu_write_pattern(f, 0, 4096, 1);
	memset(&st, 0xab, sizeof(st));
	st.size = offsetof(struct dmaio_file_stat, allocated);
	ck_assert_int_eq(dmaio_file_stat_wait(f, &st), 0);
	ck_assert_uint_eq(st.file_size, 4096);
	ck_assert_uint_eq(st.allocated, 0xababababababababULL);
	ck_assert_uint_eq(st.inode, 0xababababababababULL);
	st.size = 2;
	ck_assert_int_eq(dmaio_file_stat(f, &st, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_stat(f, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* from a callback                                                     */

struct chain {
	struct dmaio_file *f;
	struct dmaio_file_stat st;
	int64_t alloc_res, stat_res;
	int steps;
};

static void on_stat(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->stat_res = res;
	c->steps++;
}

static void on_alloc(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->alloc_res = res;
	c->steps++;
	c->st.size = sizeof(c->st);
	ck_assert_int_eq(dmaio_file_stat(c->f, &c->st, on_stat, c), 0);
	/* a _wait in a callback would wait forever */
	ck_assert_int_eq(dmaio_file_allocate_wait(c->f, 0, 1, 0), -EDEADLK);
	ck_assert_int_eq(dmaio_file_stat_wait(c->f, &c->st), -EDEADLK);
}

START_TEST(from_a_callback)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct chain c;

	memset(&c, 0, sizeof(c));
	c.f = tu_create(loop, tu_path("cb"));
	c.alloc_res = c.stat_res = 1;
	ck_assert_int_eq(dmaio_file_allocate(c.f, 0, 12345, 0, on_alloc, &c),
			 0);
	ck_assert_int_eq(c.steps, 0); /* never from inside the call */
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.steps, 2);
	ck_assert_int_eq(c.alloc_res, 0);
	ck_assert_int_eq(c.stat_res, 0);
	ck_assert_uint_eq(c.st.file_size, 12345);
	ck_assert_int_eq(dmaio_file_close_wait(c.f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* counters                                                            */

static struct dmaio_file_stats stats_of(struct dmaio_file *f)
{
	struct dmaio_file_stats st;

	memset(&st, 0xff, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(dmaio_file_stats(f, &st), 0);
	return st;
}

START_TEST(stats_count_what_callers_got)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("st")), *g;
	struct dmaio_file_stats st = stats_of(f);
	struct dmaio_view *v;
	char data[3000];

	ck_assert_uint_eq(st.reads + st.read_bytes + st.writes +
			  st.write_bytes + st.syncs, 0);
	tu_write_pattern(f, 0, 8192, 1);
	tu_write_pattern(f, 8192, 4096, 1);
	/* an unaligned read counts the bytes handed back, not the blocks */
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 100, 1000, &v), 1000);
	dmaio_view_release(v);
	/* clamped at EOF: what it got */
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 12000, 4096, &v), 288);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_fdatasync_wait(f), 0);
	/* write_copy: one write of its bytes, not its read-backs */
	memset(data, 7, sizeof(data));
	ck_assert_int_eq(dmaio_file_write_copy_wait(f, 5000, data,
						    sizeof(data)), 3000);
	st = stats_of(f);
	ck_assert_uint_eq(st.writes, 3);
	ck_assert_uint_eq(st.write_bytes, 8192 + 4096 + 3000);
	ck_assert_uint_eq(st.reads, 2);
	ck_assert_uint_eq(st.read_bytes, 1288);
	ck_assert_uint_eq(st.syncs, 1);
	/* a read nobody is called back for still counts */
	ck_assert_int_eq(dmaio_file_read_at(f, 0, 10, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(stats_of(f).reads, 3);

	/* a dup starts at zero and counts apart */
	ck_assert_int_eq(dmaio_file_dup(f, &g), 0);
	st = stats_of(g);
	ck_assert_uint_eq(st.reads + st.writes + st.syncs, 0);
	ck_assert_int_eq(dmaio_file_read_at_wait(g, 0, 10, &v), 10);
	dmaio_view_release(v);
	ck_assert_uint_eq(stats_of(g).reads, 1);
	ck_assert_uint_eq(stats_of(f).reads, 3);

	/* a short size: only what the caller knows of */
	memset(&st, 0xcd, sizeof(st));
	st.size = offsetof(struct dmaio_file_stats, writes);
	ck_assert_int_eq(dmaio_file_stats(f, &st), 0);
	ck_assert_uint_eq(st.reads, 3);
	ck_assert_uint_eq(st.writes, 0xcdcdcdcdcdcdcdcdULL);
	st.size = 1;
	ck_assert_int_eq(dmaio_file_stats(f, &st), -EINVAL);
	ck_assert_int_eq(dmaio_file_stats(f, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_close_wait(g), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_many(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	(void)arg;
	(void)idx;
	(void)res;
	dmaio_view_release(v);
}

/* The streams and read_many count on their file what their callers got. */
START_TEST(stats_of_streams)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = tu_create(loop, tu_path("ss")), *r;
	const struct dmaio_iovec iov[3] = { { 0, 100 }, { 200, 100 },
					    { 70000, 5000 } };
	struct dmaio_file_stats st;
	struct dmaio_writer *w;
	struct dmaio_reader *rd;
	static char data[100000], back[100000];
	int64_t n;

	tu_fill(data, sizeof(data), 0, 9);
	ck_assert_int_eq(dmaio_writer_new(f, NULL, &w), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	ck_assert_int_eq(dmaio_writer_sync_wait(w), 0);
	st = stats_of(f);
	ck_assert_uint_eq(st.write_bytes, sizeof(data));
	ck_assert_uint_ge(st.writes, 1);
	ck_assert_uint_eq(st.syncs, 1);
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)sizeof(data));

	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("ss"), &r), 0);
	ck_assert_int_eq(dmaio_file_read_many(r, iov, 3, NULL, on_many, NULL),
			 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	st = stats_of(r);
	ck_assert_uint_eq(st.reads, 3);
	ck_assert_uint_eq(st.read_bytes, 5200);
	ck_assert_int_eq(dmaio_reader_new(r, NULL, &rd), 0);
	n = dmaio_reader_read_wait(rd, back, sizeof(back));
	ck_assert_int_eq(n, (int64_t)sizeof(data));
	ck_assert_int_eq(memcmp(back, data, sizeof(data)), 0);
	st = stats_of(r);
	ck_assert_uint_eq(st.read_bytes, 5200 + sizeof(data));
	ck_assert_uint_ge(st.reads, 4);
	ck_assert_int_eq(dmaio_reader_close_wait(rd), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_stat");
	TCase *tc = tu_tcase(s, "file_stat");
	int ret;

	tu_fs_setup("test_file_stat");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, allocate_sizes_and_blocks);
	TU_ADD_PROFILES(tc, allocate_refuses);
	TU_ADD_PROFILES(tc, stat_matches_fstat);
	TU_ADD_PROFILES(tc, stat_size_versioned);
	TU_ADD_PROFILES(tc, from_a_callback);
	TU_ADD_PROFILES(tc, stats_count_what_callers_got);
	TU_ADD_PROFILES(tc, stats_of_streams);
	ret = tu_run(s);
	tu_fs_teardown();
	return ret;
}
