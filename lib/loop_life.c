/* SPDX-License-Identifier: MIT */
/*
 * The top of the library: a loop's creation and end, and the public
 * run/run_once, which free a loop that a callback asked to free.
 *
 * The layers of lib/, bottom up; a file calls only files of its own layer
 * listed before it, or of layers below (t/test-layers.sh checks that no
 * two files call each other, through tools/check-layers):
 *
 *  0 base    error.c, compat.c (syscalls by number, clock, page size,
 *            /proc and /sys reader), fork.c, op.c (operation records,
 *            deferred completions, owned objects, callback delivery),
 *            fairq.c (the fair queue's pure logic), io_props.c (device
 *            models), devacct.c (the process's account of each device)
 *  1 kernel  aio_destroy.c, aio.c, reap.c (AIO), helper.c (blocking
 *            syscalls),
 *            features.c (probes, from features.def)
 *  1b dispatch  dispatch.c (what goes to io_submit when: the devices'
 *            caps, io_submit priced), class.c, class_api.c (I/O classes)
 *  2 loop    watch.c, timer.c, post.c, spin.c (poll_us), then loop.c
 *            (one iteration)
 *  3 memory  buf.c, view.c
 *  4 files   file.c, file_open.c, align.c, range.c, file_io.c,
 *            file_mem.c, file_class.c, file_meta.c, dir_sync.c
 *  5 above   read_plan.c, read_many.c, write_copy.c, writer*.c, reader.c:
 *            the public file calls (wrapped in dmaio__internal), not AIO
 *  6 wait    wait.c: the _wait mechanism, driving run_once (or handing
 *            the call to the loop's own thread); wait_file.c: the twins;
 *            wait_direct.c: reads and writes other threads make themselves
 *  top       loop_life.c (this file): creates and frees everything, and
 *            runs a loop on a thread of its own
 *
 * Each layer's header (base.h, op.h, fairq.h, io_props.h, devacct.h,
 * aio.h, dispatch.h, helper.h, probe.h, loop.h,
 * spin.h, buf.h, file.h, wait.h, writer.h) declares the structs its files
 * own.
 *
 * A new file operation goes in layer 4: a finish function and a work or
 * iocb in file_io.c / file_meta.c through dmaio__file_op() and
 * dmaio__file_start(), its _wait twin in wait_file.c. Something built from
 * several file operations goes in layer 5 and uses the public calls. A new
 * kernel probe is a line in features.def and a probe function in
 * features.c; everything else (DMAIO_DISABLE, dmaio-info, the test
 * profiles) reads the table.
 */
#include "aio.h"
#include "drain.h"
#include "probe.h"
#include "file.h"
#include "wait.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* opts defaults: the one place they are set */
#define DEFAULT_QUEUE_DEPTH 128
#define DEFAULT_HELPER_THREADS 1
#define DEFAULT_SUBMIT_BATCH 1
#define MAX_QUEUE_DEPTH 65536
#define MAX_HELPER_THREADS 1024
#define MAX_POLL_US 1000000

static int host_init(struct dmaio__host *h)
{
	int ret = pthread_mutex_init(&h->lock, NULL);

	if (ret)
		return -ret;
	ret = pthread_cond_init(&h->idle, NULL);
	if (ret)
		pthread_mutex_destroy(&h->lock);
	return -ret;
}

static void host_destroy(struct dmaio__host *h, int inherited)
{
	/* in a forked child the lock may be held by a thread of the parent */
	if (inherited)
		return;
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->lock);
}

DMAIO_EXPORT void dmaio_loop_opts_init(struct dmaio_loop_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->queue_depth = DEFAULT_QUEUE_DEPTH;
	o->helper_threads = DEFAULT_HELPER_THREADS;
	o->disable = 0;
	o->submit_batch = DEFAULT_SUBMIT_BATCH;
}

