/* SPDX-License-Identifier: MIT */
/*
 * Timers: fire once or repeatedly, in deadline order, never early; may be
 * stopped, restarted or freed from their own callback; keep
 * dmaio_loop_run() going while armed; ten thousand of them; freed with
 * the loop without leaks. Also watch_modify (pause and resume a socket)
 * and the loop statistics.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct fired {
	int order[8];
	int n;
	uint64_t at[8];
};

struct tmr {
	struct fired *f;
	int id;
	struct dmaio_timer *t;
	int action;      /* in the callback: 1 stop, 2 restart, 3 free */
	int calls;
};

static void on_timer(void *arg)
{
	struct tmr *m = arg;

	m->calls++;
	if (m->f->n < 8) {
		m->f->at[m->f->n] = now_us();
		m->f->order[m->f->n++] = m->id;
	}
	if (m->action == 1 && m->calls == 3)
		ck_assert_int_eq(dmaio_timer_stop(m->t), 0);
	if (m->action == 2 && m->calls == 1)
		ck_assert_int_eq(dmaio_timer_start(m->t, 20000, 0), 0);
	if (m->action == 3 && m->calls == 2) {
		dmaio_timer_free(m->t);
		m->t = NULL;
	}
}

/* Three one-shot timers armed out of order fire in deadline order, not
 * before their time, and dmaio_loop_run() waits for them. */
START_TEST(timers_fire_in_deadline_order_never_early)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct fired f;
	struct tmr m[3];
	static const uint64_t after[3] = { 30000, 10000, 20000 };
	uint64_t t0;
	int i, try;

	/* each delay counts from its own start: a try whose three starts
	 * were 10 ms apart (preempted) may see another order, rightly */
	for (try = 0; try < 5; try++) {
		memset(&f, 0, sizeof(f));
		memset(m, 0, sizeof(m));
		t0 = now_us();
		for (i = 0; i < 3; i++) {
			m[i].f = &f;
			m[i].id = i;
			ck_assert_int_eq(dmaio_timer_new(loop, on_timer, &m[i],
							 &m[i].t),
					 0);
			ck_assert_int_eq(dmaio_timer_start(m[i].t, after[i], 0),
					 0);
		}
		if (now_us() - t0 < 5000)
			break;
		for (i = 0; i < 3; i++)
			dmaio_timer_free(m[i].t);
	}
	ck_assert_int_lt(try, 5);
	ck_assert_int_eq(dmaio_loop_run(loop), 0); /* returns once all fired */
	ck_assert_int_eq(f.n, 3);
	ck_assert_int_eq(f.order[0], 1);
	ck_assert_int_eq(f.order[1], 2);
	ck_assert_int_eq(f.order[2], 0);
	for (i = 0; i < 3; i++)
		ck_assert_uint_ge(f.at[i] - t0, after[f.order[i]]);
	for (i = 0; i < 3; i++)
		dmaio_timer_free(m[i].t);
	dmaio_loop_free(loop);
}
END_TEST

/* A repeating timer stops itself after 3, another restarts itself as a
 * one-shot, a third frees itself on its 2nd call. */
START_TEST(timer_callbacks_stop_restart_free_themselves)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct fired f;
	struct tmr m[3];
	int i;

	memset(&f, 0, sizeof(f));
	memset(m, 0, sizeof(m));
	for (i = 0; i < 3; i++) {
		m[i].f = &f;
		m[i].id = i;
		m[i].action = i + 1;
		ck_assert_int_eq(dmaio_timer_new(loop, on_timer, &m[i], &m[i].t),
				 0);
		ck_assert_int_eq(dmaio_timer_start(m[i].t, 1000, 2000), 0);
	}
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(m[0].calls, 3); /* stopped itself */
	ck_assert_int_eq(m[1].calls, 2); /* once more, then a one-shot */
	ck_assert_int_eq(m[2].calls, 2); /* freed itself */
	ck_assert_ptr_null(m[2].t);
	dmaio_timer_free(m[0].t);
	dmaio_timer_free(m[1].t);
	dmaio_loop_free(loop);
}
END_TEST

static void count_cb(void *arg)
{
	(*(long *)arg)++;
}

/*
 * Ten thousand armed timers: they fire in order of deadline (each sees
 * the count of those before it), and stopping half leaves the other half.
 * Timers left armed are freed with the loop (valgrind: no leak).
 */
START_TEST(ten_thousand_timers)
{
	enum { N = 10000 };
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_timer **t = calloc(N, sizeof(*t));
	long fired = 0;
	int i;

	for (i = 0; i < N; i++) {
		ck_assert_int_eq(dmaio_timer_new(loop, count_cb, &fired, &t[i]),
				 0);
		/* 0..9.999 ms, interleaved */
		ck_assert_int_eq(dmaio_timer_start(t[i], (uint64_t)(i * 7919 % N),
						   0),
				 0);
	}
	for (i = 0; i < N; i += 2)
		ck_assert_int_eq(dmaio_timer_stop(t[i]), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(fired, N / 2);
	/* re-arm all far away, then free the loop with them armed */
	for (i = 0; i < N; i++)
		ck_assert_int_eq(dmaio_timer_start(t[i], 3600000000ull, 0), 0);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 0);
	dmaio_loop_free(loop);
	free(t);
}
END_TEST

