package etcfiles

import "testing"

func TestWithHostname(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1 localhost\n::1 localhost\n", "127.0.0.1 localhost pod\n::1 localhost\n"},
		{"# c\n::1 localhost\n127.0.0.1\tlocalhost\n127.0.0.1 other\n", "# c\n::1 localhost\n127.0.0.1\tlocalhost pod\n127.0.0.1 other\n"},
		{"10.0.0.1 db\n", "10.0.0.1 db\n127.0.0.1 pod\n"},
		{"10.0.0.1 db", "10.0.0.1 db\n127.0.0.1 pod\n"},
		{"", "127.0.0.1 pod\n"},
		{"127.0.0.1 localhost pod\n", "127.0.0.1 localhost pod\n"},
		{"127.0.0.1 localhost", "127.0.0.1 localhost pod"},
		{"#127.0.0.1 x\n", "#127.0.0.1 x\n127.0.0.1 pod\n"},
	} {
		if got := string(WithHostname([]byte(tc.in), "pod")); got != tc.want {
			t.Errorf("WithHostname(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFallbackHostsNamesHostOnLocalhostLine(t *testing.T) {
	want := "127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4 pod\n" +
		"::1 localhost localhost.localdomain localhost6 localhost6.localdomain6\n"
	if got := string(FallbackHosts("pod")); got != want {
		t.Errorf("FallbackHosts = %q, want %q", got, want)
	}
}
