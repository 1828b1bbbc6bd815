#!/bin/sh
# SPDX-License-Identifier: MIT
# dmaio-bench: every engine and layer moves verified data, the JSON summary
# has what bench-compare reads, and bad options are refused with status 2.
set -u
b="${top_builddir:-.}/tools/dmaio-bench"
src="${top_srcdir:-.}"
tmp=$(mktemp -d "$PWD/dmaio-bench-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
f="$tmp/data"
i=0
check() { i=$((i + 1)); if [ "$1" = 0 ]; then echo "ok $i - $2"; else echo "not ok $i - $2"; fi; }

set -- "--engine=dmaio --api=async --rw=randrw" \
	"--engine=dmaio --api=async --rw=randrw --poll-us=50" \
	"--engine=dmaio --api=wait --rw=randread" \
	"--engine=dmaio --api=stream --rw=read" \
	"--engine=dmaio --api=read_many --rw=randread" \
	"--engine=dmaio --api=async --rw=randwrite --loops=2" \
	"--engine=dmaio --api=async --rw=randrw --class=100" \
	"--engine=dmaio --api=into --rw=randrw --class=5 --loops=2" \
	"--engine=psync --rw=randrw --threads=3" \
	"--engine=dmaio --api=thread --rw=randrw --threads=3" \
	"--engine=dmaio --api=thread --rw=randrw --threads=3 --loop-class" \
	"--engine=libaio --rw=randrw" \
	"--engine=libaio --rw=randrw --poll-us=100" \
	"--engine=libaio --rw=randread --poll-us=100 --sleep-us=5" \
	"--engine=dmaio --rw=randread --cpus=0"
echo "1..$(($# + 20))"
for args in "$@"; do
	# shellcheck disable=SC2086
	out=$("$b" $args --verify --quiet --iodepth=8 --bs=8k --size=8M \
		--ios=3000 --file="$f" 2>&1)
	rc=$?
	[ "$rc" = 0 ] && echo "$out" | grep -q "ios=3000 errors=0 verified"
	check $? "dmaio-bench $args: 3000 verified I/Os"
	[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
done
out=$("$b" --engine=libuv --rw=randrw --verify --quiet --iodepth=8 --bs=8k \
	--size=8M --ios=3000 --file="$f" 2>&1)
if echo "$out" | grep -q "built without libuv"; then
	i=$((i + 1))
	echo "ok $i # SKIP dmaio-bench --engine=libuv: built without libuv"
else
	echo "$out" | grep -q "ios=3000 errors=0 verified"
	check $? "dmaio-bench --engine=libuv --rw=randrw: 3000 verified I/Os"
fi
json=$("$b" --json --quiet --iodepth=4 --size=8M --ios=500 --file="$f" 2>&1)
for key in '"iops":' '"mib_s":' '"us_per_io":' '"p99":' '"poll_us":0'; do
	echo "$json" | grep -q "$key" || { echo "# missing $key in: $json"; false; } || break
done
check $? "--json has iops, mib_s, cpu us_per_io, p99, poll_us"
# loop_stats: every counter of the header's struct dmaio_loop_stats (a
# field added there must reach the JSON too); 1.3 has 18, so fewer means
# the header was not read
fields=$(sed -n '/^struct dmaio_loop_stats {/,/^};/s/^[[:space:]]*uint64_t[[:space:]]*\([a-z0-9_]*\);.*/\1/p' \
	"$src/include/dmaio.h")
nf=$(echo "$fields" | wc -w)
stats=$(echo "$json" | sed -n 's/.*"loop_stats":{\([^}]*\)}.*/\1/p')
missing=""
for k in $fields; do
	echo "$stats" | grep -Eq "(^|,)\"$k\":[0-9]+(,|$)" || missing="$missing $k"
done
[ "$nf" -ge 18 ] && [ -z "$missing" ]
check $? "--json loop_stats has all $nf counters of struct dmaio_loop_stats${missing:+ (missing:$missing)}"
# the pool's reads are made on its threads; with a class on the loop,
# all are handed to the loop's thread
for lc in "" --loop-class; do
	json=$("$b" --json --quiet --api=thread --threads=3 --size=8M \
		--ios=300 $lc --file="$f" 2>&1)
	n=$(echo "$json" | sed -n 's/.*"caller_ios":\([0-9]*\).*/\1/p')
	if [ -z "$lc" ]; then want=300; else want=0; fi
	[ "${n:-x}" = "$want" ] || echo "# caller_ios ${n:-none}, not $want: $json"
	check $? "--api=thread $lc: $want of 300 calls on the callers' threads"
done
"$b" --iodepth=0 > /dev/null 2>&1
[ $? = 2 ]
check $? "--iodepth=0 is refused with status 2"
"$b" --cpus=4096 > /dev/null 2>&1
[ $? = 2 ]
check $? "--cpus naming a CPU the process may not use is refused"
"$b" --api=thread --class=100 > /dev/null 2>&1
[ $? = 2 ]
check $? "--class with --api=thread (whose --loop-class it is) is refused"
"$b" --engine=psync --poll-us=10 > /dev/null 2>&1
[ $? = 2 ]
check $? "--poll-us with another engine is refused"
"$b" --engine=libaio --sleep-us=10 > /dev/null 2>&1
[ $? = 2 ]
check $? "--sleep-us without --poll-us is refused"
json=$("$b" --json --quiet --iodepth=1 --size=8M --ios=500 --poll-us=100000 \
	--file="$f" 2>&1)
# a 100 ms budget on a local file: spins find the completions (a busy
# disk may answer every read later than 1 ms)
hits=$(echo "$json" | sed -n 's/.*"poll_hits":\([0-9]*\).*/\1/p')
[ "${hits:-0}" -gt 0 ] || echo "# no poll_hits in: $json"
check $? "--poll-us: the JSON counts the spins that found work ($hits)"
# On tmpfs the kernel does a read inside io_submit: the loop sees it and
# sends what a batch of callbacks (async, read_many) or a half-emptied
# read-ahead window (stream) starts in one call. Data checked all along.
shm=$(mktemp -d /dev/shm/dmaio-bench-test.XXXXXX 2>/dev/null)
if [ -z "$shm" ] || [ "$(stat -f -c %T "$shm")" != tmpfs ]; then
	[ -n "$shm" ] && rm -rf "$shm"
	for api in async read_many stream; do
		i=$((i + 1))
		echo "ok $i # SKIP --api=$api on tmpfs: no tmpfs at /dev/shm"
	done
else
	for args in "--api=async --rw=randread" "--api=read_many --rw=randread" \
		"--api=stream --rw=read"; do
		# shellcheck disable=SC2086
		out=$("$b" $args --verify --quiet --iodepth=32 --size=8M \
			--ios=20000 --file="$shm/data" 2>&1)
		calls=$(echo "$out" | sed -n 's/.*loop: \([0-9]*\) io_submit calls for \([0-9]*\) iocbs.*/\1 \2/p')
		if echo "$out" | grep -q "reaped 0 from the ring"; then
			# the check looks at the ring (DMAIO_DISABLE=user_reap)
			i=$((i + 1))
			echo "ok $i # SKIP dmaio-bench $args on tmpfs: no completion ring"
			continue
		fi
		echo "$out" | grep -q "ios=20000 errors=0 verified" &&
			[ -n "$calls" ] && [ $((${calls% *} * 4)) -lt "${calls#* }" ]
		rc=$?
		check $rc "dmaio-bench $args on tmpfs: verified, under a quarter as many io_submit calls as iocbs ($calls)"
		[ $rc = 0 ] || echo "$out" | sed 's/^/# /'
	done
	rm -rf "$shm"
fi
# --mix: two parts in classes of their own, on one loop and on a loop
# each; both move I/O without errors and the trace has both
mix="randread:4k:4:lat=1000:shares=1000+write:64k:2:shares=100"
for loops in 1 2; do
	out=$("$b" --mix="$mix" --loops=$loops --size=8M --runtime=0.5 \
		--file="$f" --mix-trace="$tmp/trace" 2>&1)
	rc=$?
	[ "$rc" = 0 ] &&
		[ "$(echo "$out" | grep -c '^part [01] .* [1-9][0-9]* IOPS,.* errors 0$')" = 2 ] &&
		grep -q '^[0-9.]* 0 ' "$tmp/trace" && grep -q '^[0-9.]* 1 ' "$tmp/trace"
	rc=$?
	check $rc "dmaio-bench --mix with --loops=$loops: both parts did I/O, traced"
	[ $rc = 0 ] || echo "$out" | sed 's/^/# /'
done
"$b" --mix="randread:4k" --file="$f" --size=8M >/dev/null 2>&1
[ $? = 2 ]
check $? "dmaio-bench --mix with a part lacking its depth: status 2"
# stop=: the part's I/O ends there while the other goes on; reshare=:
# the class's shares change without an error
out=$("$b" --mix="randread:4k:2:stop=0.3+randread:4k:2:reshare=0.3,300" \
	--size=8M --runtime=2 --file="$f" --mix-trace="$tmp/trace" 2>&1)
rc=$?
last0=$(awk '$2 == 0 { t = $1 } END { print t + 0 }' "$tmp/trace")
last1=$(awk '$2 == 1 { t = $1 } END { print t + 0 }' "$tmp/trace")
[ "$rc" = 0 ] &&
	[ "$(echo "$out" | grep -c '^part [01] .* errors 0$')" = 2 ] &&
	awk -v a="$last0" -v b="$last1" 'BEGIN { exit !(a < 1.2 && b > a + 0.8) }'
rc=$?
check $rc "dmaio-bench --mix stop= and reshare=: part 0 stopped (last window $last0 s, part 1's $last1 s), no errors"
[ $rc = 0 ] || echo "$out" | sed 's/^/# /'
"$b" --mix="randread:4k:2:reshare=1" --file="$f" --size=8M >/dev/null 2>&1
[ $? = 2 ]
check $? "dmaio-bench --mix with reshare= lacking its shares: status 2"
# --help gives the whole PART grammar dmaio-bench(1) gives
"$b" --help | grep -q 'RW:BS:DEPTH\[:lat=US\]\[:shares=N\]\[:noclass\]' &&
	"$b" --help | grep -q '\[:stop=S\]\[:reshare=S,N\]'
check $? "dmaio-bench --help: a --mix PART has :stop=S and :reshare=S,N"
