/* SPDX-License-Identifier: MIT */
/*
 * Internals: the dispatcher's fair queue (lib/fairq.c) driven with a
 * simulated device and clock, so that the order of dispatch is exact:
 * shares give device time in proportion, an idle class banks no credit,
 * a latency class keeps the others' in-flight cost under three quarters
 * of its target (in parts that fit in half of it), a class
 * alone is never held back, the in-flight cost stays within the
 * capacity, and the lat_hist bucket edges.
 */
#include "testutil.h"
#include "fairq.h"

#include <stdio.h>
#include <string.h>

#define MAXQ 4096

/* A device that completes the oldest operation in flight per tick. */
struct sim {
	struct dmaio__fq q;
	struct dmaio__fq_ent e[3];
	struct dmaio__fq_ent *ents[3];
	unsigned n;
	uint64_t cost[3];     /* each entity's operations cost this */
	unsigned owner[MAXQ]; /* the in-flight ring: whose, oldest first */
	unsigned head, tail;
	unsigned sent[3];
	uint64_t max_others;  /* largest in-flight cost of 1, 2 beside 0 */
};

static void sim_init(struct sim *s, unsigned n, uint64_t capacity)
{
	unsigned i;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->q.capacity = capacity;
	s->q.ref_cost = 1000;
	for (i = 0; i < n; i++) {
		s->ents[i] = &s->e[i];
		s->e[i].shares = 100;
		s->cost[i] = 1000;
	}
}

/* Keeps entity i backlogged (queued > 0) or idle. */
static void sim_backlog(struct sim *s, unsigned i, int on)
{
	if (on && !s->e[i].queued)
		dmaio__fq_activate(s->ents, s->n, &s->e[i]);
	s->e[i].queued = on ? 1000000 : 0;
	s->e[i].head_cost = on ? s->cost[i] : 0;
}

/* Dispatches what pick allows, then completes the oldest in flight. */
static void sim_tick(struct sim *s)
{
	int i;

	/* the device's cap: 64 in flight */
	while (s->tail - s->head < 64 &&
	       (i = dmaio__fq_pick_for(&s->q, s->ents, NULL, s->n, NULL)) >= 0) {
		dmaio__fq_dispatched(&s->q, &s->e[i], s->cost[i]);
		s->sent[i]++;
		s->owner[s->tail++ % MAXQ] = (unsigned)i;
		if (s->e[i].queued < 1000000)
			break; /* a finite queue: see the alone test */
	}
	if (s->e[0].latency_us && s->e[0].queued) {
		uint64_t others = s->q.inflight_cost - s->e[0].inflight_cost;

		if (others > s->max_others)
			s->max_others = others;
	}
	if (s->head != s->tail) {
		unsigned o = s->owner[s->head++ % MAXQ];

		dmaio__fq_completed(&s->q, &s->e[o], s->cost[o]);
	}
}

START_TEST(fairq_shares_give_time_in_proportion)
{
	struct sim s;
	unsigned t;
	double ratio;

	sim_init(&s, 2, 8 * 1000);
	s.e[0].shares = 100;
	s.e[1].shares = 300;
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 8000; t++)
		sim_tick(&s);
	ratio = (double)s.sent[1] / s.sent[0];
	ck_assert_msg(ratio > 2.9 && ratio < 3.1, "ratio %.3f (%u:%u)", ratio,
		      s.sent[1], s.sent[0]);
	/* cost counts, not operations: 4x dearer ones at 4x the shares */
	sim_init(&s, 2, 8 * 1000);
	s.e[1].shares = 400;
	s.cost[1] = 4000;
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 8000; t++)
		sim_tick(&s);
	ratio = (double)s.sent[1] / s.sent[0];
	ck_assert_msg(ratio > 0.95 && ratio < 1.05, "ratio %.3f", ratio);
}
END_TEST

