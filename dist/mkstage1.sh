#!/usr/bin/env bash
# [STAGE1_INTERFACE_VERSION=N] mkstage1.sh NAME ENTRY NET_MODES [EXTRA|KEY=VALUE...]:
# builds $BUILD/stage1-images/NAME.aci from the Go package ./NAME: the static
# binary as /ENTRY, with the other rkt stage1 entrypoints (/enter, /gc, /stop, and
# the EXTRA ones the stage1 implements, such as attach) symlinked to it (the binary
# picks its role by the name it runs as), the directories stage0 and the stage1 ABI
# expect, and a manifest carrying the entrypoint, interface-version and
# net-modes (the --net values the stage1 accepts, docs/stage1-abi.md)
# annotations, and one saturn-pods.org/stage1/KEY annotation per KEY=VALUE
# (what else the stage1 cannot honour: max-apps, unsupported-flags,
# isolators). EXTRA entrypoints are announced as coreos.com/rkt/stage1/<name>,
# but saturn's own (update, stats) as saturn-pods.org/stage1/<name>. Both
# stage1s are built by it so their images cannot drift apart in layout.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
name=${1:?stage1 name}
entry=${2:?run entrypoint file name}
net_modes=${3:?comma-separated --net values the stage1 accepts}
extra=()
caps=""
for arg in "${@:4}"; do
	if [[ $arg == *=* ]]; then
		caps+=$(printf ',\n    {"name": "saturn-pods.org/stage1/%s", "value": "%s"}' "${arg%%=*}" "${arg#*=}")
	else
		extra+=("$arg")
	fi
done
# The stage1 interface version the image declares (docs/stage1-abi.md).
iface_version=${STAGE1_INTERFACE_VERSION:-4}
# Helper binaries beside the entrypoint: NAME=PACKAGE, space-separated.
read -r -a helpers <<<"${STAGE1_HELPERS:-}"
root=$(cd "$(dirname "$0")/.." && pwd)
export CGO_ENABLED=0
read -r -a goflags <<<"${GOFLAGS_BUILD:--trimpath}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
mkdir -p "$BUILD/stage1-images" "$rootfs/rkt/status" "$rootfs/rkt/env" "$rootfs/opt/stage2" \
	"$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
(cd "$root" && go build "${goflags[@]}" -o "$rootfs/$entry" "./$name")
for h in "${helpers[@]}"; do
	(cd "$root" && go build "${goflags[@]}" -o "$rootfs/${h%%=*}" "${h#*=}")
done
extra_ann=
for e in enter gc stop "${extra[@]}"; do
	ln -s "$entry" "$rootfs/$e"
done
for e in "${extra[@]}"; do
	# rkt's entrypoints (attach) are announced under rkt's prefix,
	# saturn's own (update, stats) under saturn's.
	ns=coreos.com/rkt/stage1
	case $e in update | stats) ns=saturn-pods.org/stage1 ;; esac
	extra_ann+="    {\"name\": \"$ns/$e\", \"value\": \"/$e\"},"$'\n'
done

version=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo 0)
cat >"$work/manifest" <<JSON
{
  "acKind": "ImageManifest",
  "acVersion": "0.8.11",
  "name": "saturn-pods.org/$name",
  "labels": [
    {"name": "version", "value": "0.0.0+${version}"},
    {"name": "os", "value": "linux"},
    {"name": "arch", "value": "$(cd "$root" && go env GOARCH)"}
  ],
  "annotations": [
    {"name": "coreos.com/rkt/stage1/run", "value": "/$entry"},
    {"name": "coreos.com/rkt/stage1/enter", "value": "/enter"},
    {"name": "coreos.com/rkt/stage1/gc", "value": "/gc"},
    {"name": "coreos.com/rkt/stage1/stop", "value": "/stop"},
${extra_ann}    {"name": "coreos.com/rkt/stage1/interface-version", "value": "$iface_version"},
    {"name": "saturn-pods.org/stage1/net-modes", "value": "$net_modes"}$(printf '%b' "$caps")
  ]
}
JSON

out=$BUILD/stage1-images/$name.aci
if [[ -x $BUILD/bin/mkaci ]]; then
	"$BUILD/bin/mkaci" --overwrite "$work" "$out"
else
	(cd "$root" && go tool actool build --overwrite "$work" "$out")
fi
echo "built $out"
