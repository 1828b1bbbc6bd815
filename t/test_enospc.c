/* SPDX-License-Identifier: MIT */
/*
 * ENOSPC for real: a stream writer fills a small loop-mounted XFS and
 * ext4. The error reaches the writer, sticks, and close reports it; every
 * byte acknowledged before it reads back intact, and the file ends where
 * the acknowledged bytes end. A write_copy larger than the disk reports
 * ENOSPC.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dirs[2][PATH_MAX];
static const char *const fstypes[2] = { "xfs", "ext4" };
static const unsigned sizes_mb[2] = { 300, 32 };

START_TEST(writer_fills_the_disk)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	char path[PATH_MAX + 16];
	const size_t chunk = 1 << 20;
	unsigned char *data = malloc(chunk);
	struct dmaio_writer *w;
	struct dmaio_file *f;
	uint64_t pos = 0, acked = 0;
	int64_t n = 0, total;
	struct stat st;
	char *back;
	int fd;

	snprintf(path, sizeof(path), "%s/fill", dirs[_i]);
	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	ck_assert_int_eq(dmaio_writer_new(f, NULL, &w), 0);
	for (;;) {
		tu_fill(data, chunk, pos, 81);
		n = dmaio_writer_write_wait(w, data, chunk);
		if (n < 0)
			break;
		ck_assert_int_eq(n, (int64_t)chunk);
		pos += chunk;
		acked = dmaio_writer_flushed_position(w);
		ck_assert_uint_le(acked, pos);
		ck_assert_uint_lt(pos, (uint64_t)sizes_mb[_i] << 20);
	}
	ck_assert_msg(n == -ENOSPC, "write error %s", dmaio_strerror((int)n));
	ck_assert_int_eq(dmaio_writer_write(w, data, 1), -ENOSPC);
	ck_assert_uint_ge(dmaio_writer_flushed_position(w), acked);
	acked = dmaio_writer_flushed_position(w);
	total = dmaio_writer_close_wait(w);
	ck_assert_int_eq(total, -ENOSPC);

	/*
	 * The file keeps the good prefix: everything acknowledged before the
	 * close, and what writes still in flight then added to it (they may
	 * complete after the failing one), all of it the bytes written.
	 */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_ge((uint64_t)st.st_size, acked);
	/* the failed call may have taken part of its chunk */
	ck_assert_uint_le((uint64_t)st.st_size, pos + chunk);
	back = malloc((size_t)st.st_size + 1);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, back, (size_t)st.st_size + 1, 0),
			 (ssize_t)st.st_size);
	ck_assert_int_eq(tu_check(back, (size_t)st.st_size, 0, 81), -1);
	close(fd);
	free(back);
	free(data);
	unlink(path);
	dmaio_loop_free(loop);
}
END_TEST

/* One write_copy larger than the disk: ENOSPC, and the file stays usable. */
START_TEST(write_copy_fills_the_disk)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	const size_t len = (size_t)sizes_mb[_i] << 20;
	unsigned char *data = malloc(len);
	char path[PATH_MAX + 16];
	struct dmaio_file *f;

	ck_assert_ptr_nonnull(data);
	memset(data, 0x77, len);
	snprintf(path, sizeof(path), "%s/copy", dirs[_i]);
	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	ck_assert_int_eq(dmaio_file_write_copy_wait(f, 1, data, len), -ENOSPC);
	/* the file is usable, and a write that fits goes */
	ck_assert_int_eq(dmaio_file_truncate_wait(f, 0), 0);
	ck_assert_int_eq(dmaio_file_write_copy_wait(f, 1, data, 1000), 1000);
	ck_assert_int_eq(dmaio_file_size_wait(f), 1001);
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	free(data);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enospc");
	TCase *tc = tu_tcase(s, "enospc");
	const char *why[2] = { NULL, NULL };
	int i, ok = 1, ret;

	for (i = 0; i < 2; i++)
		if (tu_mount_image(fstypes[i], sizes_mb[i], dirs[i],
				   sizeof(dirs[i]), &why[i]))
			ok = 0;
	if (ok) {
		tcase_add_loop_test(tc, writer_fills_the_disk, 0, 2);
		tu_name("writer_fills_the_disk", 0, 2, fstypes);
		tcase_add_loop_test(tc, write_copy_fills_the_disk, 0, 2);
		tu_name("write_copy_fills_the_disk", 0, 2, fstypes);
	} else {
		tu_skip("writer_fills_the_disk", why[0] ? why[0] : why[1]);
		tu_skip("write_copy_fills_the_disk", why[0] ? why[0] : why[1]);
	}
	ret = tu_run(s);
	for (i = 0; i < 2; i++)
		if (!why[i])
			tu_umount_image(dirs[i]);
	return ret;
}
