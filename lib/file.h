/* SPDX-License-Identifier: MIT */
/*
 * Layer 4, files: struct dmaio_file and a file operation's life (file.c:
 * open, close, start, complete, deliver), alignment discovery (align.c);
 * file_io.c, file_meta.c and dir_sync.c build the public calls on them.
 */
#ifndef DMAIO_FILE_H
#define DMAIO_FILE_H

#include "loop.h"
#include "buf.h"
#include "range.h"

#include <sys/stat.h>

struct dmaio_file {
	struct dmaio_loop *loop;
	int fd;
	int accmode;          /* O_RDONLY, O_WRONLY or O_RDWR */
	int direct;
	int closing;          /* atomic: wait_direct.c reads it elsewhere */
	/* wait_direct.c: read_into/write_from _wait calls running on their
	 * callers' threads; close and release_fd wait for them (a futex) */
	unsigned direct_calls;  /* drain.h */
	char *path;
	dev_t dev;
	ino_t ino;
	size_t align;         /* position and size alignment */
	size_t mem_align;
	size_t max_io;        /* largest single request */
	/* the block device's request queue: found by the open's helper
	 * (align.c), its counter the loop's (dispatch.c) */
	dev_t queue_dev;
	unsigned queue_cap;
	struct dmaio__disp_dev *disp_dev;
	struct dmaio_class *cls;  /* NULL: the loop's default class */
	const char *align_source; /* where align came from, for dmaio-info */
	unsigned io_inflight; /* operations other than barriers */
	struct dmaio__op *barrier;   /* waiting for io_inflight to drain */
	int barrier_running;
	struct dmaio__opq held;      /* submitted behind a barrier */
	/* what the file system makes io_submit sleep on (file.c) */
	int fsync_blocks_submit;     /* fdatasync is a barrier */
	int append_blocks_submit;    /* a direct write past size_seen too */
	int fstat_inline;            /* fstat cannot block: no helper needed */
	int copy_offload;     /* copy_file_range need not move the data */
	/* EOF as open and our own operations left it; set with
	 * dmaio__size_seen_raise/set: other threads read it (wait_direct.c) */
	uint64_t size_seen;
	struct dmaio_file *next, *prev;
	/* calls above this layer with operations still to submit (write_copy
	 * holds the file for each call): close waits until they are none */
	unsigned holds;
	struct dmaio__op *parked_close;
	struct dmaio__wcopy *wcopy; /* write_copy.c: NULL when none runs */
	/* create_tmp without O_TMPFILE: the hidden name close removes
	 * unless link gave the file a name (file_tmp.c) */
	char *tmp_path;
	struct dmaio__lock_wait *lock_waits; /* file_lock.c: retrying */
	/* file_lock.c's, set with lock_waits: file.c calls it at close
	 * without calling up into the file that calls it */
	void (*cancel_locks)(struct dmaio_file *f);
	/* what callers asked for and got: counted atomically, since calls
	 * on other threads count too (wait_direct.c) */
	struct dmaio_file_stats stats;
};

/* The streams' option defaults and limits (writer*.c, reader.c). */
#define DMAIO__STREAM_BUFFER_SIZE (128 * 1024)
#define DMAIO__STREAM_AHEAD 4          /* write_behind, read_ahead */
#define DMAIO__STREAM_MAX_BUFFER ((size_t)1 << 30)
#define DMAIO__STREAM_MAX_AHEAD 4096

/* file.c */
/* 0, or -EINVAL for NULL / -EBADF once closing, said in what's name. */
int dmaio__file_check(const struct dmaio_file *f, const char *what);
struct dmaio__op *dmaio__file_op(struct dmaio_file *f, dmaio__done_fn finish,
				 void *arg);
void dmaio__file_start(struct dmaio__op *op);
/* finish for operations whose callback is a plain dmaio_cb */
void dmaio__finish_cb(struct dmaio__op *op, int64_t res);
/* Keeps close waiting while a layer above has operations to submit. */
void dmaio__file_hold(struct dmaio_file *f);
void dmaio__file_unhold(struct dmaio_file *f);
/* Closes and frees every file of the loop, calling nobody (its end). */
void dmaio__files_release(struct dmaio_loop *loop);
/* The loop's end: locks waiting for their next try end now (-ECANCELED,
 * nobody called back), as close ends them; they hold nothing to wait for
 * and their timers do not run once the loop is being freed. */
