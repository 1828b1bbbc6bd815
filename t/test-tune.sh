#!/bin/sh
# SPDX-License-Identifier: MIT
# dmaio-tune writes a model the library reads (t/io-props-show looks it up
# as the dispatcher does), updates its own device's section of a file and
# keeps the rest, and leaves no temporary file behind. Figures are only
# checked for sanity: the machine may be loaded.
set -u
b="${top_builddir:-.}"
tune="$b/tools/dmaio-tune"
show="$b/t/io-props-show"
tmp=$(mktemp -d "$PWD/dmaio-tune.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..8"
i=0
check() { i=$((i + 1)); if [ "$1" = 0 ]; then echo "ok $i - $2"; else echo "not ok $i - $2"; fi; }
val() { sed -n "s/^$1=//p" "$tmp/show"; }
pow2() { case "$1" in 1|2|4|8|16|32|64|128) return 0 ;; esac; return 1; }

mkdir "$tmp/dir"
"$tune" --quick --output "$tmp/etc/dmaio/props" "$tmp/dir" > "$tmp/out" 2>&1
rc=$?
DMAIO_IO_PROPERTIES="$tmp/etc/dmaio/props" "$show" "$tmp/dir" > "$tmp/show"
src=$?
ok=0
for k in read_iops write_iops read_bw write_bw knee_depth read_lat_us \
	write_lat_us; do
	v=$(val $k)
	[ -n "$v" ] && [ "$v" -gt 0 ] || { ok=1; echo "# $k: '$v'"; }
done
[ "$rc" = 0 ] && [ "$src" = 0 ] && [ "$ok" = 0 ] && pow2 "$(val knee_depth)" &&
	[ "$(val read_bw)" -gt 4096 ] &&
	[ "$(stat -c %a "$tmp/etc/dmaio/props")" = 644 ] &&
	grep -q "written to $tmp/etc/dmaio/props" "$tmp/out" &&
	grep -q "randread .* 4 KiB depth  128:" "$tmp/out"
check $? "--quick --output in a new directory: a model the library reads, every field set"
[ "$rc" = 0 ] && [ "$src" = 0 ] || { sed 's/^/# /' "$tmp/out" "$tmp/show"; }
[ -z "$(ls -A "$tmp/dir")" ]
check $? "the file measured is gone"

# an edited file: a preamble, another device, an old section of ours, and
# a line the library skips in a section kept
dev=$(sed -n 's/^device=//p' "$tmp/show")
cat > "$tmp/props" <<EOT
# the models of this host, by hand
[device 4095:77]   # the spinning disk
read_iops = 180
knee_depth = 1

[device $dev]
read_iops = 1
stale = yes
[device 4095:78]
read_iops oops
write_iops = 170
knee_depth = 4294967296
EOT
printf 'mount = /a\000b\n' >> "$tmp/props"
cp "$tmp/props" "$tmp/props.orig"
"$tune" --quick --max-depth=4 --duration=0.5 --quiet --output "$tmp/props" \
	"$tmp/dir" > "$tmp/out" 2>&1
rc=$?
# the line the library finds malformed first is the first one named
DMAIO_IO_PROPERTIES="$tmp/props.orig" "$show" "$tmp/dir" > "$tmp/show"
bad=$(val first_bad_line)
DMAIO_IO_PROPERTIES="$tmp/props" "$show" "$tmp/dir" > "$tmp/show"
head -5 "$tmp/props.orig" > "$tmp/a"; head -5 "$tmp/props" > "$tmp/b"
tail -5 "$tmp/props.orig" > "$tmp/c"; tail -5 "$tmp/props" > "$tmp/d"
[ "$rc" = 0 ] && [ "$(val read_iops)" -gt 1 ] && pow2 "$(val knee_depth)" &&
	[ "$(val knee_depth)" -le 4 ] &&
	[ "$(grep -c "^\[device $dev\]" "$tmp/props")" = 1 ] &&
	! grep -q stale "$tmp/props" && cmp -s "$tmp/a" "$tmp/b" &&
	cmp -s "$tmp/c" "$tmp/d" &&
	[ "$bad" = 10 ] && grep -q "props:10: the library skips this line" "$tmp/out" &&
	grep -q "props:12: the library skips this line" "$tmp/out" &&
	grep -q "props:13: the library skips this line" "$tmp/out" &&
	[ "$(grep -c "the library skips" "$tmp/out")" = 3 ]
