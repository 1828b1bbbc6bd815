/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz target without libFuzzer, for make check: every input in the
 * corpus directories given, then random inputs from a fixed seed. A broken
 * invariant aborts, which fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
/* a slow target may ask for fewer random inputs */
extern unsigned long fuzz_random_runs __attribute__((weak));
/* and may have state to free at the end */
void fuzz_cleanup(void) __attribute__((weak));

static unsigned run_dir(const char *dir)
{
	static uint8_t buf[1 << 16];
	char path[4096];
	struct dirent *e;
	unsigned count = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		FILE *fp;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fp = fopen(path, "rb");
		if (!fp)
			continue;
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
		count++;
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	static uint8_t buf[4096];
	const char *env = getenv("DMAIO_FUZZ_RANDOM");
	unsigned long i, random_runs = env ? strtoul(env, NULL, 0)
				      : &fuzz_random_runs ? fuzz_random_runs : 2000;
	unsigned corpus = 0;
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	int k;

	for (k = 1; k < argc; k++)
		corpus += run_dir(argv[k]);
	if (argc == 1) {
		/* t/fuzz_NAME (or libtool's lt-fuzz_NAME): t/fuzz/corpus/NAME */
		const char *base = strrchr(argv[0], '/'), *name;
		const char *src = getenv("top_srcdir");
		char dir[4096];

		base = base ? base + 1 : argv[0];
		name = strstr(base, "fuzz_");
		name = name ? name + 5 : base;
		snprintf(dir, sizeof(dir), "%s/t/fuzz/corpus/%s",
			 src ? src : ".", name);
		corpus += run_dir(dir);
	}
	for (i = 0; i < random_runs; i++) {
		size_t n = (size_t)(x % 300), j;

		for (j = 0; j < n; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[j] = (uint8_t)x;
		}
		x += i;
		LLVMFuzzerTestOneInput(buf, n);
	}
	if (fuzz_cleanup)
		fuzz_cleanup();
	printf("1..1\nok 1 - %s: %u corpus inputs and %lu random ones kept "
	       "every invariant\n", argv[0], corpus, random_runs);
	return 0;
}
