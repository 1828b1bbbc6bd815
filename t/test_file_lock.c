/* SPDX-License-Identifier: MIT */
/*
 * flock through the loop (1.3): shared and exclusive locks, LOCK_NB, a
 * lock that waits while other helper work goes on (one helper thread, the
 * default), and close or release_fd cancelling a lock that still waits.
 * The other holder is a plain fd of the test's own, a second open file
 * description, so the kernel's answer is independent of the library.
 */
#include "testutil.h"
#include "fsdirs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static void on_res(void *arg, int64_t res)
{
	int64_t *r = arg;

	*r = res;
}

/* Runs the loop until *done is set, for at most ~60 s (a hang fails). */
static int run_until(struct dmaio_loop *loop, const int *done)
{
	int i;

	for (i = 0; i < 6000 && !*done; i++)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 10), 0);
	return *done;
}

START_TEST(lock_kinds)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int fs;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "lk", _i);
		struct dmaio_file *f, *g;
		int other;

		if (!tu_fs[fs].up)
			continue;
		ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
		ck_assert_int_eq(dmaio_file_open_wait(loop, path, &g), 0);
		other = open(path, O_RDONLY);
		ck_assert_int_ge(other, 0);
		ck_assert_int_eq(dmaio_file_lock_wait(f, LOCK_SH), 0);
		ck_assert_int_eq(flock(other, LOCK_SH | LOCK_NB), 0);
		ck_assert_int_eq(flock(other, LOCK_UN), 0);
		ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), -1);
		ck_assert_int_eq(errno, EWOULDBLOCK);
		ck_assert_int_eq(dmaio_file_lock_wait(g, LOCK_EX | LOCK_NB),
				 -EWOULDBLOCK);
		ck_assert_int_eq(dmaio_file_lock_wait(f, LOCK_UN), 0);
		ck_assert_int_eq(dmaio_file_lock_wait(g, LOCK_EX | LOCK_NB), 0);
		ck_assert_int_eq(flock(other, LOCK_SH | LOCK_NB), -1);
		/* closing the holder's handle lets go */
		ck_assert_int_eq(dmaio_file_close_wait(g), 0);
		ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), 0);
		close(other);
		ck_assert_int_eq(dmaio_file_lock(f, 0, NULL, NULL), -EINVAL);
		ck_assert_int_eq(dmaio_file_lock(f, LOCK_SH | LOCK_EX, NULL,
						 NULL), -EINVAL);
		ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "LOCK_"));
		ck_assert_int_eq(dmaio_file_lock(NULL, LOCK_SH, NULL, NULL),
				 -EINVAL);
		ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	}
	dmaio_loop_free(loop);
}
END_TEST

struct done {
	int n;
	int64_t res;
};

static void on_done(void *arg, int64_t res)
{
	struct done *d = arg;

	d->res = res;
	d->n++;
}

static void on_opened(void *arg, struct dmaio_file *f, int err)
{
	struct done *d = arg;

	d->res = err;
	d->n++;
	if (f)
		ck_assert_int_eq(dmaio_file_close(f, NULL, NULL), 0);
}

/*
 * With one helper thread, a lock that waits for another holder leaves it
 * free: a size, a truncate, a stat and an open of the same loop complete
 * while the lock still waits; the lock is taken once the holder lets go.
 */
START_TEST(waiting_lock_holds_up_nothing)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct done lk = { 0, 1 }, sz = { 0, 1 }, tr = { 0, 1 },
		    st = { 0, 1 }, op = { 0, 1 };
	struct dmaio_file_stat fst = { sizeof(fst), 0, 0, 0, 0, 0, 0 };
	struct dmaio_file *f;
	int holder, all;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("w"), &f), 0);
	holder = open(tu_path("w"), O_RDONLY);
	ck_assert_int_ge(holder, 0);
	ck_assert_int_eq(flock(holder, LOCK_EX), 0);
	ck_assert_int_eq(dmaio_file_lock(f, LOCK_EX, on_done, &lk), 0);
	ck_assert_int_eq(dmaio_file_size(f, on_done, &sz), 0);
	ck_assert_int_eq(dmaio_file_truncate(f, 8192, on_done, &tr), 0);
	ck_assert_int_eq(dmaio_file_stat(f, &fst, on_done, &st), 0);
	ck_assert_int_eq(dmaio_file_open(loop, tu_path("w"), on_opened, &op),
			 0);
	all = 0;
	while (!(sz.n && tr.n && st.n && op.n) && all++ < 6000)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 10), 0);
	ck_assert_int_eq(sz.n + tr.n + st.n + op.n, 4);
	ck_assert_int_eq(sz.res, 0);
	ck_assert_int_eq(tr.res, 0);
	ck_assert_int_eq(st.res, 0);
	ck_assert_uint_eq(fst.file_size, 8192);
	ck_assert_int_eq(op.res, 0);
	/* the other holder still has it: the lock is still waiting, and
	 * pending says so whether at its try or between two */
	ck_assert_int_eq(lk.n, 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 1);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 30), 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 1);
	ck_assert_int_eq(flock(holder, LOCK_UN), 0);
	ck_assert_int_eq(run_until(loop, &lk.n), 1);
	ck_assert_int_eq(lk.res, 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	ck_assert_int_eq(flock(holder, LOCK_EX | LOCK_NB), -1);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	close(holder);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static int64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 +
	       (b->tv_nsec - a->tv_nsec);
}

