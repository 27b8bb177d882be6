package store

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestMarkUsedKeepsRecentRecords(t *testing.T) {
	s := openTestStore(t)
	id := mustImport(t, s, testImage{name: "example.com/app"})
	t0 := time.Now().Add(time.Hour)
	steps := []struct {
		at   time.Time
		want time.Time
	}{
		{t0, t0},                         // older record: written
		{t0.Add(usedResolution / 2), t0}, // recent: kept
		{t0.Add(usedResolution), t0.Add(usedResolution)}, // old enough: written
		{t0.Add(-time.Minute), t0.Add(-time.Minute)},     // clock set back: written
	}
	for i, st := range steps {
		if err := s.markUsed([]string{id}, st.at); err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(id)
		if err != nil {
			t.Fatal(err)
		}
		if !info.LastUsed.Equal(st.want) {
			t.Errorf("step %d: last used %v, want %v", i, info.LastUsed, st.want)
		}
	}
	if err := s.markUsed([]string{"sha512-missing"}, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("markUsed of a missing image: %v, want ErrNotFound", err)
	}
}

func TestOpenLeavesAnExistingIndexAlone(t *testing.T) {
	s := openTestStore(t)
	mustImport(t, s, testImage{name: "example.com/app"})
	before, err := os.Stat(s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := Open(s.dir); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("Open wrote to an existing index")
	}
}

func TestManifestCacheForgetsRemovedImages(t *testing.T) {
	s := openTestStore(t)
	id := mustImport(t, s, testImage{name: "example.com/app"})
	m, err := s.Manifest(id)
	if err != nil || m.Name != "example.com/app" {
		t.Fatalf("Manifest = %v, %v", m, err)
	}
	// Callers get their own copy.
	m.Name = "example.com/changed"
	if again, err := s.Manifest(id); err != nil || again.Name != "example.com/app" {
		t.Fatalf("second Manifest = %v, %v", again, err)
	}
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest of a removed image: %v, want ErrNotFound", err)
	}
}

// A pod in the making holds the store's images from resolving them to
// rendering their trees: gc waits, so the image it resolved is still
// there to render.
func TestHoldImagesMakesGCWait(t *testing.T) {
	s := openTestStore(t)
	id := mustImport(t, s, testImage{name: "example.com/app", files: map[string]string{"a": "1"}})
	hold, err := s.HoldImages()
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	waiting := make(chan struct{})
	done := make(chan *GCResult, 1)
	go func() {
		res, err := other.GC(0, func() { close(waiting) })
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case <-waiting:
	case res := <-done:
		t.Fatalf("gc ran while the images were held: %+v", res)
	}
	treeID, _, err := s.RenderTree(id)
	if err != nil {
		t.Fatalf("render of a held image beside gc: %v", err)
	}
	hold.Release()
	hold.Release() // twice is harmless
	res := <-done
	if len(res.Trees) != 0 {
		t.Errorf("gc removed the held tree %s: %v", treeID, res.Trees)
	}
}
