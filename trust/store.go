package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/clip"
)

// Store is the trust store of one saturn configuration: keys added by
// saturn go to the local directory; the system directory is read only.
type Store struct {
	// LocalConfig is the local configuration directory (--local-config).
	LocalConfig string
	// SystemConfig is the system configuration directory (--system-config).
	SystemConfig string
}

// New returns the trust store under the given configuration directories.
func New(localConfig, systemConfig string) *Store {
	return &Store{LocalConfig: localConfig, SystemConfig: systemConfig}
}

// Entry is one file of the trust store.
type Entry struct {
	// Prefix is the image name prefix the key is trusted for; "" for a
	// root key, trusted for every image.
	Prefix string
	// Fingerprint is the file's name: the key's lowercase hex fingerprint.
	Fingerprint string
	// Path is the key file.
	Path string
	// System is true for keys under the system configuration directory.
	System bool
	// Masked is true for an empty file, which withdraws trust from the
	// key of that fingerprint.
	Masked bool
	// Key is the parsed key; nil when Masked.
	Key *Key
}

func keysDir(config string) string { return filepath.Join(config, "trustedkeys") }

// CleanPrefix validates an image name prefix and returns it in the form
// used as its directory under prefix.d.
func CleanPrefix(prefix string) (string, error) {
	name, err := cleanName(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return "", fmt.Errorf("invalid prefix %q: %w", clip.String(prefix), err)
	}
	return name, nil
}

// cleanName validates an appc name that becomes a path under prefix.d:
// besides the appc rules, no component may be "." or "..", which the appc
// library lets through.
func cleanName(name string) (string, error) {
	id, err := types.NewACIdentifier(name)
	if err != nil {
		return "", err
	}
	for _, c := range strings.Split(id.String(), "/") {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("path component %q not allowed", c)
		}
	}
	return id.String(), nil
}

// dirFor is where keys for prefix live under config ("" = root.d).
func dirFor(config, prefix string) string {
	if prefix == "" {
		return filepath.Join(keysDir(config), "root.d")
	}
	return filepath.Join(keysDir(config), "prefix.d", filepath.FromSlash(prefix))
}

// Path returns where k is stored when trusted for prefix ("" for root).
func (s *Store) Path(prefix string, k *Key) (string, error) {
	if prefix != "" {
		var err error
		if prefix, err = CleanPrefix(prefix); err != nil {
			return "", err
		}
	}
	return filepath.Join(dirFor(s.LocalConfig, prefix), k.Fingerprint), nil
}

// Trusted reports whether k is already trusted, unmasked, for prefix
// itself (or as a root key).
func (s *Store) Trusted(prefix string, k *Key) (bool, error) {
	entries, err := s.List()
	if err != nil {
		return false, err
	}
	trusted := false
	for _, e := range entries {
		if e.Fingerprint == k.Fingerprint && (e.Prefix == "" || e.Prefix == prefix) {
			trusted = !e.Masked
		}
	}
	return trusted, nil
}

// Add trusts k for images whose name starts with prefix ("" for all
// images) by writing it to the local trust store; it returns the file.
func (s *Store) Add(prefix string, k *Key) (string, error) {
	path, err := s.Path(prefix, k)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("trust key %s: %w", k.Fingerprint, err)
	}
	// Synced: a crash must not leave half a key.
	if err := atomicfile.WriteSync(path, k.Armored, 0o644); err != nil {
		return "", fmt.Errorf("trust key %s: %w", k.Fingerprint, err)
	}
	return path, nil
}

// List returns every file of the trust store, system before local, root
// keys before prefix keys, each group sorted.
func (s *Store) List() ([]Entry, error) {
	var all []Entry
	for _, src := range []struct {
		config string
		system bool
	}{{s.SystemConfig, true}, {s.LocalConfig, false}} {
		entries, err := listConfig(src.config, src.system)
		if err != nil {
			return nil, err
		}
		all = append(all, entries...)
	}
	return all, nil
}

func listConfig(config string, system bool) ([]Entry, error) {
	var out []Entry
	root := dirFor(config, "")
	entries, err := readDir(root, "", system)
	if err != nil {
		return nil, err
	}
	out = append(out, entries...)
	base := filepath.Join(keysDir(config), "prefix.d")
	err = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() || path == base {
			return nil
		}
		rel, err := filepath.Rel(base, path)
		if err != nil {
			return err
		}
		entries, err := readDir(path, filepath.ToSlash(rel), system)
		if err != nil {
			return err
		}
		out = append(out, entries...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list trusted keys in %s: %w", base, err)
	}
	return out, nil
}

// readDir reads the key files directly in dir, trusted for prefix.
func readDir(dir, prefix string, system bool) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list trusted keys: %w", err)
	}
	var out []Entry
	for _, de := range des {
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		e, err := readEntry(filepath.Join(dir, de.Name()), prefix, system)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out, nil
}

func readEntry(path, prefix string, system bool) (Entry, error) {
	e := Entry{Prefix: prefix, Fingerprint: filepath.Base(path), Path: path, System: system}
	data, err := os.ReadFile(path)
	if err != nil {
		return e, fmt.Errorf("read trusted key: %w", err)
	}
	if len(data) == 0 {
		e.Masked = true
		return e, nil
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return e, fmt.Errorf("trusted key %s: %w", path, err)
	}
	if keys[0].Fingerprint != e.Fingerprint {
		return e, fmt.Errorf("trusted key %s: file name does not match the key's fingerprint %s", path, keys[0].Fingerprint)
	}
	e.Key = keys[0]
	return e, nil
}

// prefixesOf lists the prefixes an image name is matched against, whole
// path components only, shortest first: "a.com/b/c" gives "a.com",
// "a.com/b", "a.com/b/c".
func prefixesOf(name string) []string {
	parts := strings.Split(name, "/")
	out := make([]string, 0, len(parts))
	for i := range parts {
		out = append(out, strings.Join(parts[:i+1], "/"))
	}
	return out
}

// Keyring returns the keys trusted for the image name: root keys and the
// keys of every prefix of the name. Entries are applied from the least to
// the most specific, system before local, so the longest prefix and the
// local directory have the last word, in particular a mask (empty file).
func (s *Store) Keyring(name string) (openpgp.EntityList, error) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, fmt.Errorf("invalid image name %q: %w", clip.String(name), err)
	}
	dirs := []string{dirFor(s.SystemConfig, ""), dirFor(s.LocalConfig, "")}
	for _, p := range prefixesOf(clean) {
		dirs = append(dirs, dirFor(s.SystemConfig, p), dirFor(s.LocalConfig, p))
	}
	trusted := map[string]*Key{}
	for _, dir := range dirs {
		entries, err := readDir(dir, "", false)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Masked {
				delete(trusted, e.Fingerprint)
				continue
			}
			trusted[e.Fingerprint] = e.Key
		}
	}
	fps := make([]string, 0, len(trusted))
	for fp := range trusted {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	el := make(openpgp.EntityList, 0, len(fps))
	for _, fp := range fps {
		el = append(el, trusted[fp].entity)
	}
	return el, nil
}
