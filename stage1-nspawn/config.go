package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/cgroup"
	"github.com/saturn-pods/saturn/journal"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2/launch"
)

// runFlags are the arguments stage0 passes to the run entrypoint
// (stage1abi.RunFlags), checked for stage1-nspawn, with the networking
// flags parsed.
type runFlags struct {
	stage1abi.RunFlags
	netf netFlags // network.go
}

func parseRunFlags(args []string) (*runFlags, error) {
	rf, err := stage1abi.ParseRunFlags(args)
	if err != nil {
		return nil, err
	}
	f := &runFlags{RunFlags: *rf}
	if f.Hostname == "" {
		f.Hostname = "rkt-" + f.UUID
	}
	if len(f.Hostname) > 64 || strings.ContainsAny(f.Hostname, "/ \t\n") {
		return nil, fmt.Errorf("--hostname=%q: not a valid host name (at most 64 characters, no spaces or slashes)", f.Hostname)
	}
	if err := f.netf.check(&f.RunFlags); err != nil {
		return nil, err
	}
	if f.PrivateUsers != "" {
		return nil, errors.New("--private-users: user namespaces are not supported by stage1-nspawn")
	}
	return f, nil
}

// appPlan is one app of the pod, checked and ready to set up. The run
// entrypoint makes it (planApp) and hands it to PID 1 in the plan memfd
// (planwire.go). Its fields are its own, copied out of the manifests, so
// PID 1 never reads a manifest field the plan did not carry: every field
// travels but those of the two last groups, which one side alone has
// (TestPlanCarriesEveryField holds planwire.go to that).
type appPlan struct {
	name string
	// rel is the app directory relative to the stage1 rootfs.
	rel              string
	readOnlyRootFS   bool
	workingDirectory string
	eventHandlers    []eventHandler
	mounts           []mountPlan
	// spec runs the app's exec; its Root is set for the supervisor's view
	// (after pivot_root).
	spec *launch.Spec
	// nullStdout and nullStderr send the stream to /dev/null
	// (--stdout=null, --stderr=null) instead of the pod's log.
	nullStdout, nullStderr bool
	// notify: the image says the app speaks sd_notify; it has started
	// once it says READY=1.
	notify bool
	// stdio are the modes of stdin, stdout and stderr (attach.go).
	stdio []string
	// listen are the indexes in podPlan.sockets of the sockets the app
	// gets (listen.go), listenNames their LISTEN_FDNAMES ("" if none).
	listen      []int
	listenNames string

	// The run entrypoint's alone: the image's ports and isolators, which
	// its networks, sockets and cgroups use, and the app's cgroup limits.
	ports     []appPort
	isolators []appIsolator
	resources cgroup.Resources

	// PID 1's alone: the app's mount namespace in the making (appns.go)
	// and its cgroup.
	ns     *appNS
	cgroup *cgroup.Target
}

// mountPlan is one volume mounted into an app.
type mountPlan struct {
	volume    string
	target    string // path inside the app
	kind      string // host or empty
	source    string // host path for kind host
	readOnly  bool
	recursive bool
	// mode, uid and gid are an empty volume's directory's.
	mode     uint32
	uid, gid int
}

// podPlan is the pod manifest after every check that can be made before
// anything starts.
type podPlan struct {
	manifest *podManifest
	apps     []*appPlan
	// sockets are those passed for socket activation, in the run
	// entrypoint only (listen.go).
	sockets []activation.Socket
	// journal is the run entrypoint's connection to journald when apps
	// log there (applogs.go); logUnit, the service saturn runs in, goes
	// to PID 1 with the plan.
	journal *journal.Conn
	logUnit string
	// resources are the pod-wide cgroup limits and cgroupParent where
	// the pod's cgroup goes (run entrypoint only); cgroupPath is the
	// pod's cgroup once made, which PID 1 gets.
	resources    cgroup.Resources
	cgroupParent string
	cgroupPath   string
}

