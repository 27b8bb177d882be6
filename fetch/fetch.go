package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/oci"
	"github.com/saturn-pods/saturn/store"
	"github.com/saturn-pods/saturn/trust"
)

// PullPolicy says when an image is fetched from its source rather than
// taken from the store, as rkt's --pull-policy.
type PullPolicy int

const (
	// PullNew takes the image from the store and fetches it only when it
	// is missing; the default of run and prepare.
	PullNew PullPolicy = iota
	// PullUpdate asks the source every time, but downloads only when the
	// source has changed (ETag / Cache-Control); the default of fetch.
	PullUpdate
	// PullNever only looks in the store.
	PullNever
)

// ParsePullPolicy parses the value of --pull-policy.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch s {
	case "new":
		return PullNew, nil
	case "update":
		return PullUpdate, nil
	case "never":
		return PullNever, nil
	}
	return 0, fmt.Errorf("invalid --pull-policy %q (valid: never, new, update)", clip.String(s))
}

func (p PullPolicy) String() string {
	return [...]string{"new", "update", "never"}[p]
}

// Fetcher brings images into the store: from files, URLs or image names
// (by appc discovery), verifying signatures unless told not to, and
// fetching the dependencies of every image it brings.
type Fetcher struct {
	Store  *store.Store
	Trust  *trust.Store
	Client *Client
	Policy PullPolicy
	// InsecureImage accepts unsigned images (--insecure-options=image).
	InsecureImage bool
	// TrustKeysFromHTTPS trusts the keys discovery finds over https for
	// an image that no key is trusted for yet.
	TrustKeysFromHTTPS bool
	// KeyClient fetches discovered public keys; nil means Client. It
	// differs when --insecure-options=pubkey allows keys over plain http.
	KeyClient *Client
	// URLClient fetches an image named by an explicit http:// or https://
	// URL, and its signature beside it; nil means Client. As in rkt, it
	// may speak plain http without --insecure-options=http: the user
	// chose the URL, and the signature check stays. Discovery, which
	// picks URLs from what a server says, keeps using Client.
	URLClient *Client
	// Confirm asks the user whether to trust a discovered key; nil when
	// there is nobody to ask (stdin is not a terminal).
	Confirm func(question string) bool
	// Log receives rkt's progress messages (stderr).
	Log io.Writer
	// Progress draws download progress bars on Log (a terminal).
	Progress bool
	// Debugf, when set, receives --debug lines: what is fetched from
	// where, cache decisions and which key verified an image.
	Debugf func(format string, a ...any)
	// DockerCredentials returns the dockerAuth user and password for a
	// registry host; nil or ok false fetches anonymously.
	DockerCredentials func(registry string) (user, password string, ok bool)
	// DockerRegistry returns a registry host's configured mirrors and
	// whether plain http is allowed to it (the dockerRegistry kind).
	DockerRegistry func(registry string) (mirrors []string, insecure bool)
	// WarnUnverified, when set, replaces the warning printed on Log for
	// each image imported unverified (InsecureImage), so that a command
	// fetching several images can say it once.
	WarnUnverified func()
}

// WarningUnverified is rkt's warning for an image imported without its
// signature checked.
const WarningUnverified = "warning: signature verification has been disabled"

func (f *Fetcher) logf(format string, a ...any) {
	if f.Log != nil {
		fmt.Fprintf(f.Log, format+"\n", a...)
	}
}

func (f *Fetcher) debugf(format string, a ...any) {
	if f.Debugf != nil {
		f.Debugf(format, a...)
	}
}

// Fetch makes the image ref available in the store and returns its id.
// ref is an image id, an ACI file path or file:// URL, an http(s) URL,
// or an image name with optional version and labels. sigFile, when not
// empty, is the image's detached signature on disk (--signature).
func (f *Fetcher) Fetch(ctx context.Context, ref, sigFile string) (string, error) {
	start := time.Now()
	id, err := f.fetchTop(ctx, ref, sigFile)
	if err != nil {
		return "", err
	}
	if err := f.fetchDeps(ctx, id, map[string]bool{}); err != nil {
		// An image whose dependencies cannot be had is no use; leave the
		// store as it was.
		f.removeIfNew(id, start)
		return "", fmt.Errorf("image %s: %w", clip.String(ref), err)
	}
	return id, nil
}

