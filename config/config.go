// Package config reads saturn's configuration the way rkt reads its own:
// JSON files carrying a kind and a version in the subdirectories paths.d,
// stage1.d, auth.d and dockerAuth.d of up to three directories (system,
// local, user), later directories overriding earlier ones; saturn adds
// store.d, registries.d and logs.d.
package config

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Config is the merged configuration of all directories.
type Config struct {
	// Paths holds the paths kind; empty fields were not configured.
	Paths Paths
	// Stage1 holds the stage1 kind; empty fields were not configured.
	Stage1 Stage1
	// Auth maps a host (host or host:port) to the credentials sent to it
	// when fetching images and signatures.
	Auth map[string]Credentials
	// DockerAuth maps a Docker registry host to its credentials.
	DockerAuth map[string]BasicCredentials
	// Registries maps a Docker registry host to its mirrors and whether
	// plain http is allowed to it (the dockerRegistry kind).
	Registries map[string]Registry
	// Store holds the store kind; zero fields were not configured.
	Store Store
	// Logs holds the logs kind; zero fields were not configured.
	Logs Logs
}

// Logs is saturn's logs kind: where pods' output goes.
type Logs struct {
	// AppLogs is the default of run's and prepare's --app-logs: auto,
	// journal or stdout.
	AppLogs string
}

// Store is saturn's store kind: limits of the image store.
type Store struct {
	// MaxImageSize bounds the expanded size of an image fetched into
	// the store, in bytes.
	MaxImageSize int64
}

// Registry is the dockerRegistry kind for one registry host.
type Registry struct {
	// Mirrors are hosts (host or host:port) serving the registry's
	// repositories, tried in order before the registry itself.
	Mirrors []string
	// Insecure allows plain http to the registry and its mirrors
	// (certificates are still checked on https).
	Insecure bool
}

// Paths is the paths kind: where saturn keeps its data and finds
// stage1 images.
type Paths struct {
	Data         string
	Stage1Images string
}

// Stage1 is the stage1 kind: the default stage1 image. Name and Version
// go together; Location is where the image is fetched from when no image
// called Name:Version is in the store.
type Stage1 struct {
	Name     string
	Version  string
	Location string
}

// Credentials are an auth entry's credentials: basic (User, Password) or
// oauth (Token), as Type says.
type Credentials struct {
	Type     string
	User     string
	Password string
	Token    string
}

// BasicCredentials are a user name and password.
type BasicCredentials struct {
	User     string
	Password string
}

// Header returns the HTTP header these credentials add to a request.
func (c Credentials) Header() http.Header {
	h := http.Header{}
	switch c.Type {
	case authBasic:
		raw := c.User + ":" + c.Password
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(raw)))
	case authOAuth:
		h.Set("Authorization", "Bearer "+c.Token)
	}
	return h
}

// AuthHeader returns the header to send to host (host or host:port),
// or nil when no auth entry covers it.
func (c *Config) AuthHeader(host string) http.Header {
	cred, ok := c.Auth[host]
	if !ok {
		return nil
	}
	return cred.Header()
}

// subdirectories in reading order, with the kinds each accepts. rkt keeps
// dockerAuth files in auth.d; dockerAuth.d is accepted as well.
var subdirs = []struct {
	name  string
	kinds []string
}{
	{"paths.d", []string{kindPaths}},
	{"stage1.d", []string{kindStage1}},
	{"auth.d", []string{kindAuth, kindDockerAuth}},
	{"dockerAuth.d", []string{kindDockerAuth}},
	{"store.d", []string{kindStore}},
	{"registries.d", []string{kindRegistry}},
	{"logs.d", []string{kindLogs}},
}

// Load reads the configuration directories in order (system, local,
// user); an empty string or a directory that does not exist is skipped.
// Every broken file is an error that names the file.
func Load(dirs ...string) (*Config, error) {
	c := &Config{
		Auth:       map[string]Credentials{},
		DockerAuth: map[string]BasicCredentials{},
		Registries: map[string]Registry{},
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		layer, err := loadDir(dir)
		if err != nil {
			return nil, err
		}
		c.merge(layer)
	}
	return c, nil
}

// merge applies a later directory's layer over c, field by field for
// paths, by name+version and location for stage1, per domain for auth.
func (c *Config) merge(l *layer) {
	if l.paths.Data != "" {
		c.Paths.Data = l.paths.Data
	}
	if l.paths.Stage1Images != "" {
		c.Paths.Stage1Images = l.paths.Stage1Images
	}
	if l.stage1.Name != "" {
		c.Stage1.Name, c.Stage1.Version = l.stage1.Name, l.stage1.Version
	}
	if l.stage1.Location != "" {
		c.Stage1.Location = l.stage1.Location
	}
	for d, cred := range l.auth {
		c.Auth[d] = cred
	}
	for r, cred := range l.dockerAuth {
		c.DockerAuth[r] = cred
	}
	for h, r := range l.registries {
		c.Registries[h] = r
	}
	if l.store.MaxImageSize != 0 {
		c.Store.MaxImageSize = l.store.MaxImageSize
	}
	if l.logs.AppLogs != "" {
		c.Logs.AppLogs = l.logs.AppLogs
	}
}

// layer is what one configuration directory says, with the file that
// said each thing so that conflicts within the directory name both.
type layer struct {
	paths      Paths
	stage1     Stage1
	auth       map[string]Credentials
	dockerAuth map[string]BasicCredentials
	registries map[string]Registry
	store      Store
	logs       Logs
	origin     map[string]string // "kind/field" -> file that set it
}

func loadDir(dir string) (*layer, error) {
	l := &layer{
		auth:       map[string]Credentials{},
		dockerAuth: map[string]BasicCredentials{},
		registries: map[string]Registry{},
		origin:     map[string]string{},
	}
	for _, sd := range subdirs {
		files, err := jsonFiles(filepath.Join(dir, sd.name))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := l.loadFile(f, sd.kinds); err != nil {
				return nil, fmt.Errorf("config file %s: %w", f, err)
			}
		}
	}
	return l, nil
}

// jsonFiles lists the regular *.json files of dir, sorted, without
// recursing. A missing directory has no files.
func jsonFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config directory %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		// Stat follows symlinks: a link to a config file is a config file.
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if fi.Mode().IsRegular() {
			files = append(files, path)
		}
	}
	sort.Strings(files)
	return files, nil
}

// claim records that file sets key in this directory, refusing a second
// file setting the same thing: rkt treats that as a syntax error.
func (l *layer) claim(key, file string) error {
	if prev, ok := l.origin[key]; ok {
		return fmt.Errorf("%s is already set in %s", key, prev)
	}
	l.origin[key] = file
	return nil
}
