/* SPDX-License-Identifier: MIT */
/*
 * Durable names: dmaio_dir_sync and dmaio_file_sync_parent. Their errors
 * (-ENOENT, -ENOTDIR, bad arguments), the path a rename leaves, and a
 * power cut on loop-mounted XFS and ext4 (root only): the file system is
 * shut down without flushing its log (XFS_IOC_GOINGDOWN, EXT4_IOC_SHUTDOWN
 * with the NOLOGFLUSH flag), unmounted and mounted again. Names whose
 * directory was synced must be there with their data; names made after
 * the last sync, with no sync at all, are the control: at least one must
 * be lost, which shows the test can tell (if the kernel happened to keep
 * them all, the control alone is reported as skipped, with the counts).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static struct dmaio_file *create(struct dmaio_loop *loop, const char *path)
{
	struct dmaio_file *f = NULL;

	ck_assert_int_eq(dmaio_file_create_wait(loop, path, &f), 0);
	return f;
}

static void on_res(void *arg, int64_t res)
{
	int64_t *r = arg;

	*r = res;
}

START_TEST(dir_sync_results)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	int64_t res[3] = { 1, 1, 1 };

	tu_make_file(tu_path("plain"), 100, 1);
	ck_assert_int_eq(dmaio_dir_sync_wait(loop, tu_dir), 0);
	ck_assert_int_eq(dmaio_dir_sync_wait(loop, "."), 0);
	ck_assert_int_eq(dmaio_dir_sync_wait(loop, "/"), 0);
	ck_assert_int_eq(dmaio_dir_sync_wait(loop, tu_path("nope")), -ENOENT);
	ck_assert_int_eq(dmaio_dir_sync_wait(loop, tu_path("plain")),
			 -ENOTDIR);
	ck_assert_int_eq(dmaio_dir_sync_wait(loop, tu_path("plain/x")),
			 -ENOTDIR);
	/* asynchronously, several at once, completed from the loop */
	ck_assert_int_eq(dmaio_dir_sync(loop, tu_dir, on_res, &res[0]), 0);
	ck_assert_int_eq(dmaio_dir_sync(loop, tu_path("nope"), on_res, &res[1]),
			 0);
	ck_assert_int_eq(dmaio_dir_sync(loop, tu_dir, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_dir_sync(loop, tu_path("plain"), on_res,
					&res[2]), 0);
	ck_assert_int_eq(res[0], 1); /* never from inside the call */
	ck_assert_uint_eq(dmaio_loop_pending(loop), 4);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(res[0], 0);
	ck_assert_int_eq(res[1], -ENOENT);
	ck_assert_int_eq(res[2], -ENOTDIR);
	/* refused at once, with the reason */
	ck_assert_int_eq(dmaio_dir_sync(NULL, "/", NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_dir_sync(loop, NULL, NULL, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(dmaio_last_error(), "dir_sync: path"));
	ck_assert_int_eq(dmaio_dir_sync(loop, "", NULL, NULL), -ENOENT);
	ck_assert_int_eq(dmaio_dir_sync_wait(NULL, "/"), -EINVAL);
	ck_assert_uint_eq(dmaio_loop_pending(loop), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* The parent of the current path: after a rename, the new directory. */
START_TEST(sync_parent_follows_the_path)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	char d1[PATH_MAX], d2[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX];
	int64_t r1 = 1, r2 = 1;
	struct dmaio_file *f;

	snprintf(d1, sizeof(d1), "%s", tu_path("d1"));
	snprintf(d2, sizeof(d2), "%s", tu_path("d2"));
	snprintf(p1, sizeof(p1), "%s/f", d1);
	snprintf(p2, sizeof(p2), "%s/f", d2);
	ck_assert_int_eq(mkdir(d1, 0755), 0);
	ck_assert_int_eq(mkdir(d2, 0755), 0);
	f = create(loop, p1);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), 0);
	/* submitted together: the sync runs after the rename, on d2 */
	ck_assert_int_eq(dmaio_file_rename(f, p2, on_res, &r1), 0);
	ck_assert_int_eq(dmaio_file_sync_parent(f, on_res, &r2), 0);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	ck_assert_int_eq(r1, 0);
	ck_assert_int_eq(r2, 0);
	ck_assert_int_eq(rmdir(d1), 0);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), 0);
	/* the directory is gone: the error comes through the callback */
	ck_assert_int_eq(dmaio_file_remove_wait(f), 0);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), 0); /* d2 still is */
	ck_assert_int_eq(rmdir(d2), 0);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), -ENOENT);
	ck_assert_int_eq(dmaio_file_close(f, NULL, NULL), 0);
	ck_assert_int_eq(dmaio_file_sync_parent(f, NULL, NULL), -EBADF);
	ck_assert_int_eq(dmaio_file_sync_parent(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(NULL), -EINVAL);
	ck_assert_int_eq(dmaio_loop_run(loop), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* A relative path's parent is the working directory. */
START_TEST(sync_parent_of_relative_paths)
{
	struct dmaio_loop *loop = tu_loop(0, 0);
	struct dmaio_file *f;
	char cwd[PATH_MAX];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(tu_dir), 0);
	f = create(loop, "rel");
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	/* the parent of "sub//..//rel2" is "sub//..": gone with sub */
	ck_assert_int_eq(mkdir("sub", 0755), 0);
	f = create(loop, "sub//..//rel2");
	ck_assert_int_eq(rmdir("sub"), 0);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), -ENOENT);
	ck_assert_int_eq(mkdir("sub", 0755), 0);
	ck_assert_int_eq(dmaio_file_sync_parent_wait(f), 0);
	ck_assert_int_eq(dmaio_file_close_wait(f), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	dmaio_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the power cut                                                       */

/* XFS_IOC_GOINGDOWN and EXT4_IOC_SHUTDOWN are the same ioctl. */
#define FS_SHUTDOWN _IOR('X', 125, uint32_t)
#define GOING_FLAGS_NOLOGFLUSH 0x2 /* XFS_FSOP_..., EXT4_GOING_FLAGS_... */

#define NCONTROL 16
#define DATA_LEN 12345

/*
 * Each round ends with the call under test as the last sync of any kind
 * before the cut: a later fsync would force the log past it and make
 * any name durable (XFS and ext4 write their log in order).
 */
enum round { BY_SYNC_PARENT, BY_DIR_SYNC, NROUNDS };
static const char *const round_name[NROUNDS] = { "sync_parent", "dir_sync" };

struct fs {
	const char *type;
	unsigned mb;
	char dir[PATH_MAX];
	const char *why;                /* not mounted: why */
	char err[NROUNDS][512];         /* a round failed to run: what */
	char lost[NROUNDS][512];        /* synced names missing after it */
	int control_lost[NROUNDS];      /* of NCONTROL + 1 unsynced names */
};

static struct fs fss[] = {
	{ "xfs", 300 },
	{ "ext4", 64 },
};

static const char *in(struct fs *c, const char *name)
{
	static char p[4][PATH_MAX];
	static int k;

	k = (k + 1) & 3;
	snprintf(p[k], sizeof(p[k]), "%s/%s", c->dir, name);
	return p[k];
}

/*
 * Creates path with DATA_LEN bytes of pattern seed; with sync, makes its
 * data and then its name durable. 0 or -errno.
 */
static int make(struct dmaio_loop *loop, const char *path, unsigned seed,
		int sync, struct dmaio_file **out)
{
	unsigned char data[DATA_LEN];
	struct dmaio_file *f;
	int64_t n;
	int ret;

	ret = dmaio_file_create_wait(loop, path, &f);
	if (ret)
		return ret;
	tu_fill(data, sizeof(data), 0, seed);
	n = dmaio_file_write_copy_wait(f, 0, data, sizeof(data));
	if (n != DATA_LEN)
		return n < 0 ? (int)n : -EIO;
	/* the data first: a name without its data is no survivor */
	if (sync && (ret = dmaio_file_fdatasync_wait(f)))
		return ret;
	if (sync && (ret = dmaio_file_sync_parent_wait(f)))
		return ret;
	*out = f;
	return 0;
}

/* 1 if path holds exactly DATA_LEN bytes of pattern seed. */
static int intact(const char *path, unsigned seed)
{
	unsigned char data[DATA_LEN + 1];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, data, sizeof(data));
	close(fd);
	return n == DATA_LEN && tu_check(data, DATA_LEN, 0, seed) == -1;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void note(char *list, size_t len, const char *name)
{
	size_t n = strlen(list);

	snprintf(list + n, len - n, " %s", name);
}

/* What the round makes durable; 0 or -errno. dir: where the control goes. */
static int synced_part(struct fs *c, enum round r, struct dmaio_loop *loop,
		       struct dmaio_file **ctl, const char **dir)
{
	struct dmaio_file *f;
	int ret;

	if (r == BY_SYNC_PARENT) {
		*dir = "";
		/* renamed below with no sync: made durable now */
		if ((ret = make(loop, in(c, "ctl-old"), 4, 1, ctl)) ||
		    (ret = make(loop, in(c, "created"), 1, 1, &f)) ||
		    (ret = make(loop, in(c, "tmp"), 2, 1, &f)) ||
		    (ret = dmaio_file_rename_wait(f, in(c, "renamed"))))
			return ret;
		return dmaio_file_sync_parent_wait(f);
	}
	*dir = "d/";
	if ((ret = mkdir(in(c, "d"), 0755) ? -errno : 0) ||
	    (ret = dmaio_dir_sync_wait(loop, c->dir)) ||
	    (ret = make(loop, in(c, "d/ctl-old"), 4, 1, ctl)) ||
	    (ret = make(loop, in(c, "d/new"), 5, 0, &f)) ||
	    (ret = dmaio_file_fdatasync_wait(f)) ||
	    (ret = make(loop, in(c, "d/a"), 3, 1, &f)) ||
	    (ret = dmaio_file_rename_wait(f, in(c, "d/b"))))
		return ret;
	return dmaio_dir_sync_wait(loop, in(c, "d"));
}

static void check_synced(struct fs *c, enum round r)
{
	char *lost = c->lost[r];

	if (r == BY_SYNC_PARENT) {
		if (!intact(in(c, "created"), 1))
			note(lost, sizeof(c->lost[r]), "created");
		if (!intact(in(c, "renamed"), 2))
			note(lost, sizeof(c->lost[r]), "renamed");
		if (exists(in(c, "tmp")))
			note(lost, sizeof(c->lost[r]), "tmp (the old name)");
		return;
	}
	if (!intact(in(c, "d/b"), 3))
		note(lost, sizeof(c->lost[r]), "d/b");
	if (exists(in(c, "d/a")))
		note(lost, sizeof(c->lost[r]), "d/a (the old name)");
	if (!intact(in(c, "d/new"), 5))
		note(lost, sizeof(c->lost[r]), "d/new");
}

static void round_fail(struct fs *c, enum round r, const char *what, int err)
{
	snprintf(c->err[r], sizeof(c->err[r]), "%s: %s (%s)", what,
		 dmaio_strerror(err), dmaio_last_error());
}

/* One round: the synced part, the control, the cut, a mount again. */
static void power_cut(struct fs *c, enum round r)
{
	uint32_t flags = GOING_FLAGS_NOLOGFLUSH;
	struct dmaio_loop *loop;
	struct dmaio_file *ctl;
	char cmd[3 * PATH_MAX], name[64];
	const char *dir;
	int i, ret, fd;

	ret = dmaio_loop_new(&loop, NULL);
	if (ret) {
		round_fail(c, r, "dmaio_loop_new", ret);
		return;
	}
	ret = synced_part(c, r, loop, &ctl, &dir);
	if (ret) {
		round_fail(c, r, "before the cut", ret);
		dmaio_loop_free(loop);
		return;
	}
	/* the control: after the last sync, no sync of any kind */
	snprintf(name, sizeof(name), "%sctl-new", dir);
	ret = dmaio_file_rename_wait(ctl, in(c, name));
	for (i = 0; i < NCONTROL && !ret; i++) {
		snprintf(name, sizeof(name), "%sctl-%d", dir, i);
		ret = make(loop, in(c, name), 10 + (unsigned)i, 0, &ctl);
	}
	if (ret) {
		round_fail(c, r, "the control", ret);
		dmaio_loop_free(loop);
		return;
	}
	/* the power cut: the log stays as it is on the disk */
	fd = open(c->dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || ioctl(fd, FS_SHUTDOWN, &flags))
		snprintf(c->err[r], sizeof(c->err[r]), "shutdown ioctl on "
			 "%s: %s", c->dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	dmaio_loop_free(loop); /* closes the files, with EIO now */
	/* unmount the dead file system, mount it again: the log replays */
	snprintf(cmd, sizeof(cmd), "umount %s && mount -o loop %s.img %s",
		 c->dir, c->dir, c->dir);
	if (system(cmd) != 0) {
		snprintf(c->err[r], sizeof(c->err[r]), "could not mount %s "
			 "again", c->dir);
		return;
	}
	if (c->err[r][0])
		return;
	check_synced(c, r);
	snprintf(name, sizeof(name), "%sctl-old", dir);
	if (exists(in(c, name)))
		c->control_lost[r]++;
	snprintf(name, sizeof(name), "%sctl-new", dir);
	if (!intact(in(c, name), 4))
		c->control_lost[r]++;
	for (i = 0; i < NCONTROL; i++) {
		snprintf(name, sizeof(name), "%sctl-%d", dir, i);
		if (!intact(in(c, name), 10 + (unsigned)i))
			c->control_lost[r]++;
	}
}

/* _i: file system * NROUNDS + round */
START_TEST(synced_names_survive_a_power_cut)
{
	struct fs *c = &fss[_i / NROUNDS];
	int r = _i % NROUNDS;

	ck_assert_msg(!c->err[r][0], "%s: %s", c->type, c->err[r]);
	ck_assert_msg(!c->lost[r][0], "%s, %s: lost after the cut:%s",
		      c->type, round_name[r], c->lost[r]);
}
END_TEST

START_TEST(control_unsynced_names_are_lost)
{
	struct fs *c = &fss[_i / NROUNDS];
	int r = _i % NROUNDS;

	ck_assert_msg(!c->err[r][0], "%s: %s", c->type, c->err[r]);
	ck_assert_int_gt(c->control_lost[r], 0);
}
END_TEST

/* Registers round r on c as two tests, or reports why they cannot run. */
static void add_round(TCase *tc, struct fs *c, int i, int r)
{
	char main_name[128], ctl_name[128], why[256];
	int k = i * NROUNDS + r;

	snprintf(main_name, sizeof(main_name),
		 "synced_names_survive_a_power_cut [%s, %s]", c->type,
		 round_name[r]);
	snprintf(ctl_name, sizeof(ctl_name),
		 "control_unsynced_names_are_lost [%s, %s]", c->type,
		 round_name[r]);
	if (c->why) {
		tu_skip(main_name, c->why);
		tu_skip(ctl_name, c->why);
		return;
	}
	tcase_add_loop_test(tc, synced_names_survive_a_power_cut, k, k + 1);
	tu_name(main_name, 0, 1, NULL);
	if (!c->err[r][0] && !c->control_lost[r]) {
		snprintf(why, sizeof(why), "the kernel kept all %d unsynced "
			 "names through the cut, so this run cannot show that "
			 "the sync made the difference", NCONTROL + 2);
		tu_skip(ctl_name, why);
		return;
	}
	tcase_add_loop_test(tc, control_unsynced_names_are_lost, k, k + 1);
	tu_name(ctl_name, 0, 1, NULL);
}

int main(void)
{
	Suite *s = suite_create("dir_sync");
	TCase *tc = tu_tcase(s, "dir_sync");
	TCase *cut = tu_tcase(s, "power_cut");
	const int nfs = (int)(sizeof(fss) / sizeof(fss[0]));
	int i, r, ret;

	tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
	TU_ADD(tc, dir_sync_results);
	TU_ADD(tc, sync_parent_follows_the_path);
	TU_ADD(tc, sync_parent_of_relative_paths);

	/* the cuts run here, in order; the tests judge what they left */
	for (i = 0; i < nfs; i++) {
		if (tu_mount_image(fss[i].type, fss[i].mb, fss[i].dir,
				   sizeof(fss[i].dir), &fss[i].why) == 0)
			for (r = 0; r < NROUNDS; r++)
				power_cut(&fss[i], (enum round)r);
		for (r = 0; r < NROUNDS; r++)
			add_round(cut, &fss[i], i, r);
	}
	ret = tu_run(s);
	for (i = 0; i < nfs; i++)
		if (!fss[i].why)
			tu_umount_image(fss[i].dir);
	return ret;
}
