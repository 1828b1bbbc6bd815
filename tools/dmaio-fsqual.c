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
#include <getopt.h>
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
};

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

static int run(const char *path, int helpers, unsigned writes, size_t bs,
	       struct result *out)
{
	struct dmaio_writer_opts o;
	struct dmaio_loop *loop;
	struct dmaio_writer *w;
	struct dmaio_file *f;
	char *buf;
	long cs0, cs1;
	double t0;
	unsigned i;
	int64_t total;
	int ret;

	ret = dmaio_loop_new(&loop, NULL);
	if (ret)
		return ret;
	ret = dmaio_file_create_wait(loop, path, &f);
	if (ret) {
		dmaio_loop_free(loop);
		return ret;
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
	if (ret) {
		dmaio_file_close_wait(f);
		dmaio_loop_free(loop);
		return ret;
	}
	buf = malloc(bs);
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
	while (dmaio_writer_flushed_position(w) < (uint64_t)writes * bs)
		dmaio_loop_run_once(loop, 0);
	cs1 = thread_nvcsw();
	out->seconds = now_s() - t0;
	out->ctxsw_per_write = (double)(cs1 - cs0) / writes;
out:
	total = dmaio_writer_close_wait(w);
	if (!ret && total < 0)
		ret = (int)total;
	out->bytes = total;
	free(buf);
	unlink(path);
	dmaio_loop_free(loop);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "writes", required_argument, NULL, 'n' },
		{ "bs", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned writes = 1000;
	size_t bs = 4096;
	const char *dir = ".";
	char path[4096];
	struct result plain, tuned;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			writes = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			bs = (size_t)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			printf("usage: dmaio-fsqual [--writes=N] [--bs=BYTES] [DIR]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		dir = argv[optind];
	if (!writes || !bs) {
		fprintf(stderr, "dmaio-fsqual: --writes and --bs must be > 0\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/dmaio-fsqual.%d", dir, (int)getpid());

	ret = run(path, 0, writes, bs, &plain);
	if (!ret)
		ret = run(path, 1, writes, bs, &tuned);
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
