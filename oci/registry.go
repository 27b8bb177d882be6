package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/saturn-pods/saturn/clip"
)

// Options configure how sources are read.
type Options struct {
	// Transport makes the HTTP requests to registries (saturn's TLS
	// configuration: system and certs.d authorities, proxies); nil is
	// http.DefaultTransport.
	Transport http.RoundTripper
	// AllowHTTP lets registries be spoken to over plain http; without
	// it every request must be https.
	AllowHTTP bool
	// HTTPFlag names the flag that allows http, for errors.
	HTTPFlag string
	// Credentials returns the user and password for a registry host
	// ("host" or "host:port"), ok false for none (anonymous).
	Credentials func(registry string) (user, password string, ok bool)
	// UserAgent is sent with every registry request.
	UserAgent string
	// Debugf receives a line per registry request (--debug).
	Debugf func(format string, a ...any)
	// Registry returns the configured mirrors of a registry host (tried
	// in order before it) and whether plain http is allowed to it and
	// its mirrors; nil for none.
	Registry func(host string) (mirrors []string, insecure bool)
}

func (o *Options) debugf(format string, a ...any) {
	if o.Debugf != nil {
		o.Debugf(format, a...)
	}
}

// Open resolves src to an image: the manifest for linux and the host's
// architecture, and its config, each checked against its digest. The
// layers are read later, with Image.OpenLayer. Close the image when done.
func Open(ctx context.Context, src *Source, opts Options) (*Image, error) {
	var b blobSource
	var err error
	switch src.Kind {
	case Registry:
		return openRegistry(ctx, src, opts)
	case Layout:
		b, err = openLayoutDir(src)
	case Archive:
		b, err = openLayoutArchive(src)
	case DockerArchive:
		b, err = openDockerArchive(src)
	default:
		err = errors.New("unknown source kind")
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", clip.Safe(src.String()), err)
	}
	img, err := resolve(ctx, src, b)
	if err != nil {
		if c, ok := b.(io.Closer); ok {
			c.Close()
		}
		return nil, fmt.Errorf("image %s: %w", clip.Safe(src.String()), err)
	}
	return img, nil
}

// openRegistry resolves a registry image from its mirrors, in order,
// then from the registry itself. Whatever host serves it, every manifest,
// config and layer is checked against its digest as from the registry.
func openRegistry(ctx context.Context, src *Source, opts Options) (*Image, error) {
	var err error
	for _, h := range hosts(src, &opts) {
		var b *registry
		if b, err = newRegistry(ctx, h, &opts); err == nil {
			var img *Image
			if img, err = resolve(ctx, src, b); err == nil {
				return img, nil
			}
		}
		if h.Ref.Context().RegistryStr() != src.Ref.Context().RegistryStr() {
			opts.debugf("registry: mirror %s: %v; trying the next", h.Ref.Context().RegistryStr(), err)
		}
	}
	return nil, fmt.Errorf("image %s: %w", clip.Safe(src.String()), err)
}

// hosts is src at each of its registry's mirrors, then src itself.
func hosts(src *Source, opts *Options) []*Source {
	if opts.Registry == nil {
		return []*Source{src}
	}
	mirrors, insecure := opts.Registry(src.Ref.Context().RegistryStr())
	var out []*Source
	for _, m := range mirrors {
		ref, err := name.ParseReference(m + "/" + src.Ref.Context().RepositoryStr() + suffix(src.Ref))
		if err != nil {
			opts.debugf("registry: mirror %s: %v", m, err)
			continue
		}
		out = append(out, &Source{Kind: Registry, Ref: ref, Digest: src.Digest, insecure: insecure})
	}
	return append(out, src)
}

// suffix is the ":TAG" or "@DIGEST" of a reference.
func suffix(ref name.Reference) string {
	if d, ok := ref.(name.Digest); ok {
		return "@" + d.DigestStr()
	}
	return ":" + ref.Identifier()
}

// HeadDigest asks the registry (or its first mirror that answers) which
// manifest digest src's tag names now, without downloading it: a tag
// whose digest is what the store holds needs no download. The zero Hash
// means the registry did not say.
func HeadDigest(ctx context.Context, src *Source, opts Options) (v1.Hash, error) {
	var err error
	for _, h := range hosts(src, &opts) {
		var r *registry
		if r, err = newRegistry(ctx, h, &opts); err != nil {
			continue
		}
		var resp *http.Response
		if resp, err = r.request(ctx, http.MethodHead, "manifests", src.Ref.Identifier()); err != nil {
			continue
		}
		resp.Body.Close()
		d, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest"))
		if err != nil {
			return v1.Hash{}, nil
		}
		return d, nil
	}
	return v1.Hash{}, fmt.Errorf("image %s: %w", clip.Safe(src.String()), err)
}

// registry reads manifests and blobs of one repository over the
// registry v2 protocol; go-containerregistry's transport does the ping,
// the basic or token authentication, and picks https or (allowed) http.
type registry struct {
	src    *Source
	repo   name.Repository
	client *http.Client
	opts   *Options
	guard  *schemeGuard
}

