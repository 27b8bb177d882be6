// Command pair times commands side by side for tests/bench: paired,
// alternating rounds (each round runs every command once, in an order
// that rotates from round to round, so a neighbour's load and the
// machine's drift hit all of them alike), medians over the rounds, and
// for each goal the median of the per-round ratios with its spread.
//
//	pair [flags] NAME=CMD [NAME=CMD...]
//
// CMD is split on blanks and run without a shell; "{seq}" in it becomes a
// number no other run of this pair had, for names that must differ
// between concurrent runs (a container's). Per run it records the
// wall time, the CPU time (user plus system, from wait4's rusage, which
// includes every descendant the command waited for) and the page faults.
// With -loops K, a round instead gives each command K concurrent loops
// for -duration and counts the runs they complete per second.
//
// A goal is "LABEL|A/B|METRIC|OP|X": the ratio of A's METRIC (wall, cpu,
// faults or rate) to B's, OP "<=" or ">=", X the bound, e.g.
// "run /bin/true|saturn/crun|wall|<=|0.9"; "LABEL|A/B|METRIC" prints the
// ratio with no goal. Every goal prints one line:
//
//	goal run /bin/true: wall saturn/crun 0.84x (IQR 0.80-0.88, 30 rounds; saturn 9.1ms crun 10.8ms) goal <= 0.9x: met
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type command struct {
	name    string
	argv    []string
	prepare [][]string // untimed, before each timed run
	every   []periodic // timed, inside loops (throughput mode)
}

// periodic is a command a loop runs after every n runs of its command,
// inside the clock: the garbage collection a runtime's loop must do.
type periodic struct {
	n    int
	argv []string
}

// sample is one round's measure of one command.
type sample struct {
	wall, cpu time.Duration
	faults    int64
	rate      float64 // runs per second, throughput mode
}

type goal struct {
	label, a, b, metric, op string // op "" when there is no bound
	bound                   float64
}

// seq numbers the runs for "{seq}".
var seq atomic.Int64

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pair:", err)
		os.Exit(1)
	}
}

func run() error {
	var prepares, everys, goals listFlag
	rounds := flag.Int("runs", 30, "rounds")
	warmup := flag.Int("warmup", 3, "untimed rounds first")
	loops := flag.Int("loops", 0, "concurrent loops per command (throughput mode)")
	duration := flag.Duration("duration", 5*time.Second, "length of a throughput round")
	quiet := flag.Bool("q", false, "print only the goal lines")
	flag.Var(&prepares, "prepare", "NAME=CMD run untimed before each timed run of NAME")
	flag.Var(&everys, "every", "NAME:N=CMD run by each loop of NAME after every N runs, timed")
	flag.Var(&goals, "goal", "LABEL|A/B|METRIC|OP|X")
	flag.Parse()
	cmds, err := parseCommands(flag.Args(), prepares, everys)
	if err != nil {
		return err
	}
	gs, err := parseGoals(goals, cmds)
	if err != nil {
		return err
	}
	samples := map[string][]sample{}
	for r := -*warmup; r < *rounds; r++ {
		for i := range cmds {
			c := cmds[(i+max(r, 0))%len(cmds)]
			var s sample
			if *loops > 0 {
				s, err = throughput(c, *loops, *duration)
			} else {
				s, err = once(c)
			}
			if err != nil {
				return err
			}
			if r >= 0 {
				samples[c.name] = append(samples[c.name], s)
			}
		}
	}
	if !*quiet {
		for _, c := range cmds {
			fmt.Println(summary(c.name, samples[c.name], *loops > 0))
		}
	}
	for _, g := range gs {
		fmt.Println(g.line(samples))
	}
	return nil
}

