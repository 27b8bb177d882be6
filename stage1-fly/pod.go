package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
)

// flyPod is what run needs to know about the pod in the current directory.
type flyPod struct {
	dir      string // absolute pod directory
	manifest *schema.PodManifest
	app      *schema.RuntimeApp
	image    *schema.ImageManifest
	// App is the effective app: the pod manifest's, else the image's.
	App *types.App
}

func (p *flyPod) appName() string { return p.app.Name.String() }

// appDir is /opt/stage2/<app> of the stage1 rootfs, on the host.
func (p *flyPod) appDir() string {
	return filepath.Join(p.stage1Rootfs(), stage1abi.AppDir(p.appName()))
}

func (p *flyPod) rootfs() string { return filepath.Join(p.appDir(), stage1abi.RootfsDir) }

// stage1Rootfs is the stage1 rootfs, on the host.
func (p *flyPod) stage1Rootfs() string { return filepath.Join(p.dir, stage1abi.Stage1Rootfs) }

// loadPod reads the pod manifest and the image manifest of its app and
// refuses pods fly cannot run as asked.
func loadPod(dir string) (*flyPod, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := &flyPod{dir: abs, manifest: &schema.PodManifest{}}
	if err := readJSON(filepath.Join(abs, stage1abi.PodManifest), p.manifest); err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	if n := len(p.manifest.Apps); n != 1 {
		return nil, fmt.Errorf("stage1-fly runs exactly one app per pod; this pod has %d", n)
	}
	p.app = &p.manifest.Apps[0]
	p.image = &schema.ImageManifest{}
	if err := readJSON(filepath.Join(p.appDir(), "manifest"), p.image); err != nil {
		return nil, fmt.Errorf("app %s: image manifest: %w", p.appName(), err)
	}
	p.App = p.app.App
	if p.App == nil {
		p.App = p.image.App
	}
	if p.App == nil || len(p.App.Exec) == 0 {
		return nil, fmt.Errorf("app %s: image %s has no exec (try --exec)", p.appName(), p.image.Name)
	}
	isos, err := flyIsolators(p)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", p.appName(), err)
	}
	p.App.Isolators = isos
	return p, nil
}

// flyIsolators returns the isolators of p's app that fly applies. As
// rkt's fly did, resource limits only the image asks for are ignored with
// a warning (a fly app shares the host's resources, and images made for
// other stage1s carry them); every other isolator fly cannot apply is
// refused, and so are the limits the operator asked for.
func flyIsolators(p *flyPod) (types.Isolators, error) {
	operator, fromImage := pod.SplitIsolators(p.app, p.image)
	if err := checkIsolators(operator); err != nil {
		return nil, err
	}
	kept := operator
	for _, iso := range fromImage {
		if isResourceLimit(iso.Name) {
			fmt.Fprintf(os.Stderr, "stage1-fly: warning: ignoring isolator %s of image %s: fly runs the app on the host and applies no resource limits\n", iso.Name, p.image.Name)
			continue
		}
		kept = append(kept, iso)
	}
	if err := checkIsolators(kept); err != nil {
		return nil, err
	}
	return kept, nil
}

// isResourceLimit reports whether an isolator limits the resources the
// app may use (cgroup settings), as opposed to what it may do.
func isResourceLimit(name types.ACIdentifier) bool {
	return strings.HasPrefix(name.String(), "resource/") || name == types.LinuxCPUSharesName
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// checkIsolators refuses isolators fly cannot apply: it has no cgroups,
// no seccomp filter and does not touch host-wide settings. Capability
// sets, no_new_privs and the OOM score adjustment are per process, so
// those are applied.
func checkIsolators(isos types.Isolators) error {
	for _, iso := range isos {
		switch iso.Name {
		case types.LinuxCapabilitiesRetainSetName, types.LinuxCapabilitiesRevokeSetName,
			types.LinuxNoNewPrivilegesName, types.LinuxOOMScoreAdjName:
			continue
		}
		what := "it"
		if strings.HasPrefix(iso.Name.String(), "resource/") {
			what = "resource limits"
		}
		return fmt.Errorf("stage1-fly cannot apply isolator %s (fly runs on the host without isolation and cannot apply %s); use stage1-nspawn", iso.Name, what)
	}
	return nil
}

// oomScoreAdj returns the app's OOM score adjustment isolator, if any.
func oomScoreAdj(isos types.Isolators) (int, bool) {
	for _, iso := range isos {
		if v, ok := iso.Value().(*types.LinuxOOMScoreAdj); ok {
			return int(*v), true
		}
	}
	return 0, false
}
