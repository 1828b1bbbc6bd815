/* SPDX-License-Identifier: MIT */
/*
 * dmaio-info: what this kernel and a file system give libdmaio, so an
 * operator can check a machine before deploying on it. For a directory it
 * probes a temporary file inside; for a file it opens it read-only. The
 * device model the I/O classes will use is found as the library finds it
 * (lib/io_props.c, built in).
 */
#include "config.h"

#include <dmaio.h>
#include "disable_words.h"
#include "io_props.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *fs_name(const char *path)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} known[] = {
		{ 0x58465342UL, "xfs" },     { 0xEF53UL, "ext2/3/4" },
		{ 0x01021994UL, "tmpfs" },   { 0x9123683EUL, "btrfs" },
		{ 0x6969UL, "nfs" },         { 0x794c7630UL, "overlayfs" },
		{ 0x65735546UL, "fuse" },    { 0x2fc12fc1UL, "zfs" },
		{ 0xFF534D42UL, "cifs" },    { 0x5346414fUL, "afs" },
	};
	struct statfs sf;
	size_t i;

	if (statfs(path, &sf))
		return "unknown";
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if ((unsigned long)sf.f_type == known[i].magic)
			return known[i].name;
	return "other";
}

static long proc_long(const char *path)
{
	FILE *fp = fopen(path, "r");
	long v = -1;

	if (fp) {
		if (fscanf(fp, "%ld", &v) != 1)
			v = -1;
		fclose(fp);
	}
	return v;
}

/* Whether /proc/cpuinfo's flags say a hypervisor runs us. */
static int under_hypervisor(void)
{
	FILE *fp = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int found = 0;

	if (!fp)
		return -1;
	while (!found && fgets(line, sizeof(line), fp))
		found = !strncmp(line, "flags", 5) && strstr(line, " hypervisor");
	fclose(fp);
	return found;
}

/*
 * What a loop thread that sleeps pays at each wake-up: on a guest whose
 * idle vCPU halts, a host round trip (the reason for poll_us); guest
 * halt polling (cpuidle-haltpoll) spins in the idle loop instead.
 */
static void print_waiting(void)
{
	char drv[64] = "";
	FILE *fp = fopen("/sys/devices/system/cpu/cpuidle/current_driver", "r");
	long hp = proc_long("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
	int vm = under_hypervisor();

	if (fp) {
		if (!fgets(drv, sizeof(drv), fp))
			drv[0] = 0;
		drv[strcspn(drv, "\n")] = 0;
		fclose(fp);
	}
	printf("waiting (what each sleep of the loop thread costs):\n");
	printf("  %-28s %s\n", "virtual machine:",
	       vm < 0 ? "unknown" : vm ? "yes (a halted vCPU wakes through "
					 "the host)" : "no");
	printf("  %-28s %s\n", "cpuidle driver:", drv[0] ? drv : "none");
	if (hp >= 0)
		printf("  %-28s %ld ns%s\n", "guest halt polling:", hp,
		       hp ? "" : " (off: an idle vCPU halts at once)");
	if (vm > 0 && hp <= 0)
		printf("  %-28s %s\n", "hint:", "at depth 1 every sleep pays "
		       "a host round trip: see poll_us in dmaio_loop_new(3)");
}

static const char *yes(int v)
{
	return v ? "yes" : "no";
}

static void result(const char *what, int ret)
{
	if (ret == 0)
		printf("  %-28s yes\n", what);
	else if (ret == -EOPNOTSUPP)
		printf("  %-28s no (not supported here)\n", what);
	else
		printf("  %-28s no (%s)\n", what, dmaio_strerror(ret));
}

/* The model dmaio-tune wrote for the device, or that there is none. */
static void print_model(const struct stat *st)
{
	dev_t dev = S_ISBLK(st->st_mode) ? st->st_rdev : st->st_dev;
	const char *file = getenv("DMAIO_IO_PROPERTIES");
	struct dmaio__io_props p;

	if (!file)
		file = DMAIO_IO_PROPS_DEFAULT;
	if (dmaio__io_props_lookup(dev, &p)) {
		printf("  %-28s none for %u:%u in %s: learnt from its "
		       "throughput against depth (dmaio-tune writes one)\n",
		       "device model (I/O classes):", major(dev), minor(dev),
		       *file ? file : "(DMAIO_IO_PROPERTIES empty)");
		return;
	}
	printf("  %-28s %u:%u from %s: 4 KiB IOPS read %" PRIu64
	       " write %" PRIu64 ", MB/s read %" PRIu64 " write %" PRIu64
	       ", knee at depth %u\n", "device model (I/O classes):",
	       major(dev), minor(dev), file, p.read_iops, p.write_iops,
	       p.read_bw / 1000000, p.write_bw / 1000000, p.knee_depth);
}

static int probe_path(struct dmaio_loop *loop, const char *path)
{
	char tmp[4096];
	struct dmaio_file *f;
	struct stat st;
	int ret, is_dir, made = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "dmaio-info: %s: %s\n", path, strerror(errno));
		return 1;
	}
	is_dir = S_ISDIR(st.st_mode);
	if (is_dir) {
		snprintf(tmp, sizeof(tmp), "%s/.dmaio-info.%d", path, (int)getpid());
		ret = dmaio_file_open_flags_wait(loop, tmp,
						 O_RDWR | O_CREAT | O_EXCL, 0600,
						 &f);
		made = ret == 0;
	} else {
		ret = dmaio_file_open_wait(loop, path, &f);
	}
	printf("\n%s (%s)\n", path, fs_name(path));
	if (ret) {
		printf("  cannot open%s: %s\n", is_dir ? " a file in it" : "",
		       dmaio_strerror(ret));
		return 1;
	}
	printf("  %-28s %s\n", "O_DIRECT:",
	       dmaio_file_is_direct(f) ? "yes"
				       : "no (buffered fallback on helper threads)");
	printf("  %-28s %zu bytes (from %s)\n", "alignment:",
	       dmaio_file_alignment(f), dmaio_file_alignment_source(f));
	printf("  %-28s %zu KiB\n", "largest request:", dmaio_file_max_io(f) / 1024);
	print_model(&st);
	if (made) {
		/* a fresh file: the hint first, XFS refuses it once extents exist */
		result("extent-size hints:",
		       dmaio_file_hint_extent_size_wait(f, 1 << 20));
		result("fallocate:", dmaio_file_pre_allocate_wait(f, 1 << 20));
		result("hole punching:",
		       dmaio_file_deallocate_wait(f, 0, 1 << 20));
		result("fdatasync:", dmaio_file_fdatasync_wait(f));
		dmaio_file_remove_wait(f);
	} else {
		printf("  (pass a directory to probe fallocate and extent hints)\n");
	}
	dmaio_file_close_wait(f);
	return 0;
}

