/* SPDX-License-Identifier: MIT */
/*
 * What the parts of libdmaio share. Layers, each knowing only those below:
 *   loop.c (epoll) / aio.c + reap.c (AIO) / helper.c (blocking syscalls)
 *   buf.c + view.c (memory) / file*.c (DmaFile) / wait.c (_wait twins)
 */
#ifndef DMAIO_INTERNAL_H
#define DMAIO_INTERNAL_H

#include "config.h"

#include <errno.h>
#include <libaio.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "dmaio.h"

#define DMAIO_EXPORT __attribute__((visibility("default")))

/* Smallest alignment we ever use: the classic sector. */
#define DMAIO_MIN_ALIGN 512
/* When the device does not say: the common max_sectors_kb. */
#define DMAIO_DEFAULT_MAX_IO (512 * 1024)

/*
 * Options structs begin with the caller's sizeof: read only the fields the
 * caller knows of into dst (already filled with defaults). 0 or -EINVAL.
 */
static inline int dmaio__opts_read(void *dst, size_t dst_size,
				   const void *src)
{
	size_t n;

	if (!src)
		return 0;
	memcpy(&n, src, sizeof(n));
	if (n < sizeof(size_t))
		return -EINVAL;
	memcpy(dst, src, n < dst_size ? n : dst_size);
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

struct dmaio__op;
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
	uint64_t pos;      /* read: what the user asked for */
	size_t len;
	uint64_t io_pos;   /* the aligned I/O */
	size_t io_len;
	char *path;        /* open, rename */
	int oflags;
	mode_t mode;
	uint64_t arg64;    /* size / length argument of metadata calls */
	/* a request split into parts (larger than the device takes) */
	struct dmaio__op *parent;
	unsigned parts_left;
	int64_t part_err;
	uint64_t short_end;
	unsigned barrier:1;   /* orders against the file's other I/O */
	unsigned silent:1;    /* submitted without IOCB_FLAG_RESFD */
	unsigned internal:1;  /* the library's own: completes during free */
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

/* helper.c */
struct dmaio__helper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dmaio__opq todo;
	struct dmaio__opq done;
	pthread_t *threads;
	unsigned nthreads;
	int efd;          /* signalled when done becomes non-empty */
	unsigned ndone;   /* done.n, readable without the lock */
	unsigned busy;    /* submitted, not yet reaped (loop thread only) */
	int quit;
};
int dmaio__helper_start(struct dmaio__helper *h, unsigned nthreads);
void dmaio__helper_stop(struct dmaio__helper *h);
void dmaio__helper_submit(struct dmaio_loop *loop, struct dmaio__op *op);
/* Moves finished work to the loop's completion path; returns how many. */
unsigned dmaio__helper_reap(struct dmaio_loop *loop);

/* buf.c: aligned, reference-counted buffers from a per-loop pool */
#define POOL_CLASSES 11 /* 4 KiB .. 4 MiB */

/*
 * Buffer memory: whole pages from mmap, MADV_DONTFORK, carved into
 * buffers (2 MiB-aligned on transparent huge pages for the large classes).
 */
struct dmaio__slab {
	char *base;
	size_t len;
	unsigned live;         /* buffers carved from it, +1 while carving */
};

struct dmaio_buf {
	void *data;
	struct dmaio__slab *slab; /* where data lies */
	size_t size;           /* what a write writes */
	size_t cap;            /* what was allocated */
	unsigned refs;
	unsigned cls;          /* size class, or 0xff: not pooled */
	struct dmaio__pool *pool;
	struct dmaio_buf *next_free;
};

struct dmaio_view {
	struct dmaio_buf *buf;
	const char *data;
	size_t len;
	struct dmaio_view *next_free;
};

