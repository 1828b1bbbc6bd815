/* SPDX-License-Identifier: MIT */
/*
 * --api=thread: a pool of --threads threads (default --iodepth), each
 * making one blocking read_into_wait or write_from_wait at a time, all
 * through one loop that runs on its own thread (dmaio_loop_start_thread):
 * the psync engine's job, with the loop beside the threads: the calls
 * are made on the threads' own (the library's choice while the loop has
 * no I/O class), or with --loop-class all handed to the loop's thread.
 * The first worker in makes the loop, the last out frees it and keeps
 * its statistics.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct dmaio_loop *shared;
static unsigned users;

static struct dmaio_class *cls;

/* A class the files never join: its presence alone makes the loop's
 * dispatcher the judge of every call, so the calls are handed over. */
static int make_class(struct dmaio_loop *loop)
{
	struct dmaio_class_opts co;

	dmaio_class_opts_init(&co);
	co.name = "bench";
	return dmaio_class_new(loop, &co, &cls);
}

static int get_loop(struct worker *w, struct dmaio_loop **out)
{
	struct dmaio_loop_opts lo;
	int ret = 0;

	pthread_mutex_lock(&lock);
	if (!shared) {
		dmaio_loop_opts_init(&lo);
		lo.queue_depth = w->o->threads ? w->o->threads : w->o->iodepth;
		lo.poll_us = w->o->poll_us;
		if (w->o->helper_threads)
			lo.helper_threads = w->o->helper_threads;
		ret = dmaio_loop_new(&shared, &lo);
		if (!ret && w->o->loop_class)
			ret = make_class(shared);
		if (!ret) {
			ret = dmaio_loop_start_thread(shared);
			if (ret) {
				dmaio_loop_free(shared);
				shared = NULL;
			}
		}
	}
	if (!ret) {
		users++;
		*out = shared;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

static void put_loop(struct worker *w)
{
	pthread_mutex_lock(&lock);
	if (--users == 0) {
		dmaio_loop_stop_thread(shared);
		w->loop_stats.size = sizeof(w->loop_stats);
		dmaio_loop_stats(shared, &w->loop_stats);
		dmaio_loop_free(shared); /* and the class */
		cls = NULL;
		shared = NULL;
	}
	pthread_mutex_unlock(&lock);
}

int bench_run_dmaio_thread(struct worker *w)
{
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	void *buf;
	int ret = get_loop(w, &loop);

	if (ret)
		return ret;
	if (posix_memalign(&buf, 4096, w->o->bs)) {
		put_loop(w);
		return -ENOMEM;
	}
	memset(buf, 0xa5, w->o->bs);
	/* its own handle, opened through the loop's thread like any call */
	ret = dmaio_file_open_flags_wait(loop, w->path, O_RDWR, 0, &f);
	if (ret)
		goto out;
	bench_started(w);
	while (bench_more(w, bench_now_ns())) {
		uint64_t pos, t;
		int64_t res;
		int rd;

		t = bench_begin(w, &pos, &rd);
		if (rd) {
			res = dmaio_file_read_into_wait(f, pos, buf, w->o->bs);
		} else {
			if (w->o->verify)
				bench_fill_block(buf, w->o->bs, pos);
			res = dmaio_file_write_from_wait(f, pos, buf, w->o->bs);
		}
		bench_complete(w, t, res, pos, buf, rd);
	}
	dmaio_file_close_wait(f);
out:
	free(buf);
	put_loop(w);
	return ret;
}
