/* SPDX-License-Identifier: MIT */
/*
 * Embedding: a program with its own event loop polls dmaio_loop_fd() and
 * calls dmaio_loop_run_once(loop, 0) when it is readable, with no
 * dmaio_loop_run anywhere. The fd must become readable whenever run_once
 * has something to do (completions, and work queued by calls made outside
 * the loop's iteration), or the program hangs; and it must not be
 * readable when there is nothing to do, or the program spins.
 *
 * The same application (reads, writes, metadata calls, read_many and a
 * stream writer, some started from callbacks and some from the outer
 * loop) runs under a plain poll() loop and under libuv's uv_poll_t. A
 * 2-second watchdog turns a hang into a failure.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_UV
#include <uv.h>
#endif

#define BLOCKS 16
#define OUTSIDE_READS 40
/* a hang, not a slow disk: an fdatasync on a busy build disk took 2 s */
#define WATCHDOG_MS 30000

struct app {
	struct dmaio_loop *loop;
	struct dmaio_file *f, *wf;
	struct dmaio_writer *w;
	int stage;
	int left;               /* callbacks the stage still waits for */
	int outside_left;       /* reads the outer loop still starts */
	int outside_busy;
	int run_after_submit;   /* the outer loop calls run_once(0) itself */
	int done;
	int errors;
	char why[256];
	long wakeups, idle;     /* poll wake-ups; of which ran no callback */
	long submits;           /* made by the outer loop */
	struct read_req {
		struct app *a;
		uint64_t pos;
	} reads[BLOCKS];
};

static void app_fail(struct app *a, const char *what, int64_t res)
{
	if (!a->errors++)
		snprintf(a->why, sizeof(a->why), "stage %d: %s: %lld (%s)",
			 a->stage, what, (long long)res,
			 dmaio_strerror((int)res));
}

static void next_stage(struct app *a);

static void on_done(void *arg, int64_t res)
{
	struct app *a = arg;

	if (res < 0)
		app_fail(a, "callback", res);
	if (!--a->left)
		next_stage(a);
}

static void on_size(void *arg, int64_t res)
{
	struct app *a = arg;
	int64_t want = a->stage == 3 ? BLOCKS * 4096 : 8192;

	if (res != want)
		app_fail(a, "size", res);
	on_done(arg, 0);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct read_req *r = arg;

	if (res != 3000 || dmaio_view_len(v) != 3000 ||
	    tu_check(dmaio_view_data(v), 3000, r->pos, 7) != -1)
		app_fail(r->a, "read_at", res);
	dmaio_view_release(v);
	on_done(r->a, 0);
}

static void on_many(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	struct app *a = arg;

	if (res != 10 ||
	    tu_check(dmaio_view_data(v), 10, idx * 4096 + 5, 7) != -1)
		app_fail(a, "read_many", res);
	dmaio_view_release(v);
	on_done(arg, 0);
}

static void on_open(void *arg, struct dmaio_file *f, int err)
{
	struct app *a = arg;

	if (err)
		app_fail(a, "open", err);
	if (!a->f)
		a->f = f;
	else
		a->wf = f;
	on_done(arg, 0);
}

static void on_closed(void *arg, int64_t res)
{
	struct app *a = arg;

	if (res < 0)
		app_fail(a, "close", res);
	on_done(arg, 0);
}

static void check_start(struct app *a, const char *what, int ret)
{
	if (ret)
		app_fail(a, what, ret);
	else
		a->left++;
}

