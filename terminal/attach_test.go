package terminal

import (
	"bytes"
	"errors"
	"testing"
)

// The detach keys are taken out of the input, across writes too, and a
// prefix of them that turns out not to be one is passed on.
func TestDetachScanner(t *testing.T) {
	for _, tc := range []struct {
		writes   []string
		out      string
		detached bool
	}{
		{[]string{"abc"}, "abc", false},
		{[]string{"ab\x10\x11cd"}, "ab", true},
		{[]string{"ab\x10", "\x11"}, "ab", true},
		{[]string{"a\x10b"}, "a\x10b", false},
		{[]string{"a\x10", "b"}, "a\x10b", false},
		{[]string{"\x10\x10\x11"}, "\x10", true},
		{[]string{"\x03\x11"}, "\x03\x11", false},
	} {
		var out bytes.Buffer
		d := &DetachScanner{W: &out}
		detached := false
		for _, w := range tc.writes {
			if _, err := d.Write([]byte(w)); errors.Is(err, ErrDetached) {
				detached = true
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if out.String() != tc.out || detached != tc.detached {
			t.Errorf("%q: passed on %q, detached %v; want %q, %v", tc.writes, out.String(), detached, tc.out, tc.detached)
		}
	}
}

func TestSizeMessage(t *testing.T) {
	if got := SizeMessage(Size{Rows: 0x0102, Cols: 0x0304}); !bytes.Equal(got, []byte{MsgSize, 1, 2, 3, 4}) {
		t.Errorf("SizeMessage: %v", got)
	}
}
