#!/usr/bin/env bash
# Benchmark: start and end a pod running /bin/true. saturn (stage1-nspawn,
# warm store, its defaults: cgroups, the default seccomp filter, and
# --net=none) beside crun and runc (`run` of a bundle from `runc spec`:
# cgroups, namespaces, a network namespace with only lo, no seccomp),
# beside the floor `unshare --fork --pid --mount --ipc --uts --net chroot
# ROOTFS /bin/true` and the floor of saturn's process structure (three
# static Go exec hops around that unshare: stage0, stage1's run
# entrypoint, the pod's PID 1), all on one busybox rootfs in one fresh
# ext4 (lib/benchfs.sh) and one mount namespace (lib/benchns.sh).
# Paired, alternating rounds (tests/bench/pair); prints medians, and
# saturn/crun wall and CPU time against the goals (issue 17).
# Needs root, crun, runc, unshare (./build.sh deps). Env: BUILD, RUNS.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib/setup.sh"
bench_ns "$@"
RUNS=${RUNS:-30}
bench_need crun runc unshare
bench_start run
id=$(bench_warm)
bench_bundle "$fs/bundle"

ge=$work/goexec
# Exited pods are garbage-collected before each saturn run, untimed
# (crun and runc remove their container as part of `run`).
"$work/pair" -runs "$RUNS" \
	-prepare "saturn=${sat[*]} gc --grace-period=0s" \
	-goal "run /bin/true|saturn/crun|wall|<=|0.9" \
	-goal "run /bin/true|saturn/crun|cpu|<=|1.0" \
	-goal "run /bin/true|saturn/runc|wall" \
	-goal "floor of three Go exec hops|floor/unshare|wall" \
	"saturn=${sat[*]} run --net=none $id --exec=/bin/true" \
	"crun=crun --root $fs/crun-state run --bundle $fs/bundle saturn-bench-$$" \
	"runc=runc --root $fs/runc-state run --bundle $fs/bundle saturn-bench-$$" \
	"unshare=unshare --fork --pid --mount --ipc --uts --net chroot $fs/bundle/rootfs /bin/true" \
	"floor=$ge $ge $(command -v unshare) --fork --pid --mount --ipc --uts --net $ge $(command -v chroot) $fs/bundle/rootfs /bin/true"
