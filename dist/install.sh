#!/usr/bin/env bash
# Installs a built saturn into a prefix (default /usr): the binary, the
# stage1 images where the binary looks for them, systemd units and bash
# completion. Run ./build.sh build first.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$src/build}
prefix=${PREFIX:-/usr}
destdir=${DESTDIR:-}

install -D -m 0755 "$build/bin/saturn" "$destdir$prefix/bin/saturn"
for img in "$build"/stage1-images/*.aci; do
	install -D -m 0644 "$img" "$destdir$prefix/lib/saturn/stage1-images/$(basename "$img")"
done
for img in "$build"/images/*.aci; do
	[[ -f $img ]] && install -D -m 0644 "$img" "$destdir$prefix/lib/saturn/images/$(basename "$img")"
done
for unit in "$src"/dist/systemd/*; do
	install -D -m 0644 "$unit" "$destdir$prefix/lib/systemd/system/$(basename "$unit")"
done
install -D -m 0644 "$src/dist/bash_completion/saturn" "$destdir$prefix/share/bash-completion/completions/saturn"
echo "installed saturn into $destdir$prefix"
