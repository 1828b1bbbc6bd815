/* SPDX-License-Identifier: MIT */
/*
 * A host loop (plain poll() here, as libuv's uv_poll_t or libevent would)
 * drives the loop through dmaio_loop_fd() alone: timers and posts must
 * make the fd readable as completions do, dmaio_loop_timeout() must tell
 * a host that prefers a timeout when to call, a wake-up must almost
 * always find work, and freeing an idle loop must be quick enough to make
 * one per connection or per test.
 */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Far above any scheduling delay: poll returning 0 after it is a hang. */
#define HANG_MS 30000 /* a hang, not a busy disk */

static int poll_fd(struct dmaio_loop *loop, int ms)
{
	struct pollfd pfd;

	pfd.fd = dmaio_loop_fd(loop);
	pfd.events = POLLIN;
	return poll(&pfd, 1, ms);
}

static void on_tick(void *arg)
{
	(*(int *)arg)++;
}

/* The reproducer: a 50 ms timer, nothing else, poll() on the fd. */
START_TEST(due_timer_makes_loop_fd_readable)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_timer *t;
	int ticks = 0;

	dmaio_loop_fd(loop);
	ck_assert_int_eq(dmaio_timer_new(loop, on_tick, &ticks, &t), 0);
	ck_assert_int_eq(dmaio_timer_start(t, 50000, 0), 0);
	ck_assert_int_eq(poll_fd(loop, HANG_MS), 1);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(ticks, 1);
	/* once: nothing more to announce */
	ck_assert_int_eq(poll_fd(loop, 100), 0);
	dmaio_timer_free(t);
	dmaio_loop_free(loop);
}
END_TEST

/* Armed before the fd was asked for, repeating, restarted and stopped. */
START_TEST(timers_armed_any_way_reach_the_fd)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_timer *t, *u;
	int ticks = 0, other = 0, i;

	ck_assert_int_eq(dmaio_timer_new(loop, on_tick, &ticks, &t), 0);
	ck_assert_int_eq(dmaio_timer_new(loop, on_tick, &other, &u), 0);
	ck_assert_int_eq(dmaio_timer_start(t, 20000, 20000), 0);
	for (i = 1; i <= 5; i++) {
		ck_assert_int_eq(poll_fd(loop, HANG_MS), 1);
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
		if (ticks < i) /* a wake-up a few us early is no tick */
			i--;
		ck_assert_int_le(ticks, i);
	}
	/* a stopped timer announces nothing; an earlier one takes over */
	ck_assert_int_eq(dmaio_timer_stop(t), 0);
	ck_assert_int_eq(dmaio_timer_start(u, 3000000, 0), 0);
	ck_assert_int_eq(dmaio_timer_start(t, 10000, 0), 0);
	ck_assert_int_eq(poll_fd(loop, HANG_MS), 1);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(ticks, 6);
	ck_assert_int_eq(other, 0);
	ck_assert_int_eq(dmaio_timer_stop(u), 0);
	ck_assert_int_eq(poll_fd(loop, 400), 0);
	ck_assert_int_eq(other, 0);
	dmaio_timer_free(t);
	dmaio_timer_free(u);
	dmaio_loop_free(loop);
}
END_TEST

struct rearm {
	struct dmaio_timer *t;
	int ticks;
};

static void on_rearm(void *arg)
{
	struct rearm *r = arg;

	if (++r->ticks < 3)
		ck_assert_int_eq(dmaio_timer_start(r->t, 15000, 0), 0);
}

/* A timer started from its own callback, inside run_once. */
START_TEST(timer_rearmed_from_its_callback_reaches_the_fd)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct rearm r = { NULL, 0 };

	ck_assert_int_eq(dmaio_timer_new(loop, on_rearm, &r, &r.t), 0);
	ck_assert_int_eq(dmaio_timer_start(r.t, 15000, 0), 0);
	while (r.ticks < 3) {
		ck_assert_int_eq(poll_fd(loop, HANG_MS), 1);
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	}
	ck_assert_int_eq(poll_fd(loop, 100), 0);
	dmaio_timer_free(r.t);
	dmaio_loop_free(loop);
}
END_TEST

