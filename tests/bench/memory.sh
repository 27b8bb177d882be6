#!/usr/bin/env bash
# Benchmark: what stays resident for idle pods. Starts PODS saturn pods
# (stage1-nspawn, --net=none) whose one app sleeps, and as many podman
# containers (--network=none, lib/podman.sh) doing the same, then sums the
# proportional set size (PSS, /proc/PID/smaps_rollup) of what each runtime
# keeps running per pod besides the app: saturn's run entrypoint, the
# pod's PID 1 and anything else of stage1's in the pod's process tree;
# podman's conmon (the runtime itself, runc, has exited). PSS shares the
# pages processes have in common among them, so 50 alike processes show
# what one more pod costs. Then one saturn pod of ten sleeping apps: its
# PSS and the peak RSS (VmHWM) of its PID 1. Prints the figures against
# the goals (issue 17: <= 1 MB a pod and < 3x conmon; ten apps no more than
# 4.3 MB). In one fresh ext4 (lib/benchfs.sh) and one mount namespace
# (lib/benchns.sh). Needs root, podman, runc. Env: BUILD, PODS.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/lib/setup.sh"
. "$here/lib/podman.sh"
bench_ns "$@"
PODS=${PODS:-50}
bench_need podman runc
runpids=()
bench_on_exit() {
	local u p
	for u in "$work"/uuid.*; do
		[[ -s $u ]] && "${sat[@]}" stop "$(cat "$u")" >/dev/null 2>&1
	done
	for p in "${runpids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -z ${pm+x} ]] || "${pm[@]}" rm -af -t 0 >/dev/null 2>&1 || true
}
bench_start memory
podman_conf "$fs/podman"
id=$(bench_warm)
mkdir -p "$fs/bundle"
tar -xf "$image" -C "$fs/bundle" rootfs

# pss_kb PID...: the PSS of those processes together, in kB.
pss_kb() {
	local sum=0 p v
	for p in "$@"; do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup")
		sum=$((sum + v))
	done
	echo "$sum"
}

# tree PID: PID and its descendants, except the apps (sleep).
tree() {
	local p=$1 c
	[[ $(cat "/proc/$p/comm") == sleep ]] || echo "$p"
	for c in $(cat /proc/"$p"/task/*/children); do tree "$c"; done
}

# start_pod N ARGS...: a background saturn run; its pid in runpids.
start_pod() {
	local n=$1
	shift
	"${sat[@]}" run --net=none --uuid-file-save="$work/uuid.$n" "$@" >/dev/null 2>&1 &
	runpids+=($!)
}

# wait_ready N: until pod N's supervisor says it is ready.
wait_ready() {
	local n=$1 uuid
	for _ in $(seq 1 1500); do
		if [[ -s $work/uuid.$n ]]; then
			uuid=$(cat "$work/uuid.$n")
			[[ $(cat "$data/pods/run/$uuid/stage1/rootfs/rkt/supervisor-status" 2>/dev/null) == ready ]] && return 0
		fi
		sleep 0.02
	done
	echo "bench/memory.sh: pod $n did not start" >&2
	exit 1
}

for ((i = 0; i < PODS; i++)); do
	start_pod "$i" "$id" --exec=/bin/sleep -- 3600
	wait_ready "$i"
done
procs=()
for p in "${runpids[@]}"; do procs+=($(tree "$p")); done
sat_kb=$(pss_kb "${procs[@]}")

for ((i = 0; i < PODS; i++)); do
	"${pm[@]}" run -d --ulimit=host --network=none --rootfs "$fs/bundle/rootfs" /bin/sleep 3600 >/dev/null
done
conmons=($(pgrep -f "^/usr/bin/conmon .*$fs/podman/"))
[[ ${#conmons[@]} -eq $PODS ]] || { echo "bench/memory.sh: ${#conmons[@]} conmons, want $PODS" >&2; exit 1; }
conmon_kb=$(pss_kb "${conmons[@]}")
"${pm[@]}" rm -af -t 0 >/dev/null 2>&1

per_pod=$(awk -v s="$sat_kb" -v n="$PODS" 'BEGIN { printf "%.2f", s / n / 1024 }')
per_conmon=$(awk -v s="$conmon_kb" -v n="$PODS" 'BEGIN { printf "%.2f", s / n / 1024 }')
verdict() { awk "BEGIN { exit !($1) }" && echo met || echo "NOT met"; }
echo "goal idle pod PSS ($PODS pods): saturn ${per_pod} MB a pod (${#procs[@]} processes) goal <= 1 MB: $(verdict "$per_pod <= 1")"
echo "goal idle pod PSS ($PODS pods): saturn/conmon $(awk -v a="$sat_kb" -v b="$conmon_kb" 'BEGIN { printf "%.2f", a / b }')x (conmon ${per_conmon} MB) goal < 3x: $(verdict "$sat_kb < 3 * $conmon_kb")"

# One pod of ten apps.
args=()
for i in $(seq 0 9); do
	args+=("$id" "--name=app$i" "--exec=/bin/sleep" "--" "3600" "---")
done
start_pod ten "${args[@]}"
wait_ready ten
ten_kb=$(pss_kb $(tree "${runpids[-1]}"))
uuid=$(cat "$work/uuid.ten")
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$(cat "$data/pods/run/$uuid/pid")/status")
ten_mb=$(awk -v k="$ten_kb" 'BEGIN { printf "%.2f", k / 1024 }')
hwm_mb=$(awk -v k="$hwm" 'BEGIN { printf "%.2f", k / 1024 }')
echo "goal pod of 10 apps: saturn PSS ${ten_mb} MB (PID 1 peak RSS ${hwm_mb} MB) goal <= 4.3 MB: $(verdict "$ten_mb <= 4.3")"
