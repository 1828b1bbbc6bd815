/* SPDX-License-Identifier: MIT */
/*
 * The kernel and C library as this library needs them, whatever the
 * headers it was built with: system calls by number (RHEL 7's headers
 * lack statx and memfd_create), the monotonic clock, the page size, the
 * one reader of small /proc and /sys files, and whether valgrind runs us.
 * Layer 0: calls nothing of the library.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/*
 * Old headers (RHEL 7's) lack these syscall numbers; a binary built with
 * them still meets newer kernels, so the numbers are ours.
 */
#if !HAVE_DECL_SYS_STATX
#if defined(__x86_64__)
#define SYS_statx 332
#elif defined(__aarch64__)
#define SYS_statx 291
#elif defined(__powerpc64__)
#define SYS_statx 383
#elif defined(__s390x__)
#define SYS_statx 379
#endif
#endif
#if !HAVE_DECL_SYS_MEMFD_CREATE
#if defined(__x86_64__)
#define SYS_memfd_create 319
#elif defined(__aarch64__)
#define SYS_memfd_create 279
#elif defined(__powerpc64__)
#define SYS_memfd_create 360
#elif defined(__s390x__)
#define SYS_memfd_create 350
#endif
#endif

int dmaio__running_on_valgrind(void)
{
	const char *p;

#ifdef RUNNING_ON_VALGRIND
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	/* built without valgrind.h: its preload library gives it away */
	p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload") != NULL;
}

long dmaio__statx(int dirfd, const char *path, int flags, unsigned mask,
		  void *statxbuf)
{
#ifdef SYS_statx
	long r = syscall(SYS_statx, dirfd, path, flags, mask, statxbuf);

	return r < 0 ? -errno : r;
#else
	(void)dirfd; (void)path; (void)flags; (void)mask; (void)statxbuf;
	return -ENOSYS;
#endif
}

int dmaio__memfd_create(const char *name)
{
#ifdef SYS_memfd_create
	int fd = (int)syscall(SYS_memfd_create, name, 0);

	return fd < 0 ? -errno : fd;
#else
	(void)name;
	return -ENOSYS;
#endif
}

uint64_t dmaio__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t dmaio__page_size(void)
{
	static size_t page;
	size_t v = __atomic_load_n(&page, __ATOMIC_RELAXED);

	if (!v) {
		long r = sysconf(_SC_PAGESIZE);

		v = r > 0 ? (size_t)r : DMAIO_PAGE_GUESS;
		__atomic_store_n(&page, v, __ATOMIC_RELAXED);
	}
	return v;
}

ssize_t dmaio__read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	if (!size)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

int dmaio__read_number(const char *path, unsigned long long *v)
{
	char buf[64], *end;
	ssize_t n = dmaio__read_small(path, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (end == buf || errno || buf[strspn(buf, " \t\n")] == '-')
		return -EINVAL;
	return 0;
}

#ifndef SYS_copy_file_range
#if defined(__x86_64__)
#define SYS_copy_file_range 326
#elif defined(__aarch64__)
#define SYS_copy_file_range 285
#endif
#endif

/* copy_file_range(2) by number (glibc has it from 2.27): bytes, or -errno
 * (-ENOSYS where we know no number, as before 4.5). */
long dmaio__copy_file_range(int in, int64_t *in_off, int out,
			    int64_t *out_off, size_t len)
{
#ifdef SYS_copy_file_range
	long r = syscall(SYS_copy_file_range, in, in_off, out, out_off, len,
			 0u);

	return r < 0 ? -errno : r;
#else
	(void)in; (void)in_off; (void)out; (void)out_off; (void)len;
	return -ENOSYS;
#endif
}
