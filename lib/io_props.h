/* SPDX-License-Identifier: MIT */
/*
 * Layer 0: the measured model of a device (what dmaio-tune writes), read
 * once per process from DMAIO_IO_PROPERTIES or /etc/dmaio/io-properties.
 */
#ifndef DMAIO_IO_PROPS_H
#define DMAIO_IO_PROPS_H

#include <stdint.h>
#include <sys/types.h>

struct dmaio__io_props {
	uint64_t read_iops, write_iops;   /* 4 KiB random I/O per second the device sustains */
	uint64_t read_bw, write_bw;       /* bytes per second, large sequential */
	unsigned knee_depth;              /* in-flight depth where latency starts to climb */
	uint32_t read_lat_us, write_lat_us; /* 4 KiB latency at depth 1 */
};

/* 0 and *p filled when a model for dev is known, -ENOENT else (reads
 * DMAIO_IO_PROPERTIES or /etc/dmaio/io-properties once per process).
 * Thread-safe. */
int dmaio__io_props_lookup(dev_t dev, struct dmaio__io_props *p);

#endif /* DMAIO_IO_PROPS_H */
