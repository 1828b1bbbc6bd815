/* SPDX-License-Identifier: MIT */
/*
 * What the fair queue learns from completions, beyond its model: a
 * device's capacity (below), and a latency class's room for the others
 * (at the end).
 *
 * A device's capacity without a measured knee, from throughput against
 * depth: the capacity is the in-flight cost the fair queue lets
 * competing classes keep on the device, and shares only bind while it
 * holds some of their work back. Too large, they never bind; too small,
 * the device idles between completions.
 *
 * Completion latencies alone cannot tell where that is: on a virtio disk
 * or an SSD, latency climbs long before throughput stops growing, and
 * the least latency seen depends on how empty the device ran (two loops
 * handing the device to each other leave it short now and then, and a
 * rule built on it shrank the capacity to its floor). Throughput can:
 * now and then a probe alternates parts at the capacity with "open"
 * parts where it is lifted (OPEN_FACTOR times, fairq.c, so the device
 * gets all the work the classes offer), and compares what the device
 * completes in each. Below LOW of the open rate the capacity grows by a
 * quarter; above HIGH it shrinks by a fifth, so the device keeps about
 * 0.9-0.95 of what the classes' whole offer would get from it, and
 * their shares bind at that cost.
 *
 * A device's rate is noisy: a virtio disk's varies by 15% from one 5 ms
 * to the next. So each pair of parts (one at the capacity, the next
 * open, seeing the same drift) gives one ratio, and the capacity moves
 * only once the mean ratio of all pairs at this capacity is out of the
 * band by twice its standard error: at once on a device whose rate
 * follows the depth closely, after seconds or never on one whose rate
 * barely changes (where any capacity in the band's reach serves).
 *
 * A part counts no completion until what was in flight when it began
 * has been replaced (the switch settles), and is measured over a fixed
 * amount of device time, so it scales with the device's speed. Parts
 * count only while two or more classes have work. A probe whose
 * capacity parts found no work held back by a device at least half full
 * shrinks the capacity: the classes asked for less than it. Probes are
 * spaced so that open parts take OPEN_SHARE of the time the classes
 * compete (their shares do not bind in them), less once settled.
 */
#include "fairq.h"

#define MS 1000000ull
/* a part's measured cost, in 4 KiB reads of the model, and its least
 * number of completions */
#define PART_REFS 384
#define PART_MIN_N 32
/* pairs of parts per probe */
#define PAIRS 4
/* the band, as a ratio of the capacity parts' rate to the open ones' */
#define LOW 0.89
#define HIGH 0.95
/* open parts' share of the time: while learning, and after SETTLED
 * pairs at one capacity did not move it */
#define OPEN_SHARE 20  /* 1/20 */
#define OPEN_SHARE_SETTLED 100
#define SETTLED 128
/* pairs at one capacity remembered at full weight */
#define FORGET 1024
/* a moment with one class active that does not end a probe */
#define ALONE_NS (20 * MS)
/* the learnt capacity's bounds, in 4 KiB reads */
#define LEARN_MIN 4
#define LEARN_MAX 1024

static void part_start(struct dmaio__fq *q, uint64_t now)
{
	struct dmaio__fq_learner *lr = &q->lr;

	lr->part_from = now;
	lr->settle = q->inflight_cost;
	lr->start = 0;
	lr->cost = 0;
	lr->n = 0;
	lr->held = 0;
}

static void capacity_move(struct dmaio__fq *q, int up)
{
	struct dmaio__fq_learner *lr = &q->lr;
	uint64_t c = up ? q->capacity + q->capacity / 4
			: q->capacity - q->capacity / 5;

	if (c < q->ref_cost * LEARN_MIN)
		c = q->ref_cost * LEARN_MIN;
	if (c > q->ref_cost * LEARN_MAX)
		c = q->ref_cost * LEARN_MAX;
	q->capacity = c;
	/* what was learnt of the old capacity says nothing of the new */
	lr->pairs = 0;
	lr->sum = lr->sum2 = 0;
	lr->held_parts = lr->cap_parts = 0;
}

/* Whether the mean ratio is beyond edge (above: dir 1, below: -1) by
 * twice its standard error. */
static int beyond(const struct dmaio__fq_learner *lr, double edge, int dir)
{
	double n = lr->pairs, mean = lr->sum / n;
	double var = lr->sum2 / n - mean * mean;
	double d = (mean - edge) * dir;

	return d > 0 && d * d * n > 4 * (var > 0 ? var : 0);
}

static void probe_ended(struct dmaio__fq *q)
{
	struct dmaio__fq_learner *lr = &q->lr;
	unsigned share = lr->pairs >= SETTLED ? OPEN_SHARE_SETTLED : OPEN_SHARE;

	if (2 * lr->held_parts < lr->cap_parts)
		capacity_move(q, 0);
	else if (beyond(lr, LOW, -1))
		capacity_move(q, 1);
	else if (beyond(lr, HIGH, 1))
		capacity_move(q, 0);
	lr->cruise_ns = lr->open_ns * (share - 1);
	lr->open_ns = 0;
	lr->probing = 0;
}

