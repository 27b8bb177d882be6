package cgroup

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultCPUPeriod is the CFS period, in microseconds, a CPU limit is
// measured over (the kernel's default, and systemd's).
const DefaultCPUPeriod = 100000

// minCPUQuota is the smallest quota the kernel takes (1 ms).
const minCPUQuota = 1000

// CPUQuotaOf is the CPU quota, in microseconds per DefaultCPUPeriod, of
// a limit in thousandths of a CPU: 250 (appc's "250m", a quarter of a
// CPU) is 25 ms of every 100 ms. A limit below what the kernel can
// enforce (10m) is refused rather than rounded up.
func CPUQuotaOf(milliCPU int64) (int64, error) {
	if milliCPU <= 0 {
		return 0, fmt.Errorf("cpu limit %dm: must be positive", milliCPU)
	}
	if milliCPU > math.MaxInt64/DefaultCPUPeriod {
		return 0, fmt.Errorf("cpu limit %dm is too large", milliCPU)
	}
	q := milliCPU * DefaultCPUPeriod / 1000
	if q < minCPUQuota {
		return 0, fmt.Errorf("cpu limit %dm is below the 10m the kernel can enforce", milliCPU)
	}
	return q, nil
}

// Bounds of cgroup v1 cpu.shares and v2 cpu.weight.
const (
	MinShares = 2
	MaxShares = 262144
	minWeight = 1
	maxWeight = 10000
)

// SharesToWeight converts cgroup v1 cpu.shares (2…262144, default 1024)
// to cgroup v2 cpu.weight (1…10000, default 100). It is the conversion
// crun documents and runc uses since 1.3.2: a quadratic in the
// logarithm, so that both ranges' ends and defaults meet (2 → 1, 1024 →
// 100, 262144 → 10000), where the older linear formula (weight =
// 1 + (shares-2)*9999/262142) gave 1024 shares a weight of 39, less
// than half of a cgroup left at the default.
func SharesToWeight(shares uint64) uint64 {
	if shares <= MinShares {
		return minWeight
	}
	if shares >= MaxShares {
		return maxWeight
	}
	l := math.Log2(float64(shares))
	exp := (l*l+125*l)/612 - 7.0/34
	// The epsilon keeps exact points (1024 → 10^2.0) from rounding up
	// on a last-bit error of the float arithmetic.
	w := uint64(math.Ceil(math.Pow(10, exp) - 1e-9))
	return min(max(w, minWeight), maxWeight)
}

// Quantity suffixes of appc's resource isolators (Kubernetes resource
// quantities): binary and decimal multiples, and milli.
var (
	binarySuffixes = map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
	decimalExp     = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
)

// ParseQuantity reads a resource quantity ("50M", "1.5Gi", "250m",
// "2e3") and returns it multiplied by 10^scale, rounded up: scale 0
// gives bytes of a memory quantity, scale 3 thousandths of a CPU of a
// cpu one. A value that does not fit an int64 is an error.
func ParseQuantity(s string, scale int) (int64, error) {
	num, mult, err := splitQuantity(s)
	if err != nil {
		return 0, err
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("quantity %q: bad number", s)
	}
	r.Mul(r, mult)
	r.Mul(r, new(big.Rat).SetFrac(pow10(max(scale, 0)), pow10(max(-scale, 0))))
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("quantity %q is too large", s)
	}
	return q.Int64(), nil
}

// splitQuantity splits a quantity into its decimal number and the
// multiplier its suffix or exponent stands for.
func splitQuantity(s string) (string, *big.Rat, error) {
	if len(s) == 0 || len(s) > 64 {
		return "", nil, fmt.Errorf("quantity %q: empty or too long", s)
	}
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	digits := 0
	for ; i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.'); i++ {
		if s[i] != '.' {
			digits++
		}
	}
	num, suf := s[:i], s[i:]
	if digits == 0 || strings.Count(num, ".") > 1 {
		return "", nil, fmt.Errorf("quantity %q: bad number", s)
	}
	if num[0] == '-' {
		return "", nil, fmt.Errorf("quantity %q: negative", s)
	}
	if m, ok := binarySuffixes[suf]; ok {
		return num, new(big.Rat).SetInt64(m), nil
	}
	if e, ok := decimalExp[suf]; ok {
		return num, exp10(e), nil
	}
	if len(suf) > 1 && (suf[0] == 'e' || suf[0] == 'E') {
		if e, err := strconv.Atoi(suf[1:]); err == nil && e >= -30 && e <= 30 {
			return num, exp10(e), nil
		}
	}
	return "", nil, fmt.Errorf("quantity %q: unknown suffix %q", s, suf)
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

func exp10(e int) *big.Rat {
	if e >= 0 {
		return new(big.Rat).SetInt(pow10(e))
	}
	return new(big.Rat).SetFrac(big.NewInt(1), pow10(-e))
}

// blockDevices lists the host's block devices as "major:minor", whole
// disks only (/sys/block): throttling is per disk, partitions share
// their disk's queue.
func blockDevices() ([]string, error) {
	ents, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("cgroup: list block devices: %w", err)
	}
	var devs []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		devs = append(devs, strings.TrimSpace(string(b)))
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("cgroup: no block device to limit")
	}
	return devs, nil
}
