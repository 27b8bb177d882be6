#!/usr/bin/env bash
# Benchmark: garbage collection at scale. Starts PODS pods running
# /bin/true (4 at a time) and lets them exit, counts the mounts the
# exited pods still hold (goal: none), then times one
# `saturn gc --grace-period=0s` collecting all of them (goal: under 10 s
# for 2000, issue 17). In one fresh ext4 (lib/benchfs.sh) and one mount
# namespace (lib/benchns.sh). Env: BUILD, PODS.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib/setup.sh"
bench_ns "$@"
PODS=${PODS:-2000}
bench_start gc 8G
id=$(bench_warm)
"${sat[@]}" gc --grace-period=0s >/dev/null 2>&1

seq "$PODS" | xargs -P 4 -I{} "${sat[@]}" run --net=none "$id" --exec=/bin/true >/dev/null 2>&1
exited=$(find "$data/pods/run" -mindepth 1 -maxdepth 1 | wc -l)
[[ $exited -eq $PODS ]] || { echo "bench/gc.sh: $exited exited pods, want $PODS" >&2; exit 1; }
mounts=$(awk -v d="$data/pods/" 'index($5, d) == 1' /proc/self/mountinfo | wc -l)

t0=${EPOCHREALTIME/./}
"${sat[@]}" gc --grace-period=0s >/dev/null 2>"$work/gc.err" || { cat "$work/gc.err" >&2; exit 1; }
t1=${EPOCHREALTIME/./}
left=$(find "$data/pods" -mindepth 2 -maxdepth 2 | wc -l)
[[ $left -eq 0 ]] || { echo "bench/gc.sh: $left pods left after gc" >&2; exit 1; }
secs=$(awk -v t=$((t1 - t0)) 'BEGIN { printf "%.2f", t / 1e6 }')
# 10 s for 2000 pods, in proportion for another PODS.
bound=$(awk -v n="$PODS" 'BEGIN { printf "%g", 10 * n / 2000 }')
verdict=met
awk -v s="$secs" -v b="$bound" 'BEGIN { exit !(s < b) }' || verdict="NOT met"
echo "goal gc of $PODS exited pods: ${secs}s goal < ${bound}s: $verdict"
verdict=met
[[ $mounts -eq 0 ]] || verdict="NOT met"
echo "goal mounts held by $PODS exited pods: $mounts goal 0: $verdict"
