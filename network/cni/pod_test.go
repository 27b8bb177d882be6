package cni

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/saturn-pods/saturn/network"
	"github.com/saturn-pods/saturn/stage1abi"
)

// The tests that run plugins need root and run in a network namespace of
// their own: TestMain re-execs the test binary under unshare --net, so
// the veths, routes and iptables rules the plugins make never touch the
// host's and vanish with the process.
const inNetNSEnv = "SATURN_NETWORK_TEST_NETNS"

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv(inNetNSEnv) == "" {
		cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), inNetNSEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it runs the CNI plugins in a network namespace of its own)")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testNet is a ptp network with masquerading whose host-local leases
// live in the test's own directory.
func testNet(t *testing.T, name, subnet, dataDir string) *libcni.NetworkConfigList {
	t.Helper()
	list, err := libcni.NetworkConfFromBytes([]byte(fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
		{"type": "ptp", "ipMasq": true, "ipam": {"type": "host-local", "subnet": %q, "dataDir": %q, "routes": [{"dst": "0.0.0.0/0"}]}},
		{"type": "firewall", "backend": "iptables"}]}`, name, subnet, dataDir)))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func leases(t *testing.T, dataDir, net string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, net))
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

func newTestPod(t *testing.T) *Pod {
	return &Pod{Dir: t.TempDir(), ContainerID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", PluginDirs: []string{"/usr/lib/cni"}}
}

func TestSetupTeardown(t *testing.T) {
	needRoot(t)
	run(t, "ip", "link", "set", "lo", "up")
	data := t.TempDir()
	p := newTestPod(t)
	atts := []Attachment{
		{Name: "tn1", IfName: "eth0", Args: [][2]string{{"IP", "10.77.0.9"}}, Conf: testNet(t, "tn1", "10.77.0.0/24", data)},
		{Name: "tn2", IfName: "eth1", Conf: testNet(t, "tn2", "10.78.0.0/24", data)},
	}
	if err := p.Prepare(atts, Options{}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Setup(context.Background(), atts, Options{NetOut: []network.OutRule{mustRule(t, "10.1.0.0/16:80")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Infos) != 2 || res.Infos[0].IP != "10.77.0.9" || res.Infos[0].NetName != "tn1" || !strings.HasPrefix(res.Infos[1].IP, "10.78.0.") {
		t.Fatalf("infos = %+v; want tn1 on 10.77.0.9 (CNI_ARGS IP honoured) and tn2 on 10.78.0.x", res.Infos)
	}
	if infos, err := stage1abi.ReadNetInfo(p.Dir); err != nil || len(infos) != 2 {
		t.Fatalf("net-info.json: %+v %v", infos, err)
	}
	if !network.IsNetNS(p.NetNS()) {
		t.Fatal("pod network namespace not pinned")
	}
	addrs := run(t, "nsenter", "--net="+p.NetNS(), "ip", "-4", "-o", "addr")
	for _, want := range []string{"lo ", "eth0    inet 10.77.0.9/24", "eth1    inet 10.78.0."} {
		if !strings.Contains(addrs, want) {
			t.Errorf("pod addresses lack %q:\n%s", want, addrs)
		}
	}
	if rules := run(t, "iptables-save"); !strings.Contains(rules, p.podChain("SATURN-OUT-")) {
		t.Errorf("no egress chain %s in\n%s", p.podChain("SATURN-OUT-"), rules)
	}
	if got := leases(t, data, "tn1"); len(got) != 1 || got[0] != "10.77.0.9" {
		t.Errorf("leases of tn1: %v", got)
	}

	if err := p.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// What stays is the firewall plugin's two chains that every pod
	// shares: no rule naming the pod's addresses, no chain of its own.
	after := run(t, "iptables-save")
	if strings.Contains(after, "10.77.0.") || strings.Contains(after, "10.78.0.") || strings.Contains(after, "SATURN-") ||
		strings.Count(after, "\n:CNI-") != 2 {
		t.Errorf("iptables rules left:\n%s", after)
	}
	for _, n := range []string{"tn1", "tn2"} {
		if got := leases(t, data, n); len(got) != 0 {
			t.Errorf("leases of %s left: %v", n, got)
		}
	}
	if links := run(t, "ip", "-o", "link"); strings.Contains(links, "veth") {
		t.Errorf("veths left:\n%s", links)
	}
	for _, f := range []string{stage1abi.NetNSFile, stage1abi.NetRecordDir} {
		if _, err := os.Lstat(filepath.Join(p.Dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left in the pod directory (%v)", f, err)
		}
	}
	// Teardown again: nothing left to do is no error.
	if err := p.Teardown(context.Background()); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

// A network that fails undoes those before it: no lease, namespace or
// record stays.
func TestSetupRollsBack(t *testing.T) {
	needRoot(t)
	data := t.TempDir()
	p := newTestPod(t)
	atts := []Attachment{
		{Name: "ok1", IfName: "eth0", Conf: testNet(t, "ok1", "10.79.0.0/24", data)},
		{Name: "full", IfName: "eth1", Args: [][2]string{{"IP", "10.99.0.5"}}, Conf: testNet(t, "full", "10.80.0.0/30", data)},
	}
	_, err := p.Setup(context.Background(), atts, Options{})
	if err == nil || !strings.Contains(err.Error(), "network full") {
		t.Fatalf("Setup = %v, want a failure of network full", err)
	}
	if got := leases(t, data, "ok1"); len(got) != 0 {
		t.Errorf("lease of ok1 kept after the failure: %v", got)
	}
	for _, f := range []string{stage1abi.NetNSFile, stage1abi.NetRecordDir, stage1abi.NetInfoFile} {
		if _, err := os.Lstat(filepath.Join(p.Dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left in the pod directory (%v)", f, err)
		}
	}
}

// After a reboot the namespace file is no longer a mount; teardown still
// releases the addresses.
func TestTeardownAfterReboot(t *testing.T) {
	needRoot(t)
	data := t.TempDir()
	p := newTestPod(t)
	atts := []Attachment{{Name: "rb", IfName: "eth0", Conf: testNet(t, "rb", "10.81.0.0/24", data)}}
	if _, err := p.Setup(context.Background(), atts, Options{}); err != nil {
		t.Fatal(err)
	}
	run(t, "umount", p.NetNS())
	if err := p.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := leases(t, data, "rb"); len(got) != 0 {
		t.Errorf("leases left: %v", got)
	}
}

func TestPrepareMissingPlugin(t *testing.T) {
	p := newTestPod(t)
	list, err := libcni.NetworkConfFromBytes([]byte(`{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "ptp", "ipam": {"type": "no-such-ipam"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Prepare([]Attachment{{Name: "x", IfName: "eth0", Conf: list}}, Options{})
	if err == nil || !strings.Contains(err.Error(), `plugin "no-such-ipam" not found`) {
		t.Errorf("Prepare = %v", err)
	}
	// Ports and a bandwidth limit bring their plugins into the first list.
	list2, _ := libcni.NetworkConfFromBytes([]byte(`{"cniVersion": "1.0.0", "name": "y", "plugins": [{"type": "ptp"}]}`))
	atts := []Attachment{{Name: "y", IfName: "eth0", Conf: list2}}
	if err := p.Prepare(atts, Options{Ports: []network.PortMapping{{HostPort: 1, ContainerPort: 2, Protocol: "tcp"}}, Bandwidth: &network.Bandwidth{IngressRate: 1}}); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, pl := range atts[0].Conf.Plugins {
		types = append(types, pl.Network.Type)
	}
	if strings.Join(types, ",") != "ptp,portmap,bandwidth" {
		t.Errorf("plugins = %v", types)
	}
}

func mustRule(t *testing.T, s string) network.OutRule {
	r, err := network.ParseOutRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
