// Command images builds the example images that build.sh puts under
// build/images: busybox.aci (Debian's busybox-static) and testapp.aci (the
// static Go test app).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: images OUTDIR")
		os.Exit(2)
	}
	if err := build(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}

func build(out string) error {
	tmp, err := os.MkdirTemp("", "saturn-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	layouts := []struct {
		name   string
		layout func(string, testimg.Options) error
	}{
		{"busybox", testimg.BusyboxDir},
		{"testapp", testimg.TestAppDir},
	}
	for _, l := range layouts {
		dir := filepath.Join(tmp, l.name)
		if err := l.layout(dir, testimg.Options{}); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		if err := testimg.BuildACI(dir, filepath.Join(out, l.name+".aci"), aci.NoCompression); err != nil {
			return err
		}
	}
	return nil
}
