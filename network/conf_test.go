package network

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseNetFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		mode string
		reqs []Request
		err  string
	}{
		{in: "host", mode: "host"},
		{in: "none", mode: "none"},
		{in: "", mode: "contained", reqs: []Request{{Name: "default"}}},
		{in: "default", mode: "contained", reqs: []Request{{Name: "default"}}},
		{in: "a,b", mode: "contained", reqs: []Request{{Name: "a"}, {Name: "b"}}},
		{in: "default:IP=172.16.28.9", mode: "contained", reqs: []Request{{Name: "default", Args: [][2]string{{"IP", "172.16.28.9"}}}}},
		{in: "n1:IP=1.2.3.4;foo=bar,all", mode: "contained", reqs: []Request{{Name: "n1", Args: [][2]string{{"IP", "1.2.3.4"}, {"foo", "bar"}}}, {Name: "all"}}},
		{in: "a,a", err: "given twice"},
		{in: "a:x=1,a", err: "given twice"},
		{in: "a,host", err: "cannot be combined"},
		{in: "a,,b", err: "empty network name"},
		{in: "a:IP", err: "not KEY=VALUE"},
		{in: "a:=1", err: "not KEY=VALUE"},
		{in: "all:IP=1.2.3.4", err: "no arguments"},
	} {
		mode, reqs, err := ParseNetFlag(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseNetFlag(%q) = %v, want error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || mode != tt.mode || !reflect.DeepEqual(reqs, tt.reqs) {
			t.Errorf("ParseNetFlag(%q) = %q %v %v, want %q %v", tt.in, mode, reqs, err, tt.mode, tt.reqs)
		}
	}
}