func parseCommands(args, prepares, everys []string) ([]*command, error) {
	if len(args) == 0 {
		return nil, errors.New("no commands (NAME=CMD)")
	}
	var cmds []*command
	byName := map[string]*command{}
	for _, a := range args {
		name, cmd, ok := strings.Cut(a, "=")
		if !ok || name == "" || len(strings.Fields(cmd)) == 0 {
			return nil, fmt.Errorf("command %q: want NAME=CMD", a)
		}
		if byName[name] != nil {
			return nil, fmt.Errorf("command %q given twice", name)
		}
		c := &command{name: name, argv: strings.Fields(cmd)}
		cmds = append(cmds, c)
		byName[name] = c
	}
	for _, p := range prepares {
		name, cmd, _ := strings.Cut(p, "=")
		c := byName[name]
		if c == nil || len(strings.Fields(cmd)) == 0 {
			return nil, fmt.Errorf("-prepare %q: want NAME=CMD of a command given", p)
		}
		c.prepare = append(c.prepare, strings.Fields(cmd))
	}
	for _, e := range everys {
		spec, cmd, _ := strings.Cut(e, "=")
		name, ns, _ := strings.Cut(spec, ":")
		n, err := strconv.Atoi(ns)
		c := byName[name]
		if c == nil || err != nil || n < 1 || len(strings.Fields(cmd)) == 0 {
			return nil, fmt.Errorf("-every %q: want NAME:N=CMD of a command given", e)
		}
		c.every = append(c.every, periodic{n: n, argv: strings.Fields(cmd)})
	}
	return cmds, nil
}

func parseGoals(specs []string, cmds []*command) ([]goal, error) {
	known := map[string]bool{}
	for _, c := range cmds {
		known[c.name] = true
	}
	var gs []goal
	for _, s := range specs {
		f := strings.Split(s, "|")
		if len(f) == 3 {
			f = append(f, "", "0")
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("-goal %q: want LABEL|A/B|METRIC[|OP|X]", s)
		}
		a, b, _ := strings.Cut(f[1], "/")
		bound, err := strconv.ParseFloat(f[4], 64)
		switch {
		case !known[a] || !known[b]:
			return nil, fmt.Errorf("-goal %q: %q is not A/B of commands given", s, f[1])
		case !slices.Contains([]string{"wall", "cpu", "faults", "rate"}, f[2]):
			return nil, fmt.Errorf("-goal %q: metric %q is not wall, cpu, faults or rate", s, f[2])
		case f[3] != "<=" && f[3] != ">=" && f[3] != "":
			return nil, fmt.Errorf("-goal %q: operator %q is not <= or >=", s, f[3])
		case err != nil:
			return nil, fmt.Errorf("-goal %q: bound: %w", s, err)
		}
		gs = append(gs, goal{label: f[0], a: a, b: b, metric: f[2], op: f[3], bound: bound})
	}
	return gs, nil
}

