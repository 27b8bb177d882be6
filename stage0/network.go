package main

import (
	"fmt"
	"path/filepath"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/pod"
)

// netArgsVersion is the stage1 interface version from which the run
// entrypoint takes --system-config, --net-out and --net-bandwidth
// (docs/stage1-abi.md).
const netArgsVersion = 5

// checkNetworking refuses, before the pod starts, networking the stage1
// of manifest s1m cannot give it: --net-out and --net-bandwidth with a
// stage1 that does not take them (a limit asked for is never dropped),
// and, for a stage1 that takes them (and so runs CNI networks as
// saturn's stage1-nspawn does), networks not defined in net.d or whose
// plugins are missing. ports says whether the pod exposes ports.
func checkNetworking(g *globals, rt *pod.RuntimeOptions, s1m *schema.ImageManifest, ports bool) error {
	version, err := stage1InterfaceVersionOf(s1m)
	if err != nil {
		return err
	}
	if version < netArgsVersion {
		if len(rt.NetOut) > 0 || rt.NetBandwidth != "" {
			return fmt.Errorf("stage1 %s does not support --net-out or --net-bandwidth (stage1 interface version %d, they need %d)", s1m.Name, version, netArgsVersion)
		}
		return nil
	}
	return rt.CheckNetworks(g.LocalConfig, g.SystemConfig, ports)
}

// netRunArgs are the run entrypoint's networking arguments of interface
// version 5.
func netRunArgs(g *globals, rt *pod.RuntimeOptions) []string {
	systemConfig := g.SystemConfig
	if abs, err := filepath.Abs(systemConfig); err == nil {
		systemConfig = abs
	}
	args := []string{"--system-config=" + systemConfig}
	for _, r := range rt.NetOut {
		args = append(args, "--net-out="+r)
	}
	if rt.NetBandwidth != "" {
		args = append(args, "--net-bandwidth="+rt.NetBandwidth)
	}
	return args
}