func (f *Fetcher) fetchTop(ctx context.Context, ref, sigFile string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "sha512-"):
		f.debugf("fetch: %s is an image id: looking in the store only", clip.String(ref))
		return f.Store.Resolve(ref)
	case oci.IsSource(ref):
		f.debugf("fetch: %s is a Docker/OCI image (pull policy %s)", clip.String(ref), f.Policy)
		return f.fetchOCI(ctx, ref)
	case strings.HasPrefix(ref, "http://"), strings.HasPrefix(ref, "https://"):
		f.debugf("fetch: %s is a URL (pull policy %s)", clip.String(ref), f.Policy)
		byURL := *f
		if f.URLClient != nil {
			byURL.Client = f.URLClient
		}
		return byURL.fetchRemote(ctx, ref, ref+".asc", sigFile, nil, "")
	case strings.HasPrefix(ref, "file://"):
		return f.fetchFile(strings.TrimPrefix(ref, "file://"), sigFile)
	case strings.Contains(ref, "://"):
		return "", fmt.Errorf("image %s: unsupported URL scheme", clip.String(ref))
	}
	// As rkt: a file named like the image wins over discovery.
	if fi, err := os.Stat(ref); err == nil && !fi.IsDir() || looksLikePath(ref) {
		return f.fetchFile(ref, sigFile)
	}
	f.debugf("fetch: %s is an image name (pull policy %s)", clip.String(ref), f.Policy)
	return f.fetchName(ctx, ref)
}

// looksLikePath tells a file the user meant from an image name, as rkt
// does: names never start with "/" or "." and never end in ".aci".
func looksLikePath(ref string) bool {
	return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") || strings.HasSuffix(ref, ".aci")
}

