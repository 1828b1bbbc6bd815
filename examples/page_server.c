/* SPDX-License-Identifier: MIT */
/*
 * page_server: serves byte ranges of one file over TCP, sockets and disk
 * in one thread on one libdmaio loop.
 *
 *   page_server FILE [PORT]      (PORT 0 or none: any free port)
 *
 * A client sends lines "GET OFFSET LENGTH"; each is answered "OK N" and N
 * bytes (fewer at the end of the file), or "ERR reason". "QUIT" closes the
 * connection, "SHUTDOWN" stops the server. A client silent for 10 s is
 * dropped (a timer per client).
 *
 * While a read is in flight the client is paused (dmaio_loop_watch_modify
 * with no events): its next request waits in the socket, in order.
 */
#define _GNU_SOURCE /* accept4 */
#include <dmaio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define IDLE_US (10 * 1000000ull)
#define MAX_LEN (1 << 20)

struct client;

struct server {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	int lfd;
	struct client *clients;
};

struct client {
	struct server *s;
	struct client **prev, *next;
	int fd;
	struct dmaio_timer *idle;
	char line[256];
	size_t n;
};

static void drop(struct client *c)
{
	*c->prev = c->next;
	if (c->next)
		c->next->prev = c->prev;
	dmaio_loop_unwatch(c->s->loop, c->fd);
	close(c->fd);
	dmaio_timer_free(c->idle);
	free(c);
}

/* Blocking send of a small reply: fine for an example on loopback. */
static int send_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

static void on_idle(void *arg)
{
	drop(arg);
}

static void serve_line(struct client *c);

static void on_page(void *arg, struct dmaio_view *v, int64_t res)
{
	struct client *c = arg;
	char head[64];
	int bad;

	if (res < 0)
		snprintf(head, sizeof(head), "ERR %s\n", dmaio_strerror((int)res));
	else
		snprintf(head, sizeof(head), "OK %" PRId64 "\n", res);
	bad = send_all(c->fd, head, strlen(head)) ||
	      (res > 0 && send_all(c->fd, dmaio_view_data(v), (size_t)res));
	dmaio_view_release(v);
	if (bad) {
		drop(c);
		return;
	}
	/* the next request: one may already be buffered in c->line */
	dmaio_loop_watch_modify(c->s->loop, c->fd, EPOLLIN);
	serve_line(c);
}

/* Serves one complete line from c->line, if there is one. */
static void serve_line(struct client *c)
{
	char *nl = memchr(c->line, '\n', c->n);
	unsigned long long off, len;
	size_t used;

	if (!nl)
		return;
	*nl = 0;
	used = (size_t)(nl - c->line) + 1;
	if (sscanf(c->line, "GET %llu %llu", &off, &len) == 2 && len <= MAX_LEN) {
		memmove(c->line, c->line + used, c->n - used);
		c->n -= used;
		dmaio_loop_watch_modify(c->s->loop, c->fd, 0); /* one at a time */
		if (dmaio_file_read_at(c->s->f, off, (size_t)len, on_page, c)) {
			char err[300];

			snprintf(err, sizeof(err), "ERR %s\n", dmaio_last_error());
			dmaio_loop_watch_modify(c->s->loop, c->fd, EPOLLIN);
			if (send_all(c->fd, err, strlen(err)))
				drop(c);
		}
		return;
	}
	if (!strcmp(c->line, "SHUTDOWN")) {
		struct server *s = c->s;

		drop(c);
		dmaio_loop_stop(s->loop);
		return;
	}
	if (strcmp(c->line, "QUIT"))
		send_all(c->fd, "ERR bad request\n", 16);
	drop(c);
}

static void on_client(void *arg, int fd, uint32_t events)
{
	struct client *c = arg;
	ssize_t n;

	(void)events;
	n = recv(fd, c->line + c->n, sizeof(c->line) - 1 - c->n, 0);
	if (n <= 0 || (c->n += (size_t)n) == sizeof(c->line) - 1) {
		drop(c); /* closed, failed, or a line too long */
		return;
	}
	dmaio_timer_start(c->idle, IDLE_US, 0);
	serve_line(c);
}

static void on_accept(void *arg, int fd, uint32_t events)
{
	struct server *s = arg;
	struct client *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	(void)events;
	if (cfd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c || dmaio_timer_new(s->loop, on_idle, c, &c->idle) ||
	    dmaio_loop_watch(s->loop, cfd, EPOLLIN, on_client, c)) {
		if (c)
			dmaio_timer_free(c->idle);
		free(c);
		close(cfd);
		return;
	}
	c->s = s;
	c->fd = cfd;
	c->next = s->clients;
	if (c->next)
		c->next->prev = &c->next;
	c->prev = &s->clients;
	s->clients = c;
	dmaio_timer_start(c->idle, IDLE_US, 0);
}

static int listen_on(unsigned port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		perror("page_server: listen");
		return -1;
	}
	printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	struct server s;
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: page_server FILE [PORT]\n");
		return 2;
	}
	memset(&s, 0, sizeof(s));
	ret = dmaio_loop_new(&s.loop, NULL);
	if (!ret)
		ret = dmaio_file_open_wait(s.loop, argv[1], &s.f);
	if (ret) {
		fprintf(stderr, "page_server: %s: %s\n", argv[1],
			dmaio_strerror(ret));
		return 1;
	}
	s.lfd = listen_on(argc == 3 ? (unsigned)atoi(argv[2]) : 0);
	if (s.lfd < 0)
		return 1;
	ret = dmaio_loop_watch(s.loop, s.lfd, EPOLLIN, on_accept, &s);
	if (!ret)
		ret = dmaio_loop_run(s.loop); /* until SHUTDOWN */
	close(s.lfd);
	while (s.clients)
		drop(s.clients);
	/* a read still in flight is waited for, its callback not called */
	dmaio_loop_free(s.loop);
	return ret ? 1 : 0;
}
