/* SPDX-License-Identifier: MIT */
/*
 * libdmaio: asynchronous O_DIRECT file I/O on Linux AIO (libaio), in the
 * shape of glommio's DmaFile, for kernels without io_uring.
 *
 * Conventions (see libdmaio(7)):
 *  - functions return 0 or a non-negative value, or -errno; errno is never
 *    the error channel;
 *  - an async call that returns < 0 never calls its callback; one that
 *    returns 0 calls it exactly once, later, from dmaio_loop_run*() on the
 *    loop's thread;
 *  - every async file operation has a blocking twin named ..._wait; calling
 *    one from inside a callback returns -EDEADLK;
 *  - a loop and everything opened on it belong to one thread (since 1.3,
 *    dmaio_loop_start_thread lets any thread make the _wait calls).
 */
#ifndef DMAIO_H
#define DMAIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DMAIO_VERSION_MAJOR 1
#define DMAIO_VERSION_MINOR 3

struct dmaio_loop;
struct dmaio_file;
struct dmaio_buf;
struct dmaio_view;

/*
 * Kernel features the loop found and uses. Each has a fallback that works
 * on a 3.10 kernel; dmaio_loop_opts.disable forces the fallback.
 */
/* Completions are reaped from the mmapped AIO ring (else io_getevents). */
#define DMAIO_FEAT_USER_REAP      (1ULL << 0)
/* fdatasync through IOCB_CMD_FDSYNC, 4.18+ (else on a helper thread). */
#define DMAIO_FEAT_AIO_FDSYNC     (1ULL << 1)
/* O_DIRECT alignment from statx STATX_DIOALIGN, 6.1+ (else XFS_IOC_DIOINFO,
 * the block device's logical block size, or 512). */
#define DMAIO_FEAT_STATX_DIOALIGN (1ULL << 2)
/* Buffers of 256 KiB and more on transparent huge pages, 2.6.38+ with THP
 * not "never" (else 4 KiB pages): one DMA segment per 2 MiB, so a 1 MiB
 * write is one request instead of two. */
#define DMAIO_FEAT_HUGE_BUFFERS   (1ULL << 3)
/* copy_range through copy_file_range(2), 4.5+, where the file system takes
 * the fds (else aligned reads and writes through the loop) (1.3). */
#define DMAIO_FEAT_COPY_RANGE     (1ULL << 4)
/* create_tmp through O_TMPFILE, 3.11+, where the file system has it (else
 * a hidden unique name in the directory) (1.3). */
#define DMAIO_FEAT_TMPFILE        (1ULL << 5)
/* All feature bits this version knows. */
#define DMAIO_FEAT_ALL            ((1ULL << 6) - 1)

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* Returns a static description of err (either sign); never NULL. */
const char *dmaio_strerror(int err);

/*
 * Returns why the last call of this thread that failed at once failed:
 * the argument and the rule (e.g. "write_at: size 100 is not a multiple
 * of the file's alignment 512"), or what the system lacks (which
 * /proc/sys/fs/aio-max-nr value is needed); "" if there is nothing to say.
 */
const char *dmaio_last_error(void);

/* ------------------------------------------------------------------ */
/* Loop: Linux AIO context + eventfd + a small epoll loop              */

struct dmaio_loop_opts {
	size_t   size;           /* sizeof(struct dmaio_loop_opts) */
	unsigned queue_depth;    /* AIO context size; 0: default 128 */
	unsigned helper_threads; /* threads for blocking syscalls; 0: default 1 */
	uint64_t disable;        /* DMAIO_FEAT_* bits to force fallbacks off */
	/*
	 * I/O started by completion callbacks is submitted once this many
	 * iocbs are queued (0: default 1, at once: the most IOPS); larger
	 * values trade a little throughput for fewer io_submit calls.
	 * What is left goes out at the end of the iteration either way.
	 * Where the kernel does the reads inside io_submit (tmpfs, the page
	 * cache) there is no device to keep busy: what a batch of
	 * completions starts then goes out in one call after them.
	 */
	unsigned submit_batch;
	unsigned flags;          /* DMAIO_LOOP_* */
	/*
	 * Before sleeping for AIO completions, spin on the completion ring
	 * for up to this many microseconds (0: default, never; at most
	 * 1000000). Spinning removes the wake-up from each I/O's latency
	 * (about 20 us of a 65 us read on a virtio guest) and costs the CPU
	 * the loop thread spins for. With fds watched or helper work out,
	 * the spin also asks epoll_wait with a zero timeout (every 2 us).
	 * After 4 spins in a row that find nothing (a device slower than the
	 * budget) the loop backs off: it sleeps without spinning, tries again
	 * after 1, 2, 4 ... 256 sleeps, and a spin that finds work ends it.
	 */
	unsigned poll_us;
};

