/* SPDX-License-Identifier: MIT */
/*
 * O_DIRECT alignment discovery, best source first:
 *  1. statx STATX_DIOALIGN (6.1+, where the file system reports it);
 *  2. XFS_IOC_DIOINFO (XFS on any kernel);
 *  3. the logical block size of the device holding the file, found
 *     through /sys/dev/block/MAJ:MIN (a partition's queue/ is its
 *     parent's; device-mapper and NVMe devices have their own);
 *  4. 512.
 * Never below 512; always a power of two. The largest request comes from
 * the same device's queue/max_sectors_kb.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

/* XFS's ioctl, defined here so that no xfsprogs headers are needed. */
struct dmaio__dioattr {
	uint32_t d_mem;
	uint32_t d_miniosz;
	uint32_t d_maxiosz;
};
#define DMAIO_XFS_IOC_DIOINFO _IOR('X', 30, struct dmaio__dioattr)

/* The kernel's struct statx (stable ABI); old headers lack it. */
struct dmaio__statx {
	uint32_t stx_mask;
	uint32_t stx_blksize;
	uint64_t stx_attributes;
	uint32_t stx_nlink;
	uint32_t stx_uid;
	uint32_t stx_gid;
	uint16_t stx_mode;
	uint16_t spare0;
	uint64_t stx_ino;
	uint64_t stx_size;
	uint64_t stx_blocks;
	uint64_t stx_attributes_mask;
	unsigned char times[4][16];
	uint32_t stx_rdev_major;
	uint32_t stx_rdev_minor;
	uint32_t stx_dev_major;
	uint32_t stx_dev_minor;
	uint64_t stx_mnt_id;
	uint32_t stx_dio_mem_align;
	uint32_t stx_dio_offset_align;
	uint64_t spare3[12];
};

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned long read_sys_ulong(const char *dir, const char *name)
{
	char path[PATH_MAX];
	unsigned long long v;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return 0;
	return dmaio__read_number(path, &v) ? 0 : (unsigned long)v;
}

/*
 * Finds the queue/ directory of the block device dev: the device's own,
 * or, for a partition, its parent disk's. The /sys/dev/block link is
 * left to the kernel's path walk, which follows it before "..": resolving
 * it with realpath() took a dozen lstat and readlink calls per open.
 */
static int queue_dir(dev_t dev, char *out, size_t outlen)
{
	if (major(dev) == 0)
		return -ENODEV; /* tmpfs, overlay, NFS...: no block device */
	snprintf(out, outlen, "/sys/dev/block/%u:%u/queue", major(dev),
		 minor(dev));
	if (access(out, F_OK) == 0)
		return 0;
	/* a partition: the queue is its disk's, one level up */
	snprintf(out, outlen, "/sys/dev/block/%u:%u/../queue", major(dev),
		 minor(dev));
	if (access(out, F_OK) == 0)
		return 0;
	out[0] = '\0';
	return -ENOENT;
}

/*
 * The most iocbs to keep on the device: its queue's nr_requests, past
 * which io_submit sleeps for a request. Not for dm or md devices: they
 * pass bios to their members, whose queues are the ones that fill.
 */
static unsigned device_cap(const char *qdir)
{
	char path[PATH_MAX];
	unsigned long v;
	size_t n = strlen(qdir) - strlen("/queue");

	if (snprintf(path, sizeof(path), "%.*s/dm", (int)n, qdir) <
		    (int)sizeof(path) && access(path, F_OK) == 0)
		return 0;
	if (snprintf(path, sizeof(path), "%.*s/md", (int)n, qdir) <
		    (int)sizeof(path) && access(path, F_OK) == 0)
		return 0;
	v = read_sys_ulong(qdir, "nr_requests");
	return v > 65536 ? 65536 : (unsigned)v;
}

/*
 * The queue/ directory and limits of the block device this helper
 * thread looked up last, kept for a second: opening a thousand files of
 * one file system walks sysfs once, not a thousand times (the lookup,
 * about 4 us, was a third of an open). A device replaced under the same
 * number, or a max_sectors_kb or nr_requests changed, is seen by opens a
 * second later. Per thread, so no lock; a new loop's helpers start empty.
 */
#define QUEUE_KEEP_NS 1000000000ull

static __thread struct {
	dev_t dev;
	uint64_t until;
	unsigned long kb;
	unsigned cap;
	char qdir[64];
} last_queue;

