package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/config"
	"github.com/saturn-pods/saturn/fetch"
)

// Defaults of the global flags; rkt's with saturn's names.
const (
	defaultDir          = "/var/lib/saturn"
	defaultLocalConfig  = "/etc/saturn"
	defaultSystemConfig = "/usr/lib/saturn"
)

// insecureOptions are the checks --insecure-options can switch off, as in
// rkt: none, image, tls, ondisk, http, pubkey, capabilities, paths, seccomp,
// all-fetch, all-run, all.
type insecureOptions struct {
	Image, TLS, OnDisk, HTTP, PubKey, Capabilities, Paths, Seccomp bool
}

// globals holds the global flags and the output streams; it is created
// once per invocation and handed to the command.
type globals struct {
	Dir                string
	LocalConfig        string
	SystemConfig       string
	UserConfig         string
	Debug              bool
	TrustKeysFromHTTPS bool
	insecureRaw        string
	Insecure           insecureOptions
	maxImageSizeRaw    string
	// MaxImageSize bounds an imported image's expanded size: the flag,
	// else the store config kind, else aci.DefaultMaxSize.
	MaxImageSize int64
	// CPUProfile and MemProfile are rkt's hidden profiling flags: files
	// that get a pprof CPU profile of the command and a heap profile at
	// its end.
	CPUProfile string
	MemProfile string

	Stdout io.Writer
	Stderr io.Writer

	cfg *config.Config // loaded by finish

	// warnedUnverified is set once the command said that it imports
	// images unverified: rkt's warning comes once per command, however
	// many images (stage1, apps, dependencies) it fetches.
	warnedUnverified bool
}

// warnUnverified prints the warning about --insecure-options=image once.
func (g *globals) warnUnverified() {
	if !g.warnedUnverified {
		g.warnedUnverified = true
		fmt.Fprintln(g.Stderr, fetch.WarningUnverified)
	}
}

func newGlobals(stdout, stderr io.Writer) *globals {
	return &globals{Stdout: stdout, Stderr: stderr}
}

func (g *globals) addFlags(fs *pflag.FlagSet) {
	// Empty means unset: finish takes the paths kind's data dir, else defaultDir.
	fs.StringVar(&g.Dir, "dir", "", "saturn data directory (default "+defaultDir+" or paths.d's \"data\")")
	fs.StringVar(&g.LocalConfig, "local-config", defaultLocalConfig, "local configuration directory")
	fs.StringVar(&g.SystemConfig, "system-config", defaultSystemConfig, "system configuration directory")
	fs.StringVar(&g.UserConfig, "user-config", "", "user configuration directory")
	fs.StringVar(&g.insecureRaw, "insecure-options", "none", "comma-separated list of security features to disable: none, image, tls, ondisk, http, pubkey, capabilities, paths, seccomp, all-fetch, all-run, all")
	fs.BoolVar(&g.Debug, "debug", false, "print out more debug information to stderr")
	fs.StringVar(&g.maxImageSizeRaw, "max-image-size", "", "refuse images that expand to more than this (e.g. 16GiB; default 64GiB or the store config's max-image-size)")
	fs.BoolVar(&g.TrustKeysFromHTTPS, "trust-keys-from-https", false, "automatically trust gpg keys fetched from https (default false: keys are shown and must be confirmed, or trusted with 'saturn trust')")
	fs.StringVar(&g.CPUProfile, "cpuprofile", "", "write a CPU profile to the file")
	fs.StringVar(&g.MemProfile, "memprofile", "", "write a memory profile to the file")
	fs.MarkHidden("cpuprofile")
	fs.MarkHidden("memprofile")
}

// finish validates flag values after parsing.
func (g *globals) finish() error {
	opts, err := parseInsecureOptions(g.insecureRaw)
	if err != nil {
		return err
	}
	g.Insecure = opts
	if err := g.loadConfig(); err != nil {
		return err
	}
	g.MaxImageSize = aci.DefaultMaxSize
	if g.cfg.Store.MaxImageSize != 0 {
		g.MaxImageSize = g.cfg.Store.MaxImageSize
	}
	if g.maxImageSizeRaw != "" {
		n, err := config.ParseSize(g.maxImageSizeRaw)
		if err != nil {
			return fmt.Errorf("--max-image-size: %w", err)
		}
		g.MaxImageSize = n
	}
	return nil
}

func parseInsecureOptions(s string) (insecureOptions, error) {
	var o insecureOptions
	for _, word := range strings.Split(s, ",") {
		switch strings.TrimSpace(word) {
		case "", "none":
		case "image":
			o.Image = true
		case "tls":
			o.TLS = true
		case "ondisk":
			o.OnDisk = true
		case "http":
			o.HTTP = true
		case "pubkey":
			o.PubKey = true
		case "capabilities":
			o.Capabilities = true
		case "paths":
			o.Paths = true
		case "seccomp":
			o.Seccomp = true
		case "all-fetch":
			o.Image, o.TLS, o.HTTP, o.PubKey = true, true, true, true
		case "all-run":
			o.OnDisk, o.Capabilities, o.Paths, o.Seccomp = true, true, true, true
		case "all":
			o = insecureOptions{true, true, true, true, true, true, true, true}
		default:
			return o, fmt.Errorf("unknown --insecure-options value %q (valid: none, image, tls, ondisk, http, pubkey, capabilities, paths, seccomp, all-fetch, all-run, all)", word)
		}
	}
	return o, nil
}

// debugf prints to stderr when --debug is set.
func (g *globals) debugf(format string, a ...any) {
	if g.Debug {
		fmt.Fprintf(g.Stderr, format+"\n", a...)
	}
}
