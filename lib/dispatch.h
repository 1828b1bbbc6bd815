/* SPDX-License-Identifier: MIT */
/*
 * Layer 1b, the dispatcher, between the files and the kernel's AIO: what
 * goes to io_submit when. dispatch.c: the queue for io_submit, each block
 * device's cap on iocbs in flight, and how many iocbs one io_submit
 * carries (priced by what a call costs). class.c: I/O classes, a fair
 * queue per device (fairq.c) and its process-wide account (devacct.c),
 * the public class calls and dmaio_file_cancel.
 */
#ifndef DMAIO_DISPATCH_H
#define DMAIO_DISPATCH_H

#include "op.h"
#include "fairq.h"

#include <sys/types.h>

struct dmaio__devacct;

/* One class's operations waiting on one device. */
struct dmaio__disp_cq {
	struct dmaio__disp_cq *next;
	struct dmaio_class *cls;
	struct dmaio__opq q;
	struct dmaio__fq_ent fq;
};

/*
 * A block device's request queue as one loop uses it. io_submit sleeps
 * for a free request once the queue's nr_requests are taken, and the
 * loop's sockets with it; iocbs beyond cap wait here instead, in
 * submission order, and go as this loop's completions on the device free
 * requests. Other processes' requests are not counted: this keeps the
 * loop from filling the queue itself, which is what a deep loop does.
 */
struct dmaio__disp_dev {
	struct dmaio__disp_dev *next;
	dev_t dev;
	unsigned cap;             /* iocbs in flight at most; 0: none */
	unsigned inflight;        /* this loop's iocbs on the device */
	struct dmaio__opq waitq;  /* over the cap, oldest first */
	/* classes (class.c): one queue per class with work here */
	struct dmaio__disp_cq *cqs;
	unsigned ncqs;
	size_t nqueued;           /* operations in cqs */
	struct dmaio__devacct *acct; /* the process's account: NULL until a
					class queues here */
};

struct dmaio_class {
	struct dmaio_class *next; /* the loop's classes */
	struct dmaio_loop *loop;
	char *name;
	unsigned shares;
	uint32_t latency_us;
	unsigned nfiles;          /* files set to it */
	size_t nops;              /* its operations not called back yet */
	struct dmaio_class_stats st;
};

/* A loop's dispatcher (struct dmaio_loop's disp). */
struct dmaio__disp {
	struct dmaio__opq subq;   /* waiting for io_submit */
	struct dmaio__opq ready;  /* taken by a class, counted on its device */
	struct dmaio__disp_dev *devs; /* for the loop's life */
	size_t nwaiting;          /* iocbs in the devices' waitqs */
	size_t nqueued;           /* in the devices' class queues */
	int inline_done;          /* the last io_submit did its reads itself */
	unsigned submit_batch;    /* opts.submit_batch */
	/* pricing io_submit: iocbs a completion's followers gather up to */
	unsigned gather;
	uint64_t sub_ns, gap_ns;  /* averages: a call's time, between calls */
	uint64_t last_end;        /* when the last call returned */
	unsigned ncalls;
	unsigned depth_seen;      /* iocbs in flight after recent calls */
	/* classes: none created means the 1.2 path */
	struct dmaio_class *classes;
	unsigned nclasses;
	struct dmaio_class def;   /* the default class, shares 100 */
	int acct_woken;           /* another loop woke us to dispatch: atomic */
};

/* dispatch.c */
/* Queues op (its iocb prepared) for the device d (NULL: none). */
void dmaio__dispatch(struct dmaio_loop *loop, struct dmaio__op *op,
		     struct dmaio__disp_dev *d);
/* Submits what may go, in calls of 1, 2, 4.. (what the loop turn queued). */
void dmaio__dispatch_flush(struct dmaio_loop *loop);
/* The device dev with a cap of cap iocbs (0: no cap), shared by the loop's
 * files on it; NULL when memory runs out (no cap, no class). */
struct dmaio__disp_dev *dmaio__disp_dev_get(struct dmaio_loop *loop,
					    dev_t dev, unsigned cap);
void dmaio__dispatch_teardown(struct dmaio_loop *loop, int inherited);
/* Whether iocbs wait anywhere in the dispatcher. */
static inline int dmaio__dispatch_queued(const struct dmaio__disp *p)
{
	return p->subq.n || p->ready.n || p->nwaiting || p->nqueued;
}
/* After a batch of completions (struct dmaio__aio's reaped). */
void dmaio__dispatch_reaped(struct dmaio_loop *loop);
/* Completes op with res from the next iteration, as if never submitted. */
void dmaio__dispatch_drop(struct dmaio__op *op, int64_t res);

/* Removes f's operations from the dispatcher's queues; they complete
 * with -ECANCELED from the next iteration. Returns how many of the
 * file's operations that was (a split one counts once). */
size_t dmaio__dispatch_cancel(struct dmaio_loop *loop,
			      const struct dmaio_file *f);

/* class.c */
void dmaio__class_init_default(struct dmaio_loop *loop);
/* Queues op on its class's queue on d. */
void dmaio__class_queue(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
			struct dmaio__op *op);
/* The most bytes one operation of cls (NULL: the default class) on d
 * should carry now beside the classes with a latency target; 0: any. */
uint64_t dmaio__class_part_max(struct dmaio_loop *loop,
			       struct dmaio__disp_dev *d,
			       struct dmaio_class *cls, int write);
/* Moves what the fair queue lets go now from d's class queues to ready. */
void dmaio__class_dispatch(struct dmaio_loop *loop, struct dmaio__disp_dev *d);
/* op, sent by a class, left the device (completed, or refused). */
void dmaio__class_completed(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
			    struct dmaio__op *op, int ran);
/* Moves f's operations waiting in d's class queues to out. */
void dmaio__class_take(struct dmaio_loop *loop, struct dmaio__disp_dev *d,
		       const struct dmaio_file *f, struct dmaio__opq *out);
/* c's shares changed: its queues on every device take them. */
void dmaio__class_shares_changed(struct dmaio_class *c);
/* Counts a file operation of class c that completed with res. */
void dmaio__class_count(struct dmaio_class *c, const struct dmaio__op *op,
			int64_t res);
/* Frees cq (empty, taken off d's list). */
void dmaio__class_cq_free(struct dmaio__disp_dev *d, struct dmaio__disp_cq *cq);
/* inherited: a forked child's copy, whose accounts are not its own. */
void dmaio__class_dev_free(struct dmaio__disp_dev *d, int inherited);
/* Frees the loop's classes (its end). */
void dmaio__classes_free(struct dmaio_loop *loop);

#endif /* DMAIO_DISPATCH_H */
