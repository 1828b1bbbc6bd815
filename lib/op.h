/* SPDX-License-Identifier: MIT */
/*
 * Layer 0, op.c: the operation record and its per-loop pool, the queue of
 * finished operations whose callbacks run in the next iteration, the
 * registry of objects the loop owns, and how a callback is delivered.
 */
#ifndef DMAIO_OP_H
#define DMAIO_OP_H

#include "base.h"

#include <libaio.h>
#include <sys/uio.h>

struct dmaio__op;
struct dmaio__disp_dev;
struct dmaio__disp_cq;
/* Called on the loop thread when an operation's work has finished. */
typedef void (*dmaio__done_fn)(struct dmaio__op *op, int64_t res);
/* Runs on a helper thread; returns the result (>= 0 or -errno). */
typedef int64_t (*dmaio__work_fn)(struct dmaio__op *op);

/*
 * One operation: an iocb for the kernel, or a work function for a helper
 * thread, plus what is needed to call the user back. Recycled through a
 * per-loop free list so the hot path does not allocate.
 */
struct dmaio__op {
	struct iocb iocb;
	struct dmaio__op *next;
	struct dmaio_loop *loop;
	struct dmaio_file *file;
	dmaio__done_fn done;
	dmaio__work_fn work;
	/* launches the work when the file lets it run; NULL: helper work */
	void (*start)(struct dmaio__op *op);
	/* a barrier's effect on the file, applied before what it held runs */
	dmaio__done_fn settle;
	int opcode;        /* IO_CMD_PREAD or IO_CMD_PWRITE */
	/* what the user gets: */
	dmaio__done_fn finish;
	union {
		dmaio_cb cb;
		dmaio_read_cb read_cb;
		dmaio_open_cb open_cb;
	} u;
	void *arg;
	int64_t res;
	struct dmaio_buf *buf;
	/* the I/O's memory: buf's data, or the caller's (file_mem.c) */
	char *mem;
	const struct iovec *iov; /* vectored: mem unused */
	int iovcnt;
	uint64_t pos;      /* read: what the user asked for */
	size_t len;
	uint64_t io_pos;   /* the aligned I/O */
	size_t io_len;
	char *path;        /* open, rename */
	int oflags;
	mode_t mode;
	uint64_t arg64;    /* size / length argument of metadata calls */
	void *priv;        /* the call's own state (stat, lock, copy) */
	/* a request split into parts (larger than the device takes) */
	struct dmaio__op *parent;
	unsigned parts_left;
	int64_t part_err;
	uint64_t short_end;
	/* the dispatcher's (dispatch.c, class.c): the block device whose
	 * queue the iocb takes a request of, and the class it goes by */
	struct dmaio__disp_dev *disp_dev;
	struct dmaio_class *cls;     /* NULL: the loop's default class */
	struct dmaio__disp_cq *cq;   /* sent by a class queue */
	dmaio__done_fn disp_done;    /* done, while the dispatcher holds it */
	uint64_t cost;               /* the device model's price */
	uint64_t t_queued;           /* entered a class queue (ns) */
	uint64_t t_call;             /* the user's call, for class latency */
	unsigned barrier:1;   /* orders against the file's other I/O */
	unsigned silent:1;    /* submitted without IOCB_FLAG_RESFD */
	unsigned internal:1;  /* the library's own: completes during free */
	unsigned rw:1;        /* a read or write: counted for its class */
	unsigned cancelled:1; /* counted once by dmaio_file_cancel */
};

struct dmaio__opq {
	struct dmaio__op *head, *tail;
	size_t n;
};

static inline void dmaio__opq_push(struct dmaio__opq *q, struct dmaio__op *op)
{
	op->next = NULL;
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	q->n++;
}

/* Puts op back at the head: it leaves before what was queued after it. */
static inline void dmaio__opq_push_front(struct dmaio__opq *q,
					 struct dmaio__op *op)
{
	op->next = q->head;
	q->head = op;
	if (!q->tail)
		q->tail = op;
	q->n++;
}

static inline struct dmaio__op *dmaio__opq_pop(struct dmaio__opq *q)
{
	struct dmaio__op *op = q->head;

	if (op) {
		q->head = op->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		op->next = NULL;
	}
	return op;
}

