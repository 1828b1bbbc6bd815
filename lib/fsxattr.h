/* SPDX-License-Identifier: MIT */
/*
 * The generic extent-size-hint ioctls (FS_IOC_FSGETXATTR and friends)
 * came to linux/fs.h in 4.5; RHEL 7's headers have only XFS's names for
 * the same numbers. A kernel-header shim, shared with the tests.
 */
#ifndef DMAIO_FSXATTR_H
#define DMAIO_FSXATTR_H

#include "config.h"

#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

/* linux/fs.h brought the struct and its ioctls together (4.5) */
#ifndef FS_IOC_FSGETXATTR
struct fsxattr {
	uint32_t fsx_xflags;
	uint32_t fsx_extsize;
	uint32_t fsx_nextents;
	uint32_t fsx_projid;
	uint32_t fsx_cowextsize;
	unsigned char fsx_pad[8];
};
#define FS_IOC_FSGETXATTR _IOR('X', 31, struct fsxattr)
#define FS_IOC_FSSETXATTR _IOW('X', 32, struct fsxattr)
#endif
#ifndef FS_XFLAG_EXTSIZE
#define FS_XFLAG_EXTSIZE 0x00000800
#endif

#endif
