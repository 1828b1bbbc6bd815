/* SPDX-License-Identifier: MIT */
/*
 * Internals: the device models of dmaio-io-properties(5) (lib/io_props.c,
 * built into this program). Good, malformed and partial files through the
 * parser; the cached lookup (DMAIO_IO_PROPERTIES, read once per process,
 * from many threads) in fresh child processes, since a process keeps what
 * it read.
 */
#include "testutil.h"
#include "io_props.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *write_props(const char *name, const char *text)
{
	const char *path = tu_path(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static const char *write_bytes(const char *name, const char *data,
			       size_t len)
{
	const char *path = tu_path(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* dev's model in text; *bad: its first malformed line */
static int read_text(const char *text, dev_t dev, struct dmaio__io_props *p,
		     unsigned *bad)
{
	memset(p, 0xa5, sizeof(*p)); /* what the parser leaves shows */
	return dmaio__io_props_read_file(write_props("props", text), dev, p,
					 bad);
}

static const char good[] =
	"# written by hand\n"
	"\n"
	"[device 253:0]\n"
	"mount = /data   # the disk of the database\n"
	"read_iops = 52000\n"
	"write_iops=48000\n"
	"  read_bw =\t1200000000\n"
	"write_bw = 900000000\n"
	"knee_depth = 32\n"
	"read_lat_us = 95\n"
	"write_lat_us = 30\r\n"
	"cache = writeback\n" /* a key of a later version */
	"[device 8:17]\n"
	"read_iops = 180\n"
	"write_iops = 150\n"
	"read_bw = 160000000\n"
	"write_bw = 150000000\n"
	"knee_depth = 1\n"
	"read_lat_us = 8000\n"
	"write_lat_us = 9000";	/* no newline at the end */

START_TEST(good_file)
{
	struct dmaio__io_props p;
	unsigned bad = 99;

	ck_assert_int_eq(read_text(good, makedev(253, 0), &p, &bad), 0);
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_eq(p.read_iops, 52000);
	ck_assert_uint_eq(p.write_iops, 48000);
	ck_assert_uint_eq(p.read_bw, 1200000000);
	ck_assert_uint_eq(p.write_bw, 900000000);
	ck_assert_uint_eq(p.knee_depth, 32);
	ck_assert_uint_eq(p.read_lat_us, 95);
	ck_assert_uint_eq(p.write_lat_us, 30);
	ck_assert_int_eq(read_text(good, makedev(8, 17), &p, &bad), 0);
	ck_assert_uint_eq(p.read_iops, 180);
	ck_assert_uint_eq(p.knee_depth, 1);
	ck_assert_uint_eq(p.write_lat_us, 9000);
	/* the disk under the partition is another device */
	ck_assert_int_eq(read_text(good, makedev(8, 16), &p, &bad), -ENOENT);
	ck_assert_int_eq(read_text(good, makedev(0, 253), &p, &bad), -ENOENT);
	ck_assert_int_eq(bad, 0);
}
END_TEST

/* Big numbers of both encodings of dev_t, and the widest fields. */
START_TEST(big_numbers)
{
	struct dmaio__io_props p;
	unsigned bad;

	ck_assert_int_eq(read_text("[device 259:1048575]\n"
				   "read_bw = 18446744073709551615\n"
				   "read_lat_us = 4294967295\n",
				   makedev(259, 1048575), &p, &bad), 0);
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_eq(p.read_bw, UINT64_MAX);
	ck_assert_uint_eq(p.read_lat_us, UINT32_MAX);
}
END_TEST

static const char broken[] =
	"[device 8:0]\n"		/* 1 */
	"read_iops = 1000\n"		/* 2 */
	"this is not a key\n"		/* 3: malformed */
	"write_iops = 12x\n"		/* 4: malformed, ignored */
	"read_bw = -5\n"		/* 5 */
	"write_bw = 99999999999999999999999\n" /* 6: too big */
	"read_lat_us = 4294967296\n"	/* 7: over 32 bits */
	"knee_depth =\n"		/* 8 */
	"= 5\n"				/* 9 */
	"[device 8]\n"			/* 10: no minor */
	"read_iops = 7\n"		/* 11: not 8:0's */
	"[device a:b]\n"		/* 12 */
	"write_iops = 7\n"		/* 13: nobody's */
	"[device 8:0\n"			/* 14: no ']' */
	"knee_depth = 7\n"		/* 15: nobody's */
	"[device 8:0] x\n"		/* 16 */
	"knee_depth = 7\n";		/* 17 */

START_TEST(malformed_lines_are_skipped)
{
	struct dmaio__io_props p;
	unsigned bad;

	ck_assert_int_eq(read_text(broken, makedev(8, 0), &p, &bad), 0);
	ck_assert_int_eq(bad, 3);
	ck_assert_uint_eq(p.read_iops, 1000);
	/* every other field stayed unknown: nothing leaked across headers */
	ck_assert_uint_eq(p.write_iops, 0);
	ck_assert_uint_eq(p.read_bw, 0);
	ck_assert_uint_eq(p.write_bw, 0);
	ck_assert_uint_eq(p.knee_depth, 0);
	ck_assert_uint_eq(p.read_lat_us, 0);
	ck_assert_uint_eq(p.write_lat_us, 0);
	/* the good sections after it still serve */
	ck_assert_int_eq(read_text("read_iops = 3\nx\n[device 1:2]\n"
				   "read_iops = 5\n", makedev(1, 2), &p, &bad),
			 0);
	ck_assert_uint_eq(p.read_iops, 5);
	ck_assert_int_eq(bad, 2);
}
END_TEST

/* A NUL byte spoils its line only: the next one is read. */
START_TEST(nul_byte)
{
	static const char text[] = "[device 9:9]\nread_iops\0 = 3\n"
				   "write_iops = 4\n";
	const char *path = write_bytes("nul", text, sizeof(text) - 1);
	struct dmaio__io_props p;
	unsigned bad;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(dmaio__io_props_read_file(path, makedev(9, 9), &p,
						   &bad), 0);
	ck_assert_int_eq(bad, 2);
	ck_assert_uint_eq(p.read_iops, 0);
	ck_assert_uint_eq(p.write_iops, 4);
}
END_TEST

/* 1023 bytes are a line; 1024 are too many. */
START_TEST(longest_line)
{
	struct dmaio__io_props p;
	char text[2200];
	unsigned bad;
	int k;

	k = sprintf(text, "[device 9:9]\nread_iops = %01011d\n", 7);
	ck_assert_int_eq(k, 13 + 1023 + 1);
	ck_assert_int_eq(read_text(text, makedev(9, 9), &p, &bad), 0);
	ck_assert_uint_eq(p.read_iops, 7);
	ck_assert_int_eq(bad, 0);
	sprintf(text, "[device 9:9]\nread_iops = %01012d\nwrite_iops = 1\n",
		7);
	ck_assert_int_eq(read_text(text, makedev(9, 9), &p, &bad), 0);
	ck_assert_uint_eq(p.read_iops, 0);
	ck_assert_uint_eq(p.write_iops, 1);
	ck_assert_int_eq(bad, 2);
}
END_TEST

/* A line longer than the parser takes is malformed to its very end. */
START_TEST(overlong_line)
{
	struct dmaio__io_props p;
	size_t n = 5000, k;
	char *text = malloc(n + 200);
	unsigned bad;

	ck_assert_ptr_nonnull(text);
	k = (size_t)sprintf(text, "[device 9:9]\nmount = /");
	memset(text + k, 'a', n);
	k += n;
	/* a key at the end of the long line must not be read */
	k += (size_t)sprintf(text + k, " read_iops = 9\nwrite_iops = 4\n");
	text[k] = 0;
	ck_assert_int_eq(read_text(text, makedev(9, 9), &p, &bad), 0);
	ck_assert_int_eq(bad, 2);
	ck_assert_uint_eq(p.read_iops, 0);
	ck_assert_uint_eq(p.write_iops, 4);
	free(text);
}
END_TEST

START_TEST(partial_files)
{
	struct dmaio__io_props p;
	unsigned bad;

	/* one field: the others are 0, not known */
	ck_assert_int_eq(read_text("[device 8:0]\nwrite_bw = 5\n",
				   makedev(8, 0), &p, &bad), 0);
	ck_assert_uint_eq(p.write_bw, 5);
	ck_assert_uint_eq(p.read_iops, 0);
	ck_assert_uint_eq(p.knee_depth, 0);
	ck_assert_uint_eq(p.write_lat_us, 0);
	/* a section with nothing we know is no model */
	ck_assert_int_eq(read_text("[device 8:0]\nmount = /\nfuture = 3\n",
				   makedev(8, 0), &p, &bad), -ENOENT);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(read_text("[device 8:0]\n", makedev(8, 0), &p, &bad),
			 -ENOENT);
	/* 0 is no figure */
	ck_assert_int_eq(read_text("[device 8:0]\nread_iops = 0\n"
				   "knee_depth = 00\n", makedev(8, 0), &p,
				   &bad), -ENOENT);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(read_text("", makedev(8, 0), &p, &bad), -ENOENT);
	ck_assert_int_eq(bad, 0);
	/* a file cut short in the middle of a line */
	ck_assert_int_eq(read_text("[device 8:0]\nread_iops = 10\nwrite_i",
				   makedev(8, 0), &p, &bad), 0);
	ck_assert_uint_eq(p.read_iops, 10);
	ck_assert_int_eq(bad, 3);
	ck_assert_int_eq(read_text("[device 8:0]\nread_iops = 10\n[dev",
				   makedev(8, 0), &p, &bad), 0);
	ck_assert_int_eq(bad, 3);
	/* the section added last wins, whole: no field of the first */
	ck_assert_int_eq(read_text("[device 8:0]\nread_iops = 1\n"
				   "knee_depth = 4\n[device 8:0]\n"
				   "read_iops = 2\n",
				   makedev(8, 0), &p, &bad), 0);
	ck_assert_uint_eq(p.read_iops, 2);
	ck_assert_uint_eq(p.knee_depth, 0);
	/* unknown kinds of section are skipped with their keys */
	ck_assert_int_eq(read_text("[device 8:0]\nread_iops = 1\n"
				   "[class query]\nread_iops = 2\n",
				   makedev(8, 0), &p, &bad), 0);
	ck_assert_uint_eq(p.read_iops, 1);
	ck_assert_int_eq(bad, 0);
}
END_TEST

/* No file is no model; what is not a regular file is never read. */
START_TEST(missing_and_odd_files)
{
	struct dmaio__io_props p;
	unsigned bad = 7;

	ck_assert_int_eq(dmaio__io_props_read_file(tu_path("nope"),
						   makedev(8, 0), &p, &bad),
			 -ENOENT);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(dmaio__io_props_read_file(tu_dir, makedev(8, 0), &p,
						   NULL), -EINVAL);
	/* one endless line, were it read */
	ck_assert_int_eq(dmaio__io_props_read_file("/dev/zero", makedev(8, 0),
						   &p, NULL), -EINVAL);
	/* the wrong file, surely: a model for each of 16 MiB of sections */
	ck_assert_int_eq(truncate(write_props("big", "[device 8:0]\n"
						     "read_iops = 1\n"),
				  (16 << 20) + 1), 0);
	ck_assert_int_eq(dmaio__io_props_read_file(tu_path("big"),
						   makedev(8, 0), &p, NULL),
			 -EFBIG);
	ck_assert_int_eq(truncate(tu_path("big"), 16 << 20), 0);
	ck_assert_int_eq(dmaio__io_props_read_file(tu_path("big"),
						   makedev(8, 0), &p, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the lookup, in fresh processes                                      */

#define EXPECT(cond, ...)                                      \
	do {                                                   \
		if (!(cond)) {                                 \
			printf(__VA_ARGS__);                   \
			printf(" (line %d)\n", __LINE__);      \
			return 1;                              \
		}                                              \
	} while (0)

#define NTHREADS 8

static dev_t lookup_dev;

static void *lookup_thread(void *arg)
{
	struct dmaio__io_props *p = arg;
	intptr_t r;

	r = dmaio__io_props_lookup(lookup_dev, p);
	return (void *)r;
}

/* Threads racing to the first lookup all see the file's model; a change
 * to the file later is not seen (read once). */
static int child_lookup(void)
{
	struct dmaio__io_props p[NTHREADS], q;
	const char *path = getenv("DMAIO_IO_PROPERTIES");
	pthread_t th[NTHREADS];
	struct stat st;
	FILE *f;
	int i;

	EXPECT(stat(tu_dir, &st) == 0, "stat %s", tu_dir);
	lookup_dev = st.st_dev;
	for (i = 0; i < NTHREADS; i++)
		EXPECT(!pthread_create(&th[i], NULL, lookup_thread, &p[i]),
		       "pthread_create");
	for (i = 0; i < NTHREADS; i++) {
		void *r;

		EXPECT(!pthread_join(th[i], &r), "pthread_join");
		EXPECT(r == NULL, "thread %d: %ld", i, (long)(intptr_t)r);
		EXPECT(p[i].read_iops == 4321 && p[i].knee_depth == 8,
		       "thread %d: read_iops %llu knee %u", i,
		       (unsigned long long)p[i].read_iops, p[i].knee_depth);
	}
	EXPECT(dmaio__io_props_lookup(makedev(4095, 77), &q) == 0 &&
	       q.read_iops == 5, "another device's model");
	EXPECT(dmaio__io_props_lookup(makedev(4095, 78), &q) == -ENOENT,
	       "a device with no section has a model");
	f = fopen(path, "w");
	EXPECT(f != NULL, "rewrite %s", path);
	fprintf(f, "[device %u:%u]\nread_iops = 1\n", major(st.st_dev),
		minor(st.st_dev));
	fclose(f);
	EXPECT(dmaio__io_props_lookup(st.st_dev, &q) == 0 &&
	       q.read_iops == 4321, "read twice: %llu",
	       (unsigned long long)q.read_iops);
	printf("lookup: %d threads saw the model\n", NTHREADS);
	return 0;
}

/* Expects no model for the scratch directory's device. */
static int child_none(void)
{
	struct dmaio__io_props p;
	struct stat st;

	EXPECT(stat(tu_dir, &st) == 0, "stat %s", tu_dir);
	EXPECT(dmaio__io_props_lookup(st.st_dev, &p) == -ENOENT,
	       "a model was found");
	printf("lookup: no model\n");
	return 0;
}

static void run_child(const char *name, const char *env)
{
	char out[2048];
	int st;

	ck_assert_int_eq(setenv("DMAIO_IO_PROPERTIES", env, 1), 0);
	st = tu_run_child("", name, out, sizeof(out));
	unsetenv("DMAIO_IO_PROPERTIES");
	ck_assert_msg(st == 0, "child %s: exit %d: %s", name, st, out);
	ck_assert_msg(strstr(out, "lookup: ") != NULL, "child: %s", out);
}

START_TEST(lookup_env_override)
{
	char text[256];
	struct stat st;

	ck_assert_int_eq(stat(tu_dir, &st), 0);
	snprintf(text, sizeof(text),
		 "[device 4095:77]\nread_iops = 5\n"
		 "[device %u:%u]\nread_iops = 4321\nknee_depth = 8\n",
		 major(st.st_dev), minor(st.st_dev));
	run_child("lookup", write_props("props", text));
	/* the variable overrides /etc even when it names nothing */
	run_child("none", tu_path("nope"));
	run_child("none", "");
	/* a file of other devices only */
	run_child("none", write_props("other", "[device 4095:77]\n"
					       "read_iops = 5\n"));
}
END_TEST

int main(int argc, char **argv)
{
	const char *child = tu_child(argc, argv);
	Suite *s;
	TCase *tc;

	if (child && !strcmp(child, "lookup"))
		return child_lookup();
	if (child && !strcmp(child, "none"))
		return child_none();
	s = suite_create("io_props");
	tc = tu_tcase(s, "io_props");
	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD(tc, good_file);
	TU_ADD(tc, big_numbers);
	TU_ADD(tc, malformed_lines_are_skipped);
	TU_ADD(tc, nul_byte);
	TU_ADD(tc, longest_line);
	TU_ADD(tc, overlong_line);
	TU_ADD(tc, partial_files);
	TU_ADD(tc, missing_and_odd_files);
	TU_ADD(tc, lookup_env_override);
	return tu_run(s);
}
