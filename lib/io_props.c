/* SPDX-License-Identifier: MIT */
/*
 * The device models dmaio-tune writes (format: dmaio-io-properties(5)):
 *
 *	[device 253:0]
 *	mount = /data
 *	read_iops = 52000
 *	...
 *
 * The file is read once per process, on the first lookup, into a table
 * that never changes afterwards, so lookups from any thread need no lock.
 * It is written by a tool and edited by people: whatever does not parse
 * is skipped line by line (never a crash, never a half-read section taken
 * for another device's), unknown keys and section kinds are ignored so
 * that an older library reads a newer file. The library has no channel to
 * say so; dmaio-tune names the malformed lines when it rewrites the file.
 * Layer 0: calls nothing of the library.
 */
#include "base.h"
#include "io_props.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Far more devices than a machine has: bounds what a stray file costs. */
#define MAX_SECTIONS 4096
/* Lines of 1024 bytes or more (the newline aside) are malformed. */
#define MAX_LINE 1024
/* A model file is a few KiB; a file this big is the wrong file, and the
 * first lookup must not spend seconds reading it. */
#define MAX_FILE (16 << 20)

struct entry {
	dev_t dev;
	struct dmaio__io_props p;
};

struct table {
	struct entry *e;
	size_t n, cap;
	struct entry *cur;	/* the section keys go to; NULL: skip them */
	unsigned bad_line;	/* first malformed line, 0: none */
};

static const struct {
	const char *key;
	size_t off, size;
} fields[] = {
#define F(name) { #name, offsetof(struct dmaio__io_props, name), \
		  sizeof(((struct dmaio__io_props *)0)->name) }
	F(read_iops), F(write_iops), F(read_bw), F(write_bw),
	F(knee_depth), F(read_lat_us), F(write_lat_us),
#undef F
};

static void note_bad(struct table *t, unsigned line)
{
	if (!t->bad_line)
		t->bad_line = line;
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r\n");
	end = s + strlen(s);
	while (end > s && strchr(" \t\r\n", end[-1]))
		*--end = 0;
	return s;
}

/* A whole decimal number up to max: no sign, no suffix. 0 or -1. */
static int parse_number(const char *s, uint64_t max, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x > max)
		return -1;
	*v = x;
	return 0;
}

/* "[device MAJ:MIN]" opens a section; other kinds are skipped whole. */
static void parse_header(struct table *t, char *s, unsigned line)
{
	char *end = strchr(s, ']');
	uint64_t maj, min;
	char *colon, *q;

	t->cur = NULL;
	if (!end || *trim(end + 1)) {
		note_bad(t, line);
		return;
	}
	*end = 0;
	s = trim(s + 1);
	if (strncmp(s, "device", 6) || !strchr(" \t", s[6]))
		return; /* a kind of section a later version writes */
	s = trim(s + 6);
	colon = strchr(s, ':');
	if (!colon) {
		note_bad(t, line);
		return;
	}
	*colon = 0;
	q = trim(colon + 1);
	/* dev_t's major is 12 bits on old kernels, 32 in glibc's encoding */
	if (parse_number(trim(s), UINT32_MAX, &maj) ||
	    parse_number(q, UINT32_MAX, &min)) {
		note_bad(t, line);
		return;
	}
	if (t->n == MAX_SECTIONS) {
		note_bad(t, line);
		return;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;
		struct entry *e = realloc(t->e, cap * sizeof(*e));

		if (!e)
			return; /* the sections read so far still serve */
		t->e = e;
		t->cap = cap;
	}
	t->cur = &t->e[t->n++];
	memset(t->cur, 0, sizeof(*t->cur));
	t->cur->dev = makedev((unsigned)maj, (unsigned)min);
}

