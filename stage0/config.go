package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/config"
)

// loadConfig reads the configuration directories, system then local then
// user, and applies the paths kind's data dir unless --dir was given.
func (g *globals) loadConfig() error {
	cfg, err := config.Load(g.SystemConfig, g.LocalConfig, g.UserConfig)
	if err != nil {
		return err
	}
	g.cfg = cfg
	if g.Dir == "" {
		g.Dir = defaultDir
		if cfg.Paths.Data != "" {
			g.Dir = cfg.Paths.Data
		}
	}
	return nil
}

// config returns the configuration loaded by finish.
func (g *globals) config() (*config.Config, error) {
	if g.cfg == nil {
		if err := g.loadConfig(); err != nil {
			return nil, err
		}
	}
	return g.cfg, nil
}

func configCommands(g *globals) []*command {
	pretty := new(bool)
	return []*command{{
		name:  "config",
		usage: "[--pretty-print=false]",
		short: "print the merged configuration as JSON (secrets masked)",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(pretty, "pretty-print", true, "apply indent to format the output")
		},
		run: func(g *globals, args []string) error { return runConfig(g, args, *pretty) },
	}}
}

// runConfig prints what saturn uses, rkt's `rkt config` format: the
// configured values with the defaults filled in where nothing is set.
func runConfig(g *globals, args []string, pretty bool) error {
	if len(args) != 0 {
		return usagef("config takes no arguments")
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	eff := *cfg
	if eff.Paths.Data == "" {
		eff.Paths.Data = defaultDir
	}
	eff.Paths.Stage1Images = g.stage1ImagesDir()
	if eff.Stage1.Name == "" && eff.Stage1.Location == "" {
		eff.Stage1.Location = filepath.Join(eff.Paths.Stage1Images, defaultStage1File)
	}
	v := map[string]any{"stage0": eff.Entries()}
	var out []byte
	if pretty {
		out, err = json.MarshalIndent(v, "", "\t")
	} else {
		out, err = json.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	fmt.Fprintln(g.Stdout, string(out))
	return nil
}
