/* SPDX-License-Identifier: MIT */
/*
 * The Linux AIO context: setup with a useful error when aio-max-nr is too
 * small, and batched submission that never puts more iocbs in the kernel
 * than the context holds, nor more on a block device than its queue takes.
 */
#include "aio.h"
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* iocbs handed to one io_submit call at most */
#define SUBMIT_BATCH 256
/* io_submit EAGAIN with nothing in flight: retries before giving up */
#define MAX_IDLE_EAGAIN 100

static long read_proc_long(const char *path)
{
	unsigned long long v;

	return dmaio__read_number(path, &v) ? -1 : (long)v;
}

static void explain_eagain(unsigned depth)
{
	long nr = read_proc_long("/proc/sys/fs/aio-nr");
	long max = read_proc_long("/proc/sys/fs/aio-max-nr");
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long want;

	/*
	 * What a context counts against aio-max-nr varies: n on recent
	 * kernels, up to max(n, 4 * CPUs) * 2 on 3.x. Ask for the larger.
	 */
	want = (long)depth > 4 * cpus ? (long)depth : 4 * cpus;
	want *= 2;
	dmaio__set_last_error(
		"io_setup(%u): EAGAIN: /proc/sys/fs/aio-max-nr is %ld with %ld "
		"in use (/proc/sys/fs/aio-nr); this context needs %u to %ld "
		"more: raise it to at least %ld (sysctl -w fs.aio-max-nr=%ld) "
		"or use a smaller queue_depth",
		depth, max, nr, depth, want, nr + want, nr + want);
}

static int setup_ctx(struct dmaio_loop *loop)
{
	int ret;

	loop->aio.ctx = 0;
	ret = io_setup(loop->aio.depth, &loop->aio.ctx);
	/* contexts of freed loops still count until they are gone */
	if (ret == -EAGAIN && dmaio__aio_destroy_wait())
		ret = io_setup(loop->aio.depth, &loop->aio.ctx);
	if (ret < 0) {
		loop->aio.ctx = 0;
		if (ret == -EAGAIN)
			explain_eagain(loop->aio.depth);
		else
			dmaio__set_last_error("io_setup(%u): %s",
					      loop->aio.depth,
					      dmaio_strerror(ret));
		return ret;
	}
	return 0;
}

int dmaio__aio_setup(struct dmaio_loop *loop)
{
	loop->aio.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->aio.efd < 0)
		return -errno;
	return setup_ctx(loop);
}

/*
 * A probe may leave the context unfit: request slots lost for its life
 * (a failed reaping self-test on 3.10-3.15), an iocb still in flight (a
 * probe that timed out). io_destroy waits for what the kernel has; the
 * loop then starts over on a fresh context, with nothing in flight.
 */
int dmaio__aio_reset(struct dmaio_loop *loop)
{
	if (loop->aio.ctx)
		io_destroy(loop->aio.ctx);
	loop->aio.ring = NULL;
	return setup_ctx(loop);
}

void dmaio__aio_teardown(struct dmaio_loop *loop)
{
	/* io_destroy waits for what the kernel still has: then wait here */
	if (loop->aio.ctx && loop->aio.inflight)
		io_destroy(loop->aio.ctx);
	else if (loop->aio.ctx)
		dmaio__aio_destroy_later(loop->aio.ctx);
	while (loop->aio.devs) {
		struct dmaio__aio_dev *d = loop->aio.devs;

		loop->aio.devs = d->next;
		free(d);
	}
	loop->aio.ctx = 0;
	loop->aio.ring = NULL;
	if (loop->aio.efd >= 0)
		close(loop->aio.efd);
	loop->aio.efd = -1;
}

void dmaio__aio_queue(struct dmaio_loop *loop, struct dmaio__op *op)
{
	op->iocb.data = op;
	dmaio__opq_push(&loop->aio.subq, op);
	if (loop->in_run)
		return;
	/*
	 * A host loop that polls dmaio_loop_fd() would wake only to have
	 * run_once submit this, and count a wake-up that ran no callback: a
	 * call of its own goes to the kernel at once (a host batches by
	 * calling run_once(loop, 0) after its calls, which the man page
	 * says). The parts of a composite call still leave together.
	 */
	if (loop->external && !loop->internal_calls)
		dmaio__aio_flush(loop);
	else
		dmaio__wake_poller(loop);
}

