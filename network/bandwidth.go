package network

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseQuantity reads a size or rate the way appc's isolators write
// them (Kubernetes quantities): a whole number with an optional decimal
// (k, M, G, T) or binary (Ki, Mi, Gi, Ti) suffix.
func ParseQuantity(s string) (uint64, error) {
	num, mult := s, uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a positive quantity such as 500k, 10M or 1Gi", s)
	}
	if n > math.MaxUint64/8/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// minBurst is the smallest burst saturn gives a limit: the kernel's
// token bucket needs at least a packet's worth, and a few make TCP run
// near the rate instead of stalling.
const minBurst = 64 << 10

// ParseBandwidth reads --net-bandwidth: RATE[:BURST] limits both
// directions, ingress=RATE[:BURST] and egress=RATE[:BURST],
// comma-separated, one each. Rates are bytes per second, bursts bytes,
// as quantities (ParseQuantity); a burst defaults to a tenth of a
// second at the rate, at least 64 KiB.
func ParseBandwidth(s string) (*Bandwidth, error) {
	bw := &Bandwidth{}
	for _, part := range strings.Split(s, ",") {
		dir, spec, hasDir := strings.Cut(part, "=")
		if !hasDir {
			dir, spec = "both", part
		}
		rateS, burstS, hasBurst := strings.Cut(spec, ":")
		rate, err := ParseQuantity(rateS)
		if err != nil {
			return nil, fmt.Errorf("invalid --net-bandwidth %q: rate %w", s, err)
		}
		burst := max(rate/10, minBurst)
		if hasBurst {
			if burst, err = ParseQuantity(burstS); err != nil {
				return nil, fmt.Errorf("invalid --net-bandwidth %q: burst %w", s, err)
			}
		}
		set := func(r, b *uint64) error {
			if *r != 0 {
				return fmt.Errorf("invalid --net-bandwidth %q: a direction given twice", s)
			}
			*r, *b = rate*8, burst*8
			return nil
		}
		switch dir {
		case "ingress":
			err = set(&bw.IngressRate, &bw.IngressBurst)
		case "egress":
			err = set(&bw.EgressRate, &bw.EgressBurst)
		case "both":
			if err = set(&bw.IngressRate, &bw.IngressBurst); err == nil {
				err = set(&bw.EgressRate, &bw.EgressBurst)
			}
		default:
			err = fmt.Errorf("invalid --net-bandwidth %q: %q is neither ingress nor egress", s, dir)
		}
		if err != nil {
			return nil, err
		}
	}
	return bw, nil
}

// Narrow returns the tighter of b and o in each direction (either may be
// nil).
func (b *Bandwidth) Narrow(o *Bandwidth) *Bandwidth {
	if b == nil {
		return o
	}
	if o == nil {
		return b
	}
	out := *b
	pick := func(r, br *uint64, or, obr uint64) {
		if or != 0 && (*r == 0 || or < *r) {
			*r, *br = or, obr
		}
	}
	pick(&out.IngressRate, &out.IngressBurst, o.IngressRate, o.IngressBurst)
	pick(&out.EgressRate, &out.EgressBurst, o.EgressRate, o.EgressBurst)
	return &out
}
