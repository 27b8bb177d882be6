package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage1-fly/flywatch"
	"github.com/saturn-pods/saturn/stage2"
)

// runFlags are the run entrypoint's flags (docs/stage1-abi.md). fly uses
// --debug, --net and --dns-conf-mode and accepts the rest.
type runFlags struct {
	debug    bool
	net      string
	dnsConf  string
	hostname string
	ipc      string
	users    string
}

func parseRunFlags(args []string) (*runFlags, string, error) {
	f := &runFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	// A stage1 must accept flags of newer stage0s that it does not use.
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.BoolVar(&f.debug, "debug", false, "print debug messages")
	fs.StringVar(&f.net, "net", "", "pod networking; fly always uses the host's")
	fs.StringVar(&f.dnsConf, "dns-conf-mode", "", "resolv=…,hosts=…")
	fs.StringVar(&f.hostname, "hostname", "", "pod hostname; fly cannot set one")
	fs.StringVar(&f.ipc, "ipc", "", "IPC namespace; fly always uses the host's")
	fs.StringVar(&f.users, "private-users", "", "user namespace; fly cannot use one")
	for _, s := range []string{"local-config", "mds-token"} {
		fs.String(s, "", "ignored by fly")
	}
	for _, b := range []string{"interactive", "disable-capabilities-restriction", "disable-paths", "disable-seccomp"} {
		fs.Bool(b, false, "ignored by fly")
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() != 1 {
		return nil, "", fmt.Errorf("expected one argument, the pod UUID; got %d", fs.NArg())
	}
	if _, err := types.NewUUID(fs.Arg(0)); err != nil {
		return nil, "", fmt.Errorf("invalid pod UUID %q", fs.Arg(0))
	}
	if err := f.checkHonoured(); err != nil {
		return nil, "", err
	}
	return f, fs.Arg(0), nil
}

// checkHonoured refuses the isolation fly cannot give: the app always
// shares the host's network, UTS, IPC and user namespaces.
func (f *runFlags) checkHonoured() error {
	const hint = "stage1-fly runs the app in the host's namespaces; %s cannot be honoured (use stage1-nspawn)"
	switch {
	case f.net != "" && f.net != "host" && f.net != "default":
		return fmt.Errorf(hint, "--net="+f.net)
	case f.hostname != "":
		return fmt.Errorf(hint, "--hostname")
	case f.ipc != "" && f.ipc != "auto" && f.ipc != "parent":
		return fmt.Errorf(hint, "--ipc="+f.ipc)
	case f.users != "":
		return fmt.Errorf(hint, "--private-users")
	}
	return nil
}

func runMain(args []string) int {
	f, _, err := parseRunFlags(args)
	if err != nil {
		logf("run: %v", err)
		return exitFailure
	}
	if err := run(f); err != nil {
		logf("run: %v", err)
		return exitFailure
	}
	return 0 // not reached: run execs the app
}

// runPlan is everything run decided before it changes anything.
type runPlan struct {
	pod    *flyPod
	spec   *stage2.Spec
	mounts []flyMount
	host   *hostMounts
	dns    dnsModes
	// sockets were passed for socket activation (listen.go).
	sockets []activation.Socket
}

// run prepares the app and execs it in place of this process, so the pid
// stage0 was started as becomes the app's: its exit code is saturn run's
// and signals sent to saturn run reach the app without forwarding.
func run(f *runFlags) error {
	lockFD, err := lockFD()
	if err != nil {
		return err
	}
	if lockFD >= 0 {
		// The watcher must not inherit the pod lock; the app must.
		unix.CloseOnExec(lockFD)
	}
	// A directory without a pod manifest is no pod: leave it untouched.
	if _, err := os.Stat(podManifestFile); err != nil {
		return fmt.Errorf("pod manifest: %w", err)
	}
	socks, err := takeSockets()
	if err != nil {
		return err
	}
	// Started first, so that its start overlaps the planning and mounts
	// below instead of delaying the app's exec. Without the watcher only
	// rkt/status is missing; the pod runs.
	w, err := flywatch.Start(filepath.Join(stage1Rootfs, "rkt"), f.debug)
	if err != nil {
		logf("run: no exit status will be recorded: %v", err)
	} else {
		defer w.Release() // only if run fails: the app's exec does not return
	}
	plan, err := planRun(f, socks)
	if err != nil {
		return err
	}
	return launch(plan, w, lockFD, f.debug)
}

// planRun reads the pod and checks everything that can be refused (user,
// executable, volumes, isolators) before anything is written or mounted.
func planRun(f *runFlags, socks []activation.Socket) (*runPlan, error) {
	p, err := loadPod(".")
	if err != nil {
		return nil, err
	}
	dns, err := parseDNSModes(f.dnsConf)
	if err != nil {
		return nil, err
	}
	rootfs := p.rootfs()
	opts := stage2.Options{AllCaps: !hasCapIsolator(p.App.Isolators)}
	spec, err := stage2.AppSpec(rootfs, p.appName(), p.App, p.App.Exec, opts)
	if err != nil {
		return nil, err
	}
	// Keyrings are not namespaced: the app gets a session keyring of its
	// own rather than the one of whoever started the pod.
	spec.NewSessionKeyring = true
	if spec.Env, err = socketEnv(p, spec.Env, socks); err != nil {
		return nil, err
	}
	if err := stage2.CheckExec(rootfs, spec.Args, spec.Env); err != nil {
		return nil, fmt.Errorf("app %s: %w", p.appName(), err)
	}
	host := &hostMounts{}
	emptyDir := func(v types.Volume) string {
		return filepath.Join(p.dir, "sharedVolumes", v.Name.String())
	}
	mounts, err := planMounts(p, host.isMount, dns, emptyDir)
	if err != nil {
		return nil, err
	}
	return &runPlan{pod: p, spec: spec, mounts: mounts, host: host, dns: dns, sockets: socks}, nil
}

// launch writes the pod's runtime files, names the app to the exit
// watcher w (nil when it could not start), sets up the mount namespace
// and execs the app, passing it the pod lock lockFD (-1 for none).
func launch(plan *runPlan, w *flywatch.Watcher, lockFD int, debug bool) error {
	p := plan.pod
	if err := prepareRktDir(p, plan.spec.Env); err != nil {
		return err
	}
	if err := prepareEtc(p, plan.dns.hosts); err != nil {
		return err
	}
	// If setup fails from here on, the watcher records stage1's exit code.
	if w != nil {
		if err := w.Named(p.appName()); err != nil {
			logf("run: no exit status will be recorded: %v", err)
		}
	}
	if err := setupMountNamespace(p, plan.mounts, plan.host); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(p.dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(p.rktDir(), "supervisor-status"), []byte("ready\n"), 0o644); err != nil {
		return fmt.Errorf("write supervisor status: %w", err)
	}
	if adj, ok := oomScoreAdj(p.App.Isolators); ok {
		// Inherited across exec, so it becomes the app's.
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(adj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj %d: %w", adj, err)
		}
	}
	if w != nil {
		if err := w.Wait(); err != nil {
			logf("run: no exit status will be recorded: %v", err)
		}
	}
	if lockFD >= 0 {
		if _, err := unix.FcntlInt(uintptr(lockFD), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("keep pod lock across exec: %w", err)
		}
	}
	if err := keepSockets(plan.sockets); err != nil {
		return err
	}
	if debug {
		logf("exec %q chrooted in %s as %d:%d", plan.spec.Args, p.rootfs(), plan.spec.UID, plan.spec.GID)
	}
	// Last before exec: from here stage1's own errors may go to /dev/null.
	if err := nullStdio(p.app.Annotations); err != nil {
		return err
	}
	notifyReady(p)
	return stage2.Exec(plan.spec)
}

// annSupportsNotify is the appc annotation by which an image says its app
// speaks sd_notify.
const annSupportsNotify = "appc.io/executor/supports-systemd-notify"

// notifyReady tells a Type=notify unit running the pod that it is ready:
// everything is set up and the app is about to replace this process,
// which is the unit's main pid. The app's environment comes from its
// manifest, so it never sees NOTIFY_SOCKET, whose path would not resolve
// in its chroot anyway: an app whose image says it speaks sd_notify is
// not waited for, which a warning says.
func notifyReady(p *flyPod) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	if v, _ := p.image.Annotations.Get(annSupportsNotify); v == "true" {
		logf("warning: app %s: %s is not supported by stage1-fly; the pod is ready once the app starts", p.appName(), annSupportsNotify)
	}
	if _, err := daemon.SdNotify(true, daemon.SdNotifyReady); err != nil {
		logf("warning: notify READY=1: %v", err)
	}
}

