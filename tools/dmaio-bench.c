/* SPDX-License-Identifier: MIT */
/*
 * dmaio-bench: drive libdmaio the way fio drives its libaio engine, and
 * report what a storage engineer asks first: IOPS, bandwidth, latency
 * percentiles, and the CPU and context switches each I/O costs. The psync
 * and libuv engines run the same job for comparison.
 */
#include "config.h"

#include <dmaio.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *to)
{
	fprintf(to,
		"usage: dmaio-bench [options]\n"
		"  --rw=randread|randwrite|read|write|randrw   (randread)\n"
		"  --bs=SIZE          block size (4k)\n"
		"  --iodepth=N        I/Os in flight per loop (32)\n"
		"  --size=SIZE        bytes of the file to use (256M)\n"
		"  --runtime=SECS     run this long (10)\n"
		"  --ios=N            or stop after N I/Os in all\n"
		"  --file=PATH        file to use (default: a temporary file in .,\n"
		"                     laid out first and removed after)\n"
		"  --files=N          dmaio, --api=async|wait: split --size over N\n"
		"                     files PATH/0 .. PATH/N-1, --file naming their\n"
		"                     directory (default: a temporary one), all\n"
		"                     open in each loop; an I/O picks a file and\n"
		"                     an offset uniformly\n"
		"  --open-bench=N     no I/O: open N files of --file's directory\n"
		"                     (made if missing) through the loop, all in\n"
		"                     flight, against plain open(2) on the same\n"
		"                     files: opens/s and bytes held per open file\n"
		"                     (heap and RSS)\n"
		"  --helper-threads=N dmaio: dmaio_loop_opts.helper_threads (1)\n"
		"  --api=async|wait|stream|read_many|into|thread  libdmaio layer\n"
		"                     (async); into: read_into/write_from of the\n"
		"                     caller's memory; thread: --threads threads\n"
		"                     making _wait calls through one loop thread\n"
		"  --class=SHARES     dmaio: the files go in an I/O class of\n"
		"                     SHARES shares (1..10000), alone on the\n"
		"                     device: what the dispatcher's path costs\n"
		"  --loop-class       --api=thread: give the loop an I/O class\n"
		"                     (the files stay in the default one), so\n"
		"                     that every call is handed to the loop's\n"
		"                     thread instead of made on the caller's\n"
		"  --engine=dmaio|psync|libuv|libaio  (dmaio; libaio: a bare\n"
		"                     libaio loop, no library)\n"
		"  --loops=N          N loops, one thread each, shared nothing (1)\n"
		"  --threads=N        psync, --api=thread: threads (--iodepth)\n"
		"  --cpus=LIST        pin worker i to the i-th CPU of LIST (0,1,...)\n"
		"  --poll-us=N        dmaio, libaio: spin up to N us for completions\n"
		"  --sleep-us=N       libaio: sleep N us in io_getevents first,\n"
		"                     then spin (a hybrid wait; needs --poll-us)\n"
		"  --timers=N         dmaio: N timers on each loop, each firing\n"
		"                     once a second (what a heap of them costs)\n"
		"  --ping[=US]        dmaio: keep a ping-pong going on a socket the\n"
		"                     loop watches, echoed by another thread US\n"
		"                     microseconds after its last echo (100; 0:\n"
		"                     at once), and report its round trips\n"
		"  --mix=PART[+PART]  dmaio: parts sharing the device, each in an\n"
		"                     I/O class of its own, one loop (--loops=1)\n"
		"                     or a loop per part (--loops=PARTS); a PART\n"
		"                     is RW:BS:DEPTH[:lat=US][:shares=N][:noclass]\n"
		"                     [:stop=S][:reshare=S,N]\n"
		"                     (randread:4k:8:lat=1000:shares=1000); stop=S\n"
		"                     ends its I/O after S seconds, reshare=S,N\n"
		"                     gives its class N shares then; figures per\n"
		"                     part\n"
		"  --mix-trace=FILE   --mix: each part's IOPS and p99 per 100 ms\n"
		"  --verify           write and check per-sector headers and data\n"
		"  --json             print the summary as one JSON object\n"
		"  --quiet            no progress line\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mul = 1;

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

static int pick(const char *arg, const char *const *names, const char *what)
{
	int i;

	for (i = 0; names[i]; i++)
		if (!strcmp(arg, names[i]))
			return i;
	fprintf(stderr, "dmaio-bench: unknown --%s=%s\n", what, arg);
	exit(2);
}

static void bad(const char *what)
{
	fprintf(stderr, "dmaio-bench: bad %s\n", what);
	exit(2);
}

static void parse_cpus(const char *arg, struct bench_opts *o)
{
	const char *p = arg;
	cpu_set_t allowed;
	unsigned i;

	o->ncpus = 0;
	while (*p) {
		char *end;
		unsigned long c = strtoul(p, &end, 10);

		if (end == p || c >= CPU_SETSIZE ||
		    o->ncpus == sizeof(o->cpus) / sizeof(o->cpus[0]))
			bad("--cpus (a list like 0,1,3)");
		o->cpus[o->ncpus++] = (int)c;
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			bad("--cpus (a list like 0,1,3)");
	}
	if (!o->ncpus)
		bad("--cpus (a list like 0,1,3)");
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
		for (i = 0; i < o->ncpus; i++)
			if (!CPU_ISSET(o->cpus[i], &allowed)) {
				fprintf(stderr, "dmaio-bench: --cpus: CPU %d is "
						"not one this process may use\n",
					o->cpus[i]);
				exit(2);
			}
}

static void parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lopts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "iodepth", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "runtime", required_argument, NULL, 't' },
		{ "ios", required_argument, NULL, 'n' },
		{ "file", required_argument, NULL, 'f' },
		{ "api", required_argument, NULL, 'a' },
		{ "engine", required_argument, NULL, 'e' },
		{ "loops", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'T' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "timers", required_argument, NULL, 'M' },
		{ "sleep-us", required_argument, NULL, 'S' },
		{ "ping", optional_argument, NULL, 'G' },
		{ "cpus", required_argument, NULL, 'C' },
		{ "files", required_argument, NULL, 'F' },
		{ "open-bench", required_argument, NULL, 'O' },
		{ "mix", required_argument, NULL, 'X' },
		{ "mix-trace", required_argument, NULL, 'Y' },
		{ "helper-threads", required_argument, NULL, 'H' },
		{ "loop-class", no_argument, NULL, 'L' },
		{ "class", required_argument, NULL, 'K' },
		{ "verify", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->bs = 4096;
	o->iodepth = 32;
	o->loops = 1;
	o->size = 256ull << 20;
	o->runtime = 10;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->rw = pick(optarg, bench_rw_names, "rw"); break;
		case 'a': o->api = pick(optarg, bench_api_names, "api"); break;
		case 'e':
			o->engine = pick(optarg, bench_engine_names, "engine");
			break;
		case 'b':
			if (parse_size(optarg, &v) || !v || v > (1u << 30))
				bad("--bs");
			o->bs = (size_t)v;
			break;
		case 'd':
			o->iodepth = (unsigned)strtoul(optarg, NULL, 0);
			if (!o->iodepth || o->iodepth > 65536)
				bad("--iodepth (1..65536)");
			break;
		case 'l':
			o->loops = (unsigned)strtoul(optarg, NULL, 0);
			if (!o->loops || o->loops > 1024)
				bad("--loops (1..1024)");
			break;
		case 'T':
			o->threads = (unsigned)strtoul(optarg, NULL, 0);
			if (!o->threads || o->threads > 4096)
				bad("--threads (1..4096)");
			break;
		case 'C':
			parse_cpus(optarg, o);
			break;
		case 'P':
			v = strtoull(optarg, NULL, 0);
			if (v > 1000000)
				bad("--poll-us (0..1000000)");
			o->poll_us = (unsigned)v;
			break;
		case 'S':
			v = strtoull(optarg, NULL, 0);
			if (v > 1000000)
				bad("--sleep-us (0..1000000)");
			o->sleep_us = (unsigned)v;
			break;
		case 'M':
			v = strtoull(optarg, NULL, 0);
			if (v > 10000000)
				bad("--timers (0..10000000)");
			o->timers = (unsigned)v;
			break;
		case 'G':
			o->ping = 1;
			v = optarg ? strtoull(optarg, NULL, 0) : BENCH_PING_US;
			if (v > 1000000)
				bad("--ping (0..1000000 us)");
			o->ping_us = (unsigned)v;
			break;
		case 'F':
			v = strtoull(optarg, NULL, 0);
			if (!v || v > 1000000)
				bad("--files (1..1000000)");
			o->files = (unsigned)v;
			break;
		case 'O':
			v = strtoull(optarg, NULL, 0);
			if (!v || v > 1000000)
				bad("--open-bench (1..1000000)");
			o->open_bench = (unsigned)v;
			break;
		case 'L':
			o->loop_class = 1;
			break;
		case 'K':
			v = strtoull(optarg, NULL, 0);
			if (!v || v > 10000)
				bad("--class (1..10000)");
			o->class_shares = (unsigned)v;
			break;
		case 'H':
			v = strtoull(optarg, NULL, 0);
			if (!v || v > 1024)
				bad("--helper-threads (1..1024)");
			o->helper_threads = (unsigned)v;
			break;
		case 's':
			if (parse_size(optarg, &o->size) || !o->size)
				bad("--size");
			break;
		case 't':
			o->runtime = strtod(optarg, NULL);
			if (o->runtime <= 0)
				bad("--runtime");
			break;
		case 'n': o->ios = strtoull(optarg, NULL, 0); break;
		case 'X': o->mix = optarg; break;
		case 'Y': o->mix_trace = optarg; break;
		case 'f': o->file = optarg; break;
		case 'v': o->verify = 1; break;
		case 'j': o->json = 1; break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (o->bs % 512 || o->size < o->bs)
		bad("--bs: a multiple of 512 no larger than --size");
	if (o->files && (o->engine != ENGINE_DMAIO ||
			 (o->api != API_ASYNC && o->api != API_WAIT)))
		bad("--files: only with --engine=dmaio --api=async or wait");
	if (o->files && o->size / o->files < o->bs)
		bad("--files: each file (--size / --files) takes one --bs");
	if (o->open_bench && (o->files || o->engine != ENGINE_DMAIO))
		bad("--open-bench: with --engine=dmaio, without --files");
	if (o->engine != ENGINE_DMAIO && o->helper_threads)
		bad("--helper-threads: only with --engine=dmaio");
	if (o->class_shares && (o->engine != ENGINE_DMAIO ||
				o->api == API_THREAD || o->mix))
		bad("--class: only with --engine=dmaio, not --api=thread or "
		    "--mix (which have their own)");
	if (o->loop_class && (o->engine != ENGINE_DMAIO || o->api != API_THREAD))
		bad("--loop-class: only with --api=thread");
	if (o->api == API_STREAM && o->rw != RW_READ && o->rw != RW_WRITE)
		bad("--api=stream: takes --rw=read or --rw=write");
	if (o->api == API_STREAM && o->rw == RW_WRITE && o->loops > 1)
		bad("--api=stream --rw=write: one loop (the writer owns the file)");
	if (o->api == API_THREAD && (o->loops > 1 || o->files || o->timers ||
				     o->ping))
		bad("--api=thread: one loop, one file, no --timers or --ping");
	if (o->threads && o->engine != ENGINE_PSYNC && o->api != API_THREAD)
		bad("--threads: only with --engine=psync or --api=thread");
	if (o->api == API_READ_MANY && o->rw != RW_RANDREAD && o->rw != RW_READ)
		bad("--api=read_many: reads only");
	if (o->engine != ENGINE_DMAIO && o->api != API_ASYNC)
		bad("--api: only with --engine=dmaio");
	if (o->engine != ENGINE_DMAIO && o->engine != ENGINE_LIBAIO &&
	    o->poll_us)
		bad("--poll-us: only with --engine=dmaio or libaio");
	if (o->sleep_us && (o->engine != ENGINE_LIBAIO || !o->poll_us))
		bad("--sleep-us: only with --engine=libaio and --poll-us");
	if (o->engine != ENGINE_DMAIO && o->timers)
		bad("--timers: only with --engine=dmaio");
	if (o->engine != ENGINE_DMAIO && o->ping)
		bad("--ping: only with --engine=dmaio");
	if (o->engine == ENGINE_LIBUV && !bench_have_libuv()) {
		fprintf(stderr, "dmaio-bench: built without libuv "
				"(install libuv1-dev and reconfigure)\n");
		exit(2);
	}
}

/* ------------------------------------------------------------------ */

/*
 * Posted once per finished worker. The main thread sleeps on it rather than
 * waking every few milliseconds to poll: a benchmark should not disturb
 * the scheduler it measures, and at depth 1 where the I/O thread runs
 * matters (on a 2-CPU guest, next to the CPU taking the disk's interrupts
 * it does a quarter more IOPS than on the other one).
 */
static sem_t finished_sem;

static void *worker_main(void *p)
{
	struct worker *w = p;

	switch (w->o->engine) {
	case ENGINE_DMAIO: w->setup_error = bench_run_dmaio(w); break;
	case ENGINE_PSYNC: w->setup_error = bench_run_psync(w); break;
	case ENGINE_LIBUV: w->setup_error = bench_run_libuv(w); break;
	case ENGINE_LIBAIO: w->setup_error = bench_run_libaio(w); break;
	}
	w->t_end = bench_now_ns();
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	sem_post(&finished_sem);
	return NULL;
}

static uint64_t total_done(struct worker *ws, unsigned n)
{
	uint64_t t = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		t += __atomic_load_n(&ws[i].done, __ATOMIC_RELAXED);
	return t;
}

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

struct summary {
	double secs, iops, mibs, usr, sys, cpu_us;
	uint64_t ios, errors, verify_errors;
	int64_t first_error;
	long vcsw, icsw;
	struct histogram h;
	struct dmaio_loop_stats ls; /* summed over the dmaio loops */
	struct histogram ping;      /* --ping round trips, all loops */
	struct histogram ping_wait; /* --ping: echoes waiting for the loop */
	int ping_error;
};

static void add_stats(struct dmaio_loop_stats *a,
		      const struct dmaio_loop_stats *b)
{
	a->submit_calls += b->submit_calls;
	a->iocbs += b->iocbs;
	a->submit_eagain += b->submit_eagain;
	a->submit_ns_total += b->submit_ns_total;
	if (b->submit_ns_max > a->submit_ns_max)
		a->submit_ns_max = b->submit_ns_max;
	a->submit_stalls += b->submit_stalls;
	a->reaped_ring += b->reaped_ring;
	a->reaped_syscall += b->reaped_syscall;
	a->wakeups += b->wakeups;
	a->wakeups_idle += b->wakeups_idle;
	a->helper_ops += b->helper_ops;
	a->poll_hits += b->poll_hits;
	a->poll_misses += b->poll_misses;
	a->poll_skips += b->poll_skips;
	a->poll_ns += b->poll_ns;
	a->poll_interrupted += b->poll_interrupted;
	a->submit_held += b->submit_held;
	a->caller_ios += b->caller_ios;
}

static void print_text(const struct bench_opts *o, const char *path,
		       const struct summary *s)
{
	const struct histogram *h = &s->h;
	char pace[48];

	printf("dmaio-bench: engine=%s api=%s rw=%s bs=%zu iodepth=%u loops=%u "
	       "poll_us=%u size=%" PRIu64 "MiB %s=%s",
	       bench_engine_names[o->engine], bench_api_names[o->api],
	       bench_rw_names[o->rw], o->bs, o->iodepth, o->loops, o->poll_us,
	       o->size >> 20, o->files ? "dir" : "file", path);
	if (o->files)
		printf(" files=%u of %" PRIu64 "KiB", o->files,
		       bench_file_size(o) >> 10);
	printf("\n");
	printf("  ios=%" PRIu64 " errors=%" PRIu64 "%s in %.2fs\n", s->ios,
	       s->errors, o->verify ? (s->verify_errors ? " VERIFY FAILED"
							: " verified") : "",
	       s->secs);
	printf("  IOPS=%.0f  BW=%.1f MiB/s\n", s->iops, s->mibs);
	printf("  lat (usec): min=%.1f p50=%.1f p99=%.1f p99.9=%.1f max=%.1f\n",
	       h->count ? (double)h->min / 1e3 : 0.0,
	       (double)hist_quantile(h, 0.5) / 1e3,
	       (double)hist_quantile(h, 0.99) / 1e3,
	       (double)hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3);
	printf("  cpu: user=%.2fs sys=%.2fs  %.2f usec/IO  ctx switches: "
	       "%ld voluntary, %ld involuntary\n",
	       s->usr, s->sys, s->cpu_us, s->vcsw, s->icsw);
	if (o->engine == ENGINE_DMAIO)
		printf("  loop: %" PRIu64 " io_submit calls for %" PRIu64
		       " iocbs (%.1f us each, longest %.1f us, %" PRIu64
		       " over 1 ms, %" PRIu64 " EAGAIN); reaped %" PRIu64
		       " from the ring, %" PRIu64 " by io_getevents; %" PRIu64
		       " wake-ups (%" PRIu64 " idle); %" PRIu64 " helper ops\n",
		       s->ls.submit_calls, s->ls.iocbs,
		       s->ls.submit_calls ? (double)s->ls.submit_ns_total /
						    (double)s->ls.submit_calls / 1e3
					  : 0.0,
		       (double)s->ls.submit_ns_max / 1e3, s->ls.submit_stalls,
		       s->ls.submit_eagain, s->ls.reaped_ring,
		       s->ls.reaped_syscall, s->ls.wakeups, s->ls.wakeups_idle,
		       s->ls.helper_ops);
	if (o->engine == ENGINE_DMAIO && o->api == API_THREAD)
		printf("  threads: %" PRIu64 " calls made on the callers' "
		       "threads, %" PRIu64 " handed to the loop's\n",
		       s->ls.caller_ios, s->ios - s->ls.caller_ios);
	if (o->engine == ENGINE_DMAIO && o->poll_us)
		printf("  poll: %" PRIu64 " spins found work, %" PRIu64
		       " found nothing, %" PRIu64 " cut by losing the CPU; "
		       "%" PRIu64 " sleeps not spun before (backing off); "
		       "%.1f us spun per I/O\n",
		       s->ls.poll_hits, s->ls.poll_misses,
		       s->ls.poll_interrupted, s->ls.poll_skips,
		       s->ios ? (double)s->ls.poll_ns / (double)s->ios / 1e3
			      : 0.0);
	if (o->ping_us)
		snprintf(pace, sizeof(pace), "echoed every %u us", o->ping_us);
	else
		snprintf(pace, sizeof(pace), "back-to-back");
	if (o->ping)
		printf("  ping: %" PRIu64 " round trips (%s), usec: min=%.1f "
		       "p50=%.1f p99=%.1f p99.9=%.1f max=%.1f%s%s\n",
		       s->ping.count, pace, s->ping.count ? (double)s->ping.min / 1e3 : 0.0,
		       (double)hist_quantile(&s->ping, 0.5) / 1e3,
		       (double)hist_quantile(&s->ping, 0.99) / 1e3,
		       (double)hist_quantile(&s->ping, 0.999) / 1e3,
		       (double)s->ping.max / 1e3,
		       s->ping_error ? "; failed: " : "",
		       s->ping_error ? dmaio_strerror(s->ping_error) : "");
	if (o->ping)
		printf("        echo waiting for the loop, usec: p50=%.1f "
		       "p99=%.1f p99.9=%.1f max=%.1f\n",
		       (double)hist_quantile(&s->ping_wait, 0.5) / 1e3,
		       (double)hist_quantile(&s->ping_wait, 0.99) / 1e3,
		       (double)hist_quantile(&s->ping_wait, 0.999) / 1e3,
		       (double)s->ping_wait.max / 1e3);
	if (s->errors)
		printf("  first error: %s\n", dmaio_strerror((int)s->first_error));
	if (s->verify_errors)
		printf("  verify errors: %" PRIu64 "\n", s->verify_errors);
}

static void print_json(const struct bench_opts *o, const char *path,
		       const struct summary *s)
{
	const struct histogram *h = &s->h;

	printf("{\"engine\":\"%s\",\"api\":\"%s\",\"rw\":\"%s\",\"bs\":%zu,"
	       "\"iodepth\":%u,\"loops\":%u,\"poll_us\":%u,\"sleep_us\":%u,\"size\":%" PRIu64 ",\"file\":\"%s\","
	       "\"files\":%u,"
	       "\"seconds\":%.3f,\"ios\":%" PRIu64 ",\"errors\":%" PRIu64 ","
	       "\"verify_errors\":%" PRIu64 ",\"iops\":%.1f,\"mib_s\":%.2f,"
	       "\"lat_ns\":{\"min\":%" PRIu64 ",\"mean\":%.0f,\"p50\":%" PRIu64
	       ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "},"
	       "\"cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"us_per_io\":%.3f},"
	       "\"ctx_switches\":{\"voluntary\":%ld,\"involuntary\":%ld},"
	       "\"loop_stats\":{\"submit_calls\":%" PRIu64 ",\"iocbs\":%" PRIu64
	       ",\"submit_eagain\":%" PRIu64 ",\"submit_ns_total\":%" PRIu64
	       ",\"submit_ns_max\":%" PRIu64 ",\"submit_stalls\":%" PRIu64
	       ",\"reaped_ring\":%" PRIu64 ",\"reaped_syscall\":%" PRIu64
	       ",\"wakeups\":%" PRIu64 ",\"wakeups_idle\":%" PRIu64
	       ",\"helper_ops\":%" PRIu64 ",\"poll_hits\":%" PRIu64
	       ",\"poll_misses\":%" PRIu64 ",\"poll_skips\":%" PRIu64
	       ",\"poll_ns\":%" PRIu64 ",\"poll_interrupted\":%" PRIu64
	       ",\"submit_held\":%" PRIu64 ",\"caller_ios\":%" PRIu64 "}",
	       bench_engine_names[o->engine], bench_api_names[o->api],
	       bench_rw_names[o->rw], o->bs, o->iodepth, o->loops, o->poll_us,
	       o->sleep_us, o->size,
	       path, o->files ? o->files : 1, s->secs, s->ios, s->errors, s->verify_errors, s->iops,
	       s->mibs, h->count ? h->min : 0,
	       h->count ? h->sum / (double)h->count : 0.0,
	       hist_quantile(h, 0.5), hist_quantile(h, 0.99),
	       hist_quantile(h, 0.999), h->max, s->usr, s->sys, s->cpu_us,
	       s->vcsw, s->icsw, s->ls.submit_calls, s->ls.iocbs,
	       s->ls.submit_eagain, s->ls.submit_ns_total, s->ls.submit_ns_max,
	       s->ls.submit_stalls, s->ls.reaped_ring, s->ls.reaped_syscall,
	       s->ls.wakeups, s->ls.wakeups_idle, s->ls.helper_ops,
	       s->ls.poll_hits, s->ls.poll_misses, s->ls.poll_skips,
	       s->ls.poll_ns, s->ls.poll_interrupted, s->ls.submit_held,
	       s->ls.caller_ios);
	if (o->ping)
		printf(",\"ping\":{\"interval_us\":%u,\"count\":%" PRIu64
		       ",\"error\":%d,\"rtt_ns\":{\"min\":%" PRIu64
		       ",\"mean\":%.0f,\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
		       ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "},"
		       "\"wait_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
		       ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}}",
		       o->ping_us, s->ping.count, s->ping_error,
		       s->ping.count ? s->ping.min : 0,
		       s->ping.count ? s->ping.sum / (double)s->ping.count : 0.0,
		       hist_quantile(&s->ping, 0.5), hist_quantile(&s->ping, 0.99),
		       hist_quantile(&s->ping, 0.999), s->ping.max,
		       hist_quantile(&s->ping_wait, 0.5),
		       hist_quantile(&s->ping_wait, 0.99),
		       hist_quantile(&s->ping_wait, 0.999), s->ping_wait.max);
	printf("}\n");
}

