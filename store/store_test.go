package store

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// testImage describes a small ACI made in memory.
type testImage struct {
	name   string
	labels map[string]string
	deps   []types.Dependency
	files  map[string]string // rootfs-relative path -> content
}

func (ti testImage) tar(t *testing.T) []byte {
	t.Helper()
	m := schema.BlankImageManifest()
	m.Name = *types.MustACIdentifier(ti.name)
	for k, v := range ti.labels {
		m.Labels = append(m.Labels, types.Label{Name: types.ACIdentifier(k), Value: v})
	}
	m.Dependencies = ti.deps
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Typeflag == tar.TypeDir {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "manifest", Mode: 0o644, Typeflag: tar.TypeReg}, string(mj))
	add(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	for p, c := range ti.files {
		add(&tar.Header{Name: "rootfs/" + p, Mode: 0o644, Typeflag: tar.TypeReg}, c)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustImport(t *testing.T, s *Store, ti testImage) string {
	t.Helper()
	id, err := s.Import(bytes.NewReader(ti.tar(t)), ImportOptions{Origin: "test"})
	if err != nil {
		t.Fatalf("import %s: %v", ti.name, err)
	}
	return id
}

func TestResolve(t *testing.T) {
	s := openTestStore(t)
	old := mustImport(t, s, testImage{name: "example.com/app", labels: map[string]string{"version": "1.0", "arch": "amd64"}, files: map[string]string{"a": "1"}})
	// Import times must differ for "newest wins" to be well defined.
	time.Sleep(10 * time.Millisecond)
	newer := mustImport(t, s, testImage{name: "example.com/app", labels: map[string]string{"version": "2.0", "arch": "amd64"}, files: map[string]string{"a": "2"}})
	other := mustImport(t, s, testImage{name: "example.com/other", files: map[string]string{"b": "1"}})

	tests := []struct {
		ref     string
		want    string
		wantErr string
	}{
		{ref: old, want: old},
		{ref: old[:20], want: old},
		{ref: "example.com/app", want: newer},
		{ref: "example.com/app:latest", want: newer},
		{ref: "example.com/app:1.0", want: old},
		{ref: "example.com/app,version=1.0,arch=amd64", want: old},
		{ref: "example.com/app,arch=amd64", want: newer},
		{ref: "example.com/other", want: other},
		{ref: "example.com/app:3.0", wantErr: "not found"},
		{ref: "example.com/app,arch=arm64", wantErr: "not found"},
		{ref: "example.com/missing", wantErr: "not found"},
		{ref: "sha512-", wantErr: "not a sha512- id"},
		{ref: "sha512-XYZ", wantErr: "not a sha512- id"},
		{ref: "sha512-" + strings.Repeat("0", 40), wantErr: "no image IDs found"},
		{ref: "Bad Name!", wantErr: "image reference"},
	}
	for _, tt := range tests {
		got, err := s.Resolve(tt.ref)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || tt.wantErr == "not found" && !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%q) = %q, %v; want error containing %q", tt.ref, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
		}
	}
}

func TestResolveAmbiguousPrefix(t *testing.T) {
	s := openTestStore(t)
	ids := map[byte][]string{}
	// Import until two ids share their first hex digit; 17 images make
	// that certain.
	for i := 0; i < 17; i++ {
		id := mustImport(t, s, testImage{name: "example.com/app", files: map[string]string{"f": strings.Repeat("x", i)}})
		c := id[len(idPrefix)]
		ids[c] = append(ids[c], id)
		if len(ids[c]) == 2 {
			_, err := s.Resolve(id[:len(idPrefix)+1])
			if err == nil || !strings.Contains(err.Error(), "ambiguous") {
				t.Fatalf("Resolve of a shared prefix: %v, want ambiguity error", err)
			}
			return
		}
	}
	t.Fatal("no two ids shared a first digit among 17")
}

func TestFindDependency(t *testing.T) {
	s := openTestStore(t)
	base := mustImport(t, s, testImage{name: "example.com/base", labels: map[string]string{"version": "1"}, files: map[string]string{"base": "b"}})
	h, err := types.NewHash(base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dep     types.Dependency
		wantErr string
	}{
		{dep: types.Dependency{ImageName: "example.com/base"}},
		{dep: types.Dependency{ImageName: "example.com/base", Labels: types.Labels{{Name: "version", Value: "1"}}}},
		{dep: types.Dependency{ImageName: "example.com/base", ImageID: h}},
		{dep: types.Dependency{ImageName: "example.com/wrong", ImageID: h}, wantErr: "is named example.com/base"},
		{dep: types.Dependency{ImageName: "example.com/base", Labels: types.Labels{{Name: "version", Value: "2"}}}, wantErr: "dependency example.com/base,version=2"},
		{dep: types.Dependency{ImageName: "example.com/nope"}, wantErr: "dependency example.com/nope"},
	}
	for _, tt := range tests {
		got, err := s.FindDependency(tt.dep)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FindDependency(%v) = %q, %v; want error containing %q", tt.dep, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != base {
			t.Errorf("FindDependency(%v) = %q, %v; want %q", tt.dep, got, err, base)
		}
	}
}

