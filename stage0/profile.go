package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile starts what --cpuprofile and --memprofile ask for and
// returns the function that finishes the profiles when the command ends.
// A command that execs stage1 (run) ends with the exec: its profiles stay
// empty, as rkt's did.
func (g *globals) startProfile() (stop func(), err error) {
	var cpu, mem *os.File
	if g.CPUProfile != "" {
		if cpu, err = os.Create(g.CPUProfile); err != nil {
			return nil, fmt.Errorf("cannot create cpu profile file: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("cannot start cpu profile: %w", err)
		}
	}
	if g.MemProfile != "" {
		if mem, err = os.Create(g.MemProfile); err != nil {
			if cpu != nil {
				pprof.StopCPUProfile()
				cpu.Close()
			}
			return nil, fmt.Errorf("cannot create memory profile file: %w", err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if mem != nil {
			if err := pprof.WriteHeapProfile(mem); err != nil {
				fmt.Fprintf(g.Stderr, "saturn: write memory profile: %v\n", err)
			}
			mem.Close()
		}
	}, nil
}
