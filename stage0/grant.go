package main

import (
	"errors"

	"github.com/saturn-pods/saturn/grant"
	"github.com/saturn-pods/saturn/store"
)

// imageGrants is what the operator's flags let images grant themselves:
// what --insecure-options switches off anyway and, with trustSigned
// (grant.TrustFlag), whatever an image whose signature a trusted key
// verifies today asks for.
func imageGrants(g *globals, st *store.Store, trustSigned bool) *grant.Policy {
	return &grant.Policy{
		Insecure: func(option string) bool {
			switch option {
			case "capabilities":
				return g.Insecure.Capabilities
			case "seccomp":
				return g.Insecure.Seccomp
			}
			return false
		},
		TrustSigned: trustSigned,
		Trusted: func(id string) error {
			name := "-"
			if info, err := st.Info(id); err == nil {
				name = info.Name
			}
			r := verifyImage(g, st, g.trustStore(), id, name)
			switch {
			case r.damaged:
				return errors.New(r.status)
			case r.refused:
				return errors.New(r.signature)
			case r.signature == "unsigned":
				return errors.New("the image was stored without a signature")
			}
			return nil
		},
	}
}