// loadPlan reads and checks the pod in podDir: a pod stage1 cannot run
// is refused here, before any namespace or mount exists.
// Only the run entrypoint loads it: PID 1 gets the checked plan from it
// (planwire.go).
func loadPlan(podDir string, f *runFlags) (*podPlan, error) {
	pm, err := readPodManifest(filepath.Join(podDir, "pod"))
	if err != nil {
		return nil, err
	}
	if len(pm.Apps) == 0 {
		return nil, errors.New("pod manifest has no apps")
	}
	if f.Interactive && len(pm.Apps) != 1 {
		return nil, fmt.Errorf("--interactive needs exactly one app, the pod has %d", len(pm.Apps))
	}
	for _, iso := range pm.Isolators {
		if !cgroupIsolators[iso.Name] {
			fmt.Fprintf(os.Stderr, "stage1: warning: pod isolator %s is not enforced by stage1-nspawn\n", iso.Name)
		}
	}
	p := &podPlan{manifest: pm}
	if p.resources, err = cgroupResources(pm.Isolators); err != nil {
		return nil, fmt.Errorf("pod: %w", err)
	}
	for _, a := range pm.Annotations {
		if a.Name == stage1abi.AnnCgroupParent {
			p.cgroupParent = a.Value
		}
	}
	s1 := filepath.Join(podDir, "stage1", "rootfs")
	for i := range pm.Apps {
		a, err := planApp(s1, pm, &pm.Apps[i], f)
		if err != nil {
			return nil, err
		}
		p.apps = append(p.apps, a)
	}
	return p, nil
}

func planApp(s1 string, pm *podManifest, ra *runtimeApp, f *runFlags) (*appPlan, error) {
	name := ra.Name
	a := &appPlan{name: name, rel: stage1abi.AppDir(name), readOnlyRootFS: ra.ReadOnlyRootFS}
	im, err := readImageManifest(filepath.Join(s1, a.rel, stage1abi.ImageManifest))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	app := ra.App
	if app == nil {
		app = im.App
	}
	v, _ := im.annotation(stage1abi.AnnSupportsNotify)
	a.notify = v == "true"
	if app == nil {
		return nil, fmt.Errorf("app %s: image has no app section", name)
	}
	a.workingDirectory, a.eventHandlers = app.WorkingDirectory, app.EventHandlers
	a.ports, a.isolators = app.Ports, app.Isolators
	root := filepath.Join(s1, a.rel, stage1abi.RootfsDir)
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("app %s: rootfs %s missing", name, root)
	}
	opts := launch.Options{AllCaps: f.DisableCapabilities, MetadataURL: metadataURL(f.MDSToken), Seccomp: !f.DisableSeccomp}
	if f.Interactive {
		// The app is on the caller's terminal: it needs the caller's
		// TERM, as rkt's apps get it from systemd-nspawn.
		opts.Term = os.Getenv("TERM")
	}
	la, err := app.launchApp()
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	spec, err := launch.AppSpec(root, name, la, app.Exec, opts)
	if err != nil {
		return nil, err
	}
	if err := launch.CheckExec(root, spec.Args, spec.Env); err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	for _, eh := range app.EventHandlers {
		if eh.Name != "pre-start" && eh.Name != "post-stop" {
			return nil, fmt.Errorf("app %s: unknown event handler %q", name, eh.Name)
		}
		if err := launch.CheckExec(root, eh.Exec, spec.Env); err != nil {
			return nil, fmt.Errorf("app %s: %s handler: %w", name, eh.Name, err)
		}
	}
	spec.Root = "/" + filepath.Join(a.rel, stage1abi.RootfsDir)
	// Sockets passed to saturn are not the app's unless given to it
	// (listen.go): what --inherit-env copied names another process.
	spec.Env = activation.Strip(spec.Env)
	a.spec = spec
	if a.mounts, err = planMounts(name, pm, ra, app); err != nil {
		return nil, err
	}
	if a.resources, err = cgroupResources(app.Isolators); err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	warnIgnoredIsolators(name, app.Isolators)
	warnStdioModes(name, ra.Annotations, f.Interactive)
	a.nullStdout = stdioMode(ra.Annotations, annStdout) == "null"
	a.nullStderr = stdioMode(ra.Annotations, annStderr) == "null"
	a.stdio = []string{
		cmp.Or(stdioMode(ra.Annotations, annStdin), modeNull),
		cmp.Or(stdioMode(ra.Annotations, annStdout), modeLog),
		cmp.Or(stdioMode(ra.Annotations, annStderr), modeLog),
	}
	return a, nil
}

