#!/usr/bin/env bash
# build.sh: the one entry point of saturn's build.
#   deps         install what building, testing and running pods need
#   build        build/bin/saturn, build/stage1-images/*.aci, build/images/*.aci (default)
#   test         deps + build + go vet + all tests (functional tests run as root)
#   bench        benchmarks beside their peers, ratios printed
#   run-example  build, then run an example pod
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD
BUILD=$ROOT/build
export PATH=/usr/local/go/bin:$PATH
export CGO_ENABLED=0
GOFLAGS_BUILD=(-trimpath -ldflags "-s -w -X main.Version=$(git describe --always --dirty 2>/dev/null || echo dev)")

need_root() {
	if [[ $(id -u) -ne 0 ]]; then
		echo "build.sh $1: must run as root (sudo ./build.sh $1)" >&2
		exit 1
	fi
}

# Debian packages: what each is for.
#   busybox-static              test and example images are made from it
#   gnupg                       tests sign images with real keys
#   iptables                    CNI plugins' NAT and port forwarding
#   containernetworking-plugins bridge/ptp/host-local... for pod networks
#   iproute2                    tests inspect links and namespaces
#   util-linux                  unshare, the benchmark floor
#   runc                        benchmark peer (and `runc spec` writes the peers' bundles)
#   crun                        benchmark peer, the fastest OCI runtime packaged (tests/bench:
#                               run, throughput); it refuses hybrid cgroups unless the v2
#                               hierarchy is empty, which the benchmarks arrange (lib/benchns.sh)
#   hyperfine                   benchmark timing
#   e2fsprogs                   benchmarks run on a fresh journaled ext4 (tests/bench/lib)
#   xz-utils bzip2              tests make ACIs with every compression
#   curl ca-certificates        fetch benchmark peer
#   qemu-system-x86             boots the pure cgroup v2 test VM (tests/cgroupvm; its kernel,
#                               linux-image-cloud-amd64, is unpacked there, never installed)
#   docker-registry             the reference registry, on loopback, for the Docker image tests
#   umoci                       tests build OCI images layer by layer; umoci unpack is a bench peer
#   skopeo                      tests push images to the registry; skopeo copy is a bench peer
#   podman                      benchmark peer on the CNI plugins (tests/bench/net.sh), and its
#                               conmon the idle pod's (tests/bench/memory.sh)
#   util-linux's nsenter        runs saturn in the network namespaces the network tests make
#   systemd                     systemd-socket-activate starts saturn as a .socket unit would
#                               (tests/activation_test.go); not run as PID 1 here
#   dbus-daemon                 a private bus on which machined's tests serve a stand-in machined
#   debootstrap                 the root file system of the systemd test VM (tests/systemdvm),
#                               from the mirror apt uses, built once and cached
DEB_PACKAGES=(busybox-static gnupg iptables containernetworking-plugins iproute2 util-linux
	xz-utils bzip2 curl ca-certificates runc hyperfine e2fsprogs qemu-system-x86
	docker-registry umoci skopeo systemd dbus-daemon debootstrap podman crun)

cmd_deps() {
	need_root deps
	local missing=()
	for p in "${DEB_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "build.sh deps: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	if ! command -v go >/dev/null; then
		echo "build.sh deps: Go toolchain not found (expected /usr/local/go)" >&2
		exit 1
	fi
	go mod download
	# The test VMs' kernel, downloaded and unpacked once per version, and the
	# systemd VM's root file system, built once per recipe.
	local kdir
	kdir=$(bash "$ROOT/tests/qemuvm/kernel.sh")
	local kimg=("$kdir"/boot/vmlinuz-*)
	bash "$ROOT/tests/systemdvm/rootfs.sh" "$kdir" "${kimg[0]##*/vmlinuz-}" >/dev/null
	if ! command -v staticcheck >/dev/null && [[ ! -x $BUILD/tools/staticcheck ]]; then
		GOBIN=$BUILD/tools go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	fi
}

cmd_build() {
	mkdir -p "$BUILD/bin" "$BUILD/stage1-images" "$BUILD/images"
	go build "${GOFLAGS_BUILD[@]}" -o "$BUILD/bin/saturn" ./stage0
	go build "${GOFLAGS_BUILD[@]}" -o "$BUILD/bin/mkaci" ./aci/mkaci
	for s in stage1-nspawn stage1-fly; do
		if [[ -f $ROOT/$s/build.sh ]]; then
			BUILD=$BUILD GOFLAGS_BUILD="-trimpath -ldflags=-s" bash "$ROOT/$s/build.sh"
		fi
	done
	if [[ -f $ROOT/tests/images/build.sh ]]; then
		BUILD=$BUILD bash "$ROOT/tests/images/build.sh"
	fi
}

cmd_lint() {
	local bad
	bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './build/*'))
	if [[ -n $bad ]]; then
		echo "gofmt needed on:" >&2
		echo "$bad" >&2
		exit 1
	fi
	go vet ./...
	local sc
	sc=$(command -v staticcheck || echo "$BUILD/tools/staticcheck")
	"$sc" ./...
}

cmd_test() {
	need_root test
	cmd_deps
	cmd_build
	cmd_lint
	# -v so every test's result is in the log; the console shows all but the passes.
	set +e
	SATURN_BUILD=$BUILD go test -v -count=1 -timeout 25m ./... >"$BUILD/test.log" 2>&1
	local rc=$?
	set -e
	grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)' "$BUILD/test.log" || true
	local pass fail
	pass=$(grep -cE '^\s*--- PASS' "$BUILD/test.log" || true)
	fail=$(grep -cE '^\s*--- FAIL' "$BUILD/test.log" || true)
	echo "tests: $pass passed, $fail failed"
	return "$rc"
}

cmd_bench() {
	need_root bench
	cmd_deps
	cmd_build
	for b in "$ROOT"/tests/bench/*.sh; do
		[[ -f $b ]] || continue
		BUILD=$BUILD bash "$b"
	done
}

cmd_run_example() {
	need_root run-example
	cmd_deps
	cmd_build
	bash "$ROOT/dist/run-example.sh" "$BUILD"
}

case "${1:-build}" in
deps) cmd_deps ;;
build) cmd_build ;;
lint) cmd_lint ;;
test) cmd_test ;;
bench) cmd_bench ;;
run-example) cmd_run_example ;;
*)
	echo "usage: $0 {deps|build|test|bench|run-example|lint}" >&2
	exit 1
	;;
esac
