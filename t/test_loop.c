/* SPDX-License-Identifier: MIT */
/* The loop: creation, options, watched fds, run/stop, run_once, loop fd,
 * callback discipline, more operations than the queue depth. */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libaio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

START_TEST(loop_new_defaults)
{
	struct dmaio_loop *loop = NULL;
	struct dmaio_loop_opts o;

	ck_assert_int_eq(dmaio_loop_new(&loop, NULL), 0);
	ck_assert_ptr_nonnull(loop);
	ck_assert_int_ge(dmaio_loop_fd(loop), 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	/* nothing pending, nothing watched: returns at once */
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(dmaio_loop_run_once(loop, -1), 0);
	dmaio_loop_free(loop);

	dmaio_loop_opts_init(&o);
	ck_assert_uint_eq(o.size, sizeof(o));
	ck_assert_uint_eq(o.queue_depth, 128);
	ck_assert_uint_eq(o.helper_threads, 1);
	ck_assert_uint_eq(o.disable, 0);
	ck_assert_uint_eq(o.submit_batch, 1);
	o.queue_depth = 0;     /* 0: default */
	o.submit_batch = 0;    /* 0: default */
	o.helper_threads = 0;  /* 0: default */
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	dmaio_loop_free(loop);
	dmaio_loop_free(NULL);
}
END_TEST

START_TEST(loop_new_bad_input)
{
	struct dmaio_loop *loop = (struct dmaio_loop *)1;
	struct dmaio_loop_opts o;

	ck_assert_int_eq(dmaio_loop_new(NULL, NULL), -EINVAL);
	dmaio_loop_opts_init(&o);
	o.disable = 1ULL << 40; /* a bit we do not know */
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), -EINVAL);
	ck_assert_ptr_null(loop);
	dmaio_loop_opts_init(&o);
	o.size = 0;
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), -EINVAL);
	ck_assert_int_eq(dmaio_loop_run(NULL), -EINVAL);
	ck_assert_int_eq(dmaio_loop_run_once(NULL, 0), -EINVAL);
	ck_assert_int_eq(dmaio_loop_watch(NULL, 0, EPOLLIN, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmaio_loop_unwatch(NULL, 0), -EINVAL);
}
END_TEST

