// Package pod manages pod directories through their lifecycle, as rkt's
// Documentation/devel/pod-lifecycle.md describes: a pod's state is the
// directory it sits in under <dir>/pods plus whether that directory is
// flock'ed, and every state change is a rename(2).
//
// It also turns a run/prepare command line into a pod manifest, renders
// stage1 and the apps' root file systems into the pod directory, and reads
// what stage1 writes back (pid, exit statuses, readiness).
package pod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
)

// Directories of the lifecycle phases under <dir>/pods.
const (
	dirEmbryo        = "embryo"
	dirPrepare       = "prepare"
	dirPrepared      = "prepared"
	dirRun           = "run"
	dirExitedGarbage = "exited-garbage"
	dirGarbage       = "garbage"
)

// phaseDirs lists every phase directory in lifecycle order.
var phaseDirs = []string{dirEmbryo, dirPrepare, dirPrepared, dirRun, dirExitedGarbage, dirGarbage}

// States as list and status print them (rkt's words).
const (
	StateEmbryo         = "embryo"
	StatePreparing      = "preparing"
	StateAbortedPrepare = "aborted prepare"
	StatePrepared       = "prepared"
	StateRunning        = "running"
	StateDeleting       = "deleting"
	StateExitedDeleting = "exited deleting"
	StateExited         = "exited"
	StateExitedGarbage  = "exited garbage"
	StateGarbage        = "garbage"
)

// Pod is a handle on one pod directory. Its state is a sample taken when
// the handle was made or last refreshed; pods change state on their own, so
// callers act on it knowing it may already be stale.
type Pod struct {
	// UUID is the pod's full UUID.
	UUID string

	podsDir string
	phase   string // which phase directory the pod was found in
	// lockedByOther is true when another open file holds the directory's
	// exclusive lock (a process preparing, running or deleting the pod).
	lockedByOther bool
	// lock is our own open, locked descriptor of the directory, if any.
	lock *os.File
}

// PodsDir is where pods live under saturn's data directory, as an
// absolute path: stage0 chdirs into pods before exec'ing stage1.
func PodsDir(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	return filepath.Join(dataDir, "pods")
}

// Path is the pod's directory as of the last sample.
func (p *Pod) Path() string { return filepath.Join(p.podsDir, p.phase, p.UUID) }

// Close releases the pod's lock, if this handle holds one.
func (p *Pod) Close() error {
	if p.lock == nil {
		return nil
	}
	err := p.lock.Close()
	p.lock = nil
	return err
}

