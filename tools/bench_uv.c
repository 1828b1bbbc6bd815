/* SPDX-License-Identifier: MIT */
/*
 * The libuv engine: uv_fs_read/uv_fs_write on libuv's thread pool, the
 * way Node.js and most event-loop programs do file I/O. The pool is sized
 * to the queue depth (UV_THREADPOOL_SIZE, set by main), its best case.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifdef HAVE_UV
#include <uv.h>

struct uslot {
	uv_fs_t req;
	struct worker *w;
	uv_loop_t *loop;
	int fd;
	void *buf;
	uint64_t t, pos;
	int is_read;
	int fatal;
};

static void uv_submit(struct uslot *s);

static void on_done(uv_fs_t *req)
{
	struct uslot *s = req->data;
	ssize_t res = req->result;

	uv_fs_req_cleanup(req);
	bench_complete(s->w, s->t, res < 0 ? (int64_t)res : (int64_t)res,
		       s->pos, s->buf, s->is_read);
	if (bench_more(s->w, bench_now_ns()))
		uv_submit(s);
}

static void uv_submit(struct uslot *s)
{
	uv_buf_t b = uv_buf_init(s->buf, (unsigned)s->w->o->bs);
	int ret;

	s->t = bench_begin(s->w, &s->pos, &s->is_read);
	s->req.data = s;
	if (s->is_read) {
		ret = uv_fs_read(s->loop, &s->req, s->fd, &b, 1,
				 (int64_t)s->pos, on_done);
	} else {
		if (s->w->o->verify)
			bench_fill_block(s->buf, s->w->o->bs, s->pos);
		ret = uv_fs_write(s->loop, &s->req, s->fd, &b, 1,
				  (int64_t)s->pos, on_done);
	}
	if (ret)
		s->fatal = ret;
}

int bench_have_libuv(void)
{
	return 1;
}

int bench_run_libuv(struct worker *w)
{
	uv_loop_t loop;
	struct uslot *slots;
	unsigned i;
	int fd, ret = 0;

	fd = open(w->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (uv_loop_init(&loop)) {
		close(fd);
		return -ENOMEM;
	}
	slots = calloc(w->o->iodepth, sizeof(*slots));
	for (i = 0; slots && i < w->o->iodepth; i++) {
		slots[i].w = w;
		slots[i].loop = &loop;
		slots[i].fd = fd;
		if (posix_memalign(&slots[i].buf, 4096, w->o->bs))
			ret = -ENOMEM;
		else
			memset(slots[i].buf, 0xa5, w->o->bs);
	}
	if (!slots)
		ret = -ENOMEM;
	for (i = 0; !ret && i < w->o->iodepth && bench_more(w, bench_now_ns()); i++)
		uv_submit(&slots[i]);
	if (!ret)
		uv_run(&loop, UV_RUN_DEFAULT);
	for (i = 0; slots && i < w->o->iodepth; i++) {
		if (slots[i].fatal && !ret)
			ret = slots[i].fatal;
		free(slots[i].buf);
	}
	free(slots);
	uv_loop_close(&loop);
	close(fd);
	return ret;
}
#else
int bench_have_libuv(void)
{
	return 0;
}

int bench_run_libuv(struct worker *w)
{
	(void)w;
	return -ENOSYS;
}
#endif
