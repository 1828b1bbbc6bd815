/* SPDX-License-Identifier: MIT */
/*
 * fork() and libdmaio. On kernels before 5.8-5.10 (RHEL 7 and 8) a direct
 * read into a private page that a fork made copy-on-write can land in the
 * child's copy; every buffer region must therefore be MADV_DONTFORK (the
 * "dc" flag in smaps), so that a child has no mapping there. A loop
 * inherited through fork() is the parent's: in the child every call that
 * would reach its AIO context, helpers or buffers returns -EBADFD at once,
 * dmaio_loop_free() frees without waiting, and the parent's loop goes on.
 * Every test runs under every kernel-feature profile and on the buffered
 * fallback.
 */
#include "testutil.h"
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct dmaio_loop *start(int run)
{
	return run_loop(run);
}

#define BS 4096
#define SEED 7

/*
 * A child that is done runs `true`: exec, so that no clean-up of ours
 * runs there, and valgrind does not count as leaked in the child what
 * the parent (and, with CK_FORK=no, earlier tests) still holds.
 */
static void exec_true(void)
{
	execlp("true", "true", (char *)NULL);
	_exit(127);
}

/*
 * In a child: a hang ends in SIGALRM (status 128 + 14) rather than in a
 * stuck test. Check's own SIGALRM handler, inherited, would kill the
 * whole process group.
 */
static void hang_alarm(void)
{
	signal(SIGALRM, SIG_DFL);
	alarm(20);
}

/* Waits for pid; returns its exit status, or 128 + the signal. */
static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* ------------------------------------------------------------------ */
/* the dc flag                                                         */

/* VmFlags of the mapping that holds addr (from smaps) into out; 0 or -1. */
static int vm_flags(const void *addr, char *out, size_t n)
{
	FILE *fp = fopen("/proc/self/smaps", "re");
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[1024];
	int in = 0, found = -1;

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, n, "%s", line + 8);
			found = 0;
			break;
		}
	}
	fclose(fp);
	return found;
}

