/* SPDX-License-Identifier: MIT */
/*
 * dmaio_reader_read (API 1.1): length-prefixed records of 1 to 10000
 * bytes read one at a time, straddling buffers of 512 B to 128 KiB with
 * read_ahead 0, 1 and 4; reads past the end; a million 1-byte reads that
 * take far fewer loop turns (syscalls) than reads, none called back from
 * inside its call; a read-ahead EIO; reads mixed with get_buffer and skip
 * and the -EBUSY rule between them; bad arguments; close and loop_free
 * from a read's callback.
 */
#include "testutil.h"
#include "inject.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define FSIZE 1000003
#define SEED 57

#define NEXT(name) \
	static __typeof__(name) *next; \
	if (!next) next = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* the loop's ways of asking the kernel for events, counted */
static long waits;

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	NEXT(epoll_wait);
	waits++;
	return next(epfd, evs, max, timeout);
}

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *ev,
		 struct timespec *ts)
{
	NEXT(io_getevents);
	waits++;
	return next(ctx, min_nr, nr, ev, ts);
}

static struct dmaio_reader *open_reader(struct dmaio_loop *loop,
					const char *path, uint64_t end,
					size_t bs, unsigned ra)
{
	struct dmaio_reader_opts o;
	struct dmaio_reader *r = NULL;
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &f), 0);
	dmaio_reader_opts_init(&o);
	o.end = end;
	o.buffer_size = bs;
	o.read_ahead = ra;
	ck_assert_int_eq(dmaio_reader_new(f, &o, &r), 0);
	return r;
}

/*
 * A log: records of a 4-byte length (1..10000) and that many bytes of
 * pattern. Returns the file's size; *nrec the number of records.
 */
static size_t make_log(const char *path, size_t min_size, unsigned seed,
		       size_t *nrec)
{
	unsigned char *buf = malloc(min_size + 10004);
	size_t size = 0;
	int fd;

	srand(seed);
	*nrec = 0;
	while (size < min_size) {
		uint32_t len = 1 + (uint32_t)(rand() % 10000);

		/* the last one is long enough to end inside its payload */
		if (size + 4 + len >= min_size && len < 16)
			len = 16;

		memcpy(buf + size, &len, 4);
		tu_fill(buf + size + 4, len, size + 4, SEED);
		size += 4 + len;
		(*nrec)++;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
	return size;
}

/* Replays the log from the callbacks: header, payload, header... */
struct replay {
	struct dmaio_reader *r;
	uint32_t len;
	unsigned char rec[10000];
	int in_header;
	int in_call;            /* inside dmaio_reader_read */
	uint64_t pos;           /* of the next byte */
	size_t nrec, calls;
	int64_t last;           /* the last result */
	int done;
};

static void next_read(struct replay *p, void *dst, size_t len);

static void on_replay(void *arg, int64_t res)
{
	struct replay *p = arg;

	ck_assert_int_eq(p->in_call, 0); /* never from inside the call */
	p->calls++;
	p->last = res;
	if (res <= 0) {
		p->done = 1;
		return;
	}
	if (p->in_header) {
		ck_assert_int_eq(res, 4);
		p->pos += 4;
		p->in_header = 0;
		next_read(p, p->rec, p->len);
		return;
	}
	/* the payload, or what the stream has of it */
	ck_assert_int_le(res, p->len);
	ck_assert_int_eq(tu_check(p->rec, (size_t)res, p->pos, SEED), -1);
	p->pos += (uint64_t)res;
	ck_assert_uint_eq(dmaio_reader_position(p->r), p->pos);
	if ((uint32_t)res < p->len) {
		p->done = 1; /* a torn last record */
		return;
	}
	p->nrec++;
	p->in_header = 1;
	next_read(p, &p->len, 4);
}

static void next_read(struct replay *p, void *dst, size_t len)
{
	p->in_call = 1;
	ck_assert_int_eq(dmaio_reader_read(p->r, dst, len, on_replay, p), 0);
	p->in_call = 0;
}

/* One read's outcome. */
struct outcome {
	int calls;
	int64_t res;
};

static void on_res(void *arg, int64_t res)
{
	struct outcome *o = arg;

	o->calls++;
	o->res = res;
}

static const size_t bsizes[] = { 512, 3072, 4096, 128 * 1024 };
static const unsigned aheads[] = { 0, 1, 4 };
static const char *const combo_names[] = {
	"512 B, ahead 0", "512 B, ahead 1", "512 B, ahead 4",
	"3072 B, ahead 0", "3072 B, ahead 1", "3072 B, ahead 4",
	"4 KiB, ahead 0", "4 KiB, ahead 1", "4 KiB, ahead 4",
	"128 KiB, ahead 0", "128 KiB, ahead 1", "128 KiB, ahead 4",
};

START_TEST(reader_read_records)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	size_t bs = bsizes[_i / 3], nrec;
	unsigned ra = aheads[_i % 3];
	size_t size = make_log(tu_path("log"), 1500000, (unsigned)_i, &nrec);
	struct replay *p = calloc(1, sizeof(*p));
	unsigned char c;

	/* the whole log, to its end */
	p->r = open_reader(loop, tu_path("log"), 0, bs, ra);
	p->in_header = 1;
	next_read(p, &p->len, 4);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(p->done, 1);
	ck_assert_int_eq(p->last, 0);
	ck_assert_uint_eq(p->nrec, nrec);
	ck_assert_uint_eq(p->pos, size);
	/* past the end: 0 again, and again */
	ck_assert_int_eq(dmaio_reader_read_wait(p->r, &c, 1), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(p->r, &c, 1), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(p->r), 0);

	/* end inside the last record: its read gets what there is */
	memset(p, 0, sizeof(*p));
	p->r = open_reader(loop, tu_path("log"), size - 7, bs, ra);
	p->in_header = 1;
	next_read(p, &p->len, 4);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_uint_eq(p->nrec, nrec - 1);
	ck_assert_uint_eq(p->pos, size - 7);
	ck_assert_int_eq(p->last, (int64_t)p->len - 7);
	ck_assert_int_eq(dmaio_reader_read_wait(p->r, &c, 1), 0);
	ck_assert_int_eq(dmaio_reader_close_wait(p->r), 0);
	free(p);
	dmaio_loop_free(loop);
}
END_TEST

