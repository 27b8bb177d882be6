package stage2

import (
	"io"
	"syscall"

	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// The appc-free half of this package lives in package launch; these
// names keep the API every stage1 and stage0 use.

// DefaultPath is the PATH the ACE spec gives every app unless its
// manifest sets one.
const DefaultPath = launch.DefaultPath

// SearchPath is the PATH commands are looked up on in an app with
// environment env: its last PATH, else DefaultPath.
func SearchPath(env []string) string { return launch.SearchPath(env) }

// Options are the pod-wide settings that shape an app's Spec.
type Options = launch.Options

// Spec is everything needed to start one process of an app.
type Spec = launch.Spec

// Rlimit is one resource limit applied before exec.
type Rlimit = launch.Rlimit

// Cap is a Linux capability number.
type Cap = launch.Cap

// DefaultCaps is the bounding set appc gives an app without capability
// isolators.
var DefaultCaps = launch.DefaultCaps

// Environment returns the environment of the app called name: the ACE
// defaults, then the manifest's variables (which may override PATH), then
// AC_APP_NAME and AC_METADATA_URL, which the app cannot override.
func Environment(name string, app *types.App, o Options) []string {
	return launch.Environment(name, envVars(app.Environment), o)
}

// AppSpec builds the Spec that runs args for the app named name whose
// rootfs is root, with identity, capabilities and working directory from
// its manifest. User and group names are looked up in root.
func AppSpec(root, name string, app *types.App, args []string, o Options) (*Spec, error) {
	return launch.AppSpec(root, name, LaunchApp(app), args, o)
}

// LaunchApp is app as package launch takes it: the fields that decide
// how its processes start, and the isolators launch applies.
func LaunchApp(app *types.App) *launch.App {
	a := &launch.App{
		User:              app.User,
		Group:             app.Group,
		SupplementaryGIDs: app.SupplementaryGIDs,
		WorkingDirectory:  app.WorkingDirectory,
		Environment:       envVars(app.Environment),
	}
	for _, iso := range app.Isolators {
		switch v := iso.Value().(type) {
		case *types.LinuxCapabilitiesRetainSet:
			a.Isolators = append(a.Isolators, launch.Isolator{Name: launch.IsolatorRetainCaps, Caps: capNames(v.Set())})
		case *types.LinuxCapabilitiesRevokeSet:
			a.Isolators = append(a.Isolators, launch.Isolator{Name: launch.IsolatorRemoveCaps, Caps: capNames(v.Set())})
		case *types.LinuxNoNewPrivileges:
			a.Isolators = append(a.Isolators, launch.Isolator{Name: launch.IsolatorNoNewPrivs, On: bool(*v)})
		case *types.LinuxOOMScoreAdj:
			a.Isolators = append(a.Isolators, launch.Isolator{Name: launch.IsolatorOOMScoreAdj, Adj: int(*v)})
		case types.LinuxSeccompSet:
			set, errno := SeccompSet(v)
			a.Isolators = append(a.Isolators, launch.Isolator{Name: iso.Name.String(), Syscalls: set, Errno: errno})
		}
	}
	return a
}

// SeccompSet returns the names and the errno of a seccomp isolator's
// value, as package seccomp takes them.
func SeccompSet(v types.LinuxSeccompSet) (names []string, errno string) {
	names = make([]string, len(v.Set()))
	for i, e := range v.Set() {
		names[i] = string(e)
	}
	return names, string(v.Errno())
}

func envVars(env types.Environment) []launch.EnvVar {
	out := make([]launch.EnvVar, len(env))
	for i, e := range env {
		out[i] = launch.EnvVar{Name: e.Name, Value: e.Value}
	}
	return out
}

func capNames(set []types.LinuxCapability) []string {
	out := make([]string, len(set))
	for i, c := range set {
		out[i] = string(c)
	}
	return out
}

// CheckExec reports whether the command a process of the app would run
// exists in root as an executable file, so a pod with a missing binary
// is refused before anything starts.
func CheckExec(root string, args, env []string) error { return launch.CheckExec(root, args, env) }

// ParseCap turns a capability name ("CAP_NET_ADMIN", case-insensitive,
// "CAP_" optional) into its number.
func ParseCap(name string) (Cap, error) { return launch.ParseCap(name) }

// LookupUser resolves an appc "user" field against the app's rootfs (see
// launch.LookupUser).
func LookupUser(root, user string) (uint32, error) { return launch.LookupUser(root, user) }

// LookupGroup resolves an appc "group" field against the app's rootfs
// (see launch.LookupGroup).
func LookupGroup(root, group string) (uint32, error) { return launch.LookupGroup(root, group) }

// FindID scans a passwd(5) or group(5) database for name and returns the
// id in its third field.
func FindID(r io.Reader, name string) (uint32, bool, error) { return launch.FindID(r, name) }

// Main is the body of the stage2 helper (see launch.Main).
func Main(args []string) int { return launch.Main(args) }

// Exec applies s to the calling process and execs the app (see
// launch.Exec). It returns only on failure.
func Exec(s *Spec) error { return launch.Exec(s) }

// Start starts the process s describes as a child of the caller, without
// a helper process in between, and returns its pid (see launch.Start).
func Start(s *Spec, files []uintptr, setsid bool) (int, error) { return launch.Start(s, files, setsid) }

// StartHere is launch.StartHere.
func StartHere(s *Spec, files []uintptr, pdeathsig syscall.Signal) (int, error) {
	return launch.StartHere(s, files, pdeathsig)
}
