package fetch

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 200) + "/image.aci"
	tests := []struct {
		in         string
		want       string // "" = clipped, checked by shape
		head, tail string
	}{
		{in: "", want: ""},
		{in: "example.com/app:1.0", want: "example.com/app:1.0"},
		{in: strings.Repeat("x", maxEcho), want: strings.Repeat("x", maxEcho)},
		{in: long, head: "https://example.com/aaa", tail: "aaa/image.aci"},
		{in: strings.Repeat("é", 500), head: "éé", tail: "éé"},
	}
	for _, tt := range tests {
		got := Clip(tt.in)
		if tt.want != "" || tt.in == "" {
			if got != tt.want {
				t.Errorf("Clip(%q) = %q, want %q", tt.in, got, tt.want)
			}
			continue
		}
		if n := utf8.RuneCountInString(got); n != maxEcho || !strings.Contains(got, "…") ||
			!strings.HasPrefix(got, tt.head) || !strings.HasSuffix(got, tt.tail) || !utf8.ValidString(got) {
			t.Errorf("Clip(%.30q…) = %q (%d runes), want %d runes keeping %q…%q", tt.in, got, n, maxEcho, tt.head, tt.tail)
		}
	}
}

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
		if got := joinAttempts(tt.in); got != tt.want {
			t.Errorf("joinAttempts(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
