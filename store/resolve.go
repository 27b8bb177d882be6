package store

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"

	bolt "go.etcd.io/bbolt"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/oci"
)

// idPrefix is how every image id starts (appc: sha512 of the plain tar).
const idPrefix = "sha512-"

// shortIDHex is how many hex digits the short id form fetch prints has.
const shortIDHex = 32

// Resolve turns a reference into the full id of an image in the store. A
// reference is a full id, a unique id prefix ("sha512-abc…"), an image
// name, "name:version", or "name,label=value,…". A name matches the most
// recently imported image carrying all given labels, as in rkt.
func (s *Store) Resolve(ref string) (string, error) {
	if strings.HasPrefix(ref, idPrefix) {
		return s.resolvePrefix(ref)
	}
	if oci.IsSource(ref) {
		return s.resolveOCI(ref)
	}
	app, err := discovery.NewAppFromString(ref)
	if err != nil {
		// appc's message quotes the reference raw, newlines and all.
		return "", fmt.Errorf("image reference %q: %s", clip.String(ref), strings.Join(strings.Fields(err.Error()), " "))
	}
	labels := make(map[string]string, len(app.Labels))
	for k, v := range app.Labels {
		labels[string(k)] = v
	}
	id, err := s.findByName(string(app.Name), labels)
	if err != nil {
		// rkt's words, then saturn's.
		return "", fmt.Errorf("cannot find image %q: %w", clip.String(ref), err)
	}
	return id, nil
}

func (s *Store) resolvePrefix(ref string) (string, error) {
	hexPart := ref[len(idPrefix):]
	if hexPart == "" || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return "", fmt.Errorf("image id %q: not a sha512- id (lower-case hex expected)", clip.String(ref))
	}
	var matches []string
	err := s.view(func(tx *bolt.Tx) error {
		matches = idsWithPrefix(tx, ref)
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", &notFoundError{fmt.Sprintf("cannot resolve image ID %q: no image IDs found in the store", clip.String(ref))}
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("ambiguous image ID: %q (%d images match: %s, %s, …; give more digits)", clip.String(ref), len(matches), types.ShortHash(matches[0]), types.ShortHash(matches[1]))
}

// notFoundError is an ErrNotFound that words its message itself.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// idsWithPrefix lists the stored image ids starting with prefix.
func idsWithPrefix(tx *bolt.Tx, prefix string) []string {
	b := tx.Bucket(imagesBucket)
	if b == nil {
		return nil
	}
	var matches []string
	c := b.Cursor()
	p := []byte(prefix)
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		matches = append(matches, string(k))
	}
	return matches
}

// findByName returns the newest image named name whose labels include
// labels. A "version" of "latest" matches any version, as rkt treats it.
func (s *Store) findByName(name string, labels map[string]string) (string, error) {
	if labels["version"] == "latest" {
		delete(labels, "version")
	}
	var best string
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		best, err = findByNameTx(tx, name, labels)
		return err
	})
	return best, err
}

func findByNameTx(tx *bolt.Tx, name string, labels map[string]string) (string, error) {
	var best string
	var bestRec *imageRecord
	err := forEachImage(tx, func(id string, r *imageRecord) error {
		if r.Name != name || !hasLabels(r.Labels, labels) {
			return nil
		}
		if bestRec == nil || r.ImportTime.After(bestRec.ImportTime) {
			best, bestRec = id, r
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if best == "" {
		return "", ErrNotFound
	}
	return best, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// FindDependency returns the id of the stored image that satisfies dep:
// by image id when dep names one (checking the name matches), else the
// newest image with dep's name and labels. It makes *Store an aci.Source.
func (s *Store) FindDependency(dep types.Dependency) (string, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		id, err = findDependencyTx(tx, dep)
		return err
	})
	return id, err
}

func findDependencyTx(tx *bolt.Tx, dep types.Dependency) (string, error) {
	desc := depString(dep)
	if dep.ImageID != nil && !dep.ImageID.Empty() {
		id := dep.ImageID.String()
		// A manifest may name its dependency by the short id fetch
		// prints: a unique prefix of at least that length (128 bits, no
		// less a pin than the full id against a forged match) stands for
		// the full id.
		if len(id) >= len(idPrefix)+shortIDHex {
			if m := idsWithPrefix(tx, id); len(m) == 1 {
				id = m[0]
			}
		}
		r, err := getImage(tx, id)
		if err != nil {
			return "", fmt.Errorf("dependency %s: %w; fetch it first", desc, err)
		}
		if r.Name != string(dep.ImageName) {
			return "", fmt.Errorf("dependency %s: image %s is named %s", desc, types.ShortHash(id), clip.String(r.Name))
		}
		return id, nil
	}
	labels := make(map[string]string, len(dep.Labels))
	for _, l := range dep.Labels {
		labels[string(l.Name)] = l.Value
	}
	id, err := findByNameTx(tx, string(dep.ImageName), labels)
	if err != nil {
		return "", fmt.Errorf("dependency %s: %w; fetch it first", desc, err)
	}
	return id, nil
}

// depString names a dependency the way a user would type it.
func depString(dep types.Dependency) string {
	var b strings.Builder
	b.WriteString(string(dep.ImageName))
	for _, l := range dep.Labels {
		fmt.Fprintf(&b, ",%s=%s", l.Name, l.Value)
	}
	if dep.ImageID != nil && !dep.ImageID.Empty() {
		fmt.Fprintf(&b, " (%s)", types.ShortHash(dep.ImageID.String()))
	}
	return clip.String(b.String())
}

func sortByImport(infos []ImageInfo) {
	sort.SliceStable(infos, func(i, j int) bool {
		if !infos[i].ImportTime.Equal(infos[j].ImportTime) {
			return infos[i].ImportTime.Before(infos[j].ImportTime)
		}
		return infos[i].ID < infos[j].ID
	})
}
