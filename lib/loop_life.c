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
 *  4 files   file.c, align.c, range.c, file_io.c, file_class.c,
 *            file_meta.c, dir_sync.c
 *  5 above   read_plan.c, read_many.c, write_copy.c, writer*.c, reader.c:
 *            the public file calls (wrapped in dmaio__internal), not AIO
 *  6 wait    wait.c: the _wait twins, driving run_once
 *  top       loop_life.c (this file): creates and frees everything
 *
 * Each layer's header (base.h, op.h, fairq.h, io_props.h, devacct.h,
 * aio.h, dispatch.h, helper.h, probe.h, loop.h,
 * spin.h, buf.h, file.h, wait.h, writer.h) declares the structs its files
 * own.
 *
 * A new file operation goes in layer 4: a finish function and a work or
 * iocb in file_io.c / file_meta.c through dmaio__file_op() and
 * dmaio__file_start(), its _wait twin in wait.c. Something built from
 * several file operations goes in layer 5 and uses the public calls. A new
 * kernel probe is a line in features.def and a probe function in
 * features.c; everything else (DMAIO_DISABLE, dmaio-info, the test
 * profiles) reads the table.
 */
#include "aio.h"
#include "probe.h"
#include "file.h"

#include <fcntl.h>
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
	ret = dmaio__fork_setup(&loop->fork_gen);
	if (ret) {
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
	int callbacks = dmaio__loop_iterate(loop, timeout_ms);

	if (callbacks < 0)
		return callbacks;
	if (!loop->drivers && dmaio__free_if_requested(loop))
		return callbacks;
	/* what the next run_once(loop, 0) would do at once */
	if (loop->deferred.n ||
	    ((loop->disp.subq.n || loop->disp.ready.n) &&
	     loop->aio.inflight < loop->aio.depth))
		dmaio__wake_poller(loop);
	return callbacks;
}

DMAIO_EXPORT int dmaio_loop_run(struct dmaio_loop *loop)
{
	int ret = 0;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop)
		return dmaio__fail(-EINVAL, "run: loop is NULL");
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