/*
 * On XFS, ext4 and tmpfs a waiting lock's tries are made on the loop's
 * thread (a non-blocking flock there only looks at the file's locks):
 * while it waits about 150 ms (a dozen tries) no helper operation runs,
 * and a host loop polling dmaio_loop_fd() is woken once per try, by its
 * timer: no try leaves work behind that would wake it again at once
 * (dmaio_loop_timeout() 0 after run_once).
 */
START_TEST(waiting_lock_tries_on_the_loop)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int fs, tested = 0;

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, "tl", _i);
		struct done lk = { 0, 1 };
		struct dmaio_file *f;
		struct timespec t0, t;
		uint64_t before;
		int holder, checked;

		if (!tu_fs[fs].up || fs == TU_FS_BUILD)
			continue;
		ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
		holder = open(path, O_RDONLY);
		ck_assert_int_ge(holder, 0);
		ck_assert_int_eq(flock(holder, LOCK_EX), 0);
		before = tu_loop_stats(loop).helper_ops;
		ck_assert_int_eq(dmaio_file_lock(f, LOCK_EX, on_done, &lk), 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		checked = 0;
		do {
			struct pollfd pfd = { dmaio_loop_fd(loop), POLLIN, 0 };
			int tmo = dmaio_loop_timeout(loop);
			struct timespec r0;

			ck_assert_int_ge(poll(&pfd, 1, tmo < 0 || tmo > 10 ?
						       10 : tmo), 0);
			clock_gettime(CLOCK_MONOTONIC, &r0);
			ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
			tmo = dmaio_loop_timeout(loop);
			clock_gettime(CLOCK_MONOTONIC, &t);
			/* the next try is 500 us away at the soonest: a turn
			 * that took that long (preempted) may find it due */
			if (pfd.revents && ns_between(&r0, &t) < 400000) {
				ck_assert_msg(tmo != 0, "%s: a try left work "
					      "for the next run_once",
					      tu_fs[fs].name);
				checked++;
			}
		} while (ns_between(&t0, &t) < 150000000);
		ck_assert_msg(checked > 0, "%s: no try was quick enough to "
			      "tell", tu_fs[fs].name);
		ck_assert_int_eq(lk.n, 0);
		ck_assert_msg(tu_loop_stats(loop).helper_ops == before, "%s: %llu helper "
			      "operations for the tries", tu_fs[fs].name,
			      (unsigned long long)(tu_loop_stats(loop).helper_ops - before));
		ck_assert_int_eq(flock(holder, LOCK_UN), 0);
		ck_assert_int_eq(run_until(loop, &lk.n), 1);
		ck_assert_int_eq(lk.res, 0);
		ck_assert_int_eq(flock(holder, LOCK_EX | LOCK_NB), -1);
		ck_assert_int_eq(errno, EWOULDBLOCK);
		close(holder);
		ck_assert_int_eq(dmaio_file_close_wait(f), 0);
		tested++;
	}
	ck_assert_int_gt(tested, 0); /* tmpfs at least */
	dmaio_loop_free(loop);
}
END_TEST

struct seq {
	int n, lock_at, close_at;
	int64_t lock_res, close_res;
};

static void on_lock(void *arg, int64_t res)
{
	struct seq *s = arg;

	s->lock_res = res;
	s->lock_at = ++s->n;
}

static void on_close(void *arg, int64_t res)
{
	struct seq *s = arg;

	s->close_res = res;
	s->close_at = ++s->n;
}

/*
 * close with a lock still waiting: the lock completes with -ECANCELED,
 * before close's callback, whether its attempt was at a helper (_i odd:
 * close right after the call) or waiting for its next try; release_fd
 * does the same.
 */
