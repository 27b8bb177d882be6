#!/usr/bin/env bash
# fetch_signed.sh: time "saturn fetch" of a signed 256 MiB ACI over
# loopback HTTPS (download, signature check, store import) beside its
# peer, "curl" of the same file plus "gpg --verify" of its signature.
# Both verify the server against the same throwaway CA. Prints both
# timings and the ratio.
#   env BUILD: build dir holding bin/saturn
set -euo pipefail

ROOT=$(dirname "$(readlink -f "$0")")/../..
BUILD=${BUILD:-$ROOT/build}
SATURN=$BUILD/bin/saturn
SIZE_MIB=${FETCH_SIGNED_BENCH_MIB:-256}
RUNS=${FETCH_SIGNED_BENCH_RUNS:-3}
export PATH=/usr/local/go/bin:$PATH

work=$(mktemp -d /var/tmp/saturn-bench-fetch-signed.XXXXXX)
# gpg-agent's socket path must stay short, so its home is under /tmp.
gnupg=$(mktemp -d /tmp/saturn-bench-gpg.XXXXXX)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	gpgconf --homedir "$gnupg" --kill all 2>/dev/null || true
	rm -rf "$work" "$gnupg"
}
trap cleanup EXIT

# The HTTPS server, built on the fly.
CGO_ENABLED=0 go build -C "$ROOT" -o "$work/fetchserver" ./tests/bench/fetchserver

# The image: one incompressible file, uncompressed tar, signed with a key
# made here by gpg.
mkdir -p "$work/serve" "$work/image/rootfs"
printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-signed","labels":[{"name":"version","value":"1.0.0"}]}\n' >"$work/image/manifest"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$work/image/rootfs/blob"
tar -C "$work/image" -cf "$work/serve/image.aci" manifest rootfs
rm -rf "$work/image"
gpg_() { gpg --batch --quiet --homedir "$gnupg" --pinentry-mode loopback --passphrase '' "$@"; }
gpg_ --quick-gen-key "Bench <bench@example.com>" ed25519 sign never 2>/dev/null
gpg_ --armor --export bench@example.com >"$work/key.asc"
gpg_ --armor --detach-sign --output "$work/serve/image.aci.asc" "$work/serve/image.aci"

# saturn's configuration: the CA in certs.d, the key trusted for the name.
conf=$work/config
mkdir -p "$conf/certs.d"
"$work/fetchserver" -dir "$work/serve" -ca "$conf/certs.d/bench-ca.pem" >"$work/addr" &
server_pid=$!
for _ in $(seq 100); do [[ -s $work/addr ]] && break; sleep 0.05; done
addr=$(cat "$work/addr")
url=https://$addr/image.aci
"$SATURN" --local-config="$conf" --system-config="$work/no-system" trust --prefix=example.com/bench-signed \
	--skip-fingerprint-review "$work/key.asc" >/dev/null 2>&1

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

# Every run starts with the file in the server's page cache and an empty
# target, and ends with what it wrote synced.
time_saturn() {
	local dir=$work/saturn-dir
	rm -rf "$dir"
	cat "$work/serve/image.aci" >/dev/null
	sync
	local t0 t1
	t0=$(now)
	"$SATURN" --dir="$dir" --local-config="$conf" --system-config="$work/no-system" \
		fetch --pull-policy=update "$url" >/dev/null 2>"$work/saturn.err" || {
		cat "$work/saturn.err" >&2
		exit 1
	}
	sync -f "$work"
	t1=$(now)
	calc "$t1 - $t0"
}

time_peer() {
	local out=$work/peer
	rm -rf "$out"
	mkdir -p "$out"
	cat "$work/serve/image.aci" >/dev/null
	sync
	local t0 t1
	t0=$(now)
	curl -sSf --cacert "$conf/certs.d/bench-ca.pem" -o "$out/image.aci" "$url"
	curl -sSf --cacert "$conf/certs.d/bench-ca.pem" -o "$out/image.aci.asc" "$url.asc"
	gpg --batch --quiet --homedir "$gnupg" --verify "$out/image.aci.asc" "$out/image.aci" 2>/dev/null
	sync -f "$work"
	t1=$(now)
	calc "$t1 - $t0"
}

best_saturn=999999
best_peer=999999
for ((r = 0; r < RUNS; r++)); do
	s=$(time_saturn)
	p=$(time_peer)
	best_saturn=$(calc "($s < $best_saturn) ? $s : $best_saturn")
	best_peer=$(calc "($p < $best_peer) ? $p : $best_peer")
done
ratio=$(calc "$best_saturn / $best_peer")
printf 'fetch_signed (%d MiB over loopback HTTPS, best of %d): saturn fetch %.3fs, curl+gpg --verify %.3fs, ratio %.2fx (goal <= 1.3x)\n' \
	"$SIZE_MIB" "$RUNS" "$best_saturn" "$best_peer" "$ratio"
