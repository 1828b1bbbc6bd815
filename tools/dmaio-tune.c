/* SPDX-License-Identifier: MIT */
/*
 * dmaio-tune PATH: measures the device under PATH through libdmaio and
 * writes its model (dmaio-io-properties(5)) where the library finds it.
 * 4 KiB random reads and writes at depths 1, 2, 4 ... --max-depth (128)
 * give IOPS, depth-1 latencies and the knee; 1 MiB sequential reads and
 * writes at depths 1, 4, 16 (those up to --max-depth) give bandwidth.
 * The file measured is temporary, written
 * once first so that reads reach the device.
 */
#include "config.h"

#include "tune.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MIB (1ULL << 20)

static char tmp_path[PATH_MAX];

/* interrupted: the temporary file must not stay behind */
static void on_signal(int sig)
{
	if (tmp_path[0])
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: dmaio-tune [OPTIONS] PATH\n"
"Measures the device of PATH (a directory, or a file on it) and writes its\n"
"model for libdmaio (see dmaio-io-properties(5)).\n"
"  -o, --output=FILE    the model file (default " "/etc/dmaio/io-properties)\n"
"  -d, --duration=S     seconds of measuring (default 40)\n"
"  -s, --size=N         bytes of the file measured, K/M/G (default 1G)\n"
"      --max-depth=N    deepest queue tried, a power of two (default 128)\n"
"  -q, --quick          a few seconds, rough figures (16M, 2 s)\n"
"  -n, --dry-run        measure and print; write nothing\n"
"      --quiet          print the summary only\n"
"  -h, --help\n");
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': x <<= 10; end++; break;
	case 'm': case 'M': x <<= 20; end++; break;
	case 'g': case 'G': x <<= 30; end++; break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*v = x;
	return 0;
}

