/* SPDX-License-Identifier: MIT */
/*
 * I/O classes: kinds of work that share a device by their shares, one
 * with a latency target kept by holding the others back. Each class's
 * operations wait on each device in a queue of their own; the device's
 * process-wide account (devacct.c) holds the fair queue (fairq.c) that
 * every loop's classes on it compete in, so a class of one loop is held
 * back for another's, and the loop whose turn it is gets woken.
 *
 * With no class created the dispatcher never comes here (dispatch.c):
 * the 1.2 path, with nothing waiting that did not wait then.
 */
#include "dispatch.h"
#include "devacct.h"
#include "aio.h"
#include "loop.h"

#include <stddef.h>
#include <stdlib.h>

#define DEFAULT_SHARES 100

static struct dmaio_class *class_of(struct dmaio_loop *loop,
				    const struct dmaio__op *op)
{
	return op->cls ? op->cls : &loop->disp.def;
}

static struct dmaio__disp_cq *cq_of(struct dmaio__fq_ent *e)
{
	return (struct dmaio__disp_cq *)((char *)e -
					 offsetof(struct dmaio__disp_cq, fq));
}

/* The queue of cls on d, made (and entered in d's account) at first use. */
static struct dmaio__disp_cq *cq_get(struct dmaio_loop *loop,
				     struct dmaio__disp_dev *d,
				     struct dmaio_class *cls)
{
	struct dmaio__disp_cq *cq;
	int ret;

	for (cq = d->cqs; cq; cq = cq->next)
		if (cq->cls == cls)
			return cq;
	if (!d->acct && !(d->acct = dmaio__devacct_get(d->dev)))
		return NULL;
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	cq->cls = cls;
	cq->fq.shares = cls->shares;
	cq->fq.latency_us = cls->latency_us;
	pthread_mutex_lock(&d->acct->mu);
	ret = dmaio__devacct_add(d->acct, &cq->fq, loop);
	pthread_mutex_unlock(&d->acct->mu);
	if (ret) {
		free(cq);
		return NULL;
	}
	cq->next = d->cqs;
	d->cqs = cq;
	d->ncqs++;
	return cq;
}

static void cq_release(struct dmaio__disp_dev *d, struct dmaio__disp_cq *cq,
		       int inherited)
{
	/* a forked child's copy: the parent's threads may hold the lock */
	if (!inherited) {
		pthread_mutex_lock(&d->acct->mu);
		dmaio__devacct_del(d->acct, &cq->fq);
		pthread_mutex_unlock(&d->acct->mu);
	}
	d->ncqs--;
	free(cq);
}

void dmaio__class_dev_free(struct dmaio__disp_dev *d, int inherited)
{
	while (d->cqs) {
		struct dmaio__disp_cq *cq = d->cqs;

		d->cqs = cq->next;
		cq_release(d, cq, inherited);
	}
	if (!inherited)
		dmaio__devacct_put(d->acct);
	d->acct = NULL;
}

void dmaio__class_cq_free(struct dmaio__disp_dev *d, struct dmaio__disp_cq *cq)
{
	cq_release(d, cq, 0);
}

/* Under a->mu: another loop's class may go now; wake that loop once. */
static void wake_owner(struct dmaio_loop *loop)
{
	if (!__atomic_exchange_n(&loop->disp.acct_woken, 1, __ATOMIC_SEQ_CST))
		dmaio__wake_remote(loop);
}

static void dispatch_at(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
			uint64_t now);

void dmaio__class_queue(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
			struct dmaio__op *op)
{
	struct dmaio_class *cls = class_of(loop, op);
	struct dmaio__disp_cq *cq = cq_get(loop, d, cls);
	struct dmaio__devacct *a = d->acct;
	uint64_t now;

