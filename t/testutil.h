/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers: TAP output with test names and skips (Check gives
 * neither on every version we support), scratch directories, data
 * patterns, loop-mounted file-system images.
 */
#ifndef DMAIO_TESTUTIL_H
#define DMAIO_TESTUTIL_H

#include "config.h"

#include <check.h>
#include "tu_assert.h" /* the same assertions on Check 0.9.9 and later */
#include <stddef.h>
#include <stdint.h>

#include "dmaio.h"

/* Feature masks the file tests run under: every fallback is exercised. */
/*
 * The kernel-feature profiles: every feature, each one of features.def
 * marked for a profile turned off ("no <name>"), and every fallback.
 */
enum {
	TU_NFEATURE_PROFILES = 0
#define DMAIO_FEATURE(bit, word, name, profile, desc, probe) + (profile)
#include "features.def"
};
#define TU_NPROFILES (2 + TU_NFEATURE_PROFILES)
extern const uint64_t tu_profile_disable[TU_NPROFILES];
extern const char *const tu_profile_name[TU_NPROFILES];

/* Creates a test case with a generous timeout (tests do real I/O). */
TCase *tu_tcase(Suite *s, const char *name);
void tu_name(const char *name, int start, int end, const char *const *labels);
#define TU_ADD(tc, fn)                              \
	do {                                        \
		tcase_add_test(tc, fn);             \
		tu_name(#fn, 0, 1, NULL);           \
	} while (0)
/* One run per kernel-feature profile; _i indexes tu_profile_disable. */
#define TU_ADD_PROFILES(tc, fn)                                  \
	do {                                                     \
		tcase_add_loop_test(tc, fn, 0, TU_NPROFILES);    \
		tu_name(#fn, 0, TU_NPROFILES, tu_profile_name);  \
	} while (0)
/* Reports a test that could not run here, with the reason. */
void tu_skip(const char *name, const char *reason);
/*
 * In a thread of a test (where Check's assertions would not reach the
 * runner): notes w's first failure in w->failed and w->why (a char
 * array), for the test's thread to assert once it has joined w.
 */
#define WCHECK(w, cond, ...)                                            \
	do {                                                            \
		if (!(cond) && !(w)->failed) {                          \
			(w)->failed = 1;                                \
			snprintf((w)->why, sizeof((w)->why), __VA_ARGS__); \
		}                                                       \
	} while (0)
/* Runs the suite and prints TAP; returns the exit status for main. */
int tu_run(Suite *s);

/* A scratch directory in the current directory, made and removed by the
 * checked fixtures below; tu_path() names a file inside it. */
extern char tu_dir[];
void tu_dir_setup(void);
void tu_dir_teardown(void);
const char *tu_path(const char *name);
int tu_rm_rf(const char *dir);

/* A loop with the given features disabled; fails the test on error. */
struct dmaio_loop *tu_loop(uint64_t disable, unsigned depth);
/* loop's dmaio_loop_stats (asserting the call succeeds). */
struct dmaio_loop_stats tu_loop_stats(struct dmaio_loop *loop);
/* CLOCK_MONOTONIC in seconds, for the tests' time bounds. */
double tu_now_s(void);

/* The byte at file offset off in test data with seed. */
static inline unsigned char tu_pattern(uint64_t off, unsigned seed)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL + seed;

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 8));
}
void tu_fill(void *buf, size_t len, uint64_t off, unsigned seed);
/* Checks that len bytes at buf are the pattern from off; returns the
 * first bad index, or -1. */
long tu_check(const void *buf, size_t len, uint64_t off, unsigned seed);
/* Returns the index of the first non-zero byte of buf, or -1. (Check
 * records every assertion: assert once, not per byte.) */
long tu_first_nonzero(const void *buf, size_t len);
/* Writes size bytes of pattern to path with plain write(2). */
void tu_make_file(const char *path, size_t size, unsigned seed);
/* Fails the test unless [from, to) of path, read with pread(2), is the
 * pattern of seed. */
void tu_check_file(const char *path, long long from, long long to,
		   unsigned seed);
/* dmaio_file_create_wait of path; fails the test on error. */
struct dmaio_file *tu_create(struct dmaio_loop *loop, const char *path);
/* len bytes of pattern at pos through write_at_wait; fails the test on a
 * short or failed write. */
void tu_write_pattern(struct dmaio_file *f, uint64_t pos, size_t len,
		      unsigned seed);
/*
 * Labels for a test run twice over the kernel-feature profiles, the
 * second time with something more turned off (what, e.g. "no O_TMPFILE"):
 * labels[TU_NPROFILES..] say so. TU_ADD_PROFILES_TWICE adds such a test.
 */
void tu_twice_labels(const char **labels, const char *what);
#define TU_ADD_PROFILES_TWICE(tc, fn, labels)                          \
	do {                                                           \
		tcase_add_loop_test(tc, fn, 0, 2 * TU_NPROFILES);      \
		tu_name(#fn, 0, 2 * TU_NPROFILES, labels);             \
	} while (0)

/*
 * Runs this test program again, in a new process (whatever a process
 * keeps, such as the kernel features libdmaio learnt, starts afresh), as
 * "PROG --child NAME tu_dir" under t/kmodel-run --kernel=KERNEL (""
 * for none); main() hands such a call to tu_child(). Its output goes to
 * out; returns its exit status (128 + signal when killed).
 */
int tu_run_child(const char *kernel, const char *name, char *out,
		 size_t len);
/* In main(): NAME if this process is such a child (the directory in
 * tu_dir), else NULL. */
const char *tu_child(int argc, char **argv);

/* Loop-mounts a fresh image of fstype at dir; 0, or -1 with *why set. */
int tu_mount_image(const char *fstype, unsigned mb, char *dir, size_t dirlen,
		   const char **why);
void tu_umount_image(const char *dir);

#endif