// stdioAnnotations are the runtime app annotations in which stage0 records
// --stdin, --stdout and --stderr, in the order of the fds they are for.
var stdioAnnotations = [...]string{"coreos.com/rkt/stage2/stdin", "coreos.com/rkt/stage2/stdout", "coreos.com/rkt/stage2/stderr"}

// nullStdio puts /dev/null on the standard streams whose mode is null. On
// fly the app has the caller's streams themselves, so every other mode
// (log, tty, stream) leaves the stream as it is; tty and stream, which
// need a terminal multiplexer fly does not run, are named in a warning.
func nullStdio(anns types.Annotations) error {
	null := -1
	defer func() {
		if null >= 0 {
			unix.Close(null)
		}
	}()
	for fd, ann := range stdioAnnotations {
		mode, _ := anns.Get(ann)
		switch mode {
		case "", "log":
		case "null":
			if null < 0 {
				var err error
				if null, err = openNull(); err != nil {
					return err
				}
			}
			if err := unix.Dup3(null, fd, 0); err != nil {
				return fmt.Errorf("%s to /dev/null: %w", ann, err)
			}
		default:
			logf("warning: %s mode %s is not supported, the app uses the caller's stream", ann[strings.LastIndex(ann, "/")+1:], mode)
		}
	}
	return nil
}