START_TEST(fairq_set_shares_takes_effect)
{
	struct sim s;
	unsigned t, a, b;

	sim_init(&s, 2, 8 * 1000);
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 2000; t++)
		sim_tick(&s);
	ck_assert_uint_le(s.sent[0] > s.sent[1] ? s.sent[0] - s.sent[1]
						: s.sent[1] - s.sent[0], 2);
	s.e[1].shares = 200;
	a = s.sent[0];
	b = s.sent[1];
	for (t = 0; t < 3000; t++)
		sim_tick(&s);
	a = s.sent[0] - a;
	b = s.sent[1] - b;
	ck_assert_msg(b > 1.9 * a && b < 2.1 * a, "after: %u:%u", b, a);
}
END_TEST

START_TEST(fairq_idle_class_banks_no_credit)
{
	struct sim s;
	unsigned t, a;

	sim_init(&s, 2, 8 * 1000);
	sim_backlog(&s, 0, 1);
	for (t = 0; t < 1000; t++)
		sim_tick(&s);
	ck_assert_uint_eq(s.sent[1], 0);
	/* 1 wakes after 0 had 1000: it shares from now, not catches up
	 * (with credit it would take every dispatch for 1000 more) */
	sim_backlog(&s, 1, 1);
	a = s.sent[0];
	for (t = 0; t < 400; t++)
		sim_tick(&s);
	a = s.sent[0] - a;
	ck_assert_msg(a > 140 && s.sent[1] > 140 && a < 1.2 * s.sent[1] &&
			      s.sent[1] < 1.2 * a,
		      "after waking: %u:%u", a, s.sent[1]);
}
END_TEST

START_TEST(fairq_latency_class_holds_others_back)
{
	struct sim s;
	unsigned t;

	/* 0: latency 100 us (others may keep 75 us of cost in flight);
	 * 1: operations of 20 us each; capacity far above */
	sim_init(&s, 2, 1000 * 1000 * 1000);
	s.e[0].latency_us = 100;
	s.cost[0] = 1000;
	s.cost[1] = 20000;
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 5000; t++)
		sim_tick(&s);
	ck_assert_uint_le(s.max_others, 75000);
	ck_assert_uint_gt(s.max_others, 50000); /* more than half of it */
	ck_assert_uint_gt(s.sent[1], 100); /* held back, not starved */
	/* without the latency class active the others fill the device */
	sim_backlog(&s, 0, 0);
	for (t = 0; t < 100; t++)
		sim_tick(&s);
	ck_assert_uint_gt(s.q.inflight_cost - s.e[0].inflight_cost, 75000);
}
END_TEST

START_TEST(fairq_alone_is_never_held_back)
{
	struct sim s;
	int i;

	sim_init(&s, 2, 2 * 1000);
	s.e[0].queued = 100;
	s.e[0].head_cost = 1000;
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(dmaio__fq_pick_for(&s.q, s.ents, NULL, 2, NULL), 0);
		dmaio__fq_dispatched(&s.q, &s.e[0], 1000);
		s.e[0].queued--;
	}
	ck_assert_int_eq(dmaio__fq_pick_for(&s.q, s.ents, NULL, 2, NULL), -1);
	ck_assert_uint_eq(s.q.inflight_cost, 100 * 1000);
}
END_TEST

START_TEST(fairq_capacity_bounds_competing_inflight)
{
	struct sim s;
	unsigned t;

	sim_init(&s, 3, 6 * 1000);
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	sim_backlog(&s, 2, 1);
	for (t = 0; t < 1000; t++) {
		sim_tick(&s);
		ck_assert_uint_le(s.q.inflight_cost, 6 * 1000);
	}
	ck_assert_uint_gt(s.sent[2], 300);
}
END_TEST

START_TEST(fairq_cost_follows_the_model)
{
	struct dmaio__fq_model m;

	dmaio__fq_model_default(&m);
	m.iops[0] = 10000;
	m.iops[1] = 5000;
	m.bw[0] = m.bw[1] = 100 * 1000 * 1000;
	ck_assert_uint_eq(dmaio__fq_cost(&m, 0, 4096), 100000);
	ck_assert_uint_eq(dmaio__fq_cost(&m, 1, 4096), 200000);
	/* 1 MiB: the first 4 KiB by IOPS, the rest by bandwidth */
	ck_assert_uint_eq(dmaio__fq_cost(&m, 1, 1 << 20),
			  200000 + (uint64_t)((1 << 20) - 4096) * 10);
}
END_TEST

