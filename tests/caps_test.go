package tests

import (
	"slices"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// An app without capability isolators gets appc's default set, as the
// kernel shows it: the fourteen capabilities of rkt's (and Docker's)
// default, written here as the literal mask, so that widening
// launch.DefaultCaps fails this test as well as grant's.
func TestDefaultCapabilitiesInApp(t *testing.T) {
	const want = "00000000a80425fb" // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	r, _ := s1Run(t, e, bb, "--exec=/bin/sh", "--", "-c", "grep -E '^Cap(Bnd|Eff|Prm):' /proc/self/status")
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	got := s1Lines(r.Stdout, "busybox")
	if exp := []string{"CapPrm:\t" + want, "CapEff:\t" + want, "CapBnd:\t" + want}; !slices.Equal(got, exp) {
		t.Errorf("root app's capabilities %q, want %q", got, exp)
	}
}
