package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/oci"
	"github.com/saturn-pods/saturn/store"
)

// fetchOCI brings a Docker or OCI image into the store (docker://, oci:,
// oci-archive:, docker-archive:). Such images are unsigned: they need
// --insecure-options=image unless pinned by digest, which is then
// checked and needs nothing else. Pull policies work as for ACIs; for a
// registry tag, "update" asks the registry for the tag's digest (HEAD)
// and downloads only when it changed.
func (f *Fetcher) fetchOCI(ctx context.Context, ref string) (string, error) {
	src, err := oci.ParseSource(ref)
	if err != nil {
		return "", err
	}
	name := clip.Safe(src.String())
	if src.Digest == "" && !f.InsecureImage {
		return "", fmt.Errorf("image %s: Docker and OCI images are unsigned; pin it by digest (@sha256:…) or allow unsigned images with --insecure-options=image", name)
	}
	if id, ok, err := f.storedOCI(ctx, src); err != nil || ok {
		return id, err
	}
	f.logf("fetching image %s", name)
	img, err := oci.Open(ctx, src, f.ociOptions())
	if err != nil {
		return "", err
	}
	defer img.Close()
	opts := store.OCIImportOptions{Origin: src.String(), Log: f.debugf}
	if src.Kind == oci.Registry && src.Digest == "" {
		opts.RemoteURL = src.String()
	}
	id, err := f.Store.ImportOCI(ctx, img, opts)
	if err != nil {
		return "", err
	}
	f.debugf("fetch: %s is %s (manifest %s)", name, id, img.Digest)
	return id, nil
}

// storedOCI applies the pull policy: ok when the store's image serves.
func (f *Fetcher) storedOCI(ctx context.Context, src *oci.Source) (string, bool, error) {
	name := clip.Safe(src.String())
	if src.Kind != oci.Registry {
		// A local layout or archive is read every time (its manifest
		// names the image; layers already stored are not read again),
		// except under "never".
		if f.Policy != PullNever {
			return "", false, nil
		}
	}
	id, err := f.Store.FindOCI(src)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", false, err
	}
	switch {
	case f.Policy == PullNever && !found:
		return "", false, fmt.Errorf("image %s not found in the store (--pull-policy=never)", name)
	case f.Policy == PullNever, found && (f.Policy == PullNew || src.Digest != ""):
		// A digest names the same image forever.
		f.debugf("fetch: %s found in the store as %s (pull policy %s)", name, id, f.Policy)
		return id, true, nil
	case !found || src.Kind != oci.Registry:
		return "", false, nil
	}
	rem, err := f.Store.GetRemote(src.String())
	if err != nil || rem == nil {
		return "", false, err
	}
	d, err := oci.HeadDigest(ctx, src, f.ociOptions())
	if err != nil {
		return "", false, err
	}
	if d.Hex == "" || d.String() != rem.ETag {
		f.debugf("fetch: %s now names %s, the store has %s: fetching", name, d, rem.ETag)
		return "", false, nil
	}
	f.logf("image %s unchanged (%s); using the stored image", name, d)
	rem.DownloadTime = time.Now()
	return rem.ImageID, true, f.Store.PutRemote(*rem)
}

func (f *Fetcher) ociOptions() oci.Options {
	o := oci.Options{
		AllowHTTP:   f.Client.opts.AllowHTTP,
		HTTPFlag:    f.Client.httpFlag(),
		Credentials: f.DockerCredentials,
		Registry:    f.DockerRegistry,
		UserAgent:   f.Client.opts.UserAgent,
		Debugf:      f.Debugf,
	}
	o.Transport = f.Client.transport()
	return o
}

// transport is the client's transport with its certificate authorities
// loaded, for the registry client, which makes its own requests.
func (c *Client) transport() http.RoundTripper {
	c.loadRoots()
	return c.hc.Transport
}
