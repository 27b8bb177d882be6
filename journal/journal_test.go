package journal_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/journal"
	"github.com/saturn-pods/saturn/journal/journaltest"
)

func TestSendEntries(t *testing.T) {
	j := journaltest.Serve(t, t.TempDir())
	c, err := journal.Dial(j.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("x", 4<<20)
	for _, entry := range [][]journal.Field{
		{{"MESSAGE", "hello"}, {"PRIORITY", "6"}, {"SYSLOG_IDENTIFIER", "web"}},
		{{"MESSAGE", "two\nlines"}, {"EMPTY", ""}, {"EQUALS", "a=b"}},
		{{"MESSAGE", "ends in a newline\n"}, {"SYSLOG_PID", "7"}},
		// Beyond a datagram: passed in a memfd.
		{{"MESSAGE", big}, {"SYSLOG_IDENTIFIER", "web"}},
		{{"MESSAGE", big + "\n" + big}},
	} {
		if err := c.Send(entry); err != nil {
			t.Fatalf("send %.40v: %v", entry, err)
		}
		if got := j.MustNext(); !reflect.DeepEqual(got, entry) {
			t.Fatalf("journald read %.80v, want %.80v", got, entry)
		}
	}
}

// The connection stays journald's when the sender's root changes, as the
// pod's PID 1 pivots away from the host's filesystem; and it works as an
// fd passed to another process.
func TestConnOutlivesItsPath(t *testing.T) {
	j := journaltest.Serve(t, t.TempDir())
	c, err := journal.Dial(j.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.Rename(j.Path, j.Path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := journal.FromFD(c.Fd()).Send([]journal.Field{{"MESSAGE", "still there"}}); err != nil {
		t.Fatal(err)
	}
	if got := j.MustNext(); got[0].Value != "still there" {
		t.Fatalf("read %v", got)
	}
}

func TestEncodeRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "_PID", "1ABC", "lower", "WITH-DASH", "A=B", "A\nB", strings.Repeat("A", 65)} {
		if _, err := journal.Encode([]journal.Field{{name, "x"}}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if _, err := journal.Encode([]journal.Field{{strings.Repeat("A", 64), "x"}, {"A_1", ""}}); err != nil {
		t.Errorf("good names refused: %v", err)
	}
}

func TestDialWithoutJournald(t *testing.T) {
	if _, err := journal.Dial(filepath.Join(t.TempDir(), "socket")); err == nil {
		t.Fatal("Dial of a missing socket succeeded")
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	for _, bad := range []string{
		"MESSAGE=no newline",
		"MESSAGE",
		"MESSAGE\n\x03\x00\x00",
		"MESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00a\nb",
		"MESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00a\nbc",
		"MESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xffa\n",
	} {
		if f, err := journal.Decode([]byte(bad)); err == nil {
			t.Errorf("journal.Decode(%q) = %v, want an error", bad, f)
		}
	}
	if f, err := journal.Decode([]byte("MESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00a\nb\nX=y\n")); err != nil || !reflect.DeepEqual(f, []journal.Field{{"MESSAGE", "a\nb"}, {"X", "y"}}) {
		t.Errorf("Decode of a good entry: %v, %v", f, err)
	}
}
