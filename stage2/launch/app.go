package launch

import (
	"fmt"
	"math"
	"os"
	"path"
	"strings"

	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/seccomp"
)

// DefaultPath is the PATH the ACE spec gives every app unless its
// manifest sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// SearchPath is the PATH commands are looked up on in an app with
// environment env: its last PATH, else DefaultPath.
func SearchPath(env []string) string {
	p := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	return p
}

// MaxID is the highest uid or gid an app or volume may name: ids are 32
// bits, and the all-ones value is (uid_t)-1, which the kernel takes for
// "no id" (chown leaves the owner, setgroups refuses it).
const MaxID = math.MaxUint32 - 1

// ValidID reports whether id is a uid or gid the kernel takes as one:
// from 0 to MaxID. A larger int would be truncated to 32 bits on its way
// to the kernel (4294967296 becoming root's 0), a negative one becomes
// (uid_t)-1 or another large id.
func ValidID(id int) bool {
	return id >= 0 && uint64(id) <= MaxID
}

// Options are the pod-wide settings that shape an app's Spec.
type Options struct {
	// AllCaps keeps every capability (--disable-capabilities-restriction).
	AllCaps bool
	// MetadataURL becomes AC_METADATA_URL; empty leaves it unset.
	MetadataURL string
	// Term is TERM for an app on the caller's terminal (--interactive),
	// unless its manifest sets one; empty leaves TERM unset.
	Term string
	// Seccomp applies the app's seccomp isolator, or saturn's default
	// filter when it has none. stage1-nspawn sets it unless told
	// --disable-seccomp; stage1-fly, which isolates nothing, does not.
	Seccomp bool
}

// EnvVar is one variable of an app's manifest environment.
type EnvVar struct {
	Name, Value string
}

// The isolators a Spec applies, named as in appc.
const (
	IsolatorRetainCaps    = "os/linux/capabilities-retain-set"
	IsolatorRemoveCaps    = "os/linux/capabilities-remove-set"
	IsolatorNoNewPrivs    = "os/linux/no-new-privileges"
	IsolatorOOMScoreAdj   = "os/linux/oom-score-adj"
	IsolatorSeccompRetain = seccomp.IsolatorRetain
	IsolatorSeccompRemove = seccomp.IsolatorRemove
)

// Isolator is one isolator of an app's manifest that a Spec applies.
type Isolator struct {
	// Name is one of the Isolator* names; others are not applied.
	Name string
	// Caps are the capability names of a retain or remove set.
	Caps []string
	// On is the value of no-new-privileges.
	On bool
	// Adj is the value of oom-score-adj.
	Adj int
	// Syscalls and Errno are the set and errno of a seccomp isolator.
	Syscalls []string
	Errno    string
}

// App is what of an app's manifest decides how its processes start.
type App struct {
	User, Group       string
	SupplementaryGIDs []int
	WorkingDirectory  string
	Environment       []EnvVar
	// Isolators in manifest order: a later capability set refines an
	// earlier one.
	Isolators []Isolator
}

// Environment returns the environment of the app called name whose
// manifest sets vars: the ACE defaults, then the manifest's variables
// (which may override PATH), then AC_APP_NAME and AC_METADATA_URL, which
// the app cannot override.
func Environment(name string, vars []EnvVar, o Options) []string {
	vals := map[string]string{"PATH": DefaultPath, "container": "saturn"}
	order := []string{"PATH", "container"}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, e := range vars {
		set(e.Name, e.Value)
	}
	if _, ok := vals["TERM"]; !ok && o.Term != "" {
		set("TERM", o.Term)
	}
	set("AC_APP_NAME", name)
	if o.MetadataURL != "" {
		set("AC_METADATA_URL", o.MetadataURL)
	}
	env := make([]string, len(order))
	for i, k := range order {
		env[i] = k + "=" + vals[k]
	}
	return env
}

// AppSpec builds the Spec that runs args for the app named name whose
// rootfs is root, with identity, capabilities and working directory from
// its manifest. User and group names are looked up in root.
func AppSpec(root, name string, app *App, args []string, o Options) (*Spec, error) {
	uid, err := LookupUser(root, app.User)
	if err != nil {
		return nil, fmt.Errorf("app %s: user: %w", name, err)
	}
	gid, err := LookupGroup(root, app.Group)
	if err != nil {
		return nil, fmt.Errorf("app %s: group: %w", name, err)
	}
	s := &Spec{
		Root: root,
		Dir:  app.WorkingDirectory,
		Args: args,
		Env:  withUserEnv(Environment(name, app.Environment, o), root, uid),
		UID:  uid,
		GID:  gid,
	}
	for _, g := range app.SupplementaryGIDs {
		if !ValidID(g) {
			return nil, fmt.Errorf("app %s: supplementary gid %d out of range (0-%d)", name, g, MaxID)
		}
		s.Groups = append(s.Groups, uint32(g))
	}
	if err := applyIsolators(s, app.Isolators, o); err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	return s, nil
}

func applyIsolators(s *Spec, isolators []Isolator, o Options) error {
	bounding := append([]Cap(nil), DefaultCaps...)
	var retain []Cap
	for _, iso := range isolators {
		switch iso.Name {
		case IsolatorRetainCaps:
			caps, err := parseCaps(iso.Caps)
			if err != nil {
				return err
			}
			retain = append(retain, caps...)
			bounding = retain
		case IsolatorRemoveCaps:
			caps, err := parseCaps(iso.Caps)
			if err != nil {
				return err
			}
			bounding = without(bounding, caps)
		case IsolatorNoNewPrivs:
			s.NoNewPrivs = iso.On
		case IsolatorOOMScoreAdj:
			adj := iso.Adj
			s.OOMScoreAdj = &adj
		}
	}
	if o.Seccomp {
		var caps []Cap // every capability
		if !o.AllCaps {
			caps = bounding
		}
		f, err := seccompFilter(isolators, caps)
		if err != nil {
			return err
		}
		s.Seccomp = f
	}
	if o.AllCaps {
		return nil
	}
	s.Bounding = bounding
	if s.UID != 0 {
		s.Ambient = retain
	}
	return nil
}

func parseCaps(names []string) ([]Cap, error) {
	caps := make([]Cap, 0, len(names))
	for _, n := range names {
		c, err := ParseCap(n)
		if err != nil {
			return nil, err
		}
		caps = append(caps, c)
	}
	return caps, nil
}

func without(set, drop []Cap) []Cap {
	var out []Cap
	for _, c := range set {
		keep := true
		for _, d := range drop {
			keep = keep && c != d
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// CheckExec reports whether the command a process of the app would run
// exists in root as an executable file, so a pod with a missing binary
// is refused before anything starts.
func CheckExec(root string, args, env []string) error {
	if len(args) == 0 {
		return fmt.Errorf("empty exec")
	}
	cands := []string{args[0]}
	if !strings.Contains(args[0], "/") {
		cands = nil
		for _, d := range strings.Split(SearchPath(env), ":") {
			if d != "" {
				cands = append(cands, path.Join(d, args[0]))
			}
		}
	} else if !path.IsAbs(args[0]) {
		return fmt.Errorf("executable %q: path must be absolute", args[0])
	}
	for _, c := range cands {
		full, err := inroot.Resolve(root, c)
		if err != nil {
			continue
		}
		if st, err := os.Stat(full); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return nil
		}
	}
	return fmt.Errorf("executable %q not found in the image", args[0])
}
