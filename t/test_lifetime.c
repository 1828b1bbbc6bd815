/* SPDX-License-Identifier: MIT */
/*
 * A loop's life at its edges, as programs use it: dmaio_loop_stop() from
 * another thread while the loop sleeps (in epoll_wait, or in io_getevents
 * when only AIO can wake it), dmaio_loop_free() from inside a callback
 * (under run, run_once and a _wait), and dmaio_loop_free() with every kind
 * of work still pending (leaks show under valgrind and LeakSanitizer).
 */
#include "testutil.h"
#include "inject.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct stopper {
	struct dmaio_loop *loop;
	double stopped_at;
	int unblock_fd;        /* written by the watchdog if stop fails */
	int run_returned;      /* atomic */
};

/*
 * Stops the loop after 100 ms; if run has not returned 3 s later, undoes
 * the wait itself (writes the pipe, submits the held write) so that a
 * failing test ends instead of hanging.
 */
static void *stop_later(void *arg)
{
	struct stopper *s = arg;
	int i;

	usleep(100 * 1000);
	s->stopped_at = tu_now_s();
	dmaio_loop_stop(s->loop);
	for (i = 0; i < 300 && !__atomic_load_n(&s->run_returned,
						 __ATOMIC_SEQ_CST); i++)
		usleep(10 * 1000);
	if (!__atomic_load_n(&s->run_returned, __ATOMIC_SEQ_CST)) {
		if (s->unblock_fd >= 0 && write(s->unblock_fd, "x", 1) != 1)
			abort();
		if (inj_holding)
			inj_release();
	}
	return NULL;
}

static void on_pipe(void *arg, int fd, uint32_t events)
{
	(void)arg;
	(void)fd;
	(void)events;
}

