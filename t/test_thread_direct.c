/* SPDX-License-Identifier: MIT */
/*
 * read_into_wait and write_from_wait from threads other than the loop's
 * (dmaio_loop_start_thread) run on the calling thread where the loop
 * would send the request as it is: counted in caller_ios, not handed
 * over (no iocb of the loop's), appends too (test_fuse: not where the
 * loop holds a file's I/O behind one). In an I/O class they are handed
 * over. close and stop_thread wait for a call in
 * progress: this program's pread() holds one at a gate (it takes
 * precedence over libc's for the library too). Built with
 * -fsanitize=thread in CI.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "runs.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 25
#define BLOCK 4096
#define REGION (4 * BLOCK)

/* ------------------------------------------------------------------ */
/* the gate: a pread of the gated thread waits until it is opened      */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_held, gate_open;
static __thread int gated; /* this thread's preads wait at the gate */

static void gate_wait(void)
{
	if (!gated)
		return;
	pthread_mutex_lock(&gate_lock);
	gate_held = 1;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static ssize_t (*real_pread)(int, void *, size_t, off_t);

/* before main and its threads: pread's callers all read it after */
__attribute__((constructor)) static void find_pread(void)
{
	real_pread = (ssize_t (*)(int, void *, size_t, off_t))
		     dlsym(RTLD_NEXT, "pread");
}

ssize_t pread(int fd, void *buf, size_t n, off_t pos)
{
	gate_wait();
	return real_pread(fd, buf, n, pos);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t pos)
{
	return pread(fd, buf, n, pos);
}

static void gate_arm(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_held = gate_open = 0;
	pthread_mutex_unlock(&gate_lock);
}

static void gate_wait_held(void)
{
	pthread_mutex_lock(&gate_lock);
	while (!gate_held)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* ------------------------------------------------------------------ */

static void *amem(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, BLOCK, len), 0);
	memset(p, 0, len);
	return p;
}

/* The loop's statistics are its thread's: read between two runs of it. */
static struct dmaio_loop_stats loop_stats(struct dmaio_loop *loop)
{
	struct dmaio_loop_stats st;

	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	st = tu_loop_stats(loop);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	return st;
}

struct worker {
	pthread_t tid;
	struct dmaio_file *f;
	int idx;
	int failed;
	char why[200];
};

/* Each thread its region: write, read back, compare. */
static void *rw_rounds(void *arg)
{
	struct worker *w = arg;
	char *out = amem(BLOCK), *in = amem(BLOCK);
	int r;

	for (r = 0; r < ROUNDS && !w->failed; r++) {
		uint64_t pos = (uint64_t)w->idx * REGION +
			       (uint64_t)(r % 4) * BLOCK;
		unsigned seed = (unsigned)(w->idx * 100 + r);
		int64_t n;

		tu_fill(out, BLOCK, pos, seed);
		n = dmaio_file_write_from_wait(w->f, pos, out, BLOCK);
		WCHECK(w, n == BLOCK, "write_from_wait: %lld (%s)",
		       (long long)n, dmaio_last_error());
		n = dmaio_file_read_into_wait(w->f, pos, in, BLOCK);
		WCHECK(w, n == BLOCK, "read_into_wait: %lld (%s)",
		       (long long)n, dmaio_last_error());
		WCHECK(w, tu_check(in, BLOCK, pos, seed) == -1,
		       "read_into_wait read other bytes at %llu",
		       (unsigned long long)pos);
	}
	free(out);
	free(in);
	return NULL;
}

static void run_workers(struct dmaio_file *f)
{
	struct worker w[THREADS];
	int i;

	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].f = f;
		w[i].idx = i;
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, rw_rounds,
						&w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		ck_assert_msg(!w[i].failed, "thread %d: %s", i, w[i].why);
	}
}

static struct dmaio_file *shared_file(struct dmaio_loop *loop)
{
	struct dmaio_file *f;

	tu_make_file(tu_path("shared"), THREADS * REGION, 1);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("shared"),
						    O_RDWR, 0, &f), 0);
	return f;
}

/* No class: every call on its caller's thread, none through the loop. */
START_TEST(calls_run_on_their_threads)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = shared_file(loop);
	struct dmaio_loop_stats a, b;
	struct dmaio_file_stats fs;

	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	a = loop_stats(loop);
	run_workers(f);
	b = loop_stats(loop);
	ck_assert_uint_eq(b.caller_ios - a.caller_ios, 2 * THREADS * ROUNDS);
	ck_assert_uint_eq(b.iocbs, a.iocbs);
	ck_assert_uint_eq(b.helper_ops, a.helper_ops);
	/* the file's counters have them */
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	fs.size = sizeof(fs);
	ck_assert_int_eq(dmaio_file_stats(f, &fs), 0);
	ck_assert_uint_eq(fs.reads, THREADS * ROUNDS);
	ck_assert_uint_eq(fs.writes, THREADS * ROUNDS);
	ck_assert_uint_eq(fs.read_bytes, (uint64_t)THREADS * ROUNDS * BLOCK);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* With a class, the dispatcher decides: handed over, the same results. */