func hasCapIsolator(isos types.Isolators) bool {
	for _, iso := range isos {
		if iso.Name == types.LinuxCapabilitiesRetainSetName || iso.Name == types.LinuxCapabilitiesRevokeSetName {
			return true
		}
	}
	return false
}

// lockFD returns RKT_LOCK_FD, or -1 when stage0 passed none.
func lockFD() (int, error) {
	s := os.Getenv("RKT_LOCK_FD")
	if s == "" {
		return -1, nil
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 0 {
		return -1, fmt.Errorf("invalid RKT_LOCK_FD %q", s)
	}
	return fd, nil
}

// prepareRktDir creates rkt/status and rkt/env in the stage1 rootfs and
// writes the app's environment, which enter reuses.
func prepareRktDir(p *flyPod, env []string) error {
	for _, d := range []string{"status", "env"} {
		if err := os.MkdirAll(filepath.Join(p.rktDir(), d), 0o755); err != nil {
			return err
		}
	}
	data := strings.Join(env, "\n") + "\n"
	if err := writeFileAtomic(filepath.Join(p.rktDir(), "env", p.appName()), []byte(data), 0o644); err != nil {
		return fmt.Errorf("write app environment: %w", err)
	}
	return nil
}

// setupMountNamespace gives this process a mount namespace of its own and
// mounts the app's /dev, /proc, /sys, /tmp, volumes and DNS files into its
// rootfs. unshare(CLONE_NEWNS) changes only the calling thread; main is
// locked to the thread group leader (see init), and the app is exec'ed
// from this same thread, so the app starts inside the new namespace.
func setupMountNamespace(p *flyPod, mounts []flyMount, host *hostMounts) error {
	// As rkt fly does, a volume source that is a host mount point is made
	// shared in the host namespace first: the app's bind of it is then a
	// peer, and mounts the app makes below it reach the host.
	for _, m := range mounts {
		if m.Share {
			if err := unix.Mount("", m.Source, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("make %s shared: %w", m.Source, err)
			}
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := isolateRootfs(p.rootfs(), host); err != nil {
		return err
	}
	rootfs := p.rootfs()
	root, err := inroot.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, m := range mounts {
		if m.Empty != nil {
			fresh, err := makeEmptyVolume(m.Source, *m.Empty)
			if err != nil {
				return err
			}
			if fresh {
				if err := fillEmptyVolume(m.Source, rootfs, m.Target); err != nil {
					return err
				}
			}
		}
		if err := applyMount(root, m); err != nil {
			return err
		}
	}
	if err := applyMount(root, hostnameMount); err != nil {
		return err
	}
	if p.app.ReadOnlyRootFS {
		// Only this namespace's view of the rootfs mount changes; the
		// mounts below it (/tmp, volumes) keep their own flags.
		if err := unix.Mount("", rootfs, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make the app rootfs read-only: %w", err)
		}
	}
	return nil
}

// isolateRootfs makes the app rootfs a slave mount in the new namespace,
// so the mounts made below it never propagate to the host while volume
// sources elsewhere stay peers of the host's. A rootfs that is no mount
// of its own (a copy, not an overlay) is first bind-mounted onto itself,
// with the mount that holds it made a slave so the bind stays private.
func isolateRootfs(rootfs string, host *hostMounts) error {
	if !host.isMount(rootfs) {
		parent, err := host.mountOf(rootfs)
		if err != nil {
			return err
		}
		if err := unix.Mount("", parent, "", unix.MS_SLAVE, ""); err != nil {
			return fmt.Errorf("make %s a slave mount: %w", parent, err)
		}
		if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind app rootfs: %w", err)
		}
	}
	if err := unix.Mount("", rootfs, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s a slave mount: %w", rootfs, err)
	}
	return nil
}

// openNull opens /dev/null close-on-exec above the standard streams, so
// that it is never one of the fds it is duplicated onto (with stdin
// closed, open would return 0).
func openNull() (int, error) {
	fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/null: %w", err)
	}
	if fd > 2 {
		return fd, nil
	}
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	unix.Close(fd)
	if err != nil {
		return -1, fmt.Errorf("dup /dev/null: %w", err)
	}
	return high, nil
}
