/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* a features.def line's profile, if it has one */
#define TU_PROFILE_1(x) x,
#define TU_PROFILE_0(x)
#define TU_PROFILE(profile, x) TU_PROFILE_##profile(x)

const uint64_t tu_profile_disable[TU_NPROFILES] = {
	0,
#define DMAIO_FEATURE(bit, word, name, profile, desc, probe) \
	TU_PROFILE(profile, bit)
#include "features.def"
	DMAIO_FEAT_ALL,
};
const char *const tu_profile_name[TU_NPROFILES] = {
	"all features",
#define DMAIO_FEATURE(bit, word, name, profile, desc, probe) \
	TU_PROFILE(profile, "no " name)
#include "features.def"
	"all fallbacks",
};

/* ------------------------------------------------------------------ */
/* TAP                                                                 */

#define MAX_NAMES 1024

static char *names[MAX_NAMES];
static int nnames;
static char *skips[MAX_NAMES];
static int nskips;

void tu_name(const char *name, int start, int end, const char *const *labels)
{
	char buf[256];
	int i;

	for (i = start; i < end && nnames < MAX_NAMES; i++) {
		if (end - start == 1)
			snprintf(buf, sizeof(buf), "%s", name);
		else if (labels)
			snprintf(buf, sizeof(buf), "%s [%s]", name, labels[i]);
		else
			snprintf(buf, sizeof(buf), "%s [%d]", name, i);
		names[nnames++] = strdup(buf);
	}
}

void tu_skip(const char *name, const char *reason)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s # SKIP %s", name, reason);
	if (nskips < MAX_NAMES)
		skips[nskips++] = strdup(buf);
	fprintf(stderr, "SKIP %s: %s\n", name, reason);
}

TCase *tu_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return tc;
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	TestResult **r;
	int i, n, failed = 0;

	srunner_run_all(sr, CK_NORMAL);
	n = srunner_ntests_run(sr);
	r = srunner_results(sr);
	printf("1..%d\n", n + nskips);
	for (i = 0; i < n; i++) {
		int ok = tr_rtype(r[i]) == CK_PASS;
		const char *name = i < nnames ? names[i] : tr_tcname(r[i]);

		if (ok)
			printf("ok %d - %s\n", i + 1, name);
		else
			printf("not ok %d - %s: %s:%d: %s\n", i + 1, name,
			       tr_lfile(r[i]), tr_lno(r[i]), tr_msg(r[i]));
		failed += !ok;
	}
	for (i = 0; i < nskips; i++)
		printf("ok %d - %s\n", n + i + 1, skips[i]);
	free(r);
	srunner_free(sr);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	for (i = 0; i < nskips; i++)
		free(skips[i]);
	return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* scratch directories                                                 */

char tu_dir[PATH_MAX];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

int tu_rm_rf(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_dir_setup(void)
{
	char cwd[PATH_MAX];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	snprintf(tu_dir, sizeof(tu_dir), "%s/dmaio-test.XXXXXX", cwd);
	ck_assert_ptr_nonnull(mkdtemp(tu_dir));
}

void tu_dir_teardown(void)
{
	if (tu_dir[0])
		tu_rm_rf(tu_dir);
	tu_dir[0] = '\0';
}

const char *tu_path(const char *name)
{
	static char p[2][PATH_MAX];
	static int k;

	k ^= 1;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tu_dir, name);
	return p[k];
}

/* ------------------------------------------------------------------ */

double tu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct dmaio_loop_stats tu_loop_stats(struct dmaio_loop *loop)
{
	struct dmaio_loop_stats st;

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(dmaio_loop_stats(loop, &st), 0);
	return st;
}

struct dmaio_loop *tu_loop(uint64_t disable, unsigned depth)
{
	struct dmaio_loop_opts o;
	struct dmaio_loop *loop = NULL;
	int ret;

	dmaio_loop_opts_init(&o);
	o.disable = disable;
	if (depth)
		o.queue_depth = depth;
	ret = dmaio_loop_new(&loop, &o);
	ck_assert_msg(ret == 0, "dmaio_loop_new: %s (%s)", dmaio_strerror(ret),
		      dmaio_last_error());
	ck_assert_uint_eq(dmaio_loop_features(loop) & disable, 0);
	return loop;
}

void tu_fill(void *buf, size_t len, uint64_t off, unsigned seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = tu_pattern(off + i, seed);
}

long tu_check(const void *buf, size_t len, uint64_t off, unsigned seed)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != tu_pattern(off + i, seed))
			return (long)i;
	return -1;
}

long tu_first_nonzero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

