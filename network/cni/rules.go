package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/saturn-pods/saturn/network"
)

// hostRulesFile records the iptables rules and chains saturn itself
// (not a plugin) added to the host for the pod, written before each
// change so that teardown finds everything.
const hostRulesFile = "host-rules.json"

type hostRules struct {
	Chains []hostChain `json:"chains,omitempty"`
	Rules  []hostRule  `json:"rules,omitempty"`
}

// hostChain is a filter chain of the pod's own.
type hostChain struct {
	IPv6 bool   `json:"ipv6,omitempty"`
	Name string `json:"name"`
}

// hostRule is a rule of the filter table's built-in chain Chain.
type hostRule struct {
	IPv6  bool     `json:"ipv6,omitempty"`
	Chain string   `json:"chain"`
	Spec  []string `json:"spec"`
}

func (p *Pod) saveHostRules(r *hostRules) error {
	return writeJSON(filepath.Join(p.recordDir(), hostRulesFile), r)
}

// podChain names a filter chain of the pod's: iptables allows 28
// characters, and the container id's first 16 hex digits are unique
// enough among one host's pods.
func (p *Pod) podChain(prefix string) string {
	id := strings.ReplaceAll(p.ContainerID, "-", "")
	if len(id) > 16 {
		id = id[:16]
	}
	return prefix + id
}

// hostRuleComment marks saturn's rules in iptables-save.
func (p *Pod) hostRuleComment() []string {
	return []string{"-m", "comment", "--comment", "saturn pod " + p.ContainerID}
}

// acceptForwardedPorts lets connections forwarded to the pod's host
// ports through a FORWARD chain whose policy is DROP: the portmap plugin
// DNATs them, and the firewall plugin accepts only the pod's own
// connections and their replies. Only DNAT'ed connections to the pod's
// addresses are accepted, nothing else of the host's policy changes.
func (p *Pod) acceptForwardedPorts(rules *hostRules, podIPs []net.IP) error {
	for _, ip := range podIPs {
		v6 := ip.To4() == nil
		r := hostRule{IPv6: v6, Chain: "FORWARD", Spec: append([]string{"-d", ip.String(), "-m", "conntrack", "--ctstate", "DNAT"}, append(p.hostRuleComment(), "-j", "ACCEPT")...)}
		if err := p.insertRule(rules, r); err != nil {
			return fmt.Errorf("port forwarding rules: %w", err)
		}
	}
	return nil
}

// insertRule records r, then puts it first in its chain.
func (p *Pod) insertRule(rules *hostRules, r hostRule) error {
	rules.Rules = append(rules.Rules, r)
	if err := p.saveHostRules(rules); err != nil {
		return err
	}
	ipt, err := newIPTables(r.IPv6)
	if err != nil {
		return err
	}
	return ipt.Insert("filter", r.Chain, 1, r.Spec...)
}

// restrictEgress lets traffic from the pod's addresses out (forwarded,
// or to the host itself) only to the rules' destinations and as replies
// to connections made to the pod: a filter chain of the pod's own,
// jumped to first from FORWARD and INPUT, ending in REJECT so a
// refused connection fails at once. The rules go through
// github.com/coreos/go-iptables, which runs the host's iptables (and
// its lock) as the CNI plugins do, so saturn's rules and theirs are
// made the same way.
func (p *Pod) restrictEgress(rules *hostRules, podIPs []net.IP, out []network.OutRule) error {
	chain := p.podChain("SATURN-OUT-")
	for _, v6 := range []bool{false, true} {
		var ips []net.IP
		for _, ip := range podIPs {
			if (ip.To4() == nil) == v6 {
				ips = append(ips, ip)
			}
		}
		if len(ips) == 0 {
			continue
		}
		ipt, err := newIPTables(v6)
		if err != nil {
			return err
		}
		rules.Chains = append(rules.Chains, hostChain{IPv6: v6, Name: chain})
		if err := p.saveHostRules(rules); err != nil {
			return err
		}
		if err := ipt.NewChain("filter", chain); err != nil {
			return fmt.Errorf("egress rules: %w", err)
		}
		specs := [][]string{{"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"}}
		for _, r := range out {
			if (r.Net.IP.To4() == nil) != v6 {
				continue
			}
			spec := []string{"-d", r.Net.String()}
			if r.Protocol != "" {
				spec = append(spec, "-p", r.Protocol)
			}
			if r.Ports != "" {
				spec = append(spec, "-m", "multiport", "--dports", r.Ports)
			}
			specs = append(specs, append(spec, "-j", "RETURN"))
		}
		specs = append(specs, []string{"-j", "REJECT"})
		for _, spec := range specs {
			if err := ipt.Append("filter", chain, spec...); err != nil {
				return fmt.Errorf("egress rules: %w", err)
			}
		}
		for _, ip := range ips {
			for _, c := range []string{"FORWARD", "INPUT"} {
				r := hostRule{IPv6: v6, Chain: c, Spec: append([]string{"-s", ip.String()}, append(p.hostRuleComment(), "-j", chain)...)}
				if err := p.insertRule(rules, r); err != nil {
					return fmt.Errorf("egress rules: %w", err)
				}
			}
		}
	}
	return nil
}

// removeHostRules removes what the host rules record names, rules first,
// then chains; nothing recorded is nothing to do.
func (p *Pod) removeHostRules() error {
	path := filepath.Join(p.recordDir(), hostRulesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec hostRules
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("host rules record: %w", err)
	}
	for i := len(rec.Rules) - 1; i >= 0; i-- {
		r := rec.Rules[i]
		ipt, err := newIPTables(r.IPv6)
		if err != nil {
			return err
		}
		if err := ipt.DeleteIfExists("filter", r.Chain, r.Spec...); err != nil {
			return fmt.Errorf("remove host rules: %w", err)
		}
	}
	for _, c := range rec.Chains {
		ipt, err := newIPTables(c.IPv6)
		if err != nil {
			return err
		}
		if ok, err := ipt.ChainExists("filter", c.Name); err != nil {
			return fmt.Errorf("remove host rules: %w", err)
		} else if ok {
			if err := ipt.ClearAndDeleteChain("filter", c.Name); err != nil {
				return fmt.Errorf("remove host rules: %w", err)
			}
		}
	}
	return os.Remove(path)
}

func newIPTables(v6 bool) (*iptables.IPTables, error) {
	proto := iptables.ProtocolIPv4
	if v6 {
		proto = iptables.ProtocolIPv6
	}
	ipt, err := iptables.NewWithProtocol(proto)
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	return ipt, nil
}
