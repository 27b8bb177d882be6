package tests

import (
	"bytes"
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
// finished), STOPPING=1 when saturn stop asks it to end, and neither the
// app nor its handler may see NOTIFY_SOCKET, even though its image says it
// speaks sd_notify: saturn warns that it does not wait for such an app.
func TestRunNotifyReadyStopping(t *testing.T) {
	e := newEnv(t)
	conn, sock := notifyListener(t)
	vol := t.TempDir()
	// The pre-start handler takes a while on purpose: a READY=1 sent
	// before the apps started would arrive before its mark.
	bb := testimg.Busybox(t, testimg.Options{
		Exec: []string{"/bin/sh", "-c", "env > /vol/app-env; exec sleep 600"},
		Modify: func(m *schema.ImageManifest) {
			m.Annotations.Set("appc.io/executor/supports-systemd-notify", "true")
			m.App.EventHandlers = []types.EventHandler{{
				Name: "pre-start",
				Exec: []string{"/bin/sh", "-c", "sleep 1; env > /vol/pre-start-env"},
			}}
		},
	})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), "--volume=v,kind=host,source="+vol, bb, "--mount=volume=v,target=/vol")...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
	}()

	if msg := nextNotify(t, conn); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1\n%s", msg, out.String())
	}
	if _, err := os.Stat(filepath.Join(vol, "pre-start-env")); err != nil {
		t.Fatalf("READY=1 came before the pre-start handler finished: %v", err)
	}
	uuid := strings.TrimSpace(waitFile(t, uuidFile))
	for _, f := range []string{"pre-start-env", "app-env"} {
		env := waitFile(t, filepath.Join(vol, f))
		for _, key := range []string{"NOTIFY_SOCKET=", "SATURN_NOTIFY_FD="} {
			if strings.Contains(env, key) {
				t.Errorf("%s: app sees %s\n%s", f, key, env)
			}
		}
	}

	e.mustSaturn("stop", uuid)
	if msg := nextNotify(t, conn); msg != "STOPPING=1" {
		t.Fatalf("notification after stop %q, want STOPPING=1", msg)
	}
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("saturn run after stop: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "supports-systemd-notify is not supported") {
			t.Errorf("no warning about the app's supports-systemd-notify:\n%s", out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("saturn run still running a minute after stop\n%s", out.String())
	}
}
