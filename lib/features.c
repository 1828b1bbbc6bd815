/* SPDX-License-Identifier: MIT */
/*
 * Run-time probes of what the kernel gives us, in one file, so the story
 * of what an old kernel lacks reads in one place:
 *
 *  - DMAIO_FEAT_USER_REAP: the mmapped completion ring (all kernels with
 *    magic 0xa10a10a1 and no incompatible features; not under valgrind),
 *    once a self-test shows that the kernel gives back the request slots
 *    of completions reaped there (3.10-3.15 may not). Fallback:
 *    io_getevents.
 *  - DMAIO_FEAT_AIO_FDSYNC: IOCB_CMD_FDSYNC, 4.18+. Older kernels refuse
 *    it at io_submit with EINVAL. Fallback: fdatasync on a helper thread.
 *  - DMAIO_FEAT_STATX_DIOALIGN: statx (4.11+, glibc wrapper only from
 *    2.28, so through syscall()); STATX_DIOALIGN answers from 6.1 on, where
 *    the file system knows. Fallback: XFS_IOC_DIOINFO, the block device's
 *    logical block size, 512.
 *  - DMAIO_FEAT_HUGE_BUFFERS: transparent huge pages (2.6.38+, RHEL 7
 *    has them) not set to "never". Fallback: buffers on 4 KiB pages.
 *  - DMAIO_FEAT_COPY_RANGE: copy_file_range, 4.5+ (ENOSYS before; glibc's
 *    wrapper is 2.27+, so through syscall()). A kernel that has it may
 *    still refuse O_DIRECT fds: copy_range then falls back per call.
 *    Fallback: aligned reads and writes through the loop.
 *  - DMAIO_FEAT_TMPFILE: O_TMPFILE, 3.11+. Older kernels take it for
 *    O_DIRECTORY and say EISDIR. A file system without it says
 *    EOPNOTSUPP: create_tmp then falls back per call. Fallback: a hidden
 *    unique name in the directory.
 *
 * The kernel's answers (not the THP setting, which an administrator may
 * change) are kept for the process; DMAIO_DISABLE and opts.disable act
 * per loop, and a disabled feature is not probed.
 */
#include "aio.h"
#include "disable_words.h"
#include "probe.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * What a probe learnt of the kernel, kept for the process (it cannot
 * change): later loops skip the probe. UNKNOWN also stands for "no
 * answer this time" (an error that says nothing of the kernel): the
 * feature stays off for that loop and the next one asks again. Two
 * threads probing at once find the same answer, so a plain atomic store
 * is enough.
 */
enum { UNKNOWN, YES, NO };

static int kernel_user_reap, kernel_aio_fdsync, kernel_statx;
static int kernel_copy_range, kernel_tmpfile;

struct probe {
	struct dmaio_loop *loop;
	/* the probe left the context unfit (see dmaio__aio_reset) */
	int ctx_lost;
};

static int known(struct probe *p, int *slot, int (*fn)(struct probe *p))
{
	int v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (v == UNKNOWN) {
		v = fn(p);
		if (v != UNKNOWN)
			__atomic_store_n(slot, v, __ATOMIC_RELEASE);
	}
	return v == YES;
}

static int probe_statx(struct probe *p)
{
	unsigned char buf[256];
	long r = dmaio__statx(AT_FDCWD, "/", 0, 0, buf);

	(void)p;
	if (r == 0)
		return YES;
	return r == -ENOSYS ? NO : UNKNOWN;
}

/*
 * Submit one IOCB_CMD_FDSYNC on a memfd. Kernels before 4.18 refuse the
 * opcode at io_submit with EINVAL; memfd itself is 3.17+, so a kernel
 * without memfd has no AIO fdsync either. An fdsync that does not
 * complete in time is still the kernel's: the context goes, io_destroy
 * waiting for it, rather than let its event (no operation behind it)
 * reach the loop later.
 */
static int probe_aio_fdsync(struct probe *p)
{
	struct dmaio_loop *loop = p->loop;
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	struct timespec ts = { 5, 0 };
	int fd, r, v;

	fd = dmaio__memfd_create("dmaio-probe");
	if (fd < 0)
		return fd == -ENOSYS ? NO : UNKNOWN;
	io_prep_fdsync(&cb, fd);
	r = io_submit(loop->aio.ctx, 1, cbs);
	if (r == 1) {
		if (io_getevents(loop->aio.ctx, 1, 1, &ev, &ts) == 1) {
			v = (long)ev.res == 0 ? YES : NO;
		} else {
			v = UNKNOWN;
			p->ctx_lost = 1;
		}
	} else {
		v = r == -EINVAL ? NO : UNKNOWN;
	}
	close(fd);
	return v;
}

/* Bad fds: a kernel with the call says EBADF, one without ENOSYS. */
static int probe_copy_range(struct probe *p)
{
	long r = dmaio__copy_file_range(-1, NULL, -1, NULL, 1);

	(void)p;
	if (r == -EBADF)
		return YES;
	return r == -ENOSYS ? NO : UNKNOWN;
}