/* An older caller knows only size and queue_depth: the rest is default. */
START_TEST(loop_opts_size_respected)
{
	struct dmaio_loop *loop, *plain;
	struct {
		struct dmaio_loop_opts o;
		char junk[64];
	} big;

	memset(&big, 0xff, sizeof(big));
	big.o.size = offsetof(struct dmaio_loop_opts, helper_threads);
	big.o.queue_depth = 8;
	ck_assert_int_eq(dmaio_loop_new(&loop, &big.o), 0);
	/* disable (all ones) was beyond size: not read, so not applied */
	ck_assert_int_eq(dmaio_loop_new(&plain, NULL), 0);
	ck_assert_uint_eq(dmaio_loop_features(loop), dmaio_loop_features(plain));
	dmaio_loop_free(plain);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(loop_features_disable)
{
	int i;

	for (i = 0; i < TU_NPROFILES; i++) {
		struct dmaio_loop *loop = tu_loop(tu_profile_disable[i], 0);

		ck_assert_uint_eq(dmaio_loop_features(loop) &
					  tu_profile_disable[i],
				  0);
		dmaio_loop_free(loop);
	}
}
END_TEST

/*
 * io_setup as libdmaio sees it: defined here, it takes precedence over
 * libaio's, and can say EAGAIN as a kernel with aio-max-nr used up does.
 */
static int io_setup_eagain;

int io_setup(int nr, io_context_t *ctxp)
{
	static int (*next)(int, io_context_t *);

	if (io_setup_eagain)
		return -EAGAIN;
	/* the next one: a kernel model's (kmodel_aio.so), or libaio's */
	if (!next)
		next = (int (*)(int, io_context_t *))dlsym(RTLD_NEXT,
							   "io_setup");
	return next(nr, ctxp);
}

/*
 * io_getevents likewise: with fdsync_times_out set, the wait of the AIO
 * fdsync probe (one event, 5 seconds) ends at once with none, as if the
 * fdsync took longer; the kernel still has it.
 */
static int fdsync_times_out;

int io_getevents(io_context_t ctx, long min_nr, long nr,
		 struct io_event *ev, struct timespec *ts)
{
	static int (*next)(io_context_t, long, long, struct io_event *,
			   struct timespec *);

	if (fdsync_times_out && min_nr == 1 && nr == 1 && ts &&
	    ts->tv_sec == 5) {
		fdsync_times_out = 0;
		return 0;
	}
	if (!next)
		next = (int (*)(io_context_t, long, long, struct io_event *,
				struct timespec *))dlsym(RTLD_NEXT,
							 "io_getevents");
	return next(ctx, min_nr, nr, ev, ts);
}

/* What a child (tu_child) checks: prints why and returns 1, or goes on. */
#define EXPECT(cond, ...)                                      \
	do {                                                   \
		if (!(cond)) {                                 \
			printf(__VA_ARGS__);                   \
			printf(" (line %d)\n", __LINE__);      \
			return 1;                              \
		}                                              \
	} while (0)

/* n reads of 4 KiB through loop, from a file of 64 KiB; 0 or 1 */
static int child_reads(struct dmaio_loop *loop, const char *path, int n)
{
	struct dmaio_file *f;
	struct dmaio_view *v;
	int i, r;

	r = dmaio_file_open_wait(loop, path, &f);
	EXPECT(r == 0, "open: %s", dmaio_strerror(r));
	for (i = 0; i < n; i++) {
		uint64_t off = (uint64_t)(i * 7 % 16) * 4096;
		int64_t got = dmaio_file_read_at_wait(f, off, 4096, &v);

		EXPECT(got == 4096, "read %d of %d: %s", i, n,
		       dmaio_strerror((int)got));
		EXPECT(tu_check(dmaio_view_data(v), 4096, off, 9) == -1,
		       "read %d: wrong data", i);
		dmaio_view_release(v);
	}
	EXPECT(dmaio_file_close_wait(f) == 0, "close");
	return 0;
}

/* tu_make_file without Check (a child runs no test) */
static int child_file(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	EXPECT(fd >= 0, "create %s", path);
	tu_fill(buf, sizeof(buf), 0, 9);
	EXPECT(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "write");
	EXPECT(close(fd) == 0, "close");
	return 0;
}

static struct dmaio_loop *child_loop(uint64_t disable)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop = NULL;
	int r;

	dmaio_loop_opts_init(&o);
	o.disable = disable;
	r = dmaio_loop_new(&loop, &o);
	if (r)
		printf("dmaio_loop_new: %s (%s)\n", dmaio_strerror(r),
		       dmaio_last_error());
	return loop;
}

/*
 * Under kmodel-run's 3.10, whose contexts lose the request slots of
 * completions reaped in user space: the self-test finds that out, and
 * the loop it ran on still has its slots, far more reads than a context
 * has slots go through; a second loop, told by the first's verdict, too.
 */
static int child_reap310(void)
{
	const char *path = tu_path("st");
	struct dmaio_loop *loop;
	int k;

	if (child_file(path))
		return 1;
	for (k = 0; k < 2; k++) {
		loop = child_loop(0);
		EXPECT(loop, "loop %d", k);
		EXPECT(!(dmaio_loop_features(loop) & DMAIO_FEAT_USER_REAP),
		       "loop %d reaps from the ring under 3.10", k);
		if (child_reads(loop, path, 1000))
			return 1;
		dmaio_loop_free(loop);
	}
	printf("1000 reads on each of 2 loops\n");
	return 0;
}

/*
 * The AIO fdsync probe's wait ends before the fdsync: the loop must not
 * meet its event later (no operation behind it), and the feature is off.
 * Reaped with io_getevents, which would hand that event over.
 */
static int child_fdsync_timeout(void)
{
	const char *path = tu_path("ft");
	struct dmaio_loop *loop;

	if (child_file(path))
		return 1;
	fdsync_times_out = 1;
	loop = child_loop(DMAIO_FEAT_USER_REAP);
	EXPECT(loop, "loop");
	EXPECT(!(dmaio_loop_features(loop) & DMAIO_FEAT_AIO_FDSYNC),
	       "AIO fdsync on after its probe timed out");
	if (child_reads(loop, path, 300))
		return 1;
	dmaio_loop_free(loop);
	printf("%s\n", fdsync_times_out ? "the probe did not wait"
					 : "the probe timed out");
	return 0;
}