// stdioMode returns the value of the stdio annotation ann, "" if unset.
func stdioMode(anns []annotation, ann string) string {
	for _, a := range anns {
		if a.Name == ann {
			return a.Value
		}
	}
	return ""
}

// The runtime app annotations in which stage0 records --stdin, --stdout
// and --stderr (docs/stage1-abi.md).
const (
	annStdin  = stage1abi.AnnStdin
	annStdout = stage1abi.AnnStdout
	annStderr = stage1abi.AnnStderr
)

// warnStdioModes names the stdio modes an app asks for that
// stage1-nspawn does not provide: with --interactive the app is on a
// terminal of its own (tty) whatever its modes say; log is not a mode of
// stdin.
func warnStdioModes(app string, anns []annotation, interactive bool) {
	for _, s := range []struct{ ann, name string }{{annStdin, "stdin"}, {annStdout, "stdout"}, {annStderr, "stderr"}} {
		v := stdioMode(anns, s.ann)
		switch {
		case v == "" || v == modeNull && !interactive:
		case interactive && v != modeTTY:
			fmt.Fprintf(os.Stderr, "stage1: warning: app %s: %s mode %s is not supported with --interactive, using tty\n", app, s.name, v)
		case v == modeLog && s.name == "stdin", !slices.Contains([]string{modeNull, modeLog, modeTTY, modeStream}, v):
			fmt.Fprintf(os.Stderr, "stage1: warning: app %s: %s mode %s is not supported, using null\n", app, s.name, v)
		}
	}
}

// metadataURL is what apps get as AC_METADATA_URL with --mds-token.
func metadataURL(token string) string {
	if token == "" {
		return ""
	}
	return "http://169.254.169.255/" + token
}

