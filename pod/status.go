package pod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage1abi"
)

// errNoPid is returned while stage1 has not written its pid yet.
var errNoPid = errors.New("pod has no pid yet")

// pollInterval paces waits for state changes that have no event to wait
// on (stage1 writes plain files).
const pollInterval = 50 * time.Millisecond

// Entrypoint returns the host path of one of the pod's stage1
// entrypoints. ok is false when the stage1 image does not name it.
func (p *Pod) Entrypoint(name string) (path string, ok bool, err error) {
	im, err := p.Stage1Manifest()
	if err != nil {
		return "", false, err
	}
	v, ok := im.Annotations.Get(name)
	if !ok || v == "" {
		return "", false, nil
	}
	return filepath.Join(p.Stage1RootfsPath(), filepath.Clean("/"+v)), true, nil
}

// HostEntrypoint is Entrypoint for an entrypoint stage0 runs on the host
// once the pod may have run (enter, stop, gc): the binary in stage1's
// rendered tree, which the pod cannot write, rather than the one in the
// pod's stage1 rootfs, which an app that escaped its chroot could have
// replaced to have the host run it as root. It falls back to the pod's own
// copy when the tree is unknown or gone, or when the host would not
// resolve the entrypoint's symlinks inside the tree.
func (p *Pod) HostEntrypoint(name string, locate TreeLocator) (string, bool, error) {
	entry, ok, err := p.Entrypoint(name)
	if err != nil || !ok || locate == nil {
		return entry, ok, err
	}
	treeID, err := stage1abi.ReadValue(filepath.Join(p.Path(), stage1abi.Stage1TreeID))
	if err != nil {
		return entry, ok, nil
	}
	tree, err := locate(treeID)
	if err != nil {
		return entry, ok, nil
	}
	rootfs := filepath.Join(tree, stage1abi.RootfsDir)
	rel, err := filepath.Rel(p.Stage1RootfsPath(), entry)
	if err != nil {
		return entry, ok, nil
	}
	safe := filepath.Join(rootfs, rel)
	// The kernel resolves symlinks of the exec'ed path against the host's
	// root; use the tree's copy only when that lands where a resolution
	// confined to the tree does, on a regular file.
	inTree, err := inroot.Resolve(rootfs, "/"+rel)
	if err != nil {
		return entry, ok, nil
	}
	host, err := filepath.EvalSymlinks(safe)
	if err != nil || host != inTree {
		return entry, ok, nil
	}
	if fi, err := os.Stat(host); err != nil || !fi.Mode().IsRegular() {
		return entry, ok, nil
	}
	return safe, true, nil
}

// InterfaceVersion is the pod's stage1 ABI version; versions newer than
// saturn speaks are refused.
func (p *Pod) InterfaceVersion() (int, error) {
	im, err := p.Stage1Manifest()
	if err != nil {
		return 0, err
	}
	return InterfaceVersionOf(im.Annotations.Get(stage1abi.AnnInterfaceVersion))
}

// InterfaceVersionOf parses an interface-version annotation (absent: 1).
func InterfaceVersionOf(v string, present bool) (int, error) {
	if !present {
		return 1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("stage1 has an invalid interface version %q", v)
	}
	if n > stage1abi.MaxInterfaceVersion {
		return 0, fmt.Errorf("stage1 speaks interface version %d; saturn speaks up to %d", n, stage1abi.MaxInterfaceVersion)
	}
	return n, nil
}

// Pid is the host pid of the process stage1 named for enter: the pid
// file's, or the only child of the ppid file's process.
func (p *Pod) Pid() (int, error) {
	pid, err := stage1abi.ReadPid(p.Path())
	if !errors.Is(err, os.ErrNotExist) {
		return pid, err
	}
	ppid, err := stage1abi.ReadPpid(p.Path())
	if errors.Is(err, os.ErrNotExist) {
		return 0, errNoPid
	}
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid))
	if err != nil {
		return 0, fmt.Errorf("pod %s: children of ppid %d: %w", p.UUID, ppid, err)
	}
	kids := strings.Fields(string(b))
	if len(kids) != 1 {
		return 0, fmt.Errorf("pod %s: ppid %d has %d children, want 1", p.UUID, ppid, len(kids))
	}
	return parsePid(kids[0])
}

