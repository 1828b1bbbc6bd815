/* SPDX-License-Identifier: MIT */
/*
 * The rules of the rarely taken paths: each test is named after the rule
 * it keeps. tools/mutate found each path unguarded: a small bug there
 * (a flipped comparison, a dropped statement...) passed the rest of the
 * suite.
 *
 * Faults come from the functions defined here, which take precedence over
 * libaio's and libc's for the library's calls. An iocb can be held back
 * (completions out of order), shortened or emptied (a real short write),
 * or sent to fail in the kernel (a length off the alignment: the kernel
 * completes it with -EINVAL) or at submission; a completion's result can be changed
 * (without the ring); io_submit can keep the request slots of completions
 * reaped from user space, as 3.10 kernels did, and a ring header can be
 * made unknown. fdatasync, pwrite, pread, fstat, access, epoll_create1,
 * eventfd and io_setup fail or come up short; the library's allocations
 * (malloc, calloc, posix_memalign) fail one at a time; pthread_cond_wait
 * returns early, as POSIX lets it; an extent hint is kept or dropped.
 * Real devices too: a 4 KiB-sector loop device with a partition table.
 */
#include "testutil.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <poll.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>

#include "fsxattr.h" /* RHEL 7 headers lack the generic names */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#define NEXT(name) \
	static __typeof__(name) *next; \
	if (!next) next = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* ------------------------------------------------------------------ */
/* io_submit: iocbs held, shortened or failed; 3.10's slot leak        */

enum action { HOLD = 1, SHRINK, EMPTY, FAIL_IN_KERNEL, FAIL_AT_SUBMIT };

/* The next `times` iocbs of opcode at offsets [lo, hi) get act. */
struct rule {
	enum action act;
	int opcode;
	uint64_t lo, hi;
	int times;
};

#define MAX_RULES 4
#define MAX_HELD 64
#define MAX_CTX 16

static struct rule rules[MAX_RULES];
static int nrules;
static struct iocb *held[MAX_HELD];
static io_context_t held_ctx[MAX_HELD];
static int nheld;
static int bad_fd = -1;         /* FAIL_AT_SUBMIT sends the iocb here */
static long reads_submitted;    /* read iocbs the kernel took */
static long writes_submitted;   /* write iocbs the kernel took */
static long iocbs_submitted;    /* all iocbs the kernel took */
static long iocbs_done;         /* counted by the test's callbacks */
static long most_in_flight;     /* the most submitted and not done */
static long call_sizes[16];     /* nr of the first io_submit calls */
static int ncalls;
static long overlapping_writes; /* writes sent over a held write */

/* io_getevents: the completion of the write at res_pos gets res_val */
static uint64_t res_pos = UINT64_MAX;
static long res_val;

/* 3.10: slots are given back by io_getevents only */
static int leak_model;
static int io_setup_err;        /* the next io_setup fails with it */
/* the next context's ring header gets this magic (0: left alone) */
static unsigned ring_magic;
static struct {
	io_context_t ctx;
	long nr, out;
} slots[MAX_CTX];

static void add_rule(enum action act, int opcode, uint64_t lo, uint64_t hi,
		     int times)
{
	ck_assert_int_lt(nrules, MAX_RULES);
	rules[nrules].act = act;
	rules[nrules].opcode = opcode;
	rules[nrules].lo = lo;
	rules[nrules].hi = hi;
	rules[nrules].times = times;
	nrules++;
}

static struct rule *match(const struct iocb *cb)
{
	int i;

	for (i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		uint64_t off = (uint64_t)cb->u.c.offset;

		if (r->times && cb->aio_lio_opcode == r->opcode &&
		    (r->opcode == IO_CMD_FDSYNC ||
		     (off >= r->lo && off < r->hi))) {
			r->times--;
			return r;
		}
	}
	return NULL;
}

static int slot_index(io_context_t ctx)
{
	int i;

	for (i = 0; i < MAX_CTX; i++)
		if (slots[i].ctx == ctx)
			return i;
	return -1;
}

int io_setup(int nr, io_context_t *ctx)
{
	int r, i;

	NEXT(io_setup);
	if (io_setup_err) {
		r = -io_setup_err;
		io_setup_err = 0;
		return r;
	}
	r = next(nr, ctx);
	if (r == 0 && ring_magic) {
		/* struct aio_ring: id, nr, head, tail, magic, ... */
		((unsigned *)*ctx)[4] = ring_magic;
		ring_magic = 0;
	}
	if (r == 0 && (i = slot_index(0)) >= 0) {
		slots[i].ctx = *ctx;
		slots[i].nr = nr;
		slots[i].out = 0;
	}
	return r;
}

int io_destroy(io_context_t ctx)
{
	int i = slot_index(ctx);

	NEXT(io_destroy);
	if (i >= 0 && ctx)
		memset(&slots[i], 0, sizeof(slots[i]));
	return next(ctx);
}

/*
 * The kernel's view of an iocb: it fails an O_DIRECT write whose length
 * is off the alignment (and valgrind sees only bytes that are there).
 */
static void apply(const struct rule *r, struct iocb *cb)
{
	if (r->act == SHRINK)
		cb->u.c.nbytes /= 2;
	else if (r->act == EMPTY)
		cb->u.c.nbytes = 0; /* the kernel completes it with 0 */
	else if (r->act == FAIL_IN_KERNEL)
		cb->u.c.nbytes -= 1;
	else if (r->act == FAIL_AT_SUBMIT)
		cb->aio_fildes = bad_fd;
}

static int overlaps_held(const struct iocb *cb)
{
	int i;

	if (cb->aio_lio_opcode != IO_CMD_PWRITE)
		return 0;
	for (i = 0; i < nheld; i++)
		if (cb->u.c.offset < held[i]->u.c.offset +
					     (long long)held[i]->u.c.nbytes &&
		    held[i]->u.c.offset < cb->u.c.offset +
					      (long long)cb->u.c.nbytes)
			return 1;
	return 0;
}

/* One iocb at a time: a short count is what the kernel gives as well. */
int io_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	int s = leak_model ? slot_index(ctx) : -1;
	long i;

	NEXT(io_submit);
	if (ncalls < 16)
		call_sizes[ncalls++] = nr;
	for (i = 0; i < nr; i++) {
		struct iocb *cb = iocbs[i];
		struct rule *r;
		int ret;

		if (s >= 0 && slots[s].out >= slots[s].nr)
			return i ? (int)i : -EAGAIN;
		r = match(cb);
		if (r && r->act == HOLD) {
			ck_assert_int_lt(nheld, MAX_HELD);
			held[nheld] = cb;
			held_ctx[nheld++] = ctx;
			continue;
		}
		if (r)
			apply(r, cb);
		overlapping_writes += overlaps_held(cb);
		ret = next(ctx, 1, &cb);
		if (ret != 1)
			return i ? (int)i : ret;
		if (cb->aio_lio_opcode == IO_CMD_PREAD)
			reads_submitted++;
		if (cb->aio_lio_opcode == IO_CMD_PWRITE)
			writes_submitted++;
		iocbs_submitted++;
		if (iocbs_submitted - iocbs_done > most_in_flight)
			most_in_flight = iocbs_submitted - iocbs_done;
		if (s >= 0)
			slots[s].out++;
	}
	return (int)nr;
}

int io_getevents(io_context_t ctx, long min_nr, long nr,
		 struct io_event *ev, struct timespec *ts)
{
	int n, s;

	NEXT(io_getevents);
	n = next(ctx, min_nr, nr, ev, ts);
	for (s = 0; s < n; s++)
		if (ev[s].obj && ev[s].obj->aio_lio_opcode == IO_CMD_PWRITE &&
		    (uint64_t)ev[s].obj->u.c.offset == res_pos) {
			ev[s].res = (unsigned long)res_val;
			res_pos = UINT64_MAX; /* once */
		}
	s = slot_index(ctx);
	if (n > 0 && s >= 0 && ctx)
		slots[s].out = slots[s].out > n ? slots[s].out - n : 0;
	return n;
}

/* Submits what was held, in the order it came; fail: in the kernel. */
static void release_held(int fail)
{
	static const struct rule failing = { FAIL_IN_KERNEL, 0, 0, 0, 0 };
	int i;

	NEXT(io_submit);
	for (i = 0; i < nheld; i++) {
		if (fail)
			apply(&failing, held[i]);
		ck_assert_int_eq(next(held_ctx[i], 1, &held[i]), 1);
	}
	nheld = 0;
}

/* ------------------------------------------------------------------ */
/* libc: fdatasync, pwrite, pread, fcntl, posix_memalign, cond waits   */

static int fdatasync_err;           /* fail every fdatasync with it */
static int fdatasync_slow;          /* sleep in it, then look at the fd */
static int slow_fd_ok, slow_calls, slow_inside;
static int short_pwrite, short_pread; /* the next call's length halved */
static int pwrite_err;              /* the next pwrite fails with it */
static long lib_mallocs;            /* allocations made by the library */
static int refuse_o_direct;
static int memalign_fail_at;        /* fail the n-th call from now */
static int spurious_wakeups;        /* cond waits that return at once */
static int rendezvous_armed;        /* fdatasyncs meet: 1 + those inside */
static int epoll_create_err;        /* fail the next epoll_create1 */
static int malloc_fail_at;          /* fail the n-th malloc or calloc */
static int fstat_err;               /* fail every fstat with it */
static uint32_t extsize_seen;       /* FSGETXATTR reports this hint */
static int sysfs_err;               /* fail every access() to /sys with it */
static int eventfd_fail_at;         /* fail the n-th eventfd from now */

int fdatasync(int fd)
{
	NEXT(fdatasync);
	if (rendezvous_armed) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		int i, n = 0;

		/* two helpers must be in here at once: 2 s at most */
		__atomic_add_fetch(&rendezvous_armed, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < 200 && n < 3; i++) {
			n = __atomic_load_n(&rendezvous_armed,
					    __ATOMIC_SEQ_CST);
			nanosleep(&ts, NULL);
		}
		if (n < 3) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	if (fdatasync_slow) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };

		__atomic_store_n(&slow_inside, 1, __ATOMIC_SEQ_CST);
		nanosleep(&ts, NULL);
		/* the loop must not have closed the file meanwhile */
		slow_fd_ok = fcntl(fd, F_GETFD) >= 0;
		__atomic_add_fetch(&slow_calls, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&slow_inside, 0, __ATOMIC_SEQ_CST);
	}
	if (fdatasync_err) {
		errno = fdatasync_err;
		return -1;
	}
	return next(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	NEXT(pwrite);
	if (pwrite_err) {
		errno = pwrite_err;
		pwrite_err = 0;
		return -1;
	}
	if (short_pwrite && len > 1) {
		short_pwrite = 0;
		len /= 2;
	}
	return next(fd, buf, len, off);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	NEXT(pread);
	if (short_pread && len > 1) {
		short_pread = 0;
		len /= 2;
	}
	return next(fd, buf, len, off);
}

/* O_DIRECT refused as tmpfs did before 6.6: the buffered fallback. */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (refuse_o_direct && cmd == F_SETFL && (arg & O_DIRECT)) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* The allocation hooks run before the sanitizer runtime is set up. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define NO_ASAN
#endif