func TestImportRequireDependencies(t *testing.T) {
	s := openTestStore(t)
	app := testImage{name: "example.com/app", deps: []types.Dependency{{ImageName: "example.com/base"}}, files: map[string]string{"app": "a"}}
	_, err := s.Import(bytes.NewReader(app.tar(t)), ImportOptions{RequireDependencies: true})
	if err == nil || !strings.Contains(err.Error(), "example.com/base") {
		t.Fatalf("import with missing dependency: %v, want error naming it", err)
	}
	assertEmptyStore(t, s)
	mustImport(t, s, testImage{name: "example.com/base", files: map[string]string{"base": "b"}})
	if _, err := s.Import(bytes.NewReader(app.tar(t)), ImportOptions{RequireDependencies: true}); err != nil {
		t.Fatalf("import with dependency present: %v", err)
	}
}

func assertEmptyStore(t *testing.T, s *Store) {
	t.Helper()
	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Errorf("store has %d images, want none", len(infos))
	}
	for _, d := range []string{s.blobDir, s.sigDir, s.tmpDir} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("%s holds %d entries, want none", d, len(ents))
		}
	}
}

func TestImportRejectsBadArchive(t *testing.T) {
	s := openTestStore(t)
	good := testImage{name: "example.com/app", files: map[string]string{"a": "1"}}.tar(t)
	for name, data := range map[string][]byte{
		"truncated": good[:len(good)/2+100],
		"garbage":   bytes.Repeat([]byte("not a tar "), 100),
		"empty":     nil,
	} {
		if _, err := s.Import(bytes.NewReader(data), ImportOptions{}); err == nil {
			t.Errorf("%s: import succeeded", name)
		}
	}
	assertEmptyStore(t, s)
}

