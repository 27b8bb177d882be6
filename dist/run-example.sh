#!/usr/bin/env bash
# run-example.sh BUILD_DIR: runs a small example pod with the saturn built
# in BUILD_DIR (called by ./build.sh run-example, as root).
#
# It uses the busybox image from BUILD_DIR/images, or makes one with
# "saturn image build" from /bin/busybox, then runs a pod of two busybox
# apps that print the pod's hostname and its process list. The pod lives
# in a scratch data directory that is garbage-collected and removed at the
# end (set SATURN_EXAMPLE_DIR to keep it somewhere else).
set -euo pipefail

BUILD=$(readlink -f "${1:?usage: run-example.sh BUILD_DIR}")
SATURN=$BUILD/bin/saturn
[[ -x $SATURN ]] || { echo "run-example: $SATURN not built" >&2; exit 1; }

scratch=$(mktemp -d /tmp/saturn-example.XXXXXX)
DATA=${SATURN_EXAMPLE_DIR:-$scratch/data}
cleanup() {
	"$SATURN" --dir="$DATA" gc --grace-period=0s >/dev/null || true
	rm -rf "$scratch"
}
trap cleanup EXIT

image=$BUILD/images/busybox.aci
if [[ ! -f $image ]]; then
	echo "run-example: no $image, making one from /bin/busybox"
	root=$scratch/busybox
	mkdir -p "$root/rootfs/bin"
	cp /bin/busybox "$root/rootfs/bin/busybox"
	for applet in sh hostname ps echo sleep; do
		ln -s busybox "$root/rootfs/bin/$applet"
	done
	arch=$(uname -m)
	case $arch in x86_64) arch=amd64 ;; aarch64) arch=aarch64 ;; esac
	cat >"$root/manifest" <<EOF
{
  "acKind": "ImageManifest",
  "acVersion": "0.8.11",
  "name": "example.com/busybox",
  "labels": [
    {"name": "version", "value": "1.0.0"},
    {"name": "os", "value": "linux"},
    {"name": "arch", "value": "$arch"}
  ],
  "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"}
}
EOF
	image=$scratch/busybox.aci
	"$SATURN" image build "$root" "$image"
fi

echo "run-example: importing $image"
"$SATURN" --dir="$DATA" --insecure-options=image fetch "$image"

echo "run-example: running a pod of two apps (hello prints the hostname, lister the processes)"
# lister waits until hello has printed, so the output comes in order.
"$SATURN" --dir="$DATA" --insecure-options=image run --net=host \
	--volume=shared,kind=empty --mount=volume=shared,target=/shared \
	"$image" --name=hello --exec=/bin/sh -- -c 'echo "hello from pod $(hostname)"; echo done >/shared/mark' --- \
	"$image" --name=lister --exec=/bin/sh -- -c 'while [ ! -e /shared/mark ]; do sleep 0.1; done; ps' ---

echo "run-example: pods"
"$SATURN" --dir="$DATA" list