/*
 * Completions signal the loop's eventfd only while the loop may wait in
 * epoll (watched fds, helper work, after dmaio_loop_fd()); otherwise the
 * loop waits in io_getevents and the kernel skips the signal: about 2%
 * more IOPS at depth 32 on virtio. Without it every iocb signals.
 */
#define DMAIO_LOOP_LAZY_EVENTFD (1u << 0)

/* Fills in every default. */
void dmaio_loop_opts_init(struct dmaio_loop_opts *o);
/* Returns 0 and a new loop in *out, or -errno (o NULL: defaults). */
int dmaio_loop_new(struct dmaio_loop **out, const struct dmaio_loop_opts *o);
/*
 * Frees the loop. Operations still pending are waited for and their
 * callbacks are not called; files still open are closed; stream writers
 * and readers not closed are freed (unwritten writer data is lost).
 */
void dmaio_loop_free(struct dmaio_loop *loop);
/* Runs until nothing is pending or watched, or dmaio_loop_stop(): 0 or -errno. */
int dmaio_loop_run(struct dmaio_loop *loop);
/* Makes dmaio_loop_run() return after the current iteration. */
void dmaio_loop_stop(struct dmaio_loop *loop);
/*
 * Runs one iteration, waiting up to timeout_ms (-1: until something
 * happens, 0: not at all). Returns the number of callbacks run, or -errno.
 */
int dmaio_loop_run_once(struct dmaio_loop *loop, int timeout_ms);
/* Returns the epoll fd: readable when dmaio_loop_run_once() has work. */
int dmaio_loop_fd(struct dmaio_loop *loop);
/* Returns the DMAIO_FEAT_* bits in use. */
uint64_t dmaio_loop_features(struct dmaio_loop *loop);
/* Returns the number of operations submitted and not yet called back. */
size_t dmaio_loop_pending(const struct dmaio_loop *loop);

/* events: EPOLLIN/EPOLLOUT bits as given; ERR/HUP are always reported. */
typedef void (*dmaio_watch_cb)(void *arg, int fd, uint32_t events);
/* Watches fd for events (again: replaces events, cb and arg). 0 or -errno. */
int dmaio_loop_watch(struct dmaio_loop *loop, int fd, uint32_t events,
		     dmaio_watch_cb cb, void *arg);
/* Stops watching fd: 0, or -ENOENT if it is not watched. */
int dmaio_loop_unwatch(struct dmaio_loop *loop, int fd);

/* ---- since 1.1 ---- */

/*
 * Any thread: runs cb(arg) once on the loop's thread, in post order (per
 * posting thread), from the loop's next iteration. 0, -ENOMEM, or
 * -ESHUTDOWN once dmaio_loop_free() has begun.
 */
typedef void (*dmaio_post_cb)(void *arg);
int dmaio_loop_post(struct dmaio_loop *loop, dmaio_post_cb cb, void *arg);

/* Timers on the loop (CLOCK_MONOTONIC). After stop or free returns, the
 * callback is not called again; it may stop, restart or free its timer. */
struct dmaio_timer;
typedef void (*dmaio_timer_cb)(void *arg);
/* Returns 0 and a stopped timer in *out, or -errno. */
int dmaio_timer_new(struct dmaio_loop *loop, dmaio_timer_cb cb, void *arg,
		    struct dmaio_timer **out);
/* (Re-)arms t to fire after after_us, then every repeat_us (0: once). */
int dmaio_timer_start(struct dmaio_timer *t, uint64_t after_us,
		      uint64_t repeat_us);
/* Disarms t (armed or not): 0, or -EINVAL for NULL. */
int dmaio_timer_stop(struct dmaio_timer *t);
/* Stops and frees t (NULL: nothing). */
void dmaio_timer_free(struct dmaio_timer *t);

/* Changes a watched fd's events without unwatching it (0: paused). */
int dmaio_loop_watch_modify(struct dmaio_loop *loop, int fd, uint32_t events);

