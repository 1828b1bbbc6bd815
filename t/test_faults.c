/* SPDX-License-Identifier: MIT */
/*
 * Fault injection. The functions libdmaio calls are defined here too, so
 * the library's calls reach these first: each passes through to the real
 * one (dlsym RTLD_NEXT) unless a test armed a fault for it. For every
 * fault: the error reaches exactly the callback of the operation that
 * failed, as a clear -errno; every other operation completes once, with
 * the right bytes; nothing hangs; the loop stays usable.
 */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NEXT(name) \
	static __typeof__(name) *next; \
	if (!next) next = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* What is armed. every: fail every Nth call (1: each); times: how many. */
struct fault {
	int err;
	long every, times, calls;
};

static struct fault f_io_setup, f_io_submit, f_io_getevents, f_epoll_wait,
	f_efd_read, f_fallocate, f_ftruncate, f_rename, f_unlink,
	f_pthread_create;
static int submit_partial;          /* take at most one iocb a call */
static uint64_t bad_iocb_pos = UINT64_MAX; /* EINVAL for the iocb here */
/* completions at these offsets get this res instead */
static uint64_t res_pos[3];
static long res_val[3];
static int nres;

static int hit(struct fault *f)
{
	if (!f->err || !f->times)
		return 0;
	if (++f->calls % f->every)
		return 0;
	f->times--;
	return 1;
}

static void arm(struct fault *f, int err, long every, long times)
{
	f->err = err;
	f->every = every;
	f->times = times;
	f->calls = 0;
}

static void disarm_all(void)
{
	memset(&f_io_setup, 0, sizeof(struct fault));
	f_io_submit = f_io_getevents = f_epoll_wait = f_efd_read = f_io_setup;
	f_fallocate = f_ftruncate = f_rename = f_unlink = f_io_setup;
	f_pthread_create = f_io_setup;
	submit_partial = 0;
	bad_iocb_pos = UINT64_MAX;
	nres = 0;
}

int io_setup(int nr, io_context_t *ctx)
{
	NEXT(io_setup);
	if (hit(&f_io_setup))
		return -f_io_setup.err;
	return next(nr, ctx);
}

int io_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	long i;

	NEXT(io_submit);
	if (hit(&f_io_submit))
		return -f_io_submit.err;
	/* as the kernel: a bad iocb k > 0 ends the call short */
	for (i = 0; i < nr; i++)
		if ((uint64_t)iocbs[i]->u.c.offset == bad_iocb_pos &&
		    iocbs[i]->aio_lio_opcode != IO_CMD_FDSYNC)
			break;
	if (i == 0 && nr > 0) {
		bad_iocb_pos = UINT64_MAX; /* once */
		return -EINVAL;
	}
	if (submit_partial && i > 1)
		i = 1;
	return next(ctx, i, iocbs);
}

int io_getevents(io_context_t ctx, long min_nr, long nr,
		 struct io_event *ev, struct timespec *ts)
{
	int n, i, k;

	NEXT(io_getevents);
	if (hit(&f_io_getevents))
		return -f_io_getevents.err;
	n = next(ctx, min_nr, nr, ev, ts);
	for (i = 0; i < n; i++)
		for (k = 0; k < nres; k++)
			if ((uint64_t)ev[i].obj->u.c.offset == res_pos[k])
				ev[i].res = (unsigned long)res_val[k];
	return n;
}

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	NEXT(epoll_wait);
	if (hit(&f_epoll_wait)) {
		errno = f_epoll_wait.err;
		return -1;
	}
	return next(epfd, evs, max, timeout);
}

/* eventfds are read 8 bytes at a time; nothing else here reads 8 bytes */
ssize_t read(int fd, void *buf, size_t len)
{
	NEXT(read);
	if (len == 8 && hit(&f_efd_read)) {
		errno = f_efd_read.err;
		return -1;
	}
	return next(fd, buf, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	NEXT(fallocate);
	if (hit(&f_fallocate)) {
		errno = f_fallocate.err;
		return -1;
	}
	return next(fd, mode, off, len);
}

int ftruncate(int fd, off_t len)
{
	NEXT(ftruncate);
	if (hit(&f_ftruncate)) {
		errno = f_ftruncate.err;
		return -1;
	}
	return next(fd, len);
}

int rename(const char *a, const char *b)
{
	NEXT(rename);
	if (hit(&f_rename)) {
		errno = f_rename.err;
		return -1;
	}
	return next(a, b);
}

int unlink(const char *p)
{
	NEXT(unlink);
	if (hit(&f_unlink)) {
		errno = f_unlink.err;
		return -1;
	}
	return next(p);
}

int pthread_create(pthread_t *t, const pthread_attr_t *a,
		   void *(*fn)(void *), void *arg)
{
	NEXT(pthread_create);
	if (hit(&f_pthread_create))
		return f_pthread_create.err;
	return next(t, a, fn, arg);
}

/* ------------------------------------------------------------------ */

#define NOPS 200
#define FSIZE (NOPS * 4096)

struct outcome {
	int calls[NOPS];
	int64_t res[NOPS];
};

struct op_arg {
	struct outcome *o;
	int i;
};

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct op_arg *a = arg;

	a->o->calls[a->i]++;
	a->o->res[a->i] = res;
	if (res == 4096)
		ck_assert_int_eq(tu_check(dmaio_view_data(v), 4096,
					  (uint64_t)a->i * 4096, 61),
				 -1);
	dmaio_view_release(v);
}

