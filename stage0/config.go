package main

import (
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