struct dmaio__op *dmaio__op_get(struct dmaio_loop *loop);
void dmaio__op_put(struct dmaio_loop *loop, struct dmaio__op *op);
/* Frees the pool's spare records (the loop's end). */
void dmaio__op_pool_free(struct dmaio_loop *loop);
/* Completes op with res from the next iteration (never from the caller). */
void dmaio__defer(struct dmaio__op *op, int64_t res);
/* Makes dmaio_loop_fd() readable when work was queued outside run_once. */
void dmaio__wake_poller(struct dmaio_loop *loop);
/* Calls cb(arg, res) from the loop, soon: for layers above the files. */
int dmaio__post(struct dmaio_loop *loop, dmaio_cb cb, void *arg, int64_t res);

/*
 * Something built on a loop's files that the user closes (a stream writer
 * or reader). dmaio_loop_free() drops what is left open: the files close
 * with the loop, and drop frees the rest without calling anyone back.
 */
struct dmaio__owned {
	struct dmaio__owned *prev, *next;
	void (*drop)(struct dmaio__owned *o);
};

void dmaio__own(struct dmaio_loop *loop, struct dmaio__owned *o,
		void (*drop)(struct dmaio__owned *o));
void dmaio__disown(struct dmaio_loop *loop, struct dmaio__owned *o);
/* Drops everything still owned, calling nobody back (the loop's end). */
void dmaio__drop_owned(struct dmaio_loop *loop);
/* The end of a close: disowns and frees o, then calls cb (which may free
 * the loop, so o must be gone first). */
void dmaio__owned_closed(struct dmaio_loop *loop, struct dmaio__owned *o,
			 dmaio_cb cb, void *arg, int64_t res);

/*
 * Delivering callbacks. Two kinds: the user's, which nobody receives once
 * dmaio_loop_free() has begun (dmaio__may_call), and an operation's, which
 * still runs then when the operation is the library's own (read_many, the
 * streams: they release what they hold; dmaio__op_may_call). Every call
 * out goes through DMAIO__DELIVER, which counts it for run_once's result
 * and marks the loop as inside a callback (for -EDEADLK).
 */
#define dmaio__may_call(loop) (!(loop)->freeing)
#define dmaio__op_may_call(op) (!(op)->loop->freeing || (op)->internal)
#define DMAIO__DELIVER(loop, call) DMAIO__DELIVER_AS(loop, 1, call)
/* The same for an operation's callback: the library's own (internal) do
 * not count, since run_once's result tells a host whether its wake-up ran
 * anything of its own. */
#define DMAIO__DELIVER_OP(op, call)                                    \
	DMAIO__DELIVER_AS((op)->loop, !(op)->internal, call)
#define DMAIO__DELIVER_AS(loop, counted, call)                         \
	do {                                                           \
		struct dmaio_loop *dl__ = (loop);                      \
		dl__->cb_depth++;                                      \
		dl__->callbacks += (counted);                          \
		call;                                                  \
		dl__->cb_depth--;                                      \
	} while (0)
/* A user's callback, unless the loop is being freed. */
#define DMAIO__CALL_USER(loop, call)                                   \
	do {                                                           \
		struct dmaio_loop *ul__ = (loop);                      \
		if (dmaio__may_call(ul__))                             \
			DMAIO__DELIVER(ul__, call);                    \
	} while (0)
/* Calls a user's plain callback (NULL: none), unless the loop is freed. */
void dmaio__call_cb(struct dmaio_loop *loop, dmaio_cb cb, void *arg,
		    int64_t res);
/* Calls op's plain callback: the user's, or the library's own. */
void dmaio__op_call_cb(struct dmaio__op *op, dmaio_cb cb, int64_t res);

/*
 * Layers above the files use the public calls; what such a call starts is
 * the library's own (see dmaio__op_may_call). Evaluates to call's result.
 */
#define dmaio__internal(loop, call)                                    \
	__extension__({                                                 \
		int ret__;                                              \
		(loop)->internal_calls++;                               \
		ret__ = (call);                                         \
		if (--(loop)->internal_calls == 0)                      \
			dmaio__internal_end(loop);                      \
		ret__;                                                  \
	})
/* The end of an internal call: on a loop driven through dmaio_loop_fd()
 * and outside its iteration, what it queued goes to the kernel now
 * (dispatch.c). */
void dmaio__internal_end(struct dmaio_loop *loop);

#endif /* DMAIO_OP_H */
