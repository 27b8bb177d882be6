package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/saturn-pods/saturn/clip"
)

// The appc discovery package (v0.8.11) does the walk up the name itself
// but over a package-global http.Client and without the spec's "best
// matching template" rule, so saturn walks and renders on its own and
// uses the package for parsing image references.

// Endpoint is where discovery found an image and its signature.
type Endpoint struct {
	ACI string
	ASC string
}

// maxMetaPage bounds how much of a discovery page is read.
const maxMetaPage = 1 << 20

// ParseApp parses an image reference "name[:version][,label=value…]" and
// adds the os and arch labels of this machine, in appc's spelling, when
// the reference does not give them.
func ParseApp(ref string) (*discovery.App, error) {
	app, err := discovery.NewAppFromString(ref)
	if err != nil {
		// appc's message quotes the reference raw, newlines and all.
		return nil, fmt.Errorf("image %q: %s", clip.String(ref), strings.Join(strings.Fields(err.Error()), " "))
	}
	// An empty value ("app,os=", "app:") would match no image anywhere
	// and render an empty path segment in discovery templates.
	for k, v := range app.Labels {
		if v == "" {
			return nil, fmt.Errorf("image %q: label %s has no value", clip.String(ref), k)
		}
	}
	os, arch, err := types.ToAppcOSArch(runtime.GOOS, runtime.GOARCH, "")
	if err != nil {
		return nil, err
	}
	if _, ok := app.Labels["os"]; !ok {
		app.Labels["os"] = os
	}
	if _, ok := app.Labels["arch"]; !ok {
		app.Labels["arch"] = arch
	}
	return app, nil
}

// appString prints an app as "name,label=value,…" with sorted labels,
// so messages are stable.
func appString(app *discovery.App) string {
	keys := make([]string, 0, len(app.Labels))
	for k := range app.Labels {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(app.Name.String())
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%s", k, app.Labels[types.ACIdentifier(k)])
	}
	return b.String()
}

// meta is one ac-discovery or ac-discovery-pubkeys tag.
type meta struct {
	name, prefix, uri string
}

// parseMeta returns the ac-* meta tags of an HTML page.
func parseMeta(r io.Reader) []meta {
	var out []meta
	z := html.NewTokenizer(r)
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.DataAtom != atom.Meta {
				continue
			}
			var m meta
			for _, a := range tok.Attr {
				switch a.Key {
				case "name":
					m.name = a.Val
				case "content":
					fields := strings.Fields(a.Val)
					if len(fields) == 2 {
						m.prefix, m.uri = fields[0], fields[1]
					}
				}
			}
			if (m.name == "ac-discovery" || m.name == "ac-discovery-pubkeys") && m.uri != "" {
				out = append(out, m)
			}
		}
	}
}

var templateVar = regexp.MustCompile(`\{[^{}]*\}`)

// render substitutes {name} and the app's labels into tmpl, leaving
// {ext}. It reports how many labels it substituted, and false when a
// variable other than {ext} remains.
func render(tmpl string, app *discovery.App) (string, int, bool) {
	count := 0
	ok := true
	out := templateVar.ReplaceAllStringFunc(tmpl, func(v string) string {
		key := v[1 : len(v)-1]
		switch key {
		case "ext":
			return v
		case "name":
			return app.Name.String()
		}
		if val, found := app.Labels[types.ACIdentifier(key)]; found {
			count++
			return val
		}
		ok = false
		return v
	})
	return out, count, ok
}

// bestEndpoint applies the spec's rule to the ac-discovery tags that
// match the app: only templates whose every variable can be substituted,
// and of those the ones substituting the most labels; https first.
func bestEndpoint(metas []meta, app *discovery.App) (Endpoint, bool) {
	best, bestCount, found := Endpoint{}, -1, false
	for _, m := range metas {
		if m.name != "ac-discovery" || !strings.HasPrefix(app.Name.String(), m.prefix) {
			continue
		}
		u, n, ok := render(m.uri, app)
		if !ok || !strings.Contains(u, "{ext}") {
			continue
		}
		https := strings.HasPrefix(u, "https://")
		better := n > bestCount || (n == bestCount && https && !strings.HasPrefix(best.ACI, "https://"))
		if better {
			best = Endpoint{
				ACI: strings.ReplaceAll(u, "{ext}", "aci"),
				ASC: strings.ReplaceAll(u, "{ext}", "aci.asc"),
			}
			bestCount, found = n, true
		}
	}
	return best, found
}

// prefixes of "a/b/c" in the order discovery tries them: "a/b/c", "a/b", "a".
func walkPrefixes(name string) []string {
	parts := strings.Split(name, "/")
	out := make([]string, 0, len(parts))
	for i := len(parts); i > 0; i-- {
		out = append(out, strings.Join(parts[:i], "/"))
	}
	return out
}

