/* SPDX-License-Identifier: MIT */
/*
 * --open-bench=N: what an open DmaFile costs. N files opened through one
 * loop, all in flight on its helper threads, against the same files opened
 * by plain open(2) in a loop, bare and with the calls an O_DIRECT opener
 * makes anyway (fstat, O_DIRECT through fcntl, fstatfs, statx for the
 * alignment); and the memory the library holds per open file, from the
 * allocator (mallinfo2, or mallinfo before glibc 2.33) and from RSS.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bench.h"

#define ROUNDS 3

struct ostate;

struct oslot {
	struct ostate *s;
	struct dmaio_file *f;
};

struct ostate {
	struct dmaio_loop *loop;
	struct oslot *slots;
	char **paths;
	int *fds;
	unsigned n, left;
	int err;
};

/* Bytes the allocator has handed out and not had back, all arenas. */
#ifdef HAVE_MALLINFO2
#define HEAP_FROM "mallinfo2"
#else
#define HEAP_FROM "mallinfo"
#endif

static double heap_in_use(void)
{
#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();

	return (double)mi.uordblks + (double)mi.hblkhd;
#else
	/* int fields: a delta is right while it stays under 2 GiB */
	struct mallinfo mi = mallinfo();

	return (double)(unsigned)mi.uordblks + (double)(unsigned)mi.hblkhd;
#endif
}

static double rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
	fclose(f);
	return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) : 0;
}

static void on_open(void *arg, struct dmaio_file *f, int res)
{
	struct oslot *sl = arg;

	sl->f = f;
	if (res < 0 && !sl->s->err)
		sl->s->err = res;
	sl->s->left--;
}

static void on_close(void *arg, int64_t res)
{
	struct ostate *s = arg;

	if (res < 0 && !s->err)
		s->err = (int)res;
	s->left--;
}

static int run_until_done(struct ostate *s)
{
	while (s->left) {
		int r = dmaio_loop_run_once(s->loop, -1);

		if (r < 0)
			return r;
	}
	return s->err;
}

/* Opens every file through the loop, all at once; seconds taken. */
static int dmaio_round(struct ostate *s, double *secs, double *heap,
		       double *rss, double *close_secs)
{
	double h0, r0;
	uint64_t t0, t1;
	unsigned i;
	int ret = 0;

	h0 = heap_in_use();
	r0 = rss_bytes();
	t0 = bench_now_ns();
	for (i = 0; i < s->n && !ret; i++) {
		s->slots[i].f = NULL;
		ret = dmaio_file_open(s->loop, s->paths[i], on_open,
				      &s->slots[i]);
		if (!ret)
			s->left++;
	}
	if (!ret)
		ret = run_until_done(s);
	else
		run_until_done(s);
	t1 = bench_now_ns();
	*secs = (double)(t1 - t0) / 1e9;
	*heap = (heap_in_use() - h0) / s->n;
	*rss = (rss_bytes() - r0) / s->n;
	t0 = bench_now_ns();
	for (i = 0; i < s->n; i++)
		if (s->slots[i].f &&
		    !dmaio_file_close(s->slots[i].f, on_close, s))
			s->left++;
	if (run_until_done(s) && !ret)
		ret = s->err;
	*close_secs = (double)(bench_now_ns() - t0) / 1e9;
	return ret;
}

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

/* What an O_DIRECT opener does with plain calls: the same as the library's
 * helper thread less the device's queue limits from /sys. */
static int probe_open(const char *path)
{
	struct statfs sfs;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int fl;

	if (fd < 0)
		return -1;
	fstat(fd, &st);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_DIRECT);
	fstatfs(fd, &sfs);
#if HAVE_DECL_SYS_STATX
	{
		unsigned char stx[256];

		syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, stx);
	}
#endif
	return fd;
}

