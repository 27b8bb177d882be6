package pod

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/seccomp"
)

// App is one app as given on the run/prepare command line: an image and
// the per-app flags that followed it.
type App struct {
	// Image is the image reference as typed; ImageID is filled in by the
	// caller once the image is in the store.
	Image     string
	ImageID   string
	Signature string

	Name              string
	Exec              string
	Args              []string
	User              string
	Group             string
	SupplementaryGIDs []int
	WorkingDir        string
	Environment       types.Environment
	Mounts            []schema.Mount
	ReadOnlyRootFS    bool
	UserAnnotations   types.UserAnnotations
	UserLabels        types.UserLabels
	Annotations       types.Annotations

	MemoryLimit *types.ResourceMemory
	CPULimit    *types.ResourceCPU
	CPUShares   *types.LinuxCPUShares
	CapsRetain  *types.LinuxCapabilitiesRetainSet
	CapsRemove  *types.LinuxCapabilitiesRevokeSet
	Seccomp     *types.Isolator
	OOMScoreAdj *types.LinuxOOMScoreAdj

	Stdin, Stdout, Stderr string
}

// Apps is everything run/prepare take about the pod's apps: the apps in
// order, pod volumes, and mounts and user annotations/labels given before
// the first image (which apply to all apps, or to the pod).
type Apps struct {
	Apps    []*App
	Volumes []types.Volume
	// Mounts given before any image apply to every app.
	Mounts []schema.Mount
	// UserAnnotations and UserLabels given before any image go to the
	// pod manifest (rkt refuses them there; saturn gives them a meaning).
	UserAnnotations types.UserAnnotations
	UserLabels      types.UserLabels
	// Annotations given before any image go to the pod manifest.
	Annotations types.Annotations
}

func (as *Apps) last() *App {
	if len(as.Apps) == 0 {
		return nil
	}
	return as.Apps[len(as.Apps)-1]
}

// appFlag is a per-app flag: it applies to the app of the image it
// follows.
type appFlag struct {
	apps *Apps
	name string
	set  func(a *App, s string) error
}

func (f *appFlag) Set(s string) error {
	a := f.apps.last()
	if a == nil {
		return fmt.Errorf("--%s must follow an image", f.name)
	}
	return f.set(a, s)
}

func (f *appFlag) String() string { return "" }
func (f *appFlag) Type() string   { return "string" }

// podFlag is a flag whose meaning depends on whether an image came before
// it (--mount, --user-annotation, --user-label).
type podFlag struct {
	apps  *Apps
	podFn func(s string) error
	appFn func(a *App, s string) error
}

func (f *podFlag) Set(s string) error {
	if a := f.apps.last(); a != nil {
		return f.appFn(a, s)
	}
	return f.podFn(s)
}

func (f *podFlag) String() string { return "" }
func (f *podFlag) Type() string   { return "string" }

