package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage1-fly/flywatch"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2"
)

// parseRunFlags parses the run entrypoint's flags (stage1abi.RunFlags).
// fly uses --debug, --net and --dns-conf-mode, accepts the rest, and
// refuses the isolation it cannot give.
func parseRunFlags(args []string) (*stage1abi.RunFlags, error) {
	f, err := stage1abi.ParseRunFlags(args)
	if err != nil {
		return nil, err
	}
	if err := checkHonoured(f); err != nil {
		return nil, err
	}
	return f, nil
}

// checkHonoured refuses the isolation fly cannot give: the app always
// shares the host's network, UTS, IPC and user namespaces.
func checkHonoured(f *stage1abi.RunFlags) error {
	const hint = "stage1-fly runs the app in the host's namespaces; %s cannot be honoured (use stage1-nspawn)"
	switch {
	case f.Net != "host" && f.Net != "default":
		return fmt.Errorf(hint, "--net="+f.Net)
	case f.Hostname != "":
		return fmt.Errorf(hint, "--hostname")
	case f.IPC == "private":
		return fmt.Errorf(hint, "--ipc="+f.IPC)
	case f.PrivateUsers != "":
		return fmt.Errorf(hint, "--private-users")
	}
	return nil
}

func runMain(args []string) int {
	f, err := parseRunFlags(args)
	if err != nil {
		logf("run: %v", err)
		return exitFailure
	}
	code, err := run(f)
	if err != nil {
		logf("run: %v", err)
		return exitFailure
	}
	return code
}

// runPlan is everything run decided before it changes anything.
type runPlan struct {
	pod    *flyPod
	spec   *stage2.Spec
	mounts []flyMount
	host   *hostMounts
	dns    stage1abi.DNSConfMode
	// sockets were passed for socket activation (listen.go).
	sockets []activation.Socket
}

// run prepares the app and starts it, and returns the pod's exit code
// once it has exited (see superviseApp). An app that takes sockets from
// socket activation is exec'ed in place of this process instead, so that
// it has the pid LISTEN_PID names: then run returns only on failure.
func run(f *stage1abi.RunFlags) (int, error) {
	lockFD, err := lockFD()
	if err != nil {
		return 0, err
	}
	if lockFD >= 0 {
		// The watcher must not inherit the pod lock; the app must.
		unix.CloseOnExec(lockFD)
	}
	// A directory without a pod manifest is no pod: leave it untouched.
	if _, err := os.Stat(stage1abi.PodManifest); err != nil {
		return 0, fmt.Errorf("pod manifest: %w", err)
	}
	socks, err := takeSockets()
	if err != nil {
		return 0, err
	}
	var w *flywatch.Watcher
	var fw *forwarder
	if len(socks) == 0 {
		// Started first: catching the signals takes a while, done on
		// the side while the pod is planned and set up.
		fw = newForwarder(isTerminal(0))
	} else {
		// The app will replace this process: the exit watcher records
		// its status. Started first, so that its start overlaps the
		// planning and mounts below instead of delaying the app's exec.
		// Without the watcher only rkt/status is missing; the pod runs.
		w, err = flywatch.Start(filepath.Join(stage1abi.Stage1Rootfs, stage1abi.RktDir), f.Debug)
		if err != nil {
			logf("run: no exit status will be recorded: %v", err)
		} else {
			defer w.Release() // only if run fails: the app's exec does not return
		}
	}
	plan, err := planRun(f, socks)
	if err != nil {
		return 0, err
	}
	return launch(plan, w, fw, lockFD, f.Debug)
}

// planRun reads the pod and checks everything that can be refused (user,
// executable, volumes, isolators) before anything is written or mounted.
func planRun(f *stage1abi.RunFlags, socks []activation.Socket) (*runPlan, error) {
	p, err := loadPod(".")
	if err != nil {
		return nil, err
	}
	dns := f.DNSConfMode
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
		return filepath.Join(p.dir, stage1abi.SharedVolumesDir, v.Name.String())
	}
	mounts, err := planMounts(p, host.isMount, dns, emptyDir)
	if err != nil {
		return nil, err
	}
	return &runPlan{pod: p, spec: spec, mounts: mounts, host: host, dns: dns, sockets: socks}, nil
}

// launch writes the pod's runtime files, names the app to the exit
// watcher w (nil when there is none), sets up the mount namespace and
// starts the app, passing it the pod lock lockFD (-1 for none): forked
// and supervised with fw passing signals on, or, with w, exec'ed in place
// of this process.
func launch(plan *runPlan, w *flywatch.Watcher, fw *forwarder, lockFD int, debug bool) (int, error) {
	p := plan.pod
	if err := prepareRktDir(p, plan.spec.Env); err != nil {
		return 0, err
	}
	if err := prepareEtc(p, plan.dns.Hosts); err != nil {
		return 0, err
	}
	// If setup fails from here on, stage1's exit code is recorded as the
	// app's: by the watcher, or here.
	if w != nil {
		if err := w.Named(p.appName()); err != nil {
			logf("run: no exit status will be recorded: %v", err)
		}
	}
	code, err := startApp(plan, w, fw, lockFD, debug)
	if err != nil && w == nil {
		writeStatus(p, exitFailure)
	}
	return code, err
}

