/* SPDX-License-Identifier: MIT */
/*
 * io-props-show PATH: the model the library finds for the device of PATH
 * (DMAIO_IO_PROPERTIES or the default file), one "key=value" a line, as
 * the dispatcher will see it, and the file's first malformed line (what
 * dmaio-tune names must agree). Exit 1 with no model. A helper of
 * t/test-tune.sh, built on the internals (lib/io_props.c).
 */
#include "config.h"
#include "io_props.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(int argc, char **argv)
{
	const char *file = getenv("DMAIO_IO_PROPERTIES");
	struct dmaio__io_props p;
	unsigned bad = 0;
	struct stat st;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: io-props-show PATH\n");
		return 2;
	}
	if (stat(argv[1], &st)) {
		perror(argv[1]);
		return 2;
	}
	r = dmaio__io_props_lookup(st.st_dev, &p);
	if (r) {
		printf("no model for %u:%u (%s)\n", major(st.st_dev),
		       minor(st.st_dev), strerror(-r));
		return 1;
	}
	printf("device=%u:%u\n", major(st.st_dev), minor(st.st_dev));
	if (file && *file)
		dmaio__io_props_read_file(file, st.st_dev, &p, &bad);
	printf("first_bad_line=%u\n", bad);
	printf("read_iops=%llu\nwrite_iops=%llu\n",
	       (unsigned long long)p.read_iops,
	       (unsigned long long)p.write_iops);
	printf("read_bw=%llu\nwrite_bw=%llu\n", (unsigned long long)p.read_bw,
	       (unsigned long long)p.write_bw);
	printf("knee_depth=%u\nread_lat_us=%u\nwrite_lat_us=%u\n",
	       p.knee_depth, (unsigned)p.read_lat_us, (unsigned)p.write_lat_us);
	return 0;
}
