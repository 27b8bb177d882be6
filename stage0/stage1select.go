package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/appc/spec/schema"
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/store"
)

// defaultStage1File is the stage1 image used when neither flags nor
// configuration choose one; build.sh puts it in build/stage1-images.
const defaultStage1File = "stage1-nspawn.aci"

// stage1Flags are the per-pod stage1 choices of run and prepare; at most
// one may be set.
type stage1Flags struct {
	Path, URL, Name, Hash, FromDir string
}

// addStage1Flags adds rkt's stage1 selection flags to fs.
func addStage1Flags(fs *pflag.FlagSet, f *stage1Flags) {
	fs.StringVar(&f.URL, "stage1-url", "", "URL to an image to use as stage1")
	fs.StringVar(&f.Path, "stage1-path", "", "absolute or relative path to an image to use as stage1")
	fs.StringVar(&f.Name, "stage1-name", "", "name of an image to use as stage1")
	fs.StringVar(&f.Hash, "stage1-hash", "", "hash of an image to use as stage1")
	fs.StringVar(&f.FromDir, "stage1-from-dir", "", "filename of an image in stage1 images directory to use as stage1")
}

// stage1Image returns the id and manifest of the stage1 image chosen by
// f, the stage1 configuration or the default, importing it into st when
// it comes from a file or URL. The image is checked to be a stage1 saturn
// can drive.
func (g *globals) stage1Image(st *store.Store, f *stage1Flags) (string, *schema.ImageManifest, error) {
	id, err := g.chooseStage1(st, f)
	if err != nil {
		return "", nil, err
	}
	m, err := checkStage1(st, id)
	if err != nil {
		return "", nil, err
	}
	return id, m, nil
}

func (g *globals) chooseStage1(st *store.Store, f *stage1Flags) (string, error) {
	var set []string
	for _, fl := range []struct{ name, v string }{{"stage1-path", f.Path}, {"stage1-url", f.URL}, {"stage1-name", f.Name}, {"stage1-hash", f.Hash}, {"stage1-from-dir", f.FromDir}} {
		if fl.v != "" {
			set = append(set, fl.name)
		}
	}
	if len(set) > 1 {
		// rkt's words; saturn's detail after them.
		return "", usagef("flags --%s and --%s are mutually exclusive (give one of --stage1-path, --stage1-url, --stage1-name, --stage1-hash, --stage1-from-dir)", set[1], set[0])
	}
	switch {
	case f.Path != "":
		return g.importStage1(st, f.Path)
	case f.URL != "":
		return g.importStage1(st, f.URL)
	case f.Name != "":
		// As rkt: the store first, then discovery.
		id, err := newImageFetcher(g, st, pullNew).fetchSigned(f.Name, "")
		if err != nil {
			return "", fmt.Errorf("stage1 image %q: %w", f.Name, err)
		}
		return id, nil
	case f.Hash != "":
		if !strings.HasPrefix(f.Hash, "sha512-") {
			return "", usagef("--stage1-hash takes an image id (sha512-…), got %q", f.Hash)
		}
		id, err := st.Resolve(f.Hash)
		if err != nil {
			return "", fmt.Errorf("stage1 image %s: %w", f.Hash, err)
		}
		return id, nil
	case f.FromDir != "":
		if strings.Contains(f.FromDir, "/") {
			return "", usagef("--stage1-from-dir takes a file name in the stage1 images directory, not a path: %q", f.FromDir)
		}
		return g.importStage1(st, filepath.Join(g.stage1ImagesDir(), f.FromDir))
	}
	return g.defaultStage1(st)
}

// defaultStage1 follows rkt: the configured name:version when the store
// has it, else the configured location, else the image beside saturn.
func (g *globals) defaultStage1(st *store.Store) (string, error) {
	cfg, err := g.config()
	if err != nil {
		return "", err
	}
	s := cfg.Stage1
	if s.Name != "" {
		id, err := st.Resolve(s.Name + ":" + s.Version)
		if err == nil {
			return id, nil
		}
		if s.Location == "" {
			return "", fmt.Errorf("configured stage1 %s:%s is not in the store and stage1.d gives no location", s.Name, s.Version)
		}
	}
	if s.Location != "" {
		id, err := g.importStage1(st, s.Location)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !filepath.IsAbs(s.Location) {
			return id, err
		}
		// As rkt: a configured stage1 file that is missing falls back to
		// the image of that name beside the binary.
		if alt := besideBinary(filepath.Base(s.Location)); alt != "" {
			fmt.Fprintf(g.Stderr, "saturn: warning: configured stage1 image %s does not exist; using %s\n", s.Location, alt)
			return g.importStage1(st, alt)
		}
		return "", err
	}
	return g.importStage1(st, filepath.Join(g.stage1ImagesDir(), defaultStage1File))
}

