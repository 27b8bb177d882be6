package launch

import (
	"testing"

	"github.com/saturn-pods/saturn/seccomp"
)

// The default filter must let Go's fork path through, or every app would
// pay for the stage2 helper's start-up.
func TestDefaultFilterIsDirect(t *testing.T) {
	for _, f := range []*seccomp.Filter{seccomp.Default(), seccomp.DefaultWithCaps(nil)} {
		s := &Spec{Args: []string{"/x"}, Seccomp: f}
		if !s.Direct() {
			for _, n := range forkPath {
				if nr, ok := seccomp.Number(n); ok && !f.Allows(nr) {
					t.Errorf("the default filter refuses %s, which Go's fork path makes", n)
				}
			}
		}
	}
	tight, err := seccomp.New(seccomp.Remove, []string{"chroot"}, "EPERM")
	if err != nil {
		t.Fatal(err)
	}
	if (&Spec{Args: []string{"/x"}, Seccomp: tight}).Direct() {
		t.Error("a filter refusing chroot is Direct")
	}
}