static void on_write(void *arg, int64_t res)
{
	struct op_arg *a = arg;

	a->o->calls[a->i]++;
	a->o->res[a->i] = res;
}

/*
 * NOPS reads (or writes) of 4 KiB, all submitted at once into a loop of
 * depth 16. Every one is called back exactly once; returns the outcomes.
 */
static void run_ops(struct dmaio_loop *loop, struct dmaio_file *f, int write,
		    struct outcome *o)
{
	struct op_arg args[NOPS];
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < NOPS; i++) {
		args[i].o = o;
		args[i].i = i;
		if (write) {
			struct dmaio_buf *b = dmaio_file_alloc_buf(f, 4096);

			tu_fill(dmaio_buf_data(b), 4096, (uint64_t)i * 4096, 61);
			ck_assert_int_eq(dmaio_file_write_at(f, b,
							     (uint64_t)i * 4096,
							     on_write, &args[i]),
					 0);
			dmaio_buf_unref(b);
		} else {
			ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 4096,
							    4096, on_read,
							    &args[i]),
					 0);
		}
	}
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < NOPS; i++)
		ck_assert_msg(o->calls[i] == 1, "op %d called %d times", i,
			      o->calls[i]);
}

static struct dmaio_loop *loop;
static struct dmaio_file *file;

static void setup(void)
{
	tu_dir_setup();
	disarm_all();
	tu_make_file(tu_path("f"), FSIZE, 61);
}

static void teardown(void)
{
	disarm_all();
	if (file)
		dmaio_file_close_wait(file);
	file = NULL;
	dmaio_loop_free(loop);
	loop = NULL;
	tu_dir_teardown();
}

static void open_rw(uint64_t disable)
{
	loop = tu_loop(disable, 16);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("f"), O_RDWR,
						    0, &file),
			 0);
}

/* all reads right, and the loop still works afterwards */
static void expect_all_ok(int write)
{
	struct outcome o;
	int i;

	run_ops(loop, file, write, &o);
	for (i = 0; i < NOPS; i++)
		ck_assert_int_eq(o.res[i], 4096);
	disarm_all();
	run_ops(loop, file, 0, &o);
	for (i = 0; i < NOPS; i++)
		ck_assert_int_eq(o.res[i], 4096);
}

START_TEST(fault_io_setup)
{
	struct dmaio_loop *l = NULL;

	arm(&f_io_setup, ENOSYS, 1, 1);
	ck_assert_int_eq(dmaio_loop_new(&l, NULL), -ENOSYS);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "io_setup"));
	arm(&f_io_setup, EAGAIN, 1, 1);
	ck_assert_int_eq(dmaio_loop_new(&l, NULL), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "aio-max-nr"));
	ck_assert_int_eq(dmaio_loop_new(&l, NULL), 0);
	dmaio_loop_free(l);
}
END_TEST

START_TEST(fault_pthread_create)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *l = NULL;

	dmaio_loop_opts_init(&o);
	o.helper_threads = 3;
	arm(&f_pthread_create, EAGAIN, 2, 1); /* the second of three */
	ck_assert_int_eq(dmaio_loop_new(&l, &o), -EAGAIN);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "pthread_create"));
	ck_assert_int_eq(dmaio_loop_new(&l, &o), 0);
	dmaio_loop_free(l);
}
END_TEST

START_TEST(fault_submit_eagain)
{
	open_rw(tu_profile_disable[_i]);
	arm(&f_io_submit, EAGAIN, 3, 1000); /* every third call */
	expect_all_ok(_i & 1);
}
END_TEST

START_TEST(fault_submit_eintr)
{
	open_rw(tu_profile_disable[_i]);
	arm(&f_io_submit, EINTR, 2, 50);
	expect_all_ok(_i & 1);
}
END_TEST

START_TEST(fault_submit_partial)
{
	open_rw(tu_profile_disable[_i]);
	submit_partial = 1;
	expect_all_ok(_i & 1);
}
END_TEST

