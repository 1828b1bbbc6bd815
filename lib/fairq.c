/* SPDX-License-Identifier: MIT */
/*
 * A fair queue over a device model, in the spirit of Seastar's fair_queue
 * and glommio's shares: each entity pays for what it sends in virtual
 * time (cost / shares), the one that has had least goes next, while the
 * device's in-flight cost leaves room. An entity with a latency target
 * limits what the others may keep in flight to three quarters of it, in
 * parts of at most half of it, so that its operations never queue behind
 * more than that on the device.
 */
#include "fairq.h"

#include <string.h>

#define NS 1000000000ull
/* virtual time per ns of cost at shares 1; shares go up to 10000 */
#define VSCALE 10000ull
/* without a measured knee: where the learnt capacity starts, in 4 KiB
 * reads; fqlearn.c moves it */
#define LEARN_START 32
/* an open window of the learner lifts the capacity this many times */
#define OPEN_FACTOR 4
/*
 * Beside an active latency class the others may keep this share of its
 * target in flight (in 1/4ths). The model's price of what is in flight is
 * what a read waits for behind it at worst; half the target (the first
 * rule) kept a guessed model's 1 MiB writes to 0.19x of their rate alone
 * beside 4 KiB reads at 0.71x of theirs (p99 0.27 ms of a 1 ms target),
 * three quarters give 0.31-0.35x and 0.53-0.59x (p99 0.32-0.37 ms) on a
 * virtio disk whose host takes writes at 6 GB/s.
 */
#define LATENCY_ROOM 3
/* the parts others' operations go in beside a latency class: bytes */
#define PART_MIN 4096ull
#define PART_MAX (1ull << 30)

void dmaio__fq_model_default(struct dmaio__fq_model *m)
{
	/* a modest SSD: 20k IOPS, 1 GB/s; only the ratios matter much */
	m->iops[0] = m->iops[1] = 20000;
	m->bw[0] = m->bw[1] = 1000000000;
	m->knee_depth = 0;
	m->measured = 0;
}

uint64_t dmaio__fq_cost(const struct dmaio__fq_model *m, int write,
			uint64_t bytes)
{
	int w = !!write;
	uint64_t iops = m->iops[w] ? m->iops[w] : 1;
	uint64_t bw = m->bw[w] ? m->bw[w] : 1;

	/* the per-I/O part covers the first 4 KiB; bandwidth the rest */
	bytes = bytes > 4096 ? bytes - 4096 : 0;
	return NS / iops + (bytes / bw) * NS + (bytes % bw) * NS / bw;
}

void dmaio__fq_init(struct dmaio__fq *q, const struct dmaio__fq_model *m)
{
	unsigned knee = m->knee_depth ? m->knee_depth : LEARN_START;

	q->ref_cost = dmaio__fq_cost(m, 0, 4096);
	q->capacity = q->ref_cost * knee;
	q->inflight_cost = 0;
	q->learn = !m->measured || !m->knee_depth;
	q->open = 0;
	memset(&q->lr, 0, sizeof(q->lr));
}

static uint64_t clamp(uint64_t v, uint64_t max)
{
	return v < max ? v : max;
}

static int active(const struct dmaio__fq_ent *e)
{
	return e->queued || e->inflight_cost;
}

static uint64_t latency_inflight(struct dmaio__fq_ent *const *ents, unsigned n)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		if (ents[i]->latency_us)
			sum += ents[i]->inflight_cost;
	return sum;
}

void dmaio__fq_activate(struct dmaio__fq_ent *const *ents, unsigned n,
			struct dmaio__fq_ent *e)
{
	uint64_t vmin = 0;
	int any = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		if (ents[i] != e && active(ents[i]) &&
		    (!any || ents[i]->vtime < vmin)) {
			vmin = ents[i]->vtime;
			any = 1;
		}
	/* idle time is not credit: start level with the least active */
	if (any && e->vtime < vmin)
		e->vtime = vmin;
}

/*
 * Whether e's next operation would make an active entity with a latency
 * target wait longer than LATENCY_ROOM of it behind others' operations.
 * With
 * nothing of the others in flight it may go: one operation at a time is
 * the least any entity is given.
 */
static int keeps_latency(const struct dmaio__fq *q,
			 struct dmaio__fq_ent *const *ents, unsigned n,
			 const struct dmaio__fq_ent *e)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct dmaio__fq_ent *l = ents[i];
		uint64_t others;

		if (l == e || !l->latency_us || !active(l))
			continue;
		others = q->inflight_cost - l->inflight_cost;
		if (others && others + e->head_cost >
			      dmaio__fq_latency_room(l, (uint64_t)l->latency_us *
							1000 * LATENCY_ROOM / 4))
			return 0;
	}
	return 1;
}

