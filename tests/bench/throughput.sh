#!/usr/bin/env bash
# Benchmark: pods started per second by 4 concurrent loops, each running
# /bin/true and ending it, saturn (stage1-nspawn, --net=none, cgroups and
# the default seccomp filter) beside crun (`run` of a bundle from `runc
# spec`, which also removes the container when it ends). saturn's loops
# collect their exited pods as they go (`gc --grace-period=0s` after
# every 10th pod, on the clock), so both leave as little behind. Paired,
# alternating rounds (tests/bench/pair) in one fresh ext4
# (lib/benchfs.sh) and one mount namespace (lib/benchns.sh); prints the
# rates and saturn/crun against the goal (issue 17).
# Needs root, crun, runc (./build.sh deps).
# Env: BUILD, RUNS, LOOPS, SECONDS_PER_ROUND.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib/setup.sh"
bench_ns "$@"
RUNS=${RUNS:-5}
LOOPS=${LOOPS:-4}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-5}
bench_need crun runc
bench_start throughput
id=$(bench_warm)
bench_bundle "$fs/bundle"

"$work/pair" -runs "$RUNS" -warmup 1 -loops "$LOOPS" -duration "${SECONDS_PER_ROUND}s" \
	-prepare "saturn=${sat[*]} gc --grace-period=0s" \
	-every "saturn:10=${sat[*]} gc --grace-period=0s" \
	-goal "throughput, $LOOPS loops|saturn/crun|rate|>=|1.0" \
	"saturn=${sat[*]} run --net=none $id --exec=/bin/true" \
	"crun=crun --root $fs/crun-state run --bundle $fs/bundle saturn-bench-{seq}"
