/* SPDX-License-Identifier: MIT */
/*
 * flock(2) advisory locks (1.3). A lock that has to wait must not hold up
 * other helper work, and close must be able to end it. A blocking flock
 * on a helper thread would do neither: it occupies the thread for as long
 * as the other holder likes (with the default single helper, every open,
 * truncate and size of the loop waits behind it), and the only way to
 * interrupt it is a signal, which a library may not take from the
 * application. So every attempt is flock(LOCK_NB) on a helper thread,
 * which never blocks, and a refused one is retried from the loop's timers
 * with a back-off (RETRY_MIN_US doubling to RETRY_MAX_US): a waiting lock
 * costs no thread, cancelling it is stopping a timer, and it is taken at
 * most RETRY_MAX_US after the holder lets go. Like flock's own waiters,
 * it is not first in, first served.
 */
#include "file.h"
#include "timer.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/file.h>

#define RETRY_MIN_US 500
#define RETRY_MAX_US 20000

struct dmaio__lock_wait {
	struct dmaio__owned own;  /* first: dmaio_loop_free() drops it */
	struct dmaio__lock_wait *prev, *next; /* the file's waiting locks */
	struct dmaio_file *f;
	struct dmaio_timer *timer;
	int op;
	unsigned delay_us;
	dmaio_cb cb;
	void *arg;
};

static int attempt(struct dmaio__lock_wait *lw);
static void cancel_locks(struct dmaio_file *f);

static void lw_free(struct dmaio__lock_wait *lw)
{
	dmaio__disown(lw->f->loop, &lw->own);
	dmaio_timer_free(lw->timer);
	free(lw);
}

/* The loop's end: no callback, nothing to retry. */
static void lw_drop(struct dmaio__owned *o)
{
	struct dmaio__lock_wait *lw = (struct dmaio__lock_wait *)o;

	dmaio_timer_free(lw->timer);
	free(lw);
}

/* Off the file's waiting locks, which dmaio_loop_pending counts. */
static void unlist(struct dmaio__lock_wait *lw)
{
	struct dmaio_file *f = lw->f;

	f->loop->pending--;
	if (lw->prev)
		lw->prev->next = lw->next;
	else
		f->lock_waits = lw->next;
	if (lw->next)
		lw->next->prev = lw->prev;
	lw->prev = lw->next = NULL;
}

static void finish(struct dmaio__lock_wait *lw, int64_t res)
{
	struct dmaio_loop *loop = lw->f->loop;
	dmaio_cb cb = lw->cb;
	void *arg = lw->arg;

	lw_free(lw);
	dmaio__call_cb(loop, cb, arg, res);
}

static int64_t try_flock(struct dmaio__lock_wait *lw)
{
	int r;

	do
		r = flock(lw->f->fd, lw->op | LOCK_NB);
	while (r && errno == EINTR);
	return r ? -errno : 0;
}

static void answer(struct dmaio__lock_wait *lw, int64_t res);

/*
 * A retry where the try is made on the loop's thread (fstat_inline, see
 * flock_inline) is answered here, in the timer's callback: an operation
 * deferred from it would complete in the next iteration, and a host loop
 * polling dmaio_loop_fd() would be woken for that at once, for nothing
 * of its own (two wake-ups a retry instead of one).
 */
static void on_retry(void *arg)
{
	struct dmaio__lock_wait *lw = arg;
	int ret;

	unlist(lw);
	if (lw->f->fstat_inline) {
		answer(lw, try_flock(lw));
		return;
	}
	ret = attempt(lw);
	if (ret)
		finish(lw, ret);
}

static int64_t flock_work(struct dmaio__op *op)
{
	return try_flock(op->priv);
}

/*
 * On the file systems whose fstat the loop makes itself (ext4, XFS,
 * tmpfs, btrfs: fstat_inline), flock(LOCK_NB) is as quick: the kernel
 * looks at the inode's list of locks and returns. Made on the loop's
 * thread, a retry costs a host loop one wake-up (its timer) rather than
 * two (the timer, then the helper's answer). FUSE and NFS ask their
 * daemon or server: those keep the helper.
 */
