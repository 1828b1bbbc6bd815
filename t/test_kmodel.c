/* SPDX-License-Identifier: MIT */
/*
 * The old-kernel model (kmodel-run and kmodel_aio.so) does what the
 * kernels it stands for did. Every check runs in a child started through
 * kmodel-run, once per kernel: 3.10 (RHEL 7) and 3.17 (memfd and
 * getrandom, no AIO fdsync, no statx). When the suite itself runs under
 * a model (make check DMAIO_KERNEL=...), only that kernel is checked: a
 * filter cannot be lifted, so a newer one cannot be stacked on it.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KV(maj, min) ((maj) * 256 + (min))

static int kv; /* the kernel a child checks */

/* A child's verdict: returns 1 after printing why, or 0. */
#define EXPECT(cond, ...)                                      \
	do {                                                   \
		if (!(cond)) {                                 \
			printf(__VA_ARGS__);                   \
			printf(" (line %d)\n", __LINE__);      \
			return 1;                              \
		}                                              \
	} while (0)

/* ENOSYS before the release that added it; anything else from then on. */
#define CALL_SINCE(maj, min, name, ...)                                      \
	do {                                                                 \
		long r_ = syscall(__VA_ARGS__);                              \
		int e_ = r_ < 0 ? errno : 0;                                 \
		if (kv < KV(maj, min))                                       \
			EXPECT(r_ == -1 && e_ == ENOSYS,                     \
			       "%s: %ld (%s), not ENOSYS", name, r_,         \
			       strerror(e_));                                \
		else                                                         \
			EXPECT(e_ != ENOSYS, "%s: ENOSYS on %d.%d", name,    \
			       kv >> 8, kv & 255);                           \
	} while (0)

#if defined(__x86_64__)
#define NR_STATX 332
#define NR_GETRANDOM 318
#define NR_MEMFD 319
#define NR_COPY_FILE_RANGE 326
#define NR_IO_PGETEVENTS 333
#define NR_IO_URING_SETUP 425
#define NR_CLONE3 435
#elif defined(__aarch64__)
#define NR_STATX 291
#define NR_GETRANDOM 278
#define NR_MEMFD 279
#define NR_COPY_FILE_RANGE 285
#define NR_IO_PGETEVENTS 292
#define NR_IO_URING_SETUP 425
#define NR_CLONE3 435
#endif

static int new_calls(void)
{
	char buf[256];

	CALL_SINCE(4, 11, "statx", NR_STATX, AT_FDCWD, "/", 0, 0, buf);
	CALL_SINCE(3, 17, "getrandom", NR_GETRANDOM, buf, 4, 0);
	CALL_SINCE(3, 17, "memfd_create", NR_MEMFD, "kmodel", 0);
	CALL_SINCE(4, 5, "copy_file_range", NR_COPY_FILE_RANGE, -1, NULL, -1,
		   NULL, 1, 0);
	CALL_SINCE(4, 18, "io_pgetevents", NR_IO_PGETEVENTS, 0, 0, 0, NULL,
		   NULL, NULL);
	CALL_SINCE(5, 1, "io_uring_setup", NR_IO_URING_SETUP, 0, NULL);
	CALL_SINCE(5, 3, "clone3", NR_CLONE3, NULL, 0);
	return 0;
}