static int plain_round(struct ostate *s, int probe, double *secs)
{
	uint64_t t0;
	unsigned i;
	int ret = 0;

	t0 = bench_now_ns();
	for (i = 0; i < s->n; i++) {
		s->fds[i] = probe ? probe_open(s->paths[i])
				  : open(s->paths[i], O_RDONLY | O_CLOEXEC);
		if (s->fds[i] < 0 && !ret)
			ret = -errno;
	}
	*secs = (double)(bench_now_ns() - t0) / 1e9;
	for (i = 0; i < s->n; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static int make_files(struct ostate *s, const char *dir)
{
	char path[4096];
	unsigned i;

	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	for (i = 0; i < s->n; i++) {
		int fd;

		bench_file_name(path, sizeof(path), dir, i);
		s->paths[i] = strdup(path);
		if (!s->paths[i])
			return -ENOMEM;
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	return 0;
}

int bench_open_run(const struct bench_opts *o, const char *dir)
{
	struct dmaio_loop_opts lo;
	struct ostate s;
	double dm[ROUNDS], cl[ROUNDS], pl[ROUNDS], pr[ROUNDS];
	double heap[ROUNDS], rss[ROUNDS], junk[4], rss0 = 0;
	const char *heap_from;
	unsigned i, n = o->open_bench;
	int ret;

	memset(&s, 0, sizeof(s));
	s.n = n;
	s.slots = calloc(n, sizeof(*s.slots));
	s.paths = calloc(n, sizeof(*s.paths));
	s.fds = calloc(n, sizeof(*s.fds));
	ret = s.slots && s.paths && s.fds ? 0 : -ENOMEM;
	for (i = 0; i < n && s.slots; i++)
		s.slots[i].s = &s;
	if (!ret)
		ret = make_files(&s, dir);
	dmaio_loop_opts_init(&lo);
	lo.helper_threads = o->helper_threads;
	if (!ret)
		ret = dmaio_loop_new(&s.loop, &lo);
	/*
	 * A first round of each, whose rates are not counted: it brings the
	 * dentries and inodes into the cache. Its RSS is: the process's
	 * pages grow by what the open files hold (and what the opens in
	 * flight held meanwhile); later rounds reuse the pages the first
	 * freed, and their RSS hardly moves. The heap in use is the files'
	 * own in every round: the loop frees operation records beyond a
	 * few dozen spare as they finish.
	 */
	if (!ret)
		ret = plain_round(&s, 1, &junk[0]);
	if (!ret)
		ret = dmaio_round(&s, &junk[0], &junk[1], &rss0, &junk[3]);
	/* alternating, so that drift on a shared machine hits all alike */
	for (i = 0; i < ROUNDS && !ret; i++) {
		ret = dmaio_round(&s, &dm[i], &heap[i], &rss[i], &cl[i]);
		if (!ret)
			ret = plain_round(&s, 0, &pl[i]);
		if (!ret)
			ret = plain_round(&s, 1, &pr[i]);
		dm[i] = n / dm[i];
		cl[i] = n / cl[i];
		pl[i] = n / pl[i];
		pr[i] = n / pr[i];
	}
	if (s.loop)
		dmaio_loop_free(s.loop);
	for (i = 0; i < n && s.paths; i++)
		free(s.paths[i]);
	free(s.paths);
	free(s.slots);
	free(s.fds);
	if (ret) {
		fprintf(stderr, "dmaio-bench: --open-bench in %s: %s\n", dir,
			dmaio_strerror(ret));
		if (*dmaio_last_error())
			fprintf(stderr, "dmaio-bench: %s\n", dmaio_last_error());
		return 1;
	}
	/* a sanitizer's allocator reports nothing to mallinfo: say so */
	heap_from = median(heap, ROUNDS) > 0 ? HEAP_FROM : "none";
	if (o->json) {
		printf("{\"mode\":\"open\",\"files\":%u,\"dir\":\"%s\","
		       "\"helper_threads\":%u,\"rounds\":%u,"
		       "\"opens_per_s\":%.0f,\"closes_per_s\":%.0f,"
		       "\"plain_opens_per_s\":%.0f,"
		       "\"plain_probe_opens_per_s\":%.0f,"
		       "\"bytes_per_file_heap\":%.0f,"
		       "\"bytes_per_file_rss\":%.0f,"
		       "\"bytes_per_file_rss_again\":%.0f,\"heap_from\":\"%s\"}\n",
		       n, dir, o->helper_threads ? o->helper_threads : 1,
		       ROUNDS, median(dm, ROUNDS), median(cl, ROUNDS),
		       median(pl, ROUNDS), median(pr, ROUNDS),
		       median(heap, ROUNDS), rss0, median(rss, ROUNDS),
		       heap_from);
		return 0;
	}
	printf("dmaio-bench: open-bench files=%u dir=%s helper_threads=%u "
	       "(medians of %u rounds)\n", n, dir,
	       o->helper_threads ? o->helper_threads : 1, ROUNDS);
	printf("  dmaio_file_open, all in flight: %.0f opens/s "
	       "(dmaio_file_close: %.0f/s)\n", median(dm, ROUNDS),
	       median(cl, ROUNDS));
	printf("  plain open(2): %.0f opens/s; with fstat, fcntl O_DIRECT, "
	       "fstatfs, statx: %.0f opens/s\n", median(pl, ROUNDS),
	       median(pr, ROUNDS));
	printf("  held per open file: %.0f bytes of heap (%s); RSS grew by "
	       "%.0f bytes per file the first time, %.0f after\n",
	       median(heap, ROUNDS), heap_from, rss0, median(rss, ROUNDS));
	return 0;
}
