#!/usr/bin/env bash
# Benchmark: what cgroups cost a pod start. saturn run of /bin/true with
# --memory=64M --cpu=500m beside the same without limits, and runc with
# the same limits beside runc without, all on one busybox rootfs; then the
# pod cgroup tree's own setup and removal, from cgroup.BenchmarkPodCgroups
# (detect the layout, make the tree of one app with both limits, remove
# it), in milliseconds. saturn makes a pod's cgroups with or without
# limits, so its two runs differ by the limit writes only; the tree is
# the rest. Needs root, hyperfine and runc (./build.sh deps). Env: BUILD.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
. "$(dirname "$(readlink -f "$0")")/lib/benchns.sh"
bench_ns "$@"
RUNS=${RUNS:-30}
saturn_bin=$BUILD/bin/saturn
image=$BUILD/images/busybox.aci
for need in "$saturn_bin" "$image" "$BUILD/stage1-images/stage1-nspawn.aci"; do
	[[ -e $need ]] || { echo "bench/cgroups.sh: $need missing (./build.sh build)" >&2; exit 1; }
done
for tool in hyperfine runc; do
	command -v "$tool" >/dev/null || { echo "bench/cgroups.sh: $tool not installed (./build.sh deps)" >&2; exit 1; }
done

. "$(dirname "$(readlink -f "$0")")/lib/benchfs.sh"
work=$(mktemp -d /tmp/saturn-bench-cg.XXXXXX)
fs=$work/fs
mount_bench_fs "$fs"
data=$fs/data
sat=("$saturn_bin" "--dir=$data" "--insecure-options=image")
cleanup() {
	"${sat[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
	umount_bench_fs "$fs"
	rm -rf "$work"
}
trap cleanup EXIT

id=$("${sat[@]}" fetch "$image" 2>/dev/null)
"${sat[@]}" run --net=none "$id" --exec=/bin/true >/dev/null 2>&1

# runc bundles: the same rootfs, one config without limits, one with.
mkdir -p "$fs/bundle/rootfs" "$fs/limited"
tar -xf "$image" -C "$fs/bundle" rootfs
(cd "$fs/bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$fs/bundle/config.json"
ln -s "$fs/bundle/rootfs" "$fs/limited/rootfs"
sed -e 's|"rootfs"|"'"$fs"'/bundle/rootfs"|' \
	-e 's/"resources": {/"resources": {"memory": {"limit": 67108864}, "cpu": {"quota": 50000, "period": 100000},/' \
	"$fs/bundle/config.json" >"$fs/limited/config.json"
grep -q '"quota": 50000' "$fs/limited/config.json" || { echo "bench/cgroups.sh: could not set runc's limits" >&2; exit 1; }

csv=$work/times.csv
run="${sat[*]} run --net=none $id"
hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-csv "$csv" \
	--prepare "${sat[*]} gc --grace-period=0s" --prepare "${sat[*]} gc --grace-period=0s" --prepare true --prepare true \
	-n saturn-limits "$run --memory=64M --cpu=500m --exec=/bin/true" \
	-n saturn "$run --exec=/bin/true" \
	-n runc-limits "runc --root $fs/runc-state run --bundle $fs/limited saturn-bench-cg-$$" \
	-n runc "runc --root $fs/runc-state run --bundle $fs/bundle saturn-bench-cg-$$" >/dev/null

mean() { awk -F, -v n="$1" '$1 == n { printf "%.2f", $2 * 1000 }' "$csv"; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", a - b }'; }
sl=$(mean saturn-limits) s=$(mean saturn) rl=$(mean runc-limits) r=$(mean runc)

# The tree alone, in this process's layout (the host's).
root=$(dirname "$(readlink -f "$0")")/../..
go=$(command -v go || echo /usr/local/go/bin/go)
tree=$(cd "$root" && "$go" test -run NONE -bench BenchmarkPodCgroups -benchtime "${RUNS}x" ./cgroup 2>/dev/null |
	awk '/^BenchmarkPodCgroups/ { printf "%.2f", $3 / 1e6 }')
layout=v2
if grep -q ' - cgroup ' /proc/self/mountinfo; then
	layout=v1
	grep -q ' - cgroup2 ' /proc/self/mountinfo && layout=hybrid
fi
echo "bench run /bin/true with --memory=64M --cpu=500m: saturn ${sl}ms (no limits ${s}ms, $(diff_ms "$sl" "$s")ms)," \
	"runc ${rl}ms (no limits ${r}ms, $(diff_ms "$rl" "$r")ms); saturn/runc with limits $(awk -v a="$sl" -v b="$rl" 'BEGIN { printf "%.2f", a / b }')x;" \
	"a pod's cgroup tree (${layout}): ${tree}ms to make and remove"
