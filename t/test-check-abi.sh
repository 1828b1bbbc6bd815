#!/bin/sh
# SPDX-License-Identifier: MIT
# libdmaio.so needs nothing newer than glibc 2.17 and LIBAIO_0.4; and
# check-abi does catch a library that does (getrandom is glibc 2.25), and
# one calling a function no library provides: what a getrandom call looks
# like where glibc is 2.17 (no version to compare, so it once passed).
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmaio-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..3"
if out=$("${top_srcdir:-.}/tools/check-abi" "${top_builddir:-.}/lib/.libs/libdmaio.so" 2>&1); then
	echo "ok 1 - check-abi: $(echo "$out" | tail -n 1)"
else
	echo "not ok 1 - check-abi"; echo "$out" | sed 's/^/# /'
fi
cat > "$tmp/new.c" <<'C'
#include <sys/types.h>
ssize_t getrandom(void *buf, size_t len, unsigned flags);
int uses_new_glibc(void) { char b[4]; return (int)getrandom(b, 4, 0); }
C
if ${CC:-cc} -shared -fPIC -o "$tmp/libnew.so" "$tmp/new.c" 2>/dev/null; then
	if out=$("${top_srcdir:-.}/tools/check-abi" "$tmp/libnew.so" 2>&1); then
		echo "not ok 2 - check-abi passed a library that needs getrandom"
	else
		echo "ok 2 - check-abi rejects a library needing glibc 2.25 ($(echo "$out" | head -n 1))"
	fi
else
	echo "ok 2 # SKIP cannot build the control library"
fi
cat > "$tmp/none.c" <<'C'
int dmaio_test_no_such_function(void);
int uses_missing(void) { return dmaio_test_no_such_function(); }
C
if ${CC:-cc} -shared -fPIC -o "$tmp/libnone.so" "$tmp/none.c" 2>/dev/null; then
	if out=$("${top_srcdir:-.}/tools/check-abi" "$tmp/libnone.so" 2>&1); then
		echo "not ok 3 - check-abi passed a library calling a function no library has"
	else
		echo "ok 3 - check-abi rejects an unversioned reference nothing defines ($(echo "$out" | head -n 1))"
	fi
else
	echo "ok 3 # SKIP cannot build the control library"
fi
