package aci

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchImage builds a 32 MiB image of 512 files in 16 directories.
func benchImage(b *testing.B, c Compression) []byte {
	b.Helper()
	dir := b.TempDir()
	must(b, os.WriteFile(filepath.Join(dir, ManifestName), []byte(manifestJSON("example.com/bench")), 0o644))
	chunk := []byte(noise(64 << 10))
	for i := range 512 {
		p := filepath.Join(dir, RootfsName, fmt.Sprintf("d%02d/f%03d", i%16, i))
		must(b, os.MkdirAll(filepath.Dir(p), 0o755))
		must(b, os.WriteFile(p, chunk, 0o644))
	}
	return buildBytes(b, dir, c)
}

func BenchmarkValidate(b *testing.B) {
	for _, c := range []Compression{NoCompression, Gzip} {
		b.Run(c.String(), func(b *testing.B) {
			data := benchImage(b, c)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Validate(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExtract(b *testing.B) {
	data := benchImage(b, NoCompression)
	b.SetBytes(int64(len(data)))
	base := b.TempDir()
	i := 0
	for b.Loop() {
		dest := filepath.Join(base, fmt.Sprint(i))
		i++
		if err := Extract(io.Reader(bytes.NewReader(data)), dest, ExtractOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