static int has_flag(const char *flags, const char *flag)
{
	char buf[1024], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", flags);
	for (tok = strtok_r(buf, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		if (!strcmp(tok, flag))
			return 1;
	return 0;
}

/* Fails unless every byte of [p, p + len) is in a mapping flagged dc. */
static void check_dontfork(const char *what, const void *p, size_t len,
			   int huge)
{
	const char *ends[2] = { p, (const char *)p + len - 1 };
	char flags[1024];
	int i;

	for (i = 0; i < 2; i++) {
		ck_assert_msg(vm_flags(ends[i], flags, sizeof(flags)) == 0,
			      "%s: %p in no mapping", what, (void *)ends[i]);
		ck_assert_msg(has_flag(flags, "dc"),
			      "%s at %p: VmFlags:%s has no dc", what,
			      (void *)ends[i], flags);
		if (huge)
			ck_assert_msg(has_flag(flags, "hg"),
				      "%s at %p: VmFlags:%s has no hg", what,
				      (void *)ends[i], flags);
	}
	fprintf(stderr, "%s: %zu bytes at %p, VmFlags:%s\n", what, len, p,
		flags);
}

struct region {
	const char *what;
	const void *p;
	size_t len;
};

/*
 * In a child, none of the regions is mapped (mincore: ENOMEM); the
 * child's exit status says how many are. No clean-up runs there.
 */
static int mapped_in_child(const struct region *r, int n)
{
	long page = sysconf(_SC_PAGESIZE);
	pid_t pid = fork();
	int i;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int mapped = 0;

		for (i = 0; i < n; i++) {
			unsigned char vec[1];
			uintptr_t a = (uintptr_t)r[i].p;

			a &= ~(uintptr_t)(page - 1);
			if (mincore((void *)a, (size_t)page, vec) == 0 ||
			    errno != ENOMEM)
				mapped++;
		}
		if (!mapped)
			exec_true();
		_exit(mapped);
	}
	return wait_child(pid);
}

static void keep_view(void *arg, struct dmaio_view *v, int64_t res)
{
	ck_assert_int_gt(res, 0);
	*(struct dmaio_view **)arg = v;
}

/*
 * Every region the kernel does direct I/O into: a pool buffer, a 1 MiB
 * buffer (a huge-page slab where the kernel has THP), one larger than
 * every class, a read view, the writer's and the reader's buffers.
 */
START_TEST(buffers_are_dontfork)
{
	struct dmaio_loop *loop = start(_i);
	int huge = !!(dmaio_loop_features(loop) & DMAIO_FEAT_HUGE_BUFFERS);
	struct dmaio_file *f, *wf, *rf;
	struct dmaio_buf *small, *mib, *big;
	struct dmaio_view *v, *v2, *rv = NULL;
	struct dmaio_writer *w;
	struct dmaio_reader *r;
	struct region reg[7];
	void *space;
	int64_t n;

	tu_make_file(tu_path("data"), 256 * 1024, SEED);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("data"), &f), 0);
	ck_assert_int_eq(dmaio_file_is_direct(f), _i != BUFFERED_RUN);
	small = dmaio_file_alloc_buf(f, BS);
	mib = dmaio_file_alloc_buf(f, 1 << 20);
	big = dmaio_file_alloc_buf(f, 5 << 20);
	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(mib);
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 100, 5000, &v), 5000);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 5000, 100, SEED), -1);

	ck_assert_int_eq(dmaio_file_create_wait(loop, tu_path("w"), &wf), 0);
	ck_assert_int_eq(dmaio_writer_new(wf, NULL, &w), 0);
	n = dmaio_writer_get_space(w, &space);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("data"), &rf), 0);
	ck_assert_int_eq(dmaio_reader_new(rf, NULL, &r), 0);
	ck_assert_int_eq(dmaio_reader_get_buffer(r, BS, keep_view, &rv), 0);
	while (!rv)
		ck_assert_int_ge(dmaio_loop_run_once(loop, 1000), 0);
	ck_assert_int_eq(tu_check(dmaio_view_data(rv), BS, 0, SEED), -1);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 8192, 4096, &v2), 4096);

	check_dontfork("pool buffer (4 KiB)", dmaio_buf_data(small), BS, 0);
	check_dontfork("1 MiB buffer", dmaio_buf_data(mib), 1 << 20, huge);
	check_dontfork("5 MiB buffer (no class)", dmaio_buf_data(big),
		       5 << 20, 0);
	check_dontfork("read view", dmaio_view_data(v), 5000, 0);
	check_dontfork("writer buffer", space, (size_t)n, 0);
	check_dontfork("reader view", dmaio_view_data(rv), BS, 0);
	check_dontfork("read view (aligned)", dmaio_view_data(v2), BS, 0);

	reg[0] = (struct region){ "pool", dmaio_buf_data(small), BS };
	reg[1] = (struct region){ "1 MiB", dmaio_buf_data(mib), 1 << 20 };
	reg[2] = (struct region){ "5 MiB", dmaio_buf_data(big), 5 << 20 };
	reg[3] = (struct region){ "view", dmaio_view_data(v), 5000 };
	reg[4] = (struct region){ "writer", space, (size_t)n };
	reg[5] = (struct region){ "reader", dmaio_view_data(rv), BS };
	reg[6] = (struct region){ "view 2", dmaio_view_data(v2), BS };
	ck_assert_int_eq(mapped_in_child(reg, 7), 0);

	/* and the parent still has them */
	memset(dmaio_buf_data(mib), 1, 1 << 20);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 5000, 100, SEED), -1);

	dmaio_view_release(rv);
	dmaio_view_release(v2);
	dmaio_view_release(v);
	dmaio_buf_unref(small);
	dmaio_buf_unref(mib);
	dmaio_buf_unref(big);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the fork storm                                                      */