func newRegistry(ctx context.Context, src *Source, opts *Options) (*registry, error) {
	ref := src.Ref
	allowHTTP := opts.AllowHTTP
	if opts.Registry != nil {
		if _, insecure := opts.Registry(ref.Context().RegistryStr()); insecure || src.insecure {
			allowHTTP = true
		}
	}
	if allowHTTP {
		// Insecure lets the ping fall back to http for any host.
		var err error
		if ref, err = name.ParseReference(ref.String(), name.Insecure); err != nil {
			return nil, err
		}
	}
	repo := ref.Context()
	inner := opts.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	g := &schemeGuard{inner: inner, allowHTTP: allowHTTP}
	auth := authn.Anonymous
	if opts.Credentials != nil {
		if user, pass, ok := opts.Credentials(repo.RegistryStr()); ok {
			auth = authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})
		}
	}
	opts.debugf("registry: connecting to %s for %s", repo.RegistryStr(), repo.RepositoryStr())
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, g, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, registryError(g, opts, repo.RegistryStr(), err)
	}
	if opts.UserAgent != "" {
		rt = transport.NewUserAgent(rt, opts.UserAgent)
	}
	return &registry{src: src, repo: repo, client: &http.Client{Transport: rt}, opts: opts, guard: g}, nil
}

// schemeGuard refuses plain http unless allowed: go-containerregistry
// tries http by itself for loopback and private addresses.
type schemeGuard struct {
	inner     http.RoundTripper
	allowHTTP bool
	refused   atomic.Bool
}

var errHTTP = errors.New("plain http refused")

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !g.allowHTTP {
		g.refused.Store(true)
		return nil, fmt.Errorf("%s: %w", req.URL.Redacted(), errHTTP)
	}
	return g.inner.RoundTrip(req)
}

// registryError makes one line of a failed connection. go-containerregistry
// reports its https and http attempts together; the http one is of
// interest only when the https one met a plain http server.
func registryError(g *schemeGuard, opts *Options, host string, err error) error {
	msg := oneLine(err).Error()
	if g.refused.Load() {
		if strings.Contains(msg, "HTTP response to HTTPS client") || strings.Contains(msg, "does not look like a TLS handshake") {
			flag := opts.HTTPFlag
			if flag == "" {
				flag = "--insecure-options=http"
			}
			return fmt.Errorf("registry %s does not speak https, and plain http is refused (allow it with %s)", clip.Safe(host), flag)
		}
		var kept []string
		for _, part := range strings.Split(msg, "; ") {
			if !strings.Contains(part, errHTTP.Error()) {
				kept = append(kept, part)
			}
		}
		msg = strings.Join(kept, "; ")
	}
	return fmt.Errorf("registry %s: %s", clip.Safe(host), msg)
}

// accept lists the manifest media types saturn reads.
var accept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
	string(types.OCIImageIndex), string(types.DockerManifestList),
}, ", ")

func (r *registry) request(ctx context.Context, method, kind, ident string) (*http.Response, error) {
	u := url.URL{Scheme: "https", Host: r.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/%s/%s", r.repo.RepositoryStr(), kind, ident)}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if kind == "manifests" {
		req.Header.Set("Accept", accept)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, registryError(r.guard, r.opts, r.repo.RegistryStr(), err)
	}
	// The transport may have taken http for https; say what was asked.
	r.opts.debugf("registry: %s %s: %s", method, resp.Request.URL.Redacted(), resp.Status)
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, r.statusError(kind, ident, err)
	}
	return resp, nil
}

// statusError words the registry's refusals.
func (r *registry) statusError(kind, ident string, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return oneLine(err)
	}
	host := clip.Safe(r.repo.RegistryStr())
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("registry %s refused access to %s (%d %s): check the dockerAuth credentials for %s",
			host, clip.Safe(r.repo.RepositoryStr()), te.StatusCode, http.StatusText(te.StatusCode), host)
	case http.StatusNotFound:
		what := "manifest"
		if kind == "blobs" {
			what = "blob"
		} else if !strings.HasPrefix(ident, "sha256:") {
			what = "tag"
		}
		return fmt.Errorf("%s %s not found in %s/%s", what, clip.Safe(ident), host, clip.Safe(r.repo.RepositoryStr()))
	}
	return fmt.Errorf("registry %s: %s %s: %d %s", host, kind, clip.Safe(ident), te.StatusCode, http.StatusText(te.StatusCode))
}

func (r *registry) top(ctx context.Context) ([]byte, types.MediaType, error) {
	var want *v1.Hash
	if r.src.Digest != "" {
		d, err := v1.NewHash(r.src.Digest)
		if err != nil {
			return nil, "", err
		}
		want = &d
	}
	return r.getManifest(ctx, r.src.Ref.Identifier(), want)
}

func (r *registry) manifest(ctx context.Context, d v1.Hash) ([]byte, types.MediaType, error) {
	return r.getManifest(ctx, d.String(), &d)
}

// getManifest fetches a manifest and checks it against want (by digest)
// or else against the registry's Docker-Content-Digest.
func (r *registry) getManifest(ctx context.Context, ident string, want *v1.Hash) ([]byte, types.MediaType, error) {
	resp, err := r.request(ctx, http.MethodGet, "manifests", ident)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", clip.Safe(ident), err)
	}
	if len(raw) > maxManifestSize {
		return nil, "", fmt.Errorf("manifest %s: larger than %d bytes", clip.Safe(ident), maxManifestSize)
	}
	if want == nil {
		if d, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest")); err == nil {
			want = &d
		}
	}
	if want != nil {
		if err := checkSHA256(raw, *want); err != nil {
			return nil, "", fmt.Errorf("manifest %s (%s): %w", clip.Safe(ident), want, err)
		}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return raw, types.MediaType(mt), nil
}

func (r *registry) blob(ctx context.Context, d v1.Hash, size int64) (io.ReadCloser, error) {
	resp, err := r.request(ctx, http.MethodGet, "blobs", d.String())
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
