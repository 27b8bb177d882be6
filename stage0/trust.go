package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/fetch"
	"github.com/saturn-pods/saturn/store"
	"github.com/saturn-pods/saturn/trust"
)

// trustStore is the trust store of the configuration directories.
func (g *globals) trustStore() *trust.Store {
	return trust.New(g.LocalConfig, g.SystemConfig)
}

// httpClient is the client of every download: extra certificate
// authorities from <config>/certs.d/*.pem, auth headers from the auth
// configuration kind, --insecure-options=tls,http.
// httpFlag is the flag that allows plain http for this command, named
// when an http:// URL is refused.
func (g *globals) httpClient(allowHTTP bool, httpFlag string) (*fetch.Client, error) {
	opts := fetch.ClientOptions{
		InsecureTLS: g.Insecure.TLS,
		AllowHTTP:   allowHTTP || g.Insecure.HTTP,
		ConfigDirs:  []string{g.SystemConfig, g.LocalConfig, g.UserConfig},
		UserAgent:   "saturn/" + Version,
		HTTPFlag:    httpFlag,
	}
	if g.Debug {
		opts.Debugf = g.debugf
	}
	if cfg, err := g.config(); err == nil {
		opts.AuthHeader = func(host string) http.Header { return cfg.AuthHeader(host) }
	}
	return fetch.NewClient(opts)
}

// newFetcher is the fetcher of fetch, run and prepare; policy is the
// value of --pull-policy.
func (g *globals) newFetcher(st *store.Store, policy string) (*fetch.Fetcher, error) {
	p, err := fetch.ParsePullPolicy(policy)
	if err != nil {
		return nil, usagef("%v", err)
	}
	client, err := g.httpClient(false, "")
	if err != nil {
		return nil, err
	}
	f := &fetch.Fetcher{
		Store:              st,
		Trust:              g.trustStore(),
		Client:             client,
		Policy:             p,
		InsecureImage:      g.Insecure.Image,
		TrustKeysFromHTTPS: g.TrustKeysFromHTTPS,
		Log:                g.Stderr,
		Progress:           g.Stderr == os.Stderr && isTerminal(os.Stderr),
		DockerCredentials:  g.dockerCredentials,
		DockerRegistry:     g.dockerRegistry,
		WarnUnverified:     g.warnUnverified,
	}
	if g.Debug {
		f.Debugf = g.debugf
	}
	if !g.Insecure.HTTP {
		// As rkt: an http:// URL the user gave is fetched; discovery
		// over plain http still needs --insecure-options=http.
		if f.URLClient, err = g.httpClient(true, ""); err != nil {
			return nil, err
		}
	}
	if g.Insecure.PubKey {
		// rkt's "pubkey": discovered keys may come over plain http; they
		// are still shown for confirmation and never trusted automatically.
		if f.KeyClient, err = g.httpClient(true, ""); err != nil {
			return nil, err
		}
	}
	if isTerminal(os.Stdin) {
		f.Confirm = g.confirm
	}
	return f, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// confirm asks a yes/no question on the terminal.
func (g *globals) confirm(question string) bool {
	fmt.Fprint(g.Stderr, question)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

type trustFlags struct {
	prefix            string
	root              bool
	skipReview        bool
	insecureAllowHTTP bool
}

func trustCommands(g *globals) []*command {
	tf, lf := &trustFlags{}, &trustFlags{}
	return []*command{{
		name:  "trust",
		usage: "[--prefix=PREFIX | --root] [--skip-fingerprint-review] [--insecure-allow-http] [PUBKEY...]",
		short: "trust a key for image verification",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&tf.prefix, "prefix", "", "image name prefix to limit trust to")
			fs.BoolVar(&tf.root, "root", false, "add a root key from the filesystem, trusted for every image (no discovery)")
			fs.BoolVar(&tf.skipReview, "skip-fingerprint-review", false, "accept keys without fingerprint confirmation")
			fs.BoolVar(&tf.insecureAllowHTTP, "insecure-allow-http", false, "allow HTTP for key discovery and retrieval")
		},
		run: func(g *globals, args []string) error { return runTrust(g, tf, args) },
	}, {
		name:  "trust list",
		usage: "[--prefix=PREFIX]",
		short: "list the trusted keys",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&lf.prefix, "prefix", "", "only keys that apply to images under this prefix")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 0 {
				return usagef("trust list takes no arguments")
			}
			return listTrust(g, lf.prefix)
		},
	}}
}

