package oci

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// IDOf is "sha512-" and the hex SHA-512 of b: the appc image id of an
// image whose manifest bytes are b.
func IDOf(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + hex.EncodeToString(sum[:])
}

// Files of the image that AppcManifest reads to resolve the user.
const (
	PasswdFile = "etc/passwd"
	GroupFile  = "etc/group"
)

// UserFiles are the root-relative paths Scan should keep for
// AppcManifest.
var UserFiles = []string{PasswdFile, GroupFile}

// AppcOptions say what AppcManifest cannot learn from the config.
type AppcOptions struct {
	// Repository is the image's repository as users know it; it becomes
	// the appc image name (see AppcName).
	Repository string
	// Tag becomes the version label; "" gives "latest".
	Tag string
	// Files are the image's etc/passwd and etc/group once every layer is
	// applied (Merge of the layers' Scan results), to resolve the user.
	Files Files
}

// AppcName is the appc image name of a repository: lower case, the
// registry's port colon as a dash ("127.0.0.1:5000/app" becomes
// "127.0.0.1-5000/app"), anything else an AC identifier cannot hold as
// "_".
func AppcName(repo string) (types.ACIdentifier, error) {
	host, rest, ok := strings.Cut(repo, "/")
	if ok && !strings.HasPrefix(repo, "/") {
		repo = strings.ReplaceAll(host, ":", "-") + "/" + rest
	}
	s, err := types.SanitizeACIdentifier(repo)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", repo, err)
	}
	return types.ACIdentifier(s), nil
}

// Merge applies a later layer's Scan result over the files seen so far.
func (f Files) Merge(later Files) {
	for k, v := range later {
		f[k] = v
	}
}

// AppcManifest converts an image config into the equivalent appc image
// manifest, so that stage1, which reads appc manifests only, runs a Docker
// app as it runs an ACI app:
//
//   - exec: Entrypoint followed by Cmd;
//   - user and group: Config.User resolved in the image as Docker does:
//     "" is root; "name" or "uid" gets the primary group of its
//     /etc/passwd entry (root's group when there is none); "user:group"
//     is kept as it is; names are resolved again by stage1, in the image;
//   - environment: Env; workingDirectory: WorkingDir (unset means "/");
//   - ports: each of ExposedPorts ("80/tcp") as a port named "80-tcp",
//     as rkt named them;
//   - mountPoints: each of Volumes as a mount point named "volume-" and
//     the path's components joined by "-" ("/var/lib/db" is
//     "volume-var-lib-db");
//   - annotations of the image: Labels (names as AC identifiers), and
//     "created";
//   - labels: version (the tag, else "latest"), os, arch.
func AppcManifest(cfg *v1.ConfigFile, opts AppcOptions) (*schema.ImageManifest, error) {
	nm, err := AppcName(opts.Repository)
	if err != nil {
		return nil, err
	}
	m := schema.BlankImageManifest()
	m.Name = nm
	version := opts.Tag
	if version == "" {
		version = "latest"
	}
	m.Labels = types.Labels{
		{Name: "version", Value: version},
		{Name: "os", Value: "linux"},
		{Name: "arch", Value: appcArch(runtime.GOARCH)},
	}
	c := cfg.Config
	app := &types.App{
		Exec:             append(append(types.Exec{}, c.Entrypoint...), c.Cmd...),
		WorkingDirectory: workingDir(c.WorkingDir),
	}
	app.User, app.Group = resolveUser(c.User, opts.Files)
	if app.Environment, err = environment(c.Env); err != nil {
		return nil, err
	}
	if app.Ports, err = ports(c.ExposedPorts); err != nil {
		return nil, err
	}
	if app.MountPoints, err = mountPoints(c.Volumes); err != nil {
		return nil, err
	}
	m.App = app
	m.Annotations = annotations(c.Labels)
	if !cfg.Created.IsZero() {
		m.Annotations.Set("created", cfg.Created.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	// Whatever appc could not write back is no manifest.
	if _, err := m.MarshalJSON(); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return m, nil
}

// appcArch maps Go's architecture names to appc's arch label values.
func appcArch(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64"
	case "386":
		return "i386"
	case "arm":
		return "armv7l"
	}
	return goarch
}

// workingDir is WorkingDir made absolute; "/" is left unsaid (appc's
// default, and what stage1 uses when none is given).
func workingDir(wd string) string {
	if wd = path.Clean("/" + wd); wd == "/" {
		return ""
	}
	return wd
}

// resolveUser resolves a config's User as Docker does (see AppcManifest).
func resolveUser(user string, files Files) (string, string) {
	if user == "" {
		return "0", "0"
	}
	if u, g, ok := strings.Cut(user, ":"); ok {
		if u == "" {
			u = "0"
		}
		if g == "" {
			g = primaryGroup(u, files[PasswdFile])
		}
		return u, g
	}
	return user, primaryGroup(user, files[PasswdFile])
}

// primaryGroup is the gid of user (a name or uid) in passwd, "0" when
// passwd does not list it.
func primaryGroup(user string, passwd []byte) string {
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || (f[0] != user && f[2] != user) {
			continue
		}
		if _, err := strconv.ParseUint(f[3], 10, 32); err == nil {
			return f[3]
		}
	}
	return "0"
}

func environment(env []string) (types.Environment, error) {
	var out types.Environment
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		// A later entry overrides an earlier one, as in Docker.
		out.Set(k, v)
	}
	for _, e := range out {
		if _, err := types.Environment([]types.EnvironmentVariable{e}).MarshalJSON(); err != nil {
			return nil, fmt.Errorf("image config: Env: %w", err)
		}
	}
	return out, nil
}

func ports(exposed map[string]struct{}) ([]types.Port, error) {
	var out []types.Port
	for _, k := range slices.Sorted(maps.Keys(exposed)) {
		num, proto, _ := strings.Cut(k, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
			return nil, fmt.Errorf("image config: ExposedPorts: invalid port %q", k)
		}
		out = append(out, types.Port{
			Name: types.ACName(fmt.Sprintf("%d-%s", n, proto)), Protocol: proto, Port: uint(n), Count: 1,
		})
	}
	return out, nil
}

func mountPoints(vols map[string]struct{}) ([]types.MountPoint, error) {
	var out []types.MountPoint
	seen := map[types.ACName]bool{}
	for _, p := range slices.Sorted(maps.Keys(vols)) {
		clean := path.Clean("/" + p)
		nm, err := types.SanitizeACName("volume-" + strings.ReplaceAll(strings.Trim(clean, "/"), "/", "-"))
		if err != nil || clean == "/" {
			return nil, fmt.Errorf("image config: Volumes: invalid path %q", p)
		}
		n := types.ACName(nm)
		if seen[n] {
			return nil, fmt.Errorf("image config: Volumes: %q gives the mount point name %s twice", p, n)
		}
		seen[n] = true
		out = append(out, types.MountPoint{Name: n, Path: clean})
	}
	return out, nil
}

// annotations keeps the labels whose names make AC identifiers once
// lower-cased; the first of two that sanitise alike wins.
func annotations(labels map[string]string) types.Annotations {
	var out types.Annotations
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		s, err := types.SanitizeACIdentifier(k)
		if err != nil {
			continue
		}
		if _, dup := out.Get(s); dup {
			continue
		}
		out.Set(types.ACIdentifier(s), labels[k])
	}
	return out
}
