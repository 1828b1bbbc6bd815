#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a scratch root, then build and run a program against the
# installed tree with nothing but pkg-config's answers.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmaio-pc.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..3"
if ${MAKE:-make} -s -C "${top_builddir:-.}" install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1; then
	echo "ok 1 - make install into a scratch root"
else
	echo "not ok 1 - make install failed"; sed 's/^/# /' "$tmp/install.log"; exit 0
fi
pcdir=$(dirname "$(find "$tmp/root" -name dmaio.pc | head -n 1)")
libdir=$(dirname "$(find "$tmp/root" -name 'libdmaio.so' | head -n 1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
cat > "$tmp/prog.c" <<'PROG'
#include <dmaio.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	struct dmaio_loop *loop;
	struct dmaio_file *f;
	struct dmaio_buf *b;
	struct dmaio_view *v;
	int ok;

	(void)argc;
	if (dmaio_loop_new(&loop, NULL) || dmaio_file_create_wait(loop, argv[1], &f))
		return 1;
	b = dmaio_file_alloc_buf(f, 4096);
	memset(dmaio_buf_data(b), 'z', 4096);
	if (dmaio_file_write_at_wait(f, b, 0) != 4096)
		return 2;
	dmaio_buf_unref(b);
	if (dmaio_file_read_at_wait(f, 10, 5, &v) != 5)
		return 3;
	ok = memcmp(dmaio_view_data(v), "zzzzz", 5) == 0;
	dmaio_view_release(v);
	dmaio_file_close_wait(f);
	dmaio_loop_free(loop);
	puts(ok ? "installed libdmaio works" : "wrong bytes");
	return !ok;
}
PROG
if ${CC:-cc} ${SAN_CFLAGS:-} -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs dmaio) >"$tmp/cc.log" 2>&1; then
	echo "ok 2 - compiled with pkg-config --cflags --libs dmaio"
else
	echo "not ok 2 - compile failed"; sed 's/^/# /' "$tmp/cc.log"; exit 0
fi
if out=$(LD_LIBRARY_PATH="$libdir" "$tmp/prog" "$tmp/file" 2>&1) && [ "$out" = "installed libdmaio works" ]; then
	echo "ok 3 - the program ran against the installed library"
else
	echo "not ok 3 - the program failed: $out"
fi