/* EINVAL for one iocb: its callback alone sees it. */
START_TEST(fault_submit_einval_one)
{
	struct outcome o;
	int i;

	open_rw(tu_profile_disable[_i]);
	bad_iocb_pos = 77 * 4096;
	run_ops(loop, file, _i & 1, &o);
	for (i = 0; i < NOPS; i++)
		ck_assert_int_eq(o.res[i], i == 77 ? -EINVAL : 4096);
	expect_all_ok(0);
}
END_TEST

START_TEST(fault_getevents_eintr)
{
	open_rw(DMAIO_FEAT_USER_REAP);
	arm(&f_io_getevents, EINTR, 2, 100);
	expect_all_ok(_i & 1);
}
END_TEST

static void on_pipe(void *arg, int fd, uint32_t ev)
{
	(void)arg; (void)fd; (void)ev;
}

/* with a watched fd the loop waits in epoll: EINTR and eventfd EAGAIN */
START_TEST(fault_epoll_eintr_and_efd_eagain)
{
	int p[2];

	open_rw(tu_profile_disable[_i]);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[1], EPOLLIN, on_pipe, NULL),
			 0);
	arm(&f_epoll_wait, EINTR, 2, 100);
	arm(&f_efd_read, EAGAIN, 1, 1000);
	{
		struct outcome o;
		int i, spins = 0;

		/* run() would never return with a watched fd: iterate */
		memset(&o, 0, sizeof(o));
		for (i = 0; i < NOPS; i++) {
			static struct op_arg args[NOPS];

			args[i].o = &o;
			args[i].i = i;
			ck_assert_int_eq(dmaio_file_read_at(file, (uint64_t)i * 4096,
							    4096, on_read,
							    &args[i]),
					 0);
		}
		while (dmaio_loop_pending(loop) && spins++ < 100000)
			ck_assert_int_ge(dmaio_loop_run_once(loop, 100), -EINTR);
		for (i = 0; i < NOPS; i++) {
			ck_assert_int_eq(o.calls[i], 1);
			ck_assert_int_eq(o.res[i], 4096);
		}
	}
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[1]), 0);
	close(p[0]);
	close(p[1]);
	expect_all_ok(0);
}
END_TEST

/* EIO, ENOSPC and a short count from the device: to their callbacks. */
START_TEST(fault_completion_errors)
{
	struct outcome o;
	int i;

	open_rw(DMAIO_FEAT_USER_REAP); /* completions through io_getevents */
	res_pos[0] = 10 * 4096;
	res_val[0] = -EIO;
	res_pos[1] = 20 * 4096;
	res_val[1] = -ENOSPC;
	res_pos[2] = 30 * 4096;
	res_val[2] = 2048;
	nres = 3;
	run_ops(loop, file, _i & 1, &o);
	for (i = 0; i < NOPS; i++) {
		int64_t want = i == 10 ? -EIO : i == 20 ? -ENOSPC
				: i == 30 ? 2048 : 4096;

		ck_assert_msg(o.res[i] == want, "op %d: %lld, want %lld", i,
			      (long long)o.res[i], (long long)want);
	}
	disarm_all();
	expect_all_ok(0);
}
END_TEST

/*
 * write_copy: a short write goes on with the rest, and reports why it
 * stopped; a write of nothing, or one that stops inside a block, is EIO;
 * a failed read-back fails the call before anything is written.
 */
START_TEST(fault_write_copy_completions)
{
	unsigned char data[16384];
	struct dmaio_view *v;
	uint64_t a;

	open_rw(DMAIO_FEAT_USER_REAP); /* completions through io_getevents */
	a = dmaio_file_alignment(file);
	ck_assert_uint_le(4 * a, sizeof(data));
	tu_fill(data, sizeof(data), 0, 77);
	res_pos[0] = 40 * a;
	res_val[0] = (long)(2 * a);      /* short, then the rest */
	res_pos[1] = 60 * a;
	res_val[1] = (long)(2 * a);      /* short, then ENOSPC */
	res_pos[2] = 62 * a;
	res_val[2] = -ENOSPC;
	nres = 3;
	ck_assert_int_eq(dmaio_file_write_copy_wait(file, 40 * a, data, 4 * a),
			 (int64_t)(4 * a));
	ck_assert_int_eq(dmaio_file_write_copy_wait(file, 60 * a, data, 4 * a),
			 -ENOSPC);
	res_pos[0] = 80 * a;
	res_val[0] = 0;                  /* nothing written */
	res_pos[1] = 90 * a;
	res_val[1] = 100;                /* inside a block */
	res_pos[2] = 100 * a;
	res_val[2] = -EIO;               /* the read-back */
	ck_assert_int_eq(dmaio_file_write_copy_wait(file, 80 * a, data, 4 * a),
			 -EIO);
	ck_assert_int_eq(dmaio_file_write_copy_wait(file, 90 * a, data, 4 * a),
			 -EIO);
	ck_assert_int_eq(dmaio_file_write_copy_wait(file, 100 * a + 1, data,
						    10), -EIO);
	disarm_all();
	ck_assert_int_eq(dmaio_file_read_at_wait(file, 40 * a, 4 * a, &v),
			 (int64_t)(4 * a));
	ck_assert_int_eq(memcmp(dmaio_view_data(v), data, 4 * a), 0);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_read_at_wait(file, 100 * a, a, &v),
			 (int64_t)a);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), a, 100 * a, 61), -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_size_wait(file), FSIZE);
	expect_all_ok(1);
}
END_TEST

