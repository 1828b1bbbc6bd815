/* SPDX-License-Identifier: MIT */
/*
 * The dispatcher's submission path: operations wait here, never in
 * io_submit. Each block device's cap on iocbs in flight holds back what
 * its queue would make io_submit sleep on; classes (class.c) hold back
 * what their shares and targets say must wait; what may go leaves in
 * io_submit calls sized by what a call costs on this machine.
 */
#include "dispatch.h"
#include "aio.h"
#include "loop.h"

#include <stdlib.h>

/* iocbs handed to one io_submit call at most */
#define SUBMIT_BATCH 256
/* io_submit EAGAIN with nothing in flight: retries before giving up */
#define MAX_IDLE_EAGAIN 100
/*
 * Time inside io_submit, as a share of the loop's time between calls,
 * in 1/1000: above HIGH the iocbs completions start gather into fewer
 * calls, below LOW they go one call each again (1.2's way).
 */
#define SUBMIT_SHARE_HIGH 120
#define SUBMIT_SHARE_LOW 60
/* the most iocbs a completion's followers wait for */
#define GATHER_MAX 16
/* calls between two looks at the share */
#define GATHER_PERIOD 32

struct dmaio__disp_dev *dmaio__disp_dev_get(struct dmaio_loop *loop,
					    dev_t dev, unsigned cap)
{
	struct dmaio__disp_dev *d;

	for (d = loop->disp.devs; d; d = d->next)
		if (d->dev == dev)
			return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL; /* uncapped: io_submit may sleep, nothing is lost */
	d->dev = dev;
	d->cap = cap;
	d->next = loop->disp.devs;
	loop->disp.devs = d;
	return d;
}

void dmaio__dispatch_teardown(struct dmaio_loop *loop, int inherited)
{
	while (loop->disp.devs) {
		struct dmaio__disp_dev *d = loop->disp.devs;

		loop->disp.devs = d->next;
		dmaio__class_dev_free(d, inherited);
		free(d);
	}
}

static int has_room(const struct dmaio__disp_dev *d)
{
	return !d->cap || d->inflight < d->cap;
}

/*
 * The next iocb that may go, counted on its device: one a class let go,
 * then the oldest one waiting behind a cap that has room, else subq's
 * head. On the way, the ones whose device is at its cap, or has older
 * ones waiting, move to its waitq: a device's iocbs leave in the order
 * they were queued (other devices' may pass them; nothing orders I/O
 * across files but barriers, which wait in file.c for every operation of
 * theirs to complete).
 */
static struct dmaio__op *next_op(struct dmaio__disp *p)
{
	struct dmaio__disp_dev *d;
	struct dmaio__op *op;

	if (p->ready.n)
		return dmaio__opq_pop(&p->ready);
	if (p->nwaiting)
		for (d = p->devs; d; d = d->next)
			if (d->waitq.n && has_room(d)) {
				p->nwaiting--;
				d->inflight++;
				return dmaio__opq_pop(&d->waitq);
			}
	while ((op = dmaio__opq_pop(&p->subq))) {
		d = op->disp_dev;
		if (!d)
			return op;
		if (!d->waitq.n && has_room(d)) {
			d->inflight++;
			return op;
		}
		dmaio__opq_push(&d->waitq, op);
		p->nwaiting++;
	}
	return NULL;
}

/*
 * An iocb io_submit did not take goes back to the front; put back last
 * first, the order holds. One of a capped device goes to its waitq even
 * if it came from subq: it was taken only when nothing older waited. One
 * a class sent stays sent (counted on its device and class).
 */
static void put_back(struct dmaio__disp *p, struct dmaio__op *op)
{
	struct dmaio__disp_dev *d = op->disp_dev;

	if (op->cq) {
		dmaio__opq_push_front(&p->ready, op);
	} else if (d) {
		d->inflight--;
		dmaio__opq_push_front(&d->waitq, op);
		p->nwaiting++;
	} else {
		dmaio__opq_push_front(&p->subq, op);
	}
}

void dmaio__dispatch_drop(struct dmaio__op *op, int64_t res)
{
	op->done = op->disp_done;
	dmaio__defer(op, res);
}

/* op leaves the device's count (and its class's); ran: it was at the
 * device (its latency teaches the class queue something). */
static void uncount(struct dmaio_loop *loop, struct dmaio__op *op, int ran)
{
	if (op->cq)
		dmaio__class_completed(loop, op->disp_dev, op, ran);
	else if (op->disp_dev)
		op->disp_dev->inflight--;
}

/*
 * Whether the kernel did the reads inside io_submit: the last one's event
 * is in the ring already (tmpfs, the page cache). There is then no device
 * to start early or keep busy: what callbacks start goes out in one call
 * after a batch of them, and flushes start with a full batch.
 */
static void note_inline(struct dmaio_loop *loop, unsigned t0,
			const struct dmaio__op *last)
{
	struct dmaio__ring *ring = loop->aio.ring;
	unsigned t1 = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

	/* a moved tail: slot t1 - 1 was written during the calls */
	loop->disp.inline_done = !loop->disp.subq.n && t1 != t0 &&
				 t1 < ring->nr &&
				 ring->events[t1 ? t1 - 1 : ring->nr - 1].data ==
					 last;
}