void dmaio__files_end_lock_waits(struct dmaio_loop *loop);
/* file_io.c: reads and writes of op->mem or op->iov (file_mem.c too) */
void dmaio__rw_start(struct dmaio__op *op);
void dmaio__complete_empty(struct dmaio__op *op);
/* A write past EOF that would sleep in io_submit goes to a helper. */
void dmaio__write_route(struct dmaio__op *op);
/* Notes the EOF a write's result leaves. */
void dmaio__wrote(struct dmaio__op *op, int64_t res);
/* pread or pwrite all of len from the calling thread (EINTR and short
 * transfers retried): bytes, fewer at EOF, or -errno. */
int64_t dmaio__rw_all(int fd, int opcode, char *p, size_t len, uint64_t pos);
/* file_mem.c: a caller-memory request's mode, memory and position (not
 * whether the file is closing): 0, or -errno with the reason set. */
int dmaio__mem_args_check(const struct dmaio_file *f, int write, uint64_t pos,
			  const void *buf, size_t size, const char *what);
/* On a helper thread, before a file's fd goes (close, release_fd): waits
 * for the calls wait_direct.c runs on other threads. */
void dmaio__direct_drain(struct dmaio_file *f);
/* Gives a new file its fd: fstat, O_DIRECT through fcntl (or the
 * buffered fallback), alignment. 0 or -errno; the fd is not closed. */
int64_t dmaio__file_setup(struct dmaio__op *op, int fd);
/* An open's helper work with op->file, work and u.open_cb set: the file
 * joins the loop (or is freed) when work returns, then cb is called. */
struct dmaio_file *dmaio__file_alloc(struct dmaio_loop *l, const char *path,
				     int accmode);
void dmaio__file_free(struct dmaio_file *f);
int dmaio__file_open_submit(struct dmaio_file *f, dmaio__work_fn work,
			    dmaio_open_cb cb, void *arg);
/* close's course (in-flight I/O drains, waiting locks are cancelled),
 * with work as its helper's last step: cb gets work's result, f is freed
 * without closing its fd (work closes it, or hands it on). */
int dmaio__file_end(struct dmaio_file *f, dmaio__work_fn work, dmaio_cb cb,
		    void *arg, const char *what);
/* -EINVAL, said in what's name, for open flags a DmaFile cannot honour */
int dmaio__check_oflags(int oflags, const char *what);
/* Joins a set-up file to its loop's list (dup, open). */
void dmaio__file_join(struct dmaio_file *f);
/* Counters (file_stat.c): a read or write callers got res bytes of. */
static inline void dmaio__count_read(struct dmaio_file *f, int64_t res)
{
	if (res >= 0) {
		__atomic_add_fetch(&f->stats.reads, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&f->stats.read_bytes, (uint64_t)res,
				   __ATOMIC_RELAXED);
	}
}

static inline void dmaio__count_write(struct dmaio_file *f, int64_t res)
{
	if (res >= 0) {
		__atomic_add_fetch(&f->stats.writes, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&f->stats.write_bytes, (uint64_t)res,
				   __ATOMIC_RELAXED);
	}
}

static inline uint64_t dmaio__size_seen(const struct dmaio_file *f)
{
	return __atomic_load_n(&f->size_seen, __ATOMIC_RELAXED);
}

static inline void dmaio__size_seen_set(struct dmaio_file *f, uint64_t v)
{
	__atomic_store_n(&f->size_seen, v, __ATOMIC_RELAXED);
}

/* Our own operation left data up to end: the EOF we know moves there
 * (compared and swapped: another thread's write may move it too). */
static inline void dmaio__size_seen_raise(struct dmaio_file *f, uint64_t end)
{
	uint64_t cur = dmaio__size_seen(f);

	while (end > cur &&
	       !__atomic_compare_exchange_n(&f->size_seen, &cur, end, 1,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}
/* align.c: st is the open file's fstat */
void dmaio__file_discover(struct dmaio_file *f, uint64_t features,
			  const struct stat *st);

#endif /* DMAIO_FILE_H */
