/* SPDX-License-Identifier: MIT */
/*
 * dmaio-cp: copy a file with O_DIRECT through libdmaio's stream reader and
 * writer: the source's pages never enter the page cache, the copy keeps
 * the exact size, and it is durable when the command returns.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct copy {
	struct dmaio_loop *loop;
	struct dmaio_reader *r;
	struct dmaio_writer *w;
	uint64_t size, copied;
	int err;
	struct dmaio_view *rest; /* waiting for a free writer buffer */
	int tty;
	double t0, last;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(struct copy *c, int final)
{
	double t = now_s(), pct;
	int i, bar;

	if (!c->tty || (!final && t - c->last < 0.2))
		return;
	c->last = t;
	pct = c->size ? 100.0 * (double)c->copied / (double)c->size : 100.0;
	bar = (int)(pct / 100.0 * 30);
	fprintf(stderr, "\r[");
	for (i = 0; i < 30; i++)
		fputc(i < bar ? '#' : '.', stderr);
	fprintf(stderr, "] %5.1f%%  %" PRIu64 "/%" PRIu64 " MiB  %.1f MiB/s ",
		pct, c->copied >> 20, c->size >> 20,
		(double)c->copied / 1048576.0 / (t - c->t0 > 0 ? t - c->t0 : 1));
	if (final)
		fputc('\n', stderr);
}

/* 1 if path names the file open as fd (through links too). */
static int same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The reader hands out views; the writer copies them into its buffers. */
static void on_view(void *arg, struct dmaio_view *v, int64_t res);

static void next(struct copy *c)
{
	int ret = dmaio_reader_get_buffer(c->r, 1 << 20, on_view, c);

	if (ret)
		c->err = ret;
}

static void on_writable(void *arg, int64_t res);

static void push(struct copy *c, struct dmaio_view *v, size_t off)
{
	const char *p = dmaio_view_data(v);
	size_t len = dmaio_view_len(v);

	while (off < len) {
		int64_t n = dmaio_writer_write(c->w, p + off, len - off);

		if (n < 0) {
			c->err = (int)n;
			dmaio_view_release(v);
			return;
		}
		if (n == 0) {
			/* every buffer in flight: resume when one is free */
			struct dmaio_view *rest = dmaio_view_slice(v, off, len - off);

			dmaio_view_release(v);
			if (!rest) {
				c->err = -ENOMEM;
				return;
			}
			c->copied -= len - off;
			c->rest = rest;
			c->err = dmaio_writer_on_writable(c->w, on_writable, c);
			if (c->err) {
				dmaio_view_release(rest);
				c->rest = NULL;
			}
			return;
		}
		off += (size_t)n;
	}
	dmaio_view_release(v);
	progress(c, 0);
	next(c);
}

static void on_writable(void *arg, int64_t res)
{
	struct copy *c = arg;
	struct dmaio_view *rest = c->rest;

	c->rest = NULL;
	if (res < 0) {
		c->err = (int)res;
		dmaio_view_release(rest);
		return;
	}
	c->copied += dmaio_view_len(rest);
	push(c, rest, 0);
}

static void on_view(void *arg, struct dmaio_view *v, int64_t res)
{
	struct copy *c = arg;

	if (res <= 0) {
		if (res < 0)
			c->err = (int)res;
		return; /* the end: main closes */
	}
	c->copied += (uint64_t)res;
	push(c, v, 0);
}

int main(int argc, char **argv)
{
	struct dmaio_reader_opts ro;
	struct dmaio_writer_opts wo;
	struct dmaio_file *in, *out;
	struct copy c;
	struct stat st;
	int64_t total;
	int ret, rc;

	memset(&c, 0, sizeof(c));
	if (argc != 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc == 2 ? stdout : stderr,
			"usage: dmaio-cp SRC DST\n"
			"Copies SRC to DST with O_DIRECT, exact size, fdatasync'd.\n");
		return argc == 2 ? 0 : 2;
	}
	if (stat(argv[1], &st)) {
		fprintf(stderr, "dmaio-cp: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	c.size = (uint64_t)st.st_size;
	c.tty = isatty(2);
	ret = dmaio_loop_new(&c.loop, NULL);
	if (ret) {
		fprintf(stderr, "dmaio-cp: %s (%s)\n", dmaio_strerror(ret),
			dmaio_last_error());
		return 1;
	}
	ret = dmaio_file_open_wait(c.loop, argv[1], &in);
	if (ret) {
		fprintf(stderr, "dmaio-cp: %s: %s\n", argv[1], dmaio_strerror(ret));
		return 1;
	}
	/*
	 * As cp: the destination is opened for writing only once it is known
	 * not to be the source (the same path, a hard link, a symlink to
	 * it), and truncated only after that, so a copy onto itself never
	 * empties the file.
	 */
	if (same_file(dmaio_file_fd(in), argv[2])) {
		fprintf(stderr, "dmaio-cp: '%s' and '%s' are the same file\n",
			argv[1], argv[2]);
		return 1;
	}
	ret = dmaio_file_open_flags_wait(c.loop, argv[2], O_WRONLY | O_CREAT,
					 st.st_mode & 0777, &out);
	if (ret) {
		fprintf(stderr, "dmaio-cp: %s: %s\n", argv[2], dmaio_strerror(ret));
		return 1;
	}
	/* a link made in between: still never truncate the source */
	if (dmaio_file_is_same(in, out)) {
		fprintf(stderr, "dmaio-cp: '%s' and '%s' are the same file\n",
			argv[1], argv[2]);
		return 1;
	}
	ret = dmaio_file_truncate_wait(out, 0);
	if (ret) {
		fprintf(stderr, "dmaio-cp: %s: truncate: %s\n", argv[2],
			dmaio_strerror(ret));
		return 1;
	}
	dmaio_reader_opts_init(&ro);
	ro.buffer_size = 1 << 20;
	ro.read_ahead = 4;
	dmaio_writer_opts_init(&wo);
	wo.buffer_size = 1 << 20;
	wo.write_behind = 4;
	ret = dmaio_reader_new(in, &ro, &c.r);
	if (!ret)
		ret = dmaio_writer_new(out, &wo, &c.w);
	if (ret) {
		fprintf(stderr, "dmaio-cp: %s\n", dmaio_strerror(ret));
		return 1;
	}
	c.t0 = now_s();
	next(&c);
	dmaio_loop_run(c.loop);
	rc = dmaio_reader_close_wait(c.r);
	total = dmaio_writer_close_wait(c.w);
	progress(&c, 1);
	if (!c.err && rc)
		c.err = rc;
	if (!c.err && total < 0)
		c.err = (int)total;
	if (!c.err && (uint64_t)total != c.size)
		c.err = -EIO; /* the source changed under us */
	dmaio_loop_free(c.loop);
	if (c.err) {
		fprintf(stderr, "dmaio-cp: %s -> %s: %s\n", argv[1], argv[2],
			dmaio_strerror(c.err));
		return 1;
	}
	return 0;
}
