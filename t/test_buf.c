/* SPDX-License-Identifier: MIT */
/* Buffers and views: alignment, sizes, references, slices, lifetimes. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct dmaio_loop *loop;
static struct dmaio_file *file;

static void setup(void)
{
	tu_dir_setup();
	loop = tu_loop(0, 0);
	tu_make_file(tu_path("data"), 64 * 1024, 11);
	ck_assert_int_eq(dmaio_file_open_wait(loop, tu_path("data"), &file), 0);
}

static void teardown(void)
{
	if (file)
		dmaio_file_close_wait(file);
	file = NULL;
	dmaio_loop_free(loop);
	loop = NULL;
	tu_dir_teardown();
}

START_TEST(buf_alloc_aligned)
{
	size_t sizes[] = { 1, 512, 4096, 5000, 65536, 1 << 20, 5 << 20 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct dmaio_buf *b = dmaio_file_alloc_buf(file, sizes[i]);

		ck_assert_ptr_nonnull(b);
		ck_assert_uint_eq(dmaio_buf_size(b), sizes[i]);
		ck_assert_uint_eq((uintptr_t)dmaio_buf_data(b) %
					  dmaio_file_alignment(file),
				  0);
		memset(dmaio_buf_data(b), 0xab, sizes[i]);
		dmaio_buf_unref(b);
	}
	ck_assert_ptr_null(dmaio_file_alloc_buf(file, 0));
	ck_assert_ptr_null(dmaio_file_alloc_buf(NULL, 4096));
	ck_assert_ptr_null(dmaio_file_alloc_buf(file, SIZE_MAX / 2));
}
END_TEST

START_TEST(buf_trim)
{
	struct dmaio_buf *b = dmaio_file_alloc_buf(file, 8192);

	ck_assert_int_eq(dmaio_buf_trim(b, 8193), -EINVAL);
	ck_assert_uint_eq(dmaio_buf_size(b), 8192);
	ck_assert_int_eq(dmaio_buf_trim(b, 4096), 0);
	ck_assert_uint_eq(dmaio_buf_size(b), 4096);
	ck_assert_int_eq(dmaio_buf_trim(b, 8192), -EINVAL);
	ck_assert_int_eq(dmaio_buf_trim(NULL, 0), -EINVAL);
	dmaio_buf_unref(b);
	ck_assert_ptr_null(dmaio_buf_data(NULL));
	ck_assert_uint_eq(dmaio_buf_size(NULL), 0);
}
END_TEST

/* The last reference frees; the pool hands the memory out again. */
START_TEST(buf_refs_and_reuse)
{
	struct dmaio_buf *b = dmaio_file_alloc_buf(file, 4096), *c;
	void *mem = dmaio_buf_data(b);

	ck_assert_ptr_eq(dmaio_buf_ref(b), b);
	dmaio_buf_unref(b);
	memset(dmaio_buf_data(b), 1, 4096); /* still ours: one ref left */
	dmaio_buf_unref(b);
	c = dmaio_file_alloc_buf(file, 3000);
	ck_assert_ptr_eq(dmaio_buf_data(c), mem);
	ck_assert_uint_eq(dmaio_buf_size(c), 3000);
	dmaio_buf_unref(c);
	dmaio_buf_unref(NULL);
	ck_assert_ptr_null(dmaio_buf_ref(NULL));
}
END_TEST

START_TEST(view_slices)
{
	struct dmaio_view *v, *s, *e;
	const unsigned char *d;

	ck_assert_int_eq(dmaio_file_read_at_wait(file, 100, 1000, &v), 1000);
	ck_assert_uint_eq(dmaio_view_len(v), 1000);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 1000, 100, 11), -1);

	s = dmaio_view_slice(v, 10, 20);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(dmaio_view_len(s), 20);
	d = dmaio_view_data(s);
	ck_assert_ptr_eq(d, (const unsigned char *)dmaio_view_data(v) + 10);

	e = dmaio_view_slice(v, 1000, 0); /* empty, at the end */
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(dmaio_view_len(e), 0);
	ck_assert_ptr_null(dmaio_view_slice(v, 1001, 0));
	ck_assert_ptr_null(dmaio_view_slice(v, 990, 11));
	ck_assert_ptr_null(dmaio_view_slice(v, 1, SIZE_MAX));
	ck_assert_ptr_null(dmaio_view_slice(NULL, 0, 0));

	/* a slice keeps the memory alive after its parent is gone */
	dmaio_view_release(v);
	ck_assert_int_eq(tu_check(d, 20, 110, 11), -1);
	dmaio_view_release(s);
	dmaio_view_release(e);
	dmaio_view_release(NULL);
	ck_assert_ptr_null(dmaio_view_data(NULL));
	ck_assert_uint_eq(dmaio_view_len(NULL), 0);
}
END_TEST

/* Buffers and views may outlive the loop and the file. */
START_TEST(buf_outlives_loop)
{
	struct dmaio_buf *b = dmaio_file_alloc_buf(file, 4096);
	struct dmaio_view *v;

	ck_assert_int_eq(dmaio_file_read_at_wait(file, 0, 4096, &v), 4096);
	ck_assert_int_eq(dmaio_file_close_wait(file), 0);
	file = NULL;
	dmaio_loop_free(loop);
	loop = NULL;
	memset(dmaio_buf_data(b), 7, 4096);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), 4096, 0, 11), -1);
	dmaio_view_release(v);
	dmaio_buf_unref(b);
}
END_TEST