struct dmaio__pool {
	unsigned refs;         /* the loop, and every live buffer and view */
	int dead;              /* the loop is gone: free, do not keep */
	size_t max_per_class;
	struct dmaio_buf *free[POOL_CLASSES];
	size_t nfree[POOL_CLASSES];
	struct dmaio_view *free_views;
	size_t nfree_views;
	int huge;              /* DMAIO_FEAT_HUGE_BUFFERS */
	struct dmaio__slab *carve[POOL_CLASSES]; /* being cut into buffers */
	size_t carve_off[POOL_CLASSES];
	size_t page;           /* the system's page size */
	unsigned fork_gen;     /* in a forked child: the memory is not there */
};

struct dmaio__pool *dmaio__pool_new(unsigned queue_depth);
void dmaio__pool_release(struct dmaio__pool *p);
void dmaio__pool_unref(struct dmaio__pool *p);
struct dmaio_buf *dmaio__buf_alloc(struct dmaio__pool *p, size_t size,
				   size_t align);
/* view.c */
struct dmaio_view *dmaio__view_new(struct dmaio_buf *b, size_t off,
				   size_t len);

/* features.c: run-time probes, one place for what old kernels lack */
/* Sets loop->features (and drops loop->ring without USER_REAP). */
int dmaio__probe_features(struct dmaio_loop *loop, uint64_t disable);
int dmaio__running_on_valgrind(void);
long dmaio__statx(int dirfd, const char *path, int flags, unsigned mask,
		  void *statxbuf);

/* watch.c: the user's fds */
struct dmaio_watch {
	uint32_t mask;      /* in the epoll set with these; 0: not, or paused */
	dmaio_watch_cb cb;  /* NULL: not watched */
	void *arg;
};
void dmaio__watch_dispatch(struct dmaio_loop *loop, int fd, uint32_t events);

struct dmaio__ring;

/* timer.c: the loop's timers, a min-heap on the deadline */
struct dmaio__timers {
	struct dmaio_timer **heap;
	size_t n, cap;
	struct dmaio_timer *all;  /* every timer, armed or not */
};
uint64_t dmaio__now_ns(void);
unsigned dmaio__timers_armed(const struct dmaio_loop *loop);
/* timeout_ms shortened to the next deadline (now: dmaio__now_ns()). */
int dmaio__timers_timeout(const struct dmaio_loop *loop, int timeout_ms,
			  uint64_t now);
/* Calls back the timers due at now. */
void dmaio__timers_run(struct dmaio_loop *loop, uint64_t now);
void dmaio__timers_free_all(struct dmaio_loop *loop);

/* post.c: callbacks handed over by other threads */
struct dmaio__post;
struct dmaio__posts {
	pthread_mutex_t lock;
	struct dmaio__post *head, *tail;
	int waiting;              /* any thread reads: atomic */
	int closed;               /* loop_free has begun: -ESHUTDOWN */
};
int dmaio__posts_init(struct dmaio__posts *p);
int dmaio__posts_waiting(struct dmaio_loop *loop);
void dmaio__posts_run(struct dmaio_loop *loop);
void dmaio__posts_close(struct dmaio_loop *loop);
/* inherited: in a forked child (the lock is not touched) */
void dmaio__posts_destroy(struct dmaio_loop *loop, int inherited);

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
/* The end of a close: disowns and frees o, then calls cb (which may free
 * the loop, so o must be gone first). */
void dmaio__owned_closed(struct dmaio_loop *loop, struct dmaio__owned *o,
			 dmaio_cb cb, void *arg, int64_t res);

