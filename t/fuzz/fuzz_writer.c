/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the stream writer's bookkeeping, end to end on a real file.
 * The input picks the buffer size and write-behind, then a program of
 * writes of any length, flushes and syncs. Positions must add up, the
 * flushed position must never pass the position and must reach it on
 * every flush, and after close the file must be exactly the bytes written.
 */
#include "config.h"
#include "dmaio.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_writer: %s\n", #c); abort(); } } while (0)

/* each input writes a real file: fewer random ones in make check */
unsigned long fuzz_random_runs = 150;

static struct dmaio_loop *loop;
static char path[64];
static unsigned char *model, *back;
#define MAXLEN (4 << 20)

static unsigned char byte_at(uint64_t off)
{
	return (unsigned char)(off * 131 + (off >> 8) * 7 + 1);
}

void fuzz_cleanup(void)
{
	dmaio_loop_free(loop);
	free(model);
	free(back);
	loop = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct dmaio_writer_opts o;
	struct dmaio_writer *w;
	struct dmaio_file *f;
	uint64_t pos = 0;
	int64_t total;
	int fd;

	if (!loop) {
		CHECK(dmaio_loop_new(&loop, NULL) == 0);
		snprintf(path, sizeof(path), "fuzz-writer.%d", (int)getpid());
		model = malloc(MAXLEN);
		back = malloc(MAXLEN + 1);
		for (pos = 0; pos < MAXLEN; pos++)
			model[pos] = byte_at(pos);
		pos = 0;
	}
	if (n < 2)
		return 0;
	CHECK(dmaio_file_create_wait(loop, path, &f) == 0);
	dmaio_writer_opts_init(&o);
	o.buffer_size = 512 * (1 + data[0] % 24);
	o.write_behind = 1 + data[1] % 6;
	o.sync_on_close = 0;
	o.preallocate = data[1] & 0x40 ? 1 : 0;
	o.grow_ahead = data[1] & 0x80 ? 1 : 0;
	CHECK(dmaio_writer_new(f, &o, &w) == 0);
	data += 2;
	n -= 2;
	while (n >= 3) {
		unsigned kind = data[0] % 8;
		size_t len = 1 + ((size_t)data[1] << 8 | data[2]) % 20000;

		data += 3;
		n -= 3;
		if (kind < 6) {
			if (pos + len > MAXLEN)
				break;
			CHECK(dmaio_writer_write_wait(w, model + pos, len) ==
			      (int64_t)len);
			pos += len;
		} else {
			CHECK((kind == 6 ? dmaio_writer_flush_wait(w)
					 : dmaio_writer_sync_wait(w)) == 0);
			CHECK(dmaio_writer_flushed_position(w) == pos);
		}
		CHECK(dmaio_writer_position(w) == pos);
		CHECK(dmaio_writer_flushed_position(w) <= pos);
	}
	total = dmaio_writer_close_wait(w);
	CHECK(total == (int64_t)pos);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(pread(fd, back, MAXLEN + 1, 0) == (ssize_t)pos);
	CHECK(memcmp(back, model, pos) == 0);
	close(fd);
	unlink(path);
	return 0;
}
