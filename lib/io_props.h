/* SPDX-License-Identifier: MIT */
/*
 * Layer 0, io_props.c: what each device can take, as dmaio-tune measured
 * it (dmaio-io-properties(5)). The dispatcher sizes its device accounts
 * from it; without a model it learns from throughput against depth.
 */
#ifndef DMAIO_IO_PROPS_H
#define DMAIO_IO_PROPS_H

#include <stdint.h>
#include <sys/types.h>

/* A field the file does not give is 0: not known. */
struct dmaio__io_props {
	uint64_t read_iops, write_iops;   /* 4 KiB random I/O per second the device sustains */
	uint64_t read_bw, write_bw;       /* bytes per second, large sequential */
	unsigned knee_depth;              /* in-flight depth where latency starts to climb */
	uint32_t read_lat_us, write_lat_us; /* 4 KiB latency at depth 1 */
};

/* 0 and *p filled when a model for dev is known, -ENOENT else (reads DMAIO_IO_PROPERTIES or /etc/dmaio/io-properties once per process). Thread-safe. */
int dmaio__io_props_lookup(dev_t dev, struct dmaio__io_props *p);

/* Where the lookup reads: DMAIO_IO_PROPERTIES when set (empty: nowhere). */
#define DMAIO_IO_PROPS_DEFAULT "/etc/dmaio/io-properties"

/*
 * The parser behind the lookup, without its once-per-process cache (for
 * the tests): dev's model in the file at path. 0, -ENOENT when the file
 * has no usable section for dev, or the -errno of opening it. *bad_line
 * (may be NULL): the number of the first malformed line, 0 if none.
 */
int dmaio__io_props_read_file(const char *path, dev_t dev,
			      struct dmaio__io_props *p, unsigned *bad_line);

#endif /* DMAIO_IO_PROPS_H */