/* Each stage starts from the callback that ended the one before. */
static void next_stage(struct app *a)
{
	static const struct dmaio_iovec iov[2] = {
		{ 5, 10 }, { 4096 + 5, 10 },
	};
	struct dmaio_buf *b;
	char chunk[3000];
	int i;

	a->stage++;
	switch (a->stage) {
	case 1: /* 16 writes at once */
		for (i = 0; i < BLOCKS; i++) {
			b = dmaio_file_alloc_buf(a->f, 4096);
			tu_fill(dmaio_buf_data(b), 4096, (uint64_t)i * 4096, 7);
			check_start(a, "write_at",
				    dmaio_file_write_at(a->f, b,
							(uint64_t)i * 4096,
							on_done, a));
			dmaio_buf_unref(b);
		}
		break;
	case 2:
		check_start(a, "fdatasync",
			    dmaio_file_fdatasync(a->f, on_done, a));
		break;
	case 3:
		for (i = 0; i < BLOCKS; i++) {
			struct read_req *r = &a->reads[i];

			r->a = a;
			r->pos = (uint64_t)i * 4096 + 100;
			check_start(a, "read_at",
				    dmaio_file_read_at(a->f, r->pos, 3000,
						       on_read, r));
		}
		check_start(a, "size", dmaio_file_size(a->f, on_size, a));
		break;
	case 4:
		check_start(a, "truncate",
			    dmaio_file_truncate(a->f, 8192, on_done, a));
		check_start(a, "size", dmaio_file_size(a->f, on_size, a));
		break;
	case 5: /* two ranges, two callbacks */
		if (dmaio_file_read_many(a->f, iov, 2, NULL, on_many, a))
			app_fail(a, "read_many", -1);
		else
			a->left += 2;
		break;
	case 6:
		check_start(a, "create",
			    dmaio_file_create(a->loop, tu_path("w"), on_open,
					      a));
		break;
	case 7:
		if (dmaio_writer_new(a->wf, NULL, &a->w)) {
			app_fail(a, "writer_new", -1);
			break;
		}
		memset(chunk, 'x', sizeof(chunk));
		for (i = 0; i < 100; i++)
			if (dmaio_writer_write(a->w, chunk, sizeof(chunk)) !=
			    (int64_t)sizeof(chunk))
				app_fail(a, "writer_write", i);
		check_start(a, "writer_flush",
			    dmaio_writer_flush(a->w, on_done, a));
		check_start(a, "writer_sync",
			    dmaio_writer_sync(a->w, on_done, a));
		check_start(a, "writer_close",
			    dmaio_writer_close(a->w, on_done, a));
		a->w = NULL;
		a->wf = NULL; /* closed with the writer */
		break;
	case 8:
		break; /* the outer loop closes f when its reads are done */
	default:
		a->done = 1;
	}
}

static void on_outside_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct app *a = arg;

	if (res != 512)
		app_fail(a, "outside read", res);
	dmaio_view_release(v);
	a->outside_busy = 0;
}

/*
 * What the outer loop does between two wake-ups: starts a read of its
 * own, outside any callback of the loop, while the file is open.
 */
static int outside_start(struct app *a)
{
	if (a->outside_busy || !a->f || a->stage < 1 || a->left)
		return 0;
	if (!a->outside_left) {
		if (a->stage != 8)
			return 0;
		/* a barrier started from outside: helper work */
		check_start(a, "close", dmaio_file_close(a->f, on_closed, a));
		a->f = NULL;
		return 1;
	}
	if (dmaio_file_read_at(a->f, 512, 512, on_outside_read, a)) {
		app_fail(a, "outside read_at", -1);
		return 0;
	}
	a->outside_left--;
	a->outside_busy = 1;
	a->submits++;
	return 1;
}

static void outside_step(struct app *a)
{
	while (outside_start(a) && a->run_after_submit) {
		/* not a wake-up: the program's own turn, not counted */
		if (dmaio_loop_run_once(a->loop, 0) < 0)
			app_fail(a, "run_once after submit", -1);
	}
}

static int app_finished(const struct app *a)
{
	return a->done && !a->outside_busy;
}