// startApp sets up the app's mount namespace and starts it (see launch).
func startApp(plan *runPlan, w *flywatch.Watcher, fw *forwarder, lockFD int, debug bool) (int, error) {
	p := plan.pod
	if err := setupMountNamespace(p, plan.mounts, plan.host); err != nil {
		return 0, err
	}
	if err := stage1abi.WritePid(p.dir, os.Getpid(), ""); err != nil {
		return 0, fmt.Errorf("write pid file: %w", err)
	}
	if err := stage1abi.WriteSupervisorReady(p.stage1Rootfs()); err != nil {
		return 0, fmt.Errorf("write supervisor status: %w", err)
	}
	if adj, ok := oomScoreAdj(p.App.Isolators); ok {
		// Inherited by the app, forked or exec'ed.
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(adj)), 0); err != nil {
			return 0, fmt.Errorf("set oom_score_adj %d: %w", adj, err)
		}
	}
	if w != nil {
		if err := w.Wait(); err != nil {
			logf("run: no exit status will be recorded: %v", err)
		}
	}
	if lockFD >= 0 {
		// The app holds the pod lock too: what it leaves behind keeps
		// the pod running.
		if _, err := unix.FcntlInt(uintptr(lockFD), unix.F_SETFD, 0); err != nil {
			return 0, fmt.Errorf("keep pod lock for the app: %w", err)
		}
	}
	if debug {
		logf("start %q chrooted in %s as %d:%d", plan.spec.Args, p.rootfs(), plan.spec.UID, plan.spec.GID)
	}
	if w == nil {
		// fly itself has the oom_score_adj the app inherits.
		spec := *plan.spec
		spec.OOMScoreAdj = nil
		return superviseApp(p, &spec, fw)
	}
	if err := keepSockets(plan.sockets); err != nil {
		return 0, err
	}
	// Last before exec: from here stage1's own errors may go to /dev/null.
	if err := nullStdio(p.app.Annotations); err != nil {
		return 0, err
	}
	notifyReady(p)
	return 0, stage2.Exec(plan.spec)
}

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
	if v, _ := p.image.Annotations.Get(stage1abi.AnnSupportsNotify); v == "true" {
		logf("warning: app %s: %s is not supported by stage1-fly; the pod is ready once the app starts", p.appName(), stage1abi.AnnSupportsNotify)
	}
	if _, err := daemon.SdNotify(true, daemon.SdNotifyReady); err != nil {
		logf("warning: notify READY=1: %v", err)
	}
}

// stdioAnnotations are the runtime app annotations in which stage0 records
// --stdin, --stdout and --stderr, in the order of the fds they are for.
var stdioAnnotations = [...]string{stage1abi.AnnStdin, stage1abi.AnnStdout, stage1abi.AnnStderr}

// appStdio returns what the app's fds 0, 1 and 2 are: the caller's
// streams themselves, but /dev/null for those whose mode is null. On fly
// every other mode (log, tty, stream) leaves the stream as it is; tty and
// stream, which need a terminal multiplexer fly does not run, are named
// in a warning. done closes the /dev/null it opened.
func appStdio(anns types.Annotations) (files []uintptr, done func(), err error) {
	null := -1
	done = func() {
		if null >= 0 {
			unix.Close(null)
			null = -1
		}
	}
	files = []uintptr{0, 1, 2}
	for fd, ann := range stdioAnnotations {
		mode, _ := anns.Get(ann)
		switch mode {
		case "", "log":
		case "null":
			if null < 0 {
				if null, err = openNull(); err != nil {
					return nil, done, err
				}
			}
			files[fd] = uintptr(null)
		default:
			logf("warning: %s mode %s is not supported, the app uses the caller's stream", ann[strings.LastIndex(ann, "/")+1:], mode)
		}
	}
	return files, done, nil
}

// nullStdio puts /dev/null on this process's standard streams whose mode
// is null (appStdio), for an app exec'ed in its place.
func nullStdio(anns types.Annotations) error {
	files, done, err := appStdio(anns)
	defer done()
	if err != nil {
		return err
	}
	for fd, f := range files {
		if int(f) == fd {
			continue
		}
		if err := unix.Dup3(int(f), fd, 0); err != nil {
			return fmt.Errorf("%s to /dev/null: %w", stdioAnnotations[fd], err)
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
	for _, d := range []string{stage1abi.StatusDir, stage1abi.EnvDir} {
		if err := os.MkdirAll(filepath.Join(p.stage1Rootfs(), d), 0o755); err != nil {
			return err
		}
	}
	if err := stage1abi.WriteEnv(p.stage1Rootfs(), p.appName(), env); err != nil {
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
