package fetch

import (
	"fmt"
	"html"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
)

// FuzzParseMeta feeds arbitrary discovery pages to parseMeta. Every tag
// it returns must be an ac-* tag with a single-word prefix and template,
// and writing the tags back as a page must parse to the same tags.
func FuzzParseMeta(f *testing.F) {
	f.Fuzz(func(t *testing.T, page []byte) {
		metas := parseMeta(strings.NewReader(string(page)))
		var b strings.Builder
		for _, m := range metas {
			if m.name != "ac-discovery" && m.name != "ac-discovery-pubkeys" {
				t.Fatalf("tag named %q returned", m.name)
			}
			if m.uri == "" || len(strings.Fields(m.prefix)) != 1 || len(strings.Fields(m.uri)) != 1 {
				t.Fatalf("tag %+v: prefix and template must be one word each", m)
			}
			fmt.Fprintf(&b, "<meta name=%q content=\"%s %s\">\n", m.name,
				html.EscapeString(m.prefix), html.EscapeString(m.uri))
		}
		again := parseMeta(strings.NewReader(b.String()))
		if len(metas) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(metas, again) {
			t.Fatalf("re-parsed tags differ:\n%+v\n%+v", metas, again)
		}
	})
}

// FuzzRender renders an arbitrary template for an arbitrary image
// reference. A template without variables renders to itself; a rendering
// that reports success leaves no variable of the template unsubstituted
// but {ext}, and counts no more labels than the template has variables.
func FuzzRender(f *testing.F) {
	f.Fuzz(func(t *testing.T, tmpl, ref string) {
		app, err := ParseApp(ref)
		if err != nil {
			return
		}
		out, n, ok := render(tmpl, app)
		vars := templateVar.FindAllString(tmpl, -1)
		if len(vars) == 0 && (out != tmpl || n != 0 || !ok) {
			t.Fatalf("render(%q) = %q, %d, %v; want it unchanged", tmpl, out, n, ok)
		}
		if n > len(vars) {
			t.Fatalf("render(%q) counted %d labels for %d variables", tmpl, n, len(vars))
		}
		for _, v := range vars {
			key := v[1 : len(v)-1]
			_, isLabel := app.Labels[types.ACIdentifier(key)]
			if ok && key != "ext" && key != "name" && !isLabel {
				t.Fatalf("render(%q) succeeded with unknown variable %s", tmpl, v)
			}
		}
		ep, found := bestEndpoint([]meta{{name: "ac-discovery", prefix: "", uri: tmpl}}, app)
		if found != (ok && strings.Contains(out, "{ext}")) {
			t.Fatalf("bestEndpoint found=%v for render ok=%v out=%q", found, ok, out)
		}
		if found && ep.ASC != strings.ReplaceAll(out, "{ext}", "aci.asc") {
			t.Fatalf("signature URL %q does not follow the image URL %q", ep.ASC, ep.ACI)
		}
	})
}

// FuzzParseApp checks that an accepted image reference has a valid name,
// os and arch labels, and that printing it and parsing the print gives the
// same app when no label value needs escaping.
func FuzzParseApp(f *testing.F) {
	f.Fuzz(func(t *testing.T, ref string) {
		app, err := ParseApp(ref)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseApp(%q): error spans lines: %q", ref, err)
			}
			return
		}
		if _, err := types.NewACIdentifier(app.Name.String()); err != nil {
			t.Fatalf("ParseApp(%q) accepted name %q: %v", ref, app.Name, err)
		}
		if app.Labels["os"] == "" || app.Labels["arch"] == "" {
			t.Fatalf("ParseApp(%q) has no os/arch: %v", ref, app.Labels)
		}
		for k, v := range app.Labels {
			if strings.ContainsAny(v, ",=&;%+:") || strings.ContainsAny(string(k), ":") {
				return
			}
		}
		s := appString(app)
		back, err := ParseApp(s)
		if err != nil {
			t.Fatalf("ParseApp(%q) = %q, which does not parse: %v", ref, s, err)
		}
		if back.Name != app.Name || !reflect.DeepEqual(back.Labels, app.Labels) {
			t.Fatalf("round trip of %q: %q gives %v %v, want %v %v", ref, s, back.Name, back.Labels, app.Name, app.Labels)
		}
	})
}

// FuzzMaxAge parses arbitrary Cache-Control values: the age is never
// negative, and no-cache or no-store always mean zero.
func FuzzMaxAge(f *testing.F) {
	f.Fuzz(func(t *testing.T, cc string) {
		h := http.Header{}
		h.Set("Cache-Control", cc)
		age := maxAge(h)
		if age < 0 {
			t.Fatalf("maxAge(%q) = %v, negative", cc, age)
		}
		for _, d := range strings.Split(cc, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if (d == "no-cache" || d == "no-store") && age != 0 {
				t.Fatalf("maxAge(%q) = %v despite %s", cc, age, d)
			}
		}
	})
}

// FuzzBestEndpoint picks an endpoint out of an arbitrary discovery page.
// The pick is the rendering of a usable ac-discovery tag for the app, and
// no usable tag substitutes more labels than the picked one.
func FuzzBestEndpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, page []byte, ref string) {
		app, err := ParseApp(ref)
		if err != nil {
			return
		}
		metas := parseMeta(strings.NewReader(string(page)))
		ep, found := bestEndpoint(metas, app)
		most, picked := -1, -1
		for _, m := range metas {
			if m.name != "ac-discovery" || !strings.HasPrefix(app.Name.String(), m.prefix) {
				continue
			}
			u, n, ok := render(m.uri, app)
			if !ok || !strings.Contains(u, "{ext}") {
				continue
			}
			most = max(most, n)
			if strings.ReplaceAll(u, "{ext}", "aci") == ep.ACI {
				picked = max(picked, n)
			}
		}
		if found != (most >= 0) {
			t.Fatalf("found=%v, but %d labels is the best usable tag", found, most)
		}
		if found && picked != most {
			t.Fatalf("picked %q substituting %d labels; a tag substitutes %d", ep.ACI, picked, most)
		}
	})
}
