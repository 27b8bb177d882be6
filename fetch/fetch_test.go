package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"
)

func TestParseMeta(t *testing.T) {
	page := `<html><head>
<meta name="ac-discovery" content="example.com https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}">
<meta name="ac-discovery-pubkeys" content="example.com/app   https://example.com/pubkeys.gpg">
<meta name="description" content="not for us">
<meta name="ac-discovery" content="only-one-field">
<META NAME="ac-discovery" CONTENT="example.com hdfs://storage.example.com/{name}.{ext}"/>
</head><body><meta name="ac-discovery" content="example.com https://late.example.com/{name}.{ext}"></body></html>`
	got := parseMeta(strings.NewReader(page))
	want := []meta{
		{"ac-discovery", "example.com", "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}"},
		{"ac-discovery-pubkeys", "example.com/app", "https://example.com/pubkeys.gpg"},
		{"ac-discovery", "example.com", "hdfs://storage.example.com/{name}.{ext}"},
		{"ac-discovery", "example.com", "https://late.example.com/{name}.{ext}"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseMeta:\n got %v\nwant %v", got, want)
	}
}

func app(t *testing.T, ref string) *discovery.App {
	t.Helper()
	a, err := discovery.NewAppFromString(ref)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestBestEndpoint(t *testing.T) {
	spec := []meta{
		{"ac-discovery", "example.com", "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}"},
		{"ac-discovery", "example.com", "https://mirror.storage.example.com/{os}/{arch}/{name}-{version}.{ext}"},
		{"ac-discovery", "example.com", "https://storage.example.com/{os}/{arch}/{name}-latest.{ext}"},
		{"ac-discovery", "other.com", "https://other.com/{name}.{ext}"},
	}
	tests := []struct {
		name  string
		metas []meta
		ref   string
		want  string // ACI URL, "" for none
	}{
		{"version wins over latest", spec, "example.com/app:1.0.0,os=linux,arch=amd64",
			"https://storage.example.com/linux/amd64/example.com/app-1.0.0.aci"},
		{"without version only latest renders", spec, "example.com/app,os=linux,arch=amd64",
			"https://storage.example.com/linux/amd64/example.com/app-latest.aci"},
		{"prefix must match", spec[3:], "example.com/app:1,os=linux,arch=amd64", ""},
		{"unknown variable", []meta{{"ac-discovery", "example.com", "https://x/{name}-{channel}.{ext}"}}, "example.com/app", ""},
		{"no ext", []meta{{"ac-discovery", "example.com", "https://x/{name}.aci"}}, "example.com/app", ""},
		{"https preferred on a tie", []meta{
			{"ac-discovery", "example.com", "http://x/{name}.{ext}"},
			{"ac-discovery", "example.com", "https://y/{name}.{ext}"},
		}, "example.com/app", "https://y/example.com/app.aci"},
		{"pubkeys tags ignored", []meta{{"ac-discovery-pubkeys", "example.com", "https://x/{name}.{ext}"}}, "example.com/app", ""},
	}
	for _, tt := range tests {
		ep, ok := bestEndpoint(tt.metas, app(t, tt.ref))
		if tt.want == "" {
			if ok {
				t.Errorf("%s: got %v, want none", tt.name, ep)
			}
			continue
		}
		if !ok || ep.ACI != tt.want || ep.ASC != tt.want+".asc" {
			t.Errorf("%s: got %v (%v), want %s", tt.name, ep, ok, tt.want)
		}
	}
}

func TestWalkPrefixes(t *testing.T) {
	got := walkPrefixes("example.com/project/sub")
	want := []string{"example.com/project/sub", "example.com/project", "example.com"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("walkPrefixes = %v, want %v", got, want)
	}
}

func TestMaxAge(t *testing.T) {
	tests := []struct {
		cc   string
		want time.Duration
	}{
		{"", 0},
		{"max-age=60", time.Minute},
		{"public, max-age=3600", time.Hour},
		{`max-age="10"`, 10 * time.Second},
		{"max-age=60, no-cache", 0},
		{"no-store, max-age=60", 0},
		{"max-age=-5", 0},
		{"max-age=abc", 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set("Cache-Control", tt.cc)
		if got := maxAge(h); got != tt.want {
			t.Errorf("maxAge(%q) = %v, want %v", tt.cc, got, tt.want)
		}
	}
}

func TestParsePullPolicy(t *testing.T) {
	for _, s := range []string{"never", "new", "update"} {
		p, err := ParsePullPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParsePullPolicy(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "always", "New"} {
		if _, err := ParsePullPolicy(s); err == nil {
			t.Errorf("ParsePullPolicy(%q) succeeded", s)
		}
	}
}

func TestParseApp(t *testing.T) {
	a, err := ParseApp("example.com/app:1.2,os=freebsd")
	if err != nil {
		t.Fatal(err)
	}
	if a.Labels["version"] != "1.2" || a.Labels["os"] != "freebsd" || a.Labels["arch"] == "" {
		t.Fatalf("labels %v", a.Labels)
	}
	for _, bad := range []string{"Example.com/App", "a:1:2", "a,b"} {
		if _, err := ParseApp(bad); err == nil {
			t.Errorf("ParseApp(%q) succeeded", bad)
		}
	}
}

// testClient is a Client that sends every request to srv, whatever the
// host, so discovery of names can be exercised on a test server.
func testClient(t *testing.T, srv *httptest.Server, opts ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	tr := srv.Client().Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.DialTLSContext = nil
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	c.hc.Transport = tr
	return c
}

func TestDiscoverWalksUp(t *testing.T) {
	var paths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch r.URL.Path {
		case "/":
			// Discovery follows redirects.
			http.Redirect(w, r, "/meta?ac-discovery=1", http.StatusFound)
		case "/project/sub":
			http.NotFound(w, r)
		case "/project":
			fmt.Fprint(w, `<meta name="description" content="nothing here">`)
		default:
			fmt.Fprint(w, `<meta name="ac-discovery" content="example.com https://example.com/{name}-{version}.{ext}">
<meta name="ac-discovery-pubkeys" content="example.com https://example.com/keys.asc">`)
		}
	}))
	defer srv.Close()
	c := testClient(t, srv, ClientOptions{})
	ep, err := c.DiscoverImage(context.Background(), app(t, "example.com/project/sub:3"))
	if err != nil {
		t.Fatal(err)
	}
	if ep.ACI != "https://example.com/example.com/project/sub-3.aci" {
		t.Fatalf("endpoint %v", ep)
	}
	if got := strings.Join(paths, " "); got != "/project/sub /project / /meta" {
		t.Fatalf("walked %s", got)
	}
	keys, err := c.DiscoverKeys(context.Background(), "example.com/project")
	if err != nil || len(keys) != 1 || keys[0] != "https://example.com/keys.asc" {
		t.Fatalf("DiscoverKeys = %v, %v", keys, err)
	}
	if _, err := c.DiscoverImage(context.Background(), app(t, "other.org/x")); err == nil {
		t.Fatal("discovery of a name no template matches succeeded")
	}
}

func TestSchemes(t *testing.T) {
	c, err := NewClient(ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://example.com/x.aci", "ftp://example.com/x", "example.com/x"} {
		if _, err := c.GetSmall(context.Background(), u); err == nil {
			t.Errorf("GetSmall(%s) allowed", u)
		}
	}
}

func TestDownloadResumesAndRevalidates(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var cuts, ranges atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Cache-Control", "max-age=120")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if rg := r.Header.Get("Range"); rg != "" {
			ranges.Add(1)
			start, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
			w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[start:])
			return
		}
		// The first answer breaks off a third of the way.
		cuts.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/3])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	c := testClient(t, srv, ClientOptions{})
	ctx := context.Background()
	d, err := c.OpenImage(ctx, srv.URL+"/image.aci", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d)
	d.Close()
	if err != nil {
		t.Fatalf("read with resume: %v", err)
	}
	if !bytes.Equal(got, data) || cuts.Load() != 1 || ranges.Load() != 1 {
		t.Fatalf("resumed download: %d bytes (want %d), %d cuts, %d range requests", len(got), len(data), cuts.Load(), ranges.Load())
	}
	if d.ETag != `"v1"` || d.MaxAge != 2*time.Minute {
		t.Fatalf("validators: etag %q max-age %v", d.ETag, d.MaxAge)
	}
	d, err = c.OpenImage(ctx, srv.URL+"/image.aci", &CacheState{ETag: `"v1"`})
	if err != nil || !d.NotModified {
		t.Fatalf("revalidation: %v, %+v", err, d)
	}
}

