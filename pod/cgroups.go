package pod

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/stage1abi"
)

// statsTimeout bounds the stats entrypoint, which reads a few files.
const statsTimeout = 10 * time.Second

// AppOOMKills returns how many of app's processes were OOM-killed, as
// stage1 recorded when the app exited; 0 when it recorded none.
func (p *Pod) AppOOMKills(app string) uint64 {
	s, err := p.readStage1File(filepath.Join(stage1abi.OOMKillsDir, app))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// AppUsage is what one app of a running pod uses now, read from its
// cgroup by the stats entrypoint.
type AppUsage struct {
	Name        string `json:"name"`
	MemoryBytes uint64 `json:"memory_bytes"`
	CPUNanos    uint64 `json:"cpu_ns"`
	OOMKills    uint64 `json:"oom_kills"`
	Pids        uint64 `json:"pids"`
}

// Usage runs the stage1's stats entrypoint in the pod directory and
// returns each app's usage by name; ok is false when the stage1 has no
// such entrypoint.
func (p *Pod) Usage(locate TreeLocator) (usage map[string]AppUsage, ok bool, err error) {
	entry, ok, err := p.HostEntrypoint(stage1abi.EntrypointStats, locate)
	if err != nil || !ok {
		return nil, ok, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, entry, p.UUID)
	cmd.Dir = p.Path()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, true, fmt.Errorf("pod %s: stage1 stats: %v: %s", p.UUID, err, clip.String(strings.TrimSpace(stderr.String())))
	}
	var v struct {
		Apps []AppUsage `json:"apps"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, true, fmt.Errorf("pod %s: stage1 stats: %w", p.UUID, err)
	}
	usage = map[string]AppUsage{}
	for _, a := range v.Apps {
		usage[a.Name] = a
	}
	return usage, true, nil
}

func addCgroupParentFlag(fs *pflag.FlagSet, v *string) {
	fs.StringVar(v, "cgroup-parent", "", "where the pod's cgroup goes: a systemd slice (default machine.slice) or, without systemd, a cgroup path (default /machine.slice)")
}

// checkCgroupParent refuses a --cgroup-parent that cannot name a slice
// or a cgroup below the root: stage1 makes the pod's cgroup there as
// root.
func checkCgroupParent(s string) error {
	if s == "" {
		return nil
	}
	bad := len(s) > 1024 || strings.ContainsAny(s, "\x00\n\r")
	for _, elem := range strings.Split(s, "/") {
		bad = bad || elem == ".." || elem == "."
	}
	if bad {
		return fmt.Errorf("invalid --cgroup-parent %q: want a slice name or a cgroup path without . or .. elements", clip.String(s))
	}
	return nil
}