// fetchName finds an image by name in the store or by discovery.
func (f *Fetcher) fetchName(ctx context.Context, ref string) (string, error) {
	app, err := ParseApp(ref)
	if err != nil {
		return "", err
	}
	if f.Policy != PullUpdate {
		id, err := f.Store.Resolve(ref)
		if err == nil {
			f.debugf("fetch: %s found in the store as %s; not asking the network (pull policy %s)", clip.String(ref), id, f.Policy)
			return id, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if f.Policy == PullNever {
			return "", fmt.Errorf("cannot find image %q: not found in the store (--pull-policy=never)", clip.String(ref))
		}
		f.debugf("fetch: %s not in the store; discovering it", clip.String(ref))
	}
	return f.discoverAndFetch(ctx, app, "")
}

// discoverAndFetch finds app by appc discovery and fetches it; wantID,
// when set, is the image id a pinned dependency requires.
func (f *Fetcher) discoverAndFetch(ctx context.Context, app *discovery.App, wantID string) (string, error) {
	f.logf("searching for app image %s", clip.String(app.Name.String()))
	ep, err := f.Client.DiscoverImage(ctx, app)
	if err != nil {
		return "", err
	}
	f.debugf("discovery: %s is served at %s, signature at %s", appString(app), ep.ACI, ep.ASC)
	if err := f.ensureKeys(ctx, app.Name.String()); err != nil {
		return "", err
	}
	return f.fetchRemote(ctx, ep.ACI, ep.ASC, "", app, wantID)
}

// fetchRemote brings the image at aciURL into the store, honouring the
// pull policy and what the store remembers of the URL. app is the
// discovered name and labels the image must carry, nil for a plain URL;
// wantID, when set, refuses any other image before it is stored.
func (f *Fetcher) fetchRemote(ctx context.Context, aciURL, ascURL, sigFile string, app *discovery.App, wantID string) (string, error) {
	rem, err := f.Store.GetRemote(aciURL)
	if err != nil {
		return "", err
	}
	if rem != nil {
		f.debugf("cache: %s was downloaded %s as %s (ETag %q, max-age %s)", aciURL,
			rem.DownloadTime.Format(time.RFC3339), rem.ImageID, rem.ETag, rem.MaxAge)
	} else {
		f.debugf("cache: %s was never downloaded into this store", aciURL)
	}
	switch {
	case f.Policy == PullNever && rem == nil:
		return "", fmt.Errorf("cannot find image %q: not found in the store (--pull-policy=never)", clip.String(aciURL))
	case f.Policy == PullNever, f.Policy == PullNew && rem != nil:
		f.debugf("cache: using the stored image without asking (pull policy %s)", f.Policy)
		return rem.ImageID, nil
	case rem != nil && rem.MaxAge > 0 && time.Since(rem.DownloadTime) < rem.MaxAge:
		f.logf("using image from local store for %s (still fresh per Cache-Control)", clip.String(aciURL))
		return rem.ImageID, nil
	}
	// Without a stored copy the signature comes first, so an image that
	// cannot be verified is not downloaded at all; with one, the image is
	// revalidated first and the signature only fetched when it changed.
	var sig []byte
	deferred := false
	if rem == nil {
		if sig, deferred, err = f.signatureOrDeferred(ctx, aciURL, ascURL, sigFile); err != nil {
			return "", err
		}
	}
	var cache *CacheState
	if rem != nil {
		cache = &CacheState{ETag: rem.ETag}
		f.debugf("cache: revalidating %s with ETag %q", aciURL, rem.ETag)
	}
	f.logf("remote fetching from URL %q", clip.String(aciURL))
	dl, err := f.Client.OpenImage(ctx, aciURL, cache)
	if err != nil {
		return "", err
	}
	defer dl.Close()
	if dl.NotModified {
		f.logf("image at %s not modified; using the stored image", clip.String(aciURL))
		err := f.Store.PutRemote(store.Remote{URL: aciURL, ImageID: rem.ImageID, ETag: dl.ETag,
			MaxAge: dl.MaxAge, DownloadTime: time.Now(), SignatureURL: rem.SignatureURL})
		return rem.ImageID, err
	}
	if rem != nil {
		if sig, deferred, err = f.signatureOrDeferred(ctx, aciURL, ascURL, sigFile); err != nil {
			return "", err
		}
	}
	name := ""
	if app != nil {
		name = app.Name.String()
	}
	opts := store.ImportOptions{Origin: aciURL, ETag: dl.ETag, MaxAge: dl.MaxAge, SignatureURL: ascURL,
		Latest: isLatest(app), WantID: wantID}
	if app != nil {
		// Checked before the image becomes visible: a mislabeled image
		// never enters the store.
		opts.Check = func(m *schema.ImageManifest) error { return checkLabels(m, app) }
	}
	if deferred {
		return f.importDeferred(ctx, aciURL, ascURL, dl, name, opts)
	}
	return f.importStream(aciURL, dl, dl.Size, sig, name, opts)
}

// signatureOrDeferred is signature for a remote image whose signature
// server may answer 202 Accepted: then deferred is set, and the signature
// is asked for again once the image is downloaded, as rkt did.
func (f *Fetcher) signatureOrDeferred(ctx context.Context, image, ascURL, sigFile string) (sig []byte, deferred bool, err error) {
	sig, err = f.signature(ctx, image, ascURL, sigFile)
	if errors.Is(err, ErrDeferred) {
		f.logf("server requested deferring the signature download")
		return nil, true, nil
	}
	return sig, false, err
}

// importDeferred downloads the image into a temporary file of the store,
// then asks for its signature a second and last time (rkt's deferred
// signature download: the server had it in the making while it sent the
// image) and imports the file, verified, as importStream does. A second
// 202 is an error, as it was in rkt.
func (f *Fetcher) importDeferred(ctx context.Context, aciURL, ascURL string, dl *Download, name string, opts store.ImportOptions) (string, error) {
	tmp, err := f.Store.TempFile()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", clip.String(aciURL), err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var r io.Reader = dl
	if f.Progress {
		r = newProgressReader(r, f.Log, "Downloading ACI", dl.Size)
	}
	if _, err := io.Copy(tmp, r); err != nil {
		return "", fmt.Errorf("image %s: %w", clip.String(aciURL), err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	sig, err := f.signature(ctx, aciURL, ascURL, "")
	if errors.Is(err, ErrDeferred) {
		return "", fmt.Errorf("image %s: error downloading the signature file: server asked to defer the download again", clip.String(aciURL))
	}
	if err != nil {
		return "", err
	}
	return f.importVerified(aciURL, tmp, sig, name, opts)
}

// signature reads the detached signature of image, from sigFile or the
// URL; nil when signatures are switched off.
func (f *Fetcher) signature(ctx context.Context, image, ascURL, sigFile string) ([]byte, error) {
	if f.InsecureImage {
		if f.WarnUnverified != nil {
			f.WarnUnverified()
		} else {
			f.logf("%s", WarningUnverified)
		}
		return nil, nil
	}
	if sigFile != "" {
		f.debugf("signature: reading %s", sigFile)
		sig, err := os.ReadFile(sigFile)
		if err != nil {
			return nil, fmt.Errorf("image %s: signature verification needs its signature: %w", clip.String(image), err)
		}
		if err := trust.CheckSignatureFile(sig); err != nil {
			return nil, fmt.Errorf("image %s: signature file %s %w", clip.String(image), clip.String(sigFile), err)
		}
		return sig, nil
	}
	f.logf("downloading signature from %s", clip.String(ascURL))
	sig, err := f.Client.GetSmall(ctx, ascURL)
	if err != nil {
		return nil, fmt.Errorf("image %s: signature verification needs its signature: %w (fetch unsigned images with --insecure-options=image)", clip.String(image), err)
	}
	if err := trust.CheckSignatureFile(sig); err != nil {
		return nil, fmt.Errorf("image %s: signature %s %w", clip.String(image), clip.String(ascURL), err)
	}
	return sig, nil
}

// isLatest reports whether app was asked for without a version: rkt's
// "latest pattern", which image list shows in its LATEST column.
func isLatest(app *discovery.App) bool {
	if app == nil {
		return false
	}
	v, ok := app.Labels["version"]
	return !ok || v == "latest"
}

// fetchFile imports a local ACI, verified by sigFile or the .asc file
// beside it.
func (f *Fetcher) fetchFile(path, sigFile string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	// A missing file is the error to report, before any word on its
	// signature.
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("image file: %w", clipPathError(err))
	}
	if fi.IsDir() {
		return "", fmt.Errorf("image file %s is a directory, not an ACI file", clip.String(path))
	}
	f.debugf("fetch: importing the local file %s", abs)
	if !f.InsecureImage && sigFile == "" {
		sigFile = path + ".asc"
		if _, err := os.Stat(sigFile); err != nil {
			return "", fmt.Errorf("image %s: signature verification needs its signature, and %s does not exist; give one with --signature or fetch unsigned images with --insecure-options=image", clip.String(path), clip.String(sigFile))
		}
	}
	sig, err := f.signature(context.Background(), path, "", sigFile)
	if err != nil {
		return "", err
	}
	file, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("image file: %w", clipPathError(err))
	}
	defer file.Close()
	return f.importStream(path, file, fi.Size(), sig, "", store.ImportOptions{Origin: abs})
}

// importStream imports the image read from src (a path or URL, for
// messages) via r, checking sig on the way when it is not nil. The
// signature's verdict comes before the image becomes visible, and the
// signature is stored with it; nothing stays in the store when the check
// fails.
func (f *Fetcher) importStream(src string, r io.Reader, size int64, sig []byte, name string, opts store.ImportOptions) (string, error) {
	if f.Progress {
		r = newProgressReader(r, f.Log, "Downloading ACI", size)
	}
	return f.importVerified(src, r, sig, name, opts)
}

// importVerified is importStream without the progress bar.
func (f *Fetcher) importVerified(src string, r io.Reader, sig []byte, name string, opts store.ImportOptions) (string, error) {
	if sig == nil {
		id, err := f.Store.Import(r, opts)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", clip.String(src), err)
		}
		return id, nil
	}
	v := newVerifyingReader(r, f.Trust, sig, name)
	defer v.close()
	opts.Signature = sig
	check := opts.Check
	opts.Check = func(m *schema.ImageManifest) error {
		if err := v.verdict(); err != nil {
			return err
		}
		if check != nil {
			return check(m)
		}
		return nil
	}
	id, err := f.Store.Import(v, opts)
	if err != nil {
		if v.finished && v.final != nil && !errors.Is(v.final, io.EOF) {
			// The signature's own message names the image.
			return "", v.final
		}
		return "", fmt.Errorf("image %s: %w", clip.String(src), err)
	}
	f.logf("signature verified:")
	for _, uid := range v.Signer.UserIDs {
		f.logf("  %s", uid)
	}
	f.debugf("signature: %s verified by key %s", id, v.Signer.Fingerprint)
	return id, nil
}

