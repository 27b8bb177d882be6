package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// agedTree renders an image and returns the store, tree id and path once
// the tree is older than the store's (shortened) racy window and a full
// check has recorded its stats.
func agedTree(t *testing.T) (*Store, string, string, string) {
	t.Helper()
	s := openTestStore(t)
	s.racyWindow = 20 * time.Millisecond
	app := mustImport(t, s, testImage{name: "example.com/app", files: map[string]string{"a": "hello", "dir/b": "world"}})
	treeID, path, err := s.RenderTree(app)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	time.Sleep(3 * s.racyWindow)
	if err := s.CheckTree(treeID); err != nil {
		t.Fatal(err)
	}
	want, err := readTreeHash(path)
	if err != nil {
		t.Fatal(err)
	}
	if !statsMatch(path, want, s.racyWindow) {
		t.Fatal("the stats recorded by a full check do not match the unchanged tree")
	}
	return s, app, treeID, path
}

func TestTreeStatsVouchOnlyForUnchangedTrees(t *testing.T) {
	restoreMtime := func(p string, do func() error) error {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if err := do(); err != nil {
			return err
		}
		return os.Chtimes(p, fi.ModTime(), fi.ModTime())
	}
	tests := []struct {
		name   string
		change func(root string) error
	}{
		{"same-size rewrite with the old mtime restored", func(root string) error {
			p := filepath.Join(root, "a")
			return restoreMtime(p, func() error { return os.WriteFile(p, []byte("jello"), 0o644) })
		}},
		{"file replaced by rename, mtime restored", func(root string) error {
			p := filepath.Join(root, "dir", "b")
			return restoreMtime(p, func() error {
				if err := os.WriteFile(p+".new", []byte("wOrld"), 0o644); err != nil {
					return err
				}
				return os.Rename(p+".new", p)
			})
		}},
		{"mode", func(root string) error { return os.Chmod(filepath.Join(root, "a"), 0o755) }},
		{"owner", func(root string) error { return os.Lchown(filepath.Join(root, "a"), 7, 7) }},
		{"new file", func(root string) error { return os.WriteFile(filepath.Join(root, "c"), nil, 0o644) }},
		{"removed file", func(root string) error { return os.Remove(filepath.Join(root, "dir", "b")) }},
		{"new file in a subdirectory", func(root string) error { return os.WriteFile(filepath.Join(root, "dir", "c"), nil, 0o644) }},
		{"new directory holding a file", func(root string) error {
			if err := os.Mkdir(filepath.Join(root, "new"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(root, "new", "x"), nil, 0o644)
		}},
		{"entries swapped by rename", func(root string) error {
			a, b := filepath.Join(root, "a"), filepath.Join(root, "dir", "b")
			if err := os.Rename(a, a+".tmp"); err != nil {
				return err
			}
			if err := os.Rename(b, a); err != nil {
				return err
			}
			return os.Rename(a+".tmp", b)
		}},
		{"directory swapped for a symlink to a copy holding the same inodes", func(root string) error {
			d := filepath.Join(root, "dir")
			if err := os.Mkdir(d+".copy", 0o755); err != nil {
				return err
			}
			if err := os.Link(filepath.Join(d, "b"), filepath.Join(d+".copy", "b")); err != nil {
				return err
			}
			if err := os.Rename(d, filepath.Join(root, "..", "moved-away")); err != nil {
				return err
			}
			return os.Symlink("dir.copy", d)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, app, treeID, path := agedTree(t)
			want, _ := readTreeHash(path)
			if err := tc.change(filepath.Join(path, "rootfs")); err != nil {
				t.Fatal(err)
			}
			if statsMatch(path, want, s.racyWindow) {
				t.Fatal("stats still match after the change")
			}
			if err := s.CheckTree(treeID); !errors.Is(err, ErrTreeDamaged) {
				t.Fatalf("CheckTree: %v, want ErrTreeDamaged", err)
			}
			// RenderTree notices and renders the tree again.
			if _, _, err := s.RenderTree(app); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(path, "rootfs", "a")); err != nil || string(got) != "hello" {
				t.Fatalf("after re-render rootfs/a = %q, %v", got, err)
			}
		})
	}
}

func TestTreeStatRecordNotTrusted(t *testing.T) {
	tests := []struct {
		name string
		prep func(s *Store, path string) error
	}{
		{"garbage record", func(s *Store, path string) error {
			return os.WriteFile(filepath.Join(path, treeStatFile), []byte("saturn-tree-stat 2 x\n1 2"), 0o644)
		}},
		{"missing record", func(s *Store, path string) error {
			return os.Remove(filepath.Join(path, treeStatFile))
		}},
		{"record of another hash", func(s *Store, path string) error {
			return os.WriteFile(filepath.Join(path, treeHashFile), []byte(idPrefix+"00\n"), 0o644)
		}},
		{"racy record", func(s *Store, path string) error {
			s.racyWindow = time.Hour
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _, path := agedTree(t)
			if err := tc.prep(s, path); err != nil {
				t.Fatal(err)
			}
			want, _ := readTreeHash(path)
			if statsMatch(path, want, s.racyWindow) {
				t.Fatal("stats match")
			}
		})
	}
}

