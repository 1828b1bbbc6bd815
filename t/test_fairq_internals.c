/* SPDX-License-Identifier: MIT */
/*
 * Internals: the dispatcher's fair queue (lib/fairq.c) driven with a
 * simulated device and clock, so that the order of dispatch is exact:
 * shares give device time in proportion, an idle class banks no credit,
 * a latency class keeps the others' in-flight cost under half its
 * target, a class alone is never held back, the in-flight cost stays
 * within the capacity, and the lat_hist bucket edges.
 */
#include "testutil.h"
#include "fairq.h"

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
	       (i = dmaio__fq_pick(&s->q, s->ents, s->n)) >= 0) {
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
		ck_assert_int_eq(dmaio__fq_pick(&s.q, s.ents, 2), 0);
		dmaio__fq_dispatched(&s.q, &s.e[0], 1000);
		s.e[0].queued--;
	}
	ck_assert_int_eq(dmaio__fq_pick(&s.q, s.ents, 2), -1);
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
	return tu_run(s);
}
