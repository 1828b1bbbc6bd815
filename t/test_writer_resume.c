/* SPDX-License-Identifier: MIT */
/*
 * Where a stream writer starts (API 1.1): DMAIO_WRITER_APPEND and an
 * explicit start inside a block, on a file of odd size; the bytes before
 * start never change and the file ends exactly where it should (or stays
 * longer when it was); synced_position moves only when an fdatasync
 * succeeds; what a process that dies without close leaves past the data,
 * and the recovery that the man page describes. Every feature profile.
 */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FSIZE 1000003
#define OLD_SEED 81
#define NEW_SEED 82

#define NEXT(name) \
	static __typeof__(name) *next; \
	if (!next) next = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* -errno for the next fdatasync, through AIO or on a helper thread */
static int fail_fdsync;

int io_submit(io_context_t ctx, long nr, struct iocb **iocbs)
{
	long i;

	NEXT(io_submit);
	if (!__atomic_load_n(&fail_fdsync, __ATOMIC_SEQ_CST))
		return next(ctx, nr, iocbs);
	for (i = 0; i < nr; i++)
		if (iocbs[i]->aio_lio_opcode == IO_CMD_FDSYNC)
			break;
	if (i == 0 && nr > 0) /* as the kernel does for the first iocb */
		return __atomic_exchange_n(&fail_fdsync, 0, __ATOMIC_SEQ_CST);
	return next(ctx, i, iocbs); /* short: the fdsync comes first next */
}

int fdatasync(int fd)
{
	int err;

	NEXT(fdatasync);
	err = __atomic_exchange_n(&fail_fdsync, 0, __ATOMIC_SEQ_CST);
	if (err) {
		errno = -err;
		return -1;
	}
	return next(fd);
}

/* The whole file, and its size in *size. */
static unsigned char *slurp(const char *path, size_t *size)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return buf;
}

static struct dmaio_writer *open_writer(struct dmaio_loop *loop,
					const char *path, uint64_t start,
					unsigned flags, size_t bs)
{
	struct dmaio_writer_opts o;
	struct dmaio_writer *w = NULL;
	struct dmaio_file *f;

	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, path, O_RDWR, 0, &f),
			 0);
	dmaio_writer_opts_init(&o);
	o.buffer_size = bs;
	o.write_behind = 3;
	o.start = start;
	o.flags = flags;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), 0);
	return w;
}

/* Writes len bytes of NEW_SEED at the writer's position in random pieces,
 * with a flush (the padded partial block) in the middle. */
static void write_stream(struct dmaio_writer *w, size_t len, unsigned seed)
{
	uint64_t at = dmaio_writer_position(w);
	unsigned char *data = malloc(len);
	size_t done = 0;

	tu_fill(data, len, at, NEW_SEED);
	srand(seed);
	while (done < len) {
		size_t n = 1 + (size_t)(rand() % 9000);

		if (n > len - done)
			n = len - done;
		ck_assert_int_eq(dmaio_writer_write_wait(w, data + done, n),
				 (int64_t)n);
		done += n;
		if (done > len / 2 && done - n <= len / 2)
			ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
		ck_assert_uint_eq(dmaio_writer_position(w), at + done);
	}
	free(data);
}

/*
 * The file after a stream of len bytes from start over a file of FSIZE
 * bytes: the old bytes before start, the new ones, then (when the file
 * was longer) zeros to the end of the stream's last block and the old
 * bytes after it; exactly max(start + len, FSIZE) long.
 */
static void check_resumed(const char *path, uint64_t start, size_t len,
			  size_t align)
{
	uint64_t end = start + len, pad_end = (end + align - 1) & ~(uint64_t)(align - 1);
	size_t size, old = start < FSIZE ? (size_t)start : FSIZE;
	unsigned char *buf = slurp(path, &size);

	ck_assert_uint_eq(size, end > FSIZE ? end : FSIZE);
	ck_assert_int_eq(tu_check(buf, old, 0, OLD_SEED), -1);
	if (start > FSIZE) /* the gap a start past EOF leaves */
		ck_assert_int_eq(tu_first_nonzero(buf + FSIZE, start - FSIZE), -1);
	ck_assert_int_eq(tu_check(buf + start, len, start, NEW_SEED), -1);
	if (end < FSIZE) {
		if (pad_end > FSIZE)
			pad_end = FSIZE;
		ck_assert_int_eq(tu_first_nonzero(buf + end, pad_end - end), -1);
		ck_assert_int_eq(tu_check(buf + pad_end, FSIZE - pad_end,
					  pad_end, OLD_SEED), -1);
	}
	free(buf);
}