// AddFlags adds the per-app flags, --volume and --signature to fs; their
// values land in as while Parse walks the command line.
func (as *Apps) AddFlags(fs *pflag.FlagSet) {
	app := func(name, usage string, set func(a *App, s string) error) *pflag.Flag {
		fs.Var(&appFlag{as, name, set}, name, usage)
		return fs.Lookup(name)
	}
	app("signature", "local signature file to use in validating the preceding image", setOnce("signature", func(a *App) *string { return &a.Signature }))
	app("exec", "override the exec command for the preceding image", setOnce("exec", func(a *App) *string { return &a.Exec }))
	app("name", "set the name of the app (default: from the image's name)", setName)
	app("user", "user override for the preceding image (uid, name or file path)", func(a *App, s string) error { a.User = s; return nil })
	app("group", "group override for the preceding image (gid, name or file path)", func(a *App, s string) error { a.Group = s; return nil })
	app("supplementary-gids", "supplementary group IDs override for the preceding image (e.g. 1024,2048)", setGIDs)
	app("working-dir", "override the working directory of the preceding image", setWorkingDir)
	app("environment", "set an environment variable of the preceding app (NAME=VALUE)", setAppEnv)
	app("readonly-rootfs", "mount the preceding app's rootfs read-only", setReadOnly).NoOptDefVal = "true"
	app("memory", "memory limit for the preceding image (e.g. 50M)", setMemory)
	app("cpu", "cpu limit for the preceding image (e.g. 500m)", setCPU)
	app("cpu-shares", "CPU time share weight for the preceding image (e.g. 2048)", setCPUShares)
	app("caps-retain", "capabilities to retain for the preceding image (e.g. CAP_SYS_ADMIN,CAP_NET_ADMIN)", setCapsRetain)
	app("caps-remove", "capabilities to remove for the preceding image (e.g. CAP_MKNOD)", setCapsRemove)
	app("cap-retain", "deprecated: use --caps-retain", setCapsRetain).Hidden = true
	app("cap-remove", "deprecated: use --caps-remove", setCapsRemove).Hidden = true
	app("seccomp", "seccomp filter override (e.g. mode=retain,errno=EPERM,chmod,chown)", setSeccomp)
	app("oom-score-adjust", "oom-score-adj isolator override for the preceding image (-1000 to 1000)", setOOM)
	app("oom-score-adj", "deprecated: use --oom-score-adjust", setOOM).Hidden = true
	app("stdin", "stdin mode of the preceding app: null, tty, stream", stdioSetter("stdin", func(a *App) *string { return &a.Stdin }, "null", "tty", "stream"))
	app("stdout", "stdout mode of the preceding app: null, tty, stream, log", stdioSetter("stdout", func(a *App) *string { return &a.Stdout }, "null", "tty", "stream", "log"))
	app("stderr", "stderr mode of the preceding app: null, tty, stream, log", stdioSetter("stderr", func(a *App) *string { return &a.Stderr }, "null", "tty", "stream", "log"))

	fs.Var(&podFlag{as, as.addGlobalMount, addAppMount}, "mount",
		"mount a volume into an app: volume=NAME,target=PATH (before any image: into every app)")
	fs.Var(&podFlag{as, kvSetter("user-annotation", &as.UserAnnotations), func(a *App, s string) error {
		return kvSetter("user-annotation", &a.UserAnnotations)(s)
	}}, "user-annotation", "add a user annotation NAME=VALUE to the preceding app (before any image: to the pod)")
	fs.Var(&podFlag{as, kvSetter("user-label", &as.UserLabels), func(a *App, s string) error {
		return kvSetter("user-label", &a.UserLabels)(s)
	}}, "user-label", "add a user label NAME=VALUE to the preceding app (before any image: to the pod)")
	as.addAnnotationFlag(fs)
	fs.Var(volumeFlag{as}, "volume", "volume to make available in the pod: NAME,kind=host|empty,source=PATH,readOnly=BOOL,recursive=BOOL")
}

// Parse walks the command line after the subcommand as rkt does: flags
// (pod-wide and per-app, all in fs) are parsed up to the next image; an
// image starts a new app; "--" starts the app's arguments and "---" ends
// them. fs must have interspersed parsing off.
func (as *Apps) Parse(args []string, fs *pflag.FlagSet, allowAppArgs bool) error {
	fs.SetInterspersed(false)
	appsAtLastArgs := len(as.Apps)
	inAppArgs := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if inAppArgs {
			if a == "---" {
				inAppArgs = false
			} else {
				last := as.last()
				last.Args = append(last.Args, a)
			}
			continue
		}
		switch a {
		case "--":
			if !allowAppArgs {
				return errors.New("app arguments (after --) are not accepted here")
			}
			if appsAtLastArgs == len(as.Apps) {
				if len(as.Apps) == 0 {
					return errors.New("an image is required before app arguments (--)")
				}
				return errors.New("only one set of app arguments (--) is allowed per image")
			}
			appsAtLastArgs = len(as.Apps)
			inAppArgs = true
		case "---":
			return errors.New(`"---" ends app arguments but no app arguments were started with "--"`)
		default:
			if err := fs.Parse(args[i:]); err != nil {
				return err
			}
			consumed := len(args[i:]) - fs.NArg()
			if consumed > 0 {
				// pflag swallows a "--" that ends the flags; give it back
				// so the loop sees the start of app arguments.
				if args[i+consumed-1] == "--" {
					consumed--
				}
				i += consumed - 1
				continue
			}
			// pflag took nothing: a is the next image.
			as.Apps = append(as.Apps, &App{Image: a})
		}
	}
	return nil
}

func setOnce(name string, field func(a *App) *string) func(a *App, s string) error {
	return func(a *App, s string) error {
		p := field(a)
		if *p != "" {
			return fmt.Errorf("--%s given twice for image %s", name, a.Image)
		}
		if s == "" {
			return fmt.Errorf("--%s needs a value", name)
		}
		*p = s
		return nil
	}
}

func setName(a *App, s string) error {
	if _, err := types.NewACName(s); err != nil {
		return fmt.Errorf("invalid app name %q: must be lower case letters, digits and dashes", s)
	}
	a.Name = s
	return nil
}

