/* SPDX-License-Identifier: MIT */
/*
 * kmodel-run --kernel=VERSION PROGRAM [ARG...]: runs PROGRAM as a kernel
 * from 3.10 to 4.17 would (make check DMAIO_KERNEL=3.10 runs every test
 * through here; an empty VERSION runs PROGRAM as it is):
 *
 *  - a seccomp filter (raw BPF through prctl, which 3.5 has) makes every
 *    system call newer than VERSION fail with ENOSYS, as a kernel without
 *    it does, and refuses the fallocate modes, madvise advice, mmap and
 *    open flags and fcntl commands VERSION did not have. The filter sees
 *    every system call, libc's wrappers and syscall() alike, and it is
 *    inherited across fork and execve: it covers every process PROGRAM
 *    starts. glibc supports kernels back to 3.2 and falls back by itself.
 *  - kmodel_aio.so (next to this program, in .libs/), preloaded, takes
 *    libaio's calls for what a filter cannot see: the iocbs in user memory
 *    and the kernel's accounting of request slots (see kmodel_aio.c).
 *
 * Where a kernel silently ignored a flag it did not know (open's and
 * mmap's), the model fails the call instead, so that a use shows. Only
 * x86_64 and aarch64 numbers are known; elsewhere a model exits 77 (skip).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
/* No system call table here: programs run as they are, models skip. */
int main(int argc, char **argv)
{
	int i = 1;

	if (i < argc && !strncmp(argv[i], "--kernel=", 9))
		i++;
	if (i >= argc)
		return 99;
	if (strcmp(argv[1], "--kernel=") && !strncmp(argv[1], "--kernel=", 9)) {
		fprintf(stderr, "kmodel-run: no system call table for this "
				"architecture (x86_64 and aarch64 only): "
				"skipped\n");
		return 77;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "kmodel-run: %s: %s\n", argv[i], strerror(errno));
	return 99;
}
#else
#define KV(maj, min) ((maj) * 256 + (min))

/* System calls added after 3.10, with the release that added them. */
struct newcall {
	unsigned nr;
	int kv;
};

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#define NR_FALLOCATE 285
#define NR_MADVISE 28
#define NR_MMAP 9
#define NR_OPEN 2
#define NR_OPENAT 257
#define NR_FCNTL 72
/* this and above: 5.1 and later (and the x32 numbers) */
#define NR_UNLISTED 335
static const struct newcall newcalls[] = {
	{ 314, KV(3, 14) }, { 315, KV(3, 14) }, /* sched_setattr, _getattr */
	{ 316, KV(3, 15) },                     /* renameat2 */
	{ 317, KV(3, 17) }, { 318, KV(3, 17) }, /* seccomp, getrandom */
	{ 319, KV(3, 17) }, { 320, KV(3, 17) }, /* memfd_create, kexec_file */
	{ 321, KV(3, 18) }, { 322, KV(3, 19) }, /* bpf, execveat */
	{ 323, KV(4, 3) }, { 324, KV(4, 3) },   /* userfaultfd, membarrier */
	{ 325, KV(4, 4) }, { 326, KV(4, 5) },   /* mlock2, copy_file_range */
	{ 327, KV(4, 6) }, { 328, KV(4, 6) },   /* preadv2, pwritev2 */
	{ 329, KV(4, 9) }, { 330, KV(4, 9) }, { 331, KV(4, 9) }, /* pkey_* */
	{ 332, KV(4, 11) },                     /* statx */
	{ 333, KV(4, 18) }, { 334, KV(4, 18) }, /* io_pgetevents, rseq */
};
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#define NR_FALLOCATE 47
#define NR_MADVISE 233
#define NR_MMAP 222
#define NR_OPEN 0 /* none: openat only */
#define NR_OPENAT 56
#define NR_FCNTL 25
#define NR_UNLISTED 294
static const struct newcall newcalls[] = {
	{ 274, KV(3, 14) }, { 275, KV(3, 14) }, { 276, KV(3, 15) },
	{ 277, KV(3, 17) }, { 278, KV(3, 17) }, { 279, KV(3, 17) },
	{ 280, KV(3, 18) }, { 281, KV(3, 19) }, { 282, KV(4, 3) },
	{ 283, KV(4, 3) }, { 284, KV(4, 4) }, { 285, KV(4, 5) },
	{ 286, KV(4, 6) }, { 287, KV(4, 6) }, { 288, KV(4, 9) },
	{ 289, KV(4, 9) }, { 290, KV(4, 9) }, { 291, KV(4, 11) },
	{ 292, KV(4, 18) }, { 293, KV(4, 18) },
};
#endif

