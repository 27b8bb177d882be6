package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/fetch"
	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/store"
)

const runUsage = "[flags] IMAGE [per-image flags] [-- image-args... [---]] [IMAGE ...]"

func runCommands(g *globals) []*command {
	rt := &pod.RuntimeOptions{}
	return []*command{{
		name:    "run",
		usage:   runUsage,
		short:   "run image(s) in a pod; saturn becomes the pod",
		rawArgs: true,
		run:     func(g *globals, args []string) error { return runRun(g, args) },
	}, {
		name:    "prepare",
		usage:   runUsage,
		short:   "prepare a pod to run later with run-prepared; prints its UUID",
		rawArgs: true,
		run:     func(g *globals, args []string) error { return runPrepare(g, args) },
	}, {
		name:  "run-prepared",
		usage: "[flags] UUID",
		short: "run a prepared pod",
		flags: rt.AddFlags,
		run: func(g *globals, args []string) error {
			if len(args) != 1 {
				return usagef("run-prepared takes one pod UUID")
			}
			if err := rt.Check(); err != nil {
				return usagef("%v", err)
			}
			return runPrepared(g, args[0], rt)
		},
	}}
}

// podArgs is a parsed run or prepare command line.
type podArgs struct {
	prep   pod.PrepareOptions
	rt     pod.RuntimeOptions
	stage1 stage1Flags
	// run: the pod starts at once, so rt applies.
	run bool
}

// errHelpShown ends a command after it printed its help.
var errHelpShown = errors.New("help shown")

// parsePodArgs parses run's or prepare's command line: global, stage1,
// pod and per-app flags mixed with images and app arguments, as rkt does.
func parsePodArgs(g *globals, name string, args []string, runtime bool) (*podArgs, error) {
	pa := podArgs{run: runtime}
	fs := pflag.NewFlagSet("saturn "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	newGlobals(nil, nil).addFlags(fs) // global flags may follow the command name
	pa.prep.AddFlags(fs)
	addStage1Flags(fs, &pa.stage1)
	if runtime {
		pa.rt.AddFlags(fs)
	}
	if !runtime {
		fs.BoolVar(&pa.prep.Quiet, "quiet", false, "print only the UUID")
	}
	help := fs.BoolP("help", "h", false, "show help for "+name)
	if err := pa.prep.Apps.Parse(args, fs, true); err != nil {
		return nil, usagef("%v", err)
	}
	if *help {
		fmt.Fprintf(g.Stdout, "saturn %s\n\nUsage: saturn %s %s\n\nFlags:\n%s", name, name, runUsage, fs.FlagUsages())
		return nil, errHelpShown
	}
	if err := applyGlobalFlags(g, fs); err != nil {
		return nil, usagef("%v", err)
	}
	if err := pa.prep.Check(); err != nil {
		return nil, usagef("%v", err)
	}
	if runtime {
		if err := pa.rt.Check(); err != nil {
			return nil, usagef("%v", err)
		}
		if pa.rt.Interactive && len(pa.prep.Apps.Apps) > 1 {
			return nil, usagef("--interactive supports only one image")
		}
		if mode := pa.rt.NetMode(); len(pa.prep.Ports) > 0 && mode != "default" {
			return nil, usagef("--port does not work with --net=%s", mode)
		}
	}
	if pa.prep.PrivateUsers {
		return nil, usagef("--private-users is not supported yet")
	}
	return &pa, nil
}

// applyGlobalFlags copies global flags given after the command name
// (which fs parsed into a throwaway) onto g.
func applyGlobalFlags(g *globals, fs *pflag.FlagSet) error {
	saved := *g
	gfs := pflag.NewFlagSet("globals", pflag.ContinueOnError)
	g.addFlags(gfs) // binds gfs to g's fields, resetting them to defaults...
	*g = saved      // ...so restore what was parsed before the command name
	var err error
	changed := false
	fs.Visit(func(f *pflag.Flag) {
		if gfs.Lookup(f.Name) != nil && err == nil {
			err = gfs.Set(f.Name, f.Value.String())
			changed = true
		}
	})
	if err != nil || !changed {
		// Nothing new: the configuration read for the flags before the
		// command name stands.
		return err
	}
	return g.finish()
}

// needRoot refuses commands that mount, lock and exec pods when run
// unprivileged, before they touch anything.
func needRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("cannot run as unprivileged user: pods need mounts, locks and namespaces (run saturn as root)")
	}
	return nil
}

