package stage1abi

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/testsupport"
)

const testUUID = "6f0b2b1e-8d6a-4f63-9b35-2a6f2f0d1c4e"

// fullRunFlags has every field set, to values ParseRunFlags takes.
func fullRunFlags(t *testing.T) *RunFlags {
	t.Helper()
	f := &RunFlags{}
	testsupport.Fill(f)
	f.IPC = "private"
	f.DNSConfMode = DNSConfMode{Resolv: "stage0", Hosts: "host"}
	f.UUID = testUUID
	if z := testsupport.ZeroFields(f); len(z) != 0 {
		t.Fatalf("fields left zero: %v", z)
	}
	return f
}

// Every field of RunFlags survives Args and ParseRunFlags: a field added
// to the type but not rendered, or not parsed, fails here.
func TestRunFlagsRoundTrip(t *testing.T) {
	want := fullRunFlags(t)
	got, err := ParseRunFlags(want.Args(MaxInterfaceVersion))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// Older interface versions are not passed the flags they do not know.
func TestRunFlagsVersions(t *testing.T) {
	f := fullRunFlags(t)
	for _, tc := range []struct {
		version int
		absent  []string
	}{
		{1, []string{"--hostname", "--disable-", "--dns-conf-mode", "--system-config", "--net-out", "--net-bandwidth"}},
		{2, []string{"--disable-", "--dns-conf-mode", "--system-config"}},
		{3, []string{"--dns-conf-mode", "--system-config"}},
		{4, []string{"--system-config", "--net-out", "--net-bandwidth"}},
	} {
		args := strings.Join(f.Args(tc.version), " ")
		for _, a := range tc.absent {
			if strings.Contains(args, a) {
				t.Errorf("version %d got %s: %s", tc.version, a, args)
			}
		}
		if !strings.Contains(args, "--net=") || !strings.HasSuffix(args, testUUID) {
			t.Errorf("version %d: %s", tc.version, args)
		}
	}
}

// Defaults are left out of the argv, as rkt's stage0 leaves them out.
func TestRunFlagsDefaults(t *testing.T) {
	f := &RunFlags{Net: "default", LocalConfig: "/etc/saturn", UUID: testUUID}
	want := []string{"--net=default", "--local-config=/etc/saturn", "--dns-conf-mode=resolv=default,hosts=default", "--system-config=", testUUID}
	if got := f.Args(MaxInterfaceVersion); !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	p, err := ParseRunFlags([]string{testUUID})
	if err != nil || p.Net != "default" || p.IPC != "auto" || p.DNSConfMode != (DNSConfMode{"default", "default"}) {
		t.Errorf("ParseRunFlags(uuid) = %+v, %v", p, err)
	}
}

// A stage1 accepts the flags of a newer stage0 it does not know, with or
// without a value, wherever they stand.
func TestParseSkipsUnknownFlags(t *testing.T) {
	f, err := ParseRunFlags([]string{"--future-bool", "--debug", "--future=x=y", "-z", "--net=host", "--future-last", testUUID})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Debug || f.Net != "host" || f.UUID != testUUID {
		t.Errorf("ParseRunFlags = %+v", f)
	}
	e, err := ParseEnterFlags([]string{"--pid=7", "--future", "--appname=web", "--", "--future", "x"})
	if err != nil || e.PID != 7 || e.App != "web" || !slices.Equal(e.Cmd, []string{"--future", "x"}) {
		t.Errorf("ParseEnterFlags = %+v, %v; the command after -- is the command's", e, err)
	}
}

func TestParseRunFlagsRefuses(t *testing.T) {
	for _, args := range [][]string{
		{},
		{testUUID, testUUID},
		{"not-a-uuid"},
		{"--ipc=shared", testUUID},
		{"--dns-conf-mode=resolv", testUUID},
		{"--dns-conf-mode=dns=host", testUUID},
		{"--dns-conf-mode=hosts=none", testUUID},
		{"--debug=maybe", testUUID},
	} {
		if f, err := ParseRunFlags(args); err == nil {
			t.Errorf("ParseRunFlags(%q) = %+v, want an error", args, f)
		}
	}
}

func TestParseUUID(t *testing.T) {
	for in, want := range map[string]string{
		testUUID:                               testUUID,
		strings.ReplaceAll(testUUID, "-", ""):  testUUID,
		strings.ToUpper(testUUID):              testUUID,
		"":                                     "",
		"6f0b2b1e-8d6a-4f63-9b35-2a6f2f0d1c4":  "",
		"6f0b2b1e-8d6a-4f63-9b35-2a6f2f0d1c4g": "",
	} {
		got, err := ParseUUID(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ParseUUID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// The other entrypoints' flags survive their Args and Parse likewise.
func TestEntrypointFlagsRoundTrip(t *testing.T) {
	var enter EnterFlags
	testsupport.Fill(&enter)
	if got, err := ParseEnterFlags(enter.Args()); err != nil || !reflect.DeepEqual(*got, enter) {
		t.Errorf("enter: %+v, %v; want %+v", got, err, enter)
	}
	var stop StopFlags
	testsupport.Fill(&stop)
	stop.UUID = testUUID
	if got, err := ParseStopFlags(stop.Args()); err != nil || !reflect.DeepEqual(*got, stop) {
		t.Errorf("stop: %+v, %v; want %+v", got, err, stop)
	}
	var gc GCFlags
	testsupport.Fill(&gc)
	gc.UUID = testUUID
	if got, err := ParseGCFlags(gc.Args()); err != nil || !reflect.DeepEqual(*got, gc) {
		t.Errorf("gc: %+v, %v; want %+v", got, err, gc)
	}
	var attach AttachFlags
	testsupport.Fill(&attach)
	attach.Action = AttachCustom
	if got, err := ParseAttachFlags(attach.Args()); err != nil || !reflect.DeepEqual(*got, attach) {
		t.Errorf("attach: %+v, %v; want %+v", got, err, attach)
	}
	var update UpdateFlags
	testsupport.Fill(&update)
	update.UUID = testUUID
	if got, err := ParseUpdateFlags(update.Args()); err != nil || !reflect.DeepEqual(*got, update) {
		t.Errorf("update: %+v, %v; want %+v", got, err, update)
	}
	if u, err := ParseStatsFlags([]string{testUUID}); err != nil || u != testUUID {
		t.Errorf("stats: %q, %v", u, err)
	}
}

func TestParseDNSConfMode(t *testing.T) {
	tests := []struct {
		in            string
		resolv, hosts string
		err           string
	}{
		{"", "default", "default", ""},
		{"resolv=host,hosts=stage0", "host", "stage0", ""},
		{"hosts=host", "default", "host", ""},
		{"resolv=none", "none", "default", ""},
		{"hosts=none", "", "", "hosts=none: want one of host, stage0, default"},
		{"resolv", "", "", `"resolv" is not KEY=MODE`},
		{"dns=host", "", "", `unknown key "dns"`},
	}
	for _, tc := range tests {
		m, err := ParseDNSConfMode(tc.in)
		r, h := m.Resolv, m.Hosts
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseDNSConfMode(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r != tc.resolv || h != tc.hosts {
			t.Errorf("ParseDNSConfMode(%q) = %q, %q, %v; want %q, %q", tc.in, r, h, err, tc.resolv, tc.hosts)
		}
	}
}