check $? "an existing file: its section of the device replaced, the rest kept, a malformed line named"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/out"

# a broken header right after our section ends it, is kept, and is named
printf '[device %s]\nread_iops = 1\n[device 7:x]\nread_iops = 5\n' "$dev" \
	> "$tmp/props3"
"$tune" --quick --max-depth=2 --duration=0.3 --quiet --output "$tmp/props3" \
	"$tmp/dir" > "$tmp/out" 2>&1
rc=$?
[ "$rc" = 0 ] && grep -q '^\[device 7:x\]$' "$tmp/props3" &&
	grep -q "props3:3: the library skips this line and the keys after it" \
		"$tmp/out"
check $? "a broken header after the device's own section: kept and named"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/out"

# a file's path measures its directory's device; --dry-run writes nothing;
# --max-depth bounds the sequential depths (1, 4, 16) as the random ones
: > "$tmp/dir/data"
"$tune" --quick --max-depth=2 --duration=0.3 --dry-run --output "$tmp/none" \
	"$tmp/dir/data" > "$tmp/out" 2>&1
rc=$?
points=$(awk '/ KiB depth /{ printf "%s %s ", $1, $5 }' "$tmp/out")
[ "$rc" = 0 ] && [ ! -e "$tmp/none" ] && grep -q "device $dev," "$tmp/out" &&
	[ "$(ls -A "$tmp/dir")" = data ] &&
	[ "$points" = "randread 1: randread 2: read 1: randwrite 1: randwrite 2: write 1: " ]
st=$?
check $st "a file's path, --dry-run, --max-depth=2: measured at depths 1, 2 (sequential: 1), nothing written"
[ "$st" = 0 ] || sed 's/^/# /' "$tmp/out"

st=0
for args in "" "--max-depth=3 ." "--size=10 ." "--duration=0 ." "--bogus ." \
	". extra"; do
	# shellcheck disable=SC2086
	"$tune" $args > /dev/null 2>&1
	[ $? = 2 ] || { st=1; echo "# '$args' did not exit 2"; }
done
check $st "usage errors exit 2"
st=0
"$tune" --quick "$tmp/nope" > /dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "No such file" "$tmp/err" || st=1
"$tune" --quick /dev/null > /dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "not a directory or a file" "$tmp/err" || st=1
check $st "a missing path or a device node is refused (exit 1)"

# a run waits for the lock on the file's directory (another run updating
# it would lose its section otherwise), and writes once it is released
if ! command -v flock > /dev/null; then
	echo "ok 8 # SKIP flock(1) not installed"
else
	mkdir "$tmp/locked"
	flock "$tmp/locked" sh -c ': > "$1"; while [ ! -e "$2" ]; do sleep 0.1; done' \
		sh "$tmp/held" "$tmp/release" &
	hpid=$!
	n=0
	while [ ! -e "$tmp/held" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
	# its own output file, created before it starts: an earlier run's
	# summary in a shared one was seen before the background run had
	# truncated it (a busy machine's CI failed so)
	: > "$tmp/out-locked"
	"$tune" --quick --max-depth=2 --duration=0.3 --output "$tmp/locked/props" \
		"$tmp/dir" > "$tmp/out-locked" 2>&1 &
	tpid=$!
	n=0
	while ! grep -q "knee_depth" "$tmp/out-locked" && [ $n -lt 600 ]; do
		sleep 0.1; n=$((n + 1))
	done
	sleep 0.5
	[ -e "$tmp/held" ] && grep -q "knee_depth" "$tmp/out-locked" &&
		[ ! -e "$tmp/locked/props" ]
	st=$?
	[ "$st" = 0 ] || echo "# after $n tenths of a second: the summary" \
		"$(grep -c knee_depth "$tmp/out-locked") times, the file" \
		"$(ls "$tmp/locked")"
	: > "$tmp/release"
	wait $tpid
	rc=$?
	wait $hpid
	[ "$st" = 0 ] && [ "$rc" = 0 ] &&
		grep -q "^\[device $dev\]" "$tmp/locked/props" &&
		[ "$(ls "$tmp/locked")" = props ]
	st=$?
	check $st "the file is written under a lock on its directory (waited for it)"
	[ "$st" = 0 ] || sed 's/^/# /' "$tmp/out-locked"
fi
