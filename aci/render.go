package aci

import (
	"fmt"
	"io"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// Source gives Render access to images and their dependencies, usually
// backed by the image store.
type Source interface {
	// FindDependency resolves a dependency to an image id: by its imageID
	// if given, else by name and labels.
	FindDependency(dep types.Dependency) (id string, err error)
	// Manifest returns the manifest of image id.
	Manifest(id string) (*schema.ImageManifest, error)
	// OpenTar opens the uncompressed tar of image id.
	OpenTar(id string) (io.ReadCloser, error)
}

// maxRenderLayers bounds how many image extractions one render may do, so
// a dependency graph with much sharing cannot blow up exponentially.
const maxRenderLayers = 256

// Render lays an image and its dependencies out in dest (dest/manifest,
// dest/rootfs) following the appc layering rules: dependencies are
// extracted first, depth-first in the order listed, each later layer
// overwriting earlier ones, and the image itself last. dest/manifest is the
// top image's. A file of any layer is kept only if the pathWhitelist of
// that image and of every image above it on the way to the top (where
// set) lists it. Dependency cycles are an error.
func Render(src Source, id string, dest string) error {
	return RenderWith(src, id, dest, RenderOptions{})
}

// RenderOptions tune RenderWith.
type RenderOptions struct {
	// HostSafe renders for host users' hands, as ExtractOptions.HostSafe.
	HostSafe bool
}

// RenderWith is Render with options.
func RenderWith(src Source, id string, dest string, opts RenderOptions) error {
	r := &renderer{src: src, hostSafe: opts.HostSafe}
	if err := r.plan(id, nil, nil); err != nil {
		return err
	}
	for i, l := range r.layers {
		if err := r.extractLayer(l, dest, i == len(r.layers)-1); err != nil {
			return err
		}
	}
	return nil
}

type layer struct {
	id      string
	filters []whitelist
}

type renderer struct {
	src      Source
	layers   []layer // extraction order: deepest dependency first
	hostSafe bool
}

// plan appends id's dependencies and then id itself to r.layers. stack is
// the chain of images that led here, for cycle detection; filters are
// their whitelists.
func (r *renderer) plan(id string, stack []string, filters []whitelist) error {
	for _, s := range stack {
		if s == id {
			return fmt.Errorf("render: dependency cycle: %s", strings.Join(append(stack, id), " -> "))
		}
	}
	if len(r.layers) >= maxRenderLayers {
		return fmt.Errorf("render %s: more than %d layers", id, maxRenderLayers)
	}
	im, err := r.src.Manifest(id)
	if err != nil {
		return fmt.Errorf("render: manifest of %s: %w", id, err)
	}
	if len(im.PathWhitelist) > 0 {
		filters = append(filters[:len(filters):len(filters)], newWhitelist(im.PathWhitelist))
	}
	stack = append(stack[:len(stack):len(stack)], id)
	for _, dep := range im.Dependencies {
		depID, err := r.resolve(dep)
		if err != nil {
			return fmt.Errorf("render %s: %w", id, err)
		}
		if err := r.plan(depID, stack, filters); err != nil {
			return err
		}
	}
	r.layers = append(r.layers, layer{id: id, filters: filters})
	return nil
}

func (r *renderer) resolve(dep types.Dependency) (string, error) {
	id, err := r.src.FindDependency(dep)
	if err != nil {
		return "", fmt.Errorf("dependency %s: %w", dep.ImageName, err)
	}
	if dep.ImageID != nil && !dep.ImageID.Empty() && !strings.HasPrefix(id, dep.ImageID.String()) {
		return "", fmt.Errorf("dependency %s: found image %s, want %s", dep.ImageName, id, dep.ImageID)
	}
	return id, nil
}

func (r *renderer) extractLayer(l layer, dest string, top bool) error {
	rc, err := r.src.OpenTar(l.id)
	if err != nil {
		return fmt.Errorf("render: open image %s: %w", l.id, err)
	}
	err = extract(rc, dest, extractConfig{
		skipManifest: !top,
		overwrite:    true,
		filters:      l.filters,
		hostSafe:     r.hostSafe,
	})
	// A source may verify the blob only once it has been read through, so
	// its Close error counts.
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("render: image %s: %w", l.id, err)
	}
	return nil
}
