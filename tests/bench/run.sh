#!/usr/bin/env bash
# Benchmark: start and end a pod running /bin/true, saturn (stage1-nspawn,
# --net=none, warm store) beside runc and the floor of
# `unshare --fork --pid --mount --ipc --uts --net chroot ROOTFS /bin/true`,
# all on the same busybox rootfs; then the pod supervisor's peak RSS with
# ten apps. Needs root, hyperfine and runc (./build.sh deps). Env: BUILD.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
RUNS=${RUNS:-30}
saturn_bin=$BUILD/bin/saturn
image=$BUILD/images/busybox.aci
for need in "$saturn_bin" "$image" "$BUILD/stage1-images/stage1-nspawn.aci"; do
	[[ -e $need ]] || { echo "bench/run.sh: $need missing (./build.sh build)" >&2; exit 1; }
done
for tool in hyperfine runc unshare; do
	command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool not installed (./build.sh deps)" >&2; exit 1; }
done

# Every peer works in one fresh journaled ext4 (lib/benchfs.sh says why
# not in /tmp).
. "$(dirname "$(readlink -f "$0")")/lib/benchfs.sh"
work=$(mktemp -d /tmp/saturn-bench.XXXXXX)
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

# Warm store: the image and the stage1 are imported once, before timing.
id=$("${sat[@]}" fetch "$image" 2>/dev/null)
"${sat[@]}" run --net=none "$id" --exec=/bin/true >/dev/null 2>&1

# The same rootfs for the peers.
mkdir -p "$fs/bundle/rootfs"
tar -xf "$image" -C "$fs/bundle" rootfs
(cd "$fs/bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$fs/bundle/config.json"
grep -q '"/bin/true"' "$fs/bundle/config.json" || { echo "bench/run.sh: could not set runc's args" >&2; exit 1; }

# The floor of saturn's process structure: three Go process starts
# (stage0, stage1's run entrypoint, the pod's PID 1) around the same
# namespaces and chroot, with goexec (tests/bench/goexec), a static Go
# program that only execs its arguments.
root=$(dirname "$(readlink -f "$0")")/../..
go=$(command -v go || echo /usr/local/go/bin/go)
CGO_ENABLED=0 "$go" build -C "$root" -trimpath -ldflags=-s -o "$work/goexec" ./tests/bench/goexec
ge=$work/goexec

csv=$work/times.csv
saturn_cmd="${sat[*]} run --net=none $id --exec=/bin/true"
runc_cmd="runc --root $fs/runc-state run --bundle $fs/bundle saturn-bench-$$"
unshare_cmd="unshare --fork --pid --mount --ipc --uts --net chroot $fs/bundle/rootfs /bin/true"
floor_cmd="$ge $ge $(command -v unshare) --fork --pid --mount --ipc --uts --net $ge $(command -v chroot) $fs/bundle/rootfs /bin/true"
# No shell around the commands (-N): the floor is a few milliseconds.
# Exited pods are garbage-collected before each saturn run, untimed, so
# their mounts do not pile up during the benchmark.
hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-csv "$csv" \
	--prepare "${sat[*]} gc --grace-period=0s" --prepare true --prepare true --prepare true \
	-n saturn "$saturn_cmd" -n runc "$runc_cmd" -n unshare "$unshare_cmd" -n floor "$floor_cmd" >/dev/null

mean() { awk -F, -v n="$1" '$1 == n { printf "%.2f", $2 * 1000 }' "$csv"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
s=$(mean saturn) r=$(mean runc) u=$(mean unshare) fl=$(mean floor)
echo "bench run /bin/true: saturn ${s}ms runc ${r}ms unshare ${u}ms;" \
	"saturn/unshare $(ratio "$s" "$u")x (goal <= 3x), saturn/runc $(ratio "$s" "$r")x (goal <= 0.4x);" \
	"floor of three Go exec hops around unshare: ${fl}ms ($(ratio "$fl" "$u")x)"

# stage1-nspawn alone, to show how the time splits between stage0 and
# stage1: its run entrypoint re-run in the directory of a pod that has
# exited (stage0's rootfs mounts stay until gc).
"${sat[@]}" gc --grace-period=0s >/dev/null 2>&1
"${sat[@]}" run --net=none --uuid-file-save="$work/s1uuid" "$id" --exec=/bin/true >/dev/null 2>&1
s1uuid=$(cat "$work/s1uuid")
poddir=$(echo "$data"/pods/*/"$s1uuid")
s1csv=$work/stage1.csv
(cd "$poddir" && hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-csv "$s1csv" \
	-n stage1 "stage1/rootfs/init --net=none $s1uuid" >/dev/null)
s1=$(awk -F, '$1 == "stage1" { printf "%.2f", $2 * 1000 }' "$s1csv")
echo "bench stage1-nspawn alone: ${s1}ms; stage1/unshare $(ratio "$s1" "$u")x"

# Peak RSS of the pod supervisor with ten apps.
uuidf=$work/uuid
args=()
for i in $(seq 0 9); do
	args+=("$id" "--name=app$i" "--exec=/bin/sleep" "--" "3600" "---")
done
"${sat[@]}" run --net=none --uuid-file-save="$uuidf" "${args[@]}" >/dev/null 2>&1 &
runpid=$!
ready=""
for _ in $(seq 1 500); do
	if [[ -s $uuidf ]]; then
		uuid=$(cat "$uuidf")
		ready=$(cat "$data"/pods/run/"$uuid"/stage1/rootfs/rkt/supervisor-status 2>/dev/null || true)
		[[ $ready == ready ]] && break
	fi
	sleep 0.02
done
if [[ $ready != ready ]]; then
	echo "bench/run.sh: the ten-app pod did not start" >&2
	kill "$runpid" 2>/dev/null || true
	exit 1
fi
pid=$(cat "$data/pods/run/$uuid/pid")
hwm=$(awk '/^VmHWM:/ { print $2 " " $3 }' "/proc/$pid/status")
"${sat[@]}" stop "$uuid" >/dev/null
wait "$runpid" || true
echo "bench supervisor peak RSS (VmHWM) with 10 apps: $hwm"
