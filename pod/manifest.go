package pod

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/grant"
	"github.com/saturn-pods/saturn/stage1abi"
)

// ImageManifests gives image manifests by image id (the store does).
type ImageManifests interface {
	Manifest(id string) (*schema.ImageManifest, error)
}

// IDResolver is implemented by ImageManifests that take an image id in
// any form the store resolves (the short one fetch prints, a unique
// prefix): LoadManifest then puts the full id into the pod manifest.
type IDResolver interface {
	ResolveID(id string) (string, error)
}

// resolveImageID replaces the image id of ra with the full one when
// images resolves ids.
func resolveImageID(ra *schema.RuntimeApp, images ImageManifests) error {
	r, ok := images.(IDResolver)
	if !ok {
		return nil
	}
	full, err := r.ResolveID(ra.Image.ID.String())
	if err != nil {
		return err
	}
	h, err := types.NewHash(full)
	if err != nil {
		return err
	}
	ra.Image.ID = *h
	return nil
}

// Generate builds the pod manifest for the apps of o, whose ImageIDs the
// caller has filled in. environ is the caller's environment, used with
// --inherit-env.
func Generate(o *PrepareOptions, images ImageManifests, environ []string) (*schema.PodManifest, error) {
	pm := &schema.PodManifest{
		ACKind:    schema.PodManifestKind,
		ACVersion: schema.AppContainerVersion,
		Apps:      schema.AppList{},
		Volumes:   append([]types.Volume(nil), o.Apps.Volumes...),
		Ports:     o.Ports,
	}
	for _, app := range o.Apps.Apps {
		im, err := images.Manifest(app.ImageID)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", app.Image, err)
		}
		ra, err := runtimeApp(app, im, o)
		if err != nil {
			return nil, err
		}
		fromImage, err := imageIsolators(app, im.App)
		if err != nil {
			return nil, err
		}
		if err := o.Grants.Image(im.Name.String(), app.ImageID, fromImage); err != nil {
			return nil, err
		}
		if err := narrowImageSeccomp(ra.App, fromImage); err != nil {
			return nil, fmt.Errorf("app %s (image %s): %w", ra.Name, im.Name, err)
		}
		if pm.Apps.Get(ra.Name) != nil {
			return nil, fmt.Errorf("two apps are named %q: give one of them another --name", ra.Name)
		}
		if o.InheritEnv {
			mergeEnv(&ra.App.Environment, environ, false)
		}
		mergeEnv(&ra.App.Environment, envStrings(o.SetEnvFile), true)
		mergeEnv(&ra.App.Environment, envStrings(o.SetEnv), true)
		mergeEnv(&ra.App.Environment, envStrings(app.Environment), true)
		pm.Apps = append(pm.Apps, ra)
	}
	if err := checkVolumes(pm); err != nil {
		return nil, err
	}
	if err := checkPorts(pm); err != nil {
		return nil, err
	}
	for _, an := range o.Apps.Annotations {
		pm.Annotations.Set(an.Name, an.Value)
	}
	pm.Annotations.Set("coreos.com/rkt/stage1/mutable", "false")
	if o.CgroupParent != "" {
		pm.Annotations.Set(stage1abi.AnnCgroupParent, o.CgroupParent)
	}
	pm.UserAnnotations = o.Apps.UserAnnotations
	pm.UserLabels = o.Apps.UserLabels
	return roundTrip(pm)
}

// AppNameFromImage is the default app name: the last element of the
// image name, made a valid AC name.
func AppNameFromImage(name types.ACIdentifier) (types.ACName, error) {
	s := name.String()
	s = s[strings.LastIndex(s, "/")+1:]
	sn, err := types.SanitizeACName(s)
	if err != nil {
		return "", fmt.Errorf("image name %s gives no app name: %v (use --name)", name, err)
	}
	return *types.MustACName(sn), nil
}

