/* SPDX-License-Identifier: MIT */
/*
 * read_many: many ranges, few I/Os. read_plan.c groups them; each group
 * is one dmaio_file_read_at_aligned (split further by the file layer if
 * the device needs it); each range gets a slice of its group's view.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct group {
	struct dmaio__plan_group p;
	struct read_many *rm;
};

#define PER_RANGE (sizeof(struct group) + sizeof(struct dmaio_iovec) + \
		   sizeof(struct dmaio__plan_group) + sizeof(size_t))

struct read_many {
	struct dmaio_file *f;
	dmaio_read_many_cb cb;
	void *arg;
	struct dmaio_iovec *iov;   /* the caller's, copied */
	size_t *order;             /* iov indices by position */
	struct dmaio__plan_group *plan;
	struct group *groups;
	size_t ngroups;
	size_t groups_left;        /* not yet called back */
	size_t failed_from;        /* groups from here could not start */
	int64_t start_err;
};

DMAIO_EXPORT void dmaio_read_many_opts_init(struct dmaio_read_many_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->max_merged_buffer_size = DMAIO_MERGE_DEVICE_MAX;
	o->max_read_amp = 0;
}

/* The record and its arrays are one allocation: one malloc per call. */
static void free_rm(struct read_many *rm)
{
	free(rm);
}

static void deliver(struct read_many *rm, size_t idx, struct dmaio_view *v,
		    int64_t res)
{
	struct dmaio_loop *loop = rm->f->loop;

	/* each range is a read its caller asked for (the merged I/O is not) */
	dmaio__count_read(rm->f, res);
	if (!rm->cb || !dmaio__may_call(loop)) {
		dmaio_view_release(v);
		return;
	}
	DMAIO__DELIVER(loop, rm->cb(rm->arg, idx, v, res));
}

static void fail_group(struct group *g, int64_t err)
{
	struct read_many *rm = g->rm;
	size_t i;

	for (i = 0; i < g->p.count; i++)
		deliver(rm, rm->order[g->p.first + i], NULL, err);
}

static void group_done(struct group *g, struct dmaio_view *v, int64_t res)
{
	struct read_many *rm = g->rm;
	size_t i;

	if (res < 0) {
		fail_group(g, res);
	} else {
		for (i = 0; i < g->p.count; i++) {
			size_t idx = rm->order[g->p.first + i];
			const struct dmaio_iovec *io = &rm->iov[idx];
			struct dmaio_view *s;
			size_t off, n;

			/* the view holds what the kernel returned from start */
			dmaio__range_clamp(g->p.start, (int64_t)dmaio_view_len(v),
					   io->pos, io->len, &off, &n);
			if (off > dmaio_view_len(v))
				off = dmaio_view_len(v);
			s = dmaio_view_slice(v, off, n);
			deliver(rm, idx, s, s ? (int64_t)n : -ENOMEM);
		}
		dmaio_view_release(v);
	}
}

static void on_group(void *arg, struct dmaio_view *v, int64_t res)
{
	struct group *g = arg;
	struct read_many *rm = g->rm;
	size_t k;

	group_done(g, v, res);
	rm->groups_left--;
	/* groups that could not start are reported with the first that did */
	for (k = rm->failed_from; k < rm->ngroups; k++) {
		fail_group(&rm->groups[k], rm->start_err);
		rm->groups_left--;
	}
	rm->failed_from = rm->ngroups;
	if (!rm->groups_left)
		free_rm(rm);
}

/* The options over their defaults, and the ranges, checked: 0 or -errno. */
static int check_args(struct dmaio_file *f, const struct dmaio_iovec *iov,
		      size_t n, const struct dmaio_read_many_opts *uo,
		      struct dmaio_read_many_opts *o)
{
	size_t i;

	dmaio_read_many_opts_init(o);
	if (dmaio__opts_read(o, sizeof(*o), uo))
		return dmaio__fail(-EINVAL, "read_many: opts->size is smaller "
				   "than a size_t");
	if (n > SIZE_MAX / sizeof(struct dmaio_iovec))
		return dmaio__fail(-ENOMEM, "read_many: %zu ranges cannot be "
				   "held in memory", n);
	for (i = 0; i < n; i++) {
		if (!iov[i].len)
			return dmaio__fail(-EINVAL, "read_many: iov[%zu].len is "
					   "0", i);
		if (iov[i].pos > INT64_MAX || iov[i].len > INT64_MAX - iov[i].pos ||
		    dmaio_file_align_up(f, iov[i].pos + iov[i].len) > INT64_MAX)
			return dmaio__fail(-EOVERFLOW, "read_many: iov[%zu] "
					   "ends past the largest file offset",
					   i);
	}
	return 0;
}

DMAIO_EXPORT int dmaio_file_read_many(struct dmaio_file *f,
				      const struct dmaio_iovec *iov, size_t n,
				      const struct dmaio_read_many_opts *uo,
				      dmaio_read_many_cb cb, void *arg)
{
	struct dmaio_read_many_opts o;
	struct read_many *rm;
	size_t i, max_merged;
	int ret = dmaio__file_check(f, "read_many");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (!iov || !n)
		return dmaio__fail(-EINVAL, "read_many: %s", iov ? "n is 0"
				   : "iov is NULL");
	if (f->accmode == O_WRONLY)
		return dmaio__fail(-EBADF, "read_many: the file was opened "
				   "write-only");
	ret = check_args(f, iov, n, uo, &o);
	if (ret)
		return ret;
	max_merged = o.max_merged_buffer_size == DMAIO_MERGE_DEVICE_MAX
			     ? f->max_io
			     : o.max_merged_buffer_size;

	rm = n <= (SIZE_MAX - sizeof(*rm)) / PER_RANGE
		     ? malloc(sizeof(*rm) + n * PER_RANGE) : NULL;
	if (!rm)
		return dmaio__fail(-ENOMEM, "read_many: no memory for %zu "
				   "ranges", n);
	memset(rm, 0, sizeof(*rm));
	/* a group per range at most; every part is 8-byte aligned */
	rm->groups = (struct group *)(rm + 1);
	rm->iov = (struct dmaio_iovec *)(rm->groups + n);
	rm->plan = (struct dmaio__plan_group *)(rm->iov + n);
	rm->order = (size_t *)(rm->plan + n);
	rm->f = f;
	rm->cb = cb;
	rm->arg = arg;
	memcpy(rm->iov, iov, n * sizeof(*iov));
	rm->ngroups = dmaio__read_plan(f->align, rm->iov, n, max_merged,
				       o.max_read_amp, rm->order, rm->plan);
	if (!rm->ngroups) {
		free_rm(rm);
		return dmaio__fail(-ENOMEM, "read_many: no memory for %zu "
				   "ranges", n);
	}
	for (i = 0; i < rm->ngroups; i++) {
		rm->groups[i].p = rm->plan[i];
		rm->groups[i].rm = rm;
	}
	rm->groups_left = rm->ngroups;
	rm->failed_from = rm->ngroups;

	for (i = 0; i < rm->ngroups; i++) {
		struct group *g = &rm->groups[i];

		ret = dmaio__internal(f->loop, dmaio_file_read_at_aligned(f, g->p.start,
						 (size_t)(g->p.end - g->p.start),
						 on_group, g));
		if (ret) {
			if (i == 0) {
				free_rm(rm);
				return ret;
			}
			/* the rest fail with the first completion */
			rm->failed_from = i;
			rm->start_err = ret;
			break;
		}
	}
	return 0;
}
