/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim: the system calls libdmaio probes fail as RHEL 7's 3.10
 * kernel fails them. statx, memfd_create and io_pgetevents do not exist
 * (ENOSYS); io_submit refuses IOCB_CMD_FDSYNC/FSYNC and any aio_rw_flags
 * (EINVAL, for the first such iocb, as the kernel reports it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libaio.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
#ifdef SYS_statx
	if (nr == SYS_statx) {
		errno = ENOSYS;
		return -1;
	}
#endif
#ifdef SYS_memfd_create
	if (nr == SYS_memfd_create) {
		errno = ENOSYS;
		return -1;
	}
#endif
#ifdef SYS_io_pgetevents
	if (nr == SYS_io_pgetevents) {
		errno = ENOSYS;
		return -1;
	}
#endif
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* The kernel ABI's aio_rw_flags: 32 bits at offset 12 of struct iocb. */
static uint32_t rw_flags(const struct iocb *cb)
{
	uint32_t v;

	memcpy(&v, (const char *)cb + 12, sizeof(v));
	return v;
}

int io_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	static int (*real)(io_context_t, long, struct iocb **);
	long i;

	for (i = 0; i < nr; i++) {
		if (iocbs[i]->aio_lio_opcode == IO_CMD_FDSYNC ||
		    iocbs[i]->aio_lio_opcode == IO_CMD_FSYNC ||
		    rw_flags(iocbs[i]))
			break;
	}
	if (i == 0 && nr > 0)
		return -EINVAL;
	if (!real)
		real = (int (*)(io_context_t, long, struct iocb **))dlsym(
			RTLD_NEXT, "io_submit");
	return real(ctx, i, iocbs);
}