struct dmaio_loop {
	struct dmaio__owned *owned; /* writers and readers not closed yet */
	int epfd;
	int aio_efd;              /* IOCB_FLAG_RESFD target */
	int wake_efd;             /* makes the epoll fd readable: see wake() */
	int zero_fd;              /* /dev/zero: wakes a wait in io_getevents */
	char zero_byte;
	io_context_t ctx;
	struct dmaio__ring *ring; /* NULL: reap with io_getevents */
	unsigned depth;           /* most iocbs in the kernel at once */
	unsigned inflight;        /* iocbs in the kernel now */
	unsigned inflight_silent; /* of those, ones that signal no eventfd */
	int external;             /* dmaio_loop_fd() was asked for */
	int lazy_eventfd;         /* DMAIO_LOOP_LAZY_EVENTFD */
	unsigned submit_batch;    /* opts.submit_batch */
	uint64_t poll_ns;         /* opts.poll_us */
	struct dmaio__opq subq;   /* waiting for io_submit */
	struct dmaio__opq deferred; /* finished, callback not yet run */
	unsigned eagain_streak;
	struct dmaio__helper helper;
	struct dmaio__pool *pool;
	struct dmaio__op *free_ops;
	size_t nfree_ops;
	struct dmaio_watch *watch;
	int nwatch_slots;
	unsigned nwatched;
	uint64_t features;
	size_t pending;           /* user-visible operations not called back */
	unsigned cb_depth;        /* > 0 while a user callback runs */
	unsigned callbacks;       /* counted for run_once's result */
	int in_run;
	int stop;                 /* any thread: atomic */
	int aio_sleeping;         /* in io_getevents; any thread reads: atomic */
	unsigned drivers;         /* run and _wait calls driving run_once */
	int running;              /* inside dmaio_loop_run */
	int slept;                /* this iteration waited: stats.wakeups */
	unsigned internal_calls;  /* > 0: ops started are the library's own */
	int free_requested;       /* loop_free from a callback: free on return */
	int freeing;              /* loop_free: finish work, call nobody */
	int wake_pending;         /* wake_efd written, not yet drained */
	unsigned epoll_skips;
	struct dmaio_file *files; /* open files, closed by loop_free */
	struct dmaio__timers timers;
	struct dmaio__posts posts;
	struct dmaio_loop_stats stats; /* loop thread only: no atomics */
	unsigned fork_gen;        /* dmaio__fork_gen when it was made */
	pid_t owner;              /* the process that made it */
};

/* loop.c */
struct dmaio__op *dmaio__op_get(struct dmaio_loop *loop);
void dmaio__op_put(struct dmaio_loop *loop, struct dmaio__op *op);
/* Completes op with res from the next iteration (never from the caller). */
void dmaio__defer(struct dmaio__op *op, int64_t res);
/* Makes dmaio_loop_fd() readable when work was queued outside run_once. */
void dmaio__wake_poller(struct dmaio_loop *loop);
/* Any thread: wakes the loop wherever it waits (stop, post). */
void dmaio__wake_remote(struct dmaio_loop *loop);
/* After loop_free from a callback: frees the loop now; 1 if it did. */
int dmaio__free_if_requested(struct dmaio_loop *loop);
/* Calls cb(arg, res) from the loop, soon: for layers above the files. */
int dmaio__post(struct dmaio_loop *loop, dmaio_cb cb, void *arg, int64_t res);
static inline void dmaio__cb_enter(struct dmaio_loop *loop)
{
	loop->cb_depth++;
	loop->callbacks++;
}
static inline void dmaio__cb_leave(struct dmaio_loop *loop)
{
	loop->cb_depth--;
}
/* Calls a user's callback, unless the loop is being freed. */
static inline void dmaio__call_cb(struct dmaio_loop *loop, dmaio_cb cb,
				  void *arg, int64_t res)
{
	if (cb && !loop->freeing) {
		dmaio__cb_enter(loop);
		cb(arg, res);
		dmaio__cb_leave(loop);
	}
}
/*
 * May op's callback run? While the loop is being freed only the library's
 * own completions do (read_many, the streams): they release what they hold.
 */
static inline int dmaio__op_may_call(const struct dmaio__op *op)
{
	return !op->loop->freeing || op->internal;
}
/* Calls op's plain callback: the user's, or the library's own. */
static inline void dmaio__op_call_cb(struct dmaio__op *op, dmaio_cb cb,
				     int64_t res)
{
	if (cb && dmaio__op_may_call(op)) {
		dmaio__cb_enter(op->loop);
		cb(op->arg, res);
		dmaio__cb_leave(op->loop);
	}
}
/*
 * Layers above the files use the public calls; what such a call starts is
 * the library's own (see dmaio__op_may_call). Evaluates to call's result.
 */
