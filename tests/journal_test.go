package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/journal"
	"github.com/saturn-pods/saturn/journal/journaltest"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// withJournald returns a command line that runs argv with a socket the
// test serves in journald's place at /run/systemd/journal/socket, in a
// mount namespace of its own (a tmpfs on /run there), so nothing else on
// the host sees it. With serve false /run holds no journald at all.
func withJournald(t *testing.T, serve bool, argv ...string) (*exec.Cmd, *journaltest.Server) {
	t.Helper()
	dir := t.TempDir()
	var srv *journaltest.Server
	if serve {
		srv = journaltest.Serve(t, dir)
	}
	script := `mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && mount --bind "$0" /run/systemd/journal && exec "$@"`
	return exec.Command("unshare", append([]string{"--mount", "--propagation=private", "sh", "-c", script, dir}, argv...)...), srv
}

// runWithJournald runs saturn with args as withJournald sets it up and
// returns what it printed and its exit code.
func runWithJournald(t *testing.T, e *env, serve bool, args ...string) (*journaltest.Server, string, int) {
	t.Helper()
	cmd, srv := withJournald(t, serve, append([]string{saturnBin()}, append(e.globalArgs(), args...)...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Minute
	cmd.Run()
	return srv, out.String(), cmd.ProcessState.ExitCode()
}

// entries reads n entries, keyed by MESSAGE.
func entries(t *testing.T, srv *journaltest.Server, n int) map[string][]journal.Field {
	t.Helper()
	got := map[string][]journal.Field{}
	for range n {
		f := srv.MustNext()
		msg, _ := journaltest.Value(f, "MESSAGE")
		got[msg] = f
	}
	return got
}

// TestAppLogsToJournal: where journald's socket is reachable, an app's
// lines go to the journal by default, one entry per line with the app
// as SYSLOG_IDENTIFIER (journalctl -t APP), the pod as CONTAINER_NAME
// and SATURN_POD_UUID, stderr at priority 3, a line too long for a
// datagram in a memfd; not to saturn's stdout. PID 1 sends them after it
// pivoted away from the host's /run.
func TestAppLogsToJournal(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	long := strings.Repeat("y", 300000)
	srv, out, code := runWithJournald(t, e, true, append(runBase(e, uuidFile), "--app-logs=auto", bb, "--name=logger", "--exec=/bin/sh", "--",
		"-c", "echo out-line; echo err-line >&2; head -c 300000 /dev/zero | tr '\\0' y; echo")...)
	if code != 0 {
		t.Fatalf("saturn run exited %d:\n%s", code, out)
	}
	uuid := strings.TrimSpace(waitFile(t, uuidFile))
	got := entries(t, srv, 3)
	for msg, prio := range map[string]string{"out-line": "6", "err-line": "3", long: "6"} {
		f, ok := got[msg]
		if !ok {
			t.Errorf("no entry %.20q among %d", msg, len(got))
			continue
		}
		for name, want := range map[string]string{
			"PRIORITY": prio, "SYSLOG_IDENTIFIER": "logger", "CONTAINER_NAME": "saturn-" + uuid,
			"SATURN_POD_UUID": uuid, "SATURN_APP": "logger",
		} {
			if v, _ := journaltest.Value(f, name); v != want {
				t.Errorf("entry %.20q: %s=%q, want %q", msg, name, v, want)
			}
		}
		if pid, _ := journaltest.Value(f, "SYSLOG_PID"); pid == "" || pid == "1" {
			t.Errorf("entry %.20q: SYSLOG_PID=%q, want the app's pid", msg, pid)
		}
	}
	if strings.Contains(out, "out-line") || strings.Contains(out, "err-line") {
		t.Errorf("app lines on saturn's output too:\n%s", out)
	}
	if n := srv.Pending(); n != 0 {
		t.Errorf("%d more entries than the app's lines", n)
	}
}

// TestAppLogsChoice: --app-logs=stdout, or logs.d's app-logs, keep the
// prefixed lines on stdout although journald runs; the flag wins over
// the configuration; --app-logs=journal without journald refuses the
// pod; auto without journald writes to stdout.
func TestAppLogsChoice(t *testing.T) {
	bb := testimg.Busybox(t, testimg.Options{})
	run := func(e *env, serve bool, flags ...string) (*journaltest.Server, string, int) {
		t.Helper()
		args := append([]string{"run", "--insecure-options=image", "--net=none"}, flags...)
		return runWithJournald(t, e, serve, append(args, bb, "--name=logger", "--exec=/bin/echo", "--", "a-line")...)
	}
	t.Run("flag stdout", func(t *testing.T) {
		srv, out, code := run(newEnv(t), true, "--app-logs=stdout")
		if code != 0 || !strings.Contains(out, "]: a-line") || srv.Pending() != 0 {
			t.Fatalf("exit %d, %d entries:\n%s", code, srv.Pending(), out)
		}
	})
	t.Run("config stdout", func(t *testing.T) {
		e := newEnv(t)
		writeConfig(t, e.LocalConfig, "logs.d/logs.json", `{"saturnKind":"logs","saturnVersion":"v1","app-logs":"stdout"}`)
		srv, out, code := run(e, true)
		if code != 0 || !strings.Contains(out, "logger[") || srv.Pending() != 0 {
			t.Fatalf("exit %d, %d entries:\n%s", code, srv.Pending(), out)
		}
		srv, out, code = run(e, true, "--app-logs=auto")
		if code != 0 || strings.Contains(out, "a-line") {
			t.Fatalf("--app-logs=auto over the configuration: exit %d:\n%s", code, out)
		}
		if msg, _ := journaltest.Value(srv.MustNext(), "MESSAGE"); msg != "a-line" {
			t.Fatalf("entry %q", msg)
		}
	})
	t.Run("journal without journald", func(t *testing.T) {
		_, out, code := run(newEnv(t), false, "--app-logs=journal")
		if code != 254 || !strings.Contains(out, "app logs to the journal") || !strings.Contains(out, "/run/systemd/journal/socket") {
			t.Fatalf("exit %d, want 254 naming journald's socket:\n%s", code, out)
		}
	})
	t.Run("auto without journald", func(t *testing.T) {
		_, out, code := run(newEnv(t), false)
		if code != 0 || !strings.Contains(out, "logger[") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		e := newEnv(t)
		e.failSaturn(`invalid --app-logs "syslog"`, "run", "--app-logs=syslog", bb)
		if ents, _ := os.ReadDir(filepath.Join(e.Dir, "pods")); len(ents) > 0 {
			t.Errorf("a refused flag left pods: %v", ents)
		}
	})
}