/* madvise advice 3.10 knows; later kernels' additions with theirs */
static const unsigned advice_310[] = {
	0, 1, 2, 3, 4,  /* NORMAL RANDOM SEQUENTIAL WILLNEED DONTNEED */
	9, 10, 11,      /* REMOVE DONTFORK DOFORK */
	12, 13, 14, 15, /* MERGEABLE UNMERGEABLE HUGEPAGE NOHUGEPAGE */
	16, 17,         /* DONTDUMP DODUMP */
	100, 101,       /* HWPOISON SOFT_OFFLINE */
};
static const struct newcall advice_new[] = {
	{ 8, KV(4, 5) },                  /* FREE */
	{ 18, KV(4, 14) }, { 19, KV(4, 14) }, /* WIPEONFORK KEEPONFORK */
};
/* fcntl commands likewise */
static const unsigned fcntl_310[] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, /* DUPFD .. GETSIG */
	15, 16, 17,            /* SETOWN_EX GETOWN_EX GETOWNER_UIDS */
	1024, 1025, 1026,      /* SETLEASE GETLEASE NOTIFY */
	1030, 1031, 1032,      /* DUPFD_CLOEXEC SETPIPE_SZ GETPIPE_SZ */
};
static const struct newcall fcntl_new[] = {
	{ 36, KV(3, 15) }, { 37, KV(3, 15) }, { 38, KV(3, 15) }, /* OFD locks */
	{ 1033, KV(3, 17) }, { 1034, KV(3, 17) },  /* ADD_SEALS GET_SEALS */
	{ 1035, KV(4, 13) }, { 1036, KV(4, 13) },  /* read/write hints */
	{ 1037, KV(4, 13) }, { 1038, KV(4, 13) },
};

#define O_TMPFILE_BIT 020000000 /* __O_TMPFILE, 3.11, the same on both */
#define MAP_TYPE_MASK 0x03
#define MAP_SHARED_VALIDATE_ 0x03    /* 4.15 */
#define MAP_FIXED_NOREPLACE_ 0x100000 /* 4.17 */

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXPROG 512

struct prog {
	struct sock_filter f[MAXPROG];
	unsigned n;
};

static void emit(struct prog *p, struct sock_filter ins)
{
	if (p->n >= MAXPROG) {
		fprintf(stderr, "kmodel-run: filter too long\n");
		exit(99);
	}
	p->f[p->n++] = ins;
}