func TestDownloadRetriesServerErrors(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "key")
	}))
	defer srv.Close()
	c := testClient(t, srv, ClientOptions{})
	got, err := c.GetSmall(context.Background(), srv.URL+"/key")
	if err != nil || string(got) != "key" || n.Load() != 3 {
		t.Fatalf("GetSmall = %q, %v after %d requests", got, err, n.Load())
	}
	if _, err := c.GetSmall(context.Background(), srv.URL+"/key"); err != nil {
		t.Fatal(err)
	}
	n.Store(-100)
	if _, err := c.GetSmall(context.Background(), srv.URL+"/key"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("persistent 503: %v", err)
	}
}

func TestAuthHeaderPerHost(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c := testClient(t, srv, ClientOptions{AuthHeader: func(host string) http.Header {
		if host == "registry.example.com" {
			return http.Header{"Authorization": {"Bearer secret"}}
		}
		return nil
	}})
	for host, want := range map[string]string{"registry.example.com": "Bearer secret", "other.example.com": ""} {
		if _, err := c.GetSmall(context.Background(), "https://"+host+"/x"); err != nil {
			t.Fatal(err)
		}
		if got.Load() != want {
			t.Errorf("to %s sent Authorization %q, want %q", host, got.Load(), want)
		}
	}
}

func TestDepApp(t *testing.T) {
	dep := types.Dependency{ImageName: "example.com/base", Labels: types.Labels{{Name: "version", Value: "1"}, {Name: "arch", Value: "aarch64"}}}
	a, err := depApp(dep)
	if err != nil {
		t.Fatal(err)
	}
	if a.Labels["version"] != "1" || a.Labels["arch"] != "aarch64" || a.Labels["os"] != "linux" {
		t.Fatalf("dependency query %v", a.Labels)
	}
}