/*
 * Whether an object dladdr named is the library: its file's own name
 * (libdmaio.so.1), never a directory on the way to it. An unpacked
 * release (libdmaio-1.2.0/, rpmbuild's BUILD/libdmaio-1.2.0, distcheck)
 * puts "libdmaio" in the test program's path too.
 */
NO_ASAN static int is_library(const char *fname)
{
	const char *base;

	if (!fname)
		return 0;
	base = strrchr(fname, '/');
	base = base ? base + 1 : fname;
	return strncmp(base, "libdmaio.so", 11) == 0;
}

static long memalign_calls;

int posix_memalign(void **p, size_t align, size_t size)
{
	NEXT(posix_memalign);
	memalign_calls++;
	if (memalign_fail_at && --memalign_fail_at == 0)
		return ENOMEM;
	return next(p, align, size);
}

/*
 * Buffer memory is mmap'd by the library (whole pages, MADV_DONTFORK):
 * its anonymous mappings count with the allocations above. A buffer
 * larger than a slab (64 KiB) is a mapping of its own, so the tests that
 * fail "the n-th buffer" use such buffers.
 */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	Dl_info di;

	NEXT(mmap);
	if (memalign_fail_at && fd == -1 &&
	    dladdr(__builtin_return_address(0), &di) &&
	    is_library(di.dli_fname) && --memalign_fail_at == 0) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return next(addr, len, prot, flags, fd, off);
}

/*
 * No memory: the n-th allocation the library makes from now fails (any
 * thread; the test's own, Check's and libc's go through).
 */
static int counting_mallocs;

NO_ASAN static int alloc_fails(void *caller)
{
	Dl_info info;
	int counting = __atomic_load_n(&counting_mallocs, __ATOMIC_SEQ_CST);

	if ((!counting &&
	     __atomic_load_n(&malloc_fail_at, __ATOMIC_SEQ_CST) <= 0) ||
	    !dladdr(caller, &info) || !is_library(info.dli_fname))
		return 0;
	if (counting)
		__atomic_add_fetch(&lib_mallocs, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&malloc_fail_at, __ATOMIC_SEQ_CST) <= 0)
		return 0;
	if (__atomic_sub_fetch(&malloc_fail_at, 1, __ATOMIC_SEQ_CST) == 0) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

NO_ASAN void *malloc(size_t n)
{
	NEXT(malloc);
	return alloc_fails(__builtin_return_address(0)) ? NULL : next(n);
}

NO_ASAN void *calloc(size_t n, size_t size)
{
	NEXT(calloc);
	return alloc_fails(__builtin_return_address(0)) ? NULL
							 : next(n, size);
}

/* No sysfs to look in: the library must ask the device itself. */
int access(const char *path, int mode)
{
	NEXT(access);
	if (sysfs_err && !strncmp(path, "/sys/", 5)) {
		errno = sysfs_err;
		return -1;
	}
	return next(path, mode);
}

int fstat(int fd, struct stat *st)
{
	NEXT(fstat);
	if (fstat_err) {
		errno = fstat_err;
		return -1;
	}
	return next(fd, st);
}

/* A file system that keeps or drops an extent hint as it likes. */
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = (int)syscall(SYS_ioctl, fd, req, arg);
	if (r == 0 && extsize_seen != 0 && req == FS_IOC_FSGETXATTR) {
		struct fsxattr *a = arg;

		if (extsize_seen == UINT32_MAX) {
			a->fsx_xflags &= ~(uint32_t)FS_XFLAG_EXTSIZE;
			a->fsx_extsize = 0;
		} else {
			a->fsx_xflags |= FS_XFLAG_EXTSIZE;
			a->fsx_extsize = extsize_seen;
		}
	}
	return r;
}

int epoll_create1(int flags)
{
	NEXT(epoll_create1);
	if (epoll_create_err) {
		errno = epoll_create_err;
		epoll_create_err = 0;
		return -1;
	}
	return next(flags);
}

int eventfd(unsigned int count, int flags)
{
	NEXT(eventfd);
	if (eventfd_fail_at && --eventfd_fail_at == 0) {
		errno = EMFILE;
		return -1;
	}
	return next(count, flags);
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	NEXT(pthread_cond_wait);
	if (__atomic_load_n(&spurious_wakeups, __ATOMIC_SEQ_CST) > 0 &&
	    __atomic_sub_fetch(&spurious_wakeups, 1, __ATOMIC_SEQ_CST) >= 0)
		return 0; /* a spurious wake-up: the mutex is held again */
	return next(c, m);
}

static void disarm(void)
{
	nrules = 0;
	nheld = 0;
	reads_submitted = writes_submitted = overlapping_writes = 0;
	leak_model = 0;
	fdatasync_err = fdatasync_slow = 0;
	short_pwrite = short_pread = refuse_o_direct = 0;
	memalign_fail_at = 0;
	spurious_wakeups = 0;
	rendezvous_armed = 0;
	epoll_create_err = eventfd_fail_at = 0;
	malloc_fail_at = fstat_err = sysfs_err = 0;
	pwrite_err = io_setup_err = counting_mallocs = 0;
	res_pos = UINT64_MAX;
	extsize_seen = 0;
	ring_magic = 0;
}

static int on_valgrind(void);

/* valgrind replaces the allocator: the faults above cannot reach it */
static int no_allocator_faults(const char *test)
{
	if (!on_valgrind())
		return 0;
	tu_skip(test, "valgrind's allocator takes no injected failures");
	return 1;
}

static void setup(void)
{
	int p[2];

	/* a hang inside the library fails the test, not the whole run */
	if (!on_valgrind())
		alarm(30);
	tu_dir_setup();
	disarm();
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	bad_fd = p[1]; /* fdatasync and writes on a pipe: EINVAL */
}

static void teardown(void)
{
	alarm(0);
	disarm();
	close(bad_fd);
	bad_fd = -1;
	tu_dir_teardown();
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* What a callback got, and how often. */
struct got {
	int calls;
	int64_t res;
	struct dmaio_view *v;
};

static void on_got(void *arg, struct dmaio_view *v, int64_t res)
{
	struct got *g = arg;

	g->calls++;
	g->res = res;
	g->v = v;
}

static void on_res(void *arg, int64_t res)
{
	struct got *g = arg;

	g->calls++;
	g->res = res;
}

static void on_view_res(void *arg, struct dmaio_view *v, int64_t res)
{
	struct got *g = arg;

	dmaio_view_release(v);
	g->calls++;
	g->res = res;
}

/* Runs the loop for secs. */
static void run_for(struct dmaio_loop *loop, double secs)
{
	double end = tu_now_s() + secs;

	while (tu_now_s() < end)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 10), 0);
}

/* Runs the loop until pending drops to left, or secs pass. */
static void run_until(struct dmaio_loop *loop, size_t left, double secs)
{
	double end = tu_now_s() + secs;

	while (dmaio_loop_pending(loop) > left && tu_now_s() < end)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 10), 0);
}

/* A stream writer without the append helpers (no metadata calls). */
static struct dmaio_writer *plain_writer(struct dmaio_loop *loop,
					 const char *path, size_t bs,
					 unsigned wb)
{
	struct dmaio_writer_opts o;
	struct dmaio_writer *w = NULL;
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	dmaio_writer_opts_init(&o);
	o.buffer_size = bs;
	o.write_behind = wb;
	o.extent_hint = 0;
	o.preallocate = 0;
	o.grow_ahead = 0;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), 0);
	return w;
}

/* The file holds exactly size bytes of pattern seed. */
static void check_file(const char *path, size_t size, unsigned seed)
{
	struct stat st;
	char *buf = malloc(size + 1);
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)size);
	ck_assert_int_eq(pread(fd, buf, size, 0), (ssize_t)size);
	ck_assert_msg(tu_check(buf, size, 0, seed) == -1,
		      "byte %ld of %zu is wrong", tu_check(buf, size, 0, seed),
		      size);
	close(fd);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* the stream writer                                                   */

#define WB 4096

/*
 * flushed_position is the end of the written prefix: a write that failed
 * ends it for good, though the writes after it succeed; close truncates
 * to it and reports the error. _i: which of four writes in flight fails.
 */
START_TEST(writer_flushed_position_stops_at_a_failed_write)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("w"), WB, 4);
	unsigned char data[4 * WB];
	uint64_t bad = (uint64_t)_i * WB;

	tu_fill(data, sizeof(data), 0, 71);
	add_rule(FAIL_IN_KERNEL, IO_CMD_PWRITE, bad, bad + 1, 1);
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), bad);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), -EINVAL);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), bad);
	ck_assert_int_eq(dmaio_writer_close_wait(w), -EINVAL);
	check_file(tu_path("w"), bad, 71);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Once a write failed, the writer sends nothing more to the disk: a full
 * buffer waiting for its turn stays unwritten.
 */
START_TEST(writer_writes_nothing_after_a_failed_write)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("a"), WB, 1);
	unsigned char data[2 * WB];

	tu_fill(data, sizeof(data), 0, 108);
	add_rule(FAIL_IN_KERNEL, IO_CMD_PWRITE, 0, 1, 1);
	writes_submitted = 0;
	/* one in flight, one full and waiting */
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)),
			 sizeof(data));
	run_until(loop, 0, 5);
	ck_assert_int_eq(writes_submitted, 1);
	ck_assert_int_eq(dmaio_writer_close_wait(w), -EINVAL);
	ck_assert_int_eq(writes_submitted, 1);
	check_file(tu_path("a"), 0, 108);
	dmaio_loop_free(loop);
}
END_TEST

/* The same when the failed write is the last of the four to complete. */
START_TEST(writer_flushed_position_stops_at_a_write_that_fails_last)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("w"), WB, 4);
	unsigned char data[4 * WB];

	tu_fill(data, sizeof(data), 0, 72);
	add_rule(HOLD, IO_CMD_PWRITE, 0, 1, 1);
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)),
			 (int64_t)sizeof(data));
	run_until(loop, 1, 5);
	ck_assert_int_eq(nheld, 1);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 1);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 0);
	release_held(1);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), -EINVAL);
	check_file(tu_path("w"), 0, 72);
	dmaio_loop_free(loop);
}
END_TEST

/* Fails the next fdatasync, on whichever path this loop takes. */
static void fail_next_fdatasync(struct dmaio_loop *loop)
{
	if (dmaio_loop_features(loop) & DMAIO_FEAT_AIO_FDSYNC)
		add_rule(FAIL_AT_SUBMIT, IO_CMD_FDSYNC, 0, 0, 1);
	else
		fdatasync_err = EIO;
}

/*
 * A sync succeeds only when its fdatasync did, in the kernel (AIO) or on
 * a helper thread; its error sticks to the writer. The same for the
 * fdatasync of close.
 */
