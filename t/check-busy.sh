#!/bin/sh
# SPDX-License-Identifier: MIT
# make check on a busy machine, as distribution builders are: BURNERS
# processes (default 4) spin on the CPUs while the suite runs ROUNDS times
# (default 1) in a row; stops at the first failing round. Extra arguments
# go to make (e.g. TESTS='t/test_loop t/test_fuse').
# Usage: sh t/check-busy.sh [make arguments...]
set -u
burners=${BURNERS:-4}
rounds=${ROUNDS:-1}
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done' EXIT INT TERM
i=0
while [ "$i" -lt "$burners" ]; do
	# a shell loop: no tool needed, and nice 0 like the builder's jobs
	sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done
echo "check-busy: $burners CPU burners on $(nproc 2>/dev/null || echo '?') CPUs, $rounds round(s)"
r=1
while [ "$r" -le "$rounds" ]; do
	if ! ${MAKE:-make} check "$@"; then
		echo "check-busy: round $r of $rounds failed (load: $(cut -d' ' -f1-3 /proc/loadavg))"
		exit 1
	fi
	echo "check-busy: round $r of $rounds passed (load: $(cut -d' ' -f1-3 /proc/loadavg))"
	r=$((r + 1))
done
