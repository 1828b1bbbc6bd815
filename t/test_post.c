/* SPDX-License-Identifier: MIT */
/*
 * dmaio_loop_post(): other threads hand callbacks to the loop. Each runs
 * exactly once, on the loop's thread, in each posting thread's order; a
 * post wakes the loop wherever it sleeps (epoll_wait, io_getevents, an
 * outside poller of dmaio_loop_fd()); once dmaio_loop_free() has begun,
 * posts are refused with -ESHUTDOWN. Built with -fsanitize=thread in CI.
 */
#include "testutil.h"
#include "inject.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#define THREADS 4
#define POSTS 10000

struct sink {
	pthread_t loop_thread;
	int last[THREADS];       /* per thread, the last sequence seen */
	long seen;
	int out_of_order, wrong_thread;
	struct dmaio_loop *loop;
};

struct item {
	struct sink *s;
	int thread, seq;
};

struct poster {
	struct sink *s;
	int thread;
	struct item *items;
	int failed;
};

static void on_post(void *arg)
{
	struct item *it = arg;
	struct sink *s = it->s;

	if (!pthread_equal(pthread_self(), s->loop_thread))
		s->wrong_thread++;
	if (it->seq != s->last[it->thread] + 1)
		s->out_of_order++;
	s->last[it->thread] = it->seq;
	if (++s->seen == (long)THREADS * POSTS)
		dmaio_loop_stop(s->loop);
}

static void *post_all(void *arg)
{
	struct poster *p = arg;
	int i;

	for (i = 0; i < POSTS; i++) {
		struct item *it = &p->items[i];

		it->s = p->s;
		it->thread = p->thread;
		it->seq = i;
		if (dmaio_loop_post(p->s->loop, on_post, it))
			p->failed++;
	}
	return NULL;
}

static void on_pipe(void *arg, int fd, uint32_t events)
{
	(void)arg;
	(void)fd;
	(void)events;
}

/*
 * Four threads post 10,000 callbacks each while the loop runs: each runs
 * once, on the loop thread, in its thread's order. A watched pipe keeps
 * run going between bursts.
 */
START_TEST(posts_from_threads_run_once_each_in_order)
{
	struct sink s;
	struct poster p[THREADS];
	pthread_t t[THREADS];
	double t0;
	int i, pfd[2];

	memset(&s, 0, sizeof(s));
	for (i = 0; i < THREADS; i++)
		s.last[i] = -1;
	s.loop = tu_loop(tu_profile_disable[_i], 0);
	s.loop_thread = pthread_self();
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(dmaio_loop_watch(s.loop, pfd[0], EPOLLIN, on_pipe,
					  NULL),
			 0);
	t0 = tu_now_s();
	for (i = 0; i < THREADS; i++) {
		p[i].s = &s;
		p[i].thread = i;
		p[i].failed = 0;
		p[i].items = calloc(POSTS, sizeof(struct item));
		ck_assert_int_eq(pthread_create(&t[i], NULL, post_all, &p[i]),
				 0);
	}
	ck_assert_int_eq(dmaio_loop_run(s.loop), 0);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(p[i].failed, 0);
	}
	/* whatever the stop left queued */
	while (s.seen < (long)THREADS * POSTS)
		ck_assert_int_ge(dmaio_loop_run_once(s.loop, 100), 0);
	printf("# %d threads x %d posts: %.0f posts/s\n", THREADS, POSTS,
	       THREADS * POSTS / (tu_now_s() - t0));
	ck_assert_int_eq(s.seen, (long)THREADS * POSTS);
	ck_assert_int_eq(s.out_of_order, 0);
	ck_assert_int_eq(s.wrong_thread, 0);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(s.last[i], POSTS - 1);
		free(p[i].items);
	}
	ck_assert_int_eq(dmaio_loop_unwatch(s.loop, pfd[0]), 0);
	close(pfd[0]);
	close(pfd[1]);
	dmaio_loop_free(s.loop);
}
END_TEST

struct late {
	struct dmaio_loop *loop;
	double posted_at, ran_at;
	int ran;
};

static void on_late(void *arg)
{
	struct late *l = arg;

	l->ran_at = tu_now_s();
	l->ran++;
}

static void *post_later(void *arg)
{
	struct late *l = arg;

	usleep(100 * 1000);
	l->posted_at = tu_now_s();
	if (dmaio_loop_post(l->loop, on_late, l))
		abort();
	return NULL;
}