START_TEST(writer_sync_reports_a_failed_fdatasync)
{
	struct dmaio_loop *loop = tu_loop(_i ? DMAIO_FEAT_AIO_FDSYNC : 0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("s"), WB, 4);
	unsigned char data[3 * WB];
	int64_t err;

	tu_fill(data, sizeof(data), 0, 73);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 5000), 5000);
	ck_assert_int_eq(dmaio_writer_sync_wait(w), 0);
	fail_next_fdatasync(loop);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 5000, 5000), 5000);
	err = dmaio_writer_sync_wait(w);
	ck_assert_msg(err < 0, "sync returned %lld after a failed fdatasync",
		      (long long)err);
	fdatasync_err = 0;
	ck_assert_int_eq(dmaio_writer_write(w, data, 1), err);
	ck_assert_int_eq(dmaio_writer_sync_wait(w), err);
	ck_assert_int_eq(dmaio_writer_close_wait(w), err);

	/* close's own fdatasync */
	w = plain_writer(loop, tu_path("c"), WB, 4);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 5000), 5000);
	fail_next_fdatasync(loop);
	err = dmaio_writer_close_wait(w);
	ck_assert_msg(err < 0, "close returned %lld after a failed fdatasync",
		      (long long)err);
	fdatasync_err = 0;
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A write the kernel completes short is continued where it stopped, from
 * the rest of its bytes: the file is exact.
 */
START_TEST(writer_continues_a_short_write_where_it_stopped)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("h"), 2 * WB, 4);
	const size_t total = 40000;
	unsigned char data[40000];

	tu_fill(data, total, 0, 74);
	/* the first and the third buffer come back half written */
	add_rule(SHRINK, IO_CMD_PWRITE, 0, 1, 1);
	add_rule(SHRINK, IO_CMD_PWRITE, 4 * WB, 4 * WB + 1, 1);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, total),
			 (int64_t)total);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), total);
	ck_assert_int_eq(rules[0].times + rules[1].times, 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)total);
	check_file(tu_path("h"), total, 74);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A write the kernel completes with nothing written fails the writer
 * (-EIO): continuing it could go on forever.
 */
START_TEST(writer_fails_a_write_that_wrote_nothing)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("z"), WB, 4);
	unsigned char data[3 * WB];

	tu_fill(data, sizeof(data), 0, 94);
	add_rule(EMPTY, IO_CMD_PWRITE, WB, WB + 1, 1);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, sizeof(data)),
			 sizeof(data));
	ck_assert_int_eq(dmaio_writer_flush_wait(w), -EIO);
	ck_assert_int_eq(rules[0].times, 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), WB);
	ck_assert_int_eq(dmaio_writer_close_wait(w), -EIO);
	check_file(tu_path("z"), WB, 94);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A flush writes its last block padded with zeros; newer bytes of that
 * block are written only after it, so the padding can never land on them.
 */
START_TEST(writer_flush_padding_never_lands_after_newer_bytes)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("p"), 2 * WB, 4);
	unsigned char data[3 * WB];
	int64_t n;

	tu_fill(data, sizeof(data), 0, 75);
	ck_assert_int_eq(dmaio_writer_write(w, data, 1000), 1000);
	add_rule(HOLD, IO_CMD_PWRITE, 0, 1, 1); /* the flush's padded block */
	ck_assert_int_eq(dmaio_writer_flush(w, NULL, NULL), 0);
	run_for(loop, 0.1);
	ck_assert_int_eq(nheld, 1);
	/* the rest of the block and more: a full buffer over it */
	n = dmaio_writer_write(w, data + 1000, sizeof(data) - 1000);
	ck_assert_int_gt(n, 0);
	run_for(loop, 0.2);
	ck_assert_int_eq(overlapping_writes, 0);
	release_held(0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 1000 + n,
						 sizeof(data) - 1000 - n),
			 (int64_t)sizeof(data) - 1000 - n);
	ck_assert_int_eq(dmaio_writer_close_wait(w), sizeof(data));
	check_file(tu_path("p"), 3 * WB, 75);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * close with an on_writable still waiting calls it back once, with
 * -ECANCELED: nobody will write again, and nobody is called twice.
 */
START_TEST(writer_close_cancels_a_waiting_on_writable_once)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("c"), WB, 1);
	unsigned char data[3 * WB];
	struct got wr = { 0, 0, NULL }, cl = { 0, 0, NULL };

	tu_fill(data, sizeof(data), 0, 85);
	add_rule(HOLD, IO_CMD_PWRITE, 0, 1, 1); /* keeps every buffer busy */
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)), 2 * WB);
	ck_assert_int_eq(dmaio_writer_on_writable(w, on_res, &wr), 0);
	run_for(loop, 0.05);
	ck_assert_int_eq(wr.calls, 0);
	ck_assert_int_eq(dmaio_writer_close(w, on_res, &cl), 0);
	release_held(0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(wr.calls, 1);
	ck_assert_int_eq(wr.res, -ECANCELED);
	ck_assert_int_eq(cl.calls, 1);
	ck_assert_int_eq(cl.res, 2 * WB);
	check_file(tu_path("c"), 2 * WB, 85);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * on_writable calls back once a buffer is free, not at the first event
 * (here: a flush) while every buffer is still busy.
 */
START_TEST(writer_on_writable_waits_for_a_free_buffer)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("f"), WB, 1);
	unsigned char data[2 * WB];
	struct got wr = { 0, 0, NULL };

	tu_fill(data, sizeof(data), 0, 88);
	add_rule(HOLD, IO_CMD_PWRITE, 0, 1, 1);
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)), 2 * WB);
	ck_assert_int_eq(dmaio_writer_on_writable(w, on_res, &wr), 0);
	ck_assert_int_eq(dmaio_writer_flush(w, NULL, NULL), 0);
	run_for(loop, 0.05);
	ck_assert_int_eq(wr.calls, 0);
	release_held(0);
	run_until(loop, 0, 5);
	ck_assert_int_eq(wr.calls, 1);
	ck_assert_int_eq(wr.res, 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 2 * WB);
	check_file(tu_path("f"), 2 * WB, 88);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * No memory for a buffer: the write says so (it takes nothing), and the
 * writer works once memory is back.
 */
START_TEST(writer_write_reports_no_memory_for_a_buffer)
{
	struct dmaio_loop *loop;
	struct dmaio_writer *w;
	unsigned char data[1000];
	void *p;

	if (no_allocator_faults("writer_write_reports_no_memory_for_a_buffer"))
		return;
	loop = tu_loop(DMAIO_FEAT_HUGE_BUFFERS, 0);
	w = plain_writer(loop, tu_path("n"), 16 * WB, 2);
	tu_fill(data, sizeof(data), 0, 89);
	memalign_fail_at = 1;
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)), -ENOMEM);
	memalign_fail_at = 1;
	ck_assert_int_eq(dmaio_writer_get_space(w, &p), -ENOMEM);
	ck_assert_int_eq(dmaio_writer_position(w), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, sizeof(data)),
			 sizeof(data));
	ck_assert_int_eq(dmaio_writer_close_wait(w), sizeof(data));
	check_file(tu_path("n"), sizeof(data), 89);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * With grow_ahead the file is kept ahead of the writes in doubling strides
 * from 4 MiB, so that writes land in allocated blocks: past 4 MiB it is
 * 8 MiB long. Close leaves the exact size.
 */
START_TEST(writer_grows_the_file_ahead_in_doubling_strides)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w;
	struct dmaio_file *f;
	const size_t total = (6 << 20) + 5;
	unsigned char *data = malloc(total);
	struct stat st;

	tu_fill(data, total, 0, 87);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("g"), &f), 0);
	ck_assert_int_eq(dmaio_writer_new(f, NULL, &w), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, total),
			 (int64_t)total);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_int_eq(stat(tu_path("g"), &st), 0);
	ck_assert_msg(st.st_size == 8 << 20, "grown to %lld bytes",
		      (long long)st.st_size);
	ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)total);
	check_file(tu_path("g"), total, 87);
	free(data);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* reads split for the device                                          */

/*
 * A read larger than the device takes is split; when it crosses EOF its
 * result is the bytes up to EOF, whatever order the parts complete in.
 * Last to complete: _i 0 the parts past EOF (the kernel ends them at
 * once), 1 the part holding EOF, 2 the first part.
 */
START_TEST(read_split_past_eof_returns_eof_in_any_completion_order)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;
	struct got g = { 0, 0, NULL };
	size_t m, size;
	const uint64_t pos = 100;

	tu_make_file(tu_path("e"), 1, 76);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("e"), &f), 0);
	m = dmaio_file_max_io(f);
	ck_assert_uint_ge(m, 4096);
	size = m + m / 2 + 1000; /* EOF inside the second part */
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	tu_make_file(tu_path("e"), size, 76);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("e"), &f), 0);
	if (_i == 0)
		add_rule(HOLD, IO_CMD_PREAD, 2 * m, UINT64_MAX, 2);
	else if (_i == 1)
		add_rule(HOLD, IO_CMD_PREAD, m, m + 1, 1);
	else
		add_rule(HOLD, IO_CMD_PREAD, 0, 1, 1);
	ck_assert_int_eq(dmaio_file_read_at(f, pos, 3 * m, on_got, &g), 0);
	run_for(loop, 0.3); /* what is not held completes */
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_gt(nheld, 0);
	release_held(0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res, (int64_t)(size - pos));
	ck_assert_uint_eq(dmaio_view_len(g.v), size - pos);
	ck_assert_int_eq(tu_check(dmaio_view_data(g.v), size - pos, pos, 76),
			 -1);
	dmaio_view_release(g.v);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the loop                                                            */

/*
 * dmaio_loop_free() returns once the work in flight is done: a helper
 * thread is never left inside a syscall on a file the loop has closed.
 */
START_TEST(loop_free_waits_for_helper_work_before_closing_files)
{
	struct dmaio_loop *loop = tu_loop(DMAIO_FEAT_AIO_FDSYNC, 0);
	struct dmaio_file *f;
	struct got g = { 0, 0, NULL }, r = { 0, 0, NULL };
	int i;

	tu_make_file(tu_path("f"), 64 * 4096, 77);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("f"), O_RDWR,
						    0, &f),
			 0);
	fdatasync_slow = 1;
	ck_assert_int_eq(dmaio_file_fdatasync(f, on_res, &g), 0);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 4096,
						    4096, on_view_res, &r),
				 0);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0); /* sent */
	r.calls = 0;
	dmaio_loop_free(loop);
	ck_assert_int_eq(__atomic_load_n(&slow_inside, __ATOMIC_SEQ_CST), 0);
	ck_assert_int_eq(slow_calls, 1);
	ck_assert_msg(slow_fd_ok, "the file was closed under the helper");
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(r.calls, 0);
}
END_TEST

static void on_read_count(void *arg, struct dmaio_view *v, int64_t res)
{
	struct got *g = arg;

	ck_assert_int_eq(res, 4096);
	dmaio_view_release(v);
	g->calls++;
}

/*
 * A program that polls dmaio_loop_fd() sees it readable for every batch
 * of work it queues from outside the loop, the second and later ones too,
 * and calls run_once(loop, 0) only then.
 */
START_TEST(loop_fd_is_readable_for_each_batch_queued_from_outside)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f;
	struct pollfd pfd;
	struct got r = { 0, 0, NULL };
	int round, fd, i;

	tu_make_file(tu_path("o"), 4 * 4096, 86);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("o"), &f), 0);
	fd = dmaio_loop_fd(loop);
	ck_assert_int_ge(fd, 0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (round = 1; round <= 4; round++) {
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)(round - 1) *
							4096,
						    4096, on_read_count, &r),
				 0);
		for (i = 0; i < 100 && r.calls < round; i++) {
			ck_assert_msg(poll(&pfd, 1, 2000) == 1,
				      "round %d: the loop fd stayed unreadable "
				      "with a read queued", round);
			ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
		}
		ck_assert_int_eq(r.calls, round);
	}
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_pipe(void *arg, int fd, uint32_t events)
{
	(void)arg; (void)fd; (void)events;
}

