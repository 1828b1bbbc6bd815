/* SPDX-License-Identifier: MIT */
/*
 * dmaio-tune: measuring a device through libdmaio (tune_measure.c) and
 * writing its model to dmaio-io-properties(5) (tune_model.c).
 */
#ifndef DMAIO_TUNE_H
#define DMAIO_TUNE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <dmaio.h>

/* One job at one queue depth, counted over its measured part. */
struct tune_point {
	unsigned depth;
	size_t bs;
	uint64_t ops;
	double iops, bw;		/* per second, bytes per second */
	double lat_mean_us, lat_p50_us, lat_p99_us;
};

struct tune_ctx {
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	uint64_t size;		/* of the file measured */
	double slice_s;		/* seconds per point, warm-up included */
	unsigned max_depth;
};

/* The file at path, opened for O_DIRECT, preallocated and written once
 * so that reads hit real blocks: 0 or -errno. */
int tune_prepare(struct tune_ctx *c, const char *path, uint64_t size);
/* One point: random (else sequential) reads or writes of bs bytes with
 * depth in flight for c->slice_s seconds. 0 or -errno. */
int tune_measure(struct tune_ctx *c, int write, int seq, size_t bs,
		 unsigned depth, struct tune_point *out);
void tune_close(struct tune_ctx *c);

/* What was measured, and the model drawn from it. */
#define TUNE_MAX_POINTS 16
struct tune_result {
	struct tune_point rr[TUNE_MAX_POINTS], rw[TUNE_MAX_POINTS];
	struct tune_point sr[TUNE_MAX_POINTS], sw[TUNE_MAX_POINTS];
	int nrr, nrw, nsr, nsw;
	/* the model */
	uint64_t read_iops, write_iops, read_bw, write_bw;
	unsigned knee_depth, read_knee, write_knee;
	uint32_t read_lat_us, write_lat_us;
};

/* Depth beyond which IOPS grows < 10% while latency keeps climbing. */
unsigned tune_knee(const struct tune_point *pt, int n);
void tune_model(struct tune_result *r);

/* Where and how it was measured: the comments and keys of its section. */
struct tune_origin {
	dev_t dev;
	const char *path, *mount, *version;
	uint64_t file_size;
	double seconds, loadavg;
	int direct;
};

/*
 * Replaces dev's sections of the file at out (or adds one), keeping the
 * rest as it is; creates the directory. Names the lines the library will
 * skip on stderr. 0, or -errno with a message printed.
 */
int tune_write_model(const char *out, const struct tune_result *r,
		     const struct tune_origin *o);

#endif /* DMAIO_TUNE_H */