// Create makes a new pod: an embryo directory that is locked and renamed
// into prepare/. The returned handle holds the exclusive lock; the caller
// renders the pod and then calls ToRun or ToPrepared.
func Create(dataDir string) (*Pod, error) {
	podsDir := PodsDir(dataDir)
	if err := makePhaseDirs(podsDir); err != nil {
		return nil, err
	}
	uuid, err := NewUUID()
	if err != nil {
		return nil, err
	}
	p := &Pod{UUID: uuid, podsDir: podsDir, phase: dirEmbryo}
	if err := os.Mkdir(p.Path(), 0o750); err != nil {
		return nil, fmt.Errorf("create pod %s: %w", uuid, err)
	}
	f, err := openDir(p.Path())
	if err != nil {
		os.Remove(p.Path())
		return nil, fmt.Errorf("create pod %s: %w", uuid, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		os.Remove(p.Path())
		return nil, fmt.Errorf("lock pod %s: %w", uuid, err)
	}
	p.lock = f
	if err := p.rename(dirPrepare); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// makePhaseDirs creates the phase directories, so that a rename into
// one fails only when the pod itself has gone.
func makePhaseDirs(podsDir string) error {
	for _, d := range phaseDirs {
		if err := os.MkdirAll(filepath.Join(podsDir, d), 0o750); err != nil {
			return fmt.Errorf("create pods directory: %w", err)
		}
	}
	return nil
}

// ToPrepared ends a successful prepare: the pod moves to prepared/ and
// its lock is released, as rkt leaves prepared pods unlocked. Its files
// were written without fsync (atomicfile.Write, writeNewPodFile): one
// syncfs makes all of them durable before the rename, so a pod found in prepared/ after a
// crash is complete.
func (p *Pod) ToPrepared() error {
	if err := syncFS(p.lock); err != nil {
		return fmt.Errorf("sync pod %s: %w", p.UUID, err)
	}
	if err := p.rename(dirPrepared); err != nil {
		return err
	}
	return p.Close()
}

// ToRun moves a pod this handle is preparing straight to run/, keeping
// the lock that stage1 will inherit.
func (p *Pod) ToRun() error { return p.rename(dirRun) }

// ToGarbage moves a pod whose prepare failed to garbage/, keeping the
// lock so the caller can delete it at once.
func (p *Pod) ToGarbage() error { return p.rename(dirGarbage) }

// LockForRun takes a prepared pod: it locks the directory exclusively and
// renames it to run/. Of two racing run-prepared only one wins.
func (p *Pod) LockForRun() error {
	if p.phase != dirPrepared {
		return fmt.Errorf("pod %s is %s, not prepared", p.UUID, p.State())
	}
	if err := p.tryLock(unix.LOCK_EX); err != nil {
		return fmt.Errorf("pod %s is being run by another process", p.UUID)
	}
	if err := p.rename(dirRun); err != nil {
		p.Close()
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pod %s is no longer prepared (another process took it)", p.UUID)
		}
		return err
	}
	return nil
}

// LockFd is the descriptor holding this handle's lock, for RKT_LOCK_FD.
func (p *Pod) LockFd() (int, error) {
	if p.lock == nil {
		return -1, fmt.Errorf("pod %s: lock not held", p.UUID)
	}
	return int(p.lock.Fd()), nil
}

// tryLock takes a non-blocking flock of kind how on the pod directory and
// keeps it in p.lock.
func (p *Pod) tryLock(how int) error {
	f, err := openDir(p.Path())
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return err
	}
	p.lock = f
	return nil
}

func (p *Pod) rename(phase string) error {
	to := filepath.Join(p.podsDir, phase, p.UUID)
	if err := os.Rename(p.Path(), to); err != nil {
		return fmt.Errorf("move pod %s to %s: %w", p.UUID, phase, err)
	}
	p.phase = phase
	return nil
}

// syncFS flushes the file system holding the open file f.
func syncFS(f *os.File) error {
	if f == nil {
		return errors.New("lock not held")
	}
	return unix.Syncfs(int(f.Fd()))
}

// openDir opens a directory for flock. Go opens files close-on-exec; the
// run path clears that flag on purpose just before exec'ing stage1.
func openDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

// State is the pod's state in rkt's words, from its phase directory and
// whether another process holds its lock.
func (p *Pod) State() string {
	locked := p.lockedByOther || p.lock != nil
	switch p.phase {
	case dirEmbryo:
		return StateEmbryo
	case dirPrepare:
		if locked {
			return StatePreparing
		}
		return StateAbortedPrepare
	case dirPrepared:
		return StatePrepared
	case dirRun:
		if locked {
			return StateRunning
		}
		return StateExited
	case dirExitedGarbage:
		if locked {
			return StateExitedDeleting
		}
		return StateExitedGarbage
	default:
		if locked {
			return StateDeleting
		}
		return StateGarbage
	}
}

// Running reports whether the pod was running when sampled.
func (p *Pod) Running() bool { return p.State() == StateRunning }

// AfterRun reports whether the pod has been run (it may have exited).
func (p *Pod) AfterRun() bool {
	return p.phase == dirRun || p.phase == dirExitedGarbage
}

// Exited reports whether the pod ran and is no longer running.
func (p *Pod) Exited() bool {
	s := p.State()
	return s == StateExited || s == StateExitedGarbage || s == StateExitedDeleting
}

// Refresh finds the pod again (it may have moved) and resamples its lock.
func (p *Pod) Refresh() error {
	if p.lock != nil {
		return nil // we hold it: nobody else can move it
	}
	for _, d := range phaseDirs {
		if _, err := os.Lstat(filepath.Join(p.podsDir, d, p.UUID)); err == nil {
			p.phase = d
			p.sampleLock()
			return nil
		}
	}
	// As Load says it: the pod was removed since it was found.
	return fmt.Errorf("no pod found with UUID %q", p.UUID)
}

