/* SPDX-License-Identifier: MIT */
/*
 * A fixed-size log-linear latency histogram: 2^k ranges split into 32
 * linear buckets each (about 3% resolution), no allocation per sample.
 */
#ifndef DMAIO_HISTOGRAM_H
#define DMAIO_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t min, max;
	double sum;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct histogram *h);
void hist_add(struct histogram *h, uint64_t v);
void hist_merge(struct histogram *dst, const struct histogram *src);
/* The value at quantile q (0..1): the upper edge of its bucket. */
uint64_t hist_quantile(const struct histogram *h, double q);

#endif