func parsePid(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid pid %q", clip.String(s))
	}
	return n, nil
}

// SignalRunning sends sig to pid, the pod's process, if the pod still
// runs. The pod may have exited since its state was read, and its pid
// been given to another process: the process is pinned with a pidfd
// first, then signalled through it only if the pod is still running (its
// lock held), which means the pid was still the pod's when pinned.
func (p *Pod) SignalRunning(pid int, sig unix.Signal) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil
	case errors.Is(err, unix.ENOSYS):
		pidfd = -1 // before Linux 5.3: the state check alone narrows the race
	case err != nil:
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	default:
		defer unix.Close(pidfd)
	}
	if err := p.Refresh(); err != nil || !p.Running() {
		return nil
	}
	if pidfd < 0 {
		err = unix.Kill(pid, sig)
	} else {
		err = unix.PidfdSendSignal(pidfd, sig, nil, 0)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// AppExitCode is the exit status stage1 recorded for an app.
func (p *Pod) AppExitCode(app string) (int, error) {
	dir, _ := p.stage1File(stage1abi.StatusFile(app))
	return stage1abi.ReadAppStatus(dir, app)
}

// Ready reports whether stage1 says every app has started.
func (p *Pod) Ready() bool {
	s, err := p.readStage1File(stage1abi.SupervisorStatus)
	return err == nil && s == stage1abi.SupervisorReady
}

// WaitFinished waits until the pod is neither preparing nor running.
func (p *Pod) WaitFinished(ctx context.Context) error {
	for {
		if err := p.Refresh(); err != nil {
			return err
		}
		if s := p.State(); s != StatePreparing && s != StateRunning && s != StateEmbryo {
			return nil
		}
		if err := sleep(ctx); err != nil {
			return fmt.Errorf("pod %s still running: %w", p.UUID, err)
		}
	}
}

// WaitReady waits until the pod runs and stage1 says all apps started.
func (p *Pod) WaitReady(ctx context.Context) error {
	for {
		if err := p.Refresh(); err != nil {
			return err
		}
		switch s := p.State(); s {
		case StateRunning:
			if p.Ready() {
				return nil
			}
		case StateEmbryo, StatePreparing, StatePrepared:
		default:
			return fmt.Errorf("pod %s is %s, it will not become ready", p.UUID, s)
		}
		if err := sleep(ctx); err != nil {
			return fmt.Errorf("pod %s not ready: %w", p.UUID, err)
		}
	}
}

// WaitPid waits for stage1 to write the pod's pid.
func (p *Pod) WaitPid(ctx context.Context) (int, error) {
	for {
		pid, err := p.Pid()
		if err == nil || !errors.Is(err, errNoPid) {
			return pid, err
		}
		if err := sleep(ctx); err != nil {
			return 0, fmt.Errorf("pod %s wrote no pid: %w", p.UUID, err)
		}
	}
}

func sleep(ctx context.Context) error {
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NetInfo is one network of a pod as list and status show it: the
// fields of stage1's record (stage1abi.NetInfo) that rkt's show.
type NetInfo struct {
	NetName string `json:"netName"`
	IfName  string `json:"ifName,omitempty"`
	IP      string `json:"ip,omitempty"`
}

// Networks reads the networks stage1 attached the pod to; none when it
// wrote no net-info.json (host or no networking), or a broken one.
func (p *Pod) Networks() []NetInfo {
	recs, _ := stage1abi.ReadNetInfo(p.Path())
	var nets []NetInfo
	for _, r := range recs {
		nets = append(nets, NetInfo{NetName: r.NetName, IfName: r.IfName, IP: r.IP})
	}
	return nets
}

// FormatNetworks renders networks as rkt's list and status do:
// "default:ip4=172.16.28.7, other:ip4=…".
func FormatNetworks(nets []NetInfo) string {
	var parts []string
	for _, n := range nets {
		parts = append(parts, fmt.Sprintf("%s:ip4=%s", n.NetName, n.IP))
	}
	return strings.Join(parts, ", ")
}
