package pod

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/grant"
	"github.com/saturn-pods/saturn/network"
	"github.com/saturn-pods/saturn/network/cni"
	"github.com/saturn-pods/saturn/stage1abi"
)

// PrepareOptions are the flags that define a pod, shared by run and
// prepare.
type PrepareOptions struct {
	Apps         Apps
	Ports        []types.ExposedPort
	InheritEnv   bool
	SetEnv       types.Environment // --set-env, in order
	SetEnvFile   types.Environment // --set-env-file contents, in order
	NoOverlay    bool
	PrivateUsers bool
	PodManifest  string
	UUIDFileSave string
	PullPolicy   string
	storeOnly    bool
	noStore      bool
	Quiet        bool
	// TrustImageIsolators is grant.TrustFlag: images whose signature
	// is trusted may widen their own confinement.
	TrustImageIsolators bool
	// Grants is what the operator lets images grant themselves; the
	// caller fills it in from the flags (nil: nothing that widens).
	Grants *grant.Policy
	// AppLogs is --app-logs (see stage1abi.AnnAppLogs); "" when not given.
	AppLogs string
	// CgroupParent is where stage1 puts the pod's cgroup (cgroups.go).
	CgroupParent string
}

// Pull policies, as rkt's --pull-policy.
const (
	PullNever  = "never"
	PullNew    = "new"
	PullUpdate = "update"
)

// AddFlags adds the pod-defining flags (with the per-app ones) to fs.
func (o *PrepareOptions) AddFlags(fs *pflag.FlagSet) {
	o.Apps.AddFlags(fs)
	fs.Var(portsFlag{&o.Ports}, "port", "ports to expose on the host (requires contained network): NAME:[HOSTIP:]HOSTPORT")
	fs.BoolVar(&o.InheritEnv, "inherit-env", false, "inherit all environment variables not set by apps")
	fs.Var(envFlag{&o.SetEnv}, "set-env", "environment variable NAME=VALUE for all apps (--environment overrides it)")
	fs.Var(envFileFlag{&o.SetEnvFile}, "set-env-file", "file of NAME=VALUE lines to set for all apps")
	fs.BoolVar(&o.NoOverlay, "no-overlay", false, "copy image trees instead of using overlayfs")
	fs.BoolVar(&o.PrivateUsers, "private-users", false, "run within user namespaces")
	fs.StringVar(&o.PodManifest, "pod-manifest", "", "run this pod manifest file instead of images given on the command line")
	fs.StringVar(&o.UUIDFileSave, "uuid-file-save", "", "write the pod UUID to this file")
	fs.StringVar(&o.PullPolicy, "pull-policy", PullNew, "when to fetch an image: never, new or update")
	fs.BoolVar(&o.TrustImageIsolators, strings.TrimPrefix(grant.TrustFlag, "--"), false, "let images signed by a trusted key keep isolators that widen their confinement (capabilities beyond the default set...)")
	addCgroupParentFlag(fs, &o.CgroupParent)
	fs.BoolVar(&o.storeOnly, "store-only", false, "deprecated: use --pull-policy=never")
	fs.BoolVar(&o.noStore, "no-store", false, "deprecated: use --pull-policy=update")
	fs.StringVar(&o.AppLogs, "app-logs", "", "where apps' output goes: auto (the journal when journald runs, else stdout), journal or stdout (default auto, or logs.d's app-logs)")
	fs.Lookup("store-only").Hidden = true
	fs.Lookup("no-store").Hidden = true
}

// Check validates the flag combination after parsing.
func (o *PrepareOptions) Check() error {
	if o.storeOnly && o.noStore {
		return fmt.Errorf("--store-only and --no-store conflict")
	}
	if o.storeOnly {
		o.PullPolicy = PullNever
	}
	if o.noStore {
		o.PullPolicy = PullUpdate
	}
	switch o.PullPolicy {
	case PullNever, PullNew, PullUpdate:
	default:
		return fmt.Errorf("invalid --pull-policy %q (want never, new or update)", o.PullPolicy)
	}
	if err := checkCgroupParent(o.CgroupParent); err != nil {
		return err
	}
	if err := checkAppLogs(o.AppLogs); err != nil {
		return err
	}
	if o.PodManifest != "" {
		if len(o.Apps.Apps) > 0 || len(o.Apps.Volumes) > 0 || len(o.Apps.Mounts) > 0 ||
			len(o.Ports) > 0 || o.InheritEnv || len(o.SetEnv) > 0 || len(o.SetEnvFile) > 0 ||
			len(o.Apps.UserAnnotations) > 0 || len(o.Apps.UserLabels) > 0 {
			return fmt.Errorf("conflicting flags set with --pod-manifest (see --help): it conflicts with images, --volume, --mount, --port and environment flags")
		}
		return nil
	}
	if len(o.Apps.Apps) == 0 {
		return fmt.Errorf("give at least one image or --pod-manifest")
	}
	return nil
}

