#!/bin/sh
# SPDX-License-Identifier: MIT
# The files of lib/ call each other in layers, never in a circle
# (lib/loop_life.c describes the layers): tools/check-layers on the
# library's objects finds any cycle of calls between two or more files.
set -u
objs="${top_builddir:-.}/lib/.libs"
tool="${top_srcdir:-.}/tools/check-layers"
echo "1..2"
if ! command -v python3 >/dev/null 2>&1; then
	echo "# python3 is needed to run tools/check-layers"
	exit 77
fi
out=$(python3 "$tool" "$objs" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	echo "ok 1 - no call cycle among the files of lib/"
else
	echo "not ok 1 - tools/check-layers exited $rc"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
# the check itself must see a cycle: one made up of two objects
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf 'void b(void);\nvoid a(void) { b(); }\n' > "$tmp/a.c"
printf 'void a(void);\nvoid b(void) { a(); }\n' > "$tmp/b.c"
if ${CC:-cc} -c -o "$tmp/a.o" "$tmp/a.c" &&
   ${CC:-cc} -c -o "$tmp/b.o" "$tmp/b.c"; then
	if python3 "$tool" "$tmp" > "$tmp/out" 2>&1; then
		echo "not ok 2 - a cycle of two files went unseen"
	else
		echo "ok 2 - a cycle of two files is reported"
	fi
else
	echo "not ok 2 - could not compile the cycle sample"
fi