static size_t file_alignment(struct dmaio_loop *loop, const char *path)
{
	struct dmaio_file *f;
	size_t align;

	ck_assert_int_eq(dmaio_file_open_wait(loop, path, &f), 0);
	align = dmaio_file_alignment(f);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	return align;
}

/* DMAIO_WRITER_APPEND on a file of odd size, through small and big buffers. */
START_TEST(writer_append_to_odd_size)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static const size_t bss[] = { 512, 3072, 128 * 1024 };
	const size_t len = 300007;
	size_t k, align;

	for (k = 0; k < 3; k++) {
		struct dmaio_writer *w;

		tu_make_file(tu_path("a"), FSIZE, OLD_SEED);
		align = file_alignment(loop, tu_path("a"));
		w = open_writer(loop, tu_path("a"), 0, DMAIO_WRITER_APPEND,
				bss[k]);
		ck_assert_uint_eq(dmaio_writer_position(w), FSIZE);
		ck_assert_uint_eq(dmaio_writer_flushed_position(w), FSIZE);
		ck_assert_uint_eq(dmaio_writer_synced_position(w), FSIZE);
		write_stream(w, len, (unsigned)k);
		ck_assert_int_eq(dmaio_writer_sync_wait(w), 0);
		ck_assert_uint_eq(dmaio_writer_synced_position(w), FSIZE + len);
		/* close returns what this writer wrote */
		ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)len);
		check_resumed(tu_path("a"), FSIZE, len, align);
	}
	dmaio_loop_free(loop);
}
END_TEST

/*
 * An explicit start inside a block: a stream that ends inside the old
 * file (which keeps its length), one that runs past its end, and one that
 * starts past it.
 */
START_TEST(writer_start_inside_a_block)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static const uint64_t starts[] = { 500123, 999007, FSIZE + 5000, 0 };
	static const size_t lens[] = { 100000, 200000, 7000, 4321 };
	size_t k, align;

	for (k = 0; k < 4; k++) {
		struct dmaio_writer *w;

		tu_make_file(tu_path("s"), FSIZE, OLD_SEED);
		align = file_alignment(loop, tu_path("s"));
		w = open_writer(loop, tu_path("s"), starts[k], 0, 4096);
		ck_assert_uint_eq(dmaio_writer_position(w), starts[k]);
		write_stream(w, lens[k], 10 + (unsigned)k);
		ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)lens[k]);
		check_resumed(tu_path("s"), starts[k], lens[k], align);
	}
	dmaio_loop_free(loop);
}
END_TEST

/* A close right away: the read-back block is not written, nothing moves. */
START_TEST(writer_start_and_close_at_once)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w;
	unsigned char *buf;
	size_t size;

	tu_make_file(tu_path("c"), FSIZE, OLD_SEED);
	w = open_writer(loop, tu_path("c"), 4097, 0, 4096);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 0);
	buf = slurp(tu_path("c"), &size);
	ck_assert_uint_eq(size, FSIZE);
	ck_assert_int_eq(tu_check(buf, FSIZE, 0, OLD_SEED), -1);
	free(buf);
	dmaio_loop_free(loop);
}
END_TEST

