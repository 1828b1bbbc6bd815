/* SPDX-License-Identifier: MIT */
/*
 * Layer 2, the loop: struct dmaio_loop, made of the parts its layers own
 * (the helper threads, the watched fds, the timers, the posts), and the
 * iteration (loop.c). Its creation and end are loop_life.c's, at the top.
 */
#ifndef DMAIO_LOOP_H
#define DMAIO_LOOP_H

#include "op.h"
#include "aio.h"
#include "dispatch.h"
#include "helper.h"
#include "post.h"
#include "spin.h"
#include "timer.h"
#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/*
 * The loop's own thread (dmaio_loop_start_thread, loop_life.c) and the
 * _wait calls other threads hand it (wait.c). lock guards calls and
 * inside; state is also read without it (atomically). STOPPED: after
 * stop_thread, the loop is its caller's (tid), and the other threads'
 * _wait calls are answered -ESHUTDOWN instead of racing with it.
 */
enum { DMAIO__HOST_OFF, DMAIO__HOST_RUNNING, DMAIO__HOST_STOPPING,
       DMAIO__HOST_STOPPED };
struct dmaio__remote;
struct dmaio__host {
	pthread_mutex_t lock;
	pthread_cond_t idle;          /* inside fell to 0 */
	pthread_t tid;                /* the loop's thread; STOPPED: owner */
	int state;
	struct dmaio__remote *calls;  /* handed over, not yet answered */
	struct dmaio__remote *woken;  /* answered, to wake: loop thread only */
	unsigned inside;              /* callers between hand-over and return */
	/* wait_direct.c: calls doing their I/O on their own thread, and
	 * how many were done (atomics: no lock on that path) */
	unsigned direct;
	uint64_t direct_ios;
};

struct dmaio_loop {
	struct dmaio__owned *owned; /* writers and readers not closed yet */
	int epfd;
	int wake_efd;             /* makes the epoll fd readable: see wake() */
	int external;             /* dmaio_loop_fd() was asked for */
	struct dmaio__spin spin;  /* opts.poll_us */
	struct dmaio__opq deferred; /* finished, callback not yet run */
	struct dmaio__aio aio;
	struct dmaio__disp disp;
	struct dmaio__helper helper;
	struct dmaio__pool *pool;
	struct dmaio__op *free_ops;
	size_t nfree_ops;
	struct dmaio__watches watch;
	uint64_t features;
	size_t pending;           /* user-visible operations not called back */
	unsigned cb_depth;        /* > 0 while a user callback runs */
	unsigned callbacks;       /* counted for run_once's result */
	int in_run;
	int stop;                 /* any thread: atomic */
	unsigned drivers;         /* run and _wait calls driving run_once */
	int running;              /* inside dmaio_loop_run */
	int slept;                /* this iteration waited: stats.wakeups */
	unsigned internal_calls;  /* > 0: ops started are the library's own */
	int free_requested;       /* loop_free from a callback: free on return */
	int freeing;              /* loop_free: finish work, call nobody */
	int wake_pending;         /* wake_efd written, not yet drained */
	unsigned epoll_skips;
	uint64_t epoll_ns;        /* the last epoll_wait, while fds are watched */
	struct dmaio_file *files; /* open files, closed by loop_free */
	struct dmaio__timers timers;
	struct dmaio__posts posts;
	struct dmaio__host host;
	int hosted;               /* run by host's thread: posts can wake it */
	struct dmaio_loop_stats stats; /* loop thread only: no atomics */
	unsigned fork_gen;        /* dmaio__fork_gen when it was made */
	pid_t owner;              /* the process that made it */
};

/* epoll_data tags of the loop's own fds; user fds are stored as themselves */
#define DMAIO__TAG_AIO    (1ULL << 62)
#define DMAIO__TAG_HELPER (1ULL << 63)
#define DMAIO__TAG_WAKE   (1ULL << 61)
#define DMAIO__TAG_TIMER  (1ULL << 60)

/* loop.c */
/* One iteration (run_once without its end: see loop_life.c); the number
 * of callbacks made, or -errno. */
int dmaio__loop_iterate(struct dmaio_loop *loop, int timeout_ms);
/* What could still wake the loop: dmaio_loop_run goes on while true. */
int dmaio__loop_has_work(struct dmaio_loop *loop);

static inline int dmaio__loop_stop_requested(struct dmaio_loop *loop)
{
	return __atomic_load_n(&loop->stop, __ATOMIC_RELAXED);
}

/* Reads a (non-blocking) eventfd: EAGAIN just means someone read it first. */
static inline void dmaio__eventfd_drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* Work the next run_once(loop, 0) does at once, which no fd announces:
 * deferred callbacks, and iocbs the context has room for. */
static inline int dmaio__loop_work_queued(const struct dmaio_loop *loop)
{
	return loop->deferred.n ||
	       ((loop->disp.subq.n || loop->disp.ready.n) &&
		loop->aio.inflight < loop->aio.depth);
}

/* Whether helper threads have finished work the loop has not reaped. */
static inline int dmaio__helper_has_done(struct dmaio_loop *loop)
{
	return __atomic_load_n(&loop->helper.ndone, __ATOMIC_RELAXED) != 0;
}

/*
 * True when the loop runs on its own thread (or was stopped by another
 * thread) and the caller is not that thread: then only the _wait calls
 * (handed over, or -ESHUTDOWN) and stop/post may be made. tid is read
 * only after state says who it is.
 */
static inline int dmaio__hosted_elsewhere(struct dmaio_loop *loop)
{
	return __atomic_load_n(&loop->host.state, __ATOMIC_ACQUIRE) !=
		       DMAIO__HOST_OFF &&
	       !pthread_equal(pthread_self(),
			      __atomic_load_n(&loop->host.tid, __ATOMIC_ACQUIRE));
}

/* loop_life.c, the top: nothing below calls it (wait.c excepted) */
/* After loop_free from a callback: frees the loop now; 1 if it did. */
int dmaio__free_if_requested(struct dmaio_loop *loop);
/* Ends a _wait's turn at driving the loop (drivers++ began it); 1 when
 * a callback had freed the loop and it is gone now. */
int dmaio__drive_end(struct dmaio_loop *loop);

#endif /* DMAIO_LOOP_H */
