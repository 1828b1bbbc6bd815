/* SPDX-License-Identifier: MIT */
/*
 * Layer 1, features.c: run-time probes of the kernel, one per line of
 * features.def. May use aio.c and reap.c (a probe submits and reaps).
 * (Not features.h: that name is glibc's.)
 */
#ifndef DMAIO_PROBE_H
#define DMAIO_PROBE_H

#include "base.h"

/* Sets loop->features (and drops loop->aio.ring without USER_REAP). */
int dmaio__probe_features(struct dmaio_loop *loop, uint64_t disable);

#endif /* DMAIO_PROBE_H */