START_TEST(timer_bad_input)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_timer *t;

	ck_assert_int_eq(dmaio_timer_new(NULL, count_cb, NULL, &t), -EINVAL);
	ck_assert_int_eq(dmaio_timer_new(loop, NULL, NULL, &t), -EINVAL);
	ck_assert_int_eq(dmaio_timer_new(loop, count_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_timer_start(NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(dmaio_timer_stop(NULL), -EINVAL);
	dmaio_timer_free(NULL);
	ck_assert_int_eq(dmaio_timer_new(loop, count_cb, NULL, &t), 0);
	ck_assert_int_eq(dmaio_timer_start(t, UINT64_MAX, 0), -EOVERFLOW);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "timer_start"));
	ck_assert_int_eq(dmaio_timer_stop(t), 0); /* not armed: fine */
	dmaio_timer_free(t);
	dmaio_loop_free(loop);
}
END_TEST

struct sock {
	int reads;
	struct dmaio_loop *loop;
	int fd;
};

static void on_sock(void *arg, int fd, uint32_t events)
{
	struct sock *s = arg;
	char c;

	(void)events;
	if (read(fd, &c, 1) == 1)
		s->reads++;
}

/* Paused (no events): data waits, even a hang-up does not wake the loop;
 * resumed, it is read. */
START_TEST(watch_modify_pauses_and_resumes)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct sock s = { 0, NULL, -1 };
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, sv[0], EPOLLIN, on_sock, &s),
			 0);
	ck_assert_int_eq(write(sv[1], "ab", 2), 2);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 1000), 1);
	ck_assert_int_eq(s.reads, 1);
	ck_assert_int_eq(dmaio_loop_watch_modify(loop, sv[0], 0), 0);
	close(sv[1]); /* a hang-up too */
	ck_assert_int_eq(dmaio_loop_run_once(loop, 50), 0);
	ck_assert_int_eq(s.reads, 1);
	ck_assert_int_eq(dmaio_loop_watch_modify(loop, sv[0], EPOLLIN), 0);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 1000), 1);
	ck_assert_int_eq(s.reads, 2);
	ck_assert_int_eq(dmaio_loop_watch_modify(loop, 12345, EPOLLIN),
			 -ENOENT);
	ck_assert_int_eq(dmaio_loop_watch_modify(loop, sv[0], 0x80000000u),
			 -EINVAL);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, sv[0]), 0);
	ck_assert_int_eq(dmaio_loop_watch_modify(loop, sv[0], EPOLLIN),
			 -ENOENT);
	close(sv[0]);
	dmaio_loop_free(loop);
}
END_TEST

/* The counters move with what the loop does; an older, smaller struct
 * gets only what it has room for. */
START_TEST(loop_stats_count_what_the_loop_did)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_loop_stats st;
	struct dmaio_file *f;
	struct dmaio_view *v;
	struct {
		size_t size;
		uint64_t submit_calls;
		uint64_t guard;
	} old;
	int i;

	tu_make_file(tu_path("st"), 65536, 3);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("st"), &f), 0);
	for (i = 0; i < 16; i++) {
		ck_assert_int_eq(dmaio_file_read_at_wait(f, (uint64_t)i * 4096,
							 100, &v),
				 100);
		dmaio_view_release(v);
	}
	ck_assert_int_eq(dmaio_file_size_wait(f), 65536);
	memset(&st, 0xff, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.size, sizeof(st));
	ck_assert_uint_ge(st.iocbs, 16);
	ck_assert_uint_ge(st.submit_calls, 1);
	ck_assert_uint_le(st.submit_calls, st.iocbs);
	ck_assert_uint_ge(st.submit_ns_total, st.submit_ns_max);
	ck_assert_uint_gt(st.submit_ns_max, 0);
	ck_assert_uint_ge(st.reaped_ring + st.reaped_syscall, 16);
	/* one read at a time waits in io_getevents: the ring may not be used */
	if (!(dmaio_loop_features(loop) & DMAIO_FEAT_USER_REAP))
		ck_assert_uint_eq(st.reaped_ring, 0);
	/* open; size too where fstat may block (ext4, XFS, tmpfs and btrfs
	 * answer it on the loop thread) */
	ck_assert_uint_ge(st.helper_ops, 1);
	ck_assert_uint_ge(st.wakeups, 1);
	ck_assert_uint_le(st.wakeups_idle, st.wakeups);
	old.size = offsetof(struct dmaio_loop_stats, iocbs);
	old.guard = 12345;
	ck_assert_int_eq(dmaio_loop_stats(loop, (void *)&old), 0);
	ck_assert_uint_eq(old.submit_calls, st.submit_calls);
	ck_assert_uint_eq(old.guard, 12345);
	st.size = 3;
	ck_assert_int_eq(dmaio_loop_stats(loop, &st), -EINVAL);
	ck_assert_int_eq(dmaio_loop_stats(NULL, &st), -EINVAL);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tu_tcase(s, "timer");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, timers_fire_in_deadline_order_never_early);
	TU_ADD_PROFILES(tc, timer_callbacks_stop_restart_free_themselves);
	TU_ADD(tc, ten_thousand_timers);
	TU_ADD(tc, timer_bad_input);
	TU_ADD(tc, watch_modify_pauses_and_resumes);
	TU_ADD_PROFILES(tc, loop_stats_count_what_the_loop_did);
	return tu_run(s);
}
