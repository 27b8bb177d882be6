#!/usr/bin/env bash
# Benchmark: the cost of a pod's network. saturn run of /bin/true on rkt's
# default network (CNI: ptp, host-local, masquerading, firewall) beside
# --net=none, and podman run --network=bridge (Debian's podman on the CNI
# backend and the same plugins: bridge, host-local, masquerading, portmap,
# firewall, tuning) beside --network=none, of the same busybox rootfs.
# Prints each mean, the network's cost in ms and as a ratio, and
# saturn/podman. Everything runs in a network namespace of the
# benchmark's own, and podman's configuration, storage and leases live
# in the benchmark's directory, so the host's tables are never touched
# and nothing stays. Needs root, hyperfine, podman, runc (./build.sh deps).
# Env: BUILD, RUNS.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
RUNS=${RUNS:-20}
saturn_bin=$BUILD/bin/saturn
image=$BUILD/images/busybox.aci
for need in "$saturn_bin" "$image" "$BUILD/stage1-images/stage1-nspawn.aci"; do
	[[ -e $need ]] || { echo "bench/net.sh: $need missing (./build.sh build)" >&2; exit 1; }
done
for tool in hyperfine podman runc nsenter; do
	command -v "$tool" >/dev/null || { echo "bench/net.sh: $tool not installed (./build.sh deps)" >&2; exit 1; }
done

. "$(dirname "$(readlink -f "$0")")/lib/benchfs.sh"
work=$(mktemp -d /tmp/saturn-bench-net.XXXXXX)
fs=$work/fs
ns=saturn-bench-$$
mount_bench_fs "$fs"
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns=(nsenter "--net=/run/netns/$ns" --)
data=$fs/data
sat=("${in_ns[@]}" "$saturn_bin" "--dir=$data" "--insecure-options=image")
pm_env=(env "CONTAINERS_CONF=$fs/podman/containers.conf" "CONTAINERS_STORAGE_CONF=$fs/podman/storage.conf"
	"CONTAINERS_REGISTRIES_CONF=$fs/podman/registries.conf")
pm=("${pm_env[@]}" "${in_ns[@]}" podman --root "$fs/podman/root" --runroot "$fs/podman/runroot")
cleanup() {
	"${sat[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
	"${pm[@]}" rm -af >/dev/null 2>&1 || true
	ip netns del "$ns" 2>/dev/null || true
	umount_bench_fs "$fs"
	rm -rf "$work"
}
trap cleanup EXIT

# podman: CNI backend, the plugins of /usr/lib/cni, its default network
# spelled out (podman's own 87-podman-bridge.conflist) with its leases in
# the benchmark's directory; no rlimit raised (this VM lacks
# CAP_SYS_RESOURCE), no pids limit, no event log.
mkdir -p "$fs/podman/cni" "$fs/podman/tmp" "$fs/podman/leases"
cat >"$fs/podman/containers.conf" <<CONF
[containers]
default_ulimits = []
pids_limit = 0
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "$fs/podman/tmp"
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "$fs/podman/cni"
CONF
cat >"$fs/podman/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$fs/podman/root"
runroot = "$fs/podman/runroot"
CONF
echo 'unqualified-search-registries = []' >"$fs/podman/registries.conf"
cat >"$fs/podman/cni/87-podman-bridge.conflist" <<CONF
{"cniVersion": "0.4.0", "name": "podman", "plugins": [
  {"type": "bridge", "bridge": "cni-podman0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]],
            "dataDir": "$fs/podman/leases"}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "firewall"},
  {"type": "tuning"}]}
CONF

# The same rootfs for both.
mkdir -p "$fs/bundle"
tar -xf "$image" -C "$fs/bundle" rootfs
rootfs=$fs/bundle/rootfs

# Warm: the image, stage1 and podman's state made once, before timing;
# each runtime's network checked once.
id=$("${sat[@]}" fetch "$image" 2>/dev/null)
"${sat[@]}" run "$id" --exec=/bin/sh -- -c 'ip -4 -o addr show eth0' 2>/dev/null | grep -q 'inet 172.16.28.' ||
	{ echo "bench/net.sh: saturn's pod got no address on default" >&2; exit 1; }
"${pm[@]}" run --rm --ulimit=host --network=bridge --rootfs "$rootfs" /bin/sh -c 'ip -4 -o addr show eth0' 2>/dev/null | grep -q 'inet 10.88.' ||
	{ echo "bench/net.sh: podman's container got no address on its bridge" >&2; exit 1; }

csv=$work/times.csv
pm_run="${pm[*]} run --rm --ulimit=host"
hyperfine -N --style none --warmup 2 --runs "$RUNS" --export-csv "$csv" \
	--prepare "${sat[*]} gc --grace-period=0s" --prepare "${sat[*]} gc --grace-period=0s" --prepare true --prepare true \
	-n saturn-default "${sat[*]} run $id --exec=/bin/true" \
	-n saturn-none "${sat[*]} run --net=none $id --exec=/bin/true" \
	-n podman-bridge "$pm_run --network=bridge --rootfs $rootfs /bin/true" \
	-n podman-none "$pm_run --network=none --rootfs $rootfs /bin/true" >/dev/null

mean() { awk -F, -v n="$1" '$1 == n { printf "%.1f", $2 * 1000 }' "$csv"; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
sd=$(mean saturn-default) sn=$(mean saturn-none) pb=$(mean podman-bridge) pn=$(mean podman-none)
echo "bench net run /bin/true: saturn default ${sd}ms none ${sn}ms (network +$(calc "$sd - $sn")ms, $(calc "$sd / $sn" 2)x);" \
	"podman bridge ${pb}ms none ${pn}ms (network +$(calc "$pb - $pn")ms, $(calc "$pb / $pn" 2)x);" \
	"saturn/podman with a network $(calc "$sd / $pb" 2)x, network cost saturn/podman $(calc "($sd - $sn) / ($pb - $pn)" 2)x (goal < 1)"
