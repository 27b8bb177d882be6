package aci

import (
	"errors"
	"io"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// Source gives Render access to images and their dependencies.
type Source interface {
	FindDependency(dep types.Dependency) (id string, err error) // by imageID if given, else name + labels
	Manifest(id string) (*schema.ImageManifest, error)
	OpenTar(id string) (io.ReadCloser, error) // the image's uncompressed tar
}

// Render lays an image and its dependencies out in dest (dest/manifest,
// dest/rootfs) following the appc layering rules.
func Render(src Source, id string, dest string) error {
	return errors.New("aci: Render not ready yet")
}