func runtimeApp(app *App, im *schema.ImageManifest, o *PrepareOptions) (schema.RuntimeApp, error) {
	var ra schema.RuntimeApp
	name := types.ACName(app.Name)
	if app.Name == "" {
		n, err := AppNameFromImage(im.Name)
		if err != nil {
			return ra, err
		}
		name = n
	}
	if im.App == nil && app.Exec == "" {
		return ra, fmt.Errorf("image %s has no app section: give --exec", im.Name)
	}
	h, err := types.NewHash(app.ImageID)
	if err != nil {
		return ra, fmt.Errorf("image %s: bad image id %q: %v", app.Image, app.ImageID, err)
	}
	imName := im.Name
	ra = schema.RuntimeApp{
		Name:           name,
		Image:          schema.RuntimeImage{Name: &imName, ID: *h, Labels: im.Labels},
		App:            copyApp(im.App),
		ReadOnlyRootFS: app.ReadOnlyRootFS,
		Mounts:         mergeMounts(app.Mounts, o.Apps.Mounts),
	}
	a := ra.App
	if app.Exec != "" {
		a.Exec = types.Exec{app.Exec}
	}
	a.Exec = append(a.Exec, app.Args...)
	if app.User != "" {
		a.User = app.User
	}
	if app.Group != "" {
		a.Group = app.Group
	}
	if app.SupplementaryGIDs != nil {
		a.SupplementaryGIDs = app.SupplementaryGIDs
	}
	if app.WorkingDir != "" {
		a.WorkingDirectory = app.WorkingDir
	}
	for k, v := range app.UserAnnotations {
		if a.UserAnnotations == nil {
			a.UserAnnotations = types.UserAnnotations{}
		}
		a.UserAnnotations[k] = v
	}
	for k, v := range app.UserLabels {
		if a.UserLabels == nil {
			a.UserLabels = types.UserLabels{}
		}
		a.UserLabels[k] = v
	}
	if err := overrideIsolators(app, a); err != nil {
		return ra, fmt.Errorf("app %s: %w", name, err)
	}
	for _, an := range app.Annotations {
		ra.Annotations.Set(an.Name, an.Value)
	}
	for ann, mode := range map[string]string{stage1abi.AnnStdin: app.Stdin, stage1abi.AnnStdout: app.Stdout, stage1abi.AnnStderr: app.Stderr} {
		if mode != "" {
			ra.Annotations.Set(types.ACIdentifier(ann), mode)
		}
	}
	return ra, nil
}

// copyApp deep-copies an image's app section (the pod manifest's copy is
// then changed by flags), or makes a root one for images without it.
func copyApp(a *types.App) *types.App {
	if a == nil {
		return &types.App{User: "0", Group: "0"}
	}
	b, err := json.Marshal(a)
	if err == nil {
		var c types.App
		if err = json.Unmarshal(b, &c); err == nil {
			return &c
		}
	}
	// An image manifest that was valid on import always round-trips.
	c := *a
	return &c
}

// override is an isolator the operator set with a per-app flag, and the
// image isolators it replaces.
type override struct {
	iso     types.Isolator
	replace []types.ACIdentifier
}

// isolatorOverrides are the isolators app's flags set, in the order
// they are applied.
func (app *App) isolatorOverrides() ([]override, error) {
	var out []override
	if app.MemoryLimit != nil {
		out = append(out, override{app.MemoryLimit.AsIsolator(), []types.ACIdentifier{types.ResourceMemoryName}})
	}
	if app.CPULimit != nil {
		out = append(out, override{app.CPULimit.AsIsolator(), []types.ACIdentifier{types.ResourceCPUName}})
	}
	if app.CPUShares != nil {
		out = append(out, override{app.CPUShares.AsIsolator(), []types.ACIdentifier{types.LinuxCPUSharesName}})
	}
	if app.OOMScoreAdj != nil {
		out = append(out, override{app.OOMScoreAdj.AsIsolator(), []types.ACIdentifier{types.LinuxOOMScoreAdjName}})
	}
	if app.CapsRetain != nil && app.CapsRemove != nil {
		return nil, fmt.Errorf("--caps-retain and --caps-remove cannot both be given for one image")
	}
	caps := []types.ACIdentifier{types.LinuxCapabilitiesRetainSetName, types.LinuxCapabilitiesRevokeSetName}
	if app.CapsRetain != nil {
		is, err := app.CapsRetain.AsIsolator()
		if err != nil {
			return nil, err
		}
		out = append(out, override{*is, caps})
	}
	if app.CapsRemove != nil {
		is, err := app.CapsRemove.AsIsolator()
		if err != nil {
			return nil, err
		}
		out = append(out, override{*is, caps})
	}
	if app.Seccomp != nil {
		out = append(out, override{*app.Seccomp, []types.ACIdentifier{types.LinuxSeccompRetainSetName, types.LinuxSeccompRemoveSetName}})
	}
	return out, nil
}

