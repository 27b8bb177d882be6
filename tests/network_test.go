package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// A network lab: saturn runs in a network namespace the test makes (its
// "host"), wired by a veth pair to a second namespace (another machine
// on the host's network, 10.251.0.2, the host being 10.251.0.1). All
// traffic of the tests stays between these and the pods' namespaces:
// the real host's links, routes and iptables rules are never touched.
type netLab struct {
	t           *testing.T
	host, other string // namespace names under /run/netns
	testapp     string // tests/testapp built for use outside pods
}

var netLabSeq atomic.Int32

const (
	labHostIP  = "10.251.0.1"
	labOtherIP = "10.251.0.2"
)

func newNetLab(t *testing.T) *netLab {
	t.Helper()
	n := netLabSeq.Add(1)
	l := &netLab{t: t, host: fmt.Sprintf("sattest%d-%d", os.Getpid(), n), other: fmt.Sprintf("sattest%d-%do", os.Getpid(), n)}
	for _, ns := range []string{l.host, l.other} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	mustRun(t, "ip", "-n", l.host, "link", "add", "lab0", "type", "veth", "peer", "name", "lab1", "netns", l.other)
	mustRun(t, "ip", "-n", l.host, "addr", "add", labHostIP+"/24", "dev", "lab0")
	mustRun(t, "ip", "-n", l.other, "addr", "add", labOtherIP+"/24", "dev", "lab1")
	mustRun(t, "ip", "-n", l.host, "link", "set", "lab0", "up")
	mustRun(t, "ip", "-n", l.other, "link", "set", "lab1", "up")
	l.testapp = filepath.Join(t.TempDir(), "testapp")
	if err := testimg.BuildTestApp(l.testapp); err != nil {
		t.Fatal(err)
	}
	return l
}

// env is a saturn installation whose commands run in the lab's host
// namespace; its cleanup (gc) runs before the lab goes away.
func (l *netLab) env() *env {
	e := newEnv(l.t)
	e.NetNS = "/run/netns/" + l.host
	return e
}

// in runs a command in namespace ns and returns its combined output.
func (l *netLab) in(ns string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...).CombinedOutput()
	return string(out), err
}

func (l *netLab) mustIn(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.in(ns, args...)
	if err != nil {
		l.t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	return out
}

// podLinks lists the lab host's links that are not the lab's own (lo
// and its veth to the other machine): what pods' networks left.
func (l *netLab) podLinks() string {
	l.t.Helper()
	var left []string
	for _, line := range strings.Split(strings.TrimSpace(l.mustIn(l.host, "ip", "-o", "link")), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] != "lo:" && !strings.HasPrefix(f[1], "lab0@") {
			left = append(left, line)
		}
	}
	return strings.Join(left, "\n")
}

// dial connects from namespace ns to addr with the test app and returns
// what the server said.
func (l *netLab) dial(ns, addr string) (string, error) {
	return l.in(ns, l.testapp, "dial", addr)
}

