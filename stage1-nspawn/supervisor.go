package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2/launch"
)

// stopTimeout is how long apps and event handlers get between SIGTERM
// and SIGKILL when the pod stops.
const stopTimeout = 10 * time.Second

// Where the supervisor writes the stage1 ABI files, in the stage1 rootfs
// (which is its root).
const (
	rktDir      = "/" + stage1abi.RktDir
	enterSocket = "/" + stage1abi.EnterSocket
)

// supervisor is PID 1 of the pod once its filesystem is ready. It is the
// only process that waits for children: everything it starts goes
// through spawn, and one reaper collects every exit, including orphans
// re-parented to it.
type supervisor struct {
	flags  *runFlags
	plan   *podPlan
	notify *podNotifier // systemd's readiness relay, nil when not under Type=notify
	tty    *podTTY      // the run entrypoint's terminal fds, nil when none
	// sockets are the sockets passed for socket activation (listen.go),
	// -1 once handed to their app.
	sockets []int
	// journal takes the apps' output when it goes to journald
	// (applogs.go), nil when it goes to the pod's stdout and stderr.
	journal *podJournal

	mu    sync.Mutex
	procs map[int]func(code int) // pid -> what to tell of its exit, for processes it started
	// kick wakes the reaper when a child exists again after wait4 found
	// none.
	kick chan struct{}

	stdout, stderr *lineWriter
	logs           sync.WaitGroup
	pumping        atomic.Int32 // log pumps not yet done

	// What a stop reaches, and its state. Only run's goroutine, which
	// reads the signals, touches them: it waits for the apps and for each
	// event handler in turn, and a stop must reach whichever runs.
	sigs    <-chan os.Signal
	exits   chan appExit  // room for every app's exit
	pending []appExit     // exits read while a handler ran, in order
	ready   chan *appPlan // apps that said READY=1 (see listenAppNotify)
	// notifySockets keeps the apps' notify sockets bound until PID 1
	// exits (see readAppNotify).
	notifySockets []*net.UnixConn
	awaiting      map[*appPlan]bool
	isReady       bool             // supervisor-status says ready
	apps          map[*appPlan]int // main pid of each app running
	handler       int              // pid of the event handler running, 0 if none
	stopping      bool
	requested     unix.Signal      // the signal of a requested stop, if any
	kill          <-chan time.Time // when the stop's SIGKILL is due
}

// lineWriter serializes whole lines from several apps onto one stream.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) writeLine(prefix, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, prefix+line)
}

// appExit reports that an app's main process ended with code.
type appExit struct {
	app  *appPlan
	code int
}

func newSupervisor(f *runFlags, p *podPlan) *supervisor {
	return &supervisor{
		flags:  f,
		plan:   p,
		procs:  map[int]func(int){},
		apps:   map[*appPlan]int{},
		kick:   make(chan struct{}, 1),
		stdout: &lineWriter{w: os.Stdout},
		stderr: &lineWriter{w: os.Stderr},
	}
}

func (s *supervisor) debugf(format string, a ...any) {
	if s.flags.Debug {
		fmt.Fprintf(os.Stderr, "stage1: "+format+"\n", a...)
	}
}

// run starts the apps and supervises them until the pod ends; it returns
// the pod's exit code. sigs carries the SIGTERM, SIGINT, SIGHUP and
// SIGQUIT the pod received, caught since PID 1 started: the kernel drops
// signals PID 1 has no handler for.
func (s *supervisor) run(sigs <-chan os.Signal) int {
	go s.reap()
	s.sigs = sigs
	s.exits = make(chan appExit, len(s.plan.apps))
	s.ready = make(chan *appPlan, len(s.plan.apps))
	s.awaiting = map[*appPlan]bool{}
	res := &podResult{}
	started := 0
	for _, a := range s.plan.apps {
		pid, code, err := s.startApp(a, s.exits)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stage1: app %s: %v\n", a.name, err)
		}
		if pid == 0 {
			res.record(a, code)
			break
		}
		s.apps[a] = pid
		started++
	}
	// The enter socket comes after the apps have started, while they
	// run, rather than before: a pod's start is what users wait for, and
	// enter is only promised once supervisor-status says ready.
	// The listener is left to the process's exit to close: closing it
	// first would only wake its accept goroutine on the way out. The
	// socket file goes, so enter finds no pod that is not there.
	if err := s.listenEnter(); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: enter disabled: %v\n", err)
	} else {
		defer os.Remove(enterSocket)
	}
	if started == len(s.plan.apps) {
		s.markReady()
	}
	s.superviseApps(res)
	s.finish()
	return res.code
}