// overrideIsolators replaces a's isolators by those app's flags set.
func overrideIsolators(app *App, a *types.App) error {
	ovs, err := app.isolatorOverrides()
	if err != nil {
		return err
	}
	for _, ov := range ovs {
		kept := a.Isolators[:0]
		for _, old := range a.Isolators {
			if !slices.Contains(ov.replace, old.Name) {
				kept = append(kept, old)
			}
		}
		a.Isolators = append(kept, ov.iso)
	}
	return nil
}

// imageIsolators are the isolators of the image's app section im that
// app's flags leave in its runtime app: what the image, not the
// operator, sets.
func imageIsolators(app *App, im *types.App) (types.Isolators, error) {
	if im == nil {
		return nil, nil
	}
	ovs, err := app.isolatorOverrides()
	if err != nil {
		return nil, err
	}
	var out types.Isolators
	for _, iso := range im.Isolators {
		replaced := false
		for _, ov := range ovs {
			replaced = replaced || slices.Contains(ov.replace, iso.Name)
		}
		if !replaced {
			out = append(out, iso)
		}
	}
	return out, nil
}

// mergeMounts puts per-app mounts before pod-wide ones and keeps the first
// mount of each target path, so an app's own --mount wins.
func mergeMounts(app, global []schema.Mount) []schema.Mount {
	var out []schema.Mount
	seen := map[string]bool{}
	for _, m := range append(append([]schema.Mount(nil), app...), global...) {
		if !seen[m.Path] {
			seen[m.Path] = true
			out = append(out, m)
		}
	}
	return out
}

// checkVolumes refuses host volumes whose source is missing and mounts of
// undeclared volumes, and declares the implicit empty volumes rkt gives
// image mount points without one.
func checkVolumes(pm *schema.PodManifest) error {
	declared := map[types.ACName]bool{}
	for _, v := range pm.Volumes {
		declared[v.Name] = true
		if err := CheckVolume(v); err != nil {
			return err
		}
		if v.Kind == "host" {
			if _, err := os.Stat(v.Source); err != nil {
				return fmt.Errorf("volume %s: host source %s: %w", v.Name, v.Source, errors.Unwrap(err))
			}
		}
	}
	for _, ra := range pm.Apps {
		for _, m := range ra.Mounts {
			if m.AppVolume != nil {
				if err := CheckVolume(*m.AppVolume); err != nil {
					return fmt.Errorf("app %s: %w", ra.Name, err)
				}
			}
			if !declared[m.Volume] {
				return fmt.Errorf("app %s mounts volume %q, which no --volume declares", ra.Name, m.Volume)
			}
		}
	}
	for _, ra := range pm.Apps {
		if ra.App == nil {
			continue // a --pod-manifest app using its image's app section
		}
		for _, mp := range ra.App.MountPoints {
			if declared[mp.Name] || mountedPath(ra.Mounts, mp.Path) {
				continue
			}
			v, err := types.VolumeFromString(mp.Name.String() + ",kind=empty")
			if err != nil {
				return fmt.Errorf("app %s: mount point %s: %v", ra.Name, mp.Name, err)
			}
			pm.Volumes = append(pm.Volumes, *v)
			declared[mp.Name] = true
		}
	}
	return nil
}

func mountedPath(ms []schema.Mount, p string) bool {
	for _, m := range ms {
		if m.Path == p {
			return true
		}
	}
	return false
}

// checkPorts refuses --port names that no app's image exposes.
func checkPorts(pm *schema.PodManifest) error {
	for _, ep := range pm.Ports {
		found := false
		for _, ra := range pm.Apps {
			for _, p := range ra.App.Ports {
				if p.Name == ep.Name {
					found = true
				}
			}
		}
		if !found {
			return fmt.Errorf("--port %s: no app in the pod exposes a port named %s", ep.Name, ep.Name)
		}
	}
	return nil
}

