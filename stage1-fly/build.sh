#!/usr/bin/env bash
# Builds $BUILD/stage1-images/stage1-fly.aci: the static stage1-fly binary
# as /run, with /enter, /gc and /stop linked to it (it picks the entrypoint
# by the name it is called by), and the stage1 ABI annotations.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export CGO_ENABLED=0
read -r -a goflags <<<"${GOFLAGS_BUILD:--trimpath}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
mkdir -p "$rootfs/rkt/status" "$rootfs/rkt/env" "$rootfs/opt/stage2" "$rootfs/etc" "$BUILD/stage1-images"
(cd "$root" && go build "${goflags[@]}" -o "$rootfs/run" ./stage1-fly)
for e in enter gc stop; do
	ln -s run "$rootfs/$e"
done

version=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo 0)
cat >"$work/manifest" <<JSON
{
  "acKind": "ImageManifest",
  "acVersion": "0.8.11",
  "name": "saturn-pods.org/stage1-fly",
  "labels": [
    {"name": "version", "value": "0.0.0+${version}"},
    {"name": "os", "value": "linux"},
    {"name": "arch", "value": "$(cd "$root" && go env GOARCH)"}
  ],
  "annotations": [
    {"name": "coreos.com/rkt/stage1/run", "value": "/run"},
    {"name": "coreos.com/rkt/stage1/enter", "value": "/enter"},
    {"name": "coreos.com/rkt/stage1/gc", "value": "/gc"},
    {"name": "coreos.com/rkt/stage1/stop", "value": "/stop"},
    {"name": "coreos.com/rkt/stage1/interface-version", "value": "4"}
  ]
}
JSON

out=$BUILD/stage1-images/stage1-fly.aci
if [[ -x $BUILD/bin/mkaci ]]; then
	"$BUILD/bin/mkaci" --overwrite "$work" "$out"
else
	(cd "$root" && go tool actool build --overwrite "$work" "$out")
fi
echo "built $out"