START_TEST(fairq_lat_hist_bucket_edges)
{
	uint64_t us = 1000;

	ck_assert_uint_eq(dmaio__lat_bucket(0), 0);
	ck_assert_uint_eq(dmaio__lat_bucket(1999), 0);
	ck_assert_uint_eq(dmaio__lat_bucket(2 * us), 1);
	ck_assert_uint_eq(dmaio__lat_bucket(4 * us - 1), 1);
	ck_assert_uint_eq(dmaio__lat_bucket(4 * us), 2);
	ck_assert_uint_eq(dmaio__lat_bucket(1024 * us), 10);
	ck_assert_uint_eq(dmaio__lat_bucket(((1ull << 23) - 1) * us), 22);
	ck_assert_uint_eq(dmaio__lat_bucket((1ull << 23) * us), 23);
	ck_assert_uint_eq(dmaio__lat_bucket(UINT64_MAX), 23);
}
END_TEST

/*
 * A device in time, for the capacity learner: it completes X(D) =
 * xmax * D / (D + k) operations per second at D in flight (throughput
 * that grows ever more slowly with depth, as an SSD's or a virtio disk's
 * does), any of those in flight first, its rate jumping by up to
 * noise every 5 ms (a virtio disk's varies by 15% at that scale).
 * Each entity is a program keeping
 * depth operations of its own queued or in flight, its next one queued
 * as soon as one completes.
 */
struct tdev {
	struct dmaio__fq q;
	struct dmaio__fq_ent e[2];
	struct dmaio__fq_ent *ents[2];
	unsigned depth[2];
	unsigned inflight[2];
	uint64_t done[2];
	double xmax, k, acc;
	double noise;      /* the rate's spread: a factor of 1 +- this */
	double factor;     /* the rate's for the current 5 ms */
	int blink;         /* entity 0 asks for nothing 0.3 ms in every 2 */
	uint64_t now;
	unsigned opens;    /* time steps the capacity was lifted */
	unsigned steps;
	uint32_t rng;
};

#define TSTEP 10000ull /* ns */

static void tdev_init(struct tdev *d, double xmax, double k, unsigned depth0,
		      unsigned depth1)
{
	struct dmaio__fq_model m;
	unsigned i;

	memset(d, 0, sizeof(*d));
	dmaio__fq_model_default(&m);
	dmaio__fq_init(&d->q, &m);
	d->xmax = xmax;
	d->k = k;
	d->depth[0] = depth0;
	d->depth[1] = depth1;
	d->now = 1000000000ull;
	d->rng = 7;
	d->factor = 1;
	for (i = 0; i < 2; i++) {
		d->ents[i] = &d->e[i];
		d->e[i].shares = 100;
		d->e[i].queued = depth0 + depth1 ? (i ? depth1 : depth0) : 0;
		d->e[i].head_cost = d->e[i].queued ? d->q.ref_cost : 0;
	}
}

