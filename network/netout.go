package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// OutRule is one destination a pod with an egress allow-list may reach
// (--net-out=CIDR[:PORTS][/PROTO], Garden's NetOut): a network, and
// optionally ports (a list of ports and ranges) of one protocol.
type OutRule struct {
	Net      *net.IPNet
	Ports    string // iptables multiport form: "80,443,8000:8100"; "" all
	Protocol string // tcp, udp, icmp or "" for every protocol
}

// String gives the rule back in the flag's syntax.
func (r OutRule) String() string {
	s := r.Net.String()
	if r.Ports != "" {
		if r.Net.IP.To4() == nil {
			s = "[" + s + "]"
		}
		s += ":" + strings.ReplaceAll(r.Ports, ":", "-")
	}
	if r.Protocol != "" {
		s += "/" + r.Protocol
	}
	return s
}

// ParseOutRule reads CIDR[:PORTS][/PROTO]: an address or network
// (IPv6 in brackets when ports follow), ports as 80, 80,443 or
// 8000-8100, and tcp, udp or icmp. Ports need tcp or udp, which is the
// default when ports are given.
func ParseOutRule(s string) (OutRule, error) {
	bad := func(why string) (OutRule, error) {
		return OutRule{}, fmt.Errorf("invalid --net-out %q: %s (want CIDR[:PORTS][/PROTO])", s, why)
	}
	rest := s
	var r OutRule
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		switch p := rest[i+1:]; p {
		case "tcp", "udp", "icmp", "all":
			if p != "all" {
				r.Protocol = p
			}
			rest = rest[:i]
		}
	}
	cidr := rest
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad("unclosed [")
		}
		cidr = rest[1:end]
		rest = rest[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return bad("junk after ]")
		}
		rest = strings.TrimPrefix(rest, ":")
		r.Ports = rest
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 && strings.Count(rest, ":") == 1 {
		cidr, r.Ports = rest[:i], rest[i+1:]
		if r.Ports == "" {
			return bad("empty port list")
		}
	}
	if !strings.Contains(cidr, "/") {
		ip := net.ParseIP(cidr)
		if ip == nil {
			return bad("not an address or CIDR")
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		cidr += "/" + strconv.Itoa(bits)
	}
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return bad("not an address or CIDR")
	}
	r.Net = n
	if r.Ports != "" {
		var parts []string
		for _, p := range strings.Split(r.Ports, ",") {
			lo, hi, isRange := strings.Cut(p, "-")
			a, err1 := strconv.ParseUint(lo, 10, 16)
			b, err2 := a, error(nil)
			if isRange {
				b, err2 = strconv.ParseUint(hi, 10, 16)
			}
			if err1 != nil || err2 != nil || a == 0 || b < a {
				return bad("bad port " + strconv.Quote(p))
			}
			if isRange {
				parts = append(parts, lo+":"+hi)
			} else {
				parts = append(parts, lo)
			}
		}
		if len(parts) > 15 {
			return bad("more than 15 ports")
		}
		r.Ports = strings.Join(parts, ",")
		switch r.Protocol {
		case "":
			r.Protocol = "tcp"
		case "icmp":
			return bad("icmp has no ports")
		}
	}
	return r, nil
}

// egressFile records the rules restrictEgress added.
const egressFile = "egress.json"

type egressRecord struct {
	Chain string      `json:"chain"`
	Jumps []egressJmp `json:"jumps"`
}

type egressJmp struct {
	IPv6  bool     `json:"ipv6,omitempty"`
	Chain string   `json:"chain"`
	Spec  []string `json:"spec"`
}

// egressChain names the pod's filter chain: iptables allows 28
// characters, the container id's first 16 are unique enough among
// one host's pods.
func (p *Pod) egressChain() string {
	id := strings.ReplaceAll(p.ContainerID, "-", "")
	if len(id) > 16 {
		id = id[:16]
	}
	return "SATURN-OUT-" + id
}

// restrictEgress lets traffic from the pod's addresses out (forwarded,
// or to the host itself) only to the rules' destinations and as replies
// to connections made to the pod: a filter chain of the pod's own,
// jumped to first from FORWARD and INPUT, ending in REJECT so a
// refused connection fails at once. The rules go through
// github.com/coreos/go-iptables, which runs the host's iptables (and
// its lock) as the CNI plugins do, so saturn's rules and theirs are
// made the same way.
func (p *Pod) restrictEgress(podIPs []net.IP, rules []OutRule) error {
	rec := egressRecord{Chain: p.egressChain()}
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
		for _, ip := range ips {
			for _, c := range []string{"FORWARD", "INPUT"} {
				rec.Jumps = append(rec.Jumps, egressJmp{IPv6: v6, Chain: c, Spec: []string{"-s", ip.String(), "-j", rec.Chain}})
			}
		}
		// Recorded before the first change, so teardown finds it.
		if err := writeJSON(filepath.Join(p.recordDir(), egressFile), rec); err != nil {
			return err
		}
		if err := ipt.NewChain("filter", rec.Chain); err != nil {
			return fmt.Errorf("egress rules: %w", err)
		}
		specs := [][]string{{"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"}}
		for _, r := range rules {
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
			if err := ipt.Append("filter", rec.Chain, spec...); err != nil {
				return fmt.Errorf("egress rules: %w", err)
			}
		}
		for _, j := range rec.Jumps {
			if j.IPv6 != v6 {
				continue
			}
			if err := ipt.Insert("filter", j.Chain, 1, j.Spec...); err != nil {
				return fmt.Errorf("egress rules: %w", err)
			}
		}
	}
	return nil
}

// removeEgressRules removes what restrictEgress recorded; nothing
// recorded is nothing to do.
func (p *Pod) removeEgressRules() error {
	path := filepath.Join(p.recordDir(), egressFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec egressRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("egress record: %w", err)
	}
	for _, v6 := range []bool{false, true} {
		var jumps []egressJmp
		for _, j := range rec.Jumps {
			if j.IPv6 == v6 {
				jumps = append(jumps, j)
			}
		}
		if len(jumps) == 0 {
			continue
		}
		ipt, err := newIPTables(v6)
		if err != nil {
			return err
		}
		for _, j := range jumps {
			if err := ipt.DeleteIfExists("filter", j.Chain, j.Spec...); err != nil {
				return fmt.Errorf("remove egress rules: %w", err)
			}
		}
		if ok, err := ipt.ChainExists("filter", rec.Chain); err != nil {
			return fmt.Errorf("remove egress rules: %w", err)
		} else if ok {
			if err := ipt.ClearAndDeleteChain("filter", rec.Chain); err != nil {
				return fmt.Errorf("remove egress rules: %w", err)
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
		return nil, fmt.Errorf("egress rules: %w", err)
	}
	return ipt, nil
}
