#!/usr/bin/env bash
# fetch.sh: time "saturn fetch" of a 256 MiB ACI with thousands of files
# beside its floor, "sha512sum FILE" + "tar -x" of the same file: fetch
# hashes, checks and stores the image in one pass, so it should cost about
# as much as hashing and unpacking it. Prints both timings and the ratio.
#   env BUILD: build dir holding bin/saturn and bin/mkaci
set -euo pipefail

BUILD=${BUILD:-$(dirname "$(readlink -f "$0")")/../../build}
SATURN=$BUILD/bin/saturn
MKACI=$BUILD/bin/mkaci
FILES=${FETCH_BENCH_FILES:-4096}
FILE_KIB=${FETCH_BENCH_FILE_KIB:-64}
RUNS=${FETCH_BENCH_RUNS:-3}

work=$(mktemp -d /var/tmp/saturn-bench-fetch.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The image: $FILES files of random (incompressible) data in 64 dirs.
img=$work/image
mkdir -p "$img/rootfs"
printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-fetch"}\n' >"$img/manifest"
head -c $((FILES * FILE_KIB * 1024)) /dev/urandom >"$work/random"
for ((d = 0; d < 64; d++)); do mkdir -p "$img/rootfs/d$d"; done
(
	cd "$img/rootfs"
	split -a 5 -d -b $((FILE_KIB * 1024)) "$work/random" part.
	i=0
	for f in part.*; do
		mv "$f" "d$((i % 64))/f$i"
		i=$((i + 1))
	done
)
rm -f "$work/random"
aci=$work/bench.aci
"$MKACI" --compression=none "$img" "$aci"
rm -rf "$img"
size=$(stat -c %s "$aci")

now() { date +%s.%N; }
# calc evaluates a floating-point expression (awk is always there, bc not).
calc() { awk "BEGIN { print $1 }"; }

# Each measurement starts from the ACI in the page cache and an empty
# target, and ends with the written data synced, so neither side gains
# from writeback still pending when the clock stops.
time_saturn() {
	local dir=$work/saturn-dir
	rm -rf "$dir"
	cat "$aci" >/dev/null
	sync
	local t0 t1
	t0=$(now)
	"$SATURN" --dir="$dir" --insecure-options=image fetch "$aci" >/dev/null 2>&1
	sync -f "$work"
	t1=$(now)
	calc "$t1 - $t0"
}

time_floor() {
	local dir=$work/tar-dir
	rm -rf "$dir"
	mkdir -p "$dir"
	cat "$aci" >/dev/null
	sync
	local t0 t1
	t0=$(now)
	sha512sum "$aci" >/dev/null
	tar -x -C "$dir" -f "$aci"
	sync -f "$work"
	t1=$(now)
	calc "$t1 - $t0"
}

best_saturn=999999
best_floor=999999
for ((r = 0; r < RUNS; r++)); do
	s=$(time_saturn)
	f=$(time_floor)
	best_saturn=$(calc "($s < $best_saturn) ? $s : $best_saturn")
	best_floor=$(calc "($f < $best_floor) ? $f : $best_floor")
done
ratio=$(calc "$best_saturn / $best_floor")
printf 'fetch (%d MiB, %d files, best of %d): saturn fetch %.3fs, sha512sum+tar -x %.3fs, ratio %.2fx (goal <= 1.3x)\n' \
	$((size / 1024 / 1024)) "$FILES" "$RUNS" "$best_saturn" "$best_floor" "$ratio"
