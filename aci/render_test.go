package aci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// memSource keeps images in memory, as the store would on disk.
type memSource struct {
	tars      map[string][]byte
	manifests map[string]*schema.ImageManifest
	// ignoreIDs makes FindDependency match by name and labels only, like
	// discovery would, so Render's own id check is exercised.
	ignoreIDs bool
	opened    []string
}

func newMemSource() *memSource {
	return &memSource{tars: map[string][]byte{}, manifests: map[string]*schema.ImageManifest{}}
}

func (s *memSource) FindDependency(dep types.Dependency) (string, error) {
	if dep.ImageID != nil && !s.ignoreIDs {
		if _, ok := s.tars[dep.ImageID.String()]; ok {
			return dep.ImageID.String(), nil
		}
		return "", fmt.Errorf("no image %s", dep.ImageID)
	}
	var ids []string
	for id := range s.manifests {
		ids = append(ids, id)
	}
	sort.Strings(ids)
next:
	for _, id := range ids {
		im := s.manifests[id]
		if im.Name != dep.ImageName {
			continue
		}
		for _, l := range dep.Labels {
			if v, ok := im.GetLabel(l.Name.String()); !ok || v != l.Value {
				continue next
			}
		}
		return id, nil
	}
	return "", fmt.Errorf("no image named %s", dep.ImageName)
}

func (s *memSource) Manifest(id string) (*schema.ImageManifest, error) {
	im, ok := s.manifests[id]
	if !ok {
		return nil, fmt.Errorf("no image %s", id)
	}
	return im, nil
}

func (s *memSource) OpenTar(id string) (io.ReadCloser, error) {
	data, ok := s.tars[id]
	if !ok {
		return nil, fmt.Errorf("no image %s", id)
	}
	s.opened = append(s.opened, s.manifests[id].Name.String())
	return io.NopCloser(bytes.NewReader(data)), nil
}

// add builds an image with the given files (path -> content) and extra
// manifest members, stores it and returns its id.
func (s *memSource) add(t *testing.T, name string, files map[string]string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, ManifestName), []byte(manifestJSON(name, extra...)), 0o644))
	must(t, os.Mkdir(filepath.Join(dir, RootfsName), 0o755))
	for p, content := range files {
		full := filepath.Join(dir, RootfsName, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(content), 0o644))
	}
	data := buildBytes(t, dir, NoCompression)
	img, err := Validate(bytes.NewReader(data))
	must(t, err)
	s.tars[img.ID] = data
	s.manifests[img.ID] = img.Manifest
	return img.ID
}

// deps renders a dependencies member; each dep is "name", "name@id" or
// "name version=x".
func deps(list ...string) string {
	var out []map[string]any
	for _, d := range list {
		m := map[string]any{}
		name, rest, _ := strings.Cut(d, " ")
		if n, id, ok := strings.Cut(name, "@"); ok {
			name = n
			m["imageID"] = id
		}
		m["imageName"] = name
		if k, v, ok := strings.Cut(rest, "="); ok {
			m["labels"] = []map[string]string{{"name": k, "value": v}}
		}
		out = append(out, m)
	}
	data, _ := json.Marshal(out)
	return `"dependencies":` + string(data)
}

func whitelistMember(paths ...string) string {
	data, _ := json.Marshal(paths)
	return `"pathWhitelist":` + string(data)
}

func renderedFiles(t *testing.T, dest string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(dest, RootfsName)
	must(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = string(data)
		return err
	}))
	return out
}

func TestRenderLayersDependenciesInOrder(t *testing.T) {
	s := newMemSource()
	base := s.add(t, "example.com/base", map[string]string{
		"etc/who": "base", "only-base": "b", "shared/base-d1": "base",
	})
	d1 := s.add(t, "example.com/d1", map[string]string{
		"etc/who": "d1", "shared/base-d1": "d1", "shared/d1-d2": "d1",
	}, deps("example.com/base@"+base))
	d2 := s.add(t, "example.com/d2", map[string]string{"etc/who": "d2", "shared/d1-d2": "d2"})
	top := s.add(t, "example.com/top", map[string]string{"app": "top"},
		deps("example.com/d1@"+d1, "example.com/d2@"+d2))

	dest := filepath.Join(t.TempDir(), "tree")
	must(t, Render(s, top, dest))
	if got, want := strings.Join(s.opened, ","), "example.com/base,example.com/d1,example.com/d2,example.com/top"; got != want {
		t.Errorf("layer order %s, want %s", got, want)
	}
	got := renderedFiles(t, dest)
	want := map[string]string{
		"./": "", "etc/": "", "shared/": "",
		"etc/who": "d2", "only-base": "b", "shared/base-d1": "d1", "shared/d1-d2": "d2", "app": "top",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rendered\n %v\nwant\n %v", got, want)
	}
	im, err := ReadManifestFile(filepath.Join(dest, ManifestName))
	must(t, err)
	if im.Name.String() != "example.com/top" {
		t.Errorf("dest/manifest is %s's", im.Name)
	}
}

