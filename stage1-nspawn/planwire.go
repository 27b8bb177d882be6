package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/seccomp"
	"github.com/saturn-pods/saturn/stage2/launch"
)

// The run entrypoint hands the pod's PID 1 the plan it has checked, so
// PID 1 neither decodes the manifests again (encoding/json's first use
// costs a process about 0.2 ms) nor repeats the checks and the lookups in
// the app's /etc/passwd. The plan travels in a memfd whose number is in
// planFDEnv: not in PID 1's arguments, which every app of the pod can
// read in /proc/1/cmdline, nor in its environment. The encoding is this
// binary's own (both ends are the same binary): varints and
// length-prefixed strings, a negative length for a nil slice.
const planFDEnv = "SATURN_PLAN_FD"

// planMemfd returns a memfd holding p, positioned at its start.
func planMemfd(p *podPlan) (int, error) {
	return launch.Memfd("saturn-plan", encodePlan(p))
}

// readPlanFD reads and closes the plan the run entrypoint passed.
func readPlanFD() (*podPlan, error) {
	v := os.Getenv(planFDEnv)
	os.Unsetenv(planFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("no plan from the run entrypoint (%s=%q)", planFDEnv, v)
	}
	defer unix.Close(fd)
	b, err := launch.ReadFD(fd)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return decodePlan(b)
}

type planWriter struct{ b []byte }

func (w *planWriter) int(v int)       { w.b = binary.AppendVarint(w.b, int64(v)) }
func (w *planWriter) uint64(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *planWriter) bool(v bool) {
	if v {
		w.int(1)
	} else {
		w.int(0)
	}
}

// count writes the length of a slice, -1 for a nil one.
func (w *planWriter) count(n int, isNil bool) {
	if isNil {
		n = -1
	}
	w.int(n)
}

func (w *planWriter) str(s string) {
	w.int(len(s))
	w.b = append(w.b, s...)
}

func (w *planWriter) strs(ss []string) {
	if ss == nil {
		w.int(-1)
		return
	}
	w.int(len(ss))
	for _, s := range ss {
		w.str(s)
	}
}

// ints writes a slice of any integer type, keeping nil apart from empty.
func writeInts[T ~int | ~uint32](w *planWriter, vs []T) {
	if vs == nil {
		w.int(-1)
		return
	}
	w.int(len(vs))
	for _, v := range vs {
		w.int(int(v))
	}
}

func (w *planWriter) optInt(v *int) {
	w.bool(v != nil)
	if v != nil {
		w.int(*v)
	}
}

func encodePlan(p *podPlan) []byte {
	w := &planWriter{}
	w.int(len(p.apps))
	for _, a := range p.apps {
		w.str(a.name)
		w.str(a.rel)
		w.bool(a.readOnlyRootFS)
		w.str(a.workingDirectory)
		w.count(len(a.eventHandlers), a.eventHandlers == nil)
		for _, eh := range a.eventHandlers {
			w.str(eh.Name)
			w.strs(eh.Exec)
		}
		w.spec(a.spec)
		w.bool(a.nullStdout)
		w.bool(a.nullStderr)
		w.bool(a.notify)
		w.strs(a.stdio)
		w.int(len(a.mounts))
		for _, m := range a.mounts {
			w.mount(m)
		}
		writeInts(w, a.listen)
		w.str(a.listenNames)
	}
	w.str(p.logUnit)
	w.str(p.cgroupPath)
	return w.b
}

func (w *planWriter) spec(s *launch.Spec) {
	w.str(s.Root)
	w.str(s.Dir)
	w.strs(s.Args)
	w.strs(s.Env)
	w.int(int(s.UID))
	w.int(int(s.GID))
	writeInts(w, s.Groups)
	writeInts(w, s.Bounding)
	writeInts(w, s.Ambient)
	w.bool(s.NoNewPrivs)
	w.int(len(s.Rlimits))
	for _, r := range s.Rlimits {
		w.int(r.Resource)
		w.uint64(r.Soft)
		w.uint64(r.Hard)
	}
	w.optInt(s.OOMScoreAdj)
	w.bool(s.Seccomp != nil)
	if s.Seccomp != nil {
		w.int(int(s.Seccomp.Mode))
		w.int(int(s.Seccomp.Errno))
		writeInts(w, s.Seccomp.Syscalls)
	}
}

