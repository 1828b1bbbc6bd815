/* SPDX-License-Identifier: MIT */
/*
 * copy_range: copies LEN bytes at any offset of one file to any offset of
 * another, with O_DIRECT, no alignment asked of the caller.
 *
 *   copy_range SRC SRC_OFF LEN DST DST_OFF
 *
 * Reads of any range hand back a view of the bytes asked for (the
 * library reads the enclosing aligned blocks); dmaio_file_write_copy()
 * writes any range (it reads back and merges the partial edge blocks, and
 * a write past the end leaves the file exactly that long). Four 1 MiB
 * chunks are in flight; then an fdatasync, and the parent directory's
 * when DST is new, make the copy durable.
 */
#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define IN_FLIGHT 4

struct copy {
	struct dmaio_file *src, *dst;
	uint64_t src_off, dst_off, len, next, done;
	int busy, err;
};

struct chunk {
	struct copy *c;
	uint64_t at;   /* offset in the range */
	uint64_t want; /* its length */
};

static void start_next(struct copy *c);

static void on_written(void *arg, int64_t res)
{
	struct chunk *k = arg;
	struct copy *c = k->c;

	if (res < 0 && !c->err)
		c->err = (int)res;
	free(k);
	c->busy--;
	start_next(c);
}

static void on_read(void *arg, struct dmaio_view *v, int64_t res)
{
	struct chunk *k = arg;
	struct copy *c = k->c;
	int ret;

	if (res < 0 || (uint64_t)res != k->want) {
		/* an error, or SRC ends before the range does */
		if (!c->err)
			c->err = res < 0 ? (int)res : -ENODATA;
		dmaio_view_release(v);
		free(k);
		c->busy--;
		return;
	}
	/* the bytes are copied before the call returns: the view can go */
	ret = dmaio_file_write_copy(c->dst, c->dst_off + k->at,
				    dmaio_view_data(v), (size_t)res,
				    on_written, k);
	dmaio_view_release(v);
	if (ret) {
		c->err = ret;
		free(k);
		c->busy--;
		return;
	}
	c->done += (uint64_t)res;
}

static void start_next(struct copy *c)
{
	while (!c->err && c->busy < IN_FLIGHT && c->next < c->len) {
		struct chunk *k = malloc(sizeof(*k));
		size_t n = c->len - c->next < CHUNK ? (size_t)(c->len - c->next)
						    : CHUNK;

		if (!k) {
			c->err = -ENOMEM;
			return;
		}
		k->c = c;
		k->at = c->next;
		k->want = n;
		c->err = dmaio_file_read_at(c->src, c->src_off + k->at, n,
					    on_read, k);
		if (c->err) {
			free(k);
			return;
		}
		c->next += n;
		c->busy++;
	}
}

int main(int argc, char **argv)
{
	struct dmaio_loop *loop;
	struct copy c;
	int ret, created;

	if (argc != 6) {
		fprintf(stderr, "usage: copy_range SRC SRC_OFF LEN DST DST_OFF\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.src_off = strtoull(argv[2], NULL, 0);
	c.len = strtoull(argv[3], NULL, 0);
	c.dst_off = strtoull(argv[5], NULL, 0);
	created = access(argv[4], F_OK) != 0;
	ret = dmaio_loop_new(&loop, NULL);
	if (!ret)
		ret = dmaio_file_open_wait(loop, argv[1], &c.src);
	/* read-write: partial blocks of DST are read back and merged */
	if (!ret)
		ret = dmaio_file_open_flags_wait(loop, argv[4], O_RDWR | O_CREAT,
						 0644, &c.dst);
	if (ret)
		goto out;
	start_next(&c);
	ret = dmaio_loop_run(loop);
	if (!ret)
		ret = c.err;
	if (!ret)
		ret = dmaio_file_fdatasync_wait(c.dst);
	if (!ret && created)
		ret = dmaio_file_sync_parent_wait(c.dst);
	if (!ret)
		printf("copied %" PRIu64 " bytes\n", c.done);
out:
	if (ret)
		fprintf(stderr, "copy_range: %s (%s)\n", dmaio_strerror(ret),
			dmaio_last_error());
	dmaio_loop_free(loop);
	return ret ? 1 : 0;
}
