package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Kinds and the one version of each that saturn reads.
const (
	kindPaths      = "paths"
	kindStage1     = "stage1"
	kindAuth       = "auth"
	kindDockerAuth = "dockerAuth"
	kindStore      = "store"
	kindRegistry   = "dockerRegistry"
	kindLogs       = "logs"
	version1       = "v1"

	authBasic = "basic"
	authOAuth = "oauth"
)

// header is the part every file shares. rkt spells the keys rktKind and
// rktVersion; saturnKind and saturnVersion are accepted as synonyms.
type header struct {
	RktKind       string `json:"rktKind"`
	RktVersion    string `json:"rktVersion"`
	SaturnKind    string `json:"saturnKind"`
	SaturnVersion string `json:"saturnVersion"`
}

func (h header) kindVersion() (string, string, error) {
	kind, err := pick("rktKind", h.RktKind, "saturnKind", h.SaturnKind)
	if err != nil {
		return "", "", err
	}
	version, err := pick("rktVersion", h.RktVersion, "saturnVersion", h.SaturnVersion)
	if err != nil {
		return "", "", err
	}
	return kind, version, nil
}

func pick(nameA, a, nameB, b string) (string, error) {
	switch {
	case a == "" && b == "":
		return "", fmt.Errorf("%s is missing or empty", nameA)
	case a != "" && b != "" && a != b:
		return "", fmt.Errorf("%s %q and %s %q disagree", nameA, a, nameB, b)
	case a != "":
		return a, nil
	}
	return b, nil
}

func (l *layer) loadFile(path string, kinds []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("file is empty")
	}
	var h header
	if err := json.Unmarshal(data, &h); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	// encoding/json keeps the last of two equal keys; a file that says
	// one thing twice is more likely an editing slip than a choice.
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	kind, version, err := h.kindVersion()
	if err != nil {
		return err
	}
	if !slices.Contains(kinds, kind) {
		if !slices.Contains([]string{kindPaths, kindStage1, kindAuth, kindDockerAuth, kindStore, kindRegistry, kindLogs}, kind) {
			return fmt.Errorf("unknown kind %q", kind)
		}
		return fmt.Errorf("kind %q does not belong in %s", kind, filepath.Base(filepath.Dir(path)))
	}
	if version != version1 {
		return fmt.Errorf("unsupported version %q of kind %q (saturn reads %s)", version, kind, version1)
	}
	switch kind {
	case kindPaths:
		return l.loadPaths(path, data)
	case kindStage1:
		return l.loadStage1(path, data)
	case kindAuth:
		return l.loadAuth(path, data)
	case kindStore:
		return l.loadStore(path, data)
	case kindRegistry:
		return l.loadRegistry(path, data)
	case kindLogs:
		return l.loadLogs(path, data)
	}
	return l.loadDockerAuth(path, data)
}

// decode unmarshals data into v. Unknown fields are ignored: rkt's rule
// is that a newer compatible file only adds fields, which older readers
// must skip.
func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

type pathsV1 struct {
	Data         string `json:"data"`
	Stage1Images string `json:"stage1-images"`
}

func (l *layer) loadPaths(file string, data []byte) error {
	var p pathsV1
	if err := decode(data, &p); err != nil {
		return err
	}
	if p.Data == "" && p.Stage1Images == "" {
		return errors.New(`paths sets neither "data" nor "stage1-images"`)
	}
	for _, f := range []struct {
		key, val string
		dst      *string
	}{{"data", p.Data, &l.paths.Data}, {"stage1-images", p.Stage1Images, &l.paths.Stage1Images}} {
		if f.val == "" {
			continue
		}
		if !filepath.IsAbs(f.val) {
			return fmt.Errorf("paths %q must be an absolute path, got %q", f.key, f.val)
		}
		if err := l.claim("paths "+f.key, file); err != nil {
			return err
		}
		*f.dst = filepath.Clean(f.val)
	}
	return nil
}

type logsV1 struct {
	AppLogs string `json:"app-logs"`
}