/* Reads of random sizes, each driven by run_once from outside. */
START_TEST(reader_read_random_sizes_from_outside)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_reader *r;
	unsigned char *buf = malloc(20000);
	uint64_t pos = 0;

	tu_make_file(tu_path("f"), FSIZE, SEED);
	r = open_reader(loop, tu_path("f"), 0, 3072, 2);
	srand(7);
	for (;;) {
		size_t len = 1 + (size_t)(rand() % 20000);
		struct outcome o = { 0, 0 };

		ck_assert_int_eq(dmaio_reader_read(r, buf, len, on_res, &o), 0);
		ck_assert_int_eq(o.calls, 0); /* never from inside the call */
		while (!o.calls)
			ck_assert_int_ge(dmaio_loop_run_once(loop, 5000), 0);
		ck_assert_int_eq(o.calls, 1);
		ck_assert_int_ge(o.res, 0);
		if (o.res == 0)
			break;
		ck_assert_int_eq(o.res, (int64_t)(len < FSIZE - pos ? len
							      : FSIZE - pos));
		ck_assert_int_eq(tu_check(buf, (size_t)o.res, pos, SEED), -1);
		pos += (uint64_t)o.res;
	}
	ck_assert_uint_eq(pos, FSIZE);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	free(buf);
	dmaio_loop_free(loop);
}
END_TEST

/* A million 1-byte reads, chained: in batches, not a loop turn each. */
struct bytes {
	struct dmaio_reader *r;
	unsigned char c;
	uint64_t pos;
	int in_call;
	long bad;
};

static void on_byte(void *arg, int64_t res)
{
	struct bytes *b = arg;

	if (b->in_call)
		b->bad++;
	if (res != 1)
		return;
	if (b->c != tu_pattern(b->pos, SEED))
		b->bad++;
	b->pos++;
	b->in_call = 1;
	if (dmaio_reader_read(b->r, &b->c, 1, on_byte, b))
		b->bad++;
	b->in_call = 0;
}