// sampleLock tries a shared lock to learn whether another process holds
// the exclusive one; the probe lock is dropped at once.
func (p *Pod) sampleLock() {
	p.lockedByOther = false
	if p.phase == dirEmbryo || p.phase == dirPrepared {
		return // locks have no meaning there
	}
	f, err := openDir(p.Path())
	if err != nil {
		return
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		p.lockedByOther = errors.Is(err, unix.EWOULDBLOCK)
	}
}

// List returns every pod under dataDir, in all phases, sorted by UUID.
func List(dataDir string) ([]*Pod, error) {
	podsDir := PodsDir(dataDir)
	var pods []*Pod
	// A pod renamed while we read may show up in two phases: the later
	// phase, read later, wins.
	index := map[string]int{}
	for _, d := range phaseDirs {
		ents, err := os.ReadDir(filepath.Join(podsDir, d))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		for _, e := range ents {
			if !ValidUUID(e.Name()) {
				continue
			}
			p := &Pod{UUID: e.Name(), podsDir: podsDir, phase: d}
			p.sampleLock()
			if i, ok := index[p.UUID]; ok {
				pods[i] = p
				continue
			}
			index[p.UUID] = len(pods)
			pods = append(pods, p)
		}
	}
	sort.SliceStable(pods, func(i, j int) bool { return pods[i].UUID < pods[j].UUID })
	return pods, nil
}

// Load finds the pod whose UUID is uuid or starts with it. A prefix that
// matches several pods is an error naming them.
func Load(dataDir, uuid string) (*Pod, error) {
	uuid = strings.ToLower(strings.TrimSpace(uuid))
	if !validPrefix(uuid) {
		return nil, fmt.Errorf("invalid UUID %q: want a pod UUID or a prefix of one", uuid)
	}
	pods, err := List(dataDir)
	if err != nil {
		return nil, err
	}
	var found []*Pod
	for _, p := range pods {
		if strings.HasPrefix(p.UUID, uuid) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		// rkt's words, then saturn's.
		return nil, fmt.Errorf("no matches found for %q (no pod found with that UUID or prefix)", uuid)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, p := range found {
		names = append(names, p.UUID)
	}
	return nil, fmt.Errorf("ambiguous uuid, %d matches: prefix %q matches pods %s", len(found), uuid, strings.Join(names, ", "))
}

// ReadUUIDFile reads a pod UUID saved by --uuid-file-save.
func ReadUUIDFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read UUID file: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if !ValidUUID(u) {
		return "", fmt.Errorf("UUID file %s does not hold a pod UUID", path)
	}
	return u, nil
}

// WriteUUIDFile saves uuid to path atomically (--uuid-file-save).
func WriteUUIDFile(path, uuid string) error {
	return atomicfile.WriteSync(path, []byte(uuid), 0o644)
}

// changeTime is the directory's ctime: a rename updates it, which is how
// gc measures the grace period from the moment a pod was marked.
func (p *Pod) changeTime() (time.Time, error) {
	var st unix.Stat_t
	if err := unix.Stat(p.Path(), &st); err != nil {
		return time.Time{}, fmt.Errorf("stat pod %s: %w", p.UUID, err)
	}
	return time.Unix(st.Ctim.Unix()), nil
}

// modTime is the directory's mtime.
func (p *Pod) modTime() (time.Time, error) {
	fi, err := os.Stat(p.Path())
	if err != nil {
		return time.Time{}, fmt.Errorf("stat pod %s: %w", p.UUID, err)
	}
	return fi.ModTime(), nil
}

// writeNewPodFile creates a small file of a pod being prepared in one
// write, without the temp file and rename of atomicfile.Write: only the pod's
// own preparing process and stage1 read these files, never while they are
// being written. It refuses to replace an existing file.
func writeNewPodFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if len(data) > 0 {
		_, err = f.Write(data)
	}
	if err == nil {
		// The umask must not narrow what stage1 and the pod commands read.
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