START_TEST(classes_hand_calls_over)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = shared_file(loop);
	struct dmaio_class_opts o;
	struct dmaio_class *c;
	struct dmaio_loop_stats a, b;

	dmaio_class_opts_init(&o);
	o.name = "bulk";
	ck_assert_int_eq(dmaio_class_new(loop, &o, &c), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	/* the file in no class, but the loop has one */
	a = loop_stats(loop);
	run_workers(f);
	b = loop_stats(loop);
	ck_assert_uint_eq(b.caller_ios, a.caller_ios);
	ck_assert_uint_ge(b.iocbs + b.helper_ops - a.iocbs - a.helper_ops,
			  2 * THREADS * ROUNDS);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	/* the file in the class */
	ck_assert_int_eq(dmaio_file_set_class(f, c), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	run_workers(f);
	ck_assert_uint_eq(loop_stats(loop).caller_ios, a.caller_ios);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	dmaio_class_free(c);
	dmaio_loop_free(loop);
}
END_TEST

struct one_call {
	struct dmaio_file *f;
	int write;
	uint64_t pos;
	void *buf;
	size_t len;
	int64_t res;
	char err[256];
};

/* the call whose thread's preads wait at the gate */
static struct one_call *held_call;

static void *call_once(void *arg)
{
	struct one_call *c = arg;

	gated = c == held_call;
	c->res = c->write ?
		dmaio_file_write_from_wait(c->f, c->pos, c->buf, c->len) :
		dmaio_file_read_into_wait(c->f, c->pos, c->buf, c->len);
	snprintf(c->err, sizeof(c->err), "%s", dmaio_last_error());
	return NULL;
}

static struct one_call call_from_thread(struct dmaio_file *f, int write,
					uint64_t pos, void *buf, size_t len)
{
	struct one_call c;
	pthread_t t;

	memset(&c, 0, sizeof(c));
	c.f = f;
	c.write = write;
	c.pos = pos;
	c.buf = buf;
	c.len = len;
	ck_assert_int_eq(pthread_create(&t, NULL, call_once, &c), 0);
	pthread_join(t, NULL);
	return c;
}

/* Appends on the thread too, the EOF the loop knows moved by them (the
 * stream writer starts there); what the loop checks, the thread checks. */
START_TEST(writes_past_eof_and_bad_calls)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = shared_file(loop);
	char *buf = amem(2 * BLOCK);
	uint64_t eof = THREADS * REGION;
	uint64_t before;
	struct one_call c;

	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	before = loop_stats(loop).caller_ios;
	tu_fill(buf, BLOCK, eof, 7);
	c = call_from_thread(f, 1, eof, buf, BLOCK);
	ck_assert_int_eq(c.res, BLOCK);
	ck_assert_uint_eq(loop_stats(loop).caller_ios, before + 1);
	ck_assert_int_eq(dmaio_file_size_wait(f), eof + BLOCK);
	/* an overwrite of it */
	c = call_from_thread(f, 1, eof, buf, BLOCK);
	ck_assert_int_eq(c.res, BLOCK);
	ck_assert_uint_eq(loop_stats(loop).caller_ios, before + 2);
	/* a writer made now starts where the append left the file */
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	{
		struct dmaio_writer *w;
		struct dmaio_writer_opts wo;

		dmaio_writer_opts_init(&wo);
		wo.flags = DMAIO_WRITER_APPEND;
		ck_assert_int_eq(dmaio_writer_new(f, &wo, &w), 0);
		ck_assert_uint_eq(dmaio_writer_position(w), eof + BLOCK);
		ck_assert_int_eq(dmaio_writer_write_wait(w, "x", 1), 1);
		ck_assert_int_eq(dmaio_writer_close_wait(w), 1);
	}
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("shared"),
						    O_RDWR, 0, &f), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	/* a read across EOF is clamped there: the append, then the 'x' */
	memset(buf, 0, 2 * BLOCK);
	c = call_from_thread(f, 0, eof, buf, 2 * BLOCK);
	ck_assert_int_eq(c.res, BLOCK + 1);
	ck_assert_int_eq(tu_check(buf, BLOCK, eof, 7), -1);
	ck_assert_int_eq(buf[BLOCK], 'x');
	/* the loop's checks, with their reasons */
	c = call_from_thread(f, 0, 0, buf + 1, BLOCK);
	ck_assert_int_eq(c.res, -EINVAL);
	ck_assert_ptr_nonnull(strstr(c.err, "read_into_wait"));
	ck_assert_ptr_nonnull(strstr(c.err, "aligned"));
	c = call_from_thread(f, 1, 100, buf, BLOCK);
	ck_assert_int_eq(c.res, -EINVAL);
	ck_assert_ptr_nonnull(strstr(c.err, "pos 100"));
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("shared"), &f), 0);
	c = call_from_thread(f, 1, 0, buf, BLOCK);
	ck_assert_int_eq(c.res, -EBADF);
	ck_assert_ptr_nonnull(strstr(c.err, "read-only"));
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	free(buf);
	dmaio_loop_free(loop);
}
END_TEST

struct closer {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	int stop;          /* stop_thread instead of close */
	int ret, done;
	int close_ret;     /* stop: the file closed after, by the new owner */
};

