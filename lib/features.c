/* SPDX-License-Identifier: MIT */
/*
 * Run-time probes of what the kernel gives us, in one file, so the story
 * of what an old kernel lacks reads in one place:
 *
 *  - DMAIO_FEAT_USER_REAP: the mmapped completion ring (all kernels with
 *    magic 0xa10a10a1 and no incompatible features; not under valgrind).
 *    Fallback: io_getevents.
 *  - DMAIO_FEAT_AIO_FDSYNC: IOCB_CMD_FDSYNC, 4.18+. Older kernels refuse
 *    it at io_submit with EINVAL. Fallback: fdatasync on a helper thread.
 *  - DMAIO_FEAT_STATX_DIOALIGN: statx (4.11+, glibc wrapper only from
 *    2.28, so through syscall()); STATX_DIOALIGN answers from 6.1 on, where
 *    the file system knows. Fallback: XFS_IOC_DIOINFO, the block device's
 *    logical block size, 512.
 *  - DMAIO_FEAT_HUGE_BUFFERS: transparent huge pages (2.6.38+, RHEL 7
 *    has them) not set to "never". Fallback: buffers on 4 KiB pages.
 */
#include "internal.h"

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

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
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

static int probe_statx(void)
{
	unsigned char buf[256];

	return dmaio__statx(AT_FDCWD, "/", 0, 0, buf) == 0;
}

/*
 * Submit one IOCB_CMD_FDSYNC on a memfd. Kernels before 4.18 refuse the
 * opcode at io_submit with EINVAL; memfd itself is 3.17+, so a kernel
 * without memfd has no AIO fdsync either.
 */
static int probe_aio_fdsync(struct dmaio_loop *loop)
{
#ifdef SYS_memfd_create
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	struct timespec ts = { 5, 0 };
	int fd, ok = 0;

	fd = (int)syscall(SYS_memfd_create, "dmaio-probe", 0);
	if (fd < 0)
		return 0;
	io_prep_fdsync(&cb, fd);
	if (io_submit(loop->ctx, 1, cbs) == 1) {
		if (io_getevents(loop->ctx, 1, 1, &ev, &ts) == 1)
			ok = (long)ev.res == 0;
	}
	close(fd);
	return ok;
#else
	(void)loop;
	return 0;
#endif
}

/*
 * DMAIO_DISABLE=user_reap,aio_fdsync,statx_dioalign (or "all"): what
 * opts.disable does, for an operator who cannot rebuild the program, say
 * on a kernel whose user-space reaping is known to be broken.
 */
static uint64_t env_disable(void)
{
	static const struct {
		const char *name;
		uint64_t bit;
	} names[] = {
		{ "user_reap", DMAIO_FEAT_USER_REAP },
		{ "aio_fdsync", DMAIO_FEAT_AIO_FDSYNC },
		{ "statx_dioalign", DMAIO_FEAT_STATX_DIOALIGN },
		{ "huge_buffers", DMAIO_FEAT_HUGE_BUFFERS },
		{ "all", DMAIO_FEAT_ALL },
	};
	const char *p = getenv("DMAIO_DISABLE");
	uint64_t bits = 0;
	size_t i;

	while (p && *p) {
		size_t n = strcspn(p, ", ");

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    !strncmp(p, names[i].name, n))
				bits |= names[i].bit;
		p += n;
		p += strspn(p, ", ");
	}
	return bits;
}

/*
 * 3.10-era kernels could leak request slots when completions were reaped
 * from user space ("aio: fix reqs_available handling"), until io_submit
 * said EAGAIN forever. Push more requests than the ring holds through the
 * user-space path: if submissions stall although everything was reaped,
 * this kernel has the bug. /dev/zero reads complete inside io_submit.
 */
static int user_reap_self_test(struct dmaio_loop *loop)
{
	unsigned total, done = 0, stalls = 0;
	struct iocb cb, *cbs[1] = { &cb };
	char byte;
	int fd, ok = 1;

	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* cannot tell: trust the ring */
	total = 2 * dmaio__ring_size(loop) + 8;
	while (done < total) {
		int r;

		io_prep_pread(&cb, fd, &byte, 1, 0);
		r = io_submit(loop->ctx, 1, cbs);
		if (r == 1) {
			done++;
			stalls = 0;
		} else if (r != -EAGAIN || ++stalls > 3) {
			ok = r != -EAGAIN; /* EINVAL etc.: no verdict */
			break;
		}
		/* reaped from user space, as the loop will */
		dmaio__ring_drop(loop);
	}
	close(fd);
	return ok;
}

/*
 * Transparent huge pages: "always" or "madvise" in sysfs (a kernel built
 * without THP has no file). "never" would leave the slabs on small pages:
 * all their cost (memory rounded to 2 MiB) and none of the gain.
 */
static int probe_thp(void)
{
	char buf[128];
	ssize_t n;
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled",
		      O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, "[never]") == NULL;
}

uint64_t dmaio__probe_features(struct dmaio_loop *loop, uint64_t disable)
{
	uint64_t f = 0;

	disable |= env_disable();
	if (!(disable & DMAIO_FEAT_USER_REAP) && !dmaio__running_on_valgrind() &&
	    dmaio__ring_attach(loop) == 0 && user_reap_self_test(loop))
		f |= DMAIO_FEAT_USER_REAP;
	if (!(disable & DMAIO_FEAT_AIO_FDSYNC) && probe_aio_fdsync(loop))
		f |= DMAIO_FEAT_AIO_FDSYNC;
	if (!(disable & DMAIO_FEAT_STATX_DIOALIGN) && probe_statx())
		f |= DMAIO_FEAT_STATX_DIOALIGN;
	if (!(disable & DMAIO_FEAT_HUGE_BUFFERS) && probe_thp())
		f |= DMAIO_FEAT_HUGE_BUFFERS;
	return f;
}