// AppLogsModes are the values of --app-logs and of logs' app-logs.
var AppLogsModes = []string{"auto", "journal", "stdout"}

func (l *layer) loadLogs(file string, data []byte) error {
	var lg logsV1
	if err := decode(data, &lg); err != nil {
		return err
	}
	if !slices.Contains(AppLogsModes, lg.AppLogs) {
		return fmt.Errorf(`logs "app-logs" is %q, want one of %s`, lg.AppLogs, strings.Join(AppLogsModes, ", "))
	}
	if err := l.claim("logs app-logs", file); err != nil {
		return err
	}
	l.logs.AppLogs = lg.AppLogs
	return nil
}

type storeV1 struct {
	MaxImageSize string `json:"max-image-size"`
}

func (l *layer) loadStore(file string, data []byte) error {
	var st storeV1
	if err := decode(data, &st); err != nil {
		return err
	}
	if st.MaxImageSize == "" {
		return errors.New(`store sets no "max-image-size"`)
	}
	n, err := ParseSize(st.MaxImageSize)
	if err != nil {
		return fmt.Errorf(`store "max-image-size": %w`, err)
	}
	if err := l.claim("store max-image-size", file); err != nil {
		return err
	}
	l.store.MaxImageSize = n
	return nil
}

// sizeUnits are the suffixes ParseSize takes, binary all: 1K is 1024.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"PiB", 50},
	{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}, {"P", 50},
}

// ParseSize reads a positive size in bytes: a number, optionally followed
// by K, M, G, T, P or KiB … PiB (all powers of 1024). Sizes that do not
// fit in 63 bits are refused.
func ParseSize(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || num[0] == '+' {
		return 0, fmt.Errorf("invalid size %q: want a positive number of bytes, optionally with K, M, G, T or P (or KiB … PiB)", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n << shift, nil
}

type stage1V1 struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
}

func (l *layer) loadStage1(file string, data []byte) error {
	var s stage1V1
	if err := decode(data, &s); err != nil {
		return err
	}
	if s.Name == "" && s.Version == "" && s.Location == "" {
		return errors.New(`stage1 sets none of "name", "version", "location"`)
	}
	if (s.Name == "") != (s.Version == "") {
		return errors.New(`stage1 "name" and "version" must be given together`)
	}
	if s.Name != "" {
		if err := l.claim("stage1 name and version", file); err != nil {
			return err
		}
		l.stage1.Name, l.stage1.Version = s.Name, s.Version
	}
	if s.Location != "" {
		if err := checkLocation(s.Location); err != nil {
			return err
		}
		if err := l.claim("stage1 location", file); err != nil {
			return err
		}
		l.stage1.Location = s.Location
	}
	return nil
}

// checkLocation accepts an absolute path or a file, http, https or docker
// URL: the schemes rkt's stage1 kind accepts, so rkt's files load. Using a
// docker location is refused when the stage1 is chosen.
func checkLocation(loc string) error {
	if filepath.IsAbs(loc) {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("stage1 \"location\" must be an absolute path or a URL, got %q", loc)
	}
	switch u.Scheme {
	case "file", "http", "https", "docker":
		return nil
	}
	return fmt.Errorf("stage1 \"location\" has unsupported URL scheme %q", u.Scheme)
}

type authV1 struct {
	Domains     []string          `json:"domains"`
	Type        string            `json:"type"`
	Credentials map[string]string `json:"credentials"`
}

func (l *layer) loadAuth(file string, data []byte) error {
	var a authV1
	if err := decode(data, &a); err != nil {
		return err
	}
	if len(a.Domains) == 0 {
		return errors.New(`auth "domains" is missing or empty`)
	}
	cred, err := authCredentials(a.Type, a.Credentials)
	if err != nil {
		return err
	}
	for _, d := range a.Domains {
		if err := checkHost("domain", d); err != nil {
			return err
		}
		if err := l.claim("auth domain "+d, file); err != nil {
			return err
		}
		l.auth[d] = cred
	}
	return nil
}

func authCredentials(typ string, c map[string]string) (Credentials, error) {
	switch typ {
	case "":
		return Credentials{}, errors.New(`auth "type" is missing or empty`)
	case authBasic:
		if err := requireKeys("auth basic", c, "user", "password"); err != nil {
			return Credentials{}, err
		}
		return Credentials{Type: authBasic, User: c["user"], Password: c["password"]}, nil
	case authOAuth:
		if err := requireKeys("auth oauth", c, "token"); err != nil {
			return Credentials{}, err
		}
		return Credentials{Type: authOAuth, Token: c["token"]}, nil
	}
	return Credentials{}, fmt.Errorf("unknown auth type %q (valid: basic, oauth)", typ)
}

func requireKeys(what string, c map[string]string, keys ...string) error {
	if len(c) == 0 {
		return fmt.Errorf(`%s "credentials" is missing or empty`, what)
	}
	for _, k := range keys {
		if c[k] == "" {
			return fmt.Errorf("%s credentials need a non-empty %q", what, k)
		}
	}
	for k := range c {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("%s credentials have unknown key %q", what, k)
		}
	}
	return nil
}

