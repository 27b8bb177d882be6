package cgroup

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests make real cgroups on the host they run on, as root, and
// remove them. tests/cgroupvm runs the same tests on pure cgroup v2.

const helperEnv = "SATURN_CGROUP_TEST_HELPER"

// The main goroutine holds the main thread, as in stage1: a thread that
// placed a child on v1 (startIn) is left in the child's cgroup and must
// end, which the main thread cannot.
func init() { runtime.LockOSThread() }

// TestMain lets the test binary serve as the processes the tests put in
// cgroups.
func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(strings.Fields(h)))
	}
	os.Exit(m.Run())
}

func helper(args []string) int {
	switch args[0] {
	case "cgroup": // print this process's /proc/self/cgroup
		b, _ := os.ReadFile("/proc/self/cgroup")
		os.Stdout.Write(b)
		return 0
	case "alloc": // touch N MiB, one page at a time, then report
		n, _ := strconv.Atoi(args[1])
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
		return 0
	case "spin": // use CPU for N milliseconds of wall time
		n, _ := strconv.Atoi(args[1])
		for end := time.Now().Add(time.Duration(n) * time.Millisecond); time.Now().Before(end); {
		}
		return 0
	case "forks": // start children until fork fails, report how many
		var n int
		for n < 1000 {
			c := exec.Command("/bin/sleep", "30")
			if err := c.Start(); err != nil {
				break
			}
			n++
		}
		fmt.Println("started", n)
		return 0
	case "create": // make a pod, say so, and wait to be killed
		h, err := Detect()
		if err != nil {
			fmt.Println(err)
			return 1
		}
		p, err := h.Create(&Config{Parent: args[1], UUID: args[2], Apps: []App{{Name: "a"}}})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println(p.Path)
		time.Sleep(time.Hour)
	}
	return 2
}

func needRoot(t *testing.T) *Host {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("cgroup tests make real cgroups and must run as root")
	}
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	// The tests never ask systemd: they run on cgroupfs layouts.
	h.Systemd = false
	return h
}

func newUUID(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "test-" + hex.EncodeToString(b)
}

// testParent is a parent of the tests' own, removed by each test.
func testParent(t *testing.T, h *Host) string {
	parent := "/saturn-cgroup-test-" + newUUID(t)
	t.Cleanup(func() {
		ds, _ := h.drivers()
		for _, d := range ds {
			for _, dir := range d.dirs(parent) {
				if err := removeTree(dir, time.Now().Add(5*time.Second)); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
	})
	return parent
}

func createPod(t *testing.T, h *Host, c *Config) *Pod {
	t.Helper()
	p, err := h.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Remove(); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	return p
}

// startIn starts the test binary as helper args in target's cgroup, the
// way the pod's PID 1 starts an app: Prepare and fork on a locked thread
// that is never unlocked. With newns the child gets a cgroup namespace.
func startIn(t *testing.T, target *Target, newns bool, args ...string) (pid int, out *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		pid int
		err error
	}
	done := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread may be left in the app's cgroup
		sys := &syscall.SysProcAttr{}
		if newns {
			sys.Cloneflags = unix.CLONE_NEWCGROUP
		}
		if err := target.Prepare(sys); err != nil {
			done <- res{0, err}
			return
		}
		pid, err := syscall.ForkExec(self, []string{self}, &syscall.ProcAttr{
			Env:   []string{helperEnv + "=" + strings.Join(args, " ")},
			Files: []uintptr{0, w.Fd(), 2},
			Sys:   sys,
		})
		done <- res{pid, err}
	}()
	rs := <-done
	if rs.err != nil {
		t.Fatal(rs.err)
	}
	return rs.pid, r
}

func wait(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			if err != nil {
				t.Fatal(err)
			}
			return ws
		}
	}
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

