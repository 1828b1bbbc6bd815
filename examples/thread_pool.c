/* SPDX-License-Identifier: MIT */
/*
 * thread_pool: a pool of threads making blocking calls through one loop
 * thread, as a storage engine's virtual file system would.
 *
 *   thread_pool FILE [THREADS [BLOCKS]]   (defaults: 8 threads, 256 blocks)
 *
 * The main thread creates FILE, sizes it, and starts the loop's thread
 * (dmaio_loop_start_thread). Each pool thread then owns BLOCKS 4 KiB
 * blocks of the file: it writes each from its own aligned memory
 * (dmaio_file_write_from_wait), reads it back into another buffer
 * (dmaio_file_read_into_wait) and compares, and asks the file's size
 * (dmaio_file_size_wait) now and then. After the pool has joined, the
 * main thread stops the loop's thread and checks the whole file once
 * more, as the loop's owner again. Prints "ok: N blocks by T threads,
 * C calls on their own threads" and exits 0, or says what went wrong and
 * exits 1. The reads and writes go to the kernel from the pool's threads
 * (the loop has no I/O class: its thread would only pass them on); the
 * size calls are handed to the loop's thread. dmaio_loop_stats' caller_ios
 * counts the former.
 */
#include <dmaio.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096
#define MAX_THREADS 64

struct worker {
	pthread_t tid;
	struct dmaio_file *f;
	unsigned idx, blocks;
	uint64_t size;
	char err[160];
};

/* What block b of the file holds: its number and a pattern of it. */
static void fill(unsigned char *p, uint64_t b)
{
	size_t i;

	for (i = 0; i < BLOCK; i++)
		p[i] = (unsigned char)((b * 131 + i * 7) >> (i % 3));
	memcpy(p, &b, sizeof(b));
}

static void *pool_thread(void *arg)
{
	struct worker *w = arg;
	unsigned char *out = NULL, *in = NULL, *want = NULL;
	unsigned k;

	/* direct I/O reads and writes aligned memory */
	if (posix_memalign((void **)&out, BLOCK, BLOCK) ||
	    posix_memalign((void **)&in, BLOCK, BLOCK) ||
	    !(want = malloc(BLOCK))) {
		snprintf(w->err, sizeof(w->err), "no memory");
		goto out;
	}
	for (k = 0; k < w->blocks; k++) {
		/* interleaved: neighbouring blocks belong to other threads */
		uint64_t b = (uint64_t)k * MAX_THREADS + w->idx;
		int64_t n;

		fill(out, b);
		n = dmaio_file_write_from_wait(w->f, b * BLOCK, out, BLOCK);
		if (n != BLOCK) {
			snprintf(w->err, sizeof(w->err), "write_from_wait of "
				 "block %" PRIu64 ": %s", b,
				 n < 0 ? dmaio_strerror((int)n) : "short");
			goto out;
		}
		memset(in, 0, BLOCK);
		n = dmaio_file_read_into_wait(w->f, b * BLOCK, in, BLOCK);
		fill(want, b);
		if (n != BLOCK || memcmp(in, want, BLOCK)) {
			snprintf(w->err, sizeof(w->err), "block %" PRIu64
				 " read back wrong (%" PRId64 ")", b, n);
			goto out;
		}
		if (k % 32 == 0) {
			n = dmaio_file_size_wait(w->f);
			if (n != (int64_t)w->size) {
				snprintf(w->err, sizeof(w->err), "size_wait: "
					 "%" PRId64, n);
				goto out;
			}
		}
	}
out:
	free(out);
	free(in);
	free(want);
	return NULL;
}

/* The owner's check, after the pool: every block of every thread. */
static int check_all(struct dmaio_file *f, unsigned threads, unsigned blocks)
{
	unsigned char *in = NULL, want[BLOCK];
	unsigned t, k;
	int bad = 0;

	if (posix_memalign((void **)&in, BLOCK, BLOCK))
		return -1;
	for (k = 0; k < blocks && !bad; k++)
		for (t = 0; t < threads && !bad; t++) {
			uint64_t b = (uint64_t)k * MAX_THREADS + t;

			fill(want, b);
			bad = dmaio_file_read_into_wait(f, b * BLOCK, in,
							BLOCK) != BLOCK ||
			      memcmp(in, want, BLOCK);
		}
	free(in);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	struct dmaio_loop_stats st;
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 8;
	unsigned blocks = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
	uint64_t size = (uint64_t)blocks * MAX_THREADS * BLOCK;
	unsigned t;
	int ret, failed = 0;

	if (argc < 2 || !threads || threads > MAX_THREADS || !blocks) {
		fprintf(stderr, "usage: %s FILE [THREADS (1-%d) [BLOCKS]]\n",
			argv[0], MAX_THREADS);
		return 2;
	}
	ret = dmaio_loop_new(&loop, NULL);
	if (!ret)
		ret = dmaio_file_create_wait(loop, argv[1], &f);
	if (!ret)
		ret = dmaio_file_truncate_wait(f, size);
	if (!ret)
		ret = dmaio_loop_start_thread(loop);
	if (ret) {
		fprintf(stderr, "%s: %s\n", argv[1], dmaio_last_error());
		return 1;
	}
	memset(w, 0, sizeof(w));
	for (t = 0; t < threads; t++) {
		w[t].f = f;
		w[t].idx = t;
		w[t].blocks = blocks;
		w[t].size = size;
		if (pthread_create(&w[t].tid, NULL, pool_thread, &w[t])) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	for (t = 0; t < threads; t++) {
		pthread_join(w[t].tid, NULL);
		if (w[t].err[0]) {
			fprintf(stderr, "thread %u: %s\n", t, w[t].err);
			failed = 1;
		}
	}
	/* the loop is this thread's again: its waits drive it */
	ret = dmaio_loop_stop_thread(loop);
	if (ret || failed || check_all(f, threads, blocks)) {
		fprintf(stderr, "%s: the file does not hold what was written\n",
			argv[1]);
		return 1;
	}
	st.size = sizeof(st);
	dmaio_loop_stats(loop, &st);
	dmaio_file_close_wait(f);
	dmaio_loop_free(loop);
	printf("ok: %u blocks by %u threads, %" PRIu64 " calls on their own "
	       "threads\n", threads * blocks, threads, st.caller_ios);
	return 0;
}