// removeIfNew takes back an image this fetch imported, leaving one that
// was in the store before alone.
func (f *Fetcher) removeIfNew(id string, start time.Time) {
	info, err := f.Store.Info(id)
	if err == nil && !info.ImportTime.Before(start) {
		f.Store.Remove(id)
	}
}

// checkLabels enforces the spec's rule that a discovered image carries
// the name and labels it was discovered by; the os and arch this
// machine filled in only bind when the image sets them.
func checkLabels(m *schema.ImageManifest, app *discovery.App) error {
	var problems []string
	if m.Name != app.Name {
		problems = append(problems, fmt.Sprintf("name %s", clip.String(m.Name.String())))
	}
	keys := make([]string, 0, len(app.Labels))
	for k := range app.Labels {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := app.Labels[types.ACIdentifier(k)]
		got, ok := m.GetLabel(k)
		if !ok && (k == "os" || k == "arch") {
			continue
		}
		if got != want {
			problems = append(problems, fmt.Sprintf("label %s=%q (want %q)", k, clip.String(got), clip.String(want)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("image discovered as %s has %s", clip.String(appString(app)), strings.Join(problems, ", "))
	}
	return nil
}

// fetchDeps makes the dependencies of the stored image id available,
// recursively, each discovered and verified like a top-level image.
func (f *Fetcher) fetchDeps(ctx context.Context, id string, seen map[string]bool) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	m, err := f.Store.Manifest(id)
	if err != nil {
		return err
	}
	for _, dep := range m.Dependencies {
		depID, err := f.fetchDep(ctx, dep)
		if err != nil {
			return err
		}
		if err := f.fetchDeps(ctx, depID, seen); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fetcher) fetchDep(ctx context.Context, dep types.Dependency) (string, error) {
	pinned := dep.ImageID != nil && !dep.ImageID.Empty()
	var findErr error
	if f.Policy != PullUpdate || pinned {
		id, err := f.Store.FindDependency(dep)
		if err == nil {
			f.debugf("dependency: %s found in the store as %s", depString(dep), id)
			return id, nil
		}
		if f.Policy == PullNever {
			return "", fmt.Errorf("%w (--pull-policy=never)", err)
		}
		findErr = err
	}
	app, err := depApp(dep)
	if err != nil {
		return "", err
	}
	wantID := ""
	if pinned {
		wantID = dep.ImageID.String()
	}
	f.debugf("dependency: discovering %s", depString(dep))
	id, err := f.discoverAndFetch(ctx, app, wantID)
	if err != nil {
		if findErr != nil {
			return "", fmt.Errorf("%v, and %w", findErr, err)
		}
		return "", fmt.Errorf("dependency %s: %w", clip.String(dep.ImageName.String()), err)
	}
	if pinned && id != dep.ImageID.String() {
		return "", fmt.Errorf("discovered image %s, but the dependency requires %s", types.ShortHash(id), types.ShortHash(dep.ImageID.String()))
	}
	return id, nil
}

// depApp is the discovery query of a dependency: its name and labels,
// with this machine's os and arch unless it names them.
func depApp(dep types.Dependency) (*discovery.App, error) {
	labels := map[types.ACIdentifier]string{}
	for _, l := range dep.Labels {
		labels[l.Name] = l.Value
	}
	app, err := discovery.NewApp(dep.ImageName.String(), labels)
	if err != nil {
		return nil, err
	}
	def, err := ParseApp(dep.ImageName.String())
	if err != nil {
		return nil, err
	}
	for _, k := range []types.ACIdentifier{"os", "arch"} {
		if _, ok := app.Labels[k]; !ok {
			app.Labels[k] = def.Labels[k]
		}
	}
	return app, nil
}

// ensureKeys looks for the public keys of an image that no key is trusted
// for yet, and trusts them when --trust-keys-from-https allows (keys got
// over https) or the user confirms.
func (f *Fetcher) ensureKeys(ctx context.Context, name string) error {
	if f.InsecureImage {
		return nil
	}
	keyring, err := f.Trust.Keyring(name)
	if err != nil || len(keyring) > 0 {
		return err
	}
	urls, err := f.Client.DiscoverKeys(ctx, name)
	if err != nil {
		// Verification will say that no key is trusted for the image.
		return nil
	}
	for _, u := range urls {
		if err := f.offerKeys(ctx, name, u); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fetcher) offerKeys(ctx context.Context, prefix, u string) error {
	client := f.KeyClient
	if client == nil {
		client = f.Client
	}
	data, err := client.GetSmall(ctx, u)
	if err != nil {
		return fmt.Errorf("public key for %s: %w", prefix, err)
	}
	keys, err := trust.ParseKeys(data)
	if err != nil {
		return fmt.Errorf("public key %s: %w", u, err)
	}
	for _, k := range keys {
		if err := trust.CheckKey(k); err != nil {
			return fmt.Errorf("public key %s: %w", u, err)
		}
		if f.Log != nil {
			trust.PrintReview(f.Log, prefix, u, k)
		}
		switch {
		case f.TrustKeysFromHTTPS && strings.HasPrefix(u, "https://"):
			f.logf("Trusting key %s for prefix %q (--trust-keys-from-https).", k.Fingerprint, prefix)
		case f.Confirm != nil && f.Confirm("Are you sure you want to trust this key (yes/no)? "):
		default:
			f.logf("Key %s not trusted.", k.Fingerprint)
			continue
		}
		path, err := f.Trust.Add(prefix, k)
		if err != nil {
			return err
		}
		f.logf("Added key for prefix %q at %q", prefix, path)
	}
	return nil
}
