package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/cgroup"
	"github.com/saturn-pods/saturn/journal"
	"github.com/saturn-pods/saturn/stage2/launch"
)

// runFlags are the arguments stage0 passes to the run entrypoint
// (docs/stage1-abi.md).
type runFlags struct {
	debug        bool
	net          string
	interactive  bool
	localConfig  string
	hostname     string
	dnsConfMode  string
	ipc          string
	allCaps      bool
	disablePaths bool
	noSeccomp    bool
	mdsToken     string
	privateUsers string
	uuid         string

	resolvMode string
	hostsMode  string

	netf netFlags // network.go
}

func parseRunFlags(args []string) (*runFlags, error) {
	f := &runFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.BoolVar(&f.debug, "debug", false, "print debug output")
	fs.StringVar(&f.net, "net", "default", "host, none or a list of networks")
	fs.BoolVar(&f.interactive, "interactive", false, "pass stdin/stdout/stderr to the single app")
	fs.StringVar(&f.localConfig, "local-config", "", "local configuration directory")
	fs.StringVar(&f.hostname, "hostname", "", "pod hostname (default rkt-<uuid>)")
	fs.StringVar(&f.dnsConfMode, "dns-conf-mode", "", "resolv=MODE,hosts=MODE")
	fs.StringVar(&f.ipc, "ipc", "auto", "auto, private or parent")
	fs.BoolVar(&f.allCaps, "disable-capabilities-restriction", false, "give apps every capability")
	fs.BoolVar(&f.disablePaths, "disable-paths", false, "leave /proc's kernel knobs writable and nothing masked")
	fs.BoolVar(&f.noSeccomp, "disable-seccomp", false, "install no seccomp filter, neither the default one nor the apps' isolators'")
	fs.StringVar(&f.mdsToken, "mds-token", "", "metadata service token")
	fs.StringVar(&f.privateUsers, "private-users", "", "user namespace shift (unsupported)")
	addNetFlags(fs, &f.netf)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("expected one pod UUID argument, got %d", fs.NArg())
	}
	u, err := parseUUID(fs.Arg(0))
	if err != nil {
		return nil, fmt.Errorf("bad pod UUID %q: %w", fs.Arg(0), err)
	}
	f.uuid = u
	if f.hostname == "" {
		f.hostname = "rkt-" + f.uuid
	}
	if len(f.hostname) > 64 || strings.ContainsAny(f.hostname, "/ \t\n") {
		return nil, fmt.Errorf("--hostname=%q: not a valid host name (at most 64 characters, no spaces or slashes)", f.hostname)
	}
	if f.resolvMode, f.hostsMode, err = parseDNSConfMode(f.dnsConfMode); err != nil {
		return nil, err
	}
	if err := f.netf.check(f.net); err != nil {
		return nil, err
	}
	switch f.ipc {
	case "auto", "private", "parent":
	default:
		return nil, fmt.Errorf("--ipc=%s: want auto, private or parent", f.ipc)
	}
	if f.privateUsers != "" {
		return nil, errors.New("--private-users: user namespaces are not supported by stage1-nspawn")
	}
	return f, nil
}

// parseDNSConfMode reads "resolv=MODE,hosts=MODE"; either key may be
// missing and then means "default".
func parseDNSConfMode(v string) (resolv, hosts string, err error) {
	resolv, hosts = "default", "default"
	if v == "" {
		return resolv, hosts, nil
	}
	valid := map[string][]string{
		"resolv": {"host", "stage0", "none", "default"},
		"hosts":  {"host", "stage0", "default"},
	}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return "", "", fmt.Errorf("--dns-conf-mode: %q is not KEY=MODE", kv)
		}
		modes, known := valid[k]
		if !known {
			return "", "", fmt.Errorf("--dns-conf-mode: unknown key %q (want resolv or hosts)", k)
		}
		good := false
		for _, m := range modes {
			good = good || m == val
		}
		if !good {
			return "", "", fmt.Errorf("--dns-conf-mode: %s=%s: want one of %s", k, val, strings.Join(modes, ", "))
		}
		if k == "resolv" {
			resolv = val
		} else {
			hosts = val
		}
	}
	return resolv, hosts, nil
}