/*
 * DMAIO_LOOP_LAZY_EVENTFD: iocbs that signal no eventfd are looked for
 * while the loop waits in epoll for a watched fd, so they complete
 * although nothing else ever wakes it.
 */
START_TEST(lazy_eventfd_loop_finds_silent_completions_while_in_epoll)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	int i, p[2];
	double t0;

	dmaio_loop_opts_init(&o);
	o.flags = DMAIO_LOOP_LAZY_EVENTFD;
	o.disable = tu_profile_disable[_i];
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	tu_make_file(tu_path("z"), 32 * 4096, 78);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("z"), &f), 0);
	for (i = 0; i < 32; i++)
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 4096,
						    4096, on_view_res, &r),
				 0);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0); /* sent silent */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	/*
	 * Unseen, they would keep each run_once to its whole 10 s; seen,
	 * a run_once returns with the next read the disk answers (a busy
	 * disk may take a while, not 10 s).
	 */
	t0 = tu_now_s();
	for (i = 0; i < 1000 && r.calls < 32 && tu_now_s() - t0 < 60; i++) {
		double t1 = tu_now_s();

		ck_assert_int_ge(dmaio_loop_run_once(loop, 10000), 0);
		ck_assert_msg(tu_now_s() - t1 < 9.5, "run_once waited %.1f s with "
			      "%d of 32 reads seen", tu_now_s() - t1, r.calls);
	}
	ck_assert_int_eq(r.calls, 32);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A helper thread woken with nothing to do (spuriously, or its job taken
 * by another) waits again: a loop keeps every helper thread, and blocking
 * calls that need all of them at once still run.
 */
START_TEST(helper_threads_survive_spurious_wakeups)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct got a = { 0, 0, NULL }, b = { 0, 0, NULL }, z = { 0, 0, NULL };
	int i;

	dmaio_loop_opts_init(&o);
	o.helper_threads = 2;
	o.disable = DMAIO_FEAT_AIO_FDSYNC; /* fdatasync on the helpers */
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	tu_make_file(tu_path("t"), 4096, 79);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("t"), O_RDWR,
						    0, &f),
			 0);
	__atomic_store_n(&spurious_wakeups, 6, __ATOMIC_SEQ_CST);
	for (i = 1; i <= 20; i++) {
		/* not _wait: a helper lost would hang it, not fail it */
		ck_assert_int_eq(dmaio_file_size(f, on_res, &z), 0);
		run_until(loop, 0, 2);
		ck_assert_int_eq(z.calls, i);
		ck_assert_int_eq(z.res, 4096);
	}
	/* two fdatasyncs that each wait for the other: both threads */
	rendezvous_armed = 1;
	ck_assert_int_eq(dmaio_file_fdatasync(f, on_res, &a), 0);
	ck_assert_int_eq(dmaio_file_fdatasync(f, on_res, &b), 0);
	run_until(loop, 0, 5);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(a.res, 0);
	ck_assert_int_eq(b.res, 0);
	rendezvous_armed = 0;
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Reads 4 KiB blocks n times, all in flight together; all must be right. */
static void read_many_times(struct dmaio_loop *loop, struct dmaio_file *f,
			    int n, int watched)
{
	struct got r = { 0, 0, NULL };
	int i, ok = 0;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(dmaio_file_read_at(f,
						    (uint64_t)(i % 16) * 4096,
						    4096, on_view_res, &r),
				 0);
	if (watched)
		run_until(loop, 0, 10);
	else
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, n);
	ok = r.res == 4096;
	ck_assert_msg(ok, "a read returned %lld", (long long)r.res);
}

/*
 * When the user-space reaping self-test fails (a 3.10 kernel that leaks
 * request slots to it), the loop reaps with io_getevents, which gives the
 * slots back: its I/O keeps working past any number of operations.
 */
START_TEST(loop_after_failed_user_reap_self_test_reaps_with_io_getevents)
{
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	int p[2];

	int i;

	tu_make_file(tu_path("r"), 16 * 4096, 80);
	leak_model = 1;
	loop = tu_loop(0, 16);
	ck_assert_uint_eq(dmaio_loop_features(loop) & DMAIO_FEAT_USER_REAP, 0);
	/*
	 * Where the self-test ran, slots leaked: not this rule's business
	 * (a context of its own keeps the loop's whole). The loop's context
	 * leaks from here on as 3.10's did.
	 */
	for (i = 0; i < MAX_CTX; i++)
		slots[i].out = 0;
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("r"), &f), 0);
	read_many_times(loop, f, 500, 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	read_many_times(loop, f, 500, 1);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	leak_model = 0;
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* read_many                                                           */

#define RANGES 5

struct ranges {
	int calls[RANGES];
	int64_t res[RANGES];
	struct dmaio_view *v[RANGES];
};

static void on_range(void *arg, size_t idx, struct dmaio_view *v,
		     int64_t res)
{
	struct ranges *r = arg;

	ck_assert_uint_lt(idx, RANGES);
	r->calls[idx]++;
	r->res[idx] = res;
	r->v[idx] = v;
}

/*
 * Every range of a read_many that returned 0 is called back once, those
 * of groups whose read could not start (no memory) too, with the error.
 */
START_TEST(read_many_calls_back_every_range_when_a_group_cannot_start)
{
	struct dmaio_loop *loop;
	struct dmaio_read_many_opts o;
	struct dmaio_iovec iov[RANGES];
	struct ranges r;
	struct dmaio_file *f;
	size_t i;

	if (no_allocator_faults(
		    "read_many_calls_back_every_range_when_a_group_cannot_start"))
		return;
	loop = tu_loop(DMAIO_FEAT_HUGE_BUFFERS, 0);
	/* ranges larger than a slab: each group's buffer is a mapping */
	tu_make_file(tu_path("m"), 1 << 20, 82);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("m"), &f), 0);
	for (i = 0; i < RANGES; i++) {
		iov[i].pos = i * 200000 + 100 * i;
		iov[i].len = 100000;
	}
	dmaio_read_many_opts_init(&o);
	o.max_merged_buffer_size = 0; /* a group, and a buffer, each */
	memset(&r, 0, sizeof(r));
	memalign_fail_at = 3; /* the third group's buffer */
	ck_assert_int_eq(dmaio_file_read_many(f, iov, RANGES, &o, on_range, &r),
			 0);
	ck_assert_int_eq(memalign_fail_at, 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < RANGES; i++) {
		ck_assert_msg(r.calls[i] == 1, "range %zu called back %d times",
			      i, r.calls[i]);
		if (i < 2) {
			ck_assert_int_eq(r.res[i], 100000);
			ck_assert_int_eq(tu_check(dmaio_view_data(r.v[i]),
						  100000, iov[i].pos, 82),
					 -1);
			dmaio_view_release(r.v[i]);
		} else {
			ck_assert_int_eq(r.res[i], -ENOMEM);
			ck_assert_ptr_null(r.v[i]);
		}
	}
	/* the first cannot start: an error at once, and no callback (ranges
	 * of another size: none of their buffers is in the pool yet) */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < RANGES; i++)
		iov[i].len = 150000;
	memalign_fail_at = 1;
	ck_assert_int_eq(dmaio_file_read_many(f, iov, RANGES, &o, on_range, &r),
			 -ENOMEM);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < RANGES; i++)
		ck_assert_int_eq(r.calls[i], 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Runs read_many; returns the reads it sent, checking every range. */
static long reads_for(struct dmaio_loop *loop, struct dmaio_file *f,
		      const struct dmaio_iovec *iov, size_t n,
		      const struct dmaio_read_many_opts *o, unsigned seed)
{
	struct ranges r;
	size_t i;

	ck_assert_uint_le(n, RANGES);
	memset(&r, 0, sizeof(r));
	reads_submitted = 0;
	ck_assert_int_eq(dmaio_file_read_many(f, iov, n, o, on_range, &r), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(r.calls[i], 1);
		ck_assert_int_eq(r.res[i], (int64_t)iov[i].len);
		ck_assert_int_eq(tu_check(dmaio_view_data(r.v[i]), iov[i].len,
					  iov[i].pos, seed),
				 -1);
		dmaio_view_release(r.v[i]);
	}
	return reads_submitted;
}

/*
 * Ranges are merged up to max_merged_buffer_size bytes inclusive, across
 * gaps of up to max_read_amp bytes inclusive: a group of exactly the
 * largest size is one read.
 */
START_TEST(read_many_merges_up_to_the_limits_inclusive)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_read_many_opts o;
	struct dmaio_iovec iov[3];
	struct dmaio_file *f;
	size_t a;

	tu_make_file(tu_path("g"), 256 * 1024, 83);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("g"), &f), 0);
	a = dmaio_file_alignment(f);
	dmaio_read_many_opts_init(&o);
	o.max_merged_buffer_size = 4 * a;
	/* two ranges filling 4 blocks exactly: one read */
	iov[0].pos = 0;
	iov[0].len = 2 * a;
	iov[1].pos = 2 * a;
	iov[1].len = 2 * a;
	ck_assert_int_eq(reads_for(loop, f, iov, 2, &o, 83), 1);
	/* a block more: two */
	iov[1].len = 2 * a + 1;
	ck_assert_int_eq(reads_for(loop, f, iov, 2, &o, 83), 2);
	/* a gap of exactly max_read_amp is read through; a byte more is not */
	o.max_merged_buffer_size = 64 * a;
	o.max_read_amp = 3 * a;
	iov[0].pos = a;
	iov[0].len = a;
	iov[1].pos = 5 * a;
	iov[1].len = a;
	iov[2].pos = 9 * a + 1;
	iov[2].len = a - 1;
	ck_assert_int_eq(reads_for(loop, f, iov, 3, &o, 83), 1);
	o.max_read_amp = 3 * a - 1;
	ck_assert_int_eq(reads_for(loop, f, iov, 3, &o, 83), 3);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the buffered fallback                                               */

/*
 * On a file without O_DIRECT the page cache may move fewer bytes than
 * asked; the rest is moved from where the short call stopped.
 */
START_TEST(buffered_io_continues_short_transfers_where_they_stopped)
{
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct dmaio_buf *b;
	struct dmaio_view *v;

	refuse_o_direct = 1;
	loop = tu_loop(tu_profile_disable[_i], 0);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("b"), &f), 0);
	ck_assert_int_eq(dmaio_file_is_direct(f), 0);
	b = dmaio_file_alloc_buf(f, 65536);
	ck_assert_ptr_nonnull(b);
	tu_fill(dmaio_buf_data(b), 65536, 0, 84);
	short_pwrite = 1;
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, 0), 65536);
	ck_assert_int_eq(short_pwrite, 0);
	dmaio_buf_unref(b);
	check_file(tu_path("b"), 65536, 84);
	short_pread = 1;
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 1000, 50000, &v), 50000);
	ck_assert_int_eq(short_pread, 0);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 50000, 1000, 84), -1);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * dmaio_loop_new() that cannot make one of its descriptors returns that
 * errno, and closes what it made: no more, no less.
 */
