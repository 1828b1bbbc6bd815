/* SPDX-License-Identifier: MIT */
/*
 * Internals: the dispatcher's fair queue (lib/fairq.c) driven with a
 * simulated device and clock, so that the order of dispatch is exact:
 * shares give device time in proportion, an idle class banks no credit,
 * a latency class keeps the others' in-flight cost under half its
 * target (its operations in parts that fit in that half), a class
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

		dmaio__fq_completed(&s->q, &s->e[o], s->cost[o], 0, 1);
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

	/* 0: latency 100 us (others may keep 50 us of cost in flight);
	 * 1: operations of 20 us each; capacity far above */
	sim_init(&s, 2, 1000 * 1000 * 1000);
	s.e[0].latency_us = 100;
	s.cost[0] = 1000;
	s.cost[1] = 20000;
	sim_backlog(&s, 0, 1);
	sim_backlog(&s, 1, 1);
	for (t = 0; t < 5000; t++)
		sim_tick(&s);
	ck_assert_uint_le(s.max_others, 50000);
	ck_assert_uint_gt(s.sent[1], 100); /* held back, not starved */
	/* without the latency class active the others fill the device */
	sim_backlog(&s, 0, 0);
	for (t = 0; t < 100; t++)
		sim_tick(&s);
	ck_assert_uint_gt(s.q.inflight_cost - s.e[0].inflight_cost, 50000);
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

START_TEST(fairq_learns_capacity_from_latency)
{
	struct dmaio__fq q;
	struct dmaio__fq_ent e;
	struct dmaio__fq_model m;
	uint64_t start;
	int i;

	dmaio__fq_model_default(&m);
	dmaio__fq_init(&q, &m);
	ck_assert(q.learn);
	memset(&e, 0, sizeof(e));
	e.shares = 100;
	start = q.capacity;
	/* latencies at the least seen: room to grow */
	for (i = 0; i < 64; i++) {
		dmaio__fq_dispatched(&q, &e, q.ref_cost);
		dmaio__fq_completed(&q, &e, q.ref_cost, 100000, 1);
	}
	ck_assert_uint_gt(q.capacity, start);
	start = q.capacity;
	/* ten times that: the queue is where they wait, shrink */
	for (i = 0; i < 64; i++) {
		dmaio__fq_dispatched(&q, &e, q.ref_cost);
		dmaio__fq_completed(&q, &e, q.ref_cost, 1000000, 1);
	}
	ck_assert_uint_lt(q.capacity, start);
	ck_assert_uint_ge(q.capacity, 8 * q.ref_cost);
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
 * Why parts: one operation dearer than half the target still goes when
 * nothing of the others' is in flight, so the latency class's operations
 * find that much ahead of them; in parts, never more than the half.
 */
START_TEST(fairq_parts_keep_others_under_half_the_target)
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
	ck_assert_uint_gt(s.max_others, 500000);
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
	ck_assert_uint_le(s.max_others, 500000);
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
		dmaio__fq_completed(&s->q, &s->e[o], s->cost[o], 0, 1);
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
	TU_ADD(tc, fairq_alone_is_never_held_back);
	TU_ADD(tc, fairq_capacity_bounds_competing_inflight);
	TU_ADD(tc, fairq_cost_follows_the_model);
	TU_ADD(tc, fairq_lat_hist_bucket_edges);
	TU_ADD(tc, fairq_learns_capacity_from_latency);
	TU_ADD(tc, fairq_parts_fit_in_half_a_latency_target);
	TU_ADD(tc, fairq_parts_keep_others_under_half_the_target);
	TU_ADD(tc, fairq_own_loop_first_within_a_slack);
	return tu_run(s);
}
