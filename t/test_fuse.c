/* SPDX-License-Identifier: MIT */
/*
 * FUSE: the loop thread never waits for the daemon. Two passthrough file
 * systems (t/slowfs) are mounted for the run, one whose fsync sleeps
 * 750 ms and one whose writes sleep 300 ms; every library call the loop
 * thread makes is timed while the kernel's FUSE client holds the file's
 * inode lock for the daemon (across an fsync, and across a direct write
 * that extends the file, which it answers inside io_submit). btrfs, whose
 * fsync holds the lock too, is timed on a loop-mounted image. Root only;
 * every test runs under every kernel-feature profile and once more on the
 * buffered fallback (O_DIRECT refused in fcntl below, as FUSE file systems
 * that refuse it do).
 */
#include "testutil.h"
#include "runs.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HAVE_FUSE3
#define HAVE_FUSE3 0
#endif

#define FUSE_MAGIC 0x65735546
#define FSYNC_MS 750
#define WRITE_MS 300
#define READ_MS 3
/* longest a single call may keep the loop thread */
#define MAX_CALL_MS 100

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* mounting slowfs                                                     */

struct slowfs {
	char dir[PATH_MAX];  /* holds back/ and mnt/ */
	char back[PATH_MAX];
	char mnt[PATH_MAX];
	pid_t pid;
};

static struct slowfs sync_fs, write_fs, read_fs;
static char btrfs_dir[PATH_MAX];

static int is_fuse(const char *dir)
{
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && sfs.f_type == FUSE_MAGIC;
}

static void slowfs_umount(struct slowfs *s)
{
	int i, status;

	/* lazily if busy: a failed test may have left a file open */
	if (umount2(s->mnt, 0))
		umount2(s->mnt, MNT_DETACH);
	/* unmounted, the daemon reads ENODEV from /dev/fuse and exits */
	for (i = 0; i < 200 && waitpid(s->pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 200) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	tu_rm_rf(s->dir);
}

static int slowfs_mount(struct slowfs *s, const char *opts, const char **why)
{
	const char *top = getenv("top_builddir");
	char bin[PATH_MAX];
	int i, status;

	if (!HAVE_FUSE3) {
		*why = "built without libfuse3 (configure found no fuse3.pc)";
		return -1;
	}
	if (geteuid() != 0) {
		*why = "needs root to mount a FUSE file system";
		return -1;
	}
	if (access("/dev/fuse", R_OK | W_OK)) {
		*why = "no /dev/fuse";
		return -1;
	}
	snprintf(bin, sizeof(bin), "%s/t/slowfs", top ? top : ".");
	if (access(bin, X_OK)) {
		*why = "t/slowfs not built";
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "/tmp/dmaio-fuse.XXXXXX");
	if (!mkdtemp(s->dir)) {
		*why = "mkdtemp failed";
		return -1;
	}
	snprintf(s->back, sizeof(s->back), "%s/back", s->dir);
	snprintf(s->mnt, sizeof(s->mnt), "%s/mnt", s->dir);
	if (mkdir(s->back, 0755) || mkdir(s->mnt, 0755)) {
		tu_rm_rf(s->dir);
		*why = "mkdir failed";
		return -1;
	}
	fflush(NULL);
	s->pid = fork();
	if (s->pid == 0) {
		/* stdout carries TAP: the daemon keeps off it */
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
		execl(bin, "slowfs", "-f", "-o", opts, s->back, s->mnt,
		      (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500 && s->pid > 0; i++) {
		if (is_fuse(s->mnt))
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			break;
		usleep(10000);
	}
	if (s->pid > 0 && i == 500) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	umount2(s->mnt, MNT_DETACH);
	tu_rm_rf(s->dir);
	*why = "slowfs did not mount (see its messages above)";
	return -1;
}

/* ------------------------------------------------------------------ */
/* timing the loop thread                                              */

static uint64_t worst_ns;
static const char *worst_call;

/*
 * The time this thread was runnable, on a CPU or waiting for one, from
 * the scheduler's own account (/proc/self/task/TID/schedstat), or 0
 * where the kernel keeps none. A call's wall time less this is the time
 * it slept: what a call that blocks on the file system spends, whereas a
 * busy build machine only keeps the thread waiting for a CPU.
 */
static uint64_t runnable_ns(void)
{
	char path[64];
	unsigned long long oncpu, wait;
	FILE *fp;
	int n;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat",
		 (long)syscall(SYS_gettid));
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	n = fscanf(fp, "%llu %llu", &oncpu, &wait);
	fclose(fp);
	return n == 2 ? oncpu + wait : 0;
}

#define TIMED(what, call)                                        \
	({                                                       \
		uint64_t t0_ = now_ns(), r0_ = runnable_ns();    \
		int r_ = (call);                                 \
		uint64_t d_ = now_ns() - t0_;                    \
		uint64_t run_ = runnable_ns() - r0_;             \
		d_ = run_ < d_ ? d_ - run_ : 0; /* slept */      \
		if (d_ > worst_ns) {                             \
			worst_ns = d_;                           \
			worst_call = (what);                     \
		}                                                \
		r_;                                              \
	})

/* What a callback saw, and in which order the callbacks ran. */
struct done {
	int done;
	int64_t res;
	unsigned seq;
	uint64_t at_ns;
};

static unsigned seq;

static void on_done(void *arg, int64_t res)
{
	struct done *d = arg;

	d->done = 1;
	d->res = res;
	d->seq = ++seq;
	d->at_ns = now_ns();
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	on_done(arg, res);
	if (v) {
		ck_assert_int_eq(tu_check(dmaio_view_data(v),
					  dmaio_view_len(v), 16384, 1), -1);
		dmaio_view_release(v);
	}
}

/* Polls the loop as an embedding program would, for at most ms. */
static void poll_for(struct dmaio_loop *loop, unsigned ms,
		     const struct done *d, size_t n)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
	size_t i;

	while (now_ns() < end) {
		ck_assert_int_ge(TIMED("dmaio_loop_run_once",
				       dmaio_loop_run_once(loop, 0)), 0);
		for (i = 0; i < n && d[i].done; i++)
			;
		if (n && i == n)
			return;
		usleep(1000);
	}
}

static struct dmaio_loop *start(int run)
{
	worst_ns = 0;
	worst_call = "nothing";
	seq = 0;
	return run_loop(run);
}

static struct dmaio_file *open_on(struct dmaio_loop *loop,
				  const struct slowfs *s, const char *name,
				  int run)
{
	char path[PATH_MAX];
	struct dmaio_file *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", s->mnt, name);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, path, O_RDWR, 0, &f),
			 0);
	/*
	 * Direct (6.18 takes O_DIRECT on FUSE): AIO, the path that used to
	 * sleep. Where FUSE refuses it, the buffered fallback is timed.
	 */
	if (run == BUFFERED_RUN)
		ck_assert_int_eq(dmaio_file_is_direct(f), 0);
	else if (!dmaio_file_is_direct(f))
		fprintf(stderr, "%s: O_DIRECT refused, timing the buffered "
				"fallback\n", path);
	return f;
}

