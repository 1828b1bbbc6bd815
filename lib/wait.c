/* SPDX-License-Identifier: MIT */
/*
 * The _wait twins, one mechanism for all: submit with a callback that
 * fills a waiter on the stack, then run the loop until it is filled. Other
 * operations and watched fds keep being served meanwhile.
 */
#include "file.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

int dmaio__wait_check(struct dmaio_loop *loop, const char *func)
{
	const char *what = func;

	/* said as the other messages say it: "read_at_wait: ..." */
	if (!strncmp(what, "dmaio_file_", 11))
		what += 11;
	else if (!strncmp(what, "dmaio_", 6))
		what += 6;
	if (!loop)
		return dmaio__fail(-EINVAL, "%s: the loop, file or stream is "
				   "NULL", what);
	/* the loop is already running below us: we would wait forever */
	if (loop->cb_depth || loop->in_run)
		return dmaio__fail(-EDEADLK, "%s: called from one of the "
				   "loop's callbacks, where it would wait "
				   "forever", what);
	return 0;
}

void dmaio__waiter_res(void *arg, int64_t res)
{
	struct dmaio__waiter *w = arg;

	w->res = res;
	w->done = 1;
}

void dmaio__waiter_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct dmaio__waiter *w = arg;

	w->view = v;
	w->res = res;
	w->done = 1;
}

static void on_open(void *arg, struct dmaio_file *f, int err)
{
	struct dmaio__waiter *w = arg;

	w->file = f;
	w->res = err;
	w->done = 1;
}

/*
 * The callback will write into *w, so we may not return before it has:
 * errors of an iteration (a signal, say) are retried.
 */
int64_t dmaio__wait_for(struct dmaio_loop *loop, struct dmaio__waiter *w)
{
	loop->drivers++;
	while (!w->done && !loop->free_requested)
		dmaio_loop_run_once(loop, -1);
	/* a callback freed the loop: nobody will fill w */
	if (dmaio__drive_end(loop) && !w->done) {
		w->res = -ECANCELED;
		w->done = 1;
	}
	return w->res;
}

#define LOOP_OF(f) ((f) ? (f)->loop : NULL)

#define WAIT_FILE_OP(f, call)                              \
	do {                                               \
		struct dmaio__waiter w = DMAIO__WAITER_INIT;    \
		int ret = dmaio__wait_check(LOOP_OF(f), __func__);   \
		DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD); \
		if (ret)                                   \
			return ret;                        \
		ret = (call);                              \
		if (ret)                                   \
			return ret;                        \
		return dmaio__wait_for((f)->loop, &w);            \
	} while (0)

DMAIO_EXPORT int dmaio_file_open_flags_wait(struct dmaio_loop *l,
					    const char *path, int oflags,
					    mode_t mode,
					    struct dmaio_file **out)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(l, __func__);

	DMAIO__NOT_INHERITED(l, -EBADFD);
	if (ret)
		return ret;
	if (!out)
		return dmaio__fail(-EINVAL, "open_wait: out is NULL");
	*out = NULL;
	ret = dmaio_file_open_flags(l, path, oflags, mode, on_open, &w);
	if (ret)
		return ret;
	ret = (int)dmaio__wait_for(l, &w);
	*out = w.file;
	return ret;
}

DMAIO_EXPORT int dmaio_file_open_wait(struct dmaio_loop *l, const char *path,
				      struct dmaio_file **out)
{
	return dmaio_file_open_flags_wait(l, path, O_RDONLY, 0, out);
}

DMAIO_EXPORT int dmaio_file_create_wait(struct dmaio_loop *l, const char *path,
					struct dmaio_file **out)
{
	return dmaio_file_open_flags_wait(l, path, O_RDWR | O_CREAT | O_TRUNC,
					  0644, out);
}

DMAIO_EXPORT int64_t dmaio_file_write_at_wait(struct dmaio_file *f,
					      struct dmaio_buf *b, uint64_t pos)
{
	WAIT_FILE_OP(f, dmaio_file_write_at(f, b, pos, dmaio__waiter_res, &w));
}