void tu_check_file(const char *path, long long from, long long to,
		   unsigned seed)
{
	size_t len = (size_t)(to - from);
	char *buf = malloc(len ? len : 1);
	int fd = open(path, O_RDONLY);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, from), (ssize_t)len);
	ck_assert_int_eq(tu_check(buf, len, (uint64_t)from, seed), -1);
	close(fd);
	free(buf);
}

void tu_make_file(const char *path, size_t size, unsigned seed)
{
	char buf[65536];
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	while (done < size) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);

		tu_fill(buf, n, done, seed);
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	ck_assert_int_eq(close(fd), 0);
}

/* ------------------------------------------------------------------ */
/* the test program again, in a new process                            */

int tu_run_child(const char *kernel, const char *name, char *out,
		 size_t len)
{
	char self[PATH_MAX], runner[PATH_MAX], opt[64];
	const char *b = getenv("top_builddir");
	ssize_t n, got = 0;
	int p[2], status;
	pid_t pid;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = 0;
	snprintf(runner, sizeof(runner), "%s/t/kmodel-run", b ? b : ".");
	snprintf(opt, sizeof(opt), "--kernel=%s", kernel);
	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execl(runner, runner, opt, self, "--child", name, tu_dir,
		      (char *)NULL);
		printf("exec %s: %s\n", runner, strerror(errno));
		_exit(99);
	}
	close(p[1]);
	for (;;) {
		char rest[512];

		if ((size_t)got < len - 1)
			n = read(p[0], out + got, len - 1 - (size_t)got);
		else
			n = read(p[0], rest, sizeof(rest)); /* more: dropped */
		if (n <= 0)
			break;
		if ((size_t)got < len - 1)
			got += n;
	}
	out[got] = 0;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

const char *tu_child(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[1], "--child"))
		return NULL;
	snprintf(tu_dir, sizeof(tu_dir), "%s", argv[3]);
	setvbuf(stdout, NULL, _IONBF, 0);
	return argv[2];
}

/* ------------------------------------------------------------------ */
/* loop-mounted images                                                 */

static int have_cmd(const char *cmd)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

int tu_mount_image(const char *fstype, unsigned mb, char *dir, size_t dirlen,
		   const char **why)
{
	char mkfs[64], cmd[1024];

	if (geteuid() != 0) {
		*why = "needs root to loop-mount a file-system image";
		return -1;
	}
	snprintf(mkfs, sizeof(mkfs), "mkfs.%s", fstype);
	if (!have_cmd(mkfs) || !have_cmd("mount")) {
		*why = strcmp(fstype, "xfs") == 0
			       ? "mkfs.xfs not installed (xfsprogs)"
			       : strcmp(fstype, "btrfs") == 0
			       ? "mkfs.btrfs not installed (btrfs-progs)"
			       : "mkfs tool not installed";
		return -1;
	}
	if (access("/dev/loop-control", F_OK)) {
		*why = "no loop devices (/dev/loop-control)";
		return -1;
	}
	snprintf(dir, dirlen, "/tmp/dmaio-%s.XXXXXX", fstype);
	if (!mkdtemp(dir)) {
		*why = "mkdtemp failed";
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "truncate -s %uM %s.img && %s %s %s.img >/dev/null 2>&1 && "
		 "mount -o loop %s.img %s",
		 mb, dir, mkfs, strcmp(fstype, "ext4") == 0 ? "-q -F" : "-q -f",
		 dir, dir, dir);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "rm -f %s.img", dir);
		if (system(cmd)) {
			/* best effort */
		}
		rmdir(dir);
		*why = "could not make or loop-mount the image";
		return -1;
	}
	return 0;
}

void tu_umount_image(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "umount %s; rm -f %s.img; rmdir %s", dir,
		 dir, dir);
	if (system(cmd)) {
		/* best effort: report nothing, the next run uses a new name */
	}
}

struct dmaio_file *tu_create(struct dmaio_loop *loop, const char *path)
{
	struct dmaio_file *f = NULL;

	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	return f;
}

void tu_write_pattern(struct dmaio_file *f, uint64_t pos, size_t len,
		      unsigned seed)
{
	struct dmaio_buf *b = dmaio_file_alloc_buf(f, len);

	ck_assert_ptr_nonnull(b);
	tu_fill(dmaio_buf_data(b), len, pos, seed);
	ck_assert_int_eq(dmaio_file_write_at_wait(f, b, pos), (int64_t)len);
	dmaio_buf_unref(b);
}

void tu_twice_labels(const char **labels, const char *what)
{
	static char buf[TU_NPROFILES][96];
	int i;

	for (i = 0; i < TU_NPROFILES; i++) {
		labels[i] = tu_profile_name[i];
		snprintf(buf[i], sizeof(buf[i]), "%s, %s", tu_profile_name[i],
			 what);
		labels[TU_NPROFILES + i] = buf[i];
	}
}
