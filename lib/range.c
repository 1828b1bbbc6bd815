/* SPDX-License-Identifier: MIT */
/*
 * The arithmetic of unaligned reads, kept pure so that it can be fuzzed
 * against a model: which aligned I/O covers a range, and which part of
 * what the kernel returned the caller may see.
 */
#include "range.h"

#include <errno.h>

int dmaio__range_cover(uint64_t align, uint64_t pos, size_t size,
		       uint64_t *start, uint64_t *len)
{
	uint64_t end;

	if (!size || !align || (align & (align - 1)))
		return -EINVAL;
	if (pos > INT64_MAX || size > INT64_MAX - pos)
		return -EOVERFLOW;
	end = dmaio__align_up(pos + size, align);
	if (end > INT64_MAX)
		return -EOVERFLOW;
	*start = dmaio__align_down(pos, align);
	if (end - *start > SIZE_MAX)
		return -EOVERFLOW;
	*len = end - *start;
	return 0;
}

void dmaio__range_clamp(uint64_t io_pos, int64_t res, uint64_t pos,
			size_t size, size_t *off, size_t *n)
{
	uint64_t skip = pos - io_pos;
	uint64_t got = res > 0 ? (uint64_t)res : 0;

	/* only bytes the kernel returned, only bytes asked for */
	*off = (size_t)skip;
	*n = got > skip ? (size_t)(got - skip < size ? got - skip : size) : 0;
}