/* What the loop did: counters since dmaio_loop_new (size-versioned). */
struct dmaio_loop_stats {
	size_t   size;              /* sizeof(struct dmaio_loop_stats) */
	uint64_t submit_calls;      /* io_submit calls */
	uint64_t iocbs;             /* iocbs submitted */
	uint64_t submit_eagain;     /* io_submit EAGAIN (context or device full) */
	uint64_t submit_ns_total;   /* time inside io_submit */
	uint64_t submit_ns_max;     /* longest io_submit: the loop's worst stall */
	uint64_t submit_stalls;     /* io_submit calls that took over 1 ms */
	uint64_t reaped_ring;       /* completions read from the user-space ring */
	uint64_t reaped_syscall;    /* completions read with io_getevents */
	uint64_t wakeups;           /* times the loop slept and woke */
	uint64_t wakeups_idle;      /* of which found nothing to do */
	uint64_t helper_ops;        /* operations run on helper threads */
	/* since 1.2: opts.poll_us */
	uint64_t poll_hits;         /* spins that found work */
	uint64_t poll_misses;       /* spins that found nothing, then slept */
	uint64_t poll_skips;        /* sleeps not spun before: backing off */
	uint64_t poll_ns;           /* time spent spinning */
	/* since 1.3 */
	uint64_t poll_interrupted;  /* spins cut by the thread losing its CPU:
	                               neither hits nor misses */
	uint64_t submit_held;       /* completions whose followers waited to
	                               share a later io_submit (dear calls) */
	uint64_t caller_ios;        /* read_into_wait/write_from_wait calls
	                               of other threads done on their own
	                               thread (dmaio_loop_start_thread) */
};
/* Fills the first st->size bytes of *st: 0, or -EINVAL. */
int dmaio_loop_stats(struct dmaio_loop *loop, struct dmaio_loop_stats *st);

/* ------------------------------------------------------------------ */
/* Buffers and read results                                            */

/* Returns a buffer aligned for f's O_DIRECT I/O, or NULL (out of memory, or size 0). */
struct dmaio_buf *dmaio_file_alloc_buf(struct dmaio_file *f, size_t size);
/* Returns the buffer's memory. */
void *dmaio_buf_data(struct dmaio_buf *b);
/* Returns the number of bytes a write of b writes. */
size_t dmaio_buf_size(const struct dmaio_buf *b);
/* Shrinks the size written to size: 0, or -EINVAL if larger. */
int dmaio_buf_trim(struct dmaio_buf *b, size_t size);
/* Takes a reference; returns b. */
struct dmaio_buf *dmaio_buf_ref(struct dmaio_buf *b);
/* Drops a reference; the last one frees the buffer. */
void dmaio_buf_unref(struct dmaio_buf *b);

/* Returns the first byte of the view (valid while the view is held). */
const void *dmaio_view_data(const struct dmaio_view *v);
/* Returns the number of bytes in the view. */
size_t dmaio_view_len(const struct dmaio_view *v);
/* Returns a new view of [off, off + len) of v, or NULL: out of range or memory. */
struct dmaio_view *dmaio_view_slice(const struct dmaio_view *v, size_t off,
				    size_t len);
/* Releases the view (and the buffer, if it was the last holder). */
void dmaio_view_release(struct dmaio_view *v);

/* ------------------------------------------------------------------ */
/* DmaFile                                                             */

typedef void (*dmaio_cb)(void *arg, int64_t res);
typedef void (*dmaio_open_cb)(void *arg, struct dmaio_file *f, int err);
/* v is NULL when res < 0; the receiver owns v. */
typedef void (*dmaio_read_cb)(void *arg, struct dmaio_view *v, int64_t res);

/* Opens path read-only. */
int dmaio_file_open(struct dmaio_loop *l, const char *path, dmaio_open_cb cb,
		    void *arg);
/* Opens path read-write, creating (0644) or truncating it. */
int dmaio_file_create(struct dmaio_loop *l, const char *path, dmaio_open_cb cb,
		      void *arg);
/* Opens path with POSIX O_* flags; O_DIRECT is implied. */
int dmaio_file_open_flags(struct dmaio_loop *l, const char *path, int oflags,
			  mode_t mode, dmaio_open_cb cb, void *arg);

/* Returns v rounded up to the file's alignment. */
uint64_t dmaio_file_align_up(const struct dmaio_file *f, uint64_t v);
/* Returns v rounded down to the file's alignment. */
uint64_t dmaio_file_align_down(const struct dmaio_file *f, uint64_t v);
/* Returns the O_DIRECT position and size alignment (a power of two >= 512). */
size_t dmaio_file_alignment(const struct dmaio_file *f);
/* Returns 1 if a and b are the same device and inode, else 0. */
int dmaio_file_is_same(const struct dmaio_file *a, const struct dmaio_file *b);
/* Returns 1 for O_DIRECT, 0 for the buffered fallback. */
int dmaio_file_is_direct(const struct dmaio_file *f);
/* Returns the file descriptor, or -EBADF once close was submitted. */
int dmaio_file_fd(const struct dmaio_file *f);
/* Returns the path the file was opened (or renamed) with; NULL if none. */
const char *dmaio_file_path(const struct dmaio_file *f);
/* Returns the largest single I/O the device takes (larger ones are split). */
size_t dmaio_file_max_io(const struct dmaio_file *f);
/* Returns where the alignment came from: "statx", "xfs-dioinfo",
 * "block-device", "default" (512) or "buffered"; NULL for NULL. */
