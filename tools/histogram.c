/* SPDX-License-Identifier: MIT */
#include "histogram.h"

#include <string.h>

void hist_init(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
	unsigned msb;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	/* the top HIST_SUB_BITS bits below the leading one pick the bucket */
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static uint64_t bucket_top(unsigned b)
{
	unsigned range = b / HIST_SUB, sub = b % HIST_SUB;
	unsigned shift;

	if (range == 0)
		return b;
	shift = range - 1;
	return (((uint64_t)(HIST_SUB + sub + 1)) << shift) - 1;
}

void hist_add(struct histogram *h, uint64_t v)
{
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->bucket[bucket_of(v)]++;
}

void hist_merge(struct histogram *dst, const struct histogram *src)
{
	unsigned i;

	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
}

uint64_t hist_quantile(const struct histogram *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (!h->count)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > want) {
			uint64_t top = bucket_top(i);

			return top > h->max ? h->max : top;
		}
	}
	return h->max;
}
