/* SPDX-License-Identifier: MIT */
/*
 * dmaio_loop_start_thread(): the loop on a thread of its own, and _wait
 * calls from any thread. Many threads waiting at once (open, write_from,
 * read_into, read_at, size, fdatasync, close, the streams' twins), each
 * verified; callbacks on the loop's thread; the rules (-EBUSY, -EINVAL,
 * -EDEADLK, -ESHUTDOWN); _wait calls racing stop_thread never hang;
 * dmaio_loop_free with the thread running. Built with -fsanitize=thread
 * in CI.
 */
#include "testutil.h"
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 40
#define BLOCK 4096
#define REGION (4 * BLOCK)

static void *amem(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, BLOCK, len), 0);
	memset(p, 0, len);
	return p;
}

/* The rules of start and stop; the loop is the owner's again after. */
START_TEST(start_stop_rules)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_loop_stop_thread(loop), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "no thread"));
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), -EBUSY);
	/* the owner is another thread now: it may not drive the loop */
	ck_assert_int_eq(dmaio_loop_run(loop), -EBUSY);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), -EBUSY);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "another thread"));
	/* but it may wait, handed over */
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("r"), &f), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), -EINVAL);
	/* the owner's again: its waits drive the loop themselves */
	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_run_once(loop, 0), 0);
	/* and it may be started again, and freed while it runs */
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

struct worker {
	pthread_t tid;
	struct dmaio_loop *loop;
	const char *path;
	int idx;
	int run;
	int failed;
	char why[200];
};

static void release_view(void *v)
{
	dmaio_view_release(v);
}

/* A thread of a pool: its own handle, its own region of the file. */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct dmaio_file *f = NULL;
	uint64_t base = (uint64_t)w->idx * REGION;
	char *out = amem(REGION), *in = amem(REGION);
	struct dmaio_view *v;
	int64_t n;
	int r;

	r = dmaio_file_open_flags_wait(w->loop, w->path, O_RDWR, 0, &f);
	WCHECK(w, r == 0, "open_flags_wait: %d", r);
	for (r = 0; r < ROUNDS && !w->failed; r++) {
		unsigned seed = (unsigned)(w->idx * 1000 + r);
		uint64_t pos = base + (uint64_t)(r % 4) * BLOCK;

		tu_fill(out, BLOCK, pos, seed);
		n = dmaio_file_write_from_wait(f, pos, out, BLOCK);
		WCHECK(w, n == BLOCK, "write_from_wait: %lld", (long long)n);
		memset(in, 0, BLOCK);
		n = dmaio_file_read_into_wait(f, pos, in, BLOCK);
		WCHECK(w, n == BLOCK, "read_into_wait: %lld", (long long)n);
		WCHECK(w, tu_check(in, BLOCK, pos, seed) == -1,
		       "read_into_wait read other bytes at %llu",
		       (unsigned long long)pos);
		n = dmaio_file_size_wait(f);
		WCHECK(w, n == THREADS * REGION, "size_wait: %lld",
		       (long long)n);
		if (r % 8 == 0) {
			n = dmaio_file_read_at_wait(f, pos + 1, 100, &v);
			WCHECK(w, n == 100 && tu_check(dmaio_view_data(v), 100,
						       pos + 1, seed) == -1,
			       "read_at_wait: %lld", (long long)n);
			/* views belong to the loop's thread: released there */
			WCHECK(w, dmaio_loop_post(w->loop, release_view, v) == 0,
			       "post of the view's release");
		}
		if (r % 16 == 0) {
			n = dmaio_file_fdatasync_wait(f);
			WCHECK(w, n == 0, "fdatasync_wait: %lld", (long long)n);
		}
	}
	if (f) {
		r = dmaio_file_close_wait(f);
		WCHECK(w, r == 0, "close_wait: %d", r);
	}
	free(out);
	free(in);
	return NULL;
}