/* The caller's options over the defaults, checked. 0 or -EINVAL. */
static int read_opts(struct dmaio_loop_opts *o,
		     const struct dmaio_loop_opts *uo)
{
	dmaio_loop_opts_init(o);
	if (dmaio__opts_read(o, sizeof(*o), uo))
		return dmaio__fail(-EINVAL, "loop_new: opts->size is smaller "
				   "than a size_t");
	o->queue_depth = DMAIO__OR_DEFAULT(o->queue_depth,
					   DEFAULT_QUEUE_DEPTH);
	o->helper_threads = DMAIO__OR_DEFAULT(o->helper_threads,
					      DEFAULT_HELPER_THREADS);
	o->submit_batch = DMAIO__OR_DEFAULT(o->submit_batch,
					    DEFAULT_SUBMIT_BATCH);
	if (o->queue_depth > MAX_QUEUE_DEPTH)
		return dmaio__fail(-EINVAL, "loop_new: queue_depth %u is over "
				   "%u", o->queue_depth, MAX_QUEUE_DEPTH);
	if (o->helper_threads > MAX_HELPER_THREADS)
		return dmaio__fail(-EINVAL, "loop_new: helper_threads %u is "
				   "over %u", o->helper_threads,
				   MAX_HELPER_THREADS);
	if (o->disable & ~DMAIO_FEAT_ALL)
		return dmaio__fail(-EINVAL, "loop_new: disable has bits that "
				   "are no DMAIO_FEAT_*: 0x%llx",
				   (unsigned long long)(o->disable &
							~DMAIO_FEAT_ALL));
	if (o->poll_us > MAX_POLL_US)
		return dmaio__fail(-EINVAL, "loop_new: poll_us %u is over "
				   "%u", o->poll_us, MAX_POLL_US);
	if (o->flags & ~DMAIO_LOOP_LAZY_EVENTFD)
		return dmaio__fail(-EINVAL, "loop_new: unknown flags 0x%x",
				   o->flags & ~DMAIO_LOOP_LAZY_EVENTFD);
	return 0;
}

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = tag;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The loop's fds, buffer pool, AIO context and helpers; 0 or -errno. */
static int setup(struct dmaio_loop *loop, const struct dmaio_loop_opts *o)
{
	int ret;

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	loop->pool = dmaio__pool_new(o->queue_depth);
	if (!loop->pool)
		return -ENOMEM;
	ret = dmaio__aio_setup(loop);
	if (ret)
		return ret;
	ret = epoll_add(loop->epfd, loop->aio.efd, EPOLLIN, DMAIO__TAG_AIO);
	if (ret)
		return ret;
	loop->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_efd < 0)
		return -errno;
	ret = epoll_add(loop->epfd, loop->wake_efd, EPOLLIN, DMAIO__TAG_WAKE);
	if (ret)
		return ret;
	/* without it, stop() from another thread waits for a completion */
	loop->aio.zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ret = dmaio__helper_start(&loop->helper, o->helper_threads);
	if (ret)
		return ret;
	ret = epoll_add(loop->epfd, loop->helper.efd, EPOLLIN,
			DMAIO__TAG_HELPER);
	if (ret)
		return ret;
	ret = dmaio__probe_features(loop, o->disable);
	if (ret)
		return ret;
	loop->pool->huge = !!(loop->features & DMAIO_FEAT_HUGE_BUFFERS);
	return 0;
}

DMAIO_EXPORT int dmaio_loop_new(struct dmaio_loop **out,
				const struct dmaio_loop_opts *uo)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop;
	int ret;

	dmaio__set_last_error("%s", "");
	if (!out)
		return dmaio__fail(-EINVAL, "loop_new: out is NULL");
	*out = NULL;
	ret = read_opts(&o, uo);
	if (ret)
		return ret;
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return dmaio__fail(-ENOMEM, "loop_new: no memory");
	ret = dmaio__posts_init(&loop->posts);
	if (ret) {
		free(loop);
		return dmaio__fail(ret, "loop_new: pthread_mutex_init");
	}
	ret = host_init(&loop->host);
	if (ret) {
		dmaio__posts_destroy(loop, 0);
		free(loop);
		return dmaio__fail(ret, "loop_new: pthread_mutex_init");
	}
	ret = dmaio__fork_setup(&loop->fork_gen);
	if (ret) {
		host_destroy(&loop->host, 0);
		dmaio__posts_destroy(loop, 0);
		free(loop);
		return dmaio__fail(ret, "loop_new: pthread_once");
	}
	loop->owner = getpid();
	loop->epfd = loop->aio.efd = loop->helper.efd = -1;
	loop->wake_efd = loop->aio.zero_fd = loop->timers.tfd = -1;
	loop->aio.depth = o.queue_depth;
	loop->disp.submit_batch = o.submit_batch;
	loop->aio.reaped = dmaio__dispatch_reaped;
	dmaio__class_init_default(loop);
	loop->spin.max_ns = (uint64_t)o.poll_us * 1000;
	loop->aio.lazy_eventfd = !!(o.flags & DMAIO_LOOP_LAZY_EVENTFD);
	ret = setup(loop, &o);
	if (ret) {
		dmaio_loop_free(loop);
		return ret;
	}
	*out = loop;
	return 0;
}

