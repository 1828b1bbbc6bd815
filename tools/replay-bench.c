/* SPDX-License-Identifier: MIT */
/*
 * replay-bench: replay a log of length-prefixed records through the
 * stream reader, two ways, and report MiB/s for each (median of --runs):
 *
 *   buffers  whole-buffer parsing: views from dmaio_reader_get_buffer,
 *            records parsed in place, those straddling two buffers
 *            reassembled by the caller;
 *   records  one record at a time: dmaio_reader_read of the 4-byte
 *            length, then of the payload, each from the callback of the
 *            read before.
 *
 * Both fold every payload into a checksum and must agree on it and on
 * the record count. The log is written first (with the stream writer)
 * unless --file names one of the right size already; a log of its own
 * (none named) is removed at the end.
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

#define MAX_REC 65536

struct opts {
	const char *file;
	uint64_t size;
	size_t bs;
	unsigned read_ahead, runs;
	uint32_t min_rec, max_rec;
};

struct replay {
	struct dmaio_reader *r;
	uint64_t nrec, sum;
	int64_t err;
	/* records: the record being read */
	uint32_t len;
	int in_header;
	/* buffers: a record that straddles two of them */
	size_t carry_len;
	unsigned char rec[4 + MAX_REC];
};

/* The work a replay does per record: every byte is folded in. */
static void apply(struct replay *p, const unsigned char *d, uint32_t len)
{
	uint64_t s = len, w;
	uint32_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, d + i, 8);
		s += w;
	}
	for (; i < len; i++)
		s += d[i];
	p->sum += s;
	p->nrec++;
}

static void on_record(void *arg, int64_t res)
{
	struct replay *p = arg;
	int ret;

	if (res <= 0 || (p->in_header && res < 4) ||
	    (!p->in_header && (uint32_t)res < p->len)) {
		p->err = res < 0 ? res : 0; /* the end (or a torn tail) */
		return;
	}
	if (p->in_header) {
		if (p->len > MAX_REC) {
			p->err = -EBADMSG;
			return;
		}
		p->in_header = 0;
		ret = dmaio_reader_read(p->r, p->rec, p->len, on_record, p);
	} else {
		apply(p, p->rec, p->len);
		p->in_header = 1;
		ret = dmaio_reader_read(p->r, &p->len, 4, on_record, p);
	}
	if (ret)
		p->err = ret;
}

/* Parses what a view holds; the straddling record is carried over. */
static void parse(struct replay *p, const unsigned char *d, size_t n)
{
	while (n) {
		uint32_t len = 0;
		size_t need, take;

		if (!p->carry_len && n >= 4) {
			memcpy(&len, d, 4);
			if (len <= MAX_REC && n >= 4 + (size_t)len) {
				apply(p, d + 4, len); /* whole: in place */
				d += 4 + len;
				n -= 4 + len;
				continue;
			}
		}
		/* a record across the view's end: gathered in rec */
		if (p->carry_len >= 4)
			memcpy(&len, p->rec, 4);
		need = p->carry_len < 4 ? 4 : 4 + (size_t)len;
		take = need - p->carry_len < n ? need - p->carry_len : n;
		memcpy(p->rec + p->carry_len, d, take);
		p->carry_len += take;
		d += take;
		n -= take;
		if (p->carry_len < 4)
			continue;
		memcpy(&len, p->rec, 4);
		if (len > MAX_REC) {
			p->err = -EBADMSG;
			return;
		}
		if (p->carry_len == 4 + (size_t)len) {
			apply(p, p->rec + 4, len);
			p->carry_len = 0;
		}
	}
}