START_TEST(loop_new_fails_cleanly_without_descriptors)
{
	struct dmaio_loop *loop = (struct dmaio_loop *)1;
	int before = count_fds();

	if (_i == 0)
		epoll_create_err = EMFILE;
	else
		eventfd_fail_at = _i; /* AIO, wake-up, helpers */
	ck_assert_int_eq(dmaio_loop_new(&loop, NULL), -EMFILE);
	ck_assert_ptr_null(loop);
	ck_assert_int_eq(epoll_create_err + eventfd_fail_at, 0);
	ck_assert_int_eq(count_fds(), before);
	ck_assert_int_ge(fcntl(0, F_GETFD), 0); /* stdin is not ours */
	loop = tu_loop(0, 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* mounted by main() around the suite, so a failure leaves no mount */
static char part_dir[PATH_MAX], part_disk[64];

/*
 * A disk image with one partition, attached to a loop device with
 * partition scanning, the partition formatted ext4 and mounted at dir;
 * 0, or -1 with *why set. *disk: the loop device's name (loopN).
 */
static int mount_partition(char *dir, size_t dirlen, char *disk,
			   size_t disklen, const char **why)
{
	unsigned char mbr[66] = { 0 };
	char cmd[1024], path[PATH_MAX + 8];
	FILE *fp;
	int fd;

	if (geteuid() != 0 || access("/dev/loop-control", F_OK) ||
	    system("{ command -v losetup && command -v mkfs.ext4 && "
		   "command -v partx; } >/dev/null") != 0) {
		*why = "needs root, loop devices, losetup, partx, mkfs.ext4";
		return -1;
	}
	/* in the build tree, so that whoever kills us knows where to look */
	if (!getcwd(path, sizeof(path) - 32)) {
		*why = "getcwd failed";
		return -1;
	}
	snprintf(dir, dirlen, "%s/dmaio-part.XXXXXX", path);
	if (!mkdtemp(dir)) {
		*why = "mkdtemp failed";
		return -1;
	}
	/*
	 * An MS-DOS partition table: one Linux partition from 1 MiB on, in
	 * sectors of 4 KiB (a 4Kn disk: what needs more than 512 shows).
	 */
	mbr[4] = 0x83;
	put_le32(mbr + 8, 256);       /* first sector */
	put_le32(mbr + 12, 63 * 256); /* sectors */
	mbr[64] = 0x55;
	mbr[65] = 0xaa;
	snprintf(path, sizeof(path), "%s.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 64 << 20) ||
	    pwrite(fd, mbr, sizeof(mbr), 446) != sizeof(mbr)) {
		*why = "could not write the disk image";
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	/* the partition's node, made here: /dev may not get one */
	snprintf(cmd, sizeof(cmd),
		 "d=$(losetup -b 4096 -f --show -P %s.img) && "
		 "echo \"$d\" > %s.dev && "
		 "{ partx -a \"$d\" || blockdev --rereadpt \"$d\"; } && "
		 "n=${d#/dev/} && "
		 "s=/sys/block/$n/${n}p1/dev && "
		 "for i in $(seq 50); do [ -e $s ] && break; sleep 0.1; "
		 "done && "
		 "mknod %s.p1 b $(cut -d: -f1 $s) $(cut -d: -f2 $s) && "
		 "mkfs.ext4 -q -F %s.p1 && mount %s.p1 %s",
		 dir, dir, dir, dir, dir, dir);
	if (system(cmd) != 0) {
		*why = "no partition on a loop device here";
		return -1;
	}
	/* (no ck_assert here: this runs before the suite) */
	snprintf(path, sizeof(path), "%s.dev", dir);
	fp = fopen(path, "r");
	if (!fp || disklen < 64 || fscanf(fp, "/dev/%63s", disk) != 1) {
		*why = "losetup named no device";
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

static void umount_partition(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "umount %s; losetup -d $(cat %s.dev); "
		 "rm -f %s.img %s.dev %s.p1; rmdir %s",
		 dir, dir, dir, dir, dir, dir);
	if (system(cmd)) {
		/* best effort: the next run uses a new name */
	}
}

/*
 * A file on a partition takes the request size and logical block size
 * of the partition's disk (a partition has no queue of its own): 4 KiB
 * here, not the 512 assumed when nothing says.
 */
START_TEST(file_on_a_partition_takes_its_disks_limits)
{
	char qfile[PATH_MAX], path[PATH_MAX + 8];
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	unsigned long kb = 0, lbs = 0;
	FILE *fp;

	snprintf(qfile, sizeof(qfile), "/sys/block/%s/queue/max_sectors_kb",
		 part_disk);
	fp = fopen(qfile, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fscanf(fp, "%lu", &kb), 1);
	fclose(fp);
	snprintf(qfile, sizeof(qfile),
		 "/sys/block/%s/queue/logical_block_size", part_disk);
	fp = fopen(qfile, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fscanf(fp, "%lu", &lbs), 1);
	fclose(fp);
	/* statx would answer first: the disk's own answer is wanted */
	loop = tu_loop(DMAIO_FEAT_STATX_DIOALIGN, 0);
	snprintf(path, sizeof(path), "%s/f", part_dir);
	tu_make_file(path, 4096, 90);
	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &f), 0);
	ck_assert_str_eq(dmaio_file_alignment_source(f), "block-device");
	ck_assert_uint_eq(lbs, 4096);
	ck_assert_uint_eq(dmaio_file_alignment(f), lbs);
	ck_assert_uint_eq(dmaio_file_max_io(f), kb * 1024);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	unlink(path);
	/* the block device itself, with no sysfs to read: it is asked (a
	 * new loop: its helper has not looked this device up yet) */
	dmaio_loop_free(loop);
	loop = tu_loop(DMAIO_FEAT_STATX_DIOALIGN, 0);
	snprintf(path, sizeof(path), "%s.p1", part_dir);
	sysfs_err = ENOENT;
	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &f), 0);
	sysfs_err = 0;
	ck_assert_str_eq(dmaio_file_alignment_source(f), "block-device");
	ck_assert_uint_eq(dmaio_file_alignment(f), 4096);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static int on_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

#ifdef RUNNING_ON_VALGRIND
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	return p && strstr(p, "vgpreload");
}

/*
 * The loop reaps from the kernel's completion ring when it recognises it
 * (and valgrind, which cannot see the kernel's writes, is not running);
 * a ring of another magic is never read: io_getevents, and I/O works.
 */
START_TEST(loop_reaps_from_the_ring_only_when_it_recognises_it)
{
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	int p[2];

	tu_make_file(tu_path("q"), 16 * 4096, 80);
	loop = tu_loop(0, 0);
	/* (a modelled kernel before 3.16 leaks reaped slots: no ring there) */
	if (!on_valgrind() && !getenv("DMAIO_KMODEL"))
		ck_assert_uint_ne(dmaio_loop_features(loop) &
					  DMAIO_FEAT_USER_REAP,
				  0);
	dmaio_loop_free(loop);
	ring_magic = _i ? 0x12345678 : 0xa10a10a1 + 1;
	loop = tu_loop(0, 16);
	ck_assert_uint_eq(dmaio_loop_features(loop) & DMAIO_FEAT_USER_REAP, 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("q"), &f), 0);
	read_many_times(loop, f, 300, 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	read_many_times(loop, f, 300, 1);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_read_done(void *arg, struct dmaio_view *v, int64_t res)
{
	struct got *g = arg;

	dmaio_view_release(v);
	g->calls++;
	g->res = res;
	iocbs_done++;
}

/*
 * The loop never has more iocbs in the kernel than its queue_depth, which
 * the AIO context was sized for, whatever is queued.
 */
START_TEST(loop_never_puts_more_than_queue_depth_iocbs_in_the_kernel)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 8);
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	int i;

	tu_make_file(tu_path("d"), 16 * 4096, 91);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("d"), &f), 0);
	iocbs_submitted = iocbs_done = most_in_flight = 0;
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(dmaio_file_read_at(f,
						    (uint64_t)(i % 16) * 4096,
						    4096, on_read_done, &r),
				 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 200);
	ck_assert_int_eq(iocbs_submitted, 200);
	ck_assert_int_le(most_in_flight, 8);
	ck_assert_int_ge(most_in_flight, 2);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* 1 when the kernel runs IOCB_CMD_FDSYNC on a file of path's directory. */
static int kernel_has_aio_fdsync(const char *path)
{
	io_context_t ctx = 0;
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	int fd, ok = 0;

	fd = open(path, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_setup(4, &ctx), 0);
	io_prep_fdsync(&cb, fd);
	if (io_submit(ctx, 1, cbs) == 1)
		ok = io_getevents(ctx, 1, 1, &ev, NULL) == 1 && ev.res == 0;
	io_destroy(ctx);
	close(fd);
	return ok;
}

#ifdef SYS_statx
#define STATX_NR SYS_statx
#elif defined(__x86_64__)
#define STATX_NR 332
#elif defined(__aarch64__)
#define STATX_NR 291
#else
#define STATX_NR -1 /* unknown here: ENOSYS, as the library finds too */
#endif

/*
 * The loop's features are what this kernel offers: AIO fdatasync where
 * the kernel runs it, statx where it answers, huge buffers where
 * transparent huge pages are not "never".
 */
START_TEST(loop_features_are_what_the_kernel_offers)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	uint64_t feat = dmaio_loop_features(loop);
	unsigned char stx[256];
	char thp[128] = "";
	FILE *fp;
	int want;

	want = kernel_has_aio_fdsync(tu_path("k"));
	ck_assert_int_eq(!!(feat & DMAIO_FEAT_AIO_FDSYNC), want);
	/* by number, as the library calls it: old headers lack the name */
	want = syscall(STATX_NR, AT_FDCWD, "/", 0, 0, stx) == 0;
	ck_assert_int_eq(!!(feat & DMAIO_FEAT_STATX_DIOALIGN), want);
	fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (fp) {
		if (!fgets(thp, sizeof(thp), fp))
			thp[0] = '\0';
		fclose(fp);
	}
	want = thp[0] && !strstr(thp, "[never]");
	ck_assert_int_eq(!!(feat & DMAIO_FEAT_HUGE_BUFFERS), want);
	dmaio_loop_free(loop);
}
END_TEST

static void on_open(void *arg, struct dmaio_file *f, int err)
{
	struct got *g = arg;

	g->calls++;
	g->res = err;
	if (f)
		ck_assert_int_eq(dmaio_file_close(f, NULL, NULL), 0);
}

/* An open whose fstat fails reports that error, and leaves nothing open. */
START_TEST(open_reports_a_failed_fstat)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct got g = { 0, 0, NULL };
	int before;

	tu_make_file(tu_path("s"), 4096, 92);
	before = count_fds();
	fstat_err = EIO;
	ck_assert_int_eq(dmaio_file_open(loop, tu_path("s"), on_open, &g), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	fstat_err = 0;
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res, -EIO);
	ck_assert_int_eq(count_fds(), before);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * hint_extent_size succeeds only when the file system kept what was
 * asked: a hint set, or a hint cleared. (ext4 takes the ioctl and drops
 * the hint; here the file system is made to report either answer.)
 */