/*
 * A one-byte read of /dev/zero completes inside io_submit (on 3.10 as on
 * today's kernels) and so wakes io_getevents at once. Its event is told
 * apart by its data and counted nowhere. If the context is full, a
 * completion is coming anyway.
 */
void dmaio__aio_wake(struct dmaio_loop *loop)
{
	struct iocb cb, *cbs[1] = { &cb };

	if (loop->aio.zero_fd < 0)
		return;
	io_prep_pread(&cb, loop->aio.zero_fd, &loop->aio.zero_byte, 1, 0);
	cb.data = DMAIO__WAKE_DATA(loop);
	if (io_submit(loop->aio.ctx, 1, cbs) != 1) {
		/* EAGAIN: the context is full, so completions are coming */
	}
}

/*
 * With DMAIO_LOOP_LAZY_EVENTFD the eventfd is only asked for when the loop
 * may wait in epoll: for watched fds, helper work, an outside poller of
 * dmaio_loop_fd() or a loop on its own thread. Otherwise it waits in io_getevents, and signalling the
 * eventfd from every completion only costs (about 2% of the IOPS at depth
 * 32 on virtio). An iocb sent without it is counted: while any is in
 * flight, epoll waits are short.
 */
static void set_resfd(struct dmaio_loop *loop, struct dmaio__op *op)
{
	if (!loop->aio.lazy_eventfd || loop->watch.nwatched ||
	    loop->helper.busy || loop->external || loop->hosted) {
		io_set_eventfd(&op->iocb, loop->aio.efd);
		op->silent = 0;
	} else {
		op->iocb.u.c.flags &= ~(1u << 0); /* IOCB_FLAG_RESFD */
		op->silent = 1;
	}
}

/*
 * io_submit is where the loop thread can stall (a full device queue, a
 * file system lock): one clock pair per call, counted for
 * dmaio_loop_stats() on the loop thread alone, so no atomics.
 */
static int timed_submit(struct dmaio_loop *loop, int n, struct iocb **iocbs)
{
	struct dmaio_loop_stats *st = &loop->stats;
	uint64_t t0 = dmaio__now_ns(), dt;
	int ret = io_submit(loop->aio.ctx, n, iocbs);

	dt = dmaio__now_ns() - t0;
	st->submit_calls++;
	st->submit_ns_total += dt;
	if (dt > st->submit_ns_max)
		st->submit_ns_max = dt;
	st->submit_stalls += dt > 1000000;
	if (ret > 0)
		st->iocbs += (uint64_t)ret;
	else if (ret == -EAGAIN)
		st->submit_eagain++;
	return ret;
}

struct dmaio__aio_dev *dmaio__aio_dev_get(struct dmaio_loop *loop, dev_t dev,
					  unsigned cap)
{
	struct dmaio__aio_dev *d;

	if (!cap)
		return NULL;
	for (d = loop->aio.devs; d; d = d->next)
		if (d->dev == dev)
			return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL; /* uncapped: io_submit may sleep, nothing is lost */
	d->dev = dev;
	d->cap = cap;
	d->next = loop->aio.devs;
	loop->aio.devs = d;
	return d;
}

/*
 * The next iocb that may go, counted on its device: the oldest one
 * waiting behind a cap that has room, else subq's head. On the way, the
 * ones whose device is at its cap, or has older ones waiting, move to
 * its waitq: a device's iocbs leave in the order they were queued (other
 * devices' may pass them; nothing orders I/O across files but barriers,
 * which wait in file.c for every operation of theirs to complete).
 */
static struct dmaio__op *next_op(struct dmaio__aio *aio)
{
	struct dmaio__aio_dev *d;
	struct dmaio__op *op;

	if (aio->nwaiting)
		for (d = aio->devs; d; d = d->next)
			if (d->waitq.n && d->inflight < d->cap) {
				aio->nwaiting--;
				d->inflight++;
				return dmaio__opq_pop(&d->waitq);
			}
	while ((op = dmaio__opq_pop(&aio->subq))) {
		d = op->aio_dev;
		if (!d)
			return op;
		if (!d->waitq.n && d->inflight < d->cap) {
			d->inflight++;
			return op;
		}
		dmaio__opq_push(&d->waitq, op);
		aio->nwaiting++;
	}
	return NULL;
}