static void *close_it(void *arg)
{
	struct closer *c = arg;
	int ret = c->stop ? dmaio_loop_stop_thread(c->loop) :
			    dmaio_file_close_wait(c->f);

	__atomic_store_n(&c->ret, ret, __ATOMIC_RELAXED);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	if (c->stop) {
		/* stop_thread made this thread the loop's owner */
		c->close_ret = dmaio_file_close_wait(c->f);
		dmaio_loop_free(c->loop);
	}
	return NULL;
}

/*
 * A read held in pread: close (or stop_thread) does not finish before it;
 * a call made once close was submitted is -EBADF; the held read returns
 * its bytes.
 */
static void held_read(int run, int stop)
{
	struct dmaio_loop *loop = run_loop(run);
	struct dmaio_file *f = shared_file(loop);
	char *buf = amem(BLOCK), *probe = amem(BLOCK);
	struct one_call held;
	struct closer cl;
	pthread_t reader, closer;
	int i;

	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	memset(&held, 0, sizeof(held));
	held.f = f;
	held.pos = BLOCK;
	held.buf = buf;
	held.len = BLOCK;
	gate_arm();
	held_call = &held;
	ck_assert_int_eq(pthread_create(&reader, NULL, call_once, &held), 0);
	gate_wait_held();
	memset(&cl, 0, sizeof(cl));
	cl.loop = loop;
	cl.f = f;
	cl.stop = stop;
	ck_assert_int_eq(pthread_create(&closer, NULL, close_it, &cl), 0);
	if (!stop) {
		/* once close is submitted, other calls are refused */
		struct one_call c;

		for (i = 0; i < 100000; i++) {
			c = call_from_thread(f, 0, 0, probe, BLOCK);
			if (c.res == -EBADF)
				break;
			ck_assert_int_eq(c.res, BLOCK);
		}
		ck_assert_int_eq(c.res, -EBADF);
		ck_assert_ptr_nonnull(strstr(c.err, "close"));
	} else {
		/* stop_thread has begun once other calls are refused */
		for (i = 0; i < 100000; i++) {
			if (dmaio_file_size_wait(f) == -ESHUTDOWN)
				break;
			usleep(100);
		}
		ck_assert_int_lt(i, 100000);
	}
	/* the read is still in pread: neither may have finished */
	usleep(20000);
	ck_assert_int_eq(__atomic_load_n(&cl.done, __ATOMIC_ACQUIRE), 0);
	gate_release();
	pthread_join(reader, NULL);
	pthread_join(closer, NULL);
	held_call = NULL;
	ck_assert_int_eq(held.res, BLOCK);
	ck_assert_int_eq(tu_check(buf, BLOCK, BLOCK, 1), -1);
	ck_assert_int_eq(cl.ret, 0);
	ck_assert_int_eq(cl.close_ret, 0);
	free(buf);
	free(probe);
	if (!stop)
		dmaio_loop_free(loop);
}

START_TEST(close_waits_for_a_call_in_progress)
{
	held_read(_i, 0);
}
END_TEST

START_TEST(stop_thread_waits_for_a_call_in_progress)
{
	held_read(_i, 1);
}
END_TEST

static void *sizes(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < 50; i++) {
		int64_t n = dmaio_file_size_wait(w->f);

		WCHECK(w, n == THREADS * REGION, "size_wait: %lld (%s)",
		       (long long)n, dmaio_last_error());
	}
	return NULL;
}

/* size_wait where the loop answers with an fstat of its own: the caller
 * makes it, the loop's thread is not woken for it. */
START_TEST(size_wait_on_the_callers_thread)
{
	struct dmaio_loop *loop = run_loop(_i);
	struct dmaio_file *f = shared_file(loop);
	struct dmaio_loop_stats a, b, c;
	struct worker w;

	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	a = loop_stats(loop);
	b = loop_stats(loop); /* what a stop and start cost in wake-ups */
	memset(&w, 0, sizeof(w));
	w.f = f;
	ck_assert_int_eq(pthread_create(&w.tid, NULL, sizes, &w), 0);
	pthread_join(w.tid, NULL);
	ck_assert_msg(!w.failed, "%s", w.why);
	c = loop_stats(loop);
	/* handed over, each of the 50 would have woken the loop */
	ck_assert_msg(c.wakeups - b.wakeups < (b.wakeups - a.wakeups) + 20,
		      "%llu wake-ups for 50 size_wait calls (%llu for none)",
		      (unsigned long long)(c.wakeups - b.wakeups),
		      (unsigned long long)(b.wakeups - a.wakeups));
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thread_direct");
	TCase *tc = tu_tcase(s, "thread_direct");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	ADD_RUNS(tc, calls_run_on_their_threads);
	ADD_RUNS(tc, classes_hand_calls_over);
	ADD_RUNS(tc, writes_past_eof_and_bad_calls);
	ADD_RUNS(tc, close_waits_for_a_call_in_progress);
	ADD_RUNS(tc, stop_thread_waits_for_a_call_in_progress);
	ADD_RUNS(tc, size_wait_on_the_callers_thread);
	return tu_run(s);
}
