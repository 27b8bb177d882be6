package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/saturn-pods/saturn/clip"
)

// attempts is how often a request is tried before giving up, and how many
// times a broken download is resumed.
const attempts = 3

// retryDelay is the pause before retry n (1-based).
func retryDelay(n int) time.Duration { return time.Duration(n*n) * 200 * time.Millisecond }

// retryable reports whether a failed request is worth repeating: network
// errors and server-side (5xx) failures are, client errors are not.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		var te *tlsError
		return !errors.Is(err, context.Canceled) && !errors.As(err, &te) &&
			!strings.Contains(err.Error(), "refusing") && !strings.Contains(err.Error(), "unsupported URL")
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}

// getRetry is get, repeated on retryable failures. A response whose
// status is a final answer (2xx, 3xx, 4xx) is returned as it is.
func (c *Client) getRetry(ctx context.Context, u string, hdr http.Header) (*http.Response, error) {
	var lastErr error
	for n := 1; ; n++ {
		resp, err := c.get(ctx, u, hdr)
		if !retryable(resp, err) || n == attempts {
			if err == nil && resp.StatusCode >= 500 {
				resp.Body.Close()
				return nil, statusError(u, resp)
			}
			if err != nil && lastErr != nil && n > 1 {
				return nil, fmt.Errorf("%w (after %d attempts)", err, n)
			}
			return resp, err
		}
		if err == nil {
			lastErr = statusError(u, resp)
			resp.Body.Close()
		} else {
			lastErr = err
		}
		c.debugf("http: GET %s: attempt %d of %d failed (%v); retrying", u, n, attempts, lastErr)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retryDelay(n)):
		}
	}
}

// ErrDeferred is wrapped by GetSmall's error when the server answered
// 202 Accepted: it has the file in the making (quay.io signs an image it
// converts while it streams it) and asks to be asked again later.
var ErrDeferred = errors.New("server answered 202 Accepted: the download is deferred")

// maxSmallFile bounds signatures and public keys.
const maxSmallFile = 4 << 20

// GetSmall downloads a small file (signature, public key) that must
// exist: any status but 200 is an error naming the URL.
func (c *Client) GetSmall(ctx context.Context, u string) ([]byte, error) {
	resp, err := c.getRetry(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		return nil, fmt.Errorf("GET %s: %w", clip.String(u), ErrDeferred)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(u, resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSmallFile+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", clip.String(u), err)
	}
	if len(data) > maxSmallFile {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", clip.String(u), maxSmallFile)
	}
	return data, nil
}

// Download is the body of an image download. Reads resume with a range
// request when the connection breaks midway, as long as the server
// supports ranges and the entity has not changed.
type Download struct {
	c    *Client
	ctx  context.Context
	url  string
	body io.ReadCloser
	off  int64

	// ETag and MaxAge are the cache validators of the response.
	ETag   string
	MaxAge time.Duration
	// Size is the length of the body, -1 when unknown.
	Size int64

	// NotModified is set when a conditional request was answered 304:
	// the stored image is still current and there is no body.
	NotModified bool

	ranges  bool
	resumes int
}

// CacheState is what the store remembers of an earlier download of a URL.
type CacheState struct {
	ETag string
}

// OpenImage starts the download of u. With a cache state carrying an
// ETag the request is conditional: a 304 answer gives a Download with
// NotModified set and the fresh cache validators but no body.
func (c *Client) OpenImage(ctx context.Context, u string, cache *CacheState) (*Download, error) {
	hdr := http.Header{}
	if cache != nil && cache.ETag != "" {
		hdr.Set("If-None-Match", cache.ETag)
	}
	resp, err := c.getRetry(ctx, u, hdr)
	if err != nil {
		return nil, err
	}
	d := &Download{
		c: c, ctx: ctx, url: u, body: resp.Body,
		ETag:   resp.Header.Get("ETag"),
		MaxAge: maxAge(resp.Header),
		Size:   resp.ContentLength,
		ranges: resp.Header.Get("Accept-Ranges") == "bytes",
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return d, nil
	case http.StatusNotModified:
		resp.Body.Close()
		if cache == nil || cache.ETag == "" {
			return nil, fmt.Errorf("GET %s: 304 Not Modified to an unconditional request", clip.String(u))
		}
		d.NotModified = true
		if d.ETag == "" {
			d.ETag = cache.ETag
		}
		return d, nil
	}
	resp.Body.Close()
	return nil, statusError(u, resp)
}

// maxAge is the Cache-Control max-age of a response; zero when absent or
// when the response must not be reused without revalidation.
func maxAge(h http.Header) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		switch {
		case d == "no-cache" || d == "no-store":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err == nil && n > 0 {
				// RFC 9111 caps delta-seconds at 2^31; it also keeps
				// the Duration from overflowing into a negative age.
				age = time.Duration(min(n, 1<<31)) * time.Second
			}
		}
	}
	return age
}

// Read reads the body, resuming after a broken connection.
func (d *Download) Read(p []byte) (int, error) {
	for {
		n, err := d.body.Read(p)
		d.off += int64(n)
		if err == nil || errors.Is(err, io.EOF) {
			if errors.Is(err, io.EOF) && d.Size >= 0 && d.off < d.Size {
				err = io.ErrUnexpectedEOF
			} else {
				return n, err
			}
		}
		if n > 0 {
			// Hand over what arrived; the error comes back on the next read.
			return n, nil
		}
		if rerr := d.resume(err); rerr != nil {
			return 0, rerr
		}
	}
}

// resume reopens the download at the current offset after cause broke it.
func (d *Download) resume(cause error) error {
	if !d.ranges || d.resumes >= attempts || d.ctx.Err() != nil {
		return fmt.Errorf("download %s: %w", clip.String(d.url), cause)
	}
	d.resumes++
	d.body.Close()
	hdr := http.Header{}
	hdr.Set("Range", fmt.Sprintf("bytes=%d-", d.off))
	if d.ETag != "" {
		hdr.Set("If-Range", d.ETag)
	}
	time.Sleep(retryDelay(d.resumes))
	resp, err := d.c.getRetry(d.ctx, d.url, hdr)
	if err != nil {
		return fmt.Errorf("download %s: resume after %v: %w", clip.String(d.url), cause, err)
	}
	if resp.StatusCode != http.StatusPartialContent ||
		!strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", d.off)) {
		resp.Body.Close()
		return fmt.Errorf("download %s: broke off (%v) and the server cannot resume it (%s)", clip.String(d.url), cause, resp.Status)
	}
	d.body = resp.Body
	return nil
}

// Close ends the download.
func (d *Download) Close() error { return d.body.Close() }