// start runs argv with stdout to /dev/null and stderr to errf, which
// keeps what the last failing run said. A file, not a pipe: a process a
// command leaves behind (podman's conmon) would hold a pipe open.
func start(argv []string, errf *os.File) (*exec.Cmd, error) {
	if err := errf.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := errf.Seek(0, 0); err != nil {
		return nil, err
	}
	argv = slices.Clone(argv)
	for i, a := range argv {
		if strings.Contains(a, "{seq}") {
			argv[i] = strings.ReplaceAll(a, "{seq}", strconv.FormatInt(seq.Add(1), 10))
		}
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Stderr = errf
	return c, c.Start()
}

func wait(c *exec.Cmd, errf *os.File) error {
	if err := c.Wait(); err != nil {
		msg, _ := os.ReadFile(errf.Name())
		return fmt.Errorf("%s: %w: %s", strings.Join(c.Args, " "), err, strings.TrimSpace(string(msg)))
	}
	return nil
}

func runUntimed(argv []string, errf *os.File) error {
	c, err := start(argv, errf)
	if err != nil {
		return err
	}
	return wait(c, errf)
}

// tempErrFile is a file for a command's stderr, gone with closeErrFile.
func tempErrFile() (*os.File, error) {
	return os.CreateTemp("", "pair-stderr-*")
}

func closeErrFile(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

func once(c *command) (sample, error) {
	errf, err := tempErrFile()
	if err != nil {
		return sample{}, err
	}
	defer closeErrFile(errf)
	for _, p := range c.prepare {
		if err := runUntimed(p, errf); err != nil {
			return sample{}, fmt.Errorf("prepare %s: %w", c.name, err)
		}
	}
	t0 := time.Now()
	cmd, err := start(c.argv, errf)
	if err != nil {
		return sample{}, err
	}
	err = wait(cmd, errf)
	wall := time.Since(t0)
	if err != nil {
		return sample{}, err
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{
		wall:   wall,
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		faults: ru.Minflt + ru.Majflt,
	}, nil
}

// throughput runs k loops of c for d and returns the runs completed per
// second; runs in flight at the deadline are waited for and counted,
// and the clock stops when the last one ends.
func throughput(c *command, k int, d time.Duration) (sample, error) {
	for _, p := range c.prepare {
		errf, err := tempErrFile()
		if err != nil {
			return sample{}, err
		}
		err = runUntimed(p, errf)
		closeErrFile(errf)
		if err != nil {
			return sample{}, fmt.Errorf("prepare %s: %w", c.name, err)
		}
	}
	var (
		mu    sync.Mutex
		runs  int
		first error
		wg    sync.WaitGroup
	)
	t0 := time.Now()
	deadline := t0.Add(d)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errf, err := tempErrFile()
			if err == nil {
				defer closeErrFile(errf)
				err = loop(c, errf, deadline, func() { mu.Lock(); runs++; mu.Unlock() })
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return sample{}, first
	}
	return sample{rate: float64(runs) / time.Since(t0).Seconds()}, nil
}

func loop(c *command, errf *os.File, deadline time.Time, done func()) error {
	for i := 1; time.Now().Before(deadline); i++ {
		if err := runUntimed(c.argv, errf); err != nil {
			return err
		}
		done()
		for _, e := range c.every {
			if i%e.n == 0 {
				if err := runUntimed(e.argv, errf); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// quantile interpolates linearly between the closest ranks.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (s[lo+1]-s[lo])*(pos-float64(lo))
}

func values(ss []sample, metric string) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		switch metric {
		case "wall":
			out[i] = float64(s.wall) / 1e6
		case "cpu":
			out[i] = float64(s.cpu) / 1e6
		case "faults":
			out[i] = float64(s.faults)
		case "rate":
			out[i] = s.rate
		}
	}
	return out
}

func unit(metric string) string {
	switch metric {
	case "wall", "cpu":
		return "ms"
	case "rate":
		return "/s"
	}
	return ""
}

func summary(name string, ss []sample, rate bool) string {
	if rate {
		v := values(ss, "rate")
		return fmt.Sprintf("%s: %.1f runs/s (IQR %.1f-%.1f, %d rounds)", name, median(v), quantile(v, 0.25), quantile(v, 0.75), len(v))
	}
	w, c, f := values(ss, "wall"), values(ss, "cpu"), values(ss, "faults")
	return fmt.Sprintf("%s: wall %.2fms (IQR %.2f-%.2f) cpu %.2fms (IQR %.2f-%.2f) faults %.0f, %d rounds",
		name, median(w), quantile(w, 0.25), quantile(w, 0.75), median(c), quantile(c, 0.25), quantile(c, 0.75), median(f), len(w))
}

func (g goal) line(samples map[string][]sample) string {
	a, b := values(samples[g.a], g.metric), values(samples[g.b], g.metric)
	ratios := make([]float64, min(len(a), len(b)))
	for i := range ratios {
		ratios[i] = a[i] / b[i]
	}
	m := median(ratios)
	u := unit(g.metric)
	line := fmt.Sprintf("goal %s: %s %s/%s %.2fx (IQR %.2f-%.2f, %d rounds; %s %.2f%s %s %.2f%s)",
		g.label, g.metric, g.a, g.b, m, quantile(ratios, 0.25), quantile(ratios, 0.75), len(ratios),
		g.a, median(a), u, g.b, median(b), u)
	if g.op == "" {
		return line
	}
	met := m <= g.bound
	if g.op == ">=" {
		met = m >= g.bound
	}
	verdict := "met"
	if !met {
		verdict = "NOT met"
	}
	return fmt.Sprintf("%s goal %s %gx: %s", line, g.op, g.bound, verdict)
}
