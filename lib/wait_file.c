/* SPDX-License-Identifier: MIT */
/*
 * The _wait twins of the file calls, the loop's directory sync and
 * read_many: each fills a waiter with its arguments and names the function
 * that makes the call (wait.c runs it, here or on the loop's thread). The
 * caller-memory twins first see whether the calling thread may make the
 * request itself (wait_direct.c).
 */
#include "file.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#define LOOP_OF(f) ((f) ? (f)->loop : NULL)

/*
 * A twin of a file call: SUBMIT names the static function that makes the
 * call from the waiter's fields (set by the twin's body before).
 */
#define WAIT_FILE(f, submit)                                           \
	do {                                                           \
		DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);             \
		w.obj = (f);                                           \
		return dmaio__wait_call(LOOP_OF(f), &w, submit,        \
					__func__);                     \
	} while (0)

static int open_submit(struct dmaio__waiter *w)
{
	return dmaio_file_open_flags(w->obj, w->ptr, w->flags, (mode_t)w->a,
				     dmaio__waiter_open, w);
}

DMAIO_EXPORT int dmaio_file_open_flags_wait(struct dmaio_loop *l,
					    const char *path, int oflags,
					    mode_t mode,
					    struct dmaio_file **out)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	int ret;

	DMAIO__NOT_INHERITED(l, -EBADFD);
	if (!out)
		return dmaio__fail(-EINVAL, "open_wait: out is NULL");
	*out = NULL;
	w.obj = l;
	w.ptr = path;
	w.flags = oflags;
	w.a = mode;
	ret = (int)dmaio__wait_call(l, &w, open_submit, __func__);
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

static int write_at_submit(struct dmaio__waiter *w)
{
	return dmaio_file_write_at(w->obj, (struct dmaio_buf *)w->ptr, w->a,
				   dmaio__waiter_res, w);
}

DMAIO_EXPORT int64_t dmaio_file_write_at_wait(struct dmaio_file *f,
					      struct dmaio_buf *b, uint64_t pos)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.ptr = b;
	w.a = pos;
	WAIT_FILE(f, write_at_submit);
}

static int read_submit(struct dmaio__waiter *w)
{
	if (w->flags)
		return dmaio_file_read_at_aligned(w->obj, w->a, w->n,
						  dmaio__waiter_read, w);
	return dmaio_file_read_at(w->obj, w->a, w->n, dmaio__waiter_read, w);
}

static int64_t read_wait(struct dmaio_file *f, uint64_t pos, size_t size,
			 struct dmaio_view **out, int aligned)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;
	const char *what = aligned ? "read_at_aligned_wait" : "read_at_wait";
	int64_t res;

	if (!out)
		return dmaio__fail(-EINVAL, "%s: out is NULL", what);
	*out = NULL;
	w.obj = f;
	w.a = pos;
	w.n = size;
	w.flags = aligned;
	res = dmaio__wait_call(LOOP_OF(f), &w, read_submit, what);
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

static int read_into_submit(struct dmaio__waiter *w)
{
	return dmaio_file_read_into(w->obj, w->a, (void *)w->ptr, w->n,
				    dmaio__waiter_res, w);
}

static int write_from_submit(struct dmaio__waiter *w)
{
	return dmaio_file_write_from(w->obj, w->a, w->ptr, w->n,
				     dmaio__waiter_res, w);
}

/* read_into_wait and write_from_wait: on the calling thread where that
 * is what the loop would do (wait_direct.c), else as every twin. */
static int64_t mem_wait(struct dmaio_file *f, int write, uint64_t pos,
			const void *buf, size_t size, const char *func)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);
	if (dmaio__wait_direct(f, write, pos, buf, size, &w.res))
		return w.res;
	w.obj = f;
	w.a = pos;
	w.ptr = buf;
	w.n = size;
	return dmaio__wait_call(LOOP_OF(f), &w, write ? write_from_submit
						      : read_into_submit,
				func);
}

DMAIO_EXPORT int64_t dmaio_file_read_into_wait(struct dmaio_file *f,
					       uint64_t pos, void *buf,
					       size_t size)
{
	return mem_wait(f, 0, pos, buf, size, __func__);
}

DMAIO_EXPORT int64_t dmaio_file_write_from_wait(struct dmaio_file *f,
						uint64_t pos, const void *buf,
						size_t size)
{
	return mem_wait(f, 1, pos, buf, size, __func__);
}

/* The calls of a file with at most two numbers and a path, by flags. */
enum { FDATASYNC, PRE_ALLOCATE, HINT, TRUNCATE, RENAME, REMOVE, SIZE,
       CLOSE, DEALLOCATE, SYNC_PARENT };