START_TEST(close_cancels_waiting_lock)
{
	int release = _i >= TU_NPROFILES, i = _i % TU_NPROFILES, fs;
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[i], 0);

	for (fs = 0; fs < TU_NFS; fs++) {
		const char *path = tu_fs_path(fs, release ? "cr" : "cc", _i);
		int round;

		if (!tu_fs[fs].up)
			continue;
		for (round = 0; round < 2; round++) {
			struct seq s = { 0, 0, 0, 1, 1 };
			struct dmaio_file *f;
			int holder;

			ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f),
					 0);
			holder = open(path, O_RDONLY);
			ck_assert_int_ge(holder, 0);
			ck_assert_int_eq(flock(holder, LOCK_EX), 0);
			ck_assert_int_eq(dmaio_file_lock(f, LOCK_EX, on_lock,
							 &s), 0);
			/* round 1: its first try is back and refused */
			if (round)
				ck_assert_int_ge(dmaio_file_size_wait(f), 0);
			ck_assert_int_eq(s.lock_at, 0);
			if (release)
				ck_assert_int_eq(dmaio_file_release_fd(f,
						 on_close, &s), 0);
			else
				ck_assert_int_eq(dmaio_file_close(f, on_close,
								  &s), 0);
			ck_assert_int_eq(s.n, 0); /* never from the call */
			ck_assert_int_eq(dmaio_loop_run(loop), 0);
			ck_assert_int_eq(s.lock_res, -ECANCELED);
			ck_assert_int_eq(s.lock_at, 1);
			ck_assert_int_eq(s.close_at, 2);
			if (release) {
				ck_assert_int_ge(s.close_res, 0);
				close((int)s.close_res);
			} else {
				ck_assert_int_eq(s.close_res, 0);
			}
			/* and the holder's lock was never disturbed */
			ck_assert_int_eq(flock(holder, LOCK_UN), 0);
			close(holder);
			ck_assert_int_eq(unlink(path), 0);
		}
	}
	dmaio_loop_free(loop);
}
END_TEST

/* dmaio_loop_free with a lock waiting: nobody is called, nothing leaks. */
START_TEST(free_with_waiting_lock)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f;
	int64_t res = 1;
	int holder;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("fr"), &f), 0);
	holder = open(tu_path("fr"), O_RDONLY);
	ck_assert_int_eq(flock(holder, LOCK_EX), 0);
	ck_assert_int_eq(dmaio_file_lock(f, LOCK_SH, on_res, &res), 0);
	ck_assert_int_ge(dmaio_file_size_wait(f), 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(res, 1);
	/* the library's fd is closed: the holder's lock is alone */
	ck_assert_int_eq(flock(holder, LOCK_UN), 0);
	close(holder);
}
END_TEST

/* ------------------------------------------------------------------ */
/* from a callback                                                     */

struct chain {
	struct dmaio_file *f;
	int64_t ex, un;
	int steps;
};

static void on_unlocked(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->un = res;
	c->steps++;
}

static void on_locked(void *arg, int64_t res)
{
	struct chain *c = arg;

	c->ex = res;
	c->steps++;
	ck_assert_int_eq(dmaio_file_lock_wait(c->f, LOCK_UN), -EDEADLK);
	ck_assert_int_eq(dmaio_file_lock(c->f, LOCK_UN, on_unlocked, c), 0);
}

START_TEST(from_a_callback)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct chain c = { NULL, 1, 1, 0 };
	int other;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("cb"), &c.f), 0);
	ck_assert_int_eq(dmaio_file_lock(c.f, LOCK_EX, on_locked, &c), 0);
	ck_assert_int_eq(c.steps, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.steps, 2);
	ck_assert_int_eq(c.ex, 0);
	ck_assert_int_eq(c.un, 0);
	other = open(tu_path("cb"), O_RDONLY);
	ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	ck_assert_int_eq(dmaio_file_close_wait(c.f), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_lock");
	TCase *tc = tu_tcase(s, "file_lock");
	const char *labels[2 * TU_NPROFILES];
	static char buf[2 * TU_NPROFILES][64];
	int i, ret;

	for (i = 0; i < 2 * TU_NPROFILES; i++) {
		snprintf(buf[i], sizeof(buf[i]), "%s, %s",
			 tu_profile_name[i % TU_NPROFILES],
			 i < TU_NPROFILES ? "close" : "release_fd");
		labels[i] = buf[i];
	}
	tu_fs_setup("test_file_lock");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, lock_kinds);
	TU_ADD_PROFILES(tc, waiting_lock_holds_up_nothing);
	TU_ADD_PROFILES(tc, waiting_lock_tries_on_the_loop);
	tcase_add_loop_test(tc, close_cancels_waiting_lock, 0,
			    2 * TU_NPROFILES);
	tu_name("close_cancels_waiting_lock", 0, 2 * TU_NPROFILES, labels);
	TU_ADD_PROFILES(tc, free_with_waiting_lock);
	TU_ADD_PROFILES(tc, from_a_callback);
	ret = tu_run(s);
	tu_fs_teardown();
	return ret;
}
