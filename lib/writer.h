/* SPDX-License-Identifier: MIT */
/*
 * The stream writer's parts: writer.c (the calls), writer_resume.c (where
 * the stream starts), writer_io.c (buffer writes, grow-ahead, flush, sync
 * and close steps).
 */
#ifndef DMAIO_WRITER_H
#define DMAIO_WRITER_H

#include "file.h"
#include "wait.h"

#define MIB (1024ULL * 1024)
/* smallest and largest stride by which the file is grown ahead */
#define GROW_MIN (4 * MIB)
#define GROW_MAX (256 * MIB)

struct wslot {
	struct dmaio_writer *w;
	struct dmaio_buf *buf; /* what is being written, for a short write */
	uint64_t start, end;  /* bytes of the file written (padded) */
	uint64_t data_end;    /* end of the stream bytes it carries */
	int done, ok;
};

struct flush_req {
	struct dmaio_writer *w;
	struct flush_req *next;
	uint64_t target;
	uint64_t covers;         /* the flushed end its fdatasync covers */
	int sync;
	int syncing;
	int aligned;             /* flush_aligned: res is the bytes in */
	dmaio_cb cb;
	void *arg;
};

enum close_stage { OPEN, DRAINING, TRUNCATING, SYNCING, CLOSING };

struct dmaio_writer {
	struct dmaio__owned own; /* first: dmaio_loop_free() drops it */
	struct dmaio_file *f;
	struct dmaio_loop *loop;
	size_t bs;
	unsigned write_behind;
	int sync_on_close, preallocate, grow_ahead;

	struct dmaio_buf *cur;   /* being filled; NULL until needed */
	uint64_t cur_pos;        /* file offset of cur's first byte */
	size_t fill;
	uint64_t pos;            /* end of the bytes accepted (file offset) */
	int flush_pending;       /* write the partial buffer too */
	size_t fill_written;     /* of fill, already written by a flush */
	size_t granted;          /* dmaio_writer_get_space()'s last answer */

	struct wslot *ring;
	unsigned ring_cap, ring_head, ring_n;
	unsigned inflight;
	uint64_t flushed;
	int prefix_broken;       /* a write failed: flushed stops there */
	int64_t err;             /* sticky */

	uint64_t start;          /* file offset of the stream's first byte */
	uint64_t size0;          /* the file's size before: close keeps it */
	uint64_t synced;         /* the end the last good fdatasync covered */
	int readback;            /* the block holding start is being read */

	uint64_t ahead;          /* size the file was grown to */
	unsigned meta_inflight;  /* hint, grow and sync calls not back yet */
	int kick_posted;

	dmaio_cb wcb;            /* on_writable */
	void *warg;
	struct flush_req *reqs;  /* flushes and syncs, oldest first */
	struct flush_req **reqs_tail;

	enum close_stage stage;
	dmaio_cb close_cb;
	void *close_arg;
	int64_t close_err;
};

/* writer_io.c */
/* Keeps the first error: later calls and close return it. */
void dmaio__writer_set_err(struct dmaio_writer *w, int64_t err);
/* Submits what may go: full buffers, and the partial one when flushing. */
void dmaio__writer_submit(struct dmaio_writer *w);
/* True when a write would take bytes (or fail with the sticky error). */
int dmaio__writer_writable(const struct dmaio_writer *w);
/* Everything that can move after an event moves here. */
void dmaio__writer_progress(struct dmaio_writer *w);
/* Runs progress from the loop, soon: never from inside a user's call. */
int dmaio__writer_kick(struct dmaio_writer *w);
/* Callback of the hint and other steps whose errors are ignored. */
void dmaio__writer_on_meta(void *arg, int64_t res);

/* writer_resume.c */
/* Starts the stream at start: reads back the bytes of its first block
 * that come before it. 0 or -errno (said in dmaio_last_error()). */
int dmaio__writer_resume(struct dmaio_writer *w, uint64_t start);

#endif /* DMAIO_WRITER_H */
