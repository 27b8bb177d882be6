# podman.sh, sourced by the benchmarks that run podman: podman_conf DIR
# writes a podman configuration of the benchmark's own into DIR and sets
# the array pm to the podman command that uses it (prefixed with the
# array podman_prefix, if set: net.sh runs it in a network namespace).
# podman there runs containers with runc on the cgroupfs manager, on the
# CNI backend and the plugins of /usr/lib/cni, its default network
# spelled out (podman's own 87-podman-bridge.conflist) with its leases in
# DIR, vfs storage in DIR; no rlimit raised (this VM lacks
# CAP_SYS_RESOURCE), no pids limit, no event log. Nothing of the host's
# podman configuration or storage is read or written.

podman_conf() {
	local dir=$1
	mkdir -p "$dir/cni" "$dir/tmp" "$dir/leases"
	cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = []
pids_limit = 0
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "$dir/tmp"
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "$dir/cni"
CONF
	cat >"$dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$dir/root"
runroot = "$dir/runroot"
CONF
	echo 'unqualified-search-registries = []' >"$dir/registries.conf"
	cat >"$dir/cni/87-podman-bridge.conflist" <<CONF
{"cniVersion": "0.4.0", "name": "podman", "plugins": [
  {"type": "bridge", "bridge": "cni-podman0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]],
            "dataDir": "$dir/leases"}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "firewall"},
  {"type": "tuning"}]}
CONF
	pm=(env "CONTAINERS_CONF=$dir/containers.conf" "CONTAINERS_STORAGE_CONF=$dir/storage.conf"
		"CONTAINERS_REGISTRIES_CONF=$dir/registries.conf" ${podman_prefix[@]+"${podman_prefix[@]}"}
		podman --root "$dir/root" --runroot "$dir/runroot")
}
