/* SPDX-License-Identifier: MIT */
/*
 * Test-only io_submit interposer: defined in the test program, it takes
 * precedence over libaio's for libdmaio's calls. It counts what goes to
 * the kernel, can fail the next call or cut it short, can hold back the
 * write at offset 0 to make completions arrive out of order, and counts
 * the iocbs in flight on one fd.
 */
#ifndef DMAIO_INJECT_H
#define DMAIO_INJECT_H

extern long inj_submit_calls;   /* io_submit calls */
extern long inj_submit_iocbs;   /* iocbs the kernel took */
extern long inj_submit_reads;   /* of those, reads */
extern int inj_fail_next;       /* -errno for the next call's first iocb */
extern int inj_hold_write0;     /* keep the next write at offset 0 back */
extern int inj_holding;         /* one is held */
extern int inj_short_next;      /* the next call of 2+ takes only 1 */
/* iocbs the kernel took on inj_track_fd or inj_track_fd2 (-1: none); the
 * test subtracts its completions from inj_track_inflight, and
 * inj_track_max is the most there were at once */
extern int inj_track_fd, inj_track_fd2;
extern long inj_track_inflight, inj_track_max;
/* the offsets of the first INJ_TRACK_LOG of them, in submission order */
#define INJ_TRACK_LOG 256
extern long long inj_track_pos[INJ_TRACK_LOG];
extern int inj_track_npos;

void inj_reset(void);
/* Submits the held write for real. */
void inj_release(void);

#endif
