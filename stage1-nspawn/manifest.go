package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// The manifests as stage1 reads them: the part of appc's schema it uses,
// decoded without github.com/appc/spec. That package's initialisation
// (regular expressions compiled, tables built) costs each of this
// binary's processes about 0.7 ms and a hundred page faults, twice per
// pod start. stage0 wrote the pod manifest after checking it with appc;
// stage1 still checks what it relies on: names that become paths,
// volume kinds and their fields, the isolators it applies.

const podManifestKind = "PodManifest"

type podManifest struct {
	ACKind  string       `json:"acKind"`
	Apps    []runtimeApp `json:"apps"`
	Volumes []volume     `json:"volumes"`
	// Isolators of the whole pod; stage1-nspawn enforces the cgroup ones
	// (cgroups.go).
	Isolators []appIsolator `json:"isolators"`
	// Ports exposed on the host (--port), see network.go.
	Ports       []exposedPort `json:"ports"`
	Annotations []annotation  `json:"annotations"`
}

type runtimeApp struct {
	Name           string       `json:"name"`
	App            *app         `json:"app"`
	ReadOnlyRootFS bool         `json:"readOnlyRootFS"`
	Mounts         []podMount   `json:"mounts"`
	Annotations    []annotation `json:"annotations"`
}

type app struct {
	Exec              []string       `json:"exec"`
	User              string         `json:"user"`
	Group             string         `json:"group"`
	SupplementaryGIDs []int          `json:"supplementaryGIDs"`
	EventHandlers     []eventHandler `json:"eventHandlers"`
	WorkingDirectory  string         `json:"workingDirectory"`
	Environment       []envVar       `json:"environment"`
	MountPoints       []mountPoint   `json:"mountPoints"`
	Isolators         []appIsolator  `json:"isolators"`
	Ports             []appPort      `json:"ports"`
}

type eventHandler struct {
	Name string   `json:"name"`
	Exec []string `json:"exec"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type mountPoint struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly"`
}

type appIsolator struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

type podMount struct {
	Volume    string  `json:"volume"`
	Path      string  `json:"path"`
	AppVolume *volume `json:"appVolume"`
}

type volume struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	Source    string  `json:"source"`
	ReadOnly  *bool   `json:"readOnly"`
	Recursive *bool   `json:"recursive"`
	Mode      *string `json:"mode"`
	UID       *int    `json:"uid"`
	GID       *int    `json:"gid"`
}

type imageManifest struct {
	App         *app         `json:"app"`
	Annotations []annotation `json:"annotations"`
}

type annotation struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// readPodManifest reads and checks the pod manifest at path.
func readPodManifest(path string) (*podManifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pod manifest: %w", err)
	}
	return parsePodManifest(b)
}

// parsePodManifest decodes and checks a pod manifest.
func parsePodManifest(b []byte) (*podManifest, error) {
	pm := &podManifest{}
	if err := json.Unmarshal(b, pm); err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	if err := pm.check(); err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	return pm, nil
}

func (pm *podManifest) check() error {
	if pm.ACKind != podManifestKind {
		return fmt.Errorf("acKind must be %q", podManifestKind)
	}
	seen := map[string]bool{}
	for i := range pm.Volumes {
		v := &pm.Volumes[i]
		if err := v.check(); err != nil {
			return err
		}
		if seen[v.Name] {
			return fmt.Errorf("duplicate volume name %q", v.Name)
		}
		seen[v.Name] = true
	}
	apps := map[string]bool{}
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		if err := checkACName(ra.Name); err != nil {
			return fmt.Errorf("app name: %w", err)
		}
		if apps[ra.Name] {
			return fmt.Errorf("duplicate app name %q", ra.Name)
		}
		apps[ra.Name] = true
		if err := ra.check(); err != nil {
			return fmt.Errorf("app %s: %w", ra.Name, err)
		}
	}
	return nil
}