func (w *planWriter) mount(m mountPlan) {
	w.str(m.volume)
	w.str(m.target)
	w.str(m.kind)
	w.str(m.source)
	w.bool(m.readOnly)
	w.bool(m.recursive)
	w.int(int(m.mode))
	w.int(m.uid)
	w.int(m.gid)
}

var errBadPlan = errors.New("bad plan from the run entrypoint")

type planReader struct {
	b   []byte
	err error
}

func (r *planReader) int() int {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadPlan
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *planReader) uint64() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadPlan
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *planReader) bool() bool { return r.int() == 1 }

// count reads a length, which must fit in what is left to read (every
// element takes at least a byte); -1 stands for nil.
func (r *planReader) count() int {
	n := r.int()
	if n < -1 || n > len(r.b) {
		r.err = errBadPlan
		return 0
	}
	return n
}

func (r *planReader) str() string {
	n := r.count()
	if n < 0 {
		r.err = errBadPlan
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *planReader) strs() []string {
	n := r.count()
	if n < 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

func readInts[T ~int | ~uint32](r *planReader) []T {
	n := r.count()
	if n < 0 {
		return nil
	}
	vs := make([]T, n)
	for i := range vs {
		vs[i] = T(r.int())
	}
	return vs
}

func (r *planReader) optInt() *int {
	if !r.bool() {
		return nil
	}
	v := r.int()
	return &v
}

func decodePlan(b []byte) (*podPlan, error) {
	r := &planReader{b: b}
	p := &podPlan{}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		a := &appPlan{name: r.str(), rel: r.str(), readOnlyRootFS: r.bool(), workingDirectory: r.str()}
		if nh := r.count(); nh >= 0 {
			a.eventHandlers = make([]eventHandler, 0, nh)
			for j := 0; j < nh && r.err == nil; j++ {
				a.eventHandlers = append(a.eventHandlers, eventHandler{Name: r.str(), Exec: r.strs()})
			}
		}
		a.spec = r.spec()
		a.nullStdout, a.nullStderr, a.notify = r.bool(), r.bool(), r.bool()
		a.stdio = r.strs()
		for j, nm := 0, r.count(); j < nm && r.err == nil; j++ {
			a.mounts = append(a.mounts, r.mount())
		}
		a.listen = readInts[int](r)
		a.listenNames = r.str()
		p.apps = append(p.apps, a)
	}
	p.logUnit = r.str()
	p.cgroupPath = r.str()
	if r.err == nil && len(r.b) != 0 {
		r.err = errBadPlan
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

func (r *planReader) spec() *launch.Spec {
	s := &launch.Spec{Root: r.str(), Dir: r.str(), Args: r.strs(), Env: r.strs()}
	s.UID = uint32(r.int())
	s.GID = uint32(r.int())
	s.Groups = readInts[uint32](r)
	s.Bounding = readInts[launch.Cap](r)
	s.Ambient = readInts[launch.Cap](r)
	s.NoNewPrivs = r.bool()
	for i, n := 0, r.count(); i < n && r.err == nil; i++ {
		s.Rlimits = append(s.Rlimits, launch.Rlimit{Resource: r.int(), Soft: r.uint64(), Hard: r.uint64()})
	}
	s.OOMScoreAdj = r.optInt()
	if r.bool() {
		s.Seccomp = &seccomp.Filter{Mode: seccomp.Mode(r.int()), Errno: uint16(r.int()), Syscalls: readInts[uint32](r)}
	}
	return s
}

func (r *planReader) mount() mountPlan {
	m := mountPlan{volume: r.str(), target: r.str(), kind: r.str(), source: r.str()}
	m.readOnly = r.bool()
	m.recursive = r.bool()
	m.mode = uint32(r.int())
	m.uid = r.int()
	m.gid = r.int()
	return m
}