static void parse_key(struct table *t, char *s, unsigned line)
{
	char *eq = strchr(s, '='), *key, *val;
	uint64_t v;
	size_t i;

	if (!eq) {
		note_bad(t, line);
		return;
	}
	*eq = 0;
	key = trim(s);
	val = trim(eq + 1);
	if (!*key) {
		note_bad(t, line);
		return;
	}
	if (!t->cur)
		return; /* before any section, or in one we skip */
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t max;

		if (strcmp(key, fields[i].key))
			continue;
		max = fields[i].size == 8 ? UINT64_MAX : UINT32_MAX;
		if (parse_number(val, max, &v)) {
			note_bad(t, line);
			return;
		}
		if (fields[i].size == 8) {
			memcpy((char *)&t->cur->p + fields[i].off, &v, 8);
		} else {
			uint32_t w = (uint32_t)v;

			/* unsigned and uint32_t: both 4 bytes on Linux */
			memcpy((char *)&t->cur->p + fields[i].off, &w, 4);
		}
		return;
	}
	/* an unknown key: a later version's, or a note for people */
}

static void parse_line(struct table *t, char *s, unsigned line)
{
	char *hash = s;

	/* a comment starts a line or follows a blank; a mount point may
	 * hold a '#' of its own */
	while ((hash = strchr(hash, '#')) != NULL) {
		if (hash == s || strchr(" \t", hash[-1])) {
			*hash = 0;
			break;
		}
		hash++;
	}
	s = trim(s);
	if (!*s)
		return;
	if (*s == '[')
		parse_header(t, s, line);
	else
		parse_key(t, s, line);
}

/*
 * The next line of in, without its newline, into buf: 0, or -1 at the
 * end. A line too long for buf, or holding a NUL byte, is *bad: fgets
 * would not tell where such a line ends.
 */
static int next_line(FILE *in, char *buf, size_t size, int *bad)
{
	size_t n = 0;
	int c, any = 0;

	*bad = 0;
	while ((c = getc_unlocked(in)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (!c || n + 1 >= size)
			*bad = 1;
		else
			buf[n++] = (char)c;
	}
	buf[n] = 0;
	return any ? 0 : -1;
}

static int parse_file(const char *path, struct table *t)
{
	char buf[MAX_LINE];
	unsigned line = 0;
	struct stat st;
	int bad, err = 0;
	FILE *in;

	in = fopen(path, "re");
	if (!in)
		return -errno;
	/* never a device or a pipe: /dev/zero would be one endless line */
	if (fstat(fileno(in), &st) || !S_ISREG(st.st_mode) ||
	    st.st_size > MAX_FILE) {
		fclose(in);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	while (!next_line(in, buf, sizeof(buf), &bad)) {
		line++;
		if (bad)
			note_bad(t, line);
		else
			parse_line(t, buf, line);
	}
	if (ferror(in))
		err = -EIO;
	fclose(in);
	return err;
}

/* A section that gives no figure (0 is none) is no model. */
static int usable(const struct dmaio__io_props *p)
{
	return p->read_iops || p->write_iops || p->read_bw || p->write_bw ||
	       p->knee_depth || p->read_lat_us || p->write_lat_us;
}

/* The last usable section of dev wins: a later one was added after. */
static int find(const struct table *t, dev_t dev, struct dmaio__io_props *p)
{
	size_t i = t->n;

	while (i-- > 0) {
		if (t->e[i].dev != dev || !usable(&t->e[i].p))
			continue;
		*p = t->e[i].p;
		return 0;
	}
	return -ENOENT;
}

int dmaio__io_props_read_file(const char *path, dev_t dev,
			      struct dmaio__io_props *p, unsigned *bad_line)
{
	struct table t;
	int ret;

	memset(&t, 0, sizeof(t));
	ret = parse_file(path, &t);
	if (bad_line)
		*bad_line = t.bad_line;
	if (!ret)
		ret = find(&t, dev, p);
	free(t.e);
	return ret;
}

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static struct table table;

static void load(void)
{
	const char *path = getenv("DMAIO_IO_PROPERTIES");

	if (!path)
		path = DMAIO_IO_PROPS_DEFAULT;
	/* set but empty: no model, whatever /etc holds */
	if (*path)
		parse_file(path, &table); /* what it read is kept */
	table.cur = NULL;
}

int dmaio__io_props_lookup(dev_t dev, struct dmaio__io_props *p)
{
	pthread_once(&table_once, load);
	return find(&table, dev, p);
}
