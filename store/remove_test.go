package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

// failCommits makes every index write transaction fail just before its
// commit, as a full disk or an I/O error would, until the test ends.
func failCommits(t *testing.T) error {
	t.Helper()
	errCommit := errors.New("commit failed (test)")
	testHookBeforeCommit = func() error { return errCommit }
	t.Cleanup(func() { testHookBeforeCommit = nil })
	return errCommit
}

// An image whose removal did not commit is still listed, so its blob and
// signature must still be there: they go only once the index has
// committed the removal.
func TestRemoveKeepsBlobWhenCommitFails(t *testing.T) {
	s := openTestStore(t)
	id, err := s.Import(bytes.NewReader(testImage{name: "example.com/app"}.tar(t)), ImportOptions{Origin: "test", Signature: []byte("sig")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.sigPath(id)); err != nil {
		t.Fatalf("signature not stored: %v", err)
	}
	errCommit := failCommits(t)
	if err := s.Remove(id); !errors.Is(err, errCommit) {
		t.Fatalf("Remove with a failing commit: %v, want %v", err, errCommit)
	}
	testHookBeforeCommit = nil
	if _, err := s.Info(id); err != nil {
		t.Fatalf("image no longer listed after a failed removal: %v", err)
	}
	if _, err := os.Stat(s.blobPath(id)); err != nil {
		t.Errorf("blob of a listed image removed: %v", err)
	}
	if _, err := os.Stat(s.sigPath(id)); err != nil {
		t.Errorf("signature of a listed image removed: %v", err)
	}
	if err := s.Verify(id); err != nil {
		t.Errorf("image verify after a failed removal: %v", err)
	}
	// A removal that commits takes the files.
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.blobPath(id), s.sigPath(id)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after removal: %v", p, err)
		}
	}
}

// The same for image gc.
func TestGCKeepsBlobWhenCommitFails(t *testing.T) {
	s := openTestStore(t)
	id := mustImport(t, s, testImage{name: "example.com/stale"})
	if err := s.markUsed([]string{id}, time.Now().Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	errCommit := failCommits(t)
	res := &GCResult{}
	if err := s.gcImages(time.Now().Add(-24*time.Hour), res); !errors.Is(err, errCommit) {
		t.Fatalf("gc with a failing commit: %v, want %v", err, errCommit)
	}
	testHookBeforeCommit = nil
	if len(res.Images) != 0 {
		t.Errorf("gc reports %v removed though nothing committed", res.Images)
	}
	if _, err := s.Info(id); err != nil {
		t.Fatalf("image no longer listed after a failed gc: %v", err)
	}
	if _, err := os.Stat(s.blobPath(id)); err != nil {
		t.Errorf("blob of a listed image removed: %v", err)
	}
	res, err := s.GC(24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].ID != id {
		t.Errorf("gc removed %v, want %s", res.Images, id)
	}
	if _, err := os.Stat(s.blobPath(id)); !os.IsNotExist(err) {
		t.Errorf("blob left after gc: %v", err)
	}
}
