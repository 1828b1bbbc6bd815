#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/abi-compare, the rules of make check-abi-release, on small
# libraries built here from one header in variants: what keeps old
# programs working passes, everything else fails.
set -u
if ! command -v abidiff >/dev/null 2>&1; then
	echo "1..0 # SKIP abidiff not installed (abigail-tools)"; exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmaio-abicmp.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/inc"
cat > "$tmp/inc/dmaio.h" <<'H'
#include <stddef.h>
#include <stdint.h>
struct dmaio_writer_opts {
	size_t size;
#ifdef MID
	int inserted;
#endif
#ifdef RETYPE
	uint64_t buffer_size;
#else
	unsigned buffer_size;
#endif
	int sync_on_close;
#ifdef APPEND
	uint64_t start;
	unsigned flags;
#endif
};
struct dmaio_iovec {
	uint64_t pos;
	size_t len;
#ifdef IOVEC
	int extra;
#endif
};
int dmaio_writer_new(const struct dmaio_writer_opts *o);
#ifdef SIG
long dmaio_read(const struct dmaio_iovec *v, long n);
#else
int dmaio_read(const struct dmaio_iovec *v, int n);
#endif
int dmaio_kept(void);
int dmaio_added(void);
H
cat > "$tmp/lib.c" <<'C'
#include "dmaio.h"
int dmaio_writer_new(const struct dmaio_writer_opts *o) { return (int)o->size; }
#ifdef SIG
long dmaio_read(const struct dmaio_iovec *v, long n) { return (long)v->len + n; }
#else
int dmaio_read(const struct dmaio_iovec *v, int n) { return (int)v->len + n; }
#endif
#ifndef REMOVE
int dmaio_kept(void) { return 0; }
#endif
#if defined(ADD_NEW) || defined(ADD_OLD)
int dmaio_added(void) { return 1; }
#endif
C
# build NAME [VARIANT]: libNAME.so with the variant's map and header
build() {
	{
		printf 'LIBDMAIO_0.1 {\n\tglobal:\n\t\tdmaio_writer_new;\n\t\tdmaio_read;\n'
		[ "${2:-}" = REMOVE ] || printf '\t\tdmaio_kept;\n'
		[ "${2:-}" = ADD_OLD ] && printf '\t\tdmaio_added;\n'
		printf '\tlocal:\n\t\t*;\n};\n'
		[ "${2:-}" = ADD_NEW ] &&
			printf 'LIBDMAIO_1.1 {\n\tglobal:\n\t\tdmaio_added;\n} LIBDMAIO_0.1;\n'
	} > "$tmp/$1.map"
	${CC:-cc} -g -O0 -shared -fPIC -I"$tmp/inc" ${2:+-D$2} -o "$tmp/lib$1.so" \
		"$tmp/lib.c" -Wl,-soname,libdmaio.so.1 \
		-Wl,--version-script="$tmp/$1.map" 2> "$tmp/$1.cc.log"
}
i=0
# case WANT VARIANT WHAT: build the variant, compare it with the base
case_() {
	i=$((i + 1))
	if ! build "v$i" "$2"; then
		echo "not ok $i - $3: cannot build"; sed 's/^/# /' "$tmp/v$i.cc.log"; return
	fi
	"${top_srcdir:-.}/tools/abi-compare" "$tmp/libbase.so" "$tmp/inc" \
		"$tmp/libv$i.so" "$tmp/inc" > "$tmp/v$i.out" 2>&1
	rc=$?
	if { [ "$1" = pass ] && [ "$rc" = 0 ]; } || { [ "$1" = fail ] && [ "$rc" = 1 ]; }; then
		[ "$1" = pass ] && verdict=passes || verdict=fails
		echo "ok $i - $3: $verdict ($(grep 'abi-compare' "$tmp/v$i.out" | tail -n 1))"
	else
		echo "not ok $i - $3: exit $rc, wanted $1"; sed 's/^/# /' "$tmp/v$i.out"
	fi
}
echo "1..10"
if ! build base ""; then
	echo "Bail out! cannot build the base library"; sed 's/^/# /' "$tmp/base.cc.log"; exit 1
fi
case_ pass "" "the same library"
case_ pass ADD_NEW "a function added in a new node"
case_ pass APPEND "members appended to a sized options struct"
case_ fail ADD_OLD "a function added to the released node"
case_ fail REMOVE "a function removed"
case_ fail SIG "a function's parameter and return types changed"
case_ fail RETYPE "an options member retyped (the next one moves)"
case_ fail MID "an options member inserted before the end"
case_ fail IOVEC "a member appended to a struct without a size field"
# the tool itself refuses a library without debug information
i=$((i + 1))
${CC:-cc} -shared -fPIC -I"$tmp/inc" -o "$tmp/nodebug.so" "$tmp/lib.c" 2>/dev/null
"${top_srcdir:-.}/tools/abi-compare" "$tmp/libbase.so" "$tmp/inc" \
	"$tmp/nodebug.so" "$tmp/inc" > "$tmp/nodebug.out" 2>&1
rc=$?
if [ "$rc" = 2 ] && grep -q 'no debug info' "$tmp/nodebug.out"; then
	echo "ok $i - a library built without -g is refused (exit 2)"
else
	echo "not ok $i - no-debug library: exit $rc"; sed 's/^/# /' "$tmp/nodebug.out"
fi