static void submit_write(struct dmaio_file *f, uint64_t pos, size_t len,
			 unsigned seed, struct done *d)
{
	struct dmaio_buf *b = dmaio_file_alloc_buf(f, len);

	ck_assert_ptr_nonnull(b);
	tu_fill(dmaio_buf_data(b), len, pos, seed);
	ck_assert_int_eq(TIMED("dmaio_file_write_at",
			       dmaio_file_write_at(f, b, pos, on_done, d)), 0);
	dmaio_buf_unref(b);
}

static void check_worst_below(uint64_t max_ns)
{
	fprintf(stderr, "longest sleep in a call: %.2f ms in %s\n",
		(double)worst_ns / 1e6, worst_call);
	ck_assert_msg(worst_ns < max_ns,
		      "the loop thread slept %.1f ms in one call of %s",
		      (double)worst_ns / 1e6, worst_call);
}

static void check_worst(void)
{
	check_worst_below(MAX_CALL_MS * 1000000ull);
}

/* Checks len bytes at pos of the file, through the mount and beneath it. */
static void check_bytes(const struct slowfs *s, const char *name,
			uint64_t pos, size_t len, unsigned seed)
{
	char path[PATH_MAX];
	char *buf = malloc(len);
	int k, fd;

	ck_assert_ptr_nonnull(buf);
	for (k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s", k ? s->back : s->mnt,
			 name);
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pread(fd, buf, len, (off_t)pos), (ssize_t)len);
		ck_assert_msg(tu_check(buf, len, pos, seed) == -1,
			      "%s: %zu bytes at %llu are not seed %u", path,
			      len, (unsigned long long)pos, seed);
		close(fd);
	}
	free(buf);
}