/*
 * keeps_latency() gives the others LATENCY_ROOM of a latency target in
 * flight, but always one operation: one larger than half (a 1 MiB write on
 * a device the model says does 1 GB/s) would be in flight nearly all the
 * time, and the latency class's operations wait behind it in the device.
 * While such a class is active the others' operations go in parts that
 * fit in that half, one or more at a time, and the latency class's
 * operations slip in between them. The least part is 4 KiB: one I/O.
 */
uint64_t dmaio__fq_part_max(const struct dmaio__fq_model *m,
			    struct dmaio__fq_ent *const *ents, unsigned n,
			    const struct dmaio__fq_ent *e, int write)
{
	uint64_t bound = 0, part = PART_MIN;
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct dmaio__fq_ent *l = ents[i];
		uint64_t half = (uint64_t)l->latency_us * 1000 / 2;

		if (l != e && l->latency_us && active(l) &&
		    (!bound || half < bound))
			bound = half;
	}
	if (!bound)
		return 0;
	while (part < PART_MAX && dmaio__fq_cost(m, write, 2 * part) <= bound)
		part *= 2;
	return part;
}

/*
 * How far in virtual time e may run ahead of the least served of another
 * owner (another loop) rather than hand the device over: a quarter of the
 * capacity's cost at its shares. Each hand-off wakes the other loop's
 * thread; with this slack a loop mostly refills the room its own
 * completions free, and hands over when its class gets that far ahead,
 * so the shares still hold over anything longer than a capacity's worth.
 */
static uint64_t owner_slack(const struct dmaio__fq *q,
			    const struct dmaio__fq_ent *e)
{
	return q->capacity / 4 * VSCALE / (e->shares ? e->shares : 1);
}

/* best, or mine when it is close enough behind best to go instead */
static int prefer_own(const struct dmaio__fq *q,
		      struct dmaio__fq_ent *const *ents, void *const *owners,
		      const void *me, int best, int mine)
{
	if (best < 0 || mine < 0 || owners[best] == me)
		return best;
	if (ents[mine]->vtime <= ents[best]->vtime + owner_slack(q, ents[mine]))
		return mine;
	return best;
}

int dmaio__fq_pick_for(const struct dmaio__fq *q,
		       struct dmaio__fq_ent *const *ents, void *const *owners,
		       unsigned n, const void *me)
{
	unsigned i, nactive = 0;
	int best = -1, mine = -1;

	for (i = 0; i < n; i++)
		nactive += active(ents[i]) != 0;
	for (i = 0; i < n; i++) {
		const struct dmaio__fq_ent *e = ents[i];

		if (!e->queued)
			continue;
		if (nactive < 2)
			return (int)i; /* alone: as busy as without classes */
		if (!keeps_latency(q, ents, n, e))
			continue;
		if (best < 0 || e->vtime < ents[best]->vtime)
			best = (int)i;
		if (owners && owners[i] == me &&
		    (mine < 0 || e->vtime < ents[mine]->vtime))
			mine = (int)i;
	}
	if (owners)
		best = prefer_own(q, ents, owners, me, best, mine);
	/*
	 * The least served waits for room rather than be passed by others.
	 * One dearer than half the capacity needs only half of it free: it
	 * would otherwise wait for an empty device, which a class that keeps
	 * a few operations going never leaves it. What latency classes keep
	 * in flight is theirs: the others are held back for it already.
	 */
	if (best >= 0 && !ents[best]->latency_us) {
		uint64_t used = q->inflight_cost - latency_inflight(ents, n);
		uint64_t cap = q->capacity * (q->open ? OPEN_FACTOR : 1);

		if (used && used + clamp(ents[best]->head_cost, cap / 2) > cap)
			return -1;
	}
	return best;
}

void dmaio__fq_dispatched(struct dmaio__fq *q, struct dmaio__fq_ent *e,
			  uint64_t cost)
{
	e->vtime += cost * VSCALE / (e->shares ? e->shares : 1);
	e->inflight_cost += cost;
	q->inflight_cost += cost;
}

void dmaio__fq_completed(struct dmaio__fq *q, struct dmaio__fq_ent *e,
			 uint64_t cost)
{
	e->inflight_cost -= cost < e->inflight_cost ? cost : e->inflight_cost;
	q->inflight_cost -= cost < q->inflight_cost ? cost : q->inflight_cost;
}

unsigned dmaio__lat_bucket(uint64_t lat_ns)
{
	uint64_t us = lat_ns / 1000;
	unsigned i;

	if (us < 2)
		return 0;
	i = 63 - (unsigned)__builtin_clzll(us);
	return i > 23 ? 23 : i;
}