func TestImportAndBlobCorruption(t *testing.T) {
	s := openTestStore(t)
	id := mustImport(t, s, testImage{name: "example.com/app", files: map[string]string{"a": "hello"}})
	if err := s.Verify(id); err != nil {
		t.Fatalf("verify fresh blob: %v", err)
	}
	info, err := s.Info(id)
	if err != nil || info.Name != "example.com/app" || info.Origin != "test" || info.Size == 0 {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	corrupt(t, s.blobPath(id))
	if err := s.Verify(id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify corrupted blob: %v, want ErrCorrupt", err)
	}
	if _, _, err := s.RenderTree(id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("render corrupted blob: %v, want ErrCorrupt", err)
	}
	// Re-importing the same image repairs the blob.
	mustImport(t, s, testImage{name: "example.com/app", files: map[string]string{"a": "hello"}})
	if err := s.Verify(id); err != nil {
		t.Fatalf("verify repaired blob: %v", err)
	}
}

// corrupt flips one byte in the middle of path.
func corrupt(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRenderTree(t *testing.T) {
	s := openTestStore(t)
	mustImport(t, s, testImage{name: "example.com/base", files: map[string]string{"base": "b", "shared": "base"}})
	app := mustImport(t, s, testImage{name: "example.com/app", deps: []types.Dependency{{ImageName: "example.com/base"}}, files: map[string]string{"app": "a", "shared": "app"}})
	treeID, path, err := s.RenderTree(app)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"base": "b", "app": "a", "shared": "app"} {
		got, err := os.ReadFile(filepath.Join(path, "rootfs", f))
		if err != nil || string(got) != want {
			t.Errorf("rootfs/%s = %q, %v; want %q", f, got, err, want)
		}
	}
	if err := s.CheckTree(treeID); err != nil {
		t.Fatalf("fresh tree: %v", err)
	}
	again, _, err := s.RenderTree(app)
	if err != nil || again != treeID {
		t.Fatalf("second render = %q, %v; want %q", again, err, treeID)
	}
	// Damage the tree: the check notices and the next render repairs it.
	if err := os.WriteFile(filepath.Join(path, "rootfs", "app"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTree(treeID); !errors.Is(err, ErrTreeDamaged) {
		t.Fatalf("damaged tree: %v, want ErrTreeDamaged", err)
	}
	s.Close() // a Store checks a tree once; a new command checks again
	if _, _, err := s.RenderTree(app); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(path, "rootfs", "app"))
	if err != nil || string(got) != "a" {
		t.Fatalf("after re-render rootfs/app = %q, %v", got, err)
	}
	for _, change := range []func(string) error{
		func(p string) error { return os.Chmod(filepath.Join(p, "rootfs", "base"), 0o600) },
		func(p string) error { return os.Remove(filepath.Join(p, "rootfs", "base")) },
		func(p string) error { return os.Symlink("x", filepath.Join(p, "rootfs", "new")) },
		func(p string) error { return os.Chown(filepath.Join(p, "rootfs", "base"), 1000, 1000) },
	} {
		if err := change(path); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckTree(treeID); !errors.Is(err, ErrTreeDamaged) {
			t.Errorf("CheckTree after a change: %v, want ErrTreeDamaged", err)
		}
		s.Close() // a Store checks a tree once; a new command checks again
		if _, _, err := s.RenderTree(app); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRenderTreeMissingDependency(t *testing.T) {
	s := openTestStore(t)
	mustImport(t, s, testImage{name: "example.com/base", files: map[string]string{"base": "b"}})
	app := mustImport(t, s, testImage{name: "example.com/app", deps: []types.Dependency{{ImageName: "example.com/base"}}})
	base, err := s.Resolve("example.com/base")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(base); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RenderTree(app); err == nil || !strings.Contains(err.Error(), "dependency example.com/base") {
		t.Fatalf("render without dependency: %v", err)
	}
}

func TestConcurrentImport(t *testing.T) {
	s := openTestStore(t)
	data := testImage{name: "example.com/app", files: map[string]string{"a": strings.Repeat("data", 10000)}}.tar(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = s.Import(bytes.NewReader(data), ImportOptions{})
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("import %d = %q, %v; want %q", i, ids[i], errs[i], ids[0])
		}
	}
	infos, err := s.List()
	if err != nil || len(infos) != 1 {
		t.Fatalf("List = %v, %v; want one image", infos, err)
	}
	if err := s.Verify(ids[0]); err != nil {
		t.Fatal(err)
	}
}

func TestGC(t *testing.T) {
	s := openTestStore(t)
	used := mustImport(t, s, testImage{name: "example.com/used", files: map[string]string{"u": "1"}})
	stale := mustImport(t, s, testImage{name: "example.com/stale", files: map[string]string{"s": "1"}})
	kept := mustImport(t, s, testImage{name: "example.com/kept", files: map[string]string{"k": "1"}})
	usedTree, _, err := s.RenderTree(used)
	if err != nil {
		t.Fatal(err)
	}
	keptTree, _, err := s.RenderTree(kept)
	if err != nil {
		t.Fatal(err)
	}
	// A pod references keptTree.
	podApp := filepath.Join(s.podsDir, "run", "0000-pod", "appsinfo", "app")
	if err := os.MkdirAll(podApp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(podApp, "treeStoreID"), []byte(keptTree), 0o644); err != nil {
		t.Fatal(err)
	}
	// Leftovers: a dead import's temp file, an unindexed blob, a dead
	// render's temp dir; and a live import's temp file, which must stay.
	dead := filepath.Join(s.tmpDir, "import-dead")
	orphan := s.blobPath("sha512-" + strings.Repeat("ab", 64))
	deadRender := filepath.Join(s.treeDir, tmpTreePfx+usedTree+"-123")
	for _, p := range []string{dead, orphan} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(deadRender, 0o700); err != nil {
		t.Fatal(err)
	}
	live, err := lockPath(filepath.Join(s.tmpDir, "import-live"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer live.unlock()

	// Release the trees as a pod's stage0 does when it execs stage1.
	s.Close()
	// Make "stale" old, keep "used" recent.
	old := time.Now().Add(-48 * time.Hour)
	if err := s.markUsed([]string{stale, kept}, old); err != nil {
		t.Fatal(err)
	}
	res, err := s.GC(24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, in := range res.Images {
		removed = append(removed, in.Name)
	}
	if strings.Join(removed, ",") != "example.com/kept,example.com/stale" && strings.Join(removed, ",") != "example.com/stale,example.com/kept" {
		t.Errorf("removed images %v, want kept and stale", removed)
	}
	if len(res.Trees) != 0 {
		t.Errorf("removed trees %v, want none (one referenced, one recently used)", res.Trees)
	}
	for _, p := range []string{dead, orphan, deadRender} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s still there", p)
		}
	}
	if _, err := os.Stat(live.f.Name()); err != nil {
		t.Errorf("live import's temp file removed: %v", err)
	}
	if _, err := s.Info(used); err != nil {
		t.Errorf("recently used image removed: %v", err)
	}
	if _, err := os.Stat(s.TreePath(keptTree)); err != nil {
		t.Errorf("referenced tree removed: %v", err)
	}
	// With no grace, the used image and its now unreferenced tree go too;
	// the referenced tree stays although its image is gone.
	res, err = s.GC(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].ID != used {
		t.Errorf("second gc removed %v, want %s", res.Images, used)
	}
	if len(res.Trees) != 1 || res.Trees[0] != usedTree {
		t.Errorf("second gc removed trees %v, want %s", res.Trees, usedTree)
	}
	if _, err := os.Stat(s.TreePath(keptTree)); err != nil {
		t.Errorf("referenced tree removed: %v", err)
	}
	if _, err := os.Stat(s.treeLockPath(usedTree)); !os.IsNotExist(err) {
		t.Errorf("lock file of the removed tree left: %v", err)
	}
	if _, err := os.Stat(s.treeLockPath(keptTree)); err != nil {
		t.Errorf("lock file of a kept tree removed: %v", err)
	}
}

func TestLockPathSurvivesUnlink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	first, err := lockPath(path, false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *fileLock)
	go func() {
		l, err := lockPath(path, false)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	// The waiter blocks on the old file; once that is unlinked and
	// released it must end up holding a lock on the file now at path.
	time.Sleep(50 * time.Millisecond)
	if err := first.unlinkAndUnlock(); err != nil {
		t.Fatal(err)
	}
	second := <-got
	if second == nil {
		t.Fatal("no second lock")
	}
	defer second.unlock()
	if !second.stillAt(path) {
		t.Fatal("second lock is on an unlinked file")
	}
	if _, err := lockPath(path, true); !errors.Is(err, errLocked) {
		t.Fatalf("third lock while the second is held: %v, want errLocked", err)
	}
}

func TestImportRefusesWriteThroughSymlink(t *testing.T) {
	s := openTestStore(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/evil"}`
	for _, h := range []*tar.Header{
		{Name: "manifest", Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(m))},
		{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "rootfs/link", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc"},
		{Name: "rootfs/link/x", Mode: 0o644, Typeflag: tar.TypeReg},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest" {
			tw.Write([]byte(m))
		}
	}
	tw.Close()
	_, err := s.Import(&buf, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "below the symlink rootfs/link") {
		t.Fatalf("import: %v, want refusal naming the symlink", err)
	}
	assertEmptyStore(t, s)
}

func TestImportCheckAndReimport(t *testing.T) {
	s := openTestStore(t)
	img := testImage{name: "example.com/app", files: map[string]string{"a": "1"}}
	refuse := errors.New("bad signature")
	var seen string
	_, err := s.Import(bytes.NewReader(img.tar(t)), ImportOptions{Check: func(m *schema.ImageManifest) error {
		seen = string(m.Name)
		return refuse
	}})
	if !errors.Is(err, refuse) || seen != "example.com/app" {
		t.Fatalf("import with refusing check = %v (check saw %q)", err, seen)
	}
	assertEmptyStore(t, s)

	id, err := s.Import(bytes.NewReader(img.tar(t)), ImportOptions{Origin: "/first.aci"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Info(id)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	// A refused re-import leaves the stored image alone.
	if _, err := s.Import(bytes.NewReader(img.tar(t)), ImportOptions{Check: func(*schema.ImageManifest) error { return refuse }}); !errors.Is(err, refuse) {
		t.Fatalf("refused re-import: %v", err)
	}
	if err := s.Verify(id); err != nil {
		t.Fatalf("stored image after refused re-import: %v", err)
	}
	if _, err := s.Import(bytes.NewReader(img.tar(t)), ImportOptions{Origin: "/second.aci"}); err != nil {
		t.Fatal(err)
	}
	again, err := s.Info(id)
	if err != nil {
		t.Fatal(err)
	}
	if !again.ImportTime.Equal(first.ImportTime) || !again.LastUsed.After(first.LastUsed) || again.Origin != "/second.aci" {
		t.Fatalf("after re-import %+v, first import %+v; want same import time, later use, new origin", again, first)
	}
}

func TestRenderedTreeHeldUntilClose(t *testing.T) {
	s := openTestStore(t)
	id := mustImport(t, s, testImage{name: "example.com/app", files: map[string]string{"a": "1"}})
	treeID, _, err := s.RenderTree(id)
	if err != nil {
		t.Fatal(err)
	}
	// Another process's gc (another Store) must not take the tree while
	// this Store has not released it, however short the grace period.
	other, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Remove(id); err != nil {
		t.Fatal(err)
	}
	res, err := other.GC(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trees) != 0 {
		t.Fatalf("gc removed held trees %v", res.Trees)
	}
	// A second Store may check and use the same tree meanwhile.
	if _, err := other.Import(bytes.NewReader(testImage{name: "example.com/app", files: map[string]string{"a": "1"}}.tar(t)), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if again, _, err := other.RenderTree(id); err != nil || again != treeID {
		t.Fatalf("render by a second store = %q, %v", again, err)
	}
	s.Close()
	other.Close()
	if err := other.Remove(id); err != nil {
		t.Fatal(err)
	}
	res, err = other.GC(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trees) != 1 || res.Trees[0] != treeID {
		t.Fatalf("gc after release removed %v, want %s", res.Trees, treeID)
	}
}
