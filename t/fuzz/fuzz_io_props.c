/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the parser of dmaio-io-properties(5) (lib/io_props.c).
 * An input is a file, as it is or spelt with a table of the format's
 * pieces (so that random bytes make headers, keys and numbers). Whatever
 * it holds: the parser answers 0 with a figure or -ENOENT leaving the
 * result alone, names a first malformed line that exists, and a valid
 * section of ours appended after it is read exactly as written.
 */
#include "config.h"
#include "io_props.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

unsigned long fuzz_random_runs = 1000;

static const char *const pieces[] = {
	"[device ", "1", ":", "2", "]", "\n", "\n", "\n", " = ", "=", " ",
	"\t", "#", "read_iops", "write_iops", "read_bw", "write_bw",
	"knee_depth", "read_lat_us", "write_lat_us", "mount", "0", "7",
	"4294967295", "4294967296", "18446744073709551615",
	"18446744073709551616", "-1", "x", "[class q]", "[", "]\n", "\r",
	"[device 1:2]\n", "[device 3:4]\n", "[device 1: 2 ]", "[device1:2]",
};

static char path[64];

void fuzz_cleanup(void)
{
	if (path[0])
		unlink(path);
}

static size_t spell(const uint8_t *data, size_t n, char *out, size_t cap)
{
	size_t len = 0, i, k;

	for (i = 0; i < n; i++) {
		const char *p;

		if (data[i] == 0xff) {
			/* a line too long to be one */
			for (k = 0; k < 1100 && len < cap; k++)
				out[len++] = 'a';
			continue;
		}
		if (data[i] == 0xfe) {
			if (len < cap)
				out[len++] = 0;
			continue;
		}
		p = pieces[data[i] % (sizeof(pieces) / sizeof(pieces[0]))];
		k = strlen(p);
		if (len + k > cap)
			break;
		memcpy(out + len, p, k);
		len += k;
	}
	return len;
}

static int parse(const char *text, size_t len, struct dmaio__io_props *p,
		 unsigned *bad)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK(fwrite(text, 1, len, f) == len);
	CHECK(fclose(f) == 0);
	return dmaio__io_props_read_file(path, makedev(1, 2), p, bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static const char ours[] = "\n[device 1:2]\nknee_depth = 77\n";
	static char text[1 << 17];
	struct dmaio__io_props p, sentinel;
	size_t len, lines = 1, i;
	unsigned bad;
	int r;

	if (!path[0])
		snprintf(path, sizeof(path), "fuzz-io-props.%d", (int)getpid());
	if (n && data[0] & 1) {
		len = spell(data + 1, n - 1, text, sizeof(text) - sizeof(ours));
	} else {
		len = n > sizeof(text) - sizeof(ours) ? 0 : n;
		memcpy(text, data, len);
	}
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';

	memset(&sentinel, 0x5a, sizeof(sentinel));
	p = sentinel;
	r = parse(text, len, &p, &bad);
	CHECK(r == 0 || r == -ENOENT);
	CHECK(bad <= lines);
	if (r)
		CHECK(!memcmp(&p, &sentinel, sizeof(p)));
	else
		CHECK(p.read_iops || p.write_iops || p.read_bw || p.write_bw ||
		      p.knee_depth || p.read_lat_us || p.write_lat_us);

	/* nothing before a good section spoils it */
	memcpy(text + len, ours, sizeof(ours) - 1);
	r = parse(text, len + sizeof(ours) - 1, &p, &bad);
	CHECK(r == 0);
	CHECK(p.knee_depth == 77 && !p.read_iops && !p.write_iops &&
	      !p.read_bw && !p.write_bw && !p.read_lat_us && !p.write_lat_us);
	return 0;
}
