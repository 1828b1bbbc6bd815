/* SPDX-License-Identifier: MIT */
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

static int refuse_o_direct;

/* The library sets O_DIRECT with fcntl(F_SETFL): refused on the
 * buffered run, as a file system without O_DIRECT refuses it. */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (refuse_o_direct && cmd == F_SETFL && (arg & O_DIRECT)) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

const char *const *run_names(void)
{
	static const char *names[NRUNS];
	int i;

	for (i = 0; i < TU_NPROFILES; i++)
		names[i] = tu_profile_name[i];
	names[BUFFERED_RUN] = "buffered fallback";
	return names;
}

struct dmaio_loop *run_loop(int run)
{
	refuse_o_direct = run == BUFFERED_RUN;
	return tu_loop(run == BUFFERED_RUN ? 0 : tu_profile_disable[run], 0);
}
