#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-compare: --list-rows names every row, --rows picks them by
# substring or glob and refuses a pattern that names none, a tmpfs row
# runs and prints its ratio to the bare loop, and tmpfs rows pointed at a
# directory that is not tmpfs are printed as skipped with the reason.
set -u
bc="$(cd "${top_srcdir:-.}" && pwd)/tools/bench-compare"
if ! command -v python3 > /dev/null 2>&1; then
	echo "1..0 # SKIP bench-compare needs python3"
	exit 0
fi
# the dmaio-bench of this build, wherever the source tree is
PATH="$(cd "${top_builddir:-.}" && pwd)/tools:$PATH"
export PATH
tmp=$(mktemp -d "$PWD/dmaio-bench-compare-test.XXXXXX") || exit 1
shm=
trap 'rm -rf "$tmp" ${shm:+"$shm"}' EXIT
i=0
check() { i=$((i + 1)); if [ "$1" = 0 ]; then echo "ok $i - $2"; else echo "not ok $i - $2"; fi; }
echo "1..10"

out=$(python3 "$bc" --list-rows 2>&1)
for name in disk-qd1 disk-write-stream disk-qd32-2loops tmpfs-qd32-async \
	tmpfs-qd32-2loops tmpfs-qd128-stream; do
	echo "$out" | grep -q "^$name " || { echo "# no $name in: $out"; false; } || break
done
check $? "--list-rows names the disk and tmpfs rows"

python3 "$bc" --rows=no-such-row > /dev/null 2>&1
[ $? = 2 ]
check $? "--rows naming no row is refused with status 2"

# the names of the rows --rows=PATTERN runs (select(), without running them)
picked() {
	python3 - "$bc" "$@" <<'EOF'
import importlib.machinery, importlib.util, sys
loader = importlib.machinery.SourceFileLoader("bc", sys.argv[1])
spec = importlib.util.spec_from_loader("bc", loader)
bc = importlib.util.module_from_spec(spec)
loader.exec_module(bc)
print(" ".join(r["name"] for r in bc.select(sys.argv[2])))
EOF
}
got=$(picked 'tmpfs-qd1-s*' 2>/dev/null)
[ "$got" = "tmpfs-qd1-seq-fio-libaio tmpfs-qd1-seq-bare tmpfs-qd1-stream" ]
check $? "a glob picks its rows in table order ($got)"
got=$(picked 'qd128-read_many' 2>/dev/null)
[ "$got" = "tmpfs-qd128-bare tmpfs-qd128-read_many" ]
check $? "a substring picks its rows, and the rows their ratios refer to ($got)"

shm=$(mktemp -d /dev/shm/dmaio-bench-compare-test.XXXXXX 2>/dev/null)
if [ -z "$shm" ] || [ "$(stat -f -c %T "$shm")" != tmpfs ]; then
	i=$((i + 1))
	echo "ok $i # SKIP a tmpfs row: no tmpfs at /dev/shm"
else
	out=$(cd "$tmp" && python3 "$bc" --rows=tmpfs-qd1-read_many --size 8M \
		--runtime 0.3 --rounds 1 --tmpfs-dir="$shm" 2>&1)
	echo "$out" | grep -Eq '^\| 4k randread qd1, libdmaio read_many \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9]+ \| [0-9.]+x \([0-9.]+x\) bare loop \|$' &&
		[ -z "$(ls "$shm")" ]
	rc=$?
	check $rc "a tmpfs row prints figures and its ratio to the bare loop, and its file is removed"
	[ $rc = 0 ] || echo "$out" | sed 's/^/# /'
fi

out=$(cd "$tmp" && python3 "$bc" --rows=tmpfs-qd1-read_many --size 8M \
	--runtime 0.3 --rounds 1 --tmpfs-dir="$tmp" 2>&1)
echo "$out" | grep -q '^| 4k randread qd1, libdmaio read_many (skipped: .* not tmpfs) | - |'
rc=$?
check $rc "tmpfs rows on a directory that is not tmpfs are printed as skipped, with the reason"
[ $rc = 0 ] || echo "$out" | sed 's/^/# /'

# the ping table: a row with --ping, its IOPS over the run without, the
# socket's round trips and the loop's longest io_submit
out=$(cd "$tmp" && python3 "$bc" --rows=ping-qd128 --size 8M --runtime 0.3 \
	--rounds 1 2>&1)
echo "$out" | grep -Eq '^\| 4k randread qd128 \+ ping \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \|$' &&
	echo "$out" | grep -q '^| 4k randread qd128, no ping |'
rc=$?
check $rc "a ping row prints round trips against the run without the ping"
[ $rc = 0 ] || echo "$out" | sed 's/^/# /'

# the open table: opens per second and bytes per file, its directory gone
out=$(cd "$tmp" && python3 "$bc" --rows=files-open 2>&1)
echo "$out" | grep -Eq '^\| open 10,000 files \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \|$' &&
	[ ! -e "$tmp/bench-compare-open.d" ]
rc=$?
check $rc "the open row prints rates and bytes per file, and removes its files"
[ $rc = 0 ] || echo "$out" | sed 's/^/# /'

# caller memory against read_at, and 8 threads waiting through a loop
# thread against 8 threads of pread: disk rows, with their notes
out=$(cd "$tmp" && python3 "$bc" --rows=disk-qd32-into,disk-8threads-wait \
	--size 8M --runtime 0.3 --rounds 1 2>&1)
echo "$out" | grep -Eq '^\| 4k randread qd32, read_into \(IOPS x[0-9.]+, CPU/IO x[0-9.]+ of 4k randread qd32, read_at\) \| [0-9]+ \|' &&
	echo "$out" | grep -Eq '^\| 4k randread, 8 threads of read_into_wait through a loop thread \(IOPS x[0-9.]+, CPU/IO x[0-9.]+ of 4k randread, 8 threads of pread \(O_DIRECT\)\) \| [0-9]+ \|'
rc=$?
check $rc "the read_into and loop-thread rows run and print their ratios to read_at and pread"
[ $rc = 0 ] || echo "$out" | sed 's/^/# /'
got=$(picked 'write-from' 2>/dev/null)
[ "$got" = "disk-qd32-write-at disk-qd32-write-from tmpfs-qd32-write-at tmpfs-qd32-write-from" ]
check $? "write_from rows bring their write_at rows along ($got)"
