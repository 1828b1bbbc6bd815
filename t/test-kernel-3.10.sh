#!/bin/sh
# SPDX-License-Identifier: MIT
# The RHEL 7 profile: every DMAIO_FEAT_* disabled, and statx, memfd,
# AIO fdsync and aio_rw_flags failing as a 3.10 kernel fails them (the
# kernel310 preload shim). The probes must find nothing, and the whole
# file and stream suite must pass again.
set -u
b="${top_builddir:-.}"
shim="$b/t/.libs/kernel310.so"
# a preloaded shim does not come before the sanitizer runtime: allow it
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
n=0
fail=0
tap() { n=$((n + 1)); echo "$1 $n - $2"; }

# the probes alone, without DMAIO_DISABLE, must see the old kernel
out=$(LD_PRELOAD="$shim" "$b/tools/dmaio-info" "${TMPDIR:-/tmp}" 2>&1)
if echo "$out" | grep -q 'AIO fdatasync (4.18+): *no' &&
   echo "$out" | grep -q 'statx DIO alignment: *no'; then
	tap ok "probes under the 3.10 shim: no AIO fdatasync, no statx"
else
	tap "not ok" "probes under the 3.10 shim"; echo "$out" | sed 's/^/# /'
fi

for t in test_file_io test_file_meta test_read_many test_writer test_reader; do
	log="$b/t/$t.k310.log"
	DMAIO_DISABLE=all LD_PRELOAD="$shim" "$b/t/$t" > "$log" 2>&1
	rc=$?
	total=$(grep -c '^ok\|^not ok' "$log")
	bad=$(grep -c '^not ok' "$log")
	if [ "$rc" = 0 ] && [ "$bad" = 0 ] && [ "$total" -gt 0 ]; then
		tap ok "$t under the 3.10 profile ($total tests)"
	else
		tap "not ok" "$t under the 3.10 profile: $bad of $total failed (exit $rc)"
		grep '^not ok' "$log" | sed 's/^/# /'
	fi
done
echo "1..$n"