const char *dmaio_file_alignment_source(const struct dmaio_file *f);

/* res: bytes written (short writes are reported, not hidden). */
int dmaio_file_write_at(struct dmaio_file *f, struct dmaio_buf *b,
			uint64_t pos, dmaio_cb cb, void *arg);
/* pos must be aligned; the view is clamped like dmaio_file_read_at's. */
int dmaio_file_read_at_aligned(struct dmaio_file *f, uint64_t pos, size_t size,
			       dmaio_read_cb cb, void *arg);
/* Any pos and size: a zero-copy view of [pos, min(pos + size, EOF)). */
int dmaio_file_read_at(struct dmaio_file *f, uint64_t pos, size_t size,
		       dmaio_read_cb cb, void *arg);
int dmaio_file_fdatasync(struct dmaio_file *f, dmaio_cb cb, void *arg);
/* fallocate(mode 0, 0, size). */
int dmaio_file_pre_allocate(struct dmaio_file *f, uint64_t size, dmaio_cb cb,
			    void *arg);
/* Sets and verifies an extent-size hint (0 clears it). */
int dmaio_file_hint_extent_size(struct dmaio_file *f, size_t size, dmaio_cb cb,
				void *arg);
int dmaio_file_truncate(struct dmaio_file *f, uint64_t size, dmaio_cb cb,
			void *arg);
/* On success dmaio_file_path() returns new_path. */
int dmaio_file_rename(struct dmaio_file *f, const char *new_path, dmaio_cb cb,
		      void *arg);
/* Unlinks the path; the open file stays usable until closed. */
int dmaio_file_remove(struct dmaio_file *f, dmaio_cb cb, void *arg);
/* res: the file's size in bytes. */
int dmaio_file_size(struct dmaio_file *f, dmaio_cb cb, void *arg);
/* Waits for the file's in-flight operations, then closes and frees it. */
int dmaio_file_close(struct dmaio_file *f, dmaio_cb cb, void *arg);
/* Punches a hole: fallocate(PUNCH_HOLE | KEEP_SIZE, pos, len). */
int dmaio_file_deallocate(struct dmaio_file *f, uint64_t pos, uint64_t len,
			  dmaio_cb cb, void *arg);

/* Blocking twins: submit, run the loop until done, return the result. */
int dmaio_file_open_wait(struct dmaio_loop *l, const char *path,
			 struct dmaio_file **out);
int dmaio_file_create_wait(struct dmaio_loop *l, const char *path,
			   struct dmaio_file **out);
int dmaio_file_open_flags_wait(struct dmaio_loop *l, const char *path,
			       int oflags, mode_t mode,
			       struct dmaio_file **out);
int64_t dmaio_file_write_at_wait(struct dmaio_file *f, struct dmaio_buf *b,
				 uint64_t pos);
int64_t dmaio_file_read_at_aligned_wait(struct dmaio_file *f, uint64_t pos,
					size_t size, struct dmaio_view **out);
int64_t dmaio_file_read_at_wait(struct dmaio_file *f, uint64_t pos,
				size_t size, struct dmaio_view **out);
int dmaio_file_fdatasync_wait(struct dmaio_file *f);
int dmaio_file_pre_allocate_wait(struct dmaio_file *f, uint64_t size);
int dmaio_file_hint_extent_size_wait(struct dmaio_file *f, size_t size);
int dmaio_file_truncate_wait(struct dmaio_file *f, uint64_t size);
int dmaio_file_rename_wait(struct dmaio_file *f, const char *new_path);
int dmaio_file_remove_wait(struct dmaio_file *f);
int64_t dmaio_file_size_wait(struct dmaio_file *f);
int dmaio_file_close_wait(struct dmaio_file *f);
int dmaio_file_deallocate_wait(struct dmaio_file *f, uint64_t pos,
			       uint64_t len);

/* ------------------------------------------------------------------ */
/* Durable names (1.1)                                                 */

/*
 * A new file, a rename or a removal survives a crash only once the
 * directory that holds the name is fsynced. Both run on a helper thread;
 * res: 0 or -errno (-ENOENT, -ENOTDIR, -EACCES, an fsync(2) error).
 */
int dmaio_dir_sync(struct dmaio_loop *loop, const char *path, dmaio_cb cb,
		   void *arg);
