package tests

// A pod never gets the operator's terminal. These tests put an
// operator's shell on a real terminal (a pty the test holds the master
// of, the shell its session leader), run saturn from that shell, and
// act as an attacker in the pod would: type into the terminal the pod
// holds (TIOCSTI), read the console, leave a reader behind after enter.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/terminal"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// hostTerm is an operator's terminal with a shell on it.
type hostTerm struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	// sat is a script running saturn with the test env's flags.
	sat string

	mu  sync.Mutex
	out bytes.Buffer
}

func newHostTerm(t *testing.T, e *env, size terminal.Size) *hostTerm {
	t.Helper()
	master, slave, err := terminal.Open("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	if err := terminal.SetSize(int(slave.Fd()), size); err != nil {
		t.Fatal(err)
	}
	h := &hostTerm{t: t, master: master, slave: slave, sat: filepath.Join(t.TempDir(), "sat")}
	script := "#!/bin/sh\nexec " + saturnBin() + " " + strings.Join(e.globalArgs(), " ") + ` "$@"` + "\n"
	if err := os.WriteFile(h.sat, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("/bin/sh", "-i")
	sh.Env = append(os.Environ(), "PS1=$ ", "TERM=saturn-test-term")
	sh.Stdin, sh.Stdout, sh.Stderr = slave, slave, slave
	sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			h.mu.Lock()
			h.out.Write(buf[:n])
			h.mu.Unlock()
			if err != nil {
				close(done)
				return
			}
		}
	}()
	t.Cleanup(func() {
		sh.Process.Kill()
		sh.Wait()
		master.Close()
		<-done
		slave.Close()
	})
	return h
}

