/* SPDX-License-Identifier: MIT */
/*
 * dmaio-tune's model, drawn from its measurements, and the file it goes
 * to (dmaio-io-properties(5)): the device's sections are replaced, every
 * other line is kept as it was, and the file is replaced whole (a new
 * file renamed over it), so a reader never sees half of it.
 */
#include "config.h"

#include "tune.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

unsigned tune_knee(const struct tune_point *pt, int n)
{
	int i, j;

	/*
	 * No deeper point does 10% better than this one, and the next one
	 * waits longer: the queue only grows from here. Looking at every
	 * deeper point, not the next alone, keeps one noisy dip from
	 * ending the climb early.
	 */
	for (i = 0; i + 1 < n; i++) {
		double best = 0;

		for (j = i + 1; j < n; j++)
			if (pt[j].iops > best)
				best = pt[j].iops;
		if (best < pt[i].iops * 1.10 &&
		    pt[i + 1].lat_mean_us > pt[i].lat_mean_us)
			return pt[i].depth;
	}
	return n ? pt[n - 1].depth : 0;
}

static double best_of(const struct tune_point *pt, int n, int bw)
{
	double best = 0;
	int i;

	for (i = 0; i < n; i++) {
		double v = bw ? pt[i].bw : pt[i].iops;

		if (v > best)
			best = v;
	}
	return best;
}

static uint32_t lat_us(const struct tune_point *pt, int n)
{
	/* the median at depth 1: one request alone, noise left out */
	if (!n || pt[0].depth != 1)
		return 0;
	return pt[0].lat_p50_us < 1 ? 1 : (uint32_t)(pt[0].lat_p50_us + 0.5);
}

void tune_model(struct tune_result *r)
{
	r->read_iops = (uint64_t)(best_of(r->rr, r->nrr, 0) + 0.5);
	r->write_iops = (uint64_t)(best_of(r->rw, r->nrw, 0) + 0.5);
	r->read_bw = (uint64_t)(best_of(r->sr, r->nsr, 1) + 0.5);
	r->write_bw = (uint64_t)(best_of(r->sw, r->nsw, 1) + 0.5);
	r->read_knee = tune_knee(r->rr, r->nrr);
	r->write_knee = tune_knee(r->rw, r->nrw);
	/* the depth a device is to be kept at serves both kinds */
	r->knee_depth = r->read_knee > r->write_knee ? r->read_knee
						     : r->write_knee;
	r->read_lat_us = lat_us(r->rr, r->nrr);
	r->write_lat_us = lat_us(r->rw, r->nrw);
}

static void put_points(FILE *f, const char *name,
		       const struct tune_point *pt, int n)
{
	int i;

	for (i = 0; i < n; i++)
		fprintf(f, "# %-9s %4zu KiB depth %4u: %9.0f IOPS %8.1f MB/s"
			   "  latency mean %.0f p50 %.0f p99 %.0f us\n",
			name, pt[i].bs / 1024, pt[i].depth, pt[i].iops,
			pt[i].bw / 1e6, pt[i].lat_mean_us, pt[i].lat_p50_us,
			pt[i].lat_p99_us);
}

static void put_section(FILE *f, const struct tune_result *r,
			const struct tune_origin *o)
{
	char when[64];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "[device %u:%u]\n", major(o->dev), minor(o->dev));
	fprintf(f, "# dmaio-tune %s: %s, a file of %llu MiB, %.0f s, "
		   "load average %.2f%s\n", o->version, o->path,
		(unsigned long long)(o->file_size >> 20), o->seconds,
		o->loadavg, o->direct ? "" : ", BUFFERED (no O_DIRECT)");
	fprintf(f, "mount = %s\nmeasured = %s\n", o->mount, when);
	fprintf(f, "read_iops = %llu\nwrite_iops = %llu\n",
		(unsigned long long)r->read_iops,
		(unsigned long long)r->write_iops);
	fprintf(f, "read_bw = %llu\nwrite_bw = %llu\n",
		(unsigned long long)r->read_bw,
		(unsigned long long)r->write_bw);
	fprintf(f, "knee_depth = %u\n", r->knee_depth);
	fprintf(f, "read_lat_us = %u\nwrite_lat_us = %u\n",
		(unsigned)r->read_lat_us, (unsigned)r->write_lat_us);
	fprintf(f, "read_knee_depth = %u\nwrite_knee_depth = %u\n",
		r->read_knee, r->write_knee);
	put_points(f, "randread", r->rr, r->nrr);
	put_points(f, "randwrite", r->rw, r->nrw);
	put_points(f, "read", r->sr, r->nsr);
	put_points(f, "write", r->sw, r->nsw);
}

/* mkdir -p of path's directory */
static int make_dirs(const char *path)
{
	char dir[4096], *p;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = 0;
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* A whole decimal number of at most bits bits, as the library reads
 * it: 0 or -1. */
static int number(const char *s, int bits, unsigned long long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || *end || (bits == 32 && *v > 0xffffffffULL))
		return -1;
	return 0;
}

/* The bits a key of the library's model takes; 0: not one of them. */
static int key_bits(const char *key)
{
	static const char *const keys[] = {
		"read_iops", "write_iops", "read_bw", "write_bw",
		"knee_depth", "read_lat_us", "write_lat_us",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i]))
			return i < 4 ? 64 : 32;
	return 0;
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r\n");
	end = s + strlen(s);
	while (end > s && strchr(" \t\r\n", end[-1]))
		*--end = 0;
	return s;
}