static void app_start(struct app *a, uint64_t disable, int run_after)
{
	memset(a, 0, sizeof(*a));
	a->loop = tu_loop(disable, 0);
	a->outside_left = OUTSIDE_READS;
	a->run_after_submit = run_after;
	/* the first call is made outside the loop, before anything polls */
	tu_make_file(tu_path("e"), BLOCKS * 4096, 1);
	a->left = 1;
	ck_assert_int_eq(dmaio_file_open_flags(a->loop, tu_path("e"), O_RDWR,
					       0, on_open, a),
			 0);
}

/*
 * What every try must show; returns whether its wasted wake-ups stayed
 * under the bound (which the callers give a few tries).
 */
static char tries_seen[256]; /* each try's wasted wake-ups, for the message */

static int app_check(struct app *a)
{
	int quiet;

	ck_assert_msg(!a->errors, "%s", a->why);
	ck_assert_int_eq(a->stage, 9);
	ck_assert_int_eq(a->outside_left, 0);
	ck_assert_uint_eq(dmaio_loop_pending(a->loop), 0);
	/*
	 * A wake-up that runs no callback is a wasted poll: rare, or an
	 * embedding program spins. One that only submits what the outer
	 * loop queued is not wasted, unless the program ran run_once(0)
	 * itself right after queueing.
	 */
	if (!a->run_after_submit)
		a->idle -= a->submits;
	quiet = a->idle * 10 <= a->wakeups;
	snprintf(tries_seen + strlen(tries_seen),
		 sizeof(tries_seen) - strlen(tries_seen), " %ld of %ld;",
		 a->idle, a->wakeups);
	dmaio_loop_free(a->loop);
	return quiet;
}

/*
 * The wasted wake-ups' bound is a rate over some twenty wake-ups, and a
 * preempted thread wastes some honestly: a helper that has queued its
 * result but not yet signalled its eventfd when the loop takes the
 * result wakes the host for nothing once it runs again (4 of 23 once,
 * [no aio fdsync], with 4 CPU burners on 2 CPUs). A fault of ours that
 * wastes wake-ups does it in every try; a loaded machine, rarely twice.
 */
#define QUIET_TRIES 3

static void in_some_try(int (*one_try)(uint64_t disable), uint64_t disable)
{
	int i;

	tries_seen[0] = 0;
	for (i = 0; i < QUIET_TRIES; i++)
		if (one_try(disable))
			return;
	ck_abort_msg("more than 1 in 10 wake-ups ran no callback in each "
		     "try:%s", tries_seen);
}

/* One wake-up of the outer loop: what a uv_poll_t callback does too. */
static void on_wakeup(struct app *a)
{
	int n = dmaio_loop_run_once(a->loop, 0);

	if (n < 0)
		app_fail(a, "run_once", n);
	a->wakeups++;
	if (n == 0)
		a->idle++;
	outside_step(a);
}

static void drive_with_poll(struct app *a)
{
	struct pollfd pfd;

	pfd.fd = dmaio_loop_fd(a->loop);
	pfd.events = POLLIN;
	outside_step(a);
	while (!app_finished(a) && !a->errors) {
		int r = poll(&pfd, 1, WATCHDOG_MS);

		ck_assert_msg(r == 1, "hang: the loop fd stayed unreadable "
			      "for 30 s at stage %d with %zu pending", a->stage,
			      dmaio_loop_pending(a->loop));
		on_wakeup(a);
	}
}

/* run_once is called only when poll says so. */
static int poll_try(uint64_t disable, int run_after)
{
	struct app a;

	app_start(&a, disable, run_after);
	drive_with_poll(&a);
	return app_check(&a);
}

static int poll_try_plain(uint64_t disable)
{
	return poll_try(disable, 0);
}

static int poll_try_run_after(uint64_t disable)
{
	return poll_try(disable, 1);
}

START_TEST(poll_loop_never_hangs)
{
	in_some_try(poll_try_plain, tu_profile_disable[_i]);
}
END_TEST

