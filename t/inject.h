/* SPDX-License-Identifier: MIT */
/*
 * Test-only io_submit interposer: defined in the test program, it takes
 * precedence over libaio's for libdmaio's calls. It counts what goes to
 * the kernel, can fail the next call, and can hold back the write at
 * offset 0 to make completions arrive out of order.
 */
#ifndef DMAIO_INJECT_H
#define DMAIO_INJECT_H

extern long inj_submit_calls;   /* io_submit calls */
extern long inj_submit_iocbs;   /* iocbs the kernel took */
extern long inj_submit_reads;   /* of those, reads */
extern int inj_fail_next;       /* -errno for the next call's first iocb */
extern int inj_hold_write0;     /* keep the next write at offset 0 back */
extern int inj_holding;         /* one is held */

void inj_reset(void);
/* Submits the held write for real. */
void inj_release(void);

#endif
