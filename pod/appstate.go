package pod

import (
	"os"
	"path/filepath"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage1abi"
)

// AppFinishTime is when stage1 recorded the app's exit status (zero while
// it has not).
func (p *Pod) AppFinishTime(app string) time.Time {
	f, err := p.openStage1File(filepath.Join(stage1abi.StatusDir, app))
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}
	}
	return fi.ModTime()
}

// AppMount is one volume mounted into an app, as rkt's API reports it.
type AppMount struct {
	Name          string `json:"name"`
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path"`
	ReadOnly      bool   `json:"read_only"`
}

// AppMounts lists the volumes mounted into the app ra of the pod manifest
// pm: its mounts, then the image mount points no mount covers (which take
// the volume of their name). An empty volume's host path is its backing
// directory once stage1 made it, else empty.
func (p *Pod) AppMounts(pm *schema.PodManifest, ra *schema.RuntimeApp, app *types.App) []AppMount {
	vols := map[types.ACName]types.Volume{}
	for _, v := range pm.Volumes {
		vols[v.Name] = v
	}
	var out []AppMount
	covered := map[string]bool{}
	add := func(v types.Volume, target string, readOnly bool) {
		if v.ReadOnly != nil {
			readOnly = *v.ReadOnly
		}
		host := v.Source
		if v.Kind == "empty" {
			host = ""
			dir := filepath.Join(p.Path(), stage1abi.SharedVolumesDir, v.Name.String())
			if _, err := os.Stat(dir); err == nil {
				host = dir
			}
		}
		covered[filepath.Clean(target)] = true
		out = append(out, AppMount{Name: v.Name.String(), ContainerPath: target, HostPath: host, ReadOnly: readOnly})
	}
	mountPointRO := func(target string) bool {
		if app == nil {
			return false
		}
		for _, mp := range app.MountPoints {
			if filepath.Clean(mp.Path) == filepath.Clean(target) {
				return mp.ReadOnly
			}
		}
		return false
	}
	for _, m := range ra.Mounts {
		v, ok := vols[m.Volume]
		if m.AppVolume != nil {
			v, ok = *m.AppVolume, true
		}
		if ok {
			add(v, m.Path, mountPointRO(m.Path))
		}
	}
	if app != nil {
		for _, mp := range app.MountPoints {
			if v, ok := vols[mp.Name]; ok && !covered[filepath.Clean(mp.Path)] {
				add(v, mp.Path, mp.ReadOnly)
			}
		}
	}
	return out
}
