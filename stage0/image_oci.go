package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/store"
)

// ociConfig returns the image config of an OCI image for cat-manifest,
// indented when pretty; ok is false for an ACI.
func ociConfig(st *store.Store, id string, pretty bool) ([]byte, bool, error) {
	o, err := st.OCI(id)
	if err != nil || o == nil {
		return nil, false, err
	}
	if !pretty {
		return bytes.TrimSpace(o.Config), true, nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, o.Config, "", "\t"); err != nil {
		return nil, true, fmt.Errorf("image %s: stored config: %w", shortID(id), err)
	}
	return buf.Bytes(), true, nil
}

// openImageTar opens the ACI of image id: the stored blob of an ACI, or
// for an OCI image an ACI made of its rendered layers and its appc
// manifest (rendered into a temp dir beside out, removed on Close).
func openImageTar(st *store.Store, id, out string) (io.ReadCloser, error) {
	info, err := st.Info(id)
	if err != nil {
		return nil, err
	}
	if !info.OCI {
		return st.OpenTar(id)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".saturn-export-tree-*")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", shortID(id), withoutPath(err))
	}
	// The export is the image as it is; the tree is beside out only
	// while it streams, in a directory of mode 0700.
	if err := st.RenderTo(id, tmp, aci.RenderOptions{}); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(aci.Build(tmp, pw, aci.NoCompression))
	}()
	return &treeTar{PipeReader: pr, dir: tmp}, nil
}

// treeTar is an ACI streamed from a rendered tree, removed on Close.
type treeTar struct {
	*io.PipeReader
	dir string
}

func (t *treeTar) Close() error {
	t.PipeReader.Close()
	return os.RemoveAll(t.dir)
}

// registryNames are the names a configuration may give a registry host:
// Docker Hub answers to several.
func registryNames(host string) []string {
	if host == "index.docker.io" {
		return []string{host, "registry-1.docker.io", "docker.io"}
	}
	return []string{host}
}

// dockerCredentials looks a registry host up in the dockerAuth
// configuration.
func (g *globals) dockerCredentials(host string) (string, string, bool) {
	if g.cfg == nil {
		return "", "", false
	}
	for _, n := range registryNames(host) {
		if c, ok := g.cfg.DockerAuth[n]; ok {
			return c.User, c.Password, true
		}
	}
	return "", "", false
}

// dockerRegistry looks a registry host up in the dockerRegistry
// configuration: its mirrors, and whether plain http is allowed to it.
func (g *globals) dockerRegistry(host string) ([]string, bool) {
	if g.cfg == nil {
		return nil, false
	}
	for _, n := range registryNames(host) {
		if r, ok := g.cfg.Registries[n]; ok {
			return r.Mirrors, r.Insecure
		}
	}
	return nil, false
}