// podResult is the pod's exit code, as rkt gives it: the first failing
// app's, else the last app's to exit. One thing is done better than rkt:
// an app that ends of the signal a requested stop sent it (SIGTERM or
// SIGINT) has not failed, so a graceful stop of a healthy pod exits 0.
// Its status file still records 128+signal.
type podResult struct {
	failed bool
	code   int
}

func (r *podResult) record(a *appPlan, code int) {
	if r.failed {
		return
	}
	r.code = code
	r.failed = code != 0
}

// superviseApps waits for the started apps until every one has exited.
// An app failing, SIGTERM or SIGINT stops the others (see stop).
func (s *supervisor) superviseApps(res *podResult) {
	if res.failed {
		s.stop(unix.SIGTERM)
	}
	for len(s.apps) > 0 || len(s.pending) > 0 {
		if len(s.pending) > 0 {
			e := s.pending[0]
			s.pending = s.pending[1:]
			s.appExited(e, res)
			continue
		}
		select {
		case e := <-s.exits:
			delete(s.apps, e.app)
			s.appExited(e, res)
		case a := <-s.ready:
			delete(s.awaiting, a)
			s.markReady()
		case sig := <-s.sigs:
			s.onSignal(sig)
		case <-s.kill:
			s.killAll()
		}
	}
}

// markReady says the pod is ready, once: every app has started (which
// run checked before the first call) and every app that speaks sd_notify
// has said READY=1. A pod that began to stop is not made ready.
func (s *supervisor) markReady() {
	if s.isReady || len(s.awaiting) > 0 || s.stopping {
		return
	}
	s.isReady = true
	if err := stage1abi.WriteSupervisorReady("/"); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: %v\n", err)
	}
	s.notify.send(notifyReady)
}

// appExited records the exit of app e.app, no longer in s.apps, and runs
// its post-stop handlers.
func (s *supervisor) appExited(e appExit, res *podResult) {
	s.debugf("app %s exited with %d", e.app.name, e.code)
	if s.awaiting[e.app] {
		// As a Type=notify service that exits before READY=1, which
		// systemd fails: the pod is not ready, and says why.
		fmt.Fprintf(os.Stderr, "stage1: warning: app %s exited before it said READY=1: the pod will not be ready\n", e.app.name)
	}
	// Before the exit status: whoever reads that finds the OOM kills too.
	if err := recordOOMKills(e.app); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: app %s: OOM kills: %v\n", e.app.name, err)
	}
	if err := stage1abi.WriteAppStatus("/", e.app.name, e.code); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: %v\n", err)
	}
	s.runHandlers(e.app, "post-stop")
	if s.endedByStop(e.code) {
		res.record(e.app, 0)
	} else {
		res.record(e.app, e.code)
	}
	if res.failed {
		s.stop(unix.SIGTERM)
	}
}

// onSignal acts on a signal the pod received: SIGHUP and SIGQUIT are
// passed on, SIGTERM and SIGINT stop the pod.
func (s *supervisor) onSignal(sig os.Signal) {
	us := sig.(unix.Signal)
	switch {
	case us == unix.SIGHUP || us == unix.SIGQUIT:
		s.signalAll(us)
		return
	}
	if !s.stopping {
		s.requested = us
		s.notify.send(notifyStopping)
	}
	s.stop(us)
}

// stop begins the pod's stop, once: sig to the apps and to the event
// handler running, SIGKILL to whatever of them still runs stopTimeout
// later. No app starts any more (see startApp).
func (s *supervisor) stop(sig unix.Signal) {
	if s.stopping {
		return
	}
	s.stopping = true
	s.signalAll(sig)
	s.kill = time.After(stopTimeout)
}

// killAll ends the stop's grace period.
func (s *supervisor) killAll() {
	s.kill = nil
	s.signalAll(unix.SIGKILL)
}

// endedByStop reports whether code is that of a process the signal of a
// requested stop ended: no failure (see podResult).
func (s *supervisor) endedByStop(code int) bool {
	return s.requested != 0 && code == 128+int(s.requested)
}

func (s *supervisor) signalAll(sig unix.Signal) {
	for a, pid := range s.apps {
		s.debugf("sending %v to app %s", sig, a.name)
		s.signal(pid, sig)
	}
	if s.handler != 0 {
		s.debugf("sending %v to event handler %d", sig, s.handler)
		s.signal(s.handler, sig)
	}
}

func (s *supervisor) signal(pid int, sig unix.Signal) {
	// Each app and handler leads its own session and process group.
	unix.Kill(-pid, sig)
}

