package main

import (
	"fmt"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
)

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
	if version < stage1abi.VersionNetArgs {
		if len(rt.NetOut) > 0 || rt.NetBandwidth != "" {
			return fmt.Errorf("stage1 %s does not support --net-out or --net-bandwidth (stage1 interface version %d, they need %d)", s1m.Name, version, stage1abi.VersionNetArgs)
		}
		return nil
	}
	return rt.CheckNetworks(g.LocalConfig, g.SystemConfig, ports)
}
