package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/saturn-pods/saturn/store"
)

// verifyCommands is "image verify", which rkt lacked: it re-reads stored
// image blobs and checks each against its id, so disk damage or tampering
// with the store is found before a pod runs on it.
func verifyCommands(g *globals) []*command {
	return []*command{{
		name:  "image verify",
		usage: "[IMAGE...]",
		short: "check stored images against their ids (all images by default)",
		run: func(g *globals, args []string) error {
			st, err := openStore(g)
			if err != nil {
				return err
			}
			defer st.Close()
			ids, err := verifyTargets(st, args)
			if err != nil {
				return err
			}
			return verifyImages(g, st, ids)
		},
	}}
}

// verifyTargets resolves the images to check; none given means all.
func verifyTargets(st *store.Store, args []string) ([]string, error) {
	if len(args) == 0 {
		infos, err := st.List()
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(infos))
		for _, info := range infos {
			ids = append(ids, info.ID)
		}
		return ids, nil
	}
	ids := make([]string, 0, len(args))
	for _, ref := range args {
		id, err := resolveImage(st, ref)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// verifyImages prints one line per image and fails when any is damaged.
func verifyImages(g *globals, st *store.Store, ids []string) error {
	tw := tabwriter.NewWriter(g.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS")
	damaged := 0
	for _, id := range ids {
		name := "-"
		if info, err := st.Info(id); err == nil {
			name = info.Name
		}
		status := "ok"
		if err := st.Verify(id); err != nil {
			damaged++
			status = "damaged: " + err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", shortID(id), name, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if damaged > 0 {
		return &exitCodeError{code: exitError, err: fmt.Errorf("%d of %d images damaged", damaged, len(ids))}
	}
	return nil
}