func runTrust(g *globals, tf *trustFlags, args []string) error {
	switch {
	case tf.root && tf.prefix != "":
		return usagef("--root and --prefix cannot be used together")
	case tf.root && len(args) == 0:
		return usagef("--root needs a key file (root keys are never discovered)")
	case !tf.root && tf.prefix == "":
		return usagef("--prefix required (or --root for a key trusted for every image)")
	}
	prefix := ""
	if !tf.root {
		var err error
		if prefix, err = trust.CleanPrefix(tf.prefix); err != nil {
			return usagef("%v", err)
		}
	}
	// trust has its own flag for plain http, as in rkt.
	client, err := g.httpClient(tf.insecureAllowHTTP, "--insecure-allow-http")
	if err != nil {
		return err
	}
	ctx := context.Background()
	locations := args
	if len(locations) == 0 {
		g.debugf("trust: discovering the public keys of prefix %s", prefix)
		if locations, err = client.DiscoverKeys(ctx, prefix); err != nil {
			return fmt.Errorf("--prefix meta discovery: %w", err)
		}
		g.debugf("trust: discovery found %s", strings.Join(locations, ", "))
	}
	ts := g.trustStore()
	for _, loc := range locations {
		if err := trustLocation(g, ts, client, tf, prefix, loc); err != nil {
			return err
		}
	}
	return nil
}

// trustLocation trusts the keys of one file or URL for prefix.
func trustLocation(g *globals, ts *trust.Store, client *fetch.Client, tf *trustFlags, prefix, loc string) error {
	g.debugf("trust: reading key %s", loc)
	data, err := readKeyLocation(client, tf.root, loc)
	if err != nil {
		return err
	}
	keys, err := trust.ParseKeys(data)
	if err != nil {
		return fmt.Errorf("key %s: %w", clip.String(loc), err)
	}
	for _, k := range keys {
		g.debugf("trust: %s holds key %s", loc, k.Describe())
		if err := trust.CheckKey(k); err != nil {
			return fmt.Errorf("key %s: %w", clip.String(loc), err)
		}
		trust.PrintReview(g.Stderr, prefix, loc, k)
		if ok, err := ts.Trusted(prefix, k); err != nil {
			return err
		} else if ok {
			fmt.Fprintf(g.Stderr, "Key %q already in the keystore\n", loc)
			continue
		}
		if !tf.skipReview {
			if !isTerminal(os.Stdin) {
				return fmt.Errorf("key %s: cannot ask to confirm its fingerprint, stdin is not a terminal; check it and pass --skip-fingerprint-review", k.Fingerprint)
			}
			if !g.confirm("Are you sure you want to trust this key (yes/no)? ") {
				return fmt.Errorf("key %s: not trusted", k.Fingerprint)
			}
		}
		path, err := ts.Add(prefix, k)
		if err != nil {
			return err
		}
		if prefix == "" {
			fmt.Fprintf(g.Stdout, "Added root key at %q\n", path)
		} else {
			fmt.Fprintf(g.Stdout, "Added key for prefix %q at %q\n", prefix, path)
		}
	}
	return nil
}

// readKeyLocation reads a key from a file or an http(s) URL; root keys
// come only from files, as in rkt.
func readKeyLocation(client *fetch.Client, root bool, loc string) ([]byte, error) {
	if strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://") {
		if root {
			return nil, usagef("--root keys must be local files, not %s", clip.String(loc))
		}
		data, err := client.GetSmall(context.Background(), loc)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", clip.String(loc), err)
		}
		return data, nil
	}
	data, err := os.ReadFile(strings.TrimPrefix(loc, "file://"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("key file %s does not exist", clip.String(loc))
		}
		return nil, fmt.Errorf("key file %s: %w", clip.String(loc), withoutPath(err))
	}
	return data, nil
}

// listTrust prints the trust store: one line per key file.
func listTrust(g *globals, prefix string) error {
	entries, err := g.trustStore().List()
	if err != nil {
		return err
	}
	if prefix != "" {
		if prefix, err = trust.CleanPrefix(prefix); err != nil {
			return usagef("%v", err)
		}
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tFINGERPRINT\tSOURCE\tUSER IDS")
	for _, e := range entries {
		if prefix != "" && e.Prefix != "" && !appliesTo(e.Prefix, prefix) {
			continue
		}
		p := e.Prefix
		if p == "" {
			p = "(root)"
		}
		src := "local"
		if e.System {
			src = "system"
		}
		uids := "(masked)"
		if !e.Masked {
			uids = strings.Join(e.Key.UserIDs, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p, e.Fingerprint, src, uids)
	}
	return tw.Flush()
}

// appliesTo reports whether keys of keyPrefix apply to images under
// prefix: keyPrefix is prefix or one of its parents, in whole components.
func appliesTo(keyPrefix, prefix string) bool {
	return prefix == keyPrefix || strings.HasPrefix(prefix, keyPrefix+"/")
}
