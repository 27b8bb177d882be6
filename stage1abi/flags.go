package stage1abi

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// parse parses args with fs, skipping the flags fs does not define: a
// stage1 must accept the flags of a newer stage0 that it does not use.
// stage0 passes every flag value as --name=value, so a flag can be
// skipped without knowing whether it takes a value; "--" ends the flags.
func parse(fs *pflag.FlagSet, args []string) error {
	kept := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			kept = append(kept, args[i:]...)
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && a != "-" && fs.Lookup(name) == nil {
			continue
		}
		kept = append(kept, a)
	}
	return fs.Parse(kept)
}

// uuidArg returns the one argument left after the flags, a pod UUID, in
// its canonical form.
func uuidArg(fs *pflag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("expected one pod UUID argument, got %d", fs.NArg())
	}
	u, err := ParseUUID(fs.Arg(0))
	if err != nil {
		return "", fmt.Errorf("bad pod UUID %q: %w", fs.Arg(0), err)
	}
	return u, nil
}

// ParseUUID returns the pod UUID s (dashes optional) in its canonical
// form, 8-4-4-4-12 lowercase hex digits.
func ParseUUID(s string) (string, error) {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return "", errors.New("not 32 hex digits")
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", errors.New("not 32 hex digits")
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// RunFlags are the run entrypoint's arguments. stage0 renders them with
// Args for the stage1's interface version; every stage1 parses them with
// ParseRunFlags.
type RunFlags struct {
	Debug bool
	// Net is "host", "none", "default" or a comma-separated list of
	// networks, each NAME[:K=V;K2=V2] with CNI_ARGS, as rkt's.
	Net         string
	Interactive bool
	// LocalConfig and SystemConfig are absolute: stage1 runs in the pod
	// directory.
	LocalConfig string
	// Hostname is "" for the stage1's default (rkt-<uuid>).
	Hostname    string
	DNSConfMode DNSConfMode
	// IPC is auto, private or parent.
	IPC string
	// The --insecure-options that reach stage1.
	DisableCapabilities bool
	DisablePaths        bool
	DisableSeccomp      bool
	MDSToken            string
	PrivateUsers        string
	SystemConfig        string
	// NetOut are CIDR[:PORTS][/PROTO] the pod may reach (all without).
	NetOut []string
	// NetBandwidth is RATE[:BURST] or ingress=…,egress=….
	NetBandwidth string
	UUID         string
}

// DNSConfMode is --dns-conf-mode: where the pod's resolv.conf and hosts
// come from. resolv is host, stage0, none or default; hosts is host,
// stage0 or default.
type DNSConfMode struct{ Resolv, Hosts string }

// Args renders f as the arguments (without argv[0]) of the run
// entrypoint of a stage1 of interface version version: flags the version
// does not know are left out (docs/stage1-abi.md).
func (f *RunFlags) Args(version int) []string {
	var args []string
	flag := func(on bool, name string) {
		if on {
			args = append(args, "--"+name)
		}
	}
	value := func(on bool, name, v string) {
		if on {
			args = append(args, "--"+name+"="+v)
		}
	}
	flag(f.Debug, "debug")
	value(true, "net", f.Net)
	flag(f.Interactive, "interactive")
	value(true, "local-config", f.LocalConfig)
	value(version >= VersionHostname && f.Hostname != "", "hostname", f.Hostname)
	flag(version >= VersionDisable && f.DisableCapabilities, "disable-capabilities-restriction")
	flag(version >= VersionDisable && f.DisablePaths, "disable-paths")
	flag(version >= VersionDisable && f.DisableSeccomp, "disable-seccomp")
	value(version >= VersionDNSConfMode, "dns-conf-mode", f.DNSConfMode.String())
	value(f.IPC != "" && f.IPC != "auto", "ipc", f.IPC)
	value(f.MDSToken != "", "mds-token", f.MDSToken)
	value(f.PrivateUsers != "", "private-users", f.PrivateUsers)
	value(version >= VersionNetArgs, "system-config", f.SystemConfig)
	for _, r := range f.NetOut {
		value(version >= VersionNetArgs, "net-out", r)
	}
	value(version >= VersionNetArgs && f.NetBandwidth != "", "net-bandwidth", f.NetBandwidth)
	return append(args, f.UUID)
}

// ParseRunFlags parses the run entrypoint's arguments, checking what
// every stage1 would check: the UUID, --dns-conf-mode and --ipc. Flags
// a stage1 cannot honour are the stage1's to refuse.
func ParseRunFlags(args []string) (*RunFlags, error) {
	f := &RunFlags{}
	var dns string
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.BoolVar(&f.Debug, "debug", false, "print debug output")
	fs.StringVar(&f.Net, "net", "default", "host, none or a list of networks")
	fs.BoolVar(&f.Interactive, "interactive", false, "give the single app a terminal")
	fs.StringVar(&f.LocalConfig, "local-config", "", "local configuration directory")
	fs.StringVar(&f.Hostname, "hostname", "", "pod hostname (default rkt-<uuid>)")
	fs.StringVar(&dns, "dns-conf-mode", "", "resolv=MODE,hosts=MODE")
	fs.StringVar(&f.IPC, "ipc", "auto", "auto, private or parent")
	fs.BoolVar(&f.DisableCapabilities, "disable-capabilities-restriction", false, "give apps every capability")
	fs.BoolVar(&f.DisablePaths, "disable-paths", false, "leave /proc's kernel knobs writable and nothing masked")
	fs.BoolVar(&f.DisableSeccomp, "disable-seccomp", false, "install no seccomp filter")
	fs.StringVar(&f.MDSToken, "mds-token", "", "metadata service token")
	fs.StringVar(&f.PrivateUsers, "private-users", "", "user namespace shift")
	fs.StringVar(&f.SystemConfig, "system-config", "", "system configuration directory")
	fs.StringArrayVar(&f.NetOut, "net-out", nil, "CIDR[:PORTS][/PROTO] the pod may reach; repeated")
	fs.StringVar(&f.NetBandwidth, "net-bandwidth", "", "rate limit of the pod's first network")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	if f.UUID, err = uuidArg(fs); err != nil {
		return nil, err
	}
	if f.DNSConfMode, err = ParseDNSConfMode(dns); err != nil {
		return nil, err
	}
	switch f.IPC {
	case "auto", "private", "parent":
	default:
		return nil, fmt.Errorf("--ipc=%s: want auto, private or parent", f.IPC)
	}
	return f, nil
}

// dnsModes are the modes each key of --dns-conf-mode takes.
var dnsModes = map[string][]string{
	"resolv": {"host", "stage0", "none", "default"},
	"hosts":  {"host", "stage0", "default"},
}

// ParseDNSConfMode reads "resolv=MODE,hosts=MODE"; a missing key means
// "default".
func ParseDNSConfMode(v string) (DNSConfMode, error) {
	m := DNSConfMode{Resolv: "default", Hosts: "default"}
	if v == "" {
		return m, nil
	}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return m, fmt.Errorf("--dns-conf-mode: %q is not KEY=MODE", kv)
		}
		modes, known := dnsModes[k]
		if !known {
			return m, fmt.Errorf("--dns-conf-mode: unknown key %q (want resolv or hosts)", k)
		}
		good := false
		for _, mode := range modes {
			good = good || mode == val
		}
		if !good {
			return m, fmt.Errorf("--dns-conf-mode: %s=%s: want one of %s", k, val, strings.Join(modes, ", "))
		}
		if k == "resolv" {
			m.Resolv = val
		} else {
			m.Hosts = val
		}
	}
	return m, nil
}

// String renders m as --dns-conf-mode takes it, "default" for a mode
// not set.
func (m DNSConfMode) String() string {
	return "resolv=" + cmp.Or(m.Resolv, "default") + ",hosts=" + cmp.Or(m.Hosts, "default")
}
