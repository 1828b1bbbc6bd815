/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: read_many's planner (lib/read_plan.c). Every range lands in
 * exactly one group that covers its aligned blocks; groups are aligned and
 * in position order; no group grows past the merge limit except by ranges
 * it covered already; every member joined within max_read_amp of the
 * group; neighbours in order with identical blocks share a group.
 */
#include "config.h"
#include "range.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define MAXN 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct dmaio_iovec iov[MAXN];
	struct dmaio__plan_group g[MAXN];
	size_t order[MAXN], seen[MAXN], ng, k, i, cnt = 0, max_merged, amp;
	static const size_t merges[] = { 0, 512, 4096, 65536, (size_t)-1 };
	uint64_t align;

	if (n < 3)
		return 0;
	align = 512ULL << (data[0] % 4);
	max_merged = merges[data[1] % 5];
	amp = (size_t)(data[2] % 8) * 1024;
	data += 3;
	n -= 3;
	while (n >= 5 && cnt < MAXN) {
		iov[cnt].pos = ((uint64_t)data[0] << 16 | (uint64_t)data[1] << 8 |
				data[2]) * 7;
		iov[cnt].len = 1 + ((size_t)data[3] << 8 | data[4]);
		cnt++;
		data += 5;
		n -= 5;
	}
	if (!cnt)
		return 0;
	ng = dmaio__read_plan(align, iov, cnt, max_merged, amp, order, g);
	CHECK(ng >= 1 && ng <= cnt);
	memset(seen, 0, sizeof(seen));
	for (k = 0; k < ng; k++) {
		uint64_t first_size, run_end;

		CHECK(g[k].count >= 1);
		CHECK(g[k].start % align == 0 && g[k].end % align == 0);
		CHECK(g[k].start < g[k].end);
		if (k)
			CHECK(g[k].start >= g[k - 1].start);
		{
			const struct dmaio_iovec *f = &iov[order[g[k].first]];
			uint64_t s = f->pos & ~(align - 1);

			CHECK(s == g[k].start);
			first_size = ((f->pos + f->len + align - 1) & ~(align - 1)) - s;
			run_end = s + first_size;
		}
		if (!max_merged)
			CHECK(g[k].end - g[k].start == first_size);
		else
			CHECK(g[k].end - g[k].start <=
			      (first_size > max_merged ? first_size : max_merged));
		for (i = g[k].first; i < g[k].first + g[k].count; i++) {
			const struct dmaio_iovec *io = &iov[order[i]];
			uint64_t s = io->pos & ~(align - 1);
			uint64_t e = (io->pos + io->len + align - 1) & ~(align - 1);

			CHECK(order[i] < cnt && !seen[order[i]]);
			seen[order[i]] = 1;
			CHECK(s >= g[k].start && e <= g[k].end);
			/* joined because covered, or near enough */
			CHECK(e <= run_end || s <= run_end || s - run_end <= amp);
			if (e > run_end)
				run_end = e;
			if (i > 0) /* sorted */
				CHECK(iov[order[i - 1]].pos <= io->pos);
		}
		CHECK(run_end == g[k].end);
	}
	for (i = 0; i < cnt; i++)
		CHECK(seen[i]);
	/* neighbours with identical aligned ranges share a group */
	for (k = 0; k + 1 < ng; k++) {
		const struct dmaio_iovec *a = &iov[order[g[k].first + g[k].count - 1]];
		const struct dmaio_iovec *b = &iov[order[g[k + 1].first]];

		CHECK((a->pos & ~(align - 1)) != (b->pos & ~(align - 1)) ||
		      ((a->pos + a->len + align - 1) & ~(align - 1)) !=
			      ((b->pos + b->len + align - 1) & ~(align - 1)));
	}
	return 0;
}