// checkHost accepts a host or host:port, refusing what looks like a URL.
func checkHost(what, h string) error {
	if h == "" || strings.ContainsAny(h, "/ \t@?#") {
		return fmt.Errorf("%s %q is not a host or host:port", what, h)
	}
	u, err := url.Parse("https://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return fmt.Errorf("%s %q is not a host or host:port", what, h)
	}
	return nil
}

type dockerAuthV1 struct {
	Registries  []string          `json:"registries"`
	Credentials map[string]string `json:"credentials"`
}

func (l *layer) loadDockerAuth(file string, data []byte) error {
	var a dockerAuthV1
	if err := decode(data, &a); err != nil {
		return err
	}
	if len(a.Registries) == 0 {
		return errors.New(`dockerAuth "registries" is missing or empty`)
	}
	if err := requireKeys("dockerAuth", a.Credentials, "user", "password"); err != nil {
		return err
	}
	cred := BasicCredentials{User: a.Credentials["user"], Password: a.Credentials["password"]}
	for _, r := range a.Registries {
		if err := checkHost("registry", r); err != nil {
			return err
		}
		if err := l.claim("dockerAuth registry "+r, file); err != nil {
			return err
		}
		l.dockerAuth[r] = cred
	}
	return nil
}

// checkDuplicateKeys refuses an object, at any depth, that has the same
// key twice. data is known to be valid JSON.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	return walkValue(dec, "")
}

func walkValue(dec *json.Decoder, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			key, _ := kt.(string)
			path := key
			if at != "" {
				path = at + "." + key
			}
			if seen[key] {
				return fmt.Errorf("key %q appears more than once", path)
			}
			seen[key] = true
			if err := walkValue(dec, path); err != nil {
				return err
			}
		}
		_, err = dec.Token() // the closing brace
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec, at); err != nil {
				return err
			}
		}
		_, err = dec.Token() // the closing bracket
	}
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

type dockerRegistryV1 struct {
	Registries []string `json:"registries"`
	Mirrors    []string `json:"mirrors"`
	Insecure   bool     `json:"insecure"`
}

// loadRegistry reads a dockerRegistry file: mirrors tried before the
// registries it names, and whether plain http is allowed to them.
func (l *layer) loadRegistry(file string, data []byte) error {
	var r dockerRegistryV1
	if err := decode(data, &r); err != nil {
		return err
	}
	if len(r.Registries) == 0 {
		return errors.New(`dockerRegistry "registries" is missing or empty`)
	}
	for _, m := range r.Mirrors {
		if err := checkHost("mirror", m); err != nil {
			return err
		}
	}
	for _, h := range r.Registries {
		if err := checkHost("registry", h); err != nil {
			return err
		}
		if err := l.claim("dockerRegistry registry "+h, file); err != nil {
			return err
		}
		l.registries[h] = Registry{Mirrors: r.Mirrors, Insecure: r.Insecure}
	}
	return nil
}
