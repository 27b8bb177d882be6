package main

import (
	"encoding/json"
	"testing"

	"github.com/saturn-pods/saturn/cgroup"
)

func TestCgroupResources(t *testing.T) {
	iso := func(name, value string) appIsolator { return appIsolator{Name: name, Value: json.RawMessage(value)} }
	got, err := cgroupResources([]appIsolator{
		iso(isoMemory, `{"request":"32M","limit":"64Mi"}`),
		iso(isoCPU, `{"limit":"250m"}`),
		iso(isoCPUShares, `512`),
		iso(isoBlockBandwidth, `{"default":true,"limit":"2M"}`),
		iso(isoBlockIOPS, `{"default":true,"limit":"1000"}`),
		iso("os/linux/no-new-privileges", `true`), // not a cgroup's
	})
	want := cgroup.Resources{Memory: 64 << 20, CPUQuota: 25000, CPUShares: 512, BlockBPS: 2000000, BlockIOPS: 1000}
	if err != nil || got != want {
		t.Errorf("cgroupResources = %+v, %v; want %+v", got, err, want)
	}
	if r, err := cgroupResources([]appIsolator{iso(isoMemory, `{"request":"1G"}`)}); err != nil || !r.IsZero() {
		t.Errorf("a memory request alone: %+v, %v; want no limit", r, err)
	}
	for _, bad := range []appIsolator{
		iso(isoMemory, `{"limit":"0"}`),
		iso(isoMemory, `{"limit":"lots"}`),
		iso(isoMemory, `"64M"`),
		iso(isoCPU, `{"limit":"5m"}`),
		iso(isoCPU, `{"limit":"-1"}`),
		iso(isoCPUShares, `1`),
		iso(isoCPUShares, `262145`),
		iso(isoBlockBandwidth, `{"default":false,"limit":"2M"}`),
		iso(isoBlockIOPS, `{"default":true,"limit":"0"}`),
	} {
		if _, err := cgroupResources([]appIsolator{bad}); err == nil {
			t.Errorf("%s %s: no error", bad.Name, bad.Value)
		}
	}
}

func TestUpdateResources(t *testing.T) {
	r, err := updateResources("64M", "1.5", 2048)
	if want := (cgroup.Resources{Memory: 64000000, CPUQuota: 150000, CPUShares: 2048}); err != nil || r != want {
		t.Errorf("updateResources = %+v, %v; want %+v", r, err, want)
	}
	for _, bad := range [][3]string{{"", "", ""}, {"16m", "", ""}, {"x", "", ""}, {"", "1m", ""}, {"", "", "1"}} {
		var shares uint64
		if bad[2] != "" {
			shares = 1
		}
		if _, err := updateResources(bad[0], bad[1], shares); err == nil {
			t.Errorf("updateResources%q: no error", bad)
		}
	}
}