func fileOf(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestPodTree(t *testing.T) {
	h := needRoot(t)
	parent := testParent(t, h)
	uuid := newUUID(t)
	p := createPod(t, h, &Config{
		Parent: parent, UUID: uuid,
		Pod:  Resources{Memory: 256 << 20},
		Apps: []App{{Name: "web", Resources: Resources{Memory: 64 << 20, CPUQuota: 25000, CPUShares: 512, Pids: 100}}, {Name: "db"}},
	})
	if want := parent + "/saturn-" + uuid; p.Path != want {
		t.Fatalf("pod path %q, want %q", p.Path, want)
	}
	for _, d := range p.ds {
		points := d.dirs("/")
		if v, ok := d.(*v1); ok {
			points = v.used()
		}
		for _, sub := range []string{"stage1", "apps", "apps/web", "apps/db"} {
			for _, pt := range points {
				if dir := filepath.Join(pt, p.Path, sub); !exists(dir) {
					t.Errorf("%s missing", dir)
				}
			}
		}
	}
	ds := p.ds
	// A process started in Stage1 is there in every hierarchy in use.
	s1, err := p.Stage1().Open()
	if err != nil {
		t.Fatal(err)
	}
	pid, out := startIn(t, s1, false, "cgroup")
	own := readAll(t, out)
	wait(t, pid)
	s1.Close()
	pcs, _ := parseProcCgroup(strings.NewReader(own))
	for _, pc := range pcs {
		used := len(pc.controllers) == 0 && h.Unified != ""
		for _, c := range pc.controllers {
			used = used || slices.Contains(baseControllers, c) && h.V1[c] != ""
		}
		if used && pc.path != p.Path+"/stage1" {
			t.Errorf("a process started in stage1 is in %q of %v, want %s/stage1", pc.path, pc.controllers, p.Path)
		}
	}
	app := p.App("web").Path
	apps := p.Apps().Path
	if h.Layout == Unified {
		dir := h.Unified
		expect(t, dir+app+"/memory.max", strconv.Itoa(64<<20))
		expect(t, dir+apps+"/memory.max", strconv.Itoa(256<<20))
		expect(t, dir+app+"/cpu.max", "25000 100000")
		expect(t, dir+app+"/cpu.weight", "59")
		expect(t, dir+app+"/pids.max", "100")
		expect(t, dir+apps+"/pids.max", strconv.Itoa(DefaultPidsLimit))
		expect(t, dir+p.Path+"/stage1/pids.max", "max")
	} else {
		expect(t, h.V1["memory"]+app+"/memory.limit_in_bytes", strconv.Itoa(64<<20))
		expect(t, h.V1["memory"]+apps+"/memory.limit_in_bytes", strconv.Itoa(256<<20))
		if f := h.V1["memory"] + app + "/memory.memsw.limit_in_bytes"; exists(f) {
			expect(t, f, strconv.Itoa(64<<20))
		}
		expect(t, h.V1["cpu"]+app+"/cpu.cfs_quota_us", "25000")
		expect(t, h.V1["cpu"]+app+"/cpu.shares", "512")
		expect(t, h.V1["pids"]+app+"/pids.max", "100")
		expect(t, h.V1["pids"]+apps+"/pids.max", strconv.Itoa(DefaultPidsLimit))
	}
	names, err := p.AppNames()
	if err != nil || strings.Join(names, ",") != "db,web" {
		t.Errorf("AppNames = %v, %v", names, err)
	}

	// Raising and lowering a running pod's limits.
	for _, lim := range []int64{128 << 20, 32 << 20} {
		if err := p.App("web").Set(&Resources{Memory: lim}); err != nil {
			t.Fatal(err)
		}
		f := h.V1["memory"] + app + "/memory.limit_in_bytes"
		if h.Layout == Unified {
			f = h.Unified + app + "/memory.max"
		}
		expect(t, f, strconv.FormatInt(lim, 10))
	}

	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		for _, dir := range d.dirs(p.Path) {
			if exists(dir) {
				t.Errorf("%s left after Remove", dir)
			}
		}
	}
}

func expect(t *testing.T, file, want string) {
	t.Helper()
	if got := fileOf(t, file); got != want {
		t.Errorf("%s = %q, want %q", file, got, want)
	}
}