/* Runs the device for ns; counts what completes. */
static void tdev_run(struct tdev *d, uint64_t ns)
{
	uint64_t end = d->now + ns;

	for (; d->now < end; d->now += TSTEP) {
		unsigned depth = d->inflight[0] + d->inflight[1];
		int away = d->blink && d->now % 2000000 < 300000;
		int i;

		/* a pool of threads whose calls are all on their way back */
		d->e[0].queued = away ? 0 : d->depth[0] - d->inflight[0];
		d->e[0].head_cost = d->e[0].queued ? d->q.ref_cost : 0;
		while ((i = dmaio__fq_pick_for(&d->q, d->ents, NULL, 2,
					       NULL)) >= 0) {
			dmaio__fq_dispatched(&d->q, &d->e[i], d->q.ref_cost);
			d->inflight[i]++;
			if (!--d->e[i].queued)
				d->e[i].head_cost = 0;
		}
		d->opens += d->q.open;
		d->steps++;
		if (d->noise && d->now % 5000000 == 0) {
			d->rng = d->rng * 1103515245 + 12345;
			d->factor = 1 + d->noise * ((int)((d->rng >> 8) % 2001) - 1000)
					/ 1000.0;
		}
		depth = d->inflight[0] + d->inflight[1];
		d->acc += d->factor * d->xmax * depth / (depth + d->k) *
			  TSTEP / 1e9;
		while (d->acc >= 1 && (depth = d->inflight[0] +
						d->inflight[1])) {
			d->rng = d->rng * 1103515245 + 12345;
			i = d->rng / 65536 % depth < d->inflight[0] ? 0 : 1;
			d->acc -= 1;
			d->inflight[i]--;
			d->done[i]++;
			dmaio__fq_completed(&d->q, &d->e[i], d->q.ref_cost);
			if (d->depth[i]) {
				d->e[i].queued++;
				d->e[i].head_cost = d->q.ref_cost;
			}
			dmaio__fq_learn(&d->q, d->ents, 2, d->q.ref_cost,
					d->now);
		}
		if (!d->inflight[0] && !d->inflight[1])
			d->acc = 0;
	}
}

/* The capacity in 4 KiB reads (the simulated operations). */
static double tdev_capacity(const struct tdev *d)
{
	return (double)d->q.capacity / d->q.ref_cost;
}

/*
 * The learnt capacity is where the device does 0.9-0.95 of what it does
 * with everything the classes offer: shares 100 and 300 of two programs
 * at depth 32 then split the device 1:3 and lose little of one alone,
 * on a steady device and on a noisy one (whose noise must not make the
 * capacity wander off).
 */
static void shares_on_a_learning_device(double noise)
{
	struct tdev d;
	uint64_t a, b, alone;
	double cap, ratio;

	/* one program alone at depth 32: the yardstick */
	tdev_init(&d, 100000, 8, 32, 0);
	d.noise = noise;
	tdev_run(&d, 1000000000ull);
	alone = d.done[0];
	ck_assert_msg(tdev_capacity(&d) == 32, "alone: %.1f", tdev_capacity(&d));

	tdev_init(&d, 100000, 8, 32, 32);
	d.noise = noise;
	d.e[1].shares = 300;
	tdev_run(&d, 8000000000ull);
	a = d.done[0];
	b = d.done[1];
	tdev_run(&d, 2000000000ull);
	a = d.done[0] - a;
	b = d.done[1] - b;
	cap = tdev_capacity(&d);
	ratio = (double)b / a;
	printf("# k 8, noise %.2f: capacity %.1f, %llu:%llu in 2 s, %.2fx "
	       "one alone, open %.1f%% of the time\n", noise, cap,
	       (unsigned long long)a,
	       (unsigned long long)b, (a + b) / 2.0 / alone,
	       100.0 * d.opens / d.steps);
	fflush(stdout);
	/* X(D) in 0.9-0.95 of X(64): D in 33-44 */
	ck_assert_msg(cap >= 28 && cap <= 48, "capacity %.1f", cap);
	ck_assert_msg(ratio > 2.55 && ratio < 3.45, "ratio %.2f", ratio);
	ck_assert_msg((a + b) / 2.0 >= 0.9 * alone, "%llu + %llu in 2 s, "
		      "%llu in 1 s alone", (unsigned long long)a,
		      (unsigned long long)b, (unsigned long long)alone);
	ck_assert_msg(d.opens * 10 < d.steps, "open %u of %u steps", d.opens,
		      d.steps);
}

START_TEST(fairq_learns_capacity_from_throughput)
{
	shares_on_a_learning_device(0);
	shares_on_a_learning_device(0.25);
}
END_TEST

/* A device that gains nothing past a few in flight gets a small
 * capacity, also while one program's work is away for moments (a pool
 * of threads whose calls are all on their way back at once); one that
 * keeps gaining up to hundreds a large one; two programs that ask for
 * less than the capacity bring it down to what they ask, where their
 * shares can bind. */
