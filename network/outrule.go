package network

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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