func mergeEnv(env *types.Environment, kvs []string, override bool) {
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, exists := env.Get(k); override || !exists {
			env.Set(k, v)
		}
	}
}

func envStrings(env types.Environment) []string {
	var out []string
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

// roundTrip returns the manifest as the schema reads it back: a bad value
// is refused now rather than by stage1, and isolators built in memory get
// their parsed values.
func roundTrip(pm *schema.PodManifest) (*schema.PodManifest, error) {
	b, err := json.Marshal(pm)
	if err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	var back schema.PodManifest
	if err := json.Unmarshal(b, &back); err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	return &back, nil
}

// unmarshalManifest decodes a manifest written by hand. appc's isolator
// decoder (v0.8.11) dereferences a missing "value" and panics; a user's
// file must get an error instead.
func unmarshalManifest(b []byte, pm *schema.PodManifest) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("appc's decoder failed (an isolator without a value?): %v", r)
		}
	}()
	return json.Unmarshal(b, pm)
}

// LoadManifest reads a hand-written pod manifest (--pod-manifest) and
// checks what stage0 can: size, valid schema, unique app names, an image
// id and an app section (in the pod or the image) for every app. The
// operator wrote the apps' isolators; an app without an app section takes
// its image's, which grants judges.
func LoadManifest(path string, images ImageManifests, grants *grant.Policy) (*schema.PodManifest, error) {
	b, err := readManifestFile(path)
	if err != nil {
		return nil, err
	}
	var pm schema.PodManifest
	if err := unmarshalManifest(b, &pm); err != nil {
		return nil, fmt.Errorf("pod manifest %s: %w", path, err)
	}
	if len(pm.Apps) == 0 {
		return nil, fmt.Errorf("pod manifest %s has no apps", path)
	}
	// The schema's own check takes a manifest without acVersion, which
	// then cannot be written into the pod.
	if pm.ACVersion.Empty() {
		return nil, fmt.Errorf("pod manifest %s has no acVersion", path)
	}
	seen := map[types.ACName]bool{}
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		if ra.Name.Empty() {
			return nil, fmt.Errorf("pod manifest %s: app %d has no name", path, i+1)
		}
		if seen[ra.Name] {
			return nil, fmt.Errorf("pod manifest %s: two apps are named %q", path, ra.Name)
		}
		seen[ra.Name] = true
		if ra.Image.ID.Empty() {
			return nil, fmt.Errorf("pod manifest %s: app %s has no image id", path, ra.Name)
		}
		if err := resolveImageID(ra, images); err != nil {
			return nil, fmt.Errorf("pod manifest %s: app %s: %w", path, ra.Name, err)
		}
		im, err := images.Manifest(ra.Image.ID.String())
		if err != nil {
			return nil, fmt.Errorf("pod manifest %s: app %s: %w", path, ra.Name, err)
		}
		if ra.App == nil && im.App == nil {
			return nil, fmt.Errorf("pod manifest %s: app %s has no app section, nor has its image", path, ra.Name)
		}
		if ra.App == nil {
			if err := grants.Image(im.Name.String(), ra.Image.ID.String(), im.App.Isolators); err != nil {
				return nil, fmt.Errorf("pod manifest %s: app %s: %w", path, ra.Name, err)
			}
			if hasSeccompRemoveSet(im.App.Isolators) {
				// The image's remove set narrows the default filter:
				// the app gets the image's section, rewritten.
				ra.App = copyApp(im.App)
				if err := narrowImageSeccomp(ra.App, im.App.Isolators); err != nil {
					return nil, fmt.Errorf("pod manifest %s: app %s: %w", path, ra.Name, err)
				}
			}
		}
	}
	if err := checkVolumes(&pm); err != nil {
		return nil, err
	}
	if _, err := roundTrip(&pm); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &pm, nil
}

// readManifestFile reads a pod manifest file of at most
// aci.MaxManifestSize bytes, the bound of image manifests: a bigger one
// would cost every later command that reads the pod.
func readManifestFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read pod manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, aci.MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read pod manifest: %w", err)
	}
	if len(b) > aci.MaxManifestSize {
		return nil, fmt.Errorf("pod manifest %s is larger than %d MiB", path, aci.MaxManifestSize>>20)
	}
	return b, nil
}
