package network

import (
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