#define STORM_FORKS 200
#define STORM_INFLIGHT 128         /* half reads, half writes */
#define R_BLOCKS 1024              /* read region: 4 MiB of pattern */
#define W_BLOCKS 256               /* write region after it: 1 MiB */
#define W_BASE ((uint64_t)R_BLOCKS * BS)

struct storm {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	unsigned reads, writes;        /* in flight */
	uint64_t reads_ok, writes_ok, bad;
	uint64_t bytes_verified;
	unsigned wseed[W_BLOCKS];      /* of the last write submitted */
	unsigned char wbusy[W_BLOCKS];
	unsigned next_seed, next_w, rng;
	int forks, fork_err, done;     /* the forking thread's */
};

struct storm_op {
	struct storm *s;
	uint64_t pos;
	size_t len;
	unsigned blk;
};

static unsigned rnd(struct storm *s)
{
	s->rng = s->rng * 1103515245u + 12345u;
	return s->rng >> 8;
}

static void storm_read_done(void *arg, struct dmaio_view *v, int64_t res)
{
	struct storm_op *op = arg;
	struct storm *s = op->s;

	s->reads--;
	if (res == (int64_t)op->len &&
	    tu_check(dmaio_view_data(v), op->len, op->pos, SEED) == -1) {
		s->reads_ok++;
		s->bytes_verified += op->len;
	} else {
		s->bad++;
	}
	dmaio_view_release(v);
	free(op);
}

static void storm_write_done(void *arg, int64_t res)
{
	struct storm_op *op = arg;
	struct storm *s = op->s;

	s->writes--;
	s->wbusy[op->blk] = 0;
	if (res == BS)
		s->writes_ok++;
	else
		s->bad++;
	free(op);
}

static void storm_top_up(struct storm *s)
{
	while (s->reads < STORM_INFLIGHT / 2) {
		struct storm_op *op = malloc(sizeof(*op));

		ck_assert_ptr_nonnull(op);
		op->s = s;
		/* 4 KiB mostly, some 64 KiB, at any offset */
		op->len = rnd(s) % 8 ? BS : 16 * BS;
		op->pos = rnd(s) % ((uint64_t)R_BLOCKS * BS - op->len);
		ck_assert_int_eq(dmaio_file_read_at(s->f, op->pos, op->len,
						    storm_read_done, op),
				 0);
		s->reads++;
	}
	while (s->writes < STORM_INFLIGHT / 2) {
		struct storm_op *op = malloc(sizeof(*op));
		struct dmaio_buf *b = dmaio_file_alloc_buf(s->f, BS);

		ck_assert_ptr_nonnull(op);
		ck_assert_ptr_nonnull(b);
		/* never two writes to one block at once: order is unknown */
		while (s->wbusy[s->next_w])
			s->next_w = (s->next_w + 1) % W_BLOCKS;
		op->s = s;
		op->blk = s->next_w;
		op->pos = W_BASE + (uint64_t)op->blk * BS;
		s->next_w = (s->next_w + 1) % W_BLOCKS;
		s->wseed[op->blk] = ++s->next_seed + 1000;
		tu_fill(dmaio_buf_data(b), BS, op->pos, s->wseed[op->blk]);
		ck_assert_int_eq(dmaio_file_write_at(s->f, b, op->pos,
						     storm_write_done, op),
				 0);
		dmaio_buf_unref(b);
		s->wbusy[op->blk] = 1;
		s->writes++;
	}
}

