/* SPDX-License-Identifier: MIT */
/*
 * read_many's planner, pure so that it can be fuzzed against a model.
 * Ranges are sorted by position and grouped: a range joins the group
 * before it when its aligned start lies at most max_amp bytes past the
 * group's aligned end and the group stays within max_merged bytes; a
 * range whose aligned blocks the group covers already always joins it,
 * so identical blocks are read once.
 */
#include "range.h"

#include <stdlib.h>

/* qsort has no context argument in glibc 2.17: sort (pos, index) pairs */
struct key {
	uint64_t pos;
	size_t idx;
};

/* keys sorted on the stack, by insertion: no allocator, no qsort calls */
#define SMALL_PLAN 32

static int key_before(const struct key *x, const struct key *y)
{
	return x->pos != y->pos ? x->pos < y->pos : x->idx < y->idx;
}

static void insertion_sort(struct key *k, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		struct key t = k[i];

		for (j = i; j > 0 && key_before(&t, &k[j - 1]); j--)
			k[j] = k[j - 1];
		k[j] = t;
	}
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

size_t dmaio__read_plan(uint64_t align, const struct dmaio_iovec *iov,
			size_t n, size_t max_merged, size_t max_amp,
			size_t *order, struct dmaio__plan_group *groups)
{
	struct dmaio__plan_group *g = NULL;
	struct key small[SMALL_PLAN];
	struct key *keys = n <= SMALL_PLAN ? small : malloc(n * sizeof(*keys));
	size_t i, ng = 0;

	if (!keys)
		return 0;
	for (i = 0; i < n; i++) {
		keys[i].pos = iov[i].pos;
		keys[i].idx = i;
	}
	if (n <= SMALL_PLAN)
		insertion_sort(keys, n);
	else
		qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++) {
		const struct dmaio_iovec *io = &iov[keys[i].idx];
		uint64_t s = dmaio__align_down(io->pos, align);
		uint64_t e = dmaio__align_up(io->pos + io->len, align);

		order[i] = keys[i].idx;
		if (g) {
			uint64_t ne = e > g->end ? e : g->end;
			int covered = e <= g->end;
			int near = s <= g->end || s - g->end <= max_amp;

			if (covered ||
			    (max_merged && near && ne - g->start <= max_merged)) {
				g->end = ne;
				g->count++;
				continue;
			}
		}
		g = &groups[ng++];
		g->start = s;
		g->end = e;
		g->first = i;
		g->count = 1;
	}
	if (keys != small)
		free(keys);
	return ng;
}
