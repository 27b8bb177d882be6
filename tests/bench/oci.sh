#!/usr/bin/env bash
# oci.sh: a Docker image of 5 layers, about 200 MiB, served by the
# reference registry (docker-registry) on loopback:
#   fetch: "saturn fetch docker://..." into an empty store beside
#     "skopeo copy docker://... oci:DIR" (the same download, digest checks
#     and write of the layers; saturn also decompresses and checks every
#     layer's entries and diff_id, on a second core, before storing);
#   first run: "saturn run" of the fetched image (layers rendered into
#     the tree store, its hash recorded, a pod started and ended) beside
#     "umoci unpack" of skopeo's copy (layers applied, an mtree of the
#     result written).
# Best of RUNS each; prints timings and ratios. Needs root, docker-registry,
# skopeo, umoci (./build.sh deps). Env: BUILD.
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
RUNS=${OCI_BENCH_RUNS:-5}
LAYER_MIB=${OCI_BENCH_LAYER_MIB:-40}
saturn_bin=$BUILD/bin/saturn
for tool in docker-registry skopeo umoci; do
	command -v "$tool" >/dev/null || { echo "bench/oci.sh: $tool not installed (./build.sh deps)" >&2; exit 1; }
done

. "$(dirname "$(readlink -f "$0")")/lib/benchfs.sh"
work=$(mktemp -d /tmp/saturn-bench-oci.XXXXXX)
fs=$work/fs
mount_bench_fs "$fs"
regpid=
cleanup() {
	if [[ -n $regpid ]]; then
		kill "$regpid" 2>/dev/null || true
		wait "$regpid" 2>/dev/null || true
	fi
	for d in "$fs"/data*; do
		if [[ -d $d ]]; then "$saturn_bin" --dir="$d" gc --grace-period=0s >/dev/null 2>&1 || true; fi
	done
	umount_bench_fs "$fs"
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

# The image: busybox, then 5 layers of LAYER_MIB each, half random
# (incompressible) and half text (base64 of random: compresses to 3/4),
# in 64 KiB files.
layout=$work/layout
umoci init --layout "$layout"
umoci new --image "$layout:bench"
for ((l = 0; l < 5; l++)); do
	bundle=$work/bundle
	umoci unpack --image "$layout:bench" "$bundle" >/dev/null
	root=$bundle/rootfs
	if ((l == 0)); then
		mkdir -p "$root/bin"
		cp /bin/busybox "$root/bin/busybox"
		ln -s busybox "$root/bin/true"
	fi
	mkdir -p "$root/l$l"
	half=$((LAYER_MIB * 1024 / 2 / 64))
	head -c $((half * 64 * 1024)) /dev/urandom | split -a 4 -d -b 65536 - "$root/l$l/r."
	head -c $((half * 48 * 1024)) /dev/urandom | base64 -w 76 | split -a 4 -d -b 65536 - "$root/l$l/t."
	umoci repack --image "$layout:bench" "$bundle"
	rm -rf "$bundle"
done
umoci config --image "$layout:bench" --config.entrypoint=/bin/true

port=$((20000 + RANDOM % 20000))
cat >"$work/registry.yml" <<EOC
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $fs/registry
http:
  addr: 127.0.0.1:$port
EOC
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
for ((i = 0; i < 100; i++)); do
	curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
	sleep 0.1
done
ref=docker://127.0.0.1:$port/bench/image:v1
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "$ref"
size=$(du -sm "$fs/registry" | cut -f1)

sat() { "$saturn_bin" --dir="$1" --insecure-options=image,http "${@:2}"; }

time_saturn_fetch() {
	local dir=$fs/data-fetch
	if [[ -d $dir ]]; then sat "$dir" gc --grace-period=0s >/dev/null 2>&1 || true; fi
	rm -rf "$dir"
	sync
	local t0 t1
	t0=$(now)
	sat "$dir" fetch "$ref" >/dev/null 2>&1
	sync -f "$fs"
	t1=$(now)
	calc "$t1 - $t0"
}

time_skopeo() {
	local dir=$fs/skopeo
	rm -rf "$dir"
	sync
	local t0 t1
	t0=$(now)
	skopeo copy --quiet --src-tls-verify=false "$ref" "oci:$dir:v1"
	sync -f "$fs"
	t1=$(now)
	calc "$t1 - $t0"
}

# First run: a store holding the fetched image but no rendered tree.
time_saturn_run() {
	local dir=$fs/data-run
	if [[ -d $dir ]]; then sat "$dir" gc --grace-period=0s >/dev/null 2>&1 || true; fi
	rm -rf "$dir"
	sat "$dir" fetch "$ref" >/dev/null 2>&1
	sync
	local t0 t1
	t0=$(now)
	sat "$dir" run --net=none "$ref" >/dev/null 2>&1
	sync -f "$fs"
	t1=$(now)
	calc "$t1 - $t0"
}

time_umoci() {
	local dir=$fs/unpacked
	rm -rf "$dir"
	sync
	local t0 t1
	t0=$(now)
	umoci unpack --image "$fs/skopeo:v1" "$dir" >/dev/null
	sync -f "$fs"
	t1=$(now)
	calc "$t1 - $t0"
}

best() { # best of RUNS of the function $1
	local b=999999 t
	for ((r = 0; r < RUNS; r++)); do
		t=$($1)
		b=$(calc "($t < $b) ? $t : $b")
	done
	echo "$b"
}

fetch_s=$(best time_saturn_fetch)
fetch_k=$(best time_skopeo)
run_s=$(best time_saturn_run)
run_u=$(best time_umoci)
printf 'oci fetch (5 layers, %d MiB at the registry, best of %d): saturn fetch %.3fs, skopeo copy %.3fs, ratio %.2fx (goal <= 1.2x)\n' \
	"$size" "$RUNS" "$fetch_s" "$fetch_k" "$(calc "$fetch_s / $fetch_k")"
printf 'oci first run (render, best of %d): saturn run %.3fs, umoci unpack %.3fs, ratio %.2fx (goal <= 1.5x)\n' \
	"$RUNS" "$run_s" "$run_u" "$(calc "$run_s / $run_u")"
