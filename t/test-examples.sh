#!/bin/bash
# SPDX-License-Identifier: MIT
# The programs in examples/, run as their users would run them.
set -u
b="${top_builddir:-.}"
tmp=$(mktemp -d "$PWD/dmaio-examples.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..14"
i=0
check() { i=$((i + 1)); if [ "$1" = 0 ]; then echo "ok $i - $2"; else echo "not ok $i - $2"; fi; }

# page_server: byte ranges over TCP from the same loop as the disk
head -c 1000003 /dev/urandom > "$tmp/pages"
"$b/examples/page_server" "$tmp/pages" 0 > "$tmp/ps.out" 2> "$tmp/ps.err" &
pid=$!
# hang detectors, not speed: a sanitized build on a busy machine is slow
for _ in $(seq 600); do grep -q listening "$tmp/ps.out" && break; sleep 0.1; done
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/ps.out")
[ -n "$port" ]
check $? "page_server listens (port ${port:-none})"

# GET OFFSET LENGTH -> "OK N" and the bytes; several on one connection,
# two sent in one write (served in order), one past the end of the file
exec 3<>"/dev/tcp/127.0.0.1/${port:-1}"
printf 'GET 0 4096\nGET 123457 1000\n' >&3
printf 'GET 999000 4096\n' >&3
ok=0
for req in "0 4096 4096" "123457 1000 1000" "999000 4096 1003"; do
	set -- $req
	read -r -t 60 status n <&3 || { ok=1; break; }
	[ "$status $n" = "OK $3" ] || { ok=1; break; }
	head -c "$n" <&3 > "$tmp/got"
	dd if="$tmp/pages" of="$tmp/want" bs=1 skip="$1" count="$3" 2>/dev/null
	cmp -s "$tmp/got" "$tmp/want" || { ok=1; break; }
done
check $ok "page_server answers ranges in order, exact bytes, short at EOF"

printf 'GET 5000000 10\n' >&3
read -r -t 60 status n <&3
[ "$status $n" = "OK 0" ]
check $? "page_server: a range past the end is empty"

printf 'HELLO\n' >&3
read -r -t 60 line <&3
[ "$line" = "ERR bad request" ]
check $? "page_server refuses a bad request"
exec 3<&-

exec 4<>"/dev/tcp/127.0.0.1/${port:-1}"
printf 'SHUTDOWN\n' >&4
exec 4<&-
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ]
check $? "page_server shuts down cleanly (exit $rc)"
[ ! -s "$tmp/ps.err" ]
check $? "page_server wrote nothing to stderr"

# wal: group commit from 4 client threads, recovery, append after it, and
# a crash (SIGKILL) right after K acknowledgements: all K are recovered
mkdir "$tmp/wal"
out=$("$b/examples/wal" "$tmp/wal" append 1000 2>&1)
[ "$out" = "1000 records acknowledged (log had 0)" ]
check $? "wal: 1000 records acknowledged ($out)"
out=$("$b/examples/wal" "$tmp/wal" recover 2>&1)
case "$out" in "1000 records, end at "*) r=0 ;; *) r=1 ;; esac
check $r "wal: recovery finds the 1000 ($out)"
"$b/examples/wal" "$tmp/wal" append 500 > /dev/null 2>&1 &&
	out=$("$b/examples/wal" "$tmp/wal" recover 2>&1)
case "$out" in "1500 records, end at "*) r=0 ;; *) r=1 ;; esac
check $r "wal: appends after the recovered end ($out)"
"$b/examples/wal" "$tmp/wal" append 3000 --crash-at 1200 > /dev/null 2>&1
rc=$?
n=$("$b/examples/wal" "$tmp/wal" recover 2>&1 | sed -n 's/ records.*//p')
[ "$rc" = 137 ] && [ "${n:-0}" -ge 2700 ]
check $? "wal: after SIGKILL at 1200 acknowledged, all are there ($n of >= 2700, exit $rc)"

# copy_range: unaligned offsets and length, into a new file and into the
# middle of an existing one (the bytes around it unchanged)
head -c 5000000 /dev/urandom > "$tmp/src"
"$b/examples/copy_range" "$tmp/src" 12345 3000001 "$tmp/new" 777 > /dev/null &&
	[ "$(stat -c %s "$tmp/new")" = 3000778 ] &&
	cmp -s <(tail -c +12346 "$tmp/src" | head -c 3000001) \
		<(tail -c +778 "$tmp/new") &&
	[ -z "$(head -c 777 "$tmp/new" | tr -d '\0')" ]
check $? "copy_range: into a new file at an unaligned offset, exact size and bytes"
head -c 4000000 /dev/urandom > "$tmp/mid"
cp "$tmp/mid" "$tmp/mid.orig"
"$b/examples/copy_range" "$tmp/src" 1 100003 "$tmp/mid" 999999 > /dev/null &&
	[ "$(stat -c %s "$tmp/mid")" = 4000000 ] &&
	cmp -s <(head -c 999999 "$tmp/mid") <(head -c 999999 "$tmp/mid.orig") &&
	cmp -s <(tail -c +1100003 "$tmp/mid") <(tail -c +1100003 "$tmp/mid.orig") &&
	cmp -s <(tail -c +1000000 "$tmp/mid" | head -c 100003) \
		<(tail -c +2 "$tmp/src" | head -c 100003)
check $? "copy_range: into the middle of a file, the bytes around it unchanged"

# thread_pool: 8 threads block in _wait calls beside one loop thread (the
# reads and writes on their own threads: 1024 of them),
# each verifying what it wrote; the owner checks the file after the stop
out=$("$b/examples/thread_pool" "$tmp/pool" 8 64 2>&1)
[ "$out" = "ok: 512 blocks by 8 threads, 1024 calls on their own threads" ]
check $? "thread_pool: 8 threads write, read back and size through the loop thread ($out)"
[ "$(stat -c %s "$tmp/pool")" = $((64 * 64 * 4096)) ]
check $? "thread_pool: the file has the size the owner gave it"