func runRun(g *globals, args []string) error {
	pa, err := parsePodArgs(g, "run", args, true)
	if err != nil {
		return helpOK(err)
	}
	if err := needRoot(); err != nil {
		return err
	}
	st, p, err := preparePod(g, pa)
	if err != nil {
		return err
	}
	// The store's tree locks are close-on-exec: stage1 does not keep them.
	defer st.Close()
	cl := cleaner(g, st)
	if err := p.ToRun(); err != nil {
		discard(g, cl, p, pa)
		return err
	}
	if err := startPod(g, st, p, &pa.rt); err != nil {
		discard(g, cl, p, pa)
		return err
	}
	return nil // not reached: startPod execs stage1
}

func runPrepare(g *globals, args []string) error {
	pa, err := parsePodArgs(g, "prepare", args, false)
	if err != nil {
		return helpOK(err)
	}
	if err := needRoot(); err != nil {
		return err
	}
	st, p, err := preparePod(g, pa)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := p.ToPrepared(); err != nil {
		discard(g, cleaner(g, st), p, pa)
		return err
	}
	fmt.Fprintln(g.Stdout, p.UUID)
	return nil
}

func helpOK(err error) error {
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// preparePod does everything run and prepare share: images into the
// store, pod manifest, trees, then the pod directory laid out. Checks that
// can fail come before the pod directory exists; if a later step fails
// the directory is removed. The returned pod is locked, in prepare/.
func preparePod(g *globals, pa *podArgs) (*store.Store, *pod.Pod, error) {
	st, err := openStore(g)
	if err != nil {
		return nil, nil, err
	}
	p, err := layPod(g, st, pa)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, p, nil
}

// layPod is preparePod with the store open. It holds the store's images
// from before it resolves the first one until the pod is laid out, so
// that image gc cannot remove one in between; the trees stay held by the
// store (RenderTree) until it is closed or stage1 is exec'ed.
func layPod(g *globals, st *store.Store, pa *podArgs) (*pod.Pod, error) {
	start := time.Now()
	hold, err := st.HoldImages()
	if err != nil {
		return nil, err
	}
	defer hold.Release()
	s1, s1m, err := g.stage1Image(st, &pa.stage1)
	if err != nil {
		return nil, err
	}
	if pa.run {
		if err := checkRuntimeStage1(&pa.rt, s1m); err != nil {
			return nil, err
		}
		if err := checkNetworking(g, &pa.rt, s1m, len(pa.prep.Ports) > 0); err != nil {
			return nil, err
		}
	}
	g.debugf("stage1 image %s (%v)", s1, time.Since(start))
	pm, err := podManifest(g, st, pa)
	if err != nil {
		return nil, err
	}
	pod.SetAppLogs(pm, pa.prep.AppLogs, g.cfg.Logs.AppLogs)
	if err := pod.CheckStage1Pod(s1m, pm, idResolvingManifests{st}); err != nil {
		return nil, err
	}
	g.debugf("pod manifest with %d apps (%v)", len(pm.Apps), time.Since(start))
	// NewPlan checks each app against its tree as soon as it is rendered:
	// a pod stage1 would refuse leaves nothing behind.
	plan, err := pod.NewPlan(pm, s1, st)
	var refused *pod.CheckError
	if errors.As(err, &refused) {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	g.debugf("trees rendered (%v)", time.Since(start))
	overlay := !pa.prep.NoOverlay
	if overlay {
		if err := os.MkdirAll(pod.PodsDir(g.Dir), 0o750); err != nil {
			return nil, err
		}
		if err := pod.OverlaySupported(pod.PodsDir(g.Dir)); err != nil {
			fmt.Fprintf(g.Stderr, "saturn: disabling overlay support: %v\n", err)
			overlay = false
		}
	}
	p, err := pod.Create(g.Dir)
	if err != nil {
		return nil, err
	}
	g.debugf("preparing pod %s (overlay: %t)", p.UUID, overlay)
	if pa.prep.UUIDFileSave != "" {
		if err := pod.WriteUUIDFile(pa.prep.UUIDFileSave, p.UUID); err != nil {
			discard(g, cleaner(g, st), p, nil)
			return nil, err
		}
	}
	if err := pod.Lay(p, plan, overlay); err != nil {
		discard(g, cleaner(g, st), p, pa)
		return nil, err
	}
	g.debugf("pod %s laid out (%v)", p.UUID, time.Since(start))
	// RenderTree marked stage1 and the app images used.
	return p, nil
}

// podManifest fetches the images and generates the pod manifest, or
// loads the one given with --pod-manifest.
func podManifest(g *globals, st *store.Store, pa *podArgs) (*schema.PodManifest, error) {
	pa.prep.Grants = imageGrants(g, st, pa.prep.TrustImageIsolators)
	if pa.prep.PodManifest != "" {
		return pod.LoadManifest(pa.prep.PodManifest, idResolvingManifests{st}, pa.prep.Grants)
	}
	f := newImageFetcher(g, st, pa.prep.PullPolicy)
	for _, app := range pa.prep.Apps.Apps {
		id, err := f.fetchSigned(app.Image, app.Signature)
		if err != nil {
			return nil, discoveryError(app.Image, err)
		}
		app.ImageID = id
	}
	return pod.Generate(&pa.prep, st, os.Environ())
}

// idResolvingManifests gives image manifests by full id or unique prefix
// (the short id fetch prints), so that a --pod-manifest may name images
// so; the pod gets the full ids.
type idResolvingManifests struct{ st *store.Store }

func (r idResolvingManifests) Manifest(id string) (*schema.ImageManifest, error) {
	full, err := r.ResolveID(id)
	if err != nil {
		return nil, err
	}
	return r.st.Manifest(full)
}

// ResolveID makes idResolvingManifests a pod.IDResolver.
func (r idResolvingManifests) ResolveID(id string) (string, error) {
	if !strings.HasPrefix(id, "sha512-") {
		return "", fmt.Errorf("image id %q: not a sha512- id", id)
	}
	return r.st.Resolve(id)
}

// discoveryError shortens the failed discovery of an image name that is
// not in the store to one line with the first reason: the full name's
// prefix is the one the user typed, the others are the walk up to the
// host. Other errors pass unchanged.
func discoveryError(ref string, err error) error {
	var de *fetch.DiscoveryError
	if !errors.As(err, &de) || de.Keys {
		return err
	}
	return fmt.Errorf("cannot find image %q: not found in the store, and discovery failed: %s", ref, de.Reason())
}

func cleaner(g *globals, st *store.Store) *pod.Cleaner {
	c := &pod.Cleaner{Debug: g.Debug, Stderr: g.Stderr}
	if st != nil {
		c.Locate = treeLocator(st)
	}
	return c
}

func treeLocator(st *store.Store) pod.TreeLocator {
	return func(treeID string) (string, error) { return st.TreePath(treeID), nil }
}

// discard removes a pod whose preparation failed, with the UUID file
// saved for it.
func discard(g *globals, c *pod.Cleaner, p *pod.Pod, pa *podArgs) {
	if err := c.Discard(p); err != nil {
		fmt.Fprintf(g.Stderr, "saturn: cleaning up pod %s: %v\n", p.UUID, err)
	}
	if pa != nil && pa.prep.UUIDFileSave != "" {
		os.Remove(pa.prep.UUIDFileSave)
	}
}

func runPrepared(g *globals, uuid string, rt *pod.RuntimeOptions) error {
	if err := needRoot(); err != nil {
		return err
	}
	p, err := pod.Load(g.Dir, uuid)
	if err != nil {
		return err
	}
	// Checked while the pod is still prepared: a refusal leaves it there,
	// to be run again with other flags.
	if err := checkRunPrepared(g, p, rt); err != nil {
		return err
	}
	if err := p.LockForRun(); err != nil {
		return err
	}
	st, err := openStore(g)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := startPod(g, st, p, rt); err != nil {
		// The pod stays in run/, unlocked once we exit: an exited pod
		// that gc removes.
		if uerr := pod.UnmountAll(p.Path()); uerr != nil {
			fmt.Fprintf(g.Stderr, "saturn: %v\n", uerr)
		}
		return err
	}
	return nil
}

// startPod mounts the pod's trees, writes stage0's DNS files and execs
// the stage1 run entrypoint: this process becomes the pod, and the pod's
// lock passes to stage1 on RKT_LOCK_FD.
func startPod(g *globals, st *store.Store, p *pod.Pod, rt *pod.RuntimeOptions) error {
	version, err := p.InterfaceVersion()
	if err != nil {
		return err
	}
	entry, ok, err := p.Entrypoint(stage1abi.EntrypointRun)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("stage1 image has no %s entrypoint", stage1abi.EntrypointRun)
	}
	if err := pod.Mount(p, treeLocator(st)); err != nil {
		return err
	}
	if err := writeDNSFiles(p, rt); err != nil {
		return err
	}
	args := stage1RunFlags(g, p.UUID, rt).Args(version)
	g.debugf("exec %s %s", entry, strings.Join(args, " "))
	return execStage1(p, entry, args)
}

// stage1RunFlags are the run entrypoint's arguments for the pod uuid
// (docs/stage1-abi.md); they are rendered for the stage1's interface
// version.
func stage1RunFlags(g *globals, uuid string, rt *pod.RuntimeOptions) *stage1abi.RunFlags {
	resolv, hosts := rt.DNSConfMode()
	return &stage1abi.RunFlags{
		Debug:       g.Debug,
		Net:         strings.Join(rt.Net, ","),
		Interactive: rt.Interactive,
		// stage1 runs in the pod directory: a relative path would not
		// hold.
		LocalConfig:         absPath(g.LocalConfig),
		Hostname:            rt.Hostname,
		DNSConfMode:         stage1abi.DNSConfMode{Resolv: resolv, Hosts: hosts},
		IPC:                 rt.IPC,
		DisableCapabilities: g.Insecure.Capabilities,
		DisablePaths:        g.Insecure.Paths,
		DisableSeccomp:      g.Insecure.Seccomp,
		SystemConfig:        absPath(g.SystemConfig),
		NetOut:              rt.NetOut,
		NetBandwidth:        rt.NetBandwidth,
		UUID:                uuid,
	}
}

// absPath is p made absolute, or p when it cannot be.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// writeDNSFiles writes resolv.conf and hosts into stage1's rootfs when
// --dns… or --hosts-entry ask stage0 to make them.
func writeDNSFiles(p *pod.Pod, rt *pod.RuntimeOptions) error {
	resolv, hosts := rt.DNSConfMode()
	etc := filepath.Join(p.Stage1RootfsPath(), "etc")
	write := func(name, content string) error {
		if err := os.MkdirAll(etc, 0o755); err != nil {
			return err
		}
		path := filepath.Join(etc, name)
		// Replace, never write through, whatever the image has there.
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return os.WriteFile(path, []byte(content), 0o644)
	}
	if resolv == "stage0" {
		if err := write("resolv.conf", rt.ResolvConf()); err != nil {
			return fmt.Errorf("write pod resolv.conf: %w", err)
		}
	}
	if hosts == "stage0" {
		hostname := rt.Hostname
		if hostname == "" {
			hostname = "rkt-" + p.UUID
		}
		if err := write("hosts", rt.Hosts(hostname)); err != nil {
			return fmt.Errorf("write pod hosts: %w", err)
		}
	}
	return nil
}

// execStage1 replaces this process with stage1, in the pod directory,
// with the pod's lock fd left open across exec.
func execStage1(p *pod.Pod, entry string, args []string) error {
	fd, err := p.LockFd()
	if err != nil {
		return err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("keep pod lock across exec: %w", err)
	}
	if err := os.Chdir(p.Path()); err != nil {
		return fmt.Errorf("enter pod directory: %w", err)
	}
	// A stale RKT_LOCK_FD (saturn run inside a pod) would win lookups, as
	// the first of duplicate variables does.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RKT_LOCK_FD=") {
			env = append(env, kv)
		}
	}
	env = append(env, "RKT_LOCK_FD="+strconv.Itoa(fd))
	if err := unix.Exec(entry, append([]string{entry}, args...), env); err != nil {
		return fmt.Errorf("exec stage1 %s: %w", entry, err)
	}
	return nil
}

// checkRunPrepared refuses runtime flags the prepared pod p cannot run
// with.
func checkRunPrepared(g *globals, p *pod.Pod, rt *pod.RuntimeOptions) error {
	if st := p.State(); st != pod.StatePrepared {
		return fmt.Errorf("pod %s is %s, not prepared", p.UUID, st)
	}
	pm, err := p.Manifest()
	if err != nil {
		return err
	}
	if rt.Interactive && len(pm.Apps) > 1 {
		return usagef("--interactive supports only one app")
	}
	s1m, err := p.Stage1Manifest()
	if err != nil {
		return err
	}
	if err := checkRuntimeStage1(rt, s1m); err != nil {
		return err
	}
	return checkNetworking(g, rt, s1m, len(pm.Ports) > 0)
}

// checkRuntimeStage1 refuses the runtime flags the stage1 image s1m says
// it cannot honour.
func checkRuntimeStage1(rt *pod.RuntimeOptions, s1m *schema.ImageManifest) error {
	if err := rt.CheckStage1(s1m); err != nil {
		return err
	}
	return rt.CheckStage1Flags(s1m)
}
