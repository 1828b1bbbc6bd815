/* SPDX-License-Identifier: MIT */
/*
 * Handing files over (1.3): from_fd, release_fd and dup, on XFS, ext4,
 * tmpfs and the build directory's file system, under every profile.
 */
#include "testutil.h"
#include "fsdirs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_pattern(struct dmaio_file *f, uint64_t pos, size_t len,
			  unsigned seed)
{
	struct dmaio_view *v;

	ck_assert_int_eq(dmaio_file_read_at_wait(f, pos, len, &v),
			 (int64_t)len);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), len, pos, seed), -1);
	dmaio_view_release(v);
}

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

START_TEST(from_fd_adopts)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "adopt", _i);
		struct dmaio_file *f;
		int fd, other;

		if (!tu_fs[fs].up)
			continue;
		tu_make_file(path, 10000, 4);
		fd = open(path, O_RDWR);
		ck_assert_int_ge(fd, 0);
		/* shares the open file description with fd */
		other = dup(fd);
		ck_assert_int_eq(fcntl(fd, F_GETFL) & O_DIRECT, 0);
		ck_assert_int_eq(dmaio_file_from_fd_wait(loop, fd, &f), 0);
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(dmaio_file_fd(f), fd);
		ck_assert_ptr_null(dmaio_file_path(f));
		if (dmaio_file_is_direct(f)) {
			ck_assert_int_ne(fcntl(fd, F_GETFL) & O_DIRECT, 0);
			/* as fcntl(2) does: every holder sees it */
			ck_assert_int_ne(fcntl(other, F_GETFL) & O_DIRECT, 0);
		} else {
			ck_assert_int_eq(tu_fs[fs].kind, TU_FS_TMPFS);
		}
		check_pattern(f, 0, 10000, 4);
		tu_write_pattern(f, 16384, 4096, 5);
		check_pattern(f, 16384, 4096, 5);
		ck_assert_int_eq(dmaio_file_size_wait(f), 20480);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
		ck_assert_int_eq(fd_is_open(fd), 0); /* the file's, closed */
		ck_assert_int_eq(close(other), 0);
		ck_assert_int_eq(unlink(path), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(from_fd_refuses)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f = (struct dmaio_file *)1;
	int fd, p[2];

	tu_make_file(tu_path("r"), 4096, 1);
	fd = open(tu_path("r"), O_RDWR | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dmaio_file_from_fd_wait(loop, fd, &f), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "O_APPEND"));
	ck_assert_ptr_null(f);
	ck_assert_int_eq(fd_is_open(fd), 1);
	ck_assert_int_eq(close(fd), 0);

	fd = open(tu_path("r"), O_PATH);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dmaio_file_from_fd(loop, fd, NULL, NULL), -EINVAL);
	ck_assert_int_eq(close(fd), 0);

	ck_assert_int_eq(dmaio_file_from_fd(loop, -1, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_from_fd(loop, fd, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_from_fd(NULL, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_from_fd_wait(loop, 0, NULL), -EINVAL);

	/* refused on the helper: the fd stays the caller's, open */
	fd = open(tu_dir, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dmaio_file_from_fd_wait(loop, fd, &f), -EISDIR);
	ck_assert_int_eq(fd_is_open(fd), 1);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_file_from_fd_wait(loop, p[0], &f), -EINVAL);
	ck_assert_int_eq(fd_is_open(p[0]), 1);
	close(p[0]);
	close(p[1]);
	dmaio_loop_free(loop);
}
END_TEST

static void on_res(void *arg, int64_t res)
{
	int64_t *r = arg;

	*r = res;
}

struct order {
	int n;
	int write_at, release_at;
	int64_t write_res, fd;
};

static void on_write(void *arg, int64_t res)
{
	struct order *o = arg;

	o->write_res = res;
	o->write_at = ++o->n;
}

static void on_release(void *arg, int64_t res)
{
	struct order *o = arg;

	o->fd = res;
	o->release_at = ++o->n;
}

/* release waits for the file's I/O; the fd then works in another loop. */
START_TEST(release_hands_over)
{
	struct dmaio_loop *a = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_loop *b = tu_loop(tu_profile_disable[_i], 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "rel", _i);
		struct order o = { 0, 0, 0, 1, -1 };
		struct dmaio_file *f, *g;
		struct dmaio_buf *buf;
		char *back; /* O_DIRECT from here on: aligned memory */

		if (!tu_fs[fs].up)
			continue;
		ck_assert_int_eq(dmaio_file_create_wait(a, path, &f), 0);
		buf = dmaio_file_alloc_buf(f, 65536);
		tu_fill(dmaio_buf_data(buf), 65536, 0, 8);
		ck_assert_int_eq(dmaio_file_write_at(f, buf, 0, on_write, &o),
				 0);
		dmaio_buf_unref(buf);
		ck_assert_int_eq(dmaio_file_release_fd(f, on_release, &o), 0);
		/* a file let go of takes no more calls */
		ck_assert_int_eq(dmaio_file_size(f, NULL, NULL), -EBADF);
		ck_assert_int_eq(dmaio_loop_run(a), 0);
		ck_assert_int_eq(o.write_res, 65536);
		ck_assert_int_eq(o.write_at, 1);
		ck_assert_int_eq(o.release_at, 2);
		ck_assert_int_ge(o.fd, 0);
		ck_assert_int_eq(fd_is_open((int)o.fd), 1);
		ck_assert_int_eq(posix_memalign((void **)&back, 4096, 4096), 0);
		ck_assert_int_eq(pread((int)o.fd, back, 4096, 4096), 4096);
		ck_assert_int_eq(tu_check(back, 4096, 4096, 8), -1);
		free(back);
		/* and on to the other loop, as a thread would take it */
		ck_assert_int_eq(dmaio_file_from_fd_wait(b, (int)o.fd, &g), 0);
		check_pattern(g, 1000, 60000, 8);
		ck_assert_int_eq(dmaio_file_release_fd_wait(g), (int)o.fd);
		ck_assert_int_eq(close((int)o.fd), 0);
		ck_assert_int_eq(unlink(path), 0);
	}
	ck_assert_int_eq(dmaio_file_release_fd(NULL, NULL, NULL), -EINVAL);
	dmaio_loop_free(a);
	dmaio_loop_free(b);
}
END_TEST

