#!/bin/sh
# SPDX-License-Identifier: MIT
# The installed tools do what their pages say, checked with cmp and stat.
set -u
b="${top_builddir:-.}"
tmp=$(mktemp -d "$PWD/dmaio-tools.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..27"
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
# the device model the classes use: the one a file names for the device,
# or none (learnt)
d=$((0x$(stat -c %D "$tmp")))  # coreutils 8.22 (RHEL 7) has no %Hd
dev=$(((d >> 8) & 0xfff)):$(((d & 0xff) | ((d >> 12) & 0xfff00)))
printf '[device %s]\nread_iops = 4321\nknee_depth = 16\n' "$dev" > "$tmp/model"
with=$(DMAIO_IO_PROPERTIES="$tmp/model" "$b/tools/dmaio-info" "$tmp" 2>&1)
without=$(DMAIO_IO_PROPERTIES= "$b/tools/dmaio-info" "$tmp" 2>&1)
echo "$with" | grep -Eq "device model .*$dev from $tmp/model: 4 KiB IOPS read 4321 .*knee at depth 16" &&
	echo "$without" | grep -Eq "device model .*none for $dev .*learnt from its throughput against depth"
check $? "dmaio-info names the device model the I/O classes use ($dev), or none (learnt from throughput)"
# DMAIO_DISABLE: the library ignores words it does not know; dmaio-info
# names each (split as the library splits them: commas and spaces)
DMAIO_DISABLE="copyrange, tmpfile,,bogus  user_reap" "$b/tools/dmaio-info" \
	"$tmp" > "$tmp/out" 2> "$tmp/err"
rc=$?
DMAIO_DISABLE=",all user_reap " "$b/tools/dmaio-info" "$tmp" > /dev/null \
	2> "$tmp/err2"
[ "$rc" = 0 ] && grep -q 'unknown word "copyrange"' "$tmp/err" &&
	grep -q 'unknown word "bogus"' "$tmp/err" &&
	[ "$(grep -c "DMAIO_DISABLE" "$tmp/err")" = 2 ] &&
	grep -Eq "O_TMPFILE.*: +no" "$tmp/out" &&
	grep -Eq "user-space reaping: +no" "$tmp/out" &&
	! grep -q "DMAIO_DISABLE" "$tmp/err2"
check $? "dmaio-info warns of each DMAIO_DISABLE word the library ignores, only those"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/err"

# dmaio-fsqual: a --bs that is no multiple of 512 is refused at once (it
# used to spin for ever, its file left behind); so are other bad options
fsq="$b/tools/dmaio-fsqual"
mkdir "$tmp/fsq"
timeout 10 "$fsq" --bs=100 --writes=10 "$tmp/fsq" > /dev/null 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q "not a multiple of .*512" "$tmp/err" &&
	[ -z "$(ls -A "$tmp/fsq")" ]
check $? "dmaio-fsqual --bs=100: a usage error at once (status $rc), no file left"
st=0
for a in --writes=0 --bogus --bs=4k --bs=-4096; do
	timeout 10 "$fsq" $a "$tmp/fsq" > /dev/null 2>&1
	rc=$?
	[ "$rc" = 2 ] || { st=1; echo "# dmaio-fsqual $a: status $rc"; }
done
[ "$st" = 0 ] && [ -z "$(ls -A "$tmp/fsq")" ]
check $? "dmaio-fsqual --writes=0, --bogus, --bs=4k, --bs=-4096: usage errors (status 2)"
# at the file's alignment it measures (0: asynchronous, 3: not) and
# removes its file; below an alignment over 512 it refuses once the file
# is open, and removes it too
al=$("$b/tools/dmaio-info" "$tmp/fsq" 2>/dev/null |
	sed -n 's/^ *alignment: *\([0-9]*\) bytes.*/\1/p')
out=$(timeout 10 "$fsq" --bs="${al:-512}" --writes=20 "$tmp/fsq" 2>&1)
rc=$?
{ [ "$rc" = 0 ] || [ "$rc" = 3 ]; } && echo "$out" | grep -q "verdict:" &&
	[ -z "$(ls -A "$tmp/fsq")" ]
check $? "dmaio-fsqual --bs=${al:-?} (the alignment): measured (status $rc), no file left"
[ "$rc" = 0 ] || [ "$rc" = 3 ] || echo "$out" | sed 's/^/# /'
# Where this file system's alignment is 512, as root: a small ext4 on a
# loop device of 4096-byte sectors (util-linux 2.30+, kernel 4.14+)
big="$tmp/fsq"
why=""
if [ "${al:-512}" -le 512 ]; then
	why="this file system's alignment is 512, and"
	if [ "$(id -u)" != 0 ]; then
		why="$why no 4096-byte-sector loop device without root"
	elif ! command -v losetup > /dev/null || ! command -v mkfs.ext4 > /dev/null; then
		why="$why no losetup or mkfs.ext4 for a 4096-byte-sector one"
	else
		truncate -s 32M "$tmp/4k.img" && mkdir "$tmp/4k" &&
			dev=$(losetup --sector-size 4096 -f --show "$tmp/4k.img" 2>/dev/null)
		if [ -z "${dev:-}" ]; then
			why="$why losetup --sector-size 4096 failed (kernel 4.14+)"
		elif mkfs.ext4 -q -b 4096 "$dev" 2>/dev/null &&
			mount "$dev" "$tmp/4k" 2>/dev/null; then
			trap 'umount "$tmp/4k" 2>/dev/null; losetup -d "$dev"; rm -rf "$tmp"' EXIT
			big="$tmp/4k"
			al=$("$b/tools/dmaio-info" "$big" 2>/dev/null |
				sed -n 's/^ *alignment: *\([0-9]*\) bytes.*/\1/p')
			why=""
		else
			losetup -d "$dev"
			why="$why mkfs.ext4 or mount of a loop device failed"
		fi
	fi
fi
if [ -z "$why" ] && [ "${al:-512}" -gt 512 ]; then
	timeout 10 "$fsq" --bs=512 --writes=10 "$big" > /dev/null 2> "$tmp/err"
	rc=$?
	[ "$rc" = 1 ] && grep -q "not a multiple of the O_DIRECT alignment" "$tmp/err" &&
		[ -z "$(ls -A "$big" | grep -v '^lost+found$')" ]
	check $? "dmaio-fsqual --bs=512 where the alignment is $al: refused once open (status $rc), no file left"
else
	i=$((i + 1))
	[ -n "$why" ] || why="the alignment on 4096-byte sectors is ${al:-unknown}"
	echo "ok $i # SKIP dmaio-fsqual --bs below the alignment: $why"
fi

# dmaio-bench --ping: round trips on a watched socket while the loop does
# I/O, counted and ordered (min <= p50 <= p99 <= max; an echo's wait for
# the loop is part of its round trip), in text and JSON
bench="$b/tools/dmaio-bench"
num() { echo "$1" | sed -n "s/.*\"$2\":{[^}]*\"$3\":\([0-9]*\).*/\1/p"; }
out=$("$bench" --ping --verify --quiet --iodepth=8 --size=8M --runtime=0.3 \
	--file="$tmp/bench" 2>&1)
rc=$?
n=$(echo "$out" | sed -n 's/.*ping: \([0-9]*\) round trips (echoed every 100 us).*/\1/p')
[ "$rc" = 0 ] && echo "$out" | grep -q "errors=0 verified" &&
	[ "${n:-0}" -gt 0 ] && echo "$out" | grep -q "echo waiting for the loop"
check $? "dmaio-bench --ping: verified I/O and ${n:-no} paced round trips"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
json=$("$bench" --ping=0 --json --quiet --api=stream --rw=write --bs=64k \
	--iodepth=4 --size=64M --runtime=0.3 --file="$tmp/stream" 2>&1)
rc=$?
cnt=$(echo "$json" | sed -n 's/.*"ping":{"interval_us":0,"count":\([0-9]*\),"error":0,.*/\1/p')
mn=$(num "$json" rtt_ns min); p50=$(num "$json" rtt_ns p50)
p99=$(num "$json" rtt_ns p99); mx=$(num "$json" rtt_ns max)
wmx=$(num "$json" wait_ns max); smax=$(num "$json" loop_stats submit_ns_max)
[ "$rc" = 0 ] && [ "${cnt:-0}" -gt 0 ] && [ -n "$mn" ] && [ -n "$wmx" ] &&
	[ -n "$smax" ] && [ "$mn" -gt 0 ] && [ "$mn" -le "$p50" ] &&
	[ "$p50" -le "$p99" ] && [ "$p99" -le "$mx" ] && [ "$wmx" -le "$mx" ] &&
	echo "$json" | grep -q '"submit_stalls":[0-9]' &&
	{ ! command -v python3 > /dev/null ||
	  echo "$json" | python3 -c 'import json, sys; json.load(sys.stdin)'; }
check $? "dmaio-bench --ping=0 --api=stream --rw=write --json: ${cnt:-no} round trips, sane rtt_ns and loop_stats"
[ "${cnt:-0}" -gt 0 ] || echo "# $json"
"$bench" --ping --engine=psync > "$tmp/err" 2>&1
[ $? = 2 ] && grep -q -- "--ping: only with --engine=dmaio" "$tmp/err"
check $? "dmaio-bench --ping is refused without the dmaio engine (status 2)"
# dmaio-bench --files: the job over 8 files of a directory, every byte
# read checked, each file laid out at size/8 and nothing else made there
json() { echo "$1" | sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p"; }
out=$("$b/tools/dmaio-bench" --files=8 --size=2M --bs=4k --iodepth=8 \
	--rw=randrw --verify --ios=2000 --file="$tmp/many" --quiet 2>&1)
rc=$?
[ "$rc" = 0 ] && echo "$out" | grep -q "ios=2000 errors=0 verified" &&
	echo "$out" | grep -q "files=8 of 256KiB" &&
	[ "$(ls "$tmp/many" | wc -l)" = 8 ] &&
	[ "$(stat -c %s "$tmp/many/0")" = 262144 ] &&
	[ "$(stat -c %s "$tmp/many/7")" = 262144 ]
check $? "dmaio-bench --files=8: 2000 verified I/Os over 8 files of 256 KiB"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
mkdir "$tmp/cwd"
bench=$(cd "$b/tools" && pwd)/dmaio-bench
out=$(cd "$tmp/cwd" && "$bench" --files=3 --api=wait --size=3M --ios=300 \
	--json --quiet 2>&1)
[ "$(json "$out" files)" = 3 ] && [ "$(json "$out" ios)" = 300 ] &&
	[ "$(json "$out" errors)" = 0 ] && [ -z "$(ls "$tmp/cwd")" ]
check $? "dmaio-bench --files=3 --api=wait --json: its temporary directory is gone after"
# --open-bench: 100 files; rates and bytes are positive numbers, the heap
# per file is at least a struct's worth and far from a buffer's
out=$("$b/tools/dmaio-bench" --open-bench=100 --file="$tmp/open" --json \
	--quiet 2>&1)
ok=0
for k in opens_per_s closes_per_s plain_opens_per_s plain_probe_opens_per_s; do
	v=$(json "$out" $k)
	[ -n "$v" ] && awk "BEGIN { exit !($v > 0) }" || ok=1
done
heap=$(json "$out" bytes_per_file_heap)
[ "$ok" = 0 ] && [ "$(json "$out" files)" = 100 ] &&
	[ -n "$heap" ] && { [ "$heap" -ge 64 ] && [ "$heap" -lt 16384 ] ||
	  # a sanitizer's allocator reports nothing to mallinfo
	  { [ "$heap" = 0 ] && echo "$out" | grep -q '"heap_from":"none"'; }; } &&
	[ -n "$(json "$out" bytes_per_file_rss)" ] &&
	[ "$(ls "$tmp/open" | wc -l)" = 100 ]
rc=$?
check $rc "dmaio-bench --open-bench=100: opens/s and bytes per open file"
[ "$rc" = 0 ] || echo "# $out"

# --api=into and --api=thread: verified mixed I/O of the caller's memory,
# and 4 threads beside one loop thread, its stats kept: their reads and
# writes made on the threads, or (a class on the loop) handed to it
for a in "--api=into --iodepth=8" "--api=thread --threads=4" \
	"--api=thread --threads=4 --loop-class"; do
	case $a in
	*loop-class*) want="loop: [1-9][0-9]* io_submit calls" ;;
	*thread*) want="threads: 2000 calls made on the callers' threads, 0 handed" ;;
	*) want="loop: [1-9][0-9]* io_submit calls" ;;
	esac
	out=$("$b/tools/dmaio-bench" $a --size=2M --bs=4k --rw=randrw --verify \
		--ios=2000 --file="$tmp/api" --quiet 2>&1)
	rc=$?
	[ "$rc" = 0 ] && echo "$out" | grep -q "ios=2000 errors=0 verified" &&
		echo "$out" | grep -q "api=$(echo "$a" | sed 's/--api=\([a-z]*\).*/\1/') " &&
		echo "$out" | grep -Eq "$want"
	check $? "dmaio-bench $a: 2000 verified I/Os, the loop's stats"
	[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
done
"$b/tools/dmaio-bench" --api=thread --loops=2 --ios=10 --file="$tmp/api" \
	--quiet > /dev/null 2>&1
[ $? = 2 ]
check $? "dmaio-bench --api=thread refuses --loops=2 (status 2)"
