package clip

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
		{in: strings.Repeat("x", Max), want: strings.Repeat("x", Max)},
		{in: long, head: "https://example.com/aaa", tail: "aaa/image.aci"},
		{in: strings.Repeat("é", 500), head: "éé", tail: "éé"},
	}
	for _, tt := range tests {
		got := String(tt.in)
		if tt.want != "" || tt.in == "" {
			if got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			continue
		}
		if n := utf8.RuneCountInString(got); n != Max || !strings.Contains(got, "…") ||
			!strings.HasPrefix(got, tt.head) || !strings.HasSuffix(got, tt.tail) || !utf8.ValidString(got) {
			t.Errorf("String(%.30q…) = %q (%d runes), want %d runes keeping %q…%q", tt.in, got, n, Max, tt.head, tt.tail)
		}
	}
}