/*
 * dmaio_loop_free() in a forked child (an atexit clean-up, say). The AIO
 * context, the helper threads and what they are doing are the parent's:
 * waiting for them would hang, and a helper's lock may have been held at
 * the fork. The fds are the child's own copies, closing them leaves the
 * parent's alone; the memory is the child's copy (buffer pages excepted,
 * which it never had). So: close, drop what the loop thread's lists hold,
 * and free. Operations that were pending at the fork stay where they are:
 * in the child nothing leads to them.
 */
static void release(struct dmaio_loop *loop, int inherited)
{
	dmaio__drop_owned(loop);
	dmaio__files_release(loop);
	/* first: other loops may wake this one while it has accounts */
	dmaio__dispatch_teardown(loop, inherited);
	dmaio__classes_free(loop);
	if (inherited) {
		free(loop->helper.threads);
		if (loop->helper.efd >= 0)
			close(loop->helper.efd);
		if (loop->aio.efd >= 0)
			close(loop->aio.efd);
	} else {
		if (loop->helper.threads)
			dmaio__helper_stop(&loop->helper);
		dmaio__aio_teardown(loop);
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wake_efd >= 0)
		close(loop->wake_efd);
	if (loop->aio.zero_fd >= 0)
		close(loop->aio.zero_fd);
	dmaio__op_pool_free(loop);
	free(loop->watch.slot);
	dmaio__timers_free_all(loop);
	dmaio__posts_destroy(loop, inherited);
	host_destroy(&loop->host, inherited);
	if (loop->pool)
		dmaio__pool_release(loop->pool);
	free(loop);
}

static void free_inherited(struct dmaio_loop *loop)
{
	loop->freeing = 1;
	release(loop, 1);
}

/* Frees the loop: everything pending finishes, nobody is called back. */
static void destroy(struct dmaio_loop *loop)
{
	/*
	 * The kernel and the helpers may still be using buffers of pending
	 * operations: let them finish. The library's own completions still
	 * run (read_many and the streams free themselves), the user's do not.
	 */
	loop->freeing = 1;
	dmaio__files_end_lock_waits(loop);
	while (loop->pending && loop->aio.ctx)
		if (dmaio_loop_run_once(loop, -1) < 0)
			break;
	release(loop, 0);
}

DMAIO_EXPORT void dmaio_loop_free(struct dmaio_loop *loop)
{
	if (!loop || loop->free_requested)
		return;
	if (DMAIO__INHERITED(loop)) {
		free_inherited(loop);
		return;
	}
	/* its own thread stops first: callers handed over are answered */
	if (dmaio__hosted_elsewhere(loop))
		dmaio_loop_stop_thread(loop);
	/* from here on, posts from other threads are refused */
	dmaio__posts_close(loop);
	if (loop->in_run || loop->drivers) {
		/*
		 * From a callback: the code that called it still uses the
		 * loop. From here on nobody is called back; whoever drives
		 * the loop (run, run_once, a _wait) frees it on the way out.
		 */
		loop->free_requested = 1;
		loop->freeing = 1;
		return;
	}
	destroy(loop);
}

static int hosted_refuse(const char *what)
{
	return dmaio__fail(-EBUSY, "%s: the loop belongs to another thread "
			   "(dmaio_loop_start_thread, or the caller of "
			   "dmaio_loop_stop_thread)", what);
}

int dmaio__free_if_requested(struct dmaio_loop *loop)
{
	if (!loop->free_requested)
		return 0;
	loop->free_requested = 0;
	destroy(loop);
	return 1;
}