func TestRenderByNameAndLabels(t *testing.T) {
	s := newMemSource()
	s.add(t, "example.com/lib", map[string]string{"lib": "v1"}, `"labels":[{"name":"version","value":"1"}]`)
	s.add(t, "example.com/lib", map[string]string{"lib": "v2"}, `"labels":[{"name":"version","value":"2"}]`)
	top := s.add(t, "example.com/app", nil, deps("example.com/lib version=2"))
	dest := t.TempDir()
	must(t, Render(s, top, dest))
	checkFile(t, filepath.Join(dest, RootfsName, "lib"), "v2")
}

func TestRenderWhitelists(t *testing.T) {
	s := newMemSource()
	base := s.add(t, "example.com/base", map[string]string{
		"bin/sh": "sh", "bin/ls": "ls", "etc/passwd": "root", "usr/share/doc/x": "doc",
	})
	// The dependency's own whitelist drops its "secret" even where the
	// top image would allow it.
	mid := s.add(t, "example.com/mid", map[string]string{"opt/keep": "k", "opt/secret": "s"},
		whitelistMember("/opt/keep"))
	top := s.add(t, "example.com/top", map[string]string{"app": "a", "notlisted": "n"},
		deps("example.com/base@"+base, "example.com/mid@"+mid),
		whitelistMember("/bin/sh", "/etc/passwd", "/opt/keep", "/opt/secret", "/app", "/usr/share/"))
	dest := t.TempDir()
	must(t, Render(s, top, dest))
	got := renderedFiles(t, dest)
	want := map[string]string{
		"./": "", "bin/": "", "etc/": "", "opt/": "", "usr/": "", "usr/share/": "",
		"bin/sh": "sh", "etc/passwd": "root", "opt/keep": "k", "app": "a",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rendered\n %v\nwant\n %v", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Run("cycle", func(t *testing.T) {
		s := newMemSource()
		s.ignoreIDs = true
		s.add(t, "example.com/a", nil, deps("example.com/b"))
		s.add(t, "example.com/b", nil, deps("example.com/a"))
		id, err := s.FindDependency(types.Dependency{ImageName: "example.com/a"})
		must(t, err)
		err = Render(s, id, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "dependency cycle") {
			t.Errorf("error %v, want a dependency cycle", err)
		}
	})
	t.Run("self dependency", func(t *testing.T) {
		s := newMemSource()
		id := s.add(t, "example.com/a", nil, deps("example.com/a"))
		err := Render(s, id, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "dependency cycle") {
			t.Errorf("error %v, want a dependency cycle", err)
		}
	})
	t.Run("missing dependency", func(t *testing.T) {
		s := newMemSource()
		id := s.add(t, "example.com/a", nil, deps("example.com/nowhere"))
		err := Render(s, id, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "example.com/nowhere") {
			t.Errorf("error %v, want one naming the dependency", err)
		}
	})
	t.Run("id mismatch", func(t *testing.T) {
		s := newMemSource()
		s.ignoreIDs = true
		s.add(t, "example.com/lib", nil)
		wrong := "sha512-" + strings.Repeat("ab", 64)
		id := s.add(t, "example.com/a", nil, deps("example.com/lib@"+wrong))
		err := Render(s, id, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "want "+wrong) {
			t.Errorf("error %v, want an id mismatch", err)
		}
	})
	t.Run("unknown image", func(t *testing.T) {
		if err := Render(newMemSource(), "sha512-00", t.TempDir()); err == nil {
			t.Error("rendering an unknown image succeeded")
		}
	})
}
