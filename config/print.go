package config

import (
	"sort"
	"strconv"
)

// Mask replaces secrets in Entries' output.
const Mask = "******"

// The entry types fix the field order of `saturn config`'s output, which
// is rkt's: version and kind first.
type (
	authEntry struct {
		RktVersion  string   `json:"rktVersion"`
		RktKind     string   `json:"rktKind"`
		Domains     []string `json:"domains"`
		Type        string   `json:"type"`
		Credentials any      `json:"credentials"`
	}
	dockerAuthEntry struct {
		RktVersion  string      `json:"rktVersion"`
		RktKind     string      `json:"rktKind"`
		Registries  []string    `json:"registries"`
		Credentials userAndPass `json:"credentials"`
	}
	// userAndPass and token keep rkt's key order in the credentials.
	userAndPass struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	token struct {
		Token string `json:"token"`
	}
	pathsEntry struct {
		RktVersion   string `json:"rktVersion"`
		RktKind      string `json:"rktKind"`
		Data         string `json:"data,omitempty"`
		Stage1Images string `json:"stage1-images,omitempty"`
	}
	registryEntry struct {
		RktVersion string   `json:"rktVersion"`
		RktKind    string   `json:"rktKind"`
		Registries []string `json:"registries"`
		Mirrors    []string `json:"mirrors,omitempty"`
		Insecure   bool     `json:"insecure,omitempty"`
	}
	logsEntry struct {
		RktVersion string `json:"rktVersion"`
		RktKind    string `json:"rktKind"`
		AppLogs    string `json:"app-logs"`
	}
	storeEntry struct {
		RktVersion   string `json:"rktVersion"`
		RktKind      string `json:"rktKind"`
		MaxImageSize string `json:"max-image-size"`
	}
	stage1Entry struct {
		RktVersion string `json:"rktVersion"`
		RktKind    string `json:"rktKind"`
		Name       string `json:"name,omitempty"`
		Version    string `json:"version,omitempty"`
		Location   string `json:"location,omitempty"`
	}
)

// Entries returns c as configuration entries that are themselves valid
// configuration files, one per auth domain and per Docker registry as rkt
// prints them, with passwords and tokens replaced by Mask.
func (c *Config) Entries() []any {
	var out []any
	for _, d := range sortedKeys(c.Auth) {
		cred := c.Auth[d]
		e := authEntry{RktVersion: version1, RktKind: kindAuth, Domains: []string{d}, Type: cred.Type}
		if cred.Type == authBasic {
			e.Credentials = userAndPass{cred.User, Mask}
		} else {
			e.Credentials = token{Mask}
		}
		out = append(out, e)
	}
	for _, r := range sortedKeys(c.DockerAuth) {
		out = append(out, dockerAuthEntry{
			RktVersion: version1, RktKind: kindDockerAuth, Registries: []string{r},
			Credentials: userAndPass{c.DockerAuth[r].User, Mask},
		})
	}
	for _, h := range sortedKeys(c.Registries) {
		r := c.Registries[h]
		out = append(out, registryEntry{version1, kindRegistry, []string{h}, r.Mirrors, r.Insecure})
	}
	if c.Paths != (Paths{}) {
		out = append(out, pathsEntry{version1, kindPaths, c.Paths.Data, c.Paths.Stage1Images})
	}
	if c.Stage1 != (Stage1{}) {
		out = append(out, stage1Entry{version1, kindStage1, c.Stage1.Name, c.Stage1.Version, c.Stage1.Location})
	}
	if c.Store != (Store{}) {
		out = append(out, storeEntry{version1, kindStore, strconv.FormatInt(c.Store.MaxImageSize, 10)})
	}
	if c.Logs != (Logs{}) {
		out = append(out, logsEntry{version1, kindLogs, c.Logs.AppLogs})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