// planMounts pairs the app's mounts with volumes. An image mount point
// that no mount covers takes the pod volume of the same name, or, like
// rkt, an implicit empty volume shared by every app that names it.
func planMounts(name string, pm *podManifest, ra *runtimeApp, app *app) ([]mountPlan, error) {
	vols := map[string]volume{}
	for _, v := range pm.Volumes {
		vols[v.Name] = v
	}
	var out []mountPlan
	covered := map[string]bool{}
	for _, m := range ra.Mounts {
		v, ok := vols[m.Volume]
		if m.AppVolume != nil {
			v, ok = *m.AppVolume, true
		}
		if !ok {
			return nil, fmt.Errorf("app %s: mount of undeclared volume %q", name, m.Volume)
		}
		target := m.Path
		for _, mp := range app.MountPoints {
			// Older manifests name the mount point instead of a path.
			if mp.Name == m.Path {
				target = mp.Path
			}
		}
		// A relative path, or one with "..", is taken inside the app's
		// rootfs, from its root, as rkt did (--mount target=data).
		target = filepath.Join("/", target)
		mp, err := mountFor(name, v, target, app)
		if err != nil {
			return nil, err
		}
		covered[filepath.Clean(target)] = true
		out = append(out, mp)
	}
	for _, mp := range app.MountPoints {
		if covered[filepath.Clean(mp.Path)] {
			continue
		}
		v, ok := vols[mp.Name]
		if !ok {
			fmt.Fprintf(os.Stderr, "stage1: warning: no volume for mount point %q of app %s, using an empty volume\n", mp.Name, name)
		}
		if !ok {
			mode, uid, gid := "0755", 0, 0
			v = volume{Name: mp.Name, Kind: "empty", Mode: &mode, UID: &uid, GID: &gid}
		}
		m, err := mountFor(name, v, mp.Path, app)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	seen := map[string]string{}
	for _, m := range out {
		if m.target == "/" {
			return nil, fmt.Errorf("app %s: volume %s cannot be mounted on /", name, m.volume)
		}
		if other, dup := seen[m.target]; dup {
			return nil, fmt.Errorf("app %s: volumes %s and %s are both mounted on %s", name, other, m.volume, m.target)
		}
		seen[m.target] = m.volume
	}
	return out, nil
}

func mountFor(name string, v volume, target string, app *app) (mountPlan, error) {
	if !filepath.IsAbs(target) {
		return mountPlan{}, fmt.Errorf("app %s: mount path %q is not absolute", name, target)
	}
	m := mountPlan{volume: v.Name, target: filepath.Clean(target), kind: v.Kind, source: v.Source, recursive: true, mode: 0o755}
	for _, mp := range app.MountPoints {
		if filepath.Clean(mp.Path) == m.target {
			m.readOnly = mp.ReadOnly
		}
	}
	if v.ReadOnly != nil {
		m.readOnly = *v.ReadOnly
	}
	if v.Recursive != nil {
		m.recursive = *v.Recursive
	}
	switch v.Kind {
	case "host":
		if err := checkHostSource(v.Source); err != nil {
			return mountPlan{}, fmt.Errorf("app %s: volume %s: %w", name, v.Name, err)
		}
	case "empty":
		// appc's defaults: 0755, root's.
		if v.Mode != nil {
			mode, err := strconv.ParseUint(*v.Mode, 8, 32)
			if err != nil || mode > 0o7777 {
				return mountPlan{}, fmt.Errorf("app %s: volume %s: mode %q is not an octal file mode", name, v.Name, *v.Mode)
			}
			m.mode = uint32(mode)
		}
		if v.UID != nil {
			m.uid = *v.UID
		}
		if v.GID != nil {
			m.gid = *v.GID
		}
	default:
		return mountPlan{}, fmt.Errorf("app %s: volume %s: unknown kind %q", name, v.Name, v.Kind)
	}
	return m, nil
}

// checkHostSource refuses missing sources and, as the ACE spec asks,
// sources reached through a symlink.
func checkHostSource(src string) error {
	cur := "/"
	for _, c := range strings.Split(filepath.Clean(src), "/") {
		if c == "" {
			continue
		}
		cur = filepath.Join(cur, c)
		st, err := os.Lstat(cur)
		if err != nil {
			return fmt.Errorf("source %s: %w", src, errors.Unwrap(err))
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("source %s: %s is a symlink", src, cur)
		}
	}
	return nil
}

// enforcedIsolators are the isolators stage1-nspawn applies; appc lets an
// executor ignore others but asks it to say so.
var enforcedIsolators = map[string]bool{
	launch.IsolatorRetainCaps:    true,
	launch.IsolatorRemoveCaps:    true,
	launch.IsolatorNoNewPrivs:    true,
	launch.IsolatorOOMScoreAdj:   true,
	isoNetworkBandwidth:          true, // network.go
	launch.IsolatorSeccompRetain: true,
	launch.IsolatorSeccompRemove: true,
}

func warnIgnoredIsolators(app string, isolators []appIsolator) {
	for _, iso := range isolators {
		if !enforcedIsolators[iso.Name] && !cgroupIsolators[iso.Name] {
			fmt.Fprintf(os.Stderr, "stage1: warning: app %s: isolator %s is not enforced by stage1-nspawn\n", app, iso.Name)
		}
	}
}
