/* SPDX-License-Identifier: MIT */
#include "testutil.h"
#include "fsdirs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tu_fs tu_fs[TU_NFS] = {
	{ "xfs", "", TU_FS_XFS, 0 },
	{ "ext4", "", TU_FS_EXT4, 0 },
	{ "tmpfs", "", TU_FS_TMPFS, 0 },
	{ "build dir", "", TU_FS_BUILD, 0 },
};

void tu_fs_setup(const char *prog)
{
	const char *why = NULL;
	char name[256];
	int i;

	for (i = 0; i < TU_NFS; i++) {
		struct tu_fs *fs = &tu_fs[i];

		why = NULL;
		switch (fs->kind) {
		case TU_FS_XFS:
			fs->up = tu_mount_image("xfs", 300, fs->dir,
						sizeof(fs->dir), &why) == 0;
			break;
		case TU_FS_EXT4:
			fs->up = tu_mount_image("ext4", 64, fs->dir,
						sizeof(fs->dir), &why) == 0;
			break;
		case TU_FS_TMPFS:
			snprintf(fs->dir, sizeof(fs->dir),
				 "/dev/shm/dmaio-test.XXXXXX");
			fs->up = mkdtemp(fs->dir) != NULL;
			why = "no /dev/shm to make a directory in";
			break;
		case TU_FS_BUILD:
			snprintf(fs->dir, sizeof(fs->dir),
				 "dmaio-fs-%s.XXXXXX", prog);
			fs->up = mkdtemp(fs->dir) != NULL;
			why = "cannot make a directory here";
			break;
		}
		if (!fs->up) {
			snprintf(name, sizeof(name), "%s: on %s", prog,
				 fs->name);
			tu_skip(name, why);
		}
	}
}

void tu_fs_teardown(void)
{
	int i;

	for (i = 0; i < TU_NFS; i++) {
		struct tu_fs *fs = &tu_fs[i];

		if (!fs->up)
			continue;
		if (fs->kind == TU_FS_XFS || fs->kind == TU_FS_EXT4)
			tu_umount_image(fs->dir);
		else
			tu_rm_rf(fs->dir);
	}
}

const char *tu_fs_path(int i, const char *name, int profile)
{
	static char buf[4][PATH_MAX];
	static unsigned n;
	char *p = buf[n++ % 4];

	snprintf(p, PATH_MAX, "%s/%s-%d", tu_fs[i].dir, name, profile);
	return p;
}
