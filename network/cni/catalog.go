// Package cni runs a pod's CNI networks: it loads network configurations
// the way rkt did (net.d of the local and system configuration
// directories, lexically ordered, plus the built-in default and
// default-restricted networks), runs the plugins through libcni in the
// pod's network namespace, keeps what it did in the pod directory and
// tears it all down again, also for a pod whose stage1 was killed or
// whose host rebooted.
package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/saturn-pods/saturn/network"
)

// CNIVersion is the spec version of the built-in networks: the newest
// that Debian's plugins (1.1.x) speak.
const CNIVersion = "1.0.0"

// defaultConf is rkt's default network: a veth pair to the host (ptp),
// an address from 172.16.28.0/24, a default route and masquerading. The
// firewall plugin lets the pod's traffic through a FORWARD chain whose
// policy is DROP (rkt issue 3683).
const defaultConf = `{
  "cniVersion": "` + CNIVersion + `",
  "name": "default",
  "plugins": [
    {"type": "ptp", "ipMasq": true,
     "ipam": {"type": "host-local", "subnet": "172.16.28.0/24", "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "firewall", "backend": "iptables"}
  ]
}`

// defaultRestrictedConf is rkt's default-restricted network: the host
// only, no route out, no masquerading. rkt gave it the default network's
// subnet from a separate address pool, so a default and a restricted pod
// could get the same address and the second pod's host route failed;
// saturn gives it a subnet of its own.
const defaultRestrictedConf = `{
  "cniVersion": "` + CNIVersion + `",
  "name": "default-restricted",
  "plugins": [
    {"type": "ptp", "ipMasq": false,
     "ipam": {"type": "host-local", "subnet": "172.16.29.0/24"}},
    {"type": "firewall", "backend": "iptables"}
  ]
}`

// Catalog is every network a pod can join: those of the net.d
// directories and the built-in ones, which a file may override by
// naming its network default or default-restricted.
type Catalog struct {
	nets  map[string]*libcni.NetworkConfigList
	files map[string]string // network name -> file it came from ("" built in)
	// order is the lexical order of the files of the user's networks,
	// in which --net=all attaches them.
	order []string
	dirs  []string // the net.d directories searched
}

// ConfDirs returns the net.d directories under the local and the system
// configuration directory, the local one first: its files win.
func ConfDirs(localConfig, systemConfig string) []string {
	var dirs []string
	for _, d := range []string{localConfig, systemConfig} {
		if d != "" {
			dirs = append(dirs, filepath.Join(d, "net.d"))
		}
	}
	return dirs
}

// LoadCatalog reads the network configurations in dirs (missing ones are
// no error), earlier directories winning for a network defined twice.
// Configuration lists (.conflist) and single-plugin files (.conf, .json,
// rkt's format) are read; within one directory a network defined in two
// files is an error, as is a file that does not parse.
func LoadCatalog(dirs []string) (*Catalog, error) {
	c := &Catalog{nets: map[string]*libcni.NetworkConfigList{}, files: map[string]string{}, dirs: dirs}
	type entry struct {
		base string
		list *libcni.NetworkConfigList
		file string
	}
	var user []entry
	for _, dir := range dirs {
		files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
		if err != nil {
			return nil, fmt.Errorf("network configuration %s: %w", dir, err)
		}
		sort.Strings(files)
		inDir := map[string]string{}
		for _, f := range files {
			list, err := loadFile(f)
			if err != nil {
				return nil, err
			}
			if other, dup := inDir[list.Name]; dup {
				return nil, fmt.Errorf("network %q defined twice, in %s and %s", list.Name, other, f)
			}
			inDir[list.Name] = f
			if _, seen := c.files[list.Name]; seen {
				continue // a directory before this one defines it
			}
			c.nets[list.Name] = list
			c.files[list.Name] = f
			user = append(user, entry{filepath.Base(f), list, f})
		}
	}
	sort.SliceStable(user, func(i, j int) bool { return user[i].base < user[j].base })
	for _, e := range user {
		c.order = append(c.order, e.list.Name)
	}
	for name, conf := range map[string]string{network.Default: defaultConf, network.DefaultRestricted: defaultRestrictedConf} {
		if _, ok := c.nets[name]; ok {
			continue
		}
		list, err := libcni.NetworkConfFromBytes([]byte(conf))
		if err != nil {
			return nil, fmt.Errorf("built-in network %s: %w", name, err)
		}
		c.nets[name] = list
		c.files[name] = ""
	}
	return c, nil
}