	if (!cq) {
		/* no memory for a queue: it goes as without classes */
		dmaio__opq_push(&loop->disp.subq, op);
		return;
	}
	op->cost = dmaio__fq_cost(&a->model, op->iocb.aio_lio_opcode ==
					      IO_CMD_PWRITE,
				  op->iocb.u.c.nbytes);
	now = dmaio__now_ns();
	op->t_queued = now;
	pthread_mutex_lock(&a->mu);
	if (!cq->fq.queued && !cq->fq.inflight_cost)
		dmaio__fq_activate(a->ents, a->n, &cq->fq);
	if (!cq->fq.queued)
		cq->fq.head_cost = op->cost;
	cq->fq.queued++;
	pthread_mutex_unlock(&a->mu);
	dmaio__opq_push(&cq->q, op);
	d->nqueued++;
	loop->disp.nqueued++;
	cls->st.queued++;
	dispatch_at(loop, d, now);
}

uint64_t dmaio__class_part_max(struct dmaio_loop *loop,
			       struct dmaio__disp_dev *d,
			       struct dmaio_class *cls, int write)
{
	struct dmaio__devacct *a = d ? d->acct : NULL;
	struct dmaio__disp_cq *cq;
	uint64_t part;

	/* no account yet: no class of any loop has had work here */
	if (!a)
		return 0;
	if (!cls)
		cls = &loop->disp.def;
	for (cq = d->cqs; cq; cq = cq->next)
		if (cq->cls == cls)
			break;
	pthread_mutex_lock(&a->mu);
	part = dmaio__fq_part_max(&a->model, a->ents, a->n,
				  cq ? &cq->fq : NULL, write);
	pthread_mutex_unlock(&a->mu);
	return part;
}

/* Under a->mu: cq's next operation leaves its queue for the device. */
static void send(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
		 struct dmaio__disp_cq *cq, uint64_t now)
{
	struct dmaio__op *op = dmaio__opq_pop(&cq->q);

	cq->fq.queued--;
	cq->fq.head_cost = cq->q.head ? cq->q.head->cost : 0;
	dmaio__fq_dispatched(&d->acct->fq, &cq->fq, op->cost);
	d->nqueued--;
	loop->disp.nqueued--;
	cq->cls->st.queued--;
	cq->cls->st.queued_ns_total += now - op->t_queued;
	op->cq = cq;
	d->inflight++;
	dmaio__opq_push(&loop->disp.ready, op);
}

/* Under a->mu: an entity of loop's with operations queued, or -1. */
static int own_queued(const struct dmaio__devacct *a,
		      const struct dmaio_loop *loop)
{
	unsigned i;

	for (i = 0; i < a->n; i++)
		if (a->owners[i] == loop && a->ents[i]->queued)
			return (int)i;
	return -1;
}

static void dispatch_at(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
			uint64_t now)
{
	struct dmaio__devacct *a = d->acct;

	if (!a || !d->nqueued)
		return;
	__atomic_store_n(&loop->disp.acct_woken, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&a->mu);
	while (d->nqueued && (!d->cap || d->inflight < d->cap)) {
		int i = dmaio__fq_pick_for(&a->fq, a->ents, a->owners, a->n,
					   loop);

		/*
		 * The loop is being freed: what it still holds goes as fast
		 * as the device takes it, shares and targets aside. Nobody
		 * waits for its results, and a class of a few shares beside
		 * another loop's busy one would otherwise keep the free
		 * waiting for minutes.
		 */
		if (loop->freeing)
			i = own_queued(a, loop);
		if (i < 0)
			break;
		if (a->owners[i] != loop) {
			wake_owner(a->owners[i]);
			break;
		}
		send(loop, d, cq_of(a->ents[i]), now);
	}
	pthread_mutex_unlock(&a->mu);
}

void dmaio__class_dispatch(struct dmaio_loop *loop, struct dmaio__disp_dev *d)
{
	if (d->acct && d->nqueued)
		dispatch_at(loop, d, dmaio__now_ns());
}

