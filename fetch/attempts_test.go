package fetch

import (
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
		if got := joinAttempts(tt.in); got != tt.want {
			t.Errorf("joinAttempts(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
