/* SPDX-License-Identifier: MIT */
/*
 * copy_range (1.3): copy_file_range(2) on a helper thread where the kernel
 * has it (4.5+), takes the fds and need not move the data itself (both
 * files on one XFS, btrfs, NFS, SMB or Ceph file system: reflinks and
 * server-side copies; elsewhere it splices through a pipe, in small
 * synchronous direct I/Os on O_DIRECT fds, 5x slower than the loop on
 * ext4: see fs_quirks in file.c), else through the loop: read_at of the
 * source (any position, clamped at its EOF) and write_copy to the
 * destination (any position: it reads back and merges the partial edge
 * blocks, and a write past EOF leaves the file exactly that long). Where
 * the kernel refuses the fds or positions (EINVAL: O_DIRECT fds on many
 * kernels, unaligned positions on them on 6.18), the loop takes over from
 * where the kernel stopped.
 *
 * Both files are held (file.c) while the copy runs: a close waits for it.
 * The copy is a barrier of the destination while the kernel does it, so
 * it lands in order with the destination's other writes.
 */
#include "file.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)

struct copy {
	struct dmaio_file *dst, *src;
	uint64_t dst_pos, src_pos, len;
	uint64_t done;        /* bytes copied so far */
	size_t asked;         /* the read in flight */
	int last;             /* it came back short: the source's EOF */
	int fallback;         /* the kernel refused: through the loop */
	dmaio_cb cb;
	void *arg;
};

#define INTERNAL(c, call) dmaio__internal((c)->dst->loop, call)

static void copy_end(struct copy *c, int64_t res)
{
	struct dmaio_loop *loop = c->dst->loop;
	dmaio_cb cb = c->cb;
	void *arg = c->arg;

	if (c->done)
		dmaio__size_seen_raise(c->dst, c->dst_pos + c->done);
	/* as copy_file_range: bytes copied before an error are reported */
	if (res >= 0 || c->done)
		res = (int64_t)c->done;
	loop->pending--;
	dmaio__file_unhold(c->src);
	dmaio__file_unhold(c->dst);
	free(c);
	dmaio__call_cb(loop, cb, arg, res);
}

/* ------------------------------------------------------------------ */
/* through the loop                                                    */

static int loop_step(struct copy *c);

static void on_written(void *arg, int64_t res)
{
	struct copy *c = arg;
	int ret;

	if (res < 0) {
		copy_end(c, res);
		return;
	}
	c->done += (uint64_t)res;
	if (c->last || c->done == c->len) {
		copy_end(c, 0);
		return;
	}
	ret = loop_step(c);
	if (ret)
		copy_end(c, ret);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct copy *c = arg;
	int ret;

	if (res <= 0) { /* 0: at the source's EOF */
		dmaio_view_release(v);
		copy_end(c, res);
		return;
	}
	/* a short read was the source's EOF: no read after this write */
	c->last = (size_t)res < c->asked;
	/* write_copy takes its own copy of the bytes before it returns */
	ret = INTERNAL(c, dmaio_file_write_copy(c->dst, c->dst_pos + c->done,
						dmaio_view_data(v),
						(size_t)res, on_written, c));
	dmaio_view_release(v);
	if (ret)
		copy_end(c, ret);
}

static int loop_step(struct copy *c)
{
	uint64_t left = c->len - c->done;

	c->asked = left < CHUNK ? (size_t)left : CHUNK;
	return INTERNAL(c, dmaio_file_read_at(c->src, c->src_pos + c->done,
					      c->asked, on_read, c));
}

/* ------------------------------------------------------------------ */
/* in the kernel                                                       */

/*
 * What says "not for these fds" rather than "this failed": the loop's way
 * takes over from where the kernel stopped.
 */
static int refused(long err)
{
	return err == -EINVAL || err == -EXDEV || err == -EOPNOTSUPP ||
	       err == -ENOSYS || err == -EBADF;
}

static int64_t kernel_work(struct dmaio__op *op)
{
	struct copy *c = op->priv;
	int64_t in = (int64_t)(c->src_pos + c->done);
	int64_t out = (int64_t)(c->dst_pos + c->done);

	while (c->done < c->len) {
		uint64_t left = c->len - c->done;
		long r = dmaio__copy_file_range(c->src->fd, &in, c->dst->fd,
						&out, left > (1u << 30) ?
						(1u << 30) : (size_t)left);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			c->fallback = refused(r);
			return r;
		}
		if (r == 0)
			break; /* the source's EOF */
		c->done += (uint64_t)r;
	}
	return 0;
}

