package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
)

// A rendered tree is verified before every use. Rehashing its content
// each time (what rkt did) costs tens of milliseconds per pod start, so
// after a full verification the store records every entry's lstat
// identity (inode, device, mode, owner, size, mtime and ctime) in
// treeStatFile, the way git's index does, and later checks compare stats
// instead of reading content. This is as safe as rehashing against any
// change made through the kernel: writing, truncating, chmod, chown,
// renaming over, linking and even restoring an old mtime with utimes(2)
// all set the inode's ctime to the current time, and userspace cannot
// set ctime. Any difference, a missing or racy record, a record of
// another hash, of an earlier boot (bootIDFile) or more than a day old
// (see maxRecordAge: what no system call did, like rotting blocks, shows
// only in content) sends the check back to the full content hash, which
// then records fresh stats.
// Like the hash file, the record lives in the tree store, so whoever
// could forge it could forge the hash as well.
const treeStatFile = "stat"

// defaultRacyWindow is how long before a record was taken an entry's
// ctime must lie for the record to vouch for it. Timestamps come from a
// clock that ticks in steps (at most 10ms), so a change made in the same
// tick as the recorded stat may leave ctime unchanged; git calls such
// entries "racily clean". A tree rendered a moment ago is racy as a
// whole and is rehashed until it has aged past the window.
const defaultRacyWindow = 100 * time.Millisecond

// coarseRacyWindow replaces the window when no ctime in a record has a
// sub-second part: the file system keeps whole seconds (or two, as FAT
// does), and only a change two seconds later is sure to show.
const coarseRacyWindow = 2 * time.Second

// maxRecordAge bounds how long a record vouches for a tree: stats cannot
// show what no system call did (a disk returning rotten blocks, an
// offline edit of the file system), so once a day a tree's content is
// hashed again, as rkt did on every run.
const maxRecordAge = 24 * time.Hour

// A record holds only within the boot it was taken in. A crash can leave
// a block overwritten in place on disk while the journal never got the
// inode's new ctime; after the reboot every tree is hashed again before
// its first use.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

func bootID() (string, error) {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("%s: unexpected %q", bootIDFile, b)
	}
	return id, nil
}

// statIdent is what lstat says of one tree entry.
type statIdent struct {
	ino, dev     uint64
	mode         uint32
	uid, gid     uint32
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
	rel          string
}

func identOfUnix(rel string, st *unix.Stat_t) statIdent {
	return statIdent{
		ino: st.Ino, dev: st.Dev, mode: st.Mode, uid: st.Uid, gid: st.Gid,
		size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), rel: rel,
	}
}

func identOf(rel string, st *syscall.Stat_t) statIdent {
	return statIdent{
		ino: st.Ino, dev: uint64(st.Dev), mode: st.Mode, uid: st.Uid, gid: st.Gid,
		size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), rel: rel,
	}
}

func (a statIdent) same(b statIdent) bool {
	return a.ino == b.ino && a.dev == b.dev && a.mode == b.mode && a.uid == b.uid &&
		a.gid == b.gid && a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime && a.rel == b.rel
}

