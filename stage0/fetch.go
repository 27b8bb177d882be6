package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/fetch"
	"github.com/saturn-pods/saturn/store"
)

// Pull policies, as rkt's --pull-policy.
const (
	pullNever  = "never"  // use only what is in the store
	pullNew    = "new"    // use the store, fetch what is missing
	pullUpdate = "update" // always ask the remote (honouring HTTP caching)
)

// fetchFlags are the flags fetch, run and prepare share.
type fetchFlags struct {
	pullPolicy string
	noStore    bool
	storeOnly  bool
	signatures []string
}

func (f *fetchFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.pullPolicy, "pull-policy", pullNew, "when to pull an image: never (store only), new (if not in store), update (always check the remote)")
	fs.BoolVar(&f.noStore, "no-store", false, "fetch images ignoring the local store (same as --pull-policy=update)")
	fs.BoolVar(&f.storeOnly, "store-only", false, "use only images in the local store (same as --pull-policy=never)")
	fs.StringArrayVar(&f.signatures, "signature", nil, "local signature file to use in validating the preceding image")
}

// policy returns the effective pull policy.
func (f *fetchFlags) policy() (string, error) {
	switch {
	case f.noStore && f.storeOnly:
		return "", usagef("both --store-only and --no-store specified")
	case f.noStore:
		return pullUpdate, nil
	case f.storeOnly:
		return pullNever, nil
	}
	switch f.pullPolicy {
	case pullNever, pullNew, pullUpdate:
		return f.pullPolicy, nil
	}
	return "", usagef("invalid --pull-policy %q (want never, new or update)", clip.String(f.pullPolicy))
}

// imageFetcher brings images into the store for fetch, run and prepare;
// the work is the fetch package's (discovery, HTTP caching, signatures).
type imageFetcher struct {
	f   *fetch.Fetcher
	err error // building the fetcher failed; reported by every fetch
}

func newImageFetcher(g *globals, st *store.Store, policy string) *imageFetcher {
	f, err := g.newFetcher(st, policy)
	return &imageFetcher{f: f, err: err}
}

// fetchSigned returns the id of the stored image ref names, fetching it
// (and its dependencies) as the pull policy allows; sig is the image's
// --signature file, "" for none.
func (f *imageFetcher) fetchSigned(ref, sig string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	id, err := f.f.Fetch(context.Background(), ref, sig)
	if errors.Is(err, aci.ErrTooLarge) {
		err = fmt.Errorf("%w (raise the limit with --max-image-size or the store config kind's max-image-size)", err)
	}
	return id, err
}

func fetchCommands(g *globals) []*command {
	// rkt kept "image fetch" as a hidden alias of fetch.
	alias := fetchCommand("image fetch")
	alias.hidden = true
	return []*command{fetchCommand("fetch"), alias}
}

func fetchCommand(name string) *command {
	ff := &fetchFlags{}
	full := new(bool)
	return &command{
		name:  name,
		usage: "[--full] [--pull-policy=never|new|update] IMAGE...",
		short: "fetch images into the local store",
		flags: func(fs *pflag.FlagSet) {
			ff.add(fs)
			fs.BoolVar(full, "full", false, "print the full image id after fetching")
		},
		run: func(g *globals, args []string) error {
			if len(args) == 0 {
				return usagef("fetch needs at least one image")
			}
			policy, err := ff.policy()
			if err != nil {
				return err
			}
			st, err := openStore(g)
			if err != nil {
				return err
			}
			defer st.Close()
			if len(ff.signatures) > len(args) {
				return usagef("%d --signature flags for %d images", len(ff.signatures), len(args))
			}
			f := newImageFetcher(g, st, policy)
			for i, ref := range args {
				sig := ""
				if i < len(ff.signatures) {
					sig = ff.signatures[i]
				}
				id, err := f.fetchSigned(ref, sig)
				if err != nil {
					return err
				}
				if !*full {
					id = shortID(id)
				}
				fmt.Fprintln(g.Stdout, id)
			}
			return nil
		},
	}
}