// finish kills whatever apps left behind (PID 1 is spared by kill -1),
// so their log pipes close and every line is written before the pod
// exits.
func (s *supervisor) finish() {
	unix.Kill(-1, unix.SIGKILL)
	if s.pumping.Load() == 0 {
		// The usual end: the apps' pipes closed when they exited and
		// every line is out; no need for a goroutine and a timer.
		return
	}
	done := make(chan struct{})
	go func() {
		s.logs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

// reap collects every exited child, orphans included, for the process's
// whole life. It blocks in wait4 rather than waiting for SIGCHLD, so an
// exit reaches whoever waits for it with one thread woken instead of
// passing through the signal handler, os/signal's goroutine and a reaper
// goroutine. It takes mu after each wait4, like spawn, so a child is
// always registered before its exit is looked up.
func (s *supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.ECHILD {
			<-s.kick
			continue
		}
		if err != nil || pid <= 0 {
			continue
		}
		s.mu.Lock()
		if exited, ok := s.procs[pid]; ok {
			delete(s.procs, pid)
			exited(statusCode(ws))
		}
		s.mu.Unlock()
	}
}

func statusCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// spawn starts the process spec describes with files as its fds 0, 1, 2
// and returns its pid; the reaper calls exited with its exit code, under
// mu, so exited must not block. The app is
// forked straight from this process when launch.Start can apply the
// whole spec, else through the stage2 helper (this binary re-exec'ed),
// which costs one more process start-up.
func (s *supervisor) spawn(spec *launch.Spec, files []uintptr, setsid bool, exited func(code int)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pid int
	var err error
	for _, fd := range spec.Listen {
		// The sockets follow stdio (see launch.Spec.Listen).
		files = append(slices.Clip(files), uintptr(fd))
	}
	if spec.Direct() {
		pid, err = launch.Start(spec, files, setsid)
	} else {
		pid, err = startHelper(spec, files, setsid)
	}
	if err != nil {
		return 0, err
	}
	s.procs[pid] = exited
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return pid, nil
}

func startHelper(spec *launch.Spec, files []uintptr, setsid bool) (int, error) {
	argv, files, specFD, err := helperArgs(spec, files)
	if err != nil {
		return 0, err
	}
	defer unix.Close(specFD)
	sys := &syscall.SysProcAttr{Setsid: setsid, Setctty: setsid && spec.Ctty}
	pid, err := launch.ForkInCgroup(spec, sys, func() (int, error) {
		return syscall.ForkExec("/proc/self/exe", argv, &syscall.ProcAttr{Env: []string{}, Files: files, Sys: sys})
	})
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", spec.Args[0], err)
	}
	return pid, nil
}

// helperArgs returns the stage2 helper's arguments and files for spec:
// the spec goes in a memfd after the process's files, and only its
// number in the arguments, which every app of the pod can read in
// /proc/<pid>/cmdline (see launch.Main). The app's mount namespace comes
// after it: the helper is exec'ed here, in PID 1's namespace, and joins
// the app's itself (an exec from inside it would look the binary up in
// /proc there, which an app may have mounted over). The caller closes
// specFD once the helper is started.
func helperArgs(spec *launch.Spec, files []uintptr) (argv []string, all []uintptr, specFD int, err error) {
	inHelper, ns := spec, []uintptr(nil)
	if spec.MountNS > 0 || len(spec.Listen) > 0 {
		c := *spec
		c.ListenFDs = len(spec.Listen)
		if spec.MountNS > 0 {
			c.MountNS = len(files) + 1
			ns = []uintptr{uintptr(spec.MountNS)}
		}
		inHelper = &c
	}
	specFD, err = inHelper.Memfd()
	if err != nil {
		return nil, nil, -1, err
	}
	all = append(append(slices.Clip(files), uintptr(specFD)), ns...)
	return []string{stage2Name, strconv.Itoa(len(files))}, all, specFD, nil
}

// spawnApp starts the app a, on a terminal of its own with
// --interactive (spawnInteractive), with the streams its tty and stream
// modes ask for (spawnAttachable), else as spawnLogged does.
func (s *supervisor) spawnApp(a *appPlan, spec *launch.Spec, exited func(code int)) (int, error) {
	switch {
	case s.flags.Interactive:
		return s.spawnInteractive(a, spec, exited)
	case a.attachable():
		return s.spawnAttachable(a, spec, exited)
	}
	return s.spawnLogged(a, spec, exited)
}

// spawnLogged starts one process of app a, its output prefixed with
// "<app>[<pid>]: " line by line. A stream in null mode goes to
// /dev/null, and so does stdin.
func (s *supervisor) spawnLogged(a *appPlan, spec *launch.Spec, exited func(code int)) (int, error) {
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	var readers []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	fds := []uintptr{null.Fd()}
	var writers []*os.File
	for _, isNull := range []bool{a.nullStdout, a.nullStderr} {
		if isNull {
			fds = append(fds, null.Fd())
			readers = append(readers, nil)
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(writers)
			return 0, err
		}
		fds = append(fds, w.Fd())
		readers, writers = append(readers, r), append(writers, w)
	}
	pid, err := s.spawn(spec, fds, true, exited)
	closeAll(writers)
	if err != nil {
		closeAll(readers)
		return 0, err
	}
	for i, r := range readers {
		if r == nil {
			continue
		}
		s.logs.Add(1)
		s.pumping.Add(1)
		go s.pump(r, s.logLine(a, pid, i+1))
	}
	return pid, nil
}

