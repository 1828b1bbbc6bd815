/* SPDX-License-Identifier: MIT */
/*
 * Loops of one process share each device's capacity: the table of
 * accounts is keyed by dev_t, and a device's account lives while a loop
 * has its files on it with classes. Models come from io_props (dmaio-tune's
 * measurements) or, without one, the fair queue's guess and learning.
 */
#include "devacct.h"
#include "io_props.h"

#include <errno.h>
#include <stdlib.h>

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dmaio__devacct *table;

static void model_of(dev_t dev, struct dmaio__fq_model *m)
{
	struct dmaio__io_props p;

	dmaio__fq_model_default(m);
	if (dmaio__io_props_lookup(dev, &p))
		return;
	if (p.read_iops)
		m->iops[0] = p.read_iops;
	if (p.write_iops)
		m->iops[1] = p.write_iops;
	if (p.read_bw)
		m->bw[0] = p.read_bw;
	if (p.write_bw)
		m->bw[1] = p.write_bw;
	m->knee_depth = p.knee_depth;
	m->measured = 1;
}

struct dmaio__devacct *dmaio__devacct_get(dev_t dev)
{
	struct dmaio__devacct *a;

	pthread_mutex_lock(&table_mu);
	for (a = table; a; a = a->next)
		if (a->dev == dev)
			break;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (a) {
			a->dev = dev;
			pthread_mutex_init(&a->mu, NULL);
			model_of(dev, &a->model);
			dmaio__fq_init(&a->fq, &a->model);
			a->next = table;
			table = a;
		}
	}
	if (a)
		a->refs++;
	pthread_mutex_unlock(&table_mu);
	return a;
}

void dmaio__devacct_put(struct dmaio__devacct *a)
{
	struct dmaio__devacct **pp;

	if (!a)
		return;
	pthread_mutex_lock(&table_mu);
	if (--a->refs) {
		pthread_mutex_unlock(&table_mu);
		return;
	}
	for (pp = &table; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	pthread_mutex_unlock(&table_mu);
	pthread_mutex_destroy(&a->mu);
	free(a->ents);
	free(a->owners);
	free(a);
}

int dmaio__devacct_add(struct dmaio__devacct *a, struct dmaio__fq_ent *e,
		       void *owner)
{
	if (a->n == a->room) {
		unsigned room = a->room ? 2 * a->room : 8;
		struct dmaio__fq_ent **ents = realloc(a->ents,
						      room * sizeof(*ents));
		void **owners;

		if (!ents)
			return -ENOMEM;
		a->ents = ents;
		owners = realloc(a->owners, room * sizeof(*owners));
		if (!owners)
			return -ENOMEM;
		a->owners = owners;
		a->room = room;
	}
	a->ents[a->n] = e;
	a->owners[a->n] = owner;
	a->n++;
	return 0;
}

void dmaio__devacct_del(struct dmaio__devacct *a, struct dmaio__fq_ent *e)
{
	unsigned i;

	for (i = 0; i < a->n; i++)
		if (a->ents[i] == e) {
			a->n--;
			a->ents[i] = a->ents[a->n];
			a->owners[i] = a->owners[a->n];
			return;
		}
}