static int64_t read_wait(struct dmaio_file *f, uint64_t pos, size_t size,
			 struct dmaio_view **out, int aligned)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(LOOP_OF(f), aligned ?
				    "read_at_aligned_wait" : "read_at_wait");
	int64_t res;

	if (ret)
		return ret;
	if (!out)
		return dmaio__fail(-EINVAL, "%s: out is NULL", aligned ?
				   "read_at_aligned_wait" : "read_at_wait");
	*out = NULL;
	ret = aligned ? dmaio_file_read_at_aligned(f, pos, size, dmaio__waiter_read, &w)
		      : dmaio_file_read_at(f, pos, size, dmaio__waiter_read, &w);
	if (ret)
		return ret;
	res = dmaio__wait_for(f->loop, &w);
	*out = w.view;
	return res;
}

DMAIO_EXPORT int64_t dmaio_file_read_at_wait(struct dmaio_file *f,
					     uint64_t pos, size_t size,
					     struct dmaio_view **out)
{
	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);

	return read_wait(f, pos, size, out, 0);
}

DMAIO_EXPORT int64_t dmaio_file_read_at_aligned_wait(struct dmaio_file *f,
						     uint64_t pos, size_t size,
						     struct dmaio_view **out)
{
	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);

	return read_wait(f, pos, size, out, 1);
}

