#!/bin/sh
# SPDX-License-Identifier: MIT
# libdmaio's probes, with every feature left to them (no DMAIO_DISABLE),
# find what the kernel has: this one (or the model the suite runs under),
# and kmodel-run's 3.10 (RHEL 7) and 3.17 kernels. Under 3.10, whose
# contexts lose the request slots of completions reaped in user space, a
# copy still goes through: the loop keeps slots to submit with.
set -u
b="${top_builddir:-.}"
run="$b/t/kmodel-run"
unset DMAIO_DISABLE
tmp=$(mktemp -d "$PWD/dmaio-k310.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
tap() { n=$((n + 1)); echo "$1 $n - $2"; }

kv() { # "3.10.0-1160.el7" -> 778
	echo "$1" | awk -F. '{ print $1 * 256 + $2 }'
}
# the suite's own kernel: a model's, or this machine's
if [ -n "${DMAIO_KERNEL:-}" ]; then
	here=$DMAIO_KERNEL
else
	here=$(uname -r)
fi
here_kv=$(kv "$here")
yesno() { if [ "$1" -ge "$(kv "$2")" ]; then echo yes; else echo no; fi; }

# dmaio-info's verdicts on kernel $1 (a version), run through "$@"
probes() {
	k=$1
	shift
	want_reap=$(yesno "$(kv "$k")" 3.16)
	# a real kernel before 3.16 (RHEL 7's) may carry the fix: either
	[ "$want_reap" = no ] && [ "$k" = "$(uname -r)" ] && want_reap="\(yes\|no\)"
	want_fdsync=$(yesno "$(kv "$k")" 4.18)
	want_statx=$(yesno "$(kv "$k")" 4.11)
	want_copy=$(yesno "$(kv "$k")" 4.5)
	want_tmpfile=$(yesno "$(kv "$k")" 3.11)
	out=$("$@" "$b/tools/dmaio-info" "$tmp" 2>&1)
	if echo "$out" | grep -q "user-space reaping: *$want_reap" &&
	   echo "$out" | grep -q "AIO fdatasync (4.18+): *$want_fdsync" &&
	   echo "$out" | grep -q "statx DIO alignment: *$want_statx" &&
	   echo "$out" | grep -q "copy_file_range (4.5+): *$want_copy" &&
	   echo "$out" | grep -q "O_TMPFILE (3.11+): *$want_tmpfile"; then
		tap ok "probes on $k: user-space reaping $want_reap, AIO fdatasync $want_fdsync, statx $want_statx, copy_file_range $want_copy, O_TMPFILE $want_tmpfile"
	else
		tap "not ok" "probes on $k: want user-space reaping $want_reap, AIO fdatasync $want_fdsync, statx $want_statx, copy_file_range $want_copy, O_TMPFILE $want_tmpfile"
		echo "$out" | sed 's/^/# /'
	fi
}

probes "$here" env
for k in 3.10 3.17; do
	if [ "$(kv "$k")" -gt "$here_kv" ]; then
		tap ok "# SKIP probes on $k: the suite runs under $here (a filter cannot be lifted)"
	else
		probes "$k" "$run" --kernel="$k"
	fi
done

# 40 MiB in the copy's requests: far more than a context's 3.10 slots
head -c $((40 << 20)) /dev/urandom > "$tmp/src"
if "$run" --kernel=3.10 "$b/tools/dmaio-cp" "$tmp/src" "$tmp/dst" \
	2> "$tmp/err" && cmp -s "$tmp/src" "$tmp/dst"; then
	tap ok "dmaio-cp of 40 MiB under 3.10's request-slot accounting"
else
	tap "not ok" "dmaio-cp of 40 MiB under 3.10's request-slot accounting"
	sed 's/^/# /' "$tmp/err"
fi
echo "1..$n"
