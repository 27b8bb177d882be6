// Command images builds the example images that build.sh puts under
// build/images: busybox.aci (Debian's busybox-static), testapp.aci (the
// static Go test app), and two images of the test app's HTTP server for
// dist/systemd's sample units: notify-example.aci, which tells systemd
// when it is ready (after a two-second start), and socket-example.aci,
// whose port is socket-activated.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

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
	// The test app is compiled once for the three images holding it.
	if os.Getenv("SATURN_TESTAPP") == "" {
		bin := filepath.Join(tmp, "testapp-binary")
		if err := testimg.BuildTestApp(bin); err != nil {
			return err
		}
		os.Setenv("SATURN_TESTAPP", bin)
	}
	layouts := []struct {
		name   string
		layout func(string, testimg.Options) error
		opts   testimg.Options
	}{
		{"busybox", testimg.BusyboxDir, testimg.Options{}},
		{"testapp", testimg.TestAppDir, testimg.Options{}},
		{"notify-example", testimg.TestAppDir, testimg.Options{
			Name: "example.com/notify-example", Exec: []string{"/testapp", "http", ":8081", "2"},
			Modify: func(m *schema.ImageManifest) {
				m.Annotations.Set("appc.io/executor/supports-systemd-notify", "true")
			},
		}},
		{"socket-example", testimg.TestAppDir, testimg.Options{
			Name: "example.com/socket-example", Exec: []string{"/testapp", "http", "fds"},
			Modify: func(m *schema.ImageManifest) {
				m.App.Ports = []types.Port{{Name: "http", Protocol: "tcp", Port: 8082, Count: 1, SocketActivated: true}}
			},
		}},
	}
	for _, l := range layouts {
		dir := filepath.Join(tmp, l.name)
		if err := l.layout(dir, l.opts); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		if err := testimg.BuildACI(dir, filepath.Join(out, l.name+".aci"), aci.NoCompression); err != nil {
			return err
		}
	}
	return nil
}
