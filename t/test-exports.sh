#!/bin/sh
# SPDX-License-Identifier: MIT
# The exported symbols, the header's prototypes and the version script
# name exactly the same set, all dmaio_*.
set -u
lib="${top_builddir:-.}/lib/.libs/libdmaio.so"
hdr="${top_srcdir:-.}/include/dmaio.h"
map="${top_srcdir:-.}/lib/libdmaio.map"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..4"
${NM:-nm} -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
	sed 's/@.*//' | sort -u > "$tmp/exported"
grep -o '^[a-z].*[ *]dmaio_[a-z0-9_]*(' "$hdr" | grep -o 'dmaio_[a-z0-9_]*(' |
	tr -d '(' | sort -u > "$tmp/declared"
grep -o '^[[:space:]]*dmaio_[a-z0-9_]*;' "$map" | tr -d ' \t;' | sort -u > "$tmp/mapped"
if [ -s "$tmp/exported" ]; then echo "ok 1 - library exports symbols"; else echo "not ok 1 - nothing exported from $lib"; fi
if grep -qv '^dmaio_' "$tmp/exported"; then
	echo "not ok 2 - exports outside dmaio_*: $(grep -v '^dmaio_' "$tmp/exported" | tr '\n' ' ')"
else
	echo "ok 2 - only dmaio_* exported"
fi
if diff -u "$tmp/declared" "$tmp/exported" > "$tmp/d1"; then
	echo "ok 3 - exports match the header's prototypes"
else
	echo "not ok 3 - exports differ from the header"; sed 's/^/# /' "$tmp/d1"
fi
if diff -u "$tmp/declared" "$tmp/mapped" > "$tmp/d2"; then
	echo "ok 4 - version script matches the header"
else
	echo "not ok 4 - version script differs from the header"; sed 's/^/# /' "$tmp/d2"
fi