/* The outer loop also runs run_once(0) right after it submits. */
START_TEST(poll_loop_wakeups_are_not_spurious)
{
	in_some_try(poll_try_run_after, tu_profile_disable[_i]);
}
END_TEST

/* With nothing to do, the fd is not readable, before and after work. */
static int idle_try(uint64_t disable)
{
	struct app a;
	struct pollfd pfd;

	app_start(&a, disable, 0);
	drive_with_poll(&a);
	pfd.fd = dmaio_loop_fd(a.loop);
	pfd.events = POLLIN;
	/* one last look may find the fd readable once; then never again */
	if (poll(&pfd, 1, 0) == 1)
		ck_assert_int_ge(dmaio_loop_run_once(a.loop, 0), 0);
	ck_assert_int_eq(poll(&pfd, 1, 50), 0);
	return app_check(&a);
}

START_TEST(idle_loop_fd_is_not_readable)
{
	in_some_try(idle_try, tu_profile_disable[_i]);
}
END_TEST

#ifdef HAVE_UV
struct uv_app {
	struct app a;
	uv_poll_t poll;
	uv_timer_t watchdog;
	int hung;
};

static void on_uv_readable(uv_poll_t *p, int status, int events)
{
	struct uv_app *u = p->data;

	(void)events;
	if (status < 0) {
		app_fail(&u->a, "uv_poll", status);
		uv_stop(p->loop);
		return;
	}
	on_wakeup(&u->a);
	/* any progress re-arms the watchdog */
	uv_timer_again(&u->watchdog);
	if (app_finished(&u->a) || u->a.errors) {
		uv_poll_stop(&u->poll);
		uv_timer_stop(&u->watchdog);
	}
}

static void on_watchdog(uv_timer_t *t)
{
	struct uv_app *u = t->data;

	u->hung = 1;
	uv_poll_stop(&u->poll);
	uv_timer_stop(&u->watchdog);
}

/* libuv owns the thread: dmaio's fd is one uv_poll_t among others. */
static int uv_try(uint64_t disable)
{
	struct uv_app u;
	uv_loop_t uvl;

	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(uv_loop_init(&uvl), 0);
	app_start(&u.a, disable, 0);
	ck_assert_int_eq(uv_poll_init(&uvl, &u.poll, dmaio_loop_fd(u.a.loop)),
			 0);
	u.poll.data = &u;
	ck_assert_int_eq(uv_timer_init(&uvl, &u.watchdog), 0);
	u.watchdog.data = &u;
	ck_assert_int_eq(uv_poll_start(&u.poll, UV_READABLE, on_uv_readable),
			 0);
	ck_assert_int_eq(uv_timer_start(&u.watchdog, on_watchdog, WATCHDOG_MS,
					WATCHDOG_MS),
			 0);
	outside_step(&u.a);
	uv_run(&uvl, UV_RUN_DEFAULT);
	ck_assert_msg(!u.hung, "hang: libuv saw no readable loop fd for 30 s "
		      "at stage %d with %zu pending", u.a.stage,
		      dmaio_loop_pending(u.a.loop));
	uv_close((uv_handle_t *)&u.poll, NULL);
	uv_close((uv_handle_t *)&u.watchdog, NULL);
	uv_run(&uvl, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&uvl), 0);
	return app_check(&u.a);
}

START_TEST(libuv_loop_never_hangs)
{
	in_some_try(uv_try, tu_profile_disable[_i]);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("embed");
	TCase *tc = tu_tcase(s, "embed");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, poll_loop_never_hangs);
	TU_ADD_PROFILES(tc, poll_loop_wakeups_are_not_spurious);
	TU_ADD_PROFILES(tc, idle_loop_fd_is_not_readable);
#ifdef HAVE_UV
	TU_ADD_PROFILES(tc, libuv_loop_never_hangs);
#else
	tu_skip("libuv_loop_never_hangs", "built without libuv (libuv1-dev)");
#endif
	return tu_run(s);
}
