package testsupport

import (
	"reflect"
	"slices"
	"testing"
)

type inner struct {
	N    int
	list []string
}

type outer struct {
	S     string
	B     bool
	U     uint32
	P     *inner
	In    inner
	Ins   []inner
	M     map[string]int
	Skip  string
	hide  int64
	Bytes []byte
}

func TestFillLeavesNoZero(t *testing.T) {
	var o outer
	Fill(&o, "Skip")
	if z := ZeroFields(&o, "Skip"); len(z) != 0 {
		t.Errorf("zero after Fill: %v", z)
	}
	if o.hide == 0 {
		t.Error("unexported field not filled")
	}
	if o.Skip != "" {
		t.Errorf("skipped field filled: %q", o.Skip)
	}
	if z := ZeroFields(&o); !slices.Equal(z, []string{"Skip"}) {
		t.Errorf("ZeroFields = %v, want [Skip]", z)
	}
	var again outer
	Fill(&again, "Skip")
	if !reflect.DeepEqual(o, again) {
		t.Error("Fill is not deterministic")
	}
	o.In.list = nil
	if z := ZeroFields(&o, "Skip"); !slices.Equal(z, []string{"In.list"}) {
		t.Errorf("ZeroFields = %v, want [In.list]", z)
	}
}