/*
 * An iocb io_submit did not take goes back to the front; put back last
 * first, the order holds. One of a capped device goes to its waitq even
 * if it came from subq: it was taken only when nothing older waited.
 */
static void put_back(struct dmaio__aio *aio, struct dmaio__op *op)
{
	struct dmaio__aio_dev *d = op->aio_dev;

	if (d) {
		d->inflight--;
		dmaio__opq_push_front(&d->waitq, op);
		aio->nwaiting++;
	} else {
		dmaio__opq_push_front(&aio->subq, op);
	}
}

/*
 * Whether the kernel did the reads inside io_submit: the last one's event
 * is in the ring already (tmpfs, the page cache). There is then no device
 * to start early or keep busy: what callbacks start goes out in one call
 * after a batch of them (reap.c), and flushes start with a full batch.
 */
static void note_inline(struct dmaio_loop *loop, unsigned t0,
			const struct dmaio__op *last)
{
	struct dmaio__ring *ring = loop->aio.ring;
	unsigned t1 = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

	/* a moved tail: slot t1 - 1 was written during the calls */
	loop->aio.inline_done = !loop->aio.subq.n && t1 != t0 &&
				t1 < ring->nr &&
				ring->events[t1 ? t1 - 1 : ring->nr - 1].data == last;
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
	struct dmaio__aio *aio = &loop->aio;
	struct dmaio__op *ops[SUBMIT_BATCH];
	struct iocb *iocbs[SUBMIT_BATCH];
	struct dmaio__op *last = NULL;
	unsigned t0 = 0;

	/* what waits behind a device's cap counts: subq may be empty */
	if (!dmaio__aio_queued(aio))
		return;
	if (loop->aio.ring)
		t0 = __atomic_load_n(&loop->aio.ring->tail, __ATOMIC_ACQUIRE);
	if (loop->aio.inline_done)
		batch = SUBMIT_BATCH;

	while (dmaio__aio_queued(aio) && aio->inflight < aio->depth) {
		unsigned room = aio->depth - aio->inflight;
		int i, n = 0, ret;

		while (n < batch && (unsigned)n < room &&
		       (ops[n] = next_op(aio))) {
			set_resfd(loop, ops[n]);
			iocbs[n] = &ops[n]->iocb;
			n++;
		}
		if (!n)
			break; /* the rest waits for its devices' completions */
		ret = timed_submit(loop, n, iocbs);
		for (i = n - 1; i >= (ret > 0 ? ret : 1); i--)
			put_back(aio, ops[i]);
		if (ret > 0) {
			for (i = 0; i < ret; i++)
				aio->inflight_silent += ops[i]->silent;
			aio->inflight += ret;
			aio->eagain_streak = 0;
			last = ops[ret - 1];
			if (batch < SUBMIT_BATCH)
				batch *= 2;
			continue;
		}
		if (ret == -EINTR) {
			put_back(aio, ops[0]);
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
				put_back(aio, ops[0]);
				break;
			}
			ret = -EAGAIN;
		}
		aio->eagain_streak = 0;
		if (ops[0]->aio_dev)
			ops[0]->aio_dev->inflight--;
		dmaio__defer(ops[0], ret);
	}
	if (loop->aio.ring && last)
		note_inline(loop, t0, last);
}

void dmaio__aio_flush(struct dmaio_loop *loop)
{
	flush(loop, 1);
}

void dmaio__aio_flush_now(struct dmaio_loop *loop)
{
	flush(loop, SUBMIT_BATCH);
}

void dmaio__wake_remote(struct dmaio_loop *loop)
{
	uint64_t one = 1;

	/* wakes an epoll wait, and makes dmaio_loop_fd() readable */
	if (write(loop->wake_efd, &one, sizeof(one)) < 0) {
		/* the counter is far from full: nothing to do */
	}
	if (__atomic_load_n(&loop->aio.sleeping, __ATOMIC_SEQ_CST))
		dmaio__aio_wake(loop);
}
