#!/usr/bin/env bash
# kernel.sh: prints the directory holding the kernel of the test VMs
# (tests/cgroupvm, tests/systemdvm: boot/vmlinuz-*, lib/modules/*),
# Debian's linux-image-cloud-amd64
# unpacked with dpkg -x, never installed. The unpacked tree is cached in
# $SATURN_VM_CACHE (default /var/cache/saturn/testvm) under the exact
# package and version, so a run after the first (and CI on the same
# machine) downloads and unpacks nothing; a new kernel version in the
# archive gets a directory of its own.
set -euo pipefail

cache=${SATURN_VM_CACHE:-/var/cache/saturn/testvm}
meta=linux-image-cloud-amd64

# Which version the archive offers changes only when apt's package lists
# do: the answer is kept beside the cache, keyed by the lists' names and
# times (apt-cache takes seconds on a loaded machine).
lists=$(stat -c '%n %Y' /var/lib/apt/lists/*Packages* 2>/dev/null | md5sum | cut -d' ' -f1)
if [[ -f $cache/resolved ]] && read -r key known <"$cache/resolved" && [[ $key == "$lists" && -f $known/.complete ]]; then
	echo "$known"
	exit 0
fi

# The metapackage names the versioned image package it depends on.
depends() { apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
pkg=$(depends)
if [[ -z $pkg ]]; then
	apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(depends)
fi
if [[ -z $pkg ]]; then
	echo "kernel.sh: apt knows no $meta (run apt-get update)" >&2
	exit 1
fi
ver=$(apt-cache show --no-all-versions "$pkg" | awk '/^Version:/ {print $2; exit}')
dir=$cache/${pkg}_${ver}
remember() { echo "$lists $dir" >"$cache/resolved.$$" && mv "$cache/resolved.$$" "$cache/resolved"; }
if [[ -f $dir/.complete ]]; then
	remember
	echo "$dir"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ ! -f $dir/.complete ]]; then
	tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt's sandbox user cannot write a root-owned directory: download as
	# root into a directory made for it.
	(cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) || {
		echo "kernel.sh: apt-get download $pkg=$ver failed" >&2
		exit 1
	}
	dpkg -x "$tmp"/*.deb "$tmp/tree"
	rm -rf "$dir"
	mv "$tmp/tree" "$dir"
	touch "$dir/.complete"
fi
remember
echo "$dir"
