/* SPDX-License-Identifier: MIT */
/*
 * dmaio-bench's parts: options, a worker per loop or thread, the engines
 * that drive I/O (libdmaio through each of its layers, psync threads,
 * libuv's thread pool), verification data, and the report.
 */
#ifndef DMAIO_BENCH_H
#define DMAIO_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <dmaio.h>

#include "histogram.h"

enum bench_rw { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE, RW_RANDRW };
enum bench_api { API_ASYNC, API_WAIT, API_STREAM, API_READ_MANY, API_INTO,
		 API_THREAD };
enum bench_engine { ENGINE_DMAIO, ENGINE_PSYNC, ENGINE_LIBUV, ENGINE_LIBAIO };

extern const char *const bench_rw_names[];
extern const char *const bench_api_names[];
extern const char *const bench_engine_names[];

struct bench_opts {
	enum bench_rw rw;
	enum bench_api api;
	enum bench_engine engine;
	size_t bs;
	unsigned iodepth;
	unsigned loops;      /* dmaio/libuv: loops, one thread each */
	unsigned threads;    /* psync: threads (0: iodepth) */
	unsigned poll_us;    /* dmaio: dmaio_loop_opts.poll_us; libaio: spin */
	unsigned sleep_us;   /* libaio: sleep this long before spinning */
	unsigned timers;     /* dmaio: timers per loop, each firing 1/s */
	int ping;            /* dmaio: a socket ping-pong on each loop */
	unsigned ping_us;    /* --ping=US: the peer's pace (0: back-to-back) */
#define BENCH_PING_US 100 /* --ping's: a client's steady 10k requests/s */
	unsigned helper_threads; /* dmaio: dmaio_loop_opts.helper_threads */
	int loop_class;      /* --api=thread: a class on the loop */
	unsigned class_shares; /* --class=SHARES: the files in a class */
	unsigned files;      /* 0: one file; N: --file is a directory of N */
	unsigned open_bench; /* --open-bench=N: open N files, no I/O */
	const char *mix;     /* --mix=PARTS: classes sharing the device */
	const char *mix_trace; /* --mix-trace=FILE */
	unsigned ncpus;      /* --cpus: worker i runs on cpus[i % ncpus] */
	int cpus[64];
	uint64_t size;
	double runtime;
	uint64_t ios;        /* 0: run for runtime */
	const char *file;
	int verify;
	int json;
	int quiet;
};

struct worker {
	const struct bench_opts *o;
	unsigned id;
	const char *path;    /* the file, or with --files the directory */
	uint64_t rng;
	/* the part of the file this worker uses */
	uint64_t region, region_blocks;
	uint64_t next_seq;
	uint64_t ios_limit;  /* 0: until the deadline */
	uint64_t deadline;   /* CLOCK_MONOTONIC ns */
	uint64_t t_start;    /* when its I/O began, after opening (0: t0) */
	/* results */
	uint64_t started;
	uint64_t done;       /* read by the progress line: atomic */
	uint64_t bytes, errors, verify_errors;
	int64_t first_error;
	struct histogram hist;
	int setup_error;
	uint64_t t_end;      /* when the worker finished */
	struct dmaio_loop_stats loop_stats; /* dmaio engine: its loop's */
	struct histogram ping_hist; /* --ping: round trips, ns */
	struct histogram ping_wait_hist; /* --ping: echo sent to echo read */
	int ping_error;      /* --ping: the first error of the ping-pong */
	int finished;        /* atomic */
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Whether the next I/O reads (randrw: half of them). */
int bench_is_read(struct worker *w);
/* The position of the next I/O. */
uint64_t bench_next_pos(struct worker *w);
/* Starts an I/O: picks its position and direction, counts it, and returns
 * the submission time bench_complete() takes. */
uint64_t bench_begin(struct worker *w, uint64_t *pos, int *is_read);
/* Called by an engine once its files are open: the clock starts now. */
void bench_started(struct worker *w);
/* Whether the worker should start another I/O. */
int bench_more(const struct worker *w, uint64_t now);
/* Records one finished I/O (res: bytes or -errno; data: what a read got). */
void bench_complete(struct worker *w, uint64_t t_submit, int64_t res,
		    uint64_t pos, const void *data, int is_read);

/* Verification data: every block starts with a header naming its offset. */
void bench_fill_block(void *buf, size_t len, uint64_t pos);
/* 1 if buf holds what bench_fill_block writes at pos. */
int bench_check_block(const void *buf, size_t len, uint64_t pos);
/* Creates or extends path to size bytes of verification data; 0 or -errno. */
int bench_layout(const char *path, uint64_t size, int quiet);

/*
 * --files=N: the job's --size split over files DIR/0 .. DIR/N-1 of
 * size/N bytes each. A position the workers pick is one in the files laid
 * end to end, which bench_split turns into a file and an offset in it:
 * a uniform pick over all blocks is a uniform pick of file and offset.
 */
void bench_file_name(char *buf, size_t len, const char *dir, unsigned i);
uint64_t bench_file_size(const struct bench_opts *o); /* each file's */
unsigned bench_split(const struct bench_opts *o, uint64_t pos, uint64_t *off);
/* Makes dir (if missing) and lays out what is missing or short in it. */
int bench_layout_files(const char *dir, const struct bench_opts *o);
/* Removes the files and dir itself (a temporary one). */
void bench_remove_files(const char *dir, unsigned n);
/* Raises RLIMIT_NOFILE to at least need; 0, or -1 said on stderr. */
int bench_raise_nofile(uint64_t need, int quiet);
/* --open-bench=N: the open rate and memory of N files; exit status. */
int bench_open_run(const struct bench_opts *o, const char *dir);

/* --mix (bench_mix.c): parts in classes of their own; exit status. */
int bench_mix_run(const struct bench_opts *o, const char *path);

/* Engines: run one worker to the end. 0 or -errno. */
int bench_run_dmaio(struct worker *w);
/* --api=thread (bench_thread.c): this worker is a thread of a pool making
 * _wait calls through one loop shared by all, on its own thread. */
int bench_run_dmaio_thread(struct worker *w);
int bench_run_psync(struct worker *w);
int bench_run_libuv(struct worker *w);
int bench_run_libaio(struct worker *w);
/* --ping (bench_ping.c): a socket on loop echoed by a thread; round
 * trips go to w->ping_hist. The start's error leaves *out to stop. */
struct bench_ping;
int bench_ping_start(struct worker *w, struct dmaio_loop *loop,
		     struct bench_ping **out);
void bench_ping_stop(struct bench_ping *p);
/* 1 if this build has the engine. */
int bench_have_libuv(void);

#endif
