// Package fetch is the remote side of saturn's image fetching: appc meta
// discovery of image names, HTTPS downloads that revalidate what the store
// already holds (ETag, Cache-Control max-age), per-host auth headers,
// resumed downloads, a progress bar, and the verification of image
// signatures against the trust store while the image streams into the
// store.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/saturn-pods/saturn/clip"
)

// ClientOptions configure the HTTP client of every fetch.
type ClientOptions struct {
	// InsecureTLS accepts any server certificate (--insecure-options=tls).
	InsecureTLS bool
	// AllowHTTP permits plain http:// (--insecure-options=http).
	AllowHTTP bool
	// ConfigDirs are saturn's configuration directories (system, local,
	// user); every *.pem and *.crt file in their certs.d subdirectory is
	// trusted as a certificate authority besides the system's.
	ConfigDirs []string
	// AuthHeader returns the headers (e.g. Authorization) to send to a
	// host ("host" or "host:port"); nil or a nil result sends none.
	AuthHeader func(host string) http.Header
	// UserAgent is sent with every request.
	UserAgent string
	// HTTPFlag is the flag that allows plain http, named when an http://
	// URL is refused; default --insecure-options=http.
	HTTPFlag string
	// Debugf, when set, receives a line per request (--debug).
	Debugf func(format string, a ...any)
}

// Client makes saturn's HTTP requests.
type Client struct {
	hc   *http.Client
	opts ClientOptions
	// tlsConf gets its RootCAs just before the first request: loading
	// the system's authorities takes ~10ms, and most runs of a stored
	// image never go to the network.
	tlsConf   *tls.Config
	extraCAs  [][]byte // PEM of the certs.d authorities, checked by NewClient
	rootsOnce sync.Once
}

// NewClient builds a client from opts, loading the extra certificate
// authorities of the configuration directories.
func NewClient(opts ClientOptions) (*Client, error) {
	extra, err := extraCAs(opts.ConfigDirs)
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{InsecureSkipVerify: opts.InsecureTLS}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   4,
		// Images are mostly compressed already; asking for gzip transfer
		// encoding would only cost CPU and break byte-range resumes.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	c := &Client{opts: opts, tlsConf: tlsConf, extraCAs: extra}
	c.hc = &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	return c, nil
}

// extraCAs reads the certs.d authorities, refusing files without a
// PEM certificate.
func extraCAs(dirs []string) ([][]byte, error) {
	var out [][]byte
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "certs.d", "*"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !strings.HasSuffix(f, ".pem") && !strings.HasSuffix(f, ".crt") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("certificate authority %s: %w", f, err)
			}
			if !x509.NewCertPool().AppendCertsFromPEM(data) {
				return nil, fmt.Errorf("certificate authority %s: no PEM certificate found", f)
			}
			out = append(out, data)
		}
	}
	return out, nil
}

// loadRoots trusts the system pool plus the certs.d authorities, once,
// before the client's first request.
func (c *Client) loadRoots() {
	c.rootsOnce.Do(func() {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, pem := range c.extraCAs {
			pool.AppendCertsFromPEM(pem)
		}
		c.tlsConf.RootCAs = pool
	})
}

// checkRedirect follows redirects (discovery requires it) but never from
// https down to plain http unless http is allowed, and re-applies the auth
// headers of the new host, which Go drops when the host changes.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if err := c.checkScheme(req.URL.String()); err != nil {
		return fmt.Errorf("redirect from %s: %w", clip.String(via[len(via)-1].URL.String()), err)
	}
	c.addAuth(req)
	return nil
}

// checkScheme refuses URLs saturn may not fetch from.
func (c *Client) checkScheme(u string) error {
	switch {
	case strings.HasPrefix(u, "https://"):
		return nil
	case strings.HasPrefix(u, "http://"):
		if c.opts.AllowHTTP {
			return nil
		}
		return fmt.Errorf("refusing plain http URL %s (allow it with %s)", clip.String(u), c.httpFlag())
	}
	return fmt.Errorf("unsupported URL %s: only https:// (and http:// with %s)", clip.String(u), c.httpFlag())
}

func (c *Client) addAuth(req *http.Request) {
	if c.opts.AuthHeader == nil {
		return
	}
	for k, vs := range c.opts.AuthHeader(req.URL.Host) {
		req.Header[k] = vs
	}
}

// get sends a GET for u with the extra headers hdr.
func (c *Client) get(ctx context.Context, u string, hdr http.Header) (*http.Response, error) {
	if err := c.checkScheme(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", clip.String(u), err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if c.opts.UserAgent != "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	c.addAuth(req)
	c.loadRoots()
	c.debugf("http: GET %s", u)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.debugf("http: GET %s failed: %v", u, err)
		if isTLSFailure(err) {
			return nil, &tlsError{url: u, err: err}
		}
		// url.Error repeats the URL; the message names it once, clipped.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", clip.String(u), err)
	}
	c.debugf("http: GET %s: %s", u, resp.Status)
	return resp, nil
}

// statusError describes an unexpected HTTP status of a GET.
func statusError(u string, resp *http.Response) error {
	return fmt.Errorf("GET %s: server answered %s", clip.String(u), resp.Status)
}