static int file_submit(struct dmaio__waiter *w)
{
	struct dmaio_file *f = w->obj;
	dmaio_cb cb = dmaio__waiter_res;

	switch (w->flags) {
	case FDATASYNC:
		return dmaio_file_fdatasync(f, cb, w);
	case PRE_ALLOCATE:
		return dmaio_file_pre_allocate(f, w->a, cb, w);
	case HINT:
		return dmaio_file_hint_extent_size(f, w->n, cb, w);
	case TRUNCATE:
		return dmaio_file_truncate(f, w->a, cb, w);
	case RENAME:
		return dmaio_file_rename(f, w->ptr, cb, w);
	case REMOVE:
		return dmaio_file_remove(f, cb, w);
	case SIZE:
		return dmaio_file_size(f, cb, w);
	case CLOSE:
		return dmaio_file_close(f, cb, w);
	case DEALLOCATE:
		return dmaio_file_deallocate(f, w->a, w->b, cb, w);
	default:
		return dmaio_file_sync_parent(f, cb, w);
	}
}

static int64_t file_wait(struct dmaio_file *f, int call, uint64_t a,
			 uint64_t b, const void *ptr, const char *func)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);
	w.obj = f;
	w.flags = call;
	w.a = a;
	w.b = b;
	w.n = (size_t)a;
	w.ptr = ptr;
	/* f is freed by the time close returns: the loop was read before */
	return dmaio__wait_call(LOOP_OF(f), &w, file_submit, func);
}