/*
 * The library ignores a DMAIO_DISABLE word it does not know (its API: a
 * newer program's words must not break an older library), so a typo
 * ("copyrange") leaves the feature on without a sign: name each here,
 * split by the library's own rule (lib/disable_words.c).
 */
static void on_unknown_word(const char *word, size_t n, void *arg)
{
	const char *known;
	size_t i;

	(void)arg;
	fprintf(stderr, "dmaio-info: DMAIO_DISABLE: unknown word \"%.*s\", "
			"ignored by the library (known:", (int)n, word);
	for (i = 0; (known = dmaio__disable_word(i)); i++)
		fprintf(stderr, " %s", known);
	fprintf(stderr, ")\n");
}

/* What the probes cost the loop: the counters dmaio_loop_stats() keeps. */
static void print_loop_stats(struct dmaio_loop *loop)
{
	struct dmaio_loop_stats st;

	st.size = sizeof(st);
	if (dmaio_loop_stats(loop, &st))
		return;
	printf("loop statistics of these probes:\n");
	printf("  %-28s %" PRIu64 " calls, %" PRIu64 " iocbs, longest %.1f us, "
	       "%" PRIu64 " over 1 ms, %" PRIu64 " EAGAIN\n", "io_submit:",
	       st.submit_calls, st.iocbs, (double)st.submit_ns_max / 1e3,
	       st.submit_stalls, st.submit_eagain);
	printf("  %-28s %" PRIu64 " from the ring, %" PRIu64
	       " by io_getevents\n", "completions:", st.reaped_ring,
	       st.reaped_syscall);
	printf("  %-28s %" PRIu64 " (%" PRIu64 " idle); %" PRIu64
	       " helper-thread operations\n", "wake-ups:", st.wakeups,
	       st.wakeups_idle, st.helper_ops);
}

int main(int argc, char **argv)
{
	struct dmaio_loop *loop;
	struct utsname u;
	uint64_t feat;
	int i, ret, bad = 0;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: dmaio-info [PATH...]   (default: .)\n");
		return 0;
	}
	uname(&u);
	printf("kernel %s %s, libdmaio %d.%d\n", u.release, u.machine,
	       DMAIO_VERSION_MAJOR, DMAIO_VERSION_MINOR);
	printf("  %-28s %ld in use of %ld\n", "aio-nr / aio-max-nr:",
	       proc_long("/proc/sys/fs/aio-nr"),
	       proc_long("/proc/sys/fs/aio-max-nr"));
	ret = dmaio_loop_new(&loop, NULL);
	if (ret) {
		printf("  cannot create a loop: %s\n  %s\n", dmaio_strerror(ret),
		       dmaio_last_error());
		return 1;
	}
	feat = dmaio_loop_features(loop);
	if (getenv("DMAIO_DISABLE")) {
		printf("  (DMAIO_DISABLE=%s)\n", getenv("DMAIO_DISABLE"));
		fflush(stdout); /* warnings follow the line they are about */
		dmaio__disable_words(getenv("DMAIO_DISABLE"), on_unknown_word,
				     NULL);
	}
#define DMAIO_FEATURE(bit, word, name, profile, desc, probe) \
	printf("  %-28s %s\n", desc ":", yes(feat & (bit)));
#include "features.def"
	if (argc < 2)
		bad |= probe_path(loop, ".");
	for (i = 1; i < argc; i++)
		bad |= probe_path(loop, argv[i]);
	print_loop_stats(loop);
	print_waiting();
	dmaio_loop_free(loop);
	return bad;
}
