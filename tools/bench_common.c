/* SPDX-License-Identifier: MIT */
/* What every engine shares: positions, accounting, verification data. */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define SECTOR 512
#define MAGIC 0x444d4131u /* "DMA1" */

const char *const bench_rw_names[] = { "randread", "randwrite", "read",
				       "write", "randrw", NULL };
const char *const bench_api_names[] = { "async", "wait", "stream",
					"read_many", "into", "thread", NULL };
const char *const bench_engine_names[] = { "dmaio", "psync", "libuv", "libaio",
					    NULL };

int bench_is_read(struct worker *w)
{
	switch (w->o->rw) {
	case RW_RANDREAD:
	case RW_READ:
		return 1;
	case RW_RANDRW:
		return (int)(bench_rand(&w->rng) >> 63);
	default:
		return 0;
	}
}

uint64_t bench_next_pos(struct worker *w)
{
	uint64_t b;

	if (w->o->rw == RW_READ || w->o->rw == RW_WRITE)
		b = w->next_seq++ % w->region_blocks;
	else
		b = bench_rand(&w->rng) % w->region_blocks;
	return w->region + b * w->o->bs;
}

uint64_t bench_begin(struct worker *w, uint64_t *pos, int *is_read)
{
	*pos = bench_next_pos(w);
	*is_read = bench_is_read(w);
	w->started++;
	return bench_now_ns();
}

void bench_started(struct worker *w)
{
	uint64_t now = bench_now_ns();

	/* opening a thousand files is not part of the job's run time */
	w->deadline = now + (uint64_t)(w->o->runtime * 1e9);
	w->t_start = now;
}

int bench_more(const struct worker *w, uint64_t now)
{
	if (w->ios_limit)
		return w->started < w->ios_limit;
	return now < w->deadline;
}

void bench_complete(struct worker *w, uint64_t t_submit, int64_t res,
		    uint64_t pos, const void *data, int is_read)
{
	if (res == (int64_t)w->o->bs) {
		w->bytes += (uint64_t)res;
		hist_add(&w->hist, bench_now_ns() - t_submit);
		if (w->o->verify && is_read &&
		    !bench_check_block(data, (size_t)res, pos)) {
			if (!w->verify_errors)
				fprintf(stderr, "dmaio-bench: verify: bad data "
						"at %" PRIu64 "\n", pos);
			w->verify_errors++;
		}
	} else {
		if (!w->errors)
			w->first_error = res < 0 ? res : -EIO;
		w->errors++;
	}
	__atomic_add_fetch(&w->done, 1, __ATOMIC_RELAXED);
}

static unsigned char sector_byte(uint64_t sector, size_t j)
{
	uint64_t x = sector * 0x9E3779B97F4A7C15ull + j;

	return (unsigned char)(x ^ (x >> 29) ^ (x >> 41));
}

void bench_fill_block(void *buf, size_t len, uint64_t pos)
{
	unsigned char *p = buf;
	size_t s, j;

	for (s = 0; s + SECTOR <= len; s += SECTOR) {
		uint64_t off = pos + s;
		uint32_t magic = MAGIC, zero = 0;

		memcpy(p + s, &magic, 4);
		memcpy(p + s + 4, &zero, 4);
		memcpy(p + s + 8, &off, 8);
		for (j = 16; j < SECTOR; j++)
			p[s + j] = sector_byte(off / SECTOR, j);
	}
}

int bench_check_block(const void *buf, size_t len, uint64_t pos)
{
	const unsigned char *p = buf;
	size_t s, j;

	for (s = 0; s + SECTOR <= len; s += SECTOR) {
		uint64_t off;
		uint32_t magic;

		memcpy(&magic, p + s, 4);
		memcpy(&off, p + s + 8, 8);
		if (magic != MAGIC || off != pos + s)
			return 0;
		for (j = 16; j < SECTOR; j++)
			if (p[s + j] != sector_byte(off / SECTOR, j))
				return 0;
	}
	return 1;
}