/* The user-space reaping self-test fails on 3.10: the loop still works. */
START_TEST(loop_user_reap_self_test)
{
	char out[2048];
	int st = tu_run_child("3.10", "reap310", out, sizeof(out));

	ck_assert_msg(st == 0, "child: exit %d: %s", st, out);
	ck_assert_msg(strstr(out, "1000 reads") != NULL, "child: %s", out);
}
END_TEST

/* The AIO fdsync probe times out: nothing of it reaches the loop. */
START_TEST(loop_fdsync_probe_timeout)
{
	char out[2048];
	int st = tu_run_child("", "fdsync_timeout", out, sizeof(out));

	ck_assert_msg(st == 0, "child: exit %d: %s", st, out);
	/* under a model before 4.18 the probe is refused, never waits */
	if (!getenv("DMAIO_KMODEL"))
		ck_assert_msg(strstr(out, "the probe timed out") != NULL,
			      "child: %s", out);
}
END_TEST

/* aio-max-nr too small for the context: EAGAIN and a message naming it. */
START_TEST(loop_aio_max_nr_message)
{
	struct dmaio_loop *loop = NULL;

	io_setup_eagain = 1;
	ck_assert_int_eq(dmaio_loop_new(&loop, NULL), -EAGAIN);
	ck_assert_ptr_null(loop);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(),
				     "/proc/sys/fs/aio-max-nr"));
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "fs.aio-max-nr="));
	io_setup_eagain = 0;
	ck_assert_int_eq(dmaio_loop_new(&loop, NULL), 0);
	ck_assert_str_eq(dmaio_last_error(), "");
	dmaio_loop_free(loop);
}
END_TEST

struct watch_state {
	struct dmaio_loop *loop;
	int calls;
	uint32_t events;
	int fd;
	int stop_after;
	int unwatch;
};

static void on_watch(void *arg, int fd, uint32_t events)
{
	struct watch_state *w = arg;
	char buf[64];

	w->calls++;
	w->events = events;
	w->fd = fd;
	if (events & EPOLLIN) {
		if (read(fd, buf, sizeof(buf)) < 0) {
			/* HUP without data: nothing to read */
		}
	}
	if (w->unwatch)
		ck_assert_int_eq(dmaio_loop_unwatch(w->loop, fd), 0);
	if (w->stop_after && w->calls >= w->stop_after)
		dmaio_loop_stop(w->loop);
}

START_TEST(loop_watch_pipe)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct watch_state w = { loop, 0, 0, -1, 0, 0 };
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_watch, &w), 0);
	/* nothing to read: a zero timeout returns with no callback */
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(w.calls, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 1000), 1);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(w.fd, p[0]);
	ck_assert_uint_eq(w.events & EPOLLIN, EPOLLIN);

	/* watch again: MOD, not ADD (ADD would fail with EEXIST) */
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_watch, &w), 0);

	/* the writer goes away: HUP is reported, as readable */
	close(p[1]);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 1000), 1);
	ck_assert_uint_ne(w.events & EPOLLHUP, 0);
	ck_assert_uint_ne(w.events & EPOLLIN, 0);

	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), -ENOENT);
	/* nothing watched, nothing pending: run returns */
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	close(p[0]);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(loop_watch_bad_fd)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct watch_state w;

	ck_assert_int_eq(dmaio_loop_watch(loop, 12345, EPOLLIN, on_watch, &w),
			 -EBADF);
	ck_assert_int_eq(dmaio_loop_watch(loop, -1, EPOLLIN, on_watch, &w),
			 -EINVAL);
	ck_assert_int_eq(dmaio_loop_watch(loop, 0, EPOLLIN, NULL, &w), -EINVAL);
	ck_assert_int_eq(dmaio_loop_watch(loop, dmaio_loop_fd(loop), EPOLLIN,
					  on_watch, &w),
			 -EINVAL);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, 100000), -ENOENT);
	dmaio_loop_free(loop);
}
END_TEST

