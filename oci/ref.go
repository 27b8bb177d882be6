package oci

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/saturn-pods/saturn/clip"
)

// Kind is where an image comes from.
type Kind int

// Source kinds.
const (
	Registry      Kind = iota // docker://
	Layout                    // oci:
	Archive                   // oci-archive:
	DockerArchive             // docker-archive:
)

var prefixes = []struct {
	prefix string
	kind   Kind
}{
	{"docker://", Registry},
	{"oci:", Layout},
	{"oci-archive:", Archive},
	{"docker-archive:", DockerArchive},
}

func (k Kind) String() string {
	for _, p := range prefixes {
		if p.kind == k {
			return strings.TrimSuffix(strings.TrimSuffix(p.prefix, "//"), ":")
		}
	}
	return "unknown"
}

// dockerHub is how Docker Hub's registry is named in saturn's output, as
// rkt named it; go-containerregistry calls it index.docker.io.
const dockerHub = "registry-1.docker.io"

// Source is a parsed image source.
type Source struct {
	Kind Kind
	// Ref is the registry reference (Registry only): a tag or a digest.
	Ref name.Reference
	// Path is the layout directory or archive file (the others).
	Path string
	// RefName is the image's name inside a layout or archive: a ref
	// name annotation, "NAME:TAG" of a docker archive; "" for the only
	// image there.
	RefName string
	// Digest, when set, pins the manifest (a registry reference by
	// digest, or oci:PATH@sha256:HEX).
	Digest string
	// insecure: a mirror of a registry configured insecure.
	insecure bool
}

// IsSource reports whether s names an OCI or Docker image source.
func IsSource(s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p.prefix) {
			return true
		}
	}
	return false
}

// ParseSource parses an image source (see the package documentation).
func ParseSource(s string) (*Source, error) {
	for _, p := range prefixes {
		rest, ok := strings.CutPrefix(s, p.prefix)
		if !ok {
			continue
		}
		if p.kind == Registry {
			return parseRegistry(s, rest)
		}
		src, err := parseLocal(s, p.kind, rest)
		if err != nil {
			return nil, err
		}
		// A path whose last part holds ":" could be read as PATH:REF;
		// what does not read back as itself is refused.
		again, err := parseLocal(s, p.kind, strings.TrimPrefix(src.String(), p.prefix))
		if err != nil || again.String() != src.String() {
			return nil, fmt.Errorf("image %s: ambiguous path (a path with \":\" in its last part needs a :REF after it)", clip.Safe(s))
		}
		return src, nil
	}
	return nil, fmt.Errorf("image %s: not a docker://, oci:, oci-archive: or docker-archive: source", clip.Safe(s))
}

func parseRegistry(s, rest string) (*Source, error) {
	if rest == "" {
		return nil, fmt.Errorf("image %s: no image name", clip.Safe(s))
	}
	// StrictValidation off: a missing tag means "latest", as docker.
	ref, err := name.ParseReference(rest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", clip.Safe(s), oneLine(err))
	}
	src := &Source{Kind: Registry, Ref: ref}
	if d, ok := ref.(name.Digest); ok {
		src.Digest = d.DigestStr()
	}
	return src, nil
}

// parseLocal splits PATH[:REF] (PATH@sha256:HEX for a layout). A path
// holding ":" is taken whole when nothing follows the last colon that
// could be a reference; a REF never holds "/".
func parseLocal(s string, kind Kind, rest string) (*Source, error) {
	if rest == "" {
		return nil, fmt.Errorf("image %s: no path", clip.Safe(s))
	}
	src := &Source{Kind: kind, Path: rest}
	if kind != DockerArchive {
		if p, d, ok := strings.Cut(rest, "@"); ok && strings.HasPrefix(d, "sha256:") {
			if err := checkDigest(d); err != nil {
				return nil, fmt.Errorf("image %s: %w", clip.Safe(s), err)
			}
			src.Path, src.Digest = p, d
			return src, nil
		}
		if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
			src.Path, src.RefName = rest[:i], rest[i+1:]
		}
	} else if i := strings.IndexByte(rest, ':'); i >= 0 {
		// docker-archive:FILE:NAME:TAG; NAME may hold a registry port.
		src.Path, src.RefName = rest[:i], rest[i+1:]
	}
	if src.Path == "" {
		return nil, fmt.Errorf("image %s: no path", clip.Safe(s))
	}
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", clip.Safe(s), err)
	}
	src.Path = abs
	return src, nil
}

func checkDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return fmt.Errorf("invalid digest %q (want sha256: and 64 lower-case hex digits)", clip.Safe(d))
	}
	return nil
}

// String is the canonical form of the source: Docker Hub spelt as rkt
// did (registry-1.docker.io/library/NAME), paths absolute.
func (s *Source) String() string {
	if s.Kind == Registry {
		return "docker://" + refString(s.Ref)
	}
	out := s.Kind.String() + ":" + s.Path
	switch {
	case s.Digest != "":
		out += "@" + s.Digest
	case s.RefName != "":
		out += ":" + s.RefName
	}
	return out
}

// Repository is the image's repository as users know it
// ("registry-1.docker.io/library/busybox", "127.0.0.1:5000/app"), or for
// local sources the layout's or archive's path.
func (s *Source) Repository() string {
	if s.Kind == Registry {
		return repoString(s.Ref.Context())
	}
	return s.Path
}

// Tag is the source's tag or ref name, "" when pinned by digest only.
func (s *Source) Tag() string {
	if t, ok := s.Ref.(name.Tag); ok {
		return t.TagStr()
	}
	return s.RefName
}

func repoString(r name.Repository) string {
	reg := r.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	return reg + "/" + r.RepositoryStr()
}

func refString(ref name.Reference) string {
	repo := repoString(ref.Context())
	if d, ok := ref.(name.Digest); ok {
		return repo + "@" + d.DigestStr()
	}
	return repo + ":" + ref.Identifier()
}

// oneLine joins a multi-line error message into one line.
func oneLine(err error) error {
	return fmt.Errorf("%s", strings.Join(strings.Fields(err.Error()), " "))
}