/* A temporary file, or with --files and --open-bench a directory. */
static void remove_tmp(const struct bench_opts *o, const char *path)
{
	if (o->files || o->open_bench)
		bench_remove_files(path, o->files ? o->files : o->open_bench);
	else
		unlink(path);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct worker *ws;
	pthread_t *tids;
	struct rusage ru0, ru1;
	struct summary s;
	char tmpl[] = "dmaio-bench.XXXXXX";
	const char *path;
	uint64_t t0, t1, last_t, last_done, blocks, per;
	unsigned n, i, left;
	int tty, tmpfile = 0, ret, err;
	pthread_attr_t attr;
	struct timespec next_tick;
	struct stat st;

	parse(argc, argv, &o);
	n = o.engine == ENGINE_PSYNC || o.api == API_THREAD
		    ? (o.threads ? o.threads : o.iodepth) : o.loops;
	if (o.engine == ENGINE_LIBUV && !getenv("UV_THREADPOOL_SIZE")) {
		char v[16];

		/* libuv's pool is 4 threads unless told: give it the depth */
		snprintf(v, sizeof(v), "%u",
			 o.iodepth * o.loops > 1024 ? 1024 : o.iodepth * o.loops);
		setenv("UV_THREADPOOL_SIZE", v, 1);
	}
	path = o.file;
	if (!path && (o.files || o.open_bench)) {
		if (!mkdtemp(tmpl)) {
			perror("dmaio-bench: mkdtemp");
			return 1;
		}
		path = tmpl;
		tmpfile = 1;
	} else if (!path) {
		int fd = mkstemp(tmpl);

		if (fd < 0) {
			perror("dmaio-bench: mkstemp");
			return 1;
		}
		close(fd);
		path = tmpl;
		tmpfile = 1;
	}
	/* every loop holds every file open */
	if ((o.files || o.open_bench) &&
	    bench_raise_nofile((uint64_t)o.files * o.loops + o.open_bench + 64,
			       o.quiet)) {
		if (tmpfile)
			rmdir(path);
		return 1;
	}
	if (o.open_bench) {
		ret = bench_open_run(&o, path);
		if (tmpfile)
			remove_tmp(&o, path);
		return ret;
	}
	/* a stream writer makes its file itself, as an appending job would */
	if (o.api == API_STREAM && o.rw == RW_WRITE) {
		if (!tmpfile && stat(path, &st)) {
			int fd = open(path, O_WRONLY | O_CREAT, 0644);

			if (fd >= 0)
				close(fd);
		}
	} else if (o.files) {
		ret = bench_layout_files(path, &o);
		if (ret) {
			fprintf(stderr, "dmaio-bench: %s: %s\n", path,
				dmaio_strerror(ret));
			if (tmpfile)
				remove_tmp(&o, path);
			return 1;
		}
	} else if (o.verify || stat(path, &st) || (uint64_t)st.st_size < o.size) {
		ret = bench_layout(path, o.size, o.quiet);
		if (ret) {
			fprintf(stderr, "dmaio-bench: %s: %s\n", path,
				dmaio_strerror(ret));
			if (*dmaio_last_error())
				fprintf(stderr, "dmaio-bench: %s\n",
					dmaio_last_error());
			if (tmpfile)
				remove_tmp(&o, path);
			return 1;
		}
	}

	if (o.mix) {
		ret = bench_mix_run(&o, path);
		if (tmpfile)
			remove_tmp(&o, path);
		return ret;
	}

	ws = calloc(n, sizeof(*ws));
	tids = calloc(n, sizeof(*tids));
	blocks = o.files ? bench_file_size(&o) / o.bs * o.files : o.size / o.bs;
	per = (o.rw == RW_READ || o.rw == RW_WRITE) && blocks >= n ? blocks / n
								   : blocks;
	sem_init(&finished_sem, 0, 0);
	clock_gettime(CLOCK_REALTIME, &next_tick);
	next_tick.tv_sec++;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		struct worker *w = &ws[i];

		w->o = &o;
		w->id = i;
		w->path = path;
		w->rng = 0x9E3779B97F4A7C15ull * (i + 1) ^ (uint64_t)getpid();
		w->region_blocks = per;
		w->region = per == blocks ? 0 : (uint64_t)i * per * o.bs;
		w->ios_limit = o.ios ? (o.ios + n - 1) / n : 0;
		w->deadline = t0 + (uint64_t)(o.runtime * 1e9);
		hist_init(&w->hist);
		hist_init(&w->ping_hist);
		hist_init(&w->ping_wait_hist);
		pthread_attr_init(&attr);
		if (o.ncpus) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(o.cpus[i % o.ncpus], &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		err = pthread_create(&tids[i], &attr, worker_main, w);
		pthread_attr_destroy(&attr);
		if (err) {
			fprintf(stderr, "dmaio-bench: cannot start thread %u%s: %s\n",
				i, o.ncpus ? " on the CPU --cpus names" : "",
				strerror(err));
			if (tmpfile)
				remove_tmp(&o, path);
			return 1;
		}
	}
	tty = isatty(2) && !o.quiet;
	last_t = t0;
	last_done = 0;
	for (left = n; left;) {
		uint64_t now, d;

		if (!tty) {
			if (sem_wait(&finished_sem) == 0)
				left--;
			continue;
		}
		if (sem_timedwait(&finished_sem, &next_tick) == 0) {
			left--;
			continue;
		}
		if (errno != ETIMEDOUT)
			continue; /* EINTR */
		next_tick.tv_sec++;
		now = bench_now_ns();
		d = total_done(ws, n);
		fprintf(stderr, "\r[%s %s] %.0f IOPS  %.1f MiB/s  elapsed %.0fs  "
				"eta %.0fs   ",
			bench_engine_names[o.engine], bench_rw_names[o.rw],
			(double)(d - last_done) * 1e9 / (double)(now - last_t),
			(double)(d - last_done) * (double)o.bs * 1e9 /
				(double)(now - last_t) / 1048576.0,
			(double)(now - t0) / 1e9,
			o.ios ? (double)(o.ios - d) * (double)(now - t0) /
					(d ? (double)d : 1.0) / 1e9
			      : (ws[0].deadline > now
					 ? (double)(ws[0].deadline - now) / 1e9
					 : 0.0));
		last_t = now;
		last_done = d;
	}
	ret = 0;
	for (i = 0; i < n; i++) {
		pthread_join(tids[i], NULL);
		if (ws[i].setup_error && !ret)
			ret = ws[i].setup_error;
	}
	getrusage(RUSAGE_SELF, &ru1);
	/* the job's time starts when the first worker's files were open */
	t1 = 0;
	for (i = 0; i < n; i++)
		if (ws[i].t_start && (!t1 || ws[i].t_start < t1))
			t1 = ws[i].t_start;
	if (t1)
		t0 = t1;
	t1 = t0;
	for (i = 0; i < n; i++)
		if (ws[i].t_end > t1)
			t1 = ws[i].t_end;
	if (tty)
		fprintf(stderr, "\r%*s\r", 78, "");

	memset(&s, 0, sizeof(s));
	hist_init(&s.h);
	hist_init(&s.ping);
	hist_init(&s.ping_wait);
	for (i = 0; i < n; i++) {
		s.ios += ws[i].done;
		s.errors += ws[i].errors;
		s.verify_errors += ws[i].verify_errors;
		if (ws[i].errors && !s.first_error)
			s.first_error = ws[i].first_error;
		hist_merge(&s.h, &ws[i].hist);
		s.mibs += (double)ws[i].bytes;
		add_stats(&s.ls, &ws[i].loop_stats);
		hist_merge(&s.ping, &ws[i].ping_hist);
		hist_merge(&s.ping_wait, &ws[i].ping_wait_hist);
		if (ws[i].ping_error && !s.ping_error)
			s.ping_error = ws[i].ping_error;
	}
	s.secs = (double)(t1 - t0) / 1e9;
	s.iops = (double)s.ios / s.secs;
	s.mibs = s.mibs / 1048576.0 / s.secs;
	s.usr = tv(ru1.ru_utime) - tv(ru0.ru_utime);
	s.sys = tv(ru1.ru_stime) - tv(ru0.ru_stime);
	s.cpu_us = s.ios ? (s.usr + s.sys) * 1e6 / (double)s.ios : 0;
	s.vcsw = ru1.ru_nvcsw - ru0.ru_nvcsw;
	s.icsw = ru1.ru_nivcsw - ru0.ru_nivcsw;
	if (o.json)
		print_json(&o, path, &s);
	else
		print_text(&o, path, &s);
	if (ret)
		fprintf(stderr, "dmaio-bench: %s\n", dmaio_strerror(ret));
	if (tmpfile)
		remove_tmp(&o, path);
	free(ws);
	free(tids);
	return ret || s.errors || s.verify_errors || s.ping_error ? 1 : 0;
}