func (ra *runtimeApp) check() error {
	for i := range ra.Mounts {
		m := &ra.Mounts[i]
		if err := checkACName(m.Volume); err != nil {
			return fmt.Errorf("mount volume: %w", err)
		}
		if err := checkNoNUL("mount path", m.Path); err != nil {
			return err
		}
		if m.AppVolume != nil {
			if err := m.AppVolume.check(); err != nil {
				return err
			}
		}
	}
	if ra.App != nil {
		return ra.App.check()
	}
	return nil
}

// check makes the checks appc makes of an app section.
func (a *app) check() error {
	if a.User == "" {
		return errors.New("user is required")
	}
	if a.Group == "" {
		return errors.New("group is required")
	}
	if a.WorkingDirectory != "" && !path.IsAbs(a.WorkingDirectory) {
		return errors.New("workingDirectory must be an absolute path")
	}
	if err := a.checkNoNUL(); err != nil {
		return err
	}
	handlers := map[string]bool{}
	for _, eh := range a.EventHandlers {
		if handlers[eh.Name] {
			return fmt.Errorf("only one eventHandler of name %q allowed", eh.Name)
		}
		handlers[eh.Name] = true
	}
	vars := map[string]bool{}
	for _, e := range a.Environment {
		if !validEnvName(e.Name) {
			return fmt.Errorf("environment variable does not have valid identifier %q", e.Name)
		}
		if vars[e.Name] {
			return fmt.Errorf("duplicate environment variable of name %q", e.Name)
		}
		vars[e.Name] = true
	}
	for _, mp := range a.MountPoints {
		if err := checkACName(mp.Name); err != nil {
			return fmt.Errorf("mount point: %w", err)
		}
	}
	_, err := a.launchIsolators()
	return err
}

// check makes the checks appc makes of a volume and, like appc, gives
// an empty volume its default mode, uid and gid.
func (v *volume) check() error {
	if err := checkACName(v.Name); err != nil {
		return fmt.Errorf("volume name: %w", err)
	}
	if err := checkNoNUL("volume "+v.Name+": source", v.Source); err != nil {
		return err
	}
	switch v.Kind {
	case "empty":
		if v.Source != "" {
			return fmt.Errorf("volume %s: source for empty volume must be empty", v.Name)
		}
		if v.Mode == nil {
			m := "0755"
			v.Mode = &m
		}
		if _, err := strconv.ParseUint(*v.Mode, 8, 32); err != nil {
			return fmt.Errorf("volume %s: mode %q is not octal", v.Name, *v.Mode)
		}
		if v.UID == nil {
			v.UID = new(int)
		}
		if v.GID == nil {
			v.GID = new(int)
		}
		// The directory is chowned to them: -1 would leave it root's
		// without a word, a value past 32 bits would be truncated.
		if !launch.ValidID(*v.UID) {
			return fmt.Errorf("volume %s: uid %d out of range (0-%d)", v.Name, *v.UID, launch.MaxID)
		}
		if !launch.ValidID(*v.GID) {
			return fmt.Errorf("volume %s: gid %d out of range (0-%d)", v.Name, *v.GID, launch.MaxID)
		}
	case "host":
		if v.Mode != nil || v.UID != nil || v.GID != nil {
			return fmt.Errorf("volume %s: mode, uid and gid cannot be set for a host volume", v.Name)
		}
		if !path.IsAbs(v.Source) {
			return fmt.Errorf("volume %s: source for host volume must be absolute path", v.Name)
		}
	default:
		return fmt.Errorf(`volume %s: unrecognized volume kind: should be one of "empty", "host"`, v.Name)
	}
	return nil
}