/* run() serves watched fds until stop(), and stop() is not sticky. */
START_TEST(loop_run_stop)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct watch_state w = { loop, 0, 0, -1, 3, 0 };
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[1], EPOLLOUT, on_watch, &w),
			 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(w.calls, 3);
	ck_assert_uint_eq(w.events & EPOLLOUT, EPOLLOUT);
	w.stop_after = 5;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(w.calls, 5);
	/* unwatching from the callback ends run: nothing left */
	w.unwatch = 1;
	w.stop_after = 0;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(w.calls, 6);
	close(p[0]);
	close(p[1]);
	dmaio_loop_free(loop);
}
END_TEST

struct deadlock_state {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	int called;
	int run_ret, run_once_ret, wait_ret, open_ret;
	int64_t size_ret;
};

static void on_open_deadlock(void *arg, struct dmaio_file *f, int err)
{
	struct deadlock_state *d = arg;
	struct dmaio_file *g = NULL;

	ck_assert_int_eq(err, 0);
	d->called++;
	d->f = f;
	d->run_ret = dmaio_loop_run(d->loop);
	d->run_once_ret = dmaio_loop_run_once(d->loop, 0);
	d->size_ret = dmaio_file_size_wait(f);
	d->wait_ret = dmaio_file_close_wait(f);
	d->open_ret = dmaio_file_open_wait(d->loop, tu_path("a"), &g);
}

START_TEST(loop_wait_in_callback_is_edeadlk)
{
	struct deadlock_state d;

	memset(&d, 0, sizeof(d));
	d.loop = tu_loop(0, 0);
	tu_make_file(tu_path("a"), 4096, 1);
	ck_assert_int_eq(dmaio_file_open(d.loop, tu_path("a"), on_open_deadlock,
					 &d),
			 0);
	/* never from inside the submitting call */
	ck_assert_int_eq(d.called, 0);
	ck_assert_uint_eq(dmaio_loop_pending(d.loop), 1);
	ck_assert_int_eq(dmaio_loop_run(d.loop), 0);
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.run_ret, -EDEADLK);
	ck_assert_int_eq(d.run_once_ret, -EDEADLK);
	ck_assert_int_eq(d.size_ret, -EDEADLK);
	ck_assert_int_eq(d.wait_ret, -EDEADLK);
	ck_assert_int_eq(d.open_ret, -EDEADLK);
	ck_assert_int_eq(dmaio_file_close_wait(d.f), 0);
	dmaio_loop_free(d.loop);
}
END_TEST

#define MANY 300

struct many_state {
	int calls[MANY];
	int total;
};

struct many_arg {
	struct many_state *s;
	int idx;
};

static void on_many_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct many_arg *a = arg;

	ck_assert_int_eq(res, 512);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 512,
				  (uint64_t)a->idx * 512, 7),
			 -1);
	dmaio_view_release(v);
	a->s->calls[a->idx]++;
	a->s->total++;
}

/* Far more operations than the context holds: each called back once. */
START_TEST(loop_more_than_queue_depth)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 4);
	struct many_state s;
	struct many_arg args[MANY];
	struct dmaio_file *f;
	int i;

	memset(&s, 0, sizeof(s));
	tu_make_file(tu_path("many"), MANY * 512, 7);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("many"), &f), 0);
	for (i = 0; i < MANY; i++) {
		args[i].s = &s;
		args[i].idx = i;
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 512, 512,
						    on_many_read, &args[i]),
				 0);
	}
	ck_assert_int_eq(s.total, 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), MANY);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(s.total, MANY);
	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(s.calls[i], 1);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_count(void *arg, int64_t res)
{
	int *n = arg;

	ck_assert_int_ge(res, 0);
	(*n)++;
}

/* An application with its own epoll waits on dmaio_loop_fd(). */
START_TEST(loop_fd_readable_when_work)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f;
	struct pollfd pfd;
	int n = 0, spins = 0;

	tu_make_file(tu_path("fd"), 8192, 3);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("fd"), &f), 0);
	pfd.fd = dmaio_loop_fd(loop);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(dmaio_file_size(f, on_count, &n), 0);
	ck_assert_int_eq(dmaio_file_fdatasync(f, on_count, &n), 0);
	/* fdatasync may sit in the submission queue: one iteration sends it */
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	while (n < 2 && spins++ < 100) {
		/* 60 s: a busy build disk's fdatasync takes seconds */
		ck_assert_int_eq(poll(&pfd, 1, 60000), 1);
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	}
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_read_never(void *arg, struct dmaio_view *v, int64_t res)
{
	(void)res;
	dmaio_view_release(v);
	*(int *)arg = 1;
}