static void on_view(void *arg, struct dmaio_view *v, int64_t res)
{
	struct replay *p = arg;
	int ret;

	if (res <= 0) {
		p->err = res;
		return;
	}
	parse(p, dmaio_view_data(v), (size_t)res);
	dmaio_view_release(v);
	if (p->err)
		return;
	ret = dmaio_reader_get_buffer(p->r, SIZE_MAX, on_view, p);
	if (ret)
		p->err = ret;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One replay; returns seconds, or a negative errno value. */
static double run(const struct opts *o, int records, struct replay *p)
{
	struct dmaio_reader_opts ro;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	double t0, t;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = dmaio_loop_new(&loop, NULL);
	if (ret)
		return ret;
	ret = dmaio_file_open_wait(loop, o->file, &f);
	dmaio_reader_opts_init(&ro);
	ro.buffer_size = o->bs;
	ro.read_ahead = o->read_ahead;
	if (!ret)
		ret = dmaio_reader_new(f, &ro, &p->r);
	t0 = now();
	if (!ret && records) {
		p->in_header = 1;
		ret = dmaio_reader_read(p->r, &p->len, 4, on_record, p);
	} else if (!ret) {
		ret = dmaio_reader_get_buffer(p->r, SIZE_MAX, on_view, p);
	}
	if (!ret)
		ret = dmaio_loop_run(loop);
	t = now() - t0;
	if (!ret && p->err)
		ret = (int)p->err;
	if (p->r)
		dmaio_reader_close_wait(p->r);
	dmaio_loop_free(loop);
	return ret ? ret : t;
}

/* Writes the log: records of min..max bytes until size, then cut. */
static int make_log(const struct opts *o)
{
	struct dmaio_writer *w;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	unsigned char *rec = malloc(4 + MAX_REC);
	uint64_t left = o->size, x = 0x9E3779B97F4A7C15ULL;
	int ret = rec ? dmaio_loop_new(&loop, NULL) : -ENOMEM;

	if (ret) {
		free(rec);
		return ret;
	}
	ret = dmaio_file_create_wait(loop, o->file, &f);
	if (!ret)
		ret = dmaio_writer_new(f, NULL, &w);
	while (!ret && left) {
		uint32_t len, i;
		size_t n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = o->min_rec + (uint32_t)(x % (o->max_rec - o->min_rec + 1));
		memcpy(rec, &len, 4);
		for (i = 0; i < len; i++)
			rec[4 + i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)i;
		n = 4 + (size_t)len < left ? 4 + (size_t)len : (size_t)left;
		if (dmaio_writer_write_wait(w, rec, n) != (int64_t)n)
			ret = -EIO;
		left -= n;
	}
	if (!ret && dmaio_writer_close_wait(w) < 0)
		ret = -EIO;
	dmaio_loop_free(loop);
	free(rec);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1024 * 1024; break;
	case 'g': case 'G': v *= 1024 * 1024 * 1024; break;
	}
	return v > 0 ? (uint64_t)v : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: replay-bench [--file=PATH] [--size=SIZE (256M)] [--runs=N (3)]\n"
		"         [--min=BYTES (1)] [--max=BYTES (1024)] [--bs=SIZE (128K)]\n"
		"         [--read-ahead=N (4)]\n"
		"Replays length-prefixed records by whole buffers and one at a time.\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "file", 1, 0, 'f' }, { "size", 1, 0, 's' },
		{ "runs", 1, 0, 'n' }, { "min", 1, 0, 'a' },
		{ "max", 1, 0, 'b' }, { "bs", 1, 0, 'k' },
		{ "read-ahead", 1, 0, 'r' },
		{ 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o->file = optarg; break;
		case 's': o->size = parse_size(optarg); break;
		case 'n': o->runs = (unsigned)atoi(optarg); break;
		case 'a': o->min_rec = (uint32_t)atoi(optarg); break;
		case 'b': o->max_rec = (uint32_t)atoi(optarg); break;
		case 'k': o->bs = (size_t)parse_size(optarg); break;
		case 'r': o->read_ahead = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || !o->size || !o->runs || o->runs > 99 ||
	    !o->min_rec || o->min_rec > o->max_rec || o->max_rec > MAX_REC)
		usage();
}

int main(int argc, char **argv)
{
	struct opts o = { NULL, 256ull << 20, 128 * 1024, 4, 3, 1, 1024 };
	static const char *const names[2] = { "buffers", "records" };
	static struct replay p[2];
	double mibs[2][99], med[2];
	char tmp[] = "replay-bench.XXXXXX";
	struct stat st;
	unsigned i;
	int m, ret;

	parse_args(argc, argv, &o);
	if (!o.file) {
		int fd = mkstemp(tmp);

		if (fd < 0)
			return perror("replay-bench: mkstemp"), 1;
		close(fd);
		o.file = tmp;
	}
	if (stat(o.file, &st) || (uint64_t)st.st_size != o.size) {
		fprintf(stderr, "replay-bench: writing %" PRIu64 " MiB of "
			"records of %u..%u bytes to %s\n", o.size >> 20,
			o.min_rec, o.max_rec, o.file);
		ret = make_log(&o);
		if (ret) {
			fprintf(stderr, "replay-bench: %s: %s\n", o.file,
				dmaio_strerror(ret));
			return 1;
		}
	}
	for (i = 0; i < o.runs; i++)
		for (m = 0; m < 2; m++) {
			double t = run(&o, m, &p[m]);

			if (t < 0) {
				fprintf(stderr, "replay-bench: %s: %s\n",
					names[m], dmaio_strerror((int)t));
				return 1;
			}
			mibs[m][i] = (double)o.size / (1 << 20) / t;
		}
	if (p[0].nrec != p[1].nrec || p[0].sum != p[1].sum) {
		fprintf(stderr, "replay-bench: the replays differ: %" PRIu64
			" records, sum %016" PRIx64 " against %" PRIu64
			", %016" PRIx64 "\n", p[0].nrec, p[0].sum, p[1].nrec,
			p[1].sum);
		return 1;
	}
	for (m = 0; m < 2; m++) {
		qsort(mibs[m], o.runs, sizeof(double), cmp_double);
		med[m] = mibs[m][o.runs / 2];
		printf("%-8s %8.1f MiB/s  (median of %u:", names[m], med[m],
		       o.runs);
		for (i = 0; i < o.runs; i++)
			printf(" %.1f", mibs[m][i]);
		printf(")\n");
	}
	printf("records=%" PRIu64 " sum=%016" PRIx64 " records/buffers=%.3f\n",
	       p[0].nrec, p[0].sum, med[1] / med[0]);
	if (o.file == tmp)
		unlink(tmp); /* a named file stays for the next run */
	return 0;
}