START_TEST(many_threads_wait)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct worker w[THREADS];
	struct dmaio_file *f;
	char path[PATH_MAX];
	int i;

	/* tu_path's buffers are the main thread's: the workers get a copy */
	snprintf(path, sizeof(path), "%s", tu_path("shared"));
	tu_make_file(path, THREADS * REGION, 1);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].loop = loop;
		w[i].path = path;
		w[i].idx = i;
		w[i].run = _i;
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, work, &w[i]),
				 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		ck_assert_msg(!w[i].failed, "thread %d: %s", i, w[i].why);
	}
	/* the last round of each thread is in the file, whole */
	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &f), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), THREADS * REGION);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Callbacks run on the loop's thread; a _wait there is -EDEADLK. */
struct on_thread {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	char *buf;
	pthread_t post_thread, cb_thread;
	int64_t res, deadlk, stop_deadlk;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void on_read(void *arg, int64_t res)
{
	struct on_thread *o = arg;

	o->cb_thread = pthread_self();
	o->res = res;
	o->deadlk = dmaio_file_size_wait(o->f);
	o->stop_deadlk = dmaio_loop_stop_thread(o->loop);
	pthread_mutex_lock(&o->lock);
	o->done = 1;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

/* Other calls are made on the loop's thread: from a post. */
static void start_read(void *arg)
{
	struct on_thread *o = arg;

	o->post_thread = pthread_self();
	if (dmaio_file_read_into(o->f, 0, o->buf, BLOCK, on_read, o))
		on_read(o, -1000);
}

START_TEST(callbacks_on_the_loop_thread)
{
	struct on_thread o;

	memset(&o, 0, sizeof(o));
	pthread_mutex_init(&o.lock, NULL);
	pthread_cond_init(&o.cond, NULL);
	tu_make_file(tu_path("cb"), BLOCK, 4);
	o.loop = run_loop(_i);
	o.buf = amem(BLOCK);
	ck_assert_int_eq(dmaio_file_open_wait(o.loop, tu_path("cb"), &o.f), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(o.loop), 0);
	ck_assert_int_eq(dmaio_loop_post(o.loop, start_read, &o), 0);
	pthread_mutex_lock(&o.lock);
	while (!o.done)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	ck_assert_int_eq(o.res, BLOCK);
	ck_assert_int_eq(tu_check(o.buf, BLOCK, 0, 4), -1);
	ck_assert(pthread_equal(o.post_thread, o.cb_thread));
	ck_assert(!pthread_equal(o.cb_thread, pthread_self()));
	ck_assert_int_eq(o.deadlk, -EDEADLK);
	ck_assert_int_eq(o.stop_deadlk, -EDEADLK);
	ck_assert_int_eq(dmaio_file_close_wait(o.f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(o.loop), 0);
	dmaio_loop_free(o.loop);
	free(o.buf);
	pthread_cond_destroy(&o.cond);
	pthread_mutex_destroy(&o.lock);
}
END_TEST

/* _wait calls racing stop_thread: each answered, or -ESHUTDOWN. */
struct racer {
	pthread_t tid;
	struct dmaio_file *f;
	char *buf;
	long ok, shut, bad;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	int i;

	for (i = 0;; i++) {
		int64_t n = i % 2 ? dmaio_file_size_wait(r->f)
				  : dmaio_file_read_into_wait(r->f, 0, r->buf,
							      BLOCK);

		if (n == -ESHUTDOWN)
			r->shut++;
		else if (n == BLOCK)
			r->ok++;
		else
			r->bad++;
		if (n != BLOCK)
			break;
	}
	return NULL;
}

START_TEST(waits_racing_stop_thread)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct racer r[THREADS];
	struct dmaio_file *f;
	int i;

	tu_make_file(tu_path("race"), BLOCK, 6);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("race"), &f), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	for (i = 0; i < THREADS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].f = f;
		r[i].buf = amem(BLOCK);
		ck_assert_int_eq(pthread_create(&r[i].tid, NULL, race, &r[i]),
				 0);
	}
	/* some calls answered before the stop, whatever the machine's load */
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(dmaio_file_size_wait(f), BLOCK);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(r[i].tid, NULL);
		ck_assert_int_eq(r[i].bad, 0);
		ck_assert_int_eq(r[i].shut, 1);
		free(r[i].buf);
	}
	/* after the stop, other threads get -ESHUTDOWN, never the loop */
	r[0].shut = 0;
	r[0].buf = amem(BLOCK);
	ck_assert_int_eq(pthread_create(&r[0].tid, NULL, race, &r[0]), 0);
	pthread_join(r[0].tid, NULL);
	ck_assert_int_eq(r[0].shut, 1);
	free(r[0].buf);
	/* nothing was left behind: the owner drives the loop again */
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), BLOCK);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* The streams' twins from another thread; the streams made in a post. */
struct streams {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct dmaio_writer *w;
	struct dmaio_reader *r;
	int ret;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void new_stream(void *arg)
{
	struct streams *s = arg;

	if (s->w)
		s->ret = dmaio_reader_new(s->f, NULL, &s->r);
	else
		s->ret = dmaio_writer_new(s->f, NULL, &s->w);
	pthread_mutex_lock(&s->lock);
	s->done = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int on_loop(struct streams *s)
{
	s->done = 0;
	ck_assert_int_eq(dmaio_loop_post(s->loop, new_stream, s), 0);
	pthread_mutex_lock(&s->lock);
	while (!s->done)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return s->ret;
}

START_TEST(streams_from_another_thread)
{
	struct streams s;
	size_t len = 300000;
	char *data = malloc(len), *back = malloc(len);

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	s.loop = run_loop(_i);
	tu_fill(data, len, 0, 8);
	ck_assert_int_eq(dmaio_loop_start_thread(s.loop), 0);
	ck_assert_int_eq(dmaio_file_create_wait(s.loop, tu_path("st"), &s.f),
			 0);
	/* write_copy_wait too: any range, from this thread */
	ck_assert_int_eq(dmaio_file_write_copy_wait(s.f, 3, data, 10), 10);
	ck_assert_int_eq(dmaio_file_size_wait(s.f), 13);
	ck_assert_int_eq(on_loop(&s), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(s.w, data, len),
			 (int64_t)len);
	ck_assert_int_eq(dmaio_writer_flush_wait(s.w), 0);
	ck_assert_int_eq(dmaio_writer_sync_wait(s.w), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(s.w), (int64_t)len);
	ck_assert_int_eq(dmaio_file_open_wait(s.loop, tu_path("st"), &s.f), 0);
	ck_assert_int_eq(on_loop(&s), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(s.r, back, len),
			 (int64_t)len);
	ck_assert_int_eq(memcmp(back, data, len), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(s.r, back, 1), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(s.r), 0);
	dmaio_loop_free(s.loop);
	free(data);
	free(back);
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
}
END_TEST

/* dmaio_loop_free from a callback: the thread leaves and frees it. */
static void free_loop(void *arg)
{
	dmaio_loop_free(arg);
}

START_TEST(free_from_a_callback)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f;
	int fd, i;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("free"), &f), 0);
	fd = dmaio_file_fd(f);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	ck_assert_int_eq(dmaio_file_size_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_post(loop, free_loop, loop), 0);
	/* the loop's files close with it: its fd is seen to go, not a time */
	for (i = 0; i < 100000 && fcntl(fd, F_GETFD) >= 0; i++)
		usleep(100);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thread");
	TCase *tc = tu_tcase(s, "thread");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD(tc, start_stop_rules);
	ADD_RUNS(tc, many_threads_wait);
	ADD_RUNS(tc, callbacks_on_the_loop_thread);
	ADD_RUNS(tc, waits_racing_stop_thread);
	ADD_RUNS(tc, streams_from_another_thread);
	ADD_RUNS(tc, free_from_a_callback);
	return tu_run(s);
}
