/* SPDX-License-Identifier: MIT */
/*
 * --ping: how long the loop leaves a socket waiting while it drives the
 * I/O job. One end of an AF_UNIX stream socketpair is watched by the loop;
 * the other is echoed by a thread of its own, as a server's client would
 * be. The echo side is not the loop: a loop stalled in io_submit would
 * then stall its own echo and time nothing.
 *
 * One ping is in flight at every moment (the callback that takes an echo
 * sends the next), so any stall of the loop lands in some round trip; a
 * stall yields one long sample, not the many an open-loop client would
 * queue behind it, which max shows better than p99.
 *
 * The peer holds each echo until ping_us after its previous one, a client
 * at a steady rate, and says how long it held it, which the loop
 * subtracts. Back-to-back (ping_us 0) is no server's traffic: on two CPUs
 * the pair trades hundreds of thousands of wake-ups a second and takes a
 * fifth of the IOPS. The peer also stamps the echo as it sends it: from
 * there to the callback is the wait the loop alone is to blame for, where
 * the round trip also holds the peer's own wake-up.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct ping_msg {
	uint64_t sent;  /* the loop's clock when it sent the ping */
	uint64_t held;  /* ns the peer held the echo on purpose */
	uint64_t echoed; /* the peer's clock (the same one) as it echoed */
};

struct bench_ping {
	struct worker *w;
	struct dmaio_loop *loop;
	int fd;         /* the loop's end, non-blocking */
	int peer_fd;
	pthread_t peer;
	int peer_started;
	struct ping_msg in;
	size_t have;    /* bytes of in read so far */
};

static int send_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = send(fd, c, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *peer_main(void *arg)
{
	struct bench_ping *p = arg;
	uint64_t interval = (uint64_t)p->w->o->ping_us * 1000, last = 0;

	/* a 100 us pace needs a timer that fires within microseconds */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	for (;;) {
		struct ping_msg m;
		size_t got = 0;

		while (got < sizeof(m)) {
			ssize_t n = recv(p->peer_fd, (char *)&m + got,
					 sizeof(m) - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return NULL; /* the loop's end closed */
			got += (size_t)n;
		}
		m.held = 0;
		if (interval && last) {
			uint64_t now = bench_now_ns(), at = last + interval;

			if (at > now) {
				struct timespec ts;

				ts.tv_sec = (time_t)(at / 1000000000u);
				ts.tv_nsec = (long)(at % 1000000000u);
				while (clock_nanosleep(CLOCK_MONOTONIC,
						       TIMER_ABSTIME, &ts,
						       NULL) == EINTR)
					;
				m.held = bench_now_ns() - now;
			}
		}
		last = m.echoed = bench_now_ns();
		if (send_all(p->peer_fd, &m, sizeof(m)))
			return NULL;
	}
}

static int send_ping(struct bench_ping *p)
{
	struct ping_msg m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.sent = bench_now_ns();
	/* one ping in flight: the socket buffer always has room */
	n = send(p->fd, &m, sizeof(m), MSG_NOSIGNAL);
	return n == (ssize_t)sizeof(m) ? 0 : n < 0 ? -errno : -EIO;
}

static void fail(struct bench_ping *p, int err)
{
	if (!p->w->ping_error)
		p->w->ping_error = err;
	dmaio_loop_unwatch(p->loop, p->fd);
}

static void on_echo(void *arg, int fd, uint32_t events)
{
	struct bench_ping *p = arg;

	(void)events;
	for (;;) {
		ssize_t n = recv(fd, (char *)&p->in + p->have,
				 sizeof(p->in) - p->have, 0);
		uint64_t now, rtt;
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			fail(p, n ? -errno : -EPIPE);
			return;
		}
		p->have += (size_t)n;
		if (p->have < sizeof(p->in))
			continue;
		p->have = 0;
		now = bench_now_ns();
		rtt = now - p->in.sent;
		rtt = rtt > p->in.held ? rtt - p->in.held : 0;
		hist_add(&p->w->ping_hist, rtt);
		/* the part the loop alone is to blame for */
		hist_add(&p->w->ping_wait_hist,
			 now > p->in.echoed ? now - p->in.echoed : 0);
		ret = send_ping(p);
		if (ret) {
			fail(p, ret);
			return;
		}
	}
}

int bench_ping_start(struct worker *w, struct dmaio_loop *loop,
		     struct bench_ping **out)
{
	struct bench_ping *p = calloc(1, sizeof(*p));
	pthread_attr_t attr;
	cpu_set_t set;
	int sv[2], ret;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->w = w;
	p->loop = loop;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		ret = -errno;
		free(p);
		return ret;
	}
	p->fd = sv[0];
	p->peer_fd = sv[1];
	/* the peer blocks in recv: only the loop's end is non-blocking */
	ret = fcntl(p->fd, F_SETFL, O_NONBLOCK) ? -errno : 0;
	/*
	 * Anywhere the process may run, not on the CPU --cpus pinned this
	 * worker to: a client is not the server's CPU, and sharing it would
	 * time the scheduler between the two. getpid() names the main
	 * thread, which is not pinned.
	 */
	pthread_attr_init(&attr);
	if (sched_getaffinity(getpid(), sizeof(set), &set) == 0)
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (!ret)
		ret = -pthread_create(&p->peer, &attr, peer_main, p);
	pthread_attr_destroy(&attr);
	if (!ret) {
		p->peer_started = 1;
		ret = dmaio_loop_watch(loop, p->fd, EPOLLIN, on_echo, p);
	}
	if (!ret)
		ret = send_ping(p);
	*out = p;
	return ret;
}

void bench_ping_stop(struct bench_ping *p)
{
	if (!p)
		return;
	dmaio_loop_unwatch(p->loop, p->fd);
	/* the peer sees the end in recv, or EPIPE in send */
	shutdown(p->fd, SHUT_RDWR);
	if (p->peer_started)
		pthread_join(p->peer, NULL);
	close(p->fd);
	close(p->peer_fd);
	free(p);
}