#define dmaio__internal(loop, call)                                    \
	__extension__({                                                 \
		int ret__;                                              \
		(loop)->internal_calls++;                               \
		ret__ = (call);                                         \
		(loop)->internal_calls--;                               \
		ret__;                                                  \
	})

/* aio.c */
int dmaio__aio_setup(struct dmaio_loop *loop);
/* Replaces the context by a new one (after a probe): 0 or -errno. */
int dmaio__aio_reset(struct dmaio_loop *loop);
void dmaio__aio_teardown(struct dmaio_loop *loop);
/* Queues op (its iocb prepared) for the next batched io_submit. */
void dmaio__aio_queue(struct dmaio_loop *loop, struct dmaio__op *op);
/* Submits what is queued, within the context's depth, in calls of 1, 2, 4.. */
void dmaio__aio_flush(struct dmaio_loop *loop);
/* The same in as few calls as possible: what completions just queued. */
void dmaio__aio_flush_now(struct dmaio_loop *loop);
/* Any thread: ends a wait in io_getevents with a completion of nothing. */
void dmaio__aio_wake(struct dmaio_loop *loop);
/* The io_event data of that completion: not an operation. */
#define DMAIO__WAKE_DATA(loop) ((void *)&(loop)->zero_byte)

/* reap.c */
int dmaio__ring_attach(struct dmaio_loop *loop);
unsigned dmaio__ring_size(struct dmaio_loop *loop);
/* Throws away what the ring holds (the self-test's own completions). */
void dmaio__ring_drop(struct dmaio_loop *loop);
/* True when the ring holds completions not yet reaped. */
int dmaio__ring_ready(struct dmaio_loop *loop);
/* Reaps every completion available now; returns how many. */
unsigned dmaio__reap(struct dmaio_loop *loop);
/* Blocks in io_getevents for at least one completion; returns how many. */
unsigned dmaio__reap_wait(struct dmaio_loop *loop, int timeout_ms);

/* file layer */
struct dmaio_file {
	struct dmaio_loop *loop;
	int fd;
	int accmode;          /* O_RDONLY, O_WRONLY or O_RDWR */
	int direct;
	int closing;
	char *path;
	dev_t dev;
	ino_t ino;
	size_t align;         /* position and size alignment */
	size_t mem_align;
	size_t max_io;        /* largest single request */
	const char *align_source; /* where align came from, for dmaio-info */
	unsigned io_inflight; /* operations other than barriers */
	struct dmaio__op *barrier;   /* waiting for io_inflight to drain */
	int barrier_running;
	struct dmaio__opq held;      /* submitted behind a barrier */
	/* what the file system makes io_submit sleep on (file.c) */
	int fsync_blocks_submit;     /* fdatasync is a barrier */
	int append_blocks_submit;    /* a direct write past size_seen too */
	uint64_t size_seen;   /* EOF as open and our own operations left it */
	struct dmaio_file *next, *prev;
	/* calls above this layer with operations still to submit (write_copy
	 * holds the file for each call): close waits until they are none */
	unsigned holds;
	struct dmaio__op *parked_close;
	struct dmaio__wcopy *wcopy; /* write_copy.c: NULL when none runs */
};

/* file.c: a file operation's life: start, complete, deliver */
/* 0, or -EINVAL for NULL / -EBADF once closing, said in what's name. */
int dmaio__file_check(const struct dmaio_file *f, const char *what);
struct dmaio__op *dmaio__file_op(struct dmaio_file *f, dmaio__done_fn finish,
				 void *arg);
