#!/usr/bin/env bash
# Builds $BUILD/stage1-images/stage1-nspawn.aci: the static stage1 binary
# as /init, with /enter, /stop and /gc as symlinks to it (it dispatches
# on the name it runs as), and a manifest carrying the stage1 ABI
# entrypoint annotations.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export CGO_ENABLED=0
read -r -a goflags <<<"${GOFLAGS_BUILD:--trimpath}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/rootfs" "$BUILD/stage1-images"
(cd "$root" && go build "${goflags[@]}" -o "$work/rootfs/init" ./stage1-nspawn)
for e in enter stop gc; do
	ln -s init "$work/rootfs/$e"
done
mkdir -p "$work/rootfs/rkt" "$work/rootfs/opt/stage2" "$work/rootfs/etc" \
	"$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/tmp"
chmod 1777 "$work/rootfs/tmp"

version=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo 0.0.0)
arch=$(go env GOARCH)
cat >"$work/manifest" <<JSON
{
  "acKind": "ImageManifest",
  "acVersion": "0.8.11",
  "name": "saturn-pods.org/stage1-nspawn",
  "labels": [
    {"name": "version", "value": "0.0.0+${version}"},
    {"name": "os", "value": "linux"},
    {"name": "arch", "value": "${arch}"}
  ],
  "annotations": [
    {"name": "coreos.com/rkt/stage1/run", "value": "/init"},
    {"name": "coreos.com/rkt/stage1/enter", "value": "/enter"},
    {"name": "coreos.com/rkt/stage1/stop", "value": "/stop"},
    {"name": "coreos.com/rkt/stage1/gc", "value": "/gc"},
    {"name": "coreos.com/rkt/stage1/interface-version", "value": "4"}
  ]
}
JSON

out=$BUILD/stage1-images/stage1-nspawn.aci
if [[ -x $BUILD/bin/mkaci ]]; then
	"$BUILD/bin/mkaci" --overwrite "$work" "$out"
else
	(cd "$root" && go tool actool build --overwrite "$work" "$out")
fi
echo "built $out"