/* Syncs the directory that holds dmaio_file_path(f), after a rename too. */
int dmaio_file_sync_parent(struct dmaio_file *f, dmaio_cb cb, void *arg);
/* Blocking twins: 0 or -errno. */
int dmaio_dir_sync_wait(struct dmaio_loop *loop, const char *path);
int dmaio_file_sync_parent_wait(struct dmaio_file *f);

/* ------------------------------------------------------------------ */
/* Writes from the caller's memory (1.1)                               */

/*
 * Writes len bytes of data at any pos: data is copied before the call
 * returns, partial edge blocks are read back and merged, overlapping
 * calls on one file take effect in call order, and a write past EOF
 * leaves the file exactly pos + len long. res: len, or -errno.
 */
int dmaio_file_write_copy(struct dmaio_file *f, uint64_t pos, const void *data,
			  size_t len, dmaio_cb cb, void *arg);
/* Blocking twin: returns len, or -errno. */
int64_t dmaio_file_write_copy_wait(struct dmaio_file *f, uint64_t pos,
				   const void *data, size_t len);

/* ------------------------------------------------------------------ */
/* read_many                                                           */

struct dmaio_iovec {
	uint64_t pos;
	size_t len;
};

/* max_merged_buffer_size: the largest request of the file's device. */
#define DMAIO_MERGE_DEVICE_MAX ((size_t)-2)

struct dmaio_read_many_opts {
	size_t size;                   /* sizeof(struct dmaio_read_many_opts) */
	size_t max_merged_buffer_size; /* 0: no merging; SIZE_MAX: unlimited */
	size_t max_read_amp;           /* unrequested bytes read between two ranges */
};

/* Defaults: DMAIO_MERGE_DEVICE_MAX, max_read_amp 0. */
void dmaio_read_many_opts_init(struct dmaio_read_many_opts *o);

/* Called once per iovec, in any order; v NULL when res < 0. */
typedef void (*dmaio_read_many_cb)(void *arg, size_t index,
				   struct dmaio_view *v, int64_t res);
/*
 * Reads n ranges, merging nearby ones into single aligned I/Os (in
 * position order; identical blocks are read once). o NULL: defaults.
 * Every len is at least 1 (-EINVAL otherwise, unlike read_at's 0).
 */
int dmaio_file_read_many(struct dmaio_file *f, const struct dmaio_iovec *iov,
			 size_t n, const struct dmaio_read_many_opts *o,
			 dmaio_read_many_cb cb, void *arg);
/*
 * Blocking twin: views[i] and res[i] receive each result. Returns 0, or
 * -errno if the reads could not start.
 */
int dmaio_file_read_many_wait(struct dmaio_file *f,
			      const struct dmaio_iovec *iov, size_t n,
			      const struct dmaio_read_many_opts *o,
			      struct dmaio_view **views, int64_t *res);

/* ------------------------------------------------------------------ */
/* Stream writer                                                       */

struct dmaio_writer;

struct dmaio_writer_opts {
	size_t   size;          /* sizeof(struct dmaio_writer_opts) */
	size_t   buffer_size;   /* 0: default 128 KiB; rounded up to the alignment */
	unsigned write_behind;  /* buffer writes in flight; 0: default 4 */
	int      sync_on_close; /* fdatasync before closing (opts_init: 1) */
	/* Appends without blocking io_submit (literal; opts_init values): */
	size_t   extent_hint;   /* extent-size hint set at creation (1 MiB); 0: none */
	int      preallocate;   /* fallocate ahead of the writes (1) */
	int      grow_ahead;    /* keep the file size ahead of the writes (1) */
	/* Where the stream starts (1.1); bytes before it are never changed: */
	uint64_t start;         /* first byte to write, any offset (0) */
	unsigned flags;         /* DMAIO_WRITER_APPEND (0) */
};
/* Start at the file's size (not with a start of its own). */
#define DMAIO_WRITER_APPEND 1u

void dmaio_writer_opts_init(struct dmaio_writer_opts *o);
/* Takes ownership of f (closed by dmaio_writer_close). o NULL: defaults. */
int dmaio_writer_new(struct dmaio_file *f, const struct dmaio_writer_opts *o,
		     struct dmaio_writer **out);
/* Copies up to len bytes; returns bytes taken, 0 when every buffer is in
 * flight, or the writer's (sticky) error. */
int64_t dmaio_writer_write(struct dmaio_writer *w, const void *data,
			   size_t len);
/*
 * Zero-copy writing: the free bytes of the buffer being filled, at *ptr
 * (0 when every buffer is in flight, or -errno). Write into them, then
 * commit how many you wrote (at most what get_space returned).
 */