void dmaio__file_start(struct dmaio__op *op);
/* finish for operations whose callback is a plain dmaio_cb */
void dmaio__finish_cb(struct dmaio__op *op, int64_t res);
/* Keeps close waiting while a layer above has operations to submit. */
void dmaio__file_hold(struct dmaio_file *f);
void dmaio__file_unhold(struct dmaio_file *f);
void dmaio__file_unlink(struct dmaio_file *f);
void dmaio__file_free(struct dmaio_file *f);
/* align.c */
void dmaio__file_discover(struct dmaio_file *f, uint64_t features);

/* range.c: the arithmetic of unaligned reads */
/* The aligned I/O covering [pos, pos + size): 0, -EINVAL or -EOVERFLOW. */
int dmaio__range_cover(uint64_t align, uint64_t pos, size_t size,
		       uint64_t *start, uint64_t *len);
/* Of an I/O at io_pos that returned res, the caller's bytes of
 * [pos, pos + size): *off into the buffer, *n long (maybe 0). */
void dmaio__range_clamp(uint64_t io_pos, int64_t res, uint64_t pos,
			size_t size, size_t *off, size_t *n);

/* read_plan.c: read_many's merge planner */
struct dmaio__plan_group {
	uint64_t start, end;   /* aligned */
	size_t first, count;   /* in the sorted order */
};
/*
 * Sorts iov by position into order[] and groups it; returns the number of
 * groups written to groups[] (at most n). max_merged 0: no merging.
 */
size_t dmaio__read_plan(uint64_t align, const struct dmaio_iovec *iov,
			size_t n, size_t max_merged, size_t max_amp,
			size_t *order, struct dmaio__plan_group *groups);

/* wait.c: the one mechanism behind every _wait twin */
struct dmaio__waiter {
	int done;
	int64_t res;
	struct dmaio_view *view;
	struct dmaio_file *file;
};
#define DMAIO__WAITER_INIT { 0, 0, NULL, NULL }
/* -EDEADLK inside a callback or a running loop, -EINVAL for NULL. */
int dmaio__wait_check(struct dmaio_loop *loop, const char *func);
/* Callbacks that fill a waiter (arg). */
void dmaio__waiter_res(void *arg, int64_t res);
void dmaio__waiter_read(void *arg, struct dmaio_view *v, int64_t res);
/* Ends a _wait's turn at driving the loop (drivers++ began it); 1 when
 * a callback had freed the loop and it is gone now. */
int dmaio__drive_end(struct dmaio_loop *loop);
/* Runs the loop until the waiter is filled; returns its result
 * (-ECANCELED when a callback freed the loop meanwhile). */
int64_t dmaio__wait_for(struct dmaio_loop *loop, struct dmaio__waiter *w);

/* error.c */
void dmaio__set_last_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/*
 * For calls that fail at once: says which argument broke which rule in
 * dmaio_last_error() ("write_at: size 100 is not a multiple of ...") and
 * returns err, so that "return dmaio__fail(-EINVAL, ...)" reads as one.
 */
int dmaio__fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* fork.c: a loop belongs to the process that made it */
extern unsigned dmaio__fork_gen; /* bumped in every child of fork() */
/* Registers the fork handler (once); *gen: the generation now. */
int dmaio__fork_setup(unsigned *gen);
/* Says why fn cannot run in a forked child; returns -EBADFD. */
int dmaio__fork_refuse(const struct dmaio_loop *loop, const char *fn);
/* True in a child of fork() for a loop (or pool) of an ancestor. */
#define DMAIO__INHERITED(x) \
	__builtin_expect((x)->fork_gen != dmaio__fork_gen, 0)
/*
 * The first line of every call that reaches the kernel, the helpers or
 * buffer memory: on a loop inherited through fork(), return fail at once.
 * loop may be NULL (the call's own checks then answer).
 */
#define DMAIO__NOT_INHERITED(loop, fail)                             \
	do {                                                         \
		const struct dmaio_loop *l_ = (loop);                \
		if (l_ && DMAIO__INHERITED(l_)) {                    \
			dmaio__fork_refuse(l_, __func__);            \
			return fail;                                 \
		}                                                    \
	} while (0)

#endif /* DMAIO_INTERNAL_H */
