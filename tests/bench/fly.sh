#!/usr/bin/env bash
# fly.sh: time "saturn run" of /bin/true in a busybox image on stage1-fly
# (warm store: image and stage1 already imported, trees rendered) beside
# its floor, "chroot ROOTFS /bin/true" of the same rootfs, and the floor of
# saturn's process structure: two Go exec hops (stage0, then stage1-fly's
# run entrypoint) before that chroot, "goexec goexec chroot ROOTFS
# /bin/true", with goexec (tests/bench/goexec) a static Go program that
# only execs its arguments, built like saturn. Prints the three timings and
# the ratios (goal: <= 2x chroot).
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
ROOT=$(dirname "$(readlink -f "$0")")/../..
go=$(command -v go || echo /usr/local/go/bin/go)
# saturn's data and the image rootfs (so chroot's too) live in one fresh
# journaled ext4, as in run.sh (lib/benchfs.sh says why not in /var/tmp).
. "$(dirname "$(readlink -f "$0")")/lib/benchfs.sh"
work=$(mktemp -d /var/tmp/saturn-bench-fly.XXXXXX)
fs=$work/fs
sat() { "$SATURN" --dir="$fs/data" --local-config="$work/config" --system-config="$work/config" "$@"; }
cleanup() {
	sat gc --grace-period=0s >/dev/null 2>&1 || true
	umount_bench_fs "$fs"
	rm -rf "$work"
}
trap cleanup EXIT
mount_bench_fs "$fs"

# A busybox image built the way the tests build theirs, with the
# directories an ordinary image has for what a pod mounts (fly binds
# /dev, /proc, /sys and a /tmp; DNS files go to /etc), as
# build/images/busybox.aci has them.
img=$fs/image
mkdir -p "$img/rootfs/bin" "$img"/rootfs/{dev,proc,sys,etc,tmp}
chmod 1777 "$img/rootfs/tmp"
cp /bin/busybox "$img/rootfs/bin/busybox"
ln -s busybox "$img/rootfs/bin/true"
ln -s busybox "$img/rootfs/bin/sh"
arch=$("$go" env GOARCH 2>/dev/null || echo amd64)
cat >"$img/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-fly",
 "labels":[{"name":"version","value":"1.0.0"},{"name":"os","value":"linux"},{"name":"arch","value":"$arch"}],
 "app":{"exec":["/bin/true"],"user":"0","group":"0"}}
JSON
"$BUILD/bin/mkaci" --compression=none "$img" "$work/bench.aci"
id=$(sat fetch --insecure-options=image "$work/bench.aci" 2>/dev/null | tail -n1)

# The do-nothing Go program, built the way build.sh builds saturn.
CGO_ENABLED=0 "$go" build -C "$ROOT" -trimpath -ldflags=-s -o "$work/goexec" ./tests/bench/goexec
chroot_bin=$(command -v chroot)

run_fly() {
	sat run --stage1-path="$FLY" --insecure-options=image "$id" >/dev/null 2>&1
}
# Warm up: imports stage1-fly and renders both trees once.
run_fly
sat gc --grace-period=0s >/dev/null 2>&1

calc() { awk "BEGIN { print $1 }"; }

# Times are in microseconds from EPOCHREALTIME, which bash reads without
# forking, so the clock adds nothing to any side.
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

# The two floors take turns, so a neighbour's load hits them alike; they
# run after the pods, whose exit watchers could otherwise still be busy.
t_chroot=0 t_floor=0
for ((i = 0; i < RUNS; i++)); do
	t0=${EPOCHREALTIME/./}
	"$chroot_bin" "$img/rootfs" /bin/true
	t1=${EPOCHREALTIME/./}
	"$work/goexec" "$work/goexec" "$chroot_bin" "$img/rootfs" /bin/true
	t2=${EPOCHREALTIME/./}
	t_chroot=$((t_chroot + t1 - t0))
	t_floor=$((t_floor + t2 - t1))
done

ms_fly=$(calc "$t_fly / $RUNS / 1000")
ms_chroot=$(calc "$t_chroot / $RUNS / 1000")
ms_floor=$(calc "$t_floor / $RUNS / 1000")
printf 'fly run /bin/true: saturn %.2f ms, chroot %.2f ms, ratio %.2fx (goal <= 2x); floor of two Go exec hops before chroot: %.2f ms (%.2fx)\n' \
	"$ms_fly" "$ms_chroot" "$(calc "$t_fly / $t_chroot")" "$ms_floor" "$(calc "$t_floor / $t_chroot")"
