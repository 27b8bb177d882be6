package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/store"
	"github.com/saturn-pods/saturn/trust"
)

// verifyCommands is "image verify", which rkt lacked: it re-reads stored
// image blobs and checks each against its id and the signature it was
// fetched with, so disk damage, tampering with the store and keys since
// withdrawn are found before a pod runs on an image.
func verifyCommands(g *globals) []*command {
	return []*command{{
		name:  "image verify",
		usage: "[IMAGE...]",
		short: "check stored images against their ids and signatures (all images by default)",
		run: func(g *globals, args []string) error {
			st, err := openStore(g)
			if err != nil {
				return err
			}
			defer st.Close()
			ids, err := verifyTargets(g, st, args)
			if err != nil {
				return err
			}
			return verifyImages(g, st, ids)
		},
	}}
}

// verifyTargets resolves the images to check; none given means all.
func verifyTargets(g *globals, st *store.Store, args []string) ([]string, error) {
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
		id, err := resolveImage(g, st, ref)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// verifyResult is what image verify found out about one image.
type verifyResult struct {
	status    string // "ok" or "damaged: …"
	signature string // the signer, "unsigned" or why it is refused
	damaged   bool
	refused   bool
}

// verifyImages prints one line per image and fails when any is damaged
// or signed by a key that is no longer trusted.
func verifyImages(g *globals, st *store.Store, ids []string) error {
	ts := g.trustStore()
	tw := tabwriter.NewWriter(g.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tSIGNATURE")
	damaged, refused := 0, 0
	for _, id := range ids {
		name := "-"
		if info, err := st.Info(id); err == nil {
			name = info.Name
		}
		r := verifyImage(g, st, ts, id, name)
		if r.damaged {
			damaged++
		}
		if r.refused {
			refused++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", shortID(id), clip.String(name), r.status, r.signature)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var problems []string
	if damaged > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d images damaged", damaged, len(ids)))
	}
	if refused > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d images signed by keys no longer trusted", refused, len(ids)))
	}
	if len(problems) > 0 {
		return &exitCodeError{code: exitError, err: errors.New(strings.Join(problems, "; "))}
	}
	return nil
}

// verifyImage checks the blob against its id and, when the image came
// with a signature, the signature against today's trust store: the whole
// signature when it signs the stored (uncompressed) tar, else the signer,
// because the compressed bytes it signs are no longer kept.
func verifyImage(g *globals, st *store.Store, ts *trust.Store, id, name string) verifyResult {
	sig, err := st.Signature(id)
	if err != nil {
		return verifyResult{status: "damaged: " + err.Error(), signature: "-", damaged: true}
	}
	if sig == nil {
		g.debugf("image verify: %s has no stored signature", id)
		if err := st.Verify(id); err != nil {
			return verifyResult{status: "damaged: " + err.Error(), signature: "-", damaged: true}
		}
		return verifyResult{status: "ok", signature: "unsigned"}
	}
	if sig.SignedForm != aci.NoCompression.String() {
		g.debugf("image verify: %s: the signature covers the %s file; checking its signer only", id, sig.SignedForm)
		if err := st.Verify(id); err != nil {
			return verifyResult{status: "damaged: " + err.Error(), signature: "-", damaged: true}
		}
		key, err := ts.CheckSigner(name, sig.Armored)
		if err != nil {
			return verifyResult{status: "ok", signature: "refused: " + err.Error(), refused: true}
		}
		g.debugf("image verify: %s signed by key %s", id, key.Describe())
		return verifyResult{status: "ok", signature: "signer " + signerName(key) + " (" + sig.SignedForm + " form checked at fetch)"}
	}
	rc, err := st.OpenTar(id)
	if err != nil {
		return verifyResult{status: "damaged: " + err.Error(), signature: "-", damaged: true}
	}
	key, sigErr := ts.Verify(name, rc, sig.Armored)
	// The blob's hash is known once it was read to its end; a damaged
	// blob explains a failed signature best.
	_, err = io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return verifyResult{status: "damaged: " + err.Error(), signature: "-", damaged: true}
	}
	if sigErr != nil {
		return verifyResult{status: "ok", signature: "refused: " + sigErr.Error(), refused: true}
	}
	g.debugf("image verify: %s verified by key %s", id, key.Describe())
	return verifyResult{status: "ok", signature: "verified, " + signerName(key)}
}

// signerName is the first user id of a key, or its fingerprint.
func signerName(k *trust.Key) string {
	if len(k.UserIDs) > 0 {
		return k.UserIDs[0]
	}
	return k.Fingerprint
}
