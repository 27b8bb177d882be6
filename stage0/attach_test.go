package main

import (
	"slices"
	"testing"
)

func TestAttachFlags(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want []string
		bad  bool
	}{
		{"", []string{"--action=auto-attach"}, false},
		{"auto", []string{"--action=auto-attach"}, false},
		{"list", []string{"--action=list"}, false},
		{"tty", []string{"--action=custom-attach", "--tty-in=true", "--tty-out=true"}, false},
		{"tty-in,stdout", []string{"--action=custom-attach", "--tty-in=true", "--stdout=true"}, false},
		{"stdin,stdout,stderr", []string{"--action=custom-attach", "--stdin=true", "--stdout=true", "--stderr=true"}, false},
		{"tty,tty-out", []string{"--action=custom-attach", "--tty-in=true", "--tty-out=true"}, false},
		{"stdio", nil, true},
		{"tty,", nil, true},
	} {
		f, err := attachFlags(tc.mode)
		var got []string
		if err == nil {
			got = f.Args()
			got = got[:len(got)-1] // --app=
		}
		if (err != nil) != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("attachFlags(%q) = %q, %v; want %q (error %v)", tc.mode, got, err, tc.want, tc.bad)
		}
	}
}
