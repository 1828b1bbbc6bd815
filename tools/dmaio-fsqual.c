/* SPDX-License-Identifier: MIT */
/*
 * dmaio-fsqual: does appending through libdmaio's stream writer stay
 * asynchronous on this file system? Seastar's fsqual question, asked of
 * our writer: count the voluntary context switches of the loop thread per
 * appending buffer write. The loop is polled (never waits in epoll), so a
 * voluntary switch is io_submit sleeping: on block allocation, on the
 * inode lock, on a full device queue. Below 0.1 per write is asynchronous.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct result {
	double ctxsw_per_write;
	double seconds;
	int64_t bytes;
	size_t align; /* the file's O_DIRECT alignment, once it is open */
};

/* the file being measured, for the signal handler: it must not stay */
static char path[4096];

static void on_signal(int sig)
{
	if (path[0])
		unlink(path);
	signal(sig, SIG_DFL);
	raise(sig);
}

struct flush_wait {
	int done;
	int64_t res;
};

static void on_flushed(void *arg, int64_t res)
{
	struct flush_wait *fw = arg;

	fw->res = res;
	fw->done = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long thread_nvcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * Appends writes buffers of bs bytes to a new file at path, then removes
 * it. 0 or -errno; -EINVAL when bs is not a multiple of the file's
 * alignment (out->align says which): the writer rounds its buffers up to
 * the alignment and writes only full ones before a flush, so the stream
 * would end inside a buffer that no append writes (waiting for the
 * flushed position to reach the end then spun for ever).
 */
static int run(int helpers, unsigned writes, size_t bs, struct result *out)
{
	struct dmaio_writer_opts o;
	struct flush_wait fw = { 0, 0 };
	struct dmaio_loop *loop;
	struct dmaio_writer *w;
	struct dmaio_file *f;
	char *buf = NULL;
	long cs0, cs1;
	double t0;
	unsigned i;
	int64_t total;
	int ret;

	ret = dmaio_loop_new(&loop, NULL);
	if (ret)
		return ret;
	/* O_EXCL: any file at path after this is ours to remove */
	ret = dmaio_file_open_flags_wait(loop, path, O_RDWR | O_CREAT | O_EXCL,
					 0644, &f);
	if (ret) {
		if (ret != -EEXIST)
			unlink(path);
		dmaio_loop_free(loop);
		return ret;
	}
	out->align = dmaio_file_alignment(f);
	if (bs % out->align) {
		ret = -EINVAL;
		goto close;
	}
	if (!dmaio_file_is_direct(f))
		fprintf(stderr, "dmaio-fsqual: %s refuses O_DIRECT: measuring "
				"buffered I/O\n", path);
	dmaio_writer_opts_init(&o);
	o.buffer_size = bs;
	o.write_behind = 32;
	o.sync_on_close = 0;
	if (!helpers) {
		o.extent_hint = 0;
		o.preallocate = 0;
		o.grow_ahead = 0;
	}
	ret = dmaio_writer_new(f, &o, &w);
	if (ret)
		goto close;
	buf = malloc(bs);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	memset(buf, 'q', bs);
	cs0 = thread_nvcsw();
	t0 = now_s();
	for (i = 0; i < writes; i++) {
		size_t done = 0;

		while (done < bs) {
			int64_t n = dmaio_writer_write(w, buf + done, bs - done);

			if (n < 0) {
				ret = (int)n;
				goto out;
			}
			done += (size_t)n;
			if (done < bs)
				dmaio_loop_run_once(loop, 0); /* poll, never sleep */
		}
		dmaio_loop_run_once(loop, 0);
	}
	/*
	 * Every buffer is full, so the flush pads nothing: it only waits for
	 * the writes in flight, and its callback reports a failed one (which
	 * flushed_position would wait for forever).
	 */
	ret = dmaio_writer_flush(w, on_flushed, &fw);
	if (ret)
		goto out;
	while (!fw.done)
		dmaio_loop_run_once(loop, 0);
	cs1 = thread_nvcsw();
	out->seconds = now_s() - t0;
	out->ctxsw_per_write = (double)(cs1 - cs0) / writes;
	ret = (int)fw.res;
out:
	total = dmaio_writer_close_wait(w);
	if (!ret && total < 0)
		ret = (int)total;
	out->bytes = total;
	free(buf);
	f = NULL; /* the writer closed it */
close:
	if (f)
		dmaio_file_close_wait(f);
	unlink(path);
	dmaio_loop_free(loop);
	return ret;
}

/* A whole number for an option, or -1 (with a message): usage errors. */
static long long count_arg(const char *name, const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || *arg == '-' || !v ||
	    v > 1ULL << 30) {
		fprintf(stderr, "dmaio-fsqual: --%s=%s: not a number from 1 to "
				"%llu\n", name, arg, 1ULL << 30);
		return -1;
	}
	return (long long)v;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "writes", required_argument, NULL, 'n' },
		{ "bs", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct result plain = { 0 }, tuned = { 0 };
	unsigned writes = 1000;
	size_t bs = 4096;
	const char *dir = ".";
	long long v;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			v = count_arg("writes", optarg);
			if (v < 0)
				return 2;
			writes = (unsigned)v;
			break;
		case 'b':
			v = count_arg("bs", optarg);
			if (v < 0)
				return 2;
			bs = (size_t)v;
			break;
		case 'h':
			printf("usage: dmaio-fsqual [--writes=N] [--bs=BYTES] [DIR]\n"
			       "  N: 1000; BYTES: 4096, a multiple of the "
			       "file's O_DIRECT alignment (512 at least)\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		dir = argv[optind];
	/*
	 * No alignment is below 512: refuse at once what no file takes. The
	 * file's own alignment is known once it is open (run() checks it).
	 */
	if (bs % 512) {
		fprintf(stderr, "dmaio-fsqual: --bs=%zu: not a multiple of the "
				"file's O_DIRECT alignment (512 at least)\n", bs);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/dmaio-fsqual.%d", dir, (int)getpid());
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	ret = run(0, writes, bs, &plain);
	if (!ret)
		ret = run(1, writes, bs, &tuned);
	if (ret == -EINVAL && plain.align && bs % plain.align) {
		fprintf(stderr, "dmaio-fsqual: --bs=%zu: not a multiple of the "
				"O_DIRECT alignment of files in %s (%zu)\n",
			bs, dir, plain.align);
		return 1;
	}
	if (ret) {
		fprintf(stderr, "dmaio-fsqual: %s: %s\n", path,
			dmaio_strerror(ret));
		return 1;
	}
	printf("dmaio-fsqual: %u appending writes of %zu bytes in %s\n",
	       writes, bs, dir);
	printf("  plain appends:    %.3f context switches per write (%.3fs)\n",
	       plain.ctxsw_per_write, plain.seconds);
	printf("  writer defaults:  %.3f context switches per write (%.3fs)"
	       "  [extent hint, preallocation, size ahead]\n",
	       tuned.ctxsw_per_write, tuned.seconds);
	printf("  verdict: appends through the writer are %s\n",
	       tuned.ctxsw_per_write < 0.1 ? "asynchronous (< 0.1)"
					   : "NOT asynchronous (>= 0.1)");
	return tuned.ctxsw_per_write < 0.1 ? 0 : 3;
}