// An app started with Prepare is in its cgroup in every hierarchy from
// its first instruction, and in a cgroup namespace rooted there sees
// its own cgroup as "/".
func TestStartInAppCgroup(t *testing.T) {
	h := needRoot(t)
	p := createPod(t, h, &Config{Parent: testParent(t, h), UUID: newUUID(t), Apps: []App{{Name: "a"}}})
	target, err := p.App("a").Open()
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	for _, newns := range []bool{false, true} {
		pid, out := startIn(t, target, newns, "cgroup")
		got := readAll(t, out)
		if ws := wait(t, pid); ws.ExitStatus() != 0 {
			t.Fatalf("helper: %v", ws)
		}
		pcs, err := parseProcCgroup(strings.NewReader(got))
		if err != nil {
			t.Fatal(err)
		}
		want := p.App("a").Path
		if newns {
			want = "/"
		}
		seen := 0
		for _, pc := range pcs {
			in := len(pc.controllers) == 0 && h.Unified != ""
			for _, c := range pc.controllers {
				in = in || slices.Contains(baseControllers, c) && h.V1[c] != ""
			}
			if !in {
				continue
			}
			seen++
			if pc.path != want {
				t.Errorf("cgroupns %v: app in %q of %v, want %q", newns, pc.path, pc.controllers, want)
			}
		}
		if seen == 0 {
			t.Errorf("no hierarchy in %q", got)
		}
	}
}

// An app past its memory limit is OOM-killed, and the kill is counted in
// its cgroup's stats.
func TestMemoryLimitOOMKills(t *testing.T) {
	h := needRoot(t)
	p := createPod(t, h, &Config{Parent: testParent(t, h), UUID: newUUID(t),
		Apps: []App{{Name: "a", Resources: Resources{Memory: 32 << 20}}}})
	target, err := p.App("a").Open()
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	pid, out := startIn(t, target, false, "alloc", "200")
	got := readAll(t, out)
	ws := wait(t, pid)
	if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Fatalf("helper allocating 200 MiB under a 32 MiB limit: %v, output %q", ws, got)
	}
	st, err := target.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.OOMKills == 0 {
		t.Errorf("killed, but no OOM kill counted: %+v", st)
	}
}

// A pids limit stops forks, and CPU and memory use are read back.
func TestPidsLimitAndStats(t *testing.T) {
	h := needRoot(t)
	p := createPod(t, h, &Config{Parent: testParent(t, h), UUID: newUUID(t),
		Apps: []App{{Name: "a", Resources: Resources{Pids: 20}}, {Name: "b"}}})
	target, err := p.App("a").Open()
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	pid, out := startIn(t, target, false, "forks")
	got := readAll(t, out)
	wait(t, pid)
	var n int
	if _, err := fmt.Sscanf(got, "started %d", &n); err != nil {
		t.Fatalf("helper said %q", got)
	}
	// The helper's own threads count against the limit too.
	if n == 0 || n >= 20 {
		t.Errorf("started %d children under a pids limit of 20", n)
	}
	// Its children (sleeps) are still there; Remove kills them.

	tb, err := p.App("b").Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	pid, out = startIn(t, tb, false, "spin", "200")
	readAll(t, out)
	wait(t, pid)
	st, err := tb.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUNanos < uint64(50*time.Millisecond) {
		t.Errorf("CPU use after 200ms of spinning: %v", time.Duration(st.CPUNanos))
	}
	if st.MemoryBytes == 0 && anyHas(p.ds, "memory") {
		t.Errorf("no memory charged: %+v", st)
	}
}