// walkTreeStats lstats every entry of a tree's manifest and rootfs in the
// order treeHash visits them, reading no content.
func walkTreeStats(dir string, fn func(rel string, fi fs.FileInfo, st *syscall.Stat_t) error) error {
	dir = filepath.Clean(dir)
	skip := len(dir) + 1
	if strings.HasSuffix(dir, "/") {
		skip = len(dir)
	}
	for _, top := range []string{"manifest", "rootfs"} {
		err := filepath.WalkDir(filepath.Join(dir, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(path)
			if err != nil {
				return err
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return fmt.Errorf("%s: no stat data", path)
			}
			return fn(path[skip:], fi, st)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeTreeStats records idents, taken in boot at time taken before the
// content hashed to sum was read, beside the tree in dir. The record only
// saves work, so the caller may ignore a failure to write it.
func writeTreeStats(dir, sum, boot string, taken time.Time, idents []statIdent) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "saturn-tree-stat 2 %d %s %s\n", taken.UnixNano(), boot, sum)
	for _, id := range idents {
		fmt.Fprintf(&b, "%d %d %o %d %d %d %d %d %s\n", id.ino, id.dev, id.mode, id.uid, id.gid,
			id.size, id.mtime, id.ctime, strconv.Quote(id.rel))
	}
	// No fsync: a record lost in a crash only costs one full hash.
	return atomicfile.Write(filepath.Join(dir, treeStatFile), b.Bytes(), 0o644)
}

// errStatsDiffer says the quick check cannot vouch for a tree; it is not
// damage, only a reason to hash the content.
var errStatsDiffer = errors.New("tree stats differ from the record")

// readTreeStats reads the record in dir and returns the entries it holds
// and the tree hash it was taken for. A record holding an entry changed
// less than window before the record was taken is refused as a whole, and
// so is a record taken in another boot than boot, or more than
// maxRecordAge before now (or after now: a clock set back).
func readTreeStats(dir string, window time.Duration, now time.Time, boot string) (sum string, idents []statIdent, err error) {
	data, err := os.ReadFile(filepath.Join(dir, treeStatFile))
	if err != nil {
		return "", nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return "", nil, errStatsDiffer
	}
	var taken int64
	var recBoot string
	if _, err := fmt.Sscanf(sc.Text(), "saturn-tree-stat 2 %d %s %s", &taken, &recBoot, &sum); err != nil || recBoot != boot {
		return "", nil, errStatsDiffer
	}
	if age := now.Sub(time.Unix(0, taken)); age < 0 || age > maxRecordAge {
		return "", nil, errStatsDiffer
	}
	var newest int64
	fine := false
	for sc.Scan() {
		id, err := parseStatLine(sc.Text())
		if err != nil {
			return "", nil, err
		}
		newest = max(newest, id.ctime)
		fine = fine || id.ctime%int64(time.Second) != 0
		idents = append(idents, id)
	}
	if err := sc.Err(); err != nil {
		return "", nil, err
	}
	if !fine {
		window = max(window, coarseRacyWindow)
	}
	if newest >= taken-window.Nanoseconds() {
		return "", nil, errStatsDiffer
	}
	return sum, idents, nil
}

func parseStatLine(line string) (statIdent, error) {
	f := strings.SplitN(line, " ", 9)
	if len(f) != 9 {
		return statIdent{}, errStatsDiffer
	}
	var n [8]int64
	for i := range 8 {
		base := 10
		if i == 2 {
			base = 8
		}
		v, err := strconv.ParseInt(f[i], base, 64)
		if err != nil {
			return statIdent{}, errStatsDiffer
		}
		n[i] = v
	}
	rel, err := strconv.Unquote(f[8])
	if err != nil {
		return statIdent{}, errStatsDiffer
	}
	return statIdent{
		ino: uint64(n[0]), dev: uint64(n[1]), mode: uint32(n[2]), uid: uint32(n[3]), gid: uint32(n[4]),
		size: n[5], mtime: n[6], ctime: n[7], rel: rel,
	}, nil
}

// statsMatch reports whether the tree in dir, whose recorded hash is
// want, still has exactly the entries and stats recorded after its last
// full verification (see readTreeStats for window).
//
// It lstats the recorded entries by name and reads no directory: a
// directory whose own stats (mtime and ctime) are unchanged still holds
// exactly the names it held, since creating, removing or renaming an
// entry sets both. A name whose path now runs through something else
// (a directory swapped for a symlink) fails on that directory's own
// record. This needs a file system that keeps directory times exactly,
// as local ones do; a network file system caching attributes would
// weaken it, as it would the file stats this check rests on anyway (the
// data directory is meant to be local).
//
// The lstats are spread over a few goroutines: they are independent, and
// a busybox-like tree has hundreds.
func statsMatch(dir, want string, window time.Duration) bool {
	boot, err := bootID()
	if err != nil {
		return false
	}
	sum, rec, err := readTreeStats(dir, window, time.Now(), boot)
	if err != nil || sum != want || !coversTree(rec) {
		return false
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	parts := statWorkers(len(rec))
	ok := make([]bool, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[p] = statsMatchAt(fd, rec[p*len(rec)/parts:(p+1)*len(rec)/parts])
		}()
	}
	wg.Wait()
	for _, o := range ok {
		if !o {
			return false
		}
	}
	return true
}

// coversTree reports whether a record holds the two roots of a tree,
// manifest and rootfs, first and in the order a walk visits them, so
// that every entry of the tree is under a recorded directory.
func coversTree(rec []statIdent) bool {
	if len(rec) < 2 || rec[0].rel != "manifest" || rec[1].rel != "rootfs" {
		return false
	}
	for _, r := range rec[2:] {
		if !strings.HasPrefix(r.rel, "rootfs/") || strings.Contains(r.rel, "/../") || strings.HasSuffix(r.rel, "/..") {
			return false
		}
	}
	return true
}

// statWorkers is how many goroutines check n entries: one for a small
// tree, where starting more costs more than it saves.
func statWorkers(n int) int {
	if n < 128 {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), 4)
}

func statsMatchAt(dirfd int, rec []statIdent) bool {
	var st unix.Stat_t
	for _, r := range rec {
		if err := unix.Fstatat(dirfd, r.rel, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || !r.same(identOfUnix(r.rel, &st)) {
			return false
		}
	}
	return true
}