DMAIO_EXPORT int dmaio_file_fdatasync_wait(struct dmaio_file *f)
{
	WAIT_FILE_OP(f, dmaio_file_fdatasync(f, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_pre_allocate_wait(struct dmaio_file *f,
					      uint64_t size)
{
	WAIT_FILE_OP(f, dmaio_file_pre_allocate(f, size, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_hint_extent_size_wait(struct dmaio_file *f,
						  size_t size)
{
	WAIT_FILE_OP(f, dmaio_file_hint_extent_size(f, size, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_truncate_wait(struct dmaio_file *f, uint64_t size)
{
	WAIT_FILE_OP(f, dmaio_file_truncate(f, size, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_rename_wait(struct dmaio_file *f,
					const char *new_path)
{
	WAIT_FILE_OP(f, dmaio_file_rename(f, new_path, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_remove_wait(struct dmaio_file *f)
{
	WAIT_FILE_OP(f, dmaio_file_remove(f, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int64_t dmaio_file_size_wait(struct dmaio_file *f)
{
	WAIT_FILE_OP(f, dmaio_file_size(f, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_close_wait(struct dmaio_file *f)
{
	/* f is freed by the time we return: keep the loop */
	struct dmaio_loop *loop = LOOP_OF(f);
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(loop, __func__);

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (ret)
		return ret;
	ret = dmaio_file_close(f, dmaio__waiter_res, &w);
	if (ret)
		return ret;
	return (int)dmaio__wait_for(loop, &w);
}

DMAIO_EXPORT int dmaio_file_deallocate_wait(struct dmaio_file *f, uint64_t pos,
					    uint64_t len)
{
	WAIT_FILE_OP(f, dmaio_file_deallocate(f, pos, len, dmaio__waiter_res, &w));
}

struct many_waiter {
	size_t left;
	struct dmaio_view **views;
	int64_t *res;
};

static void on_many(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	struct many_waiter *w = arg;

	if (w->views)
		w->views[idx] = v;
	else
		dmaio_view_release(v);
	if (w->res)
		w->res[idx] = res;
	w->left--;
}

DMAIO_EXPORT int dmaio_file_read_many_wait(struct dmaio_file *f,
					   const struct dmaio_iovec *iov,
					   size_t n,
					   const struct dmaio_read_many_opts *o,
					   struct dmaio_view **views,
					   int64_t *res)
{
	struct many_waiter w = { n, views, res };
	struct dmaio_loop *loop;
	int ret = dmaio__wait_check(LOOP_OF(f), __func__);

	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);
	if (ret)
		return ret;
	ret = dmaio_file_read_many(f, iov, n, o, on_many, &w);
	if (ret)
		return ret;
	loop = f->loop; /* f is gone if a callback frees the loop */
	loop->drivers++;
	while (w.left && !loop->free_requested)
		dmaio_loop_run_once(loop, -1);
	return dmaio__drive_end(loop) ? -ECANCELED : 0;
}

/* the twins of dir_sync.c's calls */

DMAIO_EXPORT int dmaio_dir_sync_wait(struct dmaio_loop *loop, const char *path)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(loop, "dir_sync_wait");

	if (ret)
		return ret;
	ret = dmaio_dir_sync(loop, path, dmaio__waiter_res, &w);
	if (ret)
		return ret;
	return (int)dmaio__wait_for(loop, &w);
}

DMAIO_EXPORT int dmaio_file_sync_parent_wait(struct dmaio_file *f)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(f ? f->loop : NULL, "sync_parent_wait");

	if (ret)
		return ret;
	ret = dmaio_file_sync_parent(f, dmaio__waiter_res, &w);
	if (ret)
		return ret;
	return (int)dmaio__wait_for(f->loop, &w);
}

/* the twins of 1.3's file calls */

static int64_t wait_open_like(struct dmaio_loop *l, struct dmaio_file **out,
			      const char *what,
			      int (*call)(struct dmaio_loop *, const void *,
					  int, dmaio_open_cb, void *),
			      const void *p, int n)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(l, what);

	DMAIO__NOT_INHERITED(l, -EBADFD);
	if (ret)
		return ret;
	if (!out)
		return dmaio__fail(-EINVAL, "%s: out is NULL", what);
	*out = NULL;
	ret = call(l, p, n, on_open, &w);
	if (ret)
		return ret;
	ret = (int)dmaio__wait_for(l, &w);
	*out = w.file;
	return ret;
}

static int call_from_fd(struct dmaio_loop *l, const void *p, int fd,
			dmaio_open_cb cb, void *arg)
{
	(void)p;
	return dmaio_file_from_fd(l, fd, cb, arg);
}

static int call_create_tmp(struct dmaio_loop *l, const void *dir, int n,
			   dmaio_open_cb cb, void *arg)
{
	(void)n;
	return dmaio_file_create_tmp(l, dir, cb, arg);
}

DMAIO_EXPORT int dmaio_file_from_fd_wait(struct dmaio_loop *loop, int fd,
					 struct dmaio_file **out)
{
	return (int)wait_open_like(loop, out, "from_fd_wait", call_from_fd,
				   NULL, fd);
}

DMAIO_EXPORT int dmaio_file_create_tmp_wait(struct dmaio_loop *loop,
					    const char *dir,
					    struct dmaio_file **out)
{
	return (int)wait_open_like(loop, out, "create_tmp_wait",
				   call_create_tmp, dir, 0);
}

DMAIO_EXPORT int dmaio_file_release_fd_wait(struct dmaio_file *f)
{
	/* f is freed by the time we return: keep the loop */
	struct dmaio_loop *loop = LOOP_OF(f);
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret = dmaio__wait_check(loop, __func__);

	DMAIO__NOT_INHERITED(loop, -EBADFD);
	if (ret)
		return ret;
	ret = dmaio_file_release_fd(f, dmaio__waiter_res, &w);
	if (ret)
		return ret;
	return (int)dmaio__wait_for(loop, &w);
}

DMAIO_EXPORT int dmaio_file_link_wait(struct dmaio_file *f, const char *path)
{
	WAIT_FILE_OP(f, dmaio_file_link(f, path, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_lock_wait(struct dmaio_file *f, int op)
{
	WAIT_FILE_OP(f, dmaio_file_lock(f, op, dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_allocate_wait(struct dmaio_file *f, uint64_t pos,
					  uint64_t len, unsigned flags)
{
	WAIT_FILE_OP(f, dmaio_file_allocate(f, pos, len, flags,
					    dmaio__waiter_res, &w));
}

DMAIO_EXPORT int dmaio_file_stat_wait(struct dmaio_file *f,
				      struct dmaio_file_stat *st)
{
	WAIT_FILE_OP(f, dmaio_file_stat(f, st, dmaio__waiter_res, &w));
}
