package stage1abi

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// ReadValue refuses what an app that escaped into the stage1 rootfs
// could put in place of a file the host reads as root.
func TestReadValueRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if v, err := ReadValue(write("ok", " 42\n")); err != nil || v != "42" {
		t.Errorf("ReadValue = %q, %v", v, err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, fifo, dir, write("empty", " \n"), write("big", strings.Repeat("1", MaxValueSize+1)), filepath.Join(dir, "missing")} {
		if v, err := ReadValue(p); err == nil {
			t.Errorf("ReadValue(%s) = %q, want an error", p, v)
		}
	}
	// Below a directory an app could replace: no symlink on the way.
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("real/v", "ready")
	if err := os.Symlink("real", filepath.Join(dir, "rkt")); err != nil {
		t.Fatal(err)
	}
	if v, err := ReadValueBeneath(dir, "real/v"); err != nil || v != "ready" {
		t.Errorf("ReadValueBeneath = %q, %v", v, err)
	}
	if v, err := ReadValueBeneath(dir, "rkt/v"); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("ReadValueBeneath through a symlink = %q, %v", v, err)
	}
}

func TestPidFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadPid(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadPid before WritePid: %v, want not exist", err)
	}
	if err := WritePid(dir, 1234, "987654"); err != nil {
		t.Fatal(err)
	}
	if pid, err := ReadPid(dir); err != nil || pid != 1234 {
		t.Errorf("ReadPid = %d, %v", pid, err)
	}
	if st, err := ReadPidStartTime(dir); err != nil || st != "987654" {
		t.Errorf("ReadPidStartTime = %q, %v", st, err)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		os.WriteFile(filepath.Join(dir, PpidFile), []byte(bad), 0o644)
		if pid, err := ReadPpid(dir); err == nil {
			t.Errorf("ReadPpid of %q = %d", bad, pid)
		}
	}
}

func TestAppFiles(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{StatusDir, EnvDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteAppStatus(root, "web", 143); err != nil {
		t.Fatal(err)
	}
	if code, err := ReadAppStatus(root, "web"); err != nil || code != 143 {
		t.Errorf("ReadAppStatus = %d, %v", code, err)
	}
	os.WriteFile(filepath.Join(root, StatusFile("bad")), []byte("256"), 0o644)
	if code, err := ReadAppStatus(root, "bad"); err == nil {
		t.Errorf("ReadAppStatus of 256 = %d", code)
	}
	env := []string{"PATH=/bin", "A=b=c", "EMPTY="}
	if err := WriteEnv(root, "web", env); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadEnv(root, "web"); err != nil || !slices.Equal(got, env) {
		t.Errorf("ReadEnv = %q, %v", got, err)
	}
	if _, err := ReadEnv(root, "other"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadEnv of an app not started: %v", err)
	}
	if err := WriteSupervisorReady(root); err != nil {
		t.Fatal(err)
	}
	if v, err := ReadValueBeneath(root, SupervisorStatus); err != nil || v != SupervisorReady {
		t.Errorf("supervisor status %q, %v", v, err)
	}
}

func TestNetInfo(t *testing.T) {
	dir := t.TempDir()
	if nets, err := ReadNetInfo(dir); err != nil || nets != nil {
		t.Errorf("ReadNetInfo without a file = %v, %v", nets, err)
	}
	want := []NetInfo{{NetName: "default", IfName: "eth0", IP: "172.16.28.2", Mask: "255.255.255.0", HostIP: "172.16.28.1"}, {NetName: "b", IfName: "eth1", IP: "10.0.0.2"}}
	if err := WriteNetInfo(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadNetInfo(dir); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadNetInfo = %+v, %v", got, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, NetInfoFile))
	if !strings.Contains(string(b), `"netName":"default","ifName":"eth0","ip":"172.16.28.2"`) {
		t.Errorf("net-info.json is not rkt's: %s", b)
	}
}