/*
 * A _wait drives the loop as run does: a callback that frees the loop
 * meanwhile only asks for it, and the loop is freed here, on the way out.
 * Returns 1 when it was.
 */
int dmaio__drive_end(struct dmaio_loop *loop)
{
	loop->drivers--;
	return !loop->drivers && dmaio__free_if_requested(loop);
}

DMAIO_EXPORT int dmaio_loop_run_once(struct dmaio_loop *loop, int timeout_ms)
{
	int callbacks;

	if (loop && dmaio__hosted_elsewhere(loop))
		return hosted_refuse("run_once");
	callbacks = dmaio__loop_iterate(loop, timeout_ms);

	if (callbacks < 0)
		return callbacks;
	if (!loop->drivers && dmaio__free_if_requested(loop))
		return callbacks;
	/* what the next run_once(loop, 0) would do at once */
	if (dmaio__loop_work_queued(loop))
		dmaio__wake_poller(loop);
	return callbacks;
}

DMAIO_EXPORT int dmaio_loop_run(struct dmaio_loop *loop)
{
	int ret = 0;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "run: loop is NULL");
	if (dmaio__hosted_elsewhere(loop))
		return hosted_refuse("run");
	if (loop->in_run || loop->cb_depth)
		return dmaio__fail(-EDEADLK, "run: called from one of the "
				   "loop's own callbacks");
	loop->drivers++;
	loop->running = 1;
	while (!dmaio__loop_stop_requested(loop) &&
	       dmaio__loop_has_work(loop)) {
		ret = dmaio_loop_run_once(loop, -1);
		if (ret < 0)
			break;
		ret = 0;
		if (loop->free_requested)
			break;
	}
	loop->running = 0;
	__atomic_store_n(&loop->stop, 0, __ATOMIC_RELAXED);
	dmaio__drive_end(loop);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the loop on a thread of its own                                     */

/* No call handed over is waiting for its answer. */
static int host_answered(struct dmaio__host *h)
{
	int none;

	pthread_mutex_lock(&h->lock);
	none = !h->calls;
	pthread_mutex_unlock(&h->lock);
	return none;
}

/*
 * Callers woken with their answer still take the lock on their way out:
 * the loop (and the lock in it) may go only once the last has left.
 */
static void host_wait_idle(struct dmaio__host *h)
{
	pthread_mutex_lock(&h->lock);
	__atomic_store_n(&h->state, DMAIO__HOST_STOPPING, __ATOMIC_SEQ_CST);
	while (h->inside)
		pthread_cond_wait(&h->idle, &h->lock);
	pthread_mutex_unlock(&h->lock);
	/* the calls on their own threads use the loop's files: they too
	 * (wait_direct.c); none starts now that the state is not RUNNING */
	dmaio__drain(&h->direct);
	dmaio__drain_reset(&h->direct);
}

/*
 * After an iteration: wakes the callers whose waiters its callbacks filled
 * (wait.c notes them in h->woken), now that what it took is submitted.
 */