/* synced_position moves when an fdatasync succeeds, and only then. */
START_TEST(writer_synced_position_only_on_success)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	struct dmaio_writer *w;
	unsigned char data[5000];
	struct stat st;

	tu_fill(data, sizeof(data), 0, NEW_SEED);
	tu_make_file(tu_path("y"), 0, OLD_SEED);
	w = open_writer(loop, tu_path("y"), 0, 0, 4096);
	ck_assert_uint_eq(dmaio_writer_synced_position(w), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 1000), 1000);
	ck_assert_int_eq(dmaio_writer_flush_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 1000);
	ck_assert_uint_eq(dmaio_writer_synced_position(w), 0); /* not a sync */
	ck_assert_int_eq(dmaio_writer_sync_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_synced_position(w), 1000);

	ck_assert_int_eq(dmaio_writer_write_wait(w, data + 1000, 4000), 4000);
	__atomic_store_n(&fail_fdsync, -EIO, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(dmaio_writer_sync_wait(w), -EIO);
	ck_assert_int_eq(__atomic_load_n(&fail_fdsync, __ATOMIC_SEQ_CST), 0);
	ck_assert_uint_eq(dmaio_writer_flushed_position(w), 5000);
	ck_assert_uint_eq(dmaio_writer_synced_position(w), 1000);
	/* the error sticks; close keeps the written prefix */
	ck_assert_int_eq(dmaio_writer_close_wait(w), -EIO);
	ck_assert_int_eq(stat(tu_path("y"), &st), 0);
	ck_assert_int_eq(st.st_size, 5000);

	/* a start: nothing is durable by this writer's doing before it */
	w = open_writer(loop, tu_path("y"), 0, DMAIO_WRITER_APPEND, 4096);
	ck_assert_uint_eq(dmaio_writer_synced_position(w), 5000);
	ck_assert_int_eq(dmaio_writer_write_wait(w, data, 10), 10);
	ck_assert_int_eq(dmaio_writer_sync_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_synced_position(w), 5010);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 10);
	dmaio_loop_free(loop);
}
END_TEST

/* Bytes 'a'..'z': none is zero, so the data ends at the last non-zero. */
static void letters(unsigned char *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)('a' + (off + i) % 26);
}

/* The child: writes len bytes of letters, flushes if asked, and dies
 * without closing anything (killed: no exit handler, no leak check). */
static void crash_child(const char *path, size_t len, int flush,
			uint64_t disable)
{
	struct dmaio_loop_opts lo;
	struct dmaio_writer_opts o;
	struct dmaio_loop *loop;
	struct dmaio_writer *w;
	struct dmaio_file *f;
	unsigned char *data = malloc(len);

	dmaio_loop_opts_init(&lo);
	lo.disable = disable;
	dmaio_writer_opts_init(&o);
	o.buffer_size = 64 * 1024;
	letters(data, len, 0);
	if (!data || dmaio_loop_new(&loop, &lo) ||
	    dmaio_file_create_wait(loop, path, &f) ||
	    dmaio_writer_new(f, &o, &w) ||
	    dmaio_writer_write_wait(w, data, len) != (int64_t)len ||
	    (flush && dmaio_writer_flush_wait(w)))
		_exit(2);
	kill(getpid(), SIGKILL);
	_exit(3);
}

/*
 * What a process that dies without close leaves: the data it wrote (whole
 * buffers, or what a flush covered), then zeros to the end of the
 * grow-ahead stride. The recovery of dmaio_writer_new(3) finds the end
 * (here the last non-zero byte: the data has no zeros) and a writer
 * started there completes the stream: at that start, the file keeps its
 * zeros after the stream; truncated to it first, with
 * DMAIO_WRITER_APPEND, the file ends exactly where the stream does.
 */
START_TEST(writer_crash_leaves_zeros_then_resumes)
{
	struct dmaio_loop *loop = tu_loop(tu_profile_disable[_i], 0);
	static const size_t lens[] = { 31, 3 * 1024 * 1024 + 17 };
	size_t k, align;

	tu_make_file(tu_path("probe"), 0, 0);
	align = file_alignment(loop, tu_path("probe"));
	for (k = 0; k < 2; k++) {
		struct dmaio_writer *w;
		struct dmaio_file *f;
		unsigned char *buf, *want, more[20];
		size_t size, end;
		int status;
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			crash_child(tu_path("log"), lens[k], k == 0,
				    tu_profile_disable[_i]);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "the child failed: status %d", status);
		buf = slurp(tu_path("log"), &size);
		/* 31 bytes flushed: a 4 MiB file (a padded block if buffered) */
		if (k == 0)
			ck_assert_msg(size == 4 * 1024 * 1024 || size == align,
				      "a 31-byte stream left %zu bytes", size);
		else
			ck_assert_uint_eq(size % (1024 * 1024), 0);
		for (end = size; end > 0 && !buf[end - 1]; end--)
			;
		/* the data is a prefix of the stream: whole buffers of it */
		want = malloc(end + 1);
		letters(want, end, 0);
		ck_assert_int_eq(memcmp(buf, want, end), 0);
		free(want);
		free(buf);
		if (k == 0) {
			ck_assert_uint_eq(end, 31);
			w = open_writer(loop, tu_path("log"), end, 0, 4096);
		} else {
			ck_assert_uint_eq(end % (64 * 1024), 0);
			ck_assert_uint_ge(end, 2 * 1024 * 1024);
			ck_assert_int_eq(dmaio_file_open_flags_wait(loop,
					 tu_path("log"), O_RDWR, 0, &f), 0);
			ck_assert_int_eq(dmaio_file_truncate_wait(f, end), 0);
			ck_assert_int_eq(dmaio_file_close_wait(f), 0);
			w = open_writer(loop, tu_path("log"), 0,
					DMAIO_WRITER_APPEND, 4096);
		}
		ck_assert_uint_eq(dmaio_writer_position(w), end);
		letters(more, sizeof(more), end);
		ck_assert_int_eq(dmaio_writer_write_wait(w, more, sizeof(more)),
				 (int64_t)sizeof(more));
		ck_assert_int_eq(dmaio_writer_close_wait(w), (int64_t)sizeof(more));
		buf = slurp(tu_path("log"), &size);
		if (k == 0) /* longer than the stream: it stays so, zeros after */
			ck_assert_int_eq(tu_first_nonzero(buf + end + sizeof(more),
						size - end - sizeof(more)), -1);
		else
			ck_assert_uint_eq(size, end + sizeof(more));
		ck_assert_uint_ge(size, end + sizeof(more));
		ck_assert_int_eq(memcmp(buf + end, more, sizeof(more)), 0);
		free(buf);
		unlink(tu_path("log"));
	}
	dmaio_loop_free(loop);
}
END_TEST