// RuntimeOptions are the flags that shape how a pod runs, shared by run
// and run-prepared; they go to stage1 as its arguments.
type RuntimeOptions struct {
	Net          []string
	Interactive  bool
	MDSRegister  bool
	Hostname     string
	IPC          string
	DNS          []string
	DNSSearch    []string
	DNSOpt       []string
	DNSDomain    string
	HostsEntries []string
	// NetOut and NetBandwidth are --net-out and --net-bandwidth, passed
	// to stage1 as given (network.ParseOutRule, network.ParseBandwidth).
	NetOut       []string
	NetBandwidth string
	netRaw       []string
}

// AddFlags adds the runtime flags to fs.
func (o *RuntimeOptions) AddFlags(fs *pflag.FlagSet) {
	o.netRaw = []string{"default"}
	fs.Var(netFlag{&o.netRaw, new(bool)}, "net", "the pod's networking: host, none, or networks (default, default-restricted, names from net.d, all), comma-separated, each NAME[:ARG=VALUE;…]")
	fs.Lookup("net").NoOptDefVal = "default"
	fs.StringArrayVar(&o.NetOut, "net-out", nil, "CIDR[:PORTS][/PROTO] the pod may reach, repeated; without it, everywhere")
	fs.StringVar(&o.NetBandwidth, "net-bandwidth", "", "rate limit of the pod's network in bytes per second: RATE[:BURST], or ingress=RATE[:BURST],egress=RATE[:BURST]")
	fs.BoolVar(&o.Interactive, "interactive", false, "run the pod interactively (one app only)")
	fs.BoolVar(&o.MDSRegister, "mds-register", false, "register the pod with the metadata service")
	fs.StringVar(&o.Hostname, "hostname", "", `the pod's host name (default "rkt-$PODUUID")`)
	fs.StringVar(&o.IPC, "ipc", "auto", "IPC namespace: auto, private or parent")
	fs.StringArrayVar(&o.DNS, "dns", nil, "name server for the pod's /etc/resolv.conf ('host': use the host's, 'none': none)")
	fs.StringArrayVar(&o.DNSSearch, "dns-search", nil, "DNS search domain for /etc/resolv.conf")
	fs.StringArrayVar(&o.DNSOpt, "dns-opt", nil, "DNS option for /etc/resolv.conf")
	fs.StringVar(&o.DNSDomain, "dns-domain", "", "DNS domain for /etc/resolv.conf")
	fs.StringArrayVar(&o.HostsEntries, "hosts-entry", nil, "IP=HOSTNAME entries (comma-separated) for the pod's /etc/hosts ('host': use the host's)")
}