/* A part ended after span ns of measuring. */
static void part_ended(struct dmaio__fq *q, uint64_t now, uint64_t span)
{
	struct dmaio__fq_learner *lr = &q->lr;
	double x = (double)lr->cost / span;

	if (!q->open) {
		lr->x_cap = x;
		lr->cap_parts++;
		lr->held_parts += 2 * lr->held >= lr->n;
	} else {
		double r = lr->x_cap / x;

		if (lr->pairs == FORGET) {
			/* the device may have changed: old pairs weigh less */
			lr->pairs /= 2;
			lr->sum /= 2;
			lr->sum2 /= 2;
		}
		lr->pairs++;
		lr->sum += r;
		lr->sum2 += r * r;
		lr->open_ns += now - lr->part_from;
	}
	q->open = !q->open;
	if (++lr->part == 2 * PAIRS)
		probe_ended(q);
}

void dmaio__fq_learn(struct dmaio__fq *q, struct dmaio__fq_ent *const *ents,
		     unsigned n, uint64_t cost, uint64_t now_ns)
{
	struct dmaio__fq_learner *lr = &q->lr;
	unsigned i, nactive = 0;
	int held = 0;

	for (i = 0; i < n; i++) {
		nactive += ents[i]->queued || ents[i]->inflight_cost;
		held |= ents[i]->queued != 0;
	}
	if (nactive < 2) {
		/*
		 * One class alone is not held back: nothing to learn. A
		 * moment alone (a pool of threads whose calls are all on
		 * their way back at once) leaves the probe as it was; after
		 * ALONE_NS, or with one class on the device, the probe
		 * starts over when they compete again.
		 */
		if (!lr->alone_from)
			lr->alone_from = now_ns ? now_ns : 1;
		if (now_ns && now_ns - lr->alone_from < ALONE_NS)
			return;
		lr->probing = 0;
		lr->cruise_from = 0;
		lr->open_ns = 0;
		q->open = 0;
		return;
	}
	lr->alone_from = 0;
	if (!lr->probing) {
		if (!lr->cruise_from)
			lr->cruise_from = now_ns;
		if (now_ns - lr->cruise_from < lr->cruise_ns)
			return;
		lr->cruise_from = 0;
		lr->probing = 1;
		lr->part = 0;
		part_start(q, now_ns);
		return;
	}
	if (lr->settle) {
		lr->settle -= cost < lr->settle ? cost : lr->settle;
		if (!lr->settle)
			lr->start = now_ns;
		return;
	}
	if (!lr->start) {
		lr->start = now_ns;
		return;
	}
	/* held back: work waited while the device was full before the
	 * completions reaped with this one (up to half of it) freed room */
	held = held && 2 * (q->inflight_cost + cost) > q->capacity;
	lr->cost += cost;
	lr->n++;
	lr->held += held;
	if (lr->cost < PART_REFS * q->ref_cost || lr->n < PART_MIN_N ||
	    now_ns == lr->start)
		return;
	part_ended(q, now_ns, now_ns - lr->start);
	if (lr->probing)
		part_start(q, now_ns);
}

/*
 * A latency class's safety net. The others' room comes from the model's
 * prices, and a model can be wrong for latency: dmaio-tune measures what
 * a device does with many requests at once, and a virtual disk that
 * writes 1 MiB in 0.15 ms of its bandwidth still takes a read arriving
 * behind five of them past a 1 ms target (p99 1.1-1.2 ms with such a
 * model). So the class's own operations, call to completion, take the
 * room back: in each window of LAT_WINDOW of them, more than LAT_FEW past
 * the target (about 1%: the target is a 99th percentile) halve the room,
 * down to LAT_SLACK_MIN 16ths of it; at most LAT_FEW past half of it
 * give a quarter back, up to all of it. A single stall of the host's
 * (a virtual disk's reads take 5-15 ms now and then) takes nothing.
 */
#define LAT_WINDOW 256
#define LAT_FEW 2
#define LAT_SLACK_ALL 16
#define LAT_SLACK_MIN 1

uint64_t dmaio__fq_latency_room(const struct dmaio__fq_ent *l, uint64_t room)
{
	return l->slack ? room * l->slack / LAT_SLACK_ALL : room;
}

void dmaio__fq_latency_seen(struct dmaio__fq_ent *e, uint64_t lat_ns)
{
	uint64_t target = (uint64_t)e->latency_us * 1000;
	unsigned slack = e->slack ? e->slack : LAT_SLACK_ALL;

	e->lat_over += lat_ns > target;
	e->lat_half += lat_ns > target / 2;
	if (++e->lat_n < LAT_WINDOW)
		return;
	if (e->lat_over > LAT_FEW)
		slack = slack / 2 > LAT_SLACK_MIN ? slack / 2 : LAT_SLACK_MIN;
	else if (e->lat_half <= LAT_FEW)
		slack = slack + slack / 4 + 1 < LAT_SLACK_ALL ?
			slack + slack / 4 + 1 : LAT_SLACK_ALL;
	e->slack = slack == LAT_SLACK_ALL ? 0 : slack;
	e->lat_n = 0;
	e->lat_over = 0;
	e->lat_half = 0;
}