// typeLine types s and Enter.
func (h *hostTerm) typeLine(s string) {
	h.t.Helper()
	if _, err := h.master.WriteString(s + "\n"); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor waits until the terminal shows want and returns all it showed.
func (h *hostTerm) waitFor(want string) string {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		h.mu.Lock()
		got := h.out.String()
		h.mu.Unlock()
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("terminal never showed %q; it shows:\n%s", want, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle has the shell run one more command and waits for its output:
// whatever was pushed into the terminal's input before (by a pod) has
// been read and run by the shell by then.
func (h *hostTerm) settle(tag string) string {
	h.t.Helper()
	h.typeLine(fmt.Sprintf("echo %s-$((40+2))", tag))
	return h.waitFor(tag + "-42")
}

// device is the terminal's device number, to find who holds it.
// device identifies the operator's terminal by its inode: the device
// number alone would not do, since every devpts instance numbers its
// ptys from 0, so the pod's own pty can have the same st_rdev.
func (h *hostTerm) device() inodeID {
	var st unix.Stat_t
	if err := unix.Fstat(int(h.slave.Fd()), &st); err != nil {
		h.t.Fatal(err)
	}
	return inodeID{st.Dev, st.Ino}
}

// inodeID is a file's identity: the file system it is on and its inode.
type inodeID struct{ dev, ino uint64 }

// tiocsti runs probe, a command line whose pod runs testapp's tiocsti
// probe on its own terminal, from the shell. The probe pushes a command
// creating a file on the host into the terminal it holds: that must
// reach no shell.
func (h *hostTerm) tiocsti(t *testing.T, probe string) {
	t.Helper()
	mark := filepath.Join(t.TempDir(), "injected")
	h.typeLine(fmt.Sprintf("%s 'touch %s'; echo probe-exit-$?", probe, mark))
	shown := h.waitFor("probe-exit-0")
	if !strings.Contains(shown, "tiocsti: ok") {
		t.Errorf("the probe could not push input into its own terminal:\n%s", shown)
	}
	shown = h.settle("after-tiocsti")
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("the pod typed a command into the operator's shell, which ran it; terminal:\n%s", shown)
	}
}

// With --interactive, the app is on a pty of its own: what it pushes
// with TIOCSTI goes to its own input, never to the shell saturn was run
// from. (Before, the app shared the caller's terminal and session, and
// the shell ran the command after the pod exited.)
func TestTTYInteractiveTIOCSTIStaysInThePod(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	h := newHostTerm(t, e, terminal.Size{Rows: 24, Cols: 80})
	h.tiocsti(t, h.sat+" run --insecure-options=image --net=none --interactive "+ta+" --exec=/testapp -- tiocsti -")
}

// A plain run gives the pod a /dev/console of its own: the pod cannot
// read what the operator types meanwhile (before, /dev/console was the
// caller's terminal), and what it types there (TIOCSTI, with
// CAP_SYS_ADMIN granted) reaches no shell.
func TestTTYConsoleIsNotTheCallersTerminal(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	h := newHostTerm(t, e, terminal.Size{Rows: 24, Cols: 80})

	// The probe's TIOCSTI into the console works, but into the pod's
	// own console, which nothing reads.
	h.tiocsti(t, h.sat+" run --insecure-options=image --net=none "+ta+" --caps-retain=CAP_SYS_ADMIN --exec=/testapp -- tiocsti /dev/console")

	uuidFile := filepath.Join(t.TempDir(), "uuid")
	h.typeLine(fmt.Sprintf("%s run --insecure-options=image --net=none --uuid-file-save=%s %s --exec=/testapp -- console-read; echo read-exit-$?", h.sat, uuidFile, ta))
	h.waitFor("console-open")
	// What the operator types while the pod runs: the shell's, once
	// saturn is done.
	h.typeLine("echo typed-$((2+3))")
	h.waitFor("echo typed-$((2+3))") // echoed: it is in the terminal's input
	uuid := waitUUIDFile(t, uuidFile)
	e.mustSaturn("stop", uuid)
	if shown := h.waitFor("read-exit-0"); !strings.Contains(shown, "console-read: nothing") {
		t.Fatalf("the pod read the operator's terminal through /dev/console:\n%s", shown)
	}
	h.waitFor("typed-5\r\n")
}

// Enter relays a pty of the pod's own: the entered command's TIOCSTI
// (with CAP_SYS_ADMIN granted) reaches no shell, and a process it leaves
// behind holds nothing of the operator's terminal once enter returns,
// so what the operator types next is the shell's. Before, the command
// got the caller's terminal itself.
func TestTTYEnterLeavesNothingOnTheTerminal(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	_, uuid := startPod(t, e, ta, "--caps-retain=CAP_SYS_ADMIN", "--exec=/testapp", "--", "wait-signal")
	h := newHostTerm(t, e, terminal.Size{Rows: 24, Cols: 80})

	h.tiocsti(t, h.sat+" enter "+uuid+" /testapp tiocsti -")

	h.typeLine(fmt.Sprintf("%s enter %s /testapp bg-read /stolen; echo bg-exit-$?", h.sat, uuid))
	h.waitFor("bg-exit-0")
	pid1 := statusMap(e.mustSaturn("status", uuid))["pid"]
	if held := holders(t, pid1, h.device()); len(held) > 0 {
		t.Errorf("after enter returned, pod processes hold the operator's terminal: %v", held)
	}
	h.typeLine("echo later-$((3+4))")
	h.waitFor("later-7\r\n")
	if got := e.mustSaturn("enter", uuid, "/testapp", "cat", "/stolen"); strings.Contains(got, "later") {
		t.Errorf("a process enter left behind read what the operator typed afterwards: %q", got)
	}
}

// holders lists the fds, as /proc/PID/fd/N, that processes in the PID
// namespace of pid1 (host pid) hold on the terminal term.
func holders(t *testing.T, pid1 string, term inodeID) []string {
	t.Helper()
	ns, err := os.Readlink("/proc/" + pid1 + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, p := range ents {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		if n, err := os.Readlink("/proc/" + p.Name() + "/ns/pid"); err != nil || n != ns {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
		for _, fd := range fds {
			path := "/proc/" + p.Name() + "/fd/" + fd.Name()
			var st unix.Stat_t
			if unix.Stat(path, &st) == nil && (inodeID{st.Dev, st.Ino}) == term {
				held = append(held, path)
			}
		}
	}
	return held
}

// An interactive busybox shell on the pod's pty: a command typed and its
// output read, the window size at start and after a resize, ^C reaching
// the app through the pty, the exit code passed on, and the terminal's
// settings restored afterwards.
func TestTTYInteractiveShell(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	h := newHostTerm(t, e, terminal.Size{Rows: 33, Cols: 101})
	before, err := unix.IoctlGetTermios(int(h.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	h.typeLine(fmt.Sprintf("%s run --insecure-options=image --net=none --interactive %s --exec=/bin/sh; echo run-exit-$?", h.sat, bb))
	h.typeLine("echo typed-$((6*7)) $TERM; stty size")
	h.waitFor("typed-42 saturn-test-term\r\n33 101\r\n")
	if err := terminal.SetSize(int(h.master.Fd()), terminal.Size{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	// The relay passes the new size on at SIGWINCH; the shell asks
	// again until it sees it.
	h.typeLine("while [ \"$(stty size)\" != '40 120' ]; do sleep 0.05; done; echo resized")
	h.waitFor("resized\r\n")
	// The shell waits for a child of its own, in the terminal's
	// foreground process group, which ^C ends.
	h.typeLine("sh -c 'echo start-$((1+1)); exec sleep 600'")
	h.waitFor("start-2")
	h.master.WriteString("\x03") // ^C, to the app through the pod's pty
	h.typeLine("echo code-$?")
	h.waitFor("code-130")
	h.typeLine("exit 5")
	h.waitFor("run-exit-5")
	after, err := unix.IoctlGetTermios(int(h.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal settings not restored: before %+v, after %+v", before, after)
	}
}

// An app with --stdin=tty --stdout=tty --stderr=tty runs on a pty its
// pod's supervisor owns; saturn attach connects a terminal to it: what
// is typed reaches the app, its output comes back, the window size and
// ^C pass through, Ctrl-P Ctrl-Q detaches and leaves the app running,
// and a second attach finds it as it was.
func TestTTYAttach(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	_, uuid := startPod(t, e, bb, "--stdin=tty", "--stdout=tty", "--stderr=tty", "--exec=/bin/sh")
	if got := e.mustSaturn("attach", "--mode=list", uuid); got != "tty\n" {
		t.Errorf("attach --mode=list: %q, want tty", got)
	}
	h := newHostTerm(t, e, terminal.Size{Rows: 27, Cols: 91})
	h.typeLine(fmt.Sprintf("%s attach %s; echo attach-exit-$?", h.sat, uuid))
	h.typeLine("echo att-$((2+2)); stty size")
	h.waitFor("att-4\r\n27 91\r\n")
	h.typeLine("sh -c 'echo start-$((1+1)); exec sleep 600'")
	h.waitFor("start-2")
	h.master.WriteString("\x03")
	h.typeLine("echo code-$?")
	h.waitFor("code-130")
	h.master.WriteString("\x10\x11") // Ctrl-P Ctrl-Q
	h.waitFor("attach-exit-0")
	if st := statusMap(e.mustSaturn("status", uuid)); st["state"] != "running" {
		t.Fatalf("after detaching, the pod is %s, want running", st["state"])
	}
	if err := terminal.SetSize(int(h.master.Fd()), terminal.Size{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	h.typeLine(fmt.Sprintf("%s attach --mode=tty %s; echo again-exit-$?", h.sat, uuid))
	h.typeLine("echo again-$((3+3)); stty size")
	h.waitFor("again-6\r\n30 100\r\n")
	h.typeLine("exit 3")
	h.waitFor("again-exit-0")
	if got := statusMap(e.mustSaturn("status", "--wait=1m", uuid))["app-busybox"]; got != "3" {
		t.Errorf("app-busybox=%s after exit 3 on the attached terminal", got)
	}
}

// Streams in stream mode are sockets of their own: attach --mode=stdin,stdout
// without a terminal sends input and reads output, detaches on SIGTERM,
// and attaches again.
func TestTTYAttachStreams(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	_, uuid := startPod(t, e, bb, "--stdin=stream", "--stdout=stream", "--exec=/bin/sh", "--", "-c", "while read l; do echo got-$l; done")
	if got := e.mustSaturn("attach", "--mode=list", uuid); got != "stdin\nstdout\n" {
		t.Errorf("attach --mode=list: %q, want stdin and stdout", got)
	}
	for _, word := range []string{"one", "two"} {
		cmd := e.command("attach", "--mode=stdin,stdout", uuid)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(in, "%s\n", word)
		buf := make([]byte, 64)
		n, err := out.Read(buf)
		if got := string(buf[:n]); got != "got-"+word+"\n" {
			t.Errorf("attached output %q (%v), want got-%s", got, err, word)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("attach after SIGTERM: %v", err)
		}
	}
	if st := statusMap(e.mustSaturn("status", uuid)); st["state"] != "running" {
		t.Errorf("after detaching, the pod is %s, want running", st["state"])
	}
}

// enter gives the command the caller's TERM, dumb without one, as rkt's
// enter did; without a command it runs /bin/bash when the app has one,
// else /bin/sh (TestEnterDefaultShell).
func TestEnterTermAndBash(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	_, uuid := startPod(t, e, bb, "--exec=/bin/sleep", "--", "600")
	for _, tc := range []struct{ term, want string }{{"", "term-dumb"}, {"saturn-test-term", "term-saturn-test-term"}} {
		cmd := e.command("enter", uuid, "/bin/sh", "-c", "echo term-$TERM")
		cmd.Env = withoutEnvVar(os.Environ(), "TERM")
		if tc.term != "" {
			cmd.Env = append(cmd.Env, "TERM="+tc.term)
		}
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("TERM=%q: entered command printed %q (%v), want %s", tc.term, out, err, tc.want)
		}
	}
	e.mustSaturn("enter", uuid, "/bin/sh", "-c", "printf '#!/bin/sh\\necho from-bash\\n' >/bin/bash && chmod +x /bin/bash")
	cmd := e.command("enter", uuid)
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "from-bash" {
		t.Errorf("enter without a command: %q (%v), want the app's /bin/bash", out, err)
	}
}

func withoutEnvVar(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
