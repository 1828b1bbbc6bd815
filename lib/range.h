/* SPDX-License-Identifier: MIT */
/*
 * Pure arithmetic, no state (fuzzed on its own): range.c, the aligned
 * I/O covering an unaligned read; read_plan.c, read_many's merge planner.
 */
#ifndef DMAIO_RANGE_H
#define DMAIO_RANGE_H

#include "base.h"

/* The aligned I/O covering [pos, pos + size): 0, -EINVAL or -EOVERFLOW. */
int dmaio__range_cover(uint64_t align, uint64_t pos, size_t size,
		       uint64_t *start, uint64_t *len);
/* Of an I/O at io_pos that returned res, the caller's bytes of
 * [pos, pos + size): *off into the buffer, *n long (maybe 0). */
void dmaio__range_clamp(uint64_t io_pos, int64_t res, uint64_t pos,
			size_t size, size_t *off, size_t *n);

struct dmaio__plan_group {
	uint64_t start, end;   /* aligned */
	size_t first, count;   /* in the sorted order */
};
/*
 * Sorts iov by position into order[] and groups it; returns the number of
 * groups written to groups[] (at most n). max_merged 0: no merging.
 */
size_t dmaio__read_plan(uint64_t align, const struct dmaio_iovec *iov,
			size_t n, size_t max_merged, size_t max_amp,
			size_t *order, struct dmaio__plan_group *groups);

#endif /* DMAIO_RANGE_H */
