package pod

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage1abi"
)

// CheckStage1Flags refuses run flags the stage1 image im says it cannot
// honour.
func (o *RuntimeOptions) CheckStage1Flags(im *schema.ImageManifest) error {
	v, ok := im.Annotations.Get(stage1abi.AnnUnsupportedFlags)
	if !ok {
		return nil
	}
	for _, f := range strings.Split(v, ",") {
		switch f = strings.TrimSpace(f); {
		case f == "hostname" && o.Hostname != "":
			return fmt.Errorf("stage1 %s runs the app in the host's namespaces and cannot honour --hostname", im.Name)
		case f == "ipc="+o.IPC:
			return fmt.Errorf("stage1 %s runs the app in the host's namespaces and cannot honour --ipc=%s", im.Name, o.IPC)
		}
	}
	return nil
}

// CheckStage1Pod refuses a pod manifest the stage1 image s1 says it
// cannot run: too many apps, or isolators it does not apply that the
// operator asked for. images gives the apps' image manifests.
func CheckStage1Pod(s1 *schema.ImageManifest, pm *schema.PodManifest, images ImageManifests) error {
	if v, ok := s1.Annotations.Get(stage1abi.AnnMaxApps); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && len(pm.Apps) > n {
			return fmt.Errorf("stage1 %s runs at most %d app(s) per pod; this pod has %d", s1.Name, n, len(pm.Apps))
		}
	}
	v, ok := s1.Annotations.Get(stage1abi.AnnIsolators)
	if !ok {
		return nil
	}
	applied := map[string]bool{}
	for _, name := range strings.Split(v, ",") {
		applied[strings.TrimSpace(name)] = true
	}
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		im, err := images.Manifest(ra.Image.ID.String())
		if err != nil {
			return fmt.Errorf("app %s: %w", ra.Name, err)
		}
		operator, _ := SplitIsolators(ra, im)
		for _, iso := range operator {
			if !applied[iso.Name.String()] {
				return fmt.Errorf("app %s: stage1 %s cannot apply isolator %s (it runs on the host without isolation); use stage1-nspawn", ra.Name, s1.Name, iso.Name)
			}
		}
	}
	return nil
}

// SplitIsolators tells the isolators of the runtime app ra that its
// image im asked for (the same name and value in the image manifest)
// from those the operator added or changed (command line flags, a pod
// manifest). A runtime app without an app section runs the image's.
func SplitIsolators(ra *schema.RuntimeApp, im *schema.ImageManifest) (operator, fromImage types.Isolators) {
	if ra.App == nil {
		if im.App != nil {
			fromImage = im.App.Isolators
		}
		return nil, fromImage
	}
	for _, iso := range ra.App.Isolators {
		if im.App != nil && hasIsolator(im.App.Isolators, iso) {
			fromImage = append(fromImage, iso)
		} else {
			operator = append(operator, iso)
		}
	}
	return operator, fromImage
}

func hasIsolator(list types.Isolators, iso types.Isolator) bool {
	want, err := json.Marshal(iso)
	if err != nil {
		return false
	}
	for _, other := range list {
		if other.Name != iso.Name {
			continue
		}
		if got, err := json.Marshal(other); err == nil && bytes.Equal(got, want) {
			return true
		}
	}
	return false
}