// metaPage fetches the discovery page of prefix: https, then http when
// allowed. Any status but 200 is an error, so the walk moves up.
func (c *Client) metaPage(ctx context.Context, prefix string) ([]meta, error) {
	schemes := []string{"https"}
	if c.opts.AllowHTTP {
		schemes = append(schemes, "http")
	}
	var errs []error
	for _, scheme := range schemes {
		u := scheme + "://" + prefix + "?ac-discovery=1"
		c.debugf("discovery: asking %s", u)
		resp, err := c.get(ctx, u, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			errs = append(errs, statusError(u, resp))
			continue
		}
		metas := parseMeta(io.LimitReader(resp.Body, maxMetaPage))
		resp.Body.Close()
		for _, m := range metas {
			c.debugf("discovery: %s offers %s %s %s", u, m.name, m.prefix, m.uri)
		}
		return metas, nil
	}
	return nil, pageError(errs)
}

// pageError is why a discovery page gave nothing: one error per scheme
// tried, https first.
type pageError []error

func (e pageError) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// DiscoveryError is a discovery that found nothing: of where an image is
// served (DiscoverImage) or of the keys for a name prefix (DiscoverKeys).
type DiscoveryError struct {
	// What was looked for: an image name with its labels, or "public
	// keys for PREFIX".
	What string
	// Keys is set for a discovery of keys, not of an image.
	Keys bool
	// Attempts say why each name prefix tried gave nothing, the whole
	// name's first, then its parents' up to the host.
	Attempts []error
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("discovery of %s failed: %s", clip.String(e.What), joinAttempts(e.Attempts))
}

// Reason is why discovery of the whole name, the one the user typed,
// gave nothing: its first reason.
func (e *DiscoveryError) Reason() string {
	if len(e.Attempts) == 0 {
		return ""
	}
	var pe pageError
	if errors.As(e.Attempts[0], &pe) && len(pe) > 0 {
		return pe[0].Error()
	}
	return e.Attempts[0].Error()
}

// DiscoverImage finds where the image app names is served, walking from
// the full name up to its host as the appc spec says.
func (c *Client) DiscoverImage(ctx context.Context, app *discovery.App) (Endpoint, error) {
	var attempts []error
	for _, prefix := range walkPrefixes(app.Name.String()) {
		metas, err := c.metaPage(ctx, prefix)
		if err != nil {
			attempts = append(attempts, err)
			continue
		}
		if ep, ok := bestEndpoint(metas, app); ok {
			return ep, nil
		}
		// Without a version, a "{version}" template may still serve the
		// "latest" image, as rkt asks for it.
		if _, has := app.Labels["version"]; !has {
			latest := app.Copy()
			latest.Labels["version"] = "latest"
			if ep, ok := bestEndpoint(metas, latest); ok {
				return ep, nil
			}
		}
		attempts = append(attempts, fmt.Errorf("%s: no ac-discovery template matches %s", prefix, appString(app)))
	}
	return Endpoint{}, &DiscoveryError{What: appString(app), Attempts: attempts}
}

// DiscoverKeys finds the ac-discovery-pubkeys URLs for an image name
// prefix, walking up like DiscoverImage.
func (c *Client) DiscoverKeys(ctx context.Context, prefix string) ([]string, error) {
	var attempts []error
	for _, p := range walkPrefixes(prefix) {
		metas, err := c.metaPage(ctx, p)
		if err != nil {
			attempts = append(attempts, err)
			continue
		}
		var urls []string
		for _, m := range metas {
			if m.name == "ac-discovery-pubkeys" && strings.HasPrefix(prefix, m.prefix) {
				urls = append(urls, m.uri)
			}
		}
		if len(urls) > 0 {
			return urls, nil
		}
		attempts = append(attempts, fmt.Errorf("%s: no ac-discovery-pubkeys meta tag", p))
	}
	return nil, &DiscoveryError{What: "public keys for " + prefix, Keys: true, Attempts: attempts}
}

// maxAttempts is how many failed discovery attempts an error lists; a
// name of many components would otherwise make an unbounded message.
const maxAttempts = 3

func joinAttempts(attempts []error) string {
	msgs := make([]string, 0, maxAttempts)
	for _, a := range attempts[:min(len(attempts), maxAttempts)] {
		msgs = append(msgs, a.Error())
	}
	if len(attempts) > maxAttempts {
		return fmt.Sprintf("%s; and %d more", strings.Join(msgs, "; "), len(attempts)-maxAttempts)
	}
	return strings.Join(msgs, "; ")
}