/*
 * The loop sleeps in epoll_wait (_i even: a silent pipe is watched) or in
 * io_getevents (_i odd: only AIO can wake it, and the one write in flight
 * is held back from the kernel): the post runs at once in both.
 */
START_TEST(post_wakes_a_sleeping_loop)
{
	struct late l = { NULL, 0, 0, 0 };
	struct dmaio_file *f = NULL;
	struct dmaio_buf *b = NULL;
	pthread_t t;
	int pfd[2];

	l.loop = tu_loop(tu_profile_disable[_i / 2], 0);
	ck_assert_int_eq(pipe(pfd), 0);
	if (_i % 2 == 0) {
		ck_assert_int_eq(dmaio_loop_watch(l.loop, pfd[0], EPOLLIN,
						  on_pipe, NULL),
				 0);
	} else {
		ck_assert_int_eq(dmaio_file_create_wait(l.loop, tu_path("p"),
							&f),
				 0);
		b = dmaio_file_alloc_buf(f, 4096);
		memset(dmaio_buf_data(b), 1, 4096);
		inj_reset();
		inj_hold_write0 = 1;
		ck_assert_int_eq(dmaio_file_write_at(f, b, 0, NULL, NULL), 0);
	}
	ck_assert_int_eq(pthread_create(&t, NULL, post_later, &l), 0);
	while (!l.ran)
		ck_assert_int_ge(dmaio_loop_run_once(l.loop, 3000), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	/* not woken, it would wait out the 3 s; a preempted thread, less */
	ck_assert_msg(l.ran_at - l.posted_at < 1.5, "ran %.3f s after post",
		      l.ran_at - l.posted_at);
	if (f) {
		ck_assert_int_eq(inj_holding, 1);
		inj_release();
		ck_assert_int_eq(dmaio_loop_run(l.loop), 0);
		dmaio_buf_unref(b);
	} else {
		ck_assert_int_eq(dmaio_loop_unwatch(l.loop, pfd[0]), 0);
	}
	close(pfd[0]);
	close(pfd[1]);
	dmaio_loop_free(l.loop);
}
END_TEST

/* An embedding program sees dmaio_loop_fd() readable for a post. */
START_TEST(post_makes_loop_fd_readable)
{
	struct late l = { NULL, 0, 0, 0 };
	struct pollfd pfd;
	pthread_t t;

	l.loop = tu_loop(tu_profile_disable[_i], 0);
	pfd.fd = dmaio_loop_fd(l.loop);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, post_later, &l), 0);
	ck_assert_int_eq(poll(&pfd, 1, 3000), 1);
	ck_assert_int_eq(dmaio_loop_run_once(l.loop, 0), 1);
	ck_assert_int_eq(l.ran, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	dmaio_loop_free(l.loop);
}
END_TEST

static void free_in_post(void *arg)
{
	struct dmaio_loop *loop = arg;

	/* from inside the loop: deferred; and posts are refused from now */
	dmaio_loop_free(loop);
	ck_assert_int_eq(dmaio_loop_post(loop, free_in_post, loop),
			 -ESHUTDOWN);
}

static void never(void *arg)
{
	(*(int *)arg)++;
}

/* Posted callbacks still queued at free are dropped, without leaks. */
START_TEST(post_after_free_begins_is_refused)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	int called = 0, i;

	for (i = 0; i < 100; i++)
		ck_assert_int_eq(dmaio_loop_post(loop, never, &called), 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(called, 0);

	loop = tu_loop(0, 0);
	ck_assert_int_eq(dmaio_loop_post(loop, free_in_post, loop), 0);
	ck_assert_int_eq(dmaio_loop_post(loop, never, &called), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0); /* frees it on return */
	ck_assert_int_eq(called, 0);
	ck_assert_int_eq(dmaio_loop_post(NULL, never, NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("post");
	TCase *tc = tu_tcase(s, "post");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, posts_from_threads_run_once_each_in_order);
	tcase_add_loop_test(tc, post_wakes_a_sleeping_loop, 0,
			    2 * TU_NPROFILES);
	tu_name("post_wakes_a_sleeping_loop", 0, 2 * TU_NPROFILES, NULL);
	TU_ADD_PROFILES(tc, post_makes_loop_fd_readable);
	TU_ADD(tc, post_after_free_begins_is_refused);
	return tu_run(s);
}
