/* SPDX-License-Identifier: MIT */
/*
 * The file tests' runs: every kernel-feature profile, then once more on
 * the buffered fallback, O_DIRECT refused as tmpfs refused it before 6.6
 * (runs.c defines fcntl(), which takes precedence over libc's in the
 * programs that link it).
 */
#ifndef DMAIO_RUNS_H
#define DMAIO_RUNS_H

#include "testutil.h"

#define NRUNS (TU_NPROFILES + 1)
#define BUFFERED_RUN TU_NPROFILES

/* "all features", ..., "buffered fallback" */
const char *const *run_names(void);
/* A loop for run: its profile's features, or O_DIRECT refused. */
struct dmaio_loop *run_loop(int run);

#define ADD_RUNS(tc, fn)                                 \
	do {                                             \
		tcase_add_loop_test(tc, fn, 0, NRUNS);   \
		tu_name(#fn, 0, NRUNS, run_names());     \
	} while (0)

#endif