// startCopy copies r to w as it comes, as long as a writer holds r's
// other end, then closes r; finish waits for it as for the pumps.
func (s *supervisor) startCopy(r *os.File, w io.Writer) {
	s.logs.Add(1)
	s.pumping.Add(1)
	go func() {
		defer s.logs.Done()
		defer s.pumping.Add(-1)
		defer r.Close()
		io.Copy(w, r)
	}()
}

// pump passes what is written to r on to out line by line, each line
// without its newline.
func (s *supervisor) pump(r *os.File, out func(line string)) {
	defer s.logs.Done()
	defer s.pumping.Add(-1)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			out(strings.TrimSuffix(line, "\n"))
		}
		if err != nil {
			return
		}
	}
}

// startApp writes the app's env file, runs its pre-start handlers and
// starts it. When it starts nothing it returns pid 0 and the code to
// record for the app: the code it fails the pod with, with an error, or
// none when the pod began to stop while the handlers ran.
func (s *supervisor) startApp(a *appPlan, exits chan<- appExit) (int, int, error) {
	if err := a.waitNS(); err != nil {
		return 0, exitStage1, err
	}
	if err := stage1abi.WriteEnv("/", a.name, a.spec.Env); err != nil {
		return 0, exitStage1, err
	}
	if code := s.runHandlers(a, "pre-start"); code != 0 && !s.endedByStop(code) {
		return 0, code, fmt.Errorf("pre-start handler failed with %d", code)
	}
	if s.stopping {
		return 0, 0, nil
	}
	spec := a.spec
	if a.notify {
		addr, err := s.listenAppNotify(a)
		if err != nil {
			return 0, exitStage1, err
		}
		// The app's own environment only: not its handlers' nor
		// what enter runs (rkt/env).
		withSocket := *a.spec
		withSocket.Env = append(slices.Clip(a.spec.Env), "NOTIFY_SOCKET="+addr)
		spec = &withSocket
		s.awaiting[a] = true
	}
	spec, err := withSockets(spec, a, s.sockets)
	if err != nil {
		return 0, exitStage1, err
	}
	// exits has room for every app, and each app exits once.
	pid, err := s.spawnApp(a, spec, func(code int) { exits <- appExit{app: a, code: code} })
	closeSockets(a, s.sockets)
	if err != nil {
		return 0, exitStage1, err
	}
	s.debugf("app %s started as pid %d", a.name, pid)
	return pid, 0, nil
}

// runHandlers runs the app's event handlers called name in order and
// returns the first non-zero exit code.
func (s *supervisor) runHandlers(a *appPlan, name string) int {
	for _, eh := range a.eventHandlers {
		if eh.Name != name {
			continue
		}
		spec := *a.spec
		spec.Args = eh.Exec
		ch := make(chan int, 1)
		// Handlers log, also in an --interactive pod: the terminal
		// is the app's.
		pid, err := s.spawnLogged(a, &spec, func(code int) { ch <- code })
		if err != nil {
			fmt.Fprintf(os.Stderr, "stage1: app %s: %s: %v\n", a.name, name, err)
			return exitStage1
		}
		if code := s.waitHandler(pid, ch); code != 0 {
			if !s.endedByStop(code) {
				fmt.Fprintf(os.Stderr, "stage1: app %s: %s handler exited with %d\n", a.name, name, code)
			}
			return code
		}
	}
	return 0
}

// waitHandler waits for the event handler pid to exit and returns its
// code from exited. It reads the pod's signals meanwhile, as
// superviseApps does, so a stop reaches the handler as it reaches the
// apps. A handler that starts while the pod stops (a post-stop handler)
// is not sent the stop's signal: it is the clean-up the stop leads to.
// It is killed with the rest at the end of the grace period, or, when
// that is over, gets a grace period of its own: no handler can hold the
// pod up for ever.
func (s *supervisor) waitHandler(pid int, exited <-chan int) int {
	s.handler = pid
	defer func() { s.handler = 0 }()
	if s.stopping && s.kill == nil {
		s.kill = time.After(stopTimeout)
	}
	for {
		select {
		case code := <-exited:
			return code
		case e := <-s.exits:
			// Out of s.apps at once, so that no signal goes to its
			// freed pid; handled after the handler, in order.
			delete(s.apps, e.app)
			s.pending = append(s.pending, e)
		case sig := <-s.sigs:
			s.onSignal(sig)
		case <-s.kill:
			s.killAll()
		}
	}
}