static void on_post(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

struct poster {
	struct dmaio_loop *loop;
	int *count;
	int n;
	unsigned gap_us;
};

static void *post_main(void *arg)
{
	struct poster *p = arg;
	int i;

	for (i = 0; i < p->n; i++) {
		if (p->gap_us)
			usleep(p->gap_us);
		ck_assert_int_eq(dmaio_loop_post(p->loop, on_post, p->count),
				 0);
	}
	return NULL;
}

START_TEST(post_from_another_thread_makes_loop_fd_readable)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int count = 0;
	struct poster p = { loop, &count, 1, 20000 };
	pthread_t th;

	dmaio_loop_fd(loop);
	ck_assert_int_eq(pthread_create(&th, NULL, post_main, &p), 0);
	ck_assert_int_eq(poll_fd(loop, HANG_MS), 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(count, 1);
	ck_assert_int_eq(poll_fd(loop, 50), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_view(void *arg, struct dmaio_view *v, int64_t res)
{
	ck_assert_int_eq(res, 4096);
	dmaio_view_release(v);
	(*(int *)arg)++;
}

START_TEST(loop_timeout_names_the_next_deadline)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_timer *t;
	struct dmaio_file *f;
	int ticks = 0, done = 0, ms, i;

	ck_assert_int_eq(dmaio_loop_timeout(loop), -1);
	ck_assert_int_eq(dmaio_timer_new(loop, on_tick, &ticks, &t), 0);
	ck_assert_int_eq(dmaio_loop_timeout(loop), -1); /* not armed */
	ck_assert_int_eq(dmaio_timer_start(t, 50000, 0), 0);
	ms = dmaio_loop_timeout(loop);
	ck_assert_int_ge(ms, 1);
	ck_assert_int_le(ms, 50);
	/* rounded up: a host that waits that long finds the timer due (a
	 * try preempted between the two calls may find it due already) */
	for (i = 0; i < 5; i++) {
		double t0 = tu_now_s();

		ck_assert_int_eq(dmaio_timer_start(t, 1500, 0), 0);
		ms = dmaio_loop_timeout(loop);
		if (tu_now_s() - t0 < 0.0004)
			break;
	}
	ck_assert_int_ge(ms, 1);
	ck_assert_int_le(ms, 2);
	usleep((useconds_t)ms * 1000);
	ck_assert_int_eq(dmaio_loop_timeout(loop), 0);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(ticks, 1);
	ck_assert_int_eq(dmaio_loop_timeout(loop), -1);
	/* a post is work for run_once now */
	ck_assert_int_eq(dmaio_loop_post(loop, on_post, &done), 0);
	ck_assert_int_eq(dmaio_loop_timeout(loop), 0);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(dmaio_loop_timeout(loop), -1);
	/* and so is an operation queued outside the loop's iteration */
	tu_make_file(tu_path("lt"), 4096, 3);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("lt"), &f), 0);
	done = 0;
	ck_assert_int_eq(dmaio_file_read_at(f, 0, 4096, on_view, &done), 0);
	ck_assert_int_eq(dmaio_loop_timeout(loop), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(dmaio_loop_timeout(NULL), -EINVAL);
	dmaio_timer_free(t);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A host busy with I/O, timers and posts at once: reads kept DEPTH deep
 * (refilled from callbacks and from the host between polls), a 1 ms
 * timer, and another thread's posts. Wake-ups that run no callback must
 * stay under 10%, whether the host calls run_once(loop, 0) right after
 * submitting or leaves everything to the fd.
 */
#define DEPTH 8
#define BUSY_READS 3000
#define BUSY_BLOCKS 256

struct busy {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	int started, done, inflight, outside, errors;
	unsigned seed;
	int ticks;
	int posts;
	long wakeups, idle;
};

static void busy_start(struct busy *b);

static void on_busy_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct busy *b = arg;

	if (res != 4096)
		b->errors++;
	dmaio_view_release(v);
	b->done++;
	b->inflight--;
	/* half refilled from here, half left to the host */
	if (b->done % 2)
		busy_start(b);
}

static void busy_start(struct busy *b)
{
	uint64_t pos;

	if (b->started >= BUSY_READS || b->inflight >= DEPTH)
		return;
	b->seed = b->seed * 1103515245u + 12345u;
	pos = (uint64_t)((b->seed >> 8) % BUSY_BLOCKS) * 4096;
	ck_assert_int_eq(dmaio_file_read_at(b->f, pos, 4096, on_busy_read, b),
			 0);
	b->started++;
	b->inflight++;
}

static void busy_host(uint64_t disable, int run_after_submit)
{
	struct busy b;
	struct dmaio_timer *t;
	struct poster p;
	pthread_t th;
	int n, fd;

	memset(&b, 0, sizeof(b));
	b.loop = tu_loop(disable, 0);
	b.seed = 5;
	tu_make_file(tu_path("busy"), BUSY_BLOCKS * 4096, 9);
	fd = open(tu_path("busy"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	ck_assert_int_eq(dmaio_file_open_wait(b.loop, tu_path("busy"), &b.f),
			 0);
	ck_assert_int_eq(dmaio_timer_new(b.loop, on_tick, &b.ticks, &t), 0);
	ck_assert_int_eq(dmaio_timer_start(t, 1000, 1000), 0);
	p.loop = b.loop;
	p.count = &b.posts;
	p.n = 300;
	p.gap_us = 500;
	ck_assert_int_eq(pthread_create(&th, NULL, post_main, &p), 0);
	dmaio_loop_fd(b.loop);
	while (b.done < BUSY_READS ||
	       __atomic_load_n(&b.posts, __ATOMIC_SEQ_CST) < p.n) {
		while (b.inflight < DEPTH && b.started < BUSY_READS) {
			busy_start(&b);
			if (run_after_submit)
				ck_assert_int_ge(dmaio_loop_run_once(b.loop, 0),
						 0);
		}
		ck_assert_msg(poll_fd(b.loop, HANG_MS) == 1,
			      "hang: %d of %d reads done, %d posts", b.done,
			      BUSY_READS, b.posts);
		n = dmaio_loop_run_once(b.loop, 0);
		ck_assert_int_ge(n, 0);
		b.wakeups++;
		b.idle += n == 0;
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(b.errors, 0);
	fprintf(stderr, "%s: %ld wake-ups, %ld ran no callback (%.1f%%), "
		"%d ticks\n", run_after_submit ? "run_once after submit"
		: "fd only", b.wakeups, b.idle, 100.0 * b.idle / b.wakeups,
		b.ticks);
	ck_assert_msg(b.idle * 10 < b.wakeups,
		      "%ld of %ld wake-ups ran no callback", b.idle,
		      b.wakeups);
	ck_assert_int_gt(b.ticks, 0);
	dmaio_timer_free(t);
	ck_assert_int_eq(dmaio_file_close_wait(b.f), 0);
	dmaio_loop_free(b.loop);
}

START_TEST(busy_host_wakeups_find_work)
{
	busy_host(tu_profile_disable[_i], 0);
}
END_TEST

START_TEST(busy_host_running_after_submit_wakeups_find_work)
{
	busy_host(tu_profile_disable[_i], 1);
}
END_TEST

/*
 * Calls made of parts (read_many's ranges, write_copy's edge blocks and
 * body, a stream reader's buffers) made by the host between polls: each
 * part goes to the kernel in the call, so the fd wakes the host for
 * completions, not to have run_once submit them (33% of the wake-ups ran
 * no callback when it did). Some wake-ups do run none and still find
 * work: write_copy's read-back of an edge block completes on its own and
 * the wake-up sends the write. Those are 6-8% here, and on a machine
 * with more runnable threads than CPUs the completions come apart more
 * often (16 of 154 seen): the bound for these calls is 20%.
 */
struct parts {
	int left, errors;
	long wakeups, idle;  /* the host's, and those that ran no callback */
};

/* The host polls the loop's fd and runs it until p's callbacks are in. */
static void host_until_done(struct dmaio_loop *loop, struct parts *p)
{
	int n;

	while (p->left) {
		ck_assert_msg(poll_fd(loop, HANG_MS) == 1,
			      "hang: %d callbacks to come", p->left);
		n = dmaio_loop_run_once(loop, 0);
		ck_assert_int_ge(n, 0);
		p->wakeups++;
		p->idle += n == 0;
	}
}

/* Under pct% of the host's wake-ups ran nothing of its own. */
static void check_wakeups(const struct parts *p, const char *what, int pct)
{
	ck_assert_int_eq(p->errors, 0);
	fprintf(stderr, "%s: %ld wake-ups, %ld ran no callback\n", what,
		p->wakeups, p->idle);
	ck_assert_msg(p->idle * 100 < p->wakeups * pct, "%ld of %ld wake-ups "
		      "ran no callback", p->idle, p->wakeups);
}

static void on_range(void *arg, size_t i, struct dmaio_view *v, int64_t res)
{
	struct parts *p = arg;

	(void)i;
	if (res != 100)
		p->errors++;
	dmaio_view_release(v);
	p->left--;
}

static void on_copied(void *arg, int64_t res)
{
	struct parts *p = arg;

	if (res != 5000)
		p->errors++;
	p->left--;
}

static void on_buffer(void *arg, struct dmaio_view *v, int64_t res)
{
	struct parts *p = arg;

	if (res <= 0)
		p->errors++;
	dmaio_view_release(v);
	p->left--;
}

START_TEST(composite_calls_from_the_host_wake_it_for_work)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_iovec iov[4];
	struct dmaio_read_many_opts ro;
	struct dmaio_reader_opts rdo;
	struct dmaio_reader *rd;
	struct dmaio_file *f, *g;
	struct parts p = { 0, 0, 0, 0 };
	char data[5000];
	int i, k;

	tu_make_file(tu_path("parts"), 1 << 20, 4);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("parts"),
						    O_RDWR, 0, &f), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("parts"), &g), 0);
	dmaio_read_many_opts_init(&ro);
	ro.max_merged_buffer_size = 0; /* four ranges, four reads */
	dmaio_reader_opts_init(&rdo);
	rdo.buffer_size = 16384;
	ck_assert_int_eq(dmaio_reader_new(g, &rdo, &rd), 0);
	memset(data, 'p', sizeof(data));
	dmaio_loop_fd(loop);
	for (i = 0; i < 60; i++) {
		for (k = 0; k < 4; k++) {
			iov[k].pos = (uint64_t)(i * 4 + k) * 4096 + 7;
			iov[k].len = 100;
		}
		ck_assert_int_eq(dmaio_file_read_many(f, iov, 4, &ro,
						      on_range, &p), 0);
		p.left += 4;
		ck_assert_int_eq(dmaio_file_write_copy(f, 512 * 1024 +
						       (uint64_t)i * 8192 + 3,
						       data, sizeof(data),
						       on_copied, &p), 0);
		p.left++;
		/* the reader's first buffer only: later ones are read ahead */
		if (i == 0) {
			ck_assert_int_eq(dmaio_reader_get_buffer(rd, 16384,
								 on_buffer,
								 &p), 0);
			p.left++;
		}
		host_until_done(loop, &p);
	}
	check_wakeups(&p, "read_many, write_copy and a reader from the host",
		      20);
	ck_assert_int_eq(dmaio_reader_close_wait(rd), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A stream reader read by the host, one get_buffer at a time, faster than
 * the disk: a request whose buffer is still being read is served by that
 * read's completion, so no wake-up only runs the reader's kick.
 */
START_TEST(reader_from_the_host_wakes_it_for_data)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_reader_opts rdo;
	struct dmaio_reader *rd;
	struct dmaio_file *g;
	struct parts p = { 0, 0, 0, 0 };
	int i;

	tu_make_file(tu_path("stream"), 1 << 20, 5);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("stream"), &g), 0);
	dmaio_reader_opts_init(&rdo);
	rdo.buffer_size = 4096;
	ck_assert_int_eq(dmaio_reader_new(g, &rdo, &rd), 0);
	dmaio_loop_fd(loop);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(dmaio_reader_get_buffer(rd, 4096, on_buffer,
							 &p), 0);
		p.left++;
		host_until_done(loop, &p);
	}
	check_wakeups(&p, "a reader read by the host", 10);
	ck_assert_int_eq(dmaio_reader_close_wait(rd), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * io_destroy waits for an RCU grace period even on an idle context:
 * tens of milliseconds. Here it is made to take a second, and freeing an
 * idle loop must not wait for it: the call is made on another thread.
 */
static pthread_t freeing_thread;
static int destroys, destroys_on_freeing_thread, slow_destroy;

/* resolved before any thread runs: io_destroy is called from several */
static __typeof__(io_destroy) *next_io_destroy;

__attribute__((constructor)) static void find_io_destroy(void)
{
	next_io_destroy = (__typeof__(io_destroy) *)dlsym(RTLD_NEXT,
							   "io_destroy");
}

int io_destroy(io_context_t ctx)
{
	if (__atomic_load_n(&slow_destroy, __ATOMIC_SEQ_CST)) {
		if (pthread_equal(pthread_self(), freeing_thread))
			__atomic_add_fetch(&destroys_on_freeing_thread, 1,
					   __ATOMIC_SEQ_CST);
		usleep(1000000);
		__atomic_add_fetch(&destroys, 1, __ATOMIC_SEQ_CST);
	}
	return next_io_destroy(ctx);
}

START_TEST(idle_loop_free_does_not_wait_for_io_destroy)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	int i;

	freeing_thread = pthread_self();
	__atomic_store_n(&destroys, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&slow_destroy, 1, __ATOMIC_SEQ_CST);
	dmaio_loop_free(loop);
	/* the context is gone in the background */
	ck_assert_int_eq(__atomic_load_n(&destroys_on_freeing_thread,
					 __ATOMIC_SEQ_CST), 0);
	for (i = 0; i < 1000 && !__atomic_load_n(&destroys, __ATOMIC_SEQ_CST);
	     i++)
		usleep(10000);
	ck_assert_int_eq(__atomic_load_n(&destroys, __ATOMIC_SEQ_CST), 1);
	__atomic_store_n(&slow_destroy, 0, __ATOMIC_SEQ_CST);
}
END_TEST