int64_t dmaio_writer_get_space(struct dmaio_writer *w, void **ptr);
/* Adds n bytes written at get_space's pointer to the stream: 0 or -errno. */
int dmaio_writer_commit(struct dmaio_writer *w, size_t n);
/* Calls cb once a buffer is free (soon, if one is free now). */
int dmaio_writer_on_writable(struct dmaio_writer *w, dmaio_cb cb, void *arg);
/* Writes all of data, running the loop while buffers are busy. */
int64_t dmaio_writer_write_wait(struct dmaio_writer *w, const void *data,
				size_t len);
/* Writes what is buffered (padded); res 0 once every byte so far is written. */
int dmaio_writer_flush(struct dmaio_writer *w, dmaio_cb cb, void *arg);
int dmaio_writer_flush_wait(struct dmaio_writer *w);
/* flush, then fdatasync: res 0 once every byte so far is durable. */
int dmaio_writer_sync(struct dmaio_writer *w, dmaio_cb cb, void *arg);
int dmaio_writer_sync_wait(struct dmaio_writer *w);
/* Writes the tail, truncates to the exact size, syncs (if asked), closes
 * the file and frees the writer; res = bytes written, or the first error. */
int dmaio_writer_close(struct dmaio_writer *w, dmaio_cb cb, void *arg);
int64_t dmaio_writer_close_wait(struct dmaio_writer *w);
/* Returns the file offset after the last byte accepted (start + bytes). */
uint64_t dmaio_writer_position(const struct dmaio_writer *w);
/* Returns the end of the contiguous range of bytes written to the file. */
uint64_t dmaio_writer_flushed_position(const struct dmaio_writer *w);
/* Returns the end of the stream the last successful sync made durable
 * (start until one succeeds). */
uint64_t dmaio_writer_synced_position(const struct dmaio_writer *w);

/* ------------------------------------------------------------------ */
/* Stream reader                                                       */

struct dmaio_reader;

struct dmaio_reader_opts {
	size_t   size;        /* sizeof(struct dmaio_reader_opts) */
	uint64_t start;       /* first byte */
	uint64_t end;         /* 0: EOF; else read [start, end) */
	size_t   buffer_size; /* 0: default 128 KiB; rounded up to the alignment */
	unsigned read_ahead;  /* buffers read ahead; 0: on demand (opts_init: 4) */
};

void dmaio_reader_opts_init(struct dmaio_reader_opts *o);
/* Takes ownership of f (closed by dmaio_reader_close). o NULL: defaults. */
int dmaio_reader_new(struct dmaio_file *f, const struct dmaio_reader_opts *o,
		     struct dmaio_reader **out);
/* A zero-copy view of up to max_len bytes at the position, never crossing
 * an internal buffer; res 0 (v NULL) at end or EOF. One at a time. */
int dmaio_reader_get_buffer(struct dmaio_reader *r, size_t max_len,
			    dmaio_read_cb cb, void *arg);
/*
 * Copies len bytes at the position into dst, across internal buffers (1.1);
 * res: bytes copied (len unless the stream ends first), 0 at end, or
 * -errno. One get_buffer or read at a time.
 */
int dmaio_reader_read(struct dmaio_reader *r, void *dst, size_t len,
		      dmaio_cb cb, void *arg);
/* Blocking twin: returns bytes copied, 0 at end, or -errno. */
int64_t dmaio_reader_read_wait(struct dmaio_reader *r, void *dst, size_t len);
/* Moves the position n bytes forward. */
int dmaio_reader_skip(struct dmaio_reader *r, uint64_t n);
/* Returns the position of the next byte to be handed out. */
uint64_t dmaio_reader_position(const struct dmaio_reader *r);
/* Waits for reads in flight, closes the file and frees the reader. */
int dmaio_reader_close(struct dmaio_reader *r, dmaio_cb cb, void *arg);
int dmaio_reader_close_wait(struct dmaio_reader *r);

/* ------------------------------------------------------------------ */
/* Host loops (1.3)                                                    */

/*
 * Milliseconds until dmaio_loop_run_once(loop, 0) has work that no event
 * on dmaio_loop_fd() announces, for a host loop's own timeout: 0 now
 * (run_once already has work), -1 when nothing is armed; -EINVAL.
 */
int dmaio_loop_timeout(struct dmaio_loop *loop);

/* The loop on a thread of its own (1.3) */

/*
 * Runs the loop on a thread of its own. From then on the _wait calls may
 * be made from any thread: they hand the work to the loop's thread and
 * block only the caller. Callbacks run on the loop's thread; every other
 * call still belongs to it (make it from a callback or a post). 0,
 * -EINVAL (loop NULL), -EBUSY when the thread already runs, -EDEADLK from
 * a callback or while the loop runs, or pthread_create's error as -errno
 * (-EAGAIN).
 */
