package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// hostNetState is what pods' networks could leave on the lab's host:
// links, routes, iptables rules (normalized), host-local leases of the
// default network.
func (l *netLab) hostNetState(t *testing.T) string {
	t.Helper()
	var links []string
	for _, line := range strings.Split(strings.TrimSpace(l.mustIn(l.host, "ip", "-o", "link")), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			links = append(links, f[1])
		}
	}
	return fmt.Sprintf("links: %s\nroutes:\n%s%s\nrules:\n%s\nleases: %v\n", strings.Join(links, " "),
		l.mustIn(l.host, "ip", "route"), l.mustIn(l.host, "ip", "-6", "route"),
		normRules(l.mustIn(l.host, "iptables-save")), leases(t, "default"))
}

// TestNetSoak: 100 pods on the default network, four at a time, started
// and stopped: the host is left as it was, every address released.
func TestNetSoak(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	bb := testimg.Busybox(t, testimg.Options{})
	e.mustSaturn("fetch", "--insecure-options=image", bb)
	before := l.hostNetState(t)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				cmd := e.command("run", "--insecure-options=image", bb, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show eth0")
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "inet 172.16.28.") {
					errs <- fmt.Sprintf("%v: %s", err, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("pod on default: %s", msg)
	}
	if after := l.hostNetState(t); after != before {
		t.Errorf("100 pods changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	e.mustSaturn("gc", "--grace-period=0s")
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pods left after gc: %d", len(dirs))
	}
}

// TestNetKilledMidStart: saturn run SIGKILLed ten times at points of its
// start (namespace made, a network being joined, networks up, the pod
// running) leaves what gc removes: afterwards the host is as it was.
func TestNetKilledMidStart(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	img := serverImage(t)
	e.mustSaturn("fetch", "--insecure-options=image", img)
	before := l.hostNetState(t)
	stages := []string{"netns", "net/00.json", "net-info.json", "pid"}
	for i := 0; i < 10; i++ {
		stage := stages[i%len(stages)]
		bg := startBackground(t, e.command("run", "--insecure-options=image", "--port=http:18090", img))
		if !waitPodFile(t, e, stage, bg) {
			continue // the pod got past the point before it was looked at
		}
		bg.cmd.Process.Kill()
		bg.wait(t)
	}
	e.mustSaturn("gc", "--grace-period=0s")
	if after := l.hostNetState(t); after != before {
		t.Errorf("killed starts changed the host after gc:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pods left after gc: %q", dirs)
	}
}

// waitPodFile waits until a running pod's directory has file rel; false
// if the pod ended first.
func waitPodFile(t *testing.T, e *env, rel string, bg *s1Background) bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(e.Dir, "pods", "run", "*", rel)); len(m) > 0 {
			return true
		}
		select {
		case code := <-bg.done:
			bg.done <- code
			t.Errorf("pod ended (%d) before %s appeared:\n%s", code, rel, bg.out)
			return false
		case <-time.After(time.Millisecond):
		}
	}
	t.Fatalf("no %s in a running pod within a minute:\n%s", rel, bg.out)
	return false
}

// TestNetTeardownAfterReboot: a pod whose stage1 was killed and whose
// host then rebooted (its namespace and the host's tables gone, the
// leases on disk) has its addresses released by gc.
func TestNetTeardownAfterReboot(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	img := serverImage(t)
	bg := netStart(t, e, "listening", img)
	ip := podIP(t, e, bg.uuid, "default")
	if got := leases(t, "default"); !slices.Contains(got, ip) {
		t.Fatalf("no lease of %s: %v", ip, got)
	}
	bg.cmd.Process.Kill()
	bg.wait(t)
	// The reboot: the pod's namespace unpinned, the host's network
	// stack new.
	mustRun(t, "umount", filepath.Join(e.Dir, "pods", "run", bg.uuid, "netns"))
	mustRun(t, "ip", "netns", "del", l.host)
	mustRun(t, "ip", "netns", "add", l.host)
	mustRun(t, "ip", "-n", l.host, "link", "set", "lo", "up")
	r := e.saturn("gc", "--grace-period=0s")
	if r.Code != 0 || strings.Contains(r.Stderr, "warning") {
		t.Errorf("gc after the reboot: %s", r)
	}
	if got := leases(t, "default"); slices.Contains(got, ip) {
		t.Errorf("lease of %s kept after gc: %v", ip, got)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "pods", "exited-garbage", bg.uuid)); err == nil {
		t.Errorf("pod %s not removed", bg.uuid)
	}
}
