package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/store"
)

// withImage opens the store, resolves ref to one image and calls fn with
// both; the store is closed when fn returns.
func withImage(g *globals, ref string, fn func(st *store.Store, id string) error) error {
	st, err := openStore(g)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := resolveImage(g, st, ref)
	if err != nil {
		return err
	}
	return fn(st, id)
}

func imageCatManifestCommand() *command {
	pretty := true
	var appc bool
	return &command{
		name:  "image cat-manifest",
		usage: "[--pretty-print] [--appc] IMAGE",
		short: "print the manifest of an image in the local store (a Docker image's config)",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&pretty, "pretty-print", true, "apply indent to format the output")
			fs.BoolVar(&appc, "appc", false, "for a Docker or OCI image, print the equivalent appc image manifest instead of its config")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 1 {
				return usagef("image cat-manifest needs exactly one image")
			}
			return withImage(g, args[0], func(st *store.Store, id string) error {
				if !appc {
					if cfg, ok, err := ociConfig(st, id, pretty); err != nil || ok {
						if err == nil {
							_, err = fmt.Fprintln(g.Stdout, string(cfg))
						}
						return err
					}
				}
				m, err := st.Manifest(id)
				if err != nil {
					return err
				}
				var data []byte
				if pretty {
					data, err = json.MarshalIndent(m, "", "\t")
				} else {
					data, err = json.Marshal(m)
				}
				if err != nil {
					return fmt.Errorf("image %s: %w", shortID(id), err)
				}
				_, err = fmt.Fprintln(g.Stdout, string(data))
				return err
			})
		},
	}
}

func imageExportCommand() *command {
	var overwrite bool
	return &command{
		name:  "image export",
		usage: "[--overwrite] IMAGE OUTPUT_ACI_FILE",
		short: "export an image from the local store as an uncompressed ACI file",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&overwrite, "overwrite", false, "overwrite the output ACI file")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 2 {
				return usagef("image export needs an image and an output file")
			}
			return withImage(g, args[0], func(st *store.Store, id string) error {
				return exportImage(st, id, args[1], overwrite)
			})
		},
	}
}

// exportImage writes the image's tar to a temp file beside out and renames
// it into place only once the whole blob checked out against its id.
// Failures name out, never the temp file the user does not know of.
func exportImage(st *store.Store, id, out string, overwrite bool) error {
	if fi, err := os.Lstat(out); err == nil {
		if !overwrite {
			return fmt.Errorf("%s: %w", clip.String(out), errExists)
		}
		if fi.IsDir() {
			return fmt.Errorf("export %s to %s: a directory is in the way", shortID(id), clip.String(out))
		}
	}
	rc, err := openImageTar(st, id, out)
	if err != nil {
		return err
	}
	defer rc.Close()
	fail := func(err error) error {
		return fmt.Errorf("export %s to %s: %w", shortID(id), clip.String(out), withoutPath(err))
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".saturn-export-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.CopyBuffer(tmp, rc, make([]byte, 1<<20)); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return err
		}
		return fail(err)
	}
	if err := rc.Close(); err != nil {
		return err
	}
	for _, step := range []func() error{func() error { return tmp.Chmod(0o644) }, tmp.Sync, tmp.Close} {
		if err := step(); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fail(err)
	}
	return nil
}

// imageExtractCommand builds "image extract" (the image's own ACI content)
// and "image render" (the image laid over its dependencies).
//
// Their output is the operator's, on the host: by default it holds no
// device nodes and no setuid or setgid files (nor file capabilities), so
// no host user gains by what an image ships; --same-permissions keeps
// them, as tar's does, with a warning.
func imageExtractCommand(verb, short string) *command {
	var rootfsOnly, overwrite, samePerms bool
	return &command{
		name:  "image " + verb,
		usage: "[--rootfs-only] [--overwrite] [--same-permissions] IMAGE OUTPUT_DIR",
		short: short,
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&rootfsOnly, "rootfs-only", false, "write only the rootfs content into the directory")
			fs.BoolVar(&overwrite, "overwrite", false, "overwrite the output directory")
			fs.BoolVar(&samePerms, "same-permissions", false, "keep the image's device nodes, setuid and setgid bits and security xattrs (by default they are left out)")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 2 {
				return usagef("image %s needs an image and an output directory", verb)
			}
			if samePerms {
				fmt.Fprintf(g.Stderr, "saturn: warning: --same-permissions: %s keeps the image's device nodes and setuid/setgid files; host users who can reach them can use them\n", clip.String(args[1]))
			}
			return withImage(g, args[0], func(st *store.Store, id string) error {
				return writeImageDir(st, id, args[1], imageDirOptions{render: verb == "render", rootfsOnly: rootfsOnly, overwrite: overwrite, hostSafe: !samePerms})
			})
		},
	}
}

// imageDirOptions are image extract's and render's flags.
type imageDirOptions struct {
	render, rootfsOnly, overwrite bool
	// hostSafe leaves device nodes and setuid/setgid bits out.
	hostSafe bool
}

// writeImageDir extracts or renders into a temp dir beside out and moves
// the result into place, so a failure (a corrupted blob, a bad archive)
// leaves no half-written output.
func writeImageDir(st *store.Store, id, out string, o imageDirOptions) error {
	if abs, err := filepath.Abs(out); err != nil || abs == "/" {
		return fmt.Errorf("output directory %q: refusing to replace /", clip.String(out))
	}
	if _, err := os.Lstat(out); err == nil && !o.overwrite {
		return fmt.Errorf("%s: %w", clip.String(out), errExists)
	}
	// Errors name out, not the temp dir beside it.
	fail := func(err error) error {
		return fmt.Errorf("image %s to %s: %w", shortID(id), clip.String(out), withoutPath(err))
	}
	parent := filepath.Dir(filepath.Clean(out))
	tmp, err := os.MkdirTemp(parent, ".saturn-image-*")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	if info, ierr := st.Info(id); ierr == nil && (o.render || info.OCI) {
		// An OCI image's own content is its layers applied in order.
		err = st.RenderTo(id, tmp, aci.RenderOptions{HostSafe: o.hostSafe})
	} else {
		err = extractImage(st, id, tmp, o.hostSafe)
	}
	if err != nil {
		return err
	}
	src := tmp
	if o.rootfsOnly {
		src = filepath.Join(tmp, "rootfs")
	}
	if err := os.Chmod(src, 0o755); err != nil {
		return fail(err)
	}
	if o.overwrite {
		if err := os.RemoveAll(out); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(src, out); err != nil {
		return fail(err)
	}
	return nil
}

func extractImage(st *store.Store, id, dest string, hostSafe bool) error {
	rc, err := st.OpenTar(id)
	if err != nil {
		return err
	}
	xerr := aci.Extract(rc, dest, aci.ExtractOptions{HostSafe: hostSafe})
	// Close reports a corrupted blob even when Extract stopped at the
	// end-of-archive marker; it explains a failed Extract best.
	if cerr := rc.Close(); cerr != nil {
		return cerr
	}
	if xerr != nil {
		return fmt.Errorf("image %s: %w", shortID(id), xerr)
	}
	return nil
}