START_TEST(extent_hint_succeeds_only_when_the_file_system_keeps_it)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("x"), &f), 0);
	if (!dmaio_file_is_direct(f)) {
		dmaio_file_close_wait(f);
		dmaio_loop_free(loop);
		return;
	}
	extsize_seen = UINT32_MAX; /* dropped */
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 1 << 20),
			 -EOPNOTSUPP);
	extsize_seen = 1 << 19; /* another size kept */
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 1 << 20),
			 -EOPNOTSUPP);
	extsize_seen = 1 << 20; /* kept */
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 1 << 20), 0);
	/* clearing: the flag must be gone */
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 0), -EOPNOTSUPP);
	extsize_seen = UINT32_MAX;
	ck_assert_int_eq(dmaio_file_hint_extent_size_wait(f, 0), 0);
	extsize_seen = 0;
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_many_count(void *arg, size_t idx, struct dmaio_view *v,
			  int64_t res)
{
	struct ranges *r = arg;

	ck_assert_uint_lt(idx, RANGES);
	r->calls[idx]++;
	r->res[idx] = res;
	dmaio_view_release(v);
}

/*
 * Without memory every call either fails at once with -ENOMEM and calls
 * nobody back, or succeeds and calls back every operation exactly once;
 * it leaks nothing (the sanitizer build sees leaks). Each allocation in
 * turn is made to fail.
 */
START_TEST(calls_without_memory_fail_cleanly_or_complete)
{
	struct dmaio_loop *loop = NULL;
	struct dmaio_file *f;
	struct dmaio_iovec iov[RANGES];
	struct dmaio_read_many_opts o;
	int k, fds = count_fds(), ret;
	size_t i;

	for (k = 1; k <= 40; k++) {
		__atomic_store_n(&malloc_fail_at, k, __ATOMIC_SEQ_CST);
		ret = dmaio_loop_new(&loop, NULL);
		__atomic_store_n(&malloc_fail_at, 0, __ATOMIC_SEQ_CST);
		ck_assert_msg(ret == 0 || ret == -ENOMEM, "loop_new: %d", ret);
		if (ret) {
			ck_assert_ptr_null(loop);
			ck_assert_int_eq(count_fds(), fds);
		} else {
			dmaio_loop_free(loop);
		}
	}
	tu_make_file(tu_path("a"), 64 * 1024, 93);
	loop = tu_loop(0, 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("a"), &f), 0);
	for (i = 0; i < RANGES; i++) {
		iov[i].pos = i * 10000;
		iov[i].len = 3000;
	}
	dmaio_read_many_opts_init(&o);
	o.max_merged_buffer_size = 0;
	for (k = 1; k <= 30; k++) {
		struct ranges r;

		memset(&r, 0, sizeof(r));
		__atomic_store_n(&malloc_fail_at, k, __ATOMIC_SEQ_CST);
		ret = dmaio_file_read_many(f, iov, RANGES, &o, on_many_count,
					   &r);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		__atomic_store_n(&malloc_fail_at, 0, __ATOMIC_SEQ_CST);
		ck_assert_msg(ret == 0 || ret == -ENOMEM, "read_many: %d", ret);
		for (i = 0; i < RANGES; i++) {
			ck_assert_int_eq(r.calls[i], ret ? 0 : 1);
			if (ret == 0)
				ck_assert_msg(r.res[i] == 3000 ||
						      r.res[i] == -ENOMEM,
					      "range %zu: %lld", i,
					      (long long)r.res[i]);
		}
	}
	for (k = 1; k <= 10; k++) {
		struct dmaio_writer *w = NULL;
		struct dmaio_file *wf;

		ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("w"),
							&wf),
				 0);
		__atomic_store_n(&malloc_fail_at, k, __ATOMIC_SEQ_CST);
		ret = dmaio_writer_new(wf, NULL, &w);
		__atomic_store_n(&malloc_fail_at, 0, __ATOMIC_SEQ_CST);
		ck_assert_msg(ret == 0 || ret == -ENOMEM, "writer_new: %d",
			      ret);
		if (ret == 0) {
			ck_assert_int_eq(dmaio_writer_write_wait(w, "abc", 3),
					 3);
			ck_assert_int_eq(dmaio_writer_close_wait(w), 3);
		} else {
			ck_assert_ptr_null(w);
			ck_assert_int_eq(dmaio_file_close_wait(wf), 0);
		}
	}
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/*
 * A buffer given back is kept for the next allocation of its size, cycle
 * after cycle: steady I/O does not call the allocator.
 */
START_TEST(buffer_pool_reuses_freed_buffers_without_end)
{
	struct dmaio_loop *loop = tu_loop(DMAIO_FEAT_HUGE_BUFFERS, 0);
	struct dmaio_file *f;
	int i;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("p"), &f), 0);
	dmaio_buf_unref(dmaio_file_alloc_buf(f, 4096));
	memalign_calls = 0;
	for (i = 0; i < 1000; i++) {
		struct dmaio_buf *b = dmaio_file_alloc_buf(f, 4096);

		ck_assert_ptr_nonnull(b);
		dmaio_buf_unref(b);
	}
	ck_assert_int_eq(memalign_calls, 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

static void on_fd(void *arg, int fd, uint32_t events)
{
	struct got *g = arg;

	ck_assert_int_eq(fd, 0);
	ck_assert_uint_ne(events & EPOLLIN, 0);
	g->calls++;
}

/* fd 0 is an fd like any other: it can be watched and unwatched. */
START_TEST(fd_0_can_be_watched_like_any_other)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct got g = { 0, 0, NULL };
	int p[2], saved = dup(0);

	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[0], 0), 0);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, 0), -ENOENT);
	ck_assert_int_eq(dmaio_loop_watch(loop, 0, EPOLLIN, on_fd, &g), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 1000), 0);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, 0), 0);
	ck_assert_int_eq(dup2(saved, 0), 0);
	close(saved);
	close(p[0]);
	close(p[1]);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A short write that stopped off the alignment cannot be continued with
 * O_DIRECT: the writer fails with -EIO (here the completion is changed,
 * hence completions through io_getevents).
 */
START_TEST(writer_fails_a_short_write_it_cannot_continue)
{
	struct dmaio_loop *loop = tu_loop(DMAIO_FEAT_USER_REAP, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("u"), WB, 4);
	unsigned char data[3 * WB];
	struct got g = { 0, 0, NULL };

	tu_fill(data, sizeof(data), 0, 95);
	res_pos = WB;
	res_val = 100;
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)),
			 sizeof(data));
	/* not flush_wait: a write left in flight would hang it */
	ck_assert_int_eq(dmaio_writer_flush(w, on_res, &g), 0);
	run_until(loop, 0, 5);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res, -EIO);
	ck_assert_uint_eq(res_pos, UINT64_MAX);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), WB);
	ck_assert_int_eq(dmaio_writer_close_wait(w), -EIO);
	check_file(tu_path("u"), WB, 95);
	dmaio_loop_free(loop);
}
END_TEST

struct in_cb {
	struct dmaio_writer *w;
	struct dmaio_file *f;
	int done;
};

static void call_waits(void *arg, int64_t res)
{
	struct in_cb *c = arg;

	ck_assert_int_eq(res, 0);
	ck_assert_int_eq(dmaio_writer_sync_wait(c->w), -EDEADLK);
	ck_assert_msg(!strncmp(dmaio_last_error(), "writer_sync_wait: ", 18),
		      "%s", dmaio_last_error());
	ck_assert_int_eq(dmaio_file_size_wait(c->f), -EDEADLK);
	ck_assert_msg(!strncmp(dmaio_last_error(), "size_wait: ", 11), "%s",
		      dmaio_last_error());
	c->done = 1;
}

/*
 * A _wait twin that cannot run names itself as the other calls do
 * ("size_wait: ...", "writer_sync_wait: ..."), not by its C name.
 */
START_TEST(wait_twins_name_themselves_as_the_other_calls_do)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct in_cb c = { NULL, NULL, 0 };

	c.w = plain_writer(loop, tu_path("n"), WB, 2);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("m"), &c.f), 0);
	ck_assert_int_eq(dmaio_writer_flush(c.w, call_waits, &c), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.done, 1);
	ck_assert_int_eq(dmaio_writer_close_wait(c.w), 0);
	ck_assert_int_eq(dmaio_file_close_wait(c.f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * opts.poll_us spins at most the timeout run_once was given: a loop
 * that polls still returns on time with nothing completed.
 */
START_TEST(polling_never_outlasts_run_once_timeout)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	double t0, took;

	/* a spin past the timeout would take 1 s (the most poll_us
	 * takes): far from a preempted 20 ms one */
	dmaio_loop_opts_init(&o);
	o.poll_us = 1000000;
	o.disable = tu_profile_disable[_i];
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	tu_make_file(tu_path("s"), 4096, 96);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("s"), &f), 0);
	add_rule(HOLD, IO_CMD_PREAD, 0, 1, 1); /* in flight, never done */
	ck_assert_int_eq(dmaio_file_read_at(f, 0, 4096, on_view_res, &r), 0);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(nheld, 1);
	t0 = tu_now_s();
	ck_assert_int_ge(dmaio_loop_run_once(loop, 20), 0);
	took = tu_now_s() - t0;
	ck_assert_msg(took < 0.6, "run_once(loop, 20) took %.3f s", took);
	release_held(0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * DMAIO_DISABLE turns features off by name, comma or space separated,
 * "all" every one; an unknown word changes nothing. LD_PRELOAD of other
 * libraries is not taken for valgrind's.
 */
START_TEST(dmaio_disable_names_features_to_turn_off)
{
	struct dmaio_loop *loop;
	uint64_t all, got;

	loop = tu_loop(0, 0);
	all = dmaio_loop_features(loop);
	dmaio_loop_free(loop);
	ck_assert_int_eq(setenv("DMAIO_DISABLE", "user_reap, statx_dioalign",
				1),
			 0);
	loop = tu_loop(0, 0);
	got = dmaio_loop_features(loop);
	dmaio_loop_free(loop);
	ck_assert_uint_eq(got, all & ~(DMAIO_FEAT_USER_REAP |
				       DMAIO_FEAT_STATX_DIOALIGN));
	ck_assert_int_eq(setenv("DMAIO_DISABLE", "aio_fdsync,huge_buffers",
				1),
			 0);
	loop = tu_loop(0, 0);
	got = dmaio_loop_features(loop);
	dmaio_loop_free(loop);
	ck_assert_uint_eq(got, all & ~(DMAIO_FEAT_AIO_FDSYNC |
				       DMAIO_FEAT_HUGE_BUFFERS));
	ck_assert_int_eq(setenv("DMAIO_DISABLE", "all", 1), 0);
	loop = tu_loop(0, 0);
	ck_assert_uint_eq(dmaio_loop_features(loop), 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(setenv("DMAIO_DISABLE", "nothing,allx  user", 1), 0);
	loop = tu_loop(0, 0);
	ck_assert_uint_eq(dmaio_loop_features(loop), all);
	dmaio_loop_free(loop);
	ck_assert_int_eq(unsetenv("DMAIO_DISABLE"), 0);
	if (!on_valgrind()) {
		ck_assert_int_eq(setenv("LD_PRELOAD", "libnothing.so", 1), 0);
		loop = tu_loop(0, 0);
		ck_assert_uint_eq(dmaio_loop_features(loop), all);
		dmaio_loop_free(loop);
		ck_assert_int_eq(unsetenv("LD_PRELOAD"), 0);
	}
}
END_TEST

/*
 * Bytes written after a flush stay in the buffer until it is full or
 * flushed again: no partial block is written on its own.
 */
START_TEST(writer_writes_no_partial_block_unless_flushed)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("b"), 4 * WB, 4);
	unsigned char data[2000];
	struct got g = { 0, 0, NULL };

	tu_fill(data, sizeof(data), 0, 97);
	ck_assert_int_eq(dmaio_writer_write(w, data, 1000), 1000);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0); /* nothing new */
	writes_submitted = 0;
	ck_assert_int_eq(dmaio_writer_write(w, data + 1000, 1000), 1000);
	/* an event for the writer: its progress must not write */
	ck_assert_int_eq(dmaio_writer_on_writable(w, on_res, &g), 0);
	run_for(loop, 0.05);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(writes_submitted, 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), sizeof(data));
	check_file(tu_path("b"), sizeof(data), 97);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * No memory for the copy that continues a short write: the writer fails
 * with -ENOMEM rather than leaving the write unfinished.
 */
