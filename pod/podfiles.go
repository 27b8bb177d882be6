package pod

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/stage1abi"
)

// Manifest reads the pod manifest.
func (p *Pod) Manifest() (*schema.PodManifest, error) {
	b, err := p.ManifestBytes()
	if err != nil {
		return nil, err
	}
	var pm schema.PodManifest
	if err := json.Unmarshal(b, &pm); err != nil {
		return nil, fmt.Errorf("pod %s manifest: %w", p.UUID, err)
	}
	return &pm, nil
}

// ManifestBytes is the pod manifest as stored. A pod that another
// process moved on (gc marked it) is followed to its new place; one that
// was removed meanwhile is no pod found, not a pod without a manifest.
func (p *Pod) ManifestBytes() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(p.Path(), stage1abi.PodManifest))
	if errors.Is(err, os.ErrNotExist) && p.lock == nil {
		if rerr := p.Refresh(); rerr != nil {
			return nil, rerr
		}
		b, err = os.ReadFile(filepath.Join(p.Path(), stage1abi.PodManifest))
		if errors.Is(err, os.ErrNotExist) && (p.phase == dirGarbage || p.phase == dirExitedGarbage) {
			return nil, fmt.Errorf("no pod found with UUID %q: it is being removed", p.UUID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pod %s has no manifest (yet): %w", p.UUID, err)
	}
	return b, nil
}

// Stage1Manifest reads the manifest of the pod's stage1 image.
func (p *Pod) Stage1Manifest() (*schema.ImageManifest, error) {
	b, err := os.ReadFile(filepath.Join(p.Path(), stage1abi.Stage1Dir, stage1abi.ImageManifest))
	if err != nil {
		return nil, fmt.Errorf("pod %s: stage1 manifest: %w", p.UUID, err)
	}
	var im schema.ImageManifest
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("pod %s: stage1 manifest: %w", p.UUID, err)
	}
	return &im, nil
}

// AppImageManifest reads the image manifest of one of the pod's apps.
func (p *Pod) AppImageManifest(app string) (*schema.ImageManifest, error) {
	b, err := os.ReadFile(filepath.Join(p.Path(), stage1abi.AppsInfoDir, app, stage1abi.ImageManifest))
	if err != nil {
		return nil, fmt.Errorf("pod %s: app %s manifest: %w", p.UUID, app, err)
	}
	var im schema.ImageManifest
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("pod %s: app %s manifest: %w", p.UUID, app, err)
	}
	return &im, nil
}

// CreationTime is when the pod finished preparing (zero before).
func (p *Pod) CreationTime() time.Time {
	fi, err := os.Stat(filepath.Join(p.Path(), stage1abi.PodCreated))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// StartTime is when stage1 reported the pod's pid (zero before).
func (p *Pod) StartTime() time.Time {
	for _, f := range []string{stage1abi.PidFile, stage1abi.PpidFile} {
		if fi, err := os.Stat(filepath.Join(p.Path(), f)); err == nil {
			return fi.ModTime()
		}
	}
	return time.Time{}
}
