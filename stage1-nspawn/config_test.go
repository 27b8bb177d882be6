package main

import (
	"strings"
	"testing"
)

func TestParseRunFlags(t *testing.T) {
	const uuid = "6733c7a6-5bb6-4b3c-9a3e-0d6b8b1d2f11"
	tests := []struct {
		args  []string
		check func(*runFlags) bool
		err   string
	}{
		{[]string{"--net=none", uuid}, func(f *runFlags) bool {
			return f.Net == "none" && f.Hostname == "rkt-"+uuid && f.IPC == "auto" && f.DNSConfMode.Resolv == "default"
		}, ""},
		{[]string{"--debug", "--net=host", "--interactive", "--hostname=web", "--local-config=/etc/saturn",
			"--disable-capabilities-restriction", "--disable-paths", "--disable-seccomp", "--mds-token=t", "--ipc=parent", uuid},
			func(f *runFlags) bool {
				return f.Debug && f.Interactive && f.Hostname == "web" && f.DisableCapabilities && f.DisablePaths && f.MDSToken == "t" && f.IPC == "parent"
			}, ""},
		{[]string{"--net=none"}, nil, "expected one pod UUID argument, got 0"},
		{[]string{"--net=none", "not-a-uuid"}, nil, `bad pod UUID "not-a-uuid"`},
		{[]string{uuid}, func(f *runFlags) bool {
			return f.netf.mode == "contained" && len(f.netf.reqs) == 1 && f.netf.reqs[0].Name == "default"
		}, ""},
		{[]string{"--net=mynet:IP=10.0.0.9,other", "--net-out=10.1.0.0/16:443", "--net-bandwidth=1M", "--system-config=/usr/lib/saturn", uuid}, func(f *runFlags) bool {
			return f.netf.mode == "contained" && len(f.netf.reqs) == 2 && f.netf.reqs[0].Args[0] == [2]string{"IP", "10.0.0.9"} &&
				len(f.netf.out) == 1 && f.netf.bw.IngressRate == 8e6 && f.SystemConfig == "/usr/lib/saturn"
		}, ""},
		{[]string{"--net=a,a", uuid}, nil, "network a given twice"},
		{[]string{"--net=none", "--net-out=10.0.0.0/8", uuid}, nil, "need a contained network"},
		{[]string{"--net=none", "--ipc=shared", uuid}, nil, "--ipc=shared: want auto, private or parent"},
		// The ABI: a stage1 accepts flags of newer stage0s it does not know.
		{[]string{"--net=none", "--bogus", "--newer=1", uuid}, func(f *runFlags) bool { return f.Net == "none" && f.UUID == uuid }, ""},
	}
	for _, tc := range tests {
		f, err := parseRunFlags(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRunFlags(%q) error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !tc.check(f) {
			t.Errorf("parseRunFlags(%q) = %+v, %v", tc.args, f, err)
		}
	}
}