START_TEST(writer_fails_a_short_write_it_has_no_memory_to_continue)
{
	struct dmaio_loop *loop;
	struct dmaio_writer *w;
	unsigned char data[2 * WB];
	struct got g = { 0, 0, NULL };

	if (no_allocator_faults(
		    "writer_fails_a_short_write_it_has_no_memory_to_continue"))
		return;
	loop = tu_loop(DMAIO_FEAT_HUGE_BUFFERS, 0);
	w = plain_writer(loop, tu_path("c"), 2 * WB, 4);
	tu_fill(data, sizeof(data), 0, 98);
	add_rule(SHRINK, IO_CMD_PWRITE, 0, 1, 1);
	ck_assert_int_eq(dmaio_writer_write(w, data, sizeof(data)),
			 sizeof(data));
	memalign_fail_at = 1; /* the copy of the rest */
	ck_assert_int_eq(dmaio_writer_flush(w, on_res, &g), 0);
	run_until(loop, 0, 5);
	ck_assert_int_eq(memalign_fail_at, 0);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res, -ENOMEM);
	ck_assert_int_eq(dmaio_writer_close_wait(w), -ENOMEM);
	dmaio_loop_free(loop);
}
END_TEST

/* The stream reader reads each block of the file once. */
START_TEST(reader_reads_each_block_once)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader_opts o;
	struct dmaio_reader *r;
	struct dmaio_file *f;
	const size_t size = 1 << 20;
	char *buf = malloc(size);

	tu_make_file(tu_path("r"), size, 99);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("r"), &f), 0);
	dmaio_reader_opts_init(&o);
	o.buffer_size = 64 * 1024;
	o.read_ahead = 4;
	reads_submitted = 0;
	ck_assert_int_eq(dmaio_reader_new(f, &o, &r), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, size), (int64_t)size);
	ck_assert_int_eq(tu_check(buf, size, 0, 99), -1);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	/* and the read-ahead past the end, which finds EOF (one more when
	 * the last buffer's read returns while the next is being issued) */
	ck_assert_int_le(reads_submitted,
			 size / (64 * 1024) + o.read_ahead + 1);
	free(buf); /* (the reader closed the file) */
	dmaio_loop_free(loop);
}
END_TEST

static void on_empty(void *arg, struct dmaio_view *v, int64_t res)
{
	struct got *g = arg;

	g->calls++;
	g->res = res;
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(dmaio_view_len(v), 0);
	dmaio_view_release(v);
}

/* A read of nothing at the largest file offset is still a read. */
START_TEST(read_of_nothing_at_the_largest_offset_succeeds)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;
	struct got g = { 0, 0, NULL };

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("e"), &f), 0);
	ck_assert_int_eq(dmaio_file_read_at(f, INT64_MAX, 0, on_empty, &g),
			 0);
	ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)INT64_MAX + 1, 0,
					    on_empty, &g),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res, 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* 1 when transparent huge pages are not "never" here. */
static int thp_enabled(void)
{
	char thp[128] = "";
	FILE *fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (fp) {
		if (!fgets(thp, sizeof(thp), fp))
			thp[0] = '\0';
		fclose(fp);
	}
	return thp[0] && !strstr(thp, "[never]");
}

/*
 * With huge buffers, buffers of 256 KiB and more are cut one after the
 * other from 2 MiB-aligned slabs (one DMA segment each).
 */
START_TEST(buffers_from_256_kib_up_are_cut_from_huge_page_slabs)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;
	struct dmaio_buf *a, *b;
	char *da, *db;

	ck_assert_int_eq(!!(dmaio_loop_features(loop) &
			    DMAIO_FEAT_HUGE_BUFFERS),
			 thp_enabled());
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("h"), &f), 0);
	a = dmaio_file_alloc_buf(f, 256 * 1024);
	b = dmaio_file_alloc_buf(f, 256 * 1024);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	da = dmaio_buf_data(a);
	db = dmaio_buf_data(b);
	if (thp_enabled()) {
		ck_assert_uint_eq((uintptr_t)da % (2 << 20), 0);
		ck_assert_ptr_eq(db, da + 256 * 1024);
	}
	dmaio_buf_unref(a);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Queued I/O goes to the kernel in io_submit calls of 1, 2, 4, 8...
 * iocbs: the first alone, so that the device starts at once.
 */
START_TEST(queued_io_is_submitted_one_then_doubling)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	int i;

	tu_make_file(tu_path("q"), 16 * 4096, 101);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("q"), &f), 0);
	for (i = 0; i < 15; i++)
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 4096, 4096,
						    on_view_res, &r),
				 0);
	ncalls = 0;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 15);
	ck_assert_int_ge(ncalls, 4);
	ck_assert_int_eq(call_sizes[0], 1);
	ck_assert_int_eq(call_sizes[1], 2);
	ck_assert_int_eq(call_sizes[2], 4);
	ck_assert_int_eq(call_sizes[3], 8);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * A stream write that would end past the largest file offset is refused
 * whole (-EOVERFLOW), however far the stream is.
 */
START_TEST(writer_refuses_a_write_past_the_largest_offset)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer *w = plain_writer(loop, tu_path("o"), WB, 2);
	static unsigned char data[2 * WB];

	ck_assert_int_eq(dmaio_writer_write(w, data, (size_t)INT64_MAX + 1),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_writer_write(w, data, 1), 1);
	ck_assert_int_eq(dmaio_writer_write(w, data, INT64_MAX), -EOVERFLOW);
	ck_assert_int_eq(dmaio_writer_position(w), 1);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 1);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Options at their documented largest values are taken: queue_depth
 * 65536 (asked of io_setup, made to say EAGAIN here: a real context that
 * size would take every AIO slot of the machine from other programs),
 * helper_threads 1024, poll_us 1000000, write_behind 4096, buffer_size
 * 1 GiB.
 */
START_TEST(options_at_their_largest_values_are_taken)
{
	struct dmaio_loop_opts o;
	struct dmaio_writer_opts wo;
	struct dmaio_loop *loop = NULL;
	struct dmaio_writer *w = NULL;
	struct dmaio_file *f;
	int ret;

	dmaio_loop_opts_init(&o);
	o.queue_depth = 65536;
	io_setup_err = EAGAIN;
	ret = dmaio_loop_new(&loop, &o);
	ck_assert_msg(ret == -EAGAIN, "queue_depth 65536: %d", ret);
	ck_assert_int_eq(io_setup_err, 0); /* it was asked */
	dmaio_loop_opts_init(&o);
	/* (valgrind runs 500 threads at most) */
	o.helper_threads = on_valgrind() ? 1 : 1024;
	o.poll_us = 1000000;
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	dmaio_loop_free(loop);
	loop = tu_loop(0, 0);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("l"), &f), 0);
	dmaio_writer_opts_init(&wo);
	wo.write_behind = 4096;
	wo.buffer_size = 1u << 30;
	ck_assert_int_eq(dmaio_writer_new(f, &wo, &w), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* The aio-max-nr message quotes the numbers /proc has. */
START_TEST(aio_max_nr_message_quotes_proc)
{
	struct dmaio_loop *loop = NULL;
	char want[64];
	long max = -1;
	FILE *fp = fopen("/proc/sys/fs/aio-max-nr", "r");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fscanf(fp, "%ld", &max), 1);
	fclose(fp);
	io_setup_err = EAGAIN;
	ck_assert_int_eq(dmaio_loop_new(&loop, NULL), -EAGAIN);
	snprintf(want, sizeof(want), "aio-max-nr is %ld with ", max);
	ck_assert_msg(strstr(dmaio_last_error(), want), "%s",
		      dmaio_last_error());
}
END_TEST

/*
 * On the buffered fallback a write interrupted by a signal is made
 * again; a write that fails says why.
 */
START_TEST(buffered_write_retries_eintr_and_reports_errors)
{
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct dmaio_buf *b;

	refuse_o_direct = 1;
	loop = tu_loop(0, 0);
	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("i"), &f), 0);
	ck_assert_int_eq(dmaio_file_is_direct(f), 0);
	b = dmaio_file_alloc_buf(f, 8192);
	tu_fill(dmaio_buf_data(b), 8192, 0, 102);
	pwrite_err = EINTR;
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, 0), 8192);
	ck_assert_int_eq(pwrite_err, 0);
	check_file(tu_path("i"), 8192, 102);
	pwrite_err = ENOSPC;
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, 8192), -ENOSPC);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Without the ring, every completion ready is reaped, not one batch of
 * them: the rest signal nothing more, and would wait for ever.
 */
START_TEST(loop_reaps_every_ready_completion_not_one_batch)
{
	struct dmaio_loop *loop = tu_loop(DMAIO_FEAT_USER_REAP, 512);
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	int i, p[2];

	tu_make_file(tu_path("b"), 16 * 4096, 103);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("b"), &f), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	for (i = 0; i < 400; i++)
		ck_assert_int_eq(dmaio_file_read_at(f,
						    (uint64_t)(i % 16) * 4096,
						    4096, on_view_res, &r),
				 0);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0); /* all sent */
	usleep(200 * 1000); /* all done in the kernel */
	run_until(loop, 0, 3);
	ck_assert_int_eq(r.calls, 400);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* A size up to INT64_MAX is the file system's to refuse, not ours. */
START_TEST(truncate_to_the_largest_offset_is_asked_of_the_file_system)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;
	int64_t ret;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("t"), &f), 0);
	ret = dmaio_file_truncate_wait(f, INT64_MAX);
	ck_assert_msg(ret != -EOVERFLOW, "truncate to INT64_MAX: %lld",
		      (long long)ret);
	ck_assert_int_eq(dmaio_file_truncate_wait(f, (uint64_t)INT64_MAX + 1),
			 -EOVERFLOW);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * Steady I/O allocates nothing: operation records, buffers and views
 * are recycled, however long it runs.
 */
