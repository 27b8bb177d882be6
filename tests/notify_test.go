package tests

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// notifyListener is a stand-in for systemd's notify socket.
func notifyListener(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

// nextNotify returns the next datagram sent to conn, failing the test if
// none comes within a minute.
func nextNotify(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// waitFile returns the content of path once it is non-empty.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	t.Fatalf("%s never written", path)
	return ""
}

// TestRunNotifyReadyStopping runs a pod as a Type=notify unit would: READY=1
// must come only once the apps have started (after the pre-start handler
// finished) and the app whose image says it speaks sd_notify has said
// READY=1 itself, on a socket of the pod's own (rkt's stage1 made such an
// app a Type=notify service); STOPPING=1 when saturn stop asks the pod to
// end. The host's NOTIFY_SOCKET reaches no app, handler or entered command.
func TestRunNotifyReadyStopping(t *testing.T) {
	e := newEnv(t)
	conn, sock := notifyListener(t)
	vol := t.TempDir()
	// The pre-start handler takes a while on purpose: a READY=1 sent
	// before the apps started would arrive before its mark.
	bb := testimg.Busybox(t, testimg.Options{
		Exec: []string{"/bin/sh", "-c", "env > /vol/app-env; exec sleep 600"},
		Modify: func(m *schema.ImageManifest) {
			m.App.EventHandlers = []types.EventHandler{{
				Name: "pre-start",
				Exec: []string{"/bin/sh", "-c", "sleep 1; env > /vol/pre-start-env"},
			}}
		},
	})
	ta := testimg.TestApp(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.Annotations.Set("appc.io/executor/supports-systemd-notify", "true")
	}})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), "--volume=v,kind=host,source="+vol,
		bb, "--mount=volume=v,target=/vol",
		ta, "--mount=volume=v,target=/vol", "--exec=/testapp", "--", "notify", "/vol/notified", "READY=1")...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.WaitDelay = 10 * time.Second
	bg := startBackground(t, cmd)
	out := bg.out

	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if msg := string(buf[:n]); err != nil || msg != "READY=1" {
		t.Fatalf("first notification %q (%v), want READY=1\n%s", msg, err, out.String())
	}
	for _, f := range []string{"pre-start-env", "notified"} {
		if _, err := os.Stat(filepath.Join(vol, f)); err != nil {
			t.Fatalf("READY=1 came before %s: %v", f, err)
		}
	}
	uuid := strings.TrimSpace(waitFile(t, uuidFile))
	if st := statusMap(e.mustSaturn("status", "--wait-ready=1m", uuid)); st["state"] != "running" {
		t.Errorf("status of the ready pod: %v", st)
	}
	for _, f := range []string{"pre-start-env", "app-env"} {
		env := waitFile(t, filepath.Join(vol, f))
		for _, key := range []string{"NOTIFY_SOCKET=", "SATURN_NOTIFY_FD="} {
			if strings.Contains(env, key) {
				t.Errorf("%s: app sees %s\n%s", f, key, env)
			}
		}
	}
	r := e.saturn("enter", "--app=testapp", uuid, "/testapp", "env")
	if r.Code != 0 || strings.Contains(r.Stdout, "NOTIFY_SOCKET=") {
		t.Errorf("entered command's environment: %s", r)
	}

	e.mustSaturn("stop", uuid)
	if msg := nextNotify(t, conn); msg != "STOPPING=1" {
		t.Fatalf("notification after stop %q, want STOPPING=1", msg)
	}
	if code := bg.wait(t); code != 0 {
		t.Fatalf("saturn run exited %d after stop\n%s", code, out)
	}
	if strings.Contains(out.String(), "stage1: warning") {
		t.Errorf("stage1 warned:\n%s", out)
	}
}

// Without systemd the pod's readiness (supervisor-status, status
// --wait-ready) also waits for the app that speaks sd_notify. With
// --net=host its socket's abstract name is in the host's network
// namespace: a host process's READY=1 there is not believed.
func TestAppNotifyReadiness(t *testing.T) {
	for _, net := range []string{"none", "host"} {
		t.Run(net, func(t *testing.T) { testAppNotifyReadiness(t, net) })
	}
}

func testAppNotifyReadiness(t *testing.T, netMode string) {
	e := newEnv(t)
	vol := t.TempDir()
	ta := testimg.TestApp(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.Annotations.Set("appc.io/executor/supports-systemd-notify", "true")
	}})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), "--net="+netMode, "--volume=v,kind=host,source="+vol,
		ta, "--mount=volume=v,target=/vol", "--exec=/testapp", "--", "notify", "/vol/notified", "READY=1")...)
	bg := startBackground(t, cmd)
	uuid := strings.TrimSpace(waitFile(t, uuidFile))
	if netMode == "host" {
		spoofReady(t)
	}
	if r := e.saturn("status", "--wait-ready=1m", uuid); r.Code != 0 {
		t.Fatalf("status --wait-ready: %s\n%s", r, bg.out)
	}
	if _, err := os.Stat(filepath.Join(vol, "notified")); err != nil {
		t.Fatalf("the pod was ready before its app said so: %v", err)
	}
	e.mustSaturn("stop", uuid)
	if code := bg.wait(t); code != 0 {
		t.Errorf("saturn run exited %d after stop\n%s", code, bg.out)
	}
}

// spoofReady sends READY=1, from this (host) process, to every saturn
// notify socket /proc/net/unix lists, as anyone on the host could, once
// there is one; for up to ten seconds.
func spoofReady(t *testing.T) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile("/proc/net/unix")
		if err != nil {
			t.Fatal(err)
		}
		sent := false
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 8 || !strings.HasPrefix(f[len(f)-1], "@saturn-notify/") {
				continue
			}
			c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: f[len(f)-1], Net: "unixgram"})
			if err != nil {
				continue
			}
			if _, err := c.Write([]byte("READY=1")); err == nil {
				sent = true
			}
			c.Close()
		}
		if sent {
			return
		}
	}
	t.Fatal("no saturn notify socket in /proc/net/unix")
}