func setGIDs(a *App, s string) error {
	var gids []int
	for _, f := range strings.Split(s, ",") {
		g, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || g < 0 {
			return fmt.Errorf("invalid supplementary gid %q", f)
		}
		gids = append(gids, g)
	}
	a.SupplementaryGIDs = gids
	return nil
}

func setWorkingDir(a *App, s string) error {
	if !path.IsAbs(s) {
		return fmt.Errorf("working directory %q must be an absolute path", s)
	}
	a.WorkingDir = s
	return nil
}

func setAppEnv(a *App, s string) error {
	k, v, err := splitKV("environment", s)
	if err != nil {
		return err
	}
	a.Environment.Set(k, v)
	return nil
}

func setReadOnly(a *App, s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("invalid --readonly-rootfs value %q (want true or false)", s)
	}
	a.ReadOnlyRootFS = b
	return nil
}

func setMemory(a *App, s string) error {
	r, err := types.NewResourceMemoryIsolator(s, s)
	if err != nil {
		return fmt.Errorf("invalid memory limit %q: %v", s, err)
	}
	if r.Limit().Sign() <= 0 {
		return fmt.Errorf("memory limit %q must be positive", s)
	}
	// A value beyond 63 bits wraps to a negative or zero limit, or is
	// clamped by the parser to the largest one (8Ei).
	if q := r.Limit(); q.CmpInt64(math.MaxInt64) >= 0 {
		return fmt.Errorf("memory limit %q does not fit in 63 bits (at most %d bytes)", s, int64(math.MaxInt64-1))
	}
	// Below 4KiB is nearly always --memory=16m (milli-bytes) meant as 16M.
	if r.Limit().Value() < 4096 {
		return fmt.Errorf("memory limit %q is %d bytes, too low; did you mean e.g. 16M?", s, r.Limit().Value())
	}
	a.MemoryLimit = r
	return nil
}

func setCPU(a *App, s string) error {
	r, err := types.NewResourceCPUIsolator(s, s)
	if err != nil {
		return fmt.Errorf("invalid cpu limit %q: %v", s, err)
	}
	if q := r.Limit(); q.Sign() <= 0 || q.CmpInt64(math.MaxInt64/1000) > 0 || r.Limit().MilliValue() <= 0 {
		return fmt.Errorf("invalid cpu limit %q: must be positive and fit in 63 bits of millicores", s)
	}
	a.CPULimit = r
	return nil
}

func setCPUShares(a *App, s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("invalid cpu shares %q", s)
	}
	cs, err := types.NewLinuxCPUShares(n)
	if err != nil {
		return fmt.Errorf("invalid cpu shares %q: %v", s, err)
	}
	a.CPUShares = cs
	return nil
}