/*
 * What one io_submit costs against the loop's time between two calls
 * (averages over the last few calls): where calls take more than
 * SUBMIT_SHARE_HIGH of the loop (a VM exit per call on a small guest),
 * what completions start gathers into calls of up to `gather` iocbs.
 */
static void price_submit(struct dmaio__disp *p, const struct dmaio__aio *aio)
{
	uint64_t gap = p->last_end ? aio->last_t0 + aio->last_ns - p->last_end
				   : 0;

	p->last_end = aio->last_t0 + aio->last_ns;
	p->sub_ns += ((int64_t)aio->last_ns - (int64_t)p->sub_ns) / 8;
	if (gap)
		p->gap_ns += ((int64_t)gap - (int64_t)p->gap_ns) / 8;
	if (++p->ncalls % GATHER_PERIOD || !p->gap_ns)
		return;
	if (p->sub_ns * 1000 > p->gap_ns * SUBMIT_SHARE_HIGH &&
	    p->gather < GATHER_MAX)
		p->gather = p->gather ? p->gather * 2 : 2;
	else if (p->sub_ns * 1000 < p->gap_ns * SUBMIT_SHARE_LOW &&
		 p->gather > 1)
		p->gather /= 2;
}


/*
 * io_submit returns how many it took; an error on iocb k > 0 shows only as
 * a short count, and the next call reports that iocb's error. So: a short
 * count leaves the rest queued, EAGAIN waits for completions, any other
 * error belongs to the first iocb alone.
 *
 * batch is the first call's size; it doubles after each call. Starting at
 * one matters: io_submit plugs the block queue for the whole call, so one
 * call of 32 keeps the device idle while 32 requests are built (fio shows
 * the same with iodepth_batch_submit=32: about 20% fewer IOPS on a virtio
 * disk); a first call of one starts the device at once.
 */
static void flush(struct dmaio_loop *loop, int batch)
{
	struct dmaio__disp *p = &loop->disp;
	struct dmaio__aio *aio = &loop->aio;
	struct dmaio__op *ops[SUBMIT_BATCH];
	struct dmaio__op *last = NULL;
	unsigned t0 = 0;

	if (!dmaio__dispatch_queued(p))
		return;
	if (aio->ring)
		t0 = __atomic_load_n(&aio->ring->tail, __ATOMIC_ACQUIRE);
	if (p->inline_done)
		batch = SUBMIT_BATCH;

	while (dmaio__dispatch_queued(p) && aio->inflight < aio->depth) {
		unsigned room = aio->depth - aio->inflight;
		int i, n = 0, ret;

		while (n < batch && (unsigned)n < room &&
		       (ops[n] = next_op(p)))
			n++;
		if (!n)
			break; /* the rest waits for its devices' completions */
		ret = dmaio__aio_submit(loop, ops, n);
		price_submit(p, aio);
		for (i = n - 1; i >= (ret > 0 ? ret : 1); i--)
			put_back(p, ops[i]);
		if (ret > 0) {
			aio->eagain_streak = 0;
			/* the depth the loop runs at, forgotten slowly */
			p->depth_seen -= p->depth_seen / 64;
			if (aio->inflight > p->depth_seen)
				p->depth_seen = aio->inflight;
			last = ops[ret - 1];
			if (batch < SUBMIT_BATCH)
				batch *= 2;
			continue;
		}
		if (ret == -EINTR) {
			put_back(p, ops[0]);
			continue;
		}
		if (ret == -EAGAIN || ret == 0) {
			/*
			 * No request slots. Completions will free some; with
			 * nothing in flight, retry a while (the loop polls with
			 * a short timeout), then fail rather than hang.
			 */
			if (aio->inflight ||
			    ++aio->eagain_streak <= MAX_IDLE_EAGAIN) {
				put_back(p, ops[0]);
				break;
			}
			ret = -EAGAIN;
		}
		aio->eagain_streak = 0;
		uncount(loop, ops[0], 0);
		dmaio__dispatch_drop(ops[0], ret);
	}
	if (aio->ring && last)
		note_inline(loop, t0, last);
}

void dmaio__dispatch_flush(struct dmaio_loop *loop)
{
	struct dmaio__disp_dev *d;

	/* what the classes let go now, on this loop's turn or another's */
	if (loop->disp.nqueued)
		for (d = loop->disp.devs; d; d = d->next)
			dmaio__class_dispatch(loop, d);
	/* what gathered behind a completion goes in one call */
	flush(loop, loop->disp.gather > 1 ? SUBMIT_BATCH : 1);
}

