/* SPDX-License-Identifier: MIT */
/*
 * The psync engine: the baseline every AIO library is measured against,
 * one blocking pread/pwrite at a time on O_DIRECT, one thread per I/O in
 * flight (--threads, default --iodepth).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

int bench_run_psync(struct worker *w)
{
	void *buf;
	int fd;

	fd = open(w->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (posix_memalign(&buf, 4096, w->o->bs)) {
		close(fd);
		return -ENOMEM;
	}
	memset(buf, 0xa5, w->o->bs);
	while (bench_more(w, bench_now_ns())) {
		uint64_t pos, t;
		int rd;
		ssize_t n;

		t = bench_begin(w, &pos, &rd);
		if (rd) {
			n = pread(fd, buf, w->o->bs, (off_t)pos);
		} else {
			if (w->o->verify)
				bench_fill_block(buf, w->o->bs, pos);
			n = pwrite(fd, buf, w->o->bs, (off_t)pos);
		}
		bench_complete(w, t, n < 0 ? -errno : (int64_t)n, pos, buf, rd);
	}
	free(buf);
	close(fd);
	return 0;
}