START_TEST(reader_read_a_million_bytes_in_batches)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct bytes b;
	long turns;

	tu_make_file(tu_path("m"), 1000000, SEED);
	memset(&b, 0, sizeof(b));
	b.r = open_reader(loop, tu_path("m"), 0, 0, 4);
	ck_assert_int_eq(dmaio_reader_read(b.r, &b.c, 1, on_byte, &b), 0);
	waits = 0;
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	turns = waits;
	ck_assert_int_eq(b.bad, 0);
	ck_assert_uint_eq(b.pos, 1000000);
	/* one turn per 256 reads, plus the I/O: not one per read */
	ck_assert_msg(turns < 20000, "%ld waits for a million reads", turns);
	ck_assert_int_eq(dmaio_reader_close_wait(b.r), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* A read ahead fails: the bytes before are right, then -EIO sticks. */
START_TEST(reader_read_ahead_eio)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader *r;
	unsigned char buf[1000];
	uint64_t pos = 0;
	int64_t n;
	int i;

	tu_make_file(tu_path("e"), FSIZE, SEED);
	r = open_reader(loop, tu_path("e"), 0, 4096, 4);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 100), 100);
	pos = 100;
	inj_reset();
	inj_fail_next = -EIO; /* the next read ahead, once a buffer is used up */
	for (i = 0; i < 100; i++) {
		n = dmaio_reader_read_wait(r, buf, sizeof(buf));
		if (n < 0)
			break;
		/* the bytes up to the error are right (a read they end is
		 * short; the error comes with the next) */
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(tu_check(buf, (size_t)n, pos, SEED), -1);
		pos += (uint64_t)n;
	}
	ck_assert_int_eq(n, -EIO);
	ck_assert_int_eq(inj_fail_next, 0);
	ck_assert_uint_lt(pos, 5 * 4096);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 1), -EIO); /* sticks */
	ck_assert_uint_eq(dmaio_reader_position(r), pos);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

struct getter {
	int done;
	int64_t res;
	struct dmaio_view *v;
};

static void on_get(void *arg, struct dmaio_view *v, int64_t res)
{
	struct getter *g = arg;

	g->done = 1;
	g->res = res;
	g->v = v;
}

