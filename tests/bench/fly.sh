#!/usr/bin/env bash
# fly.sh: time "saturn run" of /bin/true in a busybox image on stage1-fly
# (warm store: image and stage1 already imported, trees rendered) beside
# its floor, "chroot ROOTFS /bin/true" of the same rootfs. Prints both
# timings and the ratio (goal: <= 2x).
#   env BUILD: build dir holding bin/saturn, bin/mkaci, stage1-images/
set -euo pipefail

BUILD=${BUILD:-$(dirname "$(readlink -f "$0")")/../../build}
SATURN=$BUILD/bin/saturn
FLY=$BUILD/stage1-images/stage1-fly.aci
RUNS=${FLY_BENCH_RUNS:-50}

if [[ $(id -u) -ne 0 ]]; then
	echo "fly.sh: must run as root" >&2
	exit 1
fi
work=$(mktemp -d /var/tmp/saturn-bench-fly.XXXXXX)
sat() { "$SATURN" --dir="$work/data" --local-config="$work/config" --system-config="$work/config" "$@"; }
cleanup() {
	sat gc --grace-period=0s >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# A busybox image built the way the tests build theirs.
img=$work/image
mkdir -p "$img/rootfs/bin"
cp /bin/busybox "$img/rootfs/bin/busybox"
ln -s busybox "$img/rootfs/bin/true"
ln -s busybox "$img/rootfs/bin/sh"
arch=$(go env GOARCH 2>/dev/null || echo amd64)
cat >"$img/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-fly",
 "labels":[{"name":"version","value":"1.0.0"},{"name":"os","value":"linux"},{"name":"arch","value":"$arch"}],
 "app":{"exec":["/bin/true"],"user":"0","group":"0"}}
JSON
"$BUILD/bin/mkaci" --compression=none "$img" "$work/bench.aci"
id=$(sat fetch --insecure-options=image "$work/bench.aci" 2>/dev/null | tail -n1)

run_fly() {
	sat run --stage1-path="$FLY" --insecure-options=image "$id" >/dev/null 2>&1
}
# Warm up: imports stage1-fly and renders both trees once.
run_fly
sat gc --grace-period=0s >/dev/null 2>&1

calc() { awk "BEGIN { print $1 }"; }

# Times are in microseconds from EPOCHREALTIME, which bash reads without
# forking, so the clock adds nothing to either side.
# Pods are removed between measurements (outside the clock) so every run
# sees the same store and pod directory state.
t_fly=0
for ((i = 0; i < RUNS; i++)); do
	t0=${EPOCHREALTIME/./}
	run_fly
	t1=${EPOCHREALTIME/./}
	t_fly=$((t_fly + t1 - t0))
	if ((i % 10 == 9)); then sat gc --grace-period=0s >/dev/null 2>&1; fi
done

t_chroot=0
for ((i = 0; i < RUNS; i++)); do
	t0=${EPOCHREALTIME/./}
	chroot "$img/rootfs" /bin/true
	t1=${EPOCHREALTIME/./}
	t_chroot=$((t_chroot + t1 - t0))
done

ms_fly=$(calc "$t_fly / $RUNS / 1000")
ms_chroot=$(calc "$t_chroot / $RUNS / 1000")
printf 'fly run /bin/true: saturn %.2f ms, chroot %.2f ms, ratio %.2fx (goal <= 2x)\n' \
	"$ms_fly" "$ms_chroot" "$(calc "$t_fly / $t_chroot")"
