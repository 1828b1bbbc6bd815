/* SPDX-License-Identifier: MIT */
/*
 * Layer 0: the operation record's pool, the deferred-completion queue,
 * the registry of objects a loop owns, and callback delivery. These only
 * touch the loop's own memory (and write its wake-up eventfd): they call
 * nothing of the library but error.c.
 */
#include "loop.h"

#include <stdlib.h>
#include <unistd.h>

struct dmaio__op *dmaio__op_get(struct dmaio_loop *loop)
{
	struct dmaio__op *op = loop->free_ops;

	if (op) {
		loop->free_ops = op->next;
		loop->nfree_ops--;
	} else {
		op = malloc(sizeof(*op));
		if (!op)
			return NULL;
	}
	memset(op, 0, sizeof(*op));
	op->loop = loop;
	op->internal = loop->internal_calls != 0;
	return op;
}

void dmaio__op_put(struct dmaio_loop *loop, struct dmaio__op *op)
{
	/* keep about two context's worth: beyond that, memory goes back */
	if (loop->nfree_ops >= 2 * (size_t)loop->aio.depth + 64) {
		free(op);
		return;
	}
	op->next = loop->free_ops;
	loop->free_ops = op;
	loop->nfree_ops++;
}

void dmaio__op_pool_free(struct dmaio_loop *loop)
{
	struct dmaio__op *op;

	while ((op = loop->free_ops)) {
		loop->free_ops = op->next;
		free(op);
	}
	loop->nfree_ops = 0;
}

/*
 * An embedding program polls dmaio_loop_fd() and calls run_once(loop, 0)
 * when it is readable, so work queued in user space must make it
 * readable too. Once per batch: the write is drained by the next
 * run_once. Only for such a program: run and run_once look for queued
 * work themselves.
 */
void dmaio__wake_poller(struct dmaio_loop *loop)
{
	uint64_t one = 1;

	if (!loop->external || loop->wake_pending)
		return;
	loop->wake_pending = 1;
	if (write(loop->wake_efd, &one, sizeof(one)) < 0) {
		/* the counter is far from full: nothing to do */
	}
}

void dmaio__defer(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	op->res = res;
	dmaio__opq_push(&loop->deferred, op);
	if (!loop->in_run)
		dmaio__wake_poller(loop);
}

void dmaio__call_cb(struct dmaio_loop *loop, dmaio_cb cb, void *arg,
		    int64_t res)
{
	if (cb)
		DMAIO__CALL_USER(loop, cb(arg, res));
}

void dmaio__op_call_cb(struct dmaio__op *op, dmaio_cb cb, int64_t res)
{
	if (cb && dmaio__op_may_call(op))
		DMAIO__DELIVER_OP(op, cb(op->arg, res));
}

static void post_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;

	loop->pending--;
	dmaio__op_call_cb(op, op->u.cb, res);
	dmaio__op_put(loop, op);
}

int dmaio__post(struct dmaio_loop *loop, dmaio_cb cb, void *arg, int64_t res)
{
	struct dmaio__op *op = dmaio__op_get(loop);

	if (!op)
		return dmaio__fail(-ENOMEM, "no memory for an operation");
	op->done = post_done;
	op->u.cb = cb;
	op->arg = arg;
	loop->pending++;
	dmaio__defer(op, res);
	return 0;
}

void dmaio__own(struct dmaio_loop *loop, struct dmaio__owned *o,
		void (*drop)(struct dmaio__owned *o))
{
	o->drop = drop;
	o->prev = NULL;
	o->next = loop->owned;
	if (o->next)
		o->next->prev = o;
	loop->owned = o;
}

void dmaio__disown(struct dmaio_loop *loop, struct dmaio__owned *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		loop->owned = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->prev = o->next = NULL;
}

void dmaio__drop_owned(struct dmaio_loop *loop)
{
	while (loop->owned) {
		struct dmaio__owned *o = loop->owned;

		dmaio__disown(loop, o);
		o->drop(o);
	}
}

void dmaio__owned_closed(struct dmaio_loop *loop, struct dmaio__owned *o,
			 dmaio_cb cb, void *arg, int64_t res)
{
	dmaio__disown(loop, o);
	o->drop(o);
	dmaio__call_cb(loop, cb, arg, res);
}
