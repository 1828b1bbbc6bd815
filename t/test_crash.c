/* SPDX-License-Identifier: MIT */
/*
 * Crash consistency: a child writes records through the stream writer
 * (synced) and blocks through write_at + fdatasync, telling the parent
 * over a pipe what each acknowledgement covered; the parent kills it with
 * SIGKILL at a random moment. Afterwards every acknowledged byte must be
 * in the files with the right content. 60 trials.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRIALS 60
#define REC_MAGIC 0x52454331u /* "REC1" */

struct ack {
	uint32_t kind;     /* 1: stream offset, 2: block index */
	uint32_t pad;
	uint64_t value;
};

struct rec_head {
	uint32_t magic;
	uint32_t len;      /* payload bytes */
	uint64_t seq;
};

static unsigned char payload_byte(uint64_t seq, uint32_t i)
{
	return (unsigned char)(seq * 31 + i * 7 + 3);
}

static void report(int fd, uint32_t kind, uint64_t v)
{
	struct ack a = { kind, 0, v };

	/* smaller than PIPE_BUF: written whole or not at all */
	if (write(fd, &a, sizeof(a)) != sizeof(a))
		_exit(3);
}

static void child(const char *log, const char *blocks, int out, unsigned seed)
{
	struct dmaio_loop *loop;
	struct dmaio_file *lf, *bf;
	struct dmaio_writer *w;
	struct dmaio_buf *b;
	unsigned char rec[70000];
	uint64_t seq = 0, pos = 0, blk = 0;

	srand(seed);
	if (dmaio_loop_new(&loop, NULL) ||
	    dmaio_file_create_wait(loop, log, &lf) ||
	    dmaio_file_create_wait(loop, blocks, &bf) ||
	    dmaio_writer_new(lf, NULL, &w))
		_exit(2);
	b = dmaio_file_alloc_buf(bf, 4096);
	for (;;) {
		struct rec_head h;
		uint32_t i;

		/* a few records, then make them durable and say so */
		int k, nrec = 1 + rand() % 4;

		for (k = 0; k < nrec; k++) {
			h.magic = REC_MAGIC;
			h.len = (uint32_t)(rand() % 60000);
			h.seq = seq;
			memcpy(rec, &h, sizeof(h));
			for (i = 0; i < h.len; i++)
				rec[sizeof(h) + i] = payload_byte(seq, i);
			if (dmaio_writer_write_wait(w, rec, sizeof(h) + h.len) !=
			    (int64_t)(sizeof(h) + h.len))
				_exit(4);
			pos += sizeof(h) + h.len;
			seq++;
		}
		if (dmaio_writer_sync_wait(w))
			_exit(5);
		report(out, 1, pos);

		tu_fill(dmaio_buf_data(b), 4096, blk * 4096, 71);
		if (dmaio_file_write_at_wait(bf, b, blk * 4096) != 4096 ||
		    dmaio_file_fdatasync_wait(bf))
			_exit(6);
		report(out, 2, blk);
		blk++;
	}
}

static void verify_log(const char *path, uint64_t acked)
{
	int fd = open(path, O_RDONLY);
	unsigned char *buf;
	uint64_t off = 0, seq = 0;

	if (fd < 0 && errno == ENOENT && !acked)
		return; /* killed before it made the file */
	ck_assert_int_ge(fd, 0);
	buf = malloc(acked + 1);
	ck_assert_int_eq(pread(fd, buf, acked, 0), (ssize_t)acked);
	while (off < acked) {
		struct rec_head h;
		uint32_t i;

		memcpy(&h, buf + off, sizeof(h));
		ck_assert_msg(h.magic == REC_MAGIC && h.seq == seq,
			      "record %llu at %llu: bad header",
			      (unsigned long long)seq, (unsigned long long)off);
		ck_assert_uint_le(off + sizeof(h) + h.len, acked);
		for (i = 0; i < h.len; i++)
			if (buf[off + sizeof(h) + i] != payload_byte(seq, i))
				break;
		ck_assert_msg(i == h.len, "record %llu: bad byte %u",
			      (unsigned long long)seq, i);
		off += sizeof(h) + h.len;
		seq++;
	}
	ck_assert_uint_eq(off, acked);
	free(buf);
	close(fd);
}

static void verify_blocks(const char *path, uint64_t nblocks)
{
	int fd = open(path, O_RDONLY);
	char buf[4096];
	uint64_t k;

	if (fd < 0 && errno == ENOENT && !nblocks)
		return;
	ck_assert_int_ge(fd, 0);
	for (k = 0; k < nblocks; k++) {
		ck_assert_int_eq(pread(fd, buf, 4096, (off_t)(k * 4096)), 4096);
		ck_assert_int_eq(tu_check(buf, 4096, k * 4096, 71), -1);
	}
	close(fd);
}

START_TEST(crash_keeps_acknowledged_bytes)
{
	unsigned trial, with_acks = 0;

	srand(12345);
	for (trial = 0; trial < TRIALS; trial++) {
		char log[4200], blocks[4200];
		uint64_t log_acked = 0, blocks_acked = 0;
		struct timespec ts;
		struct ack a;
		int p[2], status;
		pid_t pid;

		snprintf(log, sizeof(log), "%s/log-%u", tu_dir, trial);
		snprintf(blocks, sizeof(blocks), "%s/blocks-%u", tu_dir, trial);
		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			child(log, blocks, p[1], trial);
		}
		close(p[1]);
		/* mostly in mid-stream; one in five at any moment at all */
		if (trial % 5 && read(p[0], &a, sizeof(a)) == sizeof(a)) {
			if (a.kind == 1)
				log_acked = a.value;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(rand() % 40) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "the child died on its own: status %d", status);
		while (read(p[0], &a, sizeof(a)) == sizeof(a)) {
			if (a.kind == 1)
				log_acked = a.value;
			else
				blocks_acked = a.value + 1;
		}
		close(p[0]);
		with_acks += log_acked > 0;
		verify_log(log, log_acked);
		verify_blocks(blocks, blocks_acked);
		unlink(log);
		unlink(blocks);
	}
	/* the kills must have landed mid-stream, not all before the start */
	ck_assert_uint_ge(with_acks, TRIALS / 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tu_tcase(s, "crash");

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD(tc, crash_keeps_acknowledged_bytes);
	return tu_run(s);
}