static void make_backing(const struct slowfs *s, const char *name, size_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->back, name);
	tu_make_file(path, size, 1);
}

static off_t size_of(const struct slowfs *s, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", s->back, name);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* ------------------------------------------------------------------ */

#define NW 8

/*
 * FUSE holds the inode lock for the whole round trip of an fsync, and a
 * direct write takes it inside io_submit: a write submitted after the
 * fdatasync must wait in the library, not in the kernel.
 */
START_TEST(fdatasync_does_not_block_writes)
{
	struct dmaio_loop *loop = start(_i);
	struct done sync = { 0 }, w[NW], r = { 0 };
	struct dmaio_file *f;
	char name[32];
	uint64_t t0;
	int i;

	snprintf(name, sizeof(name), "sync-%d", _i);
	make_backing(&sync_fs, name, 1 << 20);
	f = open_on(loop, &sync_fs, name, _i);
	memset(w, 0, sizeof(w));
	t0 = now_ns();
	ck_assert_int_eq(TIMED("dmaio_file_fdatasync",
			       dmaio_file_fdatasync(f, on_done, &sync)), 0);
	/* long enough for the fsync to reach the daemon and take the lock */
	poll_for(loop, 100, NULL, 0);
	ck_assert_int_eq(sync.done, 0);
	for (i = 0; i < NW; i++)
		submit_write(f, (uint64_t)i * 65536, 4096, 2, &w[i]);
	ck_assert_int_eq(TIMED("dmaio_file_read_at",
			       dmaio_file_read_at(f, 16384, 4096, on_read, &r)),
			 0);
	poll_for(loop, 10000, w, NW);
	poll_for(loop, 10000, &r, 1);
	check_worst();
	ck_assert_int_eq(sync.done, 1);
	ck_assert_int_eq(sync.res, 0);
	/* the daemon did sleep: this test timed what it meant to */
	ck_assert_uint_ge(sync.at_ns - t0, (FSYNC_MS - 50) * 1000000ull);
	for (i = 0; i < NW; i++) {
		ck_assert_int_eq(w[i].res, 4096);
		ck_assert_uint_gt(w[i].seq, sync.seq);
	}
	ck_assert_int_eq(r.res, 4096);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	for (i = 0; i < NW; i++) {
		check_bytes(&sync_fs, name, (uint64_t)i * 65536, 4096, 2);
		check_bytes(&sync_fs, name, (uint64_t)i * 65536 + 4096,
			    65536 - 4096, 1);
	}
	dmaio_loop_free(loop);
}
END_TEST

/*
 * FUSE answers a direct write that extends the file inside io_submit, and
 * holds the inode lock meanwhile: the write past EOF must wait in the
 * library, and so must a write submitted while it is in flight. The
 * overwrites around it are asynchronous and stay so.
 */
START_TEST(append_does_not_block)
{
	struct dmaio_loop *loop = start(_i);
	struct done w[4], r = { 0 };
	struct dmaio_file *f;
	char name[32];
	uint64_t t0;
	int i;

	snprintf(name, sizeof(name), "append-%d", _i);
	make_backing(&write_fs, name, 65536);
	f = open_on(loop, &write_fs, name, _i);
	memset(w, 0, sizeof(w));
	t0 = now_ns();
	submit_write(f, 0, 4096, 2, &w[0]);      /* overwrite */
	submit_write(f, 65536, 8192, 2, &w[1]);  /* past EOF */
	submit_write(f, 8192, 4096, 2, &w[2]);   /* overwrite behind it */
	submit_write(f, 73728, 4096, 2, &w[3]);  /* past EOF again */
	ck_assert_int_eq(TIMED("dmaio_file_read_at",
			       dmaio_file_read_at(f, 16384, 4096, on_read, &r)),
			 0);
	poll_for(loop, 10000, w, 4);
	poll_for(loop, 10000, &r, 1);
	check_worst();
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(w[i].res, i == 1 ? 8192 : 4096);
	ck_assert_int_eq(r.res, 4096);
	/* the daemon did sleep: this test timed what it meant to */
	ck_assert_uint_ge(w[1].at_ns - t0, (WRITE_MS - 50) * 1000000ull);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(size_of(&write_fs, name), 77824);
	check_bytes(&write_fs, name, 0, 4096, 2);
	check_bytes(&write_fs, name, 4096, 4096, 1);
	check_bytes(&write_fs, name, 8192, 4096, 2);
	check_bytes(&write_fs, name, 12288, 65536 - 12288, 1);
	check_bytes(&write_fs, name, 65536, 12288, 2);
	dmaio_loop_free(loop);
}
END_TEST

struct thread_write {
	struct dmaio_file *f;
	uint64_t pos;
	void *buf;
	int64_t res;
};

static void *write_from_thread(void *arg)
{
	struct thread_write *t = arg;

	t->res = dmaio_file_write_from_wait(t->f, t->pos, t->buf, 4096);
	return NULL;
}

static uint64_t caller_ios(struct dmaio_loop *loop)
{
	struct dmaio_loop_stats st;

	st.size = sizeof(st);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	return st.caller_ios;
}

/*
 * Another thread's write_from_wait past EOF is handed to the loop here,
 * which holds the file's other I/O behind it (the write on a helper
 * thread); an overwrite is made on the calling thread.
 */
START_TEST(thread_append_is_handed_over)
{
	struct dmaio_loop *loop = start(_i);
	struct thread_write t = { 0 };
	struct dmaio_file *f;
	pthread_t tid;
	char name[32];
	uint64_t before;
	int direct;

	snprintf(name, sizeof(name), "thread-append-%d", _i);
	make_backing(&write_fs, name, 65536);
	f = open_on(loop, &write_fs, name, _i);
	direct = dmaio_file_is_direct(f);
	ck_assert_int_eq(posix_memalign(&t.buf, 4096, 4096), 0);
	tu_fill(t.buf, 4096, 65536, 3);
	t.f = f;
	ck_assert_int_eq(dmaio_loop_start_thread(loop), 0);
	before = caller_ios(loop);
	t.pos = 65536;
	ck_assert_int_eq(pthread_create(&tid, NULL, write_from_thread, &t), 0);
	pthread_join(tid, NULL);
	ck_assert_int_eq(t.res, 4096);
	/* buffered, the loop would only pass it to a helper: the thread's */
	ck_assert_uint_eq(caller_ios(loop), before + !direct);
	t.pos = 4096;
	ck_assert_int_eq(pthread_create(&tid, NULL, write_from_thread, &t), 0);
	pthread_join(tid, NULL);
	ck_assert_int_eq(t.res, 4096);
	ck_assert_uint_eq(caller_ios(loop), before + !direct + 1);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(dmaio_loop_stop_thread(loop), 0);
	ck_assert_int_eq(size_of(&write_fs, name), 69632);
	check_bytes(&write_fs, name, 65536, 4096, 3);
	free(t.buf);
	dmaio_loop_free(loop);
}
END_TEST

static void submit_copy(struct dmaio_file *f, uint64_t pos, size_t len,
			unsigned seed, struct done *d)
{
	char *data = malloc(len);

	ck_assert_ptr_nonnull(data);
	tu_fill(data, len, pos, seed);
	ck_assert_int_eq(TIMED("dmaio_file_write_copy",
			       dmaio_file_write_copy(f, pos, data, len,
						     on_done, d)), 0);
	free(data);
}

/*
 * write_copy past EOF: its padded write is an append, its truncate a
 * barrier; neither may keep the loop thread, and the size comes out
 * exact with the file layer's view of EOF moving under it.
 */
START_TEST(write_copy_past_eof_does_not_block)
{
	struct dmaio_loop *loop = start(_i);
	struct done w[3];
	struct dmaio_file *f;
	char name[32];
	int i;

	snprintf(name, sizeof(name), "copy-%d", _i);
	make_backing(&write_fs, name, 65536);
	f = open_on(loop, &write_fs, name, _i);
	memset(w, 0, sizeof(w));
	submit_copy(f, 100, 5000, 2, &w[0]);     /* both edges read back */
	submit_copy(f, 65536 + 10, 7000, 2, &w[1]); /* past EOF, a hole */
	submit_copy(f, 20000, 300, 2, &w[2]);    /* behind it */
	poll_for(loop, 20000, w, 3);
	check_worst();
	ck_assert_int_eq(w[0].res, 5000);
	ck_assert_int_eq(w[1].res, 7000);
	ck_assert_int_eq(w[2].res, 300);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(size_of(&write_fs, name), 65536 + 10 + 7000);
	check_bytes(&write_fs, name, 0, 100, 1);
	check_bytes(&write_fs, name, 100, 5000, 2);
	check_bytes(&write_fs, name, 5100, 20000 - 5100, 1);
	check_bytes(&write_fs, name, 20000, 300, 2);
	check_bytes(&write_fs, name, 20300, 65536 - 20300, 1);
	check_bytes(&write_fs, name, 65546, 7000, 2);
	for (i = 0; i < 10; i++) {
		char path[PATH_MAX], c = 1;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", write_fs.back, name);
		fd = open(path, O_RDONLY);
		ck_assert_int_eq(pread(fd, &c, 1, 65536 + i), 1);
		ck_assert_int_eq(c, 0); /* the hole */
		close(fd);
	}
	dmaio_loop_free(loop);
}
END_TEST

/*
 * The end of file write_at goes by moves with truncate and pre_allocate:
 * a write past a shrunk end is an append (it must not be submitted from
 * the loop), and a write below a grown end is an overwrite (it need not
 * wait for the file's other I/O).
 */
START_TEST(append_after_resize)
{
	struct dmaio_loop *loop = start(_i);
	struct done w[4];
	struct dmaio_file *f;
	char name[32];
	uint64_t t0, first, last;
	int i;

	snprintf(name, sizeof(name), "resize-%d", _i);
	make_backing(&write_fs, name, 65536);
	f = open_on(loop, &write_fs, name, _i);
	memset(w, 0, sizeof(w));
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 16384), 0);
	submit_write(f, 16384, 4096, 2, &w[0]);  /* past the new EOF */
	submit_write(f, 0, 4096, 2, &w[1]);
	poll_for(loop, 10000, w, 2);
	check_worst();
	ck_assert_int_eq(dmaio_file_pre_allocate_wait(f, 131072), 0);
	t0 = now_ns();
	submit_write(f, 65536, 4096, 3, &w[2]);  /* below the new EOF */
	submit_write(f, 4096, 4096, 3, &w[3]);
	poll_for(loop, 10000, w + 2, 2);
	check_worst();
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(w[i].res, 4096);
	last = w[2].at_ns > w[3].at_ns ? w[2].at_ns : w[3].at_ns;
	first = w[2].at_ns < w[3].at_ns ? w[2].at_ns : w[3].at_ns;
	/*
	 * Side by side in the daemon, not one after the other (buffered
	 * I/O takes turns on the one helper thread): one after the other
	 * they end at least WRITE_MS apart and 2 * WRITE_MS after t0. A
	 * stalled daemon or test delays both ends alike; either sign of
	 * overlap will do.
	 */
	if (_i != BUFFERED_RUN)
		ck_assert_msg(last - t0 < (WRITE_MS * 3 / 2) * 1000000ull ||
			      last - first < (WRITE_MS / 2) * 1000000ull,
			      "one after the other: done %.0f and %.0f ms "
			      "after the calls", (first - t0) / 1e6,
			      (last - t0) / 1e6);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(size_of(&write_fs, name), 131072);
	check_bytes(&write_fs, name, 0, 4096, 2);
	check_bytes(&write_fs, name, 4096, 4096, 3);
	check_bytes(&write_fs, name, 8192, 8192, 1);
	check_bytes(&write_fs, name, 16384, 4096, 2);
	check_bytes(&write_fs, name, 65536, 4096, 3);
	dmaio_loop_free(loop);
}
END_TEST