/* read, get_buffer and skip take turns; one waits at a time. */
START_TEST(reader_read_with_get_buffer_and_skip)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader *r;
	struct getter g = { 0, 0, NULL };
	struct outcome o = { 0, 0 };
	unsigned char buf[5000];

	tu_make_file(tu_path("g"), FSIZE, SEED);
	r = open_reader(loop, tu_path("g"), 0, 4096, 1);
	ck_assert_int_eq(dmaio_reader_read(r, buf, 10, on_res, &o), 0);
	/* a read waits: everything else is refused, and says why */
	ck_assert_int_eq(dmaio_reader_read(r, buf, 10, on_res, &o), -EBUSY);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "reader_read: a read"));
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 10, on_get, &g), -EBUSY);
	ck_assert_int_eq(dmaio_reader_skip(r, 1), -EBUSY);
	ck_assert_int_eq(dmaio_reader_close(r, NULL, NULL), -EBUSY);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "reader_close: a read"));
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.res, 10);
	ck_assert_int_eq(tu_check(buf, 10, 0, SEED), -1);
	/* a get_buffer waits: a read is refused */
	ck_assert_int_eq(dmaio_reader_get_buffer(r, 100, on_get, &g), 0);
	ck_assert_int_eq(dmaio_reader_read(r, buf, 10, on_res, &o), -EBUSY);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "a get_buffer"));
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(g.res, 100);
	ck_assert_int_eq(tu_check(dmaio_view_data(g.v), 100, 10, SEED), -1);
	dmaio_view_release(g.v);
	/* then skip, then a read across three buffers */
	ck_assert_int_eq(dmaio_reader_skip(r, 5), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 5000), 5000);
	ck_assert_int_eq(tu_check(buf, 5000, 115, SEED), -1);
	ck_assert_int_eq(dmaio_reader_skip(r, 10000), 0);
	ck_assert_int_eq(dmaio_reader_read_wait(r, buf, 3000), 3000);
	ck_assert_int_eq(tu_check(buf, 3000, 15115, SEED), -1);
	ck_assert_uint_eq(dmaio_reader_position(r), 18115);
	ck_assert_int_eq(dmaio_reader_close_wait(r), 0);
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(reader_read_bad_input)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_reader *r;
	char c;

	tu_make_file(tu_path("b"), 5000, SEED);
	r = open_reader(loop, tu_path("b"), 0, 4096, 0);
	ck_assert_int_eq(dmaio_reader_read(NULL, &c, 1, NULL, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "reader_read: reader is NULL"));
	ck_assert_int_eq(dmaio_reader_read(r, NULL, 1, NULL, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "reader_read: dst is NULL"));
	ck_assert_int_eq(dmaio_reader_read(r, &c, 0, NULL, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "reader_read: len is 0"));
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0); /* nothing started */
	/* a NULL callback: the read runs and its result is dropped */
	ck_assert_int_eq(dmaio_reader_read(r, &c, 1, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(c, (char)tu_pattern(0, SEED));
	ck_assert_uint_eq(dmaio_reader_position(r), 1);
	ck_assert_int_eq(dmaio_reader_close(r, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_reader_read(r, &c, 1, NULL, NULL), -EBADF);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "reader_read: close"));
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* Close, or free the loop, from a read's callback: nothing more comes. */
struct stopper {
	struct dmaio_reader *r;
	struct dmaio_loop *loop;
	unsigned char c;
	int calls, stop_at, free_loop;
	int closed;
};

static void on_closed(void *arg, int64_t res)
{
	struct stopper *s = arg;

	ck_assert_int_eq(res, 0);
	s->closed++;
}

static void on_stop_byte(void *arg, int64_t res)
{
	struct stopper *s = arg;

	ck_assert_int_eq(res, 1);
	if (++s->calls == s->stop_at) {
		if (!s->free_loop) {
			ck_assert_int_eq(dmaio_reader_close(s->r, on_closed, s), 0);
			return;
		}
		/* freed when run returns: a read asked for now never comes */
		dmaio_loop_free(s->loop);
	}
	ck_assert_int_eq(dmaio_reader_read(s->r, &s->c, 1, on_stop_byte, s), 0);
}

START_TEST(reader_read_close_or_free_from_callback)
{
	struct stopper s;

	tu_make_file(tu_path("c"), 100000, SEED);
	memset(&s, 0, sizeof(s));
	s.loop = tu_loop(0, 0);
	s.r = open_reader(s.loop, tu_path("c"), 0, 4096, 2);
	s.stop_at = 10;
	ck_assert_int_eq(dmaio_reader_read(s.r, &s.c, 1, on_stop_byte, &s), 0);
	ck_assert_int_eq(dmaio_loop_run(s.loop), 0);
	ck_assert_int_eq(s.calls, 10);
	ck_assert_int_eq(s.closed, 1);
	dmaio_loop_free(s.loop);

	memset(&s, 0, sizeof(s));
	s.loop = tu_loop(0, 0);
	s.r = open_reader(s.loop, tu_path("c"), 0, 4096, 2);
	s.stop_at = 20;
	s.free_loop = 1;
	ck_assert_int_eq(dmaio_reader_read(s.r, &s.c, 1, on_stop_byte, &s), 0);
	ck_assert_int_eq(dmaio_loop_run(s.loop), 0); /* frees it on return */
	ck_assert_int_eq(s.calls, 20);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader_read");
	TCase *tc = tu_tcase(s, "reader_read");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	tcase_add_loop_test(tc, reader_read_records, 0, 12);
	tu_name("reader_read_records", 0, 12, combo_names);
	TU_ADD_PROFILES(tc, reader_read_random_sizes_from_outside);
	TU_ADD_PROFILES(tc, reader_read_a_million_bytes_in_batches);
	TU_ADD(tc, reader_read_ahead_eio);
	TU_ADD(tc, reader_read_with_get_buffer_and_skip);
	TU_ADD(tc, reader_read_bad_input);
	TU_ADD(tc, reader_read_close_or_free_from_callback);
	return tu_run(s);
}