void dmaio__class_completed(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
			    struct dmaio__op *op, int ran)
{
	struct dmaio__devacct *a = d->acct;
	uint64_t now = 0;
	int i;

	d->inflight--;
	pthread_mutex_lock(&a->mu);
	dmaio__fq_completed(&a->fq, &op->cq->fq, op->cost);
	/* nothing to learn from one that never reached the device; one
	 * class alone on it needs no clock (the learner only resets) */
	if (ran && a->n > 1 && (a->fq.learn || op->cq->fq.latency_us))
		now = dmaio__now_ns();
	if (ran && a->fq.learn)
		dmaio__fq_learn(&a->fq, a->ents, a->n, op->cost, now);
	if (now && op->cq->fq.latency_us) {
		const struct dmaio__op *top = op->parent ? op->parent : op;

		if (top->t_call)
			dmaio__fq_latency_seen(&op->cq->fq,
					       now - top->t_call);
	}
	/* room freed: another loop's class may be the one to use it */
	if (a->n > d->ncqs) {
		i = dmaio__fq_pick_for(&a->fq, a->ents, a->owners, a->n,
				       loop);
		if (i >= 0 && a->owners[i] != loop)
			wake_owner(a->owners[i]);
	}
	pthread_mutex_unlock(&a->mu);
	op->cq = NULL;
}

/* Moves f's operations waiting in d's class queues to out. */
void dmaio__class_take(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
		       const struct dmaio_file *f, struct dmaio__opq *out)
{
	struct dmaio__disp_cq *cq;

	for (cq = d->cqs; cq; cq = cq->next) {
		struct dmaio__opq keep = { NULL, NULL, 0 };
		struct dmaio__op *op;
		size_t taken = 0;

		if (!cq->q.n)
			continue;
		while ((op = dmaio__opq_pop(&cq->q))) {
			if ((op->parent ? op->parent->file : op->file) == f) {
				dmaio__opq_push(out, op);
				taken++;
			} else {
				dmaio__opq_push(&keep, op);
			}
		}
		cq->q = keep;
		d->nqueued -= taken;
		loop->disp.nqueued -= taken;
		cq->cls->st.queued -= taken;
		pthread_mutex_lock(&d->acct->mu);
		cq->fq.queued -= taken;
		cq->fq.head_cost = cq->q.head ? cq->q.head->cost : 0;
		pthread_mutex_unlock(&d->acct->mu);
	}
}

void dmaio__class_shares_changed(struct dmaio_class *c)
{
	struct dmaio__disp_dev *d;
	struct dmaio__disp_cq *cq;

	for (d = c->loop->disp.devs; d; d = d->next)
		for (cq = d->cqs; cq; cq = cq->next)
			if (cq->cls == c) {
				pthread_mutex_lock(&d->acct->mu);
				cq->fq.shares = c->shares;
				pthread_mutex_unlock(&d->acct->mu);
			}
}

void dmaio__class_count(struct dmaio_class *c, const struct dmaio__op *op,
			int64_t res)
{
	uint64_t lat;

	c->nops--;
	if (!op->rw)
		return;
	lat = dmaio__now_ns() - op->t_call;
	c->st.ops++;
	if (res > 0)
		c->st.bytes += (uint64_t)res;
	c->st.lat_ns_total += lat;
	if (lat > c->st.lat_ns_max)
		c->st.lat_ns_max = lat;
	c->st.lat_hist[dmaio__lat_bucket(lat)]++;
}

void dmaio__class_init_default(struct dmaio_loop *loop)
{
	loop->disp.def.loop = loop;
	loop->disp.def.shares = DEFAULT_SHARES;
}

void dmaio__classes_free(struct dmaio_loop *loop)
{
	while (loop->disp.classes) {
		struct dmaio_class *c = loop->disp.classes;

		loop->disp.classes = c->next;
		free(c->name);
		free(c);
	}
	__atomic_store_n(&loop->disp.nclasses, 0, __ATOMIC_RELAXED);
}
