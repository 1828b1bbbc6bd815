/* SPDX-License-Identifier: MIT */
/*
 * Layer 0, fairq.c: the pure logic of the dispatcher's fair queue (no
 * clock, no loop, no I/O: t/test_fairq_internals.c drives it with a
 * simulated device). An entity is one class's work on one device; what
 * it has had is its virtual time, its cost over its shares. Costs are
 * nanoseconds of device time from the device's model.
 */
#ifndef DMAIO_FAIRQ_H
#define DMAIO_FAIRQ_H

#include <stddef.h>
#include <stdint.h>

/* A device as the dispatcher prices it: a measured model, or a guess. */
struct dmaio__fq_model {
	uint64_t iops[2];    /* 4 KiB random I/O per second: read, write */
	uint64_t bw[2];      /* bytes per second, large sequential */
	unsigned knee_depth; /* 0: not known */
	int measured;        /* 0: the guess; capacity is then learned */
};

struct dmaio__fq_ent {
	uint64_t vtime;         /* cost had, over shares, scaled */
	uint64_t inflight_cost; /* on the device now */
	unsigned shares;        /* 1..10000 */
	uint32_t latency_us;    /* 0: none */
	size_t queued;          /* operations waiting */
	uint64_t head_cost;     /* cost of the next one to go */
	/* a latency class's: the share of the others' room its own
	 * latencies leave them, in 16ths (0: all of it), and the window
	 * they are looked at in (fqlearn.c) */
	unsigned slack;
	unsigned lat_n, lat_over, lat_half;
};

/* The capacity learner's state (fqlearn.c): probes of pairs of parts,
 * one at the capacity and one with it lifted, between times it stays
 * put; what the pairs at this capacity said. */
struct dmaio__fq_learner {
	int probing;
	unsigned part;        /* of the probe, from 0 */
	uint64_t part_from;   /* ns: the part began */
	uint64_t settle;      /* cost to complete before the part counts */
	uint64_t start;       /* ns: the part counts from here; 0: not yet */
	uint64_t cost;        /* completed in the part */
	unsigned n, held;     /* completions in it; of those, held back */
	double x_cap;         /* the last capacity part's rate */
	unsigned pairs;       /* at this capacity: pairs measured, */
	double sum, sum2;     /* the sums of their ratios and squares, */
	unsigned cap_parts;   /* capacity parts, and those that held */
	unsigned held_parts;  /* work back */
	uint64_t open_ns;     /* the probe's open parts took this long */
	uint64_t cruise_from; /* ns: the capacity stays put since; 0: not */
	uint64_t cruise_ns;   /* for this long; 0: probe at once */
	uint64_t alone_from;  /* ns: one class active since; 0: not */
};

struct dmaio__fq {
	uint64_t capacity;      /* in-flight cost allowed while entities compete */
	uint64_t inflight_cost; /* of every entity */
	uint64_t ref_cost;      /* a 4 KiB read's */
	int learn;              /* no measured knee: the capacity is learnt */
	int open;               /* learning: the capacity lifted for a window */
	struct dmaio__fq_learner lr;
};

/* The guess used for a device without a measured model. */
void dmaio__fq_model_default(struct dmaio__fq_model *m);
/* What an I/O of bytes costs on the device (write: nonzero for a write). */
uint64_t dmaio__fq_cost(const struct dmaio__fq_model *m, int write,
			uint64_t bytes);
/* Sets q up for a device of model m. */
void dmaio__fq_init(struct dmaio__fq *q, const struct dmaio__fq_model *m);
/* e gets work after having none: it banks no credit from its idle time. */
void dmaio__fq_activate(struct dmaio__fq_ent *const *ents, unsigned n,
			struct dmaio__fq_ent *e);
/* Index in ents of the entity whose next operation goes now, or -1,
 * asked by the owner me of some entities (owners[i]: ents[i]'s, a loop):
 * its own may go instead of another owner's a little ahead of them
 * (fewer hand-offs between loops), the shares holding over time. owners
 * NULL: one owner, the least served goes. */
int dmaio__fq_pick_for(const struct dmaio__fq *q,
		       struct dmaio__fq_ent *const *ents, void *const *owners,
		       unsigned n, const void *me);
/* Its next operation (cost) went to the device. */
void dmaio__fq_dispatched(struct dmaio__fq *q, struct dmaio__fq_ent *e,
			  uint64_t cost);
/* One of its operations (cost) completed or was taken back. */
void dmaio__fq_completed(struct dmaio__fq *q, struct dmaio__fq_ent *e,
			 uint64_t cost);
/* Learning (q->learn), fqlearn.c: an operation of cost completed on the
 * device at now_ns, ents the device's entities after its accounting;
 * now_ns may be 0 while n < 2. */
void dmaio__fq_learn(struct dmaio__fq *q, struct dmaio__fq_ent *const *ents,
		     unsigned n, uint64_t cost, uint64_t now_ns);

/* One of latency class e's operations took lat_ns from its call to its
 * completion (fqlearn.c). */
void dmaio__fq_latency_seen(struct dmaio__fq_ent *e, uint64_t lat_ns);
/* The others' room beside active latency class l: room (what the model
 * says keeps l inside its target), less what l's latencies took back. */
uint64_t dmaio__fq_latency_room(const struct dmaio__fq_ent *l, uint64_t room);

/* The most bytes one operation of e (NULL: of a class with no entity
 * yet) should carry now, a power of two from 4 KiB on; 0: no limit. */
uint64_t dmaio__fq_part_max(const struct dmaio__fq_model *m,
			    struct dmaio__fq_ent *const *ents, unsigned n,
			    const struct dmaio__fq_ent *e, int write);

/* The lat_hist bucket of a latency: 0 under 2 us, i for [2^i, 2^(i+1))
 * us, 23 from 2^23 us on. */
unsigned dmaio__lat_bucket(uint64_t lat_ns);

#endif /* DMAIO_FAIRQ_H */