DMAIO_EXPORT int dmaio_file_fdatasync_wait(struct dmaio_file *f)
{
	return (int)file_wait(f, FDATASYNC, 0, 0, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_pre_allocate_wait(struct dmaio_file *f,
					      uint64_t size)
{
	return (int)file_wait(f, PRE_ALLOCATE, size, 0, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_hint_extent_size_wait(struct dmaio_file *f,
						  size_t size)
{
	return (int)file_wait(f, HINT, size, 0, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_truncate_wait(struct dmaio_file *f, uint64_t size)
{
	return (int)file_wait(f, TRUNCATE, size, 0, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_rename_wait(struct dmaio_file *f,
					const char *new_path)
{
	return (int)file_wait(f, RENAME, 0, 0, new_path, __func__);
}

DMAIO_EXPORT int dmaio_file_remove_wait(struct dmaio_file *f)
{
	return (int)file_wait(f, REMOVE, 0, 0, NULL, __func__);
}

DMAIO_EXPORT int64_t dmaio_file_size_wait(struct dmaio_file *f)
{
	int64_t res;

	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);
	if (dmaio__wait_direct_size(f, &res))
		return res;
	return file_wait(f, SIZE, 0, 0, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_close_wait(struct dmaio_file *f)
{
	return (int)file_wait(f, CLOSE, 0, 0, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_deallocate_wait(struct dmaio_file *f, uint64_t pos,
					    uint64_t len)
{
	return (int)file_wait(f, DEALLOCATE, pos, len, NULL, __func__);
}

DMAIO_EXPORT int dmaio_file_sync_parent_wait(struct dmaio_file *f)
{
	return (int)file_wait(f, SYNC_PARENT, 0, 0, NULL, "sync_parent_wait");
}

/* read_many: filled when the last range has called back */
struct many_waiter {
	struct dmaio__waiter w;
	size_t left;
	struct dmaio_view **views;
	int64_t *res;
	const struct dmaio_iovec *iov;
	const struct dmaio_read_many_opts *o;
};

static void on_many(void *arg, size_t idx, struct dmaio_view *v, int64_t res)
{
	struct many_waiter *m = arg;

	if (m->views)
		m->views[idx] = v;
	else
		dmaio_view_release(v);
	if (m->res)
		m->res[idx] = res;
	if (!--m->left)
		dmaio__waiter_res(&m->w, 0);
}

static int many_submit(struct dmaio__waiter *w)
{
	struct many_waiter *m = (struct many_waiter *)w;
	int ret = dmaio_file_read_many(w->obj, m->iov, w->n, m->o, on_many, m);

	if (!ret && !m->left)
		dmaio__waiter_res(w, 0); /* no range: nobody calls back */
	return ret;
}

DMAIO_EXPORT int dmaio_file_read_many_wait(struct dmaio_file *f,
					   const struct dmaio_iovec *iov,
					   size_t n,
					   const struct dmaio_read_many_opts *o,
					   struct dmaio_view **views,
					   int64_t *res)
{
	struct many_waiter m;

	DMAIO__NOT_INHERITED(LOOP_OF(f), -EBADFD);
	memset(&m, 0, sizeof(m));
	m.w.obj = f;
	m.w.n = n;
	m.left = n;
	m.views = views;
	m.res = res;
	m.iov = iov;
	m.o = o;
	return (int)dmaio__wait_call(LOOP_OF(f), &m.w, many_submit, __func__);
}

/* the twin of dir_sync.c's call */

static int dir_sync_submit(struct dmaio__waiter *w)
{
	return dmaio_dir_sync(w->obj, w->ptr, dmaio__waiter_res, w);
}

DMAIO_EXPORT int dmaio_dir_sync_wait(struct dmaio_loop *loop, const char *path)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.obj = loop;
	w.ptr = path;
	return (int)dmaio__wait_call(loop, &w, dir_sync_submit,
				     "dir_sync_wait");
}

/* the twins of 1.3's file calls */

static int from_fd_submit(struct dmaio__waiter *w)
{
	return dmaio_file_from_fd(w->obj, w->flags, dmaio__waiter_open, w);
}

static int create_tmp_submit(struct dmaio__waiter *w)
{
	return dmaio_file_create_tmp(w->obj, w->ptr, dmaio__waiter_open, w);
}

/* A twin of a call that opens a file: *out gets it (NULL on error). */
static int wait_open_like(struct dmaio_loop *l, struct dmaio__waiter *w,
			  struct dmaio_file **out, dmaio__submit_fn submit,
			  const char *func, const char *what)
{
	int ret;

	DMAIO__NOT_INHERITED(l, -EBADFD);
	if (!out)
		return dmaio__fail(-EINVAL, "%s: out is NULL", what);
	*out = NULL;
	w->obj = l;
	ret = (int)dmaio__wait_call(l, w, submit, func);
	*out = w->file;
	return ret;
}

DMAIO_EXPORT int dmaio_file_from_fd_wait(struct dmaio_loop *loop, int fd,
					 struct dmaio_file **out)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.flags = fd;
	return wait_open_like(loop, &w, out, from_fd_submit, __func__,
			      "from_fd_wait");
}

DMAIO_EXPORT int dmaio_file_create_tmp_wait(struct dmaio_loop *loop,
					    const char *dir,
					    struct dmaio_file **out)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.ptr = dir;
	return wait_open_like(loop, &w, out, create_tmp_submit, __func__,
			      "create_tmp_wait");
}

static int release_fd_submit(struct dmaio__waiter *w)
{
	return dmaio_file_release_fd(w->obj, dmaio__waiter_res, w);
}

DMAIO_EXPORT int dmaio_file_release_fd_wait(struct dmaio_file *f)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	/* f is freed by the time it returns: the loop is taken first */
	WAIT_FILE(f, release_fd_submit);
}

static int link_submit(struct dmaio__waiter *w)
{
	return dmaio_file_link(w->obj, w->ptr, dmaio__waiter_res, w);
}

DMAIO_EXPORT int dmaio_file_link_wait(struct dmaio_file *f, const char *path)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.ptr = path;
	WAIT_FILE(f, link_submit);
}

static int lock_submit(struct dmaio__waiter *w)
{
	return dmaio_file_lock(w->obj, w->flags, dmaio__waiter_res, w);
}

DMAIO_EXPORT int dmaio_file_lock_wait(struct dmaio_file *f, int op)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.flags = op;
	WAIT_FILE(f, lock_submit);
}

static int allocate_submit(struct dmaio__waiter *w)
{
	return dmaio_file_allocate(w->obj, w->a, w->b, (unsigned)w->flags,
				   dmaio__waiter_res, w);
}

DMAIO_EXPORT int dmaio_file_allocate_wait(struct dmaio_file *f, uint64_t pos,
					  uint64_t len, unsigned flags)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.a = pos;
	w.b = len;
	w.flags = (int)flags;
	WAIT_FILE(f, allocate_submit);
}

static int stat_submit(struct dmaio__waiter *w)
{
	return dmaio_file_stat(w->obj, (struct dmaio_file_stat *)w->ptr,
			       dmaio__waiter_res, w);
}

DMAIO_EXPORT int dmaio_file_stat_wait(struct dmaio_file *f,
				      struct dmaio_file_stat *st)
{
	struct dmaio__waiter w = DMAIO__WAITER_INIT;

	w.ptr = st;
	WAIT_FILE(f, stat_submit);
}
