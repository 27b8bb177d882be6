package tests

import (
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// The variables through which stage1-nspawn's run entrypoint names the
// fds it hands the pod's PID 1 mean nothing in saturn's own environment:
// set there, they neither break the pod nor reach the app.
func TestStage1InternalFDVariablesFromCaller(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	for _, vals := range [][3]string{{"3", "4", "5"}, {"4", "3", "3"}, {"junk", "-1", "99999"}} {
		cmd := e.command("run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-nspawn"), "--net=none",
			bb, "--exec=/bin/sh", "--", "-c", "env; echo done")
		cmd.Env = append(cmd.Environ(), "SATURN_PLAN_FD="+vals[0], "SATURN_CAUGHT_FD="+vals[1], "SATURN_NOTIFY_FD="+vals[2])
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("pod with SATURN_PLAN_FD=%s SATURN_CAUGHT_FD=%s SATURN_NOTIFY_FD=%s in saturn's environment: %v\n%s", vals[0], vals[1], vals[2], err, out)
			continue
		}
		lines := s1Lines(string(out), "busybox")
		if len(lines) == 0 || lines[len(lines)-1] != "done" {
			t.Errorf("app did not run to its end:\n%s", out)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "SATURN_") {
				t.Errorf("app sees %s", l)
			}
		}
	}
}
