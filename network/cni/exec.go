package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// pluginExec runs CNI plugins as libcni's own executor does, except that
// a plugin dies with the process that started it (Pdeathsig): a stage1
// killed while a plugin runs must not leave the plugin to finish its ADD
// after gc has run DEL for the pod, which would leak what it made. The
// goroutines that start plugins never end their threads (they are not
// locked), so the signal comes only when the process dies.
type pluginExec struct {
	version.PluginDecoder
}

var _ invoke.Exec = &pluginExec{}

func (*pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, pluginPath)
	c.Env = environ
	c.Stdin = bytes.NewReader(stdin)
	c.Stdout, c.Stderr = &stdout, &stderr
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Run(); err != nil {
		return nil, pluginError(err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// pluginError is the CNI error a failed plugin printed, or what is known
// of its failure.
func pluginError(err error, stdout, stderr []byte) error {
	e := &types.Error{}
	switch {
	case len(stdout) > 0:
		if json.Unmarshal(stdout, e) != nil || e.Msg == "" {
			e.Msg = fmt.Sprintf("plugin failed (%v) with output %q", err, bytes.TrimSpace(stdout))
		}
	case len(stderr) > 0:
		e.Msg = fmt.Sprintf("plugin failed (%v): %s", err, bytes.TrimSpace(stderr))
	default:
		e.Msg = fmt.Sprintf("plugin failed: %v", err)
	}
	return e
}

func (*pluginExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}