int dmaio_loop_start_thread(struct dmaio_loop *loop);
/*
 * Lets the _wait calls already handed over finish (later ones from other
 * threads return -ESHUTDOWN), then returns once the thread has left the
 * loop: it may be freed or run again. 0, -EINVAL when no thread runs,
 * -EDEADLK on the loop's own thread, -EALREADY while another thread stops
 * it.
 */
int dmaio_loop_stop_thread(struct dmaio_loop *loop);

/* ------------------------------------------------------------------ */
/* Caller memory (1.3)                                                 */

/*
 * buf, pos and size aligned to dmaio_file_alignment(f) (buf to the
 * memory alignment the file's buffers get); the memory is the caller's
 * and must stay valid until the callback. res: bytes (a read is clamped
 * at EOF), or -errno. size 0 completes with 0.
 */
int dmaio_file_read_into(struct dmaio_file *f, uint64_t pos, void *buf,
			 size_t size, dmaio_cb cb, void *arg);
int dmaio_file_write_from(struct dmaio_file *f, uint64_t pos, const void *buf,
			  size_t size, dmaio_cb cb, void *arg);
/*
 * Vectored forms: every iov_base and iov_len aligned as above, iovcnt in
 * 1..IOV_MAX; iov itself must stay valid until the callback too.
 */
int dmaio_file_readv(struct dmaio_file *f, uint64_t pos,
		     const struct iovec *iov, int iovcnt, dmaio_cb cb,
		     void *arg);
int dmaio_file_writev(struct dmaio_file *f, uint64_t pos,
		      const struct iovec *iov, int iovcnt, dmaio_cb cb,
		      void *arg);
/* Blocking twins: bytes, or -errno. */
int64_t dmaio_file_read_into_wait(struct dmaio_file *f, uint64_t pos,
				  void *buf, size_t size);
int64_t dmaio_file_write_from_wait(struct dmaio_file *f, uint64_t pos,
				   const void *buf, size_t size);
/* ------------------------------------------------------------------ */
/* I/O classes (1.3)                                                   */

/*
 * A class is a kind of work (queries, compaction). The loop's dispatcher
 * decides what goes to the device when: each class gets device time in
 * proportion to its shares while classes compete, one with latency_us
 * has the others held back so that its operations meet it, and a class
 * alone keeps the device as busy as without classes. Loops of one
 * process share each device: their classes compete by their shares.
 */
struct dmaio_class;
struct dmaio_class_opts {
	size_t      size;        /* sizeof(struct dmaio_class_opts) */
	const char *name;        /* copied; shown in stats and tools */
	unsigned    shares;      /* 1..10000 (100): device time in proportion
	                            while classes compete */
	uint32_t    latency_us;  /* 0: throughput only; else the completion
	                            latency this class is to keep (p99) */
};
/* Fills in the defaults: shares 100, no latency target, no name. */
void dmaio_class_opts_init(struct dmaio_class_opts *o);
/* Creates a class of loop's (o NULL: defaults): 0 and *out, or -errno. */
int  dmaio_class_new(struct dmaio_loop *loop, const struct dmaio_class_opts *o,
		     struct dmaio_class **out);
/* 0, or -EINVAL (shares outside 1..10000). Takes effect at once. */
int  dmaio_class_set_shares(struct dmaio_class *c, unsigned shares);
/* 0, or -EBUSY while a file is set to c or an operation of c is not
 * called back yet. The loop frees the classes left at its end. */
int  dmaio_class_free(struct dmaio_class *c);

/* I/O of f submitted after this call goes through class c (NULL: the
 * loop's default class, shares 100, where every file starts). Writers,
 * readers and read_many on f use f's class. 0, -EINVAL (c of another
 * loop), or -EBADF (f being closed). */
int  dmaio_file_set_class(struct dmaio_file *f, struct dmaio_class *c);

struct dmaio_class_stats {
	size_t   size;                /* sizeof(struct dmaio_class_stats) */
	uint64_t ops, bytes;          /* completed */
	uint64_t queued;              /* waiting in the dispatcher now */
	uint64_t queued_ns_total;     /* time ops waited in the dispatcher */
	uint64_t lat_ns_total, lat_ns_max;  /* call to callback */
	uint64_t lat_hist[24];        /* bucket i: [2^i, 2^(i+1)) microseconds */
};
/* Fills the first st->size bytes of *st: 0, or -EINVAL. */
int  dmaio_class_stats(const struct dmaio_class *c, struct dmaio_class_stats *st);

/* Operations of f still waiting in the dispatcher complete with
 * -ECANCELED from the loop's next iteration; those already at the device
 * complete as they will. Returns how many were cancelled, or -errno. */