#define STMT(p, code, k) emit(p, (struct sock_filter)BPF_STMT(code, k))
#define JUMP(p, code, k, jt, jf) \
	emit(p, (struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define RET_ERRNO(p, e) STMT(p, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (e))
#define RET_ALLOW(p) STMT(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
/* the low 32 bits of argument i (both architectures are little-endian) */
#define LOAD_ARG(p, i)                        \
	STMT(p, BPF_LD | BPF_W | BPF_ABS,     \
	     offsetof(struct seccomp_data, args[i]))

/*
 * A block runs for one system call number: "if nr != k skip the block".
 * Every block ends in a return, so the jump over it is all that links
 * blocks; it is patched once the block's length is known.
 */
static unsigned block_begin(struct prog *p, unsigned nr)
{
	STMT(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 0);
	return p->n;
}

static void block_end(struct prog *p, unsigned start)
{
	unsigned len = p->n - start;

	if (len > 255) {
		fprintf(stderr, "kmodel-run: block too long\n");
		exit(99);
	}
	p->f[start - 1].jf = (unsigned char)len;
}

/* Allows the argument in A if it is one of ok[] or new[] up to kv. */
static void allow_list(struct prog *p, const unsigned *ok, size_t nok,
		       const struct newcall *nw, size_t nnew, int kv, int err)
{
	unsigned vals[64], n = 0, i;

	for (i = 0; i < nok; i++)
		vals[n++] = ok[i];
	for (i = 0; i < nnew; i++)
		if (nw[i].kv <= kv)
			vals[n++] = nw[i].nr;
	/* jump over the rest of the list and the refusal to the allow */
	for (i = 0; i < n; i++)
		JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, vals[i], n - i, 0);
	RET_ERRNO(p, err);
	RET_ALLOW(p);
}

static void build(struct prog *p, int kv)
{
	unsigned b, i, fall_ok = 0x03; /* KEEP_SIZE, PUNCH_HOLE */
	unsigned map_bad = 0;

	STMT(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	RET_ALLOW(p); /* another ABI's calls (int 0x80): not modelled */

	/* fallocate: 3.10 says EOPNOTSUPP to a mode it does not know */
	if (kv >= KV(3, 15))
		fall_ok |= 0x08 | 0x10; /* COLLAPSE_RANGE, ZERO_RANGE */
	if (kv >= KV(4, 1))
		fall_ok |= 0x20; /* INSERT_RANGE */
	if (kv >= KV(4, 9))
		fall_ok |= 0x40; /* UNSHARE_RANGE */
	b = block_begin(p, NR_FALLOCATE);
	LOAD_ARG(p, 1);
	JUMP(p, BPF_JMP | BPF_JSET | BPF_K, ~fall_ok, 0, 1);
	RET_ERRNO(p, EOPNOTSUPP);
	RET_ALLOW(p);
	block_end(p, b);

	/* madvise: EINVAL for advice it does not know */
	b = block_begin(p, NR_MADVISE);
	LOAD_ARG(p, 2);
	allow_list(p, advice_310, N(advice_310), advice_new, N(advice_new), kv,
		   EINVAL);
	block_end(p, b);

	/*
	 * mmap: MAP_SHARED_VALIDATE (both type bits) is EINVAL before 4.15,
	 * as the kernel said for an unknown type; MAP_FIXED_NOREPLACE was
	 * ignored before 4.17 (the mapping could land elsewhere): refused.
	 */
	b = block_begin(p, NR_MMAP);
	if (kv < KV(4, 15)) {
		LOAD_ARG(p, 3);
		STMT(p, BPF_ALU | BPF_AND | BPF_K, MAP_TYPE_MASK);
		JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, MAP_SHARED_VALIDATE_, 0, 1);
		RET_ERRNO(p, EINVAL);
	}
	if (kv < KV(4, 17))
		map_bad |= MAP_FIXED_NOREPLACE_;
	if (map_bad) {
		LOAD_ARG(p, 3);
		JUMP(p, BPF_JMP | BPF_JSET | BPF_K, map_bad, 0, 1);
		RET_ERRNO(p, EINVAL);
	}
	RET_ALLOW(p);
	block_end(p, b);

	/*
	 * O_TMPFILE (3.11) is __O_TMPFILE | O_DIRECTORY: 3.10 ignored the
	 * bit it did not know and failed to open the directory for writing.
	 */
	if (kv < KV(3, 11)) {
		for (i = 0; i < 2; i++) {
			unsigned nr = i ? NR_OPENAT : NR_OPEN;

			if (!nr)
				continue;
			b = block_begin(p, nr);
			LOAD_ARG(p, i ? 2 : 1);
			JUMP(p, BPF_JMP | BPF_JSET | BPF_K, O_TMPFILE_BIT,
			     0, 1);
			RET_ERRNO(p, EISDIR);
			RET_ALLOW(p);
			block_end(p, b);
		}
	}

	/* fcntl: EINVAL for a command it does not know */
	b = block_begin(p, NR_FCNTL);
	LOAD_ARG(p, 1);
	allow_list(p, fcntl_310, N(fcntl_310), fcntl_new, N(fcntl_new), kv,
		   EINVAL);
	block_end(p, b);

	/* newer system calls: ENOSYS */
	STMT(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (i = 0; i < N(newcalls); i++) {
		if (newcalls[i].kv <= kv)
			continue;
		JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, newcalls[i].nr, 0, 1);
		RET_ERRNO(p, ENOSYS);
	}
	JUMP(p, BPF_JMP | BPF_JGE | BPF_K, NR_UNLISTED, 0, 1);
	RET_ERRNO(p, ENOSYS);
	RET_ALLOW(p);
}

static int parse_version(const char *s, int *kv)
{
	unsigned maj, min;
	char end;

	if (sscanf(s, "%u.%u%c", &maj, &min, &end) != 2)
		return -1;
	*kv = KV((int)maj, (int)min);
	return *kv >= KV(3, 10) && *kv <= KV(4, 17) ? 0 : -1;
}

/* kmodel_aio.so: $DMAIO_KMODEL_AIO, or .libs/ beside this program */
static int find_preload(char *buf, size_t len)
{
	const char *env = getenv("DMAIO_KMODEL_AIO");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return access(buf, R_OK);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	/* libtool may have put this program in .libs/ itself */
	snprintf(buf, len, "%s/.libs/kmodel_aio.so", self);
	if (access(buf, R_OK) == 0)
		return 0;
	snprintf(buf, len, "%s/kmodel_aio.so", self);
	return access(buf, R_OK);
}

static void prepend_env(const char *name, const char *val, const char *sep)
{
	const char *old = getenv(name);
	char *v;

	if (old && *old) {
		if (asprintf(&v, "%s%s%s", val, sep, old) < 0)
			exit(99);
	} else if (!(v = strdup(val))) {
		exit(99);
	}
	setenv(name, v, 1);
	free(v);
}

int main(int argc, char **argv)
{
	static struct prog p;
	struct sock_fprog fp;
	const char *ver = NULL;
	char preload[PATH_MAX];
	int kv, i = 1;

	if (i < argc && !strncmp(argv[i], "--kernel=", 9))
		ver = argv[i++] + 9;
	if (i >= argc) {
		fprintf(stderr, "usage: kmodel-run --kernel=VERSION PROGRAM "
				"[ARG...]  (VERSION 3.10 to 4.17, or empty)\n");
		return 99;
	}
	if (!ver || !*ver) {
		execvp(argv[i], argv + i);
		fprintf(stderr, "kmodel-run: %s: %s\n", argv[i],
			strerror(errno));
		return 99;
	}
	if (parse_version(ver, &kv)) {
		fprintf(stderr, "kmodel-run: kernel %s: the model knows 3.10 "
				"to 4.17\n", ver);
		return 99;
	}
	if (find_preload(preload, sizeof(preload))) {
		fprintf(stderr, "kmodel-run: kmodel_aio.so not found (build "
				"it, or set DMAIO_KMODEL_AIO)\n");
		return 99;
	}
	prepend_env("LD_PRELOAD", preload, ":");
	/* a preloaded library does not come before the sanitizer runtime */
	prepend_env("ASAN_OPTIONS", "verify_asan_link_order=0", ":");
	setenv("DMAIO_KMODEL", ver, 1);

	build(&p, kv);
	fp.len = (unsigned short)p.n;
	fp.filter = p.f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp)) {
		fprintf(stderr, "kmodel-run: seccomp: %s\n", strerror(errno));
		return 99;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "kmodel-run: %s: %s\n", argv[i], strerror(errno));
	return 99;
}
#endif /* x86_64 or aarch64 */
