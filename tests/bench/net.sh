#!/usr/bin/env bash
# Benchmark: the cost of a pod's network. saturn run of /bin/true on rkt's
# default network (CNI: ptp, host-local, masquerading, firewall) beside
# --net=none, and podman run --network=bridge (Debian's podman on the CNI
# backend and the same plugins: bridge, host-local, masquerading, portmap,
# firewall, tuning; lib/podman.sh) beside --network=none, of the same
# busybox rootfs. Paired, alternating rounds (tests/bench/pair); prints
# the medians, saturn/podman with a network against the goal (issue 17)
# and each network's cost. Everything runs in a network namespace of the
# benchmark's own and a mount namespace of its own (lib/benchns.sh), and
# podman's configuration, storage and leases live in the benchmark's
# directory, so the host's tables are never touched and nothing stays.
# Needs root, podman, runc, nsenter (./build.sh deps). Env: BUILD, RUNS.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/lib/setup.sh"
. "$here/lib/podman.sh"
bench_ns "$@"
RUNS=${RUNS:-20}
bench_need podman runc nsenter
ns=saturn-bench-$$
podman_prefix=(nsenter "--net=/run/netns/$ns" --)
sat_prefix=("${podman_prefix[@]}")
bench_on_exit() {
	"${sat[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
	[[ -z ${pm+x} ]] || "${pm[@]}" rm -af >/dev/null 2>&1 || true
	ip netns del "$ns" 2>/dev/null || true
}
bench_start net
ip netns add "$ns"
ip -n "$ns" link set lo up
podman_conf "$fs/podman"

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

pm_run="${pm[*]} run --rm --ulimit=host"
"$work/pair" -runs "$RUNS" -warmup 2 \
	-prepare "saturn-default=${sat[*]} gc --grace-period=0s" \
	-prepare "saturn-none=${sat[*]} gc --grace-period=0s" \
	-goal "run /bin/true with a network|saturn-default/podman-bridge|wall|<=|0.5" \
	-goal "run /bin/true, network's cost saturn|saturn-default/saturn-none|wall" \
	-goal "run /bin/true, network's cost podman|podman-bridge/podman-none|wall" \
	"saturn-default=${sat[*]} run $id --exec=/bin/true" \
	"saturn-none=${sat[*]} run --net=none $id --exec=/bin/true" \
	"podman-bridge=$pm_run --network=bridge --rootfs $rootfs /bin/true" \
	"podman-none=$pm_run --network=none --rootfs $rootfs /bin/true"