static void kernel_finish(struct dmaio__op *op, int64_t res)
{
	struct copy *c = op->priv;
	int ret;

	if (res < 0 && c->fallback) {
		ret = loop_step(c);
		if (ret)
			copy_end(c, ret);
		return;
	}
	copy_end(c, res);
}

/* ------------------------------------------------------------------ */

static int check_args(struct dmaio_file *dst, uint64_t dst_pos,
		      struct dmaio_file *src, uint64_t src_pos, uint64_t len)
{
	int ret = dmaio__file_check(dst, "copy_range");

	if (ret || (ret = dmaio__file_check(src, "copy_range")))
		return ret;
	if (dst->loop != src->loop)
		return dmaio__fail(-EINVAL, "copy_range: src and dst belong "
				   "to different loops");
	if (dst->accmode == O_RDONLY)
		return dmaio__fail(-EBADF, "copy_range: dst was opened "
				   "read-only");
	if (src->accmode == O_WRONLY)
		return dmaio__fail(-EBADF, "copy_range: src was opened "
				   "write-only");
	if (src_pos > INT64_MAX || len > INT64_MAX - src_pos ||
	    dst_pos > INT64_MAX || len > INT64_MAX - dst_pos)
		return dmaio__fail(-EOVERFLOW, "copy_range: a position + len "
				   "%" PRIu64 " is past the largest file "
				   "offset", len);
	/* as copy_file_range: one file's ranges may not overlap */
	if (dmaio_file_is_same(dst, src) && src_pos < dst_pos + len &&
	    dst_pos < src_pos + len)
		return dmaio__fail(-EINVAL, "copy_range: the source and "
				   "destination ranges of one file overlap");
	return 0;
}

DMAIO_EXPORT int dmaio_file_copy_range(struct dmaio_file *dst,
				       uint64_t dst_pos,
				       struct dmaio_file *src,
				       uint64_t src_pos, uint64_t len,
				       dmaio_cb cb, void *arg)
{
	struct dmaio__op *op = NULL;
	struct copy *c;
	int ret = check_args(dst, dst_pos, src, src_pos, len);

	DMAIO__NOT_INHERITED(dst ? dst->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!len) {
		ret = dmaio__post(dst->loop, cb, arg, 0);
		return ret ? dmaio__fail(ret, "copy_range: no memory") : 0;
	}
	c = calloc(1, sizeof(*c));
	/* one file system that can copy without moving the data (file.c) */
	if (c && (dst->loop->features & DMAIO_FEAT_COPY_RANGE) &&
	    dst->copy_offload && src->copy_offload && dst->dev == src->dev) {
		op = dmaio__file_op(dst, kernel_finish, arg);
		if (!op) {
			free(c);
			c = NULL;
		}
	}
	if (!c)
		return dmaio__fail(-ENOMEM, "copy_range: no memory");
	c->dst = dst;
	c->src = src;
	c->dst_pos = dst_pos;
	c->src_pos = src_pos;
	c->len = len;
	c->cb = cb;
	c->arg = arg;
	if (op) {
		op->priv = c;
		op->work = kernel_work;
		op->barrier = 1;
		dmaio__file_start(op);
	} else {
		ret = loop_step(c);
		if (ret) {
			free(c);
			return dmaio__fail(ret, "copy_range: its first read "
					   "could not start");
		}
	}
	dmaio__file_hold(dst);
	dmaio__file_hold(src);
	dst->loop->pending++;
	return 0;
}

static int copy_range_submit(struct dmaio__waiter *w)
{
	return dmaio_file_copy_range(w->obj, w->a, w->file, w->b, w->n,
				     dmaio__waiter_res, w);
}

/* Its twin lives here, as write_copy's does: wait.c is below them. */
DMAIO_EXPORT int64_t dmaio_file_copy_range_wait(struct dmaio_file *dst,
						uint64_t dst_pos,
						struct dmaio_file *src,
						uint64_t src_pos, uint64_t len)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	DMAIO__NOT_INHERITED(dst ? dst->loop : NULL, -EBADFD);
	if (len > SIZE_MAX)
		return dmaio__fail(-EOVERFLOW, "copy_range_wait: len %llu",
				   (unsigned long long)len);
	w.obj = dst;
	w.a = dst_pos;
	w.file = src;
	w.b = src_pos;
	w.n = (size_t)len;
	return dmaio__wait_call(dst ? dst->loop : NULL, &w, copy_range_submit,
				"copy_range_wait");
}