/* Freeing a loop with work in flight waits for it and calls nobody. */
START_TEST(loop_free_with_pending)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 8);
	struct dmaio_file *f;
	int called = 0, i;

	tu_make_file(tu_path("p"), 1 << 20, 5);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("p"), &f), 0);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 4096,
						    4096, on_read_never,
						    &called),
				 0);
	ck_assert_int_eq(dmaio_file_size(f, on_count, &called), 0);
	if (_i & 1) {
		/* some in the kernel, some perhaps done: from here on, none */
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
		called = 0;
	}
	dmaio_loop_free(loop);
	ck_assert_int_eq(called, 0);
}
END_TEST

/*
 * DMAIO_LOOP_LAZY_EVENTFD: iocbs sent while only AIO can wake the loop do
 * not signal the eventfd; a watch or helper work arriving while they are
 * out must not strand them.
 */
START_TEST(loop_lazy_eventfd)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	struct many_state s;
	struct many_arg args[MANY];
	struct watch_state w;
	struct dmaio_file *f;
	int i, n = 0, p[2], spins = 0;

	dmaio_loop_opts_init(&o);
	o.queue_depth = 16;
	o.flags = DMAIO_LOOP_LAZY_EVENTFD;
	o.disable = tu_profile_disable[_i];
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	memset(&s, 0, sizeof(s));
	memset(&w, 0, sizeof(w));
	w.loop = loop;
	tu_make_file(tu_path("lazy"), MANY * 512, 7);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("lazy"), &f), 0);
	ck_assert_int_eq(pipe(p), 0);
	for (i = 0; i < MANY; i++) {
		args[i].s = &s;
		args[i].idx = i;
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 512, 512,
						    on_many_read, &args[i]),
				 0);
		if (i == MANY / 3) {
			/* iocbs without a signal are out: now epoll is needed */
			ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
			ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN,
							  on_watch, &w),
					 0);
			ck_assert_int_eq(dmaio_file_size(f, on_count, &n), 0);
		}
	}
	while (dmaio_loop_pending(loop) && spins++ < 100000)
		ck_assert_int_ge(dmaio_loop_run_once(loop, -1), 0);
	ck_assert_int_eq(s.total, MANY);
	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(s.calls[i], 1);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(w.calls, 0);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	o.flags = 2; /* unknown */
	{
		struct dmaio_loop *bad = NULL;

		ck_assert_int_eq(dmaio_loop_new(&bad, &o), -EINVAL);
	}
	dmaio_loop_free(loop);
}
END_TEST

#define POLL_READS 200

/* POLL_READS checked 4 KiB reads at depth 1; returns how often the loop
 * thread slept (voluntary context switches) doing them. */
static long polled_reads_sleeps(struct dmaio_loop *loop, const char *name,
				unsigned seed)
{
	struct dmaio_file *f;
	struct rusage r0, r1;
	long bad = -1;
	int i, fd;

	tu_make_file(tu_path(name), POLL_READS * 4096, seed);
	/* dirty pages would make each O_DIRECT read wait for writeback */
	fd = open(tu_path(name), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path(name), &f), 0);
	ck_assert_int_eq(dmaio_file_is_direct(f), 1);
	ck_assert_int_eq(getrusage(RUSAGE_THREAD, &r0), 0);
	for (i = 0; i < POLL_READS && bad < 0; i++) {
		struct dmaio_view *v = NULL;
		uint64_t pos = (uint64_t)((i * 37) % POLL_READS) * 4096;

		ck_assert_int_eq(dmaio_file_read_at_wait(f, pos, 4096, &v),
				 4096);
		bad = tu_check(dmaio_view_data(v), 4096, pos, seed);
		dmaio_view_release(v);
	}
	ck_assert_int_eq(getrusage(RUSAGE_THREAD, &r1), 0);
	ck_assert_int_eq(bad, -1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	return r1.ru_nvcsw - r0.ru_nvcsw;
}

static struct dmaio_loop *polling_loop(uint64_t disable)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;

	dmaio_loop_opts_init(&o);
	o.queue_depth = 4;
	o.poll_us = 1000000;
	o.disable = disable;
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	return loop;
}