/* max_sectors_kb (0: unknown); *cap: nr_requests (0: no cap) */
static unsigned long queue_limits(dev_t dev, char *qdir, size_t len,
				  unsigned *cap)
{
	uint64_t now = dmaio__now_ns();
	unsigned long kb;

	if (last_queue.until > now && last_queue.dev == dev &&
	    len >= sizeof(last_queue.qdir)) {
		memcpy(qdir, last_queue.qdir, sizeof(last_queue.qdir));
		*cap = last_queue.cap;
		return last_queue.kb;
	}
	queue_dir(dev, qdir, len);
	kb = qdir[0] ? read_sys_ulong(qdir, "max_sectors_kb") : 0;
	*cap = qdir[0] ? device_cap(qdir) : 0;
	if (strlen(qdir) < sizeof(last_queue.qdir)) {
		strcpy(last_queue.qdir, qdir);
		last_queue.dev = dev;
		last_queue.kb = kb;
		last_queue.cap = *cap;
		last_queue.until = now + QUEUE_KEEP_NS;
	}
	return kb;
}

static int from_statx(struct dmaio_file *f)
{
	struct dmaio__statx stx;

	memset(&stx, 0, sizeof(stx));
	if (dmaio__statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx))
		return 0;
	if (!(stx.stx_mask & STATX_DIOALIGN) || !stx.stx_dio_offset_align)
		return 0;
	f->align = stx.stx_dio_offset_align;
	f->mem_align = stx.stx_dio_mem_align;
	f->align_source = "statx";
	return 1;
}

static int from_xfs(struct dmaio_file *f)
{
	struct dmaio__dioattr da;

	if (ioctl(f->fd, DMAIO_XFS_IOC_DIOINFO, &da))
		return 0;
	f->align = da.d_miniosz;
	f->mem_align = da.d_mem;
	f->align_source = "xfs-dioinfo";
	return 1;
}

static int from_block_device(struct dmaio_file *f, const char *qdir)
{
	unsigned long lbs;
	int bsz;

	if (qdir[0]) {
		lbs = read_sys_ulong(qdir, "logical_block_size");
		if (lbs) {
			f->align = lbs;
			f->align_source = "block-device";
			return 1;
		}
	}
	/* the file is a block device itself */
	if (ioctl(f->fd, BLKSSZGET, &bsz) == 0 && bsz > 0) {
		f->align = (size_t)bsz;
		f->align_source = "block-device";
		return 1;
	}
	return 0;
}

void dmaio__file_discover(struct dmaio_file *f, uint64_t features,
			  const struct stat *st)
{
	char qdir[64] = "";
	const char *env;
	unsigned long kb;
	unsigned cap;

	f->align = f->mem_align = DMAIO_MIN_ALIGN;
	f->max_io = DMAIO_DEFAULT_MAX_IO;
	f->align_source = "default";
	f->queue_dev = S_ISBLK(st->st_mode) ? st->st_rdev : st->st_dev;
	kb = queue_limits(f->queue_dev, qdir, sizeof(qdir), &cap);
	/*
	 * DMAIO_QUEUE_CAP, read at each open, overrides it (0: no cap). A
	 * value that is not a whole number up to 65536 is ignored: a typo
	 * must not take the loop's protection away.
	 */
	env = getenv("DMAIO_QUEUE_CAP");
	if (env && *env) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(env, &end, 10);
		if (!errno && !*end && *env != '-' && v <= 65536)
			cap = (unsigned)v;
	}
	/* buffered I/O runs on helpers: no iocb to count */
	f->queue_cap = f->direct ? cap : 0;
	if (kb)
		f->max_io = kb * 1024;

	if (!f->direct) {
		f->align_source = "buffered";
	} else if (!((features & DMAIO_FEAT_STATX_DIOALIGN) && from_statx(f)) &&
		   !from_xfs(f) && !from_block_device(f, qdir)) {
		/* 512 it is */
	}
	if (!is_pow2(f->align) || f->align < DMAIO_MIN_ALIGN)
		f->align = DMAIO_MIN_ALIGN;
	if (!is_pow2(f->mem_align) || f->mem_align < DMAIO_MIN_ALIGN)
		f->mem_align = DMAIO_MIN_ALIGN;
	if (f->max_io < f->align)
		f->max_io = f->align;
	f->max_io &= ~(f->align - 1);
}