// capRe is compiled on first use, not at package init, which every
// saturn command (pod starts included) would pay for.
var capRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^CAP_[A-Z0-9_]+$`) })

func splitCaps(s string) ([]string, error) {
	var caps []string
	for _, c := range strings.Split(s, ",") {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !capRe().MatchString(c) {
			return nil, fmt.Errorf("invalid capability %q", c)
		}
		caps = append(caps, c)
	}
	return caps, nil
}

func setCapsRetain(a *App, s string) error {
	caps, err := splitCaps(s)
	if err != nil {
		return err
	}
	set, err := types.NewLinuxCapabilitiesRetainSet(caps...)
	if err != nil {
		return fmt.Errorf("invalid --caps-retain %q: %v", s, err)
	}
	a.CapsRetain = set
	return nil
}

func setCapsRemove(a *App, s string) error {
	caps, err := splitCaps(s)
	if err != nil {
		return err
	}
	set, err := types.NewLinuxCapabilitiesRevokeSet(caps...)
	if err != nil {
		return fmt.Errorf("invalid --caps-remove %q: %v", s, err)
	}
	a.CapsRemove = set
	return nil
}

// setSeccomp parses rkt's --seccomp: mode=retain|remove, an optional
// errno=NAME and the syscalls (or @groups). The set is resolved as stage1
// will resolve it, so an unknown name, group or errno is refused here,
// before the pod exists.
func setSeccomp(a *App, s string) error {
	var mode, errno string
	var calls []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case strings.HasPrefix(item, "mode="):
			mode = strings.TrimPrefix(item, "mode=")
		case strings.HasPrefix(item, "errno="):
			errno = strings.TrimPrefix(item, "errno=")
		case seccompEntry(item):
			calls = append(calls, item)
		default:
			return fmt.Errorf("invalid --seccomp entry %q", item)
		}
	}
	var is *types.Isolator
	var err error
	switch mode {
	case "retain":
		var set *types.LinuxSeccompRetainSet
		if set, err = types.NewLinuxSeccompRetainSet(errno, calls...); err == nil {
			is, err = set.AsIsolator()
		}
	case "remove":
		var set *types.LinuxSeccompRemoveSet
		if set, err = types.NewLinuxSeccompRemoveSet(errno, calls...); err == nil {
			is, err = set.AsIsolator()
		}
	case "":
		return fmt.Errorf("--seccomp %q needs mode=retain or mode=remove", s)
	default:
		return fmt.Errorf("invalid --seccomp mode %q (want retain or remove)", mode)
	}
	if err == nil {
		m, _ := seccomp.ParseMode(mode)
		_, err = seccomp.New(m, calls, errno)
	}
	if err != nil {
		return fmt.Errorf("invalid --seccomp %q: %v", s, err)
	}
	a.Seccomp = is
	return nil
}

// seccompEntry reports whether s looks like a system call name or an
// @group: letters, digits, '_', '-', '.', '/', and '@' first.
func seccompEntry(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == '/' || c == '@' && i == 0
		if !ok {
			return false
		}
	}
	return s != ""
}

func setOOM(a *App, s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("invalid oom score adjust %q", s)
	}
	adj, err := types.NewLinuxOOMScoreAdj(n)
	if err != nil {
		return fmt.Errorf("invalid oom score adjust %q: %v", s, err)
	}
	a.OOMScoreAdj = adj
	return nil
}

func stdioSetter(name string, field func(a *App) *string, modes ...string) func(a *App, s string) error {
	return func(a *App, s string) error {
		for _, m := range modes {
			if s == m {
				*field(a) = s
				return nil
			}
		}
		return fmt.Errorf("invalid --%s mode %q (want one of %s)", name, s, strings.Join(modes, ", "))
	}
}

// parseMount parses volume=NAME,target=PATH.
func parseMount(s string) (schema.Mount, error) {
	var m schema.Mount
	q, err := url.ParseQuery(strings.ReplaceAll(s, ",", "&"))
	if err != nil {
		return m, fmt.Errorf("invalid --mount %q: %v", s, err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return m, fmt.Errorf("invalid --mount %q: %s given %d times", s, k, len(v))
		}
		switch k {
		case "volume":
			n, err := types.NewACName(v[0])
			if err != nil {
				return m, fmt.Errorf("invalid volume name %q in --mount %q", v[0], s)
			}
			m.Volume = *n
		case "target":
			m.Path = v[0]
		default:
			return m, fmt.Errorf("invalid --mount %q: unknown parameter %q", s, k)
		}
	}
	if m.Volume.Empty() || m.Path == "" {
		return m, fmt.Errorf("invalid --mount %q: want volume=NAME,target=PATH", s)
	}
	// A relative target, and "..", are resolved inside the app's rootfs
	// by stage1, as rkt's were: passed on as given.
	if path.Clean("/"+m.Path) == "/" {
		return m, fmt.Errorf("invalid --mount %q: a volume cannot replace the app's root", s)
	}
	return m, nil
}

func (as *Apps) addGlobalMount(s string) error {
	m, err := parseMount(s)
	if err != nil {
		return err
	}
	as.Mounts = append(as.Mounts, m)
	return nil
}

func addAppMount(a *App, s string) error {
	m, err := parseMount(s)
	if err != nil {
		return err
	}
	a.Mounts = append(a.Mounts, m)
	return nil
}

type volumeFlag struct{ apps *Apps }

func (f volumeFlag) Set(s string) error {
	v, err := types.VolumeFromString(s)
	if err != nil {
		return fmt.Errorf("invalid --volume %q: %v", s, err)
	}
	if err := CheckVolume(*v); err != nil {
		return fmt.Errorf("invalid --volume %q: %v", s, err)
	}
	for _, old := range f.apps.Volumes {
		if old.Name == v.Name {
			return fmt.Errorf("volume %q declared twice", v.Name)
		}
	}
	f.apps.Volumes = append(f.apps.Volumes, *v)
	return nil
}

func (f volumeFlag) String() string { return "" }
func (f volumeFlag) Type() string   { return "string" }

func splitKV(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("invalid --%s %q: want NAME=VALUE", flag, s)
	}
	return k, v, nil
}

func kvSetter[M ~map[string]string](flag string, m *M) func(s string) error {
	return func(s string) error {
		k, v, err := splitKV(flag, s)
		if err != nil {
			return err
		}
		if *m == nil {
			*m = M{}
		}
		(*m)[k] = v
		return nil
	}
}