/* 3.10's own calls still work, through libc and syscall() alike */
static int old_calls(void)
{
	io_context_t ctx = 0;
	char path[] = "kmodel.XXXXXX";
	int fd = mkstemp(path);

	EXPECT(fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	EXPECT(fallocate(fd, 0, 0, 4096) == 0, "fallocate: %s",
	       strerror(errno));
	EXPECT(syscall(SYS_fallocate, fd, 0, 0, 8192) == 0,
	       "syscall(fallocate): %s", strerror(errno));
	EXPECT(pwrite(fd, "x", 1, 0) == 1, "pwrite: %s", strerror(errno));
	close(fd);
	EXPECT(io_setup(8, &ctx) == 0, "io_setup");
	EXPECT(io_destroy(ctx) == 0, "io_destroy");
	return 0;
}

/* Refusals the kernel made before it knew a flag; p[] is a pipe, so a
 * call that gets past the filter fails with the kernel's ESPIPE. */
static int flags(void)
{
	int p[2], fd;
	long pg = sysconf(_SC_PAGESIZE);
	void *m, *page;
	struct flock fl;
	char path[] = "kmodel.XXXXXX";

	EXPECT(pipe(p) == 0, "pipe");
	errno = 0;
	EXPECT(fallocate(p[1], 0x10, 0, 4096) == -1, "zero range on a pipe");
	EXPECT(errno == (kv < KV(3, 15) ? EOPNOTSUPP : ESPIPE),
	       "fallocate(ZERO_RANGE): %s", strerror(errno));
	EXPECT(fallocate(p[1], 0x03, 0, 4096) == -1 && errno == ESPIPE,
	       "fallocate(PUNCH_HOLE | KEEP_SIZE): %s", strerror(errno));
	EXPECT(fallocate(p[1], 0x20, 0, 4096) == -1, "insert range on a pipe");
	EXPECT(errno == (kv < KV(4, 1) ? EOPNOTSUPP : ESPIPE),
	       "fallocate(INSERT_RANGE): %s", strerror(errno));

	page = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(page != MAP_FAILED, "mmap: %s", strerror(errno));
	/* length 0: the kernel checks the advice, then does nothing */
	EXPECT(madvise(page, 0, MADV_DONTFORK) == 0, "MADV_DONTFORK: %s",
	       strerror(errno));
	errno = 0;
	if (kv < KV(4, 5))
		EXPECT(madvise(page, 0, 8) == -1 && errno == EINVAL,
		       "MADV_FREE: %s", strerror(errno));
	else
		EXPECT(madvise(page, 0, 8) == 0, "MADV_FREE: %s",
		       strerror(errno));
	EXPECT(madvise(page, 0, 21) == -1 && errno == EINVAL,
	       "MADV_PAGEOUT (5.4): %s", strerror(errno));

	m = mmap(NULL, pg, PROT_READ, 0x03 | MAP_ANONYMOUS, -1, 0);
	EXPECT(m == MAP_FAILED && errno == EINVAL,
	       "MAP_SHARED_VALIDATE (4.15): %s", strerror(errno));
	m = mmap((char *)page + 64 * pg, pg, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | 0x100000, -1, 0);
	EXPECT(m == MAP_FAILED && errno == EINVAL,
	       "MAP_FIXED_NOREPLACE (4.17): %s", strerror(errno));
	munmap(page, pg);

	fd = open(".", 020000000 | O_DIRECTORY | O_RDWR, 0600);
	if (kv < KV(3, 11))
		EXPECT(fd == -1 && errno == EISDIR, "O_TMPFILE: %s",
		       strerror(errno));
	else
		EXPECT(fd >= 0 || errno != EISDIR, "O_TMPFILE: EISDIR");
	if (fd >= 0)
		close(fd);

	fd = mkstemp(path);
	EXPECT(fd >= 0, "mkstemp");
	unlink(path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	if (kv < KV(3, 15))
		EXPECT(fcntl(fd, 36, &fl) == -1 && errno == EINVAL,
		       "F_OFD_GETLK: %s", strerror(errno));
	else
		EXPECT(fcntl(fd, 36, &fl) == 0, "F_OFD_GETLK: %s",
		       strerror(errno));
	EXPECT(fcntl(fd, F_GETFL) >= 0, "F_GETFL: %s", strerror(errno));
	close(fd);
	close(p[0]);
	close(p[1]);
	return 0;
}

/* IOCB_CMD_FDSYNC (4.18) and aio_rw_flags (4.13): EINVAL at io_submit */
static int aio_refusals(void)
{
	io_context_t ctx = 0;
	struct iocb a, b, *cbs[2] = { &a, &b };
	struct io_event ev[2];
	char byte, path[] = "kmodel.XXXXXX";
	int fd = mkstemp(path), zero = open("/dev/zero", O_RDONLY);
	uint32_t nowait = 8; /* RWF_NOWAIT */

	EXPECT(fd >= 0 && zero >= 0, "open");
	unlink(path);
	EXPECT(io_setup(8, &ctx) == 0, "io_setup");
	io_prep_fdsync(&a, fd);
	EXPECT(io_submit(ctx, 1, cbs) == -EINVAL, "FDSYNC accepted");
	io_prep_fsync(&a, fd);
	EXPECT(io_submit(ctx, 1, cbs) == -EINVAL, "FSYNC accepted");
	/* after an iocb it takes: a short count */
	io_prep_pread(&a, zero, &byte, 1, 0);
	io_prep_fdsync(&b, fd);
	EXPECT(io_submit(ctx, 2, cbs) == 1, "read + FDSYNC: not 1");
	EXPECT(io_getevents(ctx, 1, 2, ev, NULL) == 1, "io_getevents");
	io_prep_pread(&a, zero, &byte, 1, 0);
	memcpy((char *)&a + 12, &nowait, sizeof(nowait));
	EXPECT(io_submit(ctx, 1, cbs) == -EINVAL, "aio_rw_flags accepted");
	io_destroy(ctx);
	close(fd);
	close(zero);
	return 0;
}

/* Moves the ring's head to its tail, as user-space reaping does. */
static void ring_drop(io_context_t ctx)
{
	unsigned *ring = (unsigned *)ctx;

	__atomic_store_n(&ring[2], __atomic_load_n(&ring[3], __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

/* Submits one /dev/zero read at a time, n times; returns how many went. */
static int submit_reads(io_context_t ctx, int fd, int n, int user_reap)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	char byte;
	int i;

	for (i = 0; i < n; i++) {
		io_prep_pread(&cb, fd, &byte, 1, 0);
		if (io_submit(ctx, 1, cbs) != 1)
			break;
		if (user_reap)
			ring_drop(ctx);
		else if (io_getevents(ctx, 1, 1, &ev, NULL) != 1)
			break;
	}
	return i;
}

/*
 * Before 3.16 a context has (nr + 2 rounded up to a page of events) - 1
 * slots, 254 for io_setup(128) (this kernel gives it more), and
 * user-space reaping loses them.
 */
#define SLOTS_310 254
#define BATCH 300

static int slots(void)
{
	io_context_t ctx = 0;
	static struct iocb cb[BATCH], *cbs[BATCH];
	static struct io_event ev[BATCH];
	char byte;
	int i, n, fd = open("/dev/zero", O_RDONLY);
	int old = kv < KV(3, 16);

	EXPECT(fd >= 0, "open /dev/zero");
	EXPECT(io_setup(128, &ctx) == 0, "io_setup");
	n = submit_reads(ctx, fd, 1000, 1);
	if (old)
		EXPECT(n == SLOTS_310, "user-space reaping: %d submitted, "
		       "not %d", n, SLOTS_310);
	else
		EXPECT(n == 1000, "user-space reaping: %d of 1000 submitted",
		       n);
	if (old) {
		struct iocb *one[1] = { &cb[0] };

		io_prep_pread(&cb[0], fd, &byte, 1, 0);
		EXPECT(io_submit(ctx, 1, one) == -EAGAIN, "no EAGAIN");
	}
	io_destroy(ctx);

	/* a new context starts full; io_getevents gives slots back */
	ctx = 0;
	EXPECT(io_setup(128, &ctx) == 0, "io_setup");
	n = submit_reads(ctx, fd, 1000, 0);
	EXPECT(n == 1000, "io_getevents reaping: %d of 1000 submitted", n);
	/* a batch larger than the slots: a short count */
	for (i = 0; i < BATCH; i++) {
		io_prep_pread(&cb[i], fd, &byte, 1, 0);
		cbs[i] = &cb[i];
	}
	n = io_submit(ctx, BATCH, cbs);
	if (old)
		EXPECT(n == SLOTS_310, "batch of %d: %d", BATCH, n);
	else
		EXPECT(n > SLOTS_310, "batch of %d: %d", BATCH, n);
	EXPECT(io_getevents(ctx, n, BATCH, ev, NULL) == n, "io_getevents");
	io_destroy(ctx);
	close(fd);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} checks[] = {
	{ "newer system calls: ENOSYS", new_calls },
	{ "older system calls work", old_calls },
	{ "unknown modes, advice, flags, commands refused", flags },
	{ "AIO fdsync and rw_flags refused", aio_refusals },
	{ "AIO request slots", slots },
};
#define NCHECKS (int)(sizeof(checks) / sizeof(checks[0]))

static const char *models[] = { "3.10", "3.17" };
static int nmodels = 2;
static char labels[2 * NCHECKS][96];
static const char *label_ptrs[2 * NCHECKS];

START_TEST(kmodel_check)
{
	char out[1024];
	int st = tu_run_child(models[_i / NCHECKS], checks[_i % NCHECKS].name,
			      out, sizeof(out));

	ck_assert_msg(st == 0, "%s: exit %d: %s", label_ptrs[_i], st, out);
}
END_TEST

int main(int argc, char **argv)
{
	const char *child = tu_child(argc, argv);
	const char *under = getenv("DMAIO_KMODEL");
	Suite *s;
	TCase *tc;
	int i;

	if (child) {
		unsigned maj, min;

		if (!under || sscanf(under, "%u.%u", &maj, &min) != 2) {
			printf("not under kmodel-run\n");
			return 1;
		}
		kv = KV((int)maj, (int)min);
		for (i = 0; i < NCHECKS; i++)
			if (!strcmp(child, checks[i].name))
				return checks[i].fn();
		printf("no check '%s'\n", child);
		return 1;
	}
	if (under && *under) {
		models[0] = under;
		nmodels = 1;
	}
	for (i = 0; i < nmodels * NCHECKS; i++) {
		snprintf(labels[i], sizeof(labels[i]), "%s, %s",
			 checks[i % NCHECKS].name, models[i / NCHECKS]);
		label_ptrs[i] = labels[i];
	}
	s = suite_create("kmodel");
	tc = tu_tcase(s, "kmodel");
	tcase_add_loop_test(tc, kmodel_check, 0, nmodels * NCHECKS);
	tu_name("kmodel", 0, nmodels * NCHECKS, label_ptrs);
	if (nmodels == 1)
		tu_skip("kmodel [the other kernels]", "the suite runs under a "
			"kernel model: only that one is checked");
	return tu_run(s);
}