static double run_until_stopped(struct stopper *s)
{
	pthread_t t;
	double took;

	ck_assert_int_eq(pthread_create(&t, NULL, stop_later, s), 0);
	ck_assert_int_eq(dmaio_loop_run(s->loop), 0);
	took = tu_now_s();
	__atomic_store_n(&s->run_returned, 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	return took - s->stopped_at; /* read after the join */
}

/* Waiting in epoll_wait for a socket that stays silent. */
START_TEST(stop_from_another_thread_wakes_epoll_wait)
{
	struct stopper s = { NULL, 0, -1, 0 };
	int p[2];
	double took;

	s.loop = tu_loop(tu_profile_disable[_i], 0);
	ck_assert_int_eq(pipe(p), 0);
	s.unblock_fd = p[1];
	ck_assert_int_eq(dmaio_loop_watch(s.loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	took = run_until_stopped(&s);
	ck_assert_msg(took < 1.5, "run returned %.3f s after stop", took);
	ck_assert_int_eq(dmaio_loop_unwatch(s.loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	dmaio_loop_free(s.loop);
}
END_TEST

/*
 * Only AIO can wake the loop, so it waits in io_getevents, where no
 * eventfd reaches: a write held back from the kernel never completes.
 */
START_TEST(stop_from_another_thread_wakes_io_getevents)
{
	struct stopper s = { NULL, 0, -1, 0 };
	struct dmaio_file *f;
	struct dmaio_buf *b;
	int64_t res = 1;
	double took;

	s.loop = tu_loop(tu_profile_disable[_i], 0);
	ck_assert_int_eq(dmaio_file_create_wait(s.loop, tu_path("s"), &f), 0);
	b = dmaio_file_alloc_buf(f, 4096);
	memset(dmaio_buf_data(b), 7, 4096);
	inj_reset();
	inj_hold_write0 = 1;
	ck_assert_int_eq(dmaio_file_write_at(f, b, 0, NULL, NULL), 0);
	took = run_until_stopped(&s);
	ck_assert_msg(took < 1.5, "run returned %.3f s after stop", took);
	/* the loop still works: the write completes once released */
	ck_assert_int_eq(inj_holding, 1);
	inj_release();
	ck_assert_int_eq(dmaio_loop_run(s.loop), 0);
	ck_assert_int_eq(dmaio_loop_pending(s.loop), 0);
	res = dmaio_file_size_wait(f);
	ck_assert_int_eq(res, 4096);
	dmaio_buf_unref(b);
	dmaio_loop_free(s.loop);
}
END_TEST

struct freer {
	struct dmaio_loop *loop;
	int calls;
	int free_at;
};

static void on_read_free(void *arg, struct dmaio_view *v, int64_t res)
{
	struct freer *fr = arg;

	ck_assert_int_eq(res, 512);
	dmaio_view_release(v);
	if (++fr->calls == fr->free_at)
		dmaio_loop_free(fr->loop);
}

/* Eight reads, a size and a read_many behind the one whose callback
 * frees the loop: _i picks who drives it (run, run_once, a _wait). */
static void start_work(struct freer *fr, struct dmaio_file **fp)
{
	static const struct dmaio_iovec iov[2] = { { 0, 10 }, { 5000, 10 } };
	int i;

	tu_make_file(tu_path("fc"), 65536, 3);
	ck_assert_int_eq(dmaio_file_open_wait(fr->loop, tu_path("fc"), fp), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(dmaio_file_read_at(*fp, (uint64_t)i * 4096,
						    512, on_read_free, fr),
				 0);
	ck_assert_int_eq(dmaio_file_size(*fp, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_read_many(*fp, iov, 2, NULL, NULL, NULL),
			 0);
}

START_TEST(loop_free_from_callback_under_run)
{
	struct freer fr = { NULL, 0, 1 };
	struct dmaio_file *f;
	int fds = count_fds();

	fr.loop = tu_loop(0, 0);
	start_work(&fr, &f);
	/* run must not touch the loop after the callback freed it */
	ck_assert_int_eq(dmaio_loop_run(fr.loop), 0);
	ck_assert_int_eq(fr.calls, 1); /* nobody called after the free */
	ck_assert_int_eq(count_fds(), fds); /* and it is gone: fds closed */
}
END_TEST

START_TEST(loop_free_from_callback_under_run_once)
{
	struct freer fr = { NULL, 0, 2 };
	struct dmaio_file *f;
	int fds = count_fds();

	fr.loop = tu_loop(0, 0);
	start_work(&fr, &f);
	while (fr.calls < 2)
		ck_assert_int_ge(dmaio_loop_run_once(fr.loop, -1), 0);
	ck_assert_int_eq(fr.calls, 2);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* Another operation's callback frees the loop while a _wait waits. */
START_TEST(loop_free_from_callback_under_wait)
{
	struct freer fr = { NULL, 0, 1 };
	struct dmaio_file *f;
	int fds = count_fds();

	fr.loop = tu_loop(0, 0);
	start_work(&fr, &f);
	ck_assert_int_eq(dmaio_file_fdatasync_wait(f), -ECANCELED);
	ck_assert_int_eq(fr.calls, 1);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static void must_not_be_called(void *arg, int64_t res)
{
	(void)res;
	(*(int *)arg)++;
}

static void view_must_not_come(void *arg, struct dmaio_view *v, int64_t res)
{
	(void)res;
	dmaio_view_release(v);
	(*(int *)arg)++;
}

static void many_must_not_come(void *arg, size_t idx, struct dmaio_view *v,
			       int64_t res)
{
	(void)idx;
	(void)res;
	dmaio_view_release(v);
	(*(int *)arg)++;
}

static void open_must_not_come(void *arg, struct dmaio_file *f, int err)
{
	(void)f;
	(void)err;
	(*(int *)arg)++;
}

/*
 * Everything a program can leave pending when it frees the loop: read_many
 * (its planning state is the library's to free), a writer mid-stream with
 * flush and sync queued, a reader with read-ahead and a get_buffer
 * waiting, and every metadata call. No callback runs; valgrind and
 * LeakSanitizer see no leak.
 */
START_TEST(loop_free_with_everything_pending)
{
	static const struct dmaio_iovec iov[3] = {
		{ 0, 100 }, { 70000, 10 }, { 200000, 4096 },
	};
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f, *wf, *rf, *mf;
	struct dmaio_writer *w;
	struct dmaio_reader *r;
	struct dmaio_buf *b;
	char chunk[10000];
	int called = 0, i;

	tu_make_file(tu_path("src"), 1 << 20, 9);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("src"), &f), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("src"), &rf), 0);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("w"), &wf), 0);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("m"), &mf), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(dmaio_file_read_many(f, iov, 3, NULL,
						      many_must_not_come,
						      &called),
				 0);
	ck_assert_int_eq(dmaio_writer_new(wf, NULL, &w), 0);
	memset(chunk, 'w', sizeof(chunk));
	for (i = 0; i < 40; i++)
		ck_assert_int_ge(dmaio_writer_write(w, chunk, sizeof(chunk)),
				 0);
	ck_assert_int_eq(dmaio_writer_flush(w, must_not_be_called, &called),
			 0);
	ck_assert_int_eq(dmaio_writer_sync(w, must_not_be_called, &called), 0);
	ck_assert_int_eq(dmaio_reader_new(rf, NULL, &r), 0);
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 1000, view_must_not_come,
						 &called),
			 0);
	b = dmaio_file_alloc_buf(mf, 4096);
	memset(dmaio_buf_data(b), 1, 4096);
	ck_assert_int_eq(dmaio_file_write_at(mf, b, 0, must_not_be_called,
					     &called),
			 0);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_file_read_at(f, 3, 5000, view_must_not_come,
					    &called),
			 0);
	ck_assert_int_eq(dmaio_file_fdatasync(mf, must_not_be_called, &called),
			 0);
	ck_assert_int_eq(dmaio_file_size(mf, must_not_be_called, &called), 0);
	ck_assert_int_eq(dmaio_file_pre_allocate(mf, 65536, must_not_be_called,
						 &called),
			 0);
	ck_assert_int_eq(dmaio_file_truncate(mf, 8192, must_not_be_called,
					     &called),
			 0);
	ck_assert_int_eq(dmaio_file_deallocate(mf, 0, 4096, must_not_be_called,
					       &called),
			 0);
	ck_assert_int_eq(dmaio_file_rename(mf, tu_path("m2"),
					   must_not_be_called, &called),
			 0);
	ck_assert_int_eq(dmaio_file_open(loop, tu_path("src"),
					 open_must_not_come, &called),
			 0);
	ck_assert_int_eq(dmaio_file_remove(mf, must_not_be_called, &called),
			 0);
	ck_assert_int_eq(dmaio_file_close(mf, must_not_be_called, &called), 0);
	if (_i & 1) { /* some already in the kernel or done */
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
		called = 0; /* from here on, nobody */
	}
	dmaio_loop_free(loop);
	ck_assert_int_eq(called, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifetime");
	TCase *tc = tu_tcase(s, "lifetime");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, stop_from_another_thread_wakes_epoll_wait);
	TU_ADD_PROFILES(tc, stop_from_another_thread_wakes_io_getevents);
	TU_ADD(tc, loop_free_from_callback_under_run);
	TU_ADD(tc, loop_free_from_callback_under_run_once);
	TU_ADD(tc, loop_free_from_callback_under_wait);
	TU_ADD_PROFILES(tc, loop_free_with_everything_pending);
	return tu_run(s);
}