/*
 * btrfs holds the inode lock while its fsync waits for the file's ordered
 * extents. With much data dirtied through another descriptor the fsync
 * is long; writes keep coming while it runs, and none may sleep in
 * io_submit behind it.
 */
#define DIRTY_MB 512

START_TEST(btrfs_fdatasync_does_not_block_writes)
{
	struct dmaio_loop *loop = start(_i);
	struct done sync = { 0 }, w = { 0 };
	struct dmaio_file *f = NULL;
	char path[PATH_MAX];
	char *junk = malloc(1 << 20);
	unsigned writes = 0, i;
	uint64_t t0;
	int fd;

	ck_assert_ptr_nonnull(junk);
	memset(junk, 0x5a, 1 << 20);
	/* one name for every run: what a failed run left is truncated */
	snprintf(path, sizeof(path), "%s/sync", btrfs_dir);
	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	ck_assert_int_eq(dmaio_file_is_direct(f), _i != BUFFERED_RUN);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < DIRTY_MB; i++)
		ck_assert_int_eq(pwrite(fd, junk, 1 << 20,
					(off_t)(i + 1) << 20), 1 << 20);
	submit_write(f, 0, 4096, 2, &w);
	poll_for(loop, 10000, &w, 1);
	t0 = now_ns();
	ck_assert_int_eq(TIMED("dmaio_file_fdatasync",
			       dmaio_file_fdatasync(f, on_done, &sync)), 0);
	/* one write at a time, for as long as the fdatasync runs */
	while (!sync.done) {
		if (w.done) {
			memset(&w, 0, sizeof(w));
			submit_write(f, 0, 4096, 2, &w);
			writes++;
		}
		poll_for(loop, 1, NULL, 0);
	}
	poll_for(loop, 10000, &w, 1);
	/*
	 * A write queued behind the fsync sleeps for the rest of it; on a
	 * loaded machine btrfs's own locks can keep io_submit a while
	 * (128 ms seen at load 18, its workers waiting for a CPU), so the
	 * bound is the larger of MAX_CALL_MS and half the fsync.
	 */
	check_worst_below((sync.at_ns - t0) / 2 > MAX_CALL_MS * 1000000ull
				  ? (sync.at_ns - t0) / 2
				  : MAX_CALL_MS * 1000000ull);
	ck_assert_int_eq(sync.res, 0);
	ck_assert_int_eq(w.res, 4096);
	/* long enough to have measured something */
	ck_assert_uint_ge(sync.at_ns - t0, 200 * 1000000ull);
	fprintf(stderr, "fdatasync %.0f ms, %u writes meanwhile\n",
		(double)(sync.at_ns - t0) / 1e6, writes);
	close(fd);
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(junk);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* spinning for completions that come late                            */

