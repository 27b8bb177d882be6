# benchns.sh, sourced by the benchmarks: bench_ns "$@", called first,
# re-runs the calling script in a private mount namespace of its own, and
# there binds an empty file over the cgroup v2 hierarchy's
# cgroup.controllers. On a hybrid cgroup layout whose v2 hierarchy has a
# controller enabled (this VM's has hugetlb), crun refuses to run
# ("cgroups in hybrid mode not supported"); with the file empty it runs
# on the v1 controllers as runc does. Every peer of a benchmark, saturn
# too, runs in that namespace, so all of them see the same layout; the
# host's mounts stay as they were, and the namespace's (the benchmark's
# file system included) go when the script ends.
#
# bench_tools DIR builds the benchmarks' Go helpers into DIR: pair (the
# paired, alternating timer, tests/bench/pair) and goexec (the floor of a
# Go process start, tests/bench/goexec), both the way build.sh builds
# saturn.

bench_ns() {
	if [[ -z ${SATURN_BENCH_NS:-} ]]; then
		SATURN_BENCH_NS=1 exec unshare --mount --propagation private -- bash "$0" "$@"
	fi
	local controllers=/sys/fs/cgroup/unified/cgroup.controllers
	if [[ -e $controllers && -n $(cat "$controllers") ]]; then
		local empty
		empty=$(mktemp /tmp/saturn-bench-empty.XXXXXX)
		mount --bind "$empty" "$controllers"
		rm -f "$empty"
	fi
}

bench_tools() {
	local dir=$1 root go
	root=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../..
	go=$(command -v go || echo /usr/local/go/bin/go)
	for t in pair goexec; do
		CGO_ENABLED=0 "$go" build -C "$root" -trimpath -ldflags=-s -o "$dir/$t" "./tests/bench/$t"
	done
}
