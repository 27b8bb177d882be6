package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/network"
	"github.com/saturn-pods/saturn/stage1abi"
)

// PluginTimeout bounds one network's plugins, so that a hung plugin
// fails the pod instead of hanging it.
const PluginTimeout = 2 * time.Minute

// PluginDirs are where CNI plugin binaries are looked up: CNI_PATH when
// set, else saturn's own directory under the system configuration
// directory, then Debian's and the CNI project's usual places.
func PluginDirs(systemConfig string) []string {
	if p := os.Getenv("CNI_PATH"); p != "" {
		return filepath.SplitList(p)
	}
	var dirs []string
	if systemConfig != "" {
		dirs = append(dirs, filepath.Join(systemConfig, "cni"))
	}
	return append(dirs, "/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin")
}

// Pod is a pod's networking: where its records and namespace live and
// where the plugins are.
type Pod struct {
	Dir         string   // the pod directory
	ContainerID string   // the pod's UUID, CNI's container id
	PluginDirs  []string // where plugin binaries are looked up
}

func (p *Pod) recordDir() string { return filepath.Join(p.Dir, stage1abi.NetRecordDir) }

// NetNS is the path of the pod's pinned network namespace.
func (p *Pod) NetNS() string { return filepath.Join(p.Dir, stage1abi.NetNSFile) }

func (p *Pod) cni(dirs []string) *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(dirs, filepath.Join(p.recordDir(), "cache"), &pluginExec{})
}

// Options are what a pod asks of its first network besides joining it.
type Options struct {
	Ports     []network.PortMapping
	Bandwidth *network.Bandwidth
	NetOut    []network.OutRule
}

// Result is what joining the networks gave the pod.
type Result struct {
	Infos []stage1abi.NetInfo
	// DNS is the first name server configuration a plugin returned.
	DNS *network.DNS
}

// record is what the pod directory keeps of one network: enough to
// tear it down with the configuration it was set up with, whatever
// net.d says by then.
type record struct {
	Name           string          `json:"name"`
	IfName         string          `json:"ifName"`
	Args           [][2]string     `json:"args,omitempty"`
	CapabilityArgs map[string]any  `json:"capabilityArgs,omitempty"`
	Config         json.RawMessage `json:"config"`
	// PluginDirs are where the plugins were found, so that gc, which
	// is given no configuration, finds them again.
	PluginDirs []string `json:"pluginDirs"`
}

// Prepare completes the attachments for opts (the first network gets the
// ports and the bandwidth limit, with the portmap or bandwidth plugin
// appended to its list when the list has none) and checks, before
// anything exists, that every plugin binary is there.
func (p *Pod) Prepare(atts []Attachment, opts Options) error {
	if len(atts) == 0 {
		return nil
	}
	first := &atts[0]
	if len(opts.Ports) > 0 {
		if err := ensurePlugin(first, "portmap", "portMappings", `{"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}`); err != nil {
			return err
		}
	}
	if opts.Bandwidth != nil {
		if err := ensurePlugin(first, "bandwidth", "bandwidth", `{"type": "bandwidth", "capabilities": {"bandwidth": true}}`); err != nil {
			return err
		}
	}
	for _, a := range atts {
		for _, pl := range a.Conf.Plugins {
			types := []string{pl.Network.Type}
			if pl.Network.IPAM.Type != "" {
				types = append(types, pl.Network.IPAM.Type)
			}
			for _, t := range types {
				if _, err := invoke.FindInPath(t, p.PluginDirs); err != nil {
					return fmt.Errorf("network %s: plugin %q not found in %s", a.Name, t, strings.Join(p.PluginDirs, ":"))
				}
			}
		}
	}
	return nil
}

// ensurePlugin appends the plugin conf to a's list unless a plugin with
// the capability cap is already in it.
func ensurePlugin(a *Attachment, typ, capability, conf string) error {
	for _, pl := range a.Conf.Plugins {
		if pl.Network.Capabilities[capability] {
			return nil
		}
	}
	var raw map[string]any
	if err := json.Unmarshal(a.Conf.Bytes, &raw); err != nil {
		return fmt.Errorf("network %s: %w", a.Name, err)
	}
	var pl map[string]any
	if err := json.Unmarshal([]byte(conf), &pl); err != nil {
		return err
	}
	plugins, _ := raw["plugins"].([]any)
	raw["plugins"] = append(plugins, pl)
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		return fmt.Errorf("network %s with %s: %w", a.Name, typ, err)
	}
	a.Conf = list
	return nil
}

// Setup makes the pod's network namespace and joins it to atts, in
// order. On failure everything done so far is undone and the error
// names the network that failed.
func (p *Pod) Setup(ctx context.Context, atts []Attachment, opts Options) (*Result, error) {
	if err := os.Mkdir(p.recordDir(), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("network records: %w", err)
	}
	if err := network.CreateNetNS(p.NetNS()); err != nil {
		return nil, err
	}
	res, err := p.setup(ctx, atts, opts)
	if err != nil {
		if terr := p.Teardown(ctx); terr != nil {
			err = fmt.Errorf("%w (and undoing it: %v)", err, terr)
		}
		return nil, err
	}
	return res, nil
}

