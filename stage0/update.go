package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
)

// updateCommands is `saturn update`: new resource limits for a running
// pod, as Garden's LimitMemory/LimitCpu and podman's update change a
// running container's. stage1 owns the pod's cgroups, so the change is
// its update entrypoint's (docs/stage1-abi.md).
func updateCommands(g *globals) []*command {
	f := &updateCmdFlags{}
	return []*command{{
		name:  "update",
		usage: "[--app=NAME] [--memory=SIZE] [--cpu=CPUS] [--cpu-shares=N] UUID",
		short: "change the resource limits of a running pod (one app's with --app, else the pod's as a whole)",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&f.App, "app", "", "the app whose limits change (default: the limits all apps share)")
			fs.StringVar(&f.Memory, "memory", "", "memory limit (e.g. 64M)")
			fs.StringVar(&f.CPU, "cpu", "", "cpu limit (e.g. 250m, a quarter CPU)")
			fs.Uint64Var(&f.CPUShares, "cpu-shares", 0, "CPU time share weight (2-262144)")
			f.podsFlag.add(fs)
		},
		run: func(g *globals, args []string) error {
			uuid, err := podArg(args, f.uuidFile)
			if err != nil {
				return err
			}
			if f.Memory == "" && f.CPU == "" && f.CPUShares == 0 {
				return usagef("give a limit to change: --memory, --cpu or --cpu-shares")
			}
			if err := needRoot(); err != nil {
				return err
			}
			p, err := pod.Load(g.Dir, uuid)
			if err != nil {
				return err
			}
			f.UUID = p.UUID
			return updatePod(g, p, &f.UpdateFlags)
		},
	}}
}

// updateCmdFlags are saturn update's flags: the update entrypoint's, and
// --uuid-file.
type updateCmdFlags struct {
	stage1abi.UpdateFlags
	podsFlag
}

func updatePod(g *globals, p *pod.Pod, f *stage1abi.UpdateFlags) error {
	if !p.Running() {
		return fmt.Errorf("pod %s is not running (%s)", p.UUID, p.State())
	}
	if app := f.App; app != "" {
		pm, err := p.Manifest()
		if err != nil {
			return err
		}
		if pm.Apps.Get(types.ACName(app)) == nil {
			var names []string
			for _, ra := range pm.Apps {
				names = append(names, ra.Name.String())
			}
			sort.Strings(names)
			return fmt.Errorf("pod %s has no app %q (it has %s)", p.UUID, app, strings.Join(names, ", "))
		}
	}
	entry, ok, err := p.HostEntrypoint(stage1abi.EntrypointUpdate, hostTrees(g))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pod %s: its stage1 has no %s entrypoint: it cannot change the limits of a running pod", p.UUID, stage1abi.EntrypointUpdate)
	}
	if err := os.Chdir(p.Path()); err != nil {
		return fmt.Errorf("enter pod directory: %w", err)
	}
	argv := append([]string{entry}, f.Args()...)
	g.debugf("exec %s", strings.Join(argv, " "))
	// exec, so that stage1's error and exit code are saturn update's.
	if err := syscall.Exec(entry, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec stage1 update %s: %w", entry, err)
	}
	return nil
}