static void host_wake(struct dmaio__host *h)
{
	struct dmaio__remote *r, *next;

	if (!h->woken)
		return;
	pthread_mutex_lock(&h->lock);
	for (r = h->woken; r; r = r->wnext)
		dmaio__remote_unlink(r);
	pthread_mutex_unlock(&h->lock);
	for (r = h->woken, h->woken = NULL; r; r = next) {
		/* r (the caller's stack) may be gone once it is woken */
		next = r->wnext;
		pthread_mutex_lock(&r->lock);
		r->w->done = 1;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

/* The loop goes: what was handed over and not answered never will be. */
static void cancel_calls(struct dmaio__host *h)
{
	struct dmaio__remote *r;

	pthread_mutex_lock(&h->lock);
	while ((r = h->calls)) {
		h->calls = r->next;
		r->prev = r->next = NULL;
		pthread_mutex_lock(&r->lock);
		r->w->res = -ECANCELED;
		r->w->done = 1;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_unlock(&h->lock);
}

static void *host_main(void *arg)
{
	struct dmaio_loop *loop = arg;
	struct dmaio__host *h = &loop->host;

	/* start_thread sets tid and state under the lock: see them */
	pthread_mutex_lock(&h->lock);
	pthread_mutex_unlock(&h->lock);
	for (;;) {
		dmaio_loop_run_once(loop, -1);
		host_wake(h);
		if (loop->free_requested)
			break;
		/* stop_thread's wake-up, or a user's stop: either way, look */
		if (dmaio__loop_stop_requested(loop))
			__atomic_store_n(&loop->stop, 0, __ATOMIC_RELAXED);
		if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) ==
			    DMAIO__HOST_STOPPING && host_answered(h))
			break;
	}
	if (loop->free_requested) {
		/*
		 * A callback freed the loop: nobody will join us, and what
		 * was handed over is answered -ECANCELED, as a _wait of the
		 * owner thread is.
		 */
		pthread_detach(pthread_self());
		__atomic_store_n(&h->state, DMAIO__HOST_STOPPING,
				 __ATOMIC_RELEASE);
		cancel_calls(h);
	}
	host_wait_idle(h);
	loop->running = 0;
	loop->hosted = 0;
	/* frees the loop if a callback asked for it */
	dmaio__drive_end(loop);
	return NULL;
}

DMAIO_EXPORT int dmaio_loop_start_thread(struct dmaio_loop *loop)
{
	struct dmaio__host *h;
	sigset_t all, old;
	pthread_t tid;
	int ret, state;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "loop_start_thread: loop is NULL");
	h = &loop->host;
	state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
	if (state == DMAIO__HOST_RUNNING || state == DMAIO__HOST_STOPPING)
		return dmaio__fail(-EBUSY, "loop_start_thread: the loop "
				   "already runs on its own thread");
	if (loop->in_run || loop->cb_depth || loop->drivers)
		return dmaio__fail(-EDEADLK, "loop_start_thread: called while "
				   "the loop runs (from one of its callbacks)");
	loop->hosted = 1;
	loop->running = 1;
	loop->drivers++;
	/* the program's signals go to its own threads, not to the loop's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* the thread starts once it can take the lock: tid and state set */
	pthread_mutex_lock(&h->lock);
	ret = pthread_create(&tid, NULL, host_main, loop);
	if (!ret) {
		__atomic_store_n(&h->tid, tid, __ATOMIC_RELEASE);
		__atomic_store_n(&h->state, DMAIO__HOST_RUNNING,
				 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&h->lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		loop->hosted = 0;
		loop->running = 0;
		loop->drivers--;
		return dmaio__fail(-ret, "loop_start_thread: pthread_create");
	}
	return 0;
}

DMAIO_EXPORT int dmaio_loop_stop_thread(struct dmaio_loop *loop)
{
	struct dmaio__host *h;
	int state;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "loop_stop_thread: loop is NULL");
	h = &loop->host;
	pthread_mutex_lock(&h->lock);
	state = h->state;
	if (state == DMAIO__HOST_RUNNING &&
	    pthread_equal(pthread_self(), h->tid)) {
		pthread_mutex_unlock(&h->lock);
		return dmaio__fail(-EDEADLK, "loop_stop_thread: called on the "
				   "loop's own thread, which it would wait "
				   "for");
	}
	if (state == DMAIO__HOST_RUNNING)
		__atomic_store_n(&h->state, DMAIO__HOST_STOPPING,
				 __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->lock);
	if (state == DMAIO__HOST_OFF || state == DMAIO__HOST_STOPPED)
		return dmaio__fail(-EINVAL, "loop_stop_thread: the loop runs "
				   "on no thread of its own");
	if (state == DMAIO__HOST_STOPPING)
		return dmaio__fail(-EALREADY, "loop_stop_thread: another "
				   "thread is stopping it");
	dmaio_loop_stop(loop);
	pthread_join(h->tid, NULL);
	__atomic_store_n(&loop->stop, 0, __ATOMIC_RELAXED);
	/* the loop is ours now; other threads' waits get -ESHUTDOWN */
	pthread_mutex_lock(&h->lock);
	__atomic_store_n(&h->tid, pthread_self(), __ATOMIC_RELEASE);
	__atomic_store_n(&h->state, DMAIO__HOST_STOPPED, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->lock);
	return 0;
}