/*
 * opts.poll_us: with a budget far above a read's latency the loop thread
 * finds each completion while spinning and never sleeps for it (its
 * voluntary context switches stay near 0, against one a read without
 * polling), with the user-space ring and without it.
 */
START_TEST(loop_poll_does_not_sleep)
{
	struct dmaio_loop *loop = polling_loop(tu_profile_disable[_i]);
	struct dmaio_loop_opts o;
	struct dmaio_loop_stats st;
	long sleeps = polled_reads_sleeps(loop, "poll", 11);

	ck_assert_msg(sleeps <= POLL_READS / 10,
		      "%ld sleeps in %d polled reads", sleeps, POLL_READS);
	/*
	 * and the statistics say so: every spin found its completion. How
	 * many reads were spun for at all depends on the machine (a read
	 * can complete before the loop looks, a busy CPU cuts spins: those
	 * count as interrupted), but none ran its budget out.
	 */
	st.size = sizeof(st);
	ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
	ck_assert_uint_gt(st.poll_hits + st.poll_interrupted, 0);
	ck_assert_uint_le(st.poll_hits + st.poll_interrupted, POLL_READS);
	ck_assert_uint_eq(st.poll_misses, 0);
	ck_assert_uint_eq(st.poll_skips, 0);
	ck_assert_uint_gt(st.poll_ns, 0);
	dmaio_loop_free(loop);

	dmaio_loop_opts_init(&o);
	o.poll_us = 1000001;
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), -EINVAL);
	ck_assert_ptr_eq(loop, NULL);
}
END_TEST

/*
 * The same with a watched pipe, which makes the loop wait in epoll: the
 * spin asks epoll too, reads still do not sleep, and the pipe is served.
 */
START_TEST(loop_poll_with_watched_fd)
{
	struct dmaio_loop *loop = polling_loop(tu_profile_disable[_i]);
	struct dmaio_loop_stats st;
	struct watch_state w;
	long sleeps;
	int p[2], spins = 0;

	memset(&w, 0, sizeof(w));
	w.loop = loop;
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_watch, &w), 0);
	sleeps = polled_reads_sleeps(loop, "pollw", 13);
	ck_assert_msg(sleeps <= POLL_READS / 10,
		      "%ld sleeps in %d polled reads with a watched fd", sleeps,
		      POLL_READS);
	/* one spin per read: the eventfd signal of a completion taken from
	 * the ring does not make a second, empty turn */
	st.size = sizeof(st);
	ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
	ck_assert_msg(st.poll_hits <= POLL_READS + POLL_READS / 4,
		      "%llu spins found work for %d reads",
		      (unsigned long long)st.poll_hits, POLL_READS);
	ck_assert_int_eq(w.calls, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	while (!w.calls && spins++ < 1000)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 100), 0);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	dmaio_loop_free(loop);
}
END_TEST

int main(int argc, char **argv)
{
	const char *child = tu_child(argc, argv);
	Suite *s;
	TCase *tc;

	if (child && !strcmp(child, "reap310"))
		return child_reap310();
	if (child && !strcmp(child, "fdsync_timeout"))
		return child_fdsync_timeout();
	s = suite_create("loop");
	tc = tu_tcase(s, "loop");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD(tc, loop_new_defaults);
	TU_ADD(tc, loop_new_bad_input);
	TU_ADD(tc, loop_opts_size_respected);
	TU_ADD(tc, loop_features_disable);
	TU_ADD(tc, loop_aio_max_nr_message);
	TU_ADD(tc, loop_user_reap_self_test);
	TU_ADD(tc, loop_fdsync_probe_timeout);
	TU_ADD(tc, loop_watch_pipe);
	TU_ADD(tc, loop_watch_bad_fd);
	TU_ADD(tc, loop_run_stop);
	TU_ADD(tc, loop_wait_in_callback_is_edeadlk);
	TU_ADD_PROFILES(tc, loop_more_than_queue_depth);
	TU_ADD_PROFILES(tc, loop_fd_readable_when_work);
	TU_ADD_PROFILES(tc, loop_free_with_pending);
	TU_ADD_PROFILES(tc, loop_poll_does_not_sleep);
	TU_ADD_PROFILES(tc, loop_poll_with_watched_fd);
	TU_ADD_PROFILES(tc, loop_lazy_eventfd);
	return tu_run(s);
}