/*
 * Whether what a completion's callback queued goes now, or gathers with
 * what the next completions start, to leave in one call at the latest
 * when this batch of completions ends (and the loop flushes at the end of
 * every turn: an operation never waits across a sleep). It goes now when
 * io_submit is cheap here, or when the device could run short: while
 * iocbs gather, the loop's in flight falls below the depth it has been
 * running at, and it never gathers more than an eighth of that: with a
 * quarter, depth 32 lost 4.6% of 1.2.0's IOPS (the device ran 8 short);
 * an eighth keeps them (0.99x) for 7% more CPU per I/O than a quarter,
 * still a fifth less than 1.2.0's one call per I/O.
 */
static int go_now(const struct dmaio_loop *loop)
{
	const struct dmaio__disp *p = &loop->disp;
	/* what classes let go gathers too: sent, not yet submitted */
	size_t n = p->subq.n + p->ready.n;
	unsigned limit;

	if (n < p->submit_batch || p->inline_done)
		return 0;
	if (p->gather <= 1)
		return 1;
	limit = p->gather < p->depth_seen / 8 ? p->gather : p->depth_seen / 8;
	return n >= limit || loop->aio.inflight + limit < p->depth_seen;
}

/*
 * The dispatcher's end of a completion: the device's (and class's) count
 * first, then the operation's own done, whose callback may start more.
 * What it started goes to the device now, not after the whole batch: the
 * device refills sooner (about 3% more IOPS at depth 32 than one
 * io_submit per iteration, measured against fio on virtio) for one
 * io_submit per I/O, unless that costs too much (go_now). So does what
 * waited for the request this completion freed.
 */
static void disp_done(struct dmaio__op *op, int64_t res)
{
	struct dmaio_loop *loop = op->loop;
	struct dmaio__disp_dev *d = op->disp_dev;

	uncount(loop, op, 1);
	op->done = op->disp_done;
	op->done(op, res);
	if (d && d->nqueued)
		dmaio__class_dispatch(loop, d);
	if (go_now(loop) || (d && d->waitq.n))
		flush(loop, SUBMIT_BATCH);
	else if (loop->disp.subq.n || loop->disp.ready.n)
		loop->stats.submit_held++;
}

void dmaio__dispatch_reaped(struct dmaio_loop *loop)
{
	/* reads done inside io_submit: one call for the batch (~+8% IOPS at
	 * depth 32 on tmpfs, where io_submit is most of an I/O's cost), as
	 * for what gathered while io_submit was dear */
	if (loop->disp.subq.n)
		flush(loop, SUBMIT_BATCH);
}

void dmaio__dispatch(struct dmaio_loop *loop, struct dmaio__op *op,
		     struct dmaio__disp_dev *d)
{
	op->iocb.data = op;
	op->disp_dev = d;
	op->disp_done = op->done;
	op->done = disp_done;
	if (loop->disp.nclasses && d)
		dmaio__class_queue(loop, d, op);
	else
		dmaio__opq_push(&loop->disp.subq, op);
	if (loop->in_run)
		return;
	/*
	 * A host loop that polls dmaio_loop_fd() would wake only to have
	 * run_once submit this, and count a wake-up that ran no callback: a
	 * call of its own goes to the kernel at once, and a part of a
	 * composite call (read_many, write_copy, a stream's buffer) when
	 * the part's internal call returns (dmaio__internal_end).
	 */
	if (!loop->external)
		dmaio__wake_poller(loop);
	else if (!loop->internal_calls)
		dmaio__dispatch_flush(loop);
}

void dmaio__internal_end(struct dmaio_loop *loop)
{
	if (loop->external && !loop->in_run &&
	    dmaio__dispatch_queued(&loop->disp))
		dmaio__dispatch_flush(loop);
}

static size_t take(struct dmaio__opq *q, const struct dmaio_file *f,
		   struct dmaio__opq *out)
{
	struct dmaio__opq keep = { NULL, NULL, 0 };
	struct dmaio__op *op;
	size_t n = 0;

	while ((op = dmaio__opq_pop(q))) {
		if ((op->parent ? op->parent->file : op->file) == f) {
			dmaio__opq_push(out, op);
			n++;
		} else {
			dmaio__opq_push(&keep, op);
		}
	}
	*q = keep;
	return n;
}

size_t dmaio__dispatch_cancel(struct dmaio_loop *loop,
			      const struct dmaio_file *f)
{
	struct dmaio__disp *p = &loop->disp;
	struct dmaio__opq out = { NULL, NULL, 0 };
	struct dmaio__disp_dev *d;
	struct dmaio__op *op;
	size_t n = 0;

	take(&p->subq, f, &out);
	take(&p->ready, f, &out);
	for (d = p->devs; d; d = d->next) {
		p->nwaiting -= take(&d->waitq, f, &out);
		dmaio__class_take(loop, d, f, &out);
	}
	while ((op = dmaio__opq_pop(&out))) {
		if (!op->parent)
			n++;
		else if (!op->parent->cancelled)
			n++, op->parent->cancelled = 1;
		/* only a class's sent ones (ready) were counted */
		if (op->cq)
			uncount(loop, op, 0);
		dmaio__dispatch_drop(op, -ECANCELED);
	}
	return n;
}