func TestTreeStatRecordRefreshedByFullCheck(t *testing.T) {
	s, _, treeID, path := agedTree(t)
	if err := os.WriteFile(filepath.Join(path, treeStatFile), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !s.treeValid(treeID) {
		t.Fatal("an intact tree with a bad record is not valid")
	}
	want, _ := readTreeHash(path)
	if !statsMatch(path, want, s.racyWindow) {
		t.Fatal("the check did not record the stats again")
	}
}

func TestTreeStatRacyWindow(t *testing.T) {
	const sec = int64(time.Second)
	base := int64(1_700_000_000) * sec
	tests := []struct {
		name   string
		ctimes []int64
		taken  int64
		ok     bool
	}{
		{"fine-grained, aged", []int64{base + 1, base + 5e6}, base + 5e6 + 2*defaultRacyWindow.Nanoseconds(), true},
		{"fine-grained, racy", []int64{base + 1, base + 5e6}, base + 5e6 + defaultRacyWindow.Nanoseconds()/2, false},
		{"whole seconds, past the fine window only", []int64{base, base + sec}, base + sec + sec, false},
		{"whole seconds, aged", []int64{base, base + sec}, base + sec + 3*sec, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := fmt.Sprintf("saturn-tree-stat 2 %d boot-a sha512-x\n", tc.taken)
			for i, c := range tc.ctimes {
				rec += fmt.Sprintf("%d 1 100644 0 0 1 %d %d %s\n", i+1, c, c, strconv.Quote(fmt.Sprint("rootfs/f", i)))
			}
			if err := os.WriteFile(filepath.Join(dir, treeStatFile), []byte(rec), 0o644); err != nil {
				t.Fatal(err)
			}
			sum, idents, err := readTreeStats(dir, defaultRacyWindow, time.Unix(0, tc.taken).Add(time.Minute), "boot-a")
			if ok := err == nil; ok != tc.ok {
				t.Fatalf("readTreeStats: %v, want ok=%t", err, tc.ok)
			}
			if tc.ok && (sum != "sha512-x" || len(idents) != len(tc.ctimes)) {
				t.Fatalf("read %q and %d entries", sum, len(idents))
			}
		})
	}
}

func TestTreeStatRecordAgeAndBoot(t *testing.T) {
	dir := t.TempDir()
	ctime := int64(1_700_000_000_123_456_789)
	taken := time.Unix(0, ctime).Add(time.Hour)
	rec := fmt.Sprintf("saturn-tree-stat 2 %d boot-a sha512-x\n1 1 100644 0 0 1 %d %d \"rootfs/f\"\n", taken.UnixNano(), ctime, ctime)
	if err := os.WriteFile(filepath.Join(dir, treeStatFile), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now  time.Time
		boot string
		ok   bool
	}{
		{taken.Add(time.Hour), "boot-a", true},
		{taken.Add(time.Hour), "boot-b", false}, // taken before a reboot
		{taken.Add(maxRecordAge + time.Minute), "boot-a", false},
		{taken.Add(-time.Minute), "boot-a", false},
	} {
		if _, _, err := readTreeStats(dir, defaultRacyWindow, tc.now, tc.boot); (err == nil) != tc.ok {
			t.Errorf("record read %v after it was taken, in %s: %v, want ok=%t", tc.now.Sub(taken), tc.boot, err, tc.ok)
		}
	}
}

func TestTreeStatRecordMustCoverTheTree(t *testing.T) {
	rec := func(rels ...string) []statIdent {
		var out []statIdent
		for _, r := range rels {
			out = append(out, statIdent{rel: r})
		}
		return out
	}
	tests := []struct {
		rec  []statIdent
		want bool
	}{
		{rec("manifest", "rootfs", "rootfs/bin", "rootfs/bin/sh"), true},
		{rec("manifest", "rootfs"), true},
		{rec("rootfs", "manifest"), false},
		{rec("manifest"), false},
		{rec("manifest", "rootfs", "etc/passwd"), false},
		{rec("manifest", "rootfs", "rootfs/../../outside"), false},
		{rec("manifest", "rootfs", "rootfs/bin/.."), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := coversTree(tc.rec); got != tc.want {
			t.Errorf("coversTree(%v) = %v, want %v", tc.rec, got, tc.want)
		}
	}
}

// BenchmarkStatsMatch checks a tree shaped like a busybox image (one
// directory of 400 entries) the way every pod start does.
func BenchmarkStatsMatch(b *testing.B) {
	t := &testing.T{}
	s := openTestStore(t)
	s.racyWindow = 20 * time.Millisecond
	files := map[string]string{}
	for i := range 400 {
		files[fmt.Sprintf("bin/applet%03d", i)] = "x"
	}
	id := mustImport(t, s, testImage{name: "example.com/wide", files: files})
	treeID, path, err := s.RenderTree(id)
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	time.Sleep(3 * s.racyWindow)
	if err := s.CheckTree(treeID); err != nil {
		b.Fatal(err)
	}
	want, _ := readTreeHash(path)
	b.ResetTimer()
	for range b.N {
		if !statsMatch(path, want, s.racyWindow) {
			b.Fatal("no match")
		}
	}
}
