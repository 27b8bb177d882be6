package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunExitCodeAndStatus(t *testing.T) {
	p := newPod(t, []testApp{{name: "hello", exec: sh("echo hi; echo oops >&2; exit 3")}})
	r := p.run(t)
	if r.code != 3 {
		t.Fatalf("exit code %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
	if got := appLines(r.stdout, "hello"); len(got) != 1 || got[0] != "hi" {
		t.Errorf("stdout lines %q, want [hi]; stdout:\n%s", got, r.stdout)
	}
	if got := appLines(r.stderr, "hello"); len(got) != 1 || got[0] != "oops" {
		t.Errorf("stderr lines %q, want [oops]; stderr:\n%s", got, r.stderr)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/hello"); s != "3" {
		t.Errorf("status file %q, want 3", s)
	}
	if s := p.file(t, "stage1/rootfs/rkt/supervisor-status"); s != "ready" {
		t.Errorf("supervisor-status %q, want ready", s)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "pid")); err != nil {
		t.Errorf("pid file: %v", err)
	}
}

func TestRunSignalExitCode(t *testing.T) {
	p := newPod(t, []testApp{{name: "selfkill", exec: sh("kill -KILL $$")}})
	if r := p.run(t); r.code != 137 {
		t.Fatalf("exit code %d, want 137; stderr:\n%s", r.code, r.stderr)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/selfkill"); s != "137" {
		t.Errorf("status %q, want 137", s)
	}
}

func TestRunInteractivePassesStdio(t *testing.T) {
	p := newPod(t, []testApp{{name: "cat", exec: []string{"/bin/cat"}}})
	cmd := p.entry("init", "--net=none", "--interactive", p.uuid)
	cmd.Stdin = strings.NewReader("line one\nline two\n")
	r := runCmd(t, cmd)
	if r.code != 0 || r.stdout != "line one\nline two\n" {
		t.Fatalf("code %d stdout %q, want 0 and the input unprefixed; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// Apps get stdin, stdout and stderr only: not the pod lock stage0 passes
// in RKT_LOCK_FD, nor any other fd stage0 left open.
func TestNoFDsLeakIntoApps(t *testing.T) {
	p := newPod(t, []testApp{{name: "fds", exec: []string{"/testapp", "inherited-fds"}}})
	lock, err := os.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	other, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cmd := p.entry("init", "--net=none", p.uuid)
	cmd.ExtraFiles = []*os.File{lock, other}
	cmd.Env = append(os.Environ(), "RKT_LOCK_FD=3")
	r := runCmd(t, cmd)
	// The app's own fds (its Go runtime holds its cgroup's CPU limit
	// files) are close-on-exec and not listed.
	if got := appLines(r.stdout, "fds"); r.code != 0 || len(got) != 3 || got[0] != "0" || got[1] != "1" || got[2] != "2" {
		t.Errorf("code %d, app's inherited fds %q, want 0 1 2; stderr:\n%s", r.code, got, r.stderr)
	}
}
