/* SPDX-License-Identifier: MIT */
/*
 * Where a stream starts: at offset 0, at any offset (a log reopened after
 * a restart), or at the file's size. Direct writes cover whole blocks, so
 * a start inside a block needs the block's bytes before it: they are read
 * back into the first buffer, and that buffer is not written until they
 * are there, so the block is written whole with its old head unchanged.
 */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>

static void on_readback(void *arg, struct dmaio_view *v, int64_t res)
{
	struct dmaio_writer *w = arg;
	size_t head = (size_t)(w->start - w->cur_pos);
	char *at = dmaio_buf_data(w->cur);

	if (res < 0) {
		dmaio__writer_set_err(w, res);
	} else {
		/* a start past EOF: what the file lacks reads as zeros */
		memcpy(at, dmaio_view_data(v), (size_t)res);
		memset(at + res, 0, head - (size_t)res);
	}
	dmaio_view_release(v);
	w->readback = 0;
	w->meta_inflight--;
	dmaio__writer_progress(w);
}

int dmaio__writer_resume(struct dmaio_writer *w, uint64_t start)
{
	struct dmaio_file *f = w->f;
	size_t head;
	int ret;

	w->start = w->pos = w->flushed = w->synced = start;
	w->cur_pos = dmaio_file_align_down(f, start);
	/* the file is that long already: grow it from there, never shrink it */
	w->size0 = w->ahead = dmaio__size_seen(f);
	head = (size_t)(start - w->cur_pos);
	if (!head)
		return 0;
	if (f->accmode == O_WRONLY)
		return dmaio__fail(-EBADF, "writer_new: start %" PRIu64 " is "
				   "inside a block, whose first %zu bytes must "
				   "be read back, and the file was opened "
				   "write-only", start, head);
	w->cur = dmaio_file_alloc_buf(f, w->bs);
	if (!w->cur)
		return dmaio__fail(-ENOMEM, "writer_new: no memory");
	/* taken: a flush of nothing new writes nothing */
	w->fill = w->fill_written = head;
	ret = dmaio__internal(w->loop, dmaio_file_read_at(f, w->cur_pos, head,
							 on_readback, w));
	if (ret)
		return ret;
	w->readback = 1;
	w->meta_inflight++;
	return 0;
}
