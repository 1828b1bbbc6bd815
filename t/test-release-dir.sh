#!/bin/sh
# SPDX-License-Identifier: MIT
# The allocation tests of t/test_regressions, run as a program whose path
# names a release directory (libdmaio-1.2.0/: make distcheck, rpmbuild's
# BUILD/, dpkg-buildpackage, a user's unpacked tarball). They tell the
# library's allocations from the program's by the object's file name, and
# must not take the program for the library.
set -u
top_builddir=${top_builddir:-.}
abs=$(cd "$top_builddir" && pwd)
bin=
for b in "$abs/t/.libs/lt-test_regressions" "$abs/t/.libs/test_regressions" \
	"$abs/t/test_regressions"; do
	if [ -f "$b" ] && ! grep -q 'libtool' "$b" 2>/dev/null; then
		bin=$b
		break
	fi
done
if [ -z "$bin" ]; then
	echo "1..0 # SKIP no built t/test_regressions binary"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmaio-rel.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/libdmaio-1.2.0/t"
cp "$bin" "$tmp/libdmaio-1.2.0/t/test_regressions" || exit 1
# the copy finds the library of this build tree, as libtool's wrapper
# would; its TAP is this test's
LD_LIBRARY_PATH="$abs/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	"$tmp/libdmaio-1.2.0/t/test_regressions"