START_TEST(fairq_learnt_capacity_follows_the_device)
{
	struct tdev d;

	tdev_init(&d, 100000, 0.5, 32, 32);
	tdev_run(&d, 4000000000ull);
	ck_assert_msg(tdev_capacity(&d) <= 12, "flat device: %.1f",
		      tdev_capacity(&d));
	tdev_init(&d, 100000, 0.5, 32, 32);
	d.blink = 1;
	tdev_run(&d, 8000000000ull);
	ck_assert_msg(tdev_capacity(&d) <= 16, "flat device, one program "
		      "away at moments: %.1f", tdev_capacity(&d));

	tdev_init(&d, 1000000, 200, 512, 512);
	tdev_run(&d, 4000000000ull);
	ck_assert_msg(tdev_capacity(&d) >= 256, "deep device: %.1f",
		      tdev_capacity(&d));

	tdev_init(&d, 100000, 8, 4, 4);
	tdev_run(&d, 6000000000ull);
	ck_assert_msg(tdev_capacity(&d) >= 4 && tdev_capacity(&d) <= 10,
		      "small demand: %.1f", tdev_capacity(&d));
}
END_TEST

static void latencies(struct dmaio__fq_ent *l, unsigned n, uint64_t ns)
{
	while (n--)
		dmaio__fq_latency_seen(l, ns);
}

/*
 * A latency class's own latencies take the others' room back when more
 * than 1% of a window of 256 pass its target (a model too kind to the
 * others), halving it each window down to a 16th; a single stall takes
 * nothing; windows all under half the target give it back by quarters,
 * up to what the model said. keeps_latency then holds the others to it.
 */
START_TEST(fairq_latency_class_takes_room_back)
{
	struct dmaio__fq_ent l;
	const uint64_t room = 750000;
	struct sim s;
	unsigned t, w;

	memset(&l, 0, sizeof(l));
	l.latency_us = 1000;
	latencies(&l, 255, 200000);
	latencies(&l, 1, 20000000); /* a stall of the host's */
	ck_assert_uint_eq(dmaio__fq_latency_room(&l, room), room);
	latencies(&l, 250, 200000);
	latencies(&l, 6, 1500000);
	ck_assert_uint_eq(dmaio__fq_latency_room(&l, room), room / 2);
	latencies(&l, 256, 1500000);
	ck_assert_uint_eq(dmaio__fq_latency_room(&l, room), room / 4);
	for (w = 0; w < 8; w++)
		latencies(&l, 256, 2000000);
	ck_assert_uint_eq(dmaio__fq_latency_room(&l, room), room / 16);
	/* between half the target and the target: it stays */
	latencies(&l, 256, 700000);
	ck_assert_uint_eq(dmaio__fq_latency_room(&l, room), room / 16);
	for (w = 0; w < 20; w++)
		latencies(&l, 256, 300000);
	ck_assert_uint_eq(dmaio__fq_latency_room(&l, room), room);

	/* the pick holds the others to the room left: 0 latency 100 us
	 * (75 us of room, a quarter of it left), 1 operations of 5 us */
	sim_init(&s, 2, 1000 * 1000 * 1000);
	s.e[0].latency_us = 100;
	s.cost[1] = 5000;
	latencies(&s.e[0], 256, 200000);
	latencies(&s.e[0], 256, 200000);
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 2000; t++)
		sim_tick(&s);
	ck_assert_uint_le(s.max_others, 75000 / 4);
	ck_assert_uint_gt(s.sent[1], 50); /* held back, not starved */
}
END_TEST

/*
 * Beside an active latency class the others' operations go in parts that
 * fit in half its target: the largest power of two whose cost does, 4 KiB
 * at least; a class is never split for its own target, nor for one with
 * no work, and the tightest target of several wins.
 */