START_TEST(fault_metadata_errors)
{
	struct dmaio_file *g;

	open_rw(0);
	arm(&f_fallocate, EOPNOTSUPP, 1, 1);
	ck_assert_int_eq(dmaio_file_pre_allocate_wait(file, 1 << 20), -EOPNOTSUPP);
	arm(&f_fallocate, ENOSPC, 1, 1);
	ck_assert_int_eq(dmaio_file_pre_allocate_wait(file, 1 << 20), -ENOSPC);
	arm(&f_fallocate, EOPNOTSUPP, 1, 1);
	ck_assert_int_eq(dmaio_file_deallocate_wait(file, 0, 4096), -EOPNOTSUPP);
	arm(&f_ftruncate, EIO, 1, 1);
	ck_assert_int_eq(dmaio_file_truncate_wait(file, 4096), -EIO);
	ck_assert_int_eq(dmaio_file_size_wait(file), FSIZE);
	arm(&f_rename, EXDEV, 1, 1);
	ck_assert_int_eq(dmaio_file_rename_wait(file, tu_path("g")), -EXDEV);
	ck_assert_str_eq(dmaio_file_path(file), tu_path("f"));
	arm(&f_unlink, EACCES, 1, 1);
	ck_assert_int_eq(dmaio_file_remove_wait(file), -EACCES);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("f"), &g), 0);
	ck_assert_int_eq(dmaio_file_close_wait(g), 0);
	/* and everything works again */
	ck_assert_int_eq(dmaio_file_pre_allocate_wait(file, FSIZE), 0);
	ck_assert_int_eq(dmaio_file_rename_wait(file, tu_path("g")), 0);
	ck_assert_int_eq(dmaio_file_rename_wait(file, tu_path("f")), 0);
	expect_all_ok(0);
}
END_TEST

/* The writer's grow-ahead steps fail: the stream is still exact. */
START_TEST(fault_writer_helpers_fail)
{
	struct dmaio_writer *w;
	struct dmaio_file *f;
	struct dmaio_view *v;
	unsigned char data[100000];

	loop = tu_loop(0, 16);
	tu_fill(data, sizeof(data), 0, 62);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("w"), &f), 0);
	arm(&f_fallocate, ENOSPC, 1, 1000);
	arm(&f_ftruncate, EIO, 1, 1);
	ck_assert_int_eq(dmaio_writer_new(f, NULL, &w), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	disarm_all();
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)sizeof(data));
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("w"), &file), 0);
	ck_assert_int_eq(dmaio_file_read_at_wait(file, 0, 200000, &v),
			 (int64_t)sizeof(data));
	ck_assert_int_eq(tu_check(dmaio_view_data(v), sizeof(data), 0, 62), -1);
	dmaio_view_release(v);
}
END_TEST

static const char *const rw_names[] = {
	"reads, all features", "writes, no user reap", "reads, no aio fdsync",
	"writes, no statx", "reads, all fallbacks",
};

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tu_tcase(s, "faults");

	tcase_add_checked_fixture(tc, setup, teardown);
	TU_ADD(tc, fault_io_setup);
	TU_ADD(tc, fault_pthread_create);
#define ADD5(fn) do { tcase_add_loop_test(tc, fn, 0, 5); \
		tu_name(#fn, 0, 5, rw_names); } while (0)
	ADD5(fault_submit_eagain);
	ADD5(fault_submit_eintr);
	ADD5(fault_submit_partial);
	ADD5(fault_submit_einval_one);
	tcase_add_loop_test(tc, fault_getevents_eintr, 0, 2);
	tu_name("fault_getevents_eintr", 0, 2, NULL);
	ADD5(fault_epoll_eintr_and_efd_eagain);
	tcase_add_loop_test(tc, fault_completion_errors, 0, 2);
	tu_name("fault_completion_errors", 0, 2, NULL);
	TU_ADD(tc, fault_write_copy_completions);
	TU_ADD(tc, fault_metadata_errors);
	TU_ADD(tc, fault_writer_helpers_fail);
	return tu_run(s);
}
