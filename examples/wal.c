/* SPDX-License-Identifier: MIT */
/*
 * wal: a write-ahead log with group commit and recovery.
 *
 *   wal DIR append N [--crash-at K]   N records from 4 client threads
 *   wal DIR recover                   count the valid records
 *
 * Client threads hand records to the loop (dmaio_loop_post); the loop
 * appends them through a stream writer, and a 1 ms timer commits what
 * came in since the last commit with one dmaio_writer_sync(): a record is
 * acknowledged when the sync that covers it completes, in log order.
 * Recovery reads records one at a time (dmaio_reader_read) until one does
 * not check (magic, length, CRC-32): past the end lie a torn record or the
 * zeros the writer grows the file with. Appending resumes there
 * (dmaio_writer_opts.start); a new log's name is made durable with
 * dmaio_file_sync_parent(). --crash-at K kills the process once K records
 * are acknowledged: recovery must then find them all.
 */
#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC 0x57414c31u /* "WAL1" */
#define CLIENTS 4
#define MAX_PAYLOAD 200

struct hdr {
	uint32_t magic, len, crc;
};

static uint32_t crc32(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t c = 0xffffffffu;
	int k;

	while (n--) {
		c ^= *b++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

/* Reads records until the first that does not check; returns the count
 * and the offset where the next record goes. */
static int recover(struct dmaio_loop *loop, const char *path, uint64_t *count,
		   uint64_t *end)
{
	struct dmaio_reader *r;
	struct dmaio_file *f;
	char payload[MAX_PAYLOAD];
	struct hdr h;
	int ret;

	*count = *end = 0;
	ret = dmaio_file_open_wait(loop, path, &f);
	if (ret == -ENOENT)
		return 0; /* a new log */
	if (ret || (ret = dmaio_reader_new(f, NULL, &r)))
		return ret;
	while (dmaio_reader_read_wait(r, &h, sizeof(h)) == sizeof(h) &&
	       h.magic == MAGIC && h.len <= MAX_PAYLOAD &&
	       dmaio_reader_read_wait(r, payload, h.len) == h.len &&
	       crc32(payload, h.len) == h.crc) {
		*end += sizeof(h) + h.len;
		++*count;
	}
	return dmaio_reader_close_wait(r);
}

struct wal {
	struct dmaio_loop *loop;
	struct dmaio_writer *w;
	struct dmaio_timer *commit;
	uint64_t want, appended, committing, acked, crash_at;
	char *backlog; /* bytes the writer had no room for yet */
	size_t backlog_len, backlog_cap;
	int waiting_writable, err;
};

struct record {
	struct wal *l;
	struct hdr h;            /* followed in the log by h.len bytes: */
	char payload[MAX_PAYLOAD];
};

struct batch { /* the records one group commit covers */
	struct wal *l;
	uint64_t n;
};

struct client {
	struct wal *wal;
	int id;
	uint64_t n;
};

static void on_writable(void *arg, int64_t res)
{
	struct wal *l = arg;
	int64_t got = res < 0 ? res : dmaio_writer_write(l->w, l->backlog,
							  l->backlog_len);

	l->waiting_writable = 0;
	if (got < 0) {
		l->err = (int)got;
		return;
	}
	memmove(l->backlog, l->backlog + got, l->backlog_len - (size_t)got);
	l->backlog_len -= (size_t)got;
	if (l->backlog_len &&
	    dmaio_writer_on_writable(l->w, on_writable, l) == 0)
		l->waiting_writable = 1;
}

/* Writes what the writer takes; keeps the rest until a buffer is free. */
static void append_bytes(struct wal *l, const void *p, size_t n)
{
	int64_t got = l->backlog_len ? 0 : dmaio_writer_write(l->w, p, n);

	if (got < 0 || (size_t)got == n) {
		if (got < 0)
			l->err = (int)got;
		return;
	}
	if (l->backlog_len + n - (size_t)got > l->backlog_cap) {
		l->backlog_cap = 2 * (l->backlog_len + n);
		if (!(l->backlog = realloc(l->backlog, l->backlog_cap)))
			abort();
	}
	memcpy(l->backlog + l->backlog_len, (const char *)p + got,
	       n - (size_t)got);
	l->backlog_len += n - (size_t)got;
	if (!l->waiting_writable &&
	    dmaio_writer_on_writable(l->w, on_writable, l) == 0)
		l->waiting_writable = 1;
}

/* On the loop thread: a client's record goes into the log. */
static void on_post(void *arg)
{
	struct record *rec = arg;
	struct wal *l = rec->l;

	append_bytes(l, &rec->h, sizeof(rec->h));
	append_bytes(l, rec->payload, rec->h.len);
	l->appended++;
	free(rec);
}

static void on_synced(void *arg, int64_t res)
{
	struct batch *b = arg;
	struct wal *l = b->l;

	if (res < 0)
		l->err = (int)res;
	else
		l->acked += b->n;
	free(b);
	if (l->crash_at && l->acked >= l->crash_at)
		raise(SIGKILL); /* what was acknowledged must survive */
	if (l->acked == l->want)
		dmaio_timer_stop(l->commit);
}

/* Group commit: one sync for everything appended since the last one. */
static void on_commit_tick(void *arg)
{
	struct wal *l = arg;
	struct batch *b;

	if (l->appended == l->committing || l->backlog_len)
		return; /* nothing new, or not all of it in the writer yet */
	if (!(b = malloc(sizeof(*b))))
		abort();
	b->l = l;
	b->n = l->appended - l->committing;
	l->committing = l->appended;
	if (dmaio_writer_sync(l->w, on_synced, b)) {
		free(b);
		l->err = -EIO;
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	uint64_t i;

	for (i = 0; i < c->n; i++) {
		struct record *rec = malloc(sizeof(*rec));
		int n;

		rec->l = c->wal; /* (out of memory: the example just crashes) */
		rec->h.magic = MAGIC;
		rec->h.len = 16 + (uint32_t)((i * 37 + (uint64_t)c->id) % 150);
		memset(rec->payload, '.', rec->h.len);
		n = snprintf(rec->payload, rec->h.len, "c%d r%" PRIu64, c->id, i);
		rec->payload[n] = '.';
		rec->h.crc = crc32(rec->payload, rec->h.len);
		while (dmaio_loop_post(c->wal->loop, on_post, rec) == -ENOMEM)
			usleep(1000);
	}
	return NULL;
}

static int append(const char *path, uint64_t n, uint64_t crash_at)
{
	struct dmaio_writer_opts o;
	struct client c[CLIENTS];
	pthread_t t[CLIENTS];
	struct dmaio_file *f;
	struct wal l;
	uint64_t had, end;
	int64_t total;
	int i, ret, created;

	memset(&l, 0, sizeof(l));
	l.want = n;
	l.crash_at = crash_at;
	if ((ret = dmaio_loop_new(&l.loop, NULL)) ||
	    (ret = recover(l.loop, path, &had, &end)))
		return ret;
	created = access(path, F_OK) != 0;
	ret = dmaio_file_open_flags_wait(l.loop, path, O_RDWR | O_CREAT, 0644,
					 &f);
	if (!ret && created)
		ret = dmaio_file_sync_parent_wait(f); /* the name is durable */
	if (ret)
		return ret;
	dmaio_writer_opts_init(&o);
	o.start = end; /* after the last good record: a torn one is overwritten */
	o.buffer_size = 64 * 1024;
	if ((ret = dmaio_writer_new(f, &o, &l.w)) ||
	    (ret = dmaio_timer_new(l.loop, on_commit_tick, &l, &l.commit)) ||
	    (ret = dmaio_timer_start(l.commit, 1000, 1000)))
		return ret;
	for (i = 0; i < CLIENTS; i++) {
		c[i].wal = &l;
		c[i].id = i;
		c[i].n = n / CLIENTS + (i < (int)(n % CLIENTS));
		pthread_create(&t[i], NULL, client_main, &c[i]);
	}
	while (l.acked < n && !l.err)
		if ((ret = dmaio_loop_run_once(l.loop, -1)) < 0)
			return ret;
	for (i = 0; i < CLIENTS; i++)
		pthread_join(t[i], NULL);
	total = dmaio_writer_close_wait(l.w);
	dmaio_timer_free(l.commit);
	dmaio_loop_free(l.loop);
	free(l.backlog);
	if (l.err || total < 0)
		return l.err ? l.err : (int)total;
	printf("%" PRIu64 " records acknowledged (log had %" PRIu64 ")\n",
	       l.acked, had);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	uint64_t count, end, crash_at = 0;
	struct dmaio_loop *loop;
	int ret;

	if (argc < 3 || (strcmp(argv[2], "append") && strcmp(argv[2], "recover")) ||
	    (!strcmp(argv[2], "append") && argc != 4 && argc != 6)) {
		fprintf(stderr, "usage: wal DIR append N [--crash-at K] | "
				"wal DIR recover\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/log", argv[1]);
	if (!strcmp(argv[2], "append")) {
		if (argc == 6 && !strcmp(argv[4], "--crash-at"))
			crash_at = strtoull(argv[5], NULL, 0);
		ret = append(path, strtoull(argv[3], NULL, 0), crash_at);
	} else {
		if (!(ret = dmaio_loop_new(&loop, NULL)) &&
		    !(ret = recover(loop, path, &count, &end)))
			printf("%" PRIu64 " records, end at %" PRIu64 "\n", count,
			       end);
		dmaio_loop_free(loop);
	}
	if (ret)
		fprintf(stderr, "wal: %s\n", dmaio_last_error());
	return ret ? 1 : 0;
}
