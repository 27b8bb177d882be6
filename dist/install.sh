#!/usr/bin/env bash
# Installs a built saturn into a prefix (default /usr): the binary, the
# stage1 images where the binary looks for them, the example images the
# sample units run, systemd units and timers, the tmpfiles.d entry, the
# data directory's setup script and bash completion. Run ./build.sh build
# first.
#
# Installing into the running system (as root, no DESTDIR) also sets it up:
# the group saturn and the data directory's modes (setup-data-dir.sh; skip
# with SETUP=0), and systemd rereads its units. Enable what you want:
#   systemctl enable --now saturn-gc.timer
#   systemctl enable --now saturn-example-socket.socket
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$src/build}
prefix=${PREFIX:-/usr}
destdir=${DESTDIR:-}
root=$destdir$prefix

install -D -m 0755 "$build/bin/saturn" "$root/bin/saturn"
for img in "$build"/stage1-images/*.aci; do
	install -D -m 0644 "$img" "$root/lib/saturn/stage1-images/$(basename "$img")"
done
for img in "$build"/images/*.aci; do
	[[ -f $img ]] && install -D -m 0644 "$img" "$root/lib/saturn/images/$(basename "$img")"
done
for unit in "$src"/dist/systemd/*; do
	install -D -m 0644 "$unit" "$root/lib/systemd/system/$(basename "$unit")"
done
install -D -m 0644 "$src/dist/tmpfiles.d/saturn.conf" "$root/lib/tmpfiles.d/saturn.conf"
install -D -m 0755 "$src/dist/setup-data-dir.sh" "$root/lib/saturn/setup-data-dir.sh"
install -D -m 0644 "$src/dist/bash_completion/saturn" "$root/share/bash-completion/completions/saturn"
echo "installed saturn into $root"

if [[ -z $destdir && $(id -u) -eq 0 && ${SETUP:-1} != 0 ]]; then
	"$root/lib/saturn/setup-data-dir.sh"
	echo "set up /var/lib/saturn for the group saturn (members: list, status, image list, fetch)"
	if [[ -d /run/systemd/system ]]; then
		systemctl daemon-reload
	fi
fi