func (p *Pod) setup(ctx context.Context, atts []Attachment, opts Options) (*Result, error) {
	cni := p.cni(p.PluginDirs)
	out := &Result{}
	var podIPs, firstIPs []net.IP
	for i, a := range atts {
		rec := record{Name: a.Name, IfName: a.IfName, Args: a.Args, Config: a.Conf.Bytes, PluginDirs: p.PluginDirs}
		if i == 0 {
			rec.CapabilityArgs = map[string]any{}
			if len(opts.Ports) > 0 {
				rec.CapabilityArgs["portMappings"] = opts.Ports
			}
			if opts.Bandwidth != nil {
				rec.CapabilityArgs["bandwidth"] = opts.Bandwidth
			}
		}
		if err := p.writeRecord(i, rec); err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, PluginTimeout)
		r, err := cni.AddNetworkList(cctx, a.Conf, p.runtimeConf(rec, p.NetNS()))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", a.Name, err)
		}
		cur, err := types100.NewResultFromResult(r)
		if err != nil {
			return nil, fmt.Errorf("network %s: result: %w", a.Name, err)
		}
		info := stage1abi.NetInfo{NetName: a.Name, IfName: a.IfName}
		for _, ipc := range cur.IPs {
			if info.IP == "" {
				info.IP = ipc.Address.IP.String()
				info.Mask = net.IP(ipc.Address.Mask).String()
				if ipc.Gateway != nil {
					info.HostIP = ipc.Gateway.String()
				}
			}
			podIPs = append(podIPs, ipc.Address.IP)
			if i == 0 {
				firstIPs = append(firstIPs, ipc.Address.IP)
			}
		}
		out.Infos = append(out.Infos, info)
		if out.DNS == nil && len(cur.DNS.Nameservers) > 0 {
			out.DNS = &network.DNS{Nameservers: cur.DNS.Nameservers, Domain: cur.DNS.Domain, Search: cur.DNS.Search, Options: cur.DNS.Options}
		}
	}
	rules := &hostRules{}
	if len(opts.Ports) > 0 {
		if err := p.acceptForwardedPorts(rules, firstIPs); err != nil {
			return nil, err
		}
	}
	if len(opts.NetOut) > 0 {
		if err := p.restrictEgress(rules, podIPs, opts.NetOut); err != nil {
			return nil, err
		}
	}
	if err := stage1abi.WriteNetInfo(p.Dir, out.Infos); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Pod) runtimeConf(rec record, netns string) *libcni.RuntimeConf {
	args := rec.Args
	if len(args) > 0 {
		// CNI_ARGS go to every plugin of the list, and most refuse
		// arguments they do not know (the bridge plugin refuses IP,
		// which host-local takes) unless told otherwise, as CNI's
		// convention has it.
		args = append([][2]string{{"IgnoreUnknown", "1"}}, args...)
	}
	return &libcni.RuntimeConf{
		ContainerID:    p.ContainerID,
		NetNS:          netns,
		IfName:         rec.IfName,
		Args:           args,
		CapabilityArgs: rec.CapabilityArgs,
		CacheDir:       filepath.Join(p.recordDir(), "cache"),
	}
}

func (p *Pod) recordPath(i int) string {
	return filepath.Join(p.recordDir(), fmt.Sprintf("%02d.json", i))
}

func (p *Pod) writeRecord(i int, rec record) error {
	return writeJSON(p.recordPath(i), rec)
}

// Teardown undoes the pod's networking: CNI DEL for every network it
// joined or began to join, last first (which releases its addresses and
// the plugins' rules and interfaces), the egress rules, then the network
// namespace. It works from what the pod directory records, so it serves
// the run entrypoint when the pod ends as well as gc after the stage1
// was killed. After a reboot the namespace is gone (its file is no
// longer a mount): the plugins are then called without one, which still
// releases the addresses. A network whose DEL fails keeps its record, so
// that a later gc tries again; every failure is returned.
func (p *Pod) Teardown(ctx context.Context) error {
	var errs []error
	netns := p.NetNS()
	if !network.IsNetNS(netns) {
		netns = ""
	}
	recs, err := filepath.Glob(filepath.Join(p.recordDir(), "[0-9]*.json"))
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(recs)))
	for _, f := range recs {
		if err := p.del(ctx, f, netns); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(f); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.removeHostRules(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := network.RemoveNetNS(p.NetNS()); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(filepath.Join(p.recordDir(), "cache")); err != nil {
			errs = append(errs, err)
		}
		if err := os.Remove(p.recordDir()); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Pod) del(ctx context.Context, file, netns string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("network record %s: %w", file, err)
	}
	list, err := libcni.NetworkConfFromBytes(rec.Config)
	if err != nil {
		return fmt.Errorf("network record %s: %w", file, err)
	}
	dirs := rec.PluginDirs
	if len(dirs) == 0 {
		dirs = p.PluginDirs
	}
	cctx, cancel := context.WithTimeout(ctx, PluginTimeout)
	defer cancel()
	if err := p.cni(dirs).DelNetworkList(cctx, list, p.runtimeConf(rec, netns)); err != nil {
		return fmt.Errorf("network %s: %w", rec.Name, err)
	}
	return nil
}

// writeJSON writes v to path through a temp file renamed into place: a
// killed stage1 leaves the old file or the new one. It is not synced,
// as host-local's own lease files are not: after a crash of the host the
// lease and the record stand or fall together.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}
