#!/usr/bin/env bash
# fly.sh: time "saturn run" of /bin/true in a busybox image on stage1-fly
# (warm store: image and stage1 already imported, trees rendered) beside
# its floor, "chroot ROOTFS /bin/true" of the same rootfs, and the floor of
# saturn's process structure: two Go exec hops (stage0, then stage1-fly's
# run entrypoint) before that chroot, "goexec goexec chroot ROOTFS
# /bin/true", with goexec (tests/bench/goexec) a static Go program that
# only execs its arguments, built like saturn. Paired, alternating rounds
# (tests/bench/pair) in one mount namespace (lib/benchns.sh); prints the
# medians and fly/chroot against the goal (issue 17: <= 4x).
#   env BUILD: build dir holding bin/saturn, bin/mkaci, stage1-images/
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/lib/benchns.sh"
bench_ns "$@"

BUILD=${BUILD:-$(dirname "$(readlink -f "$0")")/../../build}
SATURN=$BUILD/bin/saturn
FLY=$BUILD/stage1-images/stage1-fly.aci
RUNS=${FLY_BENCH_RUNS:-${RUNS:-50}}

if [[ $(id -u) -ne 0 ]]; then
	echo "fly.sh: must run as root" >&2
	exit 1
fi
go=$(command -v go || echo /usr/local/go/bin/go)
# saturn's data and the image rootfs (so chroot's too) live in one fresh
# journaled ext4, as in run.sh (lib/benchfs.sh says why not in /var/tmp).
. "$here/lib/benchfs.sh"
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
bench_tools "$work"

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

chroot_bin=$(command -v chroot)
fly=("$SATURN" --dir="$fs/data" --local-config="$work/config" --system-config="$work/config"
	run --stage1-path="$FLY" --insecure-options=image "$id")
# Warm up: imports stage1-fly and renders both trees once.
"${fly[@]}" >/dev/null 2>&1
sat gc --grace-period=0s >/dev/null 2>&1

# Exited pods are removed before each fly run (untimed), so every run
# sees the same store and pod directory state.
ge=$work/goexec
"$work/pair" -runs "$RUNS" \
	-prepare "fly=$SATURN --dir=$fs/data --local-config=$work/config --system-config=$work/config gc --grace-period=0s" \
	-goal "fly run /bin/true|fly/chroot|wall|<=|4" \
	-goal "fly run /bin/true|fly/chroot|cpu" \
	-goal "floor of two Go exec hops before chroot|floor/chroot|wall" \
	"fly=${fly[*]}" \
	"chroot=$chroot_bin $img/rootfs /bin/true" \
	"floor=$ge $ge $chroot_bin $img/rootfs /bin/true"
