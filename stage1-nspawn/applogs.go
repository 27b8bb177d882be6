package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/journal"
	"github.com/saturn-pods/saturn/stage1abi"
)

// Apps' output in log mode goes to the journal when journald's socket is
// reachable (package journal), else to the pod's stdout and stderr,
// prefixed "<app>[<pid>]: ". stage0 records the choice (--app-logs, or
// logs.d's app-logs) in the pod manifest annotation stage1abi.AnnAppLogs: auto
// (the default, as rkt: the journal when there is one), journal (the
// pod is refused without one) or stdout. The run entrypoint connects to
// journald, in the host's mount namespace, and hands PID 1 the connected
// socket, which goes on reaching journald after PID 1 pivoted away.

const (
	journalFDEnv = "SATURN_JOURNAL_FD"

	logsAuto    = "auto"
	logsJournal = "journal"
	logsStdout  = "stdout"
)

// appLogsMode is what the pod manifest asks for.
func appLogsMode(pm *podManifest) (string, error) {
	for _, a := range pm.Annotations {
		if a.Name != stage1abi.AnnAppLogs {
			continue
		}
		switch a.Value {
		case logsAuto, logsJournal, logsStdout:
			return a.Value, nil
		}
		return "", fmt.Errorf("annotation %s=%q: want auto, journal or stdout", stage1abi.AnnAppLogs, a.Value)
	}
	return logsAuto, nil
}

// planJournal connects to journald when the pod's apps log there, and
// records in the plan the systemd service this process runs in, if any,
// which journal entries name as theirs.
func planJournal(p *podPlan, f *runFlags) error {
	mode, err := appLogsMode(p.manifest)
	if err != nil || mode == logsStdout {
		return err
	}
	c, err := journal.Dial(journal.Socket)
	if err != nil {
		if mode == logsJournal {
			return fmt.Errorf("app logs to the journal (%s=journal): %w", stage1abi.AnnAppLogs, err)
		}
		if f.Debug {
			fmt.Fprintf(os.Stderr, "stage1: app logs go to stdout: %v\n", err)
		}
		return nil
	}
	p.journal = c
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		p.logUnit = serviceOf(string(b))
	}
	return nil
}

// serviceOf returns the systemd service in a /proc/<pid>/cgroup (the
// unified line, or systemd's named v1 hierarchy), "" when none.
func serviceOf(procCgroup string) string {
	if u := unitOf(procCgroup); strings.HasSuffix(u, ".service") {
		return u
	}
	return ""
}

// passJournal hands the journal connection to PID 1 after files, naming
// it in env.
func passJournal(p *podPlan, env []string, files []uintptr) ([]string, []uintptr) {
	if p.journal == nil {
		return env, files
	}
	env = append(env, journalFDEnv+"="+strconv.Itoa(len(files)))
	return env, append(files, uintptr(p.journal.Fd()))
}

// openPodJournal takes the journal connection the run entrypoint passed
// PID 1, if any, keeping it from what PID 1 starts.
func openPodJournal() (*journal.Conn, error) {
	v := os.Getenv(journalFDEnv)
	os.Unsetenv(journalFDEnv)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("bad %s %q", journalFDEnv, v)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("%s: %w", journalFDEnv, err)
	}
	return journal.FromFD(fd), nil
}

// podJournal sends apps' lines to journald.
type podJournal struct {
	conn *journal.Conn
	uuid string
	unit string // the service saturn run runs in, "" if none
	// warn says once that a line could not be sent (journald went
	// away): such lines go to the pod's own streams.
	warn sync.Once
}

// logLine returns where a line the app's process pid writes on stream
// (1 stdout, 2 stderr) goes: the journal, with the app's fields, or the
// pod's own stream, prefixed.
func (s *supervisor) logLine(a *appPlan, pid, stream int) func(string) {
	w, prio := s.stdout, journal.PriInfo
	if stream == 2 {
		w, prio = s.stderr, journal.PriErr
	}
	prefix := fmt.Sprintf("%s[%d]: ", a.name, pid)
	toStream := func(line string) { w.writeLine(prefix, line+"\n") }
	j := s.journal
	if j == nil {
		return toStream
	}
	fields := j.fields(a.name, pid, prio)
	return func(line string) {
		err := j.conn.Send(append(fields[:len(fields):len(fields)], journal.Field{Name: "MESSAGE", Value: line}))
		if err == nil {
			return
		}
		j.warn.Do(func() {
			fmt.Fprintf(os.Stderr, "stage1: warning: app output goes to stdout from now on: %v\n", err)
		})
		toStream(line)
	}
}

// fields are those of every line of app's process pid at priority prio:
// journalctl -t APP finds them, journalctl CONTAINER_NAME=saturn-UUID
// or SATURN_POD_UUID=UUID the pod's, and journalctl -u SERVICE those of
// the unit that ran saturn (OBJECT_SYSTEMD_UNIT, which journalctl
// believes from root).
func (j *podJournal) fields(app string, pid, prio int) []journal.Field {
	f := []journal.Field{
		{Name: "PRIORITY", Value: strconv.Itoa(prio)},
		{Name: "SYSLOG_IDENTIFIER", Value: app},
		{Name: "SYSLOG_PID", Value: strconv.Itoa(pid)},
		{Name: "CONTAINER_NAME", Value: machineName(j.uuid)},
		{Name: "SATURN_POD_UUID", Value: j.uuid},
		{Name: "SATURN_APP", Value: app},
	}
	if j.unit != "" {
		f = append(f, journal.Field{Name: "OBJECT_SYSTEMD_UNIT", Value: j.unit})
	}
	return f
}