START_TEST(steady_io_allocates_nothing)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 16);
	struct dmaio_file *f;
	struct dmaio_view *v;
	int i;

	tu_make_file(tu_path("y"), 4096, 104);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("y"), &f), 0);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 4096, &v), 4096);
		dmaio_view_release(v);
	}
	lib_mallocs = 0;
	__atomic_store_n(&counting_mallocs, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 500; i++) {
		ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 4096, &v), 4096);
		dmaio_view_release(v);
	}
	__atomic_store_n(&counting_mallocs, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(lib_mallocs, 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* A loop works when fd 0 is free (stdin closed): its fds may be 0. */
START_TEST(loop_works_with_fd_0_closed)
{
	struct dmaio_loop *loop = NULL;
	struct dmaio_file *f;
	struct dmaio_view *v;
	int saved = dup(0), ret;

	ck_assert_int_ge(saved, 0);
	tu_make_file(tu_path("z"), 4096, 105);
	close(0);
	ret = dmaio_loop_new(&loop, NULL);
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("z"), &f), 0);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, 4096, &v), 4096);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
	ck_assert_int_eq(dup2(saved, 0), 0);
	close(saved);
}
END_TEST

/* Trimming a buffer to its own size is allowed (trim only shrinks). */
START_TEST(buffer_trim_to_its_own_size_is_allowed)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;
	struct dmaio_buf *b;

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("t"), &f), 0);
	b = dmaio_file_alloc_buf(f, 8192);
	ck_assert_int_eq(dmaio_buf_trim(b, 8192), 0);
	ck_assert_int_eq(dmaio_buf_trim(b, 4096), 0);
	ck_assert_int_eq(dmaio_buf_trim(b, 4096), 0);
	ck_assert_uint_eq(dmaio_buf_size(b), 4096);
	dmaio_buf_unref(b);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * With every slot of the context taken and more queued, dmaio_loop_fd()
 * is not readable: nothing can move until a completion, which makes it
 * readable itself.
 */
START_TEST(loop_fd_is_not_readable_while_only_a_full_queue_waits)
{
	struct dmaio_loop *loop = tu_loop(0, 4);
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	struct pollfd pfd;
	int i;

	tu_make_file(tu_path("w"), 8 * 4096, 106);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("w"), &f), 0);
	pfd.fd = dmaio_loop_fd(loop);
	pfd.events = POLLIN;
	add_rule(HOLD, IO_CMD_PREAD, 0, UINT64_MAX, 4); /* the first four */
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(dmaio_file_read_at(f, (uint64_t)i * 4096, 4096,
						    on_view_res, &r),
				 0);
	for (i = 0; i < 5 && poll(&pfd, 1, 0) == 1; i++)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(nheld, 4);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	release_held(0);
	for (i = 0; i < 100 && r.calls < 8; i++) {
		ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	}
	ck_assert_int_eq(r.calls, 8);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

struct chain {
	struct dmaio_file *f;
	struct got r;
};

static void start_next(void *arg, struct dmaio_view *v, int64_t res)
{
	struct chain *c = arg;

	ck_assert_int_eq(res, 0);
	dmaio_view_release(v);
	ck_assert_int_eq(dmaio_file_read_at(c->f, 0, 4096, on_view_res,
					    &c->r),
			 0);
}

/*
 * I/O a callback starts leaves in the iteration that ran the callback:
 * the kernel has it when run_once returns.
 */
START_TEST(io_started_by_a_callback_leaves_in_the_same_iteration)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct chain c;

	memset(&c, 0, sizeof(c));
	tu_make_file(tu_path("c"), 4096, 107);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("c"), &c.f), 0);
	/* a read of nothing completes from the loop, then starts a read */
	ck_assert_int_eq(dmaio_file_read_at(c.f, 0, 0, start_next, &c), 0);
	reads_submitted = 0;
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(reads_submitted, 1);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c.r.calls, 1);
	ck_assert_int_eq(dmaio_file_close_wait(c.f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * An fd closed while watched has left the epoll set with its close:
 * unwatching it still succeeds, and the loop no longer counts it.
 */
START_TEST(unwatch_of_an_fd_closed_meanwhile_succeeds)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	close(p[0]);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), -ENOENT);
	close(p[1]);
	ck_assert_int_eq(dmaio_loop_run(loop), 0); /* nothing watched */
	dmaio_loop_free(loop);
}
END_TEST

/*
 * run_once(loop, 0) never waits, not even for silent completions of
 * DMAIO_LOOP_LAZY_EVENTFD looked for every millisecond.
 */
START_TEST(run_once_with_timeout_0_never_waits)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct got r = { 0, 0, NULL };
	double t0, took;
	int i, p[2], slow = 0;

	dmaio_loop_opts_init(&o);
	o.flags = DMAIO_LOOP_LAZY_EVENTFD;
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	tu_make_file(tu_path("n"), 4096, 109);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("n"), &f), 0);
	add_rule(HOLD, IO_CMD_PREAD, 0, 1, 1); /* silent, never done */
	ck_assert_int_eq(dmaio_file_read_at(f, 0, 4096, on_view_res, &r), 0);
	ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(nheld, 1);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dmaio_loop_watch(loop, p[0], EPOLLIN, on_pipe, NULL),
			 0);
	/* a wait would cost each call 1 ms; a preempted call, rarely */
	for (i = 0; i < 200; i++) {
		t0 = tu_now_s();
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
		took = tu_now_s() - t0;
		if (took >= 0.0009)
			slow++;
	}
	ck_assert_msg(slow < 50, "%d of 200 run_once(loop, 0) took 1 ms or "
		      "more", slow);
	release_held(0);
	run_until(loop, 0, 5);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(dmaio_loop_unwatch(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("regressions");
	TCase *tc = tu_tcase(s, "regressions");
	const char *why = NULL;
	int ret;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, writer_flushed_position_stops_at_a_failed_write,
			    0, 4);
	tu_name("writer_flushed_position_stops_at_a_failed_write", 0, 4,
		NULL);
	TU_ADD_PROFILES(tc,
		writer_flushed_position_stops_at_a_write_that_fails_last);
	TU_ADD(tc, writer_writes_nothing_after_a_failed_write);
	tcase_add_loop_test(tc, writer_sync_reports_a_failed_fdatasync, 0, 2);
	tu_name("writer_sync_reports_a_failed_fdatasync", 0, 2, NULL);
	TU_ADD_PROFILES(tc, writer_continues_a_short_write_where_it_stopped);
	TU_ADD_PROFILES(tc, writer_fails_a_write_that_wrote_nothing);
	TU_ADD_PROFILES(tc, writer_flush_padding_never_lands_after_newer_bytes);
	TU_ADD(tc, writer_close_cancels_a_waiting_on_writable_once);
	TU_ADD(tc, writer_on_writable_waits_for_a_free_buffer);
	TU_ADD(tc, writer_write_reports_no_memory_for_a_buffer);
	TU_ADD_PROFILES(tc, writer_grows_the_file_ahead_in_doubling_strides);
	tcase_add_loop_test(tc,
			    read_split_past_eof_returns_eof_in_any_completion_order,
			    0, 3);
	tu_name("read_split_past_eof_returns_eof_in_any_completion_order", 0,
		3, NULL);
	TU_ADD(tc, loop_free_waits_for_helper_work_before_closing_files);
	TU_ADD_PROFILES(tc,
		loop_fd_is_readable_for_each_batch_queued_from_outside);
	TU_ADD_PROFILES(tc,
		lazy_eventfd_loop_finds_silent_completions_while_in_epoll);
	TU_ADD(tc, helper_threads_survive_spurious_wakeups);
	TU_ADD(tc,
		loop_after_failed_user_reap_self_test_reaps_with_io_getevents);
	tcase_add_loop_test(tc, loop_new_fails_cleanly_without_descriptors, 0,
			    4);
	tu_name("loop_new_fails_cleanly_without_descriptors", 0, 4, NULL);
	tcase_add_loop_test(tc,
			    loop_reaps_from_the_ring_only_when_it_recognises_it,
			    0, 2);
	tu_name("loop_reaps_from_the_ring_only_when_it_recognises_it", 0, 2,
		NULL);
	if (mount_partition(part_dir, sizeof(part_dir), part_disk,
			    sizeof(part_disk), &why) == 0) {
		TU_ADD(tc, file_on_a_partition_takes_its_disks_limits);
	} else {
		if (part_dir[0])
			umount_partition(part_dir); /* what was made */
		part_dir[0] = '\0';
		tu_skip("file_on_a_partition_takes_its_disks_limits", why);
	}
	TU_ADD_PROFILES(tc,
		loop_never_puts_more_than_queue_depth_iocbs_in_the_kernel);
	TU_ADD(tc, loop_features_are_what_the_kernel_offers);
	TU_ADD(tc, open_reports_a_failed_fstat);
	TU_ADD(tc, extent_hint_succeeds_only_when_the_file_system_keeps_it);
	TU_ADD(tc, calls_without_memory_fail_cleanly_or_complete);
	TU_ADD(tc, buffer_pool_reuses_freed_buffers_without_end);
	TU_ADD(tc, fd_0_can_be_watched_like_any_other);
	TU_ADD(tc, writer_fails_a_short_write_it_cannot_continue);
	TU_ADD(tc, wait_twins_name_themselves_as_the_other_calls_do);
	TU_ADD_PROFILES(tc, polling_never_outlasts_run_once_timeout);
	TU_ADD(tc, dmaio_disable_names_features_to_turn_off);
	TU_ADD(tc, writer_writes_no_partial_block_unless_flushed);
	TU_ADD(tc, writer_fails_a_short_write_it_has_no_memory_to_continue);
	TU_ADD(tc, reader_reads_each_block_once);
	TU_ADD(tc, read_of_nothing_at_the_largest_offset_succeeds);
	TU_ADD(tc, buffers_from_256_kib_up_are_cut_from_huge_page_slabs);
	TU_ADD_PROFILES(tc, queued_io_is_submitted_one_then_doubling);
	TU_ADD(tc, writer_refuses_a_write_past_the_largest_offset);
	TU_ADD(tc, options_at_their_largest_values_are_taken);
	TU_ADD(tc, aio_max_nr_message_quotes_proc);
	TU_ADD(tc, buffered_write_retries_eintr_and_reports_errors);
	TU_ADD(tc, loop_reaps_every_ready_completion_not_one_batch);
	TU_ADD(tc, truncate_to_the_largest_offset_is_asked_of_the_file_system);
	TU_ADD_PROFILES(tc, steady_io_allocates_nothing);
	TU_ADD(tc, loop_works_with_fd_0_closed);
	TU_ADD(tc, buffer_trim_to_its_own_size_is_allowed);
	TU_ADD(tc, loop_fd_is_not_readable_while_only_a_full_queue_waits);
	TU_ADD(tc, io_started_by_a_callback_leaves_in_the_same_iteration);
	TU_ADD(tc, unwatch_of_an_fd_closed_meanwhile_succeeds);
	TU_ADD(tc, run_once_with_timeout_0_never_waits);
	TU_ADD(tc, read_many_calls_back_every_range_when_a_group_cannot_start);
	TU_ADD(tc, read_many_merges_up_to_the_limits_inclusive);
	TU_ADD_PROFILES(tc,
		buffered_io_continues_short_transfers_where_they_stopped);
	ret = tu_run(s);
	if (part_dir[0])
		umount_partition(part_dir);
	return ret;
}