/*
 * An anonymous file in a tmpfs (it has had ->tmpfile since 3.11) or
 * /tmp, closed at once: nothing is left behind. EOPNOTSUPP is the file
 * system's answer, the kernel has the flag.
 */
static int probe_tmpfile(struct probe *p)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp" };
	size_t i;

	(void)p;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

		if (fd >= 0) {
			close(fd);
			return YES;
		}
		if (errno == EISDIR || errno == EINVAL)
			return NO;
		if (errno == EOPNOTSUPP)
			return YES;
	}
	return UNKNOWN;
}

/*
 * DMAIO_DISABLE=user_reap,aio_fdsync,... (the words of features.def, or
 * "all"): what opts.disable does, for an operator who cannot rebuild the
 * program, say on a kernel whose user-space reaping is known to be broken.
 */
static uint64_t env_disable(void)
{
	/* an unknown word changes nothing: dmaio-info names it */
	return dmaio__disable_words(getenv("DMAIO_DISABLE"), NULL, NULL);
}

/*
 * 3.10-era kernels could leak request slots when completions were reaped
 * from user space ("aio: fix reqs_available handling"), until io_submit
 * said EAGAIN forever. Push more requests than the ring holds through the
 * user-space path: if submissions stall although everything was reaped,
 * this kernel has the bug, and the context has lost its slots for good.
 * /dev/zero reads complete inside io_submit.
 */
static int user_reap_self_test(struct probe *p)
{
	struct dmaio_loop *loop = p->loop;
	unsigned total, done = 0, stalls = 0;
	struct iocb cb, *cbs[1] = { &cb };
	char byte;
	int fd, v = YES;

	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UNKNOWN;
	total = 2 * dmaio__ring_size(loop) + 8;
	while (done < total) {
		int r;

		io_prep_pread(&cb, fd, &byte, 1, 0);
		r = io_submit(loop->aio.ctx, 1, cbs);
		if (r == 1) {
			done++;
			stalls = 0;
		} else if (r != -EAGAIN || ++stalls > 3) {
			v = r == -EAGAIN ? NO : UNKNOWN; /* EINVAL etc. */
			break;
		}
		/* reaped from user space, as the loop will */
		dmaio__ring_drop(loop);
	}
	close(fd);
	if (v != YES && done)
		p->ctx_lost = 1; /* slots it took may never come back */
	return v;
}

static int probe_user_reap(struct probe *p)
{
	if (dmaio__ring_attach(p->loop))
		return UNKNOWN; /* this context's ring, not the kernel's */
	return user_reap_self_test(p);
}

/*
 * Transparent huge pages: "always" or "madvise" in sysfs (a kernel built
 * without THP has no file). "never" would leave the slabs on small pages:
 * all their cost (memory rounded to 2 MiB) and none of the gain.
 */
static int probe_thp(void)
{
	char buf[128];

	if (dmaio__read_small("/sys/kernel/mm/transparent_hugepage/enabled",
			      buf, sizeof(buf)) <= 0)
		return 0;
	return strstr(buf, "[never]") == NULL;
}

/* A probe that left the context unfit: the loop gets a new one. */
static int settle(struct probe *p)
{
	if (!p->ctx_lost)
		return 0;
	p->ctx_lost = 0;
	return dmaio__aio_reset(p->loop);
}

/*
 * The probes of features.def: 1 when the loop may use the feature. The
 * kernel's verdict is kept (known); the ring itself is attached once
 * every probe has run, to the context they left.
 */
static int have_user_reap(struct probe *p)
{
	return !dmaio__running_on_valgrind() &&
	       known(p, &kernel_user_reap, probe_user_reap);
}

static int have_aio_fdsync(struct probe *p)
{
	return known(p, &kernel_aio_fdsync, probe_aio_fdsync);
}

static int have_statx_dioalign(struct probe *p)
{
	return known(p, &kernel_statx, probe_statx);
}

static int have_copy_range(struct probe *p)
{
	return known(p, &kernel_copy_range, probe_copy_range);
}

static int have_tmpfile(struct probe *p)
{
	return known(p, &kernel_tmpfile, probe_tmpfile);
}

static int have_huge_buffers(struct probe *p)
{
	(void)p;
	return probe_thp();
}

static const struct feature {
	uint64_t bit;
	int (*probe)(struct probe *p);
} features[] = {
#define DMAIO_FEATURE(bit, word, name, profile, desc, probe) { bit, probe },
#include "features.def"
};

int dmaio__probe_features(struct dmaio_loop *loop, uint64_t disable)
{
	struct probe p = { loop, 0 };
	uint64_t f = 0;
	size_t i;
	int ret;

	disable |= env_disable();
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (!(disable & features[i].bit) && features[i].probe(&p))
			f |= features[i].bit;
		ret = settle(&p);
		if (ret)
			return ret;
	}
	/* the ring: this context's, the verdict on the kernel's reaping */
	if ((f & DMAIO_FEAT_USER_REAP) && dmaio__ring_attach(loop))
		f &= ~DMAIO_FEAT_USER_REAP;
	if (!(f & DMAIO_FEAT_USER_REAP))
		loop->aio.ring = NULL;
	loop->features = f;
	return 0;
}