/* A loop per connection: many made and freed in a row, each working. */
START_TEST(loops_made_and_freed_in_a_row_all_work)
{
	int i, ticks = 0;

	for (i = 0; i < 300; i++) {
		struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);

		ck_assert_int_eq(dmaio_loop_post(loop, on_post, &ticks), 0);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		dmaio_loop_free(loop);
	}
	ck_assert_int_eq(ticks, 300);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("host_loop");
	TCase *tc = tu_tcase(s, "host_loop");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, due_timer_makes_loop_fd_readable);
	TU_ADD_PROFILES(tc, timers_armed_any_way_reach_the_fd);
	TU_ADD_PROFILES(tc, timer_rearmed_from_its_callback_reaches_the_fd);
	TU_ADD_PROFILES(tc, post_from_another_thread_makes_loop_fd_readable);
	TU_ADD_PROFILES(tc, loop_timeout_names_the_next_deadline);
	TU_ADD_PROFILES(tc, busy_host_wakeups_find_work);
	TU_ADD_PROFILES(tc, busy_host_running_after_submit_wakeups_find_work);
	TU_ADD_PROFILES(tc, composite_calls_from_the_host_wake_it_for_work);
	TU_ADD_PROFILES(tc, reader_from_the_host_wakes_it_for_data);
	TU_ADD_PROFILES(tc, idle_loop_free_does_not_wait_for_io_destroy);
	TU_ADD_PROFILES(tc, loops_made_and_freed_in_a_row_all_work);
	return tu_run(s);
}
