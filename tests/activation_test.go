package tests

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// freeLoopbackPorts returns n TCP ports on 127.0.0.1 that were free a
// moment ago.
func freeLoopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// socketActivated starts saturn with args under systemd-socket-activate,
// which listens on ports (named by fdnames when given) and execs saturn
// at the first connection, as a .socket unit starts its service.
func socketActivated(t *testing.T, e *env, ports []int, fdnames string, args ...string) *s1Background {
	t.Helper()
	sa := []string{}
	for _, p := range ports {
		sa = append(sa, fmt.Sprintf("--listen=127.0.0.1:%d", p))
	}
	if fdnames != "" {
		sa = append(sa, "--fdname="+fdnames)
	}
	sa = append(append(sa, saturnBin()), append(e.globalArgs(), args...)...)
	bg := startBackground(t, exec.Command("systemd-socket-activate", sa...))
	// It listens a moment after it starts.
	for end := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(bg.out.String(), fmt.Sprintf("Listening on 127.0.0.1:%d", ports[len(ports)-1])) {
			return bg
		}
		if time.Now().After(end) {
			t.Fatalf("systemd-socket-activate does not listen:\n%s", bg.out)
		}
	}
}

// ask connects to port and returns the line the pod answers.
func ask(t *testing.T, port int, bg *s1Background) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Minute)
	if err != nil {
		t.Fatalf("connect to %d: %v\n%s", port, err, bg.out)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer on port %d: %v\n%s", port, err, bg.out)
	}
	return strings.TrimSpace(line)
}

// listenApp is the test app serving on its socket-activated ports.
func listenApp(t *testing.T, name string, ports ...string) string {
	t.Helper()
	return testimg.TestApp(t, testimg.Options{
		Name: "example.com/" + name,
		Exec: []string{"/testapp", "serve-listen"},
		Modify: func(m *schema.ImageManifest) {
			for i, p := range ports {
				m.App.Ports = append(m.App.Ports, types.Port{
					Name: types.ACName(p), Protocol: "tcp", Port: uint(8000 + i), Count: 1, SocketActivated: true,
				})
			}
		},
	})
}

// TestSocketActivation: a connection to a port systemd-socket-activate
// listens on starts the pod, and the app inside answers it through its
// fd 3, told so by LISTEN_FDS and a LISTEN_PID that is its own pid in
// the pod's PID namespace (saturn's pid, which systemd named, is not).
func TestSocketActivation(t *testing.T) {
	e := newEnv(t)
	app := listenApp(t, "web", "http")
	ports := freeLoopbackPorts(t, 1)
	bg := socketActivated(t, e, ports, "", "run", "--insecure-options=image", "--net=none", app)
	if got, want := ask(t, ports[0], bg), "app=web fd=3 fds=1 names= pid=ok"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if code := bg.wait(t); code != 0 {
		t.Fatalf("pod exited %d:\n%s", code, bg.out)
	}
}

// TestSocketActivationNamedSockets: two sockets named after the ports of
// two apps reach each app as its own fd 3, with its own LISTEN_FDNAMES;
// the other app's socket is not among its fds.
func TestSocketActivationNamedSockets(t *testing.T) {
	e := newEnv(t)
	web, admin := listenApp(t, "web", "http"), listenApp(t, "admin", "control")
	ports := freeLoopbackPorts(t, 2)
	bg := socketActivated(t, e, ports, "control:http", "run", "--insecure-options=image", "--net=none", web, admin)
	if got, want := ask(t, ports[0], bg), "app=admin fd=3 fds=1 names=control pid=ok"; got != want {
		t.Errorf("first socket: answer %q, want %q", got, want)
	}
	if got, want := ask(t, ports[1], bg), "app=web fd=3 fds=1 names=http pid=ok"; got != want {
		t.Errorf("second socket: answer %q, want %q", got, want)
	}
	if code := bg.wait(t); code != 0 {
		t.Fatalf("pod exited %d:\n%s", code, bg.out)
	}
}

// TestSocketActivationUnclaimedSocket: a socket no app takes refuses the
// pod at start, naming it, instead of a pod that never serves it.
func TestSocketActivationUnclaimedSocket(t *testing.T) {
	for _, c := range []struct {
		name, fdnames string
		apps          [][]string
		want          string
	}{
		{"no socket-activated port", "", [][]string{nil}, "socket-activated fd 3: no app of the pod has a socket-activated port"},
		{"two apps and an unnamed socket", "", [][]string{{"http"}, {"control"}}, "socket-activated fd 3: name it after one of the apps' socket-activated ports"},
		{"name of no port", "metrics", [][]string{{"http"}, {"control"}}, `socket-activated fd 3 ("metrics")`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			args := []string{"run", "--insecure-options=image", "--net=none"}
			for i, ports := range c.apps {
				args = append(args, listenApp(t, fmt.Sprintf("app%d", i), ports...))
			}
			ports := freeLoopbackPorts(t, 1)
			bg := socketActivated(t, e, ports, c.fdnames, args...)
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0])); err == nil {
				c.Close()
			}
			if code := bg.wait(t); code != 254 || !strings.Contains(bg.out.String(), c.want) {
				t.Fatalf("exit %d, want 254 and %q:\n%s", code, c.want, bg.out)
			}
		})
	}
}

// TestSocketActivationFly: under stage1-fly the app replaces saturn, so
// it keeps the socket as fd 3 and the pid LISTEN_PID names.
func TestSocketActivationFly(t *testing.T) {
	e := newEnv(t)
	app := listenApp(t, "web", "http")
	ports := freeLoopbackPorts(t, 1)
	bg := socketActivated(t, e, ports, "http", "run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-fly"), "--net=host", app)
	if got, want := ask(t, ports[0], bg), "app=web fd=3 fds=1 names=http pid=ok"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if code := bg.wait(t); code != 0 {
		t.Fatalf("pod exited %d:\n%s", code, bg.out)
	}
}