static int layout_one(struct dmaio_loop *loop, const char *path,
		      uint64_t size)
{
	const size_t chunk = 1 << 20;
	struct dmaio_file *f;
	struct dmaio_buf *b;
	uint64_t pos;
	int ret;

	ret = dmaio_file_open_flags_wait(loop, path, O_RDWR | O_CREAT, 0644, &f);
	if (ret)
		return ret;
	b = dmaio_file_alloc_buf(f, chunk);
	ret = b ? 0 : -ENOMEM;
	for (pos = 0; !ret && pos < size; pos += chunk) {
		size_t n = size - pos < chunk ? (size_t)(size - pos) : chunk;
		int64_t r;

		n = (size_t)dmaio_file_align_up(f, n);
		dmaio_buf_trim(b, n);
		bench_fill_block(dmaio_buf_data(b), n, pos);
		r = dmaio_file_write_at_wait(f, b, pos);
		if (r != (int64_t)n)
			ret = r < 0 ? (int)r : -EIO;
	}
	dmaio_buf_unref(b);
	if (!ret)
		ret = dmaio_file_fdatasync_wait(f);
	dmaio_file_close_wait(f);
	return ret;
}

int bench_layout(const char *path, uint64_t size, int quiet)
{
	struct dmaio_loop *loop;
	int ret;

	ret = dmaio_loop_new(&loop, NULL);
	if (ret)
		return ret;
	if (!quiet)
		fprintf(stderr, "dmaio-bench: laying out %" PRIu64 " MiB in %s\n",
			size >> 20, path);
	ret = layout_one(loop, path, size);
	dmaio_loop_free(loop);
	return ret;
}

/* ------------------------------------------------------------------ */
/* --files                                                             */

void bench_file_name(char *buf, size_t len, const char *dir, unsigned i)
{
	snprintf(buf, len, "%s/%u", dir, i);
}

uint64_t bench_file_size(const struct bench_opts *o)
{
	return o->size / o->files;
}

unsigned bench_split(const struct bench_opts *o, uint64_t pos, uint64_t *off)
{
	uint64_t per = bench_file_size(o) / o->bs * o->bs;

	*off = pos % per;
	return (unsigned)(pos / per);
}

int bench_layout_files(const char *dir, const struct bench_opts *o)
{
	uint64_t size = bench_file_size(o);
	struct dmaio_loop *loop;
	char path[4096];
	unsigned i, told = 0;
	struct stat st;
	int ret;

	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	ret = dmaio_loop_new(&loop, NULL);
	if (ret)
		return ret;
	for (i = 0; !ret && i < o->files; i++) {
		bench_file_name(path, sizeof(path), dir, i);
		if (!o->verify && !stat(path, &st) &&
		    (uint64_t)st.st_size >= size)
			continue;
		if (!o->quiet && !told++)
			fprintf(stderr, "dmaio-bench: laying out %u files of "
					"%" PRIu64 " KiB in %s\n", o->files,
				size >> 10, dir);
		ret = layout_one(loop, path, size);
	}
	dmaio_loop_free(loop);
	return ret;
}

void bench_remove_files(const char *dir, unsigned n)
{
	char path[4096];
	unsigned i;

	for (i = 0; i < n; i++) {
		bench_file_name(path, sizeof(path), dir, i);
		unlink(path);
	}
	rmdir(dir);
}

int bench_raise_nofile(uint64_t need, int quiet)
{
	struct rlimit rl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	old = rl.rlim_cur;
	rl.rlim_cur = need;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		rl.rlim_max = need; /* root may; others fail below */
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		fprintf(stderr, "dmaio-bench: cannot raise RLIMIT_NOFILE from "
				"%llu to %llu: %s\n", (unsigned long long)old,
			(unsigned long long)need, strerror(errno));
		return -1;
	}
	if (!quiet)
		fprintf(stderr, "dmaio-bench: raised RLIMIT_NOFILE from %llu "
				"to %llu\n", (unsigned long long)old,
			(unsigned long long)need);
	return 0;
}
