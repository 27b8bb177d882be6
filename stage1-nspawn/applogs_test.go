package main

import (
	"testing"

	"github.com/saturn-pods/saturn/stage1abi"
)

func TestServiceOf(t *testing.T) {
	for in, want := range map[string]string{
		"0::/system.slice/web.service\n":                                      "web.service",
		"0::/machine.slice/web.service/payload\n":                             "web.service",
		"1:name=systemd:/system.slice/db.service\n0::/\n":                     "db.service",
		"12:memory:/system.slice/x.service\n0::/user.slice/session-2.scope\n": "",
		"0::/\n": "",
		"":       "",
		"0::/machine.slice/saturn-1.scope/stage1\n": "",
	} {
		if got := serviceOf(in); got != want {
			t.Errorf("serviceOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppLogsMode(t *testing.T) {
	for _, c := range []struct {
		anns []annotation
		want string
		bad  bool
	}{
		{want: "auto"},
		{anns: []annotation{{stage1abi.AnnAppLogs, "journal"}}, want: "journal"},
		{anns: []annotation{{"other", "x"}, {stage1abi.AnnAppLogs, "stdout"}}, want: "stdout"},
		{anns: []annotation{{stage1abi.AnnAppLogs, "syslog"}}, bad: true},
	} {
		got, err := appLogsMode(&podManifest{Annotations: c.anns})
		if c.bad != (err != nil) || got != c.want {
			t.Errorf("%v: %q, %v; want %q", c.anns, got, err, c.want)
		}
	}
}
