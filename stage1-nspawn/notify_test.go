package main

import "testing"

func TestNotifiesReady(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"READY=1", true},
		{"STATUS=starting\nREADY=1\n", true},
		{"READY=1\n", true},
		{"READY=0", false},
		{"NOTREADY=1", false},
		{"STATUS=READY=1", false},
		{"", false},
	} {
		if got := notifiesReady([]byte(tc.msg)); got != tc.want {
			t.Errorf("notifiesReady(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}
