/* SPDX-License-Identifier: MIT */
/*
 * Anonymous files (1.3): create_tmp and link, with O_TMPFILE and with its
 * fallback (a hidden name), on XFS, ext4, tmpfs and the build directory's
 * file system. What the directory holds is read with readdir, apart from
 * the library.
 */
#include "testutil.h"
#include "fsdirs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Entries of dir whose names begin with prefix ("" : all but . and ..). */
static int entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    !strncmp(e->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

/* Reads path with stdio (buffered, apart from the library). */
static void check_file(const char *path, size_t len, unsigned seed)
{
	char *buf = malloc(len + 1);
	FILE *fp = fopen(path, "rb");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fread(buf, 1, len + 1, fp), len);
	fclose(fp);
	ck_assert_int_eq(tu_check(buf, len, 0, seed), -1);
	free(buf);
}

/* A directory of its own per test and profile: counts are exact. */
static const char *subdir(int fs, const char *name, int profile)
{
	const char *d = tu_fs_path(fs, name, profile);

	ck_assert_int_eq(mkdir(d, 0755), 0);
	return d;
}

/* The profiles, and each with O_TMPFILE turned off too. */
static uint64_t disable_of(int i)
{
	return i < TU_NPROFILES ? tu_profile_disable[i]
				: tu_profile_disable[i - TU_NPROFILES] |
				  DMAIO_FEAT_TMPFILE;
}

START_TEST(create_link_close)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	int kernel = (dmaio_loop_features(loop) & DMAIO_FEAT_TMPFILE) != 0;
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		char dir[PATH_MAX], name[PATH_MAX + 16], taken[PATH_MAX + 16];
		struct dmaio_file *f;
		struct stat st;
		int hidden;

		if (!tu_fs[fs].up)
			continue;
		snprintf(dir, sizeof(dir), "%s", subdir(fs, "tmp", _i));
		snprintf(name, sizeof(name), "%s/named", dir);
		snprintf(taken, sizeof(taken), "%s/taken", dir);
		tu_make_file(taken, 10, 1);
		ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, dir, &f), 0);
		ck_assert_ptr_null(dmaio_file_path(f));
		hidden = entries(dir, ".dmaio-tmp-");
		/* O_TMPFILE leaves no name; without it one hidden name */
		if (kernel)
			ck_assert_int_le(hidden, 1); /* a fs without it */
		else
			ck_assert_int_eq(hidden, 1);
		ck_assert_int_eq(entries(dir, ""), 1 + hidden);
		tu_write_pattern(f, 0, 65536, 3);
		ck_assert_int_eq(dmaio_file_fdatasync_wait(f), 0);
		ck_assert_int_eq(dmaio_file_link_wait(f, taken), -EEXIST);
		ck_assert_int_eq(entries(dir, ".dmaio-tmp-"), hidden);
		ck_assert_int_eq(dmaio_file_link_wait(f, name), 0);
		ck_assert_str_eq(dmaio_file_path(f), name);
		/* named now: the hidden name went (renamed) */
		ck_assert_int_eq(entries(dir, ".dmaio-tmp-"), 0);
		ck_assert_int_eq(stat(name, &st), 0);
		ck_assert_int_eq(st.st_nlink, 1);
		ck_assert_int_eq(st.st_size, 65536);
		check_file(name, 65536, 3);
		ck_assert_int_eq(dmaio_file_link_wait(f, name), -EEXIST);
		/* still the file it was: write through it, read by name */
		tu_write_pattern(f, 65536, 4096, 3);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
		check_file(name, 69632, 3);
		ck_assert_int_eq(entries(dir, ""), 2);
		ck_assert_int_eq(unlink(name), 0);
		ck_assert_int_eq(unlink(taken), 0);
		ck_assert_int_eq(rmdir(dir), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(close_without_link_leaves_nothing)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		char dir[PATH_MAX];
		struct dmaio_file *f, *g;
		int fd;

		if (!tu_fs[fs].up)
			continue;
		snprintf(dir, sizeof(dir), "%s", subdir(fs, "gone", _i));
		ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, dir, &f), 0);
		tu_write_pattern(f, 0, 4096, 1);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
		ck_assert_int_eq(entries(dir, ""), 0);
		/* released: the fd is the caller's, the file still nameless */
		ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, dir, &g), 0);
		fd = dmaio_file_release_fd_wait(g);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(entries(dir, ""), 0);
		ck_assert_int_eq(close(fd), 0);
		ck_assert_int_eq(rmdir(dir), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(refusals)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_create_tmp(loop, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_create_tmp(NULL, tu_dir, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_create_tmp(loop, "", NULL, NULL), -ENOENT);
	ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, tu_path("none"), &f),
			 -ENOENT);
	ck_assert_ptr_null(f);
	tu_make_file(tu_path("plain"), 10, 1);
	ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, tu_path("plain"),
						    &f), -ENOTDIR);
	ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, tu_dir, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_file_create_tmp_wait(loop, tu_dir, &f), 0);
	ck_assert_int_eq(dmaio_file_link(f, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_link(f, "", NULL, NULL), -ENOENT);
	ck_assert_int_eq(dmaio_file_link(NULL, "x", NULL, NULL), -EINVAL);
	/* a file with no name has none to rename or remove */
	ck_assert_int_eq(dmaio_file_rename_wait(f, tu_path("r")), -ENOENT);
	ck_assert_int_eq(dmaio_file_remove_wait(f), -ENOENT);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), -ENOENT);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* link of a named file adds a hard link and keeps the path. */
