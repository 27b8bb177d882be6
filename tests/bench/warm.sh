#!/usr/bin/env bash
# Benchmark: a warm start does not grow with the image. saturn run of
# /bin/true (stage1-nspawn, --net=none) in the busybox image (about 1 MB)
# beside the same in an image of busybox plus BIG_MIB MiB of random data
# in 64 KiB files (16384 files for 1 GiB, in 256 directories), both
# imported and rendered before timing. Paired, alternating rounds
# (tests/bench/pair); prints big/small against the goal (flat: <= 1.1x),
# and the first start after the big tree was rendered beside the warm
# ones: no start hashes a whole tree (issue 17). In one fresh ext4
# (lib/benchfs.sh) and one mount namespace (lib/benchns.sh).
# Env: BUILD, RUNS, BIG_MIB.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib/setup.sh"
bench_ns "$@"
RUNS=${RUNS:-20}
BIG_MIB=${BIG_MIB:-1024}
[[ -x $BUILD/bin/mkaci ]] || { echo "bench/warm.sh: $BUILD/bin/mkaci missing (./build.sh build)" >&2; exit 1; }
bench_start warm $((BIG_MIB * 4 + 2048))M

small=$("${sat[@]}" fetch "$image" 2>/dev/null)

# The big image: busybox's rootfs and manifest under another name, and
# the data, incompressible, so its size on disk is what it says.
img=$fs/big
mkdir -p "$img"
tar -xf "$image" -C "$img"
sed -i 's|"name": *"[^"]*"|"name":"example.com/bench-warm-big"|' "$img/manifest"
grep -q bench-warm-big "$img/manifest" || { echo "bench/warm.sh: could not rename the big image" >&2; exit 1; }
for ((d = 0; d < 256; d++)); do mkdir -p "$img/rootfs/data/d$d"; done
(
	cd "$img/rootfs/data"
	head -c $((BIG_MIB << 20)) /dev/urandom | split -a 5 -d -b 64K - part.
	i=0
	for f in part.*; do
		mv "$f" "d$((i % 256))/f$i"
		i=$((i + 1))
	done
)
"$BUILD/bin/mkaci" --compression=none "$img" "$fs/big.aci"
rm -rf "$img"
big=$("${sat[@]}" fetch "$fs/big.aci" 2>/dev/null)
rm -f "$fs/big.aci"

# Rendering (untimed), then the first start after it, timed alone.
"${sat[@]}" run --net=none "$small" --exec=/bin/true >/dev/null 2>&1
"${sat[@]}" run --net=none "$big" --exec=/bin/true >/dev/null 2>&1
t0=${EPOCHREALTIME/./}
"${sat[@]}" run --net=none "$big" --exec=/bin/true >/dev/null 2>&1
t1=${EPOCHREALTIME/./}
first=$(awk -v t=$((t1 - t0)) 'BEGIN { printf "%.2f", t / 1000 }')

out=$("$work/pair" -runs "$RUNS" \
	-prepare "small=${sat[*]} gc --grace-period=0s" -prepare "big=${sat[*]} gc --grace-period=0s" \
	-goal "warm start, ${BIG_MIB} MiB against 1 MB|big/small|wall|<=|1.1" \
	"small=${sat[*]} run --net=none $small --exec=/bin/true" \
	"big=${sat[*]} run --net=none $big --exec=/bin/true")
echo "$out"
warm=$(echo "$out" | awk '$1 == "big:" { sub(/ms/, "", $3); print $3 }')
verdict=met
awk -v f="$first" -v w="$warm" 'BEGIN { exit !(f <= 2 * w) }' || verdict="NOT met"
echo "goal first start after rendering ${BIG_MIB} MiB: ${first}ms, $(awk -v f="$first" -v w="$warm" 'BEGIN { printf "%.2f", f / w }')x the warm median (no tree hash) goal <= 2x: $verdict"
