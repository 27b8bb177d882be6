package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/store"
)

// Pull policies, as rkt's --pull-policy.
const (
	pullNever  = "never"  // use only what is in the store
	pullNew    = "new"    // use the store, fetch what is missing
	pullUpdate = "update" // always ask the remote (honouring HTTP caching)
)

// errUnsigned is what every fetch says while signature verification is
// not available: only --insecure-options=image may bring images in.
var errUnsigned = errors.New("signature verification is unavailable in this saturn; use --insecure-options=image to fetch the image unsigned")

// fetchFlags are the flags fetch, run and prepare share.
type fetchFlags struct {
	pullPolicy string
	noStore    bool
	storeOnly  bool
	signatures []string
}

func (f *fetchFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.pullPolicy, "pull-policy", pullNew, "when to pull an image: never (store only), new (if not in store), update (always check the remote)")
	fs.BoolVar(&f.noStore, "no-store", false, "fetch images ignoring the local store (same as --pull-policy=update)")
	fs.BoolVar(&f.storeOnly, "store-only", false, "use only images in the local store (same as --pull-policy=never)")
	fs.StringArrayVar(&f.signatures, "signature", nil, "local signature file to use in validating the preceding image")
}

// policy returns the effective pull policy.
func (f *fetchFlags) policy() (string, error) {
	switch {
	case f.noStore && f.storeOnly:
		return "", usagef("--no-store and --store-only cannot be used together")
	case f.noStore:
		return pullUpdate, nil
	case f.storeOnly:
		return pullNever, nil
	}
	switch f.pullPolicy {
	case pullNever, pullNew, pullUpdate:
		return f.pullPolicy, nil
	}
	return "", usagef("invalid --pull-policy %q (want never, new or update)", f.pullPolicy)
}

// imageFetcher brings images into the store for fetch, run and prepare.
type imageFetcher struct {
	g      *globals
	st     *store.Store
	policy string
	client *http.Client
}

func newImageFetcher(g *globals, st *store.Store, policy string) *imageFetcher {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if g.Insecure.TLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	tr.ResponseHeaderTimeout = time.Minute
	return &imageFetcher{g: g, st: st, policy: policy, client: &http.Client{Transport: tr}}
}

// fetch returns the id of the stored image ref names, fetching it as the
// pull policy allows: a path or file:// URL is always imported, an
// http(s) URL is looked up in the store's remote cache first, a name is
// looked up in the store.
func (f *imageFetcher) fetch(ref string) (string, error) {
	if path, ok := localACIPath(ref); ok {
		return f.fetchFile(path)
	}
	switch {
	case strings.HasPrefix(ref, "http://"), strings.HasPrefix(ref, "https://"):
		return f.fetchURL(ref)
	case strings.HasPrefix(ref, "docker://"):
		return "", fmt.Errorf("%s: docker images are not supported", ref)
	case strings.Contains(ref, "://"):
		return "", fmt.Errorf("%s: unsupported URL scheme (want file, http or https)", ref)
	case strings.HasSuffix(ref, ".aci"), strings.HasPrefix(ref, "/"), strings.HasPrefix(ref, "./"):
		if _, err := os.Stat(ref); err != nil {
			return "", fmt.Errorf("image file: %w", err)
		}
		return "", fmt.Errorf("image file %s is not a regular file", ref)
	}
	return f.fetchName(ref)
}

func (f *imageFetcher) fetchFile(path string) (string, error) {
	if !f.g.Insecure.Image {
		return "", fmt.Errorf("%s: %w", path, errUnsigned)
	}
	file, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("image file: %w", err)
	}
	defer file.Close()
	if fi, err := file.Stat(); err == nil && !fi.Mode().IsRegular() {
		return "", fmt.Errorf("image file %s is not a regular file", path)
	}
	id, err := f.st.Import(file, store.ImportOptions{Origin: absPath(path), RequireDependencies: true})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