// loadFile reads one network configuration file, a list or a single
// plugin's configuration.
func loadFile(path string) (*libcni.NetworkConfigList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("network configuration: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("network configuration %s: %w", path, err)
	}
	if _, ok := probe["plugins"]; !ok {
		// A single plugin's configuration (rkt's format): made a list of
		// one, its name and version moved up to the list. rkt's files
		// name no version; their plugins spoke 0.3.x, whose
		// configuration today's plugins still read.
		list := map[string]json.RawMessage{"name": probe["name"], "cniVersion": probe["cniVersion"], "plugins": json.RawMessage("[" + string(b) + "]")}
		if list["cniVersion"] == nil {
			list["cniVersion"] = json.RawMessage(`"0.3.1"`)
		}
		if list["name"] == nil {
			return nil, fmt.Errorf("network configuration %s: no network name", path)
		}
		if b, err = json.Marshal(list); err != nil {
			return nil, err
		}
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("network configuration %s: %w", path, err)
	}
	if list.Name == "" {
		return nil, fmt.Errorf("network configuration %s: no network name", path)
	}
	if err := checkName(list.Name); err != nil {
		return nil, fmt.Errorf("network configuration %s: %w", path, err)
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("network configuration %s: no plugins", path)
	}
	return list, nil
}

// checkName refuses network names that cannot be told apart in --net
// lists or that would make file names of the pod directory.
func checkName(name string) error {
	switch {
	case name == "host" || name == "none" || name == "all":
		return fmt.Errorf("network name %q is reserved", name)
	case strings.ContainsAny(name, ",:;=/ \t\n") || strings.HasPrefix(name, "."):
		return fmt.Errorf("bad network name %q", name)
	}
	return nil
}

// Has reports whether the catalog has a network of that name.
func (c *Catalog) Has(name string) bool { _, ok := c.nets[name]; return ok }

// Names returns the user's networks in the order --net=all attaches them.
func (c *Catalog) Names() []string { return append([]string(nil), c.order...) }

// Attachment is one network a pod joins, resolved from the catalog.
type Attachment struct {
	Name   string
	IfName string
	Args   [][2]string
	Conf   *libcni.NetworkConfigList
}

// Resolve turns requests into the networks to attach, in order: all
// expands to every user network (lexical file order) not named
// otherwise, and default-restricted is added, last, when default is not
// among them, so the host stays reachable, as rkt did. An unknown
// network is an error.
func (c *Catalog) Resolve(reqs []network.Request) ([]Attachment, error) {
	var names []string
	args := map[string][][2]string{}
	named := map[string]bool{}
	for _, r := range reqs {
		named[r.Name] = true
	}
	for _, r := range reqs {
		if r.Name == "all" {
			for _, n := range c.order {
				if !named[n] {
					names = append(names, n)
				}
			}
			continue
		}
		if !c.Has(r.Name) {
			return nil, fmt.Errorf("unknown network %q: not built in and not defined in %s", r.Name, c.where())
		}
		names = append(names, r.Name)
		args[r.Name] = r.Args
	}
	hasDefault := false
	for _, n := range names {
		hasDefault = hasDefault || n == network.Default
	}
	if !hasDefault && !contains(names, network.DefaultRestricted) {
		names = append(names, network.DefaultRestricted)
	}
	if len(names) == 0 {
		return nil, errors.New("no network to attach")
	}
	out := make([]Attachment, len(names))
	for i, n := range names {
		out[i] = Attachment{Name: n, IfName: fmt.Sprintf("eth%d", i), Args: args[n], Conf: c.nets[n]}
	}
	return out, nil
}

func (c *Catalog) where() string {
	if len(c.dirs) == 0 {
		return "any net.d"
	}
	return strings.Join(c.dirs, " or ")
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