static void *forker(void *arg)
{
	struct storm *s = arg;
	int i;

	for (i = 0; i < STORM_FORKS; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0)
			exec_true();
		if (pid < 0) {
			s->fork_err = errno;
			break;
		}
		st = wait_child(pid);
		if (st != 0) {
			s->fork_err = 1000 + st;
			break;
		}
		__atomic_store_n(&s->forks, i + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * 128 direct reads and writes in flight while another thread forks 200
 * times: every byte read is checked, every write is read back at the end.
 */
START_TEST(fork_storm)
{
	struct storm *s = calloc(1, sizeof(*s));
	uint64_t during = 0, total;
	pthread_t t;
	unsigned k;
	int ret;

	ck_assert_ptr_nonnull(s);
	s->loop = start(_i);
	s->rng = 12345 + (unsigned)_i;
	for (k = 0; k < W_BLOCKS; k++)
		s->wseed[k] = SEED;
	tu_make_file(tu_path("storm"), W_BASE + (uint64_t)W_BLOCKS * BS, SEED);
	ck_assert_int_eq(dmaio_file_open_flags_wait(s->loop, tu_path("storm"),
						    O_RDWR, 0, &s->f),
			 0);
	storm_top_up(s);
	ck_assert_int_eq(pthread_create(&t, NULL, forker, s), 0);
	while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
		ret = dmaio_loop_run_once(s->loop, 100);
		ck_assert_int_ge(ret, 0);
		during += (uint64_t)ret;
		storm_top_up(s);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(s->fork_err, 0);
	ck_assert_int_eq(s->forks, STORM_FORKS);
	ck_assert_int_eq(dmaio_loop_run(s->loop), 0);
	ck_assert_uint_eq(s->reads + s->writes, 0);
	ck_assert_uint_eq(s->bad, 0);
	/* I/O went on during the forks, not only before or after them */
	ck_assert_uint_ge(during, STORM_INFLIGHT);

	/* every write landed: each block holds its last write */
	for (k = 0; k < W_BLOCKS; k++) {
		struct dmaio_view *v;
		uint64_t pos = W_BASE + (uint64_t)k * BS;

		ck_assert_int_eq(dmaio_file_read_at_wait(s->f, pos, BS, &v),
				 BS);
		ck_assert_msg(tu_check(dmaio_view_data(v), BS, pos,
				       s->wseed[k]) == -1,
			      "block %u: not its last write (seed %u)", k,
			      s->wseed[k]);
		dmaio_view_release(v);
	}
	/* the helpers still answer */
	ck_assert_int_eq(dmaio_file_size_wait(s->f),
			 (int64_t)(W_BASE + (uint64_t)W_BLOCKS * BS));
	total = s->reads_ok + s->writes_ok;
	fprintf(stderr,
		"fork storm [%s]: %d forks; %llu reads verified (%llu bytes), "
		"%llu writes complete, %u blocks read back holding their "
		"last write; %llu I/Os completed during the forks\n",
		run_names()[_i], s->forks, (unsigned long long)s->reads_ok,
		(unsigned long long)s->bytes_verified,
		(unsigned long long)s->writes_ok, W_BLOCKS,
		(unsigned long long)during);
	ck_assert_uint_ge(total, during);
	ck_assert_int_eq(dmaio_file_close_wait(s->f), 0);
	dmaio_loop_free(s->loop);
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the child's side                                                    */

static int child_bad;
static pid_t parent_pid;

static void not_called_back(void *arg, int64_t res)
{
	(void)arg;
	(void)res;
	fprintf(stderr, "child: a callback ran\n");
	child_bad++;
}

static void not_called_read(void *arg, struct dmaio_view *v, int64_t res)
{
	(void)v;
	not_called_back(arg, res);
}

static void not_called_open(void *arg, struct dmaio_file *f, int err)
{
	(void)f;
	not_called_back(arg, err);
}

static void not_called_many(void *arg, size_t i, struct dmaio_view *v,
			    int64_t res)
{
	(void)i;
	(void)v;
	not_called_back(arg, res);
}

static void not_called_watch(void *arg, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	not_called_back(arg, 0);
}

/* In the child: res must be -EBADFD, and the message must say why. */
static void expect_ebadfd(const char *call, int64_t res)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "process %d;", (int)parent_pid);
	if (res != -EBADFD) {
		fprintf(stderr, "child: %s = %lld, not -EBADFD\n", call,
			(long long)res);
		child_bad++;
	} else if (!strstr(dmaio_last_error(), "forked child") ||
		   !strstr(dmaio_last_error(), pid) ||
		   !strstr(dmaio_last_error(), dmaio_strerror(-EBADFD))) {
		fprintf(stderr, "child: %s: last error \"%s\"\n", call,
			dmaio_last_error());
		child_bad++;
	}
}

#define EXPECT_EBADFD(call) expect_ebadfd(#call, (int64_t)(call))

struct family {
	struct dmaio_loop *loop;
	struct dmaio_file *f;      /* "data", read-write */
	struct dmaio_buf *b;
	struct dmaio_view *v;
	struct dmaio_writer *w;    /* on "w" */
	struct dmaio_reader *r;    /* on "data" */
	int pipe[2];               /* read end watched */
};

static void child_calls(struct family *fam)
{
	struct dmaio_file *f = fam->f, *x = NULL;
	struct dmaio_writer *w = fam->w, *wx = NULL;
	struct dmaio_reader *r = fam->r, *rx = NULL;
	struct dmaio_loop *loop = fam->loop;
	struct dmaio_iovec iov = { 0, BS };
	struct dmaio_view *v = NULL, *views[1] = { NULL };
	int64_t res[1];
	void *space;
	char c[16];

	/* the loop */
	EXPECT_EBADFD(dmaio_loop_run(loop));
	EXPECT_EBADFD(dmaio_loop_run_once(loop, 0));
	EXPECT_EBADFD(dmaio_loop_run_once(loop, -1));
	EXPECT_EBADFD(dmaio_loop_fd(loop));
	EXPECT_EBADFD(dmaio_loop_watch(loop, fam->pipe[0], EPOLLIN,
				       not_called_watch, NULL));
	EXPECT_EBADFD(dmaio_loop_unwatch(loop, fam->pipe[0]));
	/* opening */
	EXPECT_EBADFD(dmaio_file_open(loop, tu_path("data"), not_called_open,
				      NULL));
	EXPECT_EBADFD(dmaio_file_create(loop, tu_path("new"), not_called_open,
					NULL));
	EXPECT_EBADFD(dmaio_file_open_flags(loop, tu_path("data"), O_RDONLY, 0,
					    not_called_open, NULL));
	EXPECT_EBADFD(dmaio_file_open_wait(loop, tu_path("data"), &x));
	EXPECT_EBADFD(dmaio_file_create_wait(loop, tu_path("new"), &x));
	EXPECT_EBADFD(dmaio_file_open_flags_wait(loop, tu_path("data"),
						 O_RDONLY, 0, &x));
	/* buffers: none to hand out, none of the parent's to touch */
	if (dmaio_file_alloc_buf(f, BS)) {
		fprintf(stderr, "child: dmaio_file_alloc_buf gave a buffer\n");
		child_bad++;
	}
	expect_ebadfd("dmaio_file_alloc_buf", -EBADFD);
	/* I/O */
	EXPECT_EBADFD(dmaio_file_read_at(f, 0, BS, not_called_read, NULL));
	EXPECT_EBADFD(dmaio_file_read_at_aligned(f, 0, BS, not_called_read,
						 NULL));
	EXPECT_EBADFD(dmaio_file_write_at(f, fam->b, 0, not_called_back,
					  NULL));
	EXPECT_EBADFD(dmaio_file_fdatasync(f, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_read_many(f, &iov, 1, NULL, not_called_many,
					   NULL));
	EXPECT_EBADFD(dmaio_file_read_at_wait(f, 0, BS, &v));
	EXPECT_EBADFD(dmaio_file_read_at_aligned_wait(f, 0, BS, &v));
	EXPECT_EBADFD(dmaio_file_write_at_wait(f, fam->b, 0));
	EXPECT_EBADFD(dmaio_file_fdatasync_wait(f));
	EXPECT_EBADFD(dmaio_file_read_many_wait(f, &iov, 1, NULL, views, res));
	/* metadata */
	EXPECT_EBADFD(dmaio_file_pre_allocate(f, BS, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_deallocate(f, 0, BS, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_hint_extent_size(f, 1 << 20, not_called_back,
						  NULL));
	EXPECT_EBADFD(dmaio_file_truncate(f, 0, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_rename(f, tu_path("moved"), not_called_back,
					NULL));
	EXPECT_EBADFD(dmaio_file_remove(f, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_size(f, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_pre_allocate_wait(f, BS));
	EXPECT_EBADFD(dmaio_file_deallocate_wait(f, 0, BS));
	EXPECT_EBADFD(dmaio_file_hint_extent_size_wait(f, 1 << 20));
	EXPECT_EBADFD(dmaio_file_truncate_wait(f, 0));
	EXPECT_EBADFD(dmaio_file_rename_wait(f, tu_path("moved")));
	EXPECT_EBADFD(dmaio_file_remove_wait(f));
	EXPECT_EBADFD(dmaio_file_size_wait(f));
	EXPECT_EBADFD(dmaio_file_close(f, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_file_close_wait(f));
	/* the writer: its buffer is not in this process */
	EXPECT_EBADFD(dmaio_writer_new(f, NULL, &wx));
	EXPECT_EBADFD(dmaio_writer_write(w, "more", 4));
	EXPECT_EBADFD(dmaio_writer_write_wait(w, "more", 4));
	EXPECT_EBADFD(dmaio_writer_get_space(w, &space));
	EXPECT_EBADFD(dmaio_writer_commit(w, 0));
	EXPECT_EBADFD(dmaio_writer_on_writable(w, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_writer_flush(w, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_writer_flush_wait(w));
	EXPECT_EBADFD(dmaio_writer_sync(w, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_writer_sync_wait(w));
	EXPECT_EBADFD(dmaio_writer_close(w, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_writer_close_wait(w));
	/* the reader */
	EXPECT_EBADFD(dmaio_reader_new(f, NULL, &rx));
	EXPECT_EBADFD(dmaio_reader_get_buffer(r, BS, not_called_read, NULL));
	EXPECT_EBADFD(dmaio_reader_read_wait(r, c, sizeof(c)));
	EXPECT_EBADFD(dmaio_reader_skip(r, 1));
	EXPECT_EBADFD(dmaio_reader_close(r, not_called_back, NULL));
	EXPECT_EBADFD(dmaio_reader_close_wait(r));
	if (x || wx || rx || v || views[0]) {
		fprintf(stderr, "child: an object came back\n");
		child_bad++;
	}
	/* what only reads the copy still answers */
	if (dmaio_writer_position(w) != 5 || dmaio_reader_position(r) != 1 ||
	    dmaio_loop_pending(loop) != 0 || !dmaio_file_path(f)) {
		fprintf(stderr, "child: a getter lied\n");
		child_bad++;
	}
}

/* The child's own loop works: open, read, check, close. */
static void child_own_loop(void)
{
	struct dmaio_loop *loop = NULL;
	struct dmaio_file *f = NULL;
	struct dmaio_view *v = NULL;

	if (dmaio_loop_new(&loop, NULL) ||
	    dmaio_file_open_wait(loop, tu_path("data"), &f) ||
	    dmaio_file_read_at_wait(f, BS + 3, 1000, &v) != 1000 ||
	    tu_check(dmaio_view_data(v), 1000, BS + 3, SEED) != -1) {
		fprintf(stderr, "child: a loop of its own failed: %s\n",
			dmaio_last_error());
		child_bad++;
	}
	dmaio_view_release(v);
	if (f && dmaio_file_close_wait(f)) {
		fprintf(stderr, "child: close on its own loop failed\n");
		child_bad++;
	}
	dmaio_loop_free(loop);
}

static void on_pipe(void *arg, int fd, uint32_t events)
{
	char ch;

	(void)events;
	if (read(fd, &ch, 1) == 1)
		(*(int *)arg)++;
}

/*
 * A child calls everything on the loop it inherited: each call returns
 * -EBADFD at once, no callback runs, and it frees the loop (the memory;
 * no join, no io_destroy) and exits. The parent's loop, files, writer,
 * reader and watched fd all go on.
 */
START_TEST(child_gets_ebadfd)
{
	struct family fam;
	struct dmaio_view *v;
	struct dmaio_file *wf, *rf;
	char got[5000];
	int pipe_hits = 0, st;
	pid_t pid;

	memset(&fam, 0, sizeof(fam));
	fam.loop = start(_i);
	tu_make_file(tu_path("data"), 64 * 1024, SEED);
	ck_assert_int_eq(dmaio_file_open_flags_wait(fam.loop, tu_path("data"),
						    O_RDWR, 0, &fam.f),
			 0);
	fam.b = dmaio_file_alloc_buf(fam.f, BS);
	ck_assert_ptr_nonnull(fam.b);
	tu_fill(dmaio_buf_data(fam.b), BS, 0, SEED);
	ck_assert_int_eq(dmaio_file_read_at_wait(fam.f, 10, 100, &fam.v), 100);
	ck_assert_int_eq(dmaio_file_create_wait(fam.loop, tu_path("w"), &wf),
			 0);
	ck_assert_int_eq(dmaio_writer_new(wf, NULL, &fam.w), 0);
	ck_assert_int_eq(dmaio_writer_write(fam.w, "hello", 5), 5);
	ck_assert_int_eq(dmaio_file_open_wait(fam.loop, tu_path("data"), &rf),
			 0);
	ck_assert_int_eq(dmaio_reader_new(rf, NULL, &fam.r), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(fam.r, got, 1), 1);
	ck_assert_int_eq(pipe(fam.pipe), 0);
	ck_assert_int_eq(dmaio_loop_watch(fam.loop, fam.pipe[0], EPOLLIN,
					  on_pipe, &pipe_hits),
			 0);
	/* quiet: the child's view of the loop has nothing in flight */
	while (dmaio_loop_pending(fam.loop))
		ck_assert_int_ge(dmaio_loop_run_once(fam.loop, 100), 0);

	parent_pid = getpid();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		hang_alarm();
		child_bad = 0;
		child_calls(&fam);
		/* dropping the parent's objects touches no buffer page */
		dmaio_view_release(fam.v);
		dmaio_buf_unref(fam.b);
		dmaio_loop_free(fam.loop);
		close(fam.pipe[0]);
		close(fam.pipe[1]);
		child_own_loop();
		if (!child_bad)
			exec_true();
		_exit(1);
	}
	st = wait_child(pid);
	ck_assert_msg(st == 0, "child exited with %d (128 + 14: it hung)", st);

	/* the parent's loop: AIO, helpers, eventfd, epoll set, buffers */
	ck_assert_int_eq(dmaio_file_write_at_wait(fam.f, fam.b, 8 * BS), BS);
	ck_assert_int_eq(dmaio_file_read_at_wait(fam.f, 8 * BS, BS, &v), BS);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), BS, 0, SEED), -1);
	dmaio_view_release(v);
	ck_assert_int_eq(tu_check(dmaio_view_data(fam.v), 100, 10, SEED), -1);
	ck_assert_int_eq(dmaio_file_fdatasync_wait(fam.f), 0);
	ck_assert_int_eq(dmaio_file_size_wait(fam.f), 64 * 1024);
	ck_assert_int_eq(dmaio_file_truncate_wait(fam.f, 128 * 1024), 0);
	ck_assert_int_eq(dmaio_file_size_wait(fam.f), 128 * 1024);
	ck_assert_int_eq(dmaio_reader_read_wait(fam.r, got, sizeof(got)),
			 (int64_t)sizeof(got));
	ck_assert_int_eq(tu_check(got, sizeof(got), 1, SEED), -1);
	ck_assert_int_eq(dmaio_writer_write_wait(fam.w, " world", 6), 6);
	ck_assert_int_eq(dmaio_writer_close_wait(fam.w), 11);
	ck_assert_int_eq(write(fam.pipe[1], "x", 1), 1);
	while (!pipe_hits)
		ck_assert_int_ge(dmaio_loop_run_once(fam.loop, 1000), 0);
	ck_assert_int_eq(dmaio_loop_unwatch(fam.loop, fam.pipe[0]), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(fam.r), 0);
	dmaio_view_release(fam.v);
	dmaio_buf_unref(fam.b);
	ck_assert_int_eq(dmaio_file_close_wait(fam.f), 0);
	dmaio_loop_free(fam.loop);
	close(fam.pipe[0]);
	close(fam.pipe[1]);
	{
		char text[16] = { 0 };
		int fd = open(tu_path("w"), O_RDONLY);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(read(fd, text, sizeof(text)), 11);
		ck_assert_str_eq(text, "hello world");
		close(fd);
	}
}
END_TEST

#define BUSY_ROUNDS 20
#define BUSY_READS 32

struct busy {
	unsigned inflight;
	uint64_t ok, bad;
};

struct busy_read {
	struct busy *b;
	uint64_t pos;
};

static void busy_read_done(void *arg, struct dmaio_view *v, int64_t res)
{
	struct busy_read *rd = arg;
	struct busy *b = rd->b;

	b->inflight--;
	if (res == BS && tu_check(dmaio_view_data(v), BS, rd->pos, SEED) == -1)
		b->ok++;
	else
		b->bad++;
	dmaio_view_release(v);
}

static void busy_size_done(void *arg, int64_t res)
{
	struct busy *b = arg;

	b->inflight--;
	if (res == 1024 * BS)
		b->ok++;
	else
		b->bad++;
}

/*
 * The atexit case: the loop thread forks with reads in the kernel and a
 * helper at work, and the child frees the loop. It must neither wait for
 * them (it would hang) nor disturb them: every one completes, verified,
 * in the parent.
 */
START_TEST(child_frees_busy_loop)
{
	struct dmaio_loop *loop = start(_i);
	struct dmaio_file *f;
	struct busy b = { 0, 0, 0 };
	struct busy_read rd[BUSY_READS];
	unsigned round, k, rng = 99;
	int st;

	tu_make_file(tu_path("busy"), 1024 * BS, SEED);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("busy"), &f), 0);
	for (round = 0; round < BUSY_ROUNDS; round++) {
		pid_t pid;

		for (k = 0; k < BUSY_READS; k++) {
			rng = rng * 1103515245u + 12345u;
			rd[k].b = &b;
			rd[k].pos = (uint64_t)((rng >> 8) % 1024) * BS;
			ck_assert_int_eq(dmaio_file_read_at(f, rd[k].pos, BS,
							    busy_read_done,
							    &rd[k]),
					 0);
			b.inflight++;
		}
		ck_assert_int_eq(dmaio_file_size(f, busy_size_done, &b), 0);
		b.inflight++;
		/* into the kernel and to the helper, not just queued */
		ck_assert_int_ge(dmaio_loop_run_once(loop, 0), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			hang_alarm();
			dmaio_loop_free(loop);
			exec_true();
		}
		st = wait_child(pid);
		ck_assert_msg(st == 0, "round %u: child exited with %d "
			      "(128 + 14: dmaio_loop_free hung)", round, st);
		while (b.inflight)
			ck_assert_int_ge(dmaio_loop_run_once(loop, 1000), 0);
	}
	ck_assert_uint_eq(b.bad, 0);
	ck_assert_uint_eq(b.ok, BUSY_ROUNDS * (BUSY_READS + 1));
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tu_tcase(s, "fork");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	ADD_RUNS(tc, buffers_are_dontfork);
	ADD_RUNS(tc, fork_storm);
	ADD_RUNS(tc, child_gets_ebadfd);
	ADD_RUNS(tc, child_frees_busy_loop);
	return tu_run(s);
}
