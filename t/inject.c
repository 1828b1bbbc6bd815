/* SPDX-License-Identifier: MIT */
#include "inject.h"

#include <dlfcn.h>
#include <errno.h>
#include <libaio.h>
#include <unistd.h>

long inj_submit_calls, inj_submit_iocbs, inj_submit_reads;
int inj_fail_next, inj_hold_write0, inj_holding, inj_short_next;
int inj_track_fd = -1, inj_track_fd2 = -1;
long inj_track_inflight, inj_track_max;
long long inj_track_pos[INJ_TRACK_LOG];
int inj_track_npos;
static struct iocb *held;
static io_context_t held_ctx;

/* The next io_submit: a kernel model's (t/kmodel_aio.c), or libaio's. */
static int real_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	static int (*next)(io_context_t, long, struct iocb **);

	if (!next)
		next = (int (*)(io_context_t, long, struct iocb **))dlsym(
			RTLD_NEXT, "io_submit");
	return next(ctx, nr, iocbs);
}

void inj_reset(void)
{
	inj_submit_calls = inj_submit_iocbs = inj_submit_reads = 0;
	inj_fail_next = inj_hold_write0 = inj_short_next = 0;
	inj_track_fd = inj_track_fd2 = -1;
	inj_track_inflight = inj_track_max = 0;
	inj_track_npos = 0;
}

void inj_release(void)
{
	if (held && real_submit(held_ctx, 1, &held) != 1)
		errno = EIO; /* the test sees the write never completes */
	held = NULL;
	inj_holding = 0;
}

int io_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	long i;
	int r, extra = 0;

	inj_submit_calls++;
	if (inj_fail_next) {
		r = inj_fail_next;
		inj_fail_next = 0;
		return r;
	}
	if (inj_hold_write0 && !held && nr > 0 &&
	    iocbs[0]->aio_lio_opcode == IO_CMD_PWRITE &&
	    iocbs[0]->u.c.offset == 0) {
		held = iocbs[0];
		held_ctx = ctx;
		inj_holding = 1;
		inj_hold_write0 = 0;
		iocbs++;
		nr--;
		extra = 1;
		if (!nr)
			return 1;
	}
	if (inj_short_next && nr > 1) {
		inj_short_next = 0;
		nr = 1;
	}
	r = real_submit(ctx, nr, iocbs);
	if (r < 0)
		return extra ? extra : r;
	for (i = 0; i < r; i++) {
		if (iocbs[i]->aio_lio_opcode == IO_CMD_PREAD)
			inj_submit_reads++;
		if (inj_track_fd >= 0 &&
		    ((int)iocbs[i]->aio_fildes == inj_track_fd ||
		     (int)iocbs[i]->aio_fildes == inj_track_fd2)) {
			if (++inj_track_inflight > inj_track_max)
				inj_track_max = inj_track_inflight;
			if (inj_track_npos < INJ_TRACK_LOG)
				inj_track_pos[inj_track_npos++] =
					iocbs[i]->u.c.offset;
		}
	}
	inj_submit_iocbs += r + extra;
	return r + extra;
}