// checkNoNUL refuses the strings of an app section that reach a system
// call with a NUL byte in them: the kernel would see them cut short, and
// Go refuses them there with a bare EINVAL, after the pod has started.
func (a *app) checkNoNUL() error {
	fields := [][]string{{"user", a.User}, {"group", a.Group}, {"workingDirectory", a.WorkingDirectory}}
	for _, arg := range a.Exec {
		fields = append(fields, []string{"exec argument", arg})
	}
	for _, eh := range a.EventHandlers {
		for _, arg := range eh.Exec {
			fields = append(fields, []string{eh.Name + " handler argument", arg})
		}
	}
	for _, e := range a.Environment {
		fields = append(fields, []string{"environment variable " + e.Name, e.Value})
	}
	for _, mp := range a.MountPoints {
		fields = append(fields, []string{"mount point " + mp.Name + " path", mp.Path})
	}
	for _, f := range fields {
		if err := checkNoNUL(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

func checkNoNUL(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

// checkACName accepts appc's AC names (^[a-z0-9]+(-[a-z0-9]+)*$): app
// and volume names become path components, so nothing else may pass.
func checkACName(s string) error {
	ok := s != "" && s[0] != '-' && s[len(s)-1] != '-' && !strings.Contains(s, "--")
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%q is not a valid AC name", s)
	}
	return nil
}

// validEnvName is appc's ^[A-Za-z_][A-Za-z_0-9.-]*$.
func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '.' || c == '-')) {
			return false
		}
	}
	return s != ""
}

// launchIsolators decodes the isolators stage1-nspawn applies, with
// appc's checks of their values; the others are left to the warning.
func (a *app) launchIsolators() ([]launch.Isolator, error) {
	var out []launch.Isolator
	for _, iso := range a.Isolators {
		l := launch.Isolator{Name: iso.Name}
		var err error
		switch iso.Name {
		case launch.IsolatorRetainCaps, launch.IsolatorRemoveCaps:
			var v struct {
				Set []string `json:"set"`
			}
			if err = json.Unmarshal(iso.Value, &v); err == nil && len(v.Set) == 0 {
				err = errors.New("set must be non-empty")
			}
			l.Caps = v.Set
		case launch.IsolatorNoNewPrivs:
			err = json.Unmarshal(iso.Value, &l.On)
		case launch.IsolatorOOMScoreAdj:
			if err = json.Unmarshal(iso.Value, &l.Adj); err == nil && (l.Adj < -1000 || l.Adj > 1000) {
				err = fmt.Errorf("must be between -1000 and 1000, got %d", l.Adj)
			}
		case launch.IsolatorSeccompRetain, launch.IsolatorSeccompRemove:
			var v struct {
				Set   []string `json:"set"`
				Errno string   `json:"errno"`
			}
			if err = json.Unmarshal(iso.Value, &v); err == nil && len(v.Set) == 0 {
				err = errors.New("set must be non-empty")
			}
			l.Syscalls, l.Errno = v.Set, v.Errno
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// launchApp is a as package launch takes it.
func (a *app) launchApp() (*launch.App, error) {
	isos, err := a.launchIsolators()
	if err != nil {
		return nil, err
	}
	env := make([]launch.EnvVar, len(a.Environment))
	for i, e := range a.Environment {
		env[i] = launch.EnvVar{Name: e.Name, Value: e.Value}
	}
	return &launch.App{
		User:              a.User,
		Group:             a.Group,
		SupplementaryGIDs: a.SupplementaryGIDs,
		WorkingDirectory:  a.WorkingDirectory,
		Environment:       env,
		Isolators:         isos,
	}, nil
}

func readImageManifest(path string) (*imageManifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image manifest: %w", err)
	}
	return parseImageManifest(b)
}

// parseImageManifest decodes an image manifest and checks its app.
func parseImageManifest(b []byte) (*imageManifest, error) {
	im := &imageManifest{}
	if err := json.Unmarshal(b, im); err != nil {
		return nil, fmt.Errorf("image manifest: %w", err)
	}
	if im.App != nil {
		if err := im.App.check(); err != nil {
			return nil, fmt.Errorf("image manifest: %w", err)
		}
	}
	return im, nil
}

// annotation returns the value of the image annotation called name.
func (im *imageManifest) annotation(name string) (string, bool) {
	for _, a := range im.Annotations {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}