// appPlan is one app of the pod, checked and ready to set up.
type appPlan struct {
	name string
	ra   *runtimeApp
	app  *app
	// rel is the app directory relative to the stage1 rootfs.
	rel    string
	mounts []mountPlan
	// spec runs the app's exec; its Root is set for the supervisor's view
	// (after pivot_root).
	spec *launch.Spec
	// nullStdout and nullStderr send the stream to /dev/null
	// (--stdout=null, --stderr=null) instead of the pod's log.
	nullStdout, nullStderr bool
	// notify: the image says the app speaks sd_notify; it has started
	// once it says READY=1.
	notify bool
	// ns is the app's mount namespace in the making (appns.go).
	ns *appNS
	// stdio are the modes of stdin, stdout and stderr (attach.go).
	stdio []string
	// listen are the indexes in podPlan.sockets of the sockets the app
	// gets (listen.go), listenNames their LISTEN_FDNAMES ("" if none).
	listen      []int
	listenNames string
	// resources are the app's cgroup limits (run entrypoint); cgroup is
	// its cgroup, opened by PID 1.
	resources cgroup.Resources
	cgroup    *cgroup.Target
}

// mountPlan is one volume mounted into an app.
type mountPlan struct {
	volume    string
	target    string // path inside the app
	kind      string // host or empty
	source    string // host path for kind host
	readOnly  bool
	recursive bool
	vol       volume
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
	if f.interactive && len(pm.Apps) != 1 {
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
		if a.Name == annCgroupParent {
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
	a := &appPlan{name: name, ra: ra, app: ra.App, rel: filepath.Join("opt", "stage2", name)}
	im, err := readImageManifest(filepath.Join(s1, a.rel, "manifest"))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	if a.app == nil {
		a.app = im.App
	}
	v, _ := im.annotation(annSupportsNotify)
	a.notify = v == "true"
	if a.app == nil {
		return nil, fmt.Errorf("app %s: image has no app section", name)
	}
	root := filepath.Join(s1, a.rel, "rootfs")
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("app %s: rootfs %s missing", name, root)
	}
	opts := launch.Options{AllCaps: f.allCaps, MetadataURL: metadataURL(f.mdsToken), Seccomp: !f.noSeccomp}
	if f.interactive {
		// The app is on the caller's terminal: it needs the caller's
		// TERM, as rkt's apps get it from systemd-nspawn.
		opts.Term = os.Getenv("TERM")
	}
	la, err := a.app.launchApp()
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	spec, err := launch.AppSpec(root, name, la, a.app.Exec, opts)
	if err != nil {
		return nil, err
	}
	if err := launch.CheckExec(root, spec.Args, spec.Env); err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	for _, eh := range a.app.EventHandlers {
		if eh.Name != "pre-start" && eh.Name != "post-stop" {
			return nil, fmt.Errorf("app %s: unknown event handler %q", name, eh.Name)
		}
		if err := launch.CheckExec(root, eh.Exec, spec.Env); err != nil {
			return nil, fmt.Errorf("app %s: %s handler: %w", name, eh.Name, err)
		}
	}
	spec.Root = "/" + filepath.Join(a.rel, "rootfs")
	// Sockets passed to saturn are not the app's unless given to it
	// (listen.go): what --inherit-env copied names another process.
	spec.Env = activation.Strip(spec.Env)
	a.spec = spec
	if a.mounts, err = planMounts(name, pm, ra, a.app); err != nil {
		return nil, err
	}
	if a.resources, err = cgroupResources(a.app.Isolators); err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	warnIgnoredIsolators(name, a.app.Isolators)
	warnStdioModes(name, ra.Annotations, f.interactive)
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
	annStdin  = "coreos.com/rkt/stage2/stdin"
	annStdout = "coreos.com/rkt/stage2/stdout"
	annStderr = "coreos.com/rkt/stage2/stderr"
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
	m := mountPlan{volume: v.Name, target: filepath.Clean(target), kind: v.Kind, source: v.Source, recursive: true, vol: v}
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
