/* SPDX-License-Identifier: MIT */
/*
 * The user's own fds in the loop's epoll set (sockets and disk in one
 * thread). ADD or MOD is chosen from what the kernel already has, as in
 * Redis's ae; a paused fd (no events) leaves the set, since epoll reports
 * errors and hang-ups even for an empty mask and would wake the loop for
 * them on every wait.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define USER_EVENTS (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP)

static int is_watched(const struct dmaio_loop *loop, int fd)
{
	return fd < loop->watch.nslots && loop->watch.slot[fd].cb;
}

static int grow(struct dmaio_loop *loop, int fd)
{
	int n = loop->watch.nslots ? loop->watch.nslots : 64;
	struct dmaio_watch *w;

	while (n <= fd)
		n *= 2;
	w = realloc(loop->watch.slot, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + loop->watch.nslots, 0,
	       (n - loop->watch.nslots) * sizeof(*w));
	loop->watch.slot = w;
	loop->watch.nslots = n;
	return 0;
}

/* Tells the kernel fd's new mask: ADD, MOD or DEL from the old one. */
static int set_mask(struct dmaio_loop *loop, int fd, uint32_t events)
{
	uint32_t old = loop->watch.slot[fd].mask;
	struct epoll_event ev;
	int op;

	if (!old && !events)
		return 0;
	op = !old ? EPOLL_CTL_ADD : !events ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = (uint64_t)fd;
	/* a closed fd has left the epoll set already: that is fine */
	if (epoll_ctl(loop->epfd, op, fd, &ev) &&
	    !(op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)))
		return -errno;
	loop->watch.slot[fd].mask = events;
	return 0;
}

DMAIO_EXPORT int dmaio_loop_watch(struct dmaio_loop *loop, int fd,
				  uint32_t events, dmaio_watch_cb cb, void *arg)
{
	int ret;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || fd < 0 || !cb)
		return dmaio__fail(-EINVAL, "watch: %s", !loop ? "loop is NULL"
				   : fd < 0 ? "fd is negative" : "cb is NULL");
	if (fd == loop->epfd || fd == loop->aio.efd ||
	    fd == loop->helper.efd || fd == loop->wake_efd)
		return dmaio__fail(-EINVAL, "watch: fd %d is the loop's own",
				   fd);
	events &= USER_EVENTS;
	if (!events)
		return dmaio__fail(-EINVAL, "watch: events has none of "
				   "EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP");
	if (fd >= loop->watch.nslots && grow(loop, fd))
		return dmaio__fail(-ENOMEM, "watch: no memory");
	ret = set_mask(loop, fd, events);
	if (ret)
		return dmaio__fail(ret, "watch: epoll_ctl of fd %d", fd);
	if (!loop->watch.slot[fd].cb)
		loop->watch.nwatched++;
	loop->watch.slot[fd].cb = cb;
	loop->watch.slot[fd].arg = arg;
	return 0;
}

DMAIO_EXPORT int dmaio_loop_watch_modify(struct dmaio_loop *loop, int fd,
					 uint32_t events)
{
	int ret;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || fd < 0)
		return dmaio__fail(-EINVAL, "watch_modify: %s", loop ?
				   "fd is negative" : "loop is NULL");
	if (!is_watched(loop, fd))
		return dmaio__fail(-ENOENT, "watch_modify: fd %d is not "
				   "watched", fd);
	if (events & ~(uint32_t)USER_EVENTS)
		return dmaio__fail(-EINVAL, "watch_modify: events 0x%x has bits "
				   "other than EPOLLIN, EPOLLOUT, EPOLLPRI, "
				   "EPOLLRDHUP", events);
	ret = set_mask(loop, fd, events);
	if (ret)
		return dmaio__fail(ret, "watch_modify: epoll_ctl of fd %d", fd);
	return 0;
}

DMAIO_EXPORT int dmaio_loop_unwatch(struct dmaio_loop *loop, int fd)
{
	int ret;

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (!loop || fd < 0)
		return dmaio__fail(-EINVAL, "unwatch: %s", loop ? "fd is "
				   "negative" : "loop is NULL");
	if (!is_watched(loop, fd))
		return dmaio__fail(-ENOENT, "unwatch: fd %d is not watched",
				   fd);
	ret = set_mask(loop, fd, 0);
	if (ret)
		return dmaio__fail(ret, "unwatch: epoll_ctl of fd %d", fd);
	loop->watch.slot[fd].cb = NULL;
	loop->watch.nwatched--;
	return 0;
}

void dmaio__watch_dispatch(struct dmaio_loop *loop, int fd, uint32_t events)
{
	struct dmaio_watch *w;
	uint32_t got;

	/* unwatched or paused by an earlier callback of this batch */
	if (!is_watched(loop, fd) || !loop->watch.slot[fd].mask ||
	    !dmaio__may_call(loop))
		return;
	w = &loop->watch.slot[fd];
	got = events & w->mask;
	/* errors and hang-ups wake readers and writers alike */
	if (events & (EPOLLERR | EPOLLHUP))
		got |= (w->mask & (EPOLLIN | EPOLLOUT)) |
		       (events & (EPOLLERR | EPOLLHUP));
	if (!got)
		return;
	DMAIO__DELIVER(loop, w->cb(w->arg, fd, got));
}
