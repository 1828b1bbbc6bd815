#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what building and testing libdmaio needs, as root, on Debian or
# Ubuntu (apt-get) and RHEL/CentOS/Fedora (yum/dnf), with what the
# packages, lintian and the ABI check (abidiff) need. Safe to run again.
set -e
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root (or with sudo)" >&2
	exit 1
fi
if command -v apt-get >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		build-essential autoconf automake libtool pkg-config \
		libaio-dev check xfsprogs e2fsprogs util-linux \
		fio libuv1-dev valgrind groff-base gnuplot-nox python3 \
		git abigail-tools rpm debhelper dpkg-dev fakeroot lintian \
		libfuse3-dev fuse3 btrfs-progs autoconf2.69 >/dev/null
elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
	pm=$(command -v dnf || command -v yum)
	# RHEL and its rebuilds ship check-devel and libuv-devel in EPEL only
	# (Fedora has them itself): enable it first
	. /etc/os-release 2>/dev/null || ID=
	case "$ID" in
	rhel|centos|rocky|almalinux|ol)
		if ! rpm -q epel-release >/dev/null 2>&1; then
			major=${VERSION_ID%%.*}
			"$pm" install -y epel-release || "$pm" install -y \
				"https://dl.fedoraproject.org/pub/epel/epel-release-latest-$major.noarch.rpm"
		fi ;;
	esac
	# python3: tools/bench-compare (RHEL 7.7 and later have it in base)
	"$pm" install -y gcc make autoconf automake libtool pkgconfig \
		libaio-devel check-devel xfsprogs e2fsprogs util-linux \
		fio libuv-devel valgrind groff-base git rpm-build python3
else
	echo "install-deps: no apt-get, dnf or yum; install by hand: a C" \
		"compiler, make, autoconf, automake, libtool, pkg-config," \
		"libaio (devel), check (devel), xfsprogs; python3 for" \
		"tools/bench-compare" >&2
	exit 1
fi
