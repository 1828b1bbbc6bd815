/* SPDX-License-Identifier: MIT */
/* Layer 2, watch.c: the user's fds in the loop's epoll set. */
#ifndef DMAIO_WATCH_H
#define DMAIO_WATCH_H

#include "base.h"

struct dmaio_watch {
	uint32_t mask;      /* in the epoll set with these; 0: not, or paused */
	dmaio_watch_cb cb;  /* NULL: not watched */
	void *arg;
};
/* The table of watched fds, indexed by fd. */
struct dmaio__watches {
	struct dmaio_watch *slot;
	int nslots;
	unsigned nwatched;
};
void dmaio__watch_dispatch(struct dmaio_loop *loop, int fd, uint32_t events);

#endif /* DMAIO_WATCH_H */
