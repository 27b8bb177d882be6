# setup.sh, sourced by the benchmarks of pod starts; it sources
# benchns.sh and benchfs.sh too.
#   bench_need TOOL...   fails unless each TOOL is installed
#   bench_start NAME [SIZE]
#                        checks that BUILD holds saturn, the busybox image
#                        and stage1-nspawn; makes the work directory $work
#                        with a fresh ext4 of SIZE on $fs, builds the
#                        helpers (bench_tools) there, and sets sat to saturn
#                        on the data directory $fs/data (prefixed with the
#                        array sat_prefix, if set). At exit it calls
#                        bench_on_exit, if the script defines it, collects
#                        every pod and takes the file system away.
#   bench_warm           imports the busybox image and runs it once (the
#                        stage1 imported, both trees rendered); prints its id
#   bench_bundle DIR     an OCI bundle of the busybox rootfs running
#                        /bin/true, from `runc spec`, for crun and runc
lib=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$lib/benchns.sh"
. "$lib/benchfs.sh"

bench_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "bench/$bench_name: $t not installed (./build.sh deps)" >&2; exit 1; }
	done
}

bench_start() {
	bench_name=$1
	local size=${2:-2G} need
	: "${BUILD:?BUILD must name the build directory}"
	saturn_bin=$BUILD/bin/saturn
	image=$BUILD/images/busybox.aci
	for need in "$saturn_bin" "$image" "$BUILD/stage1-images/stage1-nspawn.aci"; do
		[[ -e $need ]] || { echo "bench/$bench_name: $need missing (./build.sh build)" >&2; exit 1; }
	done
	work=$(mktemp -d "/tmp/saturn-bench-$bench_name.XXXXXX")
	fs=$work/fs
	data=$fs/data
	sat=(${sat_prefix[@]+"${sat_prefix[@]}"} "$saturn_bin" "--dir=$data" "--insecure-options=image")
	trap bench_cleanup EXIT
	mount_bench_fs "$fs" "$size"
	bench_tools "$work"
}

bench_cleanup() {
	if declare -F bench_on_exit >/dev/null; then bench_on_exit; fi
	"${sat[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
	umount_bench_fs "$fs"
	rm -rf "$work"
}

bench_warm() {
	local id
	id=$("${sat[@]}" fetch "$image" 2>/dev/null)
	"${sat[@]}" run --net=none "$id" --exec=/bin/true >/dev/null 2>&1
	echo "$id"
}

bench_bundle() {
	local dir=$1
	mkdir -p "$dir/rootfs"
	tar -xf "$image" -C "$dir" rootfs
	(cd "$dir" && runc spec)
	sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$dir/config.json"
	grep -q '"/bin/true"' "$dir/config.json" || { echo "bench/$bench_name: could not set the bundle's args" >&2; exit 1; }
}