// besideBinary returns the stage1 image file name that lies beside the
// saturn binary: in its directory, as rkt looked, or in the stage1 images
// directory that goes with it (build/stage1-images, lib/saturn/
// stage1-images); "" when there is none.
func besideBinary(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	for _, dir := range append([]string{filepath.Dir(exe)}, binaryStage1Dirs()...) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// stage1ImagesDir is the paths kind's stage1-images, else the first that
// exists of the stage1-images directory beside the saturn binary
// (build/bin/saturn -> build/stage1-images, so an uninstalled build works)
// and <prefix>/lib/saturn/stage1-images of an installed one (dist/install.sh),
// else saturn's system directory's.
func (g *globals) stage1ImagesDir() string {
	if cfg, err := g.config(); err == nil && cfg.Paths.Stage1Images != "" {
		return cfg.Paths.Stage1Images
	}
	for _, dir := range binaryStage1Dirs() {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
	}
	return filepath.Join(defaultSystemConfig, "stage1-images")
}

// binaryStage1Dirs are the stage1 images directories that go with the
// saturn binary: build/stage1-images of a build, <prefix>/lib/saturn/
// stage1-images of an installation.
func binaryStage1Dirs() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	bin := filepath.Dir(exe)
	return []string{
		filepath.Clean(filepath.Join(bin, "..", "stage1-images")),
		filepath.Clean(filepath.Join(bin, "..", "lib", "saturn", "stage1-images")),
	}
}

// importStage1 brings a stage1 image given as a path or URL into the
// store. URLs go through the image fetcher (HTTP caching, signature
// verification); a local file is trusted, as rkt trusts the stage1 images
// installed beside it, and is not read again while it is unchanged.
func (g *globals) importStage1(st *store.Store, loc string) (string, error) {
	u, err := url.Parse(loc)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		id, err := newImageFetcher(g, st, pullNew).fetchSigned(loc, "")
		if err != nil {
			return "", fmt.Errorf("stage1 image %s: %w", loc, err)
		}
		return id, nil
	}
	path := loc
	if err == nil && u.Scheme == "file" {
		path = u.Path
	} else if err == nil && u.Scheme != "" && !filepath.IsAbs(loc) {
		return "", fmt.Errorf("stage1 image %q: unsupported URL scheme %q (use a path, file://, http:// or https://)", loc, u.Scheme)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("stage1 image %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("stage1 image: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("stage1 image %s is not a regular file", abs)
	}
	key, tag := stage1CacheKey(abs, fi)
	if rem, err := st.GetRemote(key); err == nil && rem != nil && rem.ETag == tag {
		if _, err := st.Manifest(rem.ImageID); err == nil {
			return rem.ImageID, nil
		}
	}
	file, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("stage1 image: %w", err)
	}
	defer file.Close()
	id, err := st.Import(file, store.ImportOptions{Origin: abs})
	if err != nil {
		return "", fmt.Errorf("import stage1 image %s: %w", abs, err)
	}
	g.debugf("imported stage1 image %s as %s", abs, id)
	if err := st.PutRemote(store.Remote{URL: key, ImageID: id, ETag: tag, DownloadTime: time.Now()}); err != nil {
		g.debugf("remember stage1 image %s: %v", abs, err)
	}
	return id, nil
}

// stage1CacheKey names a local stage1 file in the store's remote records,
// with a tag that changes whenever the file may have: its identity, size
// and modification time. The key's scheme keeps it apart from fetched URLs.
func stage1CacheKey(abs string, fi os.FileInfo) (key, tag string) {
	var ino, dev uint64
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino, dev = sys.Ino, uint64(sys.Dev)
	}
	return "saturn-stage1-file://" + abs, fmt.Sprintf("%d:%d:%d:%d", dev, ino, fi.Size(), fi.ModTime().UnixNano())
}

// checkStage1 refuses an image that is no stage1 or speaks a newer stage1
// interface than saturn.
func checkStage1(st *store.Store, id string) (*schema.ImageManifest, error) {
	m, err := st.Manifest(id)
	if err != nil {
		return nil, fmt.Errorf("stage1 image %s: %w", id, err)
	}
	if _, err := stage1InterfaceVersionOf(m); err != nil {
		return nil, err
	}
	return m, nil
}

// stage1InterfaceVersionOf returns the stage1 interface version the image
// manifest declares (1 when it declares none), refusing versions saturn
// does not speak and images without a run entrypoint.
func stage1InterfaceVersionOf(m *schema.ImageManifest) (int, error) {
	name := m.Name.String()
	if _, ok := m.Annotations.Get(stage1abi.EntrypointRun); !ok {
		return 0, fmt.Errorf("image %s is not a stage1 image: no %s annotation", name, stage1abi.EntrypointRun)
	}
	raw, ok := m.Annotations.Get(stage1abi.AnnInterfaceVersion)
	if !ok {
		return 1, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("stage1 image %s: invalid %s %q", name, stage1abi.AnnInterfaceVersion, raw)
	}
	if v > stage1InterfaceVersion {
		return 0, fmt.Errorf("stage1 image %s speaks stage1 interface version %d; saturn supports up to %d", name, v, stage1InterfaceVersion)
	}
	return v, nil
}
