package main

import (
	"os"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/store"
)

// insecureWords names each insecureOptions field the way the flag spells it.
func insecureWords(o insecureOptions) []string {
	var out []string
	for _, w := range []struct {
		set  bool
		name string
	}{
		{o.Image, "image"}, {o.TLS, "tls"}, {o.OnDisk, "ondisk"}, {o.HTTP, "http"},
		{o.PubKey, "pubkey"}, {o.Capabilities, "capabilities"}, {o.Paths, "paths"}, {o.Seccomp, "seccomp"},
	} {
		if w.set {
			out = append(out, w.name)
		}
	}
	return out
}

// FuzzInsecureOptions parses arbitrary --insecure-options values. What
// it accepts prints back to the same options, in any word order, and
// giving the value twice changes nothing.
func FuzzInsecureOptions(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseInsecureOptions(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		words := insecureWords(o)
		back, err := parseInsecureOptions(strings.Join(words, ","))
		if err != nil || back != o {
			t.Fatalf("%q = %+v prints as %q, which gives %+v, %v", s, o, words, back, err)
		}
		for i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {
			words[i], words[j] = words[j], words[i]
		}
		if rev, err := parseInsecureOptions(strings.Join(words, ",")); err != nil || rev != o {
			t.Fatalf("%q: reversed words give %+v, %v", s, rev, err)
		}
		if twice, err := parseInsecureOptions(s + "," + s); err != nil || twice != o {
			t.Fatalf("%q given twice gives %+v, %v", s, twice, err)
		}
	})
}

// FuzzImageRef resolves arbitrary image references against an empty
// store: nothing resolves, every refusal is one line, and a reference
// taken for a file is a file:// URL or an existing regular file.
func FuzzImageRef(f *testing.F) {
	st, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	f.Fuzz(func(t *testing.T, ref string) {
		p, isFile := localACIPath(ref)
		if isFile {
			if rest, ok := strings.CutPrefix(ref, "file://"); ok {
				if p != rest {
					t.Fatalf("localACIPath(%q) = %q, want %q", ref, p, rest)
				}
				// Reading an arbitrary path (a fifo, /dev/zero) is
				// not what this target is about.
				return
			}
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || p != ref {
				t.Fatalf("localACIPath(%q) = %q, which is not that regular file", ref, p)
			}
			return
		}
		if p != "" {
			t.Fatalf("localACIPath(%q) refused but returned %q", ref, p)
		}
		id, err := resolveRef(st, ref)
		if err == nil {
			t.Fatalf("empty store resolved %q to %s", ref, id)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("resolveRef(%q): error spans lines: %q", ref, err)
		}
	})
}