// A pod whose maker was SIGKILLed is removed by whoever opens it from its
// recorded path, and a path not named after the pod is refused.
func TestRemoveAfterSIGKILL(t *testing.T) {
	h := needRoot(t)
	parent := testParent(t, h)
	uuid := newUUID(t)
	self, _ := os.Executable()
	c := exec.Command(self)
	c.Env = []string{helperEnv + "=create " + parent + " " + uuid}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	path := strings.TrimSpace(line)
	if !strings.HasSuffix(path, "saturn-"+uuid) {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("helper: %q", line)
	}
	c.Process.Signal(unix.SIGKILL)
	c.Wait()
	ds, _ := h.drivers()
	var made []string
	for _, d := range ds {
		for _, dir := range d.dirs(path) {
			if exists(dir) {
				made = append(made, dir)
			}
		}
	}
	if len(made) == 0 {
		t.Fatal("the pod's cgroups are gone before removal")
	}
	if _, err := h.Open(parent, uuid); !errors.Is(err, errNotPod) {
		t.Errorf("Open of the parent: %v, want a refusal", err)
	}
	p, err := h.Open(path, uuid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		for _, dir := range d.dirs(path) {
			if exists(dir) {
				t.Errorf("%s left", dir)
			}
		}
	}
	// Removing again finds nothing to do.
	if err := p.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// A limit whose controller the host lacks refuses the pod, leaving
// nothing behind.
func TestCreateRefusesAndCleansUp(t *testing.T) {
	h := needRoot(t)
	parent := testParent(t, h)
	uuid := newUUID(t)
	_, err := h.Create(&Config{Parent: parent, UUID: uuid, Apps: []App{{Name: "a", Resources: Resources{CPUs: "0-99999"}}}})
	if err == nil {
		t.Fatal("a cpuset of CPUs the host lacks: no error")
	}
	ds, _ := h.drivers()
	for _, d := range ds {
		for _, dir := range d.dirs(parent + "/saturn-" + uuid) {
			if exists(dir) {
				t.Errorf("%s left after a refused pod", dir)
			}
		}
	}
	own, _ := os.ReadFile("/proc/self/cgroup")
	if strings.Contains(string(own), "saturn-") {
		t.Errorf("this process was left in the refused pod:\n%s", own)
	}
	if _, err := h.Create(&Config{Parent: parent, UUID: "../x"}); err == nil {
		t.Error("a pod name with a slash: no error")
	}
}

func TestBlockLimits(t *testing.T) {
	h := needRoot(t)
	ds, _ := h.drivers()
	if !anyHas(ds, "blkio") {
		t.Fatalf("no block io controller on this %s host", h.Layout)
	}
	p := createPod(t, h, &Config{Parent: testParent(t, h), UUID: newUUID(t),
		Apps: []App{{Name: "a", Resources: Resources{BlockBPS: 1 << 20, BlockIOPS: 100}}}})
	devs, _ := blockDevices()
	var f string
	if h.Layout == Unified {
		f = filepath.Join(h.Unified, p.App("a").Path, "io.max")
	} else {
		f = filepath.Join(h.V1["blkio"], p.App("a").Path, "blkio.throttle.write_bps_device")
	}
	got := fileOf(t, f)
	for _, d := range devs {
		if !strings.Contains(got, d+" ") {
			t.Errorf("%s has no rule for %s:\n%s", f, d, got)
		}
	}
}

// BenchmarkPodCgroups is the cost of one pod's cgroups: detect the
// layout, make the tree for one app with a memory and a CPU limit, move
// into stage1 and out again, remove it all (tests/bench/cgroups.sh).
func BenchmarkPodCgroups(b *testing.B) {
	if os.Getuid() != 0 {
		b.Fatal("must run as root")
	}
	h0, err := Detect()
	if err != nil {
		b.Fatal(err)
	}
	parent := "/saturn-cgroup-bench-" + strconv.Itoa(os.Getpid())
	defer func() {
		ds, _ := h0.drivers()
		for _, d := range ds {
			for _, dir := range d.dirs(parent) {
				removeTree(dir, time.Now().Add(5*time.Second))
			}
		}
	}()
	for i := 0; b.Loop(); i++ {
		h, err := Detect()
		if err != nil {
			b.Fatal(err)
		}
		h.Systemd = false
		p, err := h.Create(&Config{Parent: parent, UUID: "bench-" + strconv.Itoa(i),
			Apps: []App{{Name: "a", Resources: Resources{Memory: 64 << 20, CPUQuota: 50000}}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Remove(); err != nil {
			b.Fatal(err)
		}
	}
}