struct opts {
	const char *path, *output;
	double duration;
	uint64_t size;
	unsigned max_depth;
	int dry_run, quiet;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "max-depth", required_argument, NULL, 'D' },
		{ "quick", no_argument, NULL, 'q' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, quick = 0, have_d = 0, have_s = 0;
	uint64_t v;
	char *end;

	while ((c = getopt_long(argc, argv, "o:d:s:qnh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'd':
			o->duration = strtod(optarg, &end);
			if (*end || !(o->duration > 0 && o->duration < 1e6))
				goto bad;
			have_d = 1;
			break;
		case 's':
			if (parse_size(optarg, &o->size) || o->size < MIB)
				goto bad;
			have_s = 1;
			break;
		case 'D':
			if (parse_size(optarg, &v) || !v || v > 1024 ||
			    (v & (v - 1)))
				goto bad;
			o->max_depth = (unsigned)v;
			break;
		case 'q':
			quick = 1;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case 'Q':
			o->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (quick && !have_d)
		o->duration = 2;
	if (quick && !have_s)
		o->size = 16 * MIB;
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	o->path = argv[optind];
	return 0;
bad:
	fprintf(stderr, "dmaio-tune: bad value for --%s: %s\n",
		c == 'o' ? "output" : c == 'd' ? "duration" :
		c == 's' ? "size (at least 1M)" :
			   "max-depth (a power of two up to 1024)", optarg);
	return -1;
}

/* The mount point dir lies under: up while the device stays the same. */
static void find_mount(const char *dir, char *out, size_t len)
{
	char *p, *slash;
	struct stat st, up;

	p = realpath(dir, NULL);
	if (!p || stat(p, &st)) {
		snprintf(out, len, "%s", dir);
		free(p);
		return;
	}
	while ((slash = strrchr(p, '/')) != NULL && slash != p) {
		*slash = 0;
		if (stat(p, &up) || up.st_dev != st.st_dev) {
			*slash = '/';
			break;
		}
	}
	if (slash == p && (stat("/", &up) || up.st_dev == st.st_dev))
		p[1] = 0;
	snprintf(out, len, "%s", p);
	free(p);
}

static void print_point(const char *name, const struct tune_point *p)
{
	printf("  %-9s %4zu KiB depth %4u: %9.0f IOPS %8.1f MB/s  "
	       "latency p50 %6.0f p99 %7.0f us\n", name, p->bs / 1024,
	       p->depth, p->iops, p->bw / 1e6, p->lat_p50_us, p->lat_p99_us);
	fflush(stdout);
}

/* One row of points: 4 KiB random, or 1 MiB sequential, at each depth. */
static int measure_row(struct tune_ctx *c, const struct opts *o, int write,
		       int seq, struct tune_point *pt, int *n)
{
	static const unsigned seq_depths[] = { 1, 4, 16 };
	enum { NSEQ = sizeof(seq_depths) / sizeof(seq_depths[0]) };
	const char *name = seq ? (write ? "write" : "read")
			       : (write ? "randwrite" : "randread");
	unsigned d;
	int i = 0, ret;

	for (d = 1; d <= o->max_depth && i < TUNE_MAX_POINTS; d *= 2) {
		if (seq) {
			if (i == NSEQ)
				break;
			d = seq_depths[i];
			if (d > o->max_depth)
				break;
		}
		ret = tune_measure(c, write, seq, seq ? MIB : 4096, d, &pt[i]);
		if (ret) {
			fprintf(stderr, "dmaio-tune: %s at depth %u: %s\n",
				name, d, dmaio_strerror(ret));
			return ret;
		}
		if (!o->quiet)
			print_point(name, &pt[i]);
		i++;
	}
	*n = i;
	return 0;
}

static int count_points(const struct opts *o)
{
	unsigned d;
	int n = 0;

	for (d = 1; d <= o->max_depth; d *= 2)
		n++;
	/* and the sequential depths 1, 4, 16 up to max_depth */
	return 2 * n + 2 * (o->max_depth >= 16 ? 3 : o->max_depth >= 4 ? 2 : 1);
}

static void summary(const struct tune_result *r, const struct tune_origin *g)
{
	printf("\ndmaio-tune: device %u:%u, mounted on %s%s\n",
	       major(g->dev), minor(g->dev), g->mount,
	       g->direct ? "" : " (BUFFERED: no O_DIRECT here)");
	printf("         4 KiB IOPS   1 MiB MB/s   4 KiB latency, depth 1"
	       "   knee\n");
	printf("  read   %10llu   %10.1f   %8u us %20u\n",
	       (unsigned long long)r->read_iops, (double)r->read_bw / 1e6,
	       (unsigned)r->read_lat_us, r->read_knee);
	printf("  write  %10llu   %10.1f   %8u us %20u\n",
	       (unsigned long long)r->write_iops, (double)r->write_bw / 1e6,
	       (unsigned)r->write_lat_us, r->write_knee);
	printf("  knee_depth %u; measured in %.0f s, load average %.2f at the "
	       "start\n", r->knee_depth, g->seconds, g->loadavg);
	fflush(stdout);
}

static int run(const struct opts *o, const char *dir, struct tune_result *r,
	       struct tune_origin *g)
{
	struct tune_ctx c;
	struct stat st;
	int ret, fd;

	memset(&c, 0, sizeof(c));
	c.max_depth = o->max_depth;
	if (snprintf(tmp_path, sizeof(tmp_path), "%s/.dmaio-tune.XXXXXX",
		     dir) >= (int)sizeof(tmp_path))
		fd = -1, errno = ENAMETOOLONG;
	else
		fd = mkstemp(tmp_path);
	if (fd < 0) {
		ret = -errno;
		tmp_path[0] = 0;
		fprintf(stderr, "dmaio-tune: cannot create a file in %s: %s\n",
			dir, strerror(-ret));
		return ret;
	}
	fstat(fd, &st);
	close(fd);
	g->dev = st.st_dev;
	if (!o->quiet)
		printf("dmaio-tune: writing a file of %llu MiB in %s\n",
		       (unsigned long long)(o->size / MIB), dir);
	ret = tune_prepare(&c, tmp_path, o->size);
	if (ret) {
		fprintf(stderr, "dmaio-tune: preparing %s: %s\n", tmp_path,
			dmaio_strerror(ret));
		goto out;
	}
	g->direct = dmaio_file_is_direct(c.f);
	if (!g->direct)
		fprintf(stderr, "dmaio-tune: %s refuses O_DIRECT: these are "
				"the page cache's figures, not the device's\n",
			dir);
	c.slice_s = o->duration / count_points(o);
	if (!o->quiet)
		printf("dmaio-tune: %d points of %.2f s\n", count_points(o),
		       c.slice_s);
	/* reads first: writes leave a write-back cache busy behind them */
	ret = measure_row(&c, o, 0, 0, r->rr, &r->nrr);
	if (!ret)
		ret = measure_row(&c, o, 0, 1, r->sr, &r->nsr);
	if (!ret)
		ret = measure_row(&c, o, 1, 0, r->rw, &r->nrw);
	if (!ret)
		ret = measure_row(&c, o, 1, 1, r->sw, &r->nsw);
out:
	tune_close(&c);
	unlink(tmp_path);
	tmp_path[0] = 0;
	return ret;
}

/* The directory to measure in: path's own, or the one holding it. */
static int dir_of(const char *path, char *dir, size_t len)
{
	struct stat st;
	char *slash;

	if (stat(path, &st)) {
		fprintf(stderr, "dmaio-tune: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "dmaio-tune: %s: not a directory or a file "
				"(a device is measured through a file system "
				"on it)\n", path);
		return -1;
	}
	snprintf(dir, len, "%s", path);
	if (S_ISDIR(st.st_mode))
		return 0;
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else
		slash[slash == dir] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { NULL, "/etc/dmaio/io-properties", 40, 1ULL << 30,
			  128, 0, 0 };
	char dir[PATH_MAX], mount[PATH_MAX], *abs;
	struct tune_result r;
	struct tune_origin g;
	struct statvfs vfs;
	double load[1] = { 0 };
	time_t t0;
	int ret;

	if (parse_args(argc, argv, &o))
		return 2;
	if (dir_of(o.path, dir, sizeof(dir)))
		return 1;
	/* room for the file and then some: never fill the file system */
	if (!statvfs(dir, &vfs) &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize / 2 < o.size) {
		fprintf(stderr, "dmaio-tune: %s: %llu MiB free; a file of %llu "
				"MiB needs twice that (try --size)\n", dir,
			(unsigned long long)((uint64_t)vfs.f_bavail *
					     vfs.f_frsize / MIB),
			(unsigned long long)(o.size / MIB));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	find_mount(dir, mount, sizeof(mount));
	memset(&r, 0, sizeof(r));
	memset(&g, 0, sizeof(g));
	getloadavg(load, 1);
	t0 = time(NULL);
	ret = run(&o, dir, &r, &g);
	if (ret)
		return 1;
	tune_model(&r);
	abs = realpath(o.path, NULL);
	g.path = abs ? abs : o.path;
	g.mount = mount;
	g.version = PACKAGE_VERSION;
	g.file_size = o.size / MIB * MIB;
	g.seconds = difftime(time(NULL), t0);
	g.loadavg = load[0];
	summary(&r, &g);
	if (!o.dry_run) {
		ret = tune_write_model(o.output, &r, &g);
		if (!ret)
			printf("  written to %s, section [device %u:%u]\n",
			       o.output, major(g.dev), minor(g.dev));
	}
	free(abs);
	return ret ? 1 : 0;
}
