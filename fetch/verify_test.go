package fetch

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
	"github.com/saturn-pods/saturn/trust"
	"github.com/saturn-pods/saturn/trust/gpgtest"
)

// countingReader counts what the verifier pulled from its source.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestVerifyingReader(t *testing.T) {
	g := gpgtest.New(t)
	good := g.GenKey("Good <good@example.com>", "never")
	stranger := g.GenKey("Stranger <stranger@example.com>", "never")
	dir := t.TempDir()
	ts := trust.New(filepath.Join(dir, "local"), filepath.Join(dir, "system"))
	keys, err := trust.ParseKeys(g.Export(good))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Add("example.com", keys[0]); err != nil {
		t.Fatal(err)
	}
	img := testimg.Busybox(t, testimg.Options{Name: "example.com/v"})
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sig := func(fpr string) []byte {
		s, err := os.ReadFile(g.Sign(fpr, img))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goodSig, strangerSig := sig(good), sig(stranger)

	for _, name := range []string{"", "example.com/v"} {
		v := newVerifyingReader(bytes.NewReader(data), ts, goodSig, name)
		got, err := io.ReadAll(v)
		if err != nil || !bytes.Equal(got, data) || v.Signer == nil || v.Signer.Fingerprint != good {
			t.Fatalf("name %q: good image: %v, %d bytes, signer %v", name, err, len(got), v.Signer)
		}
	}

	// An unknown signer is refused once the name is known, long before
	// the end of the image.
	src := &countingReader{r: bytes.NewReader(data)}
	v := newVerifyingReader(src, ts, strangerSig, "example.com/v")
	_, err = io.ReadAll(v)
	if err == nil || !strings.Contains(err.Error(), "example.com/v") || !strings.Contains(err.Error(), stranger) {
		t.Fatalf("stranger's signature: %v", err)
	}
	if src.n >= len(data) {
		t.Errorf("refusal read all %d bytes", src.n)
	}

	tampered := append([]byte(nil), data...)
	tampered[len(tampered)/2] ^= 1
	v = newVerifyingReader(bytes.NewReader(tampered), ts, goodSig, "")
	if _, err := io.ReadAll(v); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("tampered image: %v", err)
	}

	// Abandoned midway, the goroutines end.
	v = newVerifyingReader(bytes.NewReader(data), ts, goodSig, "")
	buf := make([]byte, 4096)
	if _, err := v.Read(buf); err != nil {
		t.Fatal(err)
	}
	v.close()
	if _, err := v.Read(buf); err == nil {
		t.Fatal("read after close succeeded")
	}
}