/* helper-thread operations one size_wait of f made */
static uint64_t helper_ops_of_size(struct dmaio_loop *loop,
				   struct dmaio_file *f)
{
	struct dmaio_loop_stats a, b;

	a.size = b.size = sizeof(a);
	ck_assert_int_eq(dmaio_loop_stats(loop, &a), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 12288);
	ck_assert_int_eq(dmaio_loop_stats(loop, &b), 0);
	return b.helper_ops - a.helper_ops;
}

START_TEST(dup_shares_the_file)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "dup", _i);
		struct dmaio_file *f, *g, *closing;
		int64_t res = 1;

		if (!tu_fs[fs].up)
			continue;
		ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
		ck_assert_int_eq(dmaio_file_dup(f, &g), 0);
		ck_assert_int_ne(dmaio_file_fd(f), dmaio_file_fd(g));
		ck_assert_int_eq(dmaio_file_is_same(f, g), 1);
		ck_assert_int_eq(dmaio_file_is_direct(f),
				 dmaio_file_is_direct(g));
		ck_assert_uint_eq(dmaio_file_alignment(f),
				  dmaio_file_alignment(g));
		ck_assert_str_eq(dmaio_file_path(g), path);
		tu_write_pattern(f, 0, 8192, 2);
		check_pattern(g, 0, 8192, 2);
		tu_write_pattern(g, 8192, 4096, 2);
		/* what open learnt of the file system holds for the dup too:
		 * size asks a helper thread on neither or on both */
		ck_assert_int_eq(helper_ops_of_size(loop, g),
				 helper_ops_of_size(loop, f));
		/* each handle closes its own fd */
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
		check_pattern(g, 0, 12288, 2);
		ck_assert_int_eq(dmaio_file_dup(g, &closing), 0);
		ck_assert_int_eq(dmaio_file_close(closing, on_res, &res), 0);
		ck_assert_int_eq(dmaio_file_dup(closing, &f), -EBADF);
		ck_assert_int_eq(dmaio_file_dup(g, NULL), -EINVAL);
		ck_assert_int_eq(dmaio_file_dup(NULL, &f), -EINVAL);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		ck_assert_int_eq(res, 0);
		ck_assert_int_eq(dmaio_file_remove_wait(g), 0);
		ck_assert_int_eq(dmaio_file_close_wait(g), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

/* One open file description, so one flock covers both handles. */
START_TEST(dup_shares_the_flock)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f, *g;
	int other;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("fl"), &f), 0);
	ck_assert_int_eq(dmaio_file_dup(f, &g), 0);
	other = open(tu_path("fl"), O_RDONLY);
	ck_assert_int_ge(other, 0);
	ck_assert_int_eq(dmaio_file_lock_wait(f, LOCK_EX), 0);
	/* another open file description is kept out */
	ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), -1);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	/* the dup holds the same lock: taking it again succeeds at once */
	ck_assert_int_eq(dmaio_file_lock_wait(g, LOCK_EX | LOCK_NB), 0);
	/* closing one handle does not let go while the other holds it */
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), -1);
	/* unlocking through the dup releases it for every holder */
	ck_assert_int_eq(dmaio_file_lock_wait(g, LOCK_UN), 0);
	ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	ck_assert_int_eq(dmaio_file_close_wait(g), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* from a callback                                                     */

struct chain {
	struct dmaio_loop *loop;
	struct dmaio_file *f, *dup, *adopted;
	int fd, steps;
	int64_t release_res;
};

static void on_released(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->release_res = res;
	c->steps++;
}

static void on_adopted(void *arg, struct dmaio_file *f, int err)
{
	struct chain *c = arg;

	ck_assert_int_eq(err, 0);
	c->adopted = f;
	c->steps++;
	ck_assert_int_eq(dmaio_file_dup(f, &c->dup), 0);
	ck_assert_int_eq(dmaio_file_release_fd(f, on_released, c), 0);
	ck_assert_int_eq(dmaio_file_from_fd_wait(c->loop, c->fd, &f),
			 -EDEADLK);
}

START_TEST(from_a_callback)
{
	struct chain c = { NULL, NULL, NULL, NULL, -1, 0, 1 };

	c.loop = tu_loop(tu_profile_disable[_i], 0);
	tu_make_file(tu_path("cb"), 8192, 3);
	c.fd = open(tu_path("cb"), O_RDWR);
	ck_assert_int_ge(c.fd, 0);
	ck_assert_int_eq(dmaio_file_from_fd(c.loop, c.fd, on_adopted, &c), 0);
	ck_assert_int_eq(c.steps, 0);
	ck_assert_int_eq(dmaio_loop_run(c.loop), 0);
	ck_assert_int_eq(c.steps, 2);
	ck_assert_int_eq(c.release_res, c.fd);
	check_pattern(c.dup, 0, 8192, 3);
	ck_assert_int_eq(dmaio_file_close_wait(c.dup), 0);
	ck_assert_int_eq(close(c.fd), 0);
	dmaio_loop_free(c.loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_adopt");
	TCase *tc = tu_tcase(s, "file_adopt");
	int ret;

	tu_fs_setup("test_file_adopt");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, from_fd_adopts);
	TU_ADD_PROFILES(tc, from_fd_refuses);
	TU_ADD_PROFILES(tc, release_hands_over);
	TU_ADD_PROFILES(tc, dup_shares_the_file);
	TU_ADD_PROFILES(tc, dup_shares_the_flock);
	TU_ADD_PROFILES(tc, from_a_callback);
	ret = tu_run(s);
	tu_fs_teardown();
	return ret;
}
