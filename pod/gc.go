package pod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/saturn-pods/saturn/stage1abi"

	"golang.org/x/sys/unix"
)

// embryoGrace is how old an embryo directory must be before gc takes it
// for the leftover of a killed process: creating a pod moves it out of
// embryo/ within microseconds.
const embryoGrace = time.Minute

// Cleaner removes pods: it runs stage1's gc entrypoint, unmounts and
// deletes. Its zero value deletes without stage1 gc output.
type Cleaner struct {
	// Locate finds rendered trees, to remount stage1 for its gc
	// entrypoint when the overlay is gone.
	Locate TreeLocator
	Debug  bool
	Stdout io.Writer
	Stderr io.Writer
}

// GCOptions tune a gc pass.
type GCOptions struct {
	GracePeriod    time.Duration
	ExpirePrepared time.Duration
	MarkOnly       bool
}

// GC does one mark-and-sweep pass over the pods of dataDir, as rkt's gc:
// exited pods move to exited-garbage; failed prepares, expired prepared
// pods and stale embryos move to garbage; exited-garbage pods older than
// the grace period and all garbage are deleted.
func (c *Cleaner) GC(dataDir string, o GCOptions) error {
	pods, err := List(dataDir)
	if err != nil {
		return err
	}
	if len(pods) > 0 {
		if err := makePhaseDirs(PodsDir(dataDir)); err != nil {
			return err
		}
	}
	var errs []error
	now := time.Now()
	for _, p := range pods {
		if err := c.mark(p, now, o); err != nil {
			errs = append(errs, err)
		}
	}
	if o.MarkOnly {
		return errors.Join(errs...)
	}
	if err := removeProbeLeftovers(PodsDir(dataDir), now); err != nil {
		errs = append(errs, err)
	}
	for _, p := range pods {
		if p.phase != dirExitedGarbage && p.phase != dirGarbage {
			continue
		}
		if p.phase == dirExitedGarbage && o.GracePeriod > 0 {
			// Measured now, not at the start: marking just set ctime.
			ct, err := p.changeTime()
			if err != nil {
				continue
			}
			if time.Since(ct) < o.GracePeriod {
				c.logErr("pod %q not removed: still within grace period (%s)\n", p.UUID, o.GracePeriod)
				continue
			}
		}
		if err := p.tryLock(unix.LOCK_EX); err != nil {
			continue // being deleted or inspected by someone else
		}
		c.logf("Garbage collecting pod %q\n", p.UUID)
		if err := c.remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Cleaner) mark(p *Pod, now time.Time, o GCOptions) error {
	var to, what string
	switch p.State() {
	case StateExited:
		to, what = dirExitedGarbage, "pod"
	case StateAbortedPrepare:
		to, what = dirGarbage, "failed prepare of pod"
	case StatePrepared:
		if o.MarkOnly {
			return nil // as rkt, --mark-only only marks what has ended
		}
		ct, err := p.changeTime()
		if err != nil || now.Sub(ct) < o.ExpirePrepared {
			return nil
		}
		to, what = dirGarbage, "expired prepared pod"
	case StateEmbryo:
		if o.MarkOnly {
			return nil
		}
		mt, err := p.modTime()
		if err != nil || now.Sub(mt) < embryoGrace {
			return nil
		}
		to, what = dirGarbage, "abandoned embryo pod"
	default:
		return nil
	}
	if err := p.tryLock(unix.LOCK_EX); err != nil {
		return nil // someone else holds it now: its state moved on
	}
	defer p.Close()
	// On stderr as rkt's: stdout names only the pods gc deletes.
	c.logErr("moving %s %q to garbage\n", what, p.UUID)
	if err := p.rename(to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Remove deletes one pod now, whatever its state but running or being
// prepared (saturn rm).
func (c *Cleaner) Remove(p *Pod) error {
	if err := p.Refresh(); err != nil {
		return err
	}
	switch s := p.State(); s {
	case StateRunning, StatePreparing:
		return fmt.Errorf("pod %s is %s: stop it first", p.UUID, s)
	case StateDeleting, StateExitedDeleting:
		return fmt.Errorf("pod %s is being deleted by another process", p.UUID)
	}
	if err := makePhaseDirs(p.podsDir); err != nil {
		return err
	}
	if err := p.tryLock(unix.LOCK_EX); err != nil {
		return fmt.Errorf("pod %s is busy (another process holds it)", p.UUID)
	}
	switch p.phase {
	case dirRun:
		if err := p.rename(dirExitedGarbage); err != nil {
			p.Close()
			return err
		}
	case dirEmbryo, dirPrepare, dirPrepared:
		if err := p.rename(dirGarbage); err != nil {
			p.Close()
			return err
		}
	}
	return c.remove(p)
}

// Discard deletes a pod whose prepare failed in this process; the caller
// holds its lock.
func (c *Cleaner) Discard(p *Pod) error {
	if p.phase != dirGarbage {
		if err := p.ToGarbage(); err != nil {
			p.Close()
			return err
		}
	}
	return c.remove(p)
}

// remove runs stage1 gc for pods that ran, unmounts everything under the
// pod and deletes it. p's exclusive lock is held and released at the end.
// A failed step does not stop the ones after it, except that nothing is
// deleted while a mount remains: a host volume bind-mounted inside would
// be emptied. Every failure is reported, one line each. A failed stage1
// gc alone, with the pod deleted after all, is only warned about, as rkt
// does: there is nothing left to retry it on.
func (c *Cleaner) remove(p *Pod) error {
	defer p.Close()
	var gcErr error
	if p.phase == dirExitedGarbage {
		if gcErr = c.stage1GC(p); gcErr != nil {
			gcErr = fmt.Errorf("pod %s: stage1 gc: %w", p.UUID, gcErr)
		}
	}
	errs := removeDir(p.UUID, p.Path())
	if errs == nil {
		if gcErr != nil {
			c.logErr("saturn: warning: %v\n", gcErr)
		}
		return nil
	}
	if gcErr != nil {
		errs = multierror.Append(&multierror.Error{ErrorFormat: oneLineEach}, gcErr, errs)
	}
	return errs
}

// removeDir unmounts everything under the pod directory dir and deletes
// it, unless a mount remains. It returns every failure.
func removeDir(uuid, dir string) error {
	errs := &multierror.Error{ErrorFormat: oneLineEach}
	// Each failure of UnmountAll names its mount point, under dir.
	errs = multierror.Append(errs, UnmountAll(dir))
	left, err := MountsUnder(dir)
	switch {
	case err != nil:
		errs = multierror.Append(errs, fmt.Errorf("pod %s: %w, not deleting", uuid, err))
	case len(left) > 0:
		errs = multierror.Append(errs, fmt.Errorf("pod %s: mounts remain under %s (%v), not deleting", uuid, dir, left))
	default:
		if err := os.RemoveAll(dir); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("remove pod %s: %w", uuid, err))
		}
	}
	return errs.ErrorOrNil()
}

// oneLineEach formats collected failures one per line, each already
// naming what it is about, so callers print them as they print one error.
func oneLineEach(errs []error) string {
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// stage1GC runs the pod's stage1 gc entrypoint, remounting stage1's
// overlay first if it is gone.
func (c *Cleaner) stage1GC(p *Pod) error {
	inPod, ok, err := p.Entrypoint(stage1abi.EntrypointGC)
	if err != nil || !ok {
		return err
	}
	// The gc entrypoint may read what stage1 left in its rootfs, so that
	// is mounted again; the binary itself comes from stage1's tree.
	if _, err := os.Stat(inPod); err != nil && p.UsesOverlay() && c.Locate != nil {
		if err := mountStage1(p, c.Locate); err != nil {
			return err
		}
	}
	entry, _, err := p.HostEntrypoint(stage1abi.EntrypointGC, c.Locate)
	if err != nil {
		return err
	}
	args := (&stage1abi.GCFlags{Debug: c.Debug, UUID: p.UUID}).Args()
	return p.RunStage1(entry, args, nil, c.Stdout, c.Stderr)
}

func mountStage1(p *Pod, locate TreeLocator) error {
	dir := p.Path()
	s1, err := stage1abi.ReadValue(filepath.Join(dir, stage1abi.Stage1TreeID))
	if err != nil {
		return err
	}
	return mountOverlay(locate, s1, filepath.Join(dir, stage1abi.Stage1Rootfs),
		filepath.Join(dir, stage1abi.OverlayDir, s1, "upper"), filepath.Join(dir, stage1abi.OverlayDir, s1, "work"))
}

// RunStage1 runs a stage1 entrypoint as a child, in the pod directory, as
// the ABI wants, and waits for it.
func (p *Pod) RunStage1(entry string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.Command(entry, args...)
	cmd.Dir = p.Path()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(entry), err)
	}
	return nil
}

func (c *Cleaner) logf(format string, a ...any) {
	if c.Stdout != nil {
		fmt.Fprintf(c.Stdout, format, a...)
	}
}

func (c *Cleaner) logErr(format string, a ...any) {
	if c.Stderr != nil {
		fmt.Fprintf(c.Stderr, format, a...)
	}
}

// removeProbeLeftovers removes overlay probe directories (and their
// mount) that a process killed while probing left in the pods directory.
func removeProbeLeftovers(podsDir string, now time.Time) error {
	probes, err := filepath.Glob(filepath.Join(podsDir, overlayProbePrefix+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range probes {
		fi, err := os.Stat(dir)
		if err != nil || now.Sub(fi.ModTime()) < embryoGrace {
			continue
		}
		if err := UnmountAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if left, _ := MountsUnder(dir); len(left) == 0 {
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
