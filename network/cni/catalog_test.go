package cni

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/network"
)

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
	for _, n := range []string{network.Default, network.DefaultRestricted} {
		if !c.Has(n) {
			t.Errorf("built-in %s missing", n)
		}
	}

	atts, err := c.Resolve([]network.Request{{Name: "br", Args: [][2]string{{"IP", "10.9.0.7"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 || atts[0].Name != "br" || atts[0].IfName != "eth0" || atts[1].Name != network.DefaultRestricted || atts[1].IfName != "eth1" {
		t.Errorf("Resolve(br) = %+v, want br on eth0 and default-restricted on eth1", atts)
	}
	if len(atts[0].Args) != 1 || atts[0].Args[0] != [2]string{"IP", "10.9.0.7"} {
		t.Errorf("args of br: %v", atts[0].Args)
	}
	atts, err = c.Resolve([]network.Request{{Name: network.Default}})
	if err != nil || len(atts) != 1 || atts[0].Name != network.Default {
		t.Errorf("Resolve(default) = %+v, %v: want default alone", atts, err)
	}
	atts, err = c.Resolve([]network.Request{{Name: "all"}, {Name: "sys", Args: [][2]string{{"a", "b"}}}})
	var names []string
	for _, a := range atts {
		names = append(names, a.Name)
	}
	if err != nil || !reflect.DeepEqual(names, []string{"lst", "br", "sys", network.DefaultRestricted}) {
		t.Errorf("Resolve(all,sys) = %v, %v", names, err)
	}
	if _, err := c.Resolve([]network.Request{{Name: "nope"}}); err == nil || !strings.Contains(err.Error(), `unknown network "nope"`) {
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
	if typ := c.nets[network.Default].Plugins[0].Network.Type; typ != "bridge" {
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