/* what a polling loop spins for a completion */
#define POLL_US 500

struct late_reads {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	unsigned left, done;
	unsigned slow;          /* reads that took longer than a spin */
	uint64_t sent_ns;       /* when the read in flight was made */
	int64_t err;
};

static void on_late_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct late_reads *r = arg;

	if (res != 4096 && !r->err)
		r->err = res;
	if (v)
		dmaio_view_release(v);
	r->done++;
	if (now_ns() - r->sent_ns > POLL_US * 1000ull)
		r->slow++;
	r->sent_ns = now_ns();
	if (--r->left)
		ck_assert_int_eq(dmaio_file_read_at_aligned(r->f,
				(uint64_t)(r->left % 4) * 4096, 4096,
				on_late_read, r), 0);
}

/* A loop spinning POLL_US for run, with its O_DIRECT refusal set. */
static struct dmaio_loop *polling_loop(int run)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;

	dmaio_loop_free(run_loop(run)); /* sets this run's O_DIRECT refusal */
	dmaio_loop_opts_init(&o);
	o.poll_us = POLL_US;
	o.disable = run == BUFFERED_RUN ? 0 : tu_profile_disable[run];
	ck_assert_int_eq(dmaio_loop_new(&loop, &o), 0);
	return loop;
}

/* n reads of 4 KiB, one at a time, of name on the late file system */
/* The first read of r's chain; on_late_read makes the others. */
static void late_reads_start(struct late_reads *r)
{
	r->slow = 0;
	r->sent_ns = now_ns();
	ck_assert_int_eq(dmaio_file_read_at_aligned(r->f, 0, 4096,
						    on_late_read, r), 0);
}