// serve starts a server in namespace ns answering text on addr.
func (l *netLab) serve(ns, addr, text string) {
	l.t.Helper()
	bg := startBackground(l.t, exec.Command("nsenter", "--net=/run/netns/"+ns, "--", l.testapp, "serve", addr, text))
	waitOutput(l.t, bg, "listening")
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func waitOutput(t *testing.T, bg *s1Background, want string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !strings.Contains(bg.out.String(), want) {
		select {
		case code := <-bg.done:
			bg.done <- code
			t.Fatalf("ended (%d) before printing %q:\n%s", code, want, bg.out)
		case <-deadline:
			t.Fatalf("did not print %q within a minute:\n%s", want, bg.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// netStart starts saturn run with args (the networking flags are the
// caller's) and waits until the pod prints ready.
func netStart(t *testing.T, e *env, ready string, args ...string) *s1Background {
	t.Helper()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	base := []string{"run", "--insecure-options=image", "--uuid-file-save=" + uuidFile}
	bg := startBackground(t, e.command(append(base, args...)...))
	waitOutput(t, bg, ready)
	b, err := os.ReadFile(uuidFile)
	if err != nil {
		t.Fatal(err)
	}
	bg.uuid = strings.TrimSpace(string(b))
	return bg
}

// podIP returns the address status shows for the pod's network name.
func podIP(t *testing.T, e *env, uuid, name string) string {
	t.Helper()
	nets := statusMap(e.mustSaturn("status", uuid))["networks"]
	for _, n := range strings.Split(nets, ", ") {
		if ip, ok := strings.CutPrefix(n, name+":ip4="); ok {
			return ip
		}
	}
	t.Fatalf("status of %s shows no network %s: networks=%s", uuid, name, nets)
	return ""
}

// serverImage is the test app serving "hello" on its port http (8080).
func serverImage(t *testing.T) string {
	return testimg.TestApp(t, testimg.Options{Name: "example.com/server", Exec: []string{"/testapp", "serve", ":8080", "hello"}, Modify: func(m *schema.ImageManifest) {
		m.App.Ports = []types.Port{{Name: *types.MustACName("http"), Protocol: "tcp", Port: 8080}}
	}})
}

// TestNetDefault: with no --net the pod is on rkt's default network: an
// address from 172.16.28.0/24, reached by the host; --port forwards a
// host port from loopback, from another machine and from the pod itself
// (hairpin); the pod reaches another machine through masquerading. The
// host's FORWARD policy is DROP, as on many firewalled hosts (rkt issue
// 3683).
func TestNetDefault(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	l.mustIn(l.host, "iptables", "-P", "FORWARD", "DROP")
	l.serve(l.other, ":7000", "outside")
	img := serverImage(t)
	bg := netStart(t, e, "listening", "--port=http:18080", img)
	ip := podIP(t, e, bg.uuid, "default")
	if !strings.HasPrefix(ip, "172.16.28.") {
		t.Errorf("pod address %s is not in 172.16.28.0/24", ip)
	}
	for _, tc := range []struct{ name, ns, addr string }{
		{"the host to the pod's address", l.host, ip + ":8080"},
		{"loopback to the host port", l.host, "127.0.0.1:18080"},
		{"the host's address to the host port", l.host, labHostIP + ":18080"},
		{"another machine to the host port", l.other, labHostIP + ":18080"},
	} {
		if out, err := l.dial(tc.ns, tc.addr); err != nil || !strings.HasPrefix(out, "hello") {
			t.Errorf("%s (%s): %v %s", tc.name, tc.addr, err, out)
		}
	}
	// Hairpin: the pod reaches itself through the host port, at the
	// host's address on its own link and at the host's other address.
	for _, addr := range []string{"172.16.28.1:18080", labHostIP + ":18080"} {
		r := e.saturn("enter", bg.uuid, "/testapp", "dial", addr)
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "hello") {
			t.Errorf("the pod to its own host port %s: %s", addr, r)
		}
	}
	// Out through the host, masqueraded: the other machine sees the
	// host's address, not the pod's.
	r := e.saturn("enter", bg.uuid, "/testapp", "dial", labOtherIP+":7000")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "outside from "+labHostIP+":") {
		t.Errorf("the pod to another machine: %s", r)
	}
	podNS := filepath.Join(e.Dir, "pods", "run", bg.uuid, "netns")
	if routes := mustRun(t, "nsenter", "--net="+podNS, "ip", "-4", "route"); !strings.Contains(routes, "default via 172.16.28.1") {
		t.Errorf("default network has no default route:\n%s", routes)
	}
	e.mustSaturn("stop", bg.uuid)
	if code := bg.wait(t); code != 0 {
		t.Errorf("pod exited %d:\n%s", code, bg.out)
	}
	// Torn down as the pod ended: no veth, no lease, port no longer
	// forwarded.
	if links := l.podLinks(); links != "" {
		t.Errorf("links left after the pod ended:\n%s", links)
	}
	if rules := l.mustIn(l.host, "iptables-save", "-t", "nat"); strings.Contains(rules, "18080") {
		t.Errorf("port forwarding left after the pod ended:\n%s", rules)
	}
	if _, err := l.dial(l.host, "127.0.0.1:18080"); err == nil {
		t.Error("host port still answers after the pod ended")
	}
	st := statusMap(e.mustSaturn("status", bg.uuid))
	if st["state"] != "exited" || st["networks"] != "default:ip4="+ip {
		t.Errorf("status of the exited pod: %v, want networks=default:ip4=%s", st, ip)
	}
	if list := e.mustSaturn("list", "--no-legend"); !strings.Contains(list, "default:ip4="+ip) {
		t.Errorf("list does not show the network:\n%s", list)
	}
	for _, args := range [][]string{{"status", "--format=json", bg.uuid}, {"list", "--format=json"}} {
		if out := e.mustSaturn(args...); !strings.Contains(out, `"networks":[{"netName":"default","ifName":"eth0","ip":"`+ip+`"}]`) {
			t.Errorf("saturn %s does not carry the network:\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestNetNoneAndRestricted(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	bb := testimg.Busybox(t, testimg.Options{})
	out := e.mustSaturn("run", "--insecure-options=image", "--net=none", bb, "--exec=/bin/sh", "--", "-c", "ip -o link; echo; ip route")
	if strings.Count(out, ": <") != 1 || !strings.Contains(out, ": lo: ") {
		t.Errorf("--net=none pod has links besides lo:\n%s", out)
	}
	out = e.mustSaturn("run", "--insecure-options=image", "--net=default-restricted", bb, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr; ip route")
	if !strings.Contains(out, "eth0    inet 172.16.29.") || strings.Contains(out, "default") {
		t.Errorf("default-restricted: want an address on eth0 and no default route:\n%s", out)
	}
	// rkt's networking overview: a network of one loopback plugin from
	// net.d, as written; default-restricted comes along on eth0.
	writeConfig(t, e.LocalConfig, "net.d/10-loopback.conf", `{
    "name": "loopback-test",
    "type": "loopback"
}`)
	out = e.mustSaturn("--debug", "run", "--insecure-options=image", "--net=loopback-test", bb, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr")
	if !strings.Contains(out, "lo    inet 127.0.0.1/8") || !strings.Contains(out, "eth1    inet 172.16.29.") {
		t.Errorf("--net=loopback-test:\n%s", out)
	}
	// From the pod to the host's other address: no route.
	out2 := e.saturn("run", "--insecure-options=image", "--net=default-restricted", bb, "--exec=/bin/sh", "--", "-c", "ip route get "+labOtherIP+" || echo unreachable")
	if !strings.Contains(out2.Stdout, "unreachable") {
		t.Errorf("default-restricted pod has a route out:\n%s", out2)
	}
}

// TestNetBridge is rkt's examples-bridge.md, as written (with saturn for
// rkt): a NAT'ed bridge network from net.d, default-restricted added on
// eth1; two pods on it reach each other; --net=NAME:IP= gives the
// address asked for (rkt issue 2980).
func TestNetBridge(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	writeConfig(t, e.LocalConfig, "net.d/10-bridge-nat.conf", `{
    "name": "bridge-nat",
    "type": "bridge",
    "bridge": "rkt-bridge-nat",
    "ipMasq": true,
    "isGateway": true,
    "ipam": {
        "type": "host-local",
        "subnet": "10.2.0.0/24",
        "routes": [
                { "dst": "0.0.0.0/0" }
        ]
    }
}`)
	// host-local keeps its leases where the example's file says nothing
	// else; the directory goes once no lease is left in it.
	t.Cleanup(func() {
		if len(leases(t, "bridge-nat")) == 0 {
			os.RemoveAll("/var/lib/cni/networks/bridge-nat")
		}
	})
	img := serverImage(t)
	a := netStart(t, e, "listening", "--net=bridge-nat:IP=10.2.0.77", img)
	if ip := podIP(t, e, a.uuid, "bridge-nat"); ip != "10.2.0.77" {
		t.Errorf("--net=bridge-nat:IP=10.2.0.77 gave %s", ip)
	}
	podIP(t, e, a.uuid, "default-restricted")
	r := e.saturn("run", "--insecure-options=image", "--net=bridge-nat", img, "--exec=/testapp", "--", "dial", "10.2.0.77:8080")
	if r.Code != 0 || !strings.Contains(r.Stdout, "hello from 10.2.0.") {
		t.Errorf("second pod on bridge-nat did not reach the first:\n%s", r)
	}
	bb := testimg.Busybox(t, testimg.Options{})
	out := e.mustSaturn("run", "--insecure-options=image", "--net=bridge-nat", bb, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr; ip -4 route")
	for _, want := range []string{"eth0    inet 10.2.0.", "eth1    inet 172.16.29.", "default via 10.2.0.1 dev eth0"} {
		if !strings.Contains(out, want) {
			t.Errorf("pod on bridge-nat lacks %q:\n%s", want, out)
		}
	}
	e.mustSaturn("stop", a.uuid)
	a.wait(t)
}

// TestNetErrors: what cannot work is refused with one line, and nothing
// is left: no pod running, no veth, no lease, no rule.
func TestNetErrors(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	writeConfig(t, e.LocalConfig, "net.d/10-noplugin.conf", `{"name": "noplugin", "type": "no-such-plugin"}`)
	leaseDir := t.TempDir()
	writeConfig(t, e.LocalConfig, "net.d/20-tiny.conflist", `{"cniVersion": "1.0.0", "name": "tiny", "plugins": [
		{"type": "ptp", "ipam": {"type": "host-local", "dataDir": "`+leaseDir+`",
		 "ranges": [[{"subnet": "10.3.0.0/24", "rangeStart": "10.3.0.5", "rangeEnd": "10.3.0.5"}]]}}]}`)
	img := serverImage(t)
	bb := testimg.Busybox(t, testimg.Options{})
	before := l.mustIn(l.host, "iptables-save")
	// The only address of tiny goes to a first pod.
	first := netStart(t, e, "listening", "--net=tiny", img)
	l.serve(l.host, ":18081", "taken")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown network", []string{"--net=nosuch", bb}, `unknown network "nosuch"`},
		{"network twice", []string{"--net=default", "--net=default:IP=172.16.28.9", bb}, "network default given twice"},
		{"missing plugin", []string{"--net=noplugin", bb}, `network noplugin: plugin "no-such-plugin" not found`},
		{"port the image lacks", []string{"--port=nope:1234", img}, "no app in the pod exposes a port named nope"},
		{"host port taken", []string{"--port=http:18081", img}, "host port tcp/18081: already in use"},
		{"address range exhausted", []string{"--net=tiny", bb}, "network tiny:"},
		{"bad egress rule", []string{"--net-out=10.0.0.0/33", bb}, "invalid --net-out"},
		{"egress rules without a network", []string{"--net=host", "--net-out=10.0.0.0/8", bb}, "need a contained network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.withT(t).failSaturn(tc.want, append([]string{"run", "--insecure-options=image"}, tc.args...)...)
			if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n > 1 {
				t.Errorf("error is %d lines, want one:\n%s", n+1, r.Stderr)
			}
		})
	}
	e.mustSaturn("stop", first.uuid)
	first.wait(t)
	e.mustSaturn("gc", "--grace-period=0s")
	if links := l.podLinks(); links != "" {
		t.Errorf("links left:\n%s", links)
	}
	if after := l.mustIn(l.host, "iptables-save"); sameRules(before, after) != "" {
		t.Errorf("iptables rules changed: %s", sameRules(before, after))
	}
	if left := leasesIn(t, leaseDir, "tiny"); len(left) > 0 {
		t.Errorf("leases of tiny left: %v", left)
	}
}

// leases lists host-local's leases of network name in its default
// directory.
func leases(t *testing.T, name string) []string {
	t.Helper()
	return leasesIn(t, "/var/lib/cni/networks", name)
}

// leasesIn lists host-local's leases of network name under dataDir.
func leasesIn(t *testing.T, dataDir, name string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
			out = append(out, n)
		}
	}
	return out
}

// sameRules compares two iptables-save dumps and returns "" when they
// hold the same rules, else what differs. Counters and comments are
// ignored, and so are the chains the firewall and portmap plugins share
// between all pods and keep once made (sharedPluginRule), and tables left
// with their built-in chains only.
func sameRules(before, after string) string {
	b, a := normRules(before), normRules(after)
	if b == a {
		return ""
	}
	return fmt.Sprintf("\nbefore:\n%s\nafter:\n%s", b, a)
}

// sharedPluginRule reports whether an iptables-save line belongs to the
// plugins' shared chains: the firewall plugin's CNI-FORWARD (jumped to
// from FORWARD) and CNI-ADMIN (the administrator's), portmap's
// CNI-HOSTPORT-DNAT (from PREROUTING and OUTPUT), CNI-HOSTPORT-MASQ (from
// POSTROUTING) and CNI-HOSTPORT-SETMARK, with their fixed rules. A
// pod's own rules in them (a jump to its CNI-DN-… chain, an accept of its
// address) are kept.
func sharedPluginRule(l string) bool {
	for _, c := range []string{"CNI-ADMIN", "CNI-FORWARD", "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"} {
		if strings.HasPrefix(l, ":"+c+" ") {
			return true
		}
	}
	for _, from := range []string{"-A FORWARD ", "-A PREROUTING ", "-A OUTPUT ", "-A POSTROUTING ", "-A CNI-FORWARD "} {
		if strings.HasPrefix(l, from) && (strings.HasSuffix(l, "-j CNI-FORWARD") || strings.HasSuffix(l, "-j CNI-ADMIN") ||
			strings.HasSuffix(l, "-j CNI-HOSTPORT-DNAT") || strings.HasSuffix(l, "-j CNI-HOSTPORT-MASQ")) {
			return true
		}
	}
	return l == "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE" ||
		strings.HasPrefix(l, "-A CNI-HOSTPORT-SETMARK ") && strings.HasSuffix(l, "-j MARK --set-xmark 0x2000/0x2000")
}

func normRules(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		switch {
		case l == "", strings.HasPrefix(l, "#"), sharedPluginRule(l):
			continue
		case strings.HasPrefix(l, ":"):
			if i := strings.LastIndexByte(l, '['); i > 0 {
				l = l[:i]
			}
		}
		lines = append(lines, l)
	}
	var kept []string
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "*") {
			j := i + 1
			for j < len(lines) && strings.HasPrefix(lines[j], ":") && !strings.Contains(lines[j], " - ") && !strings.Contains(lines[j], " DROP") {
				j++
			}
			if j < len(lines) && lines[j] == "COMMIT" {
				i = j
				continue
			}
		}
		kept = append(kept, lines[i])
	}
	return strings.Join(kept, "\n")
}
