#!/bin/sh
# SPDX-License-Identifier: MIT
# The installed tools do what their pages say, checked with cmp and stat.
set -u
b="${top_builddir:-.}"
tmp=$(mktemp -d "$PWD/dmaio-tools.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..11"
i=0
check() { i=$((i + 1)); if [ "$1" = 0 ]; then echo "ok $i - $2"; else echo "not ok $i - $2"; fi; }

for size in 0 1 4095 1048577 5000003; do
	head -c "$size" /dev/urandom > "$tmp/src.$size"
	chmod 640 "$tmp/src.$size"
	"$b/tools/dmaio-cp" "$tmp/src.$size" "$tmp/dst.$size" 2> "$tmp/err"
	rc=$?
	cmp -s "$tmp/src.$size" "$tmp/dst.$size" && [ "$rc" = 0 ] &&
		[ "$(stat -c %s "$tmp/dst.$size")" = "$size" ] &&
		[ "$(stat -c %a "$tmp/dst.$size")" = 640 ]
	check $? "dmaio-cp copies $size bytes exactly (cmp, size, mode)"
done
"$b/tools/dmaio-cp" "$tmp/nope" "$tmp/x" 2> "$tmp/err"
[ $? = 1 ] && grep -q "No such file" "$tmp/err"
check $? "dmaio-cp reports a missing source"
# a copy onto the source itself (the same path, a hard link, a symlink to
# it) is refused before anything is truncated, as cp refuses it
head -c 100000 /dev/urandom > "$tmp/self"
cp "$tmp/self" "$tmp/self.orig"
ln "$tmp/self" "$tmp/self.hard"
ln -s "$tmp/self" "$tmp/self.sym"
for dst in "$tmp/self" "$tmp/self.hard" "$tmp/self.sym"; do
	"$b/tools/dmaio-cp" "$tmp/self" "$dst" 2> "$tmp/err"
	rc=$?
	[ "$rc" = 1 ] && grep -q "are the same file" "$tmp/err" &&
		cmp -s "$tmp/self" "$tmp/self.orig"
	check $? "dmaio-cp refuses to copy onto the source ($(basename "$dst")), source intact"
done
# an existing, longer destination is truncated to the copy
head -c 300000 /dev/urandom > "$tmp/long"
"$b/tools/dmaio-cp" "$tmp/src.4095" "$tmp/long" 2> "$tmp/err" &&
	cmp -s "$tmp/src.4095" "$tmp/long"
check $? "dmaio-cp replaces a longer destination exactly"
out=$("$b/tools/dmaio-info" "$tmp" 2>&1)
echo "$out" | grep -q "O_DIRECT:" && echo "$out" | grep -q "alignment:" &&
	echo "$out" | grep -q "user-space reaping:" &&
	echo "$out" | grep -Eq "virtual machine: +(yes|no|unknown)"
check $? "dmaio-info reports features, the file system and what waiting costs"