static void late_reads_run(struct late_reads *r, const char *name, int run)
{
	make_backing(&read_fs, name, 16384);
	r->f = open_on(r->loop, &read_fs, name, run);
	late_reads_start(r);
	ck_assert_int_eq(dmaio_loop_run(r->loop), 0);
	ck_assert_int_eq(r->err, 0);
}

/*
 * poll_us: reads the daemon answers READ_MS late are never caught by a
 * POLL_US spin. The loop must stop spinning after a few such misses, not
 * burn 500 us before every sleep.
 */
/*
 * A read that comes READ_MS late can still be found by a spin when the
 * loop thread was kept off the CPU between submitting it and spinning (a
 * busy build machine): a hit that ends the back-off, which the counts
 * below are not about. Such a run is done again, a few times at most.
 */
#define LATE_TRIES 5

START_TEST(poll_backs_off_when_completions_come_late)
{
	struct dmaio_loop_stats st;
	struct late_reads r;
	struct dmaio_loop *loop;
	int direct, try;

	for (try = 0; try < LATE_TRIES; try++) {
		memset(&r, 0, sizeof(r));
		r.left = 40;
		r.loop = loop = polling_loop(_i);
		late_reads_run(&r, "late", _i);
		ck_assert_uint_eq(r.done, 40);
		st.size = sizeof(st);
		ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
		fprintf(stderr, "40 reads %d ms late: %" PRIu64 " spins found "
			"work, %" PRIu64 " nothing, %" PRIu64 " cut by losing "
			"the CPU, %" PRIu64 " sleeps not spun before, %.1f ms "
			"spun\n", READ_MS, st.poll_hits, st.poll_misses,
			st.poll_interrupted, st.poll_skips,
			(double)st.poll_ns / 1e6);
		direct = dmaio_file_is_direct(r.f);
		ck_assert_int_eq(dmaio_file_close_wait(r.f), 0);
		dmaio_loop_free(loop);
		if (!direct || st.poll_hits == 0)
			break;
	}
	if (direct) {
		ck_assert_uint_eq(st.poll_hits, 0);
		/*
		 * 4 misses, then probes after 1, 2, 4, 8, 16 sleeps. A spin
		 * cut by another task taking the CPU is neither: it takes a
		 * sleep the back-off would have skipped.
		 */
		ck_assert_uint_le(st.poll_misses, 10);
		ck_assert_uint_ge(st.poll_skips + st.poll_interrupted, 25);
	} else {
		/* helper threads read: nothing to spin for */
		ck_assert_uint_eq(st.poll_misses + st.poll_hits, 0);
	}
}
END_TEST

