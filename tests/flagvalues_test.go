package tests

import (
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Flag values that would write lines of their own into the pod's files,
// wrap around, or turn gc's clock backwards are refused before anything
// happens.
func TestRefusedFlagValues(t *testing.T) {
	e := newEnv(t)
	img := testimg.TestApp(t, testimg.Options{Exec: []string{"/testapp", "cat", "/etc/resolv.conf", "/etc/hosts"}})
	for _, tc := range []struct{ flag, want string }{
		{"--dns-opt=ndots:1\nnameserver 6.6.6.6", "control character"},
		{"--dns-search=example.com\nnameserver 6.6.6.6", "control character"},
		{"--dns-domain=example.com\nnameserver 6.6.6.6", "control character"},
		{"--hosts-entry=10.0.0.1=db\n10.6.6.6 bank.example.com", "control character"},
	} {
		r, _ := podRun(t, e, tc.flag, img)
		if strings.Contains(r.Stdout+r.Stderr, "6.6.6.6") && !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q wrote a line of its own into the pod:\n%s", tc.flag, r)
		}
		wantRefusedBeforePod(t, e, r, tc.want)
	}
	for _, mem := range []string{"9223372036854775808", "15E", "8Ei"} {
		r, _ := podRun(t, e, img, "--memory="+mem)
		wantRefusedBeforePod(t, e, r, "does not fit in 63 bits")
	}
}

// A prepared pod survives gc asked to expire it 5 minutes in the past.
func TestGCRefusesNegativeDurations(t *testing.T) {
	e := newEnv(t)
	img := testimg.TestApp(t, testimg.Options{})
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--quiet", "--insecure-options=image", img))
	for _, flag := range []string{"--grace-period=-1s", "--expire-prepared=-5m"} {
		e.failSaturn("must not be negative", "gc", flag)
	}
	if pods := podDirs(t, e); len(pods) != 1 || !strings.HasPrefix(pods[0], "prepared/"+uuid) {
		t.Errorf("after refused gc runs: pods %v, want prepared/%s", pods, uuid)
	}
}