static void flock_inline(struct dmaio__op *op)
{
	dmaio__defer(op, flock_work(op));
}

static void attempt_finish(struct dmaio__op *op, int64_t res)
{
	answer(op->priv, res);
}

/* A try's result: done, or refused and waiting for the next try. */
static void answer(struct dmaio__lock_wait *lw, int64_t res)
{
	struct dmaio_file *f = lw->f;

	if (res != -EWOULDBLOCK || (lw->op & LOCK_NB)) {
		finish(lw, res);
		return;
	}
	/* closed meanwhile: close cancelled the others, this one too */
	if (f->closing || !dmaio__may_call(f->loop)) {
		finish(lw, -ECANCELED);
		return;
	}
	if (dmaio_timer_start(lw->timer, lw->delay_us, 0)) {
		finish(lw, -ENOMEM);
		return;
	}
	if (lw->delay_us < RETRY_MAX_US)
		lw->delay_us = lw->delay_us * 2 < RETRY_MAX_US ?
			       lw->delay_us * 2 : RETRY_MAX_US;
	lw->next = f->lock_waits;
	if (lw->next)
		lw->next->prev = lw;
	f->lock_waits = lw;
	f->cancel_locks = cancel_locks;
	/* still the caller's operation, waiting for its next try */
	f->loop->pending++;
}

static int attempt(struct dmaio__lock_wait *lw)
{
	struct dmaio__op *op = dmaio__file_op(lw->f, attempt_finish, lw->arg);

	if (!op)
		return -ENOMEM;
	op->priv = lw;
	if (lw->f->fstat_inline)
		op->start = flock_inline;
	else
		op->work = flock_work;
	dmaio__file_start(op);
	return 0;
}

static void cancelled_finish(struct dmaio__op *op, int64_t res)
{
	finish(op->priv, res);
}

static void cancel_start(struct dmaio__op *op)
{
	dmaio__defer(op, -ECANCELED);
}

/*
 * Completes the locks still retrying with -ECANCELED (close, release).
 * Each completion is an operation of the file, started before the close
 * is: the close, a barrier, waits for it, so the lock's callback comes
 * first, from the loop.
 */
static void cancel_locks(struct dmaio_file *f)
{
	while (f->lock_waits) {
		struct dmaio__lock_wait *lw = f->lock_waits;
		struct dmaio__op *op;

		unlist(lw);
		dmaio_timer_stop(lw->timer);
		op = dmaio__file_op(f, cancelled_finish, lw->arg);
		if (!op) {
			/* no memory for the order: it still ends, first */
			finish(lw, -ECANCELED);
			continue;
		}
		op->priv = lw;
		op->start = cancel_start;
		dmaio__file_start(op);
	}
}

DMAIO_EXPORT int dmaio_file_lock(struct dmaio_file *f, int op, dmaio_cb cb,
				 void *arg)
{
	struct dmaio__lock_wait *lw;
	int kind = op & ~LOCK_NB;
	int ret = dmaio__file_check(f, "lock");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (kind != LOCK_SH && kind != LOCK_EX && kind != LOCK_UN)
		return dmaio__fail(-EINVAL, "lock: op 0x%x is not LOCK_SH, "
				   "LOCK_EX or LOCK_UN (with LOCK_NB or not)",
				   (unsigned)op);
	lw = calloc(1, sizeof(*lw));
	if (!lw)
		return dmaio__fail(-ENOMEM, "lock: no memory");
	lw->f = f;
	lw->op = op;
	lw->cb = cb;
	lw->arg = arg;
	lw->delay_us = RETRY_MIN_US;
	ret = dmaio_timer_new(f->loop, on_retry, lw, &lw->timer);
	if (ret) {
		free(lw);
		return dmaio__fail(ret, "lock: no memory for its timer");
	}
	dmaio__timer_set_internal(lw->timer);
	dmaio__own(f->loop, &lw->own, lw_drop);
	ret = attempt(lw);
	if (ret) {
		lw_free(lw);
		return dmaio__fail(ret, "lock: no memory");
	}
	return 0;
}