/*
 * After backing off on a slow file, reads of a fast one (the local file
 * system) are spun for again: the first spin that finds work ends it. A
 * run in which the local disk itself came late (misses: the back-off
 * rightly began again) or the loop was kept off the CPU is done again, a
 * few times at most. Where the local disk answers more than a few reads
 * slower than the spin in every try (busy with others' I/O), the spins
 * cannot find those: the loop must then not spin in vain before each
 * (few misses). On a busy machine the spins on the late file are
 * cut (neither hits nor misses) until some are not: more batches of late
 * reads are made until the back-off has begun, up to 10.
 */
START_TEST(poll_resumes_when_completions_come_early)
{
	struct dmaio_loop_stats st;
	struct late_reads r;
	struct dmaio_loop *loop;
	uint64_t spun = 0, misses = 0, skips = 0, read_us = 0;
	int try;

	for (try = 0; try < LATE_TRIES; try++) {
		struct timespec t0, t1;
		int batch;

		memset(&r, 0, sizeof(r));
		r.loop = loop = polling_loop(_i);
		st.size = sizeof(st);
		/* backing off by now, unless spins cut by a busy CPU took the
		 * sleeps it would have skipped: then more late reads */
		for (batch = 0, skips = 0; batch < 10 && skips < 8; batch++) {
			r.left = 20;
			r.done = 0;
			late_reads_run(&r, "late2", _i);
			ck_assert_int_eq(dmaio_file_close_wait(r.f), 0);
			ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
			skips = st.poll_skips;
		}
		if (skips < 8) {
			fprintf(stderr, "20 late reads: only %" PRIu64 " sleeps"
				" skipped, %" PRIu64 " spins cut by losing the "
				"CPU\n", skips, st.poll_interrupted);
			dmaio_loop_free(loop);
			continue;
		}
		spun = st.poll_hits + st.poll_interrupted;
		misses = st.poll_misses;

		tu_make_file(tu_path("early"), 16384, 1);
		ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("early"),
						      &r.f), 0);
		ck_assert_int_eq(dmaio_file_is_direct(r.f), 1);
		r.left = 200;
		r.done = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		late_reads_start(&r);
		ck_assert_int_eq(dmaio_loop_run(loop), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		read_us = ((uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
			   (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec) /
			  1000 / 200;
		ck_assert_int_eq(r.err, 0);
		ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
		spun = st.poll_hits + st.poll_interrupted - spun;
		misses = st.poll_misses - misses;
		fprintf(stderr, "200 local reads after backing off: %" PRIu64
			" spins found work, %" PRIu64 " found nothing, %" PRIu64
			" us a read, %u slower than the spin\n", spun, misses,
			read_us, r.slow);
		ck_assert_int_eq(dmaio_file_close_wait(r.f), 0);
		dmaio_loop_free(loop);
		if (spun >= 150)
			break;
	}
	ck_assert_uint_ge(skips, 8);
	if (spun < 150 && r.slow > 200 - 150 - 16) {
		/*
		 * The local disk answered too many reads slower than a spin
		 * in every try (a build machine's disk busy with others' I/O,
		 * some reads or all): spins cannot find those, each miss
		 * begins the back-off again, and what is left to check is
		 * that the loop did not spin in vain before each of them.
		 */
		fprintf(stderr, "%u of 200 local reads slower than the %d us "
			"spin: checking the back-off held instead\n", r.slow,
			POLL_US);
		ck_assert_uint_le(misses, 40);
		return;
	}
	/* the back-off left (at most 16 sleeps) and spinning came back */
	ck_assert_uint_ge(spun, 150);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fuse");
	TCase *tc = tu_tcase(s, "fuse");
	const char *why_sync = NULL, *why_write = NULL, *why_btrfs = NULL;
	const char *why_read = NULL;
	char opts[64];
	int ret;

	snprintf(opts, sizeof(opts), "fsync_ms=%d,write_ms=0", FSYNC_MS);
	if (slowfs_mount(&sync_fs, opts, &why_sync) == 0) {
		tcase_add_loop_test(tc, fdatasync_does_not_block_writes, 0,
				    NRUNS);
		tu_name("fdatasync_does_not_block_writes", 0, NRUNS,
			run_names());
	} else {
		tu_skip("fdatasync_does_not_block_writes", why_sync);
	}
	snprintf(opts, sizeof(opts), "fsync_ms=0,write_ms=%d", WRITE_MS);
	if (slowfs_mount(&write_fs, opts, &why_write) == 0) {
		tcase_add_loop_test(tc, append_does_not_block, 0, NRUNS);
		tu_name("append_does_not_block", 0, NRUNS, run_names());
		tcase_add_loop_test(tc, append_after_resize, 0, NRUNS);
		tu_name("append_after_resize", 0, NRUNS, run_names());
		tcase_add_loop_test(tc, thread_append_is_handed_over, 0,
				    NRUNS);
		tu_name("thread_append_is_handed_over", 0, NRUNS,
			run_names());
		tcase_add_loop_test(tc, write_copy_past_eof_does_not_block, 0,
				    NRUNS);
		tu_name("write_copy_past_eof_does_not_block", 0, NRUNS,
			run_names());
	} else {
		tu_skip("append_does_not_block", why_write);
		tu_skip("append_after_resize", why_write);
		tu_skip("thread_append_is_handed_over", why_write);
		tu_skip("write_copy_past_eof_does_not_block", why_write);
	}
	snprintf(opts, sizeof(opts), "fsync_ms=0,read_ms=%d", READ_MS);
	if (slowfs_mount(&read_fs, opts, &why_read) == 0) {
		tcase_add_loop_test(tc, poll_backs_off_when_completions_come_late,
				    0, NRUNS);
		tu_name("poll_backs_off_when_completions_come_late", 0, NRUNS,
			run_names());
		/* no buffered run: it reads on helper threads, never spins */
		tcase_add_loop_test(tc, poll_resumes_when_completions_come_early,
				    0, TU_NPROFILES);
		tu_name("poll_resumes_when_completions_come_early", 0,
			TU_NPROFILES, run_names());
	} else {
		tu_skip("poll_backs_off_when_completions_come_late", why_read);
		tu_skip("poll_resumes_when_completions_come_early", why_read);
	}
	if (tu_mount_image("btrfs", 4096, btrfs_dir, sizeof(btrfs_dir),
			   &why_btrfs) == 0) {
		tcase_add_loop_test(tc, btrfs_fdatasync_does_not_block_writes,
				    0, NRUNS);
		tu_name("btrfs_fdatasync_does_not_block_writes", 0, NRUNS,
			run_names());
	} else {
		tu_skip("btrfs_fdatasync_does_not_block_writes", why_btrfs);
	}
	ret = tu_run(s);
	if (!why_btrfs)
		tu_umount_image(btrfs_dir);
	if (!why_sync)
		slowfs_umount(&sync_fs);
	if (!why_write)
		slowfs_umount(&write_fs);
	if (!why_read)
		slowfs_umount(&read_fs);
	return ret;
}
