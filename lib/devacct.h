/* SPDX-License-Identifier: MIT */
/*
 * Layer 0, devacct.c: the process-wide account of a device that every
 * loop's classes on it share: one fair queue, its entities (one per class
 * per loop with work there) and their owners, under one mutex.
 */
#ifndef DMAIO_DEVACCT_H
#define DMAIO_DEVACCT_H

#include "fairq.h"

#include <pthread.h>
#include <sys/types.h>

struct dmaio__devacct {
	struct dmaio__devacct *next;
	dev_t dev;
	unsigned refs;            /* devices of loops that use it */
	pthread_mutex_t mu;       /* everything below */
	struct dmaio__fq fq;
	struct dmaio__fq_model model;
	struct dmaio__fq_ent **ents;
	void **owners;            /* the loop of each entity */
	unsigned n, room;
};

/* The account of dev, made with the device's model on first use; NULL
 * when memory runs out. Thread-safe. */
struct dmaio__devacct *dmaio__devacct_get(dev_t dev);
void dmaio__devacct_put(struct dmaio__devacct *a);
/* Under a->mu: adds e of owner (0 or -ENOMEM), removes it. */
int dmaio__devacct_add(struct dmaio__devacct *a, struct dmaio__fq_ent *e,
		       void *owner);
void dmaio__devacct_del(struct dmaio__devacct *a, struct dmaio__fq_ent *e);

#endif /* DMAIO_DEVACCT_H */