func writeConf(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCatalog(t *testing.T) {
	local, system := t.TempDir(), t.TempDir()
	ld, sd := filepath.Join(local, "net.d"), filepath.Join(system, "net.d")
	// rkt's single-plugin format without a version, a list, and the same
	// network in both directories (local wins).
	writeConf(t, ld, "20-bridge.conf", `{"name": "br", "type": "bridge", "ipam": {"type": "host-local", "subnet": "10.9.0.0/24"}}`)
	writeConf(t, ld, "10-list.conflist", `{"cniVersion": "1.0.0", "name": "lst", "plugins": [{"type": "ptp"}]}`)
	writeConf(t, sd, "05-br.conf", `{"name": "br", "type": "macvlan"}`)
	writeConf(t, sd, "30-sys.conf", `{"cniVersion": "0.4.0", "name": "sys", "type": "ptp"}`)
	writeConf(t, sd, "notes.txt", `not a configuration`)
	c, err := LoadCatalog(ConfDirs(local, system))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Names(), []string{"lst", "br", "sys"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if typ := c.nets["br"].Plugins[0].Network.Type; typ != "bridge" {
		t.Errorf("br from the system dir won over the local one: type %s", typ)
	}
	if v := c.nets["br"].CNIVersion; v != "0.3.1" {
		t.Errorf("unversioned rkt conf got version %q, want 0.3.1", v)
	}
	for _, n := range []string{Default, DefaultRestricted} {
		if !c.Has(n) {
			t.Errorf("built-in %s missing", n)
		}
	}

	atts, err := c.Resolve([]Request{{Name: "br", Args: [][2]string{{"IP", "10.9.0.7"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 || atts[0].Name != "br" || atts[0].IfName != "eth0" || atts[1].Name != DefaultRestricted || atts[1].IfName != "eth1" {
		t.Errorf("Resolve(br) = %+v, want br on eth0 and default-restricted on eth1", atts)
	}
	if len(atts[0].Args) != 1 || atts[0].Args[0] != [2]string{"IP", "10.9.0.7"} {
		t.Errorf("args of br: %v", atts[0].Args)
	}
	atts, err = c.Resolve([]Request{{Name: Default}})
	if err != nil || len(atts) != 1 || atts[0].Name != Default {
		t.Errorf("Resolve(default) = %+v, %v: want default alone", atts, err)
	}
	atts, err = c.Resolve([]Request{{Name: "all"}, {Name: "sys", Args: [][2]string{{"a", "b"}}}})
	var names []string
	for _, a := range atts {
		names = append(names, a.Name)
	}
	if err != nil || !reflect.DeepEqual(names, []string{"lst", "br", "sys", DefaultRestricted}) {
		t.Errorf("Resolve(all,sys) = %v, %v", names, err)
	}
	if _, err := c.Resolve([]Request{{Name: "nope"}}); err == nil || !strings.Contains(err.Error(), `unknown network "nope"`) {
		t.Errorf("unknown network: %v", err)
	}
}

func TestCatalogOverridesDefault(t *testing.T) {
	local := t.TempDir()
	writeConf(t, filepath.Join(local, "net.d"), "99-default.conf", `{"cniVersion": "1.0.0", "name": "default", "type": "bridge"}`)
	c, err := LoadCatalog(ConfDirs(local, ""))
	if err != nil {
		t.Fatal(err)
	}
	if typ := c.nets[Default].Plugins[0].Network.Type; typ != "bridge" {
		t.Errorf("default not overridden: type %s", typ)
	}
}

func TestCatalogErrors(t *testing.T) {
	for _, tt := range []struct {
		files map[string]string
		err   string
	}{
		{map[string]string{"a.conf": `{`}, "a.conf"},
		{map[string]string{"a.conf": `{"type": "ptp"}`}, "no network name"},
		{map[string]string{"a.conf": `{"name": "x", "type": "ptp"}`, "b.conf": `{"name": "x", "type": "ptp"}`}, "defined twice"},
		{map[string]string{"a.conf": `{"name": "host", "type": "ptp"}`}, "reserved"},
		{map[string]string{"a.conf": `{"name": "a,b", "type": "ptp"}`}, "bad network name"},
		{map[string]string{"a.conflist": `{"name": "x", "plugins": []}`}, "no plugins"},
	} {
		dir := t.TempDir()
		for n, b := range tt.files {
			writeConf(t, filepath.Join(dir, "net.d"), n, b)
		}
		if _, err := LoadCatalog(ConfDirs(dir, "")); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: got %v, want error with %q", tt.files, err, tt.err)
		}
	}
}

func TestParseOutRule(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: "10.1.2.3", want: "10.1.2.3/32"},
		{in: "10.1.2.3:80", want: "10.1.2.3/32:80/tcp"},
		{in: "10.1.2.0/24:80,443,8000-8100/udp", want: "10.1.2.0/24:80,443,8000-8100/udp"},
		{in: "10.1.2.0/24/icmp", want: "10.1.2.0/24/icmp"},
		{in: "10.1.2.0/24/all", want: "10.1.2.0/24"},
		{in: "fd00::/64", want: "fd00::/64"},
		{in: "[fd00::1]:53/udp", want: "[fd00::1/128]:53/udp"},
		{in: "nope", err: "not an address"},
		{in: "10.0.0.0/8:", err: "empty port list"},
		{in: "10.0.0.0/8:0", err: "bad port"},
		{in: "10.0.0.0/8:90-80", err: "bad port"},
		{in: "10.0.0.0/8:70000", err: "bad port"},
		{in: "10.0.0.0/8:80/icmp", err: "icmp has no ports"},
		{in: "[fd00::1", err: "unclosed"},
	} {
		r, err := ParseOutRule(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOutRule(%q) = %v, want error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || r.String() != tt.want {
			t.Errorf("ParseOutRule(%q) = %q, %v; want %q", tt.in, r.String(), err, tt.want)
		}
	}
}

func TestParseBandwidth(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Bandwidth
		err  string
	}{
		{in: "1M", want: Bandwidth{IngressRate: 8e6, IngressBurst: 8e5, EgressRate: 8e6, EgressBurst: 8e5}},
		{in: "100k", want: Bandwidth{IngressRate: 8e5, IngressBurst: 8 * minBurst, EgressRate: 8e5, EgressBurst: 8 * minBurst}},
		{in: "ingress=1Mi:2Mi", want: Bandwidth{IngressRate: 8 << 20, IngressBurst: 16 << 20}},
		{in: "egress=2G,ingress=10M", want: Bandwidth{IngressRate: 8e7, IngressBurst: 8e6, EgressRate: 16e9, EgressBurst: 16e8}},
		{in: "0", err: "positive quantity"},
		{in: "1X", err: "positive quantity"},
		{in: "1M:", err: "burst"},
		{in: "sideways=1M", err: "neither ingress nor egress"},
		{in: "ingress=1M,ingress=2M", err: "given twice"},
		{in: "1M,egress=2M", err: "given twice"},
		{in: "99999999999999T", err: "too large"},
	} {
		got, err := ParseBandwidth(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseBandwidth(%q) = %v, want error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || *got != tt.want {
			t.Errorf("ParseBandwidth(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	a := &Bandwidth{IngressRate: 10, IngressBurst: 1}
	n := a.Narrow(&Bandwidth{IngressRate: 5, IngressBurst: 2, EgressRate: 7, EgressBurst: 3})
	if *n != (Bandwidth{IngressRate: 5, IngressBurst: 2, EgressRate: 7, EgressBurst: 3}) {
		t.Errorf("Narrow = %+v", n)
	}
}
