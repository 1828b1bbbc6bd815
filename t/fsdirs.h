/* SPDX-License-Identifier: MIT */
/*
 * The file systems the 1.3 file tests run on: loop-mounted XFS and ext4
 * images (root only), a directory in /dev/shm (tmpfs), and the build
 * directory's. Those that cannot be had are reported as skipped, with
 * the reason, once per program.
 */
#ifndef DMAIO_FSDIRS_H
#define DMAIO_FSDIRS_H

#include <limits.h>

struct tu_fs {
	const char *name;
	char dir[PATH_MAX];
	int kind;   /* TU_FS_* */
	int up;     /* usable in this run */
};

enum { TU_FS_XFS, TU_FS_EXT4, TU_FS_TMPFS, TU_FS_BUILD, TU_NFS };
extern struct tu_fs tu_fs[TU_NFS];

/* In main(), before tu_run: mounts and reports what is missing. */
void tu_fs_setup(const char *prog);
void tu_fs_teardown(void);
/* A path in file system i for this test and profile: name-profile. */
const char *tu_fs_path(int i, const char *name, int profile);

#endif
