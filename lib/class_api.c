/* SPDX-License-Identifier: MIT */
/*
 * The public calls on I/O classes: creating, re-weighing, freeing and
 * reading one. A class belongs to its loop's thread, as files do.
 */
#include "dispatch.h"
#include "loop.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARES 10000

DMAIO_EXPORT void dmaio_class_opts_init(struct dmaio_class_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->shares = 100;
}

static int check_shares(unsigned shares, const char *what)
{
	if (shares < 1 || shares > MAX_SHARES)
		return dmaio__fail(-EINVAL, "%s: shares %u is outside 1..%u",
				   what, shares, MAX_SHARES);
	return 0;
}

/* The caller's options, as far as its struct goes; defaults beyond. */
static int read_opts(const struct dmaio_class_opts *in,
		     struct dmaio_class_opts *o)
{
	dmaio_class_opts_init(o);
	if (!in)
		return 0;
	if (in->size < sizeof(size_t))
		return dmaio__fail(-EINVAL, "class_new: o->size %zu is smaller "
				   "than a size_t", in->size);
	memcpy((char *)o + sizeof(size_t), (const char *)in + sizeof(size_t),
	       (in->size < sizeof(*o) ? in->size : sizeof(*o)) -
		       sizeof(size_t));
	o->size = sizeof(*o);
	return check_shares(o->shares, "class_new");
}

DMAIO_EXPORT int dmaio_class_new(struct dmaio_loop *loop,
				 const struct dmaio_class_opts *in,
				 struct dmaio_class **out)
{
	struct dmaio_class_opts o;
	struct dmaio_class *c;
	int ret;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || !out)
		return dmaio__fail(-EINVAL, "class_new: %s is NULL",
				   loop ? "out" : "loop");
	ret = read_opts(in, &o);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(o.name ? o.name : ""))) {
		free(c);
		return dmaio__fail(-ENOMEM, "class_new: no memory");
	}
	c->loop = loop;
	c->shares = o.shares;
	c->latency_us = o.latency_us;
	c->st.size = sizeof(c->st);
	c->next = loop->disp.classes;
	loop->disp.classes = c;
	/* wait_direct.c looks from other threads */
	__atomic_add_fetch(&loop->disp.nclasses, 1, __ATOMIC_RELAXED);
	*out = c;
	return 0;
}

DMAIO_EXPORT int dmaio_class_set_shares(struct dmaio_class *c, unsigned shares)
{
	int ret;

	if (!c)
		return dmaio__fail(-EINVAL, "class_set_shares: class is NULL");
	ret = check_shares(shares, "class_set_shares");
	if (ret)
		return ret;
	c->shares = shares;
	dmaio__class_shares_changed(c);
	return 0;
}

/* Its (empty) queues on the loop's devices go with it. */
static void drop_queues(struct dmaio_class *c)
{
	struct dmaio__disp_dev *d;

	for (d = c->loop->disp.devs; d; d = d->next) {
		struct dmaio__disp_cq **pp = &d->cqs;

		while (*pp) {
			struct dmaio__disp_cq *cq = *pp;

			if (cq->cls != c) {
				pp = &cq->next;
				continue;
			}
			*pp = cq->next;
			dmaio__class_cq_free(d, cq);
		}
	}
}

DMAIO_EXPORT int dmaio_class_free(struct dmaio_class *c)
{
	struct dmaio_class **pp;

	if (!c)
		return dmaio__fail(-EINVAL, "class_free: class is NULL");
	if (c->nfiles)
		return dmaio__fail(-EBUSY, "class_free: class '%s' is set on "
				   "%u open file(s)", c->name, c->nfiles);
	if (c->nops)
		return dmaio__fail(-EBUSY, "class_free: class '%s' has %zu "
				   "operation(s) not called back yet", c->name,
				   c->nops);
	drop_queues(c);
	for (pp = &c->loop->disp.classes; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	__atomic_sub_fetch(&c->loop->disp.nclasses, 1, __ATOMIC_RELAXED);
	free(c->name);
	free(c);
	return 0;
}

DMAIO_EXPORT int dmaio_class_stats(const struct dmaio_class *c,
				   struct dmaio_class_stats *st)
{
	size_t n;

	if (!c || !st)
		return dmaio__fail(-EINVAL, "class_stats: %s is NULL",
				   c ? "st" : "class");
	n = st->size;
	if (n < sizeof(size_t))
		return dmaio__fail(-EINVAL, "class_stats: st->size %zu is "
				   "smaller than a size_t", n);
	memcpy((char *)st + sizeof(size_t), (const char *)&c->st + sizeof(size_t),
	       (n < sizeof(*st) ? n : sizeof(*st)) - sizeof(size_t));
	return 0;
}