START_TEST(link_named_file)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct dmaio_file *f;
	char first[PATH_MAX];
	struct stat st;

	snprintf(first, sizeof(first), "%s", tu_path("first"));
	ck_assert_int_eq(dmaio_file_create_wait(loop, first, &f), 0);
	tu_write_pattern(f, 0, 4096, 6);
	ck_assert_int_eq(dmaio_file_link_wait(f, tu_path("second")), 0);
	ck_assert_str_eq(dmaio_file_path(f), first);
	ck_assert_int_eq(stat(first, &st), 0);
	ck_assert_int_eq(st.st_nlink, 2);
	check_file(tu_path("second"), 4096, 6);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* from a callback                                                     */

struct chain {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	char name[PATH_MAX];
	int64_t wres, lres;
	int steps;
};

static void on_linked(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->lres = res;
	c->steps++;
}

static void on_written(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->wres = res;
	c->steps++;
	ck_assert_int_eq(dmaio_file_link(c->f, c->name, on_linked, c), 0);
	ck_assert_int_eq(dmaio_file_link_wait(c->f, c->name), -EDEADLK);
}

static void on_created(void *arg, struct dmaio_file *f, int err)
{
	struct chain *c = arg;
	static const char data[] = "written from a callback";
	struct dmaio_file *g;

	ck_assert_int_eq(err, 0);
	c->f = f;
	c->steps++;
	ck_assert_int_eq(dmaio_file_write_copy(f, 0, data, sizeof(data),
					       on_written, c), 0);
	ck_assert_int_eq(dmaio_file_create_tmp_wait(c->loop, tu_dir, &g),
			 -EDEADLK);
}

START_TEST(from_a_callback)
{
	struct dmaio_loop *loop = tu_loop(disable_of(_i), 0);
	struct chain c;
	struct stat st;

	memset(&c, 0, sizeof(c));
	c.loop = loop;
	snprintf(c.name, sizeof(c.name), "%s", tu_path("published"));
	ck_assert_int_eq(dmaio_file_create_tmp(loop, tu_dir, on_created, &c),
			 0);
	ck_assert_int_eq(c.steps, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.steps, 3);
	ck_assert_int_eq(c.wres, 24);
	ck_assert_int_eq(c.lres, 0);
	ck_assert_int_eq(stat(c.name, &st), 0);
	ck_assert_int_eq(st.st_size, 24);
	ck_assert_int_eq(dmaio_file_close_wait(c.f), 0);
	ck_assert_int_eq(entries(tu_dir, ""), 1);
	dmaio_loop_free(loop);
}
END_TEST

/* The kernel model (DMAIO_KERNEL=3.10) has neither; this kernel both. */
START_TEST(features_follow_the_kernel)
{
	struct dmaio_loop *loop, *off;
	uint64_t feat;

	/* the probes' own verdict, whatever the caller's environment says */
	unsetenv("DMAIO_DISABLE");
	loop = tu_loop(0, 0);
	feat = dmaio_loop_features(loop);
	off = tu_loop(DMAIO_FEAT_TMPFILE | DMAIO_FEAT_COPY_RANGE, 0);

	if (getenv("DMAIO_KMODEL")) {
		/* the models are of 3.10 to 4.17: no copy_file_range before
		 * 4.5, no O_TMPFILE before 3.11 */
		unsigned maj = 0, min = 0;

		ck_assert_int_eq(sscanf(getenv("DMAIO_KMODEL"), "%u.%u", &maj,
					&min), 2);
		if (maj == 3 && min < 11)
			ck_assert_uint_eq(feat & DMAIO_FEAT_TMPFILE, 0);
		else
			ck_assert_uint_ne(feat & DMAIO_FEAT_TMPFILE, 0);
		if (maj < 4 || (maj == 4 && min < 5))
			ck_assert_uint_eq(feat & DMAIO_FEAT_COPY_RANGE, 0);
		else
			ck_assert_uint_ne(feat & DMAIO_FEAT_COPY_RANGE, 0);
	} else {
		ck_assert_uint_ne(feat & DMAIO_FEAT_TMPFILE, 0);
		ck_assert_uint_ne(feat & DMAIO_FEAT_COPY_RANGE, 0);
	}
	ck_assert_uint_eq(dmaio_loop_features(off) &
			  (DMAIO_FEAT_TMPFILE | DMAIO_FEAT_COPY_RANGE), 0);
	dmaio_loop_free(off);
	/* the operator's words for them */
	setenv("DMAIO_DISABLE", "copy_range,tmpfile", 1);
	off = tu_loop(0, 0);
	unsetenv("DMAIO_DISABLE");
	ck_assert_uint_eq(dmaio_loop_features(off) &
			  (DMAIO_FEAT_TMPFILE | DMAIO_FEAT_COPY_RANGE), 0);
	dmaio_loop_free(off);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_tmp");
	TCase *tc = tu_tcase(s, "file_tmp");
	const char *labels[2 * TU_NPROFILES];
	int ret;

	tu_twice_labels(labels, "no O_TMPFILE");
	tu_fs_setup("test_file_tmp");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES_TWICE(tc, create_link_close, labels);
	TU_ADD_PROFILES_TWICE(tc, close_without_link_leaves_nothing, labels);
	TU_ADD_PROFILES_TWICE(tc, refusals, labels);
	TU_ADD_PROFILES_TWICE(tc, link_named_file, labels);
	TU_ADD_PROFILES_TWICE(tc, from_a_callback, labels);
	TU_ADD(tc, features_follow_the_kernel);
	ret = tu_run(s);
	tu_fs_teardown();
	return ret;
}
