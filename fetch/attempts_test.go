package fetch

import (
	"errors"
	"fmt"
	"testing"
)

func TestJoinAttempts(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "c"}, "a; b; c"},
		{[]string{"a", "b", "c", "d", "e"}, "a; b; c; and 2 more"},
	}
	for _, tt := range tests {
		var errs []error
		for _, s := range tt.in {
			errs = append(errs, errors.New(s))
		}
		if got := joinAttempts(errs); got != tt.want {
			t.Errorf("joinAttempts(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A failed discovery is a *DiscoveryError however it is wrapped; its
// Reason is the first reason of the whole name, the one the user typed.
func TestDiscoveryErrorReason(t *testing.T) {
	de := &DiscoveryError{What: "example.com/app", Attempts: []error{
		pageError{errors.New("GET https://example.com/app?ac-discovery=1: no such host"), errors.New("GET http://…: refused")},
		errors.New("example.com: no ac-discovery template matches example.com/app"),
	}}
	err := fmt.Errorf("fetch example.com/app: %w", de)
	var got *DiscoveryError
	if !errors.As(err, &got) {
		t.Fatal("errors.As found no *DiscoveryError")
	}
	if r := got.Reason(); r != "GET https://example.com/app?ac-discovery=1: no such host" {
		t.Errorf("Reason() = %q", r)
	}
	want := "discovery of example.com/app failed: GET https://example.com/app?ac-discovery=1: no such host; GET http://…: refused; example.com: no ac-discovery template matches example.com/app"
	if de.Error() != want {
		t.Errorf("Error() = %q\nwant %q", de.Error(), want)
	}
	if r := (&DiscoveryError{}).Reason(); r != "" {
		t.Errorf("Reason of no attempts = %q", r)
	}
}
