package tests

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

var receivedRe = regexp.MustCompile(`received bytes=(\d+) seconds=([0-9.]+)`)

// rate reads the test app's sink report and returns bytes per second.
func rate(t *testing.T, out string) float64 {
	t.Helper()
	m := receivedRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no sink report in:\n%s", out)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	s, _ := strconv.ParseFloat(m[2], 64)
	if n != 1<<20 {
		t.Fatalf("sink got %v bytes, want %d:\n%s", n, 1<<20, out)
	}
	return n / s
}

// TestNetBandwidth: a pod limited to 256 KiB/s each way moves about that
// over traffic between the host and the pod only. The bounds are
// generous (a third to three times the rate); without the limit the
// same transfer runs at hundreds of MB/s.
func TestNetBandwidth(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	const limit = 256 << 10
	img := serverImage(t)
	check := func(dir string, got float64) {
		t.Helper()
		if got < limit/3 || got > 3*limit {
			t.Errorf("%s: %.0f bytes/s through a %d bytes/s limit", dir, got, limit)
		} else {
			t.Logf("%s: %.0f bytes/s through a %d bytes/s limit", dir, got, limit)
		}
	}
	// Ingress: the host sends to the pod's sink.
	bg := netStart(t, e, "listening", "--net-bandwidth=ingress=256Ki", img, "--exec=/testapp", "--", "sink", ":9000")
	ip := podIP(t, e, bg.uuid, "default")
	l.mustIn(l.host, l.testapp, "send", ip+":9000", strconv.Itoa(1<<20))
	bg.wait(t)
	check("ingress", rate(t, bg.out.String()))
	// Egress, limited by the image's isolator: the pod sends to a sink on
	// the host.
	limited := testimg.TestApp(t, testimg.Options{Name: "example.com/limited", Modify: func(m *schema.ImageManifest) {
		var iso types.Isolator
		if err := iso.UnmarshalJSON([]byte(`{"name": "resource/network-bandwidth", "value": {"default": true, "limit": "256Ki"}}`)); err != nil {
			t.Fatal(err)
		}
		m.App.Isolators = append(m.App.Isolators, iso)
	}})
	sink := startBackground(t, exec.Command("nsenter", "--net=/run/netns/"+l.host, "--", l.testapp, "sink", ":9001"))
	waitOutput(t, sink, "listening")
	e.mustSaturn("run", "--insecure-options=image", limited, "--exec=/testapp", "--", "send", "172.16.28.1:9001", strconv.Itoa(1<<20))
	if code := sink.wait(t); code != 0 {
		t.Fatalf("sink failed:\n%s", sink.out)
	}
	check("egress (image isolator)", rate(t, sink.out.String()))
}

// TestNetOut: with --net-out the pod reaches the allowed address and
// port and nothing else (another address, another port, the host), and
// the rules go with the pod.
func TestNetOut(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	mustRun(t, "ip", "-n", l.other, "addr", "add", "10.251.0.3/24", "dev", "lab1")
	l.serve(l.other, ":7000", "seven")
	l.serve(l.other, ":7001", "seven-one")
	img := serverImage(t)
	before := l.hostNetState(t)
	bg := netStart(t, e, "listening", "--net-out="+labOtherIP+":7000", img)
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{labOtherIP + ":7000", true},
		{labOtherIP + ":7001", false},
		{"10.251.0.3:7000", false},
		{labHostIP + ":7000", false},
	} {
		r := e.saturn("enter", bg.uuid, "/testapp", "dial", tc.addr)
		if got := r.Code == 0 && strings.HasPrefix(r.Stdout, "seven"); got != tc.ok {
			t.Errorf("dial %s from a pod allowed only %s:7000: reached=%v, want %v\n%s", tc.addr, labOtherIP, got, tc.ok, r)
		}
	}
	// Connections to the pod still work: replies pass.
	ip := podIP(t, e, bg.uuid, "default")
	if out, err := l.dial(l.host, ip+":8080"); err != nil || !strings.HasPrefix(out, "hello") {
		t.Errorf("the host to a pod with an allow-list: %v %s", err, out)
	}
	e.mustSaturn("stop", bg.uuid)
	bg.wait(t)
	if after := l.hostNetState(t); after != before {
		t.Errorf("egress rules left after the pod:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestNetDNS: --dns* flags and --hosts-entry as rkt's (comma lists, names
// of one address merged, the pod's hostname in /etc/hosts), and a
// plugin's DNS answer when no flag gives one.
func TestNetDNS(t *testing.T) {
	l := newNetLab(t)
	e := l.env()
	bb := testimg.Busybox(t, testimg.Options{})
	out := e.mustSaturn("run", "--insecure-options=image", "--hostname=web", "--dns=192.0.2.53", "--dns=192.0.2.54", "--dns-search=example.com",
		"--dns-opt=ndots:2", "--dns-domain=corp.example", "--hosts-entry=198.51.100.1=db,198.51.100.2=cache", "--hosts-entry=198.51.100.1=db.corp",
		bb, "--exec=/bin/sh", "--", "-c", "cat /etc/resolv.conf /etc/hosts")
	for _, want := range []string{"nameserver 192.0.2.53", "nameserver 192.0.2.54", "domain corp.example", "search example.com", "options ndots:2",
		"127.0.0.1 localhost localhost.localdomain web", "198.51.100.1 db db.corp", "198.51.100.2 cache"} {
		if !strings.Contains(out, want) {
			t.Errorf("pod's DNS files lack %q:\n%s", want, out)
		}
	}
	writeConfig(t, e.LocalConfig, "net.d/30-withdns.conflist", `{"cniVersion": "1.0.0", "name": "withdns", "plugins": [
		{"type": "ptp", "ipMasq": false, "dns": {"nameservers": ["192.0.2.99"], "search": ["pods.example"]},
		 "ipam": {"type": "host-local", "subnet": "10.4.0.0/24", "dataDir": "`+t.TempDir()+`"}}]}`)
	out = e.mustSaturn("run", "--insecure-options=image", "--net=withdns", bb, "--exec=/bin/cat", "--", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 192.0.2.99") || !strings.Contains(out, "search pods.example") {
		t.Errorf("resolv.conf from the network's DNS:\n%s", out)
	}
	out = e.mustSaturn("run", "--insecure-options=image", "--net=withdns", "--dns=192.0.2.7", bb, "--exec=/bin/cat", "--", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 192.0.2.7") || strings.Contains(out, "192.0.2.99") {
		t.Errorf("--dns does not win over the network's DNS:\n%s", out)
	}
}