START_TEST(writer_start_bad_input)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_writer_opts o;
	struct dmaio_writer *w = NULL;
	struct dmaio_file *f, *wo;
	unsigned char *buf;
	size_t size;

	tu_make_file(tu_path("b"), FSIZE, OLD_SEED);
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("b"), O_RDWR,
						    0, &f), 0);
	dmaio_writer_opts_init(&o);
	ck_assert_uint_eq(o.start, 0);
	ck_assert_uint_eq(o.flags, 0);
	o.flags = 2;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "flags"));
	o.flags = DMAIO_WRITER_APPEND;
	o.start = 10;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "APPEND"));
	o.flags = 0;
	o.start = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), -EOVERFLOW);
	ck_assert_ptr_null(w);
	/* a caller of 0.1 knows nothing of start: whatever follows is not read */
	o.size = offsetof(struct dmaio_writer_opts, start);
	o.start = 12345;
	o.flags = 77;
	ck_assert_int_eq(dmaio_writer_new(f, &o, &w), 0);
	ck_assert_uint_eq(dmaio_writer_position(w), 0);
	ck_assert_int_eq(dmaio_writer_write_wait(w, "x", 1), 1);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 1);
	/* 0.1's writer overwrote from 0; the file was longer and stays so */
	buf = slurp(tu_path("b"), &size);
	ck_assert_uint_eq(size, FSIZE);
	ck_assert_int_eq(buf[0], 'x');
	free(buf);

	/* a start inside a block needs a read: not on a write-only file */
	ck_assert_int_eq(dmaio_file_open_flags_wait(loop, tu_path("b"),
						    O_WRONLY, 0, &wo), 0);
	dmaio_writer_opts_init(&o);
	o.start = 100;
	ck_assert_int_eq(dmaio_writer_new(wo, &o, &w), -EBADF);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "write-only"));
	o.start = 0;
	o.flags = DMAIO_WRITER_APPEND;
	/* FSIZE is not aligned either */
	ck_assert_int_eq(dmaio_writer_new(wo, &o, &w), -EBADF);
	o.flags = 0;
	o.start = 4096; /* aligned: nothing to read */
	ck_assert_int_eq(dmaio_writer_new(wo, &o, &w), 0);
	ck_assert_int_eq(dmaio_writer_close_wait(w), 0);
	ck_assert_uint_eq(dmaio_writer_synced_position(NULL), 0);
	dmaio_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("writer_resume");
	TCase *tc = tu_tcase(s, "writer_resume");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD_PROFILES(tc, writer_append_to_odd_size);
	TU_ADD_PROFILES(tc, writer_start_inside_a_block);
	TU_ADD_PROFILES(tc, writer_start_and_close_at_once);
	TU_ADD_PROFILES(tc, writer_synced_position_only_on_success);
	TU_ADD_PROFILES(tc, writer_crash_leaves_zeros_then_resumes);
	TU_ADD(tc, writer_start_bad_input);
	return tu_run(s);
}