START_TEST(fairq_parts_fit_in_half_a_latency_target)
{
	struct dmaio__fq_model m;
	struct dmaio__fq_ent l, l2, w;
	struct dmaio__fq_ent *ents[3] = { &l, &w, &l2 };
	uint64_t part;

	dmaio__fq_model_default(&m); /* 20k IOPS, 1 GB/s */
	memset(&l, 0, sizeof(l));
	memset(&l2, 0, sizeof(l2));
	memset(&w, 0, sizeof(w));
	l.latency_us = 1000;
	/* the latency class has no work: no limit */
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 2, &w, 1), 0);
	l.inflight_cost = 50000;
	part = dmaio__fq_part_max(&m, ents, 2, &w, 1);
	ck_assert_uint_eq(part, 256 * 1024);
	ck_assert_uint_le(dmaio__fq_cost(&m, 1, part), 500000);
	ck_assert_uint_gt(dmaio__fq_cost(&m, 1, 2 * part), 500000);
	/* a class with no entity yet is limited alike */
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 2, NULL, 1), part);
	/* reads are dearer per byte on a model that says so */
	m.bw[0] = 250 * 1000 * 1000;
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 2, &w, 0), 64 * 1024);
	/* its own target does not split the latency class's operations */
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 2, &l, 1), 0);
	/* the tightest active target: 200 us leaves 100 us, 32 KiB */
	l2.latency_us = 200;
	l2.queued = 1;
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 3, &w, 1), 32 * 1024);
	/* and l, itself held to l2's */
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 3, &l, 1), 32 * 1024);
	/* a target under one I/O's cost: one 4 KiB I/O at a time */
	l2.latency_us = 50;
	ck_assert_uint_eq(dmaio__fq_part_max(&m, ents, 3, &w, 1), 4096);
}
END_TEST

/*
 * Why parts: one operation dearer than the others' room (three quarters
 * of the target) still goes when nothing of the others' is in flight, so
 * the latency class's operations find that much ahead of them; in parts
 * (of half the target at most), never more than the room.
 */
START_TEST(fairq_parts_keep_others_within_their_room)
{
	struct dmaio__fq_model m;
	struct sim s;
	unsigned t;

	dmaio__fq_model_default(&m);
	sim_init(&s, 2, 1000 * 1000 * 1000);
	s.e[0].latency_us = 1000;
	s.cost[0] = dmaio__fq_cost(&m, 0, 4096);
	s.cost[1] = dmaio__fq_cost(&m, 1, 1 << 20);
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 2000; t++)
		sim_tick(&s);
	ck_assert_uint_gt(s.max_others, 750000);
	/* the whole ones in flight complete, then it sends parts */
	sim_backlog(&s, 1, 0);
	for (t = 0; t < 200; t++)
		sim_tick(&s);
	ck_assert_uint_eq(s.e[1].inflight_cost, 0);
	s.cost[1] = dmaio__fq_cost(&m, 1, dmaio__fq_part_max(&m, s.ents, 2,
							     &s.e[1], 1));
	sim_backlog(&s, 1, 1);
	s.max_others = 0;
	s.sent[1] = 0;
	for (t = 0; t < 2000; t++)
		sim_tick(&s);
	ck_assert_uint_le(s.max_others, 750000);
	ck_assert_uint_gt(s.sent[1], 10); /* held back, not starved */
}
END_TEST

/*
 * Two loops, each sending only its own entity's operations and waking the
 * other when the fair queue names the other's. own: each asks for its
 * own view (pick_for); else the plain order. Counts the hand-offs.
 */
static int owners_pick(struct sim *s, int own, void *const *owners,
		       unsigned me)
{
	if (own)
		return dmaio__fq_pick_for(&s->q, s->ents, owners, 2,
					  owners[me]);
	return dmaio__fq_pick_for(&s->q, s->ents, NULL, 2, NULL);
}

/* Loop me sends its own until the queue names the other's: 1 then. */
static unsigned owner_turn(struct sim *s, int own, void *const *owners,
			   unsigned me)
{
	int i;

	while ((i = owners_pick(s, own, owners, me)) >= 0) {
		if ((unsigned)i != me)
			return 1;
		dmaio__fq_dispatched(&s->q, &s->e[i], s->cost[i]);
		s->sent[i]++;
		s->owner[s->tail++ % MAXQ] = (unsigned)i;
	}
	return 0;
}

