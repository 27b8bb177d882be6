package launch

import "testing"

func TestSearchPath(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, DefaultPath},
		{[]string{"HOME=/root"}, DefaultPath},
		{[]string{"PATH=/bin"}, "/bin"},
		{[]string{"PATH=/a", "X=1", "PATH=/b:/c"}, "/b:/c"},
		{[]string{"PATH="}, ""},
		{[]string{"XPATH=/x"}, DefaultPath},
	}
	for _, tc := range tests {
		if got := SearchPath(tc.env); got != tc.want {
			t.Errorf("SearchPath(%q) = %q, want %q", tc.env, got, tc.want)
		}
	}
}
