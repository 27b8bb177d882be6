package aci

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDetectCompression(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want Compression
	}{
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, Gzip},
		{"bzip2", []byte("BZh91AY&SY"), Bzip2},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 4}, Xz},
		{"tar", craftTar(t, manifestEntry("example.com/a")), NoCompression},
		{"empty", nil, NoCompression},
		{"half gzip magic", []byte{0x1f}, NoCompression},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, NoCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DetectCompression(tt.head); got != tt.want {
				t.Errorf("DetectCompression = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCompression(t *testing.T) {
	for _, c := range []Compression{NoCompression, Gzip, Bzip2, Xz} {
		got, err := ParseCompression(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v", c.String(), got, err)
		}
	}
	if _, err := ParseCompression("zstd"); err == nil || !strings.Contains(err.Error(), `"zstd"`) {
		t.Errorf("ParseCompression(zstd) error = %v, want one naming zstd", err)
	}
	if s := Compression(9).String(); s != "Compression(9)" {
		t.Errorf("String of unknown = %q", s)
	}
}

func TestDecompressEveryCompression(t *testing.T) {
	dir := richLayout(t, "example.com/rich")
	plain := buildBytes(t, dir, NoCompression)
	for _, c := range []Compression{NoCompression, Gzip, Bzip2, Xz} {
		t.Run(c.String(), func(t *testing.T) {
			data := buildBytes(t, dir, c)
			rc, got, err := Decompress(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got != c {
				t.Errorf("compression = %v, want %v", got, c)
			}
			out, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, plain) {
				t.Errorf("decompressed %d bytes differ from the plain tar (%d bytes)", len(out), len(plain))
			}
		})
	}
}

func TestDecompressRejects(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "empty input"},
		{"text", []byte("hello, this is not an archive at all"), "unknown compression or not a tar"},
		{"zstd", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, make([]byte, 600)...), "unknown compression or not a tar"},
		{"zip", append([]byte("PK\x03\x04"), make([]byte, 600)...), "unknown compression or not a tar"},
		{"broken gzip header", []byte{0x1f, 0x8b, 0xff, 0xff}, "gzip"},
		{"broken xz header", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 9, 9, 9, 9, 9, 9}, "xz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, _, err := Decompress(bytes.NewReader(tt.data))
			if err == nil {
				rc.Close()
				t.Fatal("Decompress succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
	_, _, err := Decompress(bytes.NewReader([]byte("garbage garbage")))
	if !errors.Is(err, ErrNotACI) {
		t.Errorf("error %v is not ErrNotACI", err)
	}
}

func TestLooksLikeTar(t *testing.T) {
	good := craftTar(t, manifestEntry("example.com/a"))
	if !looksLikeTar(good) {
		t.Error("a tar header was not recognised")
	}
	bad := bytes.Clone(good)
	bad[0] ^= 0xff // checksum no longer matches
	if looksLikeTar(bad) {
		t.Error("a corrupted tar header was accepted")
	}
	if looksLikeTar(good[:100]) {
		t.Error("a short block was accepted")
	}
}
