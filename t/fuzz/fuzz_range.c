/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the arithmetic of unaligned reads (lib/range.c) against a
 * model. Any (align, pos, size) either fails cleanly or yields an aligned
 * I/O covering the range by less than one block on each side; any result
 * of that I/O clamps to exactly the bytes both asked for and returned.
 */
#include "config.h"
#include "range.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static uint64_t take(const uint8_t **p, size_t *n, unsigned bytes)
{
	uint64_t v = 0;

	while (bytes-- && *n) {
		v = v << 8 | **p;
		(*p)++;
		(*n)--;
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	uint64_t align = 512ULL << (take(&data, &n, 1) % 5);
	int big = (int)take(&data, &n, 1) % 4 == 0;
	uint64_t pos = take(&data, &n, big ? 8 : 3);
	size_t size = (size_t)take(&data, &n, big ? 8 : 3);
	int64_t res = (int64_t)take(&data, &n, 3) - 8;
	uint64_t start = 7, len = 7, want_lo, want_hi;
	size_t off, got;
	int ret = dmaio__range_cover(align, pos, size, &start, &len);

	if (!size) {
		CHECK(ret == -22);
		return 0;
	}
	if (pos > INT64_MAX || size > INT64_MAX - pos ||
	    ((pos + size + align - 1) & ~(align - 1)) > INT64_MAX) {
		CHECK(ret == -75);
		return 0;
	}
	CHECK(ret == 0);
	CHECK(start % align == 0 && len % align == 0);
	CHECK(start <= pos && pos - start < align);
	CHECK(start + len >= pos + size && start + len - (pos + size) < align);

	/* the kernel returned res bytes from start (short near EOF) */
	if (res > (int64_t)len)
		res = (int64_t)len;
	dmaio__range_clamp(start, res, pos, size, &off, &got);
	CHECK(off == pos - start);
	want_lo = pos;
	want_hi = pos + size;
	if (res < 0)
		res = 0;
	if (start + (uint64_t)res < want_hi)
		want_hi = start + (uint64_t)res;
	CHECK(got == (want_hi > want_lo ? want_hi - want_lo : 0));
	CHECK(off + got <= len);
	return 0;
}
