#!/bin/sh
# SPDX-License-Identifier: MIT
# replay-bench: a log of length-prefixed records replayed by whole buffers
# and one record at a time (dmaio_reader_read) gives the same records and
# checksum, for records that straddle buffers of odd and small sizes.
set -u
b="${top_builddir:-.}/tools/replay-bench"
tmp=$(mktemp -d "$PWD/dmaio-replay-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
i=0
check() { i=$((i + 1)); if [ "$1" = 0 ]; then echo "ok $i - $2"; else echo "not ok $i - $2"; fi; }

set -- "--min=1 --max=10000 --bs=3072 --read-ahead=0" \
	"--min=1 --max=10000 --bs=512 --read-ahead=1" \
	"--min=1 --max=64 --bs=4096 --read-ahead=4" \
	"--min=100 --max=1000"
echo "1..$(($# + 2))"
for args in "$@"; do
	# shellcheck disable=SC2086
	out=$("$b" $args --size=3M --runs=1 --file="$tmp/log" 2>&1)
	rc=$?
	[ "$rc" = 0 ] && echo "$out" | grep -q "^records .* MiB/s" &&
		echo "$out" | grep -q "records=[1-9][0-9]* sum="
	check $? "replay-bench $args: both replays agree"
	[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
	rm -f "$tmp/log"
done
# the log is cut inside a record: the torn tail is not a record
out=$("$b" --size=1000 --min=300 --max=300 --runs=1 --file="$tmp/log" 2>&1)
echo "$out" | grep -q "records=3 "
check $? "a torn last record is left out by both replays"
"$b" --min=0 > /dev/null 2>&1
[ $? = 2 ]
check $? "bad options are refused with status 2"
