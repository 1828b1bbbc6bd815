#!/bin/sh
# SPDX-License-Identifier: MIT
# Every exported function has a man page; every page renders without a
# warning; the example in libdmaio(7) compiles and runs; the pages and
# the README name this release.
set -u
src="${top_srcdir:-.}"
lib="${top_builddir:-.}/lib/.libs"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmaio-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..10"
missing=""
for n in $(grep -o '^[a-z].*[ *]dmaio_[a-z0-9_]*(' "$src/include/dmaio.h" |
	   grep -o 'dmaio_[a-z0-9_]*(' | tr -d '(' | sort -u); do
	[ -f "$src/man/$n.3" ] || missing="$missing $n"
done
if [ -z "$missing" ]; then echo "ok 1 - every exported function has a page"
else echo "not ok 1 - no page for:$missing"; fi

mkdir -p "$tmp/man/man1" "$tmp/man/man3" "$tmp/man/man5" "$tmp/man/man7"
cp "$src"/man/*.1 "$tmp/man/man1/"; cp "$src"/man/*.3 "$tmp/man/man3/"
cp "$src"/man/*.5 "$tmp/man/man5/"; cp "$src"/man/*.7 "$tmp/man/man7/"
bad=""
if command -v groff >/dev/null 2>&1; then
	for f in $(cd "$tmp/man" && ls man*/*); do
		out=$(cd "$tmp/man" && groff -ww -z -man "$f" 2>&1)
		[ -n "$out" ] && bad="$bad $f: $out"
	done
	if [ -z "$bad" ]; then echo "ok 2 - groff -ww renders every page cleanly"
	else echo "not ok 2 - warnings:$bad"; fi
else
	echo "ok 2 # SKIP groff not installed"
fi

awk '/^\.SH EXAMPLE/{f=1} f&&/^\.EX/{p=1;next} p&&/^\.EE/{exit} p' \
	"$src/man/libdmaio.7" | sed 's/\\en/\\n/g; s/\\e/\\/g' > "$tmp/ex.c"
if ${CC:-cc} ${SAN_CFLAGS:-} -Wall -I"$src/include" -o "$tmp/ex" "$tmp/ex.c" -L"$lib" -ldmaio \
	>"$tmp/cc.log" 2>&1; then
	echo "ok 3 - the libdmaio(7) example compiles"
else
	echo "not ok 3 - the example does not compile"; sed 's/^/# /' "$tmp/cc.log"
fi
printf '0123456789abcdefghijklmnopqrstuvwxyz\n' > "$tmp/data"
out=$(LD_LIBRARY_PATH="$lib" "$tmp/ex" "$tmp/data" 2>&1)
case "$out" in
*"$tmp/data: 3456789abcdefghijklm"*) echo "ok 4 - the example reads the right bytes" ;;
*) echo "not ok 4 - the example printed: $out" ;;
esac

# man -l man/PAGE from the top of the tree: an alias page must not be a
# .so request that only resolves inside an installed man hierarchy
bad=""
if command -v groff >/dev/null 2>&1; then
	for f in "$src"/man/*.[1357]; do
		out=$(cd "$src" && groff -ww -z -man "man/${f##*/}" 2>&1)
		[ -n "$out" ] && bad="$bad ${f##*/}"
	done
	if [ -z "$bad" ]; then echo "ok 5 - every page renders from the source tree"
	else echo "not ok 5 - not readable with man -l:$bad"; fi
else
	echo "ok 5 # SKIP groff not installed"
fi

# the embedding recipe of dmaio_loop_fd(3): poll(2), no dmaio_loop_run
awk '/^\.SH EXAMPLE/{f=1} f&&/^\.EX/{p=1;next} p&&/^\.EE/{exit} p' \
	"$src/man/dmaio_loop_fd.3" | sed 's/\\en/\\n/g; s/\\e/\\/g' > "$tmp/poll.c"
if ${CC:-cc} ${SAN_CFLAGS:-} -Wall -Werror -I"$src/include" -o "$tmp/poll" \
	"$tmp/poll.c" -L"$lib" -ldmaio >"$tmp/cc2.log" 2>&1; then
	echo "ok 6 - the dmaio_loop_fd(3) example compiles"
else
	echo "not ok 6 - the dmaio_loop_fd(3) example does not compile"
	sed 's/^/# /' "$tmp/cc2.log"
fi
out=$(LD_LIBRARY_PATH="$lib" timeout 10 "$tmp/poll" "$tmp/data" 2>&1)
case "$out" in
"0123456789abcdefghijklmnopqrstuvwxyz") echo "ok 7 - the dmaio_loop_fd(3) example reads the file" ;;
*) echo "not ok 7 - the dmaio_loop_fd(3) example printed: $out" ;;
esac

# the manual is this release's: a page left at an older one reads as
# if what it says were older too
v=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "${top_builddir:-.}/config.h")
mm=${v%.*}
bad=$(grep -L "^\.TH .* \"libdmaio $mm\" " "$src"/man/*.[1357] | sed 's|.*/||' | tr '\n' ' ')
if [ -n "$v" ] && [ -z "$bad" ]; then echo "ok 8 - every page's header names libdmaio $mm"
else echo "not ok 8 - pages not naming libdmaio ${mm:-?}: $bad"; fi

# the README's package commands name the files this version makes
bad=$(grep -o 'libdmaio-[0-9][0-9.]*[0-9]\.tar\.gz\|}-[0-9][0-9.]*[0-9]-1\.\|_[0-9][0-9.]*[0-9]-1_' \
	"$src/README.md" | grep -v "[-_]$v[-.]" | tr '\n' ' ')
n=$(grep -c 'rpmbuild -ta libdmaio-\|apt-get install \.\./libdmaio1_' "$src/README.md")
if [ -n "$v" ] && [ -z "$bad" ] && [ "$n" = 2 ]; then
	echo "ok 9 - the README's package commands name $v"
else echo "not ok 9 - the README's package commands name: ${bad:-no version ($n)}"; fi

# every example program is in the README
bad=""
for f in "$src"/examples/*.c; do
	grep -q "\`${f##*/}\`" "$src/README.md" || bad="$bad ${f##*/}"
done
if [ -z "$bad" ]; then echo "ok 10 - the README names every example"
else echo "not ok 10 - the README does not name:$bad"; fi
