// Package network is what every part of saturn needs to know about pod
// networks without running them: the --net syntax, the egress and
// bandwidth flags, the pod directory's network files and the pod's
// network namespace. Package network/cni runs the CNI plugins; it is
// kept apart so that stage1-nspawn's processes, whose start-up cost
// counts, do not link libcni: the run entrypoint and the gc entrypoint
// hand that work to a helper binary.
package network

import (
	"fmt"
	"strings"
)

// Names of the built-in networks, as rkt's.
const (
	Default           = "default"
	DefaultRestricted = "default-restricted"
)

// Request is one network asked for on the command line, with its
// CNI_ARGS (rkt's --net=NAME:K=V;K2=V2).
type Request struct {
	Name string
	Args [][2]string
}

// ParseNetFlag reads stage1's --net value: "host", "none", or a
// comma-separated list of networks, each optionally with arguments.
// A network given twice is refused (rkt: a network can be joined once).
func ParseNetFlag(v string) (mode string, reqs []Request, err error) {
	switch v {
	case "host", "none":
		return v, nil, nil
	case "":
		v = Default
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		name, args, hasArgs := strings.Cut(strings.TrimSpace(item), ":")
		if name == "" {
			return "", nil, fmt.Errorf("--net=%s: empty network name", v)
		}
		if name == "host" || name == "none" {
			return "", nil, fmt.Errorf("--net=%s: %s cannot be combined with other networks", v, name)
		}
		if seen[name] {
			return "", nil, fmt.Errorf("--net=%s: network %s given twice", v, name)
		}
		seen[name] = true
		r := Request{Name: name}
		if hasArgs {
			if name == "all" {
				return "", nil, fmt.Errorf("--net=%s: all takes no arguments", v)
			}
			for _, kv := range strings.Split(args, ";") {
				k, val, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return "", nil, fmt.Errorf("--net=%s: network %s: argument %q is not KEY=VALUE", v, name, kv)
				}
				r.Args = append(r.Args, [2]string{k, val})
			}
		}
		reqs = append(reqs, r)
	}
	return "contained", reqs, nil
}

// PortMapping is one --port, for the portmap plugin's portMappings
// capability.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Bandwidth is a rate limit for the bandwidth plugin: rates in bits per
// second, bursts in bits; zero leaves that direction alone. Ingress is
// traffic to the pod, egress traffic from it.
type Bandwidth struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

// DNS is resolver configuration a plugin returned.
type DNS struct {
	Nameservers []string
	Domain      string
	Search      []string
	Options     []string
}

// ResolvConf renders d as a resolv.conf, after the comment line header.
func (d *DNS) ResolvConf(header string) string {
	var b strings.Builder
	b.WriteString(header)
	for _, s := range d.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if d.Domain != "" {
		fmt.Fprintf(&b, "domain %s\n", d.Domain)
	}
	if len(d.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Search, " "))
	}
	if len(d.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(d.Options, " "))
	}
	return b.String()
}

// HelperRequest is what stage1-nspawn's run and gc entrypoints ask of its
// network helper (stage1-nspawn/nethelper), JSON on the helper's stdin:
// to set up the pod's networks (--net, the configuration directories,
// what the first network gets) or to tear down what the pod directory
// records.
type HelperRequest struct {
	PodDir       string        `json:"podDir"`
	ContainerID  string        `json:"containerID"`
	Net          string        `json:"net,omitempty"`
	LocalConfig  string        `json:"localConfig,omitempty"`
	SystemConfig string        `json:"systemConfig,omitempty"`
	Ports        []PortMapping `json:"ports,omitempty"`
	Bandwidth    *Bandwidth    `json:"bandwidth,omitempty"`
	NetOut       []string      `json:"netOut,omitempty"`
}

// HelperReply is the helper's answer to a setup, JSON on its stdout.
type HelperReply struct {
	DNS *DNS `json:"dns,omitempty"`
}
