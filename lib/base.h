/* SPDX-License-Identifier: MIT */
/*
 * Layer 0, the base every file of lib/ may use: error reporting
 * (error.c), the kernel and C library shims (compat.c), fork detection
 * (fork.c), options structs and the library's few fixed sizes.
 */
#ifndef DMAIO_BASE_H
#define DMAIO_BASE_H

#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "dmaio.h"

#define DMAIO_EXPORT __attribute__((visibility("default")))

/* Smallest alignment we ever use: the classic sector. */
#define DMAIO_MIN_ALIGN 512
/* When the device does not say: the common max_sectors_kb. */
#define DMAIO_DEFAULT_MAX_IO (512 * 1024)
/* The page size when sysconf cannot tell (see dmaio__page_size). */
#define DMAIO_PAGE_GUESS 4096

/*
 * Options structs begin with the caller's sizeof: read only the fields the
 * caller knows of into dst (already filled with defaults). 0 or -EINVAL.
 */
static inline int dmaio__opts_read(void *dst, size_t dst_size,
				   const void *src)
{
	size_t n;

	if (!src)
		return 0;
	memcpy(&n, src, sizeof(n));
	if (n < sizeof(size_t))
		return -EINVAL;
	memcpy(dst, src, n < dst_size ? n : dst_size);
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

/* Alignment arithmetic; a is a power of two. */
static inline uint64_t dmaio__align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static inline uint64_t dmaio__align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* A "0 means the default" option field: v, or def when v is 0. */
#define DMAIO__OR_DEFAULT(v, def) ((v) ? (v) : (def))

/* error.c */
void dmaio__set_last_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/*
 * For calls that fail at once: says which argument broke which rule in
 * dmaio_last_error() ("write_at: size 100 is not a multiple of ...") and
 * returns err, so that "return dmaio__fail(-EINVAL, ...)" reads as one.
 */
int dmaio__fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* compat.c */
#include <fcntl.h>
/* glibc has it from 2.19; the kernel from 3.11 (features.c probes it) */
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
int dmaio__running_on_valgrind(void);
/* statx(2) and memfd_create(2) by number: the result, or -errno. */
long dmaio__statx(int dirfd, const char *path, int flags, unsigned mask,
		  void *statxbuf);
int dmaio__memfd_create(const char *name);
long dmaio__copy_file_range(int in, int64_t *in_off, int out,
			    int64_t *out_off, size_t len);
/* CLOCK_MONOTONIC in ns. */
uint64_t dmaio__now_ns(void);
/* The system's page size, asked once. */
size_t dmaio__page_size(void);
/* Reads a small /proc or /sys file into buf, NUL-terminated: its length,
 * or -errno. */
ssize_t dmaio__read_small(const char *path, char *buf, size_t size);
/* The same, for a file that holds one unsigned number: 0 or -errno. */
int dmaio__read_number(const char *path, unsigned long long *v);

/* fork.c: a loop belongs to the process that made it */
struct dmaio_loop;
extern unsigned dmaio__fork_gen; /* bumped in every child of fork() */
/* Registers the fork handler (once); *gen: the generation now. */
int dmaio__fork_setup(unsigned *gen);
/* Says why fn cannot run in a forked child; returns -EBADFD. */
int dmaio__fork_refuse(const struct dmaio_loop *loop, const char *fn);
/* True in a child of fork() for a loop (or pool) of an ancestor. */
#define DMAIO__INHERITED(x) \
	__builtin_expect((x)->fork_gen != dmaio__fork_gen, 0)
/*
 * The first line of every call that reaches the kernel, the helpers or
 * buffer memory: on a loop inherited through fork(), return fail at once.
 * loop may be NULL (the call's own checks then answer).
 */
#define DMAIO__NOT_INHERITED(loop, fail)                             \
	do {                                                         \
		const struct dmaio_loop *l_ = (loop);                \
		if (l_ && DMAIO__INHERITED(l_)) {                    \
			dmaio__fork_refuse(l_, __func__);            \
			return fail;                                 \
		}                                                    \
	} while (0)

#endif /* DMAIO_BASE_H */