static unsigned sim_two_owners(struct sim *s, int own, unsigned ticks)
{
	int a, b;
	void *owners[2] = { &a, &b };
	unsigned t, handoffs = 0, last = 0, rng = 1;

	for (t = 0; t < ticks; t++) {
		unsigned k, o;

		/* the loop whose completion freed room looks first */
		handoffs += owner_turn(s, own, owners, last);
		handoffs += owner_turn(s, own, owners, last ^ 1);
		if (s->head == s->tail)
			continue;
				/* any of those in flight completes, as on a device */
		rng = rng * 1103515245 + 12345;
		k = s->head + rng / 65536 % (s->tail - s->head);
		o = s->owner[k % MAXQ];
		s->owner[k % MAXQ] = s->owner[s->head % MAXQ];
		s->head++;
		last = o;
		dmaio__fq_completed(&s->q, &s->e[o], s->cost[o]);
	}
	return handoffs;
}

/* Shares 100 and 300 on two owners, each its own first or not: the
 * ratio holds either way; returns the hand-offs in 20000 completions. */
static unsigned shares_on_two_owners(int own_first)
{
	struct sim s;
	unsigned handoffs;
	double ratio;

	sim_init(&s, 2, 32 * 1000);
	s.e[1].shares = 300;
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	handoffs = sim_two_owners(&s, own_first, 20000);
	ratio = (double)s.sent[1] / s.sent[0];
	ck_assert_msg(ratio > 2.9 && ratio < 3.1, "%s: %u:%u",
		      own_first ? "own first" : "plain", s.sent[0], s.sent[1]);
	return handoffs;
}

START_TEST(fairq_own_loop_first_within_a_slack)
{
	struct sim s;
	int a, b;
	void *owners[2] = { &a, &b };
	unsigned plain, own;

	/* the other owner's entity is a little behind: its own goes */
	sim_init(&s, 2, 32 * 1000);
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	s.e[0].vtime = 1000000;
	s.e[1].vtime = 1000000 + 8 * 1000 * 10000 / 100; /* 8 ops ahead */
	ck_assert_int_eq(dmaio__fq_pick_for(&s.q, s.ents, NULL, 2, NULL), 0);
	ck_assert_int_eq(dmaio__fq_pick_for(&s.q, s.ents, owners, 2, &b), 1);
	ck_assert_int_eq(dmaio__fq_pick_for(&s.q, s.ents, owners, 2, &a), 0);
	/* past a quarter of the capacity ahead, it hands over */
	s.e[1].vtime = 1000000 + 9 * 1000 * 10000 / 100;
	ck_assert_int_eq(dmaio__fq_pick_for(&s.q, s.ents, owners, 2, &b), 0);

	/* shares 100 and 300 on two loops: the ratio holds either way, and
	 * the loops hand over far less often when each looks at its own */
	plain = shares_on_two_owners(0);
	own = shares_on_two_owners(1);
	printf("# hand-offs in 20000 completions: %u plain, %u own first\n",
	       plain, own);
	fflush(stdout);
	ck_assert_msg(own * 4 < plain, "hand-offs: %u with pick_for, %u "
				       "without", own, plain);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fairq_internals");
	TCase *tc = tu_tcase(s, "fairq");

	TU_ADD(tc, fairq_shares_give_time_in_proportion);
	TU_ADD(tc, fairq_set_shares_takes_effect);
	TU_ADD(tc, fairq_idle_class_banks_no_credit);
	TU_ADD(tc, fairq_latency_class_holds_others_back);
	TU_ADD(tc, fairq_latency_class_takes_room_back);
	TU_ADD(tc, fairq_alone_is_never_held_back);
	TU_ADD(tc, fairq_capacity_bounds_competing_inflight);
	TU_ADD(tc, fairq_cost_follows_the_model);
	TU_ADD(tc, fairq_lat_hist_bucket_edges);
	TU_ADD(tc, fairq_learns_capacity_from_throughput);
	TU_ADD(tc, fairq_learnt_capacity_follows_the_device);
	TU_ADD(tc, fairq_parts_fit_in_half_a_latency_target);
	TU_ADD(tc, fairq_parts_keep_others_within_their_room);
	TU_ADD(tc, fairq_own_loop_first_within_a_slack);
	return tu_run(s);
}