int  dmaio_file_cancel(struct dmaio_file *f);
/* ------------------------------------------------------------------ */
/* Files (1.3): handing over, anonymous files, locks, copies, space    */

/* Adopts an open regular file's fd (O_DIRECT is set on its open file
 * description if missing; alignment probed): cb gets the file, which owns
 * the fd from then on. Flags open_flags refuses (O_APPEND...) are -EINVAL. */
int dmaio_file_from_fd(struct dmaio_loop *loop, int fd, dmaio_open_cb cb,
		       void *arg);
int dmaio_file_from_fd_wait(struct dmaio_loop *loop, int fd,
			    struct dmaio_file **out);
/* Lets go of f once its operations are done, without closing its fd:
 * res is the fd (the caller's from then on), or -errno. */
int dmaio_file_release_fd(struct dmaio_file *f, dmaio_cb cb, void *arg);
int dmaio_file_release_fd_wait(struct dmaio_file *f);
/* A second handle on f's open file (its own fd by dup(2), its own
 * counters): 0 or -errno. */
int dmaio_file_dup(struct dmaio_file *f, struct dmaio_file **out);

/* An anonymous read-write file in dir (O_TMPFILE, or a hidden unique name
 * that close removes); dmaio_file_link gives it a name. */
int dmaio_file_create_tmp(struct dmaio_loop *loop, const char *dir,
			  dmaio_open_cb cb, void *arg);
int dmaio_file_create_tmp_wait(struct dmaio_loop *loop, const char *dir,
			       struct dmaio_file **out);
/* Gives f the name path (-EEXIST if it is taken): res 0 or -errno. */
int dmaio_file_link(struct dmaio_file *f, const char *path, dmaio_cb cb,
		    void *arg);
int dmaio_file_link_wait(struct dmaio_file *f, const char *path);

/* flock(2): op LOCK_SH, LOCK_EX or LOCK_UN, | LOCK_NB. A lock that waits
 * holds up no other work; res 0, -EWOULDBLOCK (LOCK_NB), -ECANCELED
 * (the file was closed meanwhile) or -errno. */
int dmaio_file_lock(struct dmaio_file *f, int op, dmaio_cb cb, void *arg);
int dmaio_file_lock_wait(struct dmaio_file *f, int op);

/* Copies len bytes of src at src_pos to dst at dst_pos (any offsets):
 * res is the bytes copied (fewer at src's EOF), or -errno. */
int dmaio_file_copy_range(struct dmaio_file *dst, uint64_t dst_pos,
			  struct dmaio_file *src, uint64_t src_pos,
			  uint64_t len, dmaio_cb cb, void *arg);
int64_t dmaio_file_copy_range_wait(struct dmaio_file *dst, uint64_t dst_pos,
				   struct dmaio_file *src, uint64_t src_pos,
				   uint64_t len);

/* fallocate of [pos, pos + len); DMAIO_ALLOC_KEEP_SIZE leaves the size. */
#define DMAIO_ALLOC_KEEP_SIZE 1u
int dmaio_file_allocate(struct dmaio_file *f, uint64_t pos, uint64_t len,
			unsigned flags, dmaio_cb cb, void *arg);
int dmaio_file_allocate_wait(struct dmaio_file *f, uint64_t pos, uint64_t len,
			     unsigned flags);

struct dmaio_file_stat {
	size_t   size;          /* sizeof(struct dmaio_file_stat) */
	uint64_t file_size;     /* bytes */
	uint64_t allocated;     /* bytes, from st_blocks */
	uint64_t fs_block_size; /* st_blksize */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
};
/* Fills *st (the fields its size covers) before cb: res 0 or -errno. */
int dmaio_file_stat(struct dmaio_file *f, struct dmaio_file_stat *st,
		    dmaio_cb cb, void *arg);
int dmaio_file_stat_wait(struct dmaio_file *f, struct dmaio_file_stat *st);

/* What callers asked this handle for and got, since it was opened. */
struct dmaio_file_stats {
	size_t   size;          /* sizeof(struct dmaio_file_stats) */
	uint64_t reads, read_bytes;
	uint64_t writes, write_bytes;
	uint64_t syncs;
};
/* 0, or -EINVAL (NULL, or a size smaller than the size field). */
int dmaio_file_stats(const struct dmaio_file *f, struct dmaio_file_stats *st);

/* Writes the full buffers only (no padded tail): res is the bytes of the
 * stream now in the file; sync_aligned also fdatasyncs them. */
int dmaio_writer_flush_aligned(struct dmaio_writer *w, dmaio_cb cb, void *arg);
int dmaio_writer_sync_aligned(struct dmaio_writer *w, dmaio_cb cb, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* DMAIO_H */