// hostnameRe is compiled on first use, not at package init, which every
// saturn command (pod starts included) would pay for.
var hostnameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$`) })

// Check validates the runtime flags. --net may be repeated, as rkt's:
// the lists are joined; a network named twice is refused. Whether the
// networks exist is for CheckNetworks.
func (o *RuntimeOptions) Check() error {
	joined := strings.Join(o.netRaw, ",")
	if strings.TrimSpace(joined) == "" {
		joined = network.Default
	}
	mode, _, err := network.ParseNetFlag(joined)
	if err != nil {
		return fmt.Errorf("invalid --net: %w", err)
	}
	o.Net = []string{mode}
	if mode == "contained" {
		o.Net = nil
		for _, n := range strings.Split(joined, ",") {
			o.Net = append(o.Net, strings.TrimSpace(n))
		}
	}
	for _, s := range o.NetOut {
		if _, err := network.ParseOutRule(s); err != nil {
			return err
		}
	}
	if o.NetBandwidth != "" {
		if _, err := network.ParseBandwidth(o.NetBandwidth); err != nil {
			return err
		}
	}
	if m := o.NetMode(); m != "default" && (len(o.NetOut) > 0 || o.NetBandwidth != "") {
		return fmt.Errorf("--net-out and --net-bandwidth need a contained network, not --net=%s", m)
	}
	switch o.IPC {
	case "auto", "private", "parent":
	default:
		return fmt.Errorf("invalid --ipc %q (want auto, private or parent)", o.IPC)
	}
	if o.Hostname != "" && !hostnameRe().MatchString(o.Hostname) {
		return fmt.Errorf("invalid --hostname %q", o.Hostname)
	}
	if o.MDSRegister && o.NetMode() == "none" {
		return fmt.Errorf("--mds-register does not work with --net=none")
	}
	if o.MDSRegister {
		// rkt fails a pod it cannot register; there is nothing to
		// register with yet.
		return fmt.Errorf("--mds-register: saturn has no metadata service yet")
	}
	for _, d := range o.DNS {
		if d != "host" && d != "none" && net.ParseIP(d) == nil {
			return fmt.Errorf("invalid --dns %q: want an IP address, host or none", d)
		}
	}
	if (contains(o.DNS, "host") || contains(o.DNS, "none")) && len(o.DNS) > 1 {
		return fmt.Errorf("--dns=host and --dns=none cannot be combined with other --dns values")
	}
	if err := checkNoControl(o); err != nil {
		return err
	}
	// rkt's --hosts-entry takes comma-separated lists: IP=HOST,IP=HOST.
	var entries []string
	for _, h := range o.HostsEntries {
		entries = append(entries, strings.Split(h, ",")...)
	}
	o.HostsEntries = entries
	for _, h := range o.HostsEntries {
		if h == "host" {
			if len(o.HostsEntries) > 1 {
				return fmt.Errorf("--hosts-entry=host cannot be combined with other entries")
			}
			continue
		}
		ip, name, ok := strings.Cut(h, "=")
		if !ok || net.ParseIP(ip) == nil || name == "" {
			return fmt.Errorf("invalid --hosts-entry %q: want IP=HOSTNAME", h)
		}
	}
	return nil
}

// checkNoControl refuses control characters in the values stage0 writes
// into the pod's resolv.conf and hosts, one line each: a newline would
// add lines of the caller's choosing (another nameserver, a host name
// pointing elsewhere).
func checkNoControl(o *RuntimeOptions) error {
	vals := []struct {
		flag string
		vs   []string
	}{{"--dns-search", o.DNSSearch}, {"--dns-opt", o.DNSOpt}, {"--dns-domain", []string{o.DNSDomain}}, {"--hosts-entry", o.HostsEntries}}
	for _, f := range vals {
		for _, v := range f.vs {
			if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
				return fmt.Errorf("invalid %s %q: control character %q", f.flag, v, v[i])
			}
		}
	}
	return nil
}

// CheckStage1 refuses a network mode that the stage1 image manifest im
// declares it does not support, so that a pod it would refuse is neither
// made nor started. A stage1 without the annotation, as rkt's, is given
// every mode and decides itself.
func (o *RuntimeOptions) CheckStage1(im *schema.ImageManifest) error {
	v, ok := im.Annotations.Get(stage1abi.AnnNetModes)
	if !ok {
		return nil
	}
	mode := o.NetMode()
	var modes []string
	for _, m := range strings.Split(v, ",") {
		if m = strings.TrimSpace(m); m == mode {
			return nil
		} else if m != "" {
			modes = append(modes, "--net="+m)
		}
	}
	what := "--net=" + mode
	if mode == "default" {
		what += " (the default when --net is not given)"
	}
	return fmt.Errorf("stage1 %s does not support %s; it supports %s", im.Name, what, strings.Join(modes, ", "))
}

// CheckNetworks refuses, before a pod exists, contained networks that
// are not defined in the net.d directories of the configuration
// directories or whose plugins are missing, as stage1-nspawn would.
func (o *RuntimeOptions) CheckNetworks(localConfig, systemConfig string, ports bool) error {
	mode, reqs, err := network.ParseNetFlag(strings.Join(o.Net, ","))
	if err != nil || mode != "contained" {
		return err
	}
	cat, err := cni.LoadCatalog(cni.ConfDirs(localConfig, systemConfig))
	if err != nil {
		return err
	}
	atts, err := cat.Resolve(reqs)
	if err != nil {
		return err
	}
	var opts cni.Options
	if ports {
		opts.Ports = []network.PortMapping{{}}
	}
	if o.NetBandwidth != "" {
		opts.Bandwidth = &network.Bandwidth{}
	}
	p := cni.Pod{PluginDirs: cni.PluginDirs(systemConfig)}
	return p.Prepare(atts, opts)
}

// NetMode is "host", "none" or "default" (contained networking).
func (o *RuntimeOptions) NetMode() string {
	if len(o.Net) == 1 && (o.Net[0] == "host" || o.Net[0] == "none") {
		return o.Net[0]
	}
	return "default"
}

// DNSConfMode is stage1's --dns-conf-mode: where resolv.conf and hosts
// come from (host, stage0, none or default).
func (o *RuntimeOptions) DNSConfMode() (resolv, hosts string) {
	resolv, hosts = "default", "default"
	switch {
	case contains(o.DNS, "host"):
		resolv = "host"
	case contains(o.DNS, "none"):
		resolv = "none"
	case len(o.DNS) > 0 || len(o.DNSSearch) > 0 || len(o.DNSOpt) > 0 || o.DNSDomain != "":
		resolv = "stage0"
	}
	switch {
	case contains(o.HostsEntries, "host"):
		hosts = "host"
	case len(o.HostsEntries) > 0:
		hosts = "stage0"
	}
	return resolv, hosts
}

// ResolvConf is the resolv.conf stage0 writes when DNSConfMode says so.
func (o *RuntimeOptions) ResolvConf() string {
	d := network.DNS{Nameservers: o.DNS, Domain: o.DNSDomain, Search: o.DNSSearch, Options: o.DNSOpt}
	return d.ResolvConf("# Generated by saturn run\n")
}

// Hosts is the /etc/hosts stage0 writes for --hosts-entry: localhost and
// the pod's hostname, then the entries, the names of one address on one
// line in the order given.
func (o *RuntimeOptions) Hosts(hostname string) string {
	names := map[string][]string{
		"127.0.0.1": {"localhost", "localhost.localdomain", hostname},
		"::1":       {"localhost", "ip6-localhost", "ip6-loopback"},
	}
	order := []string{"127.0.0.1", "::1"}
	for _, h := range o.HostsEntries {
		ip, name, _ := strings.Cut(h, "=")
		if p := net.ParseIP(ip); p != nil {
			ip = p.String()
		}
		if _, seen := names[ip]; !seen {
			order = append(order, ip)
		}
		if !contains(names[ip], name) {
			names[ip] = append(names[ip], name)
		}
	}
	var b strings.Builder
	b.WriteString("# Generated by saturn run\n")
	for _, ip := range order {
		fmt.Fprintf(&b, "%s %s\n", ip, strings.Join(names[ip], " "))
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// netFlag is --net: as in rkt, the network lists of several --net flags
// are joined, and a network named twice is refused. host and none
// replace whatever came before them, and a list after them replaces
// them, so that a default a script or unit puts first can be overridden.
type netFlag struct {
	vals *[]string
	set  *bool // a --net was given: the default is gone
}

func (f netFlag) Set(s string) error {
	mode := func(v string) bool { v = strings.TrimSpace(v); return v == "host" || v == "none" }
	cur := *f.vals
	if !*f.set || mode(s) || (len(cur) == 1 && mode(cur[0])) {
		*f.vals = []string{s}
	} else {
		*f.vals = append(cur, s)
	}
	*f.set = true
	return nil
}

func (f netFlag) String() string { return strings.Join(*f.vals, ",") }
func (f netFlag) Type() string   { return "string" }

type portsFlag struct{ ports *[]types.ExposedPort }

// Set parses NAME:[HOSTIP:]HOSTPORT.
func (f portsFlag) Set(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("invalid --port %q: want NAME:[HOSTIP:]HOSTPORT", s)
	}
	name, err := types.SanitizeACName(parts[0])
	if err != nil || name != parts[0] {
		return fmt.Errorf("invalid --port %q: bad port name %q", s, parts[0])
	}
	var ip net.IP
	if len(parts) == 3 {
		if ip = net.ParseIP(parts[1]); ip == nil {
			return fmt.Errorf("invalid --port %q: bad host IP %q", s, parts[1])
		}
	}
	hp, err := strconv.ParseUint(parts[len(parts)-1], 10, 16)
	if err != nil || hp == 0 {
		return fmt.Errorf("invalid --port %q: bad host port %q", s, parts[len(parts)-1])
	}
	for _, p := range *f.ports {
		if p.Name.String() == name {
			return fmt.Errorf("--port %q: port %s exposed twice", s, name)
		}
	}
	*f.ports = append(*f.ports, types.ExposedPort{Name: *types.MustACName(name), HostPort: uint(hp), HostIP: ip})
	return nil
}

func (f portsFlag) String() string { return "" }
func (f portsFlag) Type() string   { return "string" }

type envFlag struct{ env *types.Environment }

func (f envFlag) Set(s string) error {
	k, v, err := splitKV("set-env", s)
	if err != nil {
		return err
	}
	f.env.Set(k, v)
	return nil
}

func (f envFlag) String() string { return "" }
func (f envFlag) Type() string   { return "string" }

type envFileFlag struct{ env *types.Environment }

// Set reads an environment file: NAME=VALUE lines, with empty lines and
// lines starting with # or ; ignored.
func (f envFileFlag) Set(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--set-env-file: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set-env-file %s:%d: want NAME=VALUE, got %q", path, n, line)
		}
		f.env.Set(k, v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("--set-env-file %s: %w", path, err)
	}
	return nil
}

func (f envFileFlag) String() string { return "" }
func (f envFileFlag) Type() string   { return "string" }