#define MIB ((size_t)1 << 20)

/* What the kernel says: THP in "always" or "madvise" mode. */
static int thp_available(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return line[0] && !strstr(line, "[never]");
}

/* kB of AnonHugePages in the mapping holding addr, from smaps. */
static long anon_huge_kb(const void *addr)
{
	char line[256];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/*
 * DMAIO_FEAT_HUGE_BUFFERS: on when THP is, and then 1 MiB buffers are cut
 * two to a 2 MiB-aligned slab that is on a huge page; writes and reads
 * through them are exact; they outlive the loop.
 */
START_TEST(buf_huge_pages)
{
	struct dmaio_buf *b[3];
	struct dmaio_view *v;
	struct dmaio_file *rw;
	char *d0, *d1, *d2;
	int i;

	ck_assert_int_eq(!!(dmaio_loop_features(loop) & DMAIO_FEAT_HUGE_BUFFERS),
			 thp_available());
	if (!thp_available())
		return; /* the fallback is buf_small_pages */
	for (i = 0; i < 3; i++) {
		b[i] = dmaio_file_alloc_buf(file, MIB);
		ck_assert_ptr_nonnull(b[i]);
	}
	d0 = dmaio_buf_data(b[0]);
	d1 = dmaio_buf_data(b[1]);
	d2 = dmaio_buf_data(b[2]);
	ck_assert_uint_eq((uintptr_t)d0 % (2 * MIB), 0);
	ck_assert_ptr_eq(d1, d0 + MIB);
	ck_assert_uint_eq((uintptr_t)d2 % (2 * MIB), 0);
	ck_assert_msg(anon_huge_kb(d0) >= 2048,
		      "slab at %p: %ld kB AnonHugePages", (void *)d0,
		      anon_huge_kb(d0));
	/* new memory is zero */
	ck_assert_int_eq(tu_first_nonzero(d2, MIB), -1);
	tu_fill(d1, MIB, 0, 23);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("huge"),
						    O_RDWR | O_CREAT, 0600, &rw),
			 0);
	ck_assert_int_eq(dmaio_file_write_at_wait(rw, b[1], 0), (int64_t)MIB);
	ck_assert_int_eq(dmaio_file_read_at_wait(rw, 0, MIB, &v), (int64_t)MIB);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), MIB, 0, 23), -1);
	ck_assert_int_eq(dmaio_file_close_wait(rw), 0);
	ck_assert_int_eq(dmaio_file_close_wait(file), 0);
	file = NULL;
	dmaio_loop_free(loop);
	loop = NULL;
	/* the slabs stay mapped until their last buffer goes */
	memset(d0, 1, MIB);
	dmaio_buf_unref(b[0]);
	memset(d1, 2, MIB);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), MIB, 0, 23), -1);
	dmaio_view_release(v);
	dmaio_buf_unref(b[1]);
	dmaio_buf_unref(b[2]);
}
END_TEST

/* With the feature off, buffers are ordinary page-aligned memory. */
START_TEST(buf_small_pages)
{
	struct dmaio_loop *l = tu_loop(DMAIO_FEAT_HUGE_BUFFERS, 0);
	struct dmaio_file *f;
	struct dmaio_buf *b[2];
	struct dmaio_view *v;
	int i;

	ck_assert_uint_eq(dmaio_loop_features(l) & DMAIO_FEAT_HUGE_BUFFERS, 0);
	ck_assert_int_eq(dmaio_file_open_flags_wait(l, tu_path("small"),
						    O_RDWR | O_CREAT, 0600, &f),
			 0);
	for (i = 0; i < 2; i++) {
		b[i] = dmaio_file_alloc_buf(f, MIB);
		ck_assert_ptr_nonnull(b[i]);
		ck_assert_uint_eq((uintptr_t)dmaio_buf_data(b[i]) % 4096, 0);
		ck_assert_int_eq(tu_first_nonzero(dmaio_buf_data(b[i]), MIB),
				 -1);
	}
	tu_fill(dmaio_buf_data(b[0]), MIB, 0, 29);
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b[0], 0), (int64_t)MIB);
	ck_assert_int_eq(dmaio_file_read_at_wait(f, 0, MIB, &v), (int64_t)MIB);
	ck_assert_int_eq(tu_check(dmaio_view_data(v), MIB, 0, 29), -1);
	dmaio_view_release(v);
	dmaio_buf_unref(b[0]);
	dmaio_buf_unref(b[1]);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	dmaio_loop_free(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tu_tcase(s, "buf");

	tcase_add_checked_fixture(tc, setup, teardown);
	TU_ADD(tc, buf_alloc_aligned);
	TU_ADD(tc, buf_trim);
	TU_ADD(tc, buf_refs_and_reuse);
	TU_ADD(tc, view_slices);
	TU_ADD(tc, buf_outlives_loop);
	TU_ADD(tc, buf_huge_pages);
	TU_ADD(tc, buf_small_pages);
	return tu_run(s);
}