func (f *imageFetcher) fetchName(name string) (string, error) {
	id, err := f.st.Resolve(name)
	if err == nil && f.policy != pullUpdate {
		return id, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if f.policy == pullNever {
		return "", fmt.Errorf("image %q not found in the store (--pull-policy=never)", name)
	}
	if err == nil {
		// Without discovery the stored image is the newest saturn can know.
		f.g.debugf("image %s: discovery unavailable, using the stored %s", name, shortID(id))
		return id, nil
	}
	return "", fmt.Errorf("image %q not found in the store, and fetching by name (appc discovery) is unavailable in this saturn; fetch it by path or URL", name)
}

func (f *imageFetcher) fetchURL(url string) (string, error) {
	if strings.HasPrefix(url, "http://") && !f.g.Insecure.HTTP {
		return "", fmt.Errorf("%s: fetching over plain http needs --insecure-options=http", url)
	}
	rem, err := f.st.GetRemote(url)
	if err != nil {
		return "", err
	}
	switch {
	case rem != nil && f.policy != pullUpdate:
		return rem.ImageID, nil
	case rem != nil && rem.MaxAge > 0 && time.Since(rem.DownloadTime) < rem.MaxAge:
		return rem.ImageID, nil
	case f.policy == pullNever:
		return "", fmt.Errorf("image %s not found in the store (--pull-policy=never)", url)
	}
	if !f.g.Insecure.Image {
		return "", fmt.Errorf("%s: %w", url, errUnsigned)
	}
	return f.download(url, rem)
}

// download GETs url into the store, revalidating a cached copy by ETag.
func (f *imageFetcher) download(url string, rem *store.Remote) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", url, err)
	}
	if rem != nil && rem.ETag != "" {
		req.Header.Set("If-None-Match", rem.ETag)
	}
	fmt.Fprintf(f.g.Stderr, "saturn: fetching image from %s\n", url)
	resp, err := f.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	maxAge := cacheMaxAge(resp.Header.Get("Cache-Control"))
	switch {
	case resp.StatusCode == http.StatusNotModified && rem != nil:
		rem.DownloadTime, rem.MaxAge = time.Now(), maxAge
		if err := f.st.PutRemote(*rem); err != nil {
			return "", err
		}
		return rem.ImageID, nil
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("fetch %s: server answered %s", url, resp.Status)
	}
	id, err := f.st.Import(resp.Body, store.ImportOptions{
		Origin: url, ETag: resp.Header.Get("ETag"), MaxAge: maxAge, RequireDependencies: true,
	})
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", url, err)
	}
	return id, nil
}

// cacheMaxAge returns the max-age of a Cache-Control header; no-cache,
// no-store or no max-age mean the copy must be revalidated every time.
func cacheMaxAge(cc string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-cache" || d == "no-store":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age="))
			if err == nil && n > 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}

// absPath makes a path absolute for recording an image's origin.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func fetchCommands(g *globals) []*command {
	var ff fetchFlags
	var full bool
	return []*command{{
		name:  "fetch",
		usage: "[--full] [--pull-policy=never|new|update] IMAGE...",
		short: "fetch images into the local store",
		flags: func(fs *pflag.FlagSet) {
			ff.add(fs)
			fs.BoolVar(&full, "full", false, "print the full image id after fetching")
		},
		run: func(g *globals, args []string) error {
			if len(args) == 0 {
				return usagef("fetch needs at least one image")
			}
			policy, err := ff.policy()
			if err != nil {
				return err
			}
			st, err := openStore(g)
			if err != nil {
				return err
			}
			defer st.Close()
			f := newImageFetcher(g, st, policy)
			for _, ref := range args {
				id, err := f.fetch(ref)
				if err != nil {
					return err
				}
				if !full {
					id = shortID(id)
				}
				fmt.Fprintln(g.Stdout, id)
			}
			return nil
		},
	}}
}