/*
 * What kind of line this is, by the library's rules: 'h' a header of dev,
 * 'H' another header, 'B' a broken header, 'x' another line the library
 * skips, ' ' anything else.
 */
static char classify(const char *line, dev_t dev)
{
	char buf[1100], *s = buf, *hash = buf, *end, *colon;
	unsigned long long maj, min;

	/* the caller has made sure the line fits */
	snprintf(buf, sizeof(buf), "%s", line);
	while ((hash = strchr(hash, '#')) != NULL) {
		if (hash == buf || strchr(" \t", hash[-1])) {
			*hash = 0;
			break;
		}
		hash++;
	}
	s = trim(s);
	if (!*s)
		return ' ';
	if (*s != '[') {
		end = strchr(s, '=');
		if (!end)
			return 'x';
		*end = 0;
		s = trim(s);
		if (!*s)
			return 'x';
		/* the library's keys take whole numbers that fit them */
		return key_bits(s) &&
		       number(trim(end + 1), key_bits(s), &maj) ? 'x' : ' ';
	}
	end = strchr(s, ']');
	if (!end || *trim(end + 1))
		return 'B';
	*end = 0;
	s = trim(s + 1);
	if (strncmp(s, "device", 6) || !strchr(" \t", s[6]))
		return 'H'; /* another kind of section */
	s = trim(s + 6);
	colon = strchr(s, ':');
	if (!colon)
		return 'B';
	*colon = 0;
	s = trim(s);
	end = trim(colon + 1);
	if (number(s, 32, &maj) || number(end, 32, &min))
		return 'B';
	return makedev((unsigned)maj, (unsigned)min) == dev ? 'h' : 'H';
}

/* Copies in to out without dev's sections; ours goes where the first
 * was, else at the end. *at: the offset in out to insert at. */
static int copy_others(FILE *in, FILE *out, dev_t dev, const char *name,
		       long *at)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned n = 0;
	int skip = 0, last = '\n';
	ssize_t len;

	*at = -1;
	while ((len = getline(&line, &cap, in)) > 0) {
		size_t body = (size_t)len - (line[len - 1] == '\n');
		/* lines the library cannot read whole: too long, a NUL */
		char k = body > 1023 || memchr(line, 0, body) ?
			 'x' : classify(line, dev);

		n++;
		/* a broken header ends our section too, and is kept */
		if ((k == 'x' && !skip) || k == 'B')
			fprintf(stderr, "dmaio-tune: %s:%u: the library skips "
					"this line%s\n", name, n,
				k == 'B' ? " and the keys after it" : "");
		if (k == 'h' || k == 'H' || k == 'B')
			skip = k == 'h';
		if (k == 'h' && *at < 0)
			*at = ftell(out);
		if (!skip) {
			fwrite(line, 1, (size_t)len, out);
			last = line[len - 1];
		}
	}
	free(line);
	if (ferror(in))
		return -EIO;
	/* a last line without its newline stays a line of its own */
	if (last != '\n')
		fputc('\n', out);
	return 0;
}

static int assemble(const char *out, FILE *tmp, const struct tune_result *r,
		    const struct tune_origin *o)
{
	FILE *in = fopen(out, "re"), *rest;
	long at = -1;
	int ret = 0, c;

	if (!in && errno != ENOENT)
		return -errno;
	if (!in) {
		fprintf(tmp, "# Device models for libdmaio: see "
			     "dmaio-io-properties(5).\n\n");
		put_section(tmp, r, o);
		return 0;
	}
	rest = tmpfile();
	if (!rest) {
		fclose(in);
		return -errno;
	}
	ret = copy_others(in, rest, o->dev, out, &at);
	fclose(in);
	if (!ret) {
		long i, end = ftell(rest);

		rewind(rest);
		for (i = 0; i < (at < 0 ? end : at); i++)
			if ((c = getc(rest)) != EOF)
				putc(c, tmp);
		if (at < 0 && end > 0)
			fputc('\n', tmp);
		put_section(tmp, r, o);
		if (at >= 0) {
			fputc('\n', tmp);
			while ((c = getc(rest)) != EOF)
				putc(c, tmp);
		}
	}
	fclose(rest);
	return ret;
}

/*
 * The directory of path, open and locked: two runs (say, one per disk of
 * a host, at once) each read, change and replace the file, and without
 * the lock the second would drop the first one's section. -errno, or fd.
 */
static int lock_dir(const char *path)
{
	char dir[4096], *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX))
		if (errno != EINTR) {
			close(fd);
			return -errno;
		}
	return fd;
}

int tune_write_model(const char *out, const struct tune_result *r,
		     const struct tune_origin *o)
{
	char tmp[4200];
	FILE *f;
	int fd, dfd, ret;

	ret = make_dirs(out);
	dfd = ret ? ret : lock_dir(out);
	if (dfd < 0) {
		fprintf(stderr, "dmaio-tune: %s: its directory: %s\n", out,
			strerror(-dfd));
		return dfd;
	}
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out);
	fd = mkstemp(tmp);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		ret = -errno;
		fprintf(stderr, "dmaio-tune: %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		close(dfd);
		return ret;
	}
	fchmod(fd, 0644);
	ret = assemble(out, f, r, o);
	if (!ret && (fflush(f) || fsync(fd)))
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, out))
		ret = -errno;
	if (ret) {
		fprintf(stderr, "dmaio-tune: writing %s: %s\n", out,
			strerror(-ret));
		unlink(tmp);
	} else {
		fsync(dfd); /* the new name, durable */
	}
	close(dfd); /* and the lock with it */
	return ret;
}
