#!/usr/bin/env bash
# setup-data-dir.sh [DATADIR]: makes saturn's data directory (default
# /var/lib/saturn) usable by the group saturn, as rkt's setup-data-dir.sh:
# makes the group if it is missing, then gives each directory and file of
# tmpfiles.d/saturn.conf its mode and group, below DATADIR instead of
# /var/lib/saturn. Lock files and the image index already there become the
# group's too, so a store used as root before keeps working for members.
# $SATURN_GROUP names another group (or a numeric gid, which is not made).
# Run as root.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "setup-data-dir.sh: must run as root" >&2
	exit 1
fi
dir=${1:-/var/lib/saturn}
group=${SATURN_GROUP:-saturn}
here=$(dirname "$(readlink -f "$0")")
conf=
for c in "$here/tmpfiles.d/saturn.conf" "$here/../tmpfiles.d/saturn.conf" /usr/lib/tmpfiles.d/saturn.conf; do
	if [[ -f $c ]]; then
		conf=$c
		break
	fi
done
if [[ -z $conf ]]; then
	echo "setup-data-dir.sh: tmpfiles.d/saturn.conf not found beside it" >&2
	exit 1
fi
if [[ ! $group =~ ^[0-9]+$ ]] && ! getent group "$group" >/dev/null; then
	groupadd --system "$group"
fi

while read -r type path mode user _; do
	[[ $type == d || $type == f ]] || continue
	target=$dir${path#/var/lib/saturn}
	if [[ $type == d ]]; then
		mkdir -p "$target"
	elif [[ ! -e $target ]]; then
		: >"$target"
	fi
	chown "$user:$group" "$target"
	chmod "$mode" "$target"
done < <(grep -E '^[df] /var/lib/saturn' "$conf")

# Made by saturn before the directory was set up: root's alone.
find "$dir/locks" -maxdepth 1 -type f -exec chgrp "$group" {} + -exec chmod g+rw {} +
